//! Uploads over HTTP (CONTRACT §11 "Uploads"): the sandbox never fetches, stores, validates or
//! counts (a counting server proves no request left); live files are fetched or PUT, probed by
//! their bytes, stored and served signed; bad media is refused whole.

use layers_tests::{assert_error, fnv1a, spawn_app, spawn_app_with, Env, TestApp, TestKey};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn jpeg() -> &'static [u8] {
    layers_content::file("image/sample-2.jpg").unwrap().0
}

fn mp4() -> &'static [u8] {
    layers_content::file("ugc-creative/sample-1/video.mp4")
        .unwrap()
        .0
}

/// A file server that serves a JPEG, an MP4, a GIF and a 404, and counts every request.
async fn files() -> MockServer {
    let server = MockServer::start().await;
    for (p, body, ct) in [
        ("/a.jpg", jpeg().to_vec(), "image/jpeg"),
        ("/b.jpg", jpeg().to_vec(), "image/jpeg"),
        ("/clip.mp4", mp4().to_vec(), "video/mp4"),
        (
            "/anim.gif",
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
            "image/gif",
        ),
        ("/lying.png", jpeg().to_vec(), "image/png"),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", ct)
                    .set_body_bytes(body),
            )
            .mount(&server)
            .await;
    }
    server
}

async fn finalize(app: &TestApp, key: &TestKey, project: &str, upload: &str) -> reqwest::Response {
    app.post(
        &format!("/v1/projects/{project}/content/finalize-upload"),
        key,
        &json!({ "uploadId": upload }),
    )
    .await
}

async fn upload(app: &TestApp, key: &TestKey, project: &str, urls: Value) -> reqwest::Response {
    app.post(
        &format!("/v1/projects/{project}/content/upload"),
        key,
        &json!({ "urls": urls, "caption": "live" }),
    )
    .await
}

fn urls_of(container: &Value) -> Vec<String> {
    container["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["url"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sandbox_uploads_fetch_store_and_count_nothing() {
    let server = files().await;
    let app = spawn_app_with(|s| s.upload_quota_per_project = 1).await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Uploads").await;
    let base = "https://media.layers.com/sandbox";
    // three images (named by extension only: the .gif is an "image" too), then a video
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/upload"),
            &key,
            &json!({ "urls": [format!("{}/a.jpg", server.uri()), format!("{}/anim.gif", server.uri()),
                              format!("{}/missing", server.uri())],
                     "caption": "  keep me  ", "hook": "and me" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let c: Value = res.json().await.unwrap();
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["source"], "uploaded");
    assert_eq!(c["status"], "completed");
    assert_eq!(c["format"], "slideshow");
    assert_eq!(c["caption"], "  keep me  ");
    assert_eq!(c["hook"], "and me");
    let h = u64::from(fnv1a(id));
    let expected: Vec<String> = (0..3)
        .map(|i| format!("{base}/image/sample-{}.jpg", (h + i) % 3 + 1))
        .collect();
    assert_eq!(urls_of(&c), expected);
    assert_eq!(c["preview"]["imageUrls"], json!(expected));

    let res = app
        .post(
            &format!("/v1/projects/{project}/content/upload"),
            &key,
            &json!({ "urls": [format!("{}/clip.MP4", server.uri())] }),
        )
        .await;
    assert_eq!(
        res.status(),
        201,
        "sandbox uploads never count toward the quota"
    );
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["format"], "video");
    let n = u64::from(fnv1a(v["id"].as_str().unwrap())) % 3 + 1;
    assert_eq!(
        urls_of(&v),
        vec![
            format!("{base}/video-remix/sample-{n}/video.mp4"),
            format!("{base}/video-remix/sample-{n}/thumbnail.jpg"),
        ]
    );
    assert_eq!(v["preview"]["videoUrl"], urls_of(&v)[0].as_str());

    // a direct upload: inert URLs, then fixture media by the files' names
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/uploads"),
            &key,
            &json!({ "files": [{ "filename": "a.heic", "contentType": "image/heic", "sizeBytes": 99999999999u64 },
                               { "filename": "b.png", "contentType": "image/png", "sizeBytes": 10 }],
                     "caption": "direct" }),
        )
        .await;
    assert_eq!(res.status(), 201, "the sandbox validates no type or size");
    let session: Value = res.json().await.unwrap();
    let upload = session["id"].as_str().unwrap();
    assert!(upload.starts_with("upl_"));
    assert_eq!(session["status"], "pending");
    assert!(session["expiresAt"].is_string());
    let target = &session["files"][0];
    assert_eq!(target["method"], "PUT");
    assert_eq!(target["headers"], json!({ "Content-Type": "image/heic" }));
    let put_url = target["uploadUrl"]
        .as_str()
        .unwrap()
        .replace("http://127.0.0.1:8080", &app.address);
    let put = app
        .http
        .put(&put_url)
        .header("content-type", "image/heic")
        .body(jpeg().to_vec())
        .send()
        .await
        .unwrap();
    let error = assert_error(put, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "sandbox_upload");
    let res = finalize(&app, &key, &project, upload).await;
    assert_eq!(res.status(), 201);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["format"], "slideshow");
    assert_eq!(done["caption"], "direct");
    let again = finalize(&app, &key, &project, upload).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap(), done);

    // nothing was fetched and nothing stored
    assert!(server.received_requests().await.unwrap().is_empty());
    assert_eq!(app.stored_files(), 0);
}

#[tokio::test]
async fn live_url_uploads_are_fetched_probed_stored_and_served_signed() {
    let server = files().await;
    let app = spawn_app_with(|s| s.upload_quota_per_project = 2).await;
    let key = app.partner_key(Env::Live).await;
    let project = app.project_id(&key, "Uploads").await;
    let res = upload(
        &app,
        &key,
        &project,
        json!([
            format!("{}/a.jpg", server.uri()),
            format!("{}/b.jpg", server.uri())
        ]),
    )
    .await;
    assert_eq!(res.status(), 201);
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["format"], "slideshow");
    for asset in c["assets"].as_array().unwrap() {
        assert_eq!(asset["contentType"], "image/jpeg");
        assert_eq!(
            (asset["width"].as_u64(), asset["height"].as_u64()),
            (Some(1080), Some(1920))
        );
        let url = asset["url"]
            .as_str()
            .unwrap()
            .replace("http://127.0.0.1:8080", &app.address);
        assert!(url.contains("sig="));
        let got = app.http.get(&url).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().as_ref(), jpeg());
        // and as a player or a cache fetches it: HEAD, ranges, revalidation
        super::media_ranges::streams_like_a_player(&app, &url, jpeg()).await;
    }
    assert_eq!(app.stored_files(), 2);

    // refused whole: the bytes decide, not the name or the server's word
    for (urls, reason) in [
        (
            json!([format!("{}/anim.gif", server.uri())]),
            "unsupported_type",
        ),
        (
            json!([format!("{}/lying.png", server.uri())]),
            "unsupported_type",
        ),
        (
            json!([
                format!("{}/a.jpg", server.uri()),
                format!("{}/missing.jpg", server.uri())
            ]),
            "fetch_failed",
        ),
    ] {
        let res = upload(&app, &key, &project, urls.clone()).await;
        let error = assert_error(res, 422, "MEDIA_REJECTED").await;
        assert_eq!(error["reason"], reason, "{urls}");
    }
    let res = upload(
        &app,
        &key,
        &project,
        json!([
            format!("{}/clip.mp4", server.uri()),
            format!("{}/a.jpg", server.uri())
        ]),
    )
    .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "urls");
    assert_eq!(
        app.stored_files(),
        2,
        "nothing of a refused upload stays stored"
    );

    // the second live upload of the month is the last
    let res = upload(
        &app,
        &key,
        &project,
        json!([format!("{}/clip.mp4", server.uri())]),
    )
    .await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["format"], "video");
    assert_eq!(v["assets"][0]["contentType"], "video/mp4");
    let res = upload(
        &app,
        &key,
        &project,
        json!([format!("{}/a.jpg", server.uri())]),
    )
    .await;
    let error = assert_error(res, 429, "QUOTA_EXCEEDED").await;
    assert_eq!(error["reason"], "upload_quota");
}

#[tokio::test]
async fn live_uploads_past_the_size_limit_are_refused() {
    let server = files().await;
    let app = spawn_app_with(|s| s.upload_max_bytes = 10_000).await;
    let key = app.partner_key(Env::Live).await;
    let project = app.project_id(&key, "Uploads").await;
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/upload"),
            &key,
            &json!({ "urls": [format!("{}/a.jpg", server.uri())] }),
        )
        .await;
    let error = assert_error(res, 422, "MEDIA_REJECTED").await;
    assert_eq!(error["reason"], "too_large");
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/uploads"),
            &key,
            &json!({ "files": [{ "filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10_001 }] }),
        )
        .await;
    let error = assert_error(res, 422, "MEDIA_REJECTED").await;
    assert_eq!(error["reason"], "too_large");
    assert_eq!(app.stored_files(), 0);
}

#[tokio::test]
async fn live_direct_uploads_check_every_put_and_finalize_once() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let project = app.project_id(&key, "Uploads").await;
    let size = jpeg().len();
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/uploads"),
            &key,
            &json!({ "files": [{ "filename": "one.jpg", "contentType": "image/jpeg", "sizeBytes": size },
                               { "filename": "two.jpg", "contentType": "image/jpeg", "sizeBytes": size }],
                     "hook": "two slides" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let session: Value = res.json().await.unwrap();
    let upload = session["id"].as_str().unwrap().to_owned();
    let url = |i: usize| {
        session["files"][i]["uploadUrl"]
            .as_str()
            .unwrap()
            .replace("http://127.0.0.1:8080", &app.address)
    };
    let put = |url: String, ct: &'static str, body: Vec<u8>| {
        app.http
            .put(url)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    // wrong type header, wrong size, wrong bytes, wrong signature: refused, nothing stored
    let res = put(url(0), "image/png", jpeg().to_vec()).await.unwrap();
    assert_error(res, 422, "MEDIA_REJECTED").await;
    let res = put(url(0), "image/jpeg", jpeg()[..size - 1].to_vec())
        .await
        .unwrap();
    assert_error(res, 422, "MEDIA_REJECTED").await;
    let mut not_jpeg = mp4().to_vec();
    not_jpeg.resize(size, 0);
    let res = put(url(0), "image/jpeg", not_jpeg).await.unwrap();
    let error = assert_error(res, 422, "MEDIA_REJECTED").await;
    assert_eq!(error["reason"], "unsupported_type");
    let res = put(
        url(0).replace("sig=", "sig=A"),
        "image/jpeg",
        jpeg().to_vec(),
    )
    .await
    .unwrap();
    assert_error(res, 403, "FORBIDDEN").await;
    assert_eq!(app.stored_files(), 0);

    let res = put(url(0), "image/jpeg", jpeg().to_vec()).await.unwrap();
    assert_eq!(res.status(), 200);
    let received: Value = res.json().await.unwrap();
    assert_eq!(
        received,
        json!({ "index": 0, "sizeBytes": size, "contentType": "image/jpeg" })
    );

    let res = finalize(&app, &key, &project, &upload).await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "upload_incomplete");
    assert_eq!(error["details"]["missing"], json!([1]));

    let res = put(url(1), "image/jpeg", jpeg().to_vec()).await.unwrap();
    assert_eq!(res.status(), 200);
    let res = finalize(&app, &key, &project, &upload).await;
    assert_eq!(res.status(), 201);
    let done: Value = res.json().await.unwrap();
    assert_eq!(done["format"], "slideshow");
    assert_eq!(done["hook"], "two slides");
    assert_eq!(done["assets"].as_array().unwrap().len(), 2);
    let again = finalize(&app, &key, &project, &upload).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], done["id"]);
    // after finalizing, the URLs take nothing more
    let res = put(url(0), "image/jpeg", jpeg().to_vec()).await.unwrap();
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "already_finalized");

    // another key's environment cannot finalize it
    let sandbox = app
        .key_with(key.org, Env::Sandbox, "*", layers_keys::Tier::Standard)
        .await;
    let sandbox_project = {
        let res = app
            .post("/v1/projects", &sandbox, &json!({ "name": "S" }))
            .await;
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let res = app
        .post(
            &format!("/v1/projects/{sandbox_project}/content/finalize-upload"),
            &sandbox,
            &json!({ "uploadId": upload }),
        )
        .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
}

#[tokio::test]
async fn upload_requests_are_validated() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Uploads").await;
    for (path, body, field) in [
        ("upload", json!({ "urls": [] }), "urls"),
        ("upload", json!({ "urls": ["ftp://x/a.jpg"] }), "urls"),
        (
            "upload",
            json!({ "urls": vec!["https://x.test/a.jpg"; 11] }),
            "urls",
        ),
        (
            "upload",
            json!({ "urls": ["https://x.test/a.mp4", "https://x.test/b.mp4"] }),
            "urls",
        ),
        ("uploads", json!({ "files": [] }), "files"),
        (
            "uploads",
            json!({ "files": [{ "filename": "", "contentType": "image/jpeg", "sizeBytes": 1 }] }),
            "files",
        ),
        ("finalize-upload", json!({ "uploadId": "nope" }), "uploadId"),
    ] {
        let res = app
            .post(
                &format!("/v1/projects/{project}/content/{path}"),
                &key,
                &body,
            )
            .await;
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], field, "{path} {body}");
    }
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/finalize-upload"),
            &key,
            &json!({ "uploadId": "upl_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f" }),
        )
        .await;
    let error = assert_error(res, 404, "NOT_FOUND").await;
    assert_eq!(error["details"]["field"], "uploadId");
}

#[tokio::test]
async fn a_live_put_larger_than_the_json_body_limit_streams_through() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let project = app.project_id(&key, "Uploads").await;
    // a real JPEG head, padded to 3 MiB: the probe reads the head, the size is what was declared
    let mut big = jpeg().to_vec();
    big.resize(3 * 1024 * 1024, 0x5a);
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/uploads"),
            &key,
            &json!({ "files": [{ "filename": "big.jpg", "contentType": "image/jpeg", "sizeBytes": big.len() }] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let session: Value = res.json().await.unwrap();
    let url = session["files"][0]["uploadUrl"]
        .as_str()
        .unwrap()
        .replace("http://127.0.0.1:8080", &app.address);
    // reqwest sends Content-Length for a byte body, as browsers and curl -T do
    let res = app
        .http
        .put(&url)
        .header("content-type", "image/jpeg")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let done = finalize(&app, &key, &project, session["id"].as_str().unwrap()).await;
    assert_eq!(done.status(), 201);
    let container: Value = done.json().await.unwrap();
    let media = container["assets"][0]["url"]
        .as_str()
        .unwrap()
        .replace("http://127.0.0.1:8080", &app.address);
    let got = app.http.get(&media).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), big.as_slice());
    // elsewhere the 1 MiB limit still holds
    let res = app
        .request(reqwest::Method::POST, "/v1/projects", Some(&key))
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "PAYLOAD_TOO_LARGE").await;
}
