//! Publishing (CONTRACT §11 "Publishing"): publish or schedule a container to one to ten
//! connected accounts, read and list scheduled posts, cancel one before it publishes.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use layers_content::ContainerId;
use layers_jobs::JobId;
use layers_projects::ProjectId;
use layers_publishing::{NewPost, NewTarget, ScheduledPost, ScheduledPostId, Target};
use layers_social::SocialAccountId;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Authorized, PublishingRead, PublishingWrite};
use crate::env::Env;
use crate::error::ApiError;
use crate::extract::{path_id, Json, ListParams};
use crate::tx::Tx;
use crate::wire::{time, List};

/// The longest caption (Instagram's limit, the tightest of the three).
const MAX_CAPTION: usize = 2200;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TargetRequest {
    /// A connected account of the content's project.
    #[schema(example = "sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    social_account_id: String,
    /// This target's caption (else the content's own). With a test key, two magic values
    /// rehearse failures (ordinary text with a live key): a caption containing
    /// `#sandbox_reject` fails this target as a platform refusal (`error.code`
    /// `platform_rejected`, `post.failed`); one containing `#sandbox_token_expired` fails it with
    /// `token_expired` and marks its account `needs_reauth` (`social_account.needs_reauth`).
    #[schema(example = "Three ways to plan your week")]
    caption: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PublishRequest {
    /// One to ten accounts.
    #[schema(min_items = 1, max_items = 10)]
    targets: Vec<TargetRequest>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ScheduleRequest {
    /// One to ten accounts.
    #[schema(min_items = 1, max_items = 10)]
    targets: Vec<TargetRequest>,
    /// When to publish: in the future, within 90 days.
    #[schema(format = DateTime, example = "2099-05-09T15:00:00.000Z")]
    publish_at: String,
}

/// The answer of publish and schedule: the job and the post.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PublishStarted)]
struct Started {
    #[schema(example = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    job_id: String,
    #[schema(schema_with = crate::openapi::job_status)]
    status: &'static str,
    #[schema(example = "publish")]
    kind: String,
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: String,
    #[schema(example = "sp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    scheduled_post_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PostTarget)]
struct TargetBody {
    index: u32,
    #[schema(example = "sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    social_account_id: String,
    #[schema(example = "instagram")]
    platform: &'static str,
    /// `scheduled`, `publishing`, `published`, `failed` or `canceled`.
    #[schema(example = "published")]
    status: &'static str,
    /// The platform's id of the post (`sb_post_<containerId>_<index>` in the sandbox).
    #[schema(
        required = true,
        example = "sb_post_cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f_0"
    )]
    external_id: Option<String>,
    #[schema(required = true)]
    external_url: Option<String>,
    #[schema(required = true, format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    posted_at: Option<String>,
    /// Why it failed: `code` (`platform_rejected`, `token_expired`, `media_unusable`,
    /// `platform_error`, a set that may grow) and the platform's words.
    #[schema(required = true)]
    error: Option<TargetErrorBody>,
}

/// Why a target failed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TargetError)]
struct TargetErrorBody {
    #[schema(example = "platform_rejected")]
    code: &'static str,
    #[schema(example = "The media could not be fetched from the URL")]
    message: String,
}

impl From<Target> for TargetBody {
    fn from(t: Target) -> Self {
        TargetBody {
            index: t.index,
            social_account_id: t.social_account_id.to_string(),
            platform: t.platform.as_str(),
            status: t.status.as_str(),
            external_id: t.external_id,
            external_url: t.external_url,
            posted_at: t.posted_at.map(time),
            error: t.error.map(|e| TargetErrorBody {
                code: e.code,
                message: e.message,
            }),
        }
    }
}

/// A scheduled post, the same shape in both environments.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ScheduledPost)]
struct PostBody {
    #[schema(example = "sp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: String,
    #[schema(example = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    container_id: String,
    /// `scheduled`, `publishing`, `published`, `failed` or `canceled`.
    #[schema(example = "published")]
    status: &'static str,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    publish_at: String,
    targets: Vec<TargetBody>,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
}

impl From<ScheduledPost> for PostBody {
    fn from(p: ScheduledPost) -> Self {
        PostBody {
            id: p.id.to_string(),
            project_id: ProjectId::from_uuid(p.project_id).to_string(),
            container_id: p.container_id.to_string(),
            status: p.status.as_str(),
            publish_at: time(p.publish_at),
            targets: p.targets.into_iter().map(TargetBody::from).collect(),
            created_at: time(p.created_at),
        }
    }
}

/// The targets of a request, checked: 1 to 10, each a well-formed account id named once, with
/// a caption of at most 2200 characters.
fn targets_of(raw: Vec<TargetRequest>) -> Result<Vec<NewTarget>, ApiError> {
    if raw.is_empty() || raw.len() > layers_publishing::MAX_TARGETS {
        return Err(ApiError::validation(
            "targets",
            format!(
                "targets must hold 1 to {} accounts, got {}",
                layers_publishing::MAX_TARGETS,
                raw.len()
            ),
        ));
    }
    let mut targets: Vec<NewTarget> = Vec::with_capacity(raw.len());
    for (i, t) in raw.into_iter().enumerate() {
        let field = format!("targets[{i}].socialAccountId");
        let id = SocialAccountId::parse(&t.social_account_id).map_err(|_| {
            ApiError::validation(
                &field,
                format!("{field} must be a social account id (sa_…)"),
            )
        })?;
        if targets.iter().any(|seen| seen.social_account_id == id) {
            return Err(ApiError::validation(
                &field,
                format!("{field} names an account already targeted: one target per account"),
            ));
        }
        if let Some(caption) = &t.caption {
            if caption.chars().count() > MAX_CAPTION {
                let field = format!("targets[{i}].caption");
                return Err(ApiError::validation(
                    &field,
                    format!("{field} is longer than {MAX_CAPTION} characters"),
                ));
            }
        }
        targets.push(NewTarget {
            social_account_id: id,
            caption: t.caption,
        });
    }
    Ok(targets)
}

/// `publishAt` as RFC 3339 (whether it is ahead of the project's now is the command's check).
fn publish_at_of(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::validation(
                "publishAt",
                "publishAt must be an RFC 3339 time, like 2026-05-09T15:00:00.000Z",
            )
        })
}

/// The shared path of publish and schedule.
async fn start(
    auth: &Authorized<PublishingWrite>,
    env: &Env,
    tx: &Tx,
    container: &str,
    targets: Vec<TargetRequest>,
    publish_at: Option<DateTime<Utc>>,
) -> Result<HttpResponse, ApiError> {
    let container = path_id(container, "content", ContainerId::parse)?;
    let targets = targets_of(targets)?;
    let new = NewPost {
        id: ScheduledPostId::new(),
        organization_id: auth.organization_id,
        api_key_id: Some(auth.api_key_id),
        container_id: container,
        targets,
        publish_at,
        job_id: JobId::new(),
    };
    let (post, job) = env.publishing.create(&**tx, &new, &env.publisher).await?;
    Ok(HttpResponse::Accepted().json(Started {
        job_id: job.id.to_string(),
        status: job.status.as_str(),
        kind: job.kind,
        project_id: ProjectId::from_uuid(post.project_id).to_string(),
        scheduled_post_id: post.id.to_string(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/content/{containerId}/publish",
    tag = "Publishing",
    operation_id = "publishContent",
    summary = "Publish content now",
    description = "Starts a job (kind `publish`) that posts the content to each target's \
        account. A test key publishes at once: every target is `published` with the externalId \
        `sb_post_<containerId>_<index>` and `post.published` fires per target before the \
        answer; no platform is called. A live key's job calls Instagram, TikTok or YouTube.",
    params(("containerId" = String, Path, description = "The content's id", example = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = PublishRequest,
    responses(
        (status = 202, description = "The job and the scheduled post", body = Started),
        (status = 404, description = "`NOT_FOUND`: the content, or an account (`details.field` \
            `targets[i].socialAccountId`)", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: the content is not completed (reason \
            `content_not_ready`), already has a live post (`already_published`), or an account \
            is not active (`account_not_active`)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the content or an account \
            belongs to the other environment", body = crate::openapi::ErrorEnvelope),
        (status = 503, description = "`PLATFORM_NOT_CONFIGURED`: live, a target's platform \
            app is not set", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn publish(
    auth: Authorized<PublishingWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<PublishRequest>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    start(&auth, &env, &tx, &path, body.targets, None).await
}

#[utoipa::path(
    post,
    path = "/v1/content/{containerId}/schedule",
    tag = "Publishing",
    operation_id = "scheduleContent",
    summary = "Schedule content",
    description = "Like publish, at `publishAt` (in the future, within 90 days): the post stays \
        `scheduled` and its job `queued` until then, and canceling before then publishes \
        nothing. At `publishAt` a live key's job calls the platforms; a test key's job publishes \
        every target with `sb_post_…` ids (`postedAt` the time it ran) and calls nothing. For \
        a project on a test clock, `publishAt` is checked against the clock's time and the post \
        publishes when an advance of the clock passes it, with `postedAt` = `publishAt`.",
    params(("containerId" = String, Path, description = "The content's id", example = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = ScheduleRequest,
    responses(
        (status = 202, description = "The job and the scheduled post", body = Started),
        (status = 404, description = "`NOT_FOUND`: the content, or an account", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: `content_not_ready`, `already_published` or \
            `account_not_active`", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn schedule(
    auth: Authorized<PublishingWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<ScheduleRequest>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let at = publish_at_of(&body.publish_at)?;
    start(&auth, &env, &tx, &path, body.targets, Some(at)).await
}

#[utoipa::path(
    get,
    path = "/v1/scheduled-posts/{scheduledPostId}",
    tag = "Publishing",
    operation_id = "getScheduledPost",
    summary = "Get a scheduled post",
    params(("scheduledPostId" = String, Path, description = "The post's id", example = "sp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "The post and its targets", body = PostBody),
        (status = 404, description = "`NOT_FOUND` (the message says when it exists in the other \
            environment)", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn get(
    state: web::Data<AppState>,
    auth: Authorized<PublishingRead>,
    env: Env,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "scheduled post", ScheduledPostId::parse)?;
    let db = state.pool.get().await?;
    let post = env.publishing.get(&db, auth.organization_id, id).await?;
    Ok(HttpResponse::Ok().json(PostBody::from(post)))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/scheduled-posts",
    tag = "Publishing",
    operation_id = "listScheduledPosts",
    summary = "List a project's scheduled posts",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        crate::openapi::ListQuery,
    ),
    responses((status = 200, description = "A page of posts, newest first", body = List<PostBody>)),
)]
async fn list(
    state: web::Data<AppState>,
    auth: Authorized<PublishingRead>,
    env: Env,
    path: web::Path<String>,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    let cursor = params.cursor(ScheduledPostId::parse)?;
    let db = state.pool.get().await?;
    env.projects.get(&db, auth.organization_id, project).await?;
    let page = env
        .publishing
        .list(
            &db,
            auth.organization_id,
            project.as_uuid(),
            params.limit,
            cursor,
        )
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, PostBody::from)))
}

#[utoipa::path(
    post,
    path = "/v1/scheduled-posts/{scheduledPostId}/cancel",
    tag = "Publishing",
    operation_id = "cancelScheduledPost",
    summary = "Cancel a scheduled post",
    description = "Cancels a post that is still `scheduled`, and its job: no platform is \
        called. Once it is publishing or done: 409 `already_terminal`.",
    params(("scheduledPostId" = String, Path, description = "The post's id", example = "sp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "The post, canceled", body = PostBody),
        (status = 409, description = "`CONFLICT` reason `already_terminal`", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn cancel(
    auth: Authorized<PublishingWrite>,
    env: Env,
    path: web::Path<String>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "scheduled post", ScheduledPostId::parse)?;
    let post = env
        .publishing
        .cancel(&*tx, auth.organization_id, id)
        .await?;
    Ok(HttpResponse::Ok().json(PostBody::from(post)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_publish, publish)
        .route(__path_schedule, schedule)
        .route(__path_get, get)
        .route(__path_cancel, cancel)
        .route(__path_list, list);
}
