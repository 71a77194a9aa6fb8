//! Rate limits and monthly quotas: whether a request may run, decided in one round trip.
//!
//! Each (API key, endpoint) pair has a GCRA bucket in PostgreSQL, so every gateway process
//! shares it; the organization has a monthly call counter. Both are updated by one call to the
//! `layers_admit` SQL function (see `migrations/V2__…`).
//!
//! One key hammering one endpoint would make every request wait on the same row lock and pay
//! its own commit. [`Limiter`] therefore batches: while a call for a bucket is in flight, later
//! requests for that bucket queue in memory, and the next call decides all of them at once.
//! Every request still costs at most one round trip of its own wait, and under load a single
//! statement admits many requests.
//!
//! The arithmetic is pure: from what one `layers_admit` call answered for a batch to a decision
//! per request.
//!
//! ```
//! use layers_limits::{BatchOutcome, Decision, Policy};
//!
//! // Two a minute; three requests arrive together at a fresh bucket, which grants two.
//! let policy = Policy::per_minute(2);
//! let now_us = 1_750_000_000_000_000;
//! let outcome = BatchOutcome { now_us, base_us: now_us, granted: 2, usage_before: 41 };
//!
//! let Decision::Admitted(first) = outcome.decide(0, policy, Some(1_000)) else { panic!() };
//! assert_eq!((first.remaining, first.reset_secs, first.monthly_usage), (1, 30, 42));
//! let Decision::Admitted(second) = outcome.decide(1, policy, Some(1_000)) else { panic!() };
//! assert_eq!(second.remaining, 0);
//! let Decision::RateLimited(third) = outcome.decide(2, policy, Some(1_000)) else { panic!() };
//! assert_eq!((third.retry_after_secs, third.reset_secs), (30, 60));
//!
//! // Within the rate but past the monthly quota:
//! assert!(matches!(outcome.decide(1, policy, Some(42)), Decision::QuotaExceeded { quota: 42, .. }));
//! ```
//!
//! `Limiter`, `purge_idle_buckets` and `monthly_usage` are the database side, the default
//! `store` feature; with `default-features = false` this crate is [`Policy`], [`Request`] and
//! [`BatchOutcome::decide`], and needs no database and no async runtime.

#[cfg(feature = "store")]
mod batch;
mod decision;
#[cfg(feature = "store")]
mod store;

#[cfg(feature = "store")]
pub use batch::{Limiter, DEFAULT_MAX_BATCH};
pub use decision::{Admitted, BatchOutcome, Decision, Policy, Throttled};
#[cfg(feature = "store")]
pub use store::{monthly_usage, purge_idle_buckets};

#[cfg(feature = "store")]
use std::sync::Arc;

use layers_orgs::OrgId;
#[cfg(feature = "store")]
use thiserror::Error;

/// What can go wrong while deciding.
#[cfg(feature = "store")]
#[derive(Debug, Clone, Error)]
pub enum Error {
    #[error("could not get a database connection")]
    Pool(#[source] Arc<layers_db::PoolError>),
    #[error("rate-limit query failed")]
    Db(#[source] Arc<tokio_postgres::Error>),
    #[error("the rate limiter stopped before answering")]
    Gone,
}

#[cfg(feature = "store")]
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One request to admit.
#[derive(Debug, Clone)]
pub struct Request {
    pub api_key_id: uuid::Uuid,
    /// Method and route template, e.g. `POST /v1/projects`.
    pub endpoint: String,
    pub organization_id: OrgId,
    pub policy: Policy,
    /// The organization's monthly ceiling, if any.
    pub monthly_quota: Option<i64>,
}

#[cfg(all(test, feature = "store"))]
mod tests;
