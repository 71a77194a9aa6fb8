//! Ads over HTTP with a test key (CONTRACT §13, §12's `#sandbox_reject`): ad accounts exposed
//! by sandbox social accounts, campaigns `active` in the answer with `sb_…` ids, changes applied
//! at once, metrics synthesized on read (deterministic, within the budget, zero on paused days,
//! on a test clock's days), every bad input a clear 4xx that writes nothing, and no platform
//! reached (a counting server stands behind every platform base URL).

use layers_tests::{assert_error, spawn_app_with, Env, TestApp, TestKey};
use reqwest::Method;
use serde_json::{json, Value};
use wiremock::MockServer;

use super::test_clocks::{advance, stamp, CLOCKS};

/// A gateway whose every platform base URL is `counter` (which must never be called).
async fn app_counting(counter: &MockServer) -> TestApp {
    let api = layers_platforms::Url::parse(&counter.uri()).unwrap();
    spawn_app_with(move |s| {
        let c = &mut s.platforms;
        for url in [
            &mut c.meta_auth_base_url,
            &mut c.meta_graph_base_url,
            &mut c.tiktok_auth_base_url,
            &mut c.tiktok_api_base_url,
            &mut c.google_auth_base_url,
            &mut c.google_api_base_url,
            &mut c.tiktok_business_base_url,
            &mut c.apple_ads_base_url,
            &mut c.apple_auth_base_url,
        ] {
            *url = api.clone();
        }
    })
    .await
}

/// Connects a sandbox account (Instagram with `ads: true`, or another platform) and answers its
/// id.
pub async fn connect(app: &TestApp, key: &TestKey, project: &str, body: Value) -> String {
    let res = app
        .post(
            &format!("/v1/projects/{project}/social/oauth-url"),
            key,
            &body,
        )
        .await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let minted: Value = res.json().await.unwrap();
    let url = minted["url"]
        .as_str()
        .unwrap()
        .replace("http://127.0.0.1:8080", &app.address);
    let res = reqwest::get(url).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["socialAccountId"].as_str().unwrap().to_owned()
}

/// Links the sandbox ad account of an Instagram account connected with ads; answers its id.
pub async fn sandbox_ad_account(app: &TestApp, key: &TestKey, project: &str) -> String {
    let sa = connect(
        app,
        key,
        project,
        json!({"platform": "instagram", "ads": true}),
    )
    .await;
    let res = app
        .post(
            &format!("/v1/projects/{project}/ads/accounts"),
            key,
            &json!({"platform": "meta", "externalId": format!("sb_act_{sa}"), "socialAccountId": sa}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let account: Value = res.json().await.unwrap();
    account["id"].as_str().unwrap().to_owned()
}

/// A completed image container of the project.
pub async fn container(app: &TestApp, key: &TestKey, project: &str) -> String {
    let started = app.generate(key, project, "image").await;
    started["containers"][0]["id"].as_str().unwrap().to_owned()
}

/// A valid campaign body on `account` with one creative.
pub fn campaign_body(account: &str, container: &str) -> Value {
    json!({
        "adAccountId": account,
        "name": "Spring launch",
        "objective": "app_installs",
        "dailyBudget": {"amount": 5000, "currency": "USD"},
        "startAt": "2020-01-01T00:00:00.000Z",
        "targeting": {"countries": ["US", "CA"], "ageMin": 18, "ageMax": 44, "languages": ["en"]},
        "creatives": [{"containerId": container, "headline": "Plan less", "caption": "Try it"}],
        "appStoreUrl": "https://apps.apple.com/us/app/example/id1234567890"
    })
}

async fn create(app: &TestApp, key: &TestKey, project: &str, body: &Value) -> reqwest::Response {
    app.post(&format!("/v1/projects/{project}/ads/campaigns"), key, body)
        .await
}

/// The data of the key's events of `type`, oldest first.
async fn events(app: &TestApp, key: &TestKey, kind: &str) -> Vec<Value> {
    let list = app
        .get_json(&format!("/v1/events?type={kind}&limit=100"), key)
        .await;
    let mut all: Vec<Value> = list["data"].as_array().unwrap().clone();
    all.reverse();
    all
}

#[tokio::test]
async fn a_sandbox_campaign_is_active_at_once_changes_at_once_and_calls_nothing() {
    let counter = MockServer::start().await;
    let app = app_counting(&counter).await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Ads").await;
    let account = sandbox_ad_account(&app, &key, &project).await;
    let listed = app
        .get_json(&format!("/v1/projects/{project}/ads/accounts"), &key)
        .await;
    assert_eq!(listed["data"][0]["name"], "Sandbox ad account", "{listed}");
    assert_eq!(listed["data"][0]["currency"], "USD");
    assert_eq!(listed["data"][0]["timezone"], "UTC");
    assert_eq!(listed["data"][0]["status"], "active");
    let cnt = container(&app, &key, &project).await;

    let res = create(&app, &key, &project, &campaign_body(&account, &cnt)).await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let started: Value = res.json().await.unwrap();
    assert_eq!(started["kind"], "ads_campaign_create");
    assert_eq!(started["status"], "succeeded", "{started}");
    let id = started["campaignId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cmp_"));
    let campaign = app.get_json(&format!("/v1/ads/campaigns/{id}"), &key).await;
    assert_eq!(campaign["status"], "active", "{campaign}");
    assert_eq!(campaign["externalIds"]["campaign"], format!("sb_cmp_{id}"));
    assert_eq!(campaign["externalIds"]["adSet"], format!("sb_adset_{id}"));
    assert_eq!(
        campaign["externalIds"]["ads"],
        json!([format!("sb_ad_{id}_0")])
    );
    assert_eq!(campaign["error"], Value::Null);
    assert_eq!(
        campaign["dailyBudget"],
        json!({"amount": 5000, "currency": "USD"})
    );
    assert_eq!(campaign["targeting"]["countries"], json!(["US", "CA"]));
    let job = app
        .get_json(
            &format!("/v1/jobs/{}", started["jobId"].as_str().unwrap()),
            &key,
        )
        .await;
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["result"]["campaignId"], id.as_str());
    let created = events(&app, &key, "ads_campaign.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["meta"]["sandbox"], true);
    assert_eq!(created[0]["data"]["campaignId"], id.as_str());
    assert_eq!(created[0]["data"]["status"], "active");

    // pause, resume, edit, archive: each a 202 job, applied in the answer, with its event
    let path = format!("/v1/ads/campaigns/{id}");
    for (action, status) in [("pause", "paused"), ("resume", "active")] {
        let res = app.post_empty(&format!("{path}/{action}"), &key).await;
        assert_eq!(res.status(), 202, "{action}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["kind"], "ads_campaign_update");
        assert_eq!(body["campaign"]["status"], status);
    }
    let res = app
        .patch(
            &path,
            &key,
            &json!({"name": "Summer", "dailyBudget": {"amount": 7000, "currency": "USD"}}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["campaign"]["name"], "Summer");
    assert_eq!(body["campaign"]["dailyBudget"]["amount"], 7000);
    let res = app.post_empty(&format!("{path}/resume"), &key).await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "invalid_campaign_state");
    let res = app.post_empty(&format!("{path}/archive"), &key).await;
    assert_eq!(res.status(), 202);
    let res = app.post_empty(&format!("{path}/pause"), &key).await;
    assert_error(res, 409, "CONFLICT").await;
    assert_eq!(events(&app, &key, "ads_campaign.updated").await.len(), 4);
    let list = app
        .get_json(&format!("/v1/projects/{project}/ads/campaigns"), &key)
        .await;
    assert_eq!(list["data"][0]["status"], "archived");

    // unlinking hides the account; the campaign stays
    let res = app
        .request(
            Method::DELETE,
            &format!("/v1/projects/{project}/ads/accounts/{account}"),
            Some(&key),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "disabled");
    let listed = app
        .get_json(&format!("/v1/projects/{project}/ads/accounts"), &key)
        .await;
    assert_eq!(listed["data"], json!([]));
    let res = create(&app, &key, &project, &campaign_body(&account, &cnt)).await;
    assert_error(res, 404, "NOT_FOUND").await;

    assert_eq!(
        counter.received_requests().await.unwrap().len(),
        0,
        "a test key reached a platform"
    );
}

#[tokio::test]
async fn sandbox_reject_fails_the_campaign_as_a_platform_refusal() {
    let counter = MockServer::start().await;
    let app = app_counting(&counter).await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Ads").await;
    let account = sandbox_ad_account(&app, &key, &project).await;
    let cnt = container(&app, &key, &project).await;
    let mut body = campaign_body(&account, &cnt);
    body["name"] = json!("Launch #sandbox_reject");
    let res = create(&app, &key, &project, &body).await;
    assert_eq!(res.status(), 202);
    let started: Value = res.json().await.unwrap();
    assert_eq!(started["status"], "failed");
    assert_eq!(started["campaign"]["status"], "failed");
    assert_eq!(started["campaign"]["error"]["code"], "platform_rejected");
    assert_eq!(started["campaign"]["externalIds"]["campaign"], Value::Null);
    let job = app
        .get_json(
            &format!("/v1/jobs/{}", started["jobId"].as_str().unwrap()),
            &key,
        )
        .await;
    assert_eq!(job["error"]["code"], "platform_rejected");
    let failed = events(&app, &key, "ads_campaign.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["error"]["code"], "platform_rejected");
    assert_eq!(events(&app, &key, "job.failed").await.len(), 1);
    // a failed campaign does not change, and its metrics are zero
    let id = started["campaignId"].as_str().unwrap();
    let res = app
        .post_empty(&format!("/v1/ads/campaigns/{id}/pause"), &key)
        .await;
    assert_error(res, 409, "CONFLICT").await;
    let metrics = app
        .get_json(&format!("/v1/projects/{project}/ads/metrics"), &key)
        .await;
    assert!(metrics["data"][0]["series"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["spend"] == 0));
    assert_eq!(counter.received_requests().await.unwrap().len(), 0);
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.count(&format!("SELECT count(*) FROM {table}")).await
}

#[tokio::test]
async fn bad_campaigns_are_clear_4xx_and_write_nothing() {
    let counter = MockServer::start().await;
    let app = app_counting(&counter).await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Ads").await;
    let account = sandbox_ad_account(&app, &key, &project).await;
    let cnt = container(&app, &key, &project).await;
    let valid = campaign_body(&account, &cnt);
    let jobs_before = count(&app, "jobs").await;
    let with = |patch: &dyn Fn(&mut Value)| {
        let mut body = valid.clone();
        patch(&mut body);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|b| b["targeting"]["countries"] = json!(["US", "XX"])),
            "targeting.countries[1]",
        ),
        (
            with(&|b| b["targeting"]["countries"] = json!([])),
            "targeting.countries",
        ),
        (
            with(&|b| {
                b["targeting"]["ageMin"] = json!(50);
                b["targeting"]["ageMax"] = json!(30);
            }),
            "targeting.ageMin",
        ),
        (
            with(&|b| b["targeting"]["ageMin"] = json!(12)),
            "targeting.ageMin",
        ),
        (
            with(&|b| b["dailyBudget"]["amount"] = json!(0)),
            "dailyBudget.amount",
        ),
        (
            with(&|b| b["dailyBudget"]["currency"] = json!("EUR")),
            "dailyBudget.currency",
        ),
        (
            with(&|b| b["endAt"] = json!("2019-12-31T00:00:00.000Z")),
            "endAt",
        ),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("appStoreUrl");
            }),
            "appStoreUrl",
        ),
        (with(&|b| b["objective"] = json!("sales")), "objective"),
        (with(&|b| b["creatives"] = json!([])), "creatives"),
        (with(&|b| b["keywords"] = json!(["planner"])), "keywords"),
        (with(&|b| b["name"] = json!("")), "name"),
        (with(&|b| b["startAt"] = json!("tomorrow")), "startAt"),
    ];
    for (body, field) in cases {
        let res = create(&app, &key, &project, &body).await;
        let error = assert_error(res, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"]["field"], field, "{body}: {error}");
    }

    // Apple Search Ads takes no creatives
    let res = app
        .post(
            &format!("/v1/projects/{project}/ads/accounts"),
            &key,
            &json!({"platform": "apple_search_ads", "externalId": "40669820",
                    "credentials": {"clientId": "SEARCHADS.1", "teamId": "SEARCHADS.1",
                                    "keyId": "k1", "privateKeyPem": "not read in the sandbox"}}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let apple: Value = res.json().await.unwrap();
    let mut body = campaign_body(apple["id"].as_str().unwrap(), &cnt);
    let res = create(&app, &key, &project, &body).await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "creatives");
    body["creatives"] = json!([]);
    let res = create(&app, &key, &project, &body).await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "keywords");
    body["keywords"] = json!(["habit tracker"]);
    assert_eq!(create(&app, &key, &project, &body).await.status(), 202);

    // 409: content not completed; 422: content of the other environment
    let failed = app
        .post(
            &format!("/v1/projects/{project}/content/image"),
            &key,
            &json!({"hook": "sandbox:fail"}),
        )
        .await;
    let failed: Value = failed.json().await.unwrap();
    let failed = failed["containers"][0]["id"].as_str().unwrap();
    let res = create(&app, &key, &project, &campaign_body(&account, failed)).await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "content_not_ready");
    assert_eq!(error["details"]["field"], "creatives[0].containerId");
    let other = container(&app, &key, &project).await;
    app.client()
        .await
        .execute(
            "UPDATE content_containers SET is_sandbox = false WHERE id = $1",
            &[&layers_content::ContainerId::parse(&other)
                .unwrap()
                .as_uuid()],
        )
        .await
        .unwrap();
    let res = create(&app, &key, &project, &campaign_body(&account, &other)).await;
    assert_error(res, 422, "ENVIRONMENT_MISMATCH").await;

    // 404: an ad account of another project, unknown content
    let elsewhere = app.project_id(&key, "Elsewhere").await;
    let res = create(&app, &key, &elsewhere, &campaign_body(&account, &cnt)).await;
    let error = assert_error(res, 404, "NOT_FOUND").await;
    assert_eq!(error["details"]["field"], "adAccountId");
    let res = create(
        &app,
        &key,
        &project,
        &campaign_body(&account, "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
    )
    .await;
    assert_error(res, 404, "NOT_FOUND").await;

    assert_eq!(
        count(&app, "ads_campaigns").await,
        1,
        "only the Apple campaign was written"
    );
    assert_eq!(
        count(&app, "jobs").await,
        jobs_before + 3,
        "the Apple campaign's job and the two generations'"
    );
    assert_eq!(counter.received_requests().await.unwrap().len(), 0);
}

#[tokio::test]
async fn ad_accounts_are_checked_before_anything_is_written() {
    let app = spawn_app_with(|_| {}).await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Ads").await;
    let accounts = format!("/v1/projects/{project}/ads/accounts");
    let plain = connect(&app, &key, &project, json!({"platform": "instagram"})).await;
    let tiktok = connect(&app, &key, &project, json!({"platform": "tiktok"})).await;
    let business = connect(&app, &key, &project, json!({"platform": "tiktok_business"})).await;
    let meta = |sa: &str, ext: String| json!({"platform": "meta", "externalId": ext, "socialAccountId": sa});

    // an Instagram account without the ads permission
    let res = app
        .post(&accounts, &key, &meta(&plain, format!("sb_act_{plain}")))
        .await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "ads_permission_missing");
    // TikTok ads need a tiktok_business account
    let res = app
        .post(&accounts, &key, &json!({"platform": "tiktok", "externalId": format!("sb_act_{tiktok}"), "socialAccountId": tiktok}))
        .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "socialAccountId");
    // an ad account the sandbox account does not reach: the platform's refusal
    let res = app
        .post(
            &accounts,
            &key,
            &json!({"platform": "tiktok", "externalId": "7000000000", "socialAccountId": business}),
        )
        .await;
    let error = assert_error(res, 422, "PLATFORM_REJECTED").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains(&format!("sb_act_{business}")),
        "{error}"
    );
    // missing pieces
    let res = app
        .post(
            &accounts,
            &key,
            &json!({"platform": "meta", "externalId": "act_1"}),
        )
        .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "socialAccountId");
    let res = app
        .post(
            &accounts,
            &key,
            &json!({"platform": "apple_search_ads", "externalId": "1"}),
        )
        .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "credentials");
    let res = app
        .post(
            &accounts,
            &key,
            &json!({"platform": "google", "externalId": "1"}),
        )
        .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
    // ads: true is for Instagram
    let res = app
        .post(
            &format!("/v1/projects/{project}/social/oauth-url"),
            &key,
            &json!({"platform": "tiktok", "ads": true}),
        )
        .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(app.count("SELECT count(*) FROM ad_accounts").await, 0);

    // the TikTok for Business account links its own ad account, once
    let body = json!({"platform": "tiktok", "externalId": format!("sb_act_{business}"), "socialAccountId": business});
    let res = app.post(&accounts, &key, &body).await;
    assert_eq!(res.status(), 201);
    let res = app.post(&accounts, &key, &body).await;
    let error = assert_error(res, 409, "CONFLICT").await;
    assert_eq!(error["reason"], "already_linked");
    // a tiktok_business account publishes nothing
    let cnt = container(&app, &key, &project).await;
    let res = app
        .post(
            &format!("/v1/content/{cnt}/publish"),
            &key,
            &json!({"targets": [{"socialAccountId": business}]}),
        )
        .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "targets[0].socialAccountId");
    // a live key sees none of it
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let res = app.get(&accounts, &live).await;
    assert_error(res, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn sandbox_metrics_follow_the_clock_the_budget_and_the_paused_days() {
    use chrono::{Duration, TimeZone, Utc};
    let app = spawn_app_with(|_| {}).await;
    let key = app.partner_key(Env::Sandbox).await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
    let res = app
        .post(CLOCKS, &key, &json!({"frozenTime": stamp(t0)}))
        .await;
    let clock: Value = res.json().await.unwrap();
    let clock = clock["id"].as_str().unwrap().to_owned();
    let res = app
        .post(
            "/v1/projects",
            &key,
            &json!({"name": "Clocked", "testClockId": clock}),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let project: Value = res.json().await.unwrap();
    let project = project["id"].as_str().unwrap().to_owned();
    let account = sandbox_ad_account(&app, &key, &project).await;
    let cnt = container(&app, &key, &project).await;
    let mut body = campaign_body(&account, &cnt);
    body["objective"] = json!("traffic");
    let res = create(&app, &key, &project, &body).await;
    let started: Value = res.json().await.unwrap();
    let id = started["campaignId"].as_str().unwrap().to_owned();
    let created = events(&app, &key, "ads_campaign.created").await;
    assert_eq!(
        created[0]["createdAt"],
        stamp(t0),
        "the event is in the clock's time"
    );

    // ten clock days running, paused on the clock's March 11, resumed March 14
    advance(&app, &key, &clock, t0 + Duration::days(10)).await;
    assert_eq!(
        app.post_empty(&format!("/v1/ads/campaigns/{id}/pause"), &key)
            .await
            .status(),
        202
    );
    advance(&app, &key, &clock, t0 + Duration::days(13)).await;
    assert_eq!(
        app.post_empty(&format!("/v1/ads/campaigns/{id}/resume"), &key)
            .await
            .status(),
        202
    );
    advance(&app, &key, &clock, t0 + Duration::days(15)).await;

    let metrics = format!("/v1/projects/{project}/ads/metrics?from=2026-02-25&to=2026-03-16");
    let first = app.get(&metrics, &key).await.bytes().await.unwrap();
    let again = app.get(&metrics, &key).await.bytes().await.unwrap();
    assert_eq!(first, again, "two reads are byte-identical");
    let body: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(body["from"], "2026-02-25");
    assert_eq!(body["data"][0]["campaignId"], id.as_str());
    let series = body["data"][0]["series"].as_array().unwrap();
    assert_eq!(series.len(), 20); // February 2026 has 28 days
    let spend = |date: &str| {
        series.iter().find(|d| d["date"] == date).unwrap()["spend"]
            .as_i64()
            .unwrap()
    };
    for d in series {
        let s = d["spend"].as_i64().unwrap();
        assert!(s <= 5000, "{d}");
        assert_eq!(d["installs"], 0, "traffic has no installs");
        if s > 0 {
            assert!(s >= 3000);
            let impressions = d["impressions"].as_i64().unwrap();
            assert!(impressions >= s * 8 - 8 && impressions <= s * 12, "{d}");
        }
    }
    assert_eq!(
        spend("2026-02-28"),
        0,
        "before the campaign was created on the clock"
    );
    assert!(spend("2026-03-01") > 0 && spend("2026-03-10") > 0);
    assert_eq!(
        (
            spend("2026-03-11"),
            spend("2026-03-12"),
            spend("2026-03-13")
        ),
        (0, 0, 0),
        "paused"
    );
    assert!(
        spend("2026-03-14") > 0 && spend("2026-03-16") > 0,
        "resumed; today is the clock's"
    );
    // the clock's today bounds the range
    let res = app
        .get(
            &format!("/v1/projects/{project}/ads/metrics?to=2026-03-17"),
            &key,
        )
        .await;
    let error = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"]["field"], "to");
    // overlapping ranges agree day by day
    let other: Value = app
        .get_json(
            &format!(
                "/v1/projects/{project}/ads/metrics?from=2026-03-09&to=2026-03-15&campaignIds={id}"
            ),
            &key,
        )
        .await;
    for d in other["data"][0]["series"].as_array().unwrap() {
        assert_eq!(series.iter().find(|x| x["date"] == d["date"]).unwrap(), d);
    }
    let res = app
        .get(&format!("/v1/projects/{project}/ads/metrics?campaignIds=cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"), &key)
        .await;
    let error = assert_error(res, 404, "NOT_FOUND").await;
    assert_eq!(error["details"]["field"], "campaignIds");
}
