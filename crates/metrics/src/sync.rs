//! The live `metrics_sync` job: reads a published post's lifetime totals from each target's
//! platform (insights) and writes today's row of `post_metrics_daily` (what the totals grew by
//! since the days already written), then queues the next sync a day later, for
//! [`SYNC_FOR`] after publishing.

use chrono::{Duration, Utc};
use layers_jobs::{Control, Failure, Job, JobId, NewJob};
use layers_platforms::PlatformError;
use layers_publishing::{ScheduledPost, ScheduledPostId};
use layers_social::{Platform, SocialAccountId, TokenError, Vault};

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
    /// One attempt: every published target of the job's post, one insights call each.
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
            layers_db::cached::query(
                &db,
                "SELECT t.platform, t.platform_post_id, t.social_account_id, t.posted_at \
                 FROM platform_posts t \
                 WHERE t.scheduled_post_id = $1 AND t.status = 'published' \
                   AND NOT t.is_sandbox ORDER BY t.target_index",
                &[&id.as_uuid()],
            )
            .await
            .map_err(transient)?
        };
        let mut synced = 0u32;
        let mut newest_post = None;
        for row in &targets {
            let platform: &str = row.get(0);
            let platform = Platform::parse(platform)
                .ok_or_else(|| Failure::Permanent(format!("unknown platform {platform}")))?;
            let external_id: String = row.get(1);
            let account = SocialAccountId::from_uuid(row.get(2));
            let posted_at: chrono::DateTime<Utc> = row.get(3);
            newest_post = newest_post.max(Some(posted_at));
            let token = match self.vault.usable_token(pool, account).await {
                Ok((_, token)) => token,
                // the account must be connected again: nothing to read until it is
                Err(TokenError::NeedsReauth(_)) => continue,
                Err(TokenError::Transient(why)) => return Err(Failure::Transient(why)),
                Err(TokenError::Store(e)) => return Err(transient(e)),
            };
            control.spending_outside().await?;
            let totals = match self
                .vault
                .clients
                .insights(platform, &token, &external_id)
                .await
            {
                Ok(totals) => totals,
                Err(e) if e.is_transient() => return Err(transient(e)),
                Err(PlatformError::TokenExpired(_)) => {
                    let db = pool.get().await.map_err(transient)?;
                    layers_social::mark_needs_reauth(&db, account)
                        .await
                        .map_err(transient)?;
                    continue;
                }
                Err(e) => {
                    // this post's insights are refused (a private TikTok post has none, a
                    // deleted post is gone): the other targets are still synced, and so is this
                    // one tomorrow
                    tracing::warn!(platform = platform.as_str(), external_id, error = %e,
                        "insights refused; the post keeps the days already synced");
                    continue;
                }
            };
            let db = pool.get().await.map_err(transient)?;
            layers_db::cached::execute(
                &db,
                "INSERT INTO post_metrics_daily (platform, platform_post_id, day, views, reach, \
                     likes, comments, shares, saves, watch_time_ms) \
                 SELECT $1, $2, $3, \
                     greatest(0, $4::bigint - coalesce(sum(views), 0)::bigint), \
                     greatest(0, $5::bigint - coalesce(sum(reach), 0)::bigint), \
                     greatest(0, $6::bigint - coalesce(sum(likes), 0)::bigint), \
                     greatest(0, $7::bigint - coalesce(sum(comments), 0)::bigint), \
                     greatest(0, $8::bigint - coalesce(sum(shares), 0)::bigint), \
                     greatest(0, $9::bigint - coalesce(sum(saves), 0)::bigint), \
                     greatest(0, $10::bigint - coalesce(sum(watch_time_ms), 0)::bigint) \
                 FROM post_metrics_daily \
                 WHERE platform = $1 AND platform_post_id = $2 AND day < $3 \
                 ON CONFLICT (platform, platform_post_id, day) DO UPDATE SET \
                     views = EXCLUDED.views, reach = EXCLUDED.reach, likes = EXCLUDED.likes, \
                     comments = EXCLUDED.comments, shares = EXCLUDED.shares, \
                     saves = EXCLUDED.saves, watch_time_ms = EXCLUDED.watch_time_ms, \
                     synced_at = now()",
                &[
                    &platform.as_str(),
                    &external_id,
                    &Utc::now().date_naive(),
                    &totals.views,
                    &totals.reach,
                    &totals.likes,
                    &totals.comments,
                    &totals.shares,
                    &totals.saves,
                    &totals.watch_time_ms,
                ],
            )
            .await
            .map_err(transient)?;
            synced += 1;
        }
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
}
