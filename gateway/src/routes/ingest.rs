//! Ingest (CONTRACT §11 "Ingest"): `POST /v1/projects/:projectId/ingest/{appstore,github,website}`
//! → 202 job. The handlers parse the request into the domain's `StartIngest` command, which
//! checks the project, passes the credit gate and starts the job in the request's transaction.

use actix_web::{web, HttpResponse};
use layers_ingest::{AppstoreTarget, Branch, Repository, Source, StartIngest, WebsiteUrl};
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
    /// The app's bundle id; give this or `appStoreUrl`. With a test key (CONTRACT §12; with a
    /// live key they are ordinary ids): `com.sandbox.slow` keeps the job `running` for 30 s,
    /// then it succeeds (a cancel meanwhile → 202, it ends `canceled`); `com.sandbox.notfound`
    /// fails it in the request (`error.code` `not_found`, `job.failed`).
    #[schema(example = "com.example.app")]
    ios_bundle_id: Option<String>,
    /// The app's App Store page; give this or `iosBundleId`.
    #[schema(example = "https://apps.apple.com/us/app/example/id389801252")]
    app_store_url: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GithubBody {
    /// `owner/name`. With a test key (CONTRACT §12; with a live key they are ordinary names):
    /// `sandbox/slow` keeps the job `running` for 30 s, then it succeeds (a cancel meanwhile →
    /// 202, it ends `canceled`); `sandbox/notfound` fails it in the request (`error.code`
    /// `not_found`, `job.failed`).
    #[schema(example = "octocat/hello-world")]
    repository: String,
    /// The branch whose README is read (default: the repository's default branch).
    #[schema(example = "main")]
    branch: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WebsiteBody {
    /// The app's website. With a test key (CONTRACT §12; with a live key they are ordinary
    /// hosts): host `slow.sandbox.invalid` keeps the job `running` for 30 s, then it succeeds (a
    /// cancel meanwhile → 202, it ends `canceled`); host `notfound.sandbox.invalid` fails it in
    /// the request (`error.code` `not_found`, `job.failed`).
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
/// The shared path of the three ingest routes: the parsed source into the domain's command.
async fn start(
    auth: &Authorized<IngestWrite>,
    env: &Env,
    tx: &Tx,
    project: &str,
    source: Source,
) -> Result<HttpResponse, ApiError> {
    let project_id = path_id(project, "project", ProjectId::parse)?;
    let command = StartIngest {
        organization_id: auth.organization_id,
        api_key_id: auth.api_key_id,
        project_id,
        source,
    };
    let job = env.ingest_env().start(&**tx, command).await?;
    Ok(HttpResponse::Accepted().json(Started {
        job_id: job.id.to_string(),
        status: job.status.as_str(),
        kind: job.kind,
        project_id: project_id.to_string(),
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
        .route(__path_appstore, appstore)
        .route(__path_github, github)
        .route(__path_website, website);
}
