//! The `idempotency_keys` table and the transaction a keyed request runs in.

use futures_util::future::{try_join, try_join3, try_join4};
use layers_db::GenericClient;

use crate::{Fingerprint, Result, Scope, StoredResponse};

/// What to do with a request that carries a key. Whatever the answer, [`begin`] has opened a
/// transaction: run the request in it and [`commit`], or roll it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// This request holds the key: run it in the open transaction, then [`commit`] (or
    /// [`commit_answer_only`], or roll back to release the key).
    Proceed,
    /// The key already answered: send this (and roll back).
    Replay(StoredResponse),
    /// The first request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// The savepoint the request's own work starts after (see [`commit_answer_only`]).
const SAVEPOINT: &str = "SAVEPOINT layers_request";

const LOOKUP: &str = "SELECT request_hash, response_status, response_type, response_body, \
                             response_sealed \
                      FROM idempotency_keys \
                      WHERE api_key_id = $1 AND endpoint = $2 AND idempotency_key = $3 \
                        AND expires_at > now() AND state = 'done'";

const STORE: &str = "INSERT INTO idempotency_keys AS k (api_key_id, endpoint, idempotency_key, \
                         request_hash, response_status, response_type, response_body, \
                         response_sealed) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (api_key_id, endpoint, idempotency_key) DO UPDATE SET \
                         request_hash = EXCLUDED.request_hash, \
                         response_status = EXCLUDED.response_status, \
                         response_type = EXCLUDED.response_type, \
                         response_body = EXCLUDED.response_body, \
                         response_sealed = EXCLUDED.response_sealed, state = 'done', \
                         claim_token = NULL, \
                         created_at = now(), expires_at = now() + interval '24 hours' \
                     WHERE k.expires_at <= now() OR k.state <> 'done'";

/// Opens a transaction on `db` (which must not be in one) and claims the key in it, in one
/// round trip: `BEGIN`, the advisory lock, the lookup of a stored answer and a savepoint are
/// pipelined. The lookup runs after the lock is taken, so it sees every answer committed by an
/// earlier holder.
pub async fn begin(
    db: &impl GenericClient,
    scope: Scope<'_>,
    fingerprint: &Fingerprint,
) -> Result<Begin> {
    let lock = db
        .prepare_cached("SELECT pg_try_advisory_xact_lock($1)")
        .await?;
    let lookup = db.prepare_cached(LOOKUP).await?;
    // Prepared now, while no transaction can be aborted yet: storing a 4xx answer after a
    // failed statement must not need a Parse (refused in an aborted transaction).
    db.prepare_cached(STORE).await?;
    let key = scope.key.as_str();
    let (_, locked, existing, _) = try_join4(
        db.batch_execute("BEGIN"),
        db.query_one(&lock, &[&scope.lock_id()]),
        db.query_opt(&lookup, &[&scope.api_key_id, &scope.endpoint, &key]),
        db.batch_execute(SAVEPOINT),
    )
    .await?;
    if let Some(row) = existing {
        if row.get::<_, &[u8]>(0) != fingerprint.as_bytes() {
            return Ok(Begin::Mismatch);
        }
        return Ok(Begin::Replay(StoredResponse {
            status: u16::try_from(row.get::<_, i32>(1)).unwrap_or(500),
            content_type: row.get(2),
            body: row.get(3),
            sealed: row.get(4),
        }));
    }
    Ok(if locked.get::<_, bool>(0) {
        Begin::Proceed
    } else {
        Begin::InProgress
    })
}

/// Stores the answer and commits the transaction [`begin`] opened, in one round trip: the
/// request's writes and its answer become visible together. If anything fails, nothing of the
/// transaction is committed.
pub async fn commit(
    db: &impl GenericClient,
    scope: Scope<'_>,
    fingerprint: &Fingerprint,
    answer: &StoredResponse,
) -> Result<()> {
    store_and_commit(db, scope, fingerprint, answer, false).await
}

/// Undoes the request's own writes (everything after [`begin`]), stores its answer and commits,
/// in one round trip: for client errors, which are replayed but must leave nothing written.
pub async fn commit_answer_only(
    db: &impl GenericClient,
    scope: Scope<'_>,
    fingerprint: &Fingerprint,
    answer: &StoredResponse,
) -> Result<()> {
    store_and_commit(db, scope, fingerprint, answer, true).await
}

async fn store_and_commit(
    db: &impl GenericClient,
    scope: Scope<'_>,
    fingerprint: &Fingerprint,
    answer: &StoredResponse,
    undo_request: bool,
) -> Result<()> {
    let store = db.prepare_cached(STORE).await?;
    let key = scope.key.as_str();
    let status = i32::from(answer.status);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        &scope.api_key_id,
        &scope.endpoint,
        &key,
        &fingerprint.0,
        &status,
        &answer.content_type,
        &answer.body,
        &answer.sealed,
    ];
    if undo_request {
        try_join3(
            db.batch_execute("ROLLBACK TO SAVEPOINT layers_request"),
            db.execute(&store, &params),
            db.batch_execute("COMMIT"),
        )
        .await?;
    } else {
        try_join(db.execute(&store, &params), db.batch_execute("COMMIT")).await?;
    }
    Ok(())
}

/// Deletes keys older than 24 hours, returning how many.
pub async fn purge_expired(db: &impl GenericClient) -> Result<u64> {
    Ok(db
        .execute("DELETE FROM idempotency_keys WHERE expires_at < now()", &[])
        .await?)
}
