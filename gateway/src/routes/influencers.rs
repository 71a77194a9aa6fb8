//! Influencers of a project: `POST/GET /v1/projects/:id/influencers`.

use actix_web::{web, HttpResponse};
use layers_projects::{Description, Influencer, InfluencerId, Name, NewInfluencer, ProjectId};
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
struct CreateInfluencer {
    #[schema(min_length = 1, max_length = 200, example = "Maya")]
    name: String,
    #[schema(min_length = 1, max_length = 2000, example = "A runner")]
    description: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Influencer)]
struct InfluencerBody {
    #[schema(example = "inf_0196b1e4d0a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: String,
    #[schema(example = "Maya")]
    name: String,
    #[schema(required = true, example = "A runner")]
    description: Option<String>,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
}

impl From<Influencer> for InfluencerBody {
    fn from(i: Influencer) -> Self {
        InfluencerBody {
            id: i.id.to_string(),
            project_id: i.project_id.to_string(),
            name: i.name,
            description: i.description,
            created_at: time(i.created_at),
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/influencers",
    tag = "Influencers",
    operation_id = "createInfluencer",
    summary = "Add an influencer",
    description = "Adds an influencer to a project that is not archived. Only a key of the \
        project's own environment may add one.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = CreateInfluencer,
    responses(
        (status = 201, description = "The new influencer", body = InfluencerBody),
        (status = 409, description = "`CONFLICT`: the project is archived (reason \
            `project_archived`)", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the project belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn create(
    auth: Authorized<ProjectsWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<CreateInfluencer>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let project_id = path_id(&path, "project", ProjectId::parse)?;
    let new = NewInfluencer {
        name: field("name", &body.name, Name::parse)?,
        description: optional_field(
            "description",
            body.description.as_deref(),
            Description::parse,
        )?,
    };
    let influencer = env
        .projects
        .create_influencer(&*tx, auth.organization_id, project_id, new)
        .await?;
    Ok(HttpResponse::Created().json(InfluencerBody::from(influencer)))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/influencers",
    tag = "Influencers",
    operation_id = "listInfluencers",
    summary = "List a project's influencers",
    description = "The project's influencers, newest first.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"), crate::openapi::ListQuery),
    responses(
        (status = 200, description = "A page of influencers", body = List<InfluencerBody>),
    ),
)]
async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ProjectsRead>,
    env: Env,
    path: web::Path<String>,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let project_id = path_id(&path, "project", ProjectId::parse)?;
    let cursor = params.cursor(InfluencerId::parse)?;
    let db = state.pool.get().await?;
    let page = env
        .projects
        .list_influencers(&db, auth.organization_id, project_id, params.limit, cursor)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, InfluencerBody::from)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_list, list)
        .route(__path_create, create);
}
