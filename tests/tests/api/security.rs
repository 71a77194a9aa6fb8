//! Findings of the outside security review, each reproduced as it was reported: stored-answer
//! amplification, percent-encoded paths, revocation without notifications, made-up methods,
//! ambiguous credentials, slow bodies, JSON arrays and bidirectional controls, and floods of
//! unknown keys.

use std::time::{Duration, Instant};

use layers_keys::Tier;
use layers_tests::{assert_error, spawn_app, spawn_app_with, Env};
use reqwest::header::AUTHORIZATION;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn huge_field_names_give_small_answers_and_small_stored_rows() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let name = "k".repeat(1_000_000);
    let body = format!("{{\"{name}\": 1}}");
    for i in 0..10 {
        let res = app
            .request(Method::POST, "/v1/projects", Some(&key))
            .header("Idempotency-Key", format!("amplify-{i}"))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let text = res.text().await.unwrap();
        assert!(text.len() < 1_024, "an answer of {} bytes", text.len());
    }
    let stored = app
        .count("SELECT coalesce(sum(length(response_body)), 0)::bigint FROM idempotency_keys")
        .await;
    assert!(stored < 10 * 1_024, "{stored} bytes stored for ten answers");
    assert_eq!(
        app.count("SELECT count(*) FROM idempotency_keys").await,
        10,
        "client errors are still stored for replay"
    );
}

#[tokio::test]
async fn percent_encoded_paths_share_idempotency_keys_and_rate_limit_buckets() {
    let app = spawn_app_with(|s| s.rate_limit_standard_per_min = 3).await;
    let key = app.partner_key(Env::Live).await;
    // the same key sent twice through two spellings of one route runs once
    let body = json!({ "name": "Encoded" });
    for path in ["/v1/%70rojects", "/v1/projec%74s", "/%76%31/projects"] {
        let res = app
            .request(Method::POST, path, Some(&key))
            .header("Idempotency-Key", "encoded-once")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{path}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM projects WHERE name = 'Encoded'")
            .await,
        1
    );
    // with GET /v1/projects exhausted, no spelling of it gets through
    for _ in 0..3 {
        assert_eq!(app.get("/v1/projects", &key).await.status(), 200);
    }
    assert_error(app.get("/v1/projects", &key).await, 429, "RATE_LIMITED").await;
    for path in ["/v1/%70rojects", "/v1/projec%74s", "/%76%31/projects"] {
        assert_error(app.get(path, &key).await, 429, "RATE_LIMITED").await;
    }
}

#[tokio::test]
async fn a_revoked_key_stops_working_within_five_seconds_without_notifications() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    assert_eq!(app.get("/v1/whoami", &key).await.status(), 200);
    assert_eq!(app.get("/v1/whoami", &key).await.status(), 200);
    // as if a proxy dropped every notification: the revoke sends none
    app.client()
        .await
        .batch_execute(&format!(
            "ALTER TABLE api_keys DISABLE TRIGGER api_keys_changed; \
             UPDATE api_keys SET revoked_at = now() WHERE id = '{}'; \
             ALTER TABLE api_keys ENABLE TRIGGER api_keys_changed",
            key.api_key_id
        ))
        .await
        .unwrap();
    let revoked = Instant::now();
    loop {
        let status = app.get("/v1/whoami", &key).await.status();
        if status == 401 {
            break;
        }
        assert!(revoked.elapsed() < Duration::from_secs(5), "still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn made_up_methods_share_one_bucket() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    assert_eq!(app.get("/v1/projects", &key).await.status(), 200);
    let before = app.count("SELECT count(*) FROM rate_limit_buckets").await;
    for i in 0..100 {
        let method = Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
        let res = app
            .request(method, "/v1/projects", Some(&key))
            .send()
            .await
            .unwrap();
        assert_error(res, 405, "METHOD_NOT_ALLOWED").await;
    }
    let after = app.count("SELECT count(*) FROM rate_limit_buckets").await;
    assert!(after <= before + 1, "{before} buckets became {after}");
}

#[tokio::test]
async fn ambiguous_credentials_are_refused() {
    let app = spawn_app().await;
    let a = app.partner_key(Env::Live).await;
    let b = app.partner_key(Env::Live).await;
    let send = |req: reqwest::RequestBuilder| async move { req.send().await.unwrap() };
    let whoami = || app.request(Method::GET, "/v1/whoami", None);

    // one key in each header: which one would it be?
    let res = send(
        whoami()
            .header(AUTHORIZATION, format!("Bearer {}", b.key))
            .header("X-Api-Key", &a.key),
    )
    .await;
    assert_error(res, 401, "UNAUTHENTICATED").await;
    // a repeated credential header, even with the same key twice
    for name in ["Authorization", "X-Api-Key"] {
        let value = |k: &str| {
            if name == "Authorization" {
                format!("Bearer {k}")
            } else {
                k.to_owned()
            }
        };
        let res = send(
            whoami()
                .header(name, value(&a.key))
                .header(name, value(&b.key)),
        )
        .await;
        assert_error(res, 401, "UNAUTHENTICATED").await;
        let res = send(
            whoami()
                .header(name, value(&a.key))
                .header(name, value(&a.key)),
        )
        .await;
        assert_error(res, 401, "UNAUTHENTICATED").await;
    }
    // the same key in both headers is not ambiguous
    let res = send(
        whoami()
            .header(AUTHORIZATION, format!("Bearer {}", a.key))
            .header("X-Api-Key", &a.key),
    )
    .await;
    assert_eq!(res.status(), 200);
    let who: Value = res.json().await.unwrap();
    assert_eq!(who["apiKeyId"], a.api_key_id.to_string());
}

/// Sends a POST whose body arrives one byte every `every`, and returns the status line and how
/// long the answer took.
async fn drip(address: &str, key: &str, idem: &str, every: Duration) -> (String, Duration) {
    let mut stream = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    let body = br#"{"name":"drip-drip"}"#;
    let head = format!(
        "POST /v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Idempotency-Key: {idem}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let dripping = tokio::spawn(async move {
        for byte in body {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(30), reader.read(&mut answer))
        .await
        .expect("an answer before the body is complete")
        .unwrap();
    let took = started.elapsed();
    dripping.abort();
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    (text.lines().next().unwrap_or("").to_owned(), took)
}

#[tokio::test]
async fn slow_bodies_are_cut_off_without_holding_a_connection_or_a_key() {
    let app = spawn_app_with(|s| {
        s.body_idle_timeout = Duration::from_millis(400);
        s.body_timeout = Duration::from_secs(2);
    })
    .await;
    let key = app.partner_key(Env::Live).await;
    // a byte every 250 ms never idles long enough, but the whole takes too long
    let watch = tokio::spawn({
        let pool = app.db.pool.clone();
        async move {
            // while the body drips, nothing of the request is in the database
            let c = pool.get().await.unwrap();
            let mut worst = 0i64;
            for _ in 0..15 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let held: i64 = c
                    .query_one(
                        "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                                   AND database = (SELECT oid FROM pg_database \
                                                   WHERE datname = current_database())) \
                         + (SELECT count(*) FROM pg_stat_activity \
                            WHERE datname = current_database() AND state LIKE 'idle in transaction%')",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get(0);
                worst = worst.max(held);
            }
            worst
        }
    });
    let (status, took) = drip(&app.address, &key.key, "drip-1", Duration::from_millis(250)).await;
    assert!(status.contains(" 408 "), "{status}");
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
    assert_eq!(
        watch.await.unwrap(),
        0,
        "a transaction or a key was held while waiting"
    );
    // a pause longer than the idle limit is cut off sooner
    let (status, took) = drip(&app.address, &key.key, "drip-2", Duration::from_secs(2)).await;
    assert!(status.contains(" 408 "), "{status}");
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
    // the key is free: the same request sent at once runs
    let res = app
        .request(Method::POST, "/v1/projects", Some(&key))
        .header("Idempotency-Key", "drip-1")
        .json(&json!({ "name": "drip-drip" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn json_arrays_and_bidirectional_controls_are_refused() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let res = app
        .post(
            "/v1/projects",
            &key,
            &json!(["name", null, "Europe/Paris", "fr"]),
        )
        .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
    for name in ["invoice\u{202E}fdp.exe", "a\u{2066}b", "x\u{200F}"] {
        let res = app
            .post("/v1/projects", &key, &json!({ "name": name }))
            .await;
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], "name");
    }
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 0);
}

#[tokio::test]
async fn failed_authentications_are_limited_per_address() {
    let app = spawn_app_with(|s| s.auth_failures_per_min = 5).await;
    let good = app.partner_key(Env::Live).await;
    app.wait_for_key_cache().await;
    assert_eq!(app.get("/v1/whoami", &good).await.status(), 200);
    let unknown = |i: usize| layers_tests::TestKey {
        key: format!("lp_live_{:016}_{}", i, "A".repeat(40)),
        api_key_id: uuid::Uuid::nil(),
        org: good.org,
    };
    for i in 0..5 {
        assert_error(
            app.get("/v1/whoami", &unknown(i)).await,
            401,
            "UNAUTHENTICATED",
        )
        .await;
    }
    let res = app.get("/v1/whoami", &unknown(5)).await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let error = assert_error(res, 429, "RATE_LIMITED").await;
    assert!(error["details"]["retryAfterSeconds"].as_u64().is_some());
    // a key the process already knows still works from that address, also once its cache
    // entry has expired (it is looked up again: it resolved before)
    assert_eq!(app.get("/v1/whoami", &good).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(app.get("/v1/whoami", &good).await.status(), 200);
    // one it would have to look up does not, until the address has budget again
    let fresh = app.key_with(good.org, Env::Live, "*", Tier::Standard).await;
    assert_error(app.get("/v1/whoami", &fresh).await, 429, "RATE_LIMITED").await;
}

#[tokio::test]
async fn unknown_key_ids_are_remembered_until_a_key_with_that_id_appears() {
    let app = spawn_app().await;
    let org = app.org(layers_orgs::Plan::Partner).await;
    let key = layers_keys::ApiKey::mint(Env::Live, &ring::rand::SystemRandom::new());
    // negative entries are kept only while the key cache is proven to hear notifications
    app.wait_for_key_cache().await;
    let presented = layers_tests::TestKey {
        key: key.expose(),
        api_key_id: uuid::Uuid::nil(),
        org,
    };
    assert_error(
        app.get("/v1/whoami", &presented).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    // the key appears without a notification: the remembered answer still holds
    app.client()
        .await
        .execute("ALTER TABLE api_keys DISABLE TRIGGER api_keys_changed", &[])
        .await
        .unwrap();
    app.client()
        .await
        .execute(
            "INSERT INTO api_keys (id, key_id, organization_id, environment, secret_hash, scopes, tier) \
             VALUES (gen_random_uuid(), $1, $2, 'live', $3, ARRAY['*'], 'standard')",
            &[
                &key.key_id().as_str(),
                &org.as_uuid(),
                &key.secret().hash().as_bytes(),
            ],
        )
        .await
        .unwrap();
    app.client()
        .await
        .execute("ALTER TABLE api_keys ENABLE TRIGGER api_keys_changed", &[])
        .await
        .unwrap();
    assert_error(
        app.get("/v1/whoami", &presented).await,
        401,
        "UNAUTHENTICATED",
    )
    .await;
    // a change to that key notifies, as minting does: the key works at once
    app.client()
        .await
        .execute(
            "UPDATE api_keys SET scopes = scopes WHERE key_id = $1",
            &[&key.key_id().as_str()],
        )
        .await
        .unwrap();
    assert_eq!(
        app.get_eventually("/v1/whoami", &presented, 200)
            .await
            .status(),
        200
    );
}
