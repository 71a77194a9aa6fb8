//! Idempotency keys over HTTP (CONTRACT §5), for live and test keys alike.

use layers_idempotency::{Fingerprint, IdempotencyKey, Scope};
use layers_tests::{assert_error, spawn_app, Env, TestApp, TestKey, BOTH};
use reqwest::{Method, Response};
use serde_json::{json, Value};

async fn post_with_key(
    app: &TestApp,
    path: &str,
    key: &TestKey,
    idem: &str,
    body: &Value,
) -> Response {
    app.request(Method::POST, path, Some(key))
        .header("Idempotency-Key", idem)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn replayed(res: &Response) -> bool {
    res.headers()
        .get("idempotent-replayed")
        .map(|v| v == "true")
        .unwrap_or(false)
}

#[tokio::test]
async fn a_replay_returns_the_stored_answer_byte_for_byte() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let body = json!({ "name": "Once" });
        let first = post_with_key(&app, "/v1/projects", &key, "create-1", &body).await;
        assert_eq!(first.status(), 201);
        assert!(!replayed(&first));
        let first_id = first.headers()["x-request-id"].clone();
        let first_text = first.text().await.unwrap();

        let again = post_with_key(&app, "/v1/projects", &key, "create-1", &body).await;
        assert_eq!(again.status(), 201);
        assert!(replayed(&again));
        assert_ne!(
            again.headers()["x-request-id"],
            first_id,
            "a replay is a new request"
        );
        assert_eq!(again.headers()["content-type"], "application/json");
        assert_eq!(again.text().await.unwrap(), first_text);
    }
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 2);
}

#[tokio::test]
async fn client_errors_are_stored_too() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let body = json!({ "name": "x", "timezone": "Nowhere/Else" });
    let first = post_with_key(&app, "/v1/projects", &key, "bad-1", &body).await;
    let first_text = {
        assert_eq!(first.status(), 400);
        first.text().await.unwrap()
    };
    let again = post_with_key(&app, "/v1/projects", &key, "bad-1", &body).await;
    assert_eq!(again.status(), 400);
    assert!(replayed(&again));
    assert_eq!(again.text().await.unwrap(), first_text);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_refused() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let first = post_with_key(&app, "/v1/projects", &key, "k", &json!({ "name": "A" })).await;
        assert_eq!(first.status(), 201);
        let other = post_with_key(&app, "/v1/projects", &key, "k", &json!({ "name": "B" })).await;
        assert!(other.headers().contains_key("x-ratelimit-remaining"));
        assert_error(other, 422, "IDEMPOTENCY_KEY_REUSED").await;

        // the same key on the same route template but another resource
        let a = app.project_id(&key, "a").await;
        let b = app.project_id(&key, "b").await;
        let archive = |id: String| {
            app.request(
                Method::POST,
                &format!("/v1/projects/{id}/archive"),
                Some(&key),
            )
            .header("Idempotency-Key", "arch")
            .send()
        };
        assert_eq!(archive(a).await.unwrap().status(), 200);
        assert_error(
            archive(b.clone()).await.unwrap(),
            422,
            "IDEMPOTENCY_KEY_REUSED",
        )
        .await;
        let still: Value = app.get_json(&format!("/v1/projects/{b}"), &key).await;
        assert_eq!(still["status"], "active");
    }
}

#[tokio::test]
async fn keys_are_scoped_to_the_api_key_and_the_endpoint() {
    let app = spawn_app().await;
    let one = app.partner_key(Env::Sandbox).await;
    let two = app
        .key_with(one.org, Env::Sandbox, "*", layers_keys::Tier::Standard)
        .await;
    let body = json!({ "name": "Shared" });
    assert_eq!(
        post_with_key(&app, "/v1/projects", &one, "same", &body)
            .await
            .status(),
        201
    );
    let res = post_with_key(&app, "/v1/projects", &two, "same", &body).await;
    assert_eq!(res.status(), 201);
    assert!(!replayed(&res));
    let pid = app.project_id(&one, "p").await;
    let res = post_with_key(
        &app,
        &format!("/v1/projects/{pid}/influencers"),
        &one,
        "same",
        &body,
    )
    .await;
    assert_eq!(res.status(), 201);
    assert!(!replayed(&res));
}

#[tokio::test]
async fn a_key_still_running_answers_409() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let body = json!({ "name": "Slow" });
        // another request holds the key: its transaction is open and has not committed
        let idem = IdempotencyKey::parse("running-1").unwrap();
        let scope = Scope {
            api_key_id: key.api_key_id,
            endpoint: "POST /v1/projects",
            key: &idem,
        };
        let fingerprint = Fingerprint::of("/v1/projects", &serde_json::to_vec(&body).unwrap());
        let holder = app.client().await;
        let begun = layers_idempotency::begin(&holder, scope, &fingerprint)
            .await
            .unwrap();
        assert_eq!(begun, layers_idempotency::Begin::Proceed);

        let res = post_with_key(&app, "/v1/projects", &key, "running-1", &body).await;
        assert!(res.headers().contains_key("x-ratelimit-remaining"));
        let error = assert_error(res, 409, "CONFLICT").await;
        assert_eq!(error["reason"], "idempotency_in_progress");
        // the holder goes away without committing: the key is free again
        holder.batch_execute("ROLLBACK").await.unwrap();
        let res = post_with_key(&app, "/v1/projects", &key, "running-1", &body).await;
        assert_eq!(res.status(), 201);
    }
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 2);
}

/// The side effect and its stored answer are one fact: a connection dropped after the project
/// was inserted but before the transaction committed leaves neither, and the retry creates the
/// project exactly once.
#[tokio::test]
async fn a_connection_lost_before_the_commit_neither_duplicates_nor_loses_the_write() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let body = json!({ "name": "Exactly once" });
        let idem = format!("crash-{env:?}");
        // Hold the idempotency table so that the request stops between its insert and its
        // commit (storing the answer waits for this lock).
        let blocker = app.client().await;
        blocker
            .batch_execute("BEGIN; LOCK TABLE idempotency_keys IN EXCLUSIVE MODE")
            .await
            .unwrap();
        let request = tokio::spawn({
            let req = app
                .request(Method::POST, "/v1/projects", Some(&key))
                .header("Idempotency-Key", &idem)
                .json(&body);
            async move { req.send().await.unwrap() }
        });
        // wait until the request's transaction has inserted the project and waits on the lock
        let watcher = app.client().await;
        let started = std::time::Instant::now();
        let pid: i32 = loop {
            let row = watcher
                .query_opt(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND query LIKE 'INSERT INTO idempotency_keys%' AND datname = current_database()",
                    &[],
                )
                .await
                .unwrap();
            if let Some(row) = row {
                break row.get(0);
            }
            assert!(
                started.elapsed().as_secs() < 10,
                "the request never reached its commit"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        // the project row exists inside the uncommitted transaction; now the connection dies
        watcher
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        blocker.batch_execute("ROLLBACK").await.unwrap();
        let res = request.await.unwrap();
        assert_error(res, 500, "INTERNAL").await;
        assert_eq!(
            app.count("SELECT count(*) FROM projects WHERE name = 'Exactly once'")
                .await,
            0,
            "nothing half-written"
        );

        // the retry runs afresh and creates the project once; a further retry replays it
        let retry = post_with_key(&app, "/v1/projects", &key, &idem, &body).await;
        assert_eq!(retry.status(), 201);
        assert!(!replayed(&retry));
        let created: Value = retry.json().await.unwrap();
        let again = post_with_key(&app, "/v1/projects", &key, &idem, &body).await;
        assert!(replayed(&again));
        assert_eq!(again.json::<Value>().await.unwrap(), created);
        assert_eq!(
            app.count("SELECT count(*) FROM projects WHERE name = 'Exactly once'")
                .await,
            1
        );
        app.client()
            .await
            .batch_execute("DELETE FROM projects WHERE name = 'Exactly once'")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn server_errors_release_the_key() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let pid = app.project_id(&key, "p").await;
    app.client()
        .await
        .batch_execute("ALTER TABLE influencers RENAME TO influencers_away")
        .await
        .unwrap();
    let path = format!("/v1/projects/{pid}/influencers");
    let body = json!({ "name": "Ava" });
    assert_error(
        post_with_key(&app, &path, &key, "retry-me", &body).await,
        500,
        "INTERNAL",
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM idempotency_keys WHERE idempotency_key = 'retry-me'")
            .await,
        0
    );

    // the retry runs again, and succeeds once the fault is gone
    app.client()
        .await
        .batch_execute("ALTER TABLE influencers_away RENAME TO influencers")
        .await
        .unwrap();
    // the failed request's connection was closed rather than reused; its key's lock goes with
    // its backend, which the server may take a moment to end: until then a retry is told 409
    // `idempotency_in_progress`, as the contract says, and runs once the key is free
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let res = loop {
        let res = post_with_key(&app, &path, &key, "retry-me", &body).await;
        if res.status() != 409 || std::time::Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(res.status(), 201);
    assert!(!replayed(&res));
    assert_eq!(app.count("SELECT count(*) FROM influencers").await, 1);
}

#[tokio::test]
async fn expired_keys_run_again() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let body = json!({ "name": "Daily" });
    assert_eq!(
        post_with_key(&app, "/v1/projects", &key, "day", &body)
            .await
            .status(),
        201
    );
    app.client()
        .await
        .execute(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let res = post_with_key(&app, "/v1/projects", &key, "day", &body).await;
    assert_eq!(res.status(), 201);
    assert!(!replayed(&res));
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 2);
}

#[tokio::test]
async fn patch_is_covered_and_bad_keys_are_refused() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let pid = app.project_id(&key, "p").await;
    let patch = |name: &'static str| {
        app.request(Method::PATCH, &format!("/v1/projects/{pid}"), Some(&key))
            .header("Idempotency-Key", "rename")
            .json(&json!({ "name": name }))
            .send()
    };
    assert_eq!(patch("One").await.unwrap().status(), 200);
    let again = patch("One").await.unwrap();
    assert!(replayed(&again));
    assert_error(patch("Two").await.unwrap(), 422, "IDEMPOTENCY_KEY_REUSED").await;

    let long = "x".repeat(256);
    let res = post_with_key(&app, "/v1/projects", &key, &long, &json!({ "name": "n" })).await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "Idempotency-Key");
    // GET ignores the header
    let res = app
        .request(Method::GET, "/v1/projects", Some(&key))
        .header("Idempotency-Key", "g")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn fifty_concurrent_requests_with_one_key_create_one_project() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let body = json!({ "name": "Race", "customerExternalId": null });
        let requests = (0..50).map(|_| post_with_key(&app, "/v1/projects", &key, "race", &body));
        let responses = futures_util::future::join_all(requests).await;
        let mut fresh = 0;
        for res in responses {
            match res.status().as_u16() {
                201 if !replayed(&res) => fresh += 1,
                201 => {}
                409 => {
                    let error = assert_error(res, 409, "CONFLICT").await;
                    assert_eq!(error["reason"], "idempotency_in_progress");
                }
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(fresh, 1, "exactly one request ran");
    }
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 2);
}
