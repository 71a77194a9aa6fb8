//! The `jobs` table: queue, read, list and cancel, for one organization and environment.

use chrono::{DateTime, SubsecRound, Utc};
use layers_core::{EnvKind, Limit, Page};
use layers_credits::{Charge, Operation};
use layers_db::GenericClient;
use layers_orgs::OrgId;
use tokio_postgres::Row;

use layers_webhooks::EventType;

use crate::{Error, Job, JobError, JobId, JobObject, JobStatus, NewJob, Outset, Result};

pub(crate) const COLUMNS: &str = "id, organization_id, project_id, api_key_id, is_sandbox, kind, \
     status, payload, result, error, credits_charged, credits_kept, attempts, max_attempts, \
     cancel_requested, \
     created_at, updated_at, started_at, finished_at";

pub(crate) fn job(row: &Row) -> Result<Job> {
    let status: &str = row.get("status");
    Ok(Job {
        id: JobId::from_uuid(row.get("id")),
        organization_id: OrgId::from_uuid(row.get("organization_id")),
        project_id: row.get("project_id"),
        api_key_id: row.get("api_key_id"),
        env: EnvKind::from_sandbox(row.get("is_sandbox")),
        kind: row.get("kind"),
        status: JobStatus::parse(status).ok_or_else(|| Error::Corrupt(status.to_owned()))?,
        payload: row.get("payload"),
        result: row.get("result"),
        error: row.get("error"),
        credits_charged: row.get("credits_charged"),
        credits_kept: row.get("credits_kept"),
        attempts: row.get("attempts"),
        max_attempts: row.get("max_attempts"),
        cancel_requested: row.get("cancel_requested"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
    })
}

/// Queues a job in the caller's transaction; workers hear of it when that transaction commits.
pub async fn enqueue(db: &impl GenericClient, new: &NewJob) -> Result<Job> {
    enqueue_at(db, new, None).await
}

/// Queues a job that no worker runs before `run_at` (now when `None`), in the caller's
/// transaction. Workers find it by their periodic look once it is due.
pub async fn enqueue_at(
    db: &impl GenericClient,
    new: &NewJob,
    run_at: Option<DateTime<Utc>>,
) -> Result<Job> {
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "INSERT INTO jobs (id, organization_id, project_id, api_key_id, is_sandbox, kind, \
                               payload, credits_charged, run_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now())) RETURNING {COLUMNS}"
        ),
        &[
            &new.id.as_uuid(),
            &new.organization_id.as_uuid(),
            &new.project_id,
            &new.api_key_id,
            &new.env.is_sandbox(),
            &new.kind,
            &with_operation(&new.payload, new.operation),
            &new.credits_charged,
            &run_at,
        ],
    )
    .await?;
    job(&row)
}

/// Writes a job that has nothing left to do, already `succeeded` with `result` (its
/// `startedAt` and `finishedAt` the moment of writing), and its `job.succeeded` event, in the
/// caller's transaction: a sandbox job whose work the request itself did. No worker claims it,
/// nothing is notified, and the request's commit is the job's only one. The row and the event
/// go out together on the connection (one round trip, pipelined).
pub async fn record_done(
    db: &impl GenericClient,
    new: &NewJob,
    result: serde_json::Value,
) -> Result<Job> {
    record(db, new, Written::Ended(JobStatus::Succeeded, result)).await
}

/// Writes a job that the request itself found failing, already `failed` with `error`
/// (`{code, message}`), and its `job.failed` event, in the caller's transaction, as
/// [`record_done`] writes a succeeded one. What it was charged is refunded in the same
/// transaction (a sandbox job was charged nothing, so nothing is).
pub async fn record_failed(db: &impl GenericClient, new: &NewJob, error: JobError) -> Result<Job> {
    let error = serde_json::to_value(&error).expect("a job error of strings serializes");
    let failed = record(db, new, Written::Ended(JobStatus::Failed, error)).await?;
    refund_if_owed(db, &failed, false).await?;
    Ok(failed)
}

/// Writes a job `running` under a lease that no worker holds, until `until`, in the caller's
/// transaction: once it has passed, the workers' claim of jobs whose lease passed takes it and
/// runs its first attempt (a cancel requested meanwhile ends it `canceled` then). Nothing is
/// announced yet.
pub async fn record_running(
    db: &impl GenericClient,
    new: &NewJob,
    until: DateTime<Utc>,
) -> Result<Job> {
    record(db, new, Written::Running(until)).await
}

/// How [`record`] writes a job.
enum Written {
    /// Ended (`succeeded` with its result, `failed` with its error).
    Ended(JobStatus, serde_json::Value),
    /// `running`, its lease until then.
    Running(DateTime<Utc>),
}

/// Writes `new` as `written` says, with its event if it has ended (one round trip, pipelined).
async fn record(db: &impl GenericClient, new: &NewJob, written: Written) -> Result<Job> {
    let now = Utc::now().trunc_subsecs(6);
    let (status, until, value) = match written {
        Written::Ended(status, value) => (status, None, Some(crate::worker::bounded(value))),
        Written::Running(until) => (JobStatus::Running, Some(until), None),
    };
    let succeeded = status == JobStatus::Succeeded;
    let done = Job {
        id: new.id,
        organization_id: new.organization_id,
        project_id: new.project_id,
        api_key_id: new.api_key_id,
        env: new.env,
        kind: new.kind.to_owned(),
        status,
        payload: with_operation(&new.payload, new.operation),
        result: value.clone().filter(|_| succeeded),
        error: value.filter(|_| status == JobStatus::Failed),
        credits_charged: new.credits_charged,
        credits_kept: if succeeded { new.credits_charged } else { 0 },
        attempts: 0,
        max_attempts: DEFAULT_MAX_ATTEMPTS,
        cancel_requested: false,
        created_at: now,
        updated_at: now,
        started_at: Some(now),
        finished_at: status.is_terminal().then_some(now),
    };
    let row = async {
        layers_db::cached::execute(
            db,
            "INSERT INTO jobs (id, organization_id, project_id, api_key_id, is_sandbox, kind, \
                               payload, credits_charged, credits_kept, max_attempts, status, \
                               result, error, locked_until, run_at, created_at, updated_at, \
                               started_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                     $15, $15, $15, $15, $16)",
            &[
                &done.id.as_uuid(),
                &done.organization_id.as_uuid(),
                &done.project_id,
                &done.api_key_id,
                &done.env.is_sandbox(),
                &done.kind,
                &done.payload,
                &done.credits_charged,
                &done.credits_kept,
                &done.max_attempts,
                &done.status.as_str(),
                &done.result,
                &done.error,
                &until,
                &now,
                &done.finished_at,
            ],
        )
        .await
        .map_err(Error::from)
    };
    futures_util::future::try_join(row, announce(db, &done)).await?;
    Ok(done)
}

/// The attempts a job gets (the `jobs.max_attempts` default).
const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// The credit operation rides in the payload so that a refund can name it.
fn with_operation(payload: &serde_json::Value, operation: Option<&str>) -> serde_json::Value {
    let mut payload = payload.clone();
    if let (Some(op), Some(map)) = (operation, payload.as_object_mut()) {
        map.insert("_operation".into(), serde_json::Value::from(op));
    }
    payload
}

/// The refund owed for a job that ends without success (`failed`, or `canceled` before it spent
/// anything outside), written in the caller's transaction.
pub(crate) async fn refund_if_owed(
    db: &impl GenericClient,
    job: &Job,
    spent_outside: bool,
) -> Result<()> {
    let owed = job.credits_charged > job.credits_kept
        && (job.status == JobStatus::Failed
            || (job.status == JobStatus::Canceled && !spent_outside));
    if !owed {
        return Ok(());
    }
    let operation = job
        .payload
        .get("_operation")
        .and_then(|o| o.as_str())
        .and_then(operation_named)
        .ok_or_else(|| Error::Corrupt(format!("job {} charged without an operation", job.id)))?;
    let charge = Charge {
        organization_id: job.organization_id,
        operation,
        units: 1,
        api_key_id: job.api_key_id,
        project_id: job.project_id,
        job_id: Some(job.id.as_uuid()),
    };
    layers_credits::refund(db, &charge, job.credits_charged - job.credits_kept).await?;
    Ok(())
}

fn operation_named(name: &str) -> Option<Operation> {
    [
        Operation::ContentImage,
        Operation::ContentSlideshow,
        Operation::ContentVideoRemix,
        Operation::ContentUgcCreative,
        Operation::IngestGithub,
        Operation::IngestAppstore,
        Operation::IngestWebsite,
    ]
    .into_iter()
    .find(|o| o.as_str() == name)
}

/// Keeps `credits` of what `job` was charged whatever its end: called in the transaction that
/// delivers that part of its work, so that a later failure refunds only the rest.
pub async fn keep_credits(db: &impl GenericClient, job: JobId, credits: i64) -> Result<()> {
    layers_db::cached::execute(
        db,
        "UPDATE jobs SET credits_kept = least(credits_charged, credits_kept + $2), \
             updated_at = now() WHERE id = $1",
        &[&job.as_uuid(), &credits],
    )
    .await?;
    Ok(())
}

/// Moves the queued jobs of `payload`'s kind in `env` whose payload contains `payload`'s
/// document (`payload @> …`: every field of it, with the same value) so that one job stays: the
/// oldest of them runs at `run_at` and the others end `canceled`; with `run_at` `None` every one
/// of them ends `canceled`. Answers whether a job was moved (when not, the caller queues one if
/// it wants one). In the caller's transaction, one statement; the matching rows are locked until
/// it ends, and a job a worker claimed meanwhile (`running`) is not touched.
///
/// For a chain of upkeep jobs that charge nothing and that no partner waits on (a token
/// refresh): a job ended here gets no refund and no `job.canceled` event.
pub async fn reschedule_queued<P: crate::Payload>(
    db: &impl GenericClient,
    env: EnvKind,
    payload: &P,
    run_at: Option<DateTime<Utc>>,
) -> Result<bool> {
    let contains = serde_json::to_value(payload).expect("a job payload serializes");
    let moved = layers_db::cached::query(
        db,
        "WITH q AS (SELECT id FROM jobs WHERE kind = $1 AND status = 'queued' \
                        AND is_sandbox = $2 AND payload @> $3::jsonb FOR UPDATE), \
              moved AS (UPDATE jobs SET run_at = $4, updated_at = now() \
                        WHERE $4::timestamptz IS NOT NULL \
                          AND id = (SELECT id FROM q ORDER BY id LIMIT 1) RETURNING id), \
              dropped AS (UPDATE jobs SET status = 'canceled', finished_at = now(), \
                              updated_at = now() \
                          WHERE id IN (SELECT id FROM q) \
                            AND id NOT IN (SELECT id FROM moved) RETURNING id) \
         SELECT id FROM moved",
        &[&payload.kind(), &env.is_sandbox(), &contains, &run_at],
    )
    .await?;
    Ok(!moved.is_empty())
}

/// Writes the event of a job that has just ended (`job.succeeded`, `job.failed` or
/// `job.canceled`, with the job object as its data) in the caller's transaction, the one that
/// ends the job; a job that has not ended announces nothing.
pub(crate) async fn announce(db: &impl GenericClient, ended: &Job) -> Result<()> {
    let event_type = match ended.status {
        JobStatus::Succeeded => EventType::JobSucceeded,
        JobStatus::Failed => EventType::JobFailed,
        JobStatus::Canceled => EventType::JobCanceled,
        JobStatus::Queued | JobStatus::Running => return Ok(()),
    };
    let data = JobObject::from(ended).to_value();
    layers_webhooks::emit(db, ended.organization_id, ended.env, event_type, data).await?;
    Ok(())
}

/// Reads one of the organization's jobs in `env`; one of the other environment is
/// [`Error::InOtherEnvironment`].
pub async fn get(db: &impl GenericClient, org: OrgId, env: EnvKind, id: JobId) -> Result<Job> {
    let row = layers_db::cached::query_opt(
        db,
        &format!("SELECT {COLUMNS} FROM jobs WHERE id = $1 AND organization_id = $2"),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?
    .ok_or(Error::NotFound)?;
    let found = job(&row)?;
    if found.env != env {
        return Err(Error::InOtherEnvironment(env.other()));
    }
    Ok(found)
}

/// Narrows a listing.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub project_id: Option<uuid::Uuid>,
    pub status: Option<JobStatus>,
    pub kind: Option<String>,
}

/// Lists the organization's jobs of `env`, newest first.
pub async fn list(
    db: &impl GenericClient,
    org: OrgId,
    env: EnvKind,
    filter: &Filter,
    limit: Limit,
    after: Option<JobId>,
) -> Result<Page<Job, JobId>> {
    let rows = layers_db::cached::query(
        db,
        &format!(
            "SELECT {COLUMNS} FROM jobs \
             WHERE organization_id = $1 AND is_sandbox = $2 \
               AND ($3::uuid IS NULL OR id < $3) \
               AND ($5::uuid IS NULL OR project_id = $5) \
               AND ($6::text IS NULL OR status = $6) \
               AND ($7::text IS NULL OR kind = $7) \
             ORDER BY id DESC LIMIT $4"
        ),
        &[
            &org.as_uuid(),
            &env.is_sandbox(),
            &after.map(|a| a.as_uuid()),
            &(i64::from(limit.get()) + 1),
            &filter.project_id,
            &filter.status.map(JobStatus::as_str),
            &filter.kind,
        ],
    )
    .await?;
    let items = rows.iter().map(job).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |j: &Job| j.id))
}

/// How a cancel went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canceled {
    /// The job was queued: it is `canceled` now (and refunded).
    Now,
    /// The job is running: it stops at its next safe point and ends `canceled`.
    Requested,
}

/// Cancels a job of `env`, in the caller's transaction: a queued job at once (refunding its
/// credits), a running one at its next safe point (one its request wrote `running` and no worker
/// has attempted yet, [`record_running`], has its lease end now, so that a worker ends it
/// `canceled` at its next look); a finished one is
/// [`Error::AlreadyTerminal`], one of the other environment [`Error::EnvironmentMismatch`].
pub async fn cancel(
    db: &impl GenericClient,
    org: OrgId,
    env: EnvKind,
    id: JobId,
) -> Result<(Job, Canceled)> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "UPDATE jobs SET \
                 status = CASE status WHEN 'queued' THEN 'canceled' ELSE status END, \
                 finished_at = CASE status WHEN 'queued' THEN now() ELSE finished_at END, \
                 cancel_requested = cancel_requested OR status = 'running', \
                 locked_until = CASE WHEN status = 'running' AND attempts = 0 \
                                     THEN now() ELSE locked_until END, \
                 updated_at = now() \
             WHERE id = $1 AND organization_id = $2 AND is_sandbox = $3 \
               AND status IN ('queued', 'running') \
             RETURNING {COLUMNS}, spent_outside"
        ),
        &[&id.as_uuid(), &org.as_uuid(), &env.is_sandbox()],
    )
    .await?;
    let Some(row) = row else {
        // nothing to cancel: why?
        let row = layers_db::cached::query_opt(
            db,
            "SELECT is_sandbox FROM jobs WHERE id = $1 AND organization_id = $2",
            &[&id.as_uuid(), &org.as_uuid()],
        )
        .await?
        .ok_or(Error::NotFound)?;
        return Err(if row.get::<_, bool>(0) != env.is_sandbox() {
            Error::EnvironmentMismatch(env.other())
        } else {
            Error::AlreadyTerminal
        });
    };
    let canceled = job(&row)?;
    if canceled.status == JobStatus::Canceled {
        // a queued job may be waiting for a retry after it already called out
        refund_if_owed(db, &canceled, row.get("spent_outside")).await?;
        announce(db, &canceled).await?;
        Ok((canceled, Canceled::Now))
    } else {
        Ok((canceled, Canceled::Requested))
    }
}

/// Job operations for one environment: what a handler holds, so that it never passes (or
/// chooses) the environment itself.
#[derive(Clone, Copy, Debug)]
pub struct Jobs {
    env: EnvKind,
}

impl layers_core::Environment for Jobs {
    fn kind(&self) -> EnvKind {
        self.env
    }
}

impl Jobs {
    pub fn new(env: EnvKind) -> Jobs {
        Jobs { env }
    }

    /// Writes `new` in this environment already done, with `result` (see [`record_done`]).
    pub async fn record_done(
        &self,
        db: &impl GenericClient,
        mut new: NewJob,
        result: serde_json::Value,
    ) -> Result<Job> {
        new.env = self.env;
        record_done(db, &new, result).await
    }

    /// Writes `new` in this environment as `outset` says: queued for a worker, or as the
    /// request left it (see [`enqueue`], [`record_done`], [`record_failed`] and
    /// [`record_running`]).
    pub async fn start(
        &self,
        db: &impl GenericClient,
        mut new: NewJob,
        outset: Outset,
    ) -> Result<Job> {
        new.env = self.env;
        match outset {
            Outset::Queued => enqueue(db, &new).await,
            Outset::Succeeded(result) => record_done(db, &new, result).await,
            Outset::Failed(error) => record_failed(db, &new, error).await,
            Outset::RunningUntil(until) => record_running(db, &new, until).await,
        }
    }

    /// Queues `new` in this environment (see [`enqueue`]).
    pub async fn enqueue(&self, db: &impl GenericClient, mut new: NewJob) -> Result<Job> {
        new.env = self.env;
        enqueue(db, &new).await
    }

    /// Queues `new` in this environment, to run at `run_at` (see [`enqueue_at`]).
    pub async fn enqueue_at(
        &self,
        db: &impl GenericClient,
        mut new: NewJob,
        run_at: DateTime<Utc>,
    ) -> Result<Job> {
        new.env = self.env;
        enqueue_at(db, &new, Some(run_at)).await
    }

    /// See [`get`].
    pub async fn get(&self, db: &impl GenericClient, org: OrgId, id: JobId) -> Result<Job> {
        get(db, org, self.env, id).await
    }

    /// See [`list`].
    pub async fn list(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        filter: &Filter,
        limit: Limit,
        after: Option<JobId>,
    ) -> Result<Page<Job, JobId>> {
        list(db, org, self.env, filter, limit, after).await
    }

    /// See [`cancel`].
    pub async fn cancel(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: JobId,
    ) -> Result<(Job, Canceled)> {
        cancel(db, org, self.env, id).await
    }
}

/// Ends queued sandbox jobs whose work was done by someone else (a test clock's advance
/// published their posts): each `succeeded` with its result, with its `job.succeeded` event, in
/// the caller's transaction; one statement for all. A job no longer queued is left as it is.
/// Answers the jobs it ended.
pub async fn succeed_queued(
    db: &impl GenericClient,
    org: OrgId,
    ids: &[JobId],
    results: &[serde_json::Value],
) -> Result<Vec<Job>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let uuids: Vec<uuid::Uuid> = ids.iter().map(|i| i.as_uuid()).collect();
    let rows = layers_db::cached::query(
        db,
        &format!(
            "UPDATE jobs j SET status = 'succeeded', result = r.result, error = NULL, \
                 locked_until = NULL, started_at = coalesce(j.started_at, now()), \
                 finished_at = now(), updated_at = now() \
             FROM unnest($1::uuid[], $2::jsonb[]) AS r(id, result) \
             WHERE j.id = r.id AND j.organization_id = $3 AND j.is_sandbox \
               AND j.status = 'queued' \
             RETURNING {}",
            prefixed("j.")
        ),
        &[&uuids, &results, &org.as_uuid()],
    )
    .await?;
    let ended = rows.iter().map(job).collect::<Result<Vec<Job>>>()?;
    let data = ended
        .iter()
        .map(|j| JobObject::from(j).to_value())
        .collect();
    layers_webhooks::emit_many(
        db,
        org,
        EnvKind::from_sandbox(true),
        EventType::JobSucceeded,
        data,
    )
    .await?;
    Ok(ended)
}

/// [`COLUMNS`] of the table aliased `alias`.
fn prefixed(alias: &str) -> String {
    COLUMNS
        .split(',')
        .map(|c| format!("{alias}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ends the leases of the sandbox jobs of `projects` that their request wrote `running` for a
/// while (`sandbox:slow`: no worker attempt yet): the workers' claim of jobs whose lease has
/// passed then completes them at once. Answers how many.
pub async fn end_sandbox_leases(db: &impl GenericClient, projects: &[uuid::Uuid]) -> Result<u64> {
    Ok(layers_db::cached::execute(
        db,
        "UPDATE jobs SET locked_until = now(), updated_at = now() \
         WHERE project_id = ANY($1) AND is_sandbox AND status = 'running' AND attempts = 0 \
           AND locked_until > now()",
        &[&projects],
    )
    .await?)
}

/// Moves queued sandbox jobs to run at new times (each id with its time), in the caller's
/// transaction, one statement; a job no longer queued is left as it is. Answers how many moved.
pub async fn run_queued_at(
    db: &impl GenericClient,
    org: OrgId,
    ids: &[JobId],
    run_at: &[DateTime<Utc>],
) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let uuids: Vec<uuid::Uuid> = ids.iter().map(|i| i.as_uuid()).collect();
    Ok(layers_db::cached::execute(
        db,
        "UPDATE jobs j SET run_at = r.run_at, updated_at = now() \
         FROM unnest($1::uuid[], $2::timestamptz[]) AS r(id, run_at) \
         WHERE j.id = r.id AND j.organization_id = $3 AND j.is_sandbox AND j.status = 'queued'",
        &[&uuids, &run_at, &org.as_uuid()],
    )
    .await?)
}
