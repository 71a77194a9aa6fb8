//! Post metrics over HTTP (CONTRACT §11 "Metrics", §8): sandbox posts get the synthesized
//! series (the same bytes every time, ranges agreeing day by day, zeros before publishing), the
//! summary sums them, and bad ranges or ids are refused.

use layers_metrics_synth::Date;
use layers_tests::{assert_error, spawn_app, Env, TestApp, TestKey};
use serde_json::{json, Value};

/// A sandbox project with one image published to two accounts `days_ago` days ago; returns
/// the project and the two externalIds.
async fn published(app: &TestApp, key: &TestKey, days_ago: i64) -> (String, Vec<String>) {
    let project = app.project_id(key, "Metrics").await;
    let started = app.generate(key, &project, "image").await;
    let container = started["containers"][0]["id"].as_str().unwrap().to_owned();
    let accounts = [
        app.connect_sandbox(key, &project, "instagram").await,
        app.connect_sandbox(key, &project, "youtube").await,
    ];
    let res = app
        .post(
            &format!("/v1/content/{container}/publish"),
            key,
            &json!({ "targets": [
                { "socialAccountId": accounts[0] }, { "socialAccountId": accounts[1] },
            ] }),
        )
        .await;
    assert_eq!(res.status(), 202);
    app.client()
        .await
        .execute(
            "UPDATE platform_posts SET posted_at = now() - $1::text::interval",
            &[&format!("{days_ago} days")],
        )
        .await
        .unwrap();
    (
        project,
        (0..2).map(|i| format!("sb_post_{container}_{i}")).collect(),
    )
}

fn day(offset: i64) -> Date {
    let today = chrono::Utc::now().date_naive();
    (today + chrono::Duration::days(offset))
        .to_string()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn sandbox_series_are_synthesized_deterministically_and_slice_by_day() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let (project, ids) = published(&app, &key, 10).await;

    // the default range: the last 28 days, every published post
    let body = app
        .get_json(&format!("/v1/projects/{project}/metrics"), &key)
        .await;
    assert_eq!(body["from"], day(-27).to_string());
    assert_eq!(body["to"], day(0).to_string());
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let published_on = day(-10);
    for post in data {
        let id = post["externalId"].as_str().unwrap();
        assert!(ids.iter().any(|i| i == id));
        assert!(post["scheduledPostId"].as_str().unwrap().starts_with("sp_"));
        assert!(post["containerId"].as_str().unwrap().starts_with("cnt_"));
        let series = post["series"].as_array().unwrap();
        assert_eq!(series.len(), 28);
        // exactly the synthesizer's days, field for field
        let expected = layers_metrics_synth::series(id, published_on, day(-27), day(0)).unwrap();
        for (got, want) in series.iter().zip(&expected) {
            assert_eq!(got["date"], want.date.to_string());
            assert_eq!(got["views"], want.views);
            assert_eq!(got["reach"], want.reach);
            assert_eq!(got["likes"], want.likes);
            assert_eq!(got["comments"], want.comments);
            assert_eq!(got["shares"], want.shares);
            assert_eq!(got["saves"], want.saves);
            assert_eq!(got["watch_time_ms"], want.watch_time_ms);
            assert_eq!(got["posts_published"], want.posts_published);
            assert_eq!(
                got["engagement_rate"].as_f64().unwrap(),
                want.engagement_rate
            );
            let keys: Vec<&str> = got
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            assert_eq!(keys.len(), 10, "{keys:?}");
        }
        // zeros before the publish day, plausible values from it
        for d in &series[..17] {
            assert_eq!(d["views"], 0);
        }
        assert_eq!(series[17]["posts_published"], 1);
        for d in &series[17..] {
            let views = d["views"].as_u64().unwrap();
            assert!((80..=120).contains(&views), "{d}");
            let rate = d["engagement_rate"].as_f64().unwrap();
            assert!((0.02..=0.05).contains(&rate), "{d}");
            assert!(d["reach"].as_u64().unwrap() <= views);
        }
    }

    // the same call, the same bytes
    let path = format!(
        "/v1/projects/{project}/metrics?from={}&to={}&postIds={}",
        day(-20),
        day(-1),
        ids.join(",")
    );
    let a = app.get(&path, &key).await.bytes().await.unwrap();
    let b = app.get(&path, &key).await.bytes().await.unwrap();
    assert_eq!(a, b);

    // an overlapping range agrees day by day
    let wide: Value = serde_json::from_slice(&a).unwrap();
    let narrow = app
        .get_json(
            &format!(
                "/v1/projects/{project}/metrics?from={}&to={}&postIds={}",
                day(-5),
                day(-3),
                ids[1]
            ),
            &key,
        )
        .await;
    let narrow_series = narrow["data"][0]["series"].as_array().unwrap();
    assert_eq!(narrow_series.len(), 3);
    let wide_post = wide["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["externalId"] == ids[1].as_str())
        .unwrap();
    let wide_series = wide_post["series"].as_array().unwrap();
    assert_eq!(&wide_series[15..18], narrow_series.as_slice());

    // the summary sums the same days
    let summary = app
        .get_json(
            &format!(
                "/v1/projects/{project}/metrics/summary?from={}&to={}",
                day(-20),
                day(-1)
            ),
            &key,
        )
        .await;
    assert_eq!(summary["posts"], 2);
    let total_views: u64 = wide["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["series"].as_array().unwrap())
        .map(|d| d["views"].as_u64().unwrap())
        .sum();
    assert_eq!(summary["views"], total_views);
    assert_eq!(summary["posts_published"], 2);
    let rate = summary["engagement_rate"].as_f64().unwrap();
    assert!((0.02..=0.05).contains(&rate));
}

#[tokio::test]
async fn bad_ranges_and_unknown_posts_are_refused() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let (project, ids) = published(&app, &key, 0).await;
    let base = format!("/v1/projects/{project}/metrics");
    for (query, field) in [
        (format!("to={}", day(1)), "to"),
        (format!("from={}&to={}", day(-1), day(-2)), "from"),
        (format!("from={}", day(-366)), "from"),
        ("from=yesterday".to_owned(), "from"),
        ("postIds=a,,b".to_owned(), "postIds"),
    ] {
        for route in [base.clone(), format!("{base}/summary")] {
            let res = app.get(&format!("{route}?{query}"), &key).await;
            let error = assert_error(res, 400, "VALIDATION_ERROR").await;
            assert_eq!(error["details"]["field"], field, "{query}");
        }
    }
    // 366 days is the most
    let res = app.get(&format!("{base}?from={}", day(-365)), &key).await;
    assert_eq!(res.status(), 200);
    // an id that is none of the project's posts
    let res = app
        .get(&format!("{base}?postIds={},sb_post_nope_0", ids[0]), &key)
        .await;
    let error = assert_error(res, 404, "NOT_FOUND").await;
    assert_eq!(error["details"]["field"], "postIds");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("sb_post_nope_0"));
    // another environment's key sees no such project
    let live = app
        .key_with(key.org, Env::Live, "*", layers_keys::Tier::Standard)
        .await;
    let res = app.get(&base, &live).await;
    assert_error(res, 404, "NOT_FOUND").await;
    // a key without metrics:read
    let reader = app
        .key_with(
            key.org,
            Env::Sandbox,
            "content:read",
            layers_keys::Tier::Standard,
        )
        .await;
    let res = app.get(&base, &reader).await;
    assert_error(res, 403, "FORBIDDEN_SCOPE").await;
}
