//! `/healthz` (the process is up) and `/readyz` (the database answers).

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let ready = async {
        let db = state.pool.get().await.ok()?;
        db.simple_query("SELECT 1").await.ok()
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), ready).await {
        Ok(Some(_)) => Ok(HttpResponse::Ok().json(json!({
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
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)))
        .service(web::resource("/readyz").route(web::get().to(readyz)));
}
