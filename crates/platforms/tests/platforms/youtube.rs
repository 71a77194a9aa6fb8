//! YouTube against a wiremock fake: Google's consent URL and token endpoint, the caller's
//! channel, the resumable upload (session, then the bytes to its Location), statistics, and
//! Google's error bodies.

use layers_platforms::{Insights, Media, Platform, Published};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::*;

const YT: Platform = Platform::Youtube;

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn google_error(status: u16, reason: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "youtube.quota", "reason": reason}]
        }
    }))
}

#[tokio::test]
async fn authorize_url_carries_pkce_state_redirect_client_id_and_offline_access() {
    let server = MockServer::start().await;
    let url = clients(&server)
        .authorize_url(YT, "st_yt", CHALLENGE, REDIRECT)
        .unwrap();
    assert!(
        url.starts_with(&format!("{}/o/oauth2/v2/auth?", server.uri())),
        "{url}"
    );
    assert_eq!(
        query_of(&url),
        map(&[
            ("client_id", "g-client"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            (
                "scope",
                "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly"
            ),
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("state", "st_yt"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    );
}

#[tokio::test]
async fn exchange_code_posts_the_form() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v4/token"))
        .respond_with(ok(json!({
            "access_token": "ya29.first",
            "expires_in": 3599,
            "refresh_token": "1//refresh",
            "scope": "https://www.googleapis.com/auth/youtube.upload",
            "token_type": "Bearer"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let token = clients(&server)
        .exchange_code(YT, "4/code", VERIFIER, REDIRECT)
        .await
        .unwrap();
    assert_eq!(token.access_token, "ya29.first");
    assert_eq!(token.refresh_token.as_deref(), Some("1//refresh"));
    assert_eq!(token.user_id, None);
    assert!(token.expires_at.is_some());
    let calls = received(&server, "POST", "/oauth2/v4/token").await;
    assert_eq!(
        form_of(&calls[0]),
        map(&[
            ("code", "4/code"),
            ("client_id", "g-client"),
            ("client_secret", "g-secret"),
            ("redirect_uri", REDIRECT),
            ("grant_type", "authorization_code"),
            ("code_verifier", VERIFIER),
        ])
    );
}

#[tokio::test]
async fn a_refused_code_is_rejected_with_googles_description() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth2/v4/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Malformed auth code."
        })))
        .mount(&server)
        .await;
    let result = clients(&server)
        .exchange_code(YT, "bad", VERIFIER, REDIRECT)
        .await;
    assert_eq!(rejected(result), (400, "Malformed auth code.".to_owned()));
}

#[tokio::test]
async fn refresh_keeps_the_refresh_token_google_does_not_resend() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth2/v4/token"))
        .respond_with(ok(
            json!({"access_token": "ya29.next", "expires_in": 3599, "token_type": "Bearer"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let fresh = clients(&server)
        .refresh(YT, &token("ya29.old", Some("1//refresh"), None))
        .await
        .unwrap();
    assert_eq!(fresh.access_token, "ya29.next");
    assert_eq!(fresh.refresh_token.as_deref(), Some("1//refresh"));
    let calls = received(&server, "POST", "/oauth2/v4/token").await;
    assert_eq!(
        form_of(&calls[0]),
        map(&[
            ("client_id", "g-client"),
            ("client_secret", "g-secret"),
            ("refresh_token", "1//refresh"),
            ("grant_type", "refresh_token"),
        ])
    );
}

#[tokio::test]
async fn a_revoked_grant_on_refresh_means_the_token_expired() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth2/v4/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Token has been expired or revoked."
        })))
        .mount(&server)
        .await;
    let result = clients(&server)
        .refresh(YT, &token("ya29.old", Some("1//gone"), None))
        .await;
    assert_eq!(expired(result), "Token has been expired or revoked.");

    // a wrong client secret is this app's problem, not the account's
    server.reset().await;
    Mock::given(path("/oauth2/v4/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client",
            "error_description": "Unauthorized"
        })))
        .mount(&server)
        .await;
    let result = clients(&server)
        .refresh(YT, &token("ya29.old", Some("1//r"), None))
        .await;
    assert_eq!(rejected(result), (401, "Unauthorized".to_owned()));
}

#[tokio::test]
async fn profile_is_the_channel() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/youtube/v3/channels"))
        .and(query_param("part", "snippet"))
        .and(query_param("mine", "true"))
        .and(header("authorization", "Bearer ya29.x"))
        .respond_with(ok(json!({"kind": "youtube#channelListResponse", "items": [
            {"id": "UC123", "snippet": {"title": "Acme App", "customUrl": "@acmeapp"}}
        ]})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/youtube/v3/channels"))
        .respond_with(ok(
            json!({"items": [{"id": "UC456", "snippet": {"title": "No Handle"}}]}),
        ))
        .mount(&server)
        .await;
    let c = clients(&server);
    let first = c.profile(YT, &token("ya29.x", None, None)).await.unwrap();
    assert_eq!(
        (first.user_id.as_str(), first.handle.as_str()),
        ("UC123", "@acmeapp")
    );
    let second = c.profile(YT, &token("ya29.x", None, None)).await.unwrap();
    assert_eq!(
        (second.user_id.as_str(), second.handle.as_str()),
        ("UC456", "No Handle")
    );
}

#[tokio::test]
async fn publish_downloads_the_video_and_uploads_it_resumably() {
    let server = MockServer::start().await;
    let video: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    Mock::given(method("GET"))
        .and(path("/media/clip.mp4"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(video.clone(), "video/mp4"))
        .expect(1)
        .mount(&server)
        .await;
    let session = format!(
        "{}/upload/youtube/v3/videos?uploadType=resumable&upload_id=xyz",
        server.uri()
    );
    Mock::given(method("POST"))
        .and(path("/upload/youtube/v3/videos"))
        .and(query_param("uploadType", "resumable"))
        .and(query_param("part", "snippet,status"))
        .and(header("authorization", "Bearer ya29.x"))
        .and(header("x-upload-content-type", "video/mp4"))
        .and(header("x-upload-content-length", "50000"))
        .respond_with(ResponseTemplate::new(200).insert_header("Location", session.as_str()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/upload/youtube/v3/videos"))
        .and(query_param("upload_id", "xyz"))
        .respond_with(ok(json!({"kind": "youtube#video", "id": "dQw4w9WgXcQ", "status": {"uploadStatus": "uploaded"}})))
        .expect(1)
        .mount(&server)
        .await;

    let caption = format!("Launch day <3 {}", "a".repeat(120));
    let published = clients(&server)
        .publish(
            YT,
            &token("ya29.x", Some("1//r"), None),
            &Media::Video {
                url: format!("{}/media/clip.mp4", server.uri()),
                thumbnail_url: None,
            },
            Some(&caption),
        )
        .await
        .unwrap();
    assert_eq!(
        published,
        Published {
            external_id: "dQw4w9WgXcQ".into(),
            external_url: Some("https://www.youtube.com/shorts/dQw4w9WgXcQ".into()),
        }
    );
    let init = received(&server, "POST", "/upload/youtube/v3/videos").await;
    let metadata: Value = serde_json::from_slice(&init[0].body).unwrap();
    let clean = caption.replace('<', "");
    assert_eq!(
        metadata,
        json!({
            "snippet": {"title": clean.chars().take(100).collect::<String>(), "description": clean},
            "status": {"privacyStatus": "private"}
        })
    );
    let upload = received(&server, "PUT", "/upload/youtube/v3/videos").await;
    assert_eq!(upload[0].body, video);
    assert_eq!(upload[0].headers["content-type"], "video/mp4");
    assert_eq!(upload[0].headers["authorization"], "Bearer ya29.x");
}

#[tokio::test]
async fn publish_without_a_caption_is_untitled_and_images_are_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/media/clip.mp4"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(vec![1u8; 10], "application/octet-stream"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/upload/youtube/v3/videos"))
        .and(header("x-upload-content-type", "video/mp4"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Location", "/upload/youtube/v3/videos?upload_id=rel"),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/upload/youtube/v3/videos"))
        .and(query_param("upload_id", "rel"))
        .respond_with(ok(json!({"id": "vid2"})))
        .mount(&server)
        .await;
    let c = clients(&server);
    let tok = token("ya29.x", None, None);
    let video = Media::Video {
        url: format!("{}/media/clip.mp4", server.uri()),
        thumbnail_url: None,
    };
    assert_eq!(
        c.publish(YT, &tok, &video, None).await.unwrap().external_id,
        "vid2"
    );
    let init = received(&server, "POST", "/upload/youtube/v3/videos").await;
    let metadata: Value = serde_json::from_slice(&init[0].body).unwrap();
    assert_eq!(
        metadata["snippet"],
        json!({"title": "Untitled", "description": ""})
    );

    server.reset().await;
    let image = Media::Image {
        url: format!("{}/media/a.jpg", server.uri()),
    };
    let (status, message) = rejected(c.publish(YT, &tok, &image, Some("x")).await);
    assert_eq!(status, 422);
    assert!(
        message.starts_with("YouTube takes videos only"),
        "{message}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn publish_failures_are_sorted() {
    let server = MockServer::start().await;
    let tok = token("ya29.x", None, None);
    let video = Media::Video {
        url: format!("{}/media/clip.mp4", server.uri()),
        thumbnail_url: None,
    };
    let mount_media = || async {
        Mock::given(path("/media/clip.mp4"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(vec![0u8; 64], "video/mp4"))
            .mount(&server)
            .await;
    };
    let upload = || path("/upload/youtube/v3/videos");

    mount_media().await;
    Mock::given(upload())
        .respond_with(google_error(
            403,
            "quotaExceeded",
            "The request cannot be completed because you have exceeded your quota.",
        ))
        .mount(&server)
        .await;
    assert_eq!(
        rejected(clients(&server).publish(YT, &tok, &video, None).await),
        (
            403,
            "The request cannot be completed because you have exceeded your quota.".to_owned()
        )
    );

    server.reset().await;
    mount_media().await;
    Mock::given(upload())
        .respond_with(ResponseTemplate::new(503).set_body_string("backend down"))
        .mount(&server)
        .await;
    transient(clients(&server).publish(YT, &tok, &video, None).await);

    server.reset().await;
    mount_media().await;
    Mock::given(upload())
        .respond_with(google_error(
            401,
            "authError",
            "Request had invalid authentication credentials.",
        ))
        .mount(&server)
        .await;
    let message = expired(clients(&server).publish(YT, &tok, &video, None).await);
    assert_eq!(message, "Request had invalid authentication credentials.");

    // the media host's own refusal is no token problem
    server.reset().await;
    Mock::given(path("/media/clip.mp4"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let (status, message) = rejected(clients(&server).publish(YT, &tok, &video, None).await);
    assert_eq!(status, 404);
    assert!(message.contains("fetching the video"), "{message}");
    assert!(received(&server, "POST", "/upload/youtube/v3/videos")
        .await
        .is_empty());
}

#[tokio::test]
async fn insights_read_the_statistics_strings() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/youtube/v3/videos"))
        .and(query_param("part", "statistics"))
        .and(query_param("id", "dQw4w9WgXcQ"))
        .and(header("authorization", "Bearer ya29.x"))
        .respond_with(ok(json!({"items": [{"id": "dQw4w9WgXcQ", "statistics": {
            "viewCount": "1500000", "likeCount": "42000", "favoriteCount": "0", "commentCount": "1300"
        }}]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/youtube/v3/videos"))
        .respond_with(ok(json!({"items": []})))
        .mount(&server)
        .await;
    let c = clients(&server);
    let tok = token("ya29.x", None, None);
    assert_eq!(
        c.insights(YT, &tok, "dQw4w9WgXcQ").await.unwrap(),
        Insights {
            views: 1_500_000,
            likes: 42_000,
            comments: 1_300,
            ..Insights::default()
        }
    );
    assert_eq!(rejected(c.insights(YT, &tok, "gone").await).0, 404);
}

#[tokio::test]
async fn without_credentials_the_variables_are_named() {
    let server = MockServer::start().await;
    let c = unconfigured(&server);
    assert_eq!(
        c.configured(YT).unwrap_err().to_string(),
        "youtube is not configured: set LAYERS_GOOGLE_CLIENT_ID and LAYERS_GOOGLE_CLIENT_SECRET"
    );
    not_configured(c.refresh(YT, &token("t", Some("r"), None)).await);
    assert!(server.received_requests().await.unwrap().is_empty());
}
