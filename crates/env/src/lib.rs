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

use layers_content::{
    Content, ExpireUpload, Generate, Generation, GeneratorConfig, Intake, LiveGeneration,
    MediaIntake,
};
use layers_core::{EnvKind, Environment};
use layers_credits::CreditGate;
use layers_ingest::{Ingest, LiveIngest, Platforms, Source};
use layers_jobs::{Control, Failure, Handler, HandlerFuture, Job, Jobs, Worker, WorkerConfig};
use layers_metrics::{Metrics, Sync, SyncPost};
use layers_outbound::{Outbound, OutboundConfig, Url};
use layers_platforms::Clients;
use layers_projects::Projects;
use layers_publishing::{LivePublisher, Publish, Publisher, Publishing};
use layers_social::{OAuth, Refresh, Vault};
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
    pub metrics: Metrics,
}

impl EnvServices {
    /// What a paid job's start touches: projects, the credit gate and jobs.
    pub fn ledger(&self) -> layers_jobs::Ledger<'_> {
        layers_jobs::Ledger {
            projects: &self.projects,
            credits: &self.credits,
            jobs: &self.jobs,
        }
    }

    /// What the content commands reach.
    pub fn content_env(&self) -> layers_content::ContentEnv<'_> {
        layers_content::ContentEnv {
            ledger: self.ledger(),
            content: &self.content,
            generation: &self.generation,
            intake: &self.intake,
        }
    }

    /// What the social command reaches.
    pub fn social_env(&self) -> layers_social::SocialEnv<'_> {
        layers_social::SocialEnv {
            projects: &self.projects,
            social: &self.social,
            oauth: &self.oauth,
        }
    }

    /// What the ingest command reaches.
    pub fn ingest_env(&self) -> layers_ingest::IngestEnv<'_> {
        layers_ingest::IngestEnv {
            ledger: self.ledger(),
            ingest: &self.ingest,
        }
    }
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
    /// The live OAuth vault, for the platforms' callback.
    vault: Vault,
}

impl Environments {
    /// The live OAuth vault, for the platforms' callback: it carries no key, so no
    /// environment is chosen by one (a test key's state is refused there).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }
}

impl Environments {
    pub fn new(settings: &Settings) -> Result<Environments, Error> {
        let outbound = Outbound::new(OutboundConfig {
            allow_private_network: settings.allow_private_network,
            ..OutboundConfig::default()
        })?;
        let vault = Vault::new(
            Clients::new(outbound.clone(), settings.platforms.clone()),
            settings.master_key.clone(),
            settings.public_base_url.clone(),
        );
        Ok(Environments {
            live: Arc::new(live(settings, outbound, &vault)?),
            sandbox: Arc::new(sandbox(settings)),
            vault,
        })
    }

    /// The set of `kind`.
    pub fn get(&self, kind: EnvKind) -> Arc<EnvServices> {
        match kind {
            EnvKind::Live => self.live.clone(),
            EnvKind::Sandbox => self.sandbox.clone(),
        }
    }

    /// A worker that runs every job kind of the domains ([`Task::KINDS`]) through one
    /// dispatch, each with the services of its job's environment.
    pub fn worker(
        &self,
        pool: layers_db::Pool,
        database_url: String,
        config: WorkerConfig,
    ) -> Worker {
        let dispatch: Arc<dyn Handler> = Arc::new(Dispatch(self.clone()));
        Task::KINDS
            .iter()
            .fold(Worker::new(pool, database_url, config), |w, kind| {
                w.handle(kind, dispatch.clone())
            })
    }
}

/// The services every environment builds the same way, around what differs.
struct Differs {
    ingest: Ingest,
    generation: Generation,
    intake: Intake,
    oauth: OAuth,
    publisher: Publisher,
    metrics: Metrics,
    webhooks: Webhooks,
}

fn services(kind: EnvKind, differs: Differs) -> EnvServices {
    EnvServices {
        kind,
        projects: Projects::new(kind),
        jobs: Jobs::new(kind),
        credits: CreditGate::for_env(kind),
        ingest: differs.ingest,
        webhooks: differs.webhooks,
        content: Content::new(kind),
        generation: differs.generation,
        intake: differs.intake,
        social: layers_social::Social::new(kind),
        oauth: differs.oauth,
        publishing: Publishing::new(kind),
        publisher: differs.publisher,
        metrics: differs.metrics,
    }
}

/// The live set: every adapter a real client of its platform.
fn live(settings: &Settings, outbound: Outbound, vault: &Vault) -> Result<EnvServices, Error> {
    // media files can be large: a longer time limit and no response-size cap of its own (the
    // intake counts against LAYERS_UPLOAD_MAX_BYTES while streaming)
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
    let differs = Differs {
        ingest: Ingest::Live(Box::new(LiveIngest::new(outbound.clone(), platforms))),
        generation: Generation::Live(Box::new(LiveGeneration {
            generator: settings.generator.clone(),
            outbound,
            storage: settings.storage.clone(),
            max_bytes: settings.upload_max_bytes,
        })),
        intake: Intake::Live(Box::new(MediaIntake {
            outbound: uploads_outbound,
            storage: settings.storage.clone(),
            max_bytes: settings.upload_max_bytes,
        })),
        oauth: OAuth::Live(Box::new(vault.clone())),
        publisher: Publisher::Live(Box::new(LivePublisher {
            vault: vault.clone(),
            media_signer: settings.media_signer.clone(),
            public_base_url: settings.public_base_url.clone(),
            once_published: layers_metrics::first_sync,
        })),
        metrics: Metrics::Live(Box::new(Sync {
            vault: vault.clone(),
        })),
        // live endpoints must be https (unless private networks are allowed)
        webhooks: Webhooks::new(
            EnvKind::Live,
            settings.master_key.clone(),
            settings.allow_private_network,
        ),
    };
    Ok(services(EnvKind::Live, differs))
}

/// The sandbox set: no adapter calls out.
fn sandbox(settings: &Settings) -> EnvServices {
    let differs = Differs {
        ingest: Ingest::Sandbox,
        generation: Generation::Sandbox,
        intake: Intake::Sandbox,
        oauth: OAuth::Sandbox,
        publisher: Publisher::Sandbox,
        metrics: Metrics::Sandbox,
        // a partner's local receiver may be plain http
        webhooks: Webhooks::new(
            EnvKind::Sandbox,
            settings.master_key.clone(),
            settings.allow_private_network,
        )
        .allowing_plain_http(),
    };
    services(EnvKind::Sandbox, differs)
}

/// Every job kind of the product, each with the typed payload its owning crate defines.
#[derive(Debug)]
pub enum Task {
    /// `ingest_appstore`, `ingest_github`, `ingest_website` (layers-ingest).
    Ingest(Source),
    /// `content_generate`, `content_regenerate` (layers-content).
    Generate(Generate),
    /// `upload_expire` (layers-content).
    ExpireUpload(ExpireUpload),
    /// `publish` (layers-publishing).
    Publish(Publish),
    /// `metrics_sync` (layers-metrics).
    MetricsSync(SyncPost),
    /// `social_token_refresh` (layers-social).
    Refresh(Refresh),
}

impl Task {
    /// Every kind a worker runs.
    pub const KINDS: [&'static str; 9] = [
        layers_ingest::KINDS[0],
        layers_ingest::KINDS[1],
        layers_ingest::KINDS[2],
        layers_content::GENERATE,
        layers_content::REGENERATE,
        layers_content::EXPIRE_UPLOAD,
        layers_publishing::PUBLISH,
        layers_metrics::SYNC,
        layers_social::REFRESH,
    ];

    /// The task of `job`, its payload read as its kind's type.
    pub fn of(job: &Job) -> Result<Task, layers_jobs::Error> {
        Ok(match job.kind.as_str() {
            k if layers_ingest::KINDS.contains(&k) => Task::Ingest(job.payload_as()?),
            layers_content::GENERATE | layers_content::REGENERATE => {
                Task::Generate(job.payload_as()?)
            }
            layers_content::EXPIRE_UPLOAD => Task::ExpireUpload(job.payload_as()?),
            layers_publishing::PUBLISH => Task::Publish(job.payload_as()?),
            layers_metrics::SYNC => Task::MetricsSync(job.payload_as()?),
            layers_social::REFRESH => Task::Refresh(job.payload_as()?),
            other => {
                return Err(layers_jobs::Error::Corrupt(format!(
                    "no worker runs jobs of kind {other}"
                )))
            }
        })
    }
}

/// The one dispatch: a job's task, run by the services of the job's own environment.
struct Dispatch(Environments);

impl Handler for Dispatch {
    fn run<'a>(&'a self, job: &'a Job, control: &'a Control) -> HandlerFuture<'a> {
        Box::pin(async move {
            let task = Task::of(job).map_err(|e| Failure::Permanent(e.to_string()))?;
            let env = self.0.get(job.env);
            match &task {
                Task::Ingest(source) => env.ingest.run(source, control).await,
                Task::Generate(generate) => env.generation.run(job, generate, control).await,
                Task::ExpireUpload(expire) => env.intake.expire(expire, control).await,
                Task::Publish(publish) => env.publisher.run(job, publish, control).await,
                Task::MetricsSync(sync) => env.metrics.sync(job, sync, control).await,
                Task::Refresh(refresh) => env.oauth.refresh(job, refresh, control).await,
            }
        })
    }
}
