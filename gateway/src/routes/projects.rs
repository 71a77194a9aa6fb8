//! Projects: `POST/GET /v1/projects`, `GET/PATCH /v1/projects/:id`,
//! `POST /v1/projects/:id/archive`.

use actix_web::{web, HttpResponse};
use layers_projects::{
    Created, CustomerExternalId, LanguageTag, Name, NewProject, Project, ProjectId, ProjectPatch,
    Timezone,
};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Authorized, ProjectsRead, ProjectsWrite};
use crate::env::Env;
use crate::error::ApiError;
use crate::extract::{field, optional_field, path_id, Json, ListParams};
use crate::wire::{time, List};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateProject {
    name: String,
    customer_external_id: Option<String>,
    timezone: Option<String>,
    primary_language: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateProject {
    name: Option<String>,
    customer_external_id: Option<String>,
    timezone: Option<String>,
    primary_language: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectBody {
    id: String,
    name: String,
    customer_external_id: Option<String>,
    timezone: String,
    primary_language: String,
    status: &'static str,
    archived_at: Option<String>,
    created_at: String,
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
            archived_at: p.archived_at.map(time),
            created_at: time(p.created_at),
            updated_at: time(p.updated_at),
        }
    }
}

fn project_id(raw: &str) -> Result<ProjectId, ApiError> {
    path_id(raw, "project", ProjectId::parse)
}

async fn create(
    state: web::Data<AppState>,
    auth: Authorized<ProjectsWrite>,
    env: Env,
    Json(body): Json<CreateProject>,
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
    };
    let db = state.pool.get().await?;
    let (project, created) = env.projects.create(&db, auth.organization_id, new).await?;
    let mut res = match created {
        Created::New => HttpResponse::Created(),
        Created::Existing => HttpResponse::Ok(),
    };
    Ok(res.json(ProjectBody::from(project)))
}

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

async fn update(
    state: web::Data<AppState>,
    auth: Authorized<ProjectsWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<UpdateProject>,
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
    let db = state.pool.get().await?;
    let project = env
        .projects
        .update(&db, auth.organization_id, id, patch)
        .await?;
    Ok(HttpResponse::Ok().json(ProjectBody::from(project)))
}

async fn archive(
    state: web::Data<AppState>,
    auth: Authorized<ProjectsWrite>,
    env: Env,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = project_id(&path)?;
    let db = state.pool.get().await?;
    let project = env.projects.archive(&db, auth.organization_id, id).await?;
    Ok(HttpResponse::Ok().json(ProjectBody::from(project)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/projects")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/projects/{projectId}")
            .route(web::get().to(get))
            .route(web::patch().to(update)),
    )
    .service(web::resource("/projects/{projectId}/archive").route(web::post().to(archive)));
}
