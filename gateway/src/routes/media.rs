//! Live media (CONTRACT §11 "Uploads"): `GET /media/{key}?exp=…&sig=…`, without a key. The
//! gateway hands out these URLs signed (HMAC under a key derived from `LAYERS_MASTER_KEY`) and
//! expiring; a wrong or expired signature answers 403 with the error envelope.

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::TryStreamExt as _;
use serde::Deserialize;

use crate::app::AppState;
use crate::error::{ApiError, Code};
use crate::ranged::{Answer, Entity};

/// How long a media URL the API hands out stays valid.
pub const URL_LIFETIME_SECS: i64 = 3600;

/// The signer and the storage behind `/media/…`.
pub struct Media {
    pub storage: layers_storage::Storage,
    /// `None` without `LAYERS_MASTER_KEY`: no media URL can be signed, and none is served.
    pub signer: Option<layers_storage::UrlSigner>,
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("storage", &self.storage)
            .field("signer", &self.signer.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Media {
    /// The signed URL of a stored object, valid for [`URL_LIFETIME_SECS`].
    pub fn url(&self, public_base_url: &str, key: &str) -> String {
        layers_storage::media_url(
            self.signer.as_ref(),
            public_base_url,
            key,
            URL_LIFETIME_SECS,
        )
    }
}

/// Checks the `exp` and `sig` of a signed URL the API handed out for `method path`: 403
/// `FORBIDDEN` (saying why) unless it is right and unexpired. `what` names the URL in messages.
pub fn check_signature(
    state: &AppState,
    req: &HttpRequest,
    method: &str,
    path: &str,
    what: &str,
) -> Result<(), ApiError> {
    let query = web::Query::<Signed>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or(Signed {
            exp: None,
            sig: None,
        });
    let forbidden = |why: &str| ApiError::new(Code::Forbidden, format!("this {what} {why}"));
    let signer = state
        .media
        .signer
        .as_ref()
        .ok_or_else(|| forbidden("cannot be checked: the server has no LAYERS_MASTER_KEY"))?;
    let (Some(exp), Some(sig)) = (query.exp, query.sig) else {
        return Err(forbidden("is not signed: use the URL the API handed out"));
    };
    signer
        .verify(method, path, &exp, &sig, chrono::Utc::now().timestamp())
        .map_err(|e| match e {
            layers_storage::SignatureError::Expired => {
                forbidden("has expired: ask the API for a fresh one")
            }
            _ => forbidden("has a wrong signature"),
        })
}

/// The content type a stored object is served with, by its extension.
fn content_type(key: &str) -> &'static str {
    match key.rsplit('.').next() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("mp4") => "video/mp4",
        Some("mov") => "video/quicktime",
        _ => "application/octet-stream",
    }
}

/// The query of a signed URL.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Signed {
    /// When the URL stops working, in Unix seconds.
    exp: Option<String>,
    /// The URL's signature.
    sig: Option<String>,
}

#[utoipa::path(
    get,
    path = "/media/{key}",
    tag = "Content",
    operation_id = "getMedia",
    summary = "Live media",
    description = "A stored media file, at the signed, expiring URL the API handed out in a \
        container's `assets` and `preview`. No API key: the signature is the credential. `HEAD` \
        answers the same headers; one `Range: bytes=…` is answered 206 with `Content-Range` \
        (players stream video this way), `If-None-Match` with the `ETag` 304.",
    params(("key" = String, Path, description = "The object's key", example = "content/cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f/0-image.jpg"), Signed),
    responses(
        (status = 200, description = "The file", content_type = "image/jpeg"),
        (status = 206, description = "The bytes of the `Range` asked for, with `Content-Range`", content_type = "video/mp4"),
        (status = 304, description = "Not modified: the `If-None-Match` tag is current"),
        (status = 416, description = "`RANGE_NOT_SATISFIABLE`: the range starts past the end \
            (`Content-Range: bytes */<size>`)", body = crate::openapi::ErrorEnvelope),
        (status = 403, description = "`FORBIDDEN`: the signature is wrong or expired", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such file", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn media(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = path.into_inner();
    // a HEAD is a read of the same URL: the GET's signature covers it
    check_signature(&state, &req, "GET", &format!("/media/{key}"), "media URL")?;
    let missing = |e: layers_storage::Error| match e {
        layers_storage::Error::NotFound | layers_storage::Error::InvalidKey(_) => {
            ApiError::not_found("media")
        }
        e => ApiError::internal(e),
    };
    let info = state
        .media
        .storage
        .info(&key)
        .await
        .map_err(missing)?
        .ok_or_else(|| ApiError::not_found("media"))?;
    let entity = Entity {
        size: info.size,
        etag: info.etag,
        content_type: content_type(&key),
        cache_control: "private, max-age=3600",
    };
    let answer = entity.answer(&req);
    let mut res = entity.respond(&answer)?;
    let body = match answer {
        Answer::Whole => state.media.storage.get(&key).await.map_err(missing)?.0,
        Answer::Part(range) => state
            .media
            .storage
            .get_range(&key, range)
            .await
            .map_err(missing)?,
        Answer::NotModified | Answer::Unsatisfiable => return Ok(res.finish()),
    };
    Ok(res.streaming(body.map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))))
}

/// `GET` and `HEAD /media/{key:.*}`, mounted outside `/v1` (no key).
pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, "")
        .route_at("/media/{key:.*}", __path_media, media)
        .head_too("/media/{key:.*}", media);
}
