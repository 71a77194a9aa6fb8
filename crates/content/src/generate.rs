//! The environment seam of content: what a generation job does. Sandbox containers are
//! completed when they are created, so the sandbox job only reports them (except for the magic
//! hooks of CONTRACT §12: `sandbox:fail` fails the job in the request, `sandbox:slow` leaves it
//! running for a worker to complete later); a live job calls the generator for each container.

use layers_jobs::{Control, Failure, Job, JobError, Outset};
use layers_projects::ProjectId;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::fixtures::{self, AssetKind, Format};
use crate::model::{Container, ContainerFormat, ContainerId, Location, Status};
use crate::store::{complete, containers_of_job, fail, mark_generating, NewAsset};

/// The job kinds content queues.
pub const GENERATE: &str = "content_generate";
pub const REGENERATE: &str = "content_regenerate";
pub const KINDS: [&str; 2] = [GENERATE, REGENERATE];

/// The generator a live job calls (`LAYERS_GENERATOR_URL`, `LAYERS_GENERATOR_TOKEN`).
#[derive(Clone)]
pub struct GeneratorConfig {
    pub url: layers_outbound::Url,
    pub token: String,
}

impl std::fmt::Debug for GeneratorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratorConfig")
            .field("url", &self.url.as_str())
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Live generation: the generator's client, and the storage its media is copied into. Without
/// a generator, live generation is refused before anything is charged.
#[derive(Debug)]
pub struct LiveGeneration {
    pub generator: Option<GeneratorConfig>,
    pub outbound: layers_outbound::Outbound,
    pub storage: layers_storage::Storage,
    /// The largest media file copied (`LAYERS_UPLOAD_MAX_BYTES`).
    pub max_bytes: u64,
}

/// How long a `sandbox:slow` generation stays `running` (wall clock). The one place that sets
/// when it ends: a project's test clock will move it.
pub const SANDBOX_SLOW: std::time::Duration = std::time::Duration::from_secs(30);

/// The sandbox's magic hooks (CONTRACT §12). With a live key a hook is ordinary text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Magic {
    Fail,
    Slow,
}

impl Magic {
    fn of(hook: Option<&str>) -> Option<Magic> {
        let hook = hook?;
        if hook.contains("sandbox:fail") {
            Some(Magic::Fail)
        } else if hook.contains("sandbox:slow") {
            Some(Magic::Slow)
        } else {
            None
        }
    }
}

/// How a new generation starts: how each container starts, and how its job is written.
#[derive(Debug, Clone)]
pub struct Start {
    pub made: Vec<Made>,
    pub job: Outset,
}

/// What generation does in one environment.
#[derive(Debug)]
pub enum Generation {
    Live(Box<LiveGeneration>),
    Sandbox,
}

/// Live generation was asked for and the generator is not configured.
#[derive(Debug, thiserror::Error)]
#[error("live content generation needs LAYERS_GENERATOR_URL and LAYERS_GENERATOR_TOKEN")]
pub struct NotConfigured;

/// The payload of a generation job (`content_generate`) or of a regeneration
/// (`content_regenerate`): the containers it makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Generate {
    pub container_ids: Vec<String>,
    /// A regeneration of one container.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub regeneration: bool,
}

impl Generate {
    /// The first generation of `containers`.
    pub fn new(containers: &[ContainerId]) -> Generate {
        Generate {
            container_ids: containers.iter().map(ContainerId::to_string).collect(),
            regeneration: false,
        }
    }

    /// A regeneration of `container`.
    pub fn again(container: ContainerId) -> Generate {
        Generate {
            container_ids: vec![container.to_string()],
            regeneration: true,
        }
    }

    /// The job's result: the containers it made.
    fn result(&self) -> serde_json::Value {
        json!({ "containerIds": self.container_ids })
    }
}

impl layers_jobs::Payload for Generate {
    fn kind(&self) -> &'static str {
        if self.regeneration {
            REGENERATE
        } else {
            GENERATE
        }
    }
}

/// How a container starts: its status and the media it has from the first moment.
#[derive(Debug, Clone)]
pub struct Made {
    pub status: Status,
    pub assets: Vec<NewAsset>,
}

impl Generation {
    /// Refuses live generation when no generator is configured (before any charge).
    pub fn ready(&self) -> Result<(), NotConfigured> {
        match self {
            Generation::Live(live) if live.generator.is_none() => Err(NotConfigured),
            _ => Ok(()),
        }
    }

    /// How the containers `ids` of a new generation start: in the sandbox `completed` at once
    /// with fixture media (variant i uses sample `((FNV-1a(id of variant 0) + i) mod 3) + 1`);
    /// live `queued` with none, for the job to generate.
    pub fn first_made(&self, format: Format, ids: &[ContainerId]) -> Vec<Made> {
        let first = ids.first().map(ContainerId::to_string).unwrap_or_default();
        (0..ids.len() as u32)
            .map(|i| self.made(format, || fixtures::sample_for(&first, i)))
            .collect()
    }

    /// How a new generation of containers `ids` with `hook` starts: as [`Generation::first_made`]
    /// and [`Generation::done`] say, except for the sandbox's magic hooks. With `sandbox:fail`
    /// the containers start `queued` and the job `failed` (`generation_failed`): the request
    /// fails the containers too. With `sandbox:slow` they start `generating` and the job
    /// `running` until [`SANDBOX_SLOW`] from now, when a worker's attempt completes them.
    pub fn start(&self, format: Format, ids: &[ContainerId], hook: Option<&str>) -> Start {
        let pending = |status| {
            ids.iter()
                .map(|_| Made {
                    status,
                    assets: Vec::new(),
                })
                .collect()
        };
        match self {
            Generation::Sandbox => match Magic::of(hook) {
                Some(Magic::Fail) => Start {
                    made: pending(Status::Queued),
                    job: Outset::Failed(JobError {
                        code: "generation_failed",
                        message: "the generator failed: it could not make this content".into(),
                    }),
                },
                Some(Magic::Slow) => Start {
                    made: pending(Status::Generating),
                    job: Outset::running_for(SANDBOX_SLOW),
                },
                None => Start {
                    made: self.first_made(format, ids),
                    job: Outset::done_or_queued(self.done(ids)),
                },
            },
            Generation::Live(_) => Start {
                made: self.first_made(format, ids),
                job: Outset::Queued,
            },
        }
    }

    /// How container `id` starts its `n`-th regeneration: in the sandbox `completed` with
    /// sample `((FNV-1a(containerId) + n) mod 3) + 1`; live `queued` again.
    pub fn remade(&self, format: Format, id: ContainerId, n: u32) -> Made {
        self.made(format, || fixtures::regeneration_sample(&id.to_string(), n))
    }

    fn made(&self, format: Format, sample: impl FnOnce() -> u32) -> Made {
        match self {
            Generation::Sandbox => Made {
                status: Status::Completed,
                assets: fixtures::assets(format, sample())
                    .iter()
                    .map(NewAsset::fixture)
                    .collect(),
            },
            Generation::Live(_) => Made {
                status: Status::Queued,
                assets: Vec::new(),
            },
        }
    }

    /// The job's result when the request itself does the work: the sandbox completes the
    /// containers with fixture media in the request, so its job is written done (`None` live:
    /// the job calls the generator).
    pub fn done(&self, containers: &[ContainerId]) -> Option<serde_json::Value> {
        match self {
            Generation::Sandbox => Some(Generate::new(containers).result()),
            Generation::Live(_) => None,
        }
    }

    /// One attempt of a generation job.
    pub async fn run(
        &self,
        job: &Job,
        task: &Generate,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        match self {
            // the containers were completed with fixture media in the request's transaction,
            // unless it left the job running (`sandbox:slow`): then they are completed now
            Generation::Sandbox if task.regeneration => Ok(task.result()),
            Generation::Sandbox => sandbox_finish(job, control).await,
            Generation::Live(live) => live.run(job, control).await,
        }
    }
}

/// The attempt of a sandbox generation its request left running: completes each container not
/// completed yet with its fixture media (the sample the request would have given it) and
/// `content.completed`, in one transaction. No call goes out.
async fn sandbox_finish(job: &Job, control: &Control) -> Result<serde_json::Value, Failure> {
    if control.cancel_requested().await {
        return Err(Failure::Canceled);
    }
    let mut db = control.pool().get().await.map_err(db_failure)?;
    let tx = db.transaction().await.map_err(db_failure)?;
    let containers = containers_of_job(&tx, job.id.as_uuid())
        .await
        .map_err(db_failure)?;
    let first = containers
        .first()
        .map(|c| c.id.to_string())
        .unwrap_or_default();
    let mut done = Vec::with_capacity(containers.len());
    for c in &containers {
        if c.status != Status::Completed {
            let ContainerFormat::Generated(format) = c.format else {
                return Err(Failure::Permanent(
                    "an uploaded container cannot be generated".into(),
                ));
            };
            let assets: Vec<NewAsset> =
                fixtures::assets(format, fixtures::sample_for(&first, c.variant_index))
                    .iter()
                    .map(NewAsset::fixture)
                    .collect();
            complete(&tx, c.id, &assets).await.map_err(db_failure)?;
        }
        done.push(c.id.to_string());
    }
    tx.commit().await.map_err(db_failure)?;
    Ok(json!({ "containerIds": done }))
}

/// What the generator is asked (CONTRACT §11: `{format, variantIndex, hook, project: {name,
/// timezone, primaryLanguage}}`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GeneratorRequest<'a> {
    format: &'static str,
    variant_index: u32,
    hook: Option<&'a str>,
    project: Option<&'a GeneratorProject>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GeneratorProject {
    name: String,
    timezone: String,
    primary_language: String,
}

/// What the generator answers.
#[derive(Debug, Deserialize)]
struct Generated {
    assets: Vec<GeneratedAsset>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeneratedAsset {
    kind: String,
    url: String,
    content_type: String,
    width: Option<u32>,
    height: Option<u32>,
}

/// Why an attempt stopped, and whether another may do better.
fn failure(e: &layers_outbound::OutboundError, what: &str) -> Failure {
    let message = format!("{what}: {e}");
    if e.is_transient() {
        Failure::Transient(message)
    } else {
        Failure::Refused(layers_jobs::JobError {
            code: "generation_failed",
            message,
        })
    }
}

fn db_failure(e: impl std::fmt::Display) -> Failure {
    Failure::Transient(format!("the database failed: {e}"))
}

/// The containers of a generation job, and what the generator is told of their project as it
/// is now (through projects' [`layers_projects::find`]; `None` for a job without a project).
async fn read_job(
    job: &Job,
    control: &Control,
) -> Result<(Vec<Container>, Option<GeneratorProject>), Failure> {
    let db = control.pool().get().await.map_err(db_failure)?;
    let containers = containers_of_job(&db, job.id.as_uuid())
        .await
        .map_err(db_failure)?;
    let project = match job.project_id {
        Some(id) => layers_projects::find(&db, job.organization_id, ProjectId::from_uuid(id))
            .await
            .map_err(db_failure)?
            .map(|p| GeneratorProject {
                name: p.name,
                timezone: p.timezone,
                primary_language: p.primary_language,
            }),
        None => None,
    };
    Ok((containers, project))
}

impl LiveGeneration {
    async fn run(&self, job: &Job, control: &Control) -> Result<serde_json::Value, Failure> {
        let outcome = self.generate(job, control).await;
        let last_attempt = job.attempts >= job.max_attempts;
        let message = match &outcome {
            Err(Failure::Permanent(m)) => Some(m.clone()),
            Err(Failure::Refused(e)) => Some(e.message.clone()),
            Err(Failure::Transient(m)) if last_attempt => Some(m.clone()),
            _ => None,
        };
        if let Some(message) = message {
            // the job fails (and is refunded): so do the containers it had not finished
            let mut db = control.pool().get().await.map_err(db_failure)?;
            let tx = db.transaction().await.map_err(db_failure)?;
            for c in containers_of_job(&tx, job.id.as_uuid())
                .await
                .map_err(db_failure)?
            {
                fail(&tx, c.id, &message).await.map_err(db_failure)?;
            }
            tx.commit().await.map_err(db_failure)?;
        }
        outcome
    }

    /// Generates every container of the job that is not completed yet (a retry picks up where
    /// the last attempt stopped).
    async fn generate(&self, job: &Job, control: &Control) -> Result<serde_json::Value, Failure> {
        let Some(generator) = &self.generator else {
            return Err(Failure::Permanent(NotConfigured.to_string()));
        };
        let endpoint = generator
            .url
            .join("generate")
            .map_err(|e| Failure::Permanent(format!("LAYERS_GENERATOR_URL: {e}")))?;
        let (containers, project) = read_job(job, control).await?;
        let mut done = Vec::new();
        for container in containers {
            if container.status == Status::Completed {
                done.push(container.id.to_string());
                continue;
            }
            let ContainerFormat::Generated(format) = container.format else {
                return Err(Failure::Permanent(
                    "an uploaded container cannot be generated".into(),
                ));
            };
            control.spending_outside().await?;
            {
                let db = control.pool().get().await.map_err(db_failure)?;
                mark_generating(&db, container.id)
                    .await
                    .map_err(db_failure)?;
            }
            let body = GeneratorRequest {
                format: format.as_str(),
                variant_index: container.variant_index,
                hook: container.hook.as_deref(),
                project: project.as_ref(),
            };
            let generated: Generated = self
                .outbound
                .post(endpoint.clone())
                .bearer(&generator.token)
                .json(&body)
                .fetch_json()
                .await
                .map_err(|e| failure(&e, "the generator failed"))?;
            if generated.assets.is_empty() {
                return Err(Failure::Permanent("the generator answered no media".into()));
            }
            let mut assets = Vec::with_capacity(generated.assets.len());
            for (i, asset) in generated.assets.iter().enumerate() {
                assets.push(self.copy(container.id, i, asset).await?);
            }
            let mut db = control.pool().get().await.map_err(db_failure)?;
            let tx = db.transaction().await.map_err(db_failure)?;
            complete(&tx, container.id, &assets)
                .await
                .map_err(db_failure)?;
            // this variant is delivered: a later failure refunds only the others
            layers_jobs::keep_credits(&tx, job.id, format.operation().cost())
                .await
                .map_err(db_failure)?;
            tx.commit().await.map_err(db_failure)?;
            done.push(container.id.to_string());
        }
        Ok(json!({ "containerIds": done }))
    }

    /// Copies one generated media file into storage, streaming, within the size limit.
    async fn copy(
        &self,
        container: ContainerId,
        index: usize,
        asset: &GeneratedAsset,
    ) -> Result<NewAsset, Failure> {
        let kind = [AssetKind::Image, AssetKind::Video, AssetKind::Thumbnail]
            .into_iter()
            .find(|k| k.as_str() == asset.kind)
            .ok_or_else(|| {
                Failure::Permanent(format!(
                    "the generator answered an asset of unknown kind {:?}",
                    asset.kind.chars().take(32).collect::<String>()
                ))
            })?;
        let extension = match asset.content_type.as_str() {
            "image/jpeg" => "jpg",
            "image/png" => "png",
            "image/webp" => "webp",
            "video/mp4" => "mp4",
            "video/quicktime" => "mov",
            other => {
                return Err(Failure::Permanent(format!(
                    "the generator answered media of type {:?}, which is not served",
                    other.chars().take(64).collect::<String>()
                )))
            }
        };
        let url = layers_outbound::Url::parse(&asset.url).map_err(|e| {
            Failure::Permanent(format!("the generator answered a bad media URL: {e}"))
        })?;
        let response = self
            .outbound
            .get(url)
            .send()
            .await
            .map_err(|e| failure(&e, "fetching generated media failed"))?
            .error_for_status()
            .await
            .map_err(|e| failure(&e, "fetching generated media failed"))?;
        let key = format!("content/{container}/{index}-{}.{extension}", kind.as_str());
        self.storage
            .put_stream(&key, response.into_chunks(), self.max_bytes)
            .await
            .map_err(|e| match e {
                layers_storage::Error::TooLarge { .. } => Failure::Permanent(format!(
                    "generated media is larger than {} bytes",
                    self.max_bytes
                )),
                e => Failure::Transient(format!("storing generated media failed: {e}")),
            })?;
        Ok(NewAsset {
            kind,
            location: Location::Stored(key),
            content_type: asset.content_type.clone(),
            width: asset.width,
            height: asset.height,
        })
    }
}
