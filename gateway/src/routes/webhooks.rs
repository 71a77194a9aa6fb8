//! Webhook endpoints (CONTRACT §10): create, list, get, change, delete, `test`,
//! `rotate-secret`, the deliveries log and redelivery; and the events API,
//! `GET /v1/events` and `GET /v1/events/:id`.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use layers_webhooks::{
    Delivery, DeliveryId, Endpoint, EndpointId, EndpointPatch, EventId, EventType, NewEndpoint,
    StoreError, StoredEvent, WebhookSecret,
};
use serde::{Deserialize, Deserializer, Serialize};

use crate::app::AppState;
use crate::auth::{Authorized, WebhooksRead, WebhooksWrite};
use crate::env::Env;
use crate::error::{ApiError, Code};
use crate::extract::{path_id, Json, ListParams};
use crate::tx::Tx;
use crate::wire::{time, List};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateEndpoint {
    /// Where deliveries are POSTed: `https` for live keys; loopback and private addresses are
    /// refused.
    #[schema(example = "https://example.com/webhooks/layers")]
    url: String,
    /// The event types to receive; absent or `["*"]` for all.
    #[schema(value_type = Option<Vec<crate::openapi::EventSubscription>>, example = json!(["job.succeeded", "job.failed"]))]
    events: Option<Vec<String>>,
    #[schema(max_length = 500, example = "Production receiver")]
    description: Option<String>,
}

/// The fields to change; absent fields keep their value, a `null` description clears it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateEndpoint {
    #[schema(example = "https://example.com/webhooks/layers-v2")]
    url: Option<String>,
    #[schema(value_type = Option<Vec<crate::openapi::EventSubscription>>, example = json!(["*"]))]
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 500)]
    description: Option<Option<String>>,
    /// A disabled endpoint gets no new deliveries; its pending ones wait until it is enabled.
    disabled: Option<bool>,
}

/// Tells a `null` (`Some(None)`) from an absent field (`None`, through `default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A webhook endpoint. It belongs to the environment of the key that created it and receives
/// only that environment's events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookEndpoint)]
struct EndpointBody {
    #[schema(example = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(example = "https://example.com/webhooks/layers")]
    url: String,
    /// Event type names, or `["*"]` for all.
    #[schema(example = json!(["*"]))]
    events: Vec<String>,
    #[schema(required = true, example = "Production receiver")]
    description: Option<String>,
    disabled: bool,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
    /// The signing secret: only in the answers of creation and rotation, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw7vCJMw4V9jA=")]
    secret: Option<String>,
}

impl EndpointBody {
    fn new(e: Endpoint, secret: Option<WebhookSecret>) -> EndpointBody {
        EndpointBody {
            id: e.id.to_string(),
            url: e.url,
            events: e.events.names(),
            description: e.description,
            disabled: e.disabled,
            created_at: time(e.created_at),
            secret: secret.map(|s| s.as_str().to_owned()),
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = DeliveryAttempt)]
struct AttemptBody {
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.010Z")]
    attempted_at: String,
    /// The receiver's status; `null` when it did not answer.
    #[schema(required = true, example = 200)]
    status_code: Option<u16>,
    #[schema(example = 42)]
    duration_ms: u32,
    /// Why the attempt failed; `null` for a 2xx.
    #[schema(required = true, example = json!(null))]
    error: Option<String>,
    /// The first 1 KiB of the receiver's answer, if it answered.
    #[schema(required = true, example = "{\"received\":true}")]
    response_body: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookDelivery)]
struct DeliveryBody {
    #[schema(example = "whd_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(example = "evt_01JTTW0V4K6X9B3M2N5P7Q8R1S")]
    event_id: String,
    #[schema(example = "job.succeeded")]
    event_type: &'static str,
    /// `pending`, `succeeded` or `failed`.
    #[schema(example = "succeeded")]
    status: &'static str,
    /// Oldest first.
    attempts: Vec<AttemptBody>,
    /// When the next attempt is due; `null` once the delivery is finished.
    #[schema(required = true, format = DateTime, example = json!(null))]
    next_attempt_at: Option<String>,
}

impl From<Delivery> for DeliveryBody {
    fn from(d: Delivery) -> Self {
        DeliveryBody {
            id: d.id.to_string(),
            event_id: d.event_id.to_string(),
            event_type: d.event_type.as_str(),
            status: d.status.as_str(),
            attempts: d
                .attempts
                .into_iter()
                .map(|a| AttemptBody {
                    attempted_at: time(a.attempted_at),
                    status_code: a.status_code,
                    duration_ms: a.duration_ms,
                    error: a.error,
                    response_body: a.response_excerpt,
                })
                .collect(),
            next_attempt_at: d.next_attempt_at.map(time),
        }
    }
}

/// `202 {eventId}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TestEventSent)]
struct TestSent {
    #[schema(example = "evt_01JTTW0V4K6X9B3M2N5P7Q8R1S")]
    event_id: String,
}

/// `{id, deleted: true}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEndpointDeleted)]
struct Deleted {
    #[schema(example = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    deleted: bool,
}

/// An event, exactly as delivered: `meta` appears only for sandbox events. The document
/// replaces this schema by a `oneOf` of one envelope per event type (`crate::openapi`'s
/// `events`); it stands here so that both events routes name `Event`.
#[derive(Debug, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Event)]
#[allow(dead_code)] // documentation only: layers-webhooks writes the envelope's bytes
struct EventEnvelope {
    #[schema(example = "evt_01JTTW0V4K6X9B3M2N5P7Q8R1S")]
    id: String,
    #[serde(rename = "type")]
    #[schema(example = "job.succeeded")]
    event_type: String,
    #[schema(example = "v1")]
    api_version: String,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
    /// `{sandbox: true}` for events of test keys; absent for live events.
    #[schema(required = false, value_type = Object, example = json!({"sandbox": true}))]
    meta: Option<serde_json::Value>,
    /// The event's object: for `job.*` the job, for `test.ping` `{endpointId}`.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

fn endpoint_id(raw: &str) -> Result<EndpointId, ApiError> {
    path_id(raw, "webhook endpoint", EndpointId::parse)
}

#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints",
    tag = "Webhooks",
    operation_id = "createWebhookEndpoint",
    summary = "Create a webhook endpoint",
    description = "Registers a URL to receive the key's environment's events. The answer \
        carries the signing `secret`, shown only here and at rotation. An organization has at \
        most 16 endpoints per environment: a 17th is 409 `CONFLICT`, reason \
        `too_many_endpoints`.",
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "The new endpoint, with its secret", body = EndpointBody),
    ),
)]
async fn create(
    auth: Authorized<WebhooksWrite>,
    env: Env,
    Json(body): Json<CreateEndpoint>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let new = NewEndpoint {
        url: body.url,
        events: body.events,
        description: body.description,
    };
    let (endpoint, secret) = env.webhooks.create(&*tx, auth.organization_id, new).await?;
    Ok(HttpResponse::Created().json(EndpointBody::new(endpoint, Some(secret))))
}

#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints",
    tag = "Webhooks",
    operation_id = "listWebhookEndpoints",
    summary = "List webhook endpoints",
    description = "The organization's endpoints in the key's environment, newest first.",
    params(crate::openapi::ListQuery),
    responses((status = 200, description = "A page of endpoints", body = List<EndpointBody>)),
)]
async fn list(
    state: web::Data<AppState>,
    auth: Authorized<WebhooksRead>,
    env: Env,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let cursor = params.cursor(EndpointId::parse)?;
    let db = state.pool.get().await?;
    let page = env
        .webhooks
        .list(&db, auth.organization_id, params.limit, cursor)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, |e| EndpointBody::new(e, None))))
}

#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{endpointId}",
    tag = "Webhooks",
    operation_id = "getWebhookEndpoint",
    summary = "Get a webhook endpoint",
    params(("endpointId" = String, Path, description = "The endpoint's id", example = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses((status = 200, description = "The endpoint (without its secret)", body = EndpointBody)),
)]
async fn get(
    state: web::Data<AppState>,
    auth: Authorized<WebhooksRead>,
    env: Env,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    let db = state.pool.get().await?;
    let endpoint = env.webhooks.get(&db, auth.organization_id, id).await?;
    Ok(HttpResponse::Ok().json(EndpointBody::new(endpoint, None)))
}

#[utoipa::path(
    patch,
    path = "/v1/webhook-endpoints/{endpointId}",
    tag = "Webhooks",
    operation_id = "updateWebhookEndpoint",
    summary = "Change a webhook endpoint",
    description = "Changes `url`, `events`, `description` or `disabled`. Only a key of the \
        endpoint's own environment may change it.",
    params(("endpointId" = String, Path, description = "The endpoint's id", example = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = UpdateEndpoint,
    responses(
        (status = 200, description = "The changed endpoint", body = EndpointBody),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the endpoint belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn update(
    auth: Authorized<WebhooksWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<UpdateEndpoint>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    let patch = EndpointPatch {
        url: body.url,
        events: body.events,
        description: body.description,
        disabled: body.disabled,
    };
    let endpoint = env
        .webhooks
        .update(&*tx, auth.organization_id, id, patch)
        .await?;
    Ok(HttpResponse::Ok().json(EndpointBody::new(endpoint, None)))
}

#[utoipa::path(
    delete,
    path = "/v1/webhook-endpoints/{endpointId}",
    tag = "Webhooks",
    operation_id = "deleteWebhookEndpoint",
    summary = "Delete a webhook endpoint",
    description = "Deletes the endpoint and its deliveries log; its pending deliveries are not \
        made.",
    params(("endpointId" = String, Path, description = "The endpoint's id", example = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the endpoint belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn delete(
    auth: Authorized<WebhooksWrite>,
    env: Env,
    path: web::Path<String>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    let endpoint = env.webhooks.delete(&*tx, auth.organization_id, id).await?;
    Ok(HttpResponse::Ok().json(Deleted {
        id: endpoint.id.to_string(),
        deleted: true,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{endpointId}/rotate-secret",
    tag = "Webhooks",
    operation_id = "rotateWebhookSecret",
    summary = "Rotate an endpoint's secret",
    description = "Gives the endpoint a new secret, shown only in this answer. For 24 hours the \
        previous secret keeps signing beside it: each delivery carries one signature per valid \
        secret, newest first.",
    params(("endpointId" = String, Path, description = "The endpoint's id", example = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "The endpoint, with its new secret", body = EndpointBody),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the endpoint belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn rotate_secret(
    auth: Authorized<WebhooksWrite>,
    env: Env,
    path: web::Path<String>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    let (endpoint, secret) = env
        .webhooks
        .rotate_secret(&*tx, auth.organization_id, id)
        .await?;
    Ok(HttpResponse::Ok().json(EndpointBody::new(endpoint, Some(secret))))
}

#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{endpointId}/test",
    tag = "Webhooks",
    operation_id = "testWebhookEndpoint",
    summary = "Send a test.ping",
    description = "Fires a `test.ping` event of the key's environment at this endpoint only \
        (whatever its `events`): it is delivered, retried and logged like any event.",
    params(("endpointId" = String, Path, description = "The endpoint's id", example = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 202, description = "The event is queued for delivery", body = TestSent),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the endpoint belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn test(
    auth: Authorized<WebhooksWrite>,
    env: Env,
    path: web::Path<String>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    let event = env.webhooks.test(&*tx, auth.organization_id, id).await?;
    Ok(HttpResponse::Accepted().json(TestSent {
        event_id: event.to_string(),
    }))
}

#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{endpointId}/deliveries",
    tag = "Webhooks",
    operation_id = "listWebhookDeliveries",
    summary = "List an endpoint's deliveries",
    description = "Newest first, each with its attempts.",
    params(
        ("endpointId" = String, Path, description = "The endpoint's id", example = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        crate::openapi::ListQuery,
    ),
    responses((status = 200, description = "A page of deliveries", body = List<DeliveryBody>)),
)]
async fn deliveries(
    state: web::Data<AppState>,
    auth: Authorized<WebhooksRead>,
    env: Env,
    path: web::Path<String>,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    let cursor = params.cursor(DeliveryId::parse)?;
    let db = state.pool.get().await?;
    let page = env
        .webhooks
        .deliveries(&db, auth.organization_id, id, params.limit, cursor)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, DeliveryBody::from)))
}

#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{endpointId}/deliveries/{deliveryId}/redeliver",
    tag = "Webhooks",
    operation_id = "redeliverWebhook",
    summary = "Redeliver",
    description = "Queues one more attempt of the delivery, due now, whatever its status.",
    params(
        ("endpointId" = String, Path, description = "The endpoint's id", example = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        ("deliveryId" = String, Path, description = "The delivery's id", example = "whd_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
    ),
    responses(
        (status = 202, description = "The delivery, pending again", body = DeliveryBody),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the endpoint belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn redeliver(
    auth: Authorized<WebhooksWrite>,
    env: Env,
    path: web::Path<(String, String)>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let (endpoint, delivery) = path.into_inner();
    let endpoint = endpoint_id(&endpoint)?;
    let delivery = path_id(&delivery, "delivery", DeliveryId::parse)?;
    let redelivered = env
        .webhooks
        .redeliver(&*tx, auth.organization_id, endpoint, delivery)
        .await?;
    Ok(HttpResponse::Accepted().json(DeliveryBody::from(redelivered)))
}

/// `?type=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: `events` reads the query itself
struct EventQuery {
    /// Only events of this type.
    #[param(example = "job.succeeded")]
    r#type: Option<String>,
}

fn event_type_filter(req: &HttpRequest) -> Result<Option<EventType>, ApiError> {
    #[derive(Deserialize)]
    struct Raw {
        r#type: Option<String>,
    }
    let raw = web::Query::<Raw>::from_query(req.query_string())
        .map_err(|_| {
            ApiError::new(
                Code::ValidationError,
                "the query string could not be parsed",
            )
        })?
        .into_inner();
    raw.r#type
        .filter(|t| !t.is_empty())
        .map(|t| EventType::parse(&t).map_err(|e| ApiError::validation("type", e.to_string())))
        .transpose()
}

/// `{"data": [envelope…], "nextCursor": …}` from the stored envelopes, byte for byte.
fn events_page(events: Vec<StoredEvent>, next: Option<EventId>) -> Vec<u8> {
    let mut body = b"{\"data\":[".to_vec();
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&event.envelope);
    }
    body.extend_from_slice(b"],\"nextCursor\":");
    match next {
        Some(id) => body.extend_from_slice(format!("\"{id}\"").as_bytes()),
        None => body.extend_from_slice(b"null"),
    }
    body.push(b'}');
    body
}

fn event_id(raw: &str) -> Result<EventId, layers_core::IdError> {
    EventId::parse(raw).map_err(|_| layers_core::IdError { prefix: "evt" })
}

#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "Webhooks",
    operation_id = "listEvents",
    summary = "List events",
    description = "The events the key's environment produced, newest first, exactly as they \
        were delivered: for reconciliation after an outage.",
    params(crate::openapi::ListQuery, EventQuery),
    responses((status = 200, description = "A page of events", body = List<EventEnvelope>)),
)]
async fn events(
    state: web::Data<AppState>,
    auth: Authorized<WebhooksRead>,
    env: Env,
    params: ListParams,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let cursor = params.cursor(event_id)?;
    let event_type = event_type_filter(&req)?;
    let db = state.pool.get().await?;
    let page = env
        .webhooks
        .events(&db, auth.organization_id, event_type, params.limit, cursor)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(events_page(page.items, page.next)))
}

#[utoipa::path(
    get,
    path = "/v1/events/{eventId}",
    tag = "Webhooks",
    operation_id = "getEvent",
    summary = "Get an event",
    params(("eventId" = String, Path, description = "The event's id", example = "evt_01JTTW0V4K6X9B3M2N5P7Q8R1S"),),
    responses((status = 200, description = "The event, exactly as delivered", body = EventEnvelope)),
)]
async fn event(
    state: web::Data<AppState>,
    auth: Authorized<WebhooksRead>,
    env: Env,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "event", event_id)?;
    let db = state.pool.get().await?;
    let event = env
        .webhooks
        .event(&db, auth.organization_id, id)
        .await
        .map_err(|e| match e {
            StoreError::InOtherEnvironment(other) => ApiError::in_other_environment("event", other),
            e => e.into(),
        })?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(event.envelope))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_list, list)
        .route(__path_create, create)
        .route(__path_get, get)
        .route(__path_update, update)
        .route(__path_delete, delete)
        .route(__path_rotate_secret, rotate_secret)
        .route(__path_test, test)
        .route(__path_deliveries, deliveries)
        .route(__path_redeliver, redeliver)
        .route(__path_events, events)
        .route(__path_event, event);
}
