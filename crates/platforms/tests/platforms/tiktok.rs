//! TikTok against a wiremock fake: the v2 authorize URL, the form-encoded token endpoint (and
//! its errors in a 200), user info, direct posts pulled from a URL with the status polled,
//! the video query, and the `{error: {code}}` envelope of every answer.

use std::time::Duration;

use layers_platforms::{Clients, Insights, Media, Platform, Published};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::*;

const TT: Platform = Platform::Tiktok;

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "data": data,
        "error": {"code": "ok", "message": "", "log_id": "20240101"}
    }))
}

fn api_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "data": {},
        "error": {"code": code, "message": message, "log_id": "20240101"}
    }))
}

fn token_answer(access: &str, refresh: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "open_id": "open-123",
        "scope": "user.info.basic,video.publish",
        "access_token": access,
        "expires_in": 86400,
        "refresh_token": refresh,
        "refresh_expires_in": 31536000,
        "token_type": "Bearer"
    }))
}

fn json_body(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[tokio::test]
async fn authorize_url_carries_pkce_state_redirect_and_client_key() {
    let server = MockServer::start().await;
    let url = clients(&server)
        .authorize_url(TT, "st_tt", CHALLENGE, REDIRECT)
        .unwrap();
    assert!(
        url.starts_with(&format!("{}/v2/auth/authorize/?", server.uri())),
        "{url}"
    );
    assert_eq!(
        query_of(&url),
        map(&[
            ("client_key", "tt-key"),
            ("response_type", "code"),
            (
                "scope",
                "user.info.basic,user.info.profile,video.publish,video.list"
            ),
            ("redirect_uri", REDIRECT),
            ("state", "st_tt"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    );
}

#[tokio::test]
async fn exchange_code_posts_the_form_and_keeps_the_open_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .respond_with(token_answer("act.first", "rft.first"))
        .expect(1)
        .mount(&server)
        .await;
    let token = clients(&server)
        .exchange_code(TT, "code-tt", VERIFIER, REDIRECT)
        .await
        .unwrap();
    assert_eq!(token.access_token, "act.first");
    assert_eq!(token.refresh_token.as_deref(), Some("rft.first"));
    assert_eq!(token.user_id.as_deref(), Some("open-123"));
    let left = (token.expires_at.unwrap() - chrono::Utc::now()).num_hours();
    assert!((23..=24).contains(&left), "{left}");
    let calls = received(&server, "POST", "/v2/oauth/token/").await;
    assert_eq!(
        form_of(&calls[0]),
        map(&[
            ("client_key", "tt-key"),
            ("client_secret", "tt-secret"),
            ("code", "code-tt"),
            ("grant_type", "authorization_code"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
    );
}

#[tokio::test]
async fn a_refused_code_is_rejected_even_in_a_200() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/oauth/token/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Authorization code is expired.",
            "log_id": "2024"
        })))
        .mount(&server)
        .await;
    let result = clients(&server)
        .exchange_code(TT, "old", VERIFIER, REDIRECT)
        .await;
    assert_eq!(
        rejected(result),
        (422, "Authorization code is expired.".to_owned())
    );
}

#[tokio::test]
async fn refresh_uses_the_refresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/oauth/token/"))
        .respond_with(token_answer("act.second", "rft.second"))
        .expect(1)
        .mount(&server)
        .await;
    let fresh = clients(&server)
        .refresh(TT, &token("act.first", Some("rft.first"), Some("open-123")))
        .await
        .unwrap();
    assert_eq!(fresh.access_token, "act.second");
    assert_eq!(fresh.refresh_token.as_deref(), Some("rft.second"));
    assert_eq!(fresh.user_id.as_deref(), Some("open-123"));
    let calls = received(&server, "POST", "/v2/oauth/token/").await;
    assert_eq!(
        form_of(&calls[0]),
        map(&[
            ("client_key", "tt-key"),
            ("client_secret", "tt-secret"),
            ("grant_type", "refresh_token"),
            ("refresh_token", "rft.first"),
        ])
    );
}

#[tokio::test]
async fn a_refused_refresh_means_the_token_expired() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/oauth/token/"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Refresh token is invalid or expired.",
            "log_id": "2024"
        })))
        .mount(&server)
        .await;
    let result = clients(&server)
        .refresh(TT, &token("act", Some("rft.gone"), None))
        .await;
    assert_eq!(expired(result), "Refresh token is invalid or expired.");
    // without a refresh token there is nothing to ask
    expired(
        clients(&server)
            .refresh(TT, &token("act", None, None))
            .await,
    );
    assert_eq!(received(&server, "POST", "/v2/oauth/token/").await.len(), 1);
}

#[tokio::test]
async fn profile_reads_user_info() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/user/info/"))
        .and(query_param("fields", "open_id,username,display_name"))
        .and(header("authorization", "Bearer act.x"))
        .respond_with(ok(json!({"user": {"open_id": "open-123", "username": "acme.app", "display_name": "Acme"}})))
        .expect(1)
        .mount(&server)
        .await;
    let profile = clients(&server)
        .profile(TT, &token("act.x", None, None))
        .await
        .unwrap();
    assert_eq!(profile.user_id, "open-123");
    assert_eq!(profile.handle, "acme.app");
}

#[tokio::test]
async fn publish_a_video_pulls_it_from_the_url_and_polls_until_complete() {
    let server = MockServer::start().await;
    let auth = || header("authorization", "Bearer act.x");
    Mock::given(method("POST"))
        .and(path("/v2/post/publish/video/init/"))
        .and(auth())
        .respond_with(ok(json!({"publish_id": "v_pub_url~v2.123"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/post/publish/status/fetch/"))
        .and(auth())
        .respond_with(ok(
            json!({"status": "PROCESSING_DOWNLOAD", "downloaded_bytes": 100}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/post/publish/status/fetch/"))
        .and(auth())
        .respond_with(ok(json!({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [7345678901234567890u64]})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/video/query/"))
        .and(query_param("fields", "id,share_url"))
        .respond_with(ok(json!({"videos": [{"id": "7345678901234567890", "share_url": "https://www.tiktok.com/@acme.app/video/7345678901234567890"}], "cursor": 0, "has_more": false})))
        .expect(1)
        .mount(&server)
        .await;

    let published = clients(&server)
        .publish(
            TT,
            &token("act.x", None, Some("open-123")),
            &Media::Video {
                url: "https://media.layers.test/v.mp4".into(),
                thumbnail_url: None,
            },
            Some("New feature! #app"),
        )
        .await
        .unwrap();
    assert_eq!(
        published,
        Published {
            external_id: "7345678901234567890".into(),
            external_url: Some("https://www.tiktok.com/@acme.app/video/7345678901234567890".into()),
        }
    );
    let init = received(&server, "POST", "/v2/post/publish/video/init/").await;
    assert_eq!(
        json_body(&init[0]),
        json!({
            "post_info": {
                "title": "New feature! #app",
                "privacy_level": "SELF_ONLY",
                "disable_comment": false,
                "disable_duet": false,
                "disable_stitch": false
            },
            "source_info": {"source": "PULL_FROM_URL", "video_url": "https://media.layers.test/v.mp4"}
        })
    );
    let polls = received(&server, "POST", "/v2/post/publish/status/fetch/").await;
    assert_eq!(polls.len(), 2);
    assert_eq!(
        json_body(&polls[0]),
        json!({"publish_id": "v_pub_url~v2.123"})
    );
    let query = received(&server, "POST", "/v2/video/query/").await;
    assert_eq!(
        json_body(&query[0]),
        json!({"filters": {"video_ids": ["7345678901234567890"]}})
    );
}

#[tokio::test]
async fn publish_photos_as_a_direct_photo_post() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/post/publish/content/init/"))
        .respond_with(ok(json!({"publish_id": "p_pub_1"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/post/publish/status/fetch/"))
        .respond_with(ok(json!({"status": "PUBLISH_COMPLETE"})))
        .mount(&server)
        .await;
    let caption = "x".repeat(120);
    let published = clients(&server)
        .publish(
            TT,
            &token("act.x", None, None),
            &Media::Carousel {
                urls: vec![
                    "https://media.layers.test/1.jpg".into(),
                    "https://media.layers.test/2.jpg".into(),
                ],
            },
            Some(&caption),
        )
        .await
        .unwrap();
    // a private post has no public id yet: the publish id stands for it
    assert_eq!(
        published,
        Published {
            external_id: "p_pub_1".into(),
            external_url: None
        }
    );
    let init = received(&server, "POST", "/v2/post/publish/content/init/").await;
    assert_eq!(
        json_body(&init[0]),
        json!({
            "post_info": {
                "title": "x".repeat(90),
                "description": caption,
                "privacy_level": "SELF_ONLY",
                "disable_comment": false,
                "auto_add_music": true
            },
            "source_info": {
                "source": "PULL_FROM_URL",
                "photo_cover_index": 0,
                "photo_images": ["https://media.layers.test/1.jpg", "https://media.layers.test/2.jpg"]
            },
            "post_mode": "DIRECT_POST",
            "media_type": "PHOTO"
        })
    );
}

#[tokio::test]
async fn a_failed_publish_is_rejected_with_its_reason() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/post/publish/content/init/"))
        .respond_with(ok(json!({"publish_id": "p_pub_2"})))
        .mount(&server)
        .await;
    Mock::given(path("/v2/post/publish/status/fetch/"))
        .respond_with(ok(
            json!({"status": "FAILED", "fail_reason": "picture_size_check_failed"}),
        ))
        .mount(&server)
        .await;
    let (status, message) = rejected(
        clients(&server)
            .publish(
                TT,
                &token("act.x", None, None),
                &Media::Image {
                    url: "https://media.layers.test/1.jpg".into(),
                },
                None,
            )
            .await,
    );
    assert_eq!(status, 422);
    assert!(message.contains("picture_size_check_failed"), "{message}");
}

#[tokio::test]
async fn publish_failures_are_sorted() {
    let server = MockServer::start().await;
    let tok = token("act.x", None, None);
    let video = Media::Video {
        url: "https://media.layers.test/v.mp4".into(),
        thumbnail_url: None,
    };
    let init = || path("/v2/post/publish/video/init/");
    Mock::given(init())
        .respond_with(api_error(
            403,
            "spam_risk_too_many_posts",
            "The user has posted too much today.",
        ))
        .mount(&server)
        .await;
    assert_eq!(
        rejected(clients(&server).publish(TT, &tok, &video, None).await),
        (403, "The user has posted too much today.".to_owned())
    );

    server.reset().await;
    Mock::given(init())
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    transient(clients(&server).publish(TT, &tok, &video, None).await);

    server.reset().await;
    Mock::given(init())
        .respond_with(api_error(429, "rate_limit_exceeded", "Too many requests."))
        .mount(&server)
        .await;
    transient(clients(&server).publish(TT, &tok, &video, None).await);

    server.reset().await;
    Mock::given(init())
        .respond_with(api_error(
            401,
            "access_token_invalid",
            "The access token is invalid or not found in the request.",
        ))
        .mount(&server)
        .await;
    let message = expired(clients(&server).publish(TT, &tok, &video, None).await);
    assert_eq!(
        message,
        "The access token is invalid or not found in the request."
    );

    // TikTok also says it in a 200
    server.reset().await;
    Mock::given(init())
        .respond_with(api_error(
            200,
            "access_token_invalid",
            "The access token is invalid.",
        ))
        .mount(&server)
        .await;
    expired(clients(&server).publish(TT, &tok, &video, None).await);
}

#[tokio::test]
async fn a_publish_that_never_completes_is_transient_and_names_the_publish() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/post/publish/video/init/"))
        .respond_with(ok(json!({"publish_id": "v_pub_slow"})))
        .mount(&server)
        .await;
    Mock::given(path("/v2/post/publish/status/fetch/"))
        .respond_with(ok(json!({"status": "PROCESSING_UPLOAD"})))
        .expect(4)
        .mount(&server)
        .await;
    let message = transient(
        clients(&server)
            .publish(
                TT,
                &token("act.x", None, None),
                &Media::Video {
                    url: "https://media.layers.test/v.mp4".into(),
                    thumbnail_url: None,
                },
                None,
            )
            .await,
    );
    assert!(message.contains("v_pub_slow"), "{message}");
    assert!(message.contains("PROCESSING_UPLOAD"), "{message}");
}

#[tokio::test]
async fn insights_query_the_video() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/video/query/"))
        .and(query_param("fields", "id,view_count,like_count,comment_count,share_count"))
        .and(header("authorization", "Bearer act.x"))
        .respond_with(ok(json!({"videos": [{
            "id": "7345", "view_count": 2048, "like_count": 301, "comment_count": 17, "share_count": 5
        }], "cursor": 0, "has_more": false})))
        .mount(&server)
        .await;
    let insights = clients(&server)
        .insights(TT, &token("act.x", None, None), "7345")
        .await
        .unwrap();
    assert_eq!(
        insights,
        Insights {
            views: 2048,
            likes: 301,
            comments: 17,
            shares: 5,
            ..Insights::default()
        }
    );
    let (status, _) = rejected(
        clients(&server)
            .insights(TT, &token("act.x", None, None), "9999")
            .await,
    );
    assert_eq!(status, 404);
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_transient() {
    let server = MockServer::start().await;
    Mock::given(path("/v2/user/info/"))
        .respond_with(ok(json!({})).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let quick = Clients::new(outbound(Duration::from_millis(200)), config(&server));
    let message = transient(quick.profile(TT, &token("act.x", None, None)).await);
    assert!(message.contains("did not answer in time"), "{message}");

    let mut nowhere = config(&server);
    nowhere.tiktok_api_base_url = layers_platforms::Url::parse("http://127.0.0.1:9/").unwrap();
    let closed = Clients::new(outbound(Duration::from_secs(2)), nowhere);
    let message = transient(closed.profile(TT, &token("act.x", None, None)).await);
    assert!(message.contains("could not reach tiktok"), "{message}");
}

#[tokio::test]
async fn without_credentials_the_variables_are_named() {
    let server = MockServer::start().await;
    let message = not_configured(
        unconfigured(&server)
            .exchange_code(TT, "c", VERIFIER, REDIRECT)
            .await,
    );
    assert_eq!(
        message,
        "tiktok is not configured: set LAYERS_TIKTOK_CLIENT_KEY and LAYERS_TIKTOK_CLIENT_SECRET"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}
