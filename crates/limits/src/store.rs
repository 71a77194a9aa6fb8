//! The statements of limits: the `layers_admit` call that decides a batch, and the
//! maintenance and reporting reads of `rate_limit_buckets` and `organization_usage` (tables
//! this crate owns; the function is in `migrations/V2__…`).

use std::sync::Arc;

use layers_db::GenericClient;
use layers_orgs::OrgId;

use crate::decision::BatchOutcome;
use crate::{Error, Request, Result};

/// One `layers_admit` call: takes up to `n` requests like `r` from its bucket and counts them
/// against the organization's month; what it answered, for [`BatchOutcome::decide`].
pub(crate) async fn admit(db: &impl GenericClient, r: &Request, n: usize) -> Result<BatchOutcome> {
    let db_err = |e| Error::Db(Arc::new(e));
    let statement = db
        .prepare_cached(
            "SELECT now_us, base_us, granted, usage_before \
             FROM layers_admit($1, $2, $3, $4, $5, $6)",
        )
        .await
        .map_err(db_err)?;
    let row = db
        .query_one(
            &statement,
            &[
                &r.api_key_id,
                &r.endpoint,
                &r.organization_id.as_uuid(),
                &(n as i32),
                &r.policy.interval_us(),
                &r.policy.burst(),
            ],
        )
        .await
        .map_err(db_err)?;
    Ok(BatchOutcome {
        now_us: row.get(0),
        base_us: row.get(1),
        granted: row.get(2),
        usage_before: row.get(3),
    })
}

/// Deletes buckets that are full again (they hold no information), returning how many.
pub async fn purge_idle_buckets(db: &impl GenericClient) -> Result<u64> {
    db.execute(
        "DELETE FROM rate_limit_buckets WHERE tat_us < (extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
        &[],
    )
    .await
    .map_err(|e| Error::Db(Arc::new(e)))
}

/// The organization's calls so far in the current UTC month.
pub async fn monthly_usage(db: &impl GenericClient, org: OrgId) -> Result<i64> {
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
