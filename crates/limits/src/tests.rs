//! Limiter tests against a fresh database.

use std::sync::Arc;

use layers_db::testing::{fresh_database, TestDatabase};
use layers_orgs::{OrgId, Plan};

use crate::{monthly_usage, purge_idle_buckets, Decision, Limiter, Policy, Request};

async fn org(db: &TestDatabase) -> OrgId {
    let c = db.pool.get().await.unwrap();
    layers_orgs::create(&c, "Acme", Plan::Partner, None)
        .await
        .unwrap()
        .id
}

fn request(org: OrgId, key: uuid::Uuid, per_minute: u32, quota: Option<i64>) -> Request {
    Request {
        api_key_id: key,
        endpoint: "GET /v1/whoami".into(),
        organization_id: org,
        policy: Policy::per_minute(per_minute),
        monthly_quota: quota,
    }
}

#[tokio::test]
async fn admits_a_burst_then_throttles() {
    let db = fresh_database().await;
    let org = org(&db).await;
    let limiter = Limiter::new(db.pool.clone());
    let key = uuid::Uuid::new_v4();
    for expected_remaining in (0..5).rev() {
        match limiter.admit(request(org, key, 5, None)).await.unwrap() {
            Decision::Admitted(a) => {
                assert_eq!(a.remaining, expected_remaining);
                assert_eq!(a.limit, 5);
            }
            other => panic!("{other:?}"),
        }
    }
    match limiter.admit(request(org, key, 5, None)).await.unwrap() {
        Decision::RateLimited(t) => assert!((1..=12).contains(&t.retry_after_secs), "{t:?}"),
        other => panic!("{other:?}"),
    }
    // another endpoint of the same key has its own bucket
    let mut other = request(org, key, 5, None);
    other.endpoint = "POST /v1/projects".into();
    assert!(matches!(
        limiter.admit(other).await.unwrap(),
        Decision::Admitted(_)
    ));
    // every authenticated request counts toward the month, throttled ones too
    let c = db.pool.get().await.unwrap();
    assert_eq!(monthly_usage(&c, org).await.unwrap(), 7);
}

#[tokio::test]
async fn concurrent_requests_across_two_processes_share_one_bucket() {
    let db = fresh_database().await;
    let org = org(&db).await;
    // two limiters on two pools stand for two gateway processes
    let a = Limiter::new(db.pool.clone());
    let b = Limiter::new(layers_db::pool(&db.url, 4).unwrap());
    let key = uuid::Uuid::new_v4();
    let mut tasks = Vec::new();
    // six a minute: no token comes back during the test
    for i in 0..60 {
        let limiter: Arc<Limiter> = if i % 2 == 0 { a.clone() } else { b.clone() };
        let req = request(org, key, 6, None);
        tasks.push(tokio::spawn(
            async move { limiter.admit(req).await.unwrap() },
        ));
    }
    let mut admitted = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Decision::Admitted(_)) {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 6);
}

#[tokio::test]
async fn the_monthly_quota_caps_admitted_requests() {
    let db = fresh_database().await;
    let org = org(&db).await;
    let limiter = Limiter::new(db.pool.clone());
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        // quotas are per organization: spread the calls over keys
        outcomes.push(
            limiter
                .admit(request(org, uuid::Uuid::new_v4(), 100, Some(3)))
                .await
                .unwrap(),
        );
    }
    let usage: Vec<i64> = outcomes
        .iter()
        .filter_map(|d| match d {
            Decision::Admitted(a) => Some(a.monthly_usage),
            _ => None,
        })
        .collect();
    assert_eq!(usage, [1, 2, 3]);
    assert!(matches!(
        outcomes[3],
        Decision::QuotaExceeded { quota: 3, .. }
    ));
    let c = db.pool.get().await.unwrap();
    // refused calls count too: a runaway loop keeps showing in the usage
    assert_eq!(monthly_usage(&c, org).await.unwrap(), 5);
}

#[tokio::test]
async fn idle_buckets_are_purged() {
    let db = fresh_database().await;
    let org = org(&db).await;
    let limiter = Limiter::new(db.pool.clone());
    limiter
        .admit(request(org, uuid::Uuid::new_v4(), 5, None))
        .await
        .unwrap();
    let c = db.pool.get().await.unwrap();
    assert_eq!(
        purge_idle_buckets(&c).await.unwrap(),
        0,
        "a bucket just used is not idle"
    );
    c.execute(
        "UPDATE rate_limit_buckets SET tat_us = tat_us - 3600000000",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(purge_idle_buckets(&c).await.unwrap(), 1);
}
