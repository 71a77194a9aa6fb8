//! Uploads (CONTRACT §11 "Uploads"): by URL (`POST …/content/upload` → 201 a completed
//! container), or direct (`POST …/content/uploads` → a session, `PUT` each file to its signed
//! URL, `POST …/content/finalize-upload` → the container). One code path for both environments:
//! the environment's `Intake` fetches, probes, stores and counts live files, and does none of
//! that in the sandbox.

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use layers_content::{
    ContainerId, DeclaredFile, RecordUpload, StartSession, UploadId, UploadSession, UploadTo,
};
use layers_projects::ProjectId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

use crate::app::AppState;
use crate::auth::{Authorized, ContentWrite};
use crate::env::Env;
use crate::error::{quote, ApiError, Code};
use crate::extract::{path_id, Json};
use crate::routes::content::{bounded, ContainerBody};
use crate::routes::media::check_signature;
use crate::tx::{deadlined, too_slow, upload_deadline, Deferred, Reopened, Tx};
use crate::wire::time;

/// How long a direct upload's URLs stay valid.
const SESSION_SECS: i64 = 3600;
const MAX_FILES: usize = 10;
const MAX_URL_LEN: usize = 2048;
const MAX_FILENAME: usize = 255;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UrlUpload {
    /// 1 to 10 `http(s)` URLs: one image (format `image`), 2 to 10 images (`slideshow`) or one
    /// video (`video`). With a test key (CONTRACT §12; with a live key it is fetched like any
    /// other), a URL whose last path segment is `sandbox-reject-<reason>.<ext>` (`reason` one of
    /// `too_large`, `unsupported_type`, `unreadable`, `fetch_failed`) is refused: 422
    /// `MEDIA_REJECTED` with that reason, nothing written.
    #[schema(
        min_items = 1,
        max_items = 10,
        example = json!(["https://example.com/a.jpg", "https://example.com/b.jpg"])
    )]
    urls: Vec<String>,
    #[schema(max_length = 2200)]
    caption: Option<String>,
    #[schema(max_length = 500)]
    hook: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileDeclaration {
    #[schema(example = "clip.mp4")]
    filename: String,
    /// `image/jpeg`, `image/png`, `image/webp`, `video/mp4` or `video/quicktime`.
    #[schema(value_type = crate::openapi::UploadContentType, example = "video/mp4")]
    content_type: String,
    #[schema(example = 10485760)]
    size_bytes: u64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SessionRequest {
    /// 1 to 10 files.
    #[schema(min_items = 1, max_items = 10)]
    files: Vec<FileDeclaration>,
    #[schema(max_length = 2200)]
    caption: Option<String>,
    #[schema(max_length = 500)]
    hook: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct UploadTarget {
    index: u32,
    /// PUT the file's bytes here (signed, valid until `expiresAt`). A test key's URLs are
    /// inert: a PUT is refused and stores nothing.
    upload_url: String,
    #[schema(example = "PUT")]
    method: &'static str,
    /// Send these headers with the PUT.
    #[schema(value_type = HashMap<String, String>, example = json!({"Content-Type": "video/mp4"}))]
    headers: BTreeMap<&'static str, String>,
}

/// A direct-upload session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = UploadSession)]
struct SessionBody {
    #[schema(example = "upl_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(example = "pending")]
    status: &'static str,
    files: Vec<UploadTarget>,
    #[schema(format = DateTime, example = "2026-05-08T13:00:00.000Z")]
    expires_at: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Finalize {
    #[schema(example = "upl_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    upload_id: String,
}

/// What a PUT stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = UploadedFile)]
struct Received {
    index: u32,
    size_bytes: u64,
    content_type: String,
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/content/upload",
    tag = "Content",
    operation_id = "uploadContentFromUrls",
    summary = "Upload content from URLs",
    description = "Makes a completed container (`source: uploaded`) from your files: one image \
        is an `image`, 2 to 10 images a `slideshow`, one video a `video`. A live key's files are \
        fetched (private addresses refused), checked by their bytes (JPEG, PNG, WebP, MP4, \
        QuickTime; at most `LAYERS_UPLOAD_MAX_BYTES`) and stored; a test key's are never fetched \
        and fixture media stands in, with your caption and hook kept.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = UrlUpload,
    responses(
        (status = 201, description = "The container", body = ContainerBody),
        (status = 422, description = "`MEDIA_REJECTED` (reason `too_large`, `unsupported_type`, \
            `unreadable` or `fetch_failed`; `details.index`), or `ENVIRONMENT_MISMATCH`", body = crate::openapi::ErrorEnvelope),
        (status = 429, description = "`QUOTA_EXCEEDED` (reason `upload_quota`): the project's \
            live uploads of the month are used up", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn upload(
    state: web::Data<AppState>,
    auth: Authorized<ContentWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<UrlUpload>,
    later: Deferred,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    if body.urls.is_empty() || body.urls.len() > MAX_FILES {
        return Err(ApiError::validation("urls", "urls must hold 1 to 10 URLs"));
    }
    for url in &body.urls {
        let ok = url.len() <= MAX_URL_LEN
            && layers_outbound::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err(ApiError::validation(
                "urls",
                format!("urls must be http or https URLs, got {}", quote(url)),
            ));
        }
    }
    let caption = bounded("caption", body.caption, 2200)?;
    let hook = bounded("hook", body.hook, 500)?;
    let to = upload_to(&state, &auth, project);
    env.content_env()
        .may_upload(&*later.tx().await?, to)
        .await?;
    // The files are fetched with no connection, transaction or claim held: a slow or hostile
    // host costs this request its time, never another request its database connection.
    later.release();
    let id = ContainerId::new();
    let fetched = env.intake.fetch_all(id, &body.urls).await;
    let stored = fetched
        .as_ref()
        .map(|(_, media)| media.clone())
        .unwrap_or_default();
    let written = async {
        let tx = match later.reopen().await? {
            Reopened::Tx(tx) => tx,
            Reopened::Replay(answer) => return Ok(Err(answer)),
        };
        let (kinds, media) =
            fetched.map_err(|(i, refused)| ApiError::media_rejected("urls", i, refused))?;
        let command = RecordUpload {
            to,
            id,
            kinds,
            media,
            caption,
            hook,
        };
        let created = env
            .content_env()
            .record_upload(&*tx, command)
            .await
            .map_err(|e| match e {
                layers_content::Error::MixedUpload => ApiError::validation("urls", e.to_string()),
                e => e.into(),
            })?;
        Ok::<_, ApiError>(Ok(created))
    }
    .await;
    match written {
        Ok(Ok(created)) => Ok(HttpResponse::Created().json(ContainerBody::new(&state, created))),
        Ok(Err(replayed)) => {
            env.intake.discard(&stored).await;
            Ok(replayed)
        }
        Err(e) => {
            env.intake.discard(&stored).await;
            Err(e)
        }
    }
}

/// Where the key's upload goes, with the project's monthly quota.
fn upload_to(state: &AppState, auth: &Authorized<ContentWrite>, project: ProjectId) -> UploadTo {
    UploadTo {
        organization_id: auth.organization_id,
        project_id: project,
        quota: state.settings.upload_quota_per_project,
    }
}

/// The files a session declares, checked (1 to 10, each named and not empty).
fn declared_files(declared: Vec<FileDeclaration>) -> Result<Vec<DeclaredFile>, ApiError> {
    if declared.is_empty() || declared.len() > MAX_FILES {
        return Err(ApiError::validation(
            "files",
            "files must hold 1 to 10 files",
        ));
    }
    let mut files = Vec::with_capacity(declared.len());
    for (i, f) in declared.into_iter().enumerate() {
        if f.filename.is_empty() || f.filename.chars().count() > MAX_FILENAME {
            return Err(ApiError::validation(
                "files",
                format!("files[{i}].filename must be 1 to 255 characters"),
            ));
        }
        if f.size_bytes == 0 {
            return Err(ApiError::validation(
                "files",
                format!("files[{i}].sizeBytes must be at least 1"),
            ));
        }
        files.push(DeclaredFile {
            index: i as u32,
            filename: f.filename,
            content_type: f.content_type.trim().to_ascii_lowercase(),
            size_bytes: f.size_bytes,
            storage_key: None,
            width: None,
            height: None,
        });
    }
    Ok(files)
}

/// Where each file of `session` is PUT: live URLs are signed; the sandbox's carry no
/// signature, so every PUT is refused.
fn upload_targets(state: &AppState, env: &Env, session: &UploadSession) -> Vec<UploadTarget> {
    let base = &state.settings.public_base_url;
    session
        .files
        .iter()
        .map(|f| {
            let path = format!("/uploads/{}/{}", session.id, f.index);
            let query = match (&state.media.signer, env.intake.live()) {
                (Some(signer), Some(_)) => format!(
                    "?{}",
                    signer.sign("PUT", &path, session.expires_at.timestamp())
                ),
                _ => String::new(),
            };
            UploadTarget {
                index: f.index,
                upload_url: format!("{base}{path}{query}"),
                method: "PUT",
                headers: BTreeMap::from([("Content-Type", f.content_type.clone())]),
            }
        })
        .collect()
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/content/uploads",
    tag = "Content",
    operation_id = "createUploadSession",
    summary = "Start a direct upload",
    description = "Declares up to 10 files and answers a signed `PUT` URL for each, valid for an \
        hour; then `POST …/content/finalize-upload`. A live key's declared types and sizes are \
        checked here and the bytes at each PUT; a test key's URLs are inert.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = SessionRequest,
    responses(
        (status = 201, description = "The session", body = SessionBody),
        (status = 422, description = "`MEDIA_REJECTED` (a declared type or size; \
            `details.index`), or `ENVIRONMENT_MISMATCH`", body = crate::openapi::ErrorEnvelope),
        (status = 429, description = "`QUOTA_EXCEEDED` (reason `upload_quota`)", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn start_session(
    state: web::Data<AppState>,
    auth: Authorized<ContentWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<SessionRequest>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    let files = declared_files(body.files)?;
    let command = StartSession {
        to: upload_to(&state, &auth, project),
        files,
        caption: bounded("caption", body.caption, 2200)?,
        hook: bounded("hook", body.hook, 500)?,
        expires_at: Utc::now() + chrono::Duration::seconds(SESSION_SECS),
    };
    let session = env.content_env().start_session(&*tx, command).await?;
    let targets = upload_targets(&state, &env, &session);
    Ok(HttpResponse::Created().json(SessionBody {
        id: session.id.to_string(),
        status: "pending",
        files: targets,
        expires_at: time(session.expires_at),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/content/finalize-upload",
    tag = "Content",
    operation_id = "finalizeUpload",
    summary = "Finish a direct upload",
    description = "Makes the session's completed container: 201 the first time, 200 with the \
        same container after. A live session whose files were not all PUT answers 409 \
        `upload_incomplete` (`details.missing` lists them).",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = Finalize,
    responses(
        (status = 201, description = "The container, made now", body = ContainerBody),
        (status = 200, description = "The container made before", body = ContainerBody),
        (status = 409, description = "`CONFLICT`: reason `upload_incomplete` or `upload_expired`", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn finalize(
    state: web::Data<AppState>,
    auth: Authorized<ContentWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<Finalize>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    let upload = UploadId::parse(&body.upload_id)
        .map_err(|_| ApiError::validation("uploadId", "uploadId must be an upload id (upl_…)"))?;
    let to = upload_to(&state, &auth, project);
    let finalized = env.content_env().finalize_upload(&*tx, to, upload).await;
    let (container, created) = finalized.map_err(|e| match e {
        layers_content::Error::UploadNotFound | layers_content::Error::UploadOfAnotherProject => {
            ApiError::new(Code::NotFound, "no such upload in this project")
                .with_details(json!({ "field": "uploadId" }))
        }
        layers_content::Error::UploadIncomplete(missing) => ApiError::conflict(
            "upload_incomplete",
            format!("files {missing:?} have not been uploaded yet: PUT them first"),
        )
        .with_details(json!({ "missing": missing })),
        layers_content::Error::UploadExpired => {
            ApiError::conflict("upload_expired", "the upload has expired; start a new one")
        }
        layers_content::Error::EnvironmentMismatch(other) => {
            ApiError::environment_mismatch("upload", other)
        }
        e => e.into(),
    })?;
    let mut res = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res.json(ContainerBody::new(&state, container)))
}

/// The PUT's `Content-Type` and `Content-Length` must be those the file was declared with.
fn check_headers(req: &HttpRequest, file: &DeclaredFile) -> Result<(), ApiError> {
    let declared_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase());
    if declared_type.as_deref() != Some(file.content_type.as_str()) {
        return Err(ApiError::new(
            Code::MediaRejected,
            format!(
                "send the file with Content-Type: {} as declared",
                file.content_type
            ),
        )
        .with_reason("unsupported_type"));
    }
    if let Some(length) = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if length != file.size_bytes {
            return Err(ApiError::new(
                Code::MediaRejected,
                format!(
                    "the file is {length} bytes; {} were declared",
                    file.size_bytes
                ),
            )
            .with_reason("unreadable"));
        }
    }
    Ok(())
}

/// Streams the body of file `index` of `upload` into storage, checked (its type, its size, its
/// deadlines); no connection is held meanwhile.
async fn receive(
    state: &AppState,
    intake: &layers_content::MediaIntake,
    (upload, index): (UploadId, u32),
    file: &DeclaredFile,
    payload: web::Payload,
) -> Result<layers_content::NewAsset, ApiError> {
    let settings = &state.settings;
    let (body, timed_out) = deadlined(
        payload,
        settings.body_idle_timeout,
        upload_deadline(file.size_bytes, settings.body_timeout),
    );
    intake
        .store_checked(
            &format!("uploads/{upload}/{index}"),
            body,
            Some(&file.content_type),
            Some(file.size_bytes),
        )
        .await
        .map_err(|refused| {
            if timed_out.happened() {
                too_slow()
            } else {
                ApiError::media_rejected("body", index as usize, refused)
            }
        })
}

#[utoipa::path(
    put,
    path = "/uploads/{uploadId}/{index}",
    tag = "Content",
    operation_id = "putUploadFile",
    summary = "Upload one file's bytes",
    description = "The signed URL a session answered, with its `Content-Type`. The bytes must \
        be the declared size and type (checked by their content); then the file counts as \
        uploaded. No API key: the signature is the credential. A test key's URLs are inert.",
    params(
        ("uploadId" = String, Path, description = "The session's id", example = "upl_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        ("index" = u32, Path, description = "The file's index", example = 0),
        crate::routes::media::Signed,
    ),
    responses(
        (status = 200, description = "Stored", body = Received),
        (status = 403, description = "`FORBIDDEN`: the signature is wrong or expired", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: the session was finalized (reason \
            `already_finalized`) or belongs to a test key (reason `sandbox_upload`)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`MEDIA_REJECTED`: the bytes are not the declared size or \
            type", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn put_file(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (upload, index) = path.into_inner();
    let upload = UploadId::parse(&upload).map_err(|_| ApiError::not_found("upload"))?;
    let index: u32 = index
        .parse()
        .map_err(|_| ApiError::not_found("upload file"))?;
    // No connection is held while the bytes arrive: the session is read on one, the file
    // recorded on another once it is stored, and the body has its deadlines.
    let session = {
        let db = state.pool.get().await?;
        layers_content::upload_session(&db, upload)
            .await
            .map_err(|_| ApiError::not_found("upload"))?
    };
    let services = state.environments.get(session.env);
    let Some(intake) = services.intake.live() else {
        return Err(ApiError::conflict(
            "sandbox_upload",
            "this upload belongs to a test key: its URLs are inert and nothing is stored; \
             finalize it to get fixture media",
        ));
    };
    check_signature(
        &state,
        &req,
        "PUT",
        &format!("/uploads/{upload}/{index}"),
        "upload URL",
    )?;
    if session.container_id.is_some() {
        return Err(ApiError::conflict(
            "already_finalized",
            "this upload was finalized; start a new one",
        ));
    }
    let file = session
        .files
        .iter()
        .find(|f| f.index == index)
        .ok_or_else(|| ApiError::not_found("upload file"))?;
    check_headers(&req, file)?;
    let stored = receive(&state, intake, (upload, index), file, payload).await?;
    let layers_content::Location::Stored(key) = &stored.location else {
        return Err(ApiError::internal("a live upload was not stored"));
    };
    let db = state.pool.get().await?;
    let recorded =
        layers_content::record_file(&db, upload, index, key, stored.width, stored.height).await?;
    if !recorded {
        let _ = intake.storage.delete(key).await;
        return Err(ApiError::conflict(
            "already_finalized",
            "this upload was finalized while the file arrived; start a new one",
        ));
    }
    Ok(HttpResponse::Ok().json(Received {
        index,
        size_bytes: file.size_bytes,
        content_type: stored.content_type,
    }))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_upload, upload)
        .route(__path_start_session, start_session)
        .route(__path_finalize, finalize);
}

/// `PUT /uploads/{uploadId}/{index}`, mounted outside `/v1` (no key).
pub fn put_config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, "").route(__path_put_file, put_file);
}
