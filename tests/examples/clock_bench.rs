//! Times a test clock's advance over 1,000 due scheduled sandbox posts (issue 19), for
//! `cargo xtask bench`: one post is scheduled over HTTP on a clocked project and copied 999
//! times in SQL (each with its container, target and queued `publish` job), then the clock is
//! advanced past them all; the figure is the time from the advance request to the clock reading
//! `ready` again, every post published with its event. Reads the server from
//! `LAYERS_TEST_DATABASE_URL` (a fresh database is made on it) and prints one JSON object.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use layers_tests::{spawn_app, Env, TestApp, TestKey};
use serde_json::{json, Value};

const CLOCKS: &str = "/v1/test_helpers/test-clocks";

/// `t` as the API writes times.
fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A project on a new clock frozen at `t0`, with one sandbox Instagram account.
async fn clocked_project(
    app: &TestApp,
    key: &TestKey,
    t0: DateTime<Utc>,
) -> (String, String, String) {
    let clock: Value = app
        .post(CLOCKS, key, &json!({ "frozenTime": stamp(t0) }))
        .await
        .json()
        .await
        .expect("a clock");
    let clock = clock["id"].as_str().expect("its id").to_owned();
    let project: Value = app
        .post(
            "/v1/projects",
            key,
            &json!({ "name": "Busy", "testClockId": clock }),
        )
        .await
        .json()
        .await
        .expect("a project");
    let project = project["id"].as_str().expect("its id").to_owned();
    let account = app.connect_sandbox(key, &project, "instagram").await;
    (clock, project, account)
}

/// One post scheduled over HTTP at `at`, then 999 copies a minute apart, written directly.
async fn thousand_due_posts(
    app: &TestApp,
    key: &TestKey,
    project: &str,
    account: &str,
    at: DateTime<Utc>,
) {
    let started = app.generate(key, project, "image").await;
    let container = started["containers"][0]["id"]
        .as_str()
        .expect("a container");
    let body = json!({ "targets": [{ "socialAccountId": account }], "publishAt": stamp(at) });
    let res = app
        .post(&format!("/v1/content/{container}/schedule"), key, &body)
        .await;
    assert_eq!(res.status(), 202);
    app.copy_scheduled_post(999).await;
}

#[tokio::main]
async fn main() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let t0 = Utc::now().trunc_subsecs(0) + Duration::hours(1);
    let (clock, project, account) = clocked_project(&app, &key, t0).await;
    thousand_due_posts(&app, &key, &project, &account, t0 + Duration::days(1)).await;

    let started = std::time::Instant::now();
    let res = app
        .post(
            &format!("{CLOCKS}/{clock}/advance"),
            &key,
            &json!({ "frozenTime": stamp(t0 + Duration::days(2)) }),
        )
        .await;
    assert_eq!(res.status(), 200);
    loop {
        let body = app.get_json(&format!("{CLOCKS}/{clock}"), &key).await;
        if body["status"] == "ready" {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
    let published = app
        .count("SELECT count(*) FROM scheduled_posts WHERE status = 'published'")
        .await;
    let events = app
        .count("SELECT count(*) FROM events WHERE type = 'post.published'")
        .await;
    println!(
        "{}",
        json!({ "posts": published, "events": events, "ready_ms": ready_ms })
    );
}
