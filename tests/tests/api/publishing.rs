//! Publishing over HTTP (CONTRACT §11 "Publishing", §8, §9): the sandbox publishes at once with
//! `sb_post_` ids and fires `post.published` per target after its rows; the checks answer in
//! the contract's order; scheduling and canceling.

use layers_tests::{assert_error, spawn_app, Env, TestApp, TestKey};
use serde_json::{json, Value};

/// A sandbox project with one completed image and two connected accounts.
async fn ready(app: &TestApp, key: &TestKey) -> (String, String, Vec<String>) {
    let project = app.project_id(key, "Publishing").await;
    let started = app.generate(key, &project, "image").await;
    let container = started["containers"][0]["id"].as_str().unwrap().to_owned();
    let accounts = vec![
        app.connect_sandbox(key, &project, "instagram").await,
        app.connect_sandbox(key, &project, "tiktok").await,
    ];
    (project, container, accounts)
}

fn targets(accounts: &[String]) -> Value {
    Value::Array(
        accounts
            .iter()
            .map(|a| json!({ "socialAccountId": a }))
            .collect(),
    )
}

#[tokio::test]
async fn a_sandbox_publish_is_published_at_once_with_deterministic_ids_and_events() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let (project, container, accounts) = ready(&app, &key).await;
    let res = app
        .post(
            &format!("/v1/content/{container}/publish"),
            &key,
            &json!({ "targets": [
                { "socialAccountId": accounts[0], "caption": "first" },
                { "socialAccountId": accounts[1] },
            ] }),
        )
        .await;
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    assert_eq!(started["kind"], "publish");
    assert_eq!(started["projectId"], project.as_str());
    let post_id = started["scheduledPostId"].as_str().unwrap();
    assert!(post_id.starts_with("sp_"));

    // published already, both rows written
    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), &key)
        .await;
    assert_eq!(post["status"], "published");
    assert_eq!(post["containerId"], container.as_str());
    assert_eq!(post["projectId"], project.as_str());
    let targets = post["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for (i, t) in targets.iter().enumerate() {
        assert_eq!(t["index"], i);
        assert_eq!(t["status"], "published");
        assert_eq!(t["socialAccountId"], accounts[i].as_str());
        assert_eq!(t["externalId"], format!("sb_post_{container}_{i}"));
        assert_eq!(t["externalUrl"], Value::Null);
        assert_eq!(t["error"], Value::Null);
        assert!(t["postedAt"].is_string());
    }
    assert_eq!(targets[0]["platform"], "instagram");
    assert_eq!(targets[1]["platform"], "tiktok");

    // one post.published per target, sandbox-flagged, data as §10 says
    let events = app.get_json("/v1/events?type=post.published", &key).await;
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for event in events {
        assert_eq!(event["meta"]["sandbox"], true);
        let data = &event["data"];
        let i = data["targetIndex"].as_u64().unwrap() as usize;
        assert_eq!(data["scheduledPostId"], post_id);
        assert_eq!(data["containerId"], container.as_str());
        assert_eq!(data["socialAccountId"], accounts[i].as_str());
        assert_eq!(data["externalId"], format!("sb_post_{container}_{i}"));
        assert_eq!(data["externalUrl"], Value::Null);
        assert!(data.get("error").is_none());
    }
    assert_eq!(
        app.count("SELECT count(*) FROM platform_posts WHERE is_sandbox AND status = 'published'")
            .await,
        2
    );

    // the request published: its job is done in the 202 already, with its event, and no
    // worker ever claimed it
    assert_eq!(started["status"], "succeeded");
    let job_id = started["jobId"].as_str().unwrap();
    let job = app.get_json(&format!("/v1/jobs/{job_id}"), &key).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["kind"], "publish");
    assert_eq!(job["startedAt"], job["finishedAt"]);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'publish' AND attempts > 0")
            .await,
        0
    );
    let events = app.get_json("/v1/events?type=job.succeeded", &key).await;
    assert_eq!(events["data"][0]["data"]["id"], job_id);
    let res = app
        .post_empty(&format!("/v1/jobs/{job_id}/cancel"), &key)
        .await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "already_terminal");

    // listed; published again: 409; cancel after publishing: 409
    let list = app
        .get_json(&format!("/v1/projects/{project}/scheduled-posts"), &key)
        .await;
    assert_eq!(list["data"][0]["id"], post_id);
    let res = app
        .post(
            &format!("/v1/content/{container}/publish"),
            &key,
            &json!({ "targets": [{ "socialAccountId": accounts[0] }] }),
        )
        .await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "already_published");
    let res = app
        .post_empty(&format!("/v1/scheduled-posts/{post_id}/cancel"), &key)
        .await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "already_terminal");

    // no platform was reachable, none was needed: nothing went outside
    assert_eq!(
        app.count("SELECT count(*) FROM credit_audit WHERE NOT sandbox")
            .await,
        0
    );
}

#[tokio::test]
async fn checks_answer_in_the_contracts_order_and_write_nothing() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let (project, container, accounts) = ready(&app, &key).await;
    let publish = |container: String, body: Value| {
        let app = &app;
        let key = &key;
        async move {
            app.post(&format!("/v1/content/{container}/publish"), key, &body)
                .await
        }
    };

    // 400: the request itself
    for (body, field) in [
        (json!({ "targets": [] }), "targets"),
        (
            json!({ "targets": targets(&vec![accounts[0].clone(); 11]) }),
            "targets",
        ),
        (
            json!({ "targets": [{ "socialAccountId": "nope" }] }),
            "targets[0].socialAccountId",
        ),
        (
            json!({ "targets": [{ "socialAccountId": accounts[0] }, { "socialAccountId": accounts[0] }] }),
            "targets[1].socialAccountId",
        ),
        (
            json!({ "targets": [{ "socialAccountId": accounts[0], "caption": "x".repeat(2201) }] }),
            "targets[0].caption",
        ),
    ] {
        let res = publish(container.clone(), body).await;
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], field);
    }
    let res = publish(
        container.clone(),
        json!({ "targets": targets(&accounts), "x": 1 }),
    )
    .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;

    // 404: unknown content, unknown account (named by its field), another org's content
    let unknown_cnt = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f";
    let res = publish(unknown_cnt.into(), json!({ "targets": targets(&accounts) })).await;
    assert_error(res, 404, "NOT_FOUND").await;
    let res = publish(
        container.clone(),
        json!({ "targets": [{ "socialAccountId": accounts[0] }, { "socialAccountId": "sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f" }] }),
    )
    .await;
    let error = assert_error(res, 404, "NOT_FOUND").await;
    assert_eq!(error["details"]["field"], "targets[1].socialAccountId");
    let stranger = app.partner_key(Env::Sandbox).await;
    let res = app
        .post(
            &format!("/v1/content/{container}/publish"),
            &stranger,
            &json!({ "targets": targets(&accounts) }),
        )
        .await;
    assert_error(res, 404, "NOT_FOUND").await;

    // 422: a live key naming sandbox content; a test key naming a live account
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let res = app
        .post(
            &format!("/v1/content/{container}/publish"),
            &live,
            &json!({ "targets": targets(&accounts) }),
        )
        .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    let client = app.client().await;
    let live_account = uuid::Uuid::now_v7();
    let project_uuid = layers_projects::ProjectId::parse(&project)
        .unwrap()
        .as_uuid();
    client
        .execute(
            "INSERT INTO social_accounts (id, organization_id, project_id, is_sandbox, platform, \
                 platform_user_id, handle, token) \
             VALUES ($1, $2, $3, false, 'youtube', 'UC1', 'live', '\\x00')",
            &[&live_account, &key.org.as_uuid(), &project_uuid],
        )
        .await
        .unwrap();
    let live_sa = format!("sa_{}", live_account.simple());
    let res = publish(
        container.clone(),
        json!({ "targets": [{ "socialAccountId": accounts[0] }, { "socialAccountId": live_sa }] }),
    )
    .await;
    let error = assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    assert_eq!(error["details"]["field"], "targets[1].socialAccountId");

    // 409: content not completed (and that comes after the 422s)
    client
        .execute(
            "UPDATE content_containers SET status = 'generating' WHERE id = $1",
            &[&layers_content::ContainerId::parse(&container)
                .unwrap()
                .as_uuid()],
        )
        .await
        .unwrap();
    let res = publish(container.clone(), json!({ "targets": targets(&accounts) })).await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "content_not_ready");
    client
        .execute("UPDATE content_containers SET status = 'completed'", &[])
        .await
        .unwrap();

    // 409: a disconnected account
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/projects/{project}/social/accounts/{}", accounts[1]),
            Some(&key),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = publish(container.clone(), json!({ "targets": targets(&accounts) })).await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "account_not_active");
    assert_eq!(error["details"]["field"], "targets[1].socialAccountId");

    // nothing was written by any refusal
    assert_eq!(app.count("SELECT count(*) FROM scheduled_posts").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM platform_posts").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE kind = 'publish'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type LIKE 'post.%'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_sandbox_schedule_waits_for_its_time_and_can_be_canceled_until_then() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let (project, container, accounts) = ready(&app, &key).await;
    let stamp = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let schedule = |container: String, body: Value| {
        let app = &app;
        let key = &key;
        async move {
            app.post(&format!("/v1/content/{container}/schedule"), key, &body)
                .await
        }
    };
    for publish_at in [
        "tomorrow".to_owned(),
        "2020-01-01T00:00:00.000Z".to_owned(),
        (chrono::Utc::now() + chrono::Duration::days(91)).to_rfc3339(),
    ] {
        let body = json!({ "targets": targets(&accounts), "publishAt": publish_at });
        let res = schedule(container.clone(), body).await;
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], "publishAt");
    }

    // three days ahead: scheduled, its job queued, nothing announced; cancel stops it
    let later = stamp(chrono::Utc::now() + chrono::Duration::days(3));
    let body = json!({ "targets": targets(&accounts[..1]), "publishAt": later });
    let res = schedule(container.clone(), body).await;
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    assert_eq!(started["status"], "queued");
    let post_id = started["scheduledPostId"].as_str().unwrap().to_owned();
    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), &key)
        .await;
    assert_eq!(post["publishAt"], later.as_str());
    assert_eq!(post["status"], "scheduled");
    assert_eq!(post["targets"][0]["status"], "scheduled");
    assert_eq!(post["targets"][0]["externalId"], Value::Null);
    let canceled = app
        .post_empty(&format!("/v1/scheduled-posts/{post_id}/cancel"), &key)
        .await;
    assert_eq!(canceled.status(), 200);
    let job_id = started["jobId"].as_str().unwrap();
    let job = app.get_json(&format!("/v1/jobs/{job_id}"), &key).await;
    assert_eq!(job["status"], "canceled");

    // a second, moments ahead: the worker publishes it when its time comes, not before
    let other = app.generate(&key, &project, "image").await;
    let other = other["containers"][0]["id"].as_str().unwrap().to_owned();
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let body = json!({ "targets": targets(&accounts), "publishAt": stamp(soon) });
    let res = schedule(other.clone(), body).await;
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    let post_id = started["scheduledPostId"].as_str().unwrap().to_owned();
    let path = format!("/v1/scheduled-posts/{post_id}");
    assert_eq!(app.get_json(&path, &key).await["status"], "scheduled");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let post = loop {
        let post = app.get_json(&path, &key).await;
        if post["status"] == "published" || std::time::Instant::now() > deadline {
            break post;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(post["status"], "published", "{post}");
    for (i, target) in post["targets"].as_array().unwrap().iter().enumerate() {
        assert_eq!(target["status"], "published");
        assert_eq!(target["externalId"], format!("sb_post_{other}_{i}"));
        let posted =
            chrono::DateTime::parse_from_rfc3339(target["postedAt"].as_str().unwrap()).unwrap();
        assert!(
            posted >= soon,
            "published at {posted}, before its time {soon}"
        );
    }
    let job_id = started["jobId"].as_str().unwrap();
    let job = app.get_json(&format!("/v1/jobs/{job_id}"), &key).await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["result"]["status"], "published");
    // one post.published per target of the published post, none for the canceled one
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE type = 'post.published' AND is_sandbox")
            .await,
        2
    );
}

#[tokio::test]
async fn posts_are_separate_worlds_per_environment() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let (project, container, accounts) = ready(&app, &key).await;
    let started: Value = app
        .post(
            &format!("/v1/content/{container}/publish"),
            &key,
            &json!({ "targets": targets(&accounts) }),
        )
        .await
        .json()
        .await
        .unwrap();
    let post_id = started["scheduledPostId"].as_str().unwrap();
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let res = app
        .get(&format!("/v1/scheduled-posts/{post_id}"), &live)
        .await;
    let error = assert_error(res, 404, "NOT_FOUND").await;
    assert!(error["message"].as_str().unwrap().contains("sandbox"));
    let res = app
        .post_empty(&format!("/v1/scheduled-posts/{post_id}/cancel"), &live)
        .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    // a live key naming sandbox content with its own live account (of its own live project):
    // the crossing is what answers, 422, not the accounts' project
    let live_project = app.project_id(&live, "Live").await;
    let live_account = uuid::Uuid::now_v7();
    app.client()
        .await
        .execute(
            "INSERT INTO social_accounts (id, organization_id, project_id, is_sandbox, platform, \
                 platform_user_id, handle, token) \
             VALUES ($1, $2, $3, false, 'instagram', '1784', 'live', '\\x00')",
            &[
                &live_account,
                &key.org.as_uuid(),
                &layers_projects::ProjectId::parse(&live_project)
                    .unwrap()
                    .as_uuid(),
            ],
        )
        .await
        .unwrap();
    let other = app.generate(&key, &project, "image").await;
    let other = other["containers"][0]["id"].as_str().unwrap();
    let res = app
        .post(
            &format!("/v1/content/{other}/publish"),
            &live,
            &json!({ "targets": [{ "socialAccountId": format!("sa_{}", live_account.simple()) }] }),
        )
        .await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    // and a test key naming that live account with its own sandbox content
    let res = app
        .post(
            &format!("/v1/content/{other}/publish"),
            &key,
            &json!({ "targets": [{ "socialAccountId": format!("sa_{}", live_account.simple()) }] }),
        )
        .await;
    let error = assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;
    assert_eq!(error["details"]["field"], "targets[0].socialAccountId");
    let res = app
        .get(&format!("/v1/projects/{project}/scheduled-posts"), &live)
        .await;
    assert_error(res, 404, "NOT_FOUND").await;
    // scopes: a key without publishing:write may not publish
    let reader = app
        .key_with(
            key.org,
            Env::Sandbox,
            "content:read",
            layers_keys::Tier::Standard,
        )
        .await;
    let res = app
        .post(
            &format!("/v1/content/{container}/publish"),
            &reader,
            &json!({ "targets": targets(&accounts) }),
        )
        .await;
    assert_error(res, 403, "FORBIDDEN_SCOPE").await;
}

/// A receiver of webhook deliveries that answers 200.
async fn receiver() -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// The deliveries `server` received of `kind`, each verified as a Standard Webhooks library
/// does, once it has `n` of them (ten seconds at most).
async fn delivered(
    server: &wiremock::MockServer,
    secret: &str,
    kind: &str,
    n: usize,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let verifier = standardwebhooks::Webhook::new(secret).unwrap();
        let bodies: Vec<Value> = server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .map(|r| {
                verifier
                    .verify(&r.body, &r.headers)
                    .expect("a delivery verifies with its endpoint's secret");
                serde_json::from_slice::<Value>(&r.body).unwrap()
            })
            .filter(|e| e["type"] == kind)
            .collect();
        if bodies.len() >= n || std::time::Instant::now() > deadline {
            return bodies;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn magic_captions_fail_a_sandbox_target_as_a_platform_would() {
    // every platform base URL points at a counting server, which must see nothing
    let fake = wiremock::MockServer::start().await;
    let base = fake.uri();
    let app = layers_tests::spawn_app_with(move |s| {
        let base = layers_platforms::Url::parse(&base).unwrap();
        s.platforms.meta_graph_base_url = base.clone();
        s.platforms.meta_auth_base_url = base.clone();
        s.platforms.tiktok_api_base_url = base.clone();
        s.platforms.tiktok_auth_base_url = base.clone();
        s.platforms.google_api_base_url = base.clone();
        s.platforms.google_auth_base_url = base;
    })
    .await;
    let key = app.partner_key(Env::Sandbox).await;
    let server = receiver().await;
    let endpoint: Value = app
        .post(
            "/v1/webhook-endpoints",
            &key,
            &json!({ "url": server.uri() }),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = endpoint["secret"].as_str().unwrap();
    let (project, container, accounts) = ready(&app, &key).await;

    // #sandbox_reject: that target fails as a platform refusal would; the other publishes
    let started: Value = app
        .post(
            &format!("/v1/content/{container}/publish"),
            &key,
            &json!({ "targets": [
                { "socialAccountId": accounts[0], "caption": "launch #sandbox_reject" },
                { "socialAccountId": accounts[1], "caption": "launch" },
            ] }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(started["status"], "succeeded");
    let post_id = started["scheduledPostId"].as_str().unwrap();
    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), &key)
        .await;
    assert_eq!(post["status"], "published");
    let rejected = &post["targets"][0];
    assert_eq!(rejected["status"], "failed");
    assert_eq!(rejected["externalId"], Value::Null);
    assert_eq!(rejected["postedAt"], Value::Null);
    assert_eq!(rejected["error"]["code"], "platform_rejected");
    assert!(rejected["error"]["message"].as_str().unwrap().len() > 10);
    assert_eq!(post["targets"][1]["status"], "published");
    let failed = delivered(&server, secret, "post.failed", 1).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["meta"]["sandbox"], true);
    assert_eq!(failed[0]["data"]["scheduledPostId"], post_id);
    assert_eq!(failed[0]["data"]["targetIndex"], 0);
    assert_eq!(failed[0]["data"]["error"], rejected["error"]);
    assert_eq!(
        delivered(&server, secret, "post.published", 1).await.len(),
        1
    );

    // #sandbox_token_expired: the target fails, its account needs a new connection
    let other = app.generate(&key, &project, "image").await;
    let other = other["containers"][0]["id"].as_str().unwrap();
    let started: Value = app
        .post(
            &format!("/v1/content/{other}/publish"),
            &key,
            &json!({ "targets": [
                { "socialAccountId": accounts[1], "caption": "#sandbox_token_expired" },
            ] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let post_id = started["scheduledPostId"].as_str().unwrap();
    let post = app
        .get_json(&format!("/v1/scheduled-posts/{post_id}"), &key)
        .await;
    assert_eq!(post["status"], "failed");
    assert_eq!(post["targets"][0]["error"]["code"], "token_expired");
    assert_eq!(started["status"], "succeeded");
    let listed = app
        .get_json(&format!("/v1/projects/{project}/social/accounts"), &key)
        .await;
    let account = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == accounts[1].as_str())
        .unwrap()
        .clone();
    assert_eq!(account["status"], "needs_reauth");
    let reauth = delivered(&server, secret, "social_account.needs_reauth", 1).await;
    assert_eq!(reauth.len(), 1);
    assert_eq!(reauth[0]["data"]["socialAccountId"], accounts[1].as_str());
    assert_eq!(delivered(&server, secret, "post.failed", 2).await.len(), 2);
    assert!(
        fake.received_requests().await.unwrap().is_empty(),
        "a test key reached a platform"
    );
}
