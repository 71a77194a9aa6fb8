//! Test clocks over HTTP (CONTRACT §12, `/v1/test_helpers/test-clocks`): create, get, list and
//! delete for a test key (a live key is answered as a route that does not exist); a sandbox
//! project created with `testClockId` lives on the clock; bad input writes nothing.

use layers_tests::{assert_error, spawn_app, Env, TestApp, TestKey};
use reqwest::Method;
use serde_json::{json, Value};

const CLOCKS: &str = "/v1/test_helpers/test-clocks";

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

    // a project naming another organization's clock, an unknown or malformed one: 400
    let unknown = "clock_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f";
    for (who, clock) in [(&stranger, id.as_str()), (&key, unknown), (&key, "nope")] {
        let res = app
            .post(
                "/v1/projects",
                who,
                &json!({ "name": "P", "testClockId": clock }),
            )
            .await;
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
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
