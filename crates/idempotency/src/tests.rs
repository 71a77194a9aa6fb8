//! Store tests against a fresh database.

use super::*;
use layers_db::testing::fresh_database;

fn response(body: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        content_type: Some("application/json".into()),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn keys_are_printable_and_bounded() {
    assert!(IdempotencyKey::parse("a").is_ok());
    assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
    assert!(IdempotencyKey::parse("").is_err());
    assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    assert!(IdempotencyKey::parse("tab\there").is_err());
    assert!(IdempotencyKey::parse("é").is_err());
}

#[test]
fn fingerprints_cover_path_and_body() {
    let a = Fingerprint::of("/v1/projects/1/archive", b"");
    assert_eq!(a, Fingerprint::of("/v1/projects/1/archive", b""));
    assert_ne!(a, Fingerprint::of("/v1/projects/2/archive", b""));
    assert_ne!(Fingerprint::of("/a", b"bc"), Fingerprint::of("/ab", b"c"));
}

#[tokio::test]
async fn first_runs_then_replays_mismatches_and_releases() {
    let db = fresh_database().await;
    let c = db.pool.get().await.unwrap();
    let key = IdempotencyKey::parse("k-1").unwrap();
    let scope = Scope {
        api_key_id: uuid::Uuid::new_v4(),
        endpoint: "POST /v1/projects",
        key: &key,
    };
    let fp = Fingerprint::of("/v1/projects", b"{\"name\":\"a\"}");

    let Begin::Proceed(token) = begin(&c, scope, &fp).await.unwrap() else {
        panic!("the first request claims the key")
    };
    assert_eq!(begin(&c, scope, &fp).await.unwrap(), Begin::InProgress);
    let other = Fingerprint::of("/v1/projects", b"{\"name\":\"b\"}");
    assert_eq!(begin(&c, scope, &other).await.unwrap(), Begin::Mismatch);

    assert!(complete(&c, scope, token, &response("{\"id\":1}"))
        .await
        .unwrap());
    assert_eq!(
        begin(&c, scope, &fp).await.unwrap(),
        Begin::Replay(response("{\"id\":1}"))
    );
    assert_eq!(begin(&c, scope, &other).await.unwrap(), Begin::Mismatch);
    // a finished key is not released
    release(&c, scope, token).await.unwrap();
    assert!(matches!(
        begin(&c, scope, &fp).await.unwrap(),
        Begin::Replay(_)
    ));

    // the same key under another endpoint is another key
    let elsewhere = Scope {
        endpoint: "PATCH /v1/projects/{projectId}",
        ..scope
    };
    let Begin::Proceed(token) = begin(&c, elsewhere, &fp).await.unwrap() else {
        panic!("another endpoint, another key")
    };
    release(&c, elsewhere, token).await.unwrap();
    assert!(matches!(
        begin(&c, elsewhere, &fp).await.unwrap(),
        Begin::Proceed(_)
    ));
}

#[tokio::test]
async fn expired_and_abandoned_keys_can_be_claimed_again_and_are_purged() {
    let db = fresh_database().await;
    let c = db.pool.get().await.unwrap();
    let key = IdempotencyKey::parse("k-2").unwrap();
    let scope = Scope {
        api_key_id: uuid::Uuid::new_v4(),
        endpoint: "POST /v1/projects",
        key: &key,
    };
    let fp = Fingerprint::of("/v1/projects", b"{}");
    let Begin::Proceed(first) = begin(&c, scope, &fp).await.unwrap() else {
        panic!()
    };
    complete(&c, scope, first, &response("{}")).await.unwrap();
    assert_eq!(purge_expired(&c).await.unwrap(), 0);

    let age = |sql: &'static str| {
        let c = &c;
        async move { c.execute(sql, &[]).await.unwrap() }
    };
    age("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'").await;
    // an expired key runs again, even with another body
    let again = begin(&c, scope, &Fingerprint::of("/v1/projects", b"{\"x\":1}"))
        .await
        .unwrap();
    let Begin::Proceed(abandoned) = again else {
        panic!()
    };

    // a running key whose holder vanished long ago is taken over
    age("UPDATE idempotency_keys SET created_at = now() - interval '11 minutes'").await;
    let Begin::Proceed(taker) = begin(&c, scope, &fp).await.unwrap() else {
        panic!()
    };
    // the old holder can neither store its answer nor release the new holder's claim
    assert!(!complete(&c, scope, abandoned, &response("{\"stale\":1}"))
        .await
        .unwrap());
    release(&c, scope, abandoned).await.unwrap();
    assert_eq!(begin(&c, scope, &fp).await.unwrap(), Begin::InProgress);
    assert!(complete(&c, scope, taker, &response("{}")).await.unwrap());

    age("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'").await;
    assert_eq!(purge_expired(&c).await.unwrap(), 1);
    let left: i64 = c
        .query_one("SELECT count(*) FROM idempotency_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}
