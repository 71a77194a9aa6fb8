//! Media as players fetch it (issue 21, point 4): `HEAD`, one `Range` answered 206 with
//! `Content-Range`, `If-None-Match` answered 304, a range past the end answered 416 in the
//! error envelope, `Accept-Ranges` and `ETag` everywhere; for the sandbox fixtures here, for live
//! media in `uploads.rs` (both through [`streams_like_a_player`]).

use layers_tests::{assert_error, spawn_app, TestApp};
use reqwest::Method;

/// Everything a video player and a cache do with `url`, whose bytes are `whole`.
pub async fn streams_like_a_player(app: &TestApp, url: &str, whole: &[u8]) {
    let size = whole.len();
    let get = |range: Option<String>| {
        let mut req = app.http.get(url);
        if let Some(range) = range {
            req = req.header("Range", range);
        }
        req.send()
    };
    // the whole file, with its validator and the promise of ranges
    let res = get(None).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["accept-ranges"], "bytes");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(res.bytes().await.unwrap().as_ref(), whole);
    // HEAD: the same head, no body
    let res = app.http.request(Method::HEAD, url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-length"], size.to_string().as_str());
    assert_eq!(res.headers()["etag"], etag.as_str());
    assert!(res.bytes().await.unwrap().is_empty());
    // Safari's first probe, an open range, the last bytes
    for (range, bytes) in [
        ("bytes=0-1", 0..2),
        ("bytes=100-", 100..size),
        ("bytes=-50", size - 50..size),
        (&*format!("bytes=10-{}", size * 2), 10..size),
    ] {
        let res = get(Some(range.to_owned())).await.unwrap();
        assert_eq!(res.status(), 206, "{range}");
        assert_eq!(
            res.headers()["content-range"],
            format!("bytes {}-{}/{size}", bytes.start, bytes.end - 1).as_str(),
            "{range}"
        );
        assert_eq!(res.headers()["etag"], etag.as_str());
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            &whole[bytes],
            "{range}"
        );
    }
    // a range of another tag is answered whole; a current tag is not sent again
    let res = app
        .http
        .get(url)
        .header("Range", "bytes=0-1")
        .header("If-Range", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .get(url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["etag"], etag.as_str());
    assert!(res.bytes().await.unwrap().is_empty());
    // past the end: 416 in the envelope, saying how large the file is
    let res = get(Some(format!("bytes={size}-"))).await.unwrap();
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );
    assert_error(res, 416, "RANGE_NOT_SATISFIABLE").await;
}

#[tokio::test]
async fn sandbox_fixtures_stream_and_revalidate() {
    let app = spawn_app().await;
    let path = "ugc-creative/sample-1/video.mp4";
    let (bytes, _) = layers_content::file(path).unwrap();
    let url = format!("{}/sandbox/{path}", app.address);
    streams_like_a_player(&app, &url, bytes).await;
    let res = app.http.get(&url).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "video/mp4");
    let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(
        cache.contains("immutable") && cache.contains("max-age=31536000"),
        "{cache}"
    );
    // an unknown fixture is 404 to HEAD too
    let res = app
        .http
        .request(Method::HEAD, format!("{}/sandbox/nope.mp4", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
