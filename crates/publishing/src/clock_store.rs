//! A test clock's advance over the sandbox posts of its projects (CONTRACT §12): every
//! `scheduled` post due by the clock's new time is published as the sandbox publishes (magic
//! captions included), with `postedAt` = `publishAt`, set-based: one statement per table,
//! then the posts' `publish` jobs ended and the events fired in `publishAt` order.

use chrono::{DateTime, Utc};
use layers_content::ContainerId;
use layers_db::GenericClient;
use layers_jobs::JobId;
use layers_orgs::OrgId;
use layers_social::SocialAccountId;
use layers_webhooks::EventType;
use tokio_postgres::Row;

use crate::{Error, PostEvent, PostStatus, Result, ScheduledPostId, TargetError};

/// `#sandbox_token_expired` in the caption (checked first, as the sandbox does).
const EXPIRED: &str = "strpos(coalesce(t.caption, ''), '#sandbox_token_expired') > 0";
/// `#sandbox_reject` in the caption.
const REJECTED: &str = "strpos(coalesce(t.caption, ''), '#sandbox_reject') > 0";
/// The due sandbox posts of the clock's projects (`$1`) by its new time (`$2`).
const DUE: &str = "p.project_id = ANY($1) AND p.is_sandbox AND p.status = 'scheduled' \
                   AND p.publish_at <= $2";

const EXPIRED_MESSAGE: &str = "the sandbox account's token has expired (#sandbox_token_expired): \
                               connect the account again";
const REJECTED_MESSAGE: &str = "the platform rejected the post (#sandbox_reject)";

/// What an advance published.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ClockPublished {
    /// Posts ended (`published`, or `failed` when every target failed).
    pub posts: u64,
    /// Targets published.
    pub published: u64,
}

/// Publishes every sandbox post of `projects` due by the clock time `until`, in the caller's
/// transaction (see the module's doc); idempotent: a post already ended is not due any more.
pub async fn publish_due_on_clock(
    db: &impl GenericClient,
    org: OrgId,
    projects: &[uuid::Uuid],
    until: DateTime<Utc>,
) -> Result<ClockPublished> {
    let mut targets = layers_db::cached::query(
        db,
        &format!(
            "UPDATE platform_posts t SET \
                 status = CASE WHEN {EXPIRED} OR {REJECTED} THEN 'failed' ELSE 'published' END, \
                 platform_post_id = CASE WHEN {EXPIRED} OR {REJECTED} THEN NULL \
                     ELSE 'sb_post_cnt_' || replace(p.container_id::text, '-', '') || '_' \
                          || t.target_index END, \
                 posted_at = CASE WHEN {EXPIRED} OR {REJECTED} THEN NULL ELSE p.publish_at END, \
                 error = CASE WHEN {EXPIRED} THEN $3 WHEN {REJECTED} THEN $4 END, \
                 error_code = CASE WHEN {EXPIRED} THEN 'token_expired' \
                     WHEN {REJECTED} THEN 'platform_rejected' END \
             FROM scheduled_posts p \
             WHERE t.scheduled_post_id = p.id AND {DUE} AND t.status = 'scheduled' \
             RETURNING p.id, p.container_id, p.publish_at, t.target_index, t.social_account_id, \
                 t.platform, t.status, t.platform_post_id, t.error, t.error_code"
        ),
        &[&projects, &until, &EXPIRED_MESSAGE, &REJECTED_MESSAGE],
    )
    .await?;
    let posts = layers_db::cached::query(
        db,
        &format!(
            "UPDATE scheduled_posts p SET updated_at = now(), status = CASE WHEN EXISTS ( \
                 SELECT 1 FROM platform_posts t \
                 WHERE t.scheduled_post_id = p.id AND t.status = 'published') \
                 THEN 'published' ELSE 'failed' END \
             WHERE {DUE} RETURNING p.id, p.job_id, p.status"
        ),
        &[&projects, &until],
    )
    .await?;
    targets.sort_by_key(|r| {
        let at: DateTime<Utc> = r.get("publish_at");
        let id: uuid::Uuid = r.get("id");
        let index: i32 = r.get("target_index");
        (at, id, index)
    });
    let published = announce(db, org, &targets).await?;
    expire_accounts(db, &targets).await?;
    end_jobs(db, org, &posts).await?;
    Ok(ClockPublished {
        posts: posts.len() as u64,
        published,
    })
}

/// One `post.published` or `post.failed` per target, in `targets`' order.
async fn announce(db: &impl GenericClient, org: OrgId, targets: &[Row]) -> Result<u64> {
    let mut published = Vec::new();
    let mut failed = Vec::new();
    for row in targets {
        // what the clock's advance caused happened at the post's publishAt, in clock time
        let at: DateTime<Utc> = row.get("publish_at");
        let error = row
            .get::<_, Option<String>>("error")
            .map(|m| TargetError::stored(row.get("error_code"), m));
        let event = PostEvent {
            scheduled_post_id: ScheduledPostId::from_uuid(row.get("id")).to_string(),
            container_id: ContainerId::from_uuid(row.get("container_id")).to_string(),
            social_account_id: SocialAccountId::from_uuid(row.get("social_account_id")).to_string(),
            platform: platform_name(row.get("platform")),
            target_index: row.get::<_, i32>("target_index") as u32,
            external_id: row.get("platform_post_id"),
            external_url: None,
            error: error.as_ref(),
        }
        .to_value();
        if row.get::<_, &str>("status") == "published" {
            published.push((event, Some(at)));
        } else {
            failed.push((event, Some(at)));
        }
    }
    let count = published.len() as u64;
    let env = layers_core::EnvKind::from_sandbox(true);
    layers_webhooks::emit_many_at(db, org, env, EventType::PostPublished, published).await?;
    layers_webhooks::emit_many_at(db, org, env, EventType::PostFailed, failed).await?;
    Ok(count)
}

fn platform_name(stored: &str) -> &'static str {
    layers_social::Platform::parse(stored).map_or("instagram", |p| p.as_str())
}

/// The accounts of targets that failed with an expired token turn `needs_reauth`.
async fn expire_accounts(db: &impl GenericClient, targets: &[Row]) -> Result<()> {
    let mut expired: Vec<uuid::Uuid> = targets
        .iter()
        .filter(|r| r.get::<_, Option<&str>>("error_code") == Some("token_expired"))
        .map(|r| r.get("social_account_id"))
        .collect();
    expired.sort();
    expired.dedup();
    for id in expired {
        let account = SocialAccountId::from_uuid(id);
        layers_social::mark_needs_reauth(db, account)
            .await
            .map_err(|e| Error::Corrupt(format!("could not mark {account} needs_reauth: {e}")))?;
    }
    Ok(())
}

/// The posts' `publish` jobs end `succeeded`, as a sandbox publish job would.
async fn end_jobs(db: &impl GenericClient, org: OrgId, posts: &[Row]) -> Result<()> {
    let ids: Vec<JobId> = posts
        .iter()
        .map(|r| JobId::from_uuid(r.get("job_id")))
        .collect();
    let results: Vec<serde_json::Value> = posts
        .iter()
        .map(|r| {
            let id = ScheduledPostId::from_uuid(r.get("id")).to_string();
            let status = PostStatus::parse(r.get("status")).unwrap_or(PostStatus::Failed);
            crate::run::result(id, status)
        })
        .collect();
    layers_jobs::succeed_queued(db, org, &ids, &results).await?;
    Ok(())
}

/// Returns the scheduled sandbox posts of `projects` (a deleted test clock's) to the wall
/// clock: their `publish` jobs, held while the clock decided, run at `publishAt` again (at once
/// when it has passed). Answers how many.
pub async fn release_from_clock(
    db: &impl GenericClient,
    org: OrgId,
    projects: &[uuid::Uuid],
) -> Result<u64> {
    let rows = layers_db::cached::query(
        db,
        "SELECT p.job_id, p.publish_at FROM scheduled_posts p \
         WHERE p.project_id = ANY($1) AND p.is_sandbox AND p.status = 'scheduled'",
        &[&projects],
    )
    .await?;
    let ids: Vec<JobId> = rows.iter().map(|r| JobId::from_uuid(r.get(0))).collect();
    let at: Vec<DateTime<Utc>> = rows.iter().map(|r| r.get(1)).collect();
    Ok(layers_jobs::run_queued_at(db, org, &ids, &at).await?)
}
