//! Influencers of a project: `POST/GET /v1/projects/:id/influencers`.

use actix_web::{web, HttpResponse};
use layers_projects::{Description, Influencer, InfluencerId, Name, NewInfluencer, ProjectId};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Authorized, ProjectsRead, ProjectsWrite};
use crate::env::Env;
use crate::error::ApiError;
use crate::extract::{field, optional_field, path_id, Json, ListParams};
use crate::wire::{time, List};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateInfluencer {
    name: String,
    description: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InfluencerBody {
    id: String,
    project_id: String,
    name: String,
    description: Option<String>,
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

async fn create(
    state: web::Data<AppState>,
    auth: Authorized<ProjectsWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<CreateInfluencer>,
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
    let db = state.pool.get().await?;
    let influencer = env
        .projects
        .create_influencer(&db, auth.organization_id, project_id, new)
        .await?;
    Ok(HttpResponse::Created().json(InfluencerBody::from(influencer)))
}

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
    cfg.service(
        web::resource("/projects/{projectId}/influencers")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    );
}
