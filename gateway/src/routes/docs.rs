//! The API's own reference, without a key: `GET /v1/openapi.json` (the OpenAPI 3.1 document
//! of [`crate::openapi`]) and `GET /docs` (that document rendered by Redoc, whose bundle the
//! gateway serves itself, so the page needs no other host).

use std::sync::OnceLock;

use actix_web::http::header::{CacheControl, CacheDirective, ContentType};
use actix_web::{web, HttpResponse};
use serde_json::json;
use utoipa_redoc::Redoc;

use crate::openapi;
use crate::routes::Routes;

/// Where the document is served; registered before the authenticated `/v1` scope.
pub const OPENAPI_JSON: &str = "/v1/openapi.json";

/// Where the Redoc bundle is served; the version in the path lets browsers keep it forever.
pub const REDOC_JS: &str = "/docs/redoc-2.5.4.standalone.js";

/// Redoc 2.5.4's standalone bundle (MIT), vendored: see `gateway/assets/redoc/README.md`.
const REDOC_BUNDLE: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

/// The page, built once: it loads the bundle from [`REDOC_JS`] and the document from
/// [`OPENAPI_JSON`].
fn page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        let template = include_str!("../../assets/docs.html").replace("$redocJs", REDOC_JS);
        // No web fonts: the page must render where only this host is reachable.
        let config = || {
            json!({
                "hideDownloadButton": false,
                "expandResponses": "200,201",
                "jsonSampleExpandLevel": 3,
                "theme": {
                    "typography": {
                        "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                        "headings": { "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
                        "code": { "fontFamily": "ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace" }
                    }
                }
            })
        };
        Redoc::with_config(OPENAPI_JSON, config)
            .custom_html(template)
            .to_html()
    })
}

#[utoipa::path(
    get,
    path = OPENAPI_JSON,
    tag = "Reference",
    operation_id = "getOpenApiDocument",
    summary = "This document",
    description = "The OpenAPI 3.1 document of this API, generated from the code that serves it.",
    responses(
        (status = 200, description = "The document", content_type = "application/json", body = Object),
    ),
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(openapi::json())
}

#[utoipa::path(
    get,
    path = "/docs",
    tag = "Reference",
    operation_id = "getReference",
    summary = "This reference, for people",
    description = "This document rendered as a page by Redoc.",
    responses(
        (status = 200, description = "An HTML page", content_type = "text/html", body = String),
    ),
)]
pub async fn reference() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(page())
}

#[utoipa::path(
    get,
    path = REDOC_JS,
    tag = "Reference",
    operation_id = "getRedocBundle",
    summary = "The Redoc bundle the reference page runs",
    responses(
        (status = 200, description = "JavaScript, cacheable for a year", content_type = "text/javascript", body = String),
    ),
)]
pub async fn redoc_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(365 * 24 * 60 * 60),
            CacheDirective::Extension("immutable".into(), None),
        ]))
        .body(REDOC_BUNDLE)
}

/// What `GET /` answers: where to go next.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Index {
    #[schema(example = "Layers Partner API")]
    name: &'static str,
    /// The reference, for people.
    #[schema(example = "/docs")]
    docs: &'static str,
    /// The OpenAPI document, for tools.
    #[schema(example = "/v1/openapi.json")]
    openapi: &'static str,
}

#[utoipa::path(
    get,
    path = "/",
    tag = "Reference",
    operation_id = "getIndex",
    summary = "Where to start",
    description = "The API's name and where its reference and OpenAPI document are, without a \
        key. Every resource is under `/v1` and needs a key.",
    responses((status = 200, description = "The index", body = Index)),
)]
pub async fn index() -> HttpResponse {
    HttpResponse::Ok().json(Index {
        name: "Layers Partner API",
        docs: "/docs",
        openapi: OPENAPI_JSON,
    })
}

pub fn config(cfg: &mut web::ServiceConfig) {
    Routes::new(cfg, "")
        .route(__path_index, index)
        .route(__path_openapi_json, openapi_json)
        .route(__path_reference, reference)
        .route(__path_redoc_js, redoc_js);
}
