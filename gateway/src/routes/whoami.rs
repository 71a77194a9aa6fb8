//! `GET /v1/whoami`: who the key belongs to. The same shape for live and test keys, with no
//! environment field.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::auth::{AnyScope, Authorized};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct WhoAmI {
    #[schema(example = "org_0196b1e4b2a37c2d8e5f0a1b2c3d4e5f")]
    organization_id: String,
    /// The key's id (a UUID); the key itself is never shown again after minting.
    #[schema(format = "uuid", example = "0196b1e4-b2a3-7c2d-8e5f-0a1b2c3d4e5f")]
    api_key_id: String,
    /// `*` or `<area>:read` / `<area>:write` scopes.
    #[schema(example = json!(["projects:write", "content:read"]))]
    scopes: Vec<String>,
    #[schema(schema_with = crate::openapi::rate_limit_tier)]
    rate_limit_tier: &'static str,
    /// The organization's monthly API-call ceiling (`null`: none).
    #[schema(required = true, example = 100000)]
    monthly_quota: Option<i64>,
    /// Calls counted this UTC month, this one included.
    monthly_usage: i64,
}

#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "Account",
    operation_id = "whoami",
    summary = "The key's organization, scopes and limits",
    description = "The same shape for live and test keys.",
    responses(
        (status = 200, description = "Who the key belongs to", body = WhoAmI),
    ),
)]
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
    super::Routes::new(cfg, super::V1).route(__path_whoami, whoami);
}
