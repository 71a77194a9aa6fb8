//! Authentication outcomes of CONTRACT §1, in order, for live and test keys alike.

use layers_keys::Tier;
use layers_orgs::Plan;
use layers_tests::{assert_error, spawn_app, Env, BOTH};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn whoami_answers_the_same_shape_for_live_and_test_keys() {
    let app = spawn_app().await;
    let org = app.org(Plan::Partner).await;
    let mut shapes = Vec::new();
    for env in BOTH {
        let key = app.key_with(org, env, "*", Tier::Standard).await;
        let res = app.get("/v1/whoami", &key).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().contains_key("x-request-id"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["organizationId"], org.to_string());
        assert_eq!(body["apiKeyId"], key.api_key_id.to_string());
        assert_eq!(body["scopes"], serde_json::json!(["*"]));
        // test keys always get the pilot tier
        let tier = if env == Env::Sandbox {
            "pilot"
        } else {
            "standard"
        };
        assert_eq!(body["rateLimitTier"], tier);
        let mut fields: Vec<String> = body.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        assert!(!fields
            .iter()
            .any(|f| f.to_lowercase().contains("env") || f == "sandbox" || f == "livemode"));
        shapes.push(fields);
    }
    assert_eq!(shapes[0], shapes[1]);
}

#[tokio::test]
async fn both_headers_authenticate() {
    let app = spawn_app().await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let bearer = app
            .request(Method::GET, "/v1/whoami", None)
            .header("Authorization", format!("Bearer {}", key.key))
            .send()
            .await
            .unwrap();
        assert_eq!(bearer.status(), 200);
        let lower = app
            .request(Method::GET, "/v1/whoami", None)
            .header("authorization", format!("bearer {}", key.key))
            .send()
            .await
            .unwrap();
        assert_eq!(lower.status(), 200);
        let api_key = app
            .request(Method::GET, "/v1/whoami", None)
            .header("X-Api-Key", &key.key)
            .send()
            .await
            .unwrap();
        assert_eq!(api_key.status(), 200);
    }
}

#[tokio::test]
async fn missing_malformed_unknown_and_wrong_keys_are_401() {
    let app = spawn_app().await;
    let none = app
        .request(Method::GET, "/v1/whoami", None)
        .send()
        .await
        .unwrap();
    assert_error(none, 401, "UNAUTHENTICATED").await;
    let basic = app
        .request(Method::GET, "/v1/whoami", None)
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_error(basic, 401, "UNAUTHENTICATED").await;

    for env in BOTH {
        let key = app.partner_key(env).await;
        let secret = &key.key[key.key.len() - 40..];
        // malformed: the message names the part and never echoes the secret
        let short = format!(
            "{}x",
            &key.key[..key.key.len() - 1].replace(&secret[..5], "!!!!!")
        );
        let res = app
            .request(Method::GET, "/v1/whoami", None)
            .header("X-Api-Key", &short)
            .send()
            .await
            .unwrap();
        let error = assert_error(res, 401, "UNAUTHENTICATED").await;
        assert!(
            error["message"].as_str().unwrap().contains("secret"),
            "{error}"
        );
        assert!(!error.to_string().contains(&secret[5..]));
        // wrong secret
        let wrong = format!("{}{}", &key.key[..key.key.len() - 40], "Z".repeat(40));
        let res = app
            .request(Method::GET, "/v1/whoami", None)
            .bearer_auth(&wrong)
            .send()
            .await
            .unwrap();
        let error = assert_error(res, 401, "UNAUTHENTICATED").await;
        assert!(!error.to_string().contains(&"Z".repeat(40)));
        // the other environment's prefix on a real key id and secret
        let flipped = if key.key.starts_with("lp_live_") {
            key.key.replacen("lp_live_", "lp_test_", 1)
        } else {
            key.key.replacen("lp_test_", "lp_live_", 1)
        };
        let res = app
            .request(Method::GET, "/v1/whoami", None)
            .bearer_auth(&flipped)
            .send()
            .await
            .unwrap();
        assert_error(res, 401, "UNAUTHENTICATED").await;
    }
    // well-formed but never minted
    let unknown = format!("lp_test_{}_{}", "A".repeat(16), "b".repeat(40));
    let res = app
        .request(Method::GET, "/v1/whoami", None)
        .bearer_auth(&unknown)
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn revoked_killed_and_unpaid_in_contract_order() {
    let app = spawn_app().await;
    for env in BOTH {
        let org = app.org(Plan::Free).await;
        let key = app
            .key_with(org, env, "projects:read", Tier::Standard)
            .await;
        let c = app.client().await;

        // a plan without api_access: 402
        assert_error(app.get("/v1/whoami", &key).await, 402, "PAYMENT_REQUIRED").await;
        // killed beats the plan: 503
        layers_keys::store::kill(&c, key.api_key_id).await.unwrap();
        assert_error(
            app.get_eventually("/v1/whoami", &key, 503).await,
            503,
            "KILL_SWITCH",
        )
        .await;
        // back on a partner plan, still killed
        layers_orgs::set_plan(&c, org, Plan::Partner).await.unwrap();
        assert_error(app.get("/v1/projects", &key).await, 503, "KILL_SWITCH").await;
        // unkilled: works again
        layers_keys::store::unkill(&c, key.api_key_id)
            .await
            .unwrap();
        assert_eq!(
            app.get_eventually("/v1/whoami", &key, 200).await.status(),
            200
        );
        // revoked beats killed, for ever
        layers_keys::store::kill(&c, key.api_key_id).await.unwrap();
        layers_keys::store::revoke(&c, key.api_key_id)
            .await
            .unwrap();
        assert_error(
            app.get_eventually("/v1/whoami", &key, 401).await,
            401,
            "UNAUTHENTICATED",
        )
        .await;
        layers_keys::store::unkill(&c, key.api_key_id)
            .await
            .unwrap();
        // unkill does not undo a revoke (the answer is 401 whatever the cache holds)
        assert_error(app.get("/v1/whoami", &key).await, 401, "UNAUTHENTICATED").await;
    }
}

#[tokio::test]
async fn missing_scope_is_403_with_the_required_scope() {
    let app = spawn_app().await;
    for env in BOTH {
        let org = app.org(Plan::Partner).await;
        let reader = app
            .key_with(org, env, "projects:read", Tier::Standard)
            .await;
        let content = app
            .key_with(org, env, "content:write", Tier::Standard)
            .await;

        assert_eq!(app.get("/v1/projects", &reader).await.status(), 200);
        let res = app
            .post("/v1/projects", &reader, &serde_json::json!({ "name": "x" }))
            .await;
        let error = assert_error(res, 403, "FORBIDDEN_SCOPE").await;
        assert_eq!(error["details"]["requiredScope"], "projects:write");
        let error = assert_error(
            app.get("/v1/projects", &content).await,
            403,
            "FORBIDDEN_SCOPE",
        )
        .await;
        assert_eq!(error["details"]["requiredScope"], "projects:read");
        // whoami needs no scope
        assert_eq!(app.get("/v1/whoami", &content).await.status(), 200);
    }
    // nothing was written by the refused create
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 0);
}

#[tokio::test]
async fn scope_is_checked_after_authentication() {
    let app = spawn_app().await;
    let org = app.org(Plan::Free).await;
    let key = app
        .key_with(org, Env::Live, "content:read", Tier::Standard)
        .await;
    // a key that both lacks the scope and belongs to an unpaid plan gets the earlier outcome
    assert_error(app.get("/v1/projects", &key).await, 402, "PAYMENT_REQUIRED").await;
}
