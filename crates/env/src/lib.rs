//! The environment seam: one set of services per environment, built once at start-up, shared
//! by the gateway's handlers (which get the set that matches the request's key) and by job
//! workers (which get the set that matches the job row's `is_sandbox`).
//!
//! ```no_run
//! use layers_core::EnvKind;
//! use layers_env::{Environments, Settings};
//!
//! # fn example(settings: Settings) -> Result<(), layers_env::Error> {
//! let environments = Environments::new(&settings)?;
//! let sandbox = environments.get(EnvKind::Sandbox);
//! // the sandbox credit gate never touches the wallet; the live one charges it
//! assert!(matches!(sandbox.credits, layers_credits::CreditGate::Sandbox));
//! # Ok(()) }
//! ```
//!
//! Every service here splits live from sandbox only at the outside effect, as an enum over the
//! two (`CreditGate::{Live, Sandbox}`, `Ingest::{Live(..), Sandbox}`): validation, rows and
//! jobs are one code path for both. A set is handed out whole, so code that holds the sandbox
//! set cannot reach a live adapter.

use std::sync::Arc;

use layers_content::{Content, Generation, GeneratorConfig, Intake, LiveGeneration, MediaIntake};
use layers_core::{EnvKind, Environment};
use layers_credits::CreditGate;
use layers_ingest::{Ingest, LiveIngest, Platforms};
use layers_jobs::{Control, Failure, Handler, HandlerFuture, Job, Jobs, Worker, WorkerConfig};
use layers_metrics::Sync;
use layers_outbound::{Outbound, OutboundConfig, Url};
use layers_platforms::Clients;
use layers_projects::Projects;
use layers_publishing::{LivePublisher, Publisher, Publishing};
use layers_social::{OAuth, Vault};
use layers_webhooks::{MasterKey, Webhooks};
use thiserror::Error;

/// What the live adapters need to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lets outbound calls reach loopback and private addresses.
    pub allow_private_network: bool,
    pub appstore_base_url: Url,
    pub github_base_url: Url,
    pub github_token: Option<String>,
    /// Seals and opens webhook secrets (`LAYERS_MASTER_KEY`); without it endpoints cannot be
    /// created.
    pub master_key: Option<Arc<MasterKey>>,
    /// Where live media is stored (`LAYERS_STORAGE_URL`).
    pub storage: layers_storage::Storage,
    /// The largest live media file (`LAYERS_UPLOAD_MAX_BYTES`).
    pub upload_max_bytes: u64,
    /// The live content generator (`LAYERS_GENERATOR_URL`, `LAYERS_GENERATOR_TOKEN`), if set.
    pub generator: Option<GeneratorConfig>,
    /// The social platforms' apps and base URLs (`LAYERS_META_*`, `LAYERS_TIKTOK_*`,
    /// `LAYERS_GOOGLE_*`).
    pub platforms: layers_platforms::Config,
    /// `LAYERS_PUBLIC_BASE_URL`: the OAuth callback, and the media URLs handed to platforms.
    pub public_base_url: String,
    /// Signs the media URLs handed to platforms (`None` without a master key).
    pub media_signer: Option<layers_storage::UrlSigner>,
}

/// Why the services could not be built.
#[derive(Debug, Error)]
pub enum Error {
    #[error("could not build the outbound HTTP client: {0}")]
    Outbound(#[from] layers_outbound::OutboundError),
}

/// Everything whose behaviour depends on live vs sandbox, for one of the two.
#[derive(Debug)]
pub struct EnvServices {
    kind: EnvKind,
    pub projects: Projects,
    pub jobs: Jobs,
    pub credits: CreditGate,
    pub ingest: Ingest,
    pub webhooks: Webhooks,
    pub content: Content,
    pub generation: Generation,
    pub intake: Intake,
    pub social: layers_social::Social,
    pub oauth: layers_social::OAuth,
    pub publishing: Publishing,
    pub publisher: Publisher,
}

impl Environment for EnvServices {
    fn kind(&self) -> EnvKind {
        self.kind
    }
}

/// Both sets, built once.
#[derive(Debug, Clone)]
pub struct Environments {
    live: Arc<EnvServices>,
    sandbox: Arc<EnvServices>,
    /// The live metrics sync (sandbox metrics are synthesized on read: no job).
    sync: Sync,
}

impl Environments {
    /// The live OAuth vault, for the platforms' callback: it carries no key, so no
    /// environment is chosen by one (a test key's state is refused there).
    pub fn vault(&self) -> &Vault {
        &self.sync.vault
    }
}

impl Environments {
    pub fn new(settings: &Settings) -> Result<Environments, Error> {
        let outbound = Outbound::new(OutboundConfig {
            allow_private_network: settings.allow_private_network,
            ..OutboundConfig::default()
        })?;
        // media files can be large: a longer time limit and no response-size cap of its own
        // (the intake counts against LAYERS_UPLOAD_MAX_BYTES while streaming)
        let uploads_outbound = Outbound::new(OutboundConfig {
            allow_private_network: settings.allow_private_network,
            timeout: std::time::Duration::from_secs(300),
            max_response_bytes: usize::try_from(settings.upload_max_bytes).unwrap_or(usize::MAX),
            ..OutboundConfig::default()
        })?;
        let platforms = Platforms {
            appstore_base_url: settings.appstore_base_url.clone(),
            github_base_url: settings.github_base_url.clone(),
            github_token: settings.github_token.clone(),
        };
        let vault = Vault::new(
            Clients::new(outbound.clone(), settings.platforms.clone()),
            settings.master_key.clone(),
            settings.public_base_url.clone(),
        );
        let set = |kind: EnvKind,
                   ingest: Ingest,
                   generation: Generation,
                   intake: Intake,
                   oauth: OAuth,
                   publisher: Publisher| {
            Arc::new(EnvServices {
                kind,
                projects: Projects::new(kind),
                jobs: Jobs::new(kind),
                credits: CreditGate::for_env(kind),
                ingest,
                webhooks: Webhooks::new(
                    kind,
                    settings.master_key.clone(),
                    settings.allow_private_network,
                ),
                content: Content::new(kind),
                social: layers_social::Social::new(kind),
                oauth,
                publishing: Publishing::new(kind),
                publisher,
                generation,
                intake,
            })
        };
        Ok(Environments {
            sync: Sync {
                vault: vault.clone(),
            },
            live: set(
                EnvKind::Live,
                Ingest::Live(Box::new(LiveIngest::new(outbound.clone(), platforms))),
                // (intake below: the same guarded client, with the uploads' time limit)
                Generation::Live(Box::new(LiveGeneration {
                    generator: settings.generator.clone(),
                    outbound,
                    storage: settings.storage.clone(),
                    max_bytes: settings.upload_max_bytes,
                })),
                Intake::Live(Box::new(MediaIntake {
                    outbound: uploads_outbound,
                    storage: settings.storage.clone(),
                    max_bytes: settings.upload_max_bytes,
                })),
                OAuth::Live(Box::new(vault.clone())),
                Publisher::Live(Box::new(LivePublisher {
                    vault: vault.clone(),
                    media_signer: settings.media_signer.clone(),
                    public_base_url: settings.public_base_url.clone(),
                })),
            ),
            sandbox: set(
                EnvKind::Sandbox,
                Ingest::Sandbox,
                Generation::Sandbox,
                Intake::Sandbox,
                OAuth::Sandbox,
                Publisher::Sandbox,
            ),
        })
    }

    /// The set of `kind`.
    pub fn get(&self, kind: EnvKind) -> Arc<EnvServices> {
        match kind {
            EnvKind::Live => self.live.clone(),
            EnvKind::Sandbox => self.sandbox.clone(),
        }
    }

    /// A worker that runs every job kind of the domains, each with the services of its job's
    /// environment.
    pub fn worker(
        &self,
        pool: layers_db::Pool,
        database_url: String,
        config: WorkerConfig,
    ) -> Worker {
        let ingest: Arc<dyn Handler> = Arc::new(IngestJobs(self.clone()));
        let content: Arc<dyn Handler> = Arc::new(ContentJobs(self.clone()));
        let worker = layers_ingest::KINDS
            .iter()
            .fold(Worker::new(pool, database_url, config), |w, kind| {
                w.handle(kind, ingest.clone())
            });
        let worker = layers_content::KINDS
            .iter()
            .fold(worker, |w, kind| w.handle(kind, content.clone()));
        worker
            .handle(
                layers_publishing::PUBLISH,
                Arc::new(PublishJobs(self.clone())),
            )
            .handle(layers_metrics::SYNC, Arc::new(SyncJobs(self.clone())))
            .handle(layers_social::REFRESH, Arc::new(RefreshJobs(self.clone())))
            .handle(
                layers_content::EXPIRE_UPLOAD,
                Arc::new(ExpireUploads(self.clone())),
            )
    }
}

/// Runs `publish` jobs with the publisher of the job's own environment.
struct PublishJobs(Environments);

impl Handler for PublishJobs {
    fn run<'a>(&'a self, job: &'a Job, control: &'a Control) -> HandlerFuture<'a> {
        Box::pin(async move {
            let services = self.0.get(job.env);
            services.publisher.run(job, control).await
        })
    }
}

/// Runs live `metrics_sync` jobs; a sandbox one (none is ever queued) does nothing outside.
struct SyncJobs(Environments);

impl Handler for SyncJobs {
    fn run<'a>(&'a self, job: &'a Job, control: &'a Control) -> HandlerFuture<'a> {
        Box::pin(async move {
            match job.env {
                EnvKind::Live => self.0.sync.run(job, control).await,
                EnvKind::Sandbox => Err(Failure::Permanent(
                    "sandbox metrics are synthesized on read, never synced".into(),
                )),
            }
        })
    }
}

/// Runs live token refreshes; a sandbox account's sentinel token is never refreshed.
struct RefreshJobs(Environments);

impl Handler for RefreshJobs {
    fn run<'a>(&'a self, job: &'a Job, control: &'a Control) -> HandlerFuture<'a> {
        Box::pin(async move {
            match &self.0.get(job.env).oauth {
                OAuth::Live(vault) => vault.run_refresh(job, control.pool()).await,
                OAuth::Sandbox => Err(Failure::Permanent(
                    "sandbox accounts never need a refresh".into(),
                )),
            }
        })
    }
}

/// Deletes what an expired upload session stored, with the intake of the job's environment.
struct ExpireUploads(Environments);

impl Handler for ExpireUploads {
    fn run<'a>(&'a self, job: &'a Job, control: &'a Control) -> HandlerFuture<'a> {
        Box::pin(async move { self.0.get(job.env).intake.expire(job, control).await })
    }
}

/// Runs content jobs with the generation of the job's own environment.
struct ContentJobs(Environments);

impl Handler for ContentJobs {
    fn run<'a>(&'a self, job: &'a Job, control: &'a Control) -> HandlerFuture<'a> {
        Box::pin(async move {
            let services = self.0.get(job.env);
            services.generation.run(job, control).await
        })
    }
}

/// Runs ingest jobs with the ingest of the job's own environment.
struct IngestJobs(Environments);

impl Handler for IngestJobs {
    fn run<'a>(&'a self, job: &'a Job, control: &'a Control) -> HandlerFuture<'a> {
        Box::pin(async move {
            let services = self.0.get(job.env);
            services.ingest.run(job, control).await
        })
    }
}
