//! The live side end to end over HTTP (CONTRACT §3, §9, §10, §11 "Social accounts",
//! "Publishing", "Metrics"): the platforms are wiremock fakes on 127.0.0.1 that speak their own
//! protocols (Meta Graph, TikTok Login Kit and Content Posting, Google OAuth and YouTube Data),
//! and every test checks what the fakes were asked, and how many times, as well as the
//! answers, rows and events.
//!
//! The platforms' authorize pages are never called (a browser goes there): their base URLs point
//! at an address nothing listens on, with a path prefix, so that the URLs handed out prove they
//! were built on the configured base.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use layers_platforms::{AppCredentials, Config, Url};
use layers_tests::{assert_error, spawn_app_with, Env, TestApp, TestKey};
use ring::digest::{digest, SHA256};
use serde_json::{json, Value};
use wiremock::matchers::{
    bearer_token, body_partial_json, body_string_contains, method, path, query_param,
};
use wiremock::{Mock, MockGuard, MockServer, ResponseTemplate};

/// `LAYERS_PUBLIC_BASE_URL` of test gateways (the default).
pub(super) const PUBLIC: &str = "http://127.0.0.1:8080";
/// Where the authorize pages are (never called).
pub(super) const AUTH_BASE: &str = "http://127.0.0.1:9/consent";
/// The Instagram professional account every fake Meta user has.
const IG_USER: &str = "17841400000000001";
/// The TikTok user's open_id.
const TT_USER: &str = "tt-open-1";

pub(super) fn callback_url() -> String {
    format!("{PUBLIC}/v1/social/callback")
}

/// Every platform configured: APIs at `api`, authorize pages under [`AUTH_BASE`], fast polling.
pub(super) fn platforms(api: &str) -> Config {
    let api = Url::parse(api).unwrap();
    let auth = |p: &str| Url::parse(&format!("{AUTH_BASE}/{p}/")).unwrap();
    let app = |id: &str, secret: &str| {
        Some(AppCredentials {
            client_id: id.into(),
            client_secret: secret.into(),
        })
    };
    Config {
        meta: app("meta-app-id", "meta-app-secret"),
        meta_auth_base_url: auth("fb"),
        meta_graph_base_url: api.clone(),
        tiktok: app("tt-client-key", "tt-client-secret"),
        tiktok_auth_base_url: auth("tt"),
        tiktok_api_base_url: api.clone(),
        google: app("google-client-id", "google-client-secret"),
        google_auth_base_url: auth("google"),
        google_api_base_url: api.clone(),
        tiktok_business: app("ttb-app-id", "ttb-app-secret"),
        tiktok_business_base_url: api.clone(),
        apple_ads_base_url: api.clone(),
        apple_auth_base_url: api,
        poll_interval: Duration::from_millis(5),
        poll_attempts: 5,
    }
}

/// A gateway whose platforms are `fake` (and whose generator is `generator`, if any).
pub(super) async fn live_app(fake: &MockServer, generator: Option<&MockServer>) -> TestApp {
    live_app_with(platforms(&fake.uri()), generator).await
}

async fn live_app_with(config: Config, generator: Option<&MockServer>) -> TestApp {
    let generator = generator.map(|g| g.uri());
    spawn_app_with(move |s| {
        s.platforms = config;
        if let Some(url) = generator {
            s.generator_url = Some(url);
            s.generator_token = Some("gen-token".into());
        }
    })
    .await
}

/// A live key with credits, and a project.
pub(super) async fn live_project(app: &TestApp) -> (TestKey, String) {
    let key = app.partner_key(Env::Live).await;
    layers_credits::grant(&app.client().await, key.org, 10, "test")
        .await
        .unwrap();
    let project = app.project_id(&key, "Live").await;
    (key, project)
}

fn job_id(id: uuid::Uuid) -> String {
    format!("job_{}", id.simple())
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `GET /v1/social/callback?{query}` without a key, redirects not followed.
async fn callback(app: &TestApp, query: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}/v1/social/callback?{query}", app.address))
        .send()
        .await
        .unwrap()
}

/// `oauth-url` with `body`: the 200's body.
pub(super) async fn oauth_url(app: &TestApp, key: &TestKey, project: &str, body: Value) -> Value {
    let res = app
        .post(
            &format!("/v1/projects/{project}/social/oauth-url"),
            key,
            &body,
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The PKCE verifier the state was minted with (stored by the SHA-256 of the state).
pub(super) async fn verifier_of(app: &TestApp, state: &str) -> String {
    let hash = digest(&SHA256, state.as_bytes());
    app.client()
        .await
        .query_one(
            "SELECT code_verifier FROM oauth_states WHERE state_hash = $1",
            &[&hash.as_ref()],
        )
        .await
        .unwrap()
        .get(0)
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()))
}

/// The query of `url` as a map (each name once).
pub(super) fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A form-encoded body as a map.
fn form_of(body: &[u8]) -> HashMap<String, String> {
    let url = Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(body))).unwrap();
    query_of(&url)
}

/// How many requests `server` received whose path is `p` (all of them for `None`).
async fn calls(server: &MockServer, p: Option<&str>) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| p.is_none_or(|p| r.url.path() == p))
        .count()
}

pub(super) fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A Graph API error answer.
pub(super) fn graph_error(status: u16, code: u32, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": { "message": message, "type": "OAuthException", "code": code,
                   "fbtrace_id": "AbCdEf" }
    }))
}

/// TikTok's `error` member of a successful answer.
fn tt_ok(data: Value) -> ResponseTemplate {
    ok(json!({ "data": data, "error": { "code": "ok", "message": "", "log_id": "log-1" } }))
}

/// One Meta user connecting: the code the platform sends back, the long-lived token it ends
/// with, and its lifetime.
struct MetaUser<'a> {
    code: &'a str,
    token: &'a str,
    expires_in: i64,
}

/// A Meta user who connects with the code `meta-code`.
fn user(token: &str, expires_in: i64) -> MetaUser<'_> {
    MetaUser {
        code: "meta-code",
        token,
        expires_in,
    }
}

/// Meta's side of one connection (scoped: gone, and verified, when the guards drop): the code
/// exchange with the state's verifier, the long-lived token, and the Pages that lead to the
/// Instagram account.
async fn meta_connect(server: &MockServer, verifier: &str, user: &MetaUser<'_>) -> Vec<MockGuard> {
    let short = format!("short-{}", user.token);
    vec![
        Mock::given(method("GET"))
            .and(path("/v21.0/oauth/access_token"))
            .and(query_param("client_id", "meta-app-id"))
            .and(query_param("client_secret", "meta-app-secret"))
            .and(query_param("redirect_uri", callback_url()))
            .and(query_param("code", user.code))
            .and(query_param("code_verifier", verifier))
            .respond_with(ok(json!({ "access_token": short, "token_type": "bearer" })))
            .expect(1)
            .mount_as_scoped(server)
            .await,
        Mock::given(method("GET"))
            .and(path("/v21.0/oauth/access_token"))
            .and(query_param("grant_type", "fb_exchange_token"))
            .and(query_param("client_id", "meta-app-id"))
            .and(query_param("fb_exchange_token", short.as_str()))
            .respond_with(ok(json!({
                "access_token": user.token, "token_type": "bearer", "expires_in": user.expires_in
            })))
            .expect(1)
            .mount_as_scoped(server)
            .await,
        Mock::given(method("GET"))
            .and(path("/v21.0/me/accounts"))
            .and(bearer_token(user.token))
            .respond_with(ok(json!({ "data": [
                { "id": "page-without-instagram" },
                { "id": "page-1", "instagram_business_account":
                    { "id": IG_USER, "username": "acme.studio" } },
            ] })))
            // once: the code exchange's read gives both the account id and the handle
            .expect(1)
            .mount_as_scoped(server)
            .await,
    ]
}

/// Connects an Instagram account through the live flow; the callback's body.
async fn connect_instagram(
    app: &TestApp,
    server: &MockServer,
    key: &TestKey,
    project: &str,
    user: &MetaUser<'_>,
) -> Value {
    let minted = oauth_url(app, key, project, json!({ "platform": "instagram" })).await;
    let state = minted["state"].as_str().unwrap();
    let verifier = verifier_of(app, state).await;
    let guards = meta_connect(server, &verifier, user).await;
    let res = callback(app, &format!("code={}&state={state}", user.code)).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    drop(guards);
    body
}

/// TikTok's side of one connection (scoped).
async fn tiktok_connect(server: &MockServer, verifier: &str) -> Vec<MockGuard> {
    vec![
        Mock::given(method("POST"))
            .and(path("/v2/oauth/token/"))
            .and(body_string_contains("client_key=tt-client-key"))
            .and(body_string_contains("client_secret=tt-client-secret"))
            .and(body_string_contains("code=tt-code"))
            .and(body_string_contains("grant_type=authorization_code"))
            .and(body_string_contains(format!("code_verifier={verifier}")))
            .respond_with(ok(json!({
                "open_id": TT_USER, "access_token": "act.tt-secret", "expires_in": 86400,
                "refresh_token": "rft.tt-secret", "refresh_expires_in": 31536000,
                "scope": "user.info.basic,video.publish", "token_type": "Bearer"
            })))
            .expect(1)
            .mount_as_scoped(server)
            .await,
        Mock::given(method("GET"))
            .and(path("/v2/user/info/"))
            .and(bearer_token("act.tt-secret"))
            .respond_with(tt_ok(json!({ "user": {
                "open_id": TT_USER, "username": "acme_tt", "display_name": "Acme"
            } })))
            .expect(1)
            .mount_as_scoped(server)
            .await,
    ]
}

/// Connects a TikTok account through the live flow; the callback's body.
async fn connect_tiktok(app: &TestApp, server: &MockServer, key: &TestKey, project: &str) -> Value {
    let minted = oauth_url(app, key, project, json!({ "platform": "tiktok" })).await;
    let state = minted["state"].as_str().unwrap();
    let verifier = verifier_of(app, state).await;
    let guards = tiktok_connect(server, &verifier).await;
    let res = callback(app, &format!("code=tt-code&state={state}")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    drop(guards);
    body
}

/// A completed live image (generated by `fake_generator`, stored); its container id.
async fn live_image(app: &TestApp, key: &TestKey, project: &str) -> String {
    let started = app.generate(key, project, "image").await;
    let job = app
        .job_settles(key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let id = started["containers"][0]["id"].as_str().unwrap().to_owned();
    let container = app.get_json(&format!("/v1/content/{id}"), key).await;
    assert_eq!(container["status"], "completed");
    id
}

/// Instagram's side of publishing one image with `token`: a container, polled (IN_PROGRESS,
/// then FINISHED), published, and its permalink read.
async fn instagram_publishes(server: &MockServer, token: &str, media: &str) {
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{IG_USER}/media")))
        .and(bearer_token(token))
        .respond_with(ok(json!({ "id": "container-1" })))
        .expect(1)
        .named("container create")
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/container-1"))
        .and(query_param("fields", "status_code,status"))
        .and(bearer_token(token))
        .respond_with(ok(
            json!({ "status_code": "IN_PROGRESS", "id": "container-1" }),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/container-1"))
        .and(query_param("fields", "status_code,status"))
        .and(bearer_token(token))
        .respond_with(ok(
            json!({ "status_code": "FINISHED", "id": "container-1" }),
        ))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{IG_USER}/media_publish")))
        .and(bearer_token(token))
        .and(body_string_contains("creation_id=container-1"))
        .respond_with(ok(json!({ "id": media })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{media}")))
        .and(query_param("fields", "permalink"))
        .and(bearer_token(token))
        .respond_with(ok(json!({
            "id": media, "permalink": format!("https://www.instagram.com/p/{media}/")
        })))
        .expect(1)
        .mount(server)
        .await;
}

/// Instagram's insights of `media`: views 321, reach 250, likes 12, comments 3, shares 2, saved
/// 4 (in both of the shapes Graph answers).
async fn instagram_insights(server: &MockServer, token: &str, media: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{media}/insights")))
        .and(query_param(
            "metric",
            "views,reach,likes,comments,shares,saved",
        ))
        .and(bearer_token(token))
        .respond_with(ok(json!({ "data": [
            { "name": "views", "period": "lifetime", "values": [{ "value": 321 }] },
            { "name": "reach", "period": "lifetime", "total_value": { "value": 250 } },
            { "name": "likes", "period": "lifetime", "values": [{ "value": 12 }] },
            { "name": "comments", "period": "lifetime", "values": [{ "value": 3 }] },
            { "name": "shares", "period": "lifetime", "values": [{ "value": 2 }] },
            { "name": "saved", "period": "lifetime", "values": [{ "value": 4 }] },
        ] })))
        .expect(1)
        .mount(server)
        .await;
}

/// Publishes `container` to `accounts` now; the 202's body.
async fn publish(app: &TestApp, key: &TestKey, container: &str, targets: Value) -> Value {
    let res = app
        .post(
            &format!("/v1/content/{container}/publish"),
            key,
            &json!({ "targets": targets }),
        )
        .await;
    assert_eq!(res.status(), 202);
    res.json().await.unwrap()
}

/// The event envelopes of `type` the key's environment produced.
async fn events(app: &TestApp, key: &TestKey, kind: &str) -> Vec<Value> {
    app.get_json(&format!("/v1/events?type={kind}"), key).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// The ids of the `kind` jobs due within the hour (not the next day's), oldest first.
async fn due_jobs(app: &TestApp, kind: &str) -> Vec<String> {
    app.client()
        .await
        .query(
            "SELECT id FROM jobs WHERE kind = $1 AND run_at < now() + interval '1 hour' \
             ORDER BY created_at",
            &[&kind],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| job_id(r.get(0)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Live OAuth
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_live_key_is_told_which_variables_a_platform_lacks_and_nothing_is_written() {
    // Meta only: TikTok and YouTube lack their apps
    let fake = MockServer::start().await;
    let mut config = platforms(&fake.uri());
    config.tiktok = None;
    config.google = None;
    let app = live_app_with(config, None).await;
    let (key, project) = live_project(&app).await;
    for (platform, variables) in [
        (
            "tiktok",
            "LAYERS_TIKTOK_CLIENT_KEY and LAYERS_TIKTOK_CLIENT_SECRET",
        ),
        (
            "youtube",
            "LAYERS_GOOGLE_CLIENT_ID and LAYERS_GOOGLE_CLIENT_SECRET",
        ),
    ] {
        let res = app
            .post(
                &format!("/v1/projects/{project}/social/oauth-url"),
                &key,
                &json!({ "platform": platform }),
            )
            .await;
        let error = assert_error(res, 503, "PLATFORM_NOT_CONFIGURED").await;
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(variables), "{message}");
    }
    assert_eq!(app.count("SELECT count(*) FROM oauth_states").await, 0);
    // the configured one works
    oauth_url(&app, &key, &project, json!({ "platform": "instagram" })).await;
    assert_eq!(app.count("SELECT count(*) FROM oauth_states").await, 1);
    assert_eq!(calls(&fake, None).await, 0, "minting a URL calls nothing");
}

#[tokio::test]
async fn instagram_connects_live_with_pkce_a_sealed_token_and_an_event() {
    let fake = MockServer::start().await;
    let app = live_app(&fake, None).await;
    let (key, project) = live_project(&app).await;

    // the authorize URL: Facebook's login dialog at the configured base, PKCE S256
    let minted = oauth_url(&app, &key, &project, json!({ "platform": "instagram" })).await;
    let state = minted["state"].as_str().unwrap();
    assert!(minted["expiresAt"].is_string());
    let url = Url::parse(minted["url"].as_str().unwrap()).unwrap();
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{AUTH_BASE}/fb/v21.0/dialog/oauth")
    );
    let query = query_of(&url);
    let verifier = verifier_of(&app, state).await;
    assert_eq!(query["client_id"], "meta-app-id");
    assert_eq!(query["state"], state);
    assert_eq!(query["redirect_uri"], callback_url());
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["code_challenge"], s256(&verifier));
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["scope"].contains("instagram_content_publish"));
    assert!(!url.as_str().contains(&verifier), "the verifier stays here");

    // the callback: no key, the code exchanged with the state's verifier
    let user = MetaUser {
        code: "meta-code-1",
        token: "EAAG-long-lived-secret",
        expires_in: 5_184_000,
    };
    let guards = meta_connect(&fake, &verifier, &user).await;
    let res = callback(&app, &format!("code=meta-code-1&state={state}")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    drop(guards);
    let account = body["socialAccountId"].as_str().unwrap().to_owned();
    assert!(account.starts_with("sa_"));
    assert_eq!(
        body,
        json!({ "state": state, "status": "completed", "socialAccountId": account,
                "platform": "instagram", "handle": "acme.studio",
                "connectedAt": body["connectedAt"], "sandbox": false })
    );
    assert!(body["connectedAt"].as_str().unwrap().ends_with('Z'));

    // the row: live, the platform's id, the token sealed
    let row = app
        .client()
        .await
        .query_one(
            "SELECT is_sandbox, platform_user_id, token, status, \
                 token_expires_at > now() + interval '59 days' FROM social_accounts",
            &[],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0));
    assert_eq!(row.get::<_, String>(1), IG_USER);
    let sealed: Vec<u8> = row.get(2);
    for secret in ["EAAG-long-lived-secret", "short-EAAG"] {
        assert!(
            !sealed.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the token is stored in clear"
        );
    }
    assert_eq!(row.get::<_, String>(3), "active");
    assert!(
        row.get::<_, bool>(4),
        "the long-lived token's expiry is kept"
    );

    // social_account.connected, live (no meta)
    let connected = events(&app, &key, "social_account.connected").await;
    assert_eq!(connected.len(), 1);
    assert!(connected[0].get("meta").is_none(), "{}", connected[0]);
    assert_eq!(
        connected[0]["data"],
        json!({ "socialAccountId": account, "projectId": project, "platform": "instagram",
                "handle": "acme.studio" })
    );

    // listed with the sandbox's shape
    let list = app
        .get_json(&format!("/v1/projects/{project}/social/accounts"), &key)
        .await;
    assert_eq!(
        list["data"],
        json!([{ "id": account, "platform": "instagram", "handle": "acme.studio",
                 "status": "active", "connectedAt": body["connectedAt"] }])
    );
    let test_key = app
        .key_with(key.org, Env::Sandbox, "*", layers_keys::Tier::Standard)
        .await;
    let sandbox_project = app.project_id(&test_key, "Sandbox").await;
    app.connect_sandbox(&test_key, &sandbox_project, "instagram")
        .await;
    let sandbox_list = app
        .get_json(
            &format!("/v1/projects/{sandbox_project}/social/accounts"),
            &test_key,
        )
        .await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&sandbox_list["data"][0]), keys(&list["data"][0]));

    // the refresh is queued a day before the token runs out
    let due: bool = app
        .client()
        .await
        .query_one(
            "SELECT run_at BETWEEN now() + interval '58 days' AND now() + interval '60 days' \
             FROM jobs WHERE kind = 'social_token_refresh' AND NOT is_sandbox",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(due);

    // a replay: the same account, no platform call, nothing written
    let before = calls(&fake, None).await;
    let res = callback(&app, &format!("code=meta-code-1&state={state}")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), body);
    assert_eq!(calls(&fake, None).await, before, "a replay called Meta");
    assert_eq!(
        app.count("SELECT count(*) FROM social_accounts WHERE NOT is_sandbox")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type = 'social_account.connected' AND NOT is_sandbox")
            .await,
        1
    );

    // another state whose code Meta refuses: 400 in Meta's words, nothing written
    let second = oauth_url(&app, &key, &project, json!({ "platform": "instagram" })).await;
    let second_state = second["state"].as_str().unwrap();
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("code", "meta-code-1"))
        .respond_with(graph_error(
            400,
            100,
            "This authorization code has been used.",
        ))
        .expect(1)
        .mount(&fake)
        .await;
    let before = calls(&fake, None).await;
    let res = callback(&app, &format!("code=meta-code-1&state={second_state}")).await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("This authorization code has been used."),
        "{message}"
    );
    assert_eq!(error["details"]["field"], "code");
    assert_eq!(
        calls(&fake, None).await,
        before + 1,
        "only the code exchange"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM social_accounts WHERE NOT is_sandbox")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM oauth_states WHERE social_account_id IS NOT NULL AND NOT is_sandbox")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM events WHERE type LIKE 'social_account.%' AND NOT is_sandbox"
        )
        .await,
        1
    );
    fake.verify().await;
}

#[tokio::test]
async fn a_redirect_uri_gets_the_browser_back_with_the_account_or_the_refusal() {
    let fake = MockServer::start().await;
    let app = live_app(&fake, None).await;
    let (key, project) = live_project(&app).await;
    let back = "https://partner.example/connected?from=layers";

    let minted = oauth_url(
        &app,
        &key,
        &project,
        json!({ "platform": "instagram", "redirectUri": back }),
    )
    .await;
    let state = minted["state"].as_str().unwrap();
    // the platform is still sent back to the API's own callback
    let url = Url::parse(minted["url"].as_str().unwrap()).unwrap();
    assert_eq!(query_of(&url)["redirect_uri"], callback_url());
    let verifier = verifier_of(&app, state).await;
    let user = MetaUser {
        code: "meta-code-2",
        token: "EAAG-redirected",
        expires_in: 5_184_000,
    };
    let guards = meta_connect(&fake, &verifier, &user).await;
    let res = callback(&app, &format!("code=meta-code-2&state={state}")).await;
    assert_eq!(res.status(), 302);
    let location = Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    drop(guards);
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        "https://partner.example/connected"
    );
    let query = query_of(&location);
    assert_eq!(query["from"], "layers");
    assert_eq!(query["state"], state);
    let account: String = app
        .client()
        .await
        .query_one("SELECT id FROM social_accounts", &[])
        .await
        .map(|r| format!("sa_{}", r.get::<_, uuid::Uuid>(0).simple()))
        .unwrap();
    assert_eq!(query["socialAccountId"], account);
    let connected = state.to_owned();

    // declined with a redirectUri: back there with the error, no exchange
    let minted = oauth_url(
        &app,
        &key,
        &project,
        json!({ "platform": "instagram", "redirectUri": back }),
    )
    .await;
    let state = minted["state"].as_str().unwrap();
    let before = calls(&fake, None).await;
    // a huge error_description is not echoed whole anywhere
    let huge = "x".repeat(3_000);
    let res = callback(
        &app,
        &format!(
            "error=access_denied&error_reason=user_denied&error_description={huge}&state={state}"
        ),
    )
    .await;
    assert_eq!(res.status(), 302);
    let location = Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let query = query_of(&location);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], state);
    assert!(!query.contains_key("socialAccountId"));
    assert!(location.as_str().len() < 1_000);
    assert_eq!(calls(&fake, None).await, before);
    assert_eq!(app.count("SELECT count(*) FROM social_accounts").await, 1);

    // the completed state answers no more once its 15 minutes are over: two days later, no
    // redirect with the account id
    app.client()
        .await
        .execute(
            "UPDATE oauth_states SET expires_at = now() - interval '2 days'",
            &[],
        )
        .await
        .unwrap();
    let res = callback(&app, &format!("code=meta-code-2&state={connected}")).await;
    assert_error(res, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn a_declined_consent_writes_nothing_calls_nothing_and_spends_the_state() {
    let fake = MockServer::start().await;
    // any token call would be a mistake
    Mock::given(path("/v21.0/oauth/access_token"))
        .respond_with(ok(json!({ "access_token": "never" })))
        .expect(0)
        .mount(&fake)
        .await;
    let app = live_app(&fake, None).await;
    let (key, project) = live_project(&app).await;
    let minted = oauth_url(&app, &key, &project, json!({ "platform": "instagram" })).await;
    let state = minted["state"].as_str().unwrap();
    let res = callback(
        &app,
        &format!(
            "error=access_denied&error_reason=user_denied&error_description=Permissions+error{}&state={state}",
            "+x".repeat(2_000)
        ),
    )
    .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["reason"], "access_denied");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("Permissions error"));
    // the platform's description is quoted, not echoed whole
    assert!(message.len() < 300, "{}", message.len());
    // the state cannot be completed afterwards
    let res = callback(&app, &format!("code=late-code&state={state}")).await;
    assert_error(res, 404, "NOT_FOUND").await;
    assert_eq!(app.count("SELECT count(*) FROM social_accounts").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type LIKE 'social_account.%'")
            .await,
        0
    );
    assert_eq!(calls(&fake, None).await, 0);
    fake.verify().await;
}

#[tokio::test]
async fn bad_expired_and_sandbox_states_are_refused_before_any_platform_call() {
    let fake = MockServer::start().await;
    let app = live_app(&fake, None).await;
    let (key, project) = live_project(&app).await;

    // unknown
    let res = callback(&app, "code=c&state=not-a-state").await;
    assert_error(res, 404, "NOT_FOUND").await;
    // a live state without a code (and without an error)
    let minted = oauth_url(&app, &key, &project, json!({ "platform": "tiktok" })).await;
    let state = minted["state"].as_str().unwrap();
    let res = callback(&app, &format!("state={state}")).await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "code");
    // expired
    app.client()
        .await
        .execute(
            "UPDATE oauth_states SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let res = callback(&app, &format!("code=tt-code&state={state}")).await;
    assert_error(res, 404, "NOT_FOUND").await;
    // a test key's state
    let test_key = app
        .key_with(key.org, Env::Sandbox, "*", layers_keys::Tier::Standard)
        .await;
    let sandbox_project = app.project_id(&test_key, "Sandbox").await;
    let minted = oauth_url(
        &app,
        &test_key,
        &sandbox_project,
        json!({ "platform": "youtube" }),
    )
    .await;
    let res = callback(
        &app,
        &format!("code=yt-code&state={}", minted["state"].as_str().unwrap()),
    )
    .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;

    assert_eq!(calls(&fake, None).await, 0, "a platform was called");
    assert_eq!(app.count("SELECT count(*) FROM social_accounts").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
}

#[tokio::test]
async fn tiktok_and_youtube_authorize_with_pkce_and_connect() {
    let fake = MockServer::start().await;
    let app = live_app(&fake, None).await;
    let (key, project) = live_project(&app).await;

    // TikTok: Login Kit v2, client_key
    let minted = oauth_url(&app, &key, &project, json!({ "platform": "tiktok" })).await;
    let state = minted["state"].as_str().unwrap().to_owned();
    let url = Url::parse(minted["url"].as_str().unwrap()).unwrap();
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{AUTH_BASE}/tt/v2/auth/authorize/")
    );
    let query = query_of(&url);
    let verifier = verifier_of(&app, &state).await;
    assert_eq!(query["client_key"], "tt-client-key");
    assert_eq!(query["state"], state);
    assert_eq!(query["redirect_uri"], callback_url());
    assert_eq!(query["code_challenge"], s256(&verifier));
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["scope"].contains("video.publish"));
    let guards = tiktok_connect(&fake, &verifier).await;
    let res = callback(&app, &format!("code=tt-code&state={state}")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    drop(guards);
    assert_eq!(body["platform"], "tiktok");
    assert_eq!(body["handle"], "acme_tt");
    assert_eq!(body["sandbox"], false);
    assert_eq!(body["status"], "completed");
    assert_eq!(body["state"], state.as_str());

    // YouTube: Google OAuth, offline access for a refresh token
    let minted = oauth_url(&app, &key, &project, json!({ "platform": "youtube" })).await;
    let state = minted["state"].as_str().unwrap().to_owned();
    let url = Url::parse(minted["url"].as_str().unwrap()).unwrap();
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{AUTH_BASE}/google/o/oauth2/v2/auth")
    );
    let query = query_of(&url);
    let verifier = verifier_of(&app, &state).await;
    assert_eq!(query["client_id"], "google-client-id");
    assert_eq!(query["state"], state);
    assert_eq!(query["redirect_uri"], callback_url());
    assert_eq!(query["code_challenge"], s256(&verifier));
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["access_type"], "offline");
    assert!(query["scope"].contains("youtube.upload"));
    let guards = vec![
        Mock::given(method("POST"))
            .and(path("/oauth2/v4/token"))
            .and(body_string_contains("client_id=google-client-id"))
            .and(body_string_contains("client_secret=google-client-secret"))
            .and(body_string_contains("code=yt-code"))
            .and(body_string_contains("grant_type=authorization_code"))
            .and(body_string_contains(format!("code_verifier={verifier}")))
            .respond_with(ok(json!({
                "access_token": "ya29.yt-secret", "expires_in": 3599,
                "refresh_token": "1//yt-refresh-secret", "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/youtube.upload"
            })))
            .expect(1)
            .mount_as_scoped(&fake)
            .await,
        Mock::given(method("GET"))
            .and(path("/youtube/v3/channels"))
            .and(query_param("part", "snippet"))
            .and(query_param("mine", "true"))
            .and(bearer_token("ya29.yt-secret"))
            .respond_with(ok(json!({ "items": [
                { "id": "UCacme123", "snippet": { "title": "Acme", "customUrl": "@acme" } }
            ] })))
            .expect(1)
            .mount_as_scoped(&fake)
            .await,
    ];
    let res = callback(&app, &format!("code=yt-code&state={state}")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    drop(guards);
    assert_eq!(body["platform"], "youtube");
    assert_eq!(body["handle"], "@acme");
    assert_eq!(body["sandbox"], false);

    let rows = app
        .client()
        .await
        .query(
            "SELECT platform, platform_user_id, token FROM social_accounts \
             WHERE NOT is_sandbox ORDER BY platform",
            &[],
        )
        .await
        .unwrap();
    let ids: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        ids,
        [
            ("tiktok".to_owned(), TT_USER.to_owned()),
            ("youtube".to_owned(), "UCacme123".to_owned())
        ]
    );
    for row in &rows {
        let sealed: Vec<u8> = row.get(2);
        for secret in ["secret", "act.tt", "ya29", "rft.tt", "1//yt"] {
            assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
    }
    assert_eq!(
        events(&app, &key, "social_account.connected").await.len(),
        2
    );
    // both tokens expire: both refreshes are queued
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'social_token_refresh'")
            .await,
        2
    );
}

// ---------------------------------------------------------------------------------------------
// The token vault
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_that_runs_out_soon_is_refreshed_before_the_publish_uses_it() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let container = live_image(&app, &key, &project).await;
    // five minutes left: within the refresh margin
    let body = connect_instagram(&app, &fake, &key, &project, &user("EAAG-old", 300)).await;
    let account = body["socialAccountId"].as_str().unwrap();
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("grant_type", "fb_exchange_token"))
        .and(query_param("fb_exchange_token", "EAAG-old"))
        .and(query_param("client_secret", "meta-app-secret"))
        .respond_with(ok(json!({
            "access_token": "EAAG-fresh", "token_type": "bearer", "expires_in": 5_184_000
        })))
        .expect(1)
        .mount(&fake)
        .await;
    // every publishing call must carry the fresh token (an old one matches nothing: 404)
    instagram_publishes(&fake, "EAAG-fresh", "1790000000000042").await;
    instagram_insights(&fake, "EAAG-fresh", "1790000000000042").await;

    let started = publish(
        &app,
        &key,
        &container,
        json!([{ "socialAccountId": account }]),
    )
    .await;
    let job = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let post = app
        .get_json(
            &format!(
                "/v1/scheduled-posts/{}",
                started["scheduledPostId"].as_str().unwrap()
            ),
            &key,
        )
        .await;
    assert_eq!(post["status"], "published", "{post}");
    assert_eq!(post["targets"][0]["externalId"], "1790000000000042");
    // the fresh token is kept, sealed, with its new expiry
    let row = app
        .client()
        .await
        .query_one(
            "SELECT token, token_expires_at > now() + interval '59 days' FROM social_accounts",
            &[],
        )
        .await
        .unwrap();
    let sealed: Vec<u8> = row.get(0);
    assert!(!sealed.windows(10).any(|w| w == b"EAAG-fresh"));
    assert!(row.get::<_, bool>(1));
    for id in due_jobs(&app, "metrics_sync").await {
        app.job_settles(&key, &id).await;
    }
    fake.verify().await;
}

#[tokio::test]
async fn a_refused_refresh_needs_reauth_fails_the_target_and_fires_needs_reauth() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let container = live_image(&app, &key, &project).await;
    let body = connect_instagram(&app, &fake, &key, &project, &user("EAAG-old", 300)).await;
    let account = body["socialAccountId"].as_str().unwrap();
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("fb_exchange_token", "EAAG-old"))
        .respond_with(graph_error(
            400,
            190,
            "Error validating access token: Session has expired on Friday.",
        ))
        .expect(1)
        .mount(&fake)
        .await;
    let started = publish(
        &app,
        &key,
        &container,
        json!([{ "socialAccountId": account }]),
    )
    .await;
    app.job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    let post_id = started["scheduledPostId"].as_str().unwrap();
    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), &key)
        .await;
    assert_eq!(post["status"], "failed", "{post}");
    let target = &post["targets"][0];
    assert_eq!(target["status"], "failed");
    assert_eq!(target["externalId"], Value::Null);
    assert_eq!(target["error"]["code"], "token_expired");
    let error = &target["error"];
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("Session has expired"), "{message}");

    // post.failed with the error
    let failed = events(&app, &key, "post.failed").await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0].get("meta").is_none());
    assert_eq!(failed[0]["data"]["scheduledPostId"], post_id);
    assert_eq!(&failed[0]["data"]["error"], error);
    assert_eq!(events(&app, &key, "post.published").await.len(), 0);
    // the connection, then social_account.needs_reauth (CONTRACT §10)
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type LIKE 'social_account.%'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type = 'social_account.needs_reauth'")
            .await,
        1
    );
    let list = app
        .get_json(&format!("/v1/projects/{project}/social/accounts"), &key)
        .await;
    assert_eq!(list["data"][0]["status"], "needs_reauth");
    // no publishing call, no metrics sync
    assert_eq!(
        calls(&fake, Some(&format!("/v21.0/{IG_USER}/media"))).await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'metrics_sync'")
            .await,
        0
    );
    // the account cannot be published to until it is connected again
    let res = app
        .post(
            &format!("/v1/content/{container}/publish"),
            &key,
            &json!({ "targets": [{ "socialAccountId": account }] }),
        )
        .await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "account_not_active");
    fake.verify().await;
}

#[tokio::test]
async fn the_refresh_job_queued_at_connect_refreshes_the_token_when_due() {
    let fake = MockServer::start().await;
    let app = live_app(&fake, None).await;
    let (key, project) = live_project(&app).await;
    connect_instagram(&app, &fake, &key, &project, &user("EAAG-hour", 3600)).await;
    // an hour left: due at half of it
    let row = app
        .client()
        .await
        .query_one(
            "SELECT id, run_at BETWEEN now() + interval '29 minutes' \
                 AND now() + interval '31 minutes', status \
             FROM jobs WHERE kind = 'social_token_refresh'",
            &[],
        )
        .await
        .unwrap();
    let job = job_id(row.get(0));
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, String>(2), "queued");
    let sealed_before: Vec<u8> = app
        .client()
        .await
        .query_one("SELECT token FROM social_accounts", &[])
        .await
        .unwrap()
        .get(0);
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("grant_type", "fb_exchange_token"))
        .and(query_param("fb_exchange_token", "EAAG-hour"))
        .respond_with(ok(json!({
            "access_token": "EAAG-renewed", "token_type": "bearer", "expires_in": 5_184_000
        })))
        .expect(1)
        .mount(&fake)
        .await;
    app.client()
        .await
        .execute(
            "UPDATE jobs SET run_at = now() WHERE kind = 'social_token_refresh'",
            &[],
        )
        .await
        .unwrap();
    let ended = app.job_settles(&key, &job).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(ended["result"], json!({ "refreshed": true }));
    let row = app
        .client()
        .await
        .query_one(
            "SELECT token, token_expires_at > now() + interval '59 days', status \
             FROM social_accounts",
            &[],
        )
        .await
        .unwrap();
    let sealed: Vec<u8> = row.get(0);
    assert_ne!(sealed, sealed_before);
    assert!(!sealed.windows(12).any(|w| w == b"EAAG-renewed"));
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, String>(2), "active");
    // the next one is queued a day before the new expiry
    assert_eq!(
        app.count(
            "SELECT count(*) FROM jobs WHERE kind = 'social_token_refresh' AND status = 'queued' \
             AND run_at BETWEEN now() + interval '58 days' AND now() + interval '60 days'"
        )
        .await,
        1
    );
    // the connection only: a refreshed token needs no reauthorization
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type LIKE 'social_account.%'")
            .await,
        1
    );
    fake.verify().await;
}

#[tokio::test]
async fn reconnecting_the_same_user_revives_the_account_with_one_refresh_chain() {
    let fake = MockServer::start().await;
    let app = live_app(&fake, None).await;
    let (key, project) = live_project(&app).await;
    let first = connect_instagram(&app, &fake, &key, &project, &user("EAAG-first", 3600)).await;
    let account = first["socialAccountId"].as_str().unwrap();
    // the token went bad (a refused refresh marked it)
    app.client()
        .await
        .execute("UPDATE social_accounts SET status = 'needs_reauth'", &[])
        .await
        .unwrap();

    // the same Instagram account connects again
    let minted = oauth_url(&app, &key, &project, json!({ "platform": "instagram" })).await;
    let state = minted["state"].as_str().unwrap();
    let verifier = verifier_of(&app, state).await;
    let again = MetaUser {
        code: "meta-code-again",
        token: "EAAG-second",
        expires_in: 5_184_000,
    };
    let guards = meta_connect(&fake, &verifier, &again).await;
    let res = callback(&app, &format!("code=meta-code-again&state={state}")).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    drop(guards);
    assert_eq!(second["socialAccountId"], account, "the same account");
    let list = app
        .get_json(&format!("/v1/projects/{project}/social/accounts"), &key)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["status"], "active");
    assert_eq!(
        app.count("SELECT count(*) FROM social_accounts WHERE token_expires_at > now() + interval '59 days'")
            .await,
        1
    );

    // one refresh chain, due for the new token (not one per connection)
    let queued = app
        .client()
        .await
        .query(
            "SELECT id, run_at > now() + interval '58 days' FROM jobs \
             WHERE kind = 'social_token_refresh' AND status = 'queued'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(queued.len(), 1, "one queued refresh per account");
    assert!(queued[0].get::<_, bool>(1), "due for the new token");

    // the sealed token is the new one, and opens for the account's id
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("fb_exchange_token", "EAAG-second"))
        .respond_with(ok(json!({
            "access_token": "EAAG-third", "token_type": "bearer", "expires_in": 5_184_000
        })))
        .expect(1)
        .mount(&fake)
        .await;
    app.client()
        .await
        .execute(
            "UPDATE jobs SET run_at = now() WHERE kind = 'social_token_refresh'",
            &[],
        )
        .await
        .unwrap();
    let ended = app.job_settles(&key, &job_id(queued[0].get(0))).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    fake.verify().await;
}

// ---------------------------------------------------------------------------------------------
// Live publishing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_live_instagram_publish_goes_through_the_graph_api() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let container = live_image(&app, &key, &project).await;
    let body = connect_instagram(&app, &fake, &key, &project, &user("EAAG-token", 5_184_000)).await;
    let account = body["socialAccountId"].as_str().unwrap();
    instagram_publishes(&fake, "EAAG-token", "1790000000000042").await;
    instagram_insights(&fake, "EAAG-token", "1790000000000042").await;

    let started = publish(
        &app,
        &key,
        &container,
        // the sandbox's magic captions are ordinary text with a live key
        json!([{ "socialAccountId": account,
                 "caption": "Live caption #1 #sandbox_reject #sandbox_token_expired" }]),
    )
    .await;
    assert_eq!(started["kind"], "publish");
    assert_eq!(started["projectId"], project.as_str());
    let post_id = started["scheduledPostId"].as_str().unwrap().to_owned();
    let job = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["result"],
        json!({ "scheduledPostId": post_id, "status": "published" })
    );

    // the container was created from a signed URL of the stored image, with the caption
    let requests = fake.received_requests().await.unwrap();
    let create = requests
        .iter()
        .find(|r| r.url.path() == format!("/v21.0/{IG_USER}/media"))
        .unwrap();
    let form = form_of(&create.body);
    assert_eq!(
        form["caption"],
        "Live caption #1 #sandbox_reject #sandbox_token_expired"
    );
    let image_url = &form["image_url"];
    assert!(
        image_url.starts_with(&format!("{PUBLIC}/media/")) && image_url.contains("sig="),
        "{image_url}"
    );
    let served = app
        .http
        .get(image_url.replace(PUBLIC, &app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        served.status(),
        200,
        "the platform could not fetch the media"
    );
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    // in the protocol's order: create, poll twice, publish, permalink
    let order: Vec<String> = requests
        .iter()
        .map(|r| r.url.path().to_owned())
        .filter(|p| !p.starts_with("/v21.0/oauth") && !p.ends_with("/me/accounts"))
        .filter(|p| !p.ends_with("/insights"))
        .collect();
    assert_eq!(
        order,
        [
            format!("/v21.0/{IG_USER}/media"),
            "/v21.0/container-1".to_owned(),
            "/v21.0/container-1".to_owned(),
            format!("/v21.0/{IG_USER}/media_publish"),
            "/v21.0/1790000000000042".to_owned(),
        ]
    );

    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), &key)
        .await;
    assert_eq!(post["status"], "published");
    let target = &post["targets"][0];
    assert_eq!(target["status"], "published");
    assert_eq!(target["platform"], "instagram");
    assert_eq!(target["externalId"], "1790000000000042");
    assert_eq!(
        target["externalUrl"],
        "https://www.instagram.com/p/1790000000000042/"
    );
    assert!(target["postedAt"].is_string());
    assert_eq!(target["error"], Value::Null);

    let published = events(&app, &key, "post.published").await;
    assert_eq!(published.len(), 1);
    assert!(published[0].get("meta").is_none());
    assert_eq!(
        published[0]["data"],
        json!({ "scheduledPostId": post_id, "containerId": container,
                "socialAccountId": account, "platform": "instagram", "targetIndex": 0,
                "externalId": "1790000000000042",
                "externalUrl": "https://www.instagram.com/p/1790000000000042/" })
    );
    assert_eq!(events(&app, &key, "post.failed").await.len(), 0);

    // the first metrics sync is queued (and runs)
    let syncs = due_jobs(&app, "metrics_sync").await;
    assert_eq!(syncs.len(), 1);
    let sync = app.job_settles(&key, &syncs[0]).await;
    assert_eq!(sync["status"], "succeeded", "{sync}");

    // the job run again (its lease lost after the post ended): nothing is published twice
    let before = calls(&fake, None).await;
    app.client()
        .await
        .execute(
            "UPDATE jobs SET status = 'queued', run_at = now(), finished_at = NULL \
             WHERE kind = 'publish'",
            &[],
        )
        .await
        .unwrap();
    let again = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(
        again["result"],
        json!({ "scheduledPostId": post_id, "status": "published" })
    );
    assert_eq!(calls(&fake, None).await, before, "published twice");
    assert_eq!(events(&app, &key, "post.published").await.len(), 1);
    assert_eq!(due_jobs(&app, "metrics_sync").await.len(), 1);
    fake.verify().await;
}

#[tokio::test]
async fn a_platform_refusal_fails_the_target_with_the_platforms_message() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let container = live_image(&app, &key, &project).await;
    let body = connect_instagram(&app, &fake, &key, &project, &user("EAAG-token", 5_184_000)).await;
    let account = body["socialAccountId"].as_str().unwrap();
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{IG_USER}/media")))
        .respond_with(graph_error(
            400,
            9004,
            "Only photo or video can be accepted as media type.",
        ))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(path(format!("/v21.0/{IG_USER}/media_publish")))
        .respond_with(ok(json!({ "id": "never" })))
        .expect(0)
        .mount(&fake)
        .await;
    let started = publish(
        &app,
        &key,
        &container,
        json!([{ "socialAccountId": account }]),
    )
    .await;
    let job = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["result"]["status"], "failed", "{job}");
    let post_id = started["scheduledPostId"].as_str().unwrap();
    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), &key)
        .await;
    assert_eq!(post["status"], "failed");
    let target = &post["targets"][0];
    assert_eq!(target["status"], "failed");
    assert_eq!(
        target["error"],
        json!({ "code": "platform_rejected",
                "message": "Only photo or video can be accepted as media type." })
    );
    assert_eq!(target["externalId"], Value::Null);
    assert_eq!(target["postedAt"], Value::Null);
    let failed = events(&app, &key, "post.failed").await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0].get("meta").is_none());
    assert_eq!(
        failed[0]["data"],
        json!({ "scheduledPostId": post_id, "containerId": container,
                "socialAccountId": account, "platform": "instagram", "targetIndex": 0,
                "externalId": null, "externalUrl": null,
                "error": { "code": "platform_rejected",
                           "message": "Only photo or video can be accepted as media type." } })
    );
    assert_eq!(events(&app, &key, "post.published").await.len(), 0);
    // refused, not retried; the account is fine
    let attempts: i32 = app
        .client()
        .await
        .query_one("SELECT attempts FROM jobs WHERE kind = 'publish'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(attempts, 1);
    let list = app
        .get_json(&format!("/v1/projects/{project}/social/accounts"), &key)
        .await;
    assert_eq!(list["data"][0]["status"], "active");
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'metrics_sync'")
            .await,
        0
    );
    fake.verify().await;
}

#[tokio::test]
async fn a_platform_5xx_is_retried_and_the_publish_then_succeeds() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let container = live_image(&app, &key, &project).await;
    let body = connect_instagram(&app, &fake, &key, &project, &user("EAAG-token", 5_184_000)).await;
    let account = body["socialAccountId"].as_str().unwrap();
    // the first container create meets an outage; the retry gets the normal answers
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{IG_USER}/media")))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream unavailable"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&fake)
        .await;
    instagram_publishes(&fake, "EAAG-token", "1790000000000077").await;
    instagram_insights(&fake, "EAAG-token", "1790000000000077").await;
    let started = publish(
        &app,
        &key,
        &container,
        json!([{ "socialAccountId": account }]),
    )
    .await;
    let job = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let attempts: i32 = app
        .client()
        .await
        .query_one("SELECT attempts FROM jobs WHERE kind = 'publish'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(attempts, 2);
    let post = app
        .get_json(
            &format!(
                "/v1/scheduled-posts/{}",
                started["scheduledPostId"].as_str().unwrap()
            ),
            &key,
        )
        .await;
    assert_eq!(post["status"], "published");
    assert_eq!(post["targets"][0]["externalId"], "1790000000000077");
    assert_eq!(post["targets"][0]["error"], Value::Null);
    assert_eq!(
        calls(&fake, Some(&format!("/v21.0/{IG_USER}/media"))).await,
        2
    );
    // one outcome, one event: the outage fired nothing
    assert_eq!(events(&app, &key, "post.published").await.len(), 1);
    assert_eq!(events(&app, &key, "post.failed").await.len(), 0);
    for id in due_jobs(&app, "metrics_sync").await {
        app.job_settles(&key, &id).await;
    }
    fake.verify().await;
}

#[tokio::test]
async fn an_expired_token_needs_reauth_and_fails_the_target() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let container = live_image(&app, &key, &project).await;
    let body = connect_instagram(
        &app,
        &fake,
        &key,
        &project,
        &user("EAAG-revoked", 5_184_000),
    )
    .await;
    let account = body["socialAccountId"].as_str().unwrap();
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{IG_USER}/media")))
        .respond_with(graph_error(
            400,
            190,
            "Error validating access token: The user has not authorized application.",
        ))
        .expect(1)
        .mount(&fake)
        .await;
    let started = publish(
        &app,
        &key,
        &container,
        json!([{ "socialAccountId": account }]),
    )
    .await;
    app.job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    let post = app
        .get_json(
            &format!(
                "/v1/scheduled-posts/{}",
                started["scheduledPostId"].as_str().unwrap()
            ),
            &key,
        )
        .await;
    assert_eq!(post["status"], "failed");
    assert_eq!(post["targets"][0]["status"], "failed");
    let error = &post["targets"][0]["error"];
    assert_eq!(error["code"], "token_expired");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("connect the account again")
            && message.contains("The user has not authorized application."),
        "{message}"
    );
    let failed = events(&app, &key, "post.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(&failed[0]["data"]["error"], error);
    let list = app
        .get_json(&format!("/v1/projects/{project}/social/accounts"), &key)
        .await;
    assert_eq!(list["data"][0]["status"], "needs_reauth");
    // the connection, then social_account.needs_reauth (CONTRACT §10)
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type LIKE 'social_account.%'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type = 'social_account.needs_reauth'")
            .await,
        1
    );
    fake.verify().await;
}

#[tokio::test]
async fn a_scheduled_post_canceled_before_its_time_never_reaches_the_platform() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let container = live_image(&app, &key, &project).await;
    let body = connect_instagram(&app, &fake, &key, &project, &user("EAAG-token", 5_184_000)).await;
    let account = body["socialAccountId"].as_str().unwrap();
    let connect_calls = calls(&fake, None).await;
    let at = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let res = app
        .post(
            &format!("/v1/content/{container}/schedule"),
            &key,
            &json!({ "targets": [{ "socialAccountId": account }], "publishAt": at }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    assert_eq!(started["status"], "queued");
    let post_id = started["scheduledPostId"].as_str().unwrap();
    let job = started["jobId"].as_str().unwrap();
    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), &key)
        .await;
    assert_eq!(post["status"], "scheduled");
    assert_eq!(post["publishAt"], at.as_str());
    assert_eq!(post["targets"][0]["status"], "scheduled");

    let res = app
        .post_empty(&format!("/v1/scheduled-posts/{post_id}/cancel"), &key)
        .await;
    assert_eq!(res.status(), 200);
    let canceled: Value = res.json().await.unwrap();
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(canceled["targets"][0]["status"], "canceled");
    assert_eq!(
        app.get_json(&format!("/v1/jobs/{job}"), &key).await["status"],
        "canceled"
    );
    // its time comes: nothing runs
    app.client()
        .await
        .execute("UPDATE jobs SET run_at = now() WHERE kind = 'publish'", &[])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        app.get_json(&format!("/v1/jobs/{job}"), &key).await["status"],
        "canceled"
    );
    // even a job that a worker claims anyway (a cancel racing the claim) leaves it alone
    app.client()
        .await
        .execute(
            "UPDATE jobs SET status = 'queued', run_at = now(), finished_at = NULL, \
                 cancel_requested = false WHERE kind = 'publish'",
            &[],
        )
        .await
        .unwrap();
    let ended = app.job_settles(&key, job).await;
    assert_eq!(ended["status"], "canceled", "{ended}");
    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), &key)
        .await;
    assert_eq!(post["status"], "canceled");
    assert_eq!(post["targets"][0]["status"], "canceled");
    assert_eq!(
        calls(&fake, None).await,
        connect_calls,
        "a platform was called"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type LIKE 'post.%'")
            .await,
        0
    );
    // canceling again: already over
    let res = app
        .post_empty(&format!("/v1/scheduled-posts/{post_id}/cancel"), &key)
        .await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "already_terminal");
}

#[tokio::test]
async fn a_live_key_may_not_publish_sandbox_content_or_through_a_sandbox_account() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    // (the sandbox content first: a sandbox generation on a connection where the live job
    // prepared only the assets' INSERT can send it before its containers' and answer 500, a
    // bug of crates/content's pipelining, reported)
    let test_key = app
        .key_with(key.org, Env::Sandbox, "*", layers_keys::Tier::Standard)
        .await;
    let sandbox_project = app.project_id(&test_key, "Sandbox").await;
    let sandbox_content = app.generate(&test_key, &sandbox_project, "image").await["containers"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let container = live_image(&app, &key, &project).await;

    // sandbox content, published with its own sandbox accounts by a live key
    let sandbox_account = app
        .connect_sandbox(&test_key, &sandbox_project, "instagram")
        .await;
    let res = app
        .post(
            &format!("/v1/content/{sandbox_content}/publish"),
            &key,
            &json!({ "targets": [{ "socialAccountId": sandbox_account }] }),
        )
        .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;

    // live content through a sandbox account of the same project
    let sandbox_in_live = uuid::Uuid::now_v7();
    let project_uuid = layers_projects::ProjectId::parse(&project)
        .unwrap()
        .as_uuid();
    app.client()
        .await
        .execute(
            "INSERT INTO social_accounts (id, organization_id, project_id, is_sandbox, platform, \
                 platform_user_id, handle, token) \
             VALUES ($1, $2, $3, true, 'instagram', 'sb_instagram_x', 'sandbox_instagram', \
                 'sandbox_token')",
            &[&sandbox_in_live, &key.org.as_uuid(), &project_uuid],
        )
        .await
        .unwrap();
    let res = app
        .post(
            &format!("/v1/content/{container}/publish"),
            &key,
            &json!({ "targets": [{ "socialAccountId": format!("sa_{}", sandbox_in_live.simple()) }] }),
        )
        .await;
    let error = assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    assert_eq!(error["details"]["field"], "targets[0].socialAccountId");
    // and scheduling says the same
    let at = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let res = app
        .post(
            &format!("/v1/content/{container}/schedule"),
            &key,
            &json!({ "targets": [{ "socialAccountId": format!("sa_{}", sandbox_in_live.simple()) }],
                     "publishAt": at }),
        )
        .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;

    // nothing written beyond the sandbox's own, nothing called
    assert_eq!(app.count("SELECT count(*) FROM scheduled_posts").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'publish'")
            .await,
        0
    );
    assert_eq!(calls(&fake, None).await, 0);
}

#[tokio::test]
async fn a_test_key_never_reaches_a_platform_even_with_every_platform_configured() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let mut config = platforms(&fake.uri());
    // the authorize pages too: nothing may reach this server
    let base = Url::parse(&fake.uri()).unwrap();
    config.meta_auth_base_url = base.clone();
    config.tiktok_auth_base_url = base.clone();
    config.google_auth_base_url = base;
    let app = live_app_with(config, Some(&generator)).await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Sandbox").await;

    let mut accounts = Vec::new();
    for platform in ["instagram", "tiktok", "youtube"] {
        accounts.push(app.connect_sandbox(&key, &project, platform).await);
    }
    // the live callback refuses a sandbox state, before any call
    let minted = oauth_url(&app, &key, &project, json!({ "platform": "tiktok" })).await;
    let res = callback(
        &app,
        &format!("code=c&state={}", minted["state"].as_str().unwrap()),
    )
    .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;

    let now = app.generate(&key, &project, "image").await;
    let later = app.generate(&key, &project, "video-remix").await;
    let targets: Vec<Value> = accounts
        .iter()
        .map(|a| json!({ "socialAccountId": a, "caption": "sandbox" }))
        .collect();
    let published = publish(
        &app,
        &key,
        now["containers"][0]["id"].as_str().unwrap(),
        Value::Array(targets.clone()),
    )
    .await;
    // due in two seconds: the sandbox's publish job runs then, and calls nothing either
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let res = app
        .post(
            &format!(
                "/v1/content/{}/schedule",
                later["containers"][0]["id"].as_str().unwrap()
            ),
            &key,
            &json!({ "targets": targets, "publishAt": at }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let scheduled: Value = res.json().await.unwrap();
    for job in [
        &now["jobId"],
        &later["jobId"],
        &published["jobId"],
        &scheduled["jobId"],
    ] {
        let ended = app.job_settles(&key, job.as_str().unwrap()).await;
        assert_eq!(ended["status"], "succeeded", "{ended}");
    }
    let metrics = app
        .get_json(&format!("/v1/projects/{project}/metrics"), &key)
        .await;
    assert_eq!(metrics["data"].as_array().unwrap().len(), 6);
    let summary = app
        .get_json(&format!("/v1/projects/{project}/metrics/summary"), &key)
        .await;
    assert_eq!(summary["posts"], 6);
    for account in &accounts {
        let res = app
            .request(
                reqwest::Method::DELETE,
                &format!("/v1/projects/{project}/social/accounts/{account}"),
                Some(&key),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    assert!(
        fake.received_requests().await.unwrap().is_empty(),
        "a test key reached a platform"
    );
    assert!(
        generator.received_requests().await.unwrap().is_empty(),
        "a test key reached the generator"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM jobs WHERE kind IN ('metrics_sync', 'social_token_refresh')"
        )
        .await,
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Live metrics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_live_post_to_two_platforms_is_synced_once_from_their_insights() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let container = live_image(&app, &key, &project).await;
    let instagram = connect_instagram(&app, &fake, &key, &project, &user("EAAG-token", 5_184_000))
        .await["socialAccountId"]
        .as_str()
        .unwrap()
        .to_owned();
    let tiktok = connect_tiktok(&app, &fake, &key, &project).await["socialAccountId"]
        .as_str()
        .unwrap()
        .to_owned();

    instagram_publishes(&fake, "EAAG-token", "1790000000000042").await;
    instagram_insights(&fake, "EAAG-token", "1790000000000042").await;
    // TikTok: a photo post pulled from the URL, its status polled, its link read
    Mock::given(method("POST"))
        .and(path("/v2/post/publish/content/init/"))
        .and(bearer_token("act.tt-secret"))
        .and(body_partial_json(json!({
            "post_mode": "DIRECT_POST", "media_type": "PHOTO",
            "post_info": { "privacy_level": "SELF_ONLY", "title": "Two platforms" },
            "source_info": { "source": "PULL_FROM_URL" }
        })))
        .respond_with(tt_ok(json!({ "publish_id": "p_pub_url~v2.1" })))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/post/publish/status/fetch/"))
        .and(body_partial_json(json!({ "publish_id": "p_pub_url~v2.1" })))
        .respond_with(tt_ok(json!({ "status": "PROCESSING_DOWNLOAD" })))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/post/publish/status/fetch/"))
        .and(body_partial_json(json!({ "publish_id": "p_pub_url~v2.1" })))
        .respond_with(tt_ok(json!({
            "status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [7300000000000000001u64]
        })))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/video/query/"))
        .and(query_param("fields", "id,share_url"))
        .and(body_partial_json(
            json!({ "filters": { "video_ids": ["7300000000000000001"] } }),
        ))
        .respond_with(tt_ok(json!({ "videos": [{
            "id": "7300000000000000001",
            "share_url": "https://www.tiktok.com/@acme_tt/video/7300000000000000001"
        }] })))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/video/query/"))
        .and(query_param(
            "fields",
            "id,view_count,like_count,comment_count,share_count",
        ))
        .and(bearer_token("act.tt-secret"))
        .respond_with(tt_ok(json!({ "videos": [{
            "id": "7300000000000000001", "view_count": 1000, "like_count": 50,
            "comment_count": 5, "share_count": 7
        }] })))
        .expect(1)
        .mount(&fake)
        .await;

    let started = publish(
        &app,
        &key,
        &container,
        json!([
            { "socialAccountId": instagram },
            { "socialAccountId": tiktok, "caption": "Two platforms" },
        ]),
    )
    .await;
    let job = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let post_id = started["scheduledPostId"].as_str().unwrap();
    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), &key)
        .await;
    assert_eq!(post["status"], "published");
    assert_eq!(post["targets"][1]["externalId"], "7300000000000000001");
    assert_eq!(
        post["targets"][1]["externalUrl"],
        "https://www.tiktok.com/@acme_tt/video/7300000000000000001"
    );
    assert_eq!(events(&app, &key, "post.published").await.len(), 2);

    // one sync for the post (not one per target), which reads both platforms once
    let syncs = due_jobs(&app, "metrics_sync").await;
    assert_eq!(syncs.len(), 1, "one metrics_sync per post");
    let sync = app.job_settles(&key, &syncs[0]).await;
    assert_eq!(sync["status"], "succeeded", "{sync}");
    assert_eq!(sync["result"], json!({ "synced": 2 }));
    // and the next one a day later
    assert_eq!(
        app.count(
            "SELECT count(*) FROM jobs WHERE kind = 'metrics_sync' AND status = 'queued' \
             AND run_at BETWEEN now() + interval '23 hours' AND now() + interval '25 hours'"
        )
        .await,
        1
    );

    let today = chrono::Utc::now().date_naive().to_string();
    let body = app
        .get_json(&format!("/v1/projects/{project}/metrics"), &key)
        .await;
    assert_eq!(body["to"], today.as_str());
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let of = |id: &str| data.iter().find(|p| p["externalId"] == id).unwrap().clone();
    let ig = of("1790000000000042");
    let tt = of("7300000000000000001");
    for (post, platform) in [(&ig, "instagram"), (&tt, "tiktok")] {
        assert_eq!(post["platform"], platform);
        assert_eq!(post["scheduledPostId"], post_id);
        assert_eq!(post["containerId"], container.as_str());
        let series = post["series"].as_array().unwrap();
        assert_eq!(series.len(), 28);
        for day in series {
            let mut keys: Vec<&str> = day
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                [
                    "comments",
                    "date",
                    "engagement_rate",
                    "likes",
                    "posts_published",
                    "reach",
                    "saves",
                    "shares",
                    "views",
                    "watch_time_ms"
                ]
            );
        }
        for day in &series[..27] {
            assert_eq!(day["views"], 0);
            assert_eq!(day["posts_published"], 0);
        }
    }
    let ig_today = &ig["series"][27];
    assert_eq!(
        ig_today,
        &json!({ "date": today, "views": 321, "reach": 250, "likes": 12, "comments": 3,
                 "shares": 2, "saves": 4, "watch_time_ms": 0, "posts_published": 1,
                 "engagement_rate": 0.0654 })
    );
    let tt_today = &tt["series"][27];
    assert_eq!(
        tt_today,
        &json!({ "date": today, "views": 1000, "reach": 0, "likes": 50, "comments": 5,
                 "shares": 7, "saves": 0, "watch_time_ms": 0, "posts_published": 1,
                 "engagement_rate": 0.062 })
    );
    // one post by its id
    let one = app
        .get_json(
            &format!("/v1/projects/{project}/metrics?postIds=7300000000000000001"),
            &key,
        )
        .await;
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    assert_eq!(one["data"][0]["series"][27], *tt_today);

    let summary = app
        .get_json(&format!("/v1/projects/{project}/metrics/summary"), &key)
        .await;
    assert_eq!(summary["posts"], 2);
    assert_eq!(summary["views"], 1321);
    assert_eq!(summary["reach"], 250);
    assert_eq!(summary["likes"], 62);
    assert_eq!(summary["comments"], 8);
    assert_eq!(summary["shares"], 9);
    assert_eq!(summary["saves"], 4);
    assert_eq!(summary["posts_published"], 2);
    // weighted by views: (0.0654 * 321 + 0.062 * 1000) / 1321
    assert_eq!(summary["engagement_rate"], 0.0628);

    // the next sync: Instagram refuses this post's insights (a 400); TikTok still syncs, the
    // Instagram row keeps what it had, and the chain goes on
    Mock::given(method("GET"))
        .and(path("/v21.0/1790000000000042/insights"))
        .respond_with(graph_error(
            400,
            100,
            "Media posted before business account conversion",
        ))
        .with_priority(1)
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/video/query/"))
        .and(query_param(
            "fields",
            "id,view_count,like_count,comment_count,share_count",
        ))
        .respond_with(tt_ok(json!({ "videos": [{
            "id": "7300000000000000001", "view_count": 1500, "like_count": 60,
            "comment_count": 5, "share_count": 7
        }] })))
        .with_priority(1)
        .expect(1)
        .mount(&fake)
        .await;
    app.client()
        .await
        .execute(
            "UPDATE jobs SET run_at = now() WHERE kind = 'metrics_sync' AND status = 'queued'",
            &[],
        )
        .await
        .unwrap();
    let syncs = due_jobs(&app, "metrics_sync").await;
    assert_eq!(syncs.len(), 2, "the first sync and the one made due");
    let sync = app.job_settles(&key, &syncs[1]).await;
    assert_eq!(sync["status"], "succeeded", "{sync}");
    assert_eq!(sync["result"], json!({ "synced": 1 }));
    let body = app
        .get_json(&format!("/v1/projects/{project}/metrics"), &key)
        .await;
    let data = body["data"].as_array().unwrap();
    let of = |id: &str| data.iter().find(|p| p["externalId"] == id).unwrap().clone();
    assert_eq!(of("1790000000000042")["series"][27]["views"], 321);
    assert_eq!(of("7300000000000000001")["series"][27]["views"], 1500);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'metrics_sync' AND status = 'queued'")
            .await,
        1
    );
    fake.verify().await;
}
