//! The live `metrics_sync` job: reads a published post's lifetime totals from each target's
//! platform (insights) and writes today's row of `post_metrics_daily` (what the totals grew by
//! since the days already written), then queues the next sync a day later, for
//! [`SYNC_FOR`] after publishing.

use chrono::{Duration, Utc};
use layers_jobs::{Control, Failure, Job, JobId, NewJob};
use layers_platforms::PlatformError;
use layers_publishing::{PublishedPost, ScheduledPost, ScheduledPostId};
use layers_social::{TokenError, Vault};

use crate::store;

/// How often a post's metrics are synced.
pub const SYNC_EVERY: Duration = Duration::hours(24);

/// How long after publishing a post's metrics keep being synced.
pub const SYNC_FOR: Duration = Duration::days(90);

/// Runs `metrics_sync` jobs (live only: sandbox posts are synthesized on read).
#[derive(Debug, Clone)]
pub struct Sync {
    pub vault: Vault,
}

fn transient(e: impl std::fmt::Display) -> Failure {
    Failure::Transient(e.to_string())
}

/// The job kind that syncs a live post's metrics from the platforms' insights.
pub const SYNC: &str = "metrics_sync";

/// The payload of a [`SYNC`] job: the post whose metrics it reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPost {
    pub scheduled_post: String,
}

impl layers_jobs::Payload for SyncPost {
    fn kind(&self) -> &'static str {
        SYNC
    }
}

/// The first sync of a post just published, started by publishing in the transaction that
/// records it (`LivePublisher::once_published`).
pub fn first_sync(post: &ScheduledPost) -> NewJob {
    let task = SyncPost {
        scheduled_post: post.id.to_string(),
    };
    NewJob {
        project_id: Some(post.project_id),
        ..NewJob::new(JobId::new(), post.organization_id, post.env, &task)
    }
}

impl Sync {
    /// One attempt: every published target of the job's post, one insights call each, then the
    /// next sync a day later while the post is younger than [`SYNC_FOR`].
    pub async fn run(
        &self,
        job: &Job,
        task: &SyncPost,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        let id = ScheduledPostId::parse(&task.scheduled_post).map_err(|_| {
            Failure::Permanent(format!("no scheduled post {}", task.scheduled_post))
        })?;
        let pool = control.pool();
        let targets = {
            let db = pool.get().await.map_err(transient)?;
            layers_publishing::published_targets(&db, job.env, id)
                .await
                .map_err(|e| match e {
                    // a target that reads as no platform is no reason to try again
                    layers_publishing::Error::Corrupt(platform) => {
                        Failure::Permanent(format!("unknown platform {platform}"))
                    }
                    e => transient(e),
                })?
        };
        let mut synced = 0u32;
        for target in &targets {
            if self.sync_target(pool, control, target).await? {
                synced += 1;
            }
        }
        let newest_post = targets.iter().map(|t| t.posted_at).max();
        if newest_post.is_some_and(|at| Utc::now() - at < SYNC_FOR) {
            let next = NewJob {
                project_id: job.project_id,
                ..NewJob::new(JobId::new(), job.organization_id, job.env, task)
            };
            let db = pool.get().await.map_err(transient)?;
            layers_jobs::enqueue_at(&db, &next, Some(Utc::now() + SYNC_EVERY))
                .await
                .map_err(transient)?;
        }
        Ok(serde_json::json!({ "synced": synced }))
    }

    /// Reads one target's lifetime totals from its platform and writes today's row; `false`
    /// when there is nothing to read: its account must be connected again (marked
    /// `needs_reauth` if the platform says its token expired), or the platform refuses this
    /// post's insights (the post keeps the days already synced, and is tried again tomorrow).
    async fn sync_target(
        &self,
        pool: &layers_db::Pool,
        control: &Control,
        target: &PublishedPost,
    ) -> Result<bool, Failure> {
        let (platform, account) = (target.platform, target.social_account_id);
        let external_id = target.external_id.as_str();
        let token = match self.vault.usable_token(pool, account).await {
            Ok((_, token)) => token,
            // the account must be connected again: nothing to read until it is
            Err(TokenError::NeedsReauth(_)) => return Ok(false),
            Err(TokenError::Transient(why)) => return Err(Failure::Transient(why)),
            Err(TokenError::Store(e)) => return Err(transient(e)),
        };
        control.spending_outside().await?;
        let totals = match self
            .vault
            .clients
            .insights(platform, &token, external_id)
            .await
        {
            Ok(totals) => totals,
            Err(e) if e.is_transient() => return Err(transient(e)),
            Err(PlatformError::TokenExpired(_)) => {
                let db = pool.get().await.map_err(transient)?;
                layers_social::mark_needs_reauth(&db, account)
                    .await
                    .map_err(transient)?;
                return Ok(false);
            }
            Err(e) => {
                // this post's insights are refused (a private TikTok post has none, a deleted
                // post is gone): the other targets are still synced, and so is this one
                // tomorrow
                tracing::warn!(platform = platform.as_str(), external_id, error = %e,
                    "insights refused; the post keeps the days already synced");
                return Ok(false);
            }
        };
        let db = pool.get().await.map_err(transient)?;
        store::record_day(&db, platform, external_id, Utc::now().date_naive(), &totals)
            .await
            .map_err(transient)?;
        Ok(true)
    }
}
