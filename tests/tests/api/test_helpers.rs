//! Test helpers over HTTP (CONTRACT §12, `/v1/test_helpers/…`): a live key is answered as a
//! route that does not exist; `fire` delivers any catalogue type, signed, to one endpoint only;
//! `expire` turns an account `needs_reauth` with its event; `exhaust` makes the sandbox gate
//! answer as an empty live wallet; `reset` deletes sandbox data and nothing else.

use std::time::{Duration, Instant};

use layers_tests::{assert_error, spawn_app, spawn_app_with, Env, TestApp, TestKey};
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const HELPERS: [&str; 4] = [
    "/v1/test_helpers/webhook-endpoints/wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f/fire",
    "/v1/test_helpers/social/accounts/sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f/expire",
    "/v1/test_helpers/credits/exhaust",
    "/v1/test_helpers/reset",
];

/// The event types of CONTRACT §10.
const CATALOGUE: [&str; 13] = [
    "test.ping",
    "job.succeeded",
    "job.failed",
    "job.canceled",
    "content.completed",
    "content.failed",
    "social_account.connected",
    "social_account.disconnected",
    "social_account.needs_reauth",
    "post.published",
    "post.failed",
    "test_helpers.test_clock.advancing",
    "test_helpers.test_clock.ready",
];

/// A receiver that answers every POST 200.
async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// Waits until the receiver has `n` requests, for at most ten seconds.
async fn received(server: &MockServer, n: usize) -> Vec<Request> {
    let started = Instant::now();
    loop {
        let requests = server.received_requests().await.unwrap();
        if requests.len() >= n {
            return requests;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "received {} of {n} deliveries",
            requests.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What every Standard Webhooks library checks.
fn standard_signature_verifies(request: &Request, secret: &str) -> bool {
    standardwebhooks::Webhook::new(secret)
        .expect("a Standard Webhooks secret")
        .verify(&request.body, &request.headers)
        .is_ok()
}

async fn endpoint(app: &TestApp, key: &TestKey, url: &str, events: Value) -> (String, String) {
    let res = app
        .post(
            "/v1/webhook-endpoints",
            key,
            &json!({ "url": url, "events": events }),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let body: Value = res.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

/// Input as error messages quote it: at most 64 characters, then `…`.
fn quoted(s: &str) -> String {
    match s.char_indices().nth(64) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

fn uuid_of(id: &str) -> String {
    id.split_once('_').unwrap().1.to_owned()
}

#[tokio::test]
async fn a_live_key_gets_404_from_every_helper_exactly_as_from_an_unknown_route() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let unknown = app
        .post("/v1/test_helpers/nothing-here", &key, &json!({}))
        .await;
    let unknown = assert_error(unknown, 404, "NOT_FOUND").await;
    assert_eq!(
        unknown["message"],
        "no route for POST /v1/test_helpers/nothing-here"
    );
    let shape: Vec<&String> = unknown.as_object().unwrap().keys().collect();
    let bodies = [
        json!({ "type": "test.ping" }),
        json!({}),
        json!({ "enabled": true }),
        json!({}),
    ];
    for (path, body) in HELPERS.iter().zip(bodies) {
        let res = app.post(path, &key, &body).await;
        let error = assert_error(res, 404, "NOT_FOUND").await;
        assert_eq!(
            error["message"],
            format!("no route for POST {}", quoted(path))
        );
        let keys: Vec<&String> = error.as_object().unwrap().keys().collect();
        assert_eq!(keys, shape, "{error}");
        // even a body the helper would refuse: the route does not exist for a live key
        let res = app.post(path, &key, &json!({ "bogus": 1 })).await;
        assert_error(res, 404, "NOT_FOUND").await;
    }
    // and nothing was switched on
    assert_eq!(
        app.count("SELECT count(*) FROM sandbox_credit_exhaustion")
            .await,
        0
    );
}

#[tokio::test]
async fn fire_delivers_any_type_signed_to_that_endpoint_only() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let (a_server, b_server) = (receiver().await, receiver().await);
    // `a` subscribes to nothing it is fired: the helper ignores subscriptions
    let (a, secret) = endpoint(&app, &key, &a_server.uri(), json!(["job.failed"])).await;
    let (_b, _) = endpoint(&app, &key, &b_server.uri(), json!(["*"])).await;
    let fire = format!("/v1/test_helpers/webhook-endpoints/{a}/fire");
    let events = format!(
        "SELECT count(*) FROM events WHERE organization_id = '{}'",
        key.org.as_uuid()
    );

    let res = app
        .post(&fire, &key, &json!({ "type": "post.exploded" }))
        .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "type");
    let message = error["message"].as_str().unwrap();
    for t in CATALOGUE {
        assert!(message.contains(t), "{message}");
    }
    let res = app
        .post(&fire, &key, &json!({ "type": "job.failed", "data": [1] }))
        .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(app.count(&events).await, 0, "a refused fire writes nothing");

    // without data: a valid example of the type
    let res = app
        .post(&fire, &key, &json!({ "type": "post.failed" }))
        .await;
    assert_eq!(res.status(), 202);
    let first: Value = res.json().await.unwrap();
    let first_id = first["eventId"].as_str().unwrap();
    assert!(first_id.starts_with("evt_"));
    // with data: exactly that data
    let res = app
        .post(
            &fire,
            &key,
            &json!({ "type": "job.succeeded", "data": { "hello": "world" } }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let second: Value = res.json().await.unwrap();

    let requests = received(&a_server, 2).await;
    let mut bodies = Vec::new();
    for r in &requests {
        assert!(standard_signature_verifies(r, &secret));
        bodies.push(serde_json::from_slice::<Value>(&r.body).unwrap());
    }
    bodies.sort_by_key(|b| b["id"].as_str().unwrap().to_owned());
    assert_eq!(bodies[0]["id"], first["eventId"]);
    assert_eq!(bodies[0]["type"], "post.failed");
    assert_eq!(bodies[0]["meta"], json!({ "sandbox": true }));
    assert!(
        bodies[0]["data"]["scheduledPostId"].is_string(),
        "{}",
        bodies[0]
    );
    assert_eq!(bodies[0]["data"]["error"]["code"], "platform_rejected");
    assert_eq!(bodies[1]["id"], second["eventId"]);
    assert_eq!(bodies[1]["type"], "job.succeeded");
    assert_eq!(bodies[1]["data"], json!({ "hello": "world" }));

    // logged like any event, and to no other endpoint
    let logged = app.get_json(&format!("/v1/events/{first_id}"), &key).await;
    assert_eq!(logged["type"], "post.failed");
    let deliveries = app
        .get_json(&format!("/v1/webhook-endpoints/{a}/deliveries"), &key)
        .await;
    assert_eq!(deliveries["data"].as_array().unwrap().len(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b_server.received_requests().await.unwrap().is_empty());

    // every type of the catalogue can be fired with its example
    for t in CATALOGUE {
        let res = app.post(&fire, &key, &json!({ "type": t })).await;
        assert_eq!(res.status(), 202, "{t}");
    }

    // another organization's endpoint, and a live one of the same organization: 404
    let stranger = app.partner_key(Env::Sandbox).await;
    let res = app
        .post(&fire, &stranger, &json!({ "type": "test.ping" }))
        .await;
    assert_error(res, 404, "NOT_FOUND").await;
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let (live_endpoint, _) = endpoint(&app, &live, "https://example.com/hooks", json!(["*"])).await;
    let res = app
        .post(
            &format!("/v1/test_helpers/webhook-endpoints/{live_endpoint}/fire"),
            &key,
            &json!({ "type": "test.ping" }),
        )
        .await;
    assert_error(res, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn expire_marks_the_account_needs_reauth_with_its_event() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Expiring").await;
    let account = app.connect_sandbox(&key, &project, "instagram").await;
    let expire = format!("/v1/test_helpers/social/accounts/{account}/expire");

    let stranger = app.partner_key(Env::Sandbox).await;
    let res = app.post_empty(&expire, &stranger).await;
    assert_error(res, 404, "NOT_FOUND").await;
    let res = app
        .post_empty(
            "/v1/test_helpers/social/accounts/sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f/expire",
            &key,
        )
        .await;
    assert_error(res, 404, "NOT_FOUND").await;

    let res = app.post_empty(&expire, &key).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["id"], account.as_str());
    assert_eq!(body["status"], "needs_reauth");
    assert_eq!(body["platform"], "instagram");
    let listed = app
        .get_json(&format!("/v1/projects/{project}/social/accounts"), &key)
        .await;
    assert_eq!(listed["data"][0], body, "the same body as the list's items");
    let events = app
        .get_json("/v1/events?type=social_account.needs_reauth", &key)
        .await;
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["socialAccountId"], account.as_str());
    assert_eq!(events[0]["data"]["projectId"], project.as_str());

    // again: the account as it is, no second event
    let res = app.post_empty(&expire, &key).await;
    assert_eq!(res.status(), 200);
    let events = app
        .get_json("/v1/events?type=social_account.needs_reauth", &key)
        .await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn exhaust_makes_the_sandbox_gate_answer_as_an_empty_live_wallet() {
    let generator = layers_tests::fake_generator(200).await;
    let url = generator.uri();
    let app = spawn_app_with(move |s| {
        s.generator_url = Some(url);
        s.generator_token = Some("gen-token".into());
    })
    .await;
    let key = app.partner_key(Env::Sandbox).await;
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    layers_credits::grant(&app.client().await, key.org, 10, "test")
        .await
        .unwrap();
    let project = app.project_id(&key, "Exhausted").await;
    let live_project = app.project_id(&live, "Live").await;
    let body = json!({ "format": "image", "variantCount": 2, "hook": "Hook" });
    let audit = format!(
        "SELECT count(*) FROM credit_audit WHERE organization_id = '{}'",
        key.org.as_uuid()
    );

    let res = app
        .post(
            "/v1/test_helpers/credits/exhaust",
            &key,
            &json!({ "enabled": true }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "enabled": true })
    );
    let before = app.count(&audit).await;
    let res = app
        .post(&format!("/v1/projects/{project}/content"), &key, &body)
        .await;
    let error = assert_error(res, 402, "BILLING_EXHAUSTED").await;
    assert_eq!(error["details"], json!({ "required": 2, "balance": 0 }));
    assert_eq!(app.count(&audit).await, before, "nothing written");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM content_containers WHERE project_id = '{}'",
            uuid_of(&project)
        ))
        .await,
        0
    );

    // live is unaffected: it charges the wallet
    let res = app
        .post(
            &format!("/v1/projects/{live_project}/content"),
            &live,
            &body,
        )
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    assert_eq!(app.get_json("/v1/credits", &live).await["balance"], 8);

    // disabled: the sandbox passes again
    let res = app
        .post(
            "/v1/test_helpers/credits/exhaust",
            &key,
            &json!({ "enabled": false }),
        )
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "enabled": false })
    );
    let res = app
        .post(&format!("/v1/projects/{project}/content"), &key, &body)
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(app.get_json("/v1/credits", &live).await["balance"], 8);
}

/// Sandbox data in a project: content (a job with its events), an upload session, an account
/// (with the ads consent), a published post, an ad account and a campaign. Answers the
/// container's id.
async fn fill(app: &TestApp, key: &TestKey, project: &str) -> String {
    let res = app
        .post(
            &format!("/v1/projects/{project}/content"),
            key,
            &json!({ "format": "image", "variantCount": 2, "hook": "Hook" }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    let container = started["containers"][0]["id"].as_str().unwrap().to_owned();
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/uploads"),
            key,
            &json!({ "files": [{ "filename": "b.png", "contentType": "image/png", "sizeBytes": 10 }] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let account = super::ads::connect(
        app,
        key,
        project,
        json!({ "platform": "instagram", "ads": true }),
    )
    .await;
    let res = app
        .post(
            &format!("/v1/content/{container}/publish"),
            key,
            &json!({ "targets": [{ "socialAccountId": account }] }),
        )
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let res = app
        .post(
            &format!("/v1/projects/{project}/ads/accounts"),
            key,
            &json!({ "platform": "meta", "externalId": format!("sb_act_{account}"),
                     "socialAccountId": account }),
        )
        .await;
    let ad_account: Value = res.json().await.unwrap();
    let body = super::ads::campaign_body(ad_account["id"].as_str().unwrap(), &container);
    let res = app
        .post(&format!("/v1/projects/{project}/ads/campaigns"), key, &body)
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    container
}

/// The rows a reset must never touch, and the organization's usage counter.
async fn untouchable(app: &TestApp, org: &str) -> Vec<i64> {
    let mut counts = Vec::new();
    for sql in [
        format!("SELECT count(*) FROM projects WHERE organization_id = '{org}' AND NOT is_sandbox"),
        format!("SELECT count(*) FROM jobs WHERE organization_id = '{org}' AND NOT is_sandbox"),
        format!("SELECT count(*) FROM events WHERE organization_id = '{org}' AND NOT is_sandbox"),
        format!("SELECT count(*) FROM webhook_endpoints WHERE organization_id = '{org}' AND NOT is_sandbox"),
        format!("SELECT coalesce(sum(balance), 0)::bigint FROM credit_balances WHERE organization_id = '{org}'"),
        format!("SELECT count(*) FROM credit_audit WHERE organization_id = '{org}'"),
        format!("SELECT count(*) FROM credit_ledger WHERE organization_id = '{org}'"),
        format!("SELECT count(*) FROM organization_usage WHERE organization_id = '{org}'"),
    ] {
        counts.push(app.count(&sql).await);
    }
    counts
}

fn sandbox_count(table: &str, org: &str) -> String {
    format!("SELECT count(*) FROM {table} WHERE organization_id = '{org}' AND is_sandbox")
}

#[tokio::test]
async fn reset_deletes_one_project_or_the_whole_sandbox_and_nothing_else() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let org = key.org.as_uuid().to_string();
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    layers_credits::grant(&app.client().await, key.org, 10, "test")
        .await
        .unwrap();
    app.project_id(&live, "Live").await;
    endpoint(&app, &live, "https://example.com/live", json!(["*"])).await;
    let server = receiver().await;
    endpoint(&app, &key, &server.uri(), json!(["*"])).await;
    let one = app.project_id(&key, "One").await;
    let two = app.project_id(&key, "Two").await;
    let one_container = fill(&app, &key, &one).await;
    fill(&app, &key, &two).await;
    let kept = untouchable(&app, &org).await;
    let usage = format!(
        "SELECT coalesce(sum(calls), 0)::bigint FROM organization_usage WHERE organization_id = '{org}'"
    );

    // another organization's project, and a live one: 404, nothing deleted
    let stranger = app.partner_key(Env::Sandbox).await;
    let sandbox_projects = sandbox_count("projects", &org);
    for (who, project) in [
        (&stranger, one.clone()),
        (&key, app.project_id(&live, "Live 2").await),
    ] {
        let res = app
            .post(
                "/v1/test_helpers/reset",
                who,
                &json!({ "projectId": project }),
            )
            .await;
        assert_error(res, 404, "NOT_FOUND").await;
    }
    assert_eq!(app.count(&sandbox_projects).await, 2);
    let kept = {
        let mut k = kept;
        k[0] += 1; // "Live 2"
        k
    };

    // one project
    let per_project = |table: &str| {
        format!(
            "SELECT count(*) FROM {table} WHERE project_id = '{}'",
            uuid_of(&one)
        )
    };
    let expected_jobs = app.count(&per_project("jobs")).await;
    assert!(expected_jobs >= 2, "generation and publish jobs");
    let usage_before = app.count(&usage).await;
    let res = app
        .post("/v1/test_helpers/reset", &key, &json!({ "projectId": one }))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let deleted = &body["deleted"];
    assert_eq!(deleted["projects"], 1, "{body}");
    assert_eq!(deleted["contents"], 2, "{body}");
    assert_eq!(deleted["uploads"], 1, "{body}");
    assert_eq!(deleted["socialAccounts"], 1, "{body}");
    assert_eq!(deleted["scheduledPosts"], 1, "{body}");
    assert_eq!(deleted["jobs"], expected_jobs, "{body}");
    assert_eq!(deleted["webhookEndpoints"], 0, "{body}");
    assert!(deleted["events"].as_i64().unwrap() >= 4, "{body}");
    for table in [
        "jobs",
        "content_containers",
        "upload_sessions",
        "social_accounts",
        "scheduled_posts",
        "platform_posts",
        "influencers",
        "ad_accounts",
        "ads_campaigns",
    ] {
        assert_eq!(app.count(&per_project(table)).await, 0, "{table}");
    }
    // no event names the project or its containers any more; the other project's remain
    let events = app.get_json("/v1/events?limit=100", &key).await;
    let events = events["data"].as_array().unwrap();
    assert!(events.iter().all(|e| e["data"]["projectId"] != one.as_str()
        && e["data"]["containerId"] != one_container.as_str()));
    assert!(events
        .iter()
        .any(|e| e["data"]["projectId"] == two.as_str()));
    assert_eq!(app.count(&sandbox_projects).await, 1);
    assert_eq!(untouchable(&app, &org).await, kept);
    assert!(
        app.count(&usage).await > usage_before,
        "the quota counter is not reset"
    );

    // the whole sandbox, endpoints and test clocks too
    let res = app
        .post(
            "/v1/test_helpers/test-clocks",
            &key,
            &json!({ "frozenTime": "2026-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let remaining_events = app.count(&sandbox_count("events", &org)).await;
    let remaining_jobs = app.count(&sandbox_count("jobs", &org)).await;
    let res = app
        .post(
            "/v1/test_helpers/reset",
            &key,
            &json!({ "includeWebhookEndpoints": true }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "deleted": {
            "projects": 1, "contents": 2, "uploads": 1, "socialAccounts": 1,
            "scheduledPosts": 1, "jobs": remaining_jobs, "events": remaining_events,
            "webhookEndpoints": 1,
        } })
    );
    for table in [
        "projects",
        "jobs",
        "events",
        "webhook_endpoints",
        "content_containers",
        "upload_sessions",
        "social_accounts",
        "scheduled_posts",
        "ad_accounts",
        "ads_campaigns",
    ] {
        assert_eq!(app.count(&sandbox_count(table, &org)).await, 0, "{table}");
    }
    let clocks = format!("SELECT count(*) FROM test_clocks WHERE organization_id = '{org}'");
    assert_eq!(app.count(&clocks).await, 0, "test clocks");
    assert_eq!(untouchable(&app, &org).await, kept);
    // and a reset of nothing deletes nothing
    let res = app.post("/v1/test_helpers/reset", &key, &json!({})).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["deleted"]["projects"], 0);
}
