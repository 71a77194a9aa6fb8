//! Magic values (CONTRACT §12): with a test key an ordinary field value chooses an unhappy path,
//! answered in the live error shape with its events, and nothing reaches the generator, a store
//! or a platform (every base URL points at a counting server); with a live key the same values
//! are ordinary input.

use std::time::{Duration, Instant};

use layers_platforms::{AppCredentials, Url};
use layers_tests::{assert_error, spawn_app_with, Env, TestApp, TestKey};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A gateway whose generator, App Store, GitHub and platforms are counting servers.
struct Outside {
    app: TestApp,
    /// App Store, GitHub and the platforms.
    fake: MockServer,
    generator: MockServer,
}

impl Outside {
    async fn start() -> Outside {
        let fake = MockServer::start().await;
        let generator = layers_tests::fake_generator(200).await;
        let (f, g) = (fake.uri(), generator.uri());
        let app = spawn_app_with(move |s| {
            s.generator_url = Some(g);
            s.generator_token = Some("gen-token".into());
            s.appstore_base_url = f.clone();
            s.github_base_url = f.clone();
            let base = Url::parse(&f).unwrap();
            s.platforms.meta_graph_base_url = base.clone();
            s.platforms.meta_auth_base_url = base.clone();
            s.platforms.tiktok_api_base_url = base.clone();
            s.platforms.tiktok_auth_base_url = base.clone();
            s.platforms.google_api_base_url = base.clone();
            s.platforms.google_auth_base_url = base;
            s.platforms.meta = Some(AppCredentials {
                client_id: "meta-app-id".into(),
                client_secret: "meta-app-secret".into(),
            });
        })
        .await;
        Outside {
            app,
            fake,
            generator,
        }
    }

    /// Requests that reached the outside so far.
    async fn calls(&self) -> usize {
        self.fake.received_requests().await.unwrap().len()
            + self.generator.received_requests().await.unwrap().len()
    }

    /// A live key with credits, and a project of its own.
    async fn live(&self) -> (TestKey, String) {
        let key = self.app.partner_key(Env::Live).await;
        layers_credits::grant(&self.app.client().await, key.org, 100, "test")
            .await
            .unwrap();
        let project = self.app.project_id(&key, "Live").await;
        (key, project)
    }
}

/// POSTs `body` and answers the 202's body.
async fn started(app: &TestApp, key: &TestKey, path: &str, body: Value) -> Value {
    let res = app.post(path, key, &body).await;
    assert_eq!(res.status(), 202, "{path}");
    res.json().await.unwrap()
}

/// Polls the job until it has ended, for at most `secs` seconds.
async fn ends_within(app: &TestApp, key: &TestKey, job: &str, secs: u64) -> Value {
    let started = Instant::now();
    loop {
        let body = app.get_json(&format!("/v1/jobs/{job}"), key).await;
        if matches!(
            body["status"].as_str(),
            Some("succeeded" | "failed" | "canceled")
        ) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "the job has not ended: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `data` of the events of `kind`, newest first.
async fn events(app: &TestApp, key: &TestKey, kind: &str) -> Vec<Value> {
    app.get_json(&format!("/v1/events?type={kind}&limit=100"), key)
        .await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"].clone())
        .collect()
}

/// A webhook endpoint of `key`'s organization at a receiver that answers 200, and its secret.
async fn endpoint(app: &TestApp, key: &TestKey) -> (MockServer, String) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let made: Value = app
        .post(
            "/v1/webhook-endpoints",
            key,
            &json!({ "url": server.uri() }),
        )
        .await
        .json()
        .await
        .unwrap();
    (server, made["secret"].as_str().unwrap().to_owned())
}

/// The deliveries `server` received of `kind`, each verified as a Standard Webhooks library
/// does, once it has `n` of them (ten seconds at most).
async fn delivered(server: &MockServer, secret: &str, kind: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let verifier = standardwebhooks::Webhook::new(secret).unwrap();
    loop {
        let bodies: Vec<Value> = server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                verifier
                    .verify(&r.body, &r.headers)
                    .expect("a delivery verifies with its endpoint's secret");
                serde_json::from_slice::<Value>(&r.body).unwrap()
            })
            .filter(|e| e["type"] == kind)
            .collect();
        if bodies.len() >= n || Instant::now() > deadline {
            return bodies;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn job_of(body: &Value) -> &str {
    body["jobId"].as_str().unwrap()
}

#[tokio::test]
async fn a_hook_with_sandbox_fail_fails_the_job_and_its_containers_in_the_request() {
    let out = Outside::start().await;
    let app = &out.app;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Magic").await;
    let (receiver, secret) = endpoint(app, &key).await;
    let body = started(
        app,
        &key,
        &format!("/v1/projects/{project}/content"),
        json!({ "format": "slideshow", "variantCount": 2, "hook": "a hook sandbox:fail here" }),
    )
    .await;
    // written failed in the request: no wait
    let job = app
        .get_json(&format!("/v1/jobs/{}", job_of(&body)), &key)
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "generation_failed", "{job}");
    assert!(job["error"]["message"]
        .as_str()
        .unwrap()
        .contains("generator"));
    assert!(job["result"].is_null() && !job["finishedAt"].is_null());
    let ids: Vec<String> = body["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    for (id, answered) in ids.iter().zip(body["containers"].as_array().unwrap()) {
        assert_eq!(answered["status"], "failed", "{answered}");
        let c = app.get_json(&format!("/v1/content/{id}"), &key).await;
        assert_eq!(c["status"], "failed", "{c}");
    }
    let failed = events(app, &key, "content.failed").await;
    assert_eq!(failed.len(), 2);
    for data in &failed {
        assert!(ids.contains(&data["containerId"].as_str().unwrap().to_owned()));
        assert_eq!(data["jobId"], job_of(&body));
    }
    let jobs = events(app, &key, "job.failed").await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["id"], job_of(&body));
    assert_eq!(jobs[0]["error"]["code"], "generation_failed");
    assert!(events(app, &key, "content.completed").await.is_empty());
    // delivered, signed, as live events are
    let sent = delivered(&receiver, &secret, "content.failed", 2).await;
    assert_eq!(sent.len(), 2);
    let sent = delivered(&receiver, &secret, "job.failed", 1).await;
    assert_eq!(
        sent[0]["data"]["error"]["code"], "generation_failed",
        "{}",
        sent[0]
    );
    assert_eq!(out.calls().await, 0, "a test key reached the outside");

    // a live key's hook is ordinary text: queued, and the generator is called
    let (live, live_project) = out.live().await;
    let body = started(
        app,
        &live,
        &format!("/v1/projects/{live_project}/content"),
        json!({ "format": "image", "hook": "a hook sandbox:fail here" }),
    )
    .await;
    assert_eq!(body["containers"][0]["status"], "queued", "{body}");
    let job = ends_within(app, &live, job_of(&body), 20).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let asked: Vec<Value> = out
        .generator
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/generate")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["hook"], "a hook sandbox:fail here");
}

#[tokio::test]
async fn a_hook_with_sandbox_slow_runs_for_thirty_seconds_then_completes() {
    let out = Outside::start().await;
    let app = &out.app;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Magic").await;
    let at = Instant::now();
    let body = started(
        app,
        &key,
        &format!("/v1/projects/{project}/content"),
        json!({ "format": "image", "variantCount": 2, "hook": "sandbox:slow" }),
    )
    .await;
    for c in body["containers"].as_array().unwrap() {
        assert_eq!(c["status"], "generating", "{c}");
    }
    let job = app
        .get_json(&format!("/v1/jobs/{}", job_of(&body)), &key)
        .await;
    assert_eq!(job["status"], "running", "{job}");
    assert!(!job["startedAt"].is_null());

    let job = ends_within(app, &key, job_of(&body), 45).await;
    let took = at.elapsed();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(took >= Duration::from_secs(29), "ended after {took:?}");
    let made = job["result"]["containerIds"].as_array().unwrap();
    assert_eq!(made.len(), 2);
    for id in made {
        let c = app
            .get_json(&format!("/v1/content/{}", id.as_str().unwrap()), &key)
            .await;
        assert_eq!(c["status"], "completed", "{c}");
        let url = c["assets"][0]["url"].as_str().unwrap();
        assert!(url.contains("/sandbox/image/sample-"), "{url}");
    }
    assert_eq!(events(app, &key, "content.completed").await.len(), 2);
    let done = events(app, &key, "job.succeeded").await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["id"], job_of(&body));
    assert_eq!(out.calls().await, 0, "a test key reached the outside");
}

#[tokio::test]
async fn a_slow_sandbox_job_canceled_while_it_runs_ends_canceled() {
    let out = Outside::start().await;
    let app = &out.app;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Magic").await;
    let content = started(
        app,
        &key,
        &format!("/v1/projects/{project}/content"),
        json!({ "format": "image", "hook": "please sandbox:slow" }),
    )
    .await;
    let ingest = started(
        app,
        &key,
        &format!("/v1/projects/{project}/ingest/website"),
        json!({ "url": "https://slow.sandbox.invalid/app" }),
    )
    .await;
    for body in [&content, &ingest] {
        let res = app
            .post_empty(&format!("/v1/jobs/{}/cancel", job_of(body)), &key)
            .await;
        assert_eq!(res.status(), 202);
    }
    // no worker held them: a worker ends them at its next look, not after the 30 s
    for body in [&content, &ingest] {
        let job = ends_within(app, &key, job_of(body), 10).await;
        assert_eq!(job["status"], "canceled", "{job}");
        assert!(job["result"].is_null(), "{job}");
    }
    let c = app
        .get_json(
            &format!(
                "/v1/content/{}",
                content["containers"][0]["id"].as_str().unwrap()
            ),
            &key,
        )
        .await;
    assert_ne!(c["status"], "completed", "{c}");
    assert_eq!(events(app, &key, "job.canceled").await.len(), 2);
    assert!(events(app, &key, "job.succeeded").await.is_empty());
    assert_eq!(out.calls().await, 0, "a test key reached the outside");
}

#[tokio::test]
async fn slow_ingest_inputs_run_for_thirty_seconds_then_succeed() {
    let out = Outside::start().await;
    let app = &out.app;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Magic").await;
    let at = Instant::now();
    let mut jobs = Vec::new();
    for (kind, body) in [
        ("appstore", json!({ "iosBundleId": "com.sandbox.slow" })),
        ("github", json!({ "repository": "sandbox/slow" })),
    ] {
        let path = format!("/v1/projects/{project}/ingest/{kind}");
        let started = started(app, &key, &path, body).await;
        let job = app
            .get_json(&format!("/v1/jobs/{}", job_of(&started)), &key)
            .await;
        assert_eq!(job["status"], "running", "{job}");
        jobs.push(job_of(&started).to_owned());
    }
    for job in &jobs {
        let ended = ends_within(app, &key, job, 45).await;
        assert_eq!(ended["status"], "succeeded", "{ended}");
        assert_eq!(ended["result"]["sandbox"], true, "{ended}");
    }
    assert!(at.elapsed() >= Duration::from_secs(29));
    assert_eq!(events(app, &key, "job.succeeded").await.len(), 2);
    assert_eq!(out.calls().await, 0, "a test key reached the outside");
}

#[tokio::test]
async fn notfound_ingest_inputs_fail_the_job_in_the_request() {
    let out = Outside::start().await;
    let app = &out.app;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Magic").await;
    let mut ids = Vec::new();
    for (kind, body) in [
        ("appstore", json!({ "iosBundleId": "com.sandbox.notfound" })),
        ("github", json!({ "repository": "sandbox/notfound" })),
        (
            "website",
            json!({ "url": "https://notfound.sandbox.invalid/" }),
        ),
    ] {
        let path = format!("/v1/projects/{project}/ingest/{kind}");
        let body = started(app, &key, &path, body).await;
        let job = app
            .get_json(&format!("/v1/jobs/{}", job_of(&body)), &key)
            .await;
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["error"]["code"], "not_found", "{job}");
        assert!(job["error"]["message"].as_str().unwrap().contains(kind));
        ids.push(job_of(&body).to_owned());
    }
    let failed = events(app, &key, "job.failed").await;
    assert_eq!(failed.len(), 3);
    for data in &failed {
        assert!(ids.contains(&data["id"].as_str().unwrap().to_owned()));
        assert_eq!(data["error"]["code"], "not_found");
    }
    assert_eq!(out.calls().await, 0, "a test key reached the outside");

    // a live key's bundle id is an ordinary one: queued, and the App Store is asked
    let (live, live_project) = out.live().await;
    let body = started(
        app,
        &live,
        &format!("/v1/projects/{live_project}/ingest/appstore"),
        json!({ "iosBundleId": "com.sandbox.notfound" }),
    )
    .await;
    ends_within(app, &live, job_of(&body), 30).await;
    let asked = out.fake.received_requests().await.unwrap();
    assert!(
        asked
            .iter()
            .any(|r| r.url.query().unwrap_or("").contains("com.sandbox.notfound")),
        "the App Store was not asked"
    );
}

#[tokio::test]
async fn a_sandbox_reject_url_is_refused_with_its_reason_and_nothing_written() {
    let out = Outside::start().await;
    let app = &out.app;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Magic").await;
    let upload = format!("/v1/projects/{project}/content/upload");
    for reason in [
        "too_large",
        "unsupported_type",
        "unreadable",
        "fetch_failed",
    ] {
        let urls = json!([
            "https://cdn.example.com/a.jpg",
            format!("https://cdn.example.com/m/sandbox-reject-{reason}.jpg?sig=1"),
        ]);
        let res = app.post(&upload, &key, &json!({ "urls": urls })).await;
        let error = assert_error(res, 422, "MEDIA_REJECTED").await;
        assert_eq!(error["reason"], reason, "{error}");
        assert_eq!(error["details"]["field"], "urls");
        assert_eq!(error["details"]["index"], 1);
    }
    assert_eq!(
        app.count("SELECT count(*) FROM content_containers").await,
        0
    );
    // an unknown reason is an ordinary name
    let res = app
        .post(
            &upload,
            &key,
            &json!({ "urls": ["https://cdn.example.com/sandbox-reject-other.jpg"] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(out.calls().await, 0, "a test key reached the outside");

    // a live key fetches such a URL like any other
    let (jpeg, _) = layers_content::file("image/sample-1.jpg").unwrap();
    Mock::given(method("GET"))
        .and(path("/m/sandbox-reject-too_large.jpg"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/jpeg")
                .set_body_bytes(jpeg),
        )
        .mount(&out.fake)
        .await;
    let (live, live_project) = out.live().await;
    let res = app
        .post(
            &format!("/v1/projects/{live_project}/content/upload"),
            &live,
            &json!({ "urls": [format!("{}/m/sandbox-reject-too_large.jpg", out.fake.uri())] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(out.fake.received_requests().await.unwrap().len(), 1);
}

/// Mints a sandbox state for instagram (with `redirect_uri`, if any) and answers it.
async fn minted(app: &TestApp, key: &TestKey, project: &str, redirect_uri: Option<&str>) -> String {
    let mut body = json!({ "platform": "instagram" });
    if let Some(uri) = redirect_uri {
        body["redirectUri"] = json!(uri);
    }
    let res = app
        .post(
            &format!("/v1/projects/{project}/social/oauth-url"),
            key,
            &body,
        )
        .await;
    assert_eq!(res.status(), 200);
    let minted: Value = res.json().await.unwrap();
    minted["state"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sandbox_complete_with_access_denied_connects_nothing_and_spends_the_state() {
    let out = Outside::start().await;
    let app = &out.app;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Magic").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let complete = |state: &str, outcome: &str| {
        http.get(format!(
            "{}/v1/social/sandbox-complete?state={state}&platform=instagram{outcome}",
            app.address
        ))
        .send()
    };

    // with a redirectUri: back to it with error=access_denied
    let state = minted(
        app,
        &key,
        &project,
        Some("https://partner.example/done?x=1"),
    )
    .await;
    let res = complete(&state, "&outcome=access_denied").await.unwrap();
    assert_eq!(res.status(), 302);
    let location = Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.host_str(), Some("partner.example"));
    let pairs: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert!(
        pairs.contains(&("error".into(), "access_denied".into())),
        "{location}"
    );
    assert!(
        pairs.contains(&("state".into(), state.clone())),
        "{location}"
    );
    assert!(!pairs.iter().any(|(k, _)| k == "socialAccountId"));
    // the state is spent, as a live declined consent's
    let res = complete(&state, "").await.unwrap();
    assert_error(res, 404, "NOT_FOUND").await;

    // without one: the live callback's answer to a declined consent
    let state = minted(app, &key, &project, None).await;
    let res = complete(&state, "&outcome=access_denied").await.unwrap();
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["reason"], "access_denied", "{error}");
    assert!(error["message"].as_str().unwrap().contains("access_denied"));
    // an unknown outcome is refused, and the state is still good
    let state = minted(app, &key, &project, None).await;
    let res = complete(&state, "&outcome=maybe").await.unwrap();
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "outcome");
    let res = complete(&state, "&outcome=connected").await.unwrap();
    assert_eq!(res.status(), 200);

    let accounts = app
        .get_json(&format!("/v1/projects/{project}/social/accounts"), &key)
        .await;
    assert_eq!(accounts["data"].as_array().unwrap().len(), 1, "{accounts}");
    assert_eq!(events(app, &key, "social_account.connected").await.len(), 1);
    assert_eq!(out.calls().await, 0, "a test key reached the outside");

    // a live key's state is not the sandbox's to decline: refused as any other completion
    let (live, live_project) = out.live().await;
    let state = minted(app, &live, &live_project, None).await;
    let res = complete(&state, "&outcome=access_denied").await.unwrap();
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
}
