//! The content writes a partner makes, as domain commands: each takes the request's
//! transaction and a typed command, and checks, charges (or audits), writes the containers,
//! starts the job and emits, in one code path for both environments. What differs is reached
//! through the environment's [`Generation`].

use layers_db::GenericClient;
use layers_jobs::{Job, JobId, Ledger, Outset, PaidStart};
use layers_orgs::OrgId;
use layers_projects::ProjectId;

use chrono::{DateTime, Utc};

use crate::fixtures::{AssetKind, Format};
use crate::generate::{Generate, Generation};
use crate::ingest_media::Intake;
use crate::model::{Container, ContainerFormat, ContainerId};
use crate::store::{fail, Content, Error, NewAsset, NewGeneration, Result};
use crate::uploads::{DeclaredFile, UploadId, UploadSession};

/// A partner's request to generate `variants` containers of `format`.
#[derive(Debug, Clone)]
pub struct StartGeneration {
    pub organization_id: OrgId,
    pub api_key_id: uuid::Uuid,
    pub project_id: ProjectId,
    pub format: Format,
    /// 1 to 3.
    pub variants: u32,
    pub hook: Option<String>,
    pub caption: Option<String>,
    pub influencer_id: Option<uuid::Uuid>,
}

/// A partner's request to generate one container again.
#[derive(Debug, Clone, Copy)]
pub struct Regenerate {
    pub organization_id: OrgId,
    pub api_key_id: uuid::Uuid,
    pub container_id: ContainerId,
}

/// What a generation command started: its job and its containers (already `completed` in the
/// sandbox, `queued` live).
#[derive(Debug)]
pub struct Started {
    pub job: Job,
    pub project_id: ProjectId,
    pub containers: Vec<Container>,
}

/// The services of one environment that content commands reach.
#[derive(Clone, Copy, Debug)]
pub struct ContentEnv<'a> {
    pub ledger: Ledger<'a>,
    pub content: &'a Content,
    pub generation: &'a Generation,
    pub intake: &'a Intake,
}

/// Where an upload goes, and the live uploads its project may make a month.
#[derive(Debug, Clone, Copy)]
pub struct UploadTo {
    pub organization_id: OrgId,
    pub project_id: ProjectId,
    /// `LAYERS_UPLOAD_QUOTA_PER_PROJECT` (the sandbox never counts).
    pub quota: u32,
}

/// A partner's direct-upload session: its files, declared, and what the container will say.
#[derive(Debug, Clone)]
pub struct StartSession {
    pub to: UploadTo,
    pub files: Vec<DeclaredFile>,
    pub caption: Option<String>,
    pub hook: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// The container of a URL upload, once its files are taken in.
#[derive(Debug, Clone)]
pub struct RecordUpload {
    pub to: UploadTo,
    pub id: ContainerId,
    pub kinds: Vec<AssetKind>,
    pub media: Vec<NewAsset>,
    pub caption: Option<String>,
    pub hook: Option<String>,
}

impl ContentEnv<'_> {
    /// Starts a generation: the project must be active and the influencer (if named) one of
    /// its own; then the charge, the containers and the job, in one round trip. A live key
    /// without a generator is refused after the project's refusals and before any charge.
    pub async fn start_generation(
        &self,
        db: &impl GenericClient,
        cmd: StartGeneration,
    ) -> Result<Started> {
        if let Err(e) = self.generation.ready() {
            self.ledger
                .projects
                .require_active(db, cmd.organization_id, cmd.project_id)
                .await?;
            return Err(e.into());
        }
        let job_id = JobId::new();
        let ids: Vec<ContainerId> = (0..cmd.variants).map(|_| ContainerId::new()).collect();
        let new = NewGeneration {
            organization_id: cmd.organization_id,
            project_id: cmd.project_id.as_uuid(),
            format: cmd.format,
            container_ids: ids.clone(),
            hook: cmd.hook,
            caption: cmd.caption,
            influencer_id: cmd.influencer_id,
            job_id: job_id.as_uuid(),
        };
        let begun = self.generation.start(cmd.format, &ids, new.hook.as_deref());
        let failure = match &begun.job {
            Outset::Failed(error) => Some(error.message.clone()),
            _ => None,
        };
        let start = PaidStart {
            job_id,
            organization_id: cmd.organization_id,
            api_key_id: cmd.api_key_id,
            project_id: cmd.project_id,
            operation: cmd.format.operation(),
            units: i64::from(cmd.variants),
            payload: Generate::new(&ids),
            outset: begun.job,
        };
        let checks = async {
            match cmd.influencer_id {
                Some(influencer) => self
                    .ledger
                    .projects
                    .check_influencer(db, cmd.project_id, influencer)
                    .await
                    .map_err(Error::from),
                None => Ok(()),
            }
        };
        let writes = async {
            let made = self.content.create_generated(db, &new, begun.made).await?;
            match failure {
                // the job failed in the request: so do its containers, with `content.failed`
                Some(message) => fail_all(db, made, &message).await,
                None => Ok(made),
            }
        };
        let (_, containers, job) = self.ledger.start(db, start, checks, writes).await?;
        Ok(Started {
            job,
            project_id: cmd.project_id,
            containers,
        })
    }

    /// Starts a regeneration of a finished, generated container: its own checks first, then
    /// the generator's, the charge for one variant, the project's and the job.
    pub async fn regenerate(
        &self,
        db: &impl GenericClient,
        cmd: Regenerate,
    ) -> Result<(Job, Container)> {
        let job_id = JobId::new();
        let container = self
            .content
            .regenerate(
                db,
                cmd.organization_id,
                cmd.container_id,
                job_id.as_uuid(),
                self.generation,
            )
            .await?;
        self.generation.ready()?;
        let ContainerFormat::Generated(format) = container.format else {
            return Err(Error::Uploaded);
        };
        let start = PaidStart {
            job_id,
            organization_id: cmd.organization_id,
            api_key_id: cmd.api_key_id,
            project_id: ProjectId::from_uuid(container.project_id),
            operation: format.operation(),
            units: 1,
            payload: Generate::again(container.id),
            outset: Outset::done_or_queued(self.generation.done(&[container.id])),
        };
        let (_, job) = self.ledger.start_only::<_, Error>(db, start).await?;
        Ok((job, container))
    }

    /// Whether the project may take an upload: active, of this environment, and (when the
    /// intake counts) within its monthly quota ([`Error::UploadQuota`]).
    pub async fn may_upload(&self, db: &impl GenericClient, to: UploadTo) -> Result<()> {
        self.ledger
            .projects
            .require_active(db, to.organization_id, to.project_id)
            .await?;
        if !self.intake.counts_toward_quota() {
            return Ok(());
        }
        let used = self
            .content
            .uploads_this_month(db, to.project_id.as_uuid())
            .await?;
        if used < i64::from(to.quota) {
            return Ok(());
        }
        Err(Error::UploadQuota { quota: to.quota })
    }

    /// Opens a direct-upload session: the project may upload, the intake accepts the declared
    /// files ([`Error::Media`]), then the session and, live, its expiry job.
    pub async fn start_session(
        &self,
        db: &impl GenericClient,
        cmd: StartSession,
    ) -> Result<UploadSession> {
        self.may_upload(db, cmd.to).await?;
        self.intake
            .check_declared(&cmd.files)
            .map_err(|(index, refused)| Error::Media { index, refused })?;
        let session = self
            .content
            .create_session(
                db,
                cmd.to.organization_id,
                cmd.to.project_id.as_uuid(),
                &cmd.files,
                cmd.caption,
                cmd.hook,
                cmd.expires_at,
            )
            .await?;
        self.intake
            .expire_later(db, &session)
            .await
            .map_err(layers_jobs::Refused::from)?;
        Ok(session)
    }

    /// Writes the container of a URL upload whose files were taken in, after checking again
    /// that the project may upload (it may have been archived, or the quota used, meanwhile).
    pub async fn record_upload(
        &self,
        db: &impl GenericClient,
        cmd: RecordUpload,
    ) -> Result<Container> {
        self.may_upload(db, cmd.to).await?;
        self.content
            .create_uploaded(
                db,
                cmd.to.organization_id,
                cmd.to.project_id.as_uuid(),
                cmd.id,
                &cmd.kinds,
                cmd.media,
                cmd.caption,
                cmd.hook,
            )
            .await
    }

    /// Finalizes session `upload` of the project into its container: `(container, true)` the
    /// first time, the same container and `false` after.
    pub async fn finalize_upload(
        &self,
        db: &impl GenericClient,
        to: UploadTo,
        upload: UploadId,
    ) -> Result<(Container, bool)> {
        self.ledger
            .projects
            .require_active(db, to.organization_id, to.project_id)
            .await?;
        self.content
            .finalize(
                db,
                self.intake,
                to.organization_id,
                to.project_id.as_uuid(),
                upload,
            )
            .await
    }
}

/// Fails each of `made` with `message` and `content.failed`, in the caller's transaction;
/// answers them as they are then.
async fn fail_all(
    db: &impl GenericClient,
    made: Vec<Container>,
    message: &str,
) -> Result<Vec<Container>> {
    let mut failed = Vec::with_capacity(made.len());
    for container in made {
        failed.push(fail(db, container.id, message).await?.unwrap_or(container));
    }
    Ok(failed)
}
