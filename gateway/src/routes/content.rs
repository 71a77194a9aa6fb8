//! Content (CONTRACT §11 "Content"): generation (`POST /v1/projects/:projectId/content` and
//! `…/content/:format`) → 202 job with its containers, regeneration, reads; and the sandbox
//! fixture files at `GET /sandbox/…`, without a key. One code path for both environments: the
//! environment's `Content` decides whether containers complete at once (fixtures) or wait for
//! the generator.

use actix_web::{web, HttpResponse};
use layers_content::{
    preview, Asset, AssetId, Container, ContainerId, Format, Location, Regenerate, StartGeneration,
};
use layers_projects::{InfluencerId, ProjectId};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Authorized, ContentRead, ContentWrite};
use crate::env::Env;
use crate::error::{quote, ApiError};
use crate::extract::{path_id, Json, ListParams};
use crate::ranged::{Answer, Entity};
use crate::tx::Tx;
use crate::wire::{time, List};

/// The longest hook and caption kept.
const MAX_HOOK: usize = 500;
const MAX_CAPTION: usize = 2200;

/// What to generate: the format and the options of `POST …/content/{format}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GenerateBody {
    /// `slideshow`, `video-remix`, `ugc-creative` or `image`.
    #[schema(value_type = crate::openapi::ContentFormat, example = "slideshow")]
    format: String,
    /// How many variants, 1 to 3 (1 when absent); each is a container and is charged.
    #[schema(minimum = 1, maximum = 3)]
    variant_count: Option<i64>,
    /// Kept on `metadata.partner.hook`; it steers live generation, not the sandbox's fixtures.
    /// With a test key, magic values choose an unhappy path (CONTRACT §12; with a live key they
    /// are ordinary text): a hook containing `sandbox:fail` fails the job in the request
    /// (`error.code` `generation_failed`, its containers `failed`, `content.failed` each,
    /// `job.failed`); one containing `sandbox:slow` keeps the job `running` for 30 s, then
    /// completes it (a cancel meanwhile → 202, it ends `canceled`).
    #[schema(max_length = 500, example = "3 habits that doubled my focus")]
    hook: Option<String>,
    #[schema(max_length = 2200, example = "Try these this week #focus")]
    caption: Option<String>,
    #[schema(example = "inf_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    influencer_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GenerateOptions {
    /// How many variants, 1 to 3 (1 when absent); each is a container and is charged.
    #[schema(minimum = 1, maximum = 3)]
    variant_count: Option<i64>,
    /// Kept on `metadata.partner.hook`; it steers live generation, not the sandbox's fixtures.
    /// With a test key, magic values choose an unhappy path (CONTRACT §12; with a live key they
    /// are ordinary text): a hook containing `sandbox:fail` fails the job in the request
    /// (`error.code` `generation_failed`, its containers `failed`, `content.failed` each,
    /// `job.failed`); one containing `sandbox:slow` keeps the job `running` for 30 s, then
    /// completes it (a cancel meanwhile → 202, it ends `canceled`).
    #[schema(max_length = 500, example = "3 habits that doubled my focus")]
    hook: Option<String>,
    #[schema(max_length = 2200, example = "Try these this week #focus")]
    caption: Option<String>,
    /// One of the project's influencers.
    #[schema(example = "inf_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    influencer_id: Option<String>,
}

/// One media file of a container.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ContentAsset)]
struct AssetBody {
    #[schema(example = "asset_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    /// `image`, `video` or `thumbnail`.
    #[schema(example = "image")]
    kind: &'static str,
    #[schema(example = "https://media.layers.com/sandbox/slideshow/sample-2/slide-1.jpg")]
    url: String,
    #[schema(example = "image/jpeg")]
    content_type: String,
    #[schema(required = true, example = 1080)]
    width: Option<u32>,
    #[schema(required = true, example = 1920)]
    height: Option<u32>,
}

/// What a renderer shows, the same shape in both environments.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ContentPreview)]
struct PreviewBody {
    primary_url: String,
    thumbnail_url: String,
    image_urls: Vec<String>,
    #[schema(required = true)]
    video_url: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct PartnerMetadata {
    #[schema(required = true)]
    hook: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Metadata {
    partner: PartnerMetadata,
}

/// A content container: one variant of generated content, or an upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ContentContainer)]
pub(crate) struct ContainerBody {
    #[schema(example = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: String,
    /// `slideshow`, `video-remix`, `ugc-creative`, `image` or `video` (uploads).
    #[schema(example = "slideshow")]
    format: &'static str,
    /// `generated` or `uploaded`.
    #[schema(example = "generated")]
    source: &'static str,
    /// `queued`, `generating`, `completed` or `failed`.
    #[schema(example = "completed")]
    status: &'static str,
    variant_index: u32,
    #[schema(required = true)]
    hook: Option<String>,
    #[schema(required = true)]
    caption: Option<String>,
    /// `null` until the container has media.
    #[schema(required = true)]
    preview: Option<PreviewBody>,
    assets: Vec<AssetBody>,
    metadata: Metadata,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    updated_at: String,
}

/// The URL of an asset: a sandbox fixture under `LAYERS_MEDIA_BASE_URL`, or live media served
/// by the gateway.
fn asset_url(state: &AppState, asset: &Asset) -> String {
    match &asset.location {
        Location::Fixture(path) => layers_content::url(&state.settings.media_base_url, path),
        Location::Stored(key) => state.media.url(&state.settings.public_base_url, key),
    }
}

impl ContainerBody {
    pub(crate) fn new(state: &AppState, c: Container) -> ContainerBody {
        let urls: Vec<String> = c.assets.iter().map(|a| asset_url(state, a)).collect();
        let preview = preview(&c.assets, &urls).map(|p| PreviewBody {
            primary_url: p.primary_url,
            thumbnail_url: p.thumbnail_url,
            image_urls: p.image_urls,
            video_url: p.video_url,
        });
        ContainerBody {
            id: c.id.to_string(),
            project_id: ProjectId::from_uuid(c.project_id).to_string(),
            format: c.format.as_str(),
            source: c.source.as_str(),
            status: c.status.as_str(),
            variant_index: c.variant_index,
            metadata: Metadata {
                partner: PartnerMetadata {
                    hook: c.hook.clone(),
                },
            },
            hook: c.hook,
            caption: c.caption,
            preview,
            assets: c
                .assets
                .into_iter()
                .zip(urls)
                .map(|(a, url)| AssetBody {
                    id: a.id.to_string(),
                    kind: a.kind.as_str(),
                    url,
                    content_type: a.content_type,
                    width: a.width,
                    height: a.height,
                })
                .collect(),
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
        }
    }
}

/// `202 {jobId, status, kind, projectId, containers}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ContentStarted)]
struct Started {
    #[schema(example = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    job_id: String,
    #[schema(schema_with = crate::openapi::job_status)]
    status: &'static str,
    #[schema(example = "content_generate")]
    kind: String,
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: String,
    /// One per variant: `completed` already for test keys, `queued` for live ones.
    containers: Vec<ContainerBody>,
}

/// `202 {jobId, status, kind, projectId, container}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ContentRegenerating)]
struct Regenerating {
    #[schema(example = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    job_id: String,
    #[schema(schema_with = crate::openapi::job_status)]
    status: &'static str,
    #[schema(example = "content_regenerate")]
    kind: String,
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: String,
    container: ContainerBody,
}

fn format_of(raw: &str) -> Result<Format, ApiError> {
    Format::parse(raw).ok_or_else(|| {
        ApiError::validation(
            "format",
            format!(
                "format must be slideshow, video-remix, ugc-creative or image, got {}",
                quote(raw)
            ),
        )
    })
}

/// `value` if it has at most `max` characters, else 400 naming `name`.
pub(crate) fn bounded(
    name: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() > max => Err(ApiError::validation(
            name,
            format!("{name} must be at most {max} characters"),
        )),
        other => Ok(other),
    }
}

/// The shared path of both generation routes: the request parsed into the domain's command.
async fn generate(
    state: &AppState,
    auth: &Authorized<ContentWrite>,
    env: &Env,
    tx: &Tx,
    project: &str,
    format: Format,
    options: GenerateOptions,
) -> Result<HttpResponse, ApiError> {
    let variants = match options.variant_count {
        None => 1,
        Some(n @ 1..=3) => n as u32,
        Some(_) => {
            return Err(ApiError::validation(
                "variantCount",
                "variantCount must be 1, 2 or 3",
            ))
        }
    };
    let influencer = options
        .influencer_id
        .as_deref()
        .map(|i| {
            InfluencerId::parse(i).map_err(|_| {
                ApiError::validation(
                    "influencerId",
                    "influencerId must be an influencer id (inf_…)",
                )
            })
        })
        .transpose()?;
    let command = StartGeneration {
        organization_id: auth.organization_id,
        api_key_id: auth.api_key_id,
        project_id: path_id(project, "project", ProjectId::parse)?,
        format,
        variants,
        hook: bounded("hook", options.hook, MAX_HOOK)?,
        caption: bounded("caption", options.caption, MAX_CAPTION)?,
        influencer_id: influencer.map(|i| i.as_uuid()),
    };
    let started = env.content_env().start_generation(&**tx, command).await?;
    Ok(HttpResponse::Accepted().json(Started {
        job_id: started.job.id.to_string(),
        status: started.job.status.as_str(),
        kind: started.job.kind,
        project_id: started.project_id.to_string(),
        containers: started
            .containers
            .into_iter()
            .map(|c| ContainerBody::new(state, c))
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/content",
    tag = "Content",
    operation_id = "generateContent",
    summary = "Generate content",
    description = "Starts a job (kind `content_generate`) that makes `variantCount` containers \
        of `format`, charged per variant (image 1, slideshow 3, video-remix 5, ugc-creative 8 \
        credits). A test key charges nothing and answers with the containers already \
        `completed`, backed by fixture media; a live key's containers are `queued` until the \
        generator has made them.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = GenerateBody,
    responses(
        (status = 202, description = "The job and its containers", body = Started),
        (status = 402, description = "`BILLING_EXHAUSTED`: the balance is below the cost; \
            nothing was started", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: the project, or the influencer \
            (`details.field` `influencerId`)", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: the project is archived (reason `project_archived`)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the project belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn create(
    state: web::Data<AppState>,
    auth: Authorized<ContentWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<GenerateBody>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let format = format_of(&body.format)?;
    let options = GenerateOptions {
        variant_count: body.variant_count,
        hook: body.hook,
        caption: body.caption,
        influencer_id: body.influencer_id,
    };
    generate(&state, &auth, &env, &tx, &path, format, options).await
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/content/{format}",
    tag = "Content",
    operation_id = "generateContentOfFormat",
    summary = "Generate content of a format",
    description = "As `POST /v1/projects/{projectId}/content`, with the format in the path.",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        ("format" = crate::openapi::ContentFormat, Path, description = "`slideshow`, `video-remix`, `ugc-creative` or `image`", example = "slideshow"),
    ),
    request_body = GenerateOptions,
    responses(
        (status = 202, description = "The job and its containers", body = Started),
        (status = 402, description = "`BILLING_EXHAUSTED`: the balance is below the cost; \
            nothing was started", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the project belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn create_of_format(
    state: web::Data<AppState>,
    auth: Authorized<ContentWrite>,
    env: Env,
    path: web::Path<(String, String)>,
    Json(body): Json<GenerateOptions>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let (project, format) = path.into_inner();
    let format = Format::parse(&format).ok_or_else(|| ApiError::not_found("content format"))?;
    generate(&state, &auth, &env, &tx, &project, format, body).await
}

fn container_id(raw: &str) -> Result<ContainerId, ApiError> {
    path_id(raw, "content", ContainerId::parse)
}

#[utoipa::path(
    get,
    path = "/v1/content/{contentId}",
    tag = "Content",
    operation_id = "getContent",
    summary = "Get a container",
    params(("contentId" = String, Path, description = "The container's id", example = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses((status = 200, description = "The container", body = ContainerBody)),
)]
async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ContentRead>,
    env: Env,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = container_id(&path)?;
    let db = state.pool.get().await?;
    let container = env.content.get(&db, auth.organization_id, id).await?;
    Ok(HttpResponse::Ok().json(ContainerBody::new(&state, container)))
}

#[utoipa::path(
    get,
    path = "/v1/content/{contentId}/assets/{assetId}",
    tag = "Content",
    operation_id = "getContentAsset",
    summary = "Get one asset of a container",
    params(
        ("contentId" = String, Path, description = "The container's id", example = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        ("assetId" = String, Path, description = "The asset's id", example = "asset_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
    ),
    responses((status = 200, description = "The asset", body = AssetBody)),
)]
async fn asset(
    state: web::Data<AppState>,
    auth: Authorized<ContentRead>,
    env: Env,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (container, asset) = path.into_inner();
    let id = container_id(&container)?;
    let asset = path_id(&asset, "asset", AssetId::parse)?;
    let db = state.pool.get().await?;
    let (_, found) = env
        .content
        .asset(&db, auth.organization_id, id, asset)
        .await?;
    let url = asset_url(&state, &found);
    Ok(HttpResponse::Ok().json(AssetBody {
        id: found.id.to_string(),
        kind: found.kind.as_str(),
        url,
        content_type: found.content_type,
        width: found.width,
        height: found.height,
    }))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/content",
    tag = "Content",
    operation_id = "listContent",
    summary = "List a project's content",
    description = "The project's containers, newest first.",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        crate::openapi::ListQuery,
    ),
    responses((status = 200, description = "A page of containers", body = List<ContainerBody>)),
)]
async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ContentRead>,
    env: Env,
    path: web::Path<String>,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let project_id = path_id(&path, "project", ProjectId::parse)?;
    let cursor = params.cursor(ContainerId::parse)?;
    let db = state.pool.get().await?;
    // the project must be readable in this environment (404 otherwise, or "exists in …")
    env.projects
        .get(&db, auth.organization_id, project_id)
        .await?;
    let page = env
        .content
        .list(
            &db,
            auth.organization_id,
            project_id.as_uuid(),
            params.limit,
            cursor,
        )
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, |c| ContainerBody::new(&state, c))))
}

#[utoipa::path(
    post,
    path = "/v1/content/{contentId}/regenerate",
    tag = "Content",
    operation_id = "regenerateContent",
    summary = "Regenerate a container",
    description = "Starts a job (kind `content_regenerate`) that makes the container's media \
        again, charged as one variant of its format. A test key's container is `completed` \
        again at once with the next fixture sample.",
    params(("contentId" = String, Path, description = "The container's id", example = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 202, description = "The job and the container", body = Regenerating),
        (status = 409, description = "`CONFLICT`: the container is still being generated \
            (reason `content_not_ready`) or was uploaded (reason `uploaded_content`)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the container belongs to the \
            other environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn regenerate(
    state: web::Data<AppState>,
    auth: Authorized<ContentWrite>,
    env: Env,
    path: web::Path<String>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let command = Regenerate {
        organization_id: auth.organization_id,
        api_key_id: auth.api_key_id,
        container_id: container_id(&path)?,
    };
    let (job, container) = env.content_env().regenerate(&*tx, command).await?;
    Ok(HttpResponse::Accepted().json(Regenerating {
        job_id: job.id.to_string(),
        status: job.status.as_str(),
        kind: job.kind,
        project_id: ProjectId::from_uuid(container.project_id).to_string(),
        container: ContainerBody::new(&state, container),
    }))
}

#[utoipa::path(
    get,
    path = "/sandbox/{path}",
    tag = "Content",
    operation_id = "getSandboxFixture",
    summary = "A sandbox fixture file",
    description = "The media behind sandbox content URLs, served without a key at exactly the \
        layout of `LAYERS_MEDIA_BASE_URL/sandbox/…` (`slideshow/sample-1/slide-1.jpg`, \
        `video-remix/sample-2/video.mp4`, `image/sample-3.jpg`, …). Every file is 1080×1920. \
        `HEAD` answers the same headers; one `Range: bytes=…` is answered 206 with \
        `Content-Range`, `If-None-Match` with the `ETag` 304; files are cached for a year.",
    params(("path" = String, Path, description = "The file's path", example = "slideshow/sample-1/slide-1.jpg"),),
    responses(
        (status = 200, description = "The file", content_type = "image/jpeg"),
        (status = 206, description = "The bytes of the `Range` asked for, with `Content-Range`", content_type = "video/mp4"),
        (status = 304, description = "Not modified: the `If-None-Match` tag is current"),
        (status = 404, description = "`NOT_FOUND`: no such fixture", body = crate::openapi::ErrorEnvelope),
        (status = 416, description = "`RANGE_NOT_SATISFIABLE`: the range starts past the end", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn sandbox_fixture(
    req: actix_web::HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (bytes, content_type) =
        layers_content::file(&path).ok_or_else(|| ApiError::not_found("sandbox fixture"))?;
    let entity = Entity {
        size: bytes.len() as u64,
        etag: fixture_tag(&path, bytes),
        content_type,
        // compiled in: a file never changes under its URL
        cache_control: "public, max-age=31536000, immutable",
    };
    let answer = entity.answer(&req);
    let mut res = entity.respond(&answer)?;
    Ok(match answer {
        Answer::Whole => res.body(bytes),
        Answer::Part(r) => res.body(&bytes[r.start as usize..r.end as usize]),
        Answer::NotModified | Answer::Unsatisfiable => res.finish(),
    })
}

/// A fixture's entity tag: its bytes' SHA-256, computed once per file.
fn fixture_tag(path: &str, bytes: &[u8]) -> String {
    static TAGS: std::sync::OnceLock<
        parking_lot::Mutex<std::collections::HashMap<String, String>>,
    > = std::sync::OnceLock::new();
    let tags = TAGS.get_or_init(Default::default);
    if let Some(tag) = tags.lock().get(path) {
        return tag.clone();
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let tag: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    tags.lock().insert(path.to_owned(), tag.clone());
    tag
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_list, list)
        .route(__path_create, create)
        .route(__path_create_of_format, create_of_format)
        .route(__path_get, get)
        .route(__path_asset, asset)
        .route(__path_regenerate, regenerate);
}

/// `GET /sandbox/{path:.*}`, mounted outside `/v1` (no key).
pub fn fixtures_config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, "")
        .route_at(
            "/sandbox/{path:.*}",
            __path_sandbox_fixture,
            sandbox_fixture,
        )
        .head_too("/sandbox/{path:.*}", sandbox_fixture);
}
