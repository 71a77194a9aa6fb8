//! Instagram (Meta Graph API v21.0) against a wiremock fake: login dialog URL, code and
//! long-lived token exchanges, the Page's Instagram account, containers polled until finished,
//! media_publish, permalink, insights, and Graph's error bodies.

use layers_platforms::{Insights, Media, Platform, PlatformError, Published};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::*;

const IG: Platform = Platform::Instagram;
const LONG: &str = "EAAlong-lived";

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn graph_error(status: u16, message: &str, code: i64) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}
    }))
}

async fn mount_accounts(server: &MockServer, access_token: &str) {
    Mock::given(method("GET"))
        .and(path("/v21.0/me/accounts"))
        .and(query_param("fields", "instagram_business_account{id,username}"))
        .and(header("authorization", format!("Bearer {access_token}").as_str()))
        .respond_with(ok(json!({
            "data": [
                {"id": "page-without-ig"},
                {"id": "page-2", "instagram_business_account": {"id": "17841400001", "username": "acme.app"}}
            ],
            "paging": {"cursors": {"before": "a", "after": "b"}}
        })))
        .mount(server)
        .await;
}

#[tokio::test]
async fn authorize_url_carries_pkce_state_redirect_and_client_id() {
    let server = MockServer::start().await;
    let url = clients(&server)
        .authorize_url(IG, "st_abc", CHALLENGE, REDIRECT)
        .unwrap();
    assert!(
        url.starts_with(&format!("{}/v21.0/dialog/oauth?", server.uri())),
        "{url}"
    );
    assert_eq!(
        query_of(&url),
        map(&[
            ("client_id", "meta-app"),
            ("redirect_uri", REDIRECT),
            ("state", "st_abc"),
            ("response_type", "code"),
            (
                "scope",
                "instagram_basic,instagram_content_publish,instagram_manage_insights,pages_show_list"
            ),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn exchange_code_then_long_lived_token_then_the_instagram_account() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("code", "code-123"))
        .respond_with(ok(
            json!({"access_token": "EAAshort", "token_type": "bearer", "expires_in": 3600}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("grant_type", "fb_exchange_token"))
        .respond_with(ok(
            json!({"access_token": LONG, "token_type": "bearer", "expires_in": 5184000}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    mount_accounts(&server, LONG).await;

    let token = clients(&server)
        .exchange_code(IG, "code-123", VERIFIER, REDIRECT)
        .await
        .unwrap();
    assert_eq!(token.access_token, LONG);
    assert_eq!(token.refresh_token, None);
    assert_eq!(token.user_id.as_deref(), Some("17841400001"));
    let left = (token.expires_at.unwrap() - chrono::Utc::now()).num_days();
    assert!((59..=60).contains(&left), "{left}");

    let calls = received(&server, "GET", "/v21.0/oauth/access_token").await;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        query_of(calls[0].url.as_str()),
        map(&[
            ("client_id", "meta-app"),
            ("client_secret", "meta-secret"),
            ("redirect_uri", REDIRECT),
            ("code", "code-123"),
            ("code_verifier", VERIFIER),
        ])
    );
    assert_eq!(
        query_of(calls[1].url.as_str()),
        map(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", "meta-app"),
            ("client_secret", "meta-secret"),
            ("fb_exchange_token", "EAAshort"),
        ])
    );
}

#[tokio::test]
async fn a_refused_code_is_rejected_with_graphs_message() {
    let server = MockServer::start().await;
    Mock::given(path("/v21.0/oauth/access_token"))
        .respond_with(graph_error(
            400,
            "This authorization code has expired.",
            100,
        ))
        .mount(&server)
        .await;
    let result = clients(&server)
        .exchange_code(IG, "stale", VERIFIER, REDIRECT)
        .await;
    assert_eq!(
        rejected(result),
        (400, "This authorization code has expired.".to_owned())
    );

    // even a 190 is about the code here, not an account to re-authorize
    server.reset().await;
    Mock::given(path("/v21.0/oauth/access_token"))
        .respond_with(graph_error(400, "Error validating verification code.", 190))
        .mount(&server)
        .await;
    let result = clients(&server)
        .exchange_code(IG, "bad", VERIFIER, REDIRECT)
        .await;
    assert_eq!(rejected(result).1, "Error validating verification code.");
}

#[tokio::test]
async fn refresh_exchanges_the_current_token_and_keeps_the_user() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("grant_type", "fb_exchange_token"))
        .and(query_param("fb_exchange_token", "EAAcurrent"))
        .and(query_param("client_secret", "meta-secret"))
        .respond_with(ok(
            json!({"access_token": "EAAnext", "token_type": "bearer", "expires_in": 5184000}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let fresh = clients(&server)
        .refresh(IG, &token("EAAcurrent", None, Some("17841400001")))
        .await
        .unwrap();
    assert_eq!(fresh.access_token, "EAAnext");
    assert_eq!(fresh.user_id.as_deref(), Some("17841400001"));
    assert!(fresh.expires_at.is_some());
}

#[tokio::test]
async fn a_refused_refresh_means_the_token_expired() {
    let server = MockServer::start().await;
    Mock::given(path("/v21.0/oauth/access_token"))
        .respond_with(graph_error(
            400,
            "Error validating access token: Session has expired on Tuesday.",
            190,
        ))
        .mount(&server)
        .await;
    let result = clients(&server)
        .refresh(IG, &token("EAAold", None, Some("1")))
        .await;
    assert_eq!(
        expired(result),
        "Error validating access token: Session has expired on Tuesday."
    );
}

#[tokio::test]
async fn profile_is_the_first_page_with_an_instagram_account() {
    let server = MockServer::start().await;
    mount_accounts(&server, "EAAtok").await;
    let profile = clients(&server)
        .profile(IG, &token("EAAtok", None, None))
        .await
        .unwrap();
    assert_eq!(profile.user_id, "17841400001");
    assert_eq!(profile.handle, "acme.app");

    server.reset().await;
    Mock::given(path("/v21.0/me/accounts"))
        .respond_with(ok(json!({"data": [{"id": "page-1"}]})))
        .mount(&server)
        .await;
    let (status, message) = rejected(
        clients(&server)
            .profile(IG, &token("EAAtok", None, None))
            .await,
    );
    assert_eq!(status, 422);
    assert!(
        message.contains("Instagram professional account"),
        "{message}"
    );
}

#[tokio::test]
async fn publish_an_image_polls_the_container_then_publishes_and_reads_the_permalink() {
    let server = MockServer::start().await;
    let auth = || header("authorization", "Bearer EAAtok");
    Mock::given(method("POST"))
        .and(path("/v21.0/17841400001/media"))
        .and(auth())
        .respond_with(ok(json!({"id": "c-100"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/c-100"))
        .and(query_param("fields", "status_code,status"))
        .respond_with(ok(json!({"status_code": "IN_PROGRESS", "id": "c-100"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/c-100"))
        .and(query_param("fields", "status_code,status"))
        .respond_with(ok(json!({"status_code": "FINISHED", "id": "c-100"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/17841400001/media_publish"))
        .and(auth())
        .respond_with(ok(json!({"id": "17900000042"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/17900000042"))
        .and(query_param("fields", "permalink"))
        .and(auth())
        .respond_with(ok(
            json!({"permalink": "https://www.instagram.com/p/Cabc123/", "id": "17900000042"}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let published = clients(&server)
        .publish(
            IG,
            &token("EAAtok", None, Some("17841400001")),
            &Media::Image {
                url: "https://media.layers.test/a.jpg".into(),
            },
            Some("Hello & welcome #launch"),
        )
        .await
        .unwrap();
    assert_eq!(
        published,
        Published {
            external_id: "17900000042".into(),
            external_url: Some("https://www.instagram.com/p/Cabc123/".into()),
        }
    );
    let created = received(&server, "POST", "/v21.0/17841400001/media").await;
    assert_eq!(
        form_of(&created[0]),
        map(&[
            ("image_url", "https://media.layers.test/a.jpg"),
            ("caption", "Hello & welcome #launch"),
        ])
    );
    assert_eq!(received(&server, "GET", "/v21.0/c-100").await.len(), 2);
    let publish = received(&server, "POST", "/v21.0/17841400001/media_publish").await;
    assert_eq!(form_of(&publish[0]), map(&[("creation_id", "c-100")]));
}

#[tokio::test]
async fn publish_a_video_as_a_reel_with_its_cover() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/17841400001/media"))
        .respond_with(ok(json!({"id": "c-7"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/c-7"))
        .respond_with(ok(json!({"status_code": "FINISHED"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/17841400001/media_publish"))
        .respond_with(ok(json!({"id": "m-7"})))
        .mount(&server)
        .await;
    // no permalink route: the post is published all the same, without its URL
    let published = clients(&server)
        .publish(
            IG,
            &token("EAAtok", None, Some("17841400001")),
            &Media::Video {
                url: "https://media.layers.test/v.mp4".into(),
                thumbnail_url: Some("https://media.layers.test/v.jpg".into()),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(published.external_id, "m-7");
    assert_eq!(published.external_url, None);
    let created = received(&server, "POST", "/v21.0/17841400001/media").await;
    assert_eq!(
        form_of(&created[0]),
        map(&[
            ("media_type", "REELS"),
            ("video_url", "https://media.layers.test/v.mp4"),
            ("cover_url", "https://media.layers.test/v.jpg"),
        ])
    );
}

#[tokio::test]
async fn publish_a_carousel_creates_children_then_the_carousel() {
    let server = MockServer::start().await;
    let media = || path("/v21.0/17841400001/media");
    Mock::given(method("POST"))
        .and(media())
        .and(body_string_contains("image_url="))
        .respond_with(ok(json!({"id": "k-1"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(media())
        .and(body_string_contains("video_url="))
        .respond_with(ok(json!({"id": "k-2"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(media())
        .and(body_string_contains("media_type=CAROUSEL"))
        .respond_with(ok(json!({"id": "p-1"})))
        .mount(&server)
        .await;
    for id in ["k-1", "k-2", "p-1"] {
        Mock::given(method("GET"))
            .and(path(format!("/v21.0/{id}")))
            .respond_with(ok(json!({"status_code": "FINISHED"})))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/v21.0/17841400001/media_publish"))
        .and(body_string_contains("creation_id=p-1"))
        .respond_with(ok(json!({"id": "m-9"})))
        .expect(1)
        .mount(&server)
        .await;
    let published = clients(&server)
        .publish(
            IG,
            &token("EAAtok", None, Some("17841400001")),
            &Media::Carousel {
                urls: vec![
                    "https://media.layers.test/1.jpg".into(),
                    "https://media.layers.test/2.mp4".into(),
                ],
            },
            Some("two"),
        )
        .await
        .unwrap();
    assert_eq!(published.external_id, "m-9");
    let created = received(&server, "POST", "/v21.0/17841400001/media").await;
    let forms: Vec<_> = created.iter().map(form_of).collect();
    assert_eq!(
        forms,
        [
            map(&[
                ("image_url", "https://media.layers.test/1.jpg"),
                ("is_carousel_item", "true")
            ]),
            map(&[
                ("media_type", "VIDEO"),
                ("video_url", "https://media.layers.test/2.mp4"),
                ("is_carousel_item", "true")
            ]),
            map(&[
                ("media_type", "CAROUSEL"),
                ("children", "k-1,k-2"),
                ("caption", "two")
            ]),
        ]
    );
}

#[tokio::test]
async fn a_container_in_error_is_rejected_and_one_that_never_finishes_is_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/1/media"))
        .respond_with(ok(json!({"id": "c-1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/c-1"))
        .respond_with(ok(json!({"status_code": "ERROR", "status": "Error: Media download has failed. (2207052)"})))
        .mount(&server)
        .await;
    let image = Media::Image {
        url: "https://media.layers.test/a.jpg".into(),
    };
    let tok = token("EAAtok", None, Some("1"));
    let (status, message) = rejected(clients(&server).publish(IG, &tok, &image, None).await);
    assert_eq!(status, 422);
    assert!(message.contains("Media download has failed"), "{message}");

    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/1/media"))
        .respond_with(ok(json!({"id": "c-1"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/c-1"))
        .respond_with(ok(json!({"status_code": "IN_PROGRESS"})))
        .expect(4)
        .mount(&server)
        .await;
    let message = transient(clients(&server).publish(IG, &tok, &image, None).await);
    assert!(
        message.contains("still IN_PROGRESS after 4 checks"),
        "{message}"
    );
    assert!(received(&server, "POST", "/v21.0/1/media_publish")
        .await
        .is_empty());
}

#[tokio::test]
async fn publish_failures_are_sorted() {
    let server = MockServer::start().await;
    let tok = token("EAAtok", None, Some("1"));
    let image = Media::Image {
        url: "https://media.layers.test/a.gif".into(),
    };
    Mock::given(path("/v21.0/1/media"))
        .respond_with(graph_error(
            400,
            "Only photo or video can be accepted as media type.",
            9004,
        ))
        .mount(&server)
        .await;
    assert_eq!(
        rejected(clients(&server).publish(IG, &tok, &image, None).await),
        (
            400,
            "Only photo or video can be accepted as media type.".to_owned()
        )
    );

    server.reset().await;
    Mock::given(path("/v21.0/1/media"))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html>oops</html>"))
        .mount(&server)
        .await;
    let message = transient(clients(&server).publish(IG, &tok, &image, None).await);
    assert!(message.contains("500"), "{message}");

    server.reset().await;
    Mock::given(path("/v21.0/1/media"))
        .respond_with(graph_error(
            400,
            "Error validating access token: The user has not authorized application.",
            190,
        ))
        .mount(&server)
        .await;
    let message = expired(clients(&server).publish(IG, &tok, &image, None).await);
    assert!(message.contains("not authorized application"), "{message}");

    server.reset().await;
    Mock::given(path("/v21.0/1/media"))
        .respond_with(graph_error(400, "Application request limit reached", 4))
        .mount(&server)
        .await;
    transient(clients(&server).publish(IG, &tok, &image, None).await);
}

#[tokio::test]
async fn insights_read_both_value_shapes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/17900000042/insights"))
        .and(query_param(
            "metric",
            "views,reach,likes,comments,shares,saved",
        ))
        .and(header("authorization", "Bearer EAAtok"))
        .respond_with(ok(json!({"data": [
            {"name": "views", "period": "lifetime", "values": [{"value": 1520}], "id": "x/views"},
            {"name": "reach", "period": "lifetime", "values": [{"value": 1100}]},
            {"name": "likes", "period": "lifetime", "values": [{"value": 87}]},
            {"name": "comments", "period": "lifetime", "total_value": {"value": 9}},
            {"name": "shares", "period": "lifetime", "values": [{"value": 4}]},
            {"name": "saved", "period": "lifetime", "values": [{"value": 12}]}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let insights = clients(&server)
        .insights(IG, &token("EAAtok", None, Some("1")), "17900000042")
        .await
        .unwrap();
    assert_eq!(
        insights,
        Insights {
            views: 1520,
            reach: 1100,
            likes: 87,
            comments: 9,
            shares: 4,
            saves: 12,
            watch_time_ms: 0,
        }
    );
}

#[tokio::test]
async fn without_credentials_nothing_is_called_and_the_variables_are_named() {
    let server = MockServer::start().await;
    let clients = unconfigured(&server);
    let err = clients.configured(IG).unwrap_err();
    assert_eq!(
        err.variables,
        "LAYERS_META_APP_ID and LAYERS_META_APP_SECRET"
    );
    assert!(clients.authorize_url(IG, "s", CHALLENGE, REDIRECT).is_err());
    let message = not_configured(clients.exchange_code(IG, "c", VERIFIER, REDIRECT).await);
    assert_eq!(
        message,
        "instagram is not configured: set LAYERS_META_APP_ID and LAYERS_META_APP_SECRET"
    );
    not_configured(clients.refresh(IG, &token("t", None, None)).await);
    assert!(server.received_requests().await.unwrap().is_empty());
    assert!(matches!(
        clients.refresh(IG, &token("t", None, None)).await,
        Err(PlatformError::NotConfigured(_))
    ));
}

#[tokio::test]
async fn the_ads_consent_adds_the_ads_scopes() {
    let server = MockServer::start().await;
    let c = clients(&server);
    let url = c
        .authorize_url_with(IG, "st_ads", CHALLENGE, REDIRECT, true)
        .unwrap();
    assert_eq!(
        query_of(&url)["scope"],
        "instagram_basic,instagram_content_publish,instagram_manage_insights,pages_show_list,\
         ads_management,ads_read"
    );
    // other platforms ignore it
    let tiktok = c
        .authorize_url_with(Platform::Tiktok, "st", CHALLENGE, REDIRECT, true)
        .unwrap();
    assert_eq!(
        tiktok,
        c.authorize_url(Platform::Tiktok, "st", CHALLENGE, REDIRECT)
            .unwrap()
    );
}
