//! The database away is a 503 with `Retry-After`, never a 500 (issue 17, CONTRACT §4): while
//! PostgreSQL cannot be reached every request says "retry", and once it is back a read whose
//! pooled connection died is made again on a fresh one.

use std::time::Duration;

use layers_db::testing::fresh_database;
use layers_tests::{start, test_settings, DbProxy, Env, TestApp};

/// A gateway whose database connections go through `proxy`.
async fn app_behind_proxy() -> (TestApp, DbProxy) {
    let db = fresh_database().await;
    let proxy = DbProxy::start(&db.url).await;
    let mut settings = test_settings(&db);
    settings.database_url = proxy.url(&db.url);
    let address = start(settings).await;
    let app = TestApp {
        address,
        db,
        http: reqwest::Client::new(),
    };
    (app, proxy)
}

#[tokio::test]
async fn while_the_database_is_away_requests_answer_503_with_retry_after() {
    let (app, proxy) = app_behind_proxy().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Before").await;
    assert_eq!(app.get("/v1/projects", &key).await.status(), 200);

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reads = app.get(&format!("/v1/projects/{project}"), &key).await;
    let writes = app
        .request(reqwest::Method::POST, "/v1/projects", Some(&key))
        .header("Idempotency-Key", "during the outage")
        .json(&serde_json::json!({ "name": "During" }))
        .send()
        .await
        .unwrap();
    for res in [reads, writes] {
        let status = res.status();
        let retry = res.headers().get("retry-after").cloned();
        if status != 503 {
            panic!("{status}: {}", res.text().await.unwrap());
        }
        assert_eq!(retry.unwrap(), "1");
        let body = layers_tests::assert_error(res, 503, "SERVICE_UNAVAILABLE").await;
        assert!(
            body["message"].as_str().unwrap().contains("retry"),
            "{body}"
        );
    }

    proxy.restore();
    // the pooled connections died with the cut: the first read finds out and reads again
    let res = app.get(&format!("/v1/projects/{project}"), &key).await;
    assert_eq!(res.status(), 200);
    // the write was never made: the same key runs it now
    let res = app
        .request(reqwest::Method::POST, "/v1/projects", Some(&key))
        .header("Idempotency-Key", "during the outage")
        .json(&serde_json::json!({ "name": "During" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        app.count("SELECT count(*) FROM projects WHERE name = 'During'")
            .await,
        1
    );
}
