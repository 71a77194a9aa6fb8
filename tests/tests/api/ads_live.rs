//! Ads with a live key, end to end over HTTP (CONTRACT §13, and §12's `#sandbox_reject`, which
//! is ordinary text live): the platforms are wiremock fakes on 127.0.0.1 speaking their own
//! protocols (Meta Graph and Marketing API, TikTok Business API v1.3, Apple Search Ads API v5 and
//! its token endpoint), and every test checks what the fakes were asked, in which order and how
//! many times, as well as the answers, rows, jobs and events: linking ad accounts (and the
//! platforms' refusals), campaigns created by their `ads_campaign_create` job (a rejection undone
//! on the platform, a 5xx retried, an expired token), and the `ads_metrics_sync` job's days.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use layers_platforms::{Url, GRAPH_VERSION};
use layers_tests::{assert_error, TestApp, TestKey};

use super::live_platforms::{
    callback_url, graph_error, live_app, live_project, oauth_url, ok, query_of, verifier_of, PUBLIC,
};
use serde_json::{json, Value};
use wiremock::matchers::{bearer_token, body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockGuard, MockServer, Request, ResponseTemplate};

/// The Instagram account connected with the ads consent, and its token.
const IG_USER: &str = "17841400000000001";
const TOKEN: &str = "EAAG-ads-token";
/// The Meta ad account the tests link.
const ACT: &str = "act_123";
/// The app store page of the campaigns.
const APP_STORE: &str = "https://apps.apple.com/us/app/example/id1234567890";
/// The Apple Search Ads organization.
const ORG: &str = "40669820";
/// The TikTok for Business token and advertiser.
const TTB_TOKEN: &str = "ttb-token";
const ADVERTISER: &str = "7001";

/// A Graph API path (`/v21.0/…`).
fn g(p: &str) -> String {
    format!("/{GRAPH_VERSION}/{p}")
}

/// A TikTok Business API path.
fn tb(p: &str) -> String {
    format!("/open_api/v1.3/{p}")
}

/// A TikTok Business API success envelope.
fn tt_ok(data: Value) -> ResponseTemplate {
    ok(json!({ "code": 0, "message": "OK", "request_id": "2025040100001", "data": data }))
}

/// The requests `server` received for `verb` and `p`, in order.
async fn received(server: &MockServer, verb: &str, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == p)
        .collect()
}

async fn calls(server: &MockServer, verb: &str, p: &str) -> usize {
    received(server, verb, p).await.len()
}

fn json_of(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// `GET /v1/social/callback?{query}` without a key: the 200's body.
async fn callback(app: &TestApp, query: &str) -> Value {
    let res = app
        .http
        .get(format!("{}/v1/social/callback?{query}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Meta's side of one connection (scoped, each expected once): the code exchange, the
/// long-lived `token`, and the Page that leads to the Instagram account `ig_user`.
async fn meta_connect(
    server: &MockServer,
    verifier: &str,
    code: &str,
    token: &str,
    ig_user: &str,
) -> Vec<MockGuard> {
    let short = format!("short-{token}");
    vec![
        Mock::given(method("GET"))
            .and(path(g("oauth/access_token")))
            .and(query_param("code", code))
            .and(query_param("code_verifier", verifier))
            .and(query_param("redirect_uri", callback_url()))
            .respond_with(ok(json!({ "access_token": short, "token_type": "bearer" })))
            .expect(1)
            .mount_as_scoped(server)
            .await,
        Mock::given(method("GET"))
            .and(path(g("oauth/access_token")))
            .and(query_param("grant_type", "fb_exchange_token"))
            .and(query_param("fb_exchange_token", short.as_str()))
            .respond_with(ok(json!({
                "access_token": token, "token_type": "bearer", "expires_in": 5_184_000
            })))
            .expect(1)
            .mount_as_scoped(server)
            .await,
        Mock::given(method("GET"))
            .and(path(g("me/accounts")))
            .and(bearer_token(token))
            .respond_with(ok(json!({ "data": [
                { "id": "page-1", "instagram_business_account":
                    { "id": ig_user, "username": format!("acme.{ig_user}") } },
            ] })))
            .expect(1)
            .mount_as_scoped(server)
            .await,
    ]
}

/// Connects the Instagram account `ig_user` live (with the ads consent if `ads`); its id and
/// the authorize URL it was sent to.
async fn connect_instagram(
    app: &TestApp,
    fake: &MockServer,
    key: &TestKey,
    project: &str,
    (ig_user, token, ads): (&str, &str, bool),
) -> (String, Url) {
    let minted = oauth_url(
        app,
        key,
        project,
        json!({ "platform": "instagram", "ads": ads }),
    )
    .await;
    let state = minted["state"].as_str().unwrap();
    let verifier = verifier_of(app, state).await;
    let code = format!("code-{ig_user}");
    let guards = meta_connect(fake, &verifier, &code, token, ig_user).await;
    let body = callback(app, &format!("code={code}&state={state}")).await;
    drop(guards);
    assert_eq!(body["platform"], "instagram", "{body}");
    let url = Url::parse(minted["url"].as_str().unwrap()).unwrap();
    (body["socialAccountId"].as_str().unwrap().to_owned(), url)
}

/// Meta's answer to reading the ad account [`ACT`] with [`TOKEN`].
async fn meta_ad_account(fake: &MockServer) {
    Mock::given(method("GET"))
        .and(path(g(ACT)))
        .and(query_param(
            "fields",
            "name,currency,timezone_name,account_status",
        ))
        .and(bearer_token(TOKEN))
        .respond_with(ok(json!({
            "id": ACT, "name": "Acme Ads", "currency": "USD",
            "timezone_name": "America/New_York", "account_status": 1
        })))
        .mount(fake)
        .await;
}

/// `POST /v1/projects/:id/ads/accounts`.
async fn link(app: &TestApp, key: &TestKey, project: &str, body: &Value) -> reqwest::Response {
    app.post(&format!("/v1/projects/{project}/ads/accounts"), key, body)
        .await
}

/// Links [`ACT`] through the Instagram account `sa`; the ad account's id.
async fn link_meta(app: &TestApp, key: &TestKey, project: &str, sa: &str) -> String {
    let res = link(
        app,
        key,
        project,
        &json!({ "platform": "meta", "externalId": ACT, "socialAccountId": sa }),
    )
    .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let account: Value = res.json().await.unwrap();
    account["id"].as_str().unwrap().to_owned()
}

/// A Meta ad account linked through an Instagram account connected with the ads consent:
/// `(social account, ad account)`.
async fn meta_ready(
    app: &TestApp,
    fake: &MockServer,
    key: &TestKey,
    project: &str,
) -> (String, String) {
    let (sa, _) = connect_instagram(app, fake, key, project, (IG_USER, TOKEN, true)).await;
    meta_ad_account(fake).await;
    let account = link_meta(app, key, project, &sa).await;
    (sa, account)
}

/// A completed live image (generated by `fake_generator`, its media stored); its container id.
async fn live_image(app: &TestApp, key: &TestKey, project: &str) -> String {
    let started = app.generate(key, project, "image").await;
    let job = app
        .job_settles(key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    started["containers"][0]["id"].as_str().unwrap().to_owned()
}

/// A campaign body on `account` with one creative of `container`.
fn campaign_body(account: &str, container: &str, name: &str) -> Value {
    json!({
        "adAccountId": account,
        "name": name,
        "objective": "app_installs",
        "dailyBudget": {"amount": 5000, "currency": "USD"},
        "startAt": "2020-01-01T00:00:00.000Z",
        "targeting": {"countries": ["US", "CA"], "ageMin": 18, "ageMax": 44, "languages": ["en"]},
        "creatives": [{"containerId": container, "headline": "Plan less", "caption": "Try it"}],
        "appStoreUrl": APP_STORE
    })
}

/// Creates a campaign: the 202's body, checked to be a queued job and a pending campaign.
async fn create_campaign(app: &TestApp, key: &TestKey, project: &str, body: &Value) -> Value {
    let res = app
        .post(&format!("/v1/projects/{project}/ads/campaigns"), key, body)
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let started: Value = res.json().await.unwrap();
    assert_eq!(started["kind"], "ads_campaign_create");
    assert_eq!(started["status"], "queued", "{started}");
    assert_eq!(started["campaign"]["status"], "pending", "{started}");
    assert!(started["campaignId"].as_str().unwrap().starts_with("cmp_"));
    started
}

/// Creates a campaign and waits for its job: `(job, campaign)` as the API shows them then.
async fn campaign_settles(
    app: &TestApp,
    key: &TestKey,
    project: &str,
    body: &Value,
) -> (Value, Value) {
    let started = create_campaign(app, key, project, body).await;
    let job = app
        .job_settles(key, started["jobId"].as_str().unwrap())
        .await;
    let id = started["campaignId"].as_str().unwrap();
    let campaign = app.get_json(&format!("/v1/ads/campaigns/{id}"), key).await;
    (job, campaign)
}

/// Meta's side of creating the campaign `name` as `c{n}`, `s{n}`, `cr{n}` and `ad{n}` (each
/// step matched on what the previous one answered).
async fn meta_creates(fake: &MockServer, name: &str, n: u32) {
    let step = |at: &str, matched: Value, id: String| {
        Mock::given(method("POST"))
            .and(path(g(&format!("{ACT}/{at}"))))
            .and(bearer_token(TOKEN))
            .and(body_partial_json(matched))
            .respond_with(ok(json!({ "id": id })))
    };
    step("campaigns", json!({ "name": name }), format!("c{n}"))
        .mount(fake)
        .await;
    step(
        "adsets",
        json!({ "campaign_id": format!("c{n}") }),
        format!("s{n}"),
    )
    .mount(fake)
    .await;
    step(
        "adcreatives",
        json!({ "name": format!("{name} #1") }),
        format!("cr{n}"),
    )
    .mount(fake)
    .await;
    step(
        "ads",
        json!({ "adset_id": format!("s{n}"), "creative": { "creative_id": format!("cr{n}") } }),
        format!("ad{n}"),
    )
    .mount(fake)
    .await;
}

/// The event envelopes of `type` the key's environment produced, newest first.
async fn events(app: &TestApp, key: &TestKey, kind: &str) -> Vec<Value> {
    app.get_json(&format!("/v1/events?type={kind}&limit=100"), key)
        .await["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// The attempts of the campaign creation jobs, oldest first.
async fn create_attempts(app: &TestApp) -> Vec<i32> {
    app.client()
        .await
        .query(
            "SELECT attempts FROM jobs WHERE kind = 'ads_campaign_create' ORDER BY created_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Meta
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn meta_links_an_ad_account_and_creates_a_campaign_through_the_marketing_api() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;

    // the consent asks for the ads scopes too
    let (sa, authorize) =
        connect_instagram(&app, &fake, &key, &project, (IG_USER, TOKEN, true)).await;
    let scope = query_of(&authorize)["scope"].clone();
    for wanted in ["ads_management", "ads_read", "instagram_content_publish"] {
        assert!(scope.split(',').any(|s| s == wanted), "{scope}");
    }

    // the link reads the ad account on Meta: its name, currency and time zone
    meta_ad_account(&fake).await;
    let res = link(
        &app,
        &key,
        &project,
        &json!({ "platform": "meta", "externalId": ACT, "socialAccountId": sa }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let account: Value = res.json().await.unwrap();
    let account_id = account["id"].as_str().unwrap().to_owned();
    assert!(account_id.starts_with("adacct_"), "{account}");
    assert_eq!(
        account,
        json!({ "id": account_id, "projectId": project, "platform": "meta", "externalId": ACT,
                "name": "Acme Ads", "currency": "USD", "timezone": "America/New_York",
                "status": "active", "createdAt": account["createdAt"] })
    );
    assert_eq!(calls(&fake, "GET", &g(ACT)).await, 1);
    let listed = app
        .get_json(&format!("/v1/projects/{project}/ads/accounts"), &key)
        .await;
    assert_eq!(listed["data"], json!([account]));

    // an Instagram account connected without the ads consent links nothing, asking nobody
    let (plain, authorize) = connect_instagram(
        &app,
        &fake,
        &key,
        &project,
        ("17841400000000002", "EAAG-plain", false),
    )
    .await;
    let scope = query_of(&authorize)["scope"].clone();
    assert!(!scope.contains("ads_management"), "{scope}");
    let res = link(
        &app,
        &key,
        &project,
        &json!({ "platform": "meta", "externalId": "act_456", "socialAccountId": plain }),
    )
    .await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "ads_permission_missing", "{error}");
    assert_eq!(calls(&fake, "GET", &g("act_456")).await, 0);
    assert_eq!(app.count("SELECT count(*) FROM ad_accounts").await, 1);

    // a campaign on a live image: queued, then created on Meta by its job
    let container = live_image(&app, &key, &project).await;
    meta_creates(&fake, "Spring launch", 1).await;
    let before = fake.received_requests().await.unwrap().len();
    let (job, campaign) = campaign_settles(
        &app,
        &key,
        &project,
        &campaign_body(&account_id, &container, "Spring launch"),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let id = campaign["id"].as_str().unwrap();
    assert_eq!(job["result"]["campaignId"], id);
    assert_eq!(campaign["status"], "active", "{campaign}");
    assert_eq!(campaign["platform"], "meta");
    assert_eq!(campaign["adAccountId"], account_id.as_str());
    assert_eq!(
        campaign["externalIds"],
        json!({ "campaign": "c1", "adSet": "s1", "ads": ["ad1"] })
    );
    assert_eq!(campaign["error"], Value::Null);

    // in the protocol's order, each with the token: campaign, ad set, creative, ad
    let requests: Vec<Request> = fake.received_requests().await.unwrap()[before..].to_vec();
    let order: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.to_string(), r.url.path().to_owned()))
        .collect();
    let post = |p: &str| ("POST".to_owned(), g(&format!("{ACT}/{p}")));
    assert_eq!(
        order,
        [
            post("campaigns"),
            post("adsets"),
            post("adcreatives"),
            post("ads")
        ]
    );
    assert!(requests
        .iter()
        .all(|r| r.headers["authorization"] == format!("Bearer {TOKEN}")));
    assert_eq!(
        json_of(&requests[0]),
        json!({ "name": "Spring launch", "objective": "OUTCOME_APP_PROMOTION",
                "status": "ACTIVE", "special_ad_categories": [] })
    );
    let ad_set = json_of(&requests[1]);
    assert_eq!(ad_set["daily_budget"], 5000);
    assert_eq!(ad_set["optimization_goal"], "APP_INSTALLS");
    assert_eq!(
        ad_set["targeting"],
        json!({ "geo_locations": { "countries": ["US", "CA"] }, "age_min": 18, "age_max": 44,
                "publisher_platforms": ["instagram"] })
    );
    assert_eq!(
        ad_set["promoted_object"],
        json!({ "object_store_url": APP_STORE })
    );
    // the creative runs as the connected Instagram account, with the container's stored media
    let story = &json_of(&requests[2])["object_story_spec"];
    assert_eq!(story["instagram_user_id"], IG_USER);
    let picture = story["link_data"]["picture"].as_str().unwrap();
    assert!(
        picture.starts_with(&format!("{PUBLIC}/media/")),
        "{picture}"
    );
    // a URL Meta can fetch: the gateway serves the stored image there
    let served = app
        .http
        .get(picture.replace(PUBLIC, &app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200, "{picture}");
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert_eq!(story["link_data"]["link"], APP_STORE);
    assert_eq!(story["link_data"]["name"], "Plan less");
    assert_eq!(story["link_data"]["message"], "Try it");
    assert_eq!(
        story["link_data"]["call_to_action"],
        json!({ "type": "INSTALL_MOBILE_APP", "value": { "link": APP_STORE } })
    );

    // one ads_campaign.created, live (no meta.sandbox)
    let created = events(&app, &key, "ads_campaign.created").await;
    assert_eq!(created.len(), 1);
    assert!(created[0].get("meta").is_none(), "{}", created[0]);
    assert_eq!(
        created[0]["data"],
        json!({ "campaignId": id, "projectId": project, "platform": "meta", "status": "active",
                "externalIds": campaign["externalIds"] })
    );

    // live, #sandbox_reject is ordinary text: the campaign goes to Meta and runs
    let name = "Launch #sandbox_reject";
    meta_creates(&fake, name, 2).await;
    let (job, rejected_by_name) = campaign_settles(
        &app,
        &key,
        &project,
        &campaign_body(&account_id, &container, name),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(rejected_by_name["status"], "active", "{rejected_by_name}");
    assert_eq!(rejected_by_name["name"], name);
    assert_eq!(
        rejected_by_name["externalIds"],
        json!({ "campaign": "c2", "adSet": "s2", "ads": ["ad2"] })
    );
    let campaigns = received(&fake, "POST", &g(&format!("{ACT}/campaigns"))).await;
    assert_eq!(campaigns.len(), 2);
    assert_eq!(json_of(&campaigns[1])["name"], name);
    assert_eq!(events(&app, &key, "ads_campaign.created").await.len(), 2);
    assert!(events(&app, &key, "ads_campaign.failed").await.is_empty());
    assert_eq!(
        fake.received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method.as_str() == "DELETE")
            .count(),
        0,
        "nothing was undone"
    );
    // each campaign's metrics are synced from tomorrow
    assert_eq!(
        app.count(
            "SELECT count(*) FROM jobs WHERE kind = 'ads_metrics_sync' AND status = 'queued' \
             AND run_at > now() + interval '23 hours'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_rejected_ad_set_fails_the_campaign_in_metas_words_and_deletes_what_was_made() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let (_, account) = meta_ready(&app, &fake, &key, &project).await;
    let container = live_image(&app, &key, &project).await;

    Mock::given(method("POST"))
        .and(path(g(&format!("{ACT}/campaigns"))))
        .respond_with(ok(json!({ "id": "c1" })))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path(g(&format!("{ACT}/adsets"))))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "error": {
            "message": "Invalid parameter", "type": "OAuthException", "code": 100,
            "error_user_msg": "The daily budget is too low for this ad set."
        } })))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("DELETE"))
        .and(path(g("c1")))
        .and(bearer_token(TOKEN))
        .respond_with(ok(json!({ "success": true })))
        .expect(1)
        .mount(&fake)
        .await;

    let (job, campaign) = campaign_settles(
        &app,
        &key,
        &project,
        &campaign_body(&account, &container, "Spring launch"),
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = json!({ "code": "platform_rejected",
                        "message": "The daily budget is too low for this ad set." });
    assert_eq!(campaign["status"], "failed", "{campaign}");
    assert_eq!(campaign["error"], error);
    assert_eq!(
        job["error"], error,
        "the job's error has the campaign's code and words"
    );
    assert_eq!(campaign["externalIds"]["campaign"], Value::Null);
    assert_eq!(campaign["externalIds"]["ads"], json!([]));
    assert_eq!(create_attempts(&app).await, [1], "a refusal is not retried");

    let failed = events(&app, &key, "ads_campaign.failed").await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0].get("meta").is_none());
    assert_eq!(failed[0]["data"]["campaignId"], campaign["id"]);
    assert_eq!(failed[0]["data"]["status"], "failed");
    assert_eq!(failed[0]["data"]["error"], error);
    assert!(events(&app, &key, "ads_campaign.created").await.is_empty());

    // the campaign Meta had made is deleted, once; nothing was made after the ad set
    assert_eq!(calls(&fake, "DELETE", &g("c1")).await, 1);
    assert_eq!(
        fake.received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method.as_str() == "DELETE")
            .count(),
        1
    );
    for untouched in ["adcreatives", "ads", "advideos"] {
        assert_eq!(
            calls(&fake, "POST", &g(&format!("{ACT}/{untouched}"))).await,
            0,
            "{untouched}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'ads_metrics_sync'")
            .await,
        0,
        "a failed campaign has no metrics to sync"
    );
    fake.verify().await;
}

#[tokio::test]
async fn a_meta_5xx_is_retried_and_the_campaign_is_then_created() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let (_, account) = meta_ready(&app, &fake, &key, &project).await;
    let container = live_image(&app, &key, &project).await;

    // the first campaigns call finds Meta unavailable, the next one works
    Mock::given(method("POST"))
        .and(path(g(&format!("{ACT}/campaigns"))))
        .respond_with(graph_error(503, 2, "Service temporarily unavailable"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&fake)
        .await;
    meta_creates(&fake, "Spring launch", 1).await;

    let (job, campaign) = campaign_settles(
        &app,
        &key,
        &project,
        &campaign_body(&account, &container, "Spring launch"),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let attempts = create_attempts(&app).await;
    assert!(attempts[0] >= 2, "{attempts:?}");
    assert_eq!(campaign["status"], "active", "{campaign}");
    assert_eq!(
        campaign["externalIds"],
        json!({ "campaign": "c1", "adSet": "s1", "ads": ["ad1"] })
    );
    assert_eq!(
        calls(&fake, "POST", &g(&format!("{ACT}/campaigns"))).await,
        2
    );
    for once in ["adsets", "adcreatives", "ads"] {
        assert_eq!(
            calls(&fake, "POST", &g(&format!("{ACT}/{once}"))).await,
            1,
            "{once}"
        );
    }
    assert_eq!(events(&app, &key, "ads_campaign.created").await.len(), 1);
    assert!(events(&app, &key, "ads_campaign.failed").await.is_empty());
    fake.verify().await;
}

#[tokio::test]
async fn an_expired_meta_token_fails_the_campaign_and_needs_reauth() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let (sa, account) = meta_ready(&app, &fake, &key, &project).await;
    let container = live_image(&app, &key, &project).await;

    let words = "Error validating access token: Session has expired on Friday, 04-Apr-25.";
    Mock::given(method("POST"))
        .and(path(g(&format!("{ACT}/campaigns"))))
        .respond_with(graph_error(400, 190, words))
        .expect(1)
        .mount(&fake)
        .await;

    let (job, campaign) = campaign_settles(
        &app,
        &key,
        &project,
        &campaign_body(&account, &container, "Spring launch"),
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(campaign["status"], "failed", "{campaign}");
    assert_eq!(campaign["error"]["code"], "token_expired");
    let message = campaign["error"]["message"].as_str().unwrap();
    assert!(message.contains(words), "{message}");
    assert_eq!(create_attempts(&app).await, [1]);

    // the Instagram account needs to be connected again, and says so
    let accounts = app
        .get_json(&format!("/v1/projects/{project}/social/accounts"), &key)
        .await;
    assert_eq!(accounts["data"][0]["id"], sa.as_str());
    assert_eq!(accounts["data"][0]["status"], "needs_reauth", "{accounts}");
    let reauth = events(&app, &key, "social_account.needs_reauth").await;
    assert_eq!(reauth.len(), 1);
    assert_eq!(reauth[0]["data"]["socialAccountId"], sa.as_str());
    let failed = events(&app, &key, "ads_campaign.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["error"], campaign["error"]);

    // nothing was made, so nothing is undone
    assert_eq!(calls(&fake, "POST", &g(&format!("{ACT}/adsets"))).await, 0);
    assert!(!fake
        .received_requests()
        .await
        .unwrap()
        .iter()
        .any(|r| r.method.as_str() == "DELETE"));
    fake.verify().await;
}

#[tokio::test]
async fn an_ad_account_meta_refuses_is_a_422_in_metas_words_and_writes_nothing() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let (sa, _) = connect_instagram(&app, &fake, &key, &project, (IG_USER, TOKEN, true)).await;

    let words = "Unsupported get request. Object with ID 'act_999' does not exist, cannot be \
                 loaded due to missing permissions, or does not support this operation.";
    Mock::given(method("GET"))
        .and(path(g("act_999")))
        .and(bearer_token(TOKEN))
        .respond_with(graph_error(400, 100, words))
        .expect(1)
        .mount(&fake)
        .await;
    let res = link(
        &app,
        &key,
        &project,
        &json!({ "platform": "meta", "externalId": "act_999", "socialAccountId": sa }),
    )
    .await;
    let error = assert_error(res, 422, "PLATFORM_REJECTED").await;
    assert_eq!(error["message"], words, "{error}");

    // an id that is no Meta ad account is refused without a call
    let before = fake.received_requests().await.unwrap().len();
    let res = link(
        &app,
        &key,
        &project,
        &json!({ "platform": "meta", "externalId": "act_12x", "socialAccountId": sa }),
    )
    .await;
    assert_error(res, 422, "PLATFORM_REJECTED").await;
    assert_eq!(fake.received_requests().await.unwrap().len(), before);

    assert_eq!(app.count("SELECT count(*) FROM ad_accounts").await, 0);
    let listed = app
        .get_json(&format!("/v1/projects/{project}/ads/accounts"), &key)
        .await;
    assert_eq!(listed["data"], json!([]));
    fake.verify().await;
}

#[tokio::test]
async fn live_metrics_are_the_days_the_sync_job_read_from_metas_insights() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    let (_, account) = meta_ready(&app, &fake, &key, &project).await;
    let container = live_image(&app, &key, &project).await;
    meta_creates(&fake, "Spring launch", 1).await;
    let (_, campaign) = campaign_settles(
        &app,
        &key,
        &project,
        &campaign_body(&account, &container, "Spring launch"),
    )
    .await;
    assert_eq!(campaign["status"], "active", "{campaign}");
    let id = campaign["id"].as_str().unwrap();

    // the sync is queued for tomorrow
    let sync: uuid::Uuid = app
        .client()
        .await
        .query_one(
            "SELECT id FROM jobs WHERE kind = 'ads_metrics_sync' AND status = 'queued' \
             AND run_at BETWEEN now() + interval '23 hours' AND now() + interval '25 hours'",
            &[],
        )
        .await
        .expect("one ads_metrics_sync queued for tomorrow")
        .get(0);

    // the campaign ran since yesterday; Meta reports both days
    app.client()
        .await
        .execute(
            "UPDATE ads_campaigns SET active_from = active_from - interval '1 day'",
            &[],
        )
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    let yesterday = today - chrono::TimeDelta::days(1);
    let range = json!({ "since": yesterday.to_string(), "until": today.to_string() }).to_string();
    Mock::given(method("GET"))
        .and(path(g("c1/insights")))
        .and(bearer_token(TOKEN))
        .and(query_param("level", "campaign"))
        .and(query_param("time_increment", "1"))
        .and(query_param("time_range", range.as_str()))
        .and(query_param("fields", "spend,impressions,clicks,actions"))
        .respond_with(ok(json!({
            "data": [
                { "date_start": yesterday.to_string(), "date_stop": yesterday.to_string(),
                  "spend": "12.34", "impressions": "1500", "clicks": "45",
                  "actions": [
                      { "action_type": "link_click", "value": "45" },
                      { "action_type": "mobile_app_install", "value": "6" }
                  ] },
                { "date_start": today.to_string(), "date_stop": today.to_string(),
                  "spend": "7.5", "impressions": "900", "clicks": "20",
                  "actions": [{ "action_type": "mobile_app_install", "value": "2" }] }
            ],
            "paging": { "cursors": { "before": "b", "after": "a" } }
        })))
        .expect(1)
        .mount(&fake)
        .await;

    app.client()
        .await
        .execute("UPDATE jobs SET run_at = now() WHERE id = $1", &[&sync])
        .await
        .unwrap();
    let started = Instant::now();
    let status = loop {
        let status: String = app
            .client()
            .await
            .query_one("SELECT status FROM jobs WHERE id = $1", &[&sync])
            .await
            .unwrap()
            .get(0);
        if matches!(status.as_str(), "succeeded" | "failed" | "canceled") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the sync has not ended: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, "succeeded");
    assert_eq!(calls(&fake, "GET", &g("c1/insights")).await, 1);
    // and the next one is queued for tomorrow, to read the recent days again
    assert_eq!(
        app.count(
            "SELECT count(*) FROM jobs WHERE kind = 'ads_metrics_sync' AND status = 'queued' \
             AND run_at > now() + interval '23 hours' AND (payload->>'recent')::boolean"
        )
        .await,
        1
    );

    let from = today - chrono::TimeDelta::days(3);
    let metrics = app
        .get_json(
            &format!("/v1/projects/{project}/ads/metrics?from={from}&to={today}"),
            &key,
        )
        .await;
    let zero = |d: chrono::NaiveDate| json!({ "date": d.to_string(), "spend": 0, "impressions": 0, "clicks": 0, "installs": 0 });
    assert_eq!(
        metrics,
        json!({
            "from": from.to_string(), "to": today.to_string(),
            "data": [{ "campaignId": id, "platform": "meta", "series": [
                zero(from),
                zero(from + chrono::TimeDelta::days(1)),
                { "date": yesterday.to_string(), "spend": 1234, "impressions": 1500,
                  "clicks": 45, "installs": 6 },
                { "date": today.to_string(), "spend": 750, "impressions": 900,
                  "clicks": 20, "installs": 2 },
            ] }]
        })
    );
    fake.verify().await;
}

// ---------------------------------------------------------------------------------------------
// Apple Search Ads
// ---------------------------------------------------------------------------------------------

/// A PKCS#8 PEM of a fresh P-256 key, and its base64 body (one line).
fn p256_pem() -> (String, String) {
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    (pem, body)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn apple_search_ads_links_with_sealed_credentials() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;
    Mock::given(method("POST"))
        .and(path("/auth/oauth2/token"))
        .respond_with(ok(
            json!({ "access_token": "apple-at", "token_type": "Bearer", "expires_in": 3600 }),
        ))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v5/acls"))
        .and(bearer_token("apple-at"))
        .and(header("x-ap-context", format!("orgId={ORG}").as_str()))
        .respond_with(ok(json!({ "data": [
            { "orgId": 111, "orgName": "Other", "currency": "EUR", "timeZone": "Europe/Berlin" },
            { "orgId": 40669820, "orgName": "Acme Org", "currency": "USD",
              "timeZone": "America/Los_Angeles", "roleNames": ["API Account Manager"] }
        ] })))
        .expect(1)
        .mount(&fake)
        .await;
    let (pem, pem_body) = p256_pem();
    let client_id = "SEARCHADS.client-7a1c";
    let credentials = |pem: &str| {
        json!({ "clientId": client_id, "teamId": "SEARCHADS.team-7a1c", "keyId": "kid-7a1c",
                "privateKeyPem": pem })
    };

    // a malformed key is refused before any call
    let res = link(
        &app,
        &key,
        &project,
        &json!({ "platform": "apple_search_ads", "externalId": ORG,
                 "credentials": credentials("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n") }),
    )
    .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "credentials", "{error}");
    assert_eq!(fake.received_requests().await.unwrap().len(), 0);
    assert_eq!(app.count("SELECT count(*) FROM ad_accounts").await, 0);

    // good credentials: a token, then the organization's name, currency and time zone
    let res = link(
        &app,
        &key,
        &project,
        &json!({ "platform": "apple_search_ads", "externalId": ORG,
                 "credentials": credentials(&pem) }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let text = res.text().await.unwrap();
    let account: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        account,
        json!({ "id": account["id"], "projectId": project, "platform": "apple_search_ads",
                "externalId": ORG, "name": "Acme Org", "currency": "USD",
                "timezone": "America/Los_Angeles", "status": "active",
                "createdAt": account["createdAt"] })
    );
    let listed = app
        .get(&format!("/v1/projects/{project}/ads/accounts"), &key)
        .await
        .text()
        .await
        .unwrap();
    for shown in [&text, &listed] {
        for secret in [client_id, "kid-7a1c", "PRIVATE KEY", &pem_body[..40]] {
            assert!(!shown.contains(secret), "{secret} is shown: {shown}");
        }
    }
    let token = received(&fake, "POST", "/auth/oauth2/token").await;
    let form: HashMap<String, String> = Url::parse(&format!(
        "http://x/?{}",
        String::from_utf8_lossy(&token[0].body)
    ))
    .map(|u| query_of(&u))
    .unwrap();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], client_id);
    assert_eq!(form["client_secret"].split('.').count(), 3, "an ES256 JWT");

    // kept sealed: neither the key nor the ids in clear
    let sealed: Vec<u8> = app
        .client()
        .await
        .query_one("SELECT credentials FROM ad_accounts", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!sealed.is_empty());
    for secret in [
        client_id,
        "SEARCHADS.team-7a1c",
        &pem_body[..40],
        &pem_body[pem_body.len() - 40..],
        "PRIVATE KEY",
    ] {
        assert!(!contains(&sealed, secret), "{secret} is stored in clear");
    }
    fake.verify().await;
}

// ---------------------------------------------------------------------------------------------
// TikTok for Business
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tiktok_for_business_connects_links_an_advertiser_and_creates_a_campaign() {
    let fake = MockServer::start().await;
    let generator = layers_tests::fake_generator(200).await;
    let app = live_app(&fake, Some(&generator)).await;
    let (key, project) = live_project(&app).await;

    // the consent page on the configured base, with the app id (no PKCE)
    let minted = oauth_url(
        &app,
        &key,
        &project,
        json!({ "platform": "tiktok_business" }),
    )
    .await;
    let state = minted["state"].as_str().unwrap();
    let url = Url::parse(minted["url"].as_str().unwrap()).unwrap();
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{}/portal/auth", fake.uri())
    );
    let query = query_of(&url);
    assert_eq!(query["app_id"], "ttb-app-id");
    assert_eq!(query["state"], state);
    assert_eq!(query["redirect_uri"], callback_url());
    assert!(!query.contains_key("code_challenge"));

    // the callback: the auth code for a token, then the user
    Mock::given(method("POST"))
        .and(path(tb("oauth2/access_token/")))
        .and(body_partial_json(json!({
            "app_id": "ttb-app-id", "secret": "ttb-app-secret", "auth_code": "ttb-auth-1"
        })))
        .respond_with(tt_ok(json!({
            "access_token": TTB_TOKEN, "advertiser_ids": [ADVERTISER], "scope": [4, 5]
        })))
        .expect(1)
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .and(path(tb("user/info/")))
        .and(header("access-token", TTB_TOKEN))
        .respond_with(tt_ok(json!({
            "core_user_id": "7100", "display_name": "Acme Marketing", "email": "a@acme.test"
        })))
        .expect(1)
        .mount(&fake)
        .await;
    let body = callback(&app, &format!("code=ttb-auth-1&state={state}")).await;
    assert_eq!(body["platform"], "tiktok_business", "{body}");
    assert_eq!(body["handle"], "Acme Marketing");
    assert_eq!(body["sandbox"], false);
    let sa = body["socialAccountId"].as_str().unwrap();

    // the advertiser, read with the token
    Mock::given(method("GET"))
        .and(path(tb("advertiser/info/")))
        .and(query_param("advertiser_ids", format!("[\"{ADVERTISER}\"]")))
        .and(header("access-token", TTB_TOKEN))
        .respond_with(tt_ok(json!({ "list": [{
            "name": "Acme TT", "currency": "USD", "timezone": "America/Los_Angeles",
            "status": "STATUS_ENABLE"
        }] })))
        .expect(1)
        .mount(&fake)
        .await;
    let res = link(
        &app,
        &key,
        &project,
        &json!({ "platform": "tiktok", "externalId": ADVERTISER, "socialAccountId": sa }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let account: Value = res.json().await.unwrap();
    assert_eq!(account["platform"], "tiktok");
    assert_eq!(account["externalId"], ADVERTISER);
    assert_eq!(account["name"], "Acme TT");
    assert_eq!(account["currency"], "USD");
    assert_eq!(account["timezone"], "America/Los_Angeles");
    let account = account["id"].as_str().unwrap();

    // a campaign: campaign, ad group, the image uploaded from its URL, the ad
    let step = |at: &str, data: Value| {
        Mock::given(method("POST"))
            .and(path(tb(at)))
            .and(header("access-token", TTB_TOKEN))
            .and(body_partial_json(json!({ "advertiser_id": ADVERTISER })))
            .respond_with(tt_ok(data))
            .expect(1)
    };
    step(
        "campaign/create/",
        json!({ "campaign_id": "1800000000001" }),
    )
    .mount(&fake)
    .await;
    step("adgroup/create/", json!({ "adgroup_id": "1810000000001" }))
        .mount(&fake)
        .await;
    step(
        "file/image/ad/upload/",
        json!({ "image_id": "ad-image-1", "width": 1080, "height": 1920 }),
    )
    .mount(&fake)
    .await;
    step("ad/create/", json!({ "ad_ids": ["1820000000001"] }))
        .mount(&fake)
        .await;
    let container = live_image(&app, &key, &project).await;
    let before = fake.received_requests().await.unwrap().len();
    let (job, campaign) = campaign_settles(
        &app,
        &key,
        &project,
        &campaign_body(account, &container, "Spring launch"),
    )
    .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(campaign["status"], "active", "{campaign}");
    assert_eq!(campaign["platform"], "tiktok");
    assert_eq!(
        campaign["externalIds"],
        json!({ "campaign": "1800000000001", "adSet": "1810000000001",
                "ads": ["1820000000001"] })
    );
    let requests: Vec<Request> = fake.received_requests().await.unwrap()[before..].to_vec();
    let order: Vec<String> = requests.iter().map(|r| r.url.path().to_owned()).collect();
    assert_eq!(
        order,
        [
            tb("campaign/create/"),
            tb("adgroup/create/"),
            tb("file/image/ad/upload/"),
            tb("ad/create/")
        ]
    );
    let created = json_of(&requests[0]);
    assert_eq!(created["campaign_name"], "Spring launch");
    assert_eq!(created["objective_type"], "APP_PROMOTION");
    let group = json_of(&requests[1]);
    assert_eq!(group["campaign_id"], "1800000000001");
    assert_eq!(group["location_ids"], json!(["US", "CA"]));
    assert_eq!(group["app_download_url"], APP_STORE);
    let upload = json_of(&requests[2]);
    assert_eq!(upload["upload_type"], "UPLOAD_BY_URL");
    let image_url = upload["image_url"].as_str().unwrap();
    assert!(
        image_url.starts_with(&format!("{PUBLIC}/media/")),
        "{image_url}"
    );
    let ad = json_of(&requests[3]);
    assert_eq!(ad["adgroup_id"], "1810000000001");
    assert_eq!(ad["creatives"][0]["image_ids"], json!(["ad-image-1"]));
    assert_eq!(ad["creatives"][0]["ad_format"], "SINGLE_IMAGE");
    assert_eq!(ad["creatives"][0]["landing_page_url"], APP_STORE);

    let created = events(&app, &key, "ads_campaign.created").await;
    assert_eq!(created.len(), 1);
    assert!(created[0].get("meta").is_none());
    assert_eq!(created[0]["data"]["platform"], "tiktok");
    fake.verify().await;
}
