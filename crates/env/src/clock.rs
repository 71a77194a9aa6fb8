//! Test clock advances (CONTRACT §12): [`TestHelpers::advance`] moves a clock (it is then
//! `advancing`, with `test_helpers.test_clock.advancing`) and queues the durable
//! `test_clock_advance` job, whose payload [`AdvanceClock`] lives here because it composes
//! several domains (layers-projects cannot implement `layers_jobs::Payload`: jobs depend on
//! projects). The advance itself ends the leases of the projects' `sandbox:slow` jobs when the
//! clock passes their start + 30 s (the workers' lease recovery then completes them). The job,
//! in one transaction, so that a restart midway re-runs it safely: publishes the clock's due
//! sandbox posts, turns accounts connected 60 clock days ago `needs_reauth`, and sets the clock
//! `ready` with `test_helpers.test_clock.ready`.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use layers_db::GenericClient;
use layers_jobs::{Control, Failure, Job, JobId, NewJob, Payload};
use layers_orgs::OrgId;
use layers_projects::{AdvanceRefusal, TestClock, TestClockId};
use layers_webhooks::EventType;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::TestHelpers;

/// The job kind of [`AdvanceClock`].
pub const ADVANCE: &str = "test_clock_advance";

/// How long after a sandbox account connects, in clock time, its token expires (as a live
/// Instagram token would).
pub const TOKEN_LIFETIME: TimeDelta = TimeDelta::days(60);

/// How long a `sandbox:slow` job runs, in its project's clock time.
const SLOW_FOR: TimeDelta = TimeDelta::seconds(30);

/// The payload of a `test_clock_advance` job: the clock and the time it was advanced to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvanceClock {
    pub clock_id: String,
    pub frozen_time: DateTime<Utc>,
}

impl Payload for AdvanceClock {
    fn kind(&self) -> &'static str {
        ADVANCE
    }
}

/// Why an advance failed.
#[derive(Debug, Error)]
pub enum AdvanceError {
    #[error("the clock was not advanced: {0:?}")]
    Refused(AdvanceRefusal),
    #[error(transparent)]
    Projects(#[from] layers_projects::Error),
    #[error(transparent)]
    Social(#[from] layers_social::Error),
    #[error(transparent)]
    Jobs(#[from] layers_jobs::Error),
    #[error(transparent)]
    Events(#[from] layers_webhooks::StoreError),
}

/// The clock as events carry it: the test clock object of the API.
pub fn clock_data(c: &TestClock) -> serde_json::Value {
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    serde_json::json!({
        "id": c.id.to_string(),
        "name": c.name,
        "frozenTime": time(c.frozen_time),
        "status": c.status.as_str(),
        "createdAt": time(c.created_at),
    })
}

impl TestHelpers<'_> {
    /// Advances one of the organization's clocks to `to`, in the caller's transaction: the
    /// clock `advancing`, its projects' unstamped accounts stamped with the clock's time before,
    /// `test_helpers.test_clock.advancing`, and the job that runs what became due.
    pub async fn advance(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: TestClockId,
        to: DateTime<Utc>,
    ) -> Result<TestClock, AdvanceError> {
        let advanced = layers_projects::start_advance(db, org, id, to)
            .await?
            .map_err(AdvanceError::Refused)?;
        let projects = project_uuids(db, id).await?;
        layers_social::stamp_clock_connected(db, &projects, advanced.previous).await?;
        // a sandbox:slow job started at the clock's time before (a clock does not move between
        // advances): it ends once the clock has passed its start + 30 s
        if to - advanced.previous >= SLOW_FOR {
            layers_jobs::end_sandbox_leases(db, &projects).await?;
        }
        let clock = advanced.clock;
        let env = self.services.kind;
        layers_webhooks::emit(
            db,
            org,
            env,
            EventType::TestClockAdvancing,
            clock_data(&clock),
        )
        .await?;
        let payload = AdvanceClock {
            clock_id: clock.id.to_string(),
            frozen_time: to,
        };
        let job = NewJob::new(JobId::new(), org, env, &payload);
        self.services.jobs.enqueue(db, job).await?;
        Ok(clock)
    }
}

async fn project_uuids(
    db: &impl GenericClient,
    clock: TestClockId,
) -> Result<Vec<uuid::Uuid>, layers_projects::Error> {
    let projects = layers_projects::clock_projects(db, clock).await?;
    Ok(projects.iter().map(|p| p.as_uuid()).collect())
}

fn failure(e: impl std::fmt::Display) -> Failure {
    Failure::Transient(format!("the clock's advance failed: {e}"))
}

/// One attempt of a `test_clock_advance` job ([`advance_once`]). The last attempt's failure
/// still gives the clock back `ready` at its new time, so that it can be advanced again: what
/// was due then is due at the next advance too (posts publish by `publishAt`, accounts expire by
/// their connection's time), so nothing is lost, only done later.
pub(crate) async fn run_advance(
    job: &Job,
    task: &AdvanceClock,
    control: &Control,
) -> Result<serde_json::Value, Failure> {
    match advance_once(job, task, control).await {
        Err(Failure::Transient(why)) if job.attempts >= job.max_attempts => {
            let released = release(job, task, control).await;
            Err(Failure::Permanent(match released {
                Ok(()) => format!(
                    "{why}; the clock is ready again, its due work left for the next advance"
                ),
                Err(e) => format!("{why}; the clock could not be released either: {e}"),
            }))
        }
        other => other,
    }
}

/// Sets the clock `ready` at the advance's time with `test_helpers.test_clock.ready`, doing
/// nothing else.
async fn release(job: &Job, task: &AdvanceClock, control: &Control) -> Result<(), String> {
    let clock = TestClockId::parse(&task.clock_id).map_err(|e| e.to_string())?;
    let mut db = control.pool().get().await.map_err(|e| e.to_string())?;
    let tx = db.transaction().await.map_err(|e| e.to_string())?;
    let ready = layers_projects::finish_advance(&tx, clock, task.frozen_time)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(ready) = &ready {
        let data = clock_data(ready);
        layers_webhooks::emit(
            &tx,
            job.organization_id,
            job.env,
            EventType::TestClockReady,
            data,
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}

/// The advance itself, in one transaction.
async fn advance_once(
    job: &Job,
    task: &AdvanceClock,
    control: &Control,
) -> Result<serde_json::Value, Failure> {
    let clock = TestClockId::parse(&task.clock_id)
        .map_err(|_| Failure::Permanent(format!("no test clock {}", task.clock_id)))?;
    let to = task.frozen_time;
    let org = job.organization_id;
    let mut db = control.pool().get().await.map_err(failure)?;
    let tx = db.transaction().await.map_err(failure)?;
    let projects = project_uuids(&tx, clock).await.map_err(failure)?;
    let published = layers_publishing::publish_due_on_clock(&tx, org, &projects, to)
        .await
        .map_err(failure)?;
    let expired = layers_social::clock_connected_before(&tx, &projects, to - TOKEN_LIFETIME)
        .await
        .map_err(failure)?;
    for account in &expired {
        layers_social::mark_needs_reauth_at(&tx, *account, Some(to))
            .await
            .map_err(failure)?;
    }
    let ready = layers_projects::finish_advance(&tx, clock, to)
        .await
        .map_err(failure)?;
    if let Some(ready) = &ready {
        layers_webhooks::emit(
            &tx,
            org,
            job.env,
            EventType::TestClockReady,
            clock_data(ready),
        )
        .await
        .map_err(failure)?;
    }
    tx.commit().await.map_err(failure)?;
    Ok(serde_json::json!({
        "clockId": task.clock_id,
        "postsPublished": published.posts,
        "accountsExpired": expired.len(),
    }))
}
