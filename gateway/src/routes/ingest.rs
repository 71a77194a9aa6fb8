//! Ingest (CONTRACT §11 "Ingest"): `POST /v1/projects/:projectId/ingest/{appstore,github,website}`
//! → 202 job. One code path for both environments: validate, check the project, pass the credit
//! gate and queue the job in the request's transaction; the environment's `Ingest` decides what
//! the job does.

use actix_web::{web, HttpResponse};
use futures_util::future::try_join3;
use layers_credits::Charge;
use layers_ingest::{AppstoreTarget, Branch, Repository, Source, WebsiteUrl};
use layers_jobs::{JobId, NewJob};
use layers_projects::ProjectId;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Authorized, IngestWrite};
use crate::env::Env;
use crate::error::ApiError;
use crate::extract::{field, optional_field, path_id, Json};
use crate::tx::Tx;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppstoreBody {
    /// The app's bundle id; give this or `appStoreUrl`.
    #[schema(example = "com.example.app")]
    ios_bundle_id: Option<String>,
    /// The app's App Store page; give this or `iosBundleId`.
    #[schema(example = "https://apps.apple.com/us/app/example/id389801252")]
    app_store_url: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GithubBody {
    #[schema(example = "octocat/hello-world")]
    repository: String,
    /// The branch whose README is read (default: the repository's default branch).
    #[schema(example = "main")]
    branch: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WebsiteBody {
    #[schema(example = "https://example.com")]
    url: String,
}

/// `202 {jobId, status, kind, projectId}`: poll the job for its result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = JobStarted)]
struct Started {
    #[schema(example = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    job_id: String,
    #[schema(schema_with = crate::openapi::job_status)]
    status: &'static str,
    #[schema(example = "ingest_appstore")]
    kind: String,
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: String,
}

/// The shared path of the three routes.
async fn start(
    auth: &Authorized<IngestWrite>,
    env: &Env,
    tx: &Tx,
    project: &str,
    source: Source,
) -> Result<HttpResponse, ApiError> {
    let project_id = path_id(project, "project", ProjectId::parse)?;
    let id = JobId::new();
    let charge = Charge {
        organization_id: auth.organization_id,
        operation: source.operation(),
        units: 1,
        api_key_id: Some(auth.api_key_id),
        project_id: Some(project_id.as_uuid()),
        job_id: Some(id.as_uuid()),
    };
    let new_job = NewJob {
        id,
        organization_id: auth.organization_id,
        project_id: Some(project_id.as_uuid()),
        api_key_id: Some(auth.api_key_id),
        env: auth.env,
        kind: source.kind().to_owned(),
        payload: source.to_payload(),
        credits_charged: env.credits.amount(&charge),
        operation: Some(source.operation().as_str()),
    };
    // The project check, the charge and the job go out in one round trip: whichever refuses
    // first answers (in that order), and a refusal rolls all three back with the transaction.
    let (project, _, job) = try_join3(
        async {
            env.projects
                .require_active(&**tx, auth.organization_id, project_id)
                .await
                .map_err(ApiError::from)
        },
        async {
            env.credits
                .charge(&**tx, &charge)
                .await
                .map_err(ApiError::from)
        },
        async {
            env.jobs
                .start(&**tx, new_job, env.ingest.done(&source))
                .await
                .map_err(ApiError::from)
        },
    )
    .await?;
    Ok(HttpResponse::Accepted().json(Started {
        job_id: job.id.to_string(),
        status: job.status.as_str(),
        kind: job.kind,
        project_id: project.id.to_string(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/ingest/appstore",
    tag = "Ingest",
    operation_id = "ingestAppstore",
    summary = "Read an app's App Store facts",
    description = "Starts a job (kind `ingest_appstore`, 2 credits) that reads the app from the \
        App Store lookup API; its `result` is `{source, facts: {name, description, …}}`. A test \
        key calls nothing and never charges: the job succeeds at once with facts derived from \
        the input.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = AppstoreBody,
    responses(
        (status = 202, description = "The job, queued", body = Started),
        (status = 402, description = "`BILLING_EXHAUSTED`: the balance is below the cost \
            (`details.required`, `details.balance`); nothing was started", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: the project is archived (reason `project_archived`)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the project belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = ["ingest:write"]), ("apiKey" = ["ingest:write"])),
)]
async fn appstore(
    auth: Authorized<IngestWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<AppstoreBody>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let target =
        AppstoreTarget::parse(body.ios_bundle_id.as_deref(), body.app_store_url.as_deref())
            .map_err(|e| {
                let field = if body.app_store_url.is_some() && body.ios_bundle_id.is_none() {
                    "appStoreUrl"
                } else {
                    "iosBundleId"
                };
                ApiError::validation(field, format!("{field} {e}"))
            })?;
    start(&auth, &env, &tx, &path, Source::Appstore(target)).await
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/ingest/github",
    tag = "Ingest",
    operation_id = "ingestGithub",
    summary = "Read a repository's facts from GitHub",
    description = "Starts a job (kind `ingest_github`, 10 credits) that reads the repository and \
        its README from the GitHub REST API. A test key calls nothing and never charges.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = GithubBody,
    responses(
        (status = 202, description = "The job, queued", body = Started),
        (status = 402, description = "`BILLING_EXHAUSTED`: the balance is below the cost; nothing \
            was started", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: the project is archived (reason `project_archived`)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the project belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = ["ingest:write"]), ("apiKey" = ["ingest:write"])),
)]
async fn github(
    auth: Authorized<IngestWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<GithubBody>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let repository = field("repository", &body.repository, Repository::parse)?;
    let branch = optional_field("branch", body.branch.as_deref(), Branch::parse)?;
    start(&auth, &env, &tx, &path, Source::github(repository, branch)).await
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/ingest/website",
    tag = "Ingest",
    operation_id = "ingestWebsite",
    summary = "Read a website's title, description and Open Graph tags",
    description = "Starts a job (kind `ingest_website`, 2 credits) that fetches the page; its \
        facts' `name` is `og:title`, else `<title>`. A URL whose host is a literal private or \
        loopback address is refused at once (400); a host that resolves to one fails the job. A \
        test key fetches nothing and never charges.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = WebsiteBody,
    responses(
        (status = 202, description = "The job, queued", body = Started),
        (status = 402, description = "`BILLING_EXHAUSTED`: the balance is below the cost; nothing \
            was started", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: the project is archived (reason `project_archived`)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the project belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
    security(("bearer" = ["ingest:write"]), ("apiKey" = ["ingest:write"])),
)]
async fn website(
    state: web::Data<AppState>,
    auth: Authorized<IngestWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<WebsiteBody>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let allow = state.settings.allow_private_network;
    let url = field("url", &body.url, |u| WebsiteUrl::parse(u, allow))?;
    start(&auth, &env, &tx, &path, Source::Website(url)).await
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .resource("/projects/{projectId}/ingest/appstore", |r| {
            r.post(appstore)
        })
        .resource("/projects/{projectId}/ingest/github", |r| r.post(github))
        .resource("/projects/{projectId}/ingest/website", |r| r.post(website));
}
