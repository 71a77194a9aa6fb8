//! Test clocks (CONTRACT §12): `POST/GET /v1/test_helpers/test-clocks`,
//! `GET/DELETE /v1/test_helpers/test-clocks/:id`, `POST /v1/test_helpers/test-clocks/:id/advance`. Test keys only: a live key is answered 404 as
//! for a route that does not exist ([`TestKey`], the first extractor of each handler).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use layers_env::AdvanceError;
use layers_projects::{AdvanceRefusal, TestClock, TestClockId};
use serde::{Deserialize, Serialize};

use super::test_helpers::TestKey;
use crate::app::AppState;
use crate::auth::{Authorized, ProjectsRead, ProjectsWrite};
use crate::error::ApiError;
use crate::extract::{path_id, Json, ListParams};
use crate::tx::Tx;
use crate::wire::{time, List};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = CreateTestClock)]
struct CreateClock {
    /// The clock's time to start at (RFC 3339).
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    frozen_time: String,
    #[schema(max_length = 200, example = "Monthly renewal")]
    name: Option<String>,
}

/// A test clock.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TestClock)]
pub struct ClockBody {
    #[schema(example = "clock_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(required = true, example = "Monthly renewal")]
    name: Option<String>,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    frozen_time: String,
    /// `advancing` while what the last advance made due still runs, then `ready`.
    #[schema(example = "ready")]
    status: &'static str,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
}

impl From<TestClock> for ClockBody {
    fn from(c: TestClock) -> Self {
        ClockBody {
            id: c.id.to_string(),
            name: c.name,
            frozen_time: time(c.frozen_time),
            status: c.status.as_str(),
            created_at: time(c.created_at),
        }
    }
}

/// `frozenTime`, checked: an RFC 3339 time.
pub(super) fn frozen_time_of(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::validation(
                "frozenTime",
                "frozenTime must be an RFC 3339 time, like 2026-05-09T15:00:00.000Z",
            )
        })
}

fn clock_id(raw: &str) -> Result<TestClockId, ApiError> {
    path_id(raw, "test clock", TestClockId::parse)
}

#[utoipa::path(
    post,
    path = "/v1/test_helpers/test-clocks",
    tag = "Test helpers",
    operation_id = "createTestClock",
    summary = "Create a test clock",
    description = "Test keys only (a live key gets 404 as for an unknown route). A clock starts \
        `ready` at `frozenTime` and moves only when advanced. A sandbox project created with its \
        `testClockId` lives on it.",
    request_body = CreateClock,
    responses(
        (status = 201, description = "The new clock", body = ClockBody),
        (status = 400, description = "`VALIDATION_ERROR`: `frozenTime` not an RFC 3339 time, or \
            `name` too long", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn create(
    test: TestKey,
    auth: Authorized<ProjectsWrite>,
    Json(body): Json<CreateClock>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let frozen_time = frozen_time_of(&body.frozen_time)?;
    let name = body
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 200 || n.chars().any(char::is_control)) {
        return Err(ApiError::validation(
            "name",
            "name must be at most 200 characters, without control characters",
        ));
    }
    let clock = test
        .helpers()
        .create_clock(&*tx, auth.organization_id, frozen_time, name)
        .await?;
    Ok(HttpResponse::Created().json(ClockBody::from(clock)))
}

#[utoipa::path(
    get,
    path = "/v1/test_helpers/test-clocks",
    tag = "Test helpers",
    operation_id = "listTestClocks",
    summary = "List test clocks",
    description = "Test keys only (a live key gets 404 as for an unknown route). The \
        organization's test clocks, newest first.",
    params(crate::openapi::ListQuery),
    responses(
        (status = 200, description = "A page of clocks", body = List<ClockBody>),
    ),
)]
async fn list(
    test: TestKey,
    state: web::Data<AppState>,
    auth: Authorized<ProjectsRead>,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let cursor = params.cursor(TestClockId::parse)?;
    let db = state.pool.get().await?;
    let page = test
        .helpers()
        .clocks(&db, auth.organization_id, params.limit, cursor)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, ClockBody::from)))
}

#[utoipa::path(
    get,
    path = "/v1/test_helpers/test-clocks/{clockId}",
    tag = "Test helpers",
    operation_id = "getTestClock",
    summary = "Get a test clock",
    description = "Test keys only (a live key gets 404 as for an unknown route).",
    params(("clockId" = String, Path, description = "The clock's id", example = "clock_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "The clock", body = ClockBody),
        (status = 404, description = "`NOT_FOUND`: no such clock (or a live key)",
            body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn get(
    test: TestKey,
    state: web::Data<AppState>,
    auth: Authorized<ProjectsRead>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = clock_id(&path)?;
    let db = state.pool.get().await?;
    let clock = test
        .helpers()
        .clock(&db, auth.organization_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("test clock"))?;
    Ok(HttpResponse::Ok().json(ClockBody::from(clock)))
}

#[utoipa::path(
    delete,
    path = "/v1/test_helpers/test-clocks/{clockId}",
    tag = "Test helpers",
    operation_id = "deleteTestClock",
    summary = "Delete a test clock",
    description = "Test keys only (a live key gets 404 as for an unknown route). The clock's \
        projects return to the wall clock: their scheduled posts publish at `publishAt` on \
        the wall clock (at once when it has passed). Answers the clock as it was.",
    params(("clockId" = String, Path, description = "The clock's id", example = "clock_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "The deleted clock", body = ClockBody),
        (status = 404, description = "`NOT_FOUND`: no such clock (or a live key)",
            body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn delete(
    test: TestKey,
    auth: Authorized<ProjectsWrite>,
    path: web::Path<String>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = clock_id(&path)?;
    let clock = test
        .helpers()
        .delete_clock(&*tx, auth.organization_id, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("test clock"))?;
    Ok(HttpResponse::Ok().json(ClockBody::from(clock)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = AdvanceTestClock)]
struct AdvanceBody {
    /// The clock's new time (RFC 3339): after its time, at most two years after it.
    #[schema(format = DateTime, example = "2026-05-18T12:00:00.000Z")]
    frozen_time: String,
}

fn refused(why: AdvanceRefusal) -> ApiError {
    match why {
        AdvanceRefusal::NotFound => ApiError::not_found("test clock"),
        AdvanceRefusal::NotForward => ApiError::validation(
            "frozenTime",
            "frozenTime must be after the clock's time: a clock only moves forward",
        ),
        AdvanceRefusal::TooFar => ApiError::validation(
            "frozenTime",
            "frozenTime must be at most two years after the clock's time",
        ),
        AdvanceRefusal::Advancing => ApiError::conflict(
            "test_clock_advancing",
            "the clock is still advancing: wait until it is ready",
        ),
    }
}

#[utoipa::path(
    post,
    path = "/v1/test_helpers/test-clocks/{clockId}/advance",
    tag = "Test helpers",
    operation_id = "advanceTestClock",
    summary = "Advance a test clock",
    description = "Test keys only (a live key gets 404 as for an unknown route). Moves the clock \
        forward to `frozenTime` (at most two years per call) and answers it `advancing`, with \
        `test_helpers.test_clock.advancing`. What became due then runs: the clock's projects' \
        scheduled sandbox posts publish in `publishAt` order with `postedAt` = `publishAt`, \
        `sandbox:slow` jobs finish, accounts connected 60 clock days ago turn `needs_reauth`; \
        then the clock is `ready` again, with `test_helpers.test_clock.ready`.",
    params(("clockId" = String, Path, description = "The clock's id", example = "clock_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = AdvanceBody,
    responses(
        (status = 200, description = "The clock, `advancing`", body = ClockBody),
        (status = 400, description = "`VALIDATION_ERROR`: `frozenTime` not after the clock's \
            time, or more than two years after it", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such clock (or a live key)",
            body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: the clock is still advancing",
            body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn advance(
    test: TestKey,
    auth: Authorized<ProjectsWrite>,
    path: web::Path<String>,
    Json(body): Json<AdvanceBody>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = clock_id(&path)?;
    let to = frozen_time_of(&body.frozen_time)?;
    let clock = test
        .helpers()
        .advance(&*tx, auth.organization_id, id, to)
        .await
        .map_err(|e| match e {
            AdvanceError::Refused(why) => refused(why),
            other => ApiError::internal(other),
        })?;
    Ok(HttpResponse::Ok().json(ClockBody::from(clock)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_create, create)
        .route(__path_list, list)
        .route(__path_get, get)
        .route(__path_delete, delete)
        .route(__path_advance, advance);
}
