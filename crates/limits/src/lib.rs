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

mod batch;
mod decision;

pub use batch::{Limiter, DEFAULT_MAX_BATCH};
pub use decision::{Admitted, BatchOutcome, Decision, Policy, Throttled};

use std::sync::Arc;

use layers_orgs::OrgId;
use thiserror::Error;

/// What can go wrong while deciding.
#[derive(Debug, Clone, Error)]
pub enum Error {
    #[error("could not get a database connection: {0}")]
    Pool(String),
    #[error("rate-limit query failed: {0}")]
    Db(Arc<tokio_postgres::Error>),
    #[error("the rate limiter stopped before answering")]
    Gone,
}

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

/// Deletes buckets that are full again (they hold no information), returning how many.
pub async fn purge_idle_buckets(db: &impl layers_db::GenericClient) -> Result<u64> {
    db.execute(
        "DELETE FROM rate_limit_buckets WHERE tat_us < (extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
        &[],
    )
    .await
    .map_err(|e| Error::Db(Arc::new(e)))
}

/// The organization's calls so far in the current UTC month.
pub async fn monthly_usage(db: &impl layers_db::GenericClient, org: OrgId) -> Result<i64> {
    let row = db
        .query_opt(
            "SELECT calls FROM organization_usage \
             WHERE organization_id = $1 AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date",
            &[&org.as_uuid()],
        )
        .await
        .map_err(|e| Error::Db(Arc::new(e)))?;
    Ok(row.map(|r| r.get(0)).unwrap_or(0))
}

#[cfg(test)]
mod tests;
