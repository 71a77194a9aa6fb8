//! The workers' statements on the `jobs` table: claim, lease renewal, the marks a running job
//! makes, and the writes that end an attempt.
//!
//! Every write to a claimed job is fenced by the attempt number the worker claimed
//! (`attempts = $n` and `status = 'running'`): a worker whose lease passed and whose job another
//! worker claimed since matches nothing and changes nothing. The statements keep the form they
//! had in the worker (plain ones stay plain, cached ones cached): one round trip each.

use layers_db::GenericClient;

use crate::store::{job, COLUMNS};
use crate::{Job, JobId, Result};

/// Whether a cancel was requested for the job (`false` for a job that is gone).
pub(crate) async fn cancel_requested(db: &impl GenericClient, id: JobId) -> Result<bool> {
    let row = db
        .query_opt(
            "SELECT 1 FROM jobs WHERE id = $1 AND cancel_requested",
            &[&id.as_uuid()],
        )
        .await?;
    Ok(row.is_some())
}

/// Marks that the job's attempt `attempt` is about to spend something outside; `false` when a
/// cancel came first or the attempt no longer holds the job (then nothing is marked).
pub(crate) async fn mark_spent_outside(
    db: &impl GenericClient,
    id: JobId,
    attempt: i32,
) -> Result<bool> {
    let marked = db
        .query_opt(
            "UPDATE jobs SET spent_outside = true, updated_at = now() \
             WHERE id = $1 AND NOT cancel_requested AND status = 'running' AND attempts = $2 \
             RETURNING 1",
            &[&id.as_uuid(), &attempt],
        )
        .await?;
    Ok(marked.is_some())
}

/// Claims one runnable job of `kinds` under a lease of `lease` (an interval, `"30000
/// milliseconds"`): a queued one whose time has come, else a running one whose worker let its
/// lease pass. Each of the two claims is one statement, an index scan in order without a sort
/// (`jobs_runnable`, `jobs_leased`) that skips rows other workers hold; the second runs only
/// when the first found nothing.
pub(crate) async fn claim(
    db: &impl GenericClient,
    lease: &str,
    kinds: &[String],
) -> Result<Option<Job>> {
    for runnable in [
        "status = 'queued' AND run_at <= now()",
        "status = 'running' AND locked_until < now()",
    ] {
        let order = if runnable.starts_with("status = 'queued'") {
            "run_at"
        } else {
            "locked_until"
        };
        let row = layers_db::cached::query_opt(
            db,
            &format!(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, \
                     locked_until = now() + $1::text::interval, \
                     started_at = coalesce(started_at, now()), updated_at = now() \
                 WHERE id = ( \
                     SELECT id FROM jobs WHERE {runnable} AND kind = ANY($2) \
                     ORDER BY {order} LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING {COLUMNS}"
            ),
            &[&lease, &kinds],
        )
        .await?;
        if let Some(row) = row {
            return job(&row).map(Some);
        }
    }
    Ok(None)
}

/// Extends the lease of the job's attempt `attempt` to `lease` from now; answers the rows
/// changed (0: the attempt no longer holds the job).
pub(crate) async fn renew_lease(
    db: &impl GenericClient,
    id: JobId,
    lease: &str,
    attempt: i32,
) -> Result<u64> {
    Ok(db
        .execute(
            "UPDATE jobs SET locked_until = now() + $2::text::interval \
             WHERE id = $1 AND status = 'running' AND attempts = $3",
            &[&id.as_uuid(), &lease, &attempt],
        )
        .await?)
}

/// Ends the attempt `attempt` that succeeded with `result`: `succeeded`, or `canceled` (without
/// its result) when a cancel was requested meanwhile. Answers the ended job and whether it spent
/// anything outside, or `None` when the attempt no longer holds the job (nothing written).
pub(crate) async fn succeed(
    db: &impl GenericClient,
    id: JobId,
    attempt: i32,
    result: &serde_json::Value,
) -> Result<Option<(Job, bool)>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "UPDATE jobs SET \
                 status = CASE WHEN cancel_requested THEN 'canceled' ELSE 'succeeded' END, \
                 result = CASE WHEN cancel_requested THEN NULL ELSE $2::jsonb END, error = NULL, \
                 locked_until = NULL, finished_at = now(), updated_at = now() \
             WHERE id = $1 AND status = 'running' AND attempts = $3 \
             RETURNING {COLUMNS}, spent_outside"
        ),
        &[&id.as_uuid(), result, &attempt],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some((job(&row)?, row.get("spent_outside"))))
}

/// What a failed attempt's end depends on, read with the job's row locked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Running {
    pub spent_outside: bool,
    pub cancel_requested: bool,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// The job while its attempt `attempt` still holds it, its row locked `FOR UPDATE` until the
/// caller's transaction ends; `None` when another worker took it since.
pub(crate) async fn lock_running(
    db: &impl GenericClient,
    id: JobId,
    attempt: i32,
) -> Result<Option<Running>> {
    let row = layers_db::cached::query_opt(
        db,
        "SELECT spent_outside, cancel_requested, attempts, max_attempts FROM jobs \
         WHERE id = $1 AND status = 'running' AND attempts = $2 FOR UPDATE",
        &[&id.as_uuid(), &attempt],
    )
    .await?;
    Ok(row.map(|row| Running {
        spent_outside: row.get(0),
        cancel_requested: row.get(1),
        attempts: row.get(2),
        max_attempts: row.get(3),
    }))
}

/// Ends an attempt that did not succeed, on a row the caller locked ([`lock_running`]):
/// `status` (`queued` again to run after `retry_in`, an interval, or `failed`/`canceled`, then
/// finished now), with `error`; the lease is released. Answers the job as it is then.
pub(crate) async fn end_attempt(
    db: &impl GenericClient,
    id: JobId,
    status: &str,
    error: Option<&serde_json::Value>,
    retry_in: Option<&str>,
) -> Result<Job> {
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "UPDATE jobs SET status = $2, error = $3, locked_until = NULL, \
                 run_at = CASE WHEN $4::text IS NULL THEN run_at ELSE now() + $4::text::interval END, \
                 finished_at = CASE WHEN $2 = 'queued' THEN NULL ELSE now() END, \
                 updated_at = now() \
             WHERE id = $1 RETURNING {COLUMNS}"
        ),
        &[&id.as_uuid(), &status, &error, &retry_in],
    )
    .await?;
    job(&row)
}
