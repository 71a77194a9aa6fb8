//! One slow or hostile party never hurts another tenant (issue 17): no pool connection or open
//! transaction is held while a partner's body drips or a fetched URL trickles, so another
//! organization's requests keep their answers.

use std::time::{Duration, Instant};

use layers_tests::hostile::{dripping_put, tarpit_receiver, trickle_server};
use layers_tests::{assert_error, spawn_app_with, Env, TestApp, TestKey};
use serde_json::{json, Value};

/// A gateway with two pooled connections and short body deadlines (1 s idle, 2 s in all).
pub async fn small_app() -> TestApp {
    spawn_app_with(|s| {
        s.db_pool_size = 2;
        s.body_idle_timeout = Duration::from_secs(1);
        s.body_timeout = Duration::from_secs(2);
    })
    .await
}

/// Another organization's read, timed: it must answer 200 at once.
pub async fn bystander_reads(app: &TestApp, key: &TestKey) -> Duration {
    let started = Instant::now();
    let res = app.get("/v1/projects", key).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    started.elapsed()
}

/// Sessions of the app's database that sit in an open transaction.
pub async fn idle_in_transaction(app: &TestApp) -> i64 {
    app.client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND state = 'idle in transaction' \
               AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// A live session of one declared JPEG of `size` bytes; its signed PUT URL on this app.
pub async fn put_url(app: &TestApp, key: &TestKey, project: &str, size: usize) -> String {
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/uploads"),
            key,
            &json!({ "files": [{ "filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": size }] }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let session: Value = res.json().await.unwrap();
    session["files"][0]["uploadUrl"]
        .as_str()
        .unwrap()
        .replace("http://127.0.0.1:8080", &app.address)
}

#[tokio::test]
async fn dripping_upload_bodies_hold_no_connection_and_time_out() {
    let app = small_app().await;
    let hostile = app.partner_key(Env::Live).await;
    let bystander = app.partner_key(Env::Live).await;
    let project = app.project_id(&hostile, "Drips").await;
    let mut puts = Vec::new();
    for _ in 0..6 {
        let url = put_url(&app, &hostile, &project, 50_000).await;
        puts.push(dripping_put(&url, 50_000, Duration::from_millis(400)));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..5 {
        let took = bystander_reads(&app, &bystander).await;
        assert!(
            took < Duration::from_secs(1),
            "another tenant waited {took:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for put in puts {
        let status = put.await.unwrap();
        assert!(status.contains("408"), "{status}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM upload_files WHERE storage_key IS NOT NULL")
            .await,
        0,
        "nothing was recorded as uploaded"
    );
}

#[tokio::test]
async fn a_trickling_url_upload_holds_no_connection_or_transaction() {
    let app = small_app().await;
    let hostile = app.partner_key(Env::Live).await;
    let bystander = app.partner_key(Env::Live).await;
    let project = app.project_id(&hostile, "Trickles").await;
    let url = trickle_server(Duration::from_millis(300), 15).await;
    let mut uploads = Vec::new();
    for i in 0..4 {
        let request = app
            .request(
                reqwest::Method::POST,
                &format!("/v1/projects/{project}/content/upload"),
                Some(&hostile),
            )
            .header("Idempotency-Key", format!("trickle-{i}"))
            .json(&json!({ "urls": [url] }));
        uploads.push(tokio::spawn(request.send()));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    for _ in 0..5 {
        assert_eq!(idle_in_transaction(&app).await, 0);
        let took = bystander_reads(&app, &bystander).await;
        assert!(
            took < Duration::from_secs(1),
            "another tenant waited {took:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for upload in uploads {
        // the trickle breaks off before the declared length: refused, nothing written
        let res = upload.await.unwrap().unwrap();
        assert_error(res, 422, "MEDIA_REJECTED").await;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM content_containers").await,
        0
    );
}

#[tokio::test]
async fn a_nul_character_in_any_text_is_a_400_naming_the_field() {
    let app = layers_tests::spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Nul").await;
    for (path, body, field) in [
        (
            format!("/v1/projects/{project}/content"),
            json!({ "format": "image", "hook": "a\u{0}b" }),
            "hook",
        ),
        (
            format!("/v1/projects/{project}/influencers"),
            json!({ "name": "Ana", "description": "x\u{0}" }),
            "description",
        ),
        (
            "/v1/webhook-endpoints".to_owned(),
            json!({ "url": "https://example.com/h", "description": "\u{0}" }),
            "description",
        ),
        (
            format!("/v1/projects/{project}/content/upload"),
            json!({ "urls": ["https://example.com/a.jpg"], "caption": "ok", "hook": ["x"] }),
            "hook",
        ),
    ] {
        let body = body.to_string().replace("[\"x\"]", "\"x\\u0000\"");
        let res = app
            .request(reqwest::Method::POST, &path, Some(&key))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], field, "{path}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM content_containers").await,
        0
    );
    assert_eq!(app.count("SELECT count(*) FROM influencers").await, 0);
}

#[tokio::test]
async fn upload_sessions_count_against_the_quota_from_their_creation() {
    let app = spawn_app_with(|s| s.upload_quota_per_project = 2).await;
    let key = app.partner_key(Env::Live).await;
    let project = app.project_id(&key, "Quota").await;
    put_url(&app, &key, &project, 10).await;
    put_url(&app, &key, &project, 10).await;
    let res = app
        .post(
            &format!("/v1/projects/{project}/content/uploads"),
            &key,
            &json!({ "files": [{ "filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 10 }] }),
        )
        .await;
    let error = assert_error(res, 429, "QUOTA_EXCEEDED").await;
    assert_eq!(error["reason"], "upload_quota");
    // the sandbox never counts
    let sandbox = app.partner_key(Env::Sandbox).await;
    let theirs = app.project_id(&sandbox, "Quota").await;
    for _ in 0..3 {
        put_url(&app, &sandbox, &theirs, 10).await;
    }
}

#[tokio::test]
async fn an_expired_session_s_stored_files_are_deleted_by_its_job() {
    let app = layers_tests::spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let project = app.project_id(&key, "Expiry").await;
    let jpeg = layers_content::file("image/sample-1.jpg").unwrap().0;
    let url = put_url(&app, &key, &project, jpeg.len()).await;
    let res = app
        .http
        .put(url)
        .header("content-type", "image/jpeg")
        .body(jpeg.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.stored_files(), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'upload_expire' AND status = 'queued'")
            .await,
        1
    );
    // the hour passes
    let c = app.client().await;
    c.batch_execute(
        "UPDATE upload_sessions SET expires_at = now() - interval '1 second'; \
         UPDATE jobs SET run_at = now() WHERE kind = 'upload_expire'",
    )
    .await
    .unwrap();
    let started = Instant::now();
    while app
        .count("SELECT count(*) FROM jobs WHERE kind = 'upload_expire' AND status = 'succeeded'")
        .await
        == 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the expiry job did not run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.stored_files(), 0);
    assert_eq!(
        app.count("SELECT count(*) FROM upload_files WHERE storage_key IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn media_and_every_other_answer_say_nosniff() {
    let app = layers_tests::spawn_app().await;
    for path in [
        "/sandbox/image/sample-1.jpg",
        "/media/x?sig=bad",
        "/v1/whoami",
        "/healthz",
    ] {
        let res = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}

/// The `p` quantile of `samples` (sorted here).
fn quantile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test]
async fn another_tenant_is_served_while_one_runs_every_hostile_pattern_at_once() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let app = spawn_app_with(|s| {
        s.body_idle_timeout = Duration::from_secs(2);
        s.body_timeout = Duration::from_secs(4);
    })
    .await;
    let hostile_live = app.partner_key(Env::Live).await;
    let hostile = app
        .key_with(
            hostile_live.org,
            Env::Sandbox,
            "*",
            layers_keys::Tier::Pilot,
        )
        .await;
    let project = app.project_id(&hostile_live, "Hostile").await;
    let sandbox_project = app.project_id(&hostile, "Hostile").await;

    // a tarpit behind all sixteen of its sandbox endpoints, pinged
    let (tarpit, _) = tarpit_receiver().await;
    let mut tarpits = Vec::new();
    for _ in 0..16 {
        let res = app
            .post("/v1/webhook-endpoints", &hostile, &json!({ "url": tarpit }))
            .await;
        let created: Value = res.json().await.unwrap();
        tarpits.push(created["id"].as_str().unwrap().to_owned());
    }
    // a seventeenth is refused for the organization's state, not for its body: 409
    let res = app
        .post("/v1/webhook-endpoints", &hostile, &json!({ "url": tarpit }))
        .await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "too_many_endpoints", "{error}");
    for id in &tarpits {
        app.post_empty(&format!("/v1/webhook-endpoints/{id}/test"), &hostile)
            .await;
    }
    // a receiver that answers NUL bytes, on a live endpoint
    let nul = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"ok\0\0\0".to_vec()))
        .mount(&nul)
        .await;
    let nul_endpoint: Value = app
        .post(
            "/v1/webhook-endpoints",
            &hostile_live,
            &json!({ "url": format!("{}/nul", nul.uri()) }),
        )
        .await
        .json()
        .await
        .unwrap();
    let nul_endpoint = nul_endpoint["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        app.post_empty(
            &format!("/v1/webhook-endpoints/{nul_endpoint}/test"),
            &hostile_live,
        )
        .await;
    }
    // dripping PUTs and trickling URL uploads
    let mut drips = Vec::new();
    for _ in 0..6 {
        let url = put_url(&app, &hostile_live, &project, 50_000).await;
        drips.push(dripping_put(&url, 50_000, Duration::from_millis(400)));
    }
    let trickle = trickle_server(Duration::from_millis(300), 15).await;
    let mut trickles = Vec::new();
    for _ in 0..4 {
        let request = app
            .request(
                reqwest::Method::POST,
                &format!("/v1/projects/{project}/content/upload"),
                Some(&hostile_live),
            )
            .json(&json!({ "urls": [trickle] }));
        trickles.push(tokio::spawn(request.send()));
    }
    // endpoint churn while its content fans events out to them
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let (app_address, key, stop) = (app.address.clone(), hostile_live.clone(), stop.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let created: Value = http
                    .post(format!("{app_address}/v1/webhook-endpoints"))
                    .bearer_auth(&key.key)
                    .json(&json!({ "url": "http://127.0.0.1:9/churn" }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if let Some(id) = created["id"].as_str() {
                    let res = http
                        .delete(format!("{app_address}/v1/webhook-endpoints/{id}"))
                        .bearer_auth(&key.key)
                        .send()
                        .await
                        .unwrap();
                    answers.push(res.status().as_u16());
                }
            }
            answers
        })
    };
    let generating = {
        let (app_address, key, project, stop) = (
            app.address.clone(),
            hostile.clone(),
            sandbox_project.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut statuses = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let res = http
                    .post(format!("{app_address}/v1/projects/{project}/content"))
                    .bearer_auth(&key.key)
                    .json(&json!({ "format": "image" }))
                    .send()
                    .await
                    .unwrap();
                statuses.push(res.status().as_u16());
            }
            statuses
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // the other organization: its requests and its webhook pings
    let victim = app.partner_key(Env::Sandbox).await;
    let quick = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&quick)
        .await;
    let theirs: Value = app
        .post(
            "/v1/webhook-endpoints",
            &victim,
            &json!({ "url": format!("{}/quick", quick.uri()) }),
        )
        .await
        .json()
        .await
        .unwrap();
    let theirs = theirs["id"].as_str().unwrap().to_owned();
    let mut latencies = Vec::new();
    let mut deliveries = Vec::new();
    for i in 0..40 {
        let started = Instant::now();
        let res = if i % 2 == 0 {
            app.get("/v1/projects", &victim).await
        } else {
            app.post(
                "/v1/projects",
                &victim,
                &json!({ "name": format!("Victim {i}") }),
            )
            .await
        };
        assert!(
            res.status().as_u16() < 500,
            "{}: {:?}",
            res.status(),
            res.text().await
        );
        latencies.push(started.elapsed());
        if i % 10 == 0 {
            let before = quick.received_requests().await.unwrap().len();
            let started = Instant::now();
            let res = app
                .post_empty(&format!("/v1/webhook-endpoints/{theirs}/test"), &victim)
                .await;
            assert_eq!(res.status(), 202);
            while quick.received_requests().await.unwrap().len() == before {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "a ping took over 5 s"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            deliveries.push(started.elapsed());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let p99 = quantile(&mut latencies, 0.99);
    assert!(
        p99 < Duration::from_secs(1),
        "the other tenant's p99 was {p99:?}"
    );
    let slowest = quantile(&mut deliveries, 1.0);
    assert!(
        slowest < Duration::from_secs(5),
        "a ping arrived after {slowest:?}"
    );

    // the hostile organization got clear answers too, never a 500
    let churned = churn.await.unwrap();
    assert!(
        !churned.is_empty() && churned.iter().all(|s| *s == 200),
        "{churned:?}"
    );
    let generated = generating.await.unwrap();
    assert!(
        !generated.is_empty() && generated.iter().all(|s| *s == 202),
        "{generated:?}"
    );
    for drip in drips {
        assert!(drip.await.unwrap().contains("408"));
    }
    for trickle in trickles {
        assert_eq!(trickle.await.unwrap().unwrap().status(), 422);
    }
    // the NUL answers were recorded like any other
    let recorded = app
        .count("SELECT count(*) FROM webhook_attempts WHERE response_excerpt LIKE 'ok%'")
        .await;
    let seen: Vec<String> = app
        .client()
        .await
        .query("SELECT coalesce(d.status, '') || ' ' || coalesce(a.error, '') || ' ' || coalesce(a.response_excerpt, '') FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id LEFT JOIN webhook_attempts a ON a.delivery_id = d.id WHERE NOT e.is_sandbox", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(recorded, 3, "{seen:?} {nul_endpoint}");
}

#[tokio::test]
async fn a_url_upload_retried_with_its_key_replays_and_stores_once() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let files = MockServer::start().await;
    let jpeg = layers_content::file("image/sample-1.jpg").unwrap().0;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/jpeg")
                .set_body_bytes(jpeg.to_vec()),
        )
        .mount(&files)
        .await;
    let app = layers_tests::spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let project = app.project_id(&key, "Retries").await;
    let send = || {
        app.request(
            reqwest::Method::POST,
            &format!("/v1/projects/{project}/content/upload"),
            Some(&key),
        )
        .header("Idempotency-Key", "upload once")
        .json(&json!({ "urls": [format!("{}/a.jpg", files.uri())] }))
        .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first = first.text().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), first);
    assert_eq!(
        app.count("SELECT count(*) FROM content_containers").await,
        1
    );
    assert_eq!(app.stored_files(), 1);
    // the same key for another body is refused, nothing fetched or written
    let other = app
        .request(
            reqwest::Method::POST,
            &format!("/v1/projects/{project}/content/upload"),
            Some(&key),
        )
        .header("Idempotency-Key", "upload once")
        .json(&json!({ "urls": [format!("{}/b.jpg", files.uri())] }))
        .send()
        .await
        .unwrap();
    assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(files.received_requests().await.unwrap().len(), 1);
    assert_eq!(app.stored_files(), 1);
}

#[tokio::test]
async fn two_url_uploads_with_one_key_at_once_write_and_store_once() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let files = MockServer::start().await;
    let jpeg = layers_content::file("image/sample-1.jpg").unwrap().0;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/jpeg")
                .set_body_bytes(jpeg.to_vec())
                .set_delay(Duration::from_millis(300)),
        )
        .mount(&files)
        .await;
    let app = layers_tests::spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let project = app.project_id(&key, "Races").await;
    let send = || {
        app.request(
            reqwest::Method::POST,
            &format!("/v1/projects/{project}/content/upload"),
            Some(&key),
        )
        .header("Idempotency-Key", "one key")
        .json(&json!({ "urls": [format!("{}/a.jpg", files.uri())] }))
        .send()
    };
    // the second arrives while the first fetches, holding no claim: it fetches too, then
    // finds the first one's answer when it claims again, answers that and drops its media
    let (a, b) = tokio::join!(send(), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        send().await
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (201, 201));
    assert_eq!(b.headers()["idempotent-replayed"], "true");
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    assert_eq!(files.received_requests().await.unwrap().len(), 2);
    assert_eq!(
        app.count("SELECT count(*) FROM content_containers").await,
        1
    );
    // what the loser fetched was discarded
    assert_eq!(app.stored_files(), 1);
}
