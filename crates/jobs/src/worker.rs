//! Workers: claim runnable jobs, run them through the handler of their kind, and record how they
//! ended.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use layers_db::Pool;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use crate::store::{announce, refund_if_owed};
use crate::worker_store::{self, Running};
use crate::{Job, JobId, Result};

/// The channel the `jobs` trigger notifies when a job becomes runnable.
pub const CHANNEL: &str = "layers_jobs";

/// Why an attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt (a timeout, a 5xx): retried with backoff up to the job's limit.
    Transient(String),
    /// Not worth another attempt (a 404, bad input): the job fails (and is refunded), its
    /// `error.code` `job_failed`.
    Permanent(String),
    /// Not worth another attempt, for a reason the job's kind names (`platform_rejected`,
    /// `token_expired`, `generation_failed`, …): the job fails with this `error`.
    Refused(crate::JobError),
    /// The job saw its cancellation at a safe point and stopped.
    Canceled,
}

/// What a handler's attempt returns: the job's `result`, or why not.
pub type HandlerFuture<'a> =
    Pin<Box<dyn Future<Output = Result<serde_json::Value, Failure>> + Send + 'a>>;

/// Runs jobs of one kind. Implemented by the domains; the worker knows only kinds.
pub trait Handler: Send + Sync + 'static {
    /// One attempt of `job`. Call [`Control::spending_outside`] before any effect outside the
    /// database (an HTTP call), and stop with [`Failure::Canceled`] when it says so.
    fn run<'a>(&'a self, job: &'a Job, control: &'a Control) -> HandlerFuture<'a>;
}

/// What a running job may ask of its worker.
#[derive(Debug, Clone)]
pub struct Control {
    pool: Pool,
    id: JobId,
    /// The attempt this worker claimed: the fencing token of every write it makes to the job, so
    /// that a worker that lost its lease cannot touch the job another worker now holds.
    attempt: i32,
}

impl Control {
    /// The database, for a handler that records its progress (in its own transactions).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether the job has been asked to stop.
    pub async fn cancel_requested(&self) -> bool {
        let Ok(db) = self.pool.get().await else {
            return false;
        };
        worker_store::cancel_requested(&db, self.id)
            .await
            .unwrap_or(false)
    }

    /// Records that the job is about to spend something outside (an outbound call), after which a
    /// cancel no longer refunds it. Answers [`Failure::Canceled`] instead if a cancel came first
    /// (then nothing was spent and the job ends canceled and refunded), or if this worker no
    /// longer holds the job (its lease passed and another worker claimed it).
    pub async fn spending_outside(&self) -> Result<(), Failure> {
        let db = self
            .pool
            .get()
            .await
            .map_err(|e| Failure::Transient(format!("no database connection: {e}")))?;
        let marked = worker_store::mark_spent_outside(&db, self.id, self.attempt)
            .await
            .map_err(|e| Failure::Transient(format!("could not mark the job: {e}")))?;
        match marked {
            true => Ok(()),
            false => Err(Failure::Canceled),
        }
    }
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once by this process (`LAYERS_JOB_CONCURRENCY`).
    pub concurrency: usize,
    /// How long a claimed job is held; renewed while it runs. A job whose worker died is
    /// claimed again once it has passed.
    pub lease: Duration,
    /// How often to look for work without a notification (jobs scheduled for later, expired
    /// leases, a lost listener).
    pub poll: Duration,
    /// The first retry's delay; each later one doubles it, up to five minutes.
    pub retry_base: Duration,
    /// The longest one attempt may run; a longer one is stopped and retried.
    pub attempt_timeout: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 8,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            retry_base: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(600),
        }
    }
}

/// Claims and runs jobs until its task is aborted.
pub struct Worker {
    pool: Pool,
    database_url: String,
    handlers: HashMap<String, Arc<dyn Handler>>,
    config: WorkerConfig,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(pool: Pool, database_url: String, config: WorkerConfig) -> Worker {
        Worker {
            pool,
            database_url,
            handlers: HashMap::new(),
            config,
        }
    }

    /// Runs jobs of `kind` with `handler`.
    pub fn handle(mut self, kind: &str, handler: Arc<dyn Handler>) -> Worker {
        self.handlers.insert(kind.to_owned(), handler);
        self
    }

    /// Starts the worker on the current runtime (nothing when its concurrency is 0).
    pub fn spawn(self) -> Option<WorkerHandle> {
        (self.config.concurrency > 0).then(|| {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            WorkerHandle {
                stop,
                task: tokio::spawn(Arc::new(self).run(stopped)),
            }
        })
    }

    async fn run(self: Arc<Self>, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let wake = Arc::new(Notify::new());
        // aborted with this task, however it ends
        let _listener = AbortOnDrop(tokio::spawn(layers_db::listen(
            self.database_url.clone(),
            CHANNEL,
            wake.clone(),
        )));
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        loop {
            let permit = tokio::select! {
                biased;
                _ = stopped.changed() => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            match self.claim().await {
                Ok(Some(job)) => {
                    let worker = self.clone();
                    tokio::spawn(async move {
                        worker.attempt(job).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = stopped.changed() => break,
                        _ = wake.notified() => {}
                        _ = tokio::time::sleep(self.config.poll) => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %e, "could not claim a job");
                    tokio::time::sleep(self.config.poll).await;
                }
            }
        }
        // Stopping: claim nothing more and let the attempts in flight finish (each holds a
        // permit); one cut short by the process ending is claimed again when its lease passes.
        let all = u32::try_from(self.config.concurrency).unwrap_or(u32::MAX);
        let _ = permits.acquire_many(all).await;
    }

    /// The kinds this worker runs: it claims no other (an older worker during a rolling deploy
    /// leaves newer kinds to the workers that know them).
    fn kinds(&self) -> Vec<String> {
        self.handlers.keys().cloned().collect()
    }

    /// Takes one runnable job of [`Worker::kinds`]: a queued one whose time has come, or a
    /// running one whose worker let its lease pass (see [`worker_store::claim`]).
    async fn claim(&self) -> Result<Option<Job>> {
        let db = self
            .pool
            .get()
            .await
            .map_err(|e| crate::Error::Corrupt(format!("no database connection: {e}")))?;
        let lease = format!("{} milliseconds", self.config.lease.as_millis());
        worker_store::claim(&db, &lease, &self.kinds()).await
    }

    async fn attempt(self: Arc<Self>, job: Job) {
        let control = Control {
            pool: self.pool.clone(),
            id: job.id,
            attempt: job.attempts,
        };
        let renew = AbortOnDrop(tokio::spawn(renew_lease(
            self.pool.clone(),
            job.id,
            job.attempts,
            self.config.lease,
        )));
        let outcome = if job.attempts > job.max_attempts {
            Err(Failure::Permanent(format!(
                "gave up after {} attempts",
                job.max_attempts
            )))
        } else if job.cancel_requested {
            Err(Failure::Canceled)
        } else {
            match self.handlers.get(&job.kind) {
                None => Err(Failure::Permanent(format!(
                    "no worker runs jobs of kind {}",
                    job.kind
                ))),
                Some(handler) => {
                    let run = AssertUnwindSafe(handler.run(&job, &control)).catch_unwind();
                    match tokio::time::timeout(self.config.attempt_timeout, run).await {
                        Ok(Ok(outcome)) => outcome,
                        Ok(Err(_)) => Err(Failure::Transient("the job's handler panicked".into())),
                        Err(_) => Err(Failure::Transient(format!(
                            "the attempt ran longer than {} s",
                            self.config.attempt_timeout.as_secs()
                        ))),
                    }
                }
            }
        };
        drop(renew);
        for pause in [10u64, 100, 1_000, 5_000] {
            match self.finish(&job, &outcome).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "could not record how a job ended");
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
        tracing::error!(job = %job.id, "gave up recording how a job ended; its lease will expire and it runs again");
    }

    /// Records the outcome in one transaction with its event (`job.succeeded`, `job.failed`,
    /// `job.canceled`) and, for an end without success, the refund it owes.
    async fn finish(
        &self,
        claimed: &Job,
        outcome: &Result<serde_json::Value, Failure>,
    ) -> Result<()> {
        let mut db = self
            .pool
            .get()
            .await
            .map_err(|e| crate::Error::Corrupt(format!("no database connection: {e}")))?;
        let tx = db.transaction().await?;
        let ours = match outcome {
            Ok(result) => {
                record_success(&tx, claimed, result).await?;
                true
            }
            Err(failure) => self.record_failure(&tx, claimed, failure).await?,
        };
        if ours {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Records an attempt that did not succeed, in the caller's transaction: retried later
    /// (queued with backoff), or ended `failed` or `canceled` with its refund and event. No
    /// longer ours (its lease passed and another worker took it): nothing to record, and
    /// `false` (the caller rolls back).
    async fn record_failure(
        &self,
        tx: &impl layers_db::GenericClient,
        claimed: &Job,
        failure: &Failure,
    ) -> Result<bool> {
        let Some(running) = worker_store::lock_running(tx, claimed.id, claimed.attempts).await?
        else {
            return Ok(false);
        };
        let (status, error, retry_in) = self.next_step(&running, failure);
        if status == "failed" {
            // an operator's first clue: the kind, the code and the words
            let code = error
                .as_ref()
                .and_then(|e| e["code"].as_str())
                .unwrap_or("");
            let message = error
                .as_ref()
                .and_then(|e| e["message"].as_str())
                .unwrap_or("");
            tracing::warn!(job = %claimed.id, kind = %claimed.kind, sandbox = claimed.env.is_sandbox(), code, message, "a job failed");
        }
        let retry_in = retry_in.map(|d| format!("{} milliseconds", d.as_millis()));
        let ended =
            worker_store::end_attempt(tx, claimed.id, status, error.as_ref(), retry_in.as_deref())
                .await?;
        refund_if_owed(tx, &ended, running.spent_outside).await?;
        announce(tx, &ended).await?;
        Ok(true)
    }

    /// Where a job goes after `failure`: its status, its error, and for a retry the delay (the
    /// retry base doubled per attempt, at most five minutes). A transient failure of a job whose
    /// cancel was requested ends it `canceled`; one of its last attempt, `failed`.
    fn next_step(
        &self,
        running: &Running,
        failure: &Failure,
    ) -> (&'static str, Option<serde_json::Value>, Option<Duration>) {
        match failure {
            Failure::Canceled => ("canceled", None, None),
            Failure::Transient(_) if running.cancel_requested => ("canceled", None, None),
            Failure::Transient(message) if running.attempts < running.max_attempts => {
                let factor = 1u32 << (running.attempts - 1).clamp(0, 16);
                let delay = (self.config.retry_base * factor).min(Duration::from_secs(300));
                ("queued", Some(json!({ "message": message })), Some(delay))
            }
            Failure::Transient(message) => (
                "failed",
                Some(json!({ "code": "retries_exhausted", "message": message })),
                None,
            ),
            Failure::Permanent(message) => (
                "failed",
                Some(json!({ "code": "job_failed", "message": message })),
                None,
            ),
            Failure::Refused(e) => (
                "failed",
                Some(json!({ "code": e.code, "message": e.message })),
                None,
            ),
        }
    }
}

/// Records an attempt that succeeded, in the caller's transaction, with its refund (if any is
/// owed) and its event. A job whose cancel was answered 202 ends canceled even when its work got
/// done: the cancel's promise stands (and a refund is owed only if nothing was spent outside).
/// No longer ours (its lease passed and another worker took it): nothing to record.
async fn record_success(
    tx: &impl layers_db::GenericClient,
    claimed: &Job,
    result: &serde_json::Value,
) -> Result<()> {
    let result = bounded(result.clone());
    let ended = worker_store::succeed(tx, claimed.id, claimed.attempts, &result).await?;
    if let Some((ended, spent_outside)) = ended {
        refund_if_owed(tx, &ended, spent_outside).await?;
        announce(tx, &ended).await?;
    }
    Ok(())
}

/// The most bytes one string of a job's result keeps (a fact read from a page, say).
pub const MAX_FIELD_BYTES: usize = 4 * 1024;
/// The most items one list of a job's result keeps.
pub const MAX_LIST_ITEMS: usize = 100;
/// The most bytes a job's result may take; a larger one is replaced by a note saying so.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;

/// `result` within bounds: whatever a third party answered (a 2 MB `<title>`), a job's result
/// stays small enough to store, list and send in events.
pub fn bounded(mut result: serde_json::Value) -> serde_json::Value {
    fn cap(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) if s.len() > MAX_FIELD_BYTES => {
                let mut cut = MAX_FIELD_BYTES;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                s.push('…');
            }
            serde_json::Value::Array(items) => {
                items.truncate(MAX_LIST_ITEMS);
                items.iter_mut().for_each(cap);
            }
            serde_json::Value::Object(fields) => fields.values_mut().for_each(cap),
            _ => {}
        }
    }
    cap(&mut result);
    let size = serde_json::to_vec(&result)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_RESULT_BYTES {
        return json!({
            "truncated": true,
            "message": format!("the result was larger than {MAX_RESULT_BYTES} bytes"),
        });
    }
    result
}

/// A running worker.
#[derive(Debug)]
pub struct WorkerHandle {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops claiming and waits up to `grace` for the attempts in flight to finish.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!(
                "job attempts still running after the grace period; their leases will pass"
            );
            task.abort();
        }
    }

    /// Stops at once (tests, and a process that ends anyway).
    pub fn abort(&self) {
        self.task.abort();
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps a running job's lease fresh, while this worker still holds it.
async fn renew_lease(pool: Pool, id: JobId, attempt: i32, lease: Duration) {
    let mut every = tokio::time::interval(lease / 3);
    every.tick().await;
    let lease = format!("{} milliseconds", lease.as_millis());
    loop {
        every.tick().await;
        let Ok(db) = pool.get().await else { continue };
        let renewed = worker_store::renew_lease(&db, id, &lease, attempt).await;
        if let Ok(0) = renewed {
            tracing::warn!(job = %id, "lost a job's lease to another worker; its writes are fenced off");
            return;
        }
    }
}
