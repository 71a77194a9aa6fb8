//! Influencers over HTTP.

use layers_tests::{assert_error, spawn_app, Env, BOTH};
use serde_json::{json, Value};

#[tokio::test]
async fn create_and_list_influencers() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let project = app.project(&key, "P").await;
        let pid = project["id"].as_str().unwrap();
        for name in ["Ava", "Ben", "Cy"] {
            let res = app
                .post(
                    &format!("/v1/projects/{pid}/influencers"),
                    &key,
                    &json!({ "name": name, "description": "bio" }),
                )
                .await;
            assert_eq!(res.status(), 201);
            let inf: Value = res.json().await.unwrap();
            assert!(inf["id"].as_str().unwrap().starts_with("inf_"));
            assert_eq!(inf["projectId"], pid);
            assert_eq!(inf["description"], "bio");
        }
        let page: Value = app
            .get_json(&format!("/v1/projects/{pid}/influencers?limit=2"), &key)
            .await;
        let names: Vec<&str> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Cy", "Ben"]);
        let cursor = page["nextCursor"].as_str().unwrap();
        let rest: Value = app
            .get_json(
                &format!("/v1/projects/{pid}/influencers?limit=2&cursor={cursor}"),
                &key,
            )
            .await;
        assert_eq!(rest["data"].as_array().unwrap().len(), 1);
        assert_eq!(rest["nextCursor"], Value::Null);
        let sandbox = app
            .count("SELECT count(*) FROM influencers WHERE is_sandbox")
            .await;
        assert_eq!(sandbox, if env == Env::Sandbox { 3 } else { 0 });
    }
}

#[tokio::test]
async fn influencers_need_a_valid_name_and_a_visible_project() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let other = app.partner_key(Env::Sandbox).await;
    let pid = app.project_id(&key, "P").await;

    let res = app
        .post(
            &format!("/v1/projects/{pid}/influencers"),
            &key,
            &json!({ "name": "" }),
        )
        .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "name");
    let res = app
        .post(
            &format!("/v1/projects/{pid}/influencers"),
            &other,
            &json!({ "name": "Ava" }),
        )
        .await;
    assert_error(res, 404, "NOT_FOUND").await;
    assert_error(
        app.get(&format!("/v1/projects/{pid}/influencers"), &other)
            .await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM influencers").await, 0);
}
