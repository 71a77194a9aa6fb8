//! Rate limits, monthly quotas and immediate revocation across gateway processes (CONTRACT §6).

use std::time::{Duration, Instant};

use layers_keys::Tier;
use layers_orgs::Plan;
use layers_tests::{assert_error, spawn_app, spawn_app_with, start, test_settings, Env, BOTH};
use reqwest::{Method, Response};
use serde_json::Value;

fn header(res: &Response, name: &str) -> u64 {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} is missing"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_authenticated_response_carries_rate_limit_headers() {
    let app = spawn_app().await;
    let org = app.org(Plan::Partner).await;
    for (env, tier, limit) in [
        (Env::Live, Tier::Standard, 120),
        (Env::Live, Tier::Pilot, 1200),
        (Env::Sandbox, Tier::Standard, 1200),
    ] {
        let key = app.key_with(org, env, "projects:read", tier).await;
        let ok = app.get("/v1/whoami", &key).await;
        assert_eq!(header(&ok, "x-ratelimit-limit"), limit);
        assert_eq!(header(&ok, "x-ratelimit-remaining"), limit - 1);
        assert!(header(&ok, "x-ratelimit-reset") >= 1);
        // errors after authentication carry them too
        let forbidden = app
            .post("/v1/projects", &key, &serde_json::json!({ "name": "x" }))
            .await;
        assert_eq!(forbidden.status(), 403);
        assert_eq!(header(&forbidden, "x-ratelimit-limit"), limit);
        let missing = app
            .get("/v1/projects/proj_00000000000000000000000000000000", &key)
            .await;
        assert_eq!(missing.status(), 404);
        assert_eq!(header(&missing, "x-ratelimit-limit"), limit);
        // the framework's own 405, and the idempotency middleware's refusals
        let wrong_method = app
            .request(Method::DELETE, "/v1/whoami", Some(&key))
            .send()
            .await
            .unwrap();
        assert_eq!(header(&wrong_method, "x-ratelimit-limit"), limit);
        assert_error(wrong_method, 405, "METHOD_NOT_ALLOWED").await;
        let bad_key = app
            .request(Method::POST, "/v1/projects", Some(&key))
            .header("Idempotency-Key", "")
            .json(&serde_json::json!({ "name": "x" }))
            .send()
            .await
            .unwrap();
        assert_eq!(header(&bad_key, "x-ratelimit-limit"), limit);
        assert_error(bad_key, 400, "VALIDATION_ERROR").await;
    }
}

#[tokio::test]
async fn past_the_limit_answers_429_with_retry_after() {
    // one a minute, ten for test keys: the next token comes back after 6 s at the soonest, and
    // the eleven requests take a fraction of that
    let app = spawn_app_with(|s| s.rate_limit_standard_per_min = 1).await;
    for env in BOTH {
        let key = app.partner_key(env).await;
        let allowed = if env == Env::Sandbox { 10 } else { 1 };
        for i in 0..allowed {
            let res = app.get("/v1/whoami", &key).await;
            assert_eq!(res.status(), 200, "request {i}");
            assert_eq!(header(&res, "x-ratelimit-remaining"), allowed - 1 - i);
        }
        let res = app.get("/v1/whoami", &key).await;
        let retry_after = header(&res, "retry-after");
        assert_eq!(header(&res, "x-ratelimit-remaining"), 0);
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert!(header(&res, "x-ratelimit-reset") >= retry_after);
        let error = assert_error(res, 429, "RATE_LIMITED").await;
        assert_eq!(error["details"]["retryAfterSeconds"], retry_after);
        // another endpoint has its own bucket
        assert_eq!(app.get("/v1/projects", &key).await.status(), 200);
    }
}

#[tokio::test]
async fn two_gateway_processes_share_one_bucket() {
    let app = spawn_app_with(|s| s.rate_limit_standard_per_min = 4).await;
    let mut settings = test_settings(&app.db);
    settings.rate_limit_standard_per_min = 4;
    let second = start(settings).await;
    let key = app.partner_key(Env::Live).await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let base = if i % 2 == 0 { &app.address } else { &second };
        let res = app
            .http
            .get(format!("{base}/v1/whoami"))
            .bearer_auth(&key.key)
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429, 429, 429]);
}

#[tokio::test]
async fn the_monthly_quota_counts_live_and_sandbox_calls() {
    let app = spawn_app().await;
    let org = app.org(Plan::Partner).await;
    layers_orgs::set_monthly_quota(&app.client().await, org, Some(4))
        .await
        .unwrap();
    let live = app.key_with(org, Env::Live, "*", Tier::Standard).await;
    let test = app.key_with(org, Env::Sandbox, "*", Tier::Standard).await;

    let first: Value = app.get_json("/v1/whoami", &live).await;
    assert_eq!(first["monthlyQuota"], 4);
    assert_eq!(first["monthlyUsage"], 1);
    assert_eq!(app.get("/v1/projects", &test).await.status(), 200);
    assert_eq!(app.get("/v1/projects", &live).await.status(), 200);
    let fourth: Value = app.get_json("/v1/whoami", &test).await;
    assert_eq!(fourth["monthlyUsage"], 4);
    for key in [&live, &test] {
        let res = app.get("/v1/whoami", key).await;
        let retry_after = header(&res, "retry-after");
        assert!(
            (1..=31 * 86_400).contains(&retry_after),
            "until the next UTC month: {retry_after}"
        );
        assert!(res.headers().contains_key("x-ratelimit-limit"));
        let error = assert_error(res, 429, "QUOTA_EXCEEDED").await;
        assert_eq!(error["details"]["monthlyQuota"], 4);
        assert_eq!(error["details"]["retryAfterSeconds"], retry_after);
    }
    // the two refused calls count as well
    assert_eq!(app.count("SELECT calls FROM organization_usage").await, 6);

    // an organization without a ceiling still sees its usage
    let free_key = app.partner_key(Env::Sandbox).await;
    let who: Value = app.get_json("/v1/whoami", &free_key).await;
    assert_eq!(who["monthlyQuota"], Value::Null);
    assert_eq!(who["monthlyUsage"], 1);
}

async fn within_a_second(check: impl AsyncFnMut() -> bool) -> Duration {
    within(Duration::from_secs(1), check).await
}

async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn revoke_and_kill_reach_every_instance_within_a_second() {
    let app = spawn_app().await;
    let second = start(test_settings(&app.db)).await;
    let key = app.partner_key(Env::Live).await;
    let instances = [app.address.clone(), second];
    let status = |base: &String, key: &str| {
        let req = app.http.get(format!("{base}/v1/whoami")).bearer_auth(key);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let every_instance_answers = |expected: u16| {
        let instances = &instances;
        let status = &status;
        let key = &key.key;
        within_a_second(async move || {
            let mut all = true;
            for base in instances {
                all &= status(base, key).await == expected;
            }
            all
        })
    };
    // both caches are in use (so this test exercises invalidation, not a bypass)...
    for base in &instances {
        let url = format!("{base}/readyz");
        within(Duration::from_secs(10), async || {
            let ready: Value = app
                .http
                .get(&url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            ready["keyCache"] == "listening"
        })
        .await;
    }
    // ...and warm
    for base in &instances {
        assert_eq!(status(base, &key.key).await, 200);
        assert_eq!(status(base, &key.key).await, 200);
    }
    layers_keys::store::kill(&app.client().await, key.api_key_id)
        .await
        .unwrap();
    every_instance_answers(503).await;
    layers_keys::store::unkill(&app.client().await, key.api_key_id)
        .await
        .unwrap();
    every_instance_answers(200).await;
    layers_keys::store::revoke(&app.client().await, key.api_key_id)
        .await
        .unwrap();
    every_instance_answers(401).await;
}

#[tokio::test]
async fn a_plan_change_applies_at_once() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    assert_eq!(app.get("/v1/whoami", &key).await.status(), 200);
    layers_orgs::set_plan(&app.client().await, key.org, Plan::Free)
        .await
        .unwrap();
    within_a_second(async || app.get("/v1/whoami", &key).await.status() == 402).await;
    let res = app
        .request(Method::GET, "/v1/whoami", Some(&key))
        .send()
        .await
        .unwrap();
    assert_error(res, 402, "PAYMENT_REQUIRED").await;
}
