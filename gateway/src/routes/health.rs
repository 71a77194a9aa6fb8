//! `/healthz` (the process is up) and `/readyz` (the database answers).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Operations",
    operation_id = "healthz",
    summary = "Liveness",
    description = "Answers as long as the process serves requests; touches nothing else.",
    responses(
        (status = 200, description = "The process is up", body = Object, example = json!({"status": "ok"})),
    ),
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Operations",
    operation_id = "readyz",
    summary = "Readiness",
    description = "Answers 200 when the database answers within 2 seconds. `keyCache` is \
        `bypassed` while the key-revocation listener reconnects: still correct, only slower.",
    responses(
        (status = 200, description = "Ready to serve", body = Object,
            example = json!({"status": "ready", "keyCache": "listening"})),
        (status = 503, description = "The database is unreachable; this body is not an error \
            envelope", body = Object,
            example = json!({"status": "unavailable", "reason": "database unreachable"})),
    ),
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let ready = layers_db::ping(&state.pool);
    match tokio::time::timeout(std::time::Duration::from_secs(2), ready).await {
        Ok(Ok(())) => Ok(HttpResponse::Ok().json(json!({
            "status": "ready",
            // "bypassed" while the invalidation listener reconnects: still correct, just slower
            "keyCache": if state.keys.is_listening() { "listening" } else { "bypassed" },
        }))),
        _ => Ok(HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "reason": "database unreachable",
        }))),
    }
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, "")
        .route(__path_healthz, healthz)
        .route(__path_readyz, readyz);
}
