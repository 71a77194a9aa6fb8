//! Durable jobs (CONTRACT §7): the partner-facing job resource, and the workers that run jobs.
//!
//! ```
//! use layers_jobs::{JobId, JobStatus};
//!
//! let id = JobId::new();
//! assert!(id.to_string().starts_with("job_"));
//! assert_eq!(JobStatus::parse("running"), Some(JobStatus::Running));
//! assert!(JobStatus::Canceled.is_terminal() && !JobStatus::Queued.is_terminal());
//! ```
//!
//! With the default `store` feature, a job is a row of the `jobs` table, written in the caller's
//! transaction ([`enqueue`]) together with what caused it (a credit charge, an idempotent
//! answer). Workers ([`Worker`]) in any number of processes claim runnable jobs with
//! `FOR UPDATE SKIP LOCKED`, wake on `LISTEN layers_jobs` (a trigger notifies in the commit that
//! queues a job), hold a job under a lease that they renew while it runs (a job whose worker
//! died is claimed again once its lease has passed), retry transient failures with backoff up
//! to the job's `max_attempts`, and refund the credits of a job that fails, or is canceled
//! before it spent anything outside.

use chrono::{DateTime, Utc};
use layers_core::EnvKind;
use layers_orgs::OrgId;
use thiserror::Error;

mod object;
#[cfg(feature = "store")]
mod paid;
#[cfg(feature = "store")]
mod reset_store;
#[cfg(feature = "store")]
mod store;
#[cfg(feature = "store")]
pub use reset_store::delete_sandbox;
#[cfg(feature = "store")]
mod worker;
#[cfg(feature = "store")]
mod worker_store;
#[cfg(feature = "openapi")]
pub use object::status_schema;
pub use object::JobObject;
#[cfg(feature = "store")]
pub use paid::{Ledger, PaidStart, Refused};
#[cfg(feature = "store")]
pub use store::{
    cancel, end_sandbox_leases, enqueue, enqueue_at, get, keep_credits, list, record_done,
    record_failed, record_running, reschedule_queued, run_queued_at, succeed_queued, Canceled,
    Filter, Jobs,
};
#[cfg(feature = "store")]
pub use worker::{Control, Failure, Handler, HandlerFuture, Worker, WorkerConfig, WorkerHandle};

layers_core::prefixed_id!(
    /// A job (`job_…`).
    JobId,
    "job"
);

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        Some(match s {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "succeeded" => JobStatus::Succeeded,
            "failed" => JobStatus::Failed,
            "canceled" => JobStatus::Canceled,
            _ => return None,
        })
    }

    /// `succeeded`, `failed` and `canceled` never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Canceled
        )
    }
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub organization_id: OrgId,
    pub project_id: Option<uuid::Uuid>,
    pub api_key_id: Option<uuid::Uuid>,
    pub env: EnvKind,
    pub kind: String,
    pub status: JobStatus,
    pub payload: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub error: Option<serde_json::Value>,
    pub credits_charged: i64,
    /// Of what was charged, what stays charged whatever happens: the part of the work that was
    /// delivered (a variant of a generation that completed). A refund gives back the rest.
    pub credits_kept: i64,
    pub attempts: i32,
    pub max_attempts: i32,
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Why a job failed, as its `error` reads (`{code, message}`): written by a request that
/// found the job failing itself (see [`Outset::Failed`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct JobError {
    /// What went wrong, as a stable word (`generation_failed`, `not_found`).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
}

/// How a job that a request starts is first written.
#[derive(Clone, Debug, PartialEq)]
pub enum Outset {
    /// Queued for a worker.
    Queued,
    /// The request did the work: written `succeeded` with this result.
    Succeeded(serde_json::Value),
    /// The request found the work failing: written `failed` with this error (and refunded).
    Failed(JobError),
    /// Written `running` under a lease no worker holds, until then: the workers' claim of
    /// jobs whose lease passed runs its attempt at that time (a cancel meanwhile ends it
    /// `canceled`).
    RunningUntil(DateTime<Utc>),
}

impl Outset {
    /// [`Outset::Succeeded`] with `result`, or [`Outset::Queued`] without one.
    pub fn done_or_queued(result: Option<serde_json::Value>) -> Outset {
        result.map_or(Outset::Queued, Outset::Succeeded)
    }

    /// [`Outset::RunningUntil`] `wait` from now (wall clock).
    pub fn running_for(wait: std::time::Duration) -> Outset {
        let wait = chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
        Outset::RunningUntil(Utc::now() + wait)
    }
}

/// A job to queue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: JobId,
    pub organization_id: OrgId,
    pub project_id: Option<uuid::Uuid>,
    pub api_key_id: Option<uuid::Uuid>,
    pub env: EnvKind,
    /// Set with `payload` by [`NewJob::new`], from a typed [`Payload`].
    pub kind: &'static str,
    pub payload: serde_json::Value,
    /// Credits the caller charged for this job in the same transaction (0 in the sandbox).
    pub credits_charged: i64,
    /// The credit operation charged, for the refund's ledger row.
    pub operation: Option<&'static str>,
}

impl NewJob {
    /// A job of `payload`'s kind, with nothing charged and no project or key (set those with
    /// struct update syntax).
    pub fn new<P: Payload>(id: JobId, organization_id: OrgId, env: EnvKind, payload: &P) -> NewJob {
        NewJob {
            id,
            organization_id,
            project_id: None,
            api_key_id: None,
            env,
            kind: payload.kind(),
            // a payload is a plain struct of strings and numbers: it always serializes
            payload: serde_json::to_value(payload).expect("a job payload serializes"),
            credits_charged: 0,
            operation: None,
        }
    }
}

/// A job's typed payload, defined by the crate that owns the kind: the kind it is queued under
/// and the document stored as the job's `payload`. Workers read it back with
/// [`Job::payload_as`]; nothing reads a payload by string key.
///
/// ```
/// use layers_jobs::Payload;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Refresh { account_id: String }
///
/// impl Payload for Refresh {
///     fn kind(&self) -> &'static str { "refresh" }
/// }
/// assert_eq!(Refresh { account_id: "a".into() }.kind(), "refresh");
/// ```
pub trait Payload: serde::Serialize + serde::de::DeserializeOwned {
    /// The job kind of this payload (`content_generate`, `ingest_github`, …).
    fn kind(&self) -> &'static str;
}

impl Job {
    /// The job's payload read as `P`, or why it does not read as one.
    pub fn payload_as<P: Payload>(&self) -> Result<P> {
        serde_json::from_value(self.payload.clone())
            .map_err(|e| Error::Corrupt(format!("job {} payload of {}: {e}", self.id, self.kind)))
    }
}

/// What can go wrong with jobs.
#[derive(Debug, Error)]
pub enum Error {
    #[error("no such job")]
    NotFound,
    /// Read in one environment, the job exists in the other one (named here).
    #[error("the job exists only in {0}")]
    InOtherEnvironment(EnvKind),
    /// An action in one environment naming a job of the other one (named here).
    #[error("the job belongs to {0}")]
    EnvironmentMismatch(EnvKind),
    #[error("the job has already finished")]
    AlreadyTerminal,
    #[error("stored job is corrupt: {0}")]
    Corrupt(String),
    #[cfg(feature = "store")]
    #[error(transparent)]
    Credits(#[from] layers_credits::Error),
    #[cfg(feature = "store")]
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    #[cfg(feature = "store")]
    #[error(transparent)]
    Events(#[from] layers_webhooks::StoreError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(all(test, feature = "store"))]
mod tests;
