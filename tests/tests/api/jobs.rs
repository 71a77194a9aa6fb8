//! Jobs, credits and ingest over HTTP: the first domain whose live and sandbox behaviour differ.
//! Live adapters run against local fakes (wiremock); sandbox runs are checked to reach none.

use std::time::{Duration, Instant};

use layers_tests::{assert_error, spawn_app, spawn_app_with, Env, TestApp, TestKey};
use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A partner organization with `credits`, and a key of `env` on it.
async fn funded_key(app: &TestApp, env: Env, credits: i64) -> TestKey {
    let key = app.partner_key(env).await;
    if credits > 0 {
        layers_credits::grant(&app.client().await, key.org, credits, "test")
            .await
            .unwrap();
    }
    key
}

async fn ingest(
    app: &TestApp,
    key: &TestKey,
    project: &str,
    what: &str,
    body: Value,
) -> reqwest::Response {
    app.post(&format!("/v1/projects/{project}/ingest/{what}"), key, &body)
        .await
}

/// Polls a job until it is terminal, for at most five seconds.
async fn settled(app: &TestApp, key: &TestKey, job: &str) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let body = app.get_json(&format!("/v1/jobs/{job}"), key).await;
        if matches!(
            body["status"].as_str(),
            Some("succeeded" | "failed" | "canceled")
        ) {
            return (body, started.elapsed());
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{body}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn credits(app: &TestApp, key: &TestKey) -> Value {
    app.get_json("/v1/credits", key).await
}

/// A fake App Store lookup API that knows one app.
async fn fake_appstore() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/lookup"))
        .and(query_param("bundleId", "com.example.known"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "resultCount": 1,
            "results": [{ "trackName": "Known App", "description": "It is known.",
                          "bundleId": "com.example.known", "trackId": 42,
                          "sellerName": "Known Inc" }]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/lookup"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "resultCount": 0, "results": [] })),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_sandbox_ingest_is_done_in_its_202_and_only_audits_its_cost() {
    let app = spawn_app().await;
    let key = funded_key(&app, Env::Sandbox, 100).await;
    let project = app.project_id(&key, "Sandboxed").await;
    let res = ingest(
        &app,
        &key,
        &project,
        "appstore",
        json!({ "iosBundleId": "com.example.doesnotexist" }),
    )
    .await;
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    // the request did the sandbox's work: the job is written done, no worker runs it
    assert_eq!(started["status"], "succeeded");
    assert_eq!(started["kind"], "ingest_appstore");
    assert_eq!(started["projectId"], project.as_str());
    let job = started["jobId"].as_str().unwrap();
    assert!(job.starts_with("job_"));

    let (done, took) = settled(&app, &key, job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(done["result"]["source"], "appstore");
    assert_eq!(done["result"]["facts"]["name"], "Doesnotexist (sandbox)");
    assert_eq!(done["error"], Value::Null);
    assert!(done["finishedAt"].is_string());

    let wallet = credits(&app, &key).await;
    assert_eq!(wallet["balance"], 100);
    assert_eq!(wallet["monthToDate"], json!({ "charged": 0, "skipped": 2 }));
    let audit = app.get_json("/v1/credits/audit?sandbox=true", &key).await;
    let row = &audit["data"][0];
    assert_eq!(row["action"], "credit.skipped");
    assert_eq!(row["cost"], 2);
    assert_eq!(row["sandbox"], true);
    assert_eq!(row["jobId"], job);
    assert_eq!(row["projectId"], project.as_str());
    assert_eq!(row["apiKeyId"], key.api_key_id.to_string());
    let ledger = app.get_json("/v1/credits/ledger", &key).await;
    assert_eq!(
        ledger["data"].as_array().unwrap().len(),
        1,
        "only the grant: {ledger}"
    );
}

#[tokio::test]
async fn a_long_sandbox_loop_leaves_the_balance_alone_and_the_audit_sums_to_the_forecast() {
    let app = spawn_app().await;
    let key = funded_key(&app, Env::Sandbox, 5).await;
    let project = app.project_id(&key, "Loop").await;
    let mut forecast = 0;
    for i in 0..15 {
        let (what, body, cost) = match i % 3 {
            0 => (
                "appstore",
                json!({ "iosBundleId": format!("com.example.app{i}") }),
                2,
            ),
            1 => (
                "github",
                json!({ "repository": format!("octo/repo-{i}") }),
                10,
            ),
            _ => (
                "website",
                json!({ "url": format!("https://example.com/{i}") }),
                2,
            ),
        };
        assert_eq!(ingest(&app, &key, &project, what, body).await.status(), 202);
        forecast += cost;
    }
    let wallet = credits(&app, &key).await;
    assert_eq!(
        wallet["balance"], 5,
        "more than the balance ran, none charged"
    );
    assert_eq!(wallet["monthToDate"]["skipped"], forecast);
    assert_eq!(wallet["monthToDate"]["charged"], 0);
}

#[tokio::test]
async fn live_ingest_charges_calls_the_store_and_refunds_a_failure() {
    let store = fake_appstore().await;
    let app = spawn_app_with(|s| s.appstore_base_url = store.uri()).await;
    let key = funded_key(&app, Env::Live, 10).await;
    let project = app.project_id(&key, "Live").await;

    let started: Value = ingest(
        &app,
        &key,
        &project,
        "appstore",
        json!({ "iosBundleId": "com.example.known" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let (done, _) = settled(&app, &key, started["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["facts"]["name"], "Known App");
    assert_eq!(credits(&app, &key).await["balance"], 8);

    // an app the store does not know: the job fails with a clear error and is refunded
    let started: Value = ingest(
        &app,
        &key,
        &project,
        "appstore",
        json!({ "iosBundleId": "com.example.unknown" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let (done, _) = settled(&app, &key, started["jobId"].as_str().unwrap()).await;
    assert_eq!(done["status"], "failed");
    let message = done["error"]["message"].as_str().unwrap();
    assert!(message.contains("com.example.unknown"), "{message}");
    let wallet = credits(&app, &key).await;
    assert_eq!(wallet["balance"], 8);
    assert_eq!(wallet["monthToDate"]["charged"], 2);
    let audit = app.get_json("/v1/credits/audit?sandbox=false", &key).await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "credit.refunded",
            "credit.charged",
            "credit.charged",
            "credit.granted"
        ]
    );
}

#[tokio::test]
async fn too_little_credit_is_402_and_writes_nothing() {
    let store = fake_appstore().await;
    let app = spawn_app_with(|s| s.appstore_base_url = store.uri()).await;
    let key = funded_key(&app, Env::Live, 1).await;
    let project = app.project_id(&key, "Poor").await;
    let send = || {
        app.request(
            Method::POST,
            &format!("/v1/projects/{project}/ingest/appstore"),
            Some(&key),
        )
        .header("Idempotency-Key", "poor-1")
        .json(&json!({ "iosBundleId": "com.example.known" }))
        .send()
    };
    let error = assert_error(send().await.unwrap(), 402, "BILLING_EXHAUSTED").await;
    assert_eq!(error["details"], json!({ "required": 2, "balance": 1 }));
    // the refusal is stored like any client error: a retry replays it
    let again = send().await.unwrap();
    assert_eq!(again.status(), 402);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM credit_ledger WHERE delta < 0")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM credit_audit WHERE action = 'credit.charged'")
            .await,
        0
    );
    assert_eq!(credits(&app, &key).await["balance"], 1);
    assert!(store.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_cancel_while_queued_makes_no_outbound_call_and_refunds() {
    let store = fake_appstore().await;
    // no worker in this process: the job stays queued until the cancel
    let app = spawn_app_with(|s| {
        s.appstore_base_url = store.uri();
        s.job_concurrency = 0;
    })
    .await;
    let key = funded_key(&app, Env::Live, 10).await;
    let project = app.project_id(&key, "Cancel").await;
    let started: Value = ingest(
        &app,
        &key,
        &project,
        "appstore",
        json!({ "iosBundleId": "com.example.known" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let job = started["jobId"].as_str().unwrap();
    assert_eq!(credits(&app, &key).await["balance"], 8);
    let res = app
        .post_empty(&format!("/v1/jobs/{job}/cancel"), &key)
        .await;
    assert_eq!(res.status(), 200);
    let canceled: Value = res.json().await.unwrap();
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(credits(&app, &key).await["balance"], 10, "refunded");
    // a second cancel: already terminal
    let error = assert_error(
        app.post_empty(&format!("/v1/jobs/{job}/cancel"), &key)
            .await,
        409,
        "CONFLICT",
    )
    .await;
    assert_eq!(error["reason"], "already_terminal");
    // a worker that starts later does not run it
    let mut settings = layers_tests::test_settings(&app.db);
    settings.appstore_base_url = store.uri();
    let _worker = layers_tests::start(settings).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(store.received_requests().await.unwrap().is_empty());
    assert_eq!(
        app.get_json(&format!("/v1/jobs/{job}"), &key).await["status"],
        "canceled"
    );
}

#[tokio::test]
async fn jobs_are_separate_worlds_and_listed_with_filters() {
    let app = spawn_app().await;
    let org = app.org(layers_orgs::Plan::Partner).await;
    let live = app
        .key_with(org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let test = app
        .key_with(org, Env::Sandbox, "*", layers_keys::Tier::Standard)
        .await;
    let project = app.project_id(&test, "Mine").await;
    let started: Value = ingest(
        &app,
        &test,
        &project,
        "github",
        json!({ "repository": "octo/cat" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let job = started["jobId"].as_str().unwrap();
    settled(&app, &test, job).await;

    let error = assert_error(
        app.get(&format!("/v1/jobs/{job}"), &live).await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("exists in sandbox"));
    assert_error(
        app.post_empty(&format!("/v1/jobs/{job}/cancel"), &live)
            .await,
        422,
        "ENVIRONMENT_MISMATCH",
    )
    .await;
    assert!(app.get_json("/v1/jobs", &live).await["data"]
        .as_array()
        .unwrap()
        .is_empty());
    // a live key may not start work under a sandbox project
    let res = ingest(
        &app,
        &live,
        &project,
        "github",
        json!({ "repository": "octo/cat" }),
    )
    .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;

    let listed = app
        .get_json(
            &format!("/v1/jobs?projectId={project}&status=succeeded&kind=ingest_github"),
            &test,
        )
        .await;
    assert_eq!(listed["data"][0]["id"], job);
    let none = app.get_json("/v1/jobs?status=failed", &test).await;
    assert!(none["data"].as_array().unwrap().is_empty());
    let error = assert_error(
        app.get("/v1/jobs?status=done", &test).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(error["details"]["field"], "status");
    // a NUL in `kind` is the client's mistake (PostgreSQL cannot compare such text), not a 500
    let error = assert_error(
        app.get("/v1/jobs?kind=a%00b", &test).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(error["details"]["field"], "kind");
}

#[tokio::test]
async fn bad_ingest_input_is_400_naming_the_field() {
    let app = spawn_app().await;
    let key = funded_key(&app, Env::Sandbox, 0).await;
    let project = app.project_id(&key, "Inputs").await;
    for (what, body, field) in [
        ("appstore", json!({}), "iosBundleId"),
        (
            "appstore",
            json!({ "iosBundleId": "a.b", "appStoreUrl": "https://apps.apple.com/id1" }),
            "iosBundleId",
        ),
        (
            "appstore",
            json!({ "appStoreUrl": "https://evil.example/id1" }),
            "appStoreUrl",
        ),
        ("github", json!({ "repository": "nope" }), "repository"),
        ("website", json!({ "url": "ftp://example.com" }), "url"),
    ] {
        let error = assert_error(
            ingest(&app, &key, &project, what, body).await,
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["details"]["field"], field);
    }
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 0);
}

#[tokio::test]
async fn a_literal_private_address_is_refused_at_once_when_private_networks_are_not_allowed() {
    let app = spawn_app_with(|s| s.allow_private_network = false).await;
    let key = funded_key(&app, Env::Live, 10).await;
    let project = app.project_id(&key, "Guarded").await;
    for url in [
        "http://127.0.0.1:9/",
        "http://169.254.169.254/latest",
        "http://169.254.1.1/",
        "http://192.0.2.10/",
        "http://[::ffff:0:7f00:1]/",
        "http://[2001::1]/",
        "http://[::1]/",
    ] {
        let error = assert_error(
            ingest(&app, &key, &project, "website", json!({ "url": url })).await,
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["details"]["field"], "url");
    }
    assert_eq!(credits(&app, &key).await["balance"], 10);
}

/// No request made with a test key reaches an adapter: every platform points at one counting
/// server, every sandbox route of ingest runs, and the server sees nothing.
#[tokio::test]
async fn no_test_key_reaches_an_adapter() {
    let counter = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "resultCount": 0 })))
        .mount(&counter)
        .await;
    let app = spawn_app_with(|s| {
        s.appstore_base_url = counter.uri();
        s.github_base_url = counter.uri();
    })
    .await;
    let key = funded_key(&app, Env::Sandbox, 0).await;
    let project = app.project_id(&key, "Counted").await;
    let mut jobs = Vec::new();
    for (what, body) in [
        ("appstore", json!({ "iosBundleId": "com.example.app" })),
        (
            "appstore",
            json!({ "appStoreUrl": "https://apps.apple.com/us/app/x/id1" }),
        ),
        (
            "github",
            json!({ "repository": "octo/cat", "branch": "dev" }),
        ),
        (
            "website",
            json!({ "url": format!("{}/page", counter.uri()) }),
        ),
    ] {
        let started: Value = ingest(&app, &key, &project, what, body)
            .await
            .json()
            .await
            .unwrap();
        jobs.push(started["jobId"].as_str().unwrap().to_owned());
    }
    for job in &jobs {
        assert_eq!(settled(&app, &key, job).await.0["status"], "succeeded");
    }
    // and a canceled one
    let started: Value = ingest(
        &app,
        &key,
        &project,
        "github",
        json!({ "repository": "a/b" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let res = app
        .post_empty(
            &format!("/v1/jobs/{}/cancel", started["jobId"].as_str().unwrap()),
            &key,
        )
        .await;
    assert!([200, 202, 409].contains(&res.status().as_u16()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(counter.received_requests().await.unwrap().is_empty());
}

/// Seed 000's CI recipe, as partners run it today, against both keys: whoami with `X-Api-Key`,
/// a project keyed by `customerExternalId`, an App Store ingest, an immediate cancel (200, 202
/// or 409 all pass), each write with a fresh `Idempotency-Key` and `Content-Type:
/// application/json` even on the cancel that has no body.
#[tokio::test]
async fn seed_000s_ci_recipe_passes_unchanged() {
    let store = fake_appstore().await;
    let app = spawn_app_with(|s| s.appstore_base_url = store.uri()).await;
    for env in [Env::Sandbox, Env::Live] {
        let key = funded_key(&app, env, 10).await;
        let h = |req: reqwest::RequestBuilder| {
            req.header("X-Api-Key", &key.key)
                .header("Content-Type", "application/json")
        };
        let url = |p: &str| format!("{}{p}", app.address);
        let who = h(app.http.get(url("/v1/whoami"))).send().await.unwrap();
        assert_eq!(who.status(), 200);
        let run = format!("ci-{}", uuid::Uuid::new_v4());
        let proj: Value = h(app.http.post(url("/v1/projects")))
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .body(json!({ "name": "ci-smoke", "customerExternalId": run, "timezone": "UTC", "primaryLanguage": "en" }).to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ingest = h(app.http.post(url(&format!(
            "/v1/projects/{}/ingest/appstore",
            proj["id"].as_str().unwrap()
        ))))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .body(json!({ "iosBundleId": "com.example.doesnotexist" }).to_string())
        .send()
        .await
        .unwrap();
        assert_eq!(ingest.status(), 202);
        let job: Value = ingest.json().await.unwrap();
        let cancel = h(app.http.post(url(&format!(
            "/v1/jobs/{}/cancel",
            job["jobId"].as_str().unwrap()
        ))))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .unwrap();
        assert!(
            [200, 202, 409].contains(&cancel.status().as_u16()),
            "{}",
            cancel.status()
        );
    }
}

#[tokio::test]
async fn work_under_an_unknown_archived_or_foreign_project_starts_nothing() {
    let app = spawn_app().await;
    let key = funded_key(&app, Env::Live, 10).await;
    let stranger = funded_key(&app, Env::Live, 10).await;
    let theirs = app.project_id(&stranger, "Theirs").await;
    let body = json!({ "repository": "octo/cat" });
    let unknown = layers_projects::ProjectId::new().to_string();
    for project in [unknown.as_str(), theirs.as_str(), "garbage"] {
        let res = ingest(&app, &key, project, "github", body.clone()).await;
        assert_error(res, 404, "NOT_FOUND").await;
        // with an Idempotency-Key, on connections that never stored an answer: still 404 (the
        // failed job insert aborts the transaction; the stored answer must not need a Parse)
        let keyed = app
            .request(
                Method::POST,
                &format!("/v1/projects/{project}/ingest/github"),
                Some(&key),
            )
            .header("Idempotency-Key", format!("unknown-{project}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(keyed, 404, "NOT_FOUND").await;
    }
    let archived = app.project_id(&key, "Old").await;
    app.post_empty(&format!("/v1/projects/{archived}/archive"), &key)
        .await;
    let error = assert_error(
        ingest(&app, &key, &archived, "github", body.clone()).await,
        409,
        "CONFLICT",
    )
    .await;
    assert_eq!(error["reason"], "project_archived");
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 0);
    assert_eq!(credits(&app, &key).await["balance"], 10);
}

#[tokio::test]
async fn a_page_with_a_huge_title_leaves_a_bounded_job_result() {
    let page = MockServer::start().await;
    let title = "T".repeat(1_900_000);
    Mock::given(method("GET"))
        .and(path("/huge"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/html")
                .set_body_string(format!("<html><head><title>{title}</title></head></html>")),
        )
        .mount(&page)
        .await;
    let app = spawn_app().await;
    let key = funded_key(&app, Env::Live, 10).await;
    let project = app.project_id(&key, "Huge").await;
    let started: Value = ingest(
        &app,
        &key,
        &project,
        "website",
        json!({ "url": format!("{}/huge", page.uri()) }),
    )
    .await
    .json()
    .await
    .unwrap();
    let (job, _) = settled(&app, &key, started["jobId"].as_str().unwrap()).await;
    assert_eq!(job["status"], "succeeded", "{}", &job.to_string()[..200]);
    let name = job["result"]["facts"]["name"].as_str().unwrap();
    assert!(name.len() <= 4 * 1024 + 3, "{}", name.len());
    assert!(job.to_string().len() < 64 * 1024);
    // and so is every list that carries it, and its event
    let listed = app
        .get("/v1/jobs?limit=100", &key)
        .await
        .text()
        .await
        .unwrap();
    assert!(listed.len() < 64 * 1024, "{}", listed.len());
    let events = app
        .get("/v1/events?type=job.succeeded", &key)
        .await
        .text()
        .await
        .unwrap();
    assert!(events.len() < 64 * 1024, "{}", events.len());
}
