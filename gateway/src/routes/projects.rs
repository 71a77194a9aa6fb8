//! Projects: `POST/GET /v1/projects`, `GET/PATCH /v1/projects/:id`,
//! `POST /v1/projects/:id/archive`.

use actix_web::{web, HttpResponse};
use layers_projects::{
    Created, CustomerExternalId, LanguageTag, Name, NewProject, Project, ProjectId, ProjectPatch,
    TestClockId, Timezone,
};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Authorized, ProjectsRead, ProjectsWrite};
use crate::env::Env;
use crate::error::ApiError;
use crate::extract::{field, optional_field, path_id, Json, ListParams};
use crate::tx::Tx;
use crate::wire::{time, List};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateProject {
    #[schema(min_length = 1, max_length = 200, example = "Acme Fitness")]
    name: String,
    /// Your own id for this customer, unique per organization and environment.
    #[schema(min_length = 1, max_length = 255, example = "cust_8812")]
    customer_external_id: Option<String>,
    /// An IANA time zone name; `UTC` when absent.
    #[schema(example = "Europe/Paris")]
    timezone: Option<String>,
    /// A registered BCP-47 language tag, stored in canonical case (`pt-br` becomes `pt-BR`);
    /// `en` when absent.
    #[schema(example = "pt-BR")]
    primary_language: Option<String>,
    /// Test keys only: one of the organization's test clocks; the project lives on it (its
    /// scheduled posts, metrics "today", slow jobs and token expiry follow the clock). A live
    /// key sending it is 400.
    #[schema(example = "clock_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    test_clock_id: Option<String>,
}

/// The fields to change; absent (or `null`) fields keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateProject {
    #[schema(min_length = 1, max_length = 200, example = "Acme Fitness EU")]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 255, example = "cust_8812")]
    customer_external_id: Option<String>,
    /// An IANA time zone name.
    #[schema(example = "Europe/Paris")]
    timezone: Option<String>,
    /// A registered BCP-47 language tag.
    #[schema(example = "fr")]
    primary_language: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Project)]
pub struct ProjectBody {
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(example = "Acme Fitness")]
    name: String,
    #[schema(required = true, example = "cust_8812")]
    customer_external_id: Option<String>,
    #[schema(example = "Europe/Paris")]
    timezone: String,
    #[schema(example = "pt-BR")]
    primary_language: String,
    #[schema(schema_with = crate::openapi::project_status)]
    status: &'static str,
    /// The test clock the (sandbox) project lives on; `null`: the wall clock.
    #[schema(required = true, example = json!(null))]
    test_clock_id: Option<String>,
    #[schema(required = true, format = DateTime, example = json!(null))]
    archived_at: Option<String>,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    updated_at: String,
}

impl From<Project> for ProjectBody {
    fn from(p: Project) -> Self {
        ProjectBody {
            id: p.id.to_string(),
            name: p.name,
            customer_external_id: p.customer_external_id,
            timezone: p.timezone,
            primary_language: p.primary_language,
            status: if p.archived_at.is_some() {
                "archived"
            } else {
                "active"
            },
            test_clock_id: p.test_clock_id.map(|c| c.to_string()),
            archived_at: p.archived_at.map(time),
            created_at: time(p.created_at),
            updated_at: time(p.updated_at),
        }
    }
}

/// `testClockId`: a clock id with a test key; a live key naming one is refused (the
/// organization's ownership is checked by the insert).
fn test_clock_of(env: &Env, raw: Option<&str>) -> Result<Option<TestClockId>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if env.test_helpers().is_none() {
        return Err(ApiError::validation(
            "testClockId",
            "testClockId is for test keys only: a live project runs on the wall clock",
        ));
    }
    TestClockId::parse(raw).map(Some).map_err(|_| {
        ApiError::validation(
            "testClockId",
            "testClockId must be a test clock's id (clock_ and 32 hex digits)",
        )
    })
}

fn project_id(raw: &str) -> Result<ProjectId, ApiError> {
    path_id(raw, "project", ProjectId::parse)
}

#[utoipa::path(
    post,
    path = "/v1/projects",
    tag = "Projects",
    operation_id = "createProject",
    summary = "Create a project",
    description = "Creates a project in the key's environment. If one of the organization's \
        projects in this environment already has the `customerExternalId`, nothing is created \
        and the answer is 200 with that project, unchanged.",
    request_body = CreateProject,
    responses(
        (status = 201, description = "The new project", body = ProjectBody),
        (status = 200, description = "The project that already has this `customerExternalId`", body = ProjectBody),
        (status = 404, description = "`NOT_FOUND` (`details.field` `testClockId`): no test clock \
            of this organization has that id", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn create(
    auth: Authorized<ProjectsWrite>,
    env: Env,
    Json(body): Json<CreateProject>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let new = NewProject {
        name: field("name", &body.name, Name::parse)?,
        customer_external_id: optional_field(
            "customerExternalId",
            body.customer_external_id.as_deref(),
            CustomerExternalId::parse,
        )?,
        timezone: field(
            "timezone",
            body.timezone.as_deref().unwrap_or("UTC"),
            Timezone::parse,
        )?,
        primary_language: field(
            "primaryLanguage",
            body.primary_language.as_deref().unwrap_or("en"),
            LanguageTag::parse,
        )?,
        test_clock_id: test_clock_of(&env, body.test_clock_id.as_deref())?,
    };
    let (project, created) = env.projects.create(&*tx, auth.organization_id, new).await?;
    let mut res = match created {
        Created::New => HttpResponse::Created(),
        Created::Existing => HttpResponse::Ok(),
    };
    Ok(res.json(ProjectBody::from(project)))
}

#[utoipa::path(
    get,
    path = "/v1/projects",
    tag = "Projects",
    operation_id = "listProjects",
    summary = "List projects",
    description = "The organization's projects in the key's environment, newest first.",
    params(crate::openapi::ListQuery),
    responses(
        (status = 200, description = "A page of projects", body = List<ProjectBody>),
    ),
)]
async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ProjectsRead>,
    env: Env,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let cursor = params.cursor(ProjectId::parse)?;
    let db = state.pool.get().await?;
    let page = env
        .projects
        .list(&db, auth.organization_id, params.limit, cursor)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, ProjectBody::from)))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}",
    tag = "Projects",
    operation_id = "getProject",
    summary = "Get a project",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "The project", body = ProjectBody),
    ),
)]
async fn get(
    state: web::Data<AppState>,
    auth: Authorized<ProjectsRead>,
    env: Env,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = project_id(&path)?;
    let db = state.pool.get().await?;
    let project = env.projects.get(&db, auth.organization_id, id).await?;
    Ok(HttpResponse::Ok().json(ProjectBody::from(project)))
}

#[utoipa::path(
    patch,
    path = "/v1/projects/{projectId}",
    tag = "Projects",
    operation_id = "updateProject",
    summary = "Change a project",
    description = "Changes the fields given. Only a key of the project's own environment may \
        change it.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = UpdateProject,
    responses(
        (status = 200, description = "The changed project", body = ProjectBody),
        (status = 409, description = "`CONFLICT`: the project is archived (reason `project_archived`), \
            or another of the organization's projects has this `customerExternalId` (reason \
            `customer_external_id_taken`)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the project belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn update(
    auth: Authorized<ProjectsWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<UpdateProject>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = project_id(&path)?;
    let patch = ProjectPatch {
        name: optional_field("name", body.name.as_deref(), Name::parse)?,
        customer_external_id: optional_field(
            "customerExternalId",
            body.customer_external_id.as_deref(),
            CustomerExternalId::parse,
        )?,
        timezone: optional_field("timezone", body.timezone.as_deref(), Timezone::parse)?,
        primary_language: optional_field(
            "primaryLanguage",
            body.primary_language.as_deref(),
            LanguageTag::parse,
        )?,
    };
    let project = env
        .projects
        .update(&*tx, auth.organization_id, id, patch)
        .await?;
    Ok(HttpResponse::Ok().json(ProjectBody::from(project)))
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/archive",
    tag = "Projects",
    operation_id = "archiveProject",
    summary = "Archive a project",
    description = "Archives the project: it can no longer be changed nor get influencers. \
        Archiving an archived project changes nothing and succeeds. Only a key of the project's \
        own environment may archive it.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "The archived project", body = ProjectBody),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the project belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn archive(
    auth: Authorized<ProjectsWrite>,
    env: Env,
    path: web::Path<String>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = project_id(&path)?;
    let project = env.projects.archive(&*tx, auth.organization_id, id).await?;
    Ok(HttpResponse::Ok().json(ProjectBody::from(project)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_list, list)
        .route(__path_create, create)
        .route(__path_get, get)
        .route(__path_update, update)
        .route(__path_archive, archive);
}
