//! Unit tests, and store tests against a fresh database.

use super::*;

fn response(body: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        content_type: Some("application/json".into()),
        body: body.as_bytes().to_vec(),
        sealed: false,
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

#[test]
fn lock_ids_differ_by_every_part_and_answers_have_a_cap() {
    let k1 = IdempotencyKey::parse("k").unwrap();
    let k2 = IdempotencyKey::parse("k2").unwrap();
    let id = uuid::Uuid::new_v4();
    let s = |endpoint, key| Scope {
        api_key_id: id,
        endpoint,
        key,
    };
    let base = s("POST /v1/projects", &k1).lock_id();
    assert_eq!(base, s("POST /v1/projects", &k1).lock_id());
    assert_ne!(base, s("POST /v1/projects", &k2).lock_id());
    assert_ne!(base, s("PATCH /v1/projects", &k1).lock_id());
    let big = StoredResponse {
        status: 400,
        content_type: None,
        body: vec![b'x'; MAX_STORED_BODY + 1],
        sealed: false,
    };
    assert!(!big.fits());
}

#[cfg(feature = "store")]
mod store {
    use super::*;
    use layers_db::testing::fresh_database;

    /// A scope under a fresh API key id, for `POST /v1/projects`.
    fn scope(key: &IdempotencyKey) -> Scope<'_> {
        Scope {
            api_key_id: uuid::Uuid::new_v4(),
            endpoint: "POST /v1/projects",
            key,
        }
    }

    async fn rollback(c: &layers_db::Client) {
        c.batch_execute("ROLLBACK").await.unwrap();
    }

    #[tokio::test]
    async fn first_runs_then_replays_while_others_wait_or_mismatch() {
        let db = fresh_database().await;
        let (a, b) = (db.pool.get().await.unwrap(), db.pool.get().await.unwrap());
        let key = IdempotencyKey::parse("k-1").unwrap();
        let scope = scope(&key);
        let fp = Fingerprint::of("/v1/projects", b"{\"name\":\"a\"}");
        let other = Fingerprint::of("/v1/projects", b"{\"name\":\"b\"}");

        assert_eq!(begin(&a, scope, &fp).await.unwrap(), Begin::Proceed);
        // while a holds the key, b waits its turn
        assert_eq!(begin(&b, scope, &fp).await.unwrap(), Begin::InProgress);
        rollback(&b).await;
        a.batch_execute("CREATE TEMP TABLE effect (n int); INSERT INTO effect VALUES (1)")
            .await
            .unwrap();
        commit(&a, scope, &fp, &response("{\"id\":1}"))
            .await
            .unwrap();

        assert_eq!(
            begin(&b, scope, &fp).await.unwrap(),
            Begin::Replay(response("{\"id\":1}"))
        );
        rollback(&b).await;
        assert_eq!(begin(&b, scope, &other).await.unwrap(), Begin::Mismatch);
        rollback(&b).await;

        // the same key under another endpoint is another key
        let elsewhere = Scope {
            endpoint: "PATCH /v1/projects/{projectId}",
            ..scope
        };
        assert_eq!(begin(&b, elsewhere, &fp).await.unwrap(), Begin::Proceed);
        rollback(&b).await;
    }

    #[tokio::test]
    async fn a_holder_that_dies_leaves_neither_its_effect_nor_its_answer() {
        let db = fresh_database().await;
        let setup = db.pool.get().await.unwrap();
        setup
            .batch_execute("CREATE TABLE effect (n int)")
            .await
            .unwrap();
        let key = IdempotencyKey::parse("k-crash").unwrap();
        let scope = scope(&key);
        let fp = Fingerprint::of("/v1/projects", b"{}");
        // a pool of its own, so that the dead connection is never handed to the retry
        let other_pool = layers_db::pool(&db.url, 1).unwrap();
        {
            let dying = other_pool.get().await.unwrap();
            let pid: i32 = dying
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(begin(&dying, scope, &fp).await.unwrap(), Begin::Proceed);
            dying
                .batch_execute("INSERT INTO effect VALUES (1)")
                .await
                .unwrap();
            // the connection goes away between the side effect and the commit
            setup
                .execute("SELECT pg_terminate_backend($1)", &[&pid])
                .await
                .unwrap();
        }
        let retry = db.pool.get().await.unwrap();
        let started = std::time::Instant::now();
        let outcome = loop {
            let outcome = begin(&retry, scope, &fp).await.unwrap();
            rollback(&retry).await;
            if outcome != Begin::InProgress || started.elapsed().as_secs() > 10 {
                break outcome;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(outcome, Begin::Proceed, "the retry runs afresh");
        let effects: i64 = setup
            .query_one("SELECT count(*) FROM effect", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(effects, 0, "the dead holder's effect was rolled back");
    }

    #[tokio::test]
    async fn client_errors_store_their_answer_but_none_of_their_writes() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        c.batch_execute("CREATE TABLE effect (n int)")
            .await
            .unwrap();
        let key = IdempotencyKey::parse("k-4xx").unwrap();
        let scope = scope(&key);
        let fp = Fingerprint::of("/v1/projects", b"{}");
        assert_eq!(begin(&c, scope, &fp).await.unwrap(), Begin::Proceed);
        c.batch_execute("INSERT INTO effect VALUES (1)")
            .await
            .unwrap();
        let refused = StoredResponse {
            status: 409,
            ..response("{\"error\":{}}")
        };
        commit_answer_only(&c, scope, &fp, &refused).await.unwrap();
        let effects: i64 = c
            .query_one("SELECT count(*) FROM effect", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(effects, 0);
        assert_eq!(begin(&c, scope, &fp).await.unwrap(), Begin::Replay(refused));
        rollback(&c).await;
    }

    #[tokio::test]
    async fn expired_keys_run_again_and_are_purged() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let key = IdempotencyKey::parse("k-2").unwrap();
        let scope = scope(&key);
        let fp = Fingerprint::of("/v1/projects", b"{}");
        assert_eq!(begin(&c, scope, &fp).await.unwrap(), Begin::Proceed);
        commit(&c, scope, &fp, &response("{}")).await.unwrap();
        assert_eq!(purge_expired(&c).await.unwrap(), 0);

        c.execute(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
        // an expired key runs again, even with another body, and its new answer replaces the old
        let again = Fingerprint::of("/v1/projects", b"{\"x\":1}");
        assert_eq!(begin(&c, scope, &again).await.unwrap(), Begin::Proceed);
        commit(&c, scope, &again, &response("{\"new\":1}"))
            .await
            .unwrap();
        assert_eq!(
            begin(&c, scope, &again).await.unwrap(),
            Begin::Replay(response("{\"new\":1}"))
        );
        rollback(&c).await;

        c.execute(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
        assert_eq!(purge_expired(&c).await.unwrap(), 1);
    }
}
