//! The `publish` job, per environment. A sandbox publish is done by its request (its job is
//! written done); a sandbox schedule waits for its job, which at `publishAt` publishes every
//! target with `sb_post_…` ids and no platform call, recording each as live does.
//!
//! Live, the job runs at `publishAt`. It moves the post to `publishing` (a post canceled before
//! then is left alone: no platform call), then publishes each target that has not ended yet, in
//! order, recording each outcome with its event in one transaction: `published` with the
//! platform's id and `post.published`; a platform refusal `failed` with the platform's message
//! and `post.failed`; an expired token likewise, the account marked `needs_reauth`. A transient
//! failure (a 5xx, a timeout) retries the job, which skips the targets already ended; once the
//! job's attempts are spent the remaining targets fail. The post ends `published` when at least
//! one target was published, else `failed`; a published post gets one `metrics_sync` job.

use layers_content::{AssetKind, Container, ContainerId, Location};
use layers_jobs::{Control, Failure, Job, NewJob};
use layers_platforms::{Clients, Media, NotConfigured, PlatformError};
use layers_social::{Platform, TokenError, Vault};
use layers_webhooks::EventType;

use crate::store::{self, find, Publish};
use crate::{PostEvent, PostStatus, ScheduledPost, Target, TargetError};

/// The environment's side of publishing.
#[derive(Debug)]
pub enum Publisher {
    /// Calls the platforms.
    Live(Box<LivePublisher>),
    /// Publishes in the request; the job is a no-op.
    Sandbox,
}

/// What live publishing needs: the platforms' clients and tokens, and URLs they can fetch the
/// media from.
pub struct LivePublisher {
    pub vault: Vault,
    /// Signs the media URLs handed to the platforms (`None` without `LAYERS_MASTER_KEY`).
    pub media_signer: Option<layers_storage::UrlSigner>,
    /// `LAYERS_PUBLIC_BASE_URL`: where the platforms fetch the media from.
    pub public_base_url: String,
    /// The job started, in the transaction that ends a post `published`, to follow it up (the
    /// first metrics sync, a kind owned by `layers-metrics`).
    pub once_published: fn(&ScheduledPost) -> NewJob,
}

impl std::fmt::Debug for LivePublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePublisher")
            .field("vault", &self.vault)
            .field(
                "media_signer",
                &self.media_signer.as_ref().map(|_| "<redacted>"),
            )
            .field("public_base_url", &self.public_base_url)
            .finish_non_exhaustive()
    }
}

/// How long the media URLs handed to a platform stay valid: platforms fetch them within
/// minutes, a resumable upload may take longer.
const MEDIA_URL_LIFETIME_SECS: i64 = 6 * 3600;

/// How a new post's targets start in an environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Outset {
    /// The post's status.
    pub status: PostStatus,
    /// One per target, in order.
    pub targets: Vec<Start>,
    /// The `publish` job's result when the request did the work (its job is written done).
    pub done: Option<serde_json::Value>,
    /// Accounts the request found with an expired token (the sandbox's
    /// `#sandbox_token_expired`): marked `needs_reauth`, with their event, in the request.
    pub expired: Vec<layers_social::SocialAccountId>,
}

/// How one target starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub status: PostStatus,
    /// Known at once in the sandbox.
    pub external_id: Option<String>,
    pub error: Option<TargetError>,
}

/// What a sandbox target's caption asks for (CONTRACT §12): `#sandbox_token_expired` an
/// expired token, `#sandbox_reject` a platform refusal, both in live's shape; anything else is
/// published with the externalId `sb_post_<containerId>_<index>`.
fn sandbox_outcome(container: ContainerId, index: u32, caption: Option<&str>) -> Outcome {
    let caption = caption.unwrap_or_default();
    if caption.contains("#sandbox_token_expired") {
        return Outcome::Failed(TargetError::token_expired(
            "the sandbox account's token has expired (#sandbox_token_expired): connect the \
             account again",
        ));
    }
    if caption.contains("#sandbox_reject") {
        return Outcome::Failed(TargetError::rejected(
            "the platform rejected the post (#sandbox_reject)",
        ));
    }
    Outcome::Published {
        external_id: crate::sandbox_external_id(container, index),
        external_url: None,
    }
}

impl Publisher {
    /// How `new`'s targets start: a sandbox publish is done in the request (each target as its
    /// caption asks, see [`sandbox_outcome`]; the post `published` if any target is, its job
    /// written done); a sandbox schedule, and every live post, start `scheduled` for the job
    /// (due at `publishAt`).
    pub fn outset(&self, new: &crate::NewPost) -> Outset {
        match self {
            Publisher::Sandbox if new.publish_at.is_none() => sandbox_outset(new),
            Publisher::Sandbox | Publisher::Live(_) => Outset {
                status: PostStatus::Scheduled,
                targets: vec![
                    Start {
                        status: PostStatus::Scheduled,
                        external_id: None,
                        error: None,
                    };
                    new.targets.len()
                ],
                done: None,
                expired: Vec::new(),
            },
        }
    }

    /// The time of the test clock a project lives on (`None`: the wall clock). Only sandbox
    /// projects live on clocks, so live reads nothing.
    pub async fn clock(
        &self,
        db: &impl layers_db::GenericClient,
        project: uuid::Uuid,
    ) -> crate::Result<Option<chrono::DateTime<chrono::Utc>>> {
        match self {
            Publisher::Live(_) => Ok(None),
            Publisher::Sandbox => layers_projects::clock_time(db, project)
                .await
                .map_err(|e| crate::Error::Corrupt(format!("the project's clock: {e}"))),
        }
    }

    /// Refuses, before anything is written, a live platform that is not configured.
    pub fn ready(&self, platform: Platform) -> Result<(), NotConfigured> {
        match self {
            Publisher::Sandbox => Ok(()),
            Publisher::Live(live) => live.vault.ready(platform),
        }
    }

    /// One attempt of the `publish` job `job` of `task`.
    pub async fn run(
        &self,
        job: &Job,
        task: &Publish,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        let id = task.post()?;
        match self {
            Publisher::Sandbox => run_sandbox(job, control, id).await,
            Publisher::Live(live) => live.run(job, control, id).await,
        }
    }
}

/// A sandbox publish, done in the request.
fn sandbox_outset(new: &crate::NewPost) -> Outset {
    let mut expired = Vec::new();
    let targets: Vec<Start> = new
        .targets
        .iter()
        .enumerate()
        .map(
            |(i, t)| match sandbox_outcome(new.container_id, i as u32, t.caption.as_deref()) {
                Outcome::Published { external_id, .. } => Start {
                    status: PostStatus::Published,
                    external_id: Some(external_id),
                    error: None,
                },
                Outcome::Retry(why) => Start {
                    status: PostStatus::Failed,
                    external_id: None,
                    error: Some(TargetError {
                        code: "platform_error",
                        message: why,
                    }),
                },
                Outcome::Failed(error) => {
                    if error.code == "token_expired" {
                        expired.push(t.social_account_id);
                    }
                    Start {
                        status: PostStatus::Failed,
                        external_id: None,
                        error: Some(error),
                    }
                }
            },
        )
        .collect();
    let status = if targets.iter().any(|t| t.status == PostStatus::Published) {
        PostStatus::Published
    } else {
        PostStatus::Failed
    };
    Outset {
        status,
        done: Some(result(new.id.to_string(), status)),
        targets,
        expired,
    }
}

pub(crate) fn result(id: String, status: PostStatus) -> serde_json::Value {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Outcome {
        scheduled_post_id: String,
        status: &'static str,
    }
    serde_json::to_value(Outcome {
        scheduled_post_id: id,
        status: status.as_str(),
    })
    .expect("strings serialize")
}

/// A sandbox `publish` job: a publish was done by its request (its job written done, never
/// run); a schedule is published now that `publishAt` has come, as a live job would record it
/// (each target with its `post.published` in its own transaction), but with the externalIds
/// `sb_post_<containerId>_<index>` and no platform call.
async fn run_sandbox(
    job: &Job,
    control: &Control,
    id: crate::ScheduledPostId,
) -> Result<serde_json::Value, Failure> {
    let pool = control.pool();
    let post = match begin(pool, job, id).await? {
        Ok(post) => post,
        Err(ended) => return Ok(ended),
    };
    for target in post.targets.iter().filter(|t| !t.status.is_terminal()) {
        let outcome = sandbox_outcome(post.container_id, target.index, target.caption.as_deref());
        if matches!(&outcome, Outcome::Failed(e) if e.code == "token_expired") {
            let db = pool.get().await.map_err(transient)?;
            layers_social::mark_needs_reauth(&db, target.social_account_id)
                .await
                .map_err(transient)?;
        }
        record(pool, &post, target, outcome).await?;
    }
    // sandbox metrics are synthesized on read: nothing to follow up
    let status = finish(pool, &post, None).await?;
    Ok(result(id.to_string(), status))
}

/// Moves the post to `publishing` and reads it: `Err(result)` when an earlier attempt ended it
/// (it stays as it ended); canceled before its time, the job ends canceled.
async fn begin(
    pool: &layers_db::Pool,
    job: &Job,
    id: crate::ScheduledPostId,
) -> Result<Result<ScheduledPost, serde_json::Value>, Failure> {
    let db = pool.get().await.map_err(transient)?;
    let started = store::start_publishing(&db, id).await.map_err(transient)?;
    let found = find(&db, job.organization_id, id)
        .await
        .map_err(transient)?;
    if started {
        return found
            .map(Ok)
            .ok_or_else(|| Failure::Permanent(format!("scheduled post {id} is gone")));
    }
    match found.map(|p| p.status) {
        Some(status @ (PostStatus::Published | PostStatus::Failed)) => {
            Ok(Err(result(id.to_string(), status)))
        }
        _ => Err(Failure::Canceled),
    }
}

fn transient(e: impl std::fmt::Display) -> Failure {
    Failure::Transient(e.to_string())
}

/// How one target's attempt ended.
enum Outcome {
    Published {
        external_id: String,
        external_url: Option<String>,
    },
    Failed(TargetError),
    /// Worth another attempt of the job.
    Retry(String),
}

impl LivePublisher {
    fn clients(&self) -> &Clients {
        &self.vault.clients
    }

    async fn run(
        &self,
        job: &Job,
        control: &Control,
        id: crate::ScheduledPostId,
    ) -> Result<serde_json::Value, Failure> {
        let pool = control.pool();
        // a post canceled before its time is left alone; one that an earlier attempt of this
        // job ended (its lease passed before the job's end was recorded) stays as it ended
        let post = match begin(pool, job, id).await? {
            Ok(post) => post,
            Err(ended) => return Ok(ended),
        };
        let container = {
            let db = pool.get().await.map_err(transient)?;
            layers_content::Content::new(post.env)
                .get(&db, job.organization_id, post.container_id)
                .await
                .map_err(transient)?
        };
        let media = self.media_of(&container);
        let last_attempt = job.attempts >= job.max_attempts;
        let mut retry: Option<String> = None;
        for target in post.targets.iter().filter(|t| !t.status.is_terminal()) {
            let outcome = match &media {
                Err(why) => Outcome::Failed(TargetError {
                    code: "media_unusable",
                    message: why.clone(),
                }),
                Ok(media) => {
                    control.spending_outside().await?;
                    let caption = target.caption.as_deref().or(container.caption.as_deref());
                    self.publish_one(pool, target, media, caption).await
                }
            };
            let outcome = match outcome {
                Outcome::Retry(why) if last_attempt => Outcome::Failed(TargetError {
                    code: "platform_error",
                    message: why,
                }),
                Outcome::Retry(why) => {
                    retry.get_or_insert(why);
                    continue;
                }
                other => other,
            };
            record(pool, &post, target, outcome).await?;
        }
        if let Some(why) = retry {
            return Err(Failure::Transient(why));
        }
        let status = finish(pool, &post, Some(self.once_published)).await?;
        Ok(result(id.to_string(), status))
    }

    /// What the platforms are given: the container's media as URLs they can fetch.
    fn media_of(&self, c: &Container) -> Result<Media, String> {
        let url = |kind: AssetKind| -> Vec<String> {
            c.assets
                .iter()
                .filter(|a| a.kind == kind)
                .filter_map(|a| match &a.location {
                    Location::Stored(key) => Some(self.media_url(key)),
                    Location::Fixture(_) => None,
                })
                .collect()
        };
        let videos = url(AssetKind::Video);
        let images = url(AssetKind::Image);
        if let Some(video) = videos.into_iter().next() {
            return Ok(Media::Video {
                url: video,
                thumbnail_url: url(AssetKind::Thumbnail).into_iter().next(),
            });
        }
        match images.len() {
            0 => Err("the content has no media to publish".into()),
            1 => Ok(Media::Image {
                url: images.into_iter().next().expect("one image"),
            }),
            _ => Ok(Media::Carousel { urls: images }),
        }
    }

    fn media_url(&self, key: &str) -> String {
        layers_storage::media_url(
            self.media_signer.as_ref(),
            &self.public_base_url,
            key,
            MEDIA_URL_LIFETIME_SECS,
        )
    }

    async fn publish_one(
        &self,
        pool: &layers_db::Pool,
        target: &Target,
        media: &Media,
        caption: Option<&str>,
    ) -> Outcome {
        let (platform, token) = match self
            .vault
            .usable_token(pool, target.social_account_id)
            .await
        {
            Ok(found) => found,
            Err(TokenError::NeedsReauth(why)) => {
                return Outcome::Failed(TargetError::token_expired(why))
            }
            Err(TokenError::Transient(why)) => return Outcome::Retry(why),
            Err(TokenError::Store(e)) => return Outcome::Retry(e.to_string()),
        };
        match self
            .clients()
            .publish(platform, &token, media, caption)
            .await
        {
            Ok(done) => Outcome::Published {
                external_id: done.external_id,
                external_url: done.external_url,
            },
            Err(e) if e.is_transient() => Outcome::Retry(e.to_string()),
            Err(PlatformError::TokenExpired(why)) => {
                let marked = match pool.get().await {
                    Ok(db) => layers_social::mark_needs_reauth(&db, target.social_account_id).await,
                    Err(e) => Err(layers_social::Error::Unavailable(e.to_string())),
                };
                match marked {
                    Ok(_) => Outcome::Failed(TargetError::token_expired(format!(
                        "the {} token has expired or was revoked: connect the account again \
                         ({why})",
                        platform.as_str()
                    ))),
                    Err(e) => Outcome::Retry(e.to_string()),
                }
            }
            Err(PlatformError::Rejected { message, .. }) => {
                Outcome::Failed(TargetError::rejected(message))
            }
            Err(e) => Outcome::Failed(TargetError {
                code: "platform_error",
                message: e.to_string(),
            }),
        }
    }
}

/// Writes one target's outcome and its event in one transaction.
async fn record(
    pool: &layers_db::Pool,
    post: &ScheduledPost,
    target: &Target,
    outcome: Outcome,
) -> Result<(), Failure> {
    let mut db = pool.get().await.map_err(transient)?;
    let tx = db.transaction().await.map_err(transient)?;
    let mut ended = target.clone();
    let failure = match outcome {
        Outcome::Published {
            external_id,
            external_url,
        } => Ok((external_id, external_url)),
        Outcome::Failed(why) => Err(why),
        // an attempt worth repeating that may not be repeated (its job's last) fails the target
        Outcome::Retry(why) => Err(TargetError {
            code: "platform_error",
            message: why,
        }),
    };
    let event = match failure {
        Ok((external_id, external_url)) => {
            ended.posted_at = store::mark_target_published(
                &tx,
                post.id,
                target.index,
                &external_id,
                external_url.as_deref(),
            )
            .await
            .map_err(transient)?;
            ended.status = PostStatus::Published;
            ended.external_id = Some(external_id);
            ended.external_url = external_url;
            EventType::PostPublished
        }
        Err(why) => {
            store::mark_target_failed(&tx, post.id, target.index, &why)
                .await
                .map_err(transient)?;
            ended.status = PostStatus::Failed;
            ended.error = Some(why);
            EventType::PostFailed
        }
    };
    let data = PostEvent::of(post.id, post.container_id, &ended).to_value();
    layers_webhooks::emit(&tx, post.organization_id, post.env, event, data)
        .await
        .map_err(transient)?;
    tx.commit().await.map_err(transient)
}

/// Ends the post once every target has ended: `published` if any target was, and then
/// queues its first metrics sync (one per post, whatever the number of targets: each sync
/// reads every published target). Only the attempt that moves the post out of
/// `publishing` queues it, so an attempt repeated after a lost lease queues no second one.
async fn finish(
    pool: &layers_db::Pool,
    post: &ScheduledPost,
    once_published: Option<fn(&ScheduledPost) -> NewJob>,
) -> Result<PostStatus, Failure> {
    let mut db = pool.get().await.map_err(transient)?;
    let tx = db.transaction().await.map_err(transient)?;
    // a status that reads as none is no reason to try again
    let failure = |e: crate::Error| match e {
        crate::Error::Corrupt(status) => Failure::Permanent(format!("status {status}")),
        e => transient(e),
    };
    let (status, now_ended) = match store::end_post(&tx, post.id).await.map_err(failure)? {
        Some(status) => (status, true),
        // ended by an earlier attempt of this job: as it stands
        None => (
            store::post_status(&tx, post.id).await.map_err(failure)?,
            false,
        ),
    };
    if let Some(once_published) = once_published.filter(|_| now_ended) {
        if status == PostStatus::Published {
            layers_jobs::enqueue(&tx, &once_published(post))
                .await
                .map_err(transient)?;
        }
    }
    tx.commit().await.map_err(transient)?;
    Ok(status)
}
