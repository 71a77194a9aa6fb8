//! Idempotency keys (CONTRACT §5): the first request with a key runs and its answer is stored;
//! a replay gets the stored answer byte for byte; the same key with another request is refused;
//! a key whose request is still running is refused until it finishes. 5xx answers are not
//! stored, so a retry runs again. Keys live 24 hours.
//!
//! ```
//! use layers_idempotency::{Fingerprint, IdempotencyKey, StoredResponse};
//!
//! let key = IdempotencyKey::parse("order-42").unwrap();
//! assert!(IdempotencyKey::parse("").is_err());
//! let a = Fingerprint::of("/v1/projects", br#"{"name":"a"}"#);
//! assert_ne!(a, Fingerprint::of("/v1/projects", br#"{"name":"b"}"#));
//! let answer = StoredResponse { status: 201, content_type: None, body: vec![0; 10], sealed: false };
//! assert!(answer.fits());
//! # let _ = key;
//! ```
//!
//! The scope of a key is (API key, endpoint, key); the fingerprint of a request covers its path,
//! query and body, so a key reused for another resource under the same route is refused too.
//!
//! # One fact: the side effect and its answer
//!
//! With the `store` feature (on by default), a keyed request runs in one database transaction
//! from [`begin`] to [`commit`]: `begin` opens it, takes a transaction-scoped advisory lock on
//! the key (the claim) and looks for a stored answer; the caller does its writes in the same
//! transaction; `commit` writes the answer and commits, so the side effect and its answer
//! become visible together or not at all. A process that dies in between leaves neither: its
//! lock goes with its connection and a retry runs afresh. A request that finds the lock taken
//! and no answer yet is [`Begin::InProgress`].

use ring::digest;
use thiserror::Error;

#[cfg(feature = "store")]
mod store;
#[cfg(feature = "store")]
pub use store::{begin, commit, commit_answer_only, purge_expired, Begin};

/// What can go wrong.
#[derive(Debug, Error)]
pub enum Error {
    #[error("an idempotency key must be 1 to 255 printable ASCII characters")]
    InvalidKey,
    #[cfg(feature = "store")]
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Largest answer body that is stored for replay (64 KiB). Larger answers are never stored: see
/// [`StoredResponse::fits`].
pub const MAX_STORED_BODY: usize = 64 * 1024;

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

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
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

impl Scope<'_> {
    /// The advisory-lock id of this scope: the first 8 bytes of a SHA-256 over its parts. Two
    /// scopes that collide only make one of two concurrent requests wait its turn (409), never
    /// share an answer: answers are looked up by the full scope.
    pub fn lock_id(&self) -> i64 {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(self.api_key_id.as_bytes());
        ctx.update(&(self.endpoint.len() as u64).to_be_bytes());
        ctx.update(self.endpoint.as_bytes());
        ctx.update(self.key.as_str().as_bytes());
        let hash = ctx.finish();
        let mut first = [0u8; 8];
        first.copy_from_slice(&hash.as_ref()[..8]);
        i64::from_be_bytes(first)
    }
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    /// The body, or, when `sealed`, the body sealed by the caller (answers can carry secrets:
    /// a webhook secret, an OAuth state, a signed upload URL; the gateway seals every answer
    /// under the master key before it is stored and opens it to replay it).
    pub body: Vec<u8>,
    pub sealed: bool,
}

impl StoredResponse {
    /// Whether the answer is small enough to store ([`MAX_STORED_BODY`]).
    pub fn fits(&self) -> bool {
        self.body.len() <= MAX_STORED_BODY
    }
}

#[cfg(test)]
mod tests;
