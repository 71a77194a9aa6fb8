//! The start of a paid job, shared by every domain command that charges for one (content
//! generation, ingest): the project's check, the domain's own checks, the charge (or, in the
//! sandbox, its audit row), the domain's rows and the job, in one round trip of the request's
//! transaction.

use std::future::Future;

use layers_core::Environment;
use layers_credits::{Charge, CreditGate, Operation};
use layers_db::GenericClient;
use layers_orgs::OrgId;
use layers_projects::{Project, ProjectId, Projects};

use crate::{Job, JobId, Jobs, NewJob, Outset, Payload};

/// Why a paid start was refused: the project's refusal, the credit gate's (402) or the job's.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Project(#[from] layers_projects::Error),
    #[error(transparent)]
    Credits(#[from] layers_credits::Error),
    #[error(transparent)]
    Jobs(#[from] crate::Error),
}

/// The services a paid start touches, of one environment.
#[derive(Clone, Copy, Debug)]
pub struct Ledger<'a> {
    pub projects: &'a Projects,
    pub credits: &'a CreditGate,
    pub jobs: &'a Jobs,
}

/// A job to charge for and start.
#[derive(Debug)]
pub struct PaidStart<P> {
    pub job_id: JobId,
    pub organization_id: OrgId,
    pub api_key_id: uuid::Uuid,
    pub project_id: ProjectId,
    pub operation: Operation,
    /// How many units of `operation` (content variants).
    pub units: i64,
    pub payload: P,
    /// How the job is written: queued for a worker, or as the request left it (succeeded with
    /// its result, failed with its error, running until a time).
    pub outset: Outset,
}

impl<P: Payload> PaidStart<P> {
    fn charge(&self) -> Charge {
        Charge {
            organization_id: self.organization_id,
            operation: self.operation,
            units: self.units,
            api_key_id: Some(self.api_key_id),
            project_id: Some(self.project_id.as_uuid()),
            job_id: Some(self.job_id.as_uuid()),
        }
    }
}

impl Ledger<'_> {
    /// Starts `start` in the caller's transaction. The project must be active; `checks` and
    /// `writes` are the domain's own. All of it goes out in one round trip, and whichever
    /// refuses first answers, in this order: the project, `checks`, the charge, `writes`, the
    /// job. A refusal leaves the caller to roll everything back.
    pub async fn start<P, T, E>(
        &self,
        db: &impl GenericClient,
        start: PaidStart<P>,
        checks: impl Future<Output = Result<(), E>>,
        writes: impl Future<Output = Result<T, E>>,
    ) -> Result<(Project, T, Job), E>
    where
        P: Payload,
        E: From<Refused>,
    {
        let charge = start.charge();
        let job = NewJob {
            project_id: Some(start.project_id.as_uuid()),
            api_key_id: Some(start.api_key_id),
            credits_charged: self.credits.amount(&charge),
            operation: Some(start.operation.as_str()),
            ..NewJob::new(
                start.job_id,
                start.organization_id,
                self.jobs.kind(),
                &start.payload,
            )
        };
        let (project, (), (), made, job) = futures_util::future::try_join5(
            async {
                let project = self
                    .projects
                    .require_active(db, start.organization_id, start.project_id)
                    .await
                    .map_err(Refused::from)?;
                Ok::<_, E>(project)
            },
            checks,
            async {
                self.credits
                    .charge(db, &charge)
                    .await
                    .map_err(Refused::from)?;
                Ok(())
            },
            writes,
            async {
                let job = self.jobs.start(db, job, start.outset).await;
                Ok(job.map_err(Refused::from)?)
            },
        )
        .await?;
        Ok((project, made, job))
    }

    /// [`Ledger::start`] with no checks or writes of the domain's own.
    pub async fn start_only<P, E>(
        &self,
        db: &impl GenericClient,
        start: PaidStart<P>,
    ) -> Result<(Project, Job), E>
    where
        P: Payload,
        E: From<Refused>,
    {
        let none = || async { Ok::<(), E>(()) };
        let (project, (), job) = self.start(db, start, none(), none()).await?;
        Ok((project, job))
    }
}
