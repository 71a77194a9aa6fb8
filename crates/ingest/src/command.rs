//! The ingest write a partner makes, as a domain command: check the project, charge (or, in
//! the sandbox, audit) and start the job, in the request's transaction. What differs between
//! the environments is reached through [`Ingest`].

use layers_db::GenericClient;
use layers_jobs::{Job, JobId, Ledger, PaidStart};
use layers_orgs::OrgId;
use layers_projects::ProjectId;

use crate::{Ingest, Source};

/// A partner's request to ingest `source` for a project.
#[derive(Debug, Clone)]
pub struct StartIngest {
    pub organization_id: OrgId,
    pub api_key_id: uuid::Uuid,
    pub project_id: ProjectId,
    pub source: Source,
}

/// Why an ingest was not started: the paid start's refusals (the project, the credit gate, the
/// job).
pub type Error = layers_jobs::Refused;

/// The services of one environment that the ingest command reaches.
#[derive(Clone, Copy, Debug)]
pub struct IngestEnv<'a> {
    pub ledger: Ledger<'a>,
    pub ingest: &'a Ingest,
}

impl IngestEnv<'_> {
    /// Starts an ingest job: the project must be active, then the charge and the job, in one
    /// round trip. In the sandbox the facts come from the input alone, so the job is written
    /// `succeeded` at once (or as a magic input says, see [`Ingest::outset`]); live it is queued.
    pub async fn start(&self, db: &impl GenericClient, cmd: StartIngest) -> Result<Job, Error> {
        let start = PaidStart {
            job_id: JobId::new(),
            organization_id: cmd.organization_id,
            api_key_id: cmd.api_key_id,
            project_id: cmd.project_id,
            operation: cmd.source.operation(),
            units: 1,
            outset: self.ingest.outset(&cmd.source),
            payload: cmd.source,
        };
        let (_, job) = self.ledger.start_only::<_, Error>(db, start).await?;
        Ok(job)
    }
}
