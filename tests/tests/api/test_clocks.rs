//! Test clocks over HTTP (CONTRACT §12, `/v1/test_helpers/test-clocks`): create, get, list and
//! delete for a test key (a live key is answered as a route that does not exist); a sandbox
//! project created with `testClockId` lives on the clock; bad input writes nothing.

use layers_tests::{assert_error, spawn_app, Env, TestApp, TestKey};
use reqwest::Method;
use serde_json::{json, Value};

pub(super) const CLOCKS: &str = "/v1/test_helpers/test-clocks";

async fn clock(app: &TestApp, key: &TestKey, frozen_time: &str) -> Value {
    let res = app
        .post(
            CLOCKS,
            key,
            &json!({ "frozenTime": frozen_time, "name": "Renewals" }),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    res.json().await.unwrap()
}

async fn delete(app: &TestApp, path: &str, key: &TestKey) -> reqwest::Response {
    app.request(Method::DELETE, path, Some(key))
        .send()
        .await
        .expect("DELETE")
}

#[tokio::test]
async fn a_clock_is_created_read_listed_and_deleted() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let created = clock(&app, &key, "2026-01-01T00:00:00+01:00").await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("clock_"), "{created}");
    assert_eq!(created["name"], "Renewals");
    assert_eq!(created["frozenTime"], "2025-12-31T23:00:00.000Z");
    assert_eq!(created["status"], "ready");
    assert!(created["createdAt"].is_string());
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 5, "{created}");

    let got = app.get_json(&format!("{CLOCKS}/{id}"), &key).await;
    assert_eq!(got, created);
    let second = clock(&app, &key, "2027-06-01T00:00:00Z").await;
    let list = app.get_json(&format!("{CLOCKS}?limit=1"), &key).await;
    assert_eq!(list["data"], json!([second]));
    let next = list["nextCursor"].as_str().unwrap();
    let rest = app
        .get_json(&format!("{CLOCKS}?limit=1&cursor={next}"), &key)
        .await;
    assert_eq!(rest["data"], json!([created]));
    assert_eq!(rest["nextCursor"], Value::Null);

    // a project on the clock shows it, and returns to the wall clock when it is deleted
    let res = app
        .post(
            "/v1/projects",
            &key,
            &json!({ "name": "On a clock", "testClockId": id }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let project: Value = res.json().await.unwrap();
    assert_eq!(project["testClockId"], id.as_str());
    let plain = app.project(&key, "Wall clock").await;
    assert_eq!(plain["testClockId"], Value::Null);

    let res = delete(&app, &format!("{CLOCKS}/{id}"), &key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["id"], id.as_str());
    let res = app.get(&format!("{CLOCKS}/{id}"), &key).await;
    assert_error(res, 404, "NOT_FOUND").await;
    let project = app
        .get_json(
            &format!("/v1/projects/{}", project["id"].as_str().unwrap()),
            &key,
        )
        .await;
    assert_eq!(project["testClockId"], Value::Null);
    let res = delete(&app, &format!("{CLOCKS}/{id}"), &key).await;
    assert_error(res, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn another_organizations_clock_is_not_found_and_cannot_be_used() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let stranger = app.partner_key(Env::Sandbox).await;
    let id = clock(&app, &key, "2026-01-01T00:00:00Z").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app.get(&format!("{CLOCKS}/{id}"), &stranger).await;
    assert_error(res, 404, "NOT_FOUND").await;
    let res = delete(&app, &format!("{CLOCKS}/{id}"), &stranger).await;
    assert_error(res, 404, "NOT_FOUND").await;
    let list = app.get_json(CLOCKS, &stranger).await;
    assert_eq!(list["data"], json!([]));
    let res = app.get(&format!("{CLOCKS}/clock_bogus"), &key).await;
    assert_error(res, 404, "NOT_FOUND").await;

    // a project naming another organization's clock or an unknown one: 404; a malformed one: 400
    let unknown = "clock_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f";
    for (who, clock, status, code) in [
        (&stranger, id.as_str(), 404, "NOT_FOUND"),
        (&key, unknown, 404, "NOT_FOUND"),
        (&key, "nope", 400, "VALIDATION_ERROR"),
    ] {
        let res = app
            .post(
                "/v1/projects",
                who,
                &json!({ "name": "P", "testClockId": clock }),
            )
            .await;
        let error = assert_error(res, status, code).await;
        assert_eq!(error["details"]["field"], "testClockId", "{error}");
    }
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM test_clocks").await, 1);
}

#[tokio::test]
async fn a_live_key_gets_404_from_the_clock_routes_and_400_naming_test_clock_id() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let id = clock(&app, &key, "2026-01-01T00:00:00Z").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let unknown = app.get("/v1/test_helpers/nothing-here", &live).await;
    let unknown = assert_error(unknown, 404, "NOT_FOUND").await;
    let shape: Vec<&String> = unknown.as_object().unwrap().keys().collect();
    let one = format!("{CLOCKS}/{id}");
    let answers = [
        app.post(
            CLOCKS,
            &live,
            &json!({ "frozenTime": "2026-01-01T00:00:00Z" }),
        )
        .await,
        app.post(CLOCKS, &live, &json!({ "bogus": 1 })).await,
        app.get(CLOCKS, &live).await,
        app.get(&one, &live).await,
        delete(&app, &one, &live).await,
    ];
    for res in answers {
        let method = res.url().path().to_owned();
        let error = assert_error(res, 404, "NOT_FOUND").await;
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("no route for "),
            "{method}: {error}"
        );
        let keys: Vec<&String> = error.as_object().unwrap().keys().collect();
        assert_eq!(keys, shape, "{error}");
    }
    let res = app
        .post(
            "/v1/projects",
            &live,
            &json!({ "name": "Live", "testClockId": id }),
        )
        .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "testClockId");
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM test_clocks").await, 1);
}

#[tokio::test]
async fn bad_clock_input_is_400_and_writes_nothing() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    for body in [
        json!({}),
        json!({ "frozenTime": "yesterday" }),
        json!({ "frozenTime": "2026-01-01T00:00:00Z", "name": "x".repeat(201) }),
        json!({ "frozenTime": "2026-01-01T00:00:00Z", "extra": true }),
    ] {
        let res = app.post(CLOCKS, &key, &body).await;
        assert_error(res, 400, "VALIDATION_ERROR").await;
    }
    assert_eq!(app.count("SELECT count(*) FROM test_clocks").await, 0);
}

/// `t` as the API writes times.
pub(super) fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Advances the clock and waits until it is `ready` again (at most ten seconds).
pub(super) async fn advance(
    app: &TestApp,
    key: &TestKey,
    clock: &str,
    to: chrono::DateTime<chrono::Utc>,
) {
    let res = app
        .post(
            &format!("{CLOCKS}/{clock}/advance"),
            key,
            &json!({ "frozenTime": stamp(to) }),
        )
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "advancing", "{body}");
    assert_eq!(body["frozenTime"], stamp(to));
    ready(app, key, clock).await;
}

async fn ready(app: &TestApp, key: &TestKey, clock: &str) {
    let started = std::time::Instant::now();
    loop {
        let body = app.get_json(&format!("{CLOCKS}/{clock}"), key).await;
        if body["status"] == "ready" {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the clock is still advancing: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The data of the sandbox events of `type`, oldest first.
async fn events(app: &TestApp, key: &TestKey, event_type: &str) -> Vec<Value> {
    let list = app
        .get_json(&format!("/v1/events?type={event_type}&limit=100"), key)
        .await;
    let mut data: Vec<Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["data"].clone())
        .collect();
    data.reverse();
    data
}

/// A clock at `t0`, a project on it and a sandbox Instagram account of the project: their ids.
async fn clocked_project(
    app: &TestApp,
    key: &TestKey,
    t0: chrono::DateTime<chrono::Utc>,
) -> (String, String, String) {
    let clock = clock(app, key, &stamp(t0)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            "/v1/projects",
            key,
            &json!({ "name": "Clocked", "testClockId": clock }),
        )
        .await;
    let project = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = app.connect_sandbox(key, &project, "instagram").await;
    (clock, project, account)
}

/// Schedules one new piece of content of the project at `at`; answers the post's id.
async fn schedule(
    app: &TestApp,
    key: &TestKey,
    project: &str,
    account: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> String {
    let started = app.generate(key, project, "image").await;
    let container = started["containers"][0]["id"].as_str().unwrap();
    let body = json!({ "targets": [{ "socialAccountId": account }], "publishAt": stamp(at) });
    let res = app
        .post(&format!("/v1/content/{container}/schedule"), key, &body)
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let started: Value = res.json().await.unwrap();
    started["scheduledPostId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_clocked_project_publishes_as_the_clock_passes_and_its_accounts_expire() {
    use chrono::{Duration, SubsecRound, Utc};
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let t0 = Utc::now().trunc_subsecs(0) + Duration::hours(1);
    let (clock, project, account) = clocked_project(&app, &key, t0).await;
    // three posts over 30 days of clock time, the last scheduled first; the middle one canceled
    let late = schedule(&app, &key, &project, &account, t0 + Duration::days(17)).await;
    let early = schedule(&app, &key, &project, &account, t0 + Duration::days(3)).await;
    let canceled = schedule(&app, &key, &project, &account, t0 + Duration::days(9)).await;
    let res = app
        .post_empty(&format!("/v1/scheduled-posts/{canceled}/cancel"), &key)
        .await;
    assert_eq!(res.status(), 200);
    // their publish jobs do not run on the wall clock
    assert_eq!(
        app.count(
            "SELECT count(*) FROM jobs WHERE kind = 'publish' AND status = 'queued' \
             AND run_at > now() + interval '50 years'"
        )
        .await,
        1 + 1
    );

    // a sandbox:slow generation stays running on the wall clock; the clock's advance ends it
    let res = app
        .post(
            &format!("/v1/projects/{project}/content"),
            &key,
            &json!({ "format": "image", "hook": "sandbox:slow" }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let slow = res.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    let wall = std::time::Instant::now();

    advance(&app, &key, &clock, t0 + Duration::days(10)).await;
    let job = app.job_settles(&key, &slow).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(wall.elapsed() < std::time::Duration::from_secs(20));
    let post = |id: String| {
        let app = &app;
        let key = &key;
        async move {
            app.get_json(&format!("/v1/scheduled-posts/{id}"), key)
                .await
        }
    };
    let first = post(early.clone()).await;
    assert_eq!(first["status"], "published", "{first}");
    assert_eq!(
        first["targets"][0]["postedAt"],
        stamp(t0 + Duration::days(3))
    );
    assert!(first["targets"][0]["externalId"]
        .as_str()
        .unwrap()
        .starts_with("sb_post_cnt_"));
    assert_eq!(post(late.clone()).await["status"], "scheduled");
    assert_eq!(post(canceled.clone()).await["status"], "canceled");

    advance(&app, &key, &clock, t0 + Duration::days(20)).await;
    let last = post(late.clone()).await;
    assert_eq!(last["status"], "published");
    assert_eq!(
        last["targets"][0]["postedAt"],
        stamp(t0 + Duration::days(17))
    );
    assert_eq!(post(canceled.clone()).await["status"], "canceled");
    let published: Vec<Value> = events(&app, &key, "post.published")
        .await
        .iter()
        .map(|d| d["scheduledPostId"].clone())
        .collect();
    assert_eq!(published, vec![json!(early), json!(late)]);
    // what the advances caused happened in clock time: each post.published at its publishAt
    let envelopes = app
        .get_json("/v1/events?type=post.published&limit=100", &key)
        .await;
    let mut stated: Vec<Value> = envelopes["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["createdAt"].clone())
        .collect();
    stated.reverse();
    assert_eq!(
        stated,
        vec![
            json!(stamp(t0 + Duration::days(3))),
            json!(stamp(t0 + Duration::days(17)))
        ]
    );
    // metrics: "today" is the clock's day
    let day = |d: i64| (t0 + Duration::days(d)).format("%Y-%m-%d").to_string();
    let metrics = format!("/v1/projects/{project}/metrics");
    let got = app.get_json(&metrics, &key).await;
    assert_eq!(got["to"], day(20), "{got}");
    assert_eq!(got["data"].as_array().unwrap().len(), 2, "{got}");
    let res = app.get(&format!("{metrics}?to={}", day(21)), &key).await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "to");
    let summary = app
        .get_json(&format!("{metrics}/summary?to={}", day(20)), &key)
        .await;
    assert_eq!(summary["to"], day(20), "{summary}");
    // the posts' publish jobs ended succeeded
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'publish' AND status = 'succeeded'")
            .await,
        2
    );
    let accounts = format!("/v1/projects/{project}/social/accounts");
    assert_eq!(
        app.get_json(&accounts, &key).await["data"][0]["status"],
        "active"
    );

    // 61 days of clock time after it connected, the account needs a new connection
    advance(&app, &key, &clock, t0 + Duration::days(61)).await;
    assert_eq!(
        app.get_json(&accounts, &key).await["data"][0]["status"],
        "needs_reauth"
    );
    let expired = events(&app, &key, "social_account.needs_reauth").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["socialAccountId"], account.as_str());
    let envelope = app
        .get_json("/v1/events?type=social_account.needs_reauth", &key)
        .await;
    assert_eq!(
        envelope["data"][0]["createdAt"],
        stamp(t0 + Duration::days(61)),
        "the clock's time of the advance that expired it"
    );

    let advancing = events(&app, &key, "test_helpers.test_clock.advancing").await;
    let ready = events(&app, &key, "test_helpers.test_clock.ready").await;
    assert_eq!(advancing.len(), 3);
    assert_eq!(ready.len(), 3);
    assert_eq!(advancing[0]["status"], "advancing");
    assert_eq!(ready[2]["status"], "ready");
    assert_eq!(ready[2]["frozenTime"], stamp(t0 + Duration::days(61)));
    assert_eq!(ready[2]["id"], clock.as_str());
}

#[tokio::test]
async fn advances_go_forward_by_at_most_two_years_one_at_a_time() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let id = clock(&app, &key, "2026-01-01T00:00:00Z").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("{CLOCKS}/{id}/advance");
    for to in [
        "2025-12-31T00:00:00Z",
        "2026-01-01T00:00:00Z",
        "2028-01-01T00:00:01Z",
        "soon",
    ] {
        let res = app.post(&path, &key, &json!({ "frozenTime": to })).await;
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], "frozenTime", "{to}: {error}");
    }
    let res = app
        .post(
            &path,
            &live,
            &json!({ "frozenTime": "2026-02-01T00:00:00Z" }),
        )
        .await;
    assert_error(res, 404, "NOT_FOUND").await;
    let unknown = format!("{CLOCKS}/clock_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f/advance");
    let res = app
        .post(
            &unknown,
            &key,
            &json!({ "frozenTime": "2026-02-01T00:00:00Z" }),
        )
        .await;
    assert_error(res, 404, "NOT_FOUND").await;
    let got = app.get_json(&format!("{CLOCKS}/{id}"), &key).await;
    assert_eq!(got["frozenTime"], "2026-01-01T00:00:00.000Z");
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);

    // exactly two years is allowed; while advancing, another advance is 409
    app.client()
        .await
        .execute("UPDATE test_clocks SET status = 'advancing'", &[])
        .await
        .unwrap();
    let res = app
        .post(
            &path,
            &key,
            &json!({ "frozenTime": "2028-01-01T00:00:00Z" }),
        )
        .await;
    assert_error(res, 409, "CONFLICT").await;
    app.client()
        .await
        .execute("UPDATE test_clocks SET status = 'ready'", &[])
        .await
        .unwrap();
    let res = app
        .post(
            &path,
            &key,
            &json!({ "frozenTime": "2028-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(res.status(), 200);
    ready(&app, &key, &id).await;
}

#[tokio::test]
async fn an_advance_over_a_thousand_due_posts_is_ready_within_two_seconds() {
    use chrono::{Duration, SubsecRound, Utc};
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let t0 = Utc::now().trunc_subsecs(0) + Duration::hours(1);
    let clock = clock(&app, &key, &stamp(t0)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            "/v1/projects",
            &key,
            &json!({ "name": "Busy", "testClockId": clock }),
        )
        .await;
    let project = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = app.connect_sandbox(&key, &project, "instagram").await;
    schedule(&app, &key, &project, &account, t0 + Duration::days(1)).await;
    // 999 more like it, a minute apart, written directly (each its container, post, target and
    // queued publish job)
    app.copy_scheduled_post(999).await;
    assert_eq!(
        app.count("SELECT count(*) FROM scheduled_posts WHERE status = 'scheduled'")
            .await,
        1000
    );

    let started = std::time::Instant::now();
    let res = app
        .post(
            &format!("{CLOCKS}/{clock}/advance"),
            &key,
            &json!({ "frozenTime": stamp(t0 + Duration::days(2)) }),
        )
        .await;
    assert_eq!(res.status(), 200);
    ready(&app, &key, &clock).await;
    let took = started.elapsed();
    println!("advance over 1,000 due posts: ready after {took:?}");
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM scheduled_posts WHERE status = 'published'")
            .await,
        1000
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM platform_posts \
             WHERE status = 'published' AND posted_at IS NOT NULL"
        )
        .await,
        1000
    );
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'publish' AND status = 'succeeded'")
            .await,
        1000
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type = 'post.published'")
            .await,
        1000
    );
}

#[tokio::test]
async fn a_clocked_projects_posts_are_checked_and_posted_on_the_clocks_time() {
    use chrono::{Duration, SubsecRound, Utc};
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let wall = Utc::now().trunc_subsecs(0);
    for t0 in [wall + Duration::days(100), wall - Duration::days(30)] {
        let clock = clock(&app, &key, &stamp(t0)).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let res = app
            .post(
                "/v1/projects",
                &key,
                &json!({ "name": "P", "testClockId": clock }),
            )
            .await;
        let project = res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let account = app.connect_sandbox(&key, &project, "instagram").await;
        // in the clock's past, or more than 90 days after it: refused
        for at in [t0 - Duration::hours(1), t0 + Duration::days(91)] {
            let started = app.generate(&key, &project, "image").await;
            let container = started["containers"][0]["id"].as_str().unwrap();
            let body =
                json!({ "targets": [{ "socialAccountId": account }], "publishAt": stamp(at) });
            let res = app
                .post(&format!("/v1/content/{container}/schedule"), &key, &body)
                .await;
            let error = assert_error(res, 400, "VALIDATION_ERROR").await;
            assert_eq!(error["details"]["field"], "publishAt");
        }
        // a day after the clock's time: accepted, whatever the wall clock says
        schedule(&app, &key, &project, &account, t0 + Duration::days(1)).await;
        // published now: posted at the clock's time
        let started = app.generate(&key, &project, "image").await;
        let container = started["containers"][0]["id"].as_str().unwrap();
        let res = app
            .post(
                &format!("/v1/content/{container}/publish"),
                &key,
                &json!({ "targets": [{ "socialAccountId": account }] }),
            )
            .await;
        assert_eq!(res.status(), 202);
        let post = res.json::<Value>().await.unwrap()["scheduledPostId"]
            .as_str()
            .unwrap()
            .to_owned();
        let post = app
            .get_json(&format!("/v1/scheduled-posts/{post}"), &key)
            .await;
        assert_eq!(post["targets"][0]["postedAt"], stamp(t0), "{post}");
    }
}

#[tokio::test]
async fn deleting_a_clock_returns_its_scheduled_posts_to_the_wall_clock() {
    use chrono::{Duration, SubsecRound, Utc};
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let t0 = Utc::now().trunc_subsecs(0) - Duration::days(10);
    let clock = clock(&app, &key, &stamp(t0)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            "/v1/projects",
            &key,
            &json!({ "name": "P", "testClockId": clock }),
        )
        .await;
    let project = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = app.connect_sandbox(&key, &project, "instagram").await;
    // due on the clock a day from now, nine days ago on the wall clock: held for the clock
    let post = schedule(&app, &key, &project, &account, t0 + Duration::days(1)).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let path = format!("/v1/scheduled-posts/{post}");
    assert_eq!(app.get_json(&path, &key).await["status"], "scheduled");

    let res = delete(&app, &format!("{CLOCKS}/{clock}"), &key).await;
    assert_eq!(res.status(), 200);
    // back on the wall clock, its time has passed: it publishes now
    let started = std::time::Instant::now();
    loop {
        let body = app.get_json(&path, &key).await;
        if body["status"] == "published" {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "not published: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_slow_job_on_a_clock_ends_once_the_clock_passes_its_start_plus_thirty_seconds() {
    use chrono::{Duration, SubsecRound, Utc};
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let t0 = Utc::now().trunc_subsecs(0);
    let clock = clock(&app, &key, &stamp(t0)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            "/v1/projects",
            &key,
            &json!({ "name": "P", "testClockId": clock }),
        )
        .await;
    let project = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            &format!("/v1/projects/{project}/content"),
            &key,
            &json!({ "format": "image", "hook": "sandbox:slow" }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let job = res.json::<Value>().await.unwrap()["jobId"]
        .as_str()
        .unwrap()
        .to_owned();
    // 10 s of clock time: still running
    advance(&app, &key, &clock, t0 + Duration::seconds(10)).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let body = app.get_json(&format!("/v1/jobs/{job}"), &key).await;
    assert_eq!(body["status"], "running", "{body}");
    // 30 s more: it completes, long before 30 s of wall time
    advance(&app, &key, &clock, t0 + Duration::seconds(40)).await;
    let body = app.job_settles(&key, &job).await;
    assert_eq!(body["status"], "succeeded", "{body}");
}

#[tokio::test]
async fn an_advance_whose_last_attempt_fails_leaves_the_clock_ready_for_the_next_one() {
    use chrono::{Duration, SubsecRound, Utc};
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let t0 = Utc::now().trunc_subsecs(0) + Duration::hours(1);
    let (clock, project, account) = clocked_project(&app, &key, t0).await;
    let post = schedule(&app, &key, &project, &account, t0 + Duration::days(1)).await;
    // every new job gets one attempt, and publishing a due post fails
    app.client()
        .await
        .batch_execute(
            "ALTER TABLE jobs ALTER COLUMN max_attempts SET DEFAULT 1; \
             CREATE FUNCTION layers_test_refuse() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
             CREATE TRIGGER layers_test_refuse BEFORE UPDATE ON platform_posts \
                 FOR EACH ROW EXECUTE FUNCTION layers_test_refuse();",
        )
        .await
        .unwrap();
    advance(&app, &key, &clock, t0 + Duration::days(2)).await;
    // the clock is given back first, then the worker records the job failed
    let failed =
        "SELECT count(*) FROM jobs WHERE kind = 'test_clock_advance' AND status = 'failed' \
         AND error->>'code' = 'job_failed'";
    let started = std::time::Instant::now();
    while app.count(failed).await != 1 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the advance job did not fail"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let path = format!("/v1/scheduled-posts/{post}");
    assert_eq!(app.get_json(&path, &key).await["status"], "scheduled");

    // the next advance does what was due
    app.client()
        .await
        .batch_execute("DROP TRIGGER layers_test_refuse ON platform_posts")
        .await
        .unwrap();
    advance(&app, &key, &clock, t0 + Duration::days(3)).await;
    let published = app.get_json(&path, &key).await;
    assert_eq!(published["status"], "published", "{published}");
    assert_eq!(
        published["targets"][0]["postedAt"],
        stamp(t0 + Duration::days(1))
    );
}
