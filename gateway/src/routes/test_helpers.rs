//! Test helpers (CONTRACT §12): `POST /v1/test_helpers/…`, for test keys only. A live key is
//! answered 404 `NOT_FOUND` exactly as a route that does not exist ([`TestKey`], the first
//! extractor of each handler, so nothing else about the route shows). Each handler parses,
//! calls one command of `layers_env::TestHelpers` and maps its answer.

use std::future::{ready, Ready};

use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use layers_env::{Deleted, ResetError, TestHelpers};
use layers_projects::ProjectId;
use layers_social::SocialAccountId;
use layers_webhooks::{EndpointId, EventType};
use serde::{Deserialize, Serialize};

use super::social::AccountBody;
use crate::auth::{Authorized, CreditsWrite, ProjectsWrite, SocialWrite, WebhooksWrite};
use crate::env::Env;
use crate::error::{quote, ApiError};
use crate::extract::{path_id, Json};
use crate::tx::Tx;

/// The request's environment, if its key is a test key; a live key is answered as a route
/// that does not exist.
pub(super) struct TestKey(Env);

impl TestKey {
    pub(super) fn helpers(&self) -> TestHelpers<'_> {
        self.0
            .test_helpers()
            .expect("a TestKey holds the sandbox set")
    }
}

impl FromRequest for TestKey {
    type Error = ApiError;
    type Future = Ready<Result<TestKey, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let env = req.extensions().get::<Env>().cloned();
        ready(match env {
            Some(env) if env.test_helpers().is_some() => Ok(TestKey(env)),
            Some(_) => Err(ApiError::for_status(
                StatusCode::NOT_FOUND,
                req.method().as_str(),
                req.path(),
            )),
            None => Err(ApiError::internal(
                "route outside the authenticated scope asked for TestKey",
            )),
        })
    }
}

impl super::Secured for TestKey {}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FireEvent)]
struct FireBody {
    /// Any event type of the catalogue.
    #[schema(value_type = crate::openapi::EventType, example = "post.failed")]
    r#type: String,
    /// The event's `data`: a JSON object; absent (or `null`) for a valid example of the type.
    #[schema(value_type = Option<Object>, example = json!(null))]
    data: Option<serde_json::Value>,
}

/// `202 {eventId}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = EventFired)]
struct Fired {
    #[schema(example = "evt_01JTTW0V4K6X9B3M2N5P7Q8R1S")]
    event_id: String,
}

fn event_type(raw: &str) -> Result<EventType, ApiError> {
    EventType::parse(raw).map_err(|_| {
        let valid: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        ApiError::validation(
            "type",
            format!(
                "unknown event type \"{}\": type must be one of {}",
                quote(raw),
                valid.join(", ")
            ),
        )
    })
}

#[utoipa::path(
    post,
    path = "/v1/test_helpers/webhook-endpoints/{endpointId}/fire",
    tag = "Test helpers",
    operation_id = "fireTestEvent",
    summary = "Fire an event of any type at one endpoint",
    description = "Test keys only (a live key gets 404 as for an unknown route). Fires an event \
        of any type of the catalogue at this sandbox endpoint only, whatever its `events`: it \
        is signed, delivered, retried and logged like any event, and listed by `GET /v1/events`. \
        Without `data`, the event carries a valid example of its type. An unknown `type` is \
        400 `VALIDATION_ERROR` listing the valid types, and nothing is written.",
    params(("endpointId" = String, Path, description = "The endpoint's id", example = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = FireBody,
    responses(
        (status = 202, description = "The event is queued for delivery", body = Fired),
        (status = 400, description = "`VALIDATION_ERROR`: an unknown `type`, or `data` not an \
            object", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such sandbox endpoint (or a live key)",
            body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn fire(
    test: TestKey,
    auth: Authorized<WebhooksWrite>,
    path: web::Path<String>,
    Json(body): Json<FireBody>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "webhook endpoint", EndpointId::parse)?;
    let event_type = event_type(&body.r#type)?;
    let data = body.data.filter(|d| !d.is_null());
    if data.as_ref().is_some_and(|d| !d.is_object()) {
        return Err(ApiError::validation("data", "data must be a JSON object"));
    }
    let event = test
        .helpers()
        .fire(&*tx, auth.organization_id, id, event_type, data)
        .await?;
    Ok(HttpResponse::Accepted().json(Fired {
        event_id: event.to_string(),
    }))
}

#[utoipa::path(
    post,
    path = "/v1/test_helpers/social/accounts/{accountId}/expire",
    tag = "Test helpers",
    operation_id = "expireSocialAccount",
    summary = "Expire a social account's token",
    description = "Test keys only (a live key gets 404 as for an unknown route). The sandbox \
        account becomes `needs_reauth` and `social_account.needs_reauth` fires, as when a live \
        token expires; reconnecting through `oauth-url` restores it. An account already \
        `needs_reauth` or `disconnected` is answered as it is.",
    params(("accountId" = String, Path, description = "The account's id", example = "sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "The account, now `needs_reauth`", body = AccountBody),
        (status = 404, description = "`NOT_FOUND`: no such sandbox account (or a live key)",
            body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn expire(
    test: TestKey,
    auth: Authorized<SocialWrite>,
    path: web::Path<String>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "social account", SocialAccountId::parse)?;
    let account = test
        .helpers()
        .expire(&*tx, auth.organization_id, id)
        .await?;
    Ok(HttpResponse::Ok().json(AccountBody::from(account)))
}

/// `{enabled}`: the request and the answer.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreditsExhaustion)]
struct Exhaust {
    /// `true`: every sandbox charge of the organization answers 402 `BILLING_EXHAUSTED`;
    /// `false`: sandbox charges pass again.
    enabled: bool,
}

#[utoipa::path(
    post,
    path = "/v1/test_helpers/credits/exhaust",
    tag = "Test helpers",
    operation_id = "exhaustSandboxCredits",
    summary = "Exhaust the sandbox credits",
    description = "Test keys only (a live key gets 404 as for an unknown route). While \
        `enabled`, the organization's sandbox credit gate answers every paid start (content \
        generation, ingest) 402 `BILLING_EXHAUSTED` with `details {required, balance: 0}`, \
        exactly as live answers an empty wallet, and starts nothing; live keys are unaffected. \
        `{enabled: false}` restores it.",
    request_body = Exhaust,
    responses(
        (status = 200, description = "The switch as it now is", body = Exhaust),
    ),
)]
async fn exhaust(
    test: TestKey,
    auth: Authorized<CreditsWrite>,
    Json(body): Json<Exhaust>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let enabled = test
        .helpers()
        .exhaust(&*tx, auth.organization_id, body.enabled)
        .await?;
    Ok(HttpResponse::Ok().json(Exhaust { enabled }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = ResetSandbox)]
struct ResetBody {
    /// Only this sandbox project's data; absent for the organization's whole sandbox.
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: Option<String>,
    /// Also delete the organization's sandbox webhook endpoints (they belong to the
    /// organization, not to a project). Default `false`.
    #[serde(default)]
    include_webhook_endpoints: bool,
}

/// How many of each were deleted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ResetCounts)]
struct Counts {
    projects: u64,
    /// Content containers (with their assets).
    contents: u64,
    /// Upload sessions (with their files).
    uploads: u64,
    social_accounts: u64,
    /// Scheduled posts (with their targets).
    scheduled_posts: u64,
    jobs: u64,
    /// Events (with their deliveries).
    events: u64,
    webhook_endpoints: u64,
}

/// `{deleted: {…}}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SandboxReset)]
struct ResetAnswer {
    deleted: Counts,
}

impl From<Deleted> for ResetAnswer {
    fn from(d: Deleted) -> Self {
        ResetAnswer {
            deleted: Counts {
                projects: d.projects,
                contents: d.contents,
                uploads: d.uploads,
                social_accounts: d.social_accounts,
                scheduled_posts: d.scheduled_posts,
                jobs: d.jobs,
                events: d.events,
                webhook_endpoints: d.webhook_endpoints,
            },
        }
    }
}

#[utoipa::path(
    post,
    path = "/v1/test_helpers/reset",
    tag = "Test helpers",
    operation_id = "resetSandbox",
    summary = "Delete sandbox data",
    description = "Test keys only (a live key gets 404 as for an unknown route). Deletes the \
        sandbox data of one project (`projectId`) or of the organization's whole sandbox (`{}`), \
        in one transaction: the project(s) with their influencers, content (and assets), upload \
        sessions, social accounts, scheduled posts (and targets), jobs and events (with their \
        deliveries); with `includeWebhookEndpoints`, the organization's sandbox endpoints too. \
        Events have no project: a project's reset deletes the events whose `data` names the \
        project (`projectId`) or one of its containers (`containerId`); `test.ping` and test \
        clock events go only with the organization's reset. Never a live row, the wallet, the \
        credit audit or the monthly quota counter.",
    request_body = ResetBody,
    responses(
        (status = 200, description = "What was deleted", body = ResetAnswer),
        (status = 404, description = "`NOT_FOUND`: no such sandbox project (or a live key)",
            body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn reset(
    test: TestKey,
    auth: Authorized<ProjectsWrite>,
    Json(body): Json<ResetBody>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let project = body
        .project_id
        .map(|raw| path_id(&raw, "project", ProjectId::parse))
        .transpose()?;
    let deleted = test
        .helpers()
        .reset(
            &*tx,
            auth.organization_id,
            project,
            body.include_webhook_endpoints,
        )
        .await
        .map_err(|e| match e {
            ResetError::ProjectNotFound => ApiError::not_found("project"),
            ResetError::Db(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::Ok().json(ResetAnswer::from(deleted)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_fire, fire)
        .route(__path_expire, expire)
        .route(__path_exhaust, exhaust)
        .route(__path_reset, reset);
}
