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
//! What differs between the two is reached through the [`Environment`] trait, whose two
//! implementations, [`Live`] and [`Sandbox`], give each domain's seam (`CreditGate`, `Ingest`,
//! `Generation`, `Intake`, `OAuth`, `Publisher`, `Metrics`, `Webhooks`); each seam dispatches
//! by its own enum. Validation, rows and jobs are one code path for both. A set is handed out
//! whole, so code that holds the sandbox set cannot reach a live adapter.

use std::sync::Arc;

use layers_ads::{Ads, CreateCampaign, LiveAds, SyncAds, UpdateCampaign};
use layers_content::{
    Content, ExpireUpload, Generate, Generation, GeneratorConfig, Intake, LiveGeneration,
    MediaIntake,
};
use layers_core::EnvKind;
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

mod clock;
mod test_helpers;

pub use clock::{clock_data, AdvanceClock, AdvanceError, ADVANCE, TOKEN_LIFETIME};
pub use test_helpers::{ClockDeleteError, Deleted, ResetError, TestHelpers};

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
    pub ads: Ads,
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

    /// What the ads commands reach.
    pub fn ads_env(&self) -> layers_ads::AdsEnv<'_> {
        layers_ads::AdsEnv {
            env: self.kind,
            projects: &self.projects,
            jobs: &self.jobs,
            ads: &self.ads,
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

impl layers_core::Environment for EnvServices {
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
        let live = services(&Live::new(settings, outbound, &vault)?);
        let sandbox = services(&Sandbox::new(settings));
        Ok(Environments {
            live: Arc::new(live),
            sandbox: Arc::new(sandbox),
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

/// The design card's environment: every behaviour that differs between live and sandbox is
/// reached through one of its seams, and [`Live`] and [`Sandbox`] are its two implementations.
/// [`Environments::new`] asks each for its seams once; a request gets the set its key chose, a
/// job the set of its row. Everything else (validation, rows, jobs, events) is one code path.
pub trait Environment {
    /// The world it serves.
    fn kind(&self) -> EnvKind;
    /// Projects, which may live on a test clock only in the sandbox.
    fn projects(&self) -> Projects;
    /// Charge the wallet, or write the audit row.
    fn credits(&self) -> CreditGate;
    /// Call the App Store, GitHub and websites, or derive facts from the input.
    fn ingest(&self) -> Ingest;
    /// Call the generator, or complete with fixture media.
    fn generation(&self) -> Generation;
    /// Fetch, probe and store media, or stand fixture media in.
    fn intake(&self) -> Intake;
    /// The platforms' consent, or `sandbox-complete`.
    fn oauth(&self) -> OAuth;
    /// Call the platforms at `publishAt`, or publish in the request.
    fn publisher(&self) -> Publisher;
    /// Insights synced daily, or series synthesized on read.
    fn metrics(&self) -> Metrics;
    /// Endpoints that must be https, or that may be a partner's local http receiver.
    fn webhooks(&self) -> Webhooks;
    /// Ad accounts read and campaigns created on the platforms, or in the request.
    fn ads(&self) -> Ads;
}

/// The live environment: every adapter a real client of its platform.
pub struct Live<'a> {
    settings: &'a Settings,
    outbound: Outbound,
    /// The same guarded client with the uploads' time limit and no size cap of its own.
    uploads_outbound: Outbound,
    vault: &'a Vault,
}

impl std::fmt::Debug for Live<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl<'a> Live<'a> {
    pub fn new(
        settings: &'a Settings,
        outbound: Outbound,
        vault: &'a Vault,
    ) -> Result<Self, Error> {
        // media files can be large: a longer time limit and no response-size cap of its own
        // (the intake counts against LAYERS_UPLOAD_MAX_BYTES while streaming)
        let uploads_outbound = Outbound::new(OutboundConfig {
            allow_private_network: settings.allow_private_network,
            timeout: std::time::Duration::from_secs(300),
            max_response_bytes: usize::try_from(settings.upload_max_bytes).unwrap_or(usize::MAX),
            ..OutboundConfig::default()
        })?;
        Ok(Live {
            settings,
            outbound,
            uploads_outbound,
            vault,
        })
    }
}

impl Environment for Live<'_> {
    fn kind(&self) -> EnvKind {
        EnvKind::Live
    }

    fn projects(&self) -> Projects {
        Projects::new(EnvKind::Live)
    }

    fn credits(&self) -> CreditGate {
        CreditGate::Live
    }

    fn ingest(&self) -> Ingest {
        let platforms = Platforms {
            appstore_base_url: self.settings.appstore_base_url.clone(),
            github_base_url: self.settings.github_base_url.clone(),
            github_token: self.settings.github_token.clone(),
        };
        Ingest::Live(Box::new(LiveIngest::new(self.outbound.clone(), platforms)))
    }

    fn generation(&self) -> Generation {
        Generation::Live(Box::new(LiveGeneration {
            generator: self.settings.generator.clone(),
            outbound: self.outbound.clone(),
            storage: self.settings.storage.clone(),
            max_bytes: self.settings.upload_max_bytes,
        }))
    }

    fn intake(&self) -> Intake {
        Intake::Live(Box::new(MediaIntake {
            outbound: self.uploads_outbound.clone(),
            storage: self.settings.storage.clone(),
            max_bytes: self.settings.upload_max_bytes,
        }))
    }

    fn oauth(&self) -> OAuth {
        OAuth::Live(Box::new(self.vault.clone()))
    }

    fn publisher(&self) -> Publisher {
        Publisher::Live(Box::new(LivePublisher {
            vault: self.vault.clone(),
            media_signer: self.settings.media_signer.clone(),
            public_base_url: self.settings.public_base_url.clone(),
            once_published: layers_metrics::first_sync,
        }))
    }

    fn metrics(&self) -> Metrics {
        Metrics::Live(Box::new(Sync {
            vault: self.vault.clone(),
        }))
    }

    fn webhooks(&self) -> Webhooks {
        // https only, unless private networks are allowed
        Webhooks::new(
            EnvKind::Live,
            self.settings.master_key.clone(),
            self.settings.allow_private_network,
        )
    }

    fn ads(&self) -> Ads {
        Ads::Live(Box::new(LiveAds {
            clients: self.vault.clients.clone(),
            vault: self.vault.clone(),
            master_key: self.settings.master_key.clone(),
            media_signer: self.settings.media_signer.clone(),
            public_base_url: self.settings.public_base_url.clone(),
        }))
    }
}

/// The sandbox: no seam calls out.
#[derive(Debug)]
pub struct Sandbox<'a> {
    settings: &'a Settings,
}

impl<'a> Sandbox<'a> {
    pub fn new(settings: &'a Settings) -> Self {
        Sandbox { settings }
    }
}

impl Environment for Sandbox<'_> {
    fn kind(&self) -> EnvKind {
        EnvKind::Sandbox
    }

    fn projects(&self) -> Projects {
        Projects::new(EnvKind::Sandbox).allowing_test_clocks()
    }

    fn credits(&self) -> CreditGate {
        CreditGate::Sandbox
    }

    fn ingest(&self) -> Ingest {
        Ingest::Sandbox
    }

    fn generation(&self) -> Generation {
        Generation::Sandbox
    }

    fn intake(&self) -> Intake {
        Intake::Sandbox
    }

    fn oauth(&self) -> OAuth {
        OAuth::Sandbox
    }

    fn publisher(&self) -> Publisher {
        Publisher::Sandbox
    }

    fn metrics(&self) -> Metrics {
        Metrics::Sandbox
    }

    fn webhooks(&self) -> Webhooks {
        // a partner's local receiver may be plain http
        Webhooks::new(
            EnvKind::Sandbox,
            self.settings.master_key.clone(),
            self.settings.allow_private_network,
        )
        .allowing_plain_http()
    }

    fn ads(&self) -> Ads {
        Ads::Sandbox
    }
}

/// The services of `env`: its seams, and the stores that stamp and filter its `is_sandbox`.
pub fn services(env: &dyn Environment) -> EnvServices {
    let kind = env.kind();
    EnvServices {
        kind,
        projects: env.projects(),
        jobs: Jobs::new(kind),
        credits: env.credits(),
        ingest: env.ingest(),
        webhooks: env.webhooks(),
        content: Content::new(kind),
        generation: env.generation(),
        intake: env.intake(),
        social: layers_social::Social::new(kind),
        oauth: env.oauth(),
        publishing: Publishing::new(kind),
        publisher: env.publisher(),
        metrics: env.metrics(),
        ads: env.ads(),
    }
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
    /// `test_clock_advance` (a test clock's advance, [`clock`]).
    AdvanceClock(AdvanceClock),
    /// `ads_campaign_create` (layers-ads).
    CreateCampaign(CreateCampaign),
    /// `ads_campaign_update` (layers-ads).
    UpdateCampaign(UpdateCampaign),
    /// `ads_metrics_sync` (layers-ads).
    SyncAds(SyncAds),
}

impl Task {
    /// Every kind a worker runs.
    pub const KINDS: [&'static str; 13] = [
        layers_ingest::KINDS[0],
        layers_ingest::KINDS[1],
        layers_ingest::KINDS[2],
        layers_content::GENERATE,
        layers_content::REGENERATE,
        layers_content::EXPIRE_UPLOAD,
        layers_publishing::PUBLISH,
        layers_metrics::SYNC,
        layers_social::REFRESH,
        ADVANCE,
        layers_ads::CREATE,
        layers_ads::UPDATE,
        layers_ads::SYNC,
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
            ADVANCE => Task::AdvanceClock(job.payload_as()?),
            layers_ads::CREATE => Task::CreateCampaign(job.payload_as()?),
            layers_ads::UPDATE => Task::UpdateCampaign(job.payload_as()?),
            layers_ads::SYNC => Task::SyncAds(job.payload_as()?),
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
                Task::AdvanceClock(advance) => clock::run_advance(job, advance, control).await,
                Task::CreateCampaign(task) => env.ads.create(job, task, control).await,
                Task::UpdateCampaign(task) => env.ads.update(job, task, control).await,
                Task::SyncAds(task) => env.ads.sync(job, task, control).await,
            }
        })
    }
}
