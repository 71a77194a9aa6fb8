//! Projects over HTTP: create (with customerExternalId dedupe), list, get, patch, archive, for
//! live and test keys, and never across organizations.

use layers_tests::{assert_error, spawn_app, Env, BOTH};
use serde_json::{json, Value};

#[tokio::test]
async fn create_returns_201_and_marks_the_environment() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let res = app
            .post(
                "/v1/projects",
                &key,
                &json!({
                    "name": "Acme App",
                    "customerExternalId": "cust-42",
                    "timezone": "America/New_York",
                    "primaryLanguage": "pt-br",
                }),
            )
            .await;
        assert_eq!(res.status(), 201);
        let p: Value = res.json().await.unwrap();
        assert!(p["id"].as_str().unwrap().starts_with("proj_"));
        assert_eq!(p["name"], "Acme App");
        assert_eq!(p["customerExternalId"], "cust-42");
        assert_eq!(p["timezone"], "America/New_York");
        assert_eq!(p["primaryLanguage"], "pt-BR");
        assert_eq!(p["status"], "active");
        assert_eq!(p["archivedAt"], Value::Null);
        let created = p["createdAt"].as_str().unwrap();
        assert_eq!(created.len(), "2026-05-08T12:00:00.000Z".len());
        assert!(created.ends_with('Z'));

        let id = p["id"]
            .as_str()
            .unwrap()
            .trim_start_matches("proj_")
            .to_owned();
        let sandbox = app
            .count(&format!(
                "SELECT count(*) FROM projects WHERE id = '{id}'::uuid AND is_sandbox"
            ))
            .await;
        assert_eq!(sandbox, i64::from(env == Env::Sandbox));
    }
}

#[tokio::test]
async fn defaults_for_timezone_and_language() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    let p = app.project(&key, "Plain").await;
    assert_eq!(p["timezone"], "UTC");
    assert_eq!(p["primaryLanguage"], "en");
    assert_eq!(p["customerExternalId"], Value::Null);
}

#[tokio::test]
async fn a_used_customer_external_id_returns_the_existing_project() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let body = json!({ "name": "First", "customerExternalId": "ci-123" });
        let first = app.post("/v1/projects", &key, &body).await;
        assert_eq!(first.status(), 201);
        let first: Value = first.json().await.unwrap();
        let again = app
            .post(
                "/v1/projects",
                &key,
                &json!({ "name": "Second", "customerExternalId": "ci-123" }),
            )
            .await;
        assert_eq!(again.status(), 200);
        let again: Value = again.json().await.unwrap();
        assert_eq!(again, first);
    }
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 2);
}

#[tokio::test]
async fn get_list_and_paginate() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(app.project_id(&key, &format!("P{i}")).await);
        }
        let one: Value = app
            .get_json(&format!("/v1/projects/{}", ids[2]), &key)
            .await;
        assert_eq!(one["name"], "P2");

        let mut seen = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let path = match &next {
                Some(c) => format!("/v1/projects?limit=2&cursor={c}"),
                None => "/v1/projects?limit=2".to_owned(),
            };
            let page: Value = app.get_json(&path, &key).await;
            assert!(page["data"].as_array().unwrap().len() <= 2);
            seen.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["id"].as_str().unwrap().to_owned()),
            );
            match page["nextCursor"].as_str() {
                Some(c) => next = Some(c.to_owned()),
                None => break,
            }
        }
        ids.reverse();
        assert_eq!(seen, ids, "newest first, each once");

        let default: Value = app.get_json("/v1/projects", &key).await;
        assert_eq!(default["data"].as_array().unwrap().len(), 5);
        assert_eq!(default["nextCursor"], Value::Null);
        for bad in ["limit=0", "limit=101", "limit=ten"] {
            let error = assert_error(
                app.get(&format!("/v1/projects?{bad}"), &key).await,
                400,
                "VALIDATION_ERROR",
            )
            .await;
            assert_eq!(error["details"]["field"], "limit");
        }
        let error = assert_error(
            app.get("/v1/projects?cursor=garbage", &key).await,
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["details"]["field"], "cursor");
    }
}

#[tokio::test]
async fn another_organizations_projects_are_not_found() {
    let app = spawn_app().await;
    for env in BOTH {
        let mine = app.partner_key(env).await;
        let theirs = app.partner_key(env).await;
        let id = app.project_id(&mine, "Mine").await;
        assert_error(
            app.get(&format!("/v1/projects/{id}"), &theirs).await,
            404,
            "NOT_FOUND",
        )
        .await;
        let res = app
            .patch(
                &format!("/v1/projects/{id}"),
                &theirs,
                &json!({ "name": "Stolen" }),
            )
            .await;
        assert_error(res, 404, "NOT_FOUND").await;
        let res = app
            .post_empty(&format!("/v1/projects/{id}/archive"), &theirs)
            .await;
        assert_error(res, 404, "NOT_FOUND").await;
        let list: Value = app.get_json("/v1/projects", &theirs).await;
        assert_eq!(list["data"], json!([]));
        // malformed ids are simply not found
        assert_error(
            app.get("/v1/projects/proj_nope", &mine).await,
            404,
            "NOT_FOUND",
        )
        .await;
        assert_error(app.get("/v1/projects/12345", &mine).await, 404, "NOT_FOUND").await;
        let unchanged: Value = app.get_json(&format!("/v1/projects/{id}"), &mine).await;
        assert_eq!(unchanged["name"], "Mine");
        assert_eq!(unchanged["status"], "active");
    }
}

#[tokio::test]
async fn patch_changes_only_the_given_fields() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let p = app.project(&key, "Before").await;
        let id = p["id"].as_str().unwrap();
        let res = app
            .patch(
                &format!("/v1/projects/{id}"),
                &key,
                &json!({ "name": "After", "timezone": "Asia/Tokyo" }),
            )
            .await;
        assert_eq!(res.status(), 200);
        let after: Value = res.json().await.unwrap();
        assert_eq!(after["name"], "After");
        assert_eq!(after["timezone"], "Asia/Tokyo");
        assert_eq!(after["primaryLanguage"], p["primaryLanguage"]);
        assert_eq!(after["createdAt"], p["createdAt"]);

        let res = app
            .patch(
                &format!("/v1/projects/{id}"),
                &key,
                &json!({ "timezone": "Nowhere/Else" }),
            )
            .await;
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], "timezone");
        let unchanged: Value = app.get_json(&format!("/v1/projects/{id}"), &key).await;
        assert_eq!(unchanged["timezone"], "Asia/Tokyo");
    }
}

#[tokio::test]
async fn patch_refuses_a_customer_external_id_in_use() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Live).await;
    app.post(
        "/v1/projects",
        &key,
        &json!({ "name": "A", "customerExternalId": "one" }),
    )
    .await;
    let b: Value = app
        .post(
            "/v1/projects",
            &key,
            &json!({ "name": "B", "customerExternalId": "two" }),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .patch(
            &format!("/v1/projects/{}", b["id"].as_str().unwrap()),
            &key,
            &json!({ "customerExternalId": "one" }),
        )
        .await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "customer_external_id_taken");
}

#[tokio::test]
async fn archive_is_idempotent_and_freezes_the_project() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let id = app.project_id(&key, "Old").await;
        let first = app
            .post_empty(&format!("/v1/projects/{id}/archive"), &key)
            .await;
        assert_eq!(first.status(), 200);
        let first: Value = first.json().await.unwrap();
        assert_eq!(first["status"], "archived");
        assert!(first["archivedAt"].is_string());
        let second: Value = app
            .post_empty(&format!("/v1/projects/{id}/archive"), &key)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(second, first);

        let res = app
            .patch(
                &format!("/v1/projects/{id}"),
                &key,
                &json!({ "name": "New" }),
            )
            .await;
        let error = assert_error(res, 409, "CONFLICT").await;
        assert_eq!(error["reason"], "project_archived");
        let res = app
            .post(
                &format!("/v1/projects/{id}/influencers"),
                &key,
                &json!({ "name": "Ava" }),
            )
            .await;
        let error = assert_error(res, 409, "CONFLICT").await;
        assert_eq!(error["reason"], "project_archived");
    }
    assert_eq!(app.count("SELECT count(*) FROM influencers").await, 0);
}

#[tokio::test]
async fn live_and_sandbox_are_separate_worlds_on_every_route() {
    let app = spawn_app().await;
    let org = app.org(layers_orgs::Plan::Partner).await;
    let live = app
        .key_with(org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let test = app
        .key_with(org, Env::Sandbox, "*", layers_keys::Tier::Standard)
        .await;
    for (owner, other, where_) in [(&live, &test, "live"), (&test, &live, "sandbox")] {
        let id = app.project_id(owner, "Mine").await;
        // lists show only the key's own environment
        let listed: Value = app.get_json("/v1/projects", other).await;
        assert!(
            listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["id"] != id.as_str()),
            "{listed}"
        );
        let own: Value = app.get_json("/v1/projects", owner).await;
        assert!(own["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == id.as_str()));
        // a read by id is a 404 that says where the project is
        for path in [
            format!("/v1/projects/{id}"),
            format!("/v1/projects/{id}/influencers"),
        ] {
            let error = assert_error(app.get(&path, other).await, 404, "NOT_FOUND").await;
            let message = error["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("exists in {where_}")),
                "{message}"
            );
        }
        // every write names the mismatch and writes nothing
        let res = app
            .patch(
                &format!("/v1/projects/{id}"),
                other,
                &json!({ "name": "Changed" }),
            )
            .await;
        assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
        let res = app
            .post_empty(&format!("/v1/projects/{id}/archive"), other)
            .await;
        assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
        let res = app
            .post(
                &format!("/v1/projects/{id}/influencers"),
                other,
                &json!({ "name": "Ava" }),
            )
            .await;
        assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
        let unchanged: Value = app.get_json(&format!("/v1/projects/{id}"), owner).await;
        assert_eq!(unchanged["name"], "Mine");
        assert_eq!(unchanged["status"], "active");
        // another organization's id stays a plain 404, whatever its environment
        let stranger = app.partner_key(Env::Live).await;
        let error = assert_error(
            app.get(&format!("/v1/projects/{id}"), &stranger).await,
            404,
            "NOT_FOUND",
        )
        .await;
        assert_eq!(error["message"], "no such project");
    }
    // the same customerExternalId names one project per environment: no upsert across worlds
    let body = json!({ "name": "CI", "customerExternalId": "ci-run-7" });
    let in_live = app.post("/v1/projects", &live, &body).await;
    assert_eq!(in_live.status(), 201);
    let in_test = app.post("/v1/projects", &test, &body).await;
    assert_eq!(in_test.status(), 201, "not the live project");
    let (a, b): (Value, Value) = (in_live.json().await.unwrap(), in_test.json().await.unwrap());
    assert_ne!(a["id"], b["id"]);
    assert_eq!(app.count("SELECT count(*) FROM influencers").await, 0);
}
