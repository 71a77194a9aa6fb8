//! Jobs (CONTRACT §7): `GET /v1/jobs/:jobId`, `GET /v1/jobs`, `POST /v1/jobs/:jobId/cancel`.

use actix_web::{web, HttpRequest, HttpResponse};
use layers_jobs::{Canceled, Filter, JobId, JobObject, JobStatus};
use layers_projects::ProjectId;
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::{Authorized, JobsRead, JobsWrite};
use crate::env::Env;
use crate::error::{ApiError, Code};
use crate::extract::{path_id, ListParams};
use crate::tx::Tx;
use crate::wire::List;

fn job_id(raw: &str) -> Result<JobId, ApiError> {
    path_id(raw, "job", JobId::parse)
}

#[utoipa::path(
    get,
    path = "/v1/jobs/{jobId}",
    tag = "Jobs",
    operation_id = "getJob",
    summary = "Get a job",
    params(("jobId" = String, Path, description = "The job's id", example = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses((status = 200, description = "The job", body = JobObject)),
)]
async fn get(
    state: web::Data<AppState>,
    auth: Authorized<JobsRead>,
    env: Env,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&path)?;
    let db = state.pool.get().await?;
    let job = env.jobs.get(&db, auth.organization_id, id).await?;
    Ok(HttpResponse::Ok().json(JobObject::from(&job)))
}

/// The filters of `GET /v1/jobs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: `filter` parses the query itself
pub struct JobQuery {
    /// Only jobs of this project.
    project_id: Option<String>,
    /// Only jobs in this status: `queued`, `running`, `succeeded`, `failed` or `canceled`.
    #[param(schema_with = crate::openapi::job_status)]
    status: Option<String>,
    /// Only jobs of this kind (`ingest_appstore`, …).
    kind: Option<String>,
}

fn filter(req: &HttpRequest) -> Result<Filter, ApiError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Raw {
        project_id: Option<String>,
        status: Option<String>,
        kind: Option<String>,
    }
    let raw = web::Query::<Raw>::from_query(req.query_string())
        .map_err(|_| {
            ApiError::new(
                Code::ValidationError,
                "the query string could not be parsed",
            )
        })?
        .into_inner();
    Ok(Filter {
        project_id: raw
            .project_id
            .map(|p| {
                ProjectId::parse(&p).map(|p| p.as_uuid()).map_err(|_| {
                    ApiError::validation("projectId", "projectId must be a project id (proj_…)")
                })
            })
            .transpose()?,
        status: raw
            .status
            .map(|s| {
                JobStatus::parse(&s).ok_or_else(|| {
                    ApiError::validation(
                        "status",
                        "status must be queued, running, succeeded, failed or canceled",
                    )
                })
            })
            .transpose()?,
        kind: raw
            .kind
            .map(|k| {
                // PostgreSQL cannot compare text holding NUL: a 400, not its error
                if k.contains('\0') {
                    return Err(ApiError::validation(
                        "kind",
                        "kind: must not contain the NUL character",
                    ));
                }
                Ok(crate::error::quote(&k))
            })
            .transpose()?,
    })
}

#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "Jobs",
    operation_id = "listJobs",
    summary = "List jobs",
    description = "The organization's jobs in the key's environment, newest first.",
    params(crate::openapi::ListQuery, JobQuery),
    responses((status = 200, description = "A page of jobs", body = List<JobObject>)),
)]
async fn list(
    state: web::Data<AppState>,
    auth: Authorized<JobsRead>,
    env: Env,
    params: ListParams,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let cursor = params.cursor(JobId::parse)?;
    let filter = filter(&req)?;
    let db = state.pool.get().await?;
    let page = env
        .jobs
        .list(&db, auth.organization_id, &filter, params.limit, cursor)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, |j| JobObject::from(&j))))
}

#[utoipa::path(
    post,
    path = "/v1/jobs/{jobId}/cancel",
    tag = "Jobs",
    operation_id = "cancelJob",
    summary = "Cancel a job",
    description = "A queued job is canceled at once (200) and its credits are refunded. A running \
        job is asked to stop (202): it ends `canceled` at its next safe point, refunded unless it \
        already called out. A finished job cannot be canceled (409 `already_terminal`).",
    params(("jobId" = String, Path, description = "The job's id", example = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "The job, now `canceled`", body = JobObject),
        (status = 202, description = "The job, still `running`; cancellation requested", body = JobObject),
        (status = 409, description = "`CONFLICT`: the job has already finished (reason \
            `already_terminal`)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the job belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn cancel(
    auth: Authorized<JobsWrite>,
    env: Env,
    path: web::Path<String>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&path)?;
    let (job, how) = env.jobs.cancel(&*tx, auth.organization_id, id).await?;
    let mut res = match how {
        Canceled::Now => HttpResponse::Ok(),
        Canceled::Requested => HttpResponse::Accepted(),
    };
    Ok(res.json(JobObject::from(&job)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_list, list)
        .route(__path_get, get)
        .route(__path_cancel, cancel);
}
