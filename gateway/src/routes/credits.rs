//! Credits (CONTRACT §11 "Credits"): `GET /v1/credits`, `GET /v1/credits/ledger`,
//! `GET /v1/credits/audit`. The wallet is the organization's: live and test keys read the same
//! balance, ledger and audit (`?sandbox=` narrows the audit).

use actix_web::{web, HttpRequest, HttpResponse};
use layers_credits::{AuditEntry, LedgerEntry};
use layers_jobs::JobId;
use layers_projects::ProjectId;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Authorized, CreditsRead};
use crate::error::{ApiError, Code};
use crate::extract::ListParams;
use crate::wire::{time, List};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct MonthToDate {
    /// Credits charged this UTC month, net of refunds.
    #[schema(example = 12)]
    charged: i64,
    /// Credits the sandbox would have charged this UTC month.
    #[schema(example = 40)]
    skipped: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Credits)]
struct CreditsBody {
    #[schema(example = 988)]
    balance: i64,
    month_to_date: MonthToDate,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = LedgerEntry)]
struct LedgerBody {
    #[schema(example = "0196b1e4-c9a3-7c2d-8e5f-0a1b2c3d4e5f")]
    id: String,
    /// Negative for charges, positive for grants and refunds.
    #[schema(example = -2)]
    amount: i64,
    #[schema(example = "ingest_appstore")]
    reason: String,
    #[schema(required = true, example = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    job_id: Option<String>,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
}

impl From<LedgerEntry> for LedgerBody {
    fn from(e: LedgerEntry) -> Self {
        LedgerBody {
            id: e.id.to_string(),
            amount: e.amount,
            reason: e.reason,
            job_id: e.job_id.map(|j| JobId::from_uuid(j).to_string()),
            created_at: time(e.created_at),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AuditEntry)]
struct AuditBody {
    #[schema(example = "0196b1e4-c9a3-7c2d-8e5f-0a1b2c3d4e5f")]
    id: String,
    #[schema(schema_with = crate::openapi::credit_action)]
    action: String,
    /// Always positive: what was (or, in the sandbox, would have been) charged or given.
    #[schema(example = 2)]
    cost: i64,
    sandbox: bool,
    #[schema(example = "ingest_appstore")]
    operation: String,
    #[schema(required = true, example = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    job_id: Option<String>,
    #[schema(required = true, example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: Option<String>,
    #[schema(required = true, example = "7b1c2f0e-2d0a-4c6b-9a55-5d2f1f3b9e10")]
    api_key_id: Option<String>,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
}

impl From<AuditEntry> for AuditBody {
    fn from(e: AuditEntry) -> Self {
        AuditBody {
            id: e.id.to_string(),
            action: e.action,
            cost: e.cost,
            sandbox: e.sandbox,
            operation: e.operation,
            job_id: e.job_id.map(|j| JobId::from_uuid(j).to_string()),
            project_id: e.project_id.map(|p| ProjectId::from_uuid(p).to_string()),
            api_key_id: e.api_key_id.map(|k| k.to_string()),
            created_at: time(e.created_at),
        }
    }
}

fn uuid_cursor(raw: &str) -> Result<uuid::Uuid, layers_core::IdError> {
    uuid::Uuid::try_parse(raw).map_err(|_| layers_core::IdError { prefix: "" })
}

#[utoipa::path(
    get,
    path = "/v1/credits",
    tag = "Credits",
    operation_id = "getCredits",
    summary = "The wallet",
    description = "The organization's balance (one wallet for both environments) and this UTC \
        month's credits: charged (net of refunds) and skipped (what the sandbox would have cost).",
    responses((status = 200, description = "The wallet", body = CreditsBody)),
)]
async fn summary(
    state: web::Data<AppState>,
    auth: Authorized<CreditsRead>,
) -> Result<HttpResponse, ApiError> {
    let db = state.pool.get().await?;
    let balance = layers_credits::balance(&db, auth.organization_id).await?;
    let mtd = layers_credits::month_to_date(&db, auth.organization_id).await?;
    Ok(HttpResponse::Ok().json(CreditsBody {
        balance,
        month_to_date: MonthToDate {
            charged: mtd.charged,
            skipped: mtd.skipped,
        },
    }))
}

#[utoipa::path(
    get,
    path = "/v1/credits/ledger",
    tag = "Credits",
    operation_id = "listCreditLedger",
    summary = "The wallet's movements",
    description = "Every charge, refund and grant, newest first. The sandbox never writes here.",
    params(crate::openapi::ListQuery),
    responses((status = 200, description = "A page of movements", body = List<LedgerBody>)),
)]
async fn ledger(
    state: web::Data<AppState>,
    auth: Authorized<CreditsRead>,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let cursor = params.cursor(uuid_cursor)?;
    let db = state.pool.get().await?;
    let page = layers_credits::ledger(&db, auth.organization_id, params.limit, cursor).await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, LedgerBody::from)))
}

/// The filter of `GET /v1/credits/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: the handler parses the query itself
pub struct AuditQuery {
    /// `true`: only the sandbox's `credit.skipped` rows; `false`: only real money.
    sandbox: Option<bool>,
}

#[utoipa::path(
    get,
    path = "/v1/credits/audit",
    tag = "Credits",
    operation_id = "listCreditAudit",
    summary = "Every credit decision",
    description = "Charged, refunded, granted and (sandbox) skipped, newest first. Filter on \
        `sandbox=false` for real spend, `sandbox=true` to forecast what the sandbox would cost.",
    params(crate::openapi::ListQuery, AuditQuery),
    responses((status = 200, description = "A page of decisions", body = List<AuditBody>)),
)]
async fn audit(
    state: web::Data<AppState>,
    auth: Authorized<CreditsRead>,
    params: ListParams,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    #[derive(Deserialize)]
    struct Raw {
        sandbox: Option<String>,
    }
    let raw = web::Query::<Raw>::from_query(req.query_string()).map_err(|_| {
        ApiError::new(
            Code::ValidationError,
            "the query string could not be parsed",
        )
    })?;
    let sandbox = match raw.sandbox.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(ApiError::validation(
                "sandbox",
                "sandbox must be true or false",
            ))
        }
    };
    let cursor = params.cursor(uuid_cursor)?;
    let db = state.pool.get().await?;
    let page =
        layers_credits::audit(&db, auth.organization_id, sandbox, params.limit, cursor).await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, AuditBody::from)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_summary, summary)
        .route(__path_ledger, ledger)
        .route(__path_audit, audit);
}
