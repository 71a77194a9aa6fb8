//! Idempotency keys (CONTRACT §5): the first request with a key runs and its answer is stored;
//! a replay gets the stored answer byte for byte; the same key with another request is refused;
//! a key whose request is still running is refused until it finishes. 5xx answers are not
//! stored: the key is released so that a retry runs again. Keys live 24 hours.
//!
//! The scope of a key is (API key, endpoint, key); the fingerprint of a request covers its path,
//! query and body, so a key reused for another resource under the same route is refused too.
//! The row written by [`begin`] is the lock: `INSERT … ON CONFLICT` (in the SQL function
//! `layers_idempotency_claim`) lets exactly one of any number of concurrent requests proceed.

use layers_db::GenericClient;
use ring::digest;
use thiserror::Error;

/// What can go wrong.
#[derive(Debug, Error)]
pub enum Error {
    #[error("Idempotency-Key must be 1 to 255 printable ASCII characters")]
    InvalidKey,
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A validated `Idempotency-Key` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Result<IdempotencyKey> {
        if (1..=255).contains(&s.len()) && s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            Ok(IdempotencyKey(s.to_owned()))
        } else {
            Err(Error::InvalidKey)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 over a request's path, query and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(Vec<u8>);

impl Fingerprint {
    pub fn of(path_and_query: &str, body: &[u8]) -> Fingerprint {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&(path_and_query.len() as u64).to_be_bytes());
        ctx.update(path_and_query.as_bytes());
        ctx.update(body);
        Fingerprint(ctx.finish().as_ref().to_vec())
    }
}

/// Where a key lives.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub api_key_id: uuid::Uuid,
    /// Method and route template, e.g. `POST /v1/projects`.
    pub endpoint: &'a str,
    pub key: &'a IdempotencyKey,
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Proof that a request holds a key: only its holder may store an answer or release it, so a
/// request whose claim was taken over (after [`ABANDONED_AFTER`]) cannot clobber the new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimToken(uuid::Uuid);

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// This request holds the key: run it, then [`complete`] or [`release`].
    Proceed(ClaimToken),
    /// The key already answered: send this.
    Replay(StoredResponse),
    /// The first request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// A running request whose process vanished holds its key at most this long.
pub const ABANDONED_AFTER: &str = "10 minutes";

/// Claims the key for this request, or says why not.
pub async fn begin(
    db: &impl GenericClient,
    scope: Scope<'_>,
    fingerprint: &Fingerprint,
) -> Result<Begin> {
    for _ in 0..3 {
        let token = ClaimToken(uuid::Uuid::new_v4());
        let claimed: bool = layers_db::cached::query_one(
            db,
            "SELECT layers_idempotency_claim($1, $2, $3, $4, $5, $6::text::interval)",
            &[
                &scope.api_key_id,
                &scope.endpoint,
                &scope.key.as_str(),
                &fingerprint.0,
                &token.0,
                &ABANDONED_AFTER,
            ],
        )
        .await?
        .get(0);
        if claimed {
            return Ok(Begin::Proceed(token));
        }
        let existing = layers_db::cached::query_opt(
                db,
                "SELECT request_hash, state, response_status, response_type, response_body \
                 FROM idempotency_keys WHERE api_key_id = $1 AND endpoint = $2 AND idempotency_key = $3",
                &[&scope.api_key_id, &scope.endpoint, &scope.key.as_str()],
            )
            .await?;
        // Gone in between (released after a 5xx): try to claim it again.
        let Some(row) = existing else { continue };
        if row.get::<_, &[u8]>(0) != fingerprint.0.as_slice() {
            return Ok(Begin::Mismatch);
        }
        return Ok(match row.get::<_, &str>(1) {
            "done" => Begin::Replay(StoredResponse {
                status: u16::try_from(row.get::<_, i32>(2)).unwrap_or(500),
                content_type: row.get(3),
                body: row.get(4),
            }),
            _ => Begin::InProgress,
        });
    }
    Ok(Begin::InProgress)
}

/// Stores the answer of the request that holds the key. Returns `false` when the claim was taken
/// over meanwhile (nothing is written then).
pub async fn complete(
    db: &impl GenericClient,
    scope: Scope<'_>,
    token: ClaimToken,
    response: &StoredResponse,
) -> Result<bool> {
    layers_db::cached::execute(
        db,
        "UPDATE idempotency_keys SET state = 'done', response_status = $4, response_type = $5, response_body = $6 \
         WHERE api_key_id = $1 AND endpoint = $2 AND idempotency_key = $3 AND claim_token = $7 \
         AND state = 'running'",
        &[
            &scope.api_key_id,
            &scope.endpoint,
            &scope.key.as_str(),
            &i32::from(response.status),
            &response.content_type,
            &response.body,
            &token.0,
        ],
    )
    .await
    .map(|n| n == 1)
    .map_err(Error::from)
}

/// Forgets the key held by `token` (after a 5xx), so that a retry runs again.
pub async fn release(db: &impl GenericClient, scope: Scope<'_>, token: ClaimToken) -> Result<()> {
    layers_db::cached::execute(
        db,
        "DELETE FROM idempotency_keys WHERE api_key_id = $1 AND endpoint = $2 AND idempotency_key = $3 \
         AND state = 'running' AND claim_token = $4",
        &[&scope.api_key_id, &scope.endpoint, &scope.key.as_str(), &token.0],
    )
    .await?;
    Ok(())
}

/// Deletes keys older than 24 hours, returning how many.
pub async fn purge_expired(db: &impl GenericClient) -> Result<u64> {
    Ok(db
        .execute("DELETE FROM idempotency_keys WHERE expires_at < now()", &[])
        .await?)
}

#[cfg(test)]
mod tests;
