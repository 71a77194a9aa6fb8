//! Webhooks over HTTP (CONTRACT §10): endpoints of one environment, signed deliveries that an
//! off-the-shelf Standard Webhooks verifier and a plain HMAC check both accept (live and
//! sandbox, before and during a rotation), job events from the outbox, retries and redelivery,
//! the events API, and no secret in a `pg_dump`.

use std::time::{Duration, Instant};

use layers_tests::{assert_error, spawn_app, spawn_app_with, Env, TestApp, TestKey, BOTH};
use reqwest::Method;
use ring::hmac;
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// A receiver that answers every POST with `status`.
async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status).set_body_string("{\"received\":true}"))
        .mount(&server)
        .await;
    server
}

/// Creates an endpoint; answers the created body (with its `secret`).
async fn endpoint(app: &TestApp, key: &TestKey, url: &str, events: Option<Value>) -> Value {
    let mut body = json!({ "url": url, "description": "test receiver" });
    if let Some(events) = events {
        body["events"] = events;
    }
    let res = app.post("/v1/webhook-endpoints", key, &body).await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    res.json().await.unwrap()
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

fn header<'a>(request: &'a Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The plain check of `X-Layers-Signature` a partner writes by hand: HMAC-SHA256 keyed with the
/// secret string as shown, over `<t>.<body>`, compared in constant time with each `v1`.
fn layers_signature_verifies(request: &Request, secret: &str) -> bool {
    let value = header(request, "X-Layers-Signature");
    let mut t = None;
    let mut signatures = Vec::new();
    for part in value.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_owned()),
            Some(("v1", v)) => signatures.push(v.to_owned()),
            _ => panic!("unexpected part {part:?} in {value:?}"),
        }
    }
    let t = t.expect("a t= part");
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..300).contains(&age), "timestamp {t} is {age} s old");
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&request.body);
    signatures.iter().any(|s| {
        let Ok(bytes) = hex_decode(s) else {
            return false;
        };
        hmac::verify(&key, &signed, &bytes).is_ok()
    })
}

fn hex_decode(s: &str) -> Result<Vec<u8>, ()> {
    if !s.len().is_multiple_of(2) {
        return Err(());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| ()))
        .collect()
}

/// The check every Standard Webhooks library makes (here the `standardwebhooks` crate, which
/// nobody here wrote).
fn standard_signature_verifies(request: &Request, secret: &str) -> bool {
    standardwebhooks::Webhook::new(secret)
        .expect("the secret is a Standard Webhooks secret")
        .verify(&request.body, &request.headers)
        .is_ok()
}

/// The endpoint's deliveries once the first one has `status`, for at most ten seconds.
async fn deliveries_once(app: &TestApp, key: &TestKey, id: &str, status: &str) -> Value {
    let started = Instant::now();
    loop {
        let page = app
            .get_json(&format!("/v1/webhook-endpoints/{id}/deliveries"), key)
            .await;
        if page["data"][0]["status"] == status {
            return page;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn endpoints_are_created_read_changed_and_deleted_and_the_secret_is_shown_twice_only() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let created = endpoint(&app, &key, "https://example.com/hooks", None).await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("wh_"), "{created}");
    assert_eq!(created["events"], json!(["*"]));
    assert_eq!(created["disabled"], false);
    assert_eq!(created["description"], "test receiver");
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 44,
        "{secret}"
    );

    let read = app
        .get_json(&format!("/v1/webhook-endpoints/{id}"), &key)
        .await;
    assert!(read.get("secret").is_none(), "{read}");
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("secret");
    assert_eq!(read, expected);
    let list = app.get_json("/v1/webhook-endpoints", &key).await;
    assert_eq!(list["data"], json!([expected]));
    assert!(list["nextCursor"].is_null());

    let changed: Value = app
        .patch(
            &format!("/v1/webhook-endpoints/{id}"),
            &key,
            &json!({ "url": "https://example.com/v2", "events": ["job.failed", "job.succeeded"],
                     "description": null, "disabled": true }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changed["url"], "https://example.com/v2");
    assert_eq!(changed["events"], json!(["job.failed", "job.succeeded"]));
    assert!(changed["description"].is_null());
    assert_eq!(changed["disabled"], true);
    assert!(changed.get("secret").is_none());
    // an absent field keeps its value
    let kept: Value = app
        .patch(
            &format!("/v1/webhook-endpoints/{id}"),
            &key,
            &json!({ "disabled": false }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept["url"], "https://example.com/v2");
    assert_eq!(kept["events"], json!(["job.failed", "job.succeeded"]));

    let rotated: Value = app
        .post_empty(&format!("/v1/webhook-endpoints/{id}/rotate-secret"), &key)
        .await
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, secret);

    let deleted = app
        .request(
            Method::DELETE,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(&key),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        deleted.json::<Value>().await.unwrap(),
        json!({ "id": id, "deleted": true })
    );
    let gone = app.get(&format!("/v1/webhook-endpoints/{id}"), &key).await;
    assert_error(gone, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn bad_endpoints_are_refused_with_the_field_named() {
    let app = spawn_app_with(|s| s.allow_private_network = false).await;
    let live = app.partner_key(Env::Live).await;
    let sandbox = app.partner_key(Env::Sandbox).await;
    for (key, url, why) in [
        (&live, "http://example.com/hooks", "https"),
        (&live, "https://127.0.0.1/hooks", "refused"),
        (&live, "https://localhost:8443/hooks", "refused"),
        (&live, "https://169.254.169.254/latest", "refused"),
        (&sandbox, "http://10.1.2.3/hooks", "refused"),
        (&sandbox, "http://[::1]:9000/", "refused"),
        (&sandbox, "ftp://example.com/", "http or https"),
        (&sandbox, "not a url", "valid URL"),
        (&sandbox, "https://user:pw@example.com/", "credentials"),
    ] {
        let res = app
            .post("/v1/webhook-endpoints", key, &json!({ "url": url }))
            .await;
        let body = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(body["details"]["field"], "url", "{url}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(why), "{url}: {message}");
    }
    for events in [json!([]), json!(["job.done"]), json!(["Job.Failed"])] {
        let res = app
            .post(
                "/v1/webhook-endpoints",
                &sandbox,
                &json!({ "url": "https://example.com", "events": events }),
            )
            .await;
        let body = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(body["details"]["field"], "events", "{body}");
    }
    let res = app
        .post(
            "/v1/webhook-endpoints",
            &sandbox,
            &json!({ "url": "https://example.com", "secret": "whsec_mine" }),
        )
        .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
    // sandbox endpoints may use plain http; `*` among names means all
    let ok = endpoint(
        &app,
        &sandbox,
        "http://example.com/hooks",
        Some(json!(["job.failed", "*"])),
    )
    .await;
    assert_eq!(ok["events"], json!(["*"]));
    endpoint(&app, &live, "https://example.com/hooks", None).await;
    // nothing half-written
    let count: i64 = app
        .client()
        .await
        .query_one("SELECT count(*) FROM webhook_endpoints", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
}

#[tokio::test]
async fn without_a_master_key_endpoints_cannot_be_created() {
    let app = spawn_app_with(|s| s.master_key = None).await;
    let key = app.partner_key(Env::Sandbox).await;
    let res = app
        .post(
            "/v1/webhook-endpoints",
            &key,
            &json!({ "url": "https://example.com" }),
        )
        .await;
    let body = assert_error(res, 503, "PLATFORM_NOT_CONFIGURED").await;
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("LAYERS_MASTER_KEY"));
}

#[tokio::test]
async fn endpoints_and_events_belong_to_their_environment() {
    let app = spawn_app().await;
    let live = app.partner_key(Env::Live).await;
    let org = live.org;
    let sandbox = app
        .key_with(org, Env::Sandbox, "*", layers_keys::Tier::Standard)
        .await;
    let server = receiver(200).await;
    let test_endpoint = endpoint(&app, &sandbox, &server.uri(), None).await;
    let id = test_endpoint["id"].as_str().unwrap();

    // the live key neither lists nor reads it, and may not change it
    assert_eq!(
        app.get_json("/v1/webhook-endpoints", &live).await["data"],
        json!([])
    );
    let read = app.get(&format!("/v1/webhook-endpoints/{id}"), &live).await;
    let body = assert_error(read, 404, "NOT_FOUND").await;
    assert!(body["message"].as_str().unwrap().contains("sandbox"));
    let path = format!("/v1/webhook-endpoints/{id}");
    for res in [
        app.patch(&path, &live, &json!({ "disabled": true })).await,
        app.request(Method::DELETE, &path, Some(&live))
            .send()
            .await
            .unwrap(),
        app.post_empty(&format!("{path}/test"), &live).await,
        app.post_empty(&format!("{path}/rotate-secret"), &live)
            .await,
    ] {
        assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    }
    let deliveries = app.get(&format!("{path}/deliveries"), &live).await;
    assert_error(deliveries, 404, "NOT_FOUND").await;

    // a sandbox event reaches the sandbox endpoint and only the sandbox events API
    let sent: Value = app
        .post_empty(&format!("{path}/test"), &sandbox)
        .await
        .json()
        .await
        .unwrap();
    let event = sent["eventId"].as_str().unwrap();
    received(&server, 1).await;
    assert_eq!(app.get_json("/v1/events", &live).await["data"], json!([]));
    let other = app.get(&format!("/v1/events/{event}"), &live).await;
    let body = assert_error(other, 404, "NOT_FOUND").await;
    assert!(body["message"].as_str().unwrap().contains("sandbox"));
    assert_eq!(
        app.get_json("/v1/events", &sandbox).await["data"][0]["id"],
        event
    );

    // a live event (a live endpoint's test.ping) never reaches the sandbox endpoint
    let live_server = receiver(200).await;
    let live_endpoint = endpoint(&app, &live, &live_server.uri(), None).await;
    let res = app
        .post_empty(
            &format!(
                "/v1/webhook-endpoints/{}/test",
                live_endpoint["id"].as_str().unwrap()
            ),
            &live,
        )
        .await;
    assert_eq!(res.status(), 202);
    received(&live_server, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn deliveries_verify_with_standard_webhooks_and_plain_hmac_before_and_during_a_rotation() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let server = receiver(200).await;
        let created = endpoint(&app, &key, &server.uri(), None).await;
        let id = created["id"].as_str().unwrap();
        let old_secret = created["secret"].as_str().unwrap().to_owned();

        let sent = app
            .post_empty(&format!("/v1/webhook-endpoints/{id}/test"), &key)
            .await;
        assert_eq!(sent.status(), 202);
        let event_id = sent.json::<Value>().await.unwrap()["eventId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(event_id.starts_with("evt_") && event_id.len() == 30);
        let first = received(&server, 1).await.remove(0);
        let envelope: Value = serde_json::from_slice(&first.body).unwrap();
        assert_eq!(envelope["id"], event_id.as_str());
        assert_eq!(envelope["type"], "test.ping");
        assert_eq!(envelope["apiVersion"], "v1");
        assert_eq!(envelope["data"], json!({ "endpointId": id }));
        match env {
            Env::Sandbox => assert_eq!(envelope["meta"], json!({ "sandbox": true })),
            Env::Live => assert!(envelope.get("meta").is_none(), "{envelope}"),
        }
        assert_eq!(header(&first, "X-Layers-Event-Id"), event_id);
        assert_eq!(header(&first, "X-Layers-Event-Type"), "test.ping");
        assert_eq!(header(&first, "webhook-id"), event_id);
        assert_eq!(header(&first, "content-type"), "application/json");
        assert!(standard_signature_verifies(&first, &old_secret), "{env}");
        assert!(layers_signature_verifies(&first, &old_secret), "{env}");
        let stranger = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert!(!standard_signature_verifies(&first, stranger));
        assert!(!layers_signature_verifies(&first, stranger));

        // the events API serves the very bytes that were delivered
        let stored = app.get(&format!("/v1/events/{event_id}"), &key).await;
        assert_eq!(stored.status(), 200);
        assert_eq!(stored.bytes().await.unwrap(), first.body);

        // the deliveries log
        let log = deliveries_once(&app, &key, id, "succeeded").await;
        let delivery = &log["data"][0];
        assert!(delivery["id"].as_str().unwrap().starts_with("whd_"));
        assert_eq!(delivery["eventId"], event_id.as_str());
        assert_eq!(delivery["eventType"], "test.ping");
        assert!(delivery["nextAttemptAt"].is_null());
        let attempt = &delivery["attempts"][0];
        assert_eq!(attempt["statusCode"], 200);
        assert!(attempt["error"].is_null());
        assert_eq!(attempt["responseBody"], "{\"received\":true}");
        assert!(attempt["durationMs"].as_u64().unwrap() < 10_000);

        // during a rotation both secrets verify the same delivery
        let rotated: Value = app
            .post_empty(&format!("/v1/webhook-endpoints/{id}/rotate-secret"), &key)
            .await
            .json()
            .await
            .unwrap();
        let new_secret = rotated["secret"].as_str().unwrap();
        let res = app
            .post_empty(&format!("/v1/webhook-endpoints/{id}/test"), &key)
            .await;
        assert_eq!(res.status(), 202);
        let second = received(&server, 2).await.remove(1);
        assert_eq!(
            header(&second, "X-Layers-Signature").matches("v1=").count(),
            2,
            "{}",
            header(&second, "X-Layers-Signature")
        );
        assert_eq!(
            header(&second, "webhook-signature")
                .split(' ')
                .filter(|s| s.starts_with("v1,"))
                .count(),
            2
        );
        for secret in [new_secret, old_secret.as_str()] {
            assert!(standard_signature_verifies(&second, secret), "{env}");
            assert!(layers_signature_verifies(&second, secret), "{env}");
        }
    }
}

#[tokio::test]
async fn job_events_come_from_the_outbox_with_the_job_as_data() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let all = receiver(200).await;
    let only_failures = receiver(200).await;
    endpoint(&app, &key, &all.uri(), Some(json!(["job.succeeded"]))).await;
    let failures = endpoint(
        &app,
        &key,
        &only_failures.uri(),
        Some(json!(["job.failed"])),
    )
    .await;
    let project = app.project_id(&key, "Webhooks").await;
    let started: Value = app
        .post(
            &format!("/v1/projects/{project}/ingest/website"),
            &key,
            &json!({ "url": "https://example.com" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let job = started["jobId"].as_str().unwrap();
    let delivery = received(&all, 1).await.remove(0);
    let envelope: Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(envelope["type"], "job.succeeded");
    assert_eq!(envelope["meta"], json!({ "sandbox": true }));
    // the event's data is the job exactly as the API shows it
    let shown = app.get_json(&format!("/v1/jobs/{job}"), &key).await;
    assert_eq!(envelope["data"], shown);
    assert_eq!(shown["status"], "succeeded");

    let events = app.get_json("/v1/events?type=job.succeeded", &key).await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    assert_eq!(events["data"][0], envelope);
    assert_eq!(
        app.get_json("/v1/events?type=job.failed", &key).await["data"],
        json!([])
    );
    let bad = app.get("/v1/events?type=job.done", &key).await;
    let body = assert_error(bad, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["details"]["field"], "type");

    // the endpoint subscribed to failures only got no delivery at all
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(only_failures.received_requests().await.unwrap().is_empty());
    let log = app
        .get_json(
            &format!(
                "/v1/webhook-endpoints/{}/deliveries",
                failures["id"].as_str().unwrap()
            ),
            &key,
        )
        .await;
    assert_eq!(log["data"], json!([]));
}

#[tokio::test]
async fn failed_deliveries_are_retried_on_the_schedule_then_redelivered_on_request() {
    let app = spawn_app_with(|s| {
        s.webhook_retry_schedule = vec![Duration::ZERO, Duration::from_millis(100)];
    })
    .await;
    let key = app.partner_key(Env::Live).await;
    let server = receiver(503).await;
    let created = endpoint(&app, &key, &server.uri(), None).await;
    let id = created["id"].as_str().unwrap();
    app.post_empty(&format!("/v1/webhook-endpoints/{id}/test"), &key)
        .await;
    let log = deliveries_once(&app, &key, id, "failed").await;
    let delivery = &log["data"][0];
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{delivery}");
    for attempt in attempts {
        assert_eq!(attempt["statusCode"], 503);
        assert!(attempt["error"].as_str().unwrap().contains("503"));
    }
    assert!(delivery["nextAttemptAt"].is_null());
    assert_eq!(received(&server, 2).await.len(), 2);

    // the receiver is fixed; one more attempt on request
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let delivery_id = delivery["id"].as_str().unwrap();
    let res = app
        .post_empty(
            &format!("/v1/webhook-endpoints/{id}/deliveries/{delivery_id}/redeliver"),
            &key,
        )
        .await;
    assert_eq!(res.status(), 202);
    let pending: Value = res.json().await.unwrap();
    assert_eq!(pending["status"], "pending");
    assert!(pending["nextAttemptAt"].is_string());
    let log = deliveries_once(&app, &key, id, "succeeded").await;
    let attempts = log["data"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[2]["statusCode"], 204);
    let missing = app
        .post_empty(
            &format!("/v1/webhook-endpoints/{id}/deliveries/whd_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f/redeliver"),
            &key,
        )
        .await;
    assert_error(missing, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn a_pg_dump_of_the_database_holds_no_webhook_secret() {
    let app = spawn_app().await;
    let mut secrets = Vec::new();
    for env in BOTH {
        let key = app.partner_key(env).await;
        let created = endpoint(&app, &key, "https://example.com/hooks", None).await;
        secrets.push(created["secret"].as_str().unwrap().to_owned());
        let rotated: Value = app
            .post_empty(
                &format!(
                    "/v1/webhook-endpoints/{}/rotate-secret",
                    created["id"].as_str().unwrap()
                ),
                &key,
            )
            .await
            .json()
            .await
            .unwrap();
        secrets.push(rotated["secret"].as_str().unwrap().to_owned());
    }
    let dump = std::process::Command::new("/usr/lib/postgresql/15/bin/pg_dump")
        .arg("--data-only")
        .arg(&app.db.url)
        .output()
        .expect("run pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(text.contains("webhook_endpoints"), "the dump has the table");
    use base64::Engine as _;
    for secret in &secrets {
        let encoded = secret.strip_prefix("whsec_").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let utf8_hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        for needle in [secret.as_str(), encoded, &hex, &utf8_hex] {
            assert!(!text.contains(needle), "the dump contains a secret");
        }
    }
}

#[tokio::test]
async fn a_disabled_endpoint_gets_nothing_until_it_is_enabled_again() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let server = receiver(200).await;
    let created = endpoint(&app, &key, &server.uri(), None).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/webhook-endpoints/{id}");
    let res = app.patch(&path, &key, &json!({ "disabled": true })).await;
    assert_eq!(res.status(), 200);
    // a job's event is not even queued for it; an explicit ping waits in its log
    let project = app.project_id(&key, "Webhooks").await;
    let started: Value = app
        .post(
            &format!("/v1/projects/{project}/ingest/website"),
            &key,
            &json!({ "url": "https://example.com" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let ping = app.post_empty(&format!("{path}/test"), &key).await;
    assert_eq!(ping.status(), 202);
    let job = started["jobId"].as_str().unwrap();
    let started = Instant::now();
    while app.get_json(&format!("/v1/jobs/{job}"), &key).await["status"] != "succeeded" {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.received_requests().await.unwrap().is_empty());
    let log = app.get_json(&format!("{path}/deliveries"), &key).await;
    let deliveries = log["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "{log}");
    assert_eq!(deliveries[0]["eventType"], "test.ping");
    assert_eq!(deliveries[0]["status"], "pending");
    assert_eq!(deliveries[0]["attempts"], json!([]));

    let res = app.patch(&path, &key, &json!({ "disabled": false })).await;
    assert_eq!(res.status(), 200);
    let delivered = received(&server, 1).await;
    assert_eq!(header(&delivered[0], "X-Layers-Event-Type"), "test.ping");
}
