//! Content over HTTP (CONTRACT §8, §11 "Content"): sandbox generation completes at once with
//! fixture media at the URLs the formula gives, the fixtures are served, credits are audited
//! and never charged, events fire; bad input is refused whole; live generation without a
//! generator is refused before any charge.

use layers_tests::{assert_error, fnv1a, spawn_app, spawn_app_with, Env, TestApp, TestKey};
use serde_json::{json, Value};

fn sample(id: &str, offset: u32) -> u32 {
    ((u64::from(fnv1a(id)) + u64::from(offset)) % 3) as u32 + 1
}

async fn generate(app: &TestApp, key: &TestKey, project: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/v1/projects/{project}/content"), key, &body)
        .await
}

/// The URLs a container of `format` with fixture `sample` shows, in asset order.
fn fixture_urls(base: &str, format: &str, sample: u32) -> Vec<String> {
    let at = |rest: String| format!("{base}/sandbox/{rest}");
    match format {
        "slideshow" => (1..=5)
            .map(|i| at(format!("slideshow/sample-{sample}/slide-{i}.jpg")))
            .collect(),
        "video-remix" | "ugc-creative" => vec![
            at(format!("{format}/sample-{sample}/video.mp4")),
            at(format!("{format}/sample-{sample}/thumbnail.jpg")),
        ],
        "image" => vec![at(format!("image/sample-{sample}.jpg"))],
        other => panic!("no format {other}"),
    }
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
async fn sandbox_generation_is_complete_at_once_with_the_fixtures_the_formula_names() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    layers_credits::grant(&app.client().await, key.org, 100, "test")
        .await
        .unwrap();
    let project = app.project_id(&key, "Content").await;
    let base = "https://media.layers.com";
    for format in ["slideshow", "video-remix", "ugc-creative", "image"] {
        let res = generate(
            &app,
            &key,
            &project,
            json!({ "format": format, "variantCount": 3, "hook": "Stop scrolling",
                    "caption": "Caption #1" }),
        )
        .await;
        assert_eq!(res.status(), 202, "{format}");
        let started: Value = res.json().await.unwrap();
        assert_eq!(started["kind"], "content_generate");
        // the request did the work: the job is done in the 202, and no worker ever claims it
        assert_eq!(started["status"], "succeeded");
        assert_eq!(started["projectId"], project.as_str());
        let containers = started["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 3);
        let first = containers[0]["id"].as_str().unwrap();
        let mut samples = Vec::new();
        for (i, c) in containers.iter().enumerate() {
            assert!(c["id"].as_str().unwrap().starts_with("cnt_"));
            assert_eq!(c["status"], "completed");
            assert_eq!(c["source"], "generated");
            assert_eq!(c["format"], format);
            assert_eq!(c["variantIndex"], i);
            assert_eq!(c["hook"], "Stop scrolling");
            assert_eq!(c["caption"], "Caption #1");
            assert_eq!(
                c["metadata"],
                json!({ "partner": { "hook": "Stop scrolling" } })
            );
            let s = sample(first, i as u32);
            samples.push(s);
            let urls = fixture_urls(base, format, s);
            assert_eq!(urls_of(c), urls, "{format} variant {i}");
            for asset in c["assets"].as_array().unwrap() {
                assert!(asset["id"].as_str().unwrap().starts_with("asset_"));
                assert_eq!(
                    (asset["width"].as_u64(), asset["height"].as_u64()),
                    (Some(1080), Some(1920))
                );
            }
            let preview = &c["preview"];
            match format {
                "slideshow" => {
                    assert_eq!(preview["imageUrls"], json!(urls));
                    assert_eq!(preview["primaryUrl"], urls[0].as_str());
                    assert_eq!(preview["thumbnailUrl"], urls[0].as_str());
                    assert!(preview["videoUrl"].is_null());
                }
                "image" => {
                    assert_eq!(preview["imageUrls"], json!(urls));
                    assert_eq!(preview["primaryUrl"], urls[0].as_str());
                    assert_eq!(preview["thumbnailUrl"], urls[0].as_str());
                    assert!(preview["videoUrl"].is_null());
                }
                _ => {
                    assert_eq!(preview["videoUrl"], urls[0].as_str());
                    assert_eq!(preview["primaryUrl"], urls[0].as_str());
                    assert_eq!(preview["thumbnailUrl"], urls[1].as_str());
                    assert_eq!(preview["imageUrls"], json!([]));
                }
            }
            // the read is the same object
            let read = app
                .get_json(&format!("/v1/content/{}", c["id"].as_str().unwrap()), &key)
                .await;
            assert_eq!(&read, c);
        }
        samples.sort_unstable();
        assert_eq!(samples, vec![1, 2, 3], "three variants, three samples");
        let job = app
            .job_settles(&key, started["jobId"].as_str().unwrap())
            .await;
        assert_eq!(job["status"], "succeeded");
    }
    // never charged; audited once per variant at the would-be cost
    let credits = app.get_json("/v1/credits", &key).await;
    assert_eq!(credits["balance"], 100);
    let audit = app
        .get_json("/v1/credits/audit?sandbox=true&limit=100", &key)
        .await;
    let rows = audit["data"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    for (operation, cost) in [
        ("content_slideshow", 3),
        ("content_video_remix", 5),
        ("content_ugc_creative", 8),
        ("content_image", 1),
    ] {
        let of: Vec<&Value> = rows
            .iter()
            .filter(|r| r["operation"] == operation)
            .collect();
        assert_eq!(of.len(), 3, "{operation}");
        assert!(of
            .iter()
            .all(|r| r["action"] == "credit.skipped" && r["cost"] == cost));
    }
    // one content.completed per container, sandbox-marked
    let events = app
        .get_json("/v1/events?type=content.completed&limit=100", &key)
        .await;
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), 12);
    assert!(events
        .iter()
        .all(|e| e["meta"] == json!({ "sandbox": true }) && e["data"]["status"] == "completed"));
    let list = app
        .get_json(&format!("/v1/projects/{project}/content?limit=100"), &key)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 12);
}

#[tokio::test]
async fn regeneration_walks_the_samples_and_the_format_route_agrees() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Content").await;
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/image"),
            &key,
            &json!({ "hook": "h" }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    let container = &started["containers"][0];
    let id = container["id"].as_str().unwrap();
    assert_eq!(container["format"], "image");
    let base = "https://media.layers.com";
    assert_eq!(
        urls_of(container),
        fixture_urls(base, "image", sample(id, 0))
    );
    for n in 1..=4 {
        let res = app
            .post_empty(&format!("/v1/content/{id}/regenerate"), &key)
            .await;
        assert_eq!(res.status(), 202);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["kind"], "content_regenerate");
        assert_eq!(body["container"]["id"], id);
        assert_eq!(body["container"]["status"], "completed");
        assert_eq!(
            urls_of(&body["container"]),
            fixture_urls(base, "image", sample(id, n)),
            "regeneration {n}"
        );
        app.job_settles(&key, body["jobId"].as_str().unwrap()).await;
    }
    let asset = &app.get_json(&format!("/v1/content/{id}"), &key).await["assets"][0];
    let one = app
        .get_json(
            &format!("/v1/content/{id}/assets/{}", asset["id"].as_str().unwrap()),
            &key,
        )
        .await;
    assert_eq!(&one, asset);
}

#[tokio::test]
async fn the_gateway_serves_every_fixture_it_hands_out() {
    let app = spawn_app_with(|s| {
        // the gateway's own address is only known once it listens: the fixtures are served at
        // the same paths under any base, so the test rewrites the base below
        s.media_base_url = "http://media.invalid".into();
    })
    .await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Content").await;
    for format in ["slideshow", "video-remix", "ugc-creative", "image"] {
        let started: Value = generate(
            &app,
            &key,
            &project,
            json!({ "format": format, "variantCount": 3 }),
        )
        .await
        .json()
        .await
        .unwrap();
        for c in started["containers"].as_array().unwrap() {
            for asset in c["assets"].as_array().unwrap() {
                let url = asset["url"]
                    .as_str()
                    .unwrap()
                    .replace("http://media.invalid", &app.address);
                let res = app.http.get(&url).send().await.unwrap();
                assert_eq!(res.status(), 200, "{url}");
                let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
                assert_eq!(content_type, asset["contentType"].as_str().unwrap());
                let bytes = res.bytes().await.unwrap();
                match content_type.as_str() {
                    "image/jpeg" => assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "{url}"),
                    "video/mp4" => assert_eq!(&bytes[4..8], b"ftyp", "{url}"),
                    other => panic!("{other}"),
                }
            }
        }
    }
    for missing in [
        "/sandbox/image/sample-4.jpg",
        "/sandbox/slideshow/sample-1/slide-6.jpg",
        "/sandbox/../Cargo.toml",
        "/sandbox/slideshow/sample-1/",
    ] {
        let res = app
            .http
            .get(format!("{}{missing}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{missing}");
    }
}

#[tokio::test]
async fn bad_requests_are_refused_whole() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Content").await;
    for (body, field) in [
        (json!({ "format": "gif" }), "format"),
        (
            json!({ "format": "image", "variantCount": 0 }),
            "variantCount",
        ),
        (
            json!({ "format": "image", "variantCount": 4 }),
            "variantCount",
        ),
        (
            json!({ "format": "image", "hook": "x".repeat(501) }),
            "hook",
        ),
        (
            json!({ "format": "image", "caption": "x".repeat(2201) }),
            "caption",
        ),
        (
            json!({ "format": "image", "influencerId": "nope" }),
            "influencerId",
        ),
    ] {
        let res = generate(&app, &key, &project, body.clone()).await;
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], field, "{body}");
    }
    let res = generate(
        &app,
        &key,
        &project,
        json!({ "format": "image", "colour": "red" }),
    )
    .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
    let res = generate(
        &app,
        &key,
        &project,
        json!({ "format": "image", "influencerId": "inf_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f" }),
    )
    .await;
    let error = assert_error(res, 404, "NOT_FOUND").await;
    assert_eq!(error["details"]["field"], "influencerId");
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/gif"),
            &key,
            &json!({}),
        )
        .await;
    assert_error(res, 404, "NOT_FOUND").await;

    // the other environment's project, and its content
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let res = generate(&app, &live, &project, json!({ "format": "image" })).await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    let started: Value = generate(&app, &key, &project, json!({ "format": "image" }))
        .await
        .json()
        .await
        .unwrap();
    let id = started["containers"][0]["id"].as_str().unwrap();
    let res = app.get(&format!("/v1/content/{id}"), &live).await;
    let error = assert_error(res, 404, "NOT_FOUND").await;
    assert!(error["message"].as_str().unwrap().contains("sandbox"));
    let res = app
        .post_empty(&format!("/v1/content/{id}/regenerate"), &live)
        .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    // nothing half-written: one container, one audit row
    let client = app.client().await;
    let containers: i64 = client
        .query_one("SELECT count(*) FROM content_containers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(containers, 1);
    let audits: i64 = client
        .query_one("SELECT count(*) FROM credit_audit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(audits, 1);
}

#[tokio::test]
async fn live_generation_without_a_generator_is_refused_before_any_charge() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    layers_credits::grant(&app.client().await, key.org, 50, "test")
        .await
        .unwrap();
    let project = app.project_id(&key, "Content").await;
    let res = generate(&app, &key, &project, json!({ "format": "slideshow" })).await;
    let error = assert_error(res, 503, "PLATFORM_NOT_CONFIGURED").await;
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("LAYERS_GENERATOR_URL"));
    assert_eq!(app.get_json("/v1/credits", &key).await["balance"], 50);
    let client = app.client().await;
    let containers: i64 = client
        .query_one("SELECT count(*) FROM content_containers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(containers, 0);
}

async fn live_app(generator: &wiremock::MockServer) -> TestApp {
    let url = generator.uri();
    spawn_app_with(move |s| {
        s.generator_url = Some(url);
        s.generator_token = Some("gen-token".into());
    })
    .await
}

#[tokio::test]
async fn live_generation_calls_the_generator_stores_the_media_and_serves_it_signed() {
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&generator).await;
    let key = app.partner_key(Env::Live).await;
    layers_credits::grant(&app.client().await, key.org, 10, "test")
        .await
        .unwrap();
    let project = app.project_id(&key, "Content").await;
    let res = generate(
        &app,
        &key,
        &project,
        json!({ "format": "image", "variantCount": 2, "hook": "Live hook" }),
    )
    .await;
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    for c in started["containers"].as_array().unwrap() {
        assert_eq!(c["status"], "queued");
        assert!(c["preview"].is_null());
        assert_eq!(c["assets"], json!([]));
    }
    assert_eq!(app.get_json("/v1/credits", &key).await["balance"], 8);
    let job = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    let asked = generator.received_requests().await.unwrap();
    let bodies: Vec<Value> = asked
        .iter()
        .filter(|r| r.url.path() == "/generate")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(body["format"], "image");
        assert_eq!(body["variantIndex"], i);
        assert_eq!(body["hook"], "Live hook");
        assert_eq!(body["project"]["name"], "Content");
        assert_eq!(body["project"]["timezone"], "UTC");
        assert_eq!(body["project"]["primaryLanguage"], "en");
    }

    let (jpeg, _) = layers_content::file("image/sample-1.jpg").unwrap();
    for c in started["containers"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let done = app.get_json(&format!("/v1/content/{id}"), &key).await;
        assert_eq!(done["status"], "completed");
        let url = done["preview"]["primaryUrl"].as_str().unwrap().to_owned();
        assert!(
            url.contains("/media/content/") && url.contains("sig="),
            "{url}"
        );
        let served_url = url.replace("http://127.0.0.1:8080", &app.address);
        let res = app.http.get(&served_url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/jpeg");
        assert_eq!(res.bytes().await.unwrap().as_ref(), jpeg);
        // a tampered or missing signature is refused with the envelope
        let tampered = served_url.replace("sig=", "sig=x");
        let res = app.http.get(&tampered).send().await.unwrap();
        assert_error(res, 403, "FORBIDDEN").await;
        let unsigned = served_url.split('?').next().unwrap().to_owned();
        let res = app.http.get(&unsigned).send().await.unwrap();
        assert_error(res, 403, "FORBIDDEN").await;
    }
    let events = app
        .get_json("/v1/events?type=content.completed", &key)
        .await;
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.get("meta").is_none()));
}

#[tokio::test]
async fn a_generator_failure_fails_the_containers_and_refunds_the_job() {
    let generator = layers_tests::fake_generator(400).await;
    let app = live_app(&generator).await;
    let key = app.partner_key(Env::Live).await;
    layers_credits::grant(&app.client().await, key.org, 10, "test")
        .await
        .unwrap();
    let project = app.project_id(&key, "Content").await;
    let started: Value = generate(&app, &key, &project, json!({ "format": "slideshow" }))
        .await
        .json()
        .await
        .unwrap();
    // the generator refuses at once, so the refund may already be in: read the ledger, not the
    // balance of the moment
    let job = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "failed");
    let ledger = app.get_json("/v1/credits/ledger", &key).await;
    let amounts: Vec<i64> = ledger["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["jobId"] == started["jobId"])
        .map(|e| e["amount"].as_i64().unwrap())
        .collect();
    let mut sorted = amounts.clone();
    sorted.sort();
    assert_eq!(sorted, vec![-3, 3], "charged 3, then refunded: {ledger}");
    assert!(job["error"]["message"]
        .as_str()
        .unwrap()
        .contains("generator"));
    let id = started["containers"][0]["id"].as_str().unwrap();
    let failed = app.get_json(&format!("/v1/content/{id}"), &key).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(app.get_json("/v1/credits", &key).await["balance"], 10);
    let events = app.get_json("/v1/events?type=content.failed", &key).await;
    assert_eq!(events["data"][0]["data"]["containerId"], id);
}

#[tokio::test]
async fn a_test_key_never_reaches_the_generator_even_when_one_is_configured() {
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&generator).await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Content").await;
    let started: Value = generate(
        &app,
        &key,
        &project,
        json!({ "format": "video-remix", "variantCount": 3 }),
    )
    .await
    .json()
    .await
    .unwrap();
    app.job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    let id = started["containers"][0]["id"].as_str().unwrap();
    let regenerated: Value = app
        .post_empty(&format!("/v1/content/{id}/regenerate"), &key)
        .await
        .json()
        .await
        .unwrap();
    app.job_settles(&key, regenerated["jobId"].as_str().unwrap())
        .await;
    assert!(
        generator.received_requests().await.unwrap().is_empty(),
        "the sandbox called the generator"
    );
}

#[tokio::test]
async fn a_generator_5xx_is_retried_and_the_job_then_succeeds() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let generator = layers_tests::fake_generator(200).await;
    // the first call fails with a 503; the mock above answers the retry
    Mock::given(method("POST"))
        .and(path("/generate"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&generator)
        .await;
    let app = live_app(&generator).await;
    let key = app.partner_key(Env::Live).await;
    layers_credits::grant(&app.client().await, key.org, 10, "test")
        .await
        .unwrap();
    let project = app.project_id(&key, "Content").await;
    let started: Value = generate(&app, &key, &project, json!({ "format": "image" }))
        .await
        .json()
        .await
        .unwrap();
    let job = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let calls = generator
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/generate")
        .count();
    assert_eq!(calls, 2, "one 503, then the retry");
    let id = started["containers"][0]["id"].as_str().unwrap();
    assert_eq!(
        app.get_json(&format!("/v1/content/{id}"), &key).await["status"],
        "completed"
    );
    assert_eq!(app.get_json("/v1/credits", &key).await["balance"], 9);
}

#[tokio::test]
async fn a_generation_that_fails_half_way_refunds_only_the_variants_not_delivered() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let generator = layers_tests::fake_generator(400).await;
    // the first variant is generated, the second refused
    Mock::given(method("POST"))
        .and(path("/generate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "assets": [{ "kind": "video", "url": format!("{}/files/out.jpg", generator.uri()),
                         "contentType": "image/jpeg", "width": 1080, "height": 1920 }]
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&generator)
        .await;
    let app = live_app(&generator).await;
    let key = app.partner_key(Env::Live).await;
    layers_credits::grant(&app.client().await, key.org, 20, "test")
        .await
        .unwrap();
    let project = app.project_id(&key, "Content").await;
    let started: Value = generate(
        &app,
        &key,
        &project,
        json!({ "format": "ugc-creative", "variantCount": 2 }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(app.get_json("/v1/credits", &key).await["balance"], 4);
    let job = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "failed");
    for (i, expected) in ["completed", "failed"].into_iter().enumerate() {
        let id = started["containers"][i]["id"].as_str().unwrap();
        let container = app.get_json(&format!("/v1/content/{id}"), &key).await;
        assert_eq!(container["status"], expected);
    }
    // the delivered variant stays charged: 8 of the 16 come back
    assert_eq!(app.get_json("/v1/credits", &key).await["balance"], 12);
    let refunds = app.get_json("/v1/credits/audit", &key).await;
    let refunded: Vec<_> = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "credit.refunded")
        .map(|r| r["cost"].clone())
        .collect();
    assert_eq!(refunded, vec![json!(8)]);
}
