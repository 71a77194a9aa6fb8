//! A partner's whole journey as one test (issue 10, point 4; ads, CONTRACT §13): the same client
//! code runs with a test key, then with a live key against local fakes of Instagram (Graph and
//! the Marketing API) and of the content generator, and every response and webhook envelope must have the same JSON shape (the same
//! keys and value types; values differ, and `null` stands in for any type). The test key's run
//! must not send the platform fake a single request.

use std::time::{Duration, Instant};

use layers_tests::{fake_generator, spawn_app_with, Env, TestApp, TestKey};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const IG_USER: &str = "17841400000000001";
const CONTAINER: &str = "17900000000000001";
const MEDIA: &str = "17950000000000001";
/// The live Meta ad account and the ids its fake hands out.
const AD_ACCOUNT: &str = "act_4242";

/// The consent page: sends the browser straight back to `redirect_uri` with a code and the
/// state, as Facebook Login does once the user agrees.
struct Consent;

impl Respond for Consent {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let mut back = reqwest::Url::parse(&query("redirect_uri")).expect("a redirect_uri");
        back.query_pairs_mut()
            .append_pair("code", "journey-code")
            .append_pair("state", &query("state"));
        ResponseTemplate::new(302).insert_header("location", back.as_str())
    }
}

/// A fake of the Facebook Login consent page and of the Graph API calls a connection, a
/// publication and a metrics sync make.
async fn fake_instagram() -> MockServer {
    let server = MockServer::start().await;
    let ok = |body: Value| ResponseTemplate::new(200).set_body_json(body);
    Mock::given(method("GET"))
        .and(path("/v21.0/dialog/oauth"))
        .respond_with(Consent)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("grant_type", "fb_exchange_token"))
        .respond_with(ok(
            json!({ "access_token": "long-lived", "expires_in": 5_184_000 }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("code", "journey-code"))
        .respond_with(ok(
            json!({ "access_token": "short-lived", "token_type": "bearer" }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/me/accounts"))
        .respond_with(ok(json!({ "data": [{ "instagram_business_account": {
            "id": IG_USER, "username": "journey_brand" } }] })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{IG_USER}/media")))
        .respond_with(ok(json!({ "id": CONTAINER })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{CONTAINER}")))
        .respond_with(ok(json!({ "status_code": "FINISHED", "id": CONTAINER })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{IG_USER}/media_publish")))
        .respond_with(ok(json!({ "id": MEDIA })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{MEDIA}")))
        .respond_with(ok(
            json!({ "id": MEDIA, "permalink": "https://www.instagram.com/p/J0urn3y/" }),
        ))
        .mount(&server)
        .await;
    ads_api(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{MEDIA}/insights")))
        .respond_with(ok(json!({ "data": [
            { "name": "views", "values": [{ "value": 640 }] },
            { "name": "reach", "values": [{ "value": 410 }] },
            { "name": "likes", "values": [{ "value": 22 }] },
            { "name": "comments", "values": [{ "value": 3 }] },
            { "name": "shares", "values": [{ "value": 2 }] },
            { "name": "saved", "values": [{ "value": 4 }] },
        ] })))
        .mount(&server)
        .await;
    server
}

/// The Marketing API calls of linking an ad account and creating a campaign with one image ad.
async fn ads_api(server: &MockServer) {
    let ok = |body: Value| ResponseTemplate::new(200).set_body_json(body);
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{AD_ACCOUNT}")))
        .respond_with(ok(
            json!({ "id": AD_ACCOUNT, "name": "Journey Ads", "currency": "USD",
            "timezone_name": "America/New_York", "account_status": 1 }),
        ))
        .mount(server)
        .await;
    for (object, id) in [
        ("campaigns", "120200000000000001"),
        ("adsets", "120200000000000002"),
        ("adcreatives", "120200000000000003"),
        ("ads", "120200000000000004"),
    ] {
        Mock::given(method("POST"))
            .and(path(format!("/v21.0/{AD_ACCOUNT}/{object}")))
            .respond_with(ok(json!({ "id": id })))
            .mount(server)
            .await;
    }
}

/// A webhook receiver that answers 200 to anything.
async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("^/hooks$"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// A gateway whose public base URL is its own address (so that the platform's redirect reaches
/// its callback), with Instagram and the generator pointed at the fakes.
async fn app(instagram: &MockServer, generator: &MockServer) -> TestApp {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (ig, gen) = (instagram.uri(), generator.uri());
    spawn_app_with(move |s| {
        s.bind = addr;
        s.public_base_url = format!("http://{addr}");
        s.generator_url = Some(gen);
        s.generator_token = Some("gen-token".into());
        let url = |u: &str| layers_platforms::Url::parse(u).unwrap();
        s.platforms.meta = Some(layers_platforms::AppCredentials {
            client_id: "meta-app".into(),
            client_secret: "meta-secret".into(),
        });
        s.platforms.meta_auth_base_url = url(&ig);
        s.platforms.meta_graph_base_url = url(&ig);
        s.platforms.poll_interval = Duration::from_millis(5);
    })
    .await
}

/// What the client saw, step by step.
type Transcript = Vec<(&'static str, Value)>;

async fn ok_json(res: reqwest::Response, status: u16, step: &str) -> Value {
    let got = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "{step}: {body}");
    body
}

/// Polls `path` until `done` holds, for at most ten seconds.
async fn until(app: &TestApp, key: &TestKey, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body = app.get_json(path, key).await;
        if done(&body) {
            return body;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let jobs = app.get_json("/v1/jobs", key).await;
            panic!("{path}: {body}\njobs: {jobs}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The partner's integration, written once: it knows nothing of the environment it runs in
/// beyond its configuration (`ad_account`: the id of the ad account it was given, from the
/// Instagram account it connected).
async fn journey(
    app: &TestApp,
    key: &TestKey,
    hooks: &MockServer,
    ad_account: fn(&str) -> String,
) -> Transcript {
    let mut seen: Transcript = Vec::new();

    let project = ok_json(
        app.post("/v1/projects", key, &json!({ "name": "Journey" }))
            .await,
        201,
        "project",
    )
    .await;
    let project_id = project["id"].as_str().unwrap().to_owned();
    seen.push(("project", project));

    let endpoint = ok_json(
        app.post(
            "/v1/webhook-endpoints",
            key,
            &json!({ "url": format!("{}/hooks", hooks.uri()), "events": ["post.published"] }),
        )
        .await,
        201,
        "webhook endpoint",
    )
    .await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    seen.push(("webhook endpoint", endpoint));

    let generated = ok_json(
        app.post(
            &format!("/v1/projects/{project_id}/content/image"),
            key,
            &json!({ "hook": "Plan your week in one minute" }),
        )
        .await,
        202,
        "generate",
    )
    .await;
    let job = generated["jobId"].as_str().unwrap().to_owned();
    let container = generated["containers"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    seen.push(("generate", generated));
    let job = app.job_settles(key, &job).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    seen.push(("generation job", job));
    let content = app.get_json(&format!("/v1/content/{container}"), key).await;
    assert_eq!(content["status"], "completed", "{content}");
    seen.push(("content", content));

    // connect Instagram: follow the URL as a browser would
    let minted = ok_json(
        app.post(
            &format!("/v1/projects/{project_id}/social/oauth-url"),
            key,
            &json!({ "platform": "instagram", "ads": true }),
        )
        .await,
        200,
        "oauth-url",
    )
    .await;
    let url = minted["url"].as_str().unwrap().to_owned();
    seen.push(("oauth-url", minted));
    let connected = ok_json(app.http.get(url).send().await.unwrap(), 200, "connection").await;
    let account = connected["socialAccountId"].as_str().unwrap().to_owned();
    seen.push(("connection", connected));
    let accounts = app
        .get_json(&format!("/v1/projects/{project_id}/social/accounts"), key)
        .await;
    seen.push(("accounts", accounts));

    let started = ok_json(
        app.post(
            &format!("/v1/content/{container}/publish"),
            key,
            &json!({ "targets": [{ "socialAccountId": account, "caption": "New week" }] }),
        )
        .await,
        202,
        "publish",
    )
    .await;
    let post_id = started["scheduledPostId"].as_str().unwrap().to_owned();
    let publish_job = started["jobId"].as_str().unwrap().to_owned();
    seen.push(("publish", started));
    let job = app.job_settles(key, &publish_job).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    seen.push(("publish job", job));
    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), key)
        .await;
    assert_eq!(post["status"], "published", "{post}");
    let external_id = post["targets"][0]["externalId"]
        .as_str()
        .unwrap()
        .to_owned();
    seen.push(("scheduled post", post));

    // the webhook, verified as a partner would (a Standard Webhooks library)
    let delivery = {
        let started = Instant::now();
        loop {
            let got = hooks.received_requests().await.unwrap_or_default();
            if let Some(request) = got.into_iter().next() {
                break request;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no webhook arrived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&delivery.body, &delivery.headers)
        .expect("the delivery's signature verifies");
    let envelope: Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(envelope["type"], "post.published");
    assert_eq!(envelope["data"]["externalId"], external_id.as_str());
    seen.push(("webhook", envelope));

    // metrics: poll until today's numbers have landed (at once in the sandbox, after the first
    // sync live)
    let metrics_path = format!("/v1/projects/{project_id}/metrics?postIds={external_id}");
    let metrics = until(app, key, &metrics_path, |m| {
        m["data"][0]["series"]
            .as_array()
            .and_then(|s| s.last())
            .is_some_and(|d| d["views"].as_u64() > Some(0))
    })
    .await;
    seen.push(("metrics", metrics));
    let summary = app
        .get_json(&format!("/v1/projects/{project_id}/metrics/summary"), key)
        .await;
    assert_eq!(summary["posts"], 1, "{summary}");
    seen.push(("summary", summary));
    ads(
        app,
        key,
        &project_id,
        &account,
        &container,
        ad_account(&account),
        &mut seen,
    )
    .await;
    seen
}

/// The ads part of the journey: link the ad account, create a campaign on the content, wait for
/// it, read its metrics.
async fn ads(
    app: &TestApp,
    key: &TestKey,
    project: &str,
    account: &str,
    container: &str,
    external_id: String,
    seen: &mut Transcript,
) {
    let linked = ok_json(
        app.post(
            &format!("/v1/projects/{project}/ads/accounts"),
            key,
            &json!({ "platform": "meta", "externalId": external_id, "socialAccountId": account }),
        )
        .await,
        201,
        "ad account",
    )
    .await;
    let ad_account = linked["id"].as_str().unwrap().to_owned();
    seen.push(("ad account", linked));
    let body = json!({
        "adAccountId": ad_account, "name": "Journey launch", "objective": "app_installs",
        "dailyBudget": { "amount": 5000, "currency": "USD" }, "startAt": "2026-01-01T00:00:00Z",
        "targeting": { "countries": ["US"], "ageMin": 18 },
        "creatives": [{ "containerId": container, "headline": "Plan less" }],
        "appStoreUrl": "https://apps.apple.com/us/app/journey/id1234567890",
    });
    let started = ok_json(
        app.post(&format!("/v1/projects/{project}/ads/campaigns"), key, &body)
            .await,
        202,
        "campaign",
    )
    .await;
    let job = started["jobId"].as_str().unwrap().to_owned();
    let campaign_id = started["campaignId"].as_str().unwrap().to_owned();
    seen.push(("campaign", started));
    let job = app.job_settles(key, &job).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    seen.push(("campaign job", job));
    let campaign = app
        .get_json(&format!("/v1/ads/campaigns/{campaign_id}"), key)
        .await;
    assert_eq!(campaign["status"], "active", "{campaign}");
    seen.push(("active campaign", campaign));
    let metrics = app
        .get_json(
            &format!("/v1/projects/{project}/ads/metrics?campaignIds={campaign_id}"),
            key,
        )
        .await;
    assert_eq!(metrics["data"][0]["series"].as_array().unwrap().len(), 28);
    seen.push(("ad metrics", metrics));
}

/// Where two values differ in shape: keys, or value types (`null` matches any type; an array's
/// items are all held against the other's first item).
fn shape_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Object(x), Value::Object(y)) => {
            let mut xk: Vec<&String> = x.keys().collect();
            let mut yk: Vec<&String> = y.keys().collect();
            xk.sort();
            yk.sort();
            if xk != yk {
                return Some(format!("{at}: keys {xk:?} against {yk:?}"));
            }
            x.iter()
                .find_map(|(k, v)| shape_difference(v, &y[k], &format!("{at}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) => match (x.first(), y.first()) {
            (Some(x0), Some(y0)) => x
                .iter()
                .enumerate()
                .find_map(|(i, v)| shape_difference(v, y0, &format!("{at}[{i}]")))
                .or_else(|| {
                    y.iter()
                        .enumerate()
                        .find_map(|(i, v)| shape_difference(x0, v, &format!("{at}[{i}]")))
                }),
            _ => None,
        },
        (Value::Bool(_), Value::Bool(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_)) => None,
        _ => Some(format!("{at}: {a} against {b}")),
    }
}

#[tokio::test]
async fn the_same_client_code_runs_against_a_test_key_and_a_live_key_with_the_same_shapes() {
    let instagram = fake_instagram().await;
    let generator = fake_generator(200).await;
    let app = app(&instagram, &generator).await;

    // the test key: no platform, no generator, no credits needed
    let sandbox_key = app.partner_key(Env::Sandbox).await;
    let sandbox_hooks = receiver().await;
    let sandbox = journey(&app, &sandbox_key, &sandbox_hooks, |sa| {
        format!("sb_act_{sa}")
    })
    .await;
    assert_eq!(
        instagram.received_requests().await.unwrap().len(),
        0,
        "a test key reached the platform"
    );
    assert_eq!(generator.received_requests().await.unwrap().len(), 0);

    // the live key, against the fakes
    let live_key = app.partner_key(Env::Live).await;
    layers_credits::grant(&app.client().await, live_key.org, 100, "journey")
        .await
        .unwrap();
    let live_hooks = receiver().await;
    let live = journey(&app, &live_key, &live_hooks, |_| AD_ACCOUNT.to_owned()).await;
    assert!(!instagram.received_requests().await.unwrap().is_empty());

    // the environments tell themselves apart only where the contract says
    let find = |t: &Transcript, step: &str| t.iter().find(|(s, _)| *s == step).unwrap().1.clone();
    assert_eq!(find(&sandbox, "webhook")["meta"]["sandbox"], true);
    assert!(find(&live, "webhook").get("meta").is_none());
    assert_eq!(find(&sandbox, "connection")["sandbox"], true);
    assert_eq!(find(&live, "connection")["sandbox"], false);
    assert_eq!(find(&live, "connection")["handle"], "journey_brand");
    let live_target = &find(&live, "scheduled post")["targets"][0];
    assert_eq!(live_target["externalId"], MEDIA);
    assert_eq!(
        live_target["externalUrl"],
        "https://www.instagram.com/p/J0urn3y/"
    );
    let live_today = find(&live, "metrics")["data"][0]["series"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(live_today["views"], 640);
    assert_eq!(live_today["posts_published"], 1);
    assert_eq!(find(&sandbox, "ad account")["name"], "Sandbox ad account");
    assert_eq!(find(&live, "ad account")["timezone"], "America/New_York");
    let sandbox_ids = &find(&sandbox, "active campaign")["externalIds"];
    assert!(sandbox_ids["campaign"]
        .as_str()
        .unwrap()
        .starts_with("sb_cmp_cmp_"));
    assert_eq!(
        find(&live, "active campaign")["externalIds"]["campaign"],
        "120200000000000001"
    );
    assert_eq!(
        find(&live, "active campaign")["externalIds"]["ads"],
        json!(["120200000000000004"])
    );
    assert_eq!(find(&sandbox, "campaign")["status"], "succeeded");
    assert_eq!(find(&live, "campaign")["status"], "queued");

    assert_eq!(sandbox.len(), live.len());
    for ((step, a), (_, b)) in sandbox.iter().zip(&live) {
        let (mut a, b) = (a.clone(), b.clone());
        if *step == "webhook" {
            // live deliveries omit `meta` (CONTRACT §10)
            a.as_object_mut().unwrap().remove("meta");
        }
        if let Some(difference) = shape_difference(&a, &b, step) {
            panic!("{difference}\nsandbox: {a}\nlive: {b}");
        }
    }
}
