//! Social accounts over HTTP (CONTRACT §11 "Social accounts", §8): the sandbox connects with a
//! plain GET, no browser, deterministic platform ids, idempotent replays, events; list and
//! disconnect; live keys are told live connections are not available yet.

use layers_tests::{assert_error, spawn_app, Env, TestApp, TestKey};
use ring::digest::{digest, SHA256};
use serde_json::{json, Value};

async fn oauth_url(
    app: &TestApp,
    key: &TestKey,
    project: &str,
    platform: &str,
) -> reqwest::Response {
    app.post(
        &format!("/v1/projects/{project}/social/oauth-url"),
        key,
        &json!({ "platform": platform }),
    )
    .await
}

/// GETs a sandbox completion URL without a key.
async fn complete(app: &TestApp, url: &str) -> reqwest::Response {
    let url = url.replace("http://127.0.0.1:8080", &app.address);
    app.http.get(url).send().await.unwrap()
}

#[tokio::test]
async fn a_sandbox_account_connects_with_a_plain_get_and_a_replay_writes_nothing() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Social").await;
    let res = oauth_url(&app, &key, &project, "instagram").await;
    assert_eq!(res.status(), 200);
    let minted: Value = res.json().await.unwrap();
    let state = minted["state"].as_str().unwrap();
    let url = minted["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!(
            "http://127.0.0.1:8080/v1/social/sandbox-complete?state={state}&platform=instagram"
        )
    );
    assert!(minted["expiresAt"].is_string());

    let res = complete(&app, url).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["state"], state);
    assert_eq!(body["status"], "completed");
    assert_eq!(body["platform"], "instagram");
    assert_eq!(body["handle"], "sandbox_instagram");
    assert_eq!(body["sandbox"], true);
    let account = body["socialAccountId"].as_str().unwrap();
    assert!(account.starts_with("sa_"));

    // the platform user id is the contract's formula
    let client = app.client().await;
    let row = client
        .query_one(
            "SELECT platform_user_id, is_sandbox, token FROM social_accounts",
            &[],
        )
        .await
        .unwrap();
    let hash: String = digest(&SHA256, state.as_bytes())
        .as_ref()
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let prefix: String = key.api_key_id.simple().to_string()[..8].to_owned();
    assert_eq!(
        row.get::<_, String>(0),
        format!("sb_instagram_{prefix}_{hash}")
    );
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, Vec<u8>>(2), b"sandbox_token");

    // a replay: the same body, nothing new
    let again: Value = complete(&app, url).await.json().await.unwrap();
    assert_eq!(again, body);
    let accounts: i64 = client
        .query_one("SELECT count(*) FROM social_accounts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(accounts, 1);
    let events = app
        .get_json("/v1/events?type=social_account.connected", &key)
        .await;
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["meta"], json!({ "sandbox": true }));
    assert_eq!(events[0]["data"]["socialAccountId"], account);
    assert_eq!(events[0]["data"]["projectId"], project.as_str());
    assert_eq!(events[0]["data"]["handle"], "sandbox_instagram");

    // three oauth-url calls, three accounts
    for platform in ["tiktok", "youtube"] {
        let minted: Value = oauth_url(&app, &key, &project, platform)
            .await
            .json()
            .await
            .unwrap();
        let res = complete(&app, minted["url"].as_str().unwrap()).await;
        assert_eq!(res.status(), 200);
    }
    let list = app
        .get_json(&format!("/v1/projects/{project}/social/accounts"), &key)
        .await;
    let list = list["data"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    let first = list.iter().find(|a| a["id"] == account).unwrap();
    assert_eq!(
        first,
        &json!({ "id": account, "platform": "instagram", "handle": "sandbox_instagram",
                 "status": "active", "connectedAt": body["connectedAt"] })
    );

    // disconnect, twice
    let path = format!("/v1/projects/{project}/social/accounts/{account}");
    for _ in 0..2 {
        let res = app
            .request(reqwest::Method::DELETE, &path, Some(&key))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let gone: Value = res.json().await.unwrap();
        assert_eq!(gone["status"], "disconnected");
    }
    let events = app
        .get_json("/v1/events?type=social_account.disconnected", &key)
        .await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn states_are_checked_and_environments_kept_apart() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Social").await;
    let minted: Value = oauth_url(&app, &key, &project, "tiktok")
        .await
        .json()
        .await
        .unwrap();
    let url = minted["url"].as_str().unwrap();
    let res = complete(&app, &url.replace("platform=tiktok", "platform=youtube")).await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "platform");
    let res = complete(
        &app,
        "http://127.0.0.1:8080/v1/social/sandbox-complete?state=nope&platform=tiktok",
    )
    .await;
    assert_error(res, 404, "NOT_FOUND").await;
    // an expired state
    app.client()
        .await
        .execute(
            "UPDATE oauth_states SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let res = complete(&app, url).await;
    assert_error(res, 404, "NOT_FOUND").await;

    for (platform, field) in [("myspace", "platform")] {
        let res = oauth_url(&app, &key, &project, platform).await;
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], field);
    }

    // a live key: not on the sandbox project, and no live connection yet
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let res = oauth_url(&app, &live, &project, "instagram").await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    let live_project = app.project_id(&live, "Live").await;
    let res = oauth_url(&app, &live, &live_project, "instagram").await;
    let error = assert_error(res, 503, "PLATFORM_NOT_CONFIGURED").await;
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("LAYERS_META_APP_ID"));
    let res = app
        .get(&format!("/v1/projects/{project}/social/accounts"), &live)
        .await;
    assert_error(res, 404, "NOT_FOUND").await;

    // a live key's state (minted directly) is refused by the sandbox completion
    let minted = layers_social::Social::new(Env::Live)
        .mint_state(
            &app.client().await,
            &layers_social::StateFor {
                organization_id: live.org,
                project_id: layers_projects::ProjectId::parse(&live_project)
                    .unwrap()
                    .as_uuid(),
                api_key_id: live.api_key_id,
                platform: layers_social::Platform::Youtube,
                redirect_uri: None,
                ads: false,
            },
        )
        .await
        .unwrap();
    let res = complete(
        &app,
        &format!(
            "http://127.0.0.1:8080/v1/social/sandbox-complete?state={}&platform=youtube",
            minted.token
        ),
    )
    .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    let accounts: i64 = app
        .client()
        .await
        .query_one("SELECT count(*) FROM social_accounts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(accounts, 0);
}

#[tokio::test]
async fn a_redirect_uri_must_be_https_without_credentials_or_fragment() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Redirects").await;
    let path = format!("/v1/projects/{project}/social/oauth-url");
    let mint = |uri: &str| {
        app.request(reqwest::Method::POST, &path, Some(&key))
            .json(&json!({ "platform": "instagram", "redirectUri": uri }))
            .send()
    };
    for bad in [
        "javascript:alert(1)",
        "http://partner.example/back",
        "https://user:pass@partner.example/back",
        "https://partner.example/back#frag",
        "data:text/html,hi",
    ] {
        let error = assert_error(mint(bad).await.unwrap(), 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], "redirectUri", "{bad}");
    }
    for good in [
        "https://partner.example/back?x=1",
        "http://localhost:3000/cb",
    ] {
        assert_eq!(mint(good).await.unwrap().status(), 200, "{good}");
    }
}

#[tokio::test]
async fn a_state_completes_nothing_once_expired_or_once_its_key_is_revoked() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "States").await;
    let url = |res: Value| res["url"].as_str().unwrap().to_owned();
    // completed, then its 15 minutes pass: a replay is 404, not the account
    let first = url(oauth_url(&app, &key, &project, "instagram")
        .await
        .json()
        .await
        .unwrap());
    assert_eq!(complete(&app, &first).await.status(), 200);
    app.client()
        .await
        .execute(
            "UPDATE oauth_states SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    assert_error(complete(&app, &first).await, 404, "NOT_FOUND").await;
    // minted, then its key is revoked: the state completes nothing
    let second = url(oauth_url(&app, &key, &project, "instagram")
        .await
        .json()
        .await
        .unwrap());
    layers_keys::store::revoke(&app.client().await, key.api_key_id)
        .await
        .unwrap();
    assert_error(complete(&app, &second).await, 404, "NOT_FOUND").await;
    assert_eq!(app.count("SELECT count(*) FROM social_accounts").await, 1);
}
