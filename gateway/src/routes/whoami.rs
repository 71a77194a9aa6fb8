//! `GET /v1/whoami`: who the key belongs to. The same shape for live and test keys, with no
//! environment field.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::auth::{AnyScope, Authorized};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WhoAmI {
    organization_id: String,
    api_key_id: String,
    scopes: Vec<String>,
    rate_limit_tier: &'static str,
    /// The organization's monthly API-call ceiling (`null`: none).
    monthly_quota: Option<i64>,
    /// Calls counted this UTC month, this one included.
    monthly_usage: i64,
}

async fn whoami(auth: Authorized<AnyScope>) -> HttpResponse {
    HttpResponse::Ok().json(WhoAmI {
        organization_id: auth.organization_id.to_string(),
        api_key_id: auth.api_key_id.to_string(),
        scopes: auth.scopes.to_strings(),
        rate_limit_tier: auth.tier.as_str(),
        monthly_quota: auth.monthly_quota,
        monthly_usage: auth.monthly_usage,
    })
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/whoami").route(web::get().to(whoami)));
}
