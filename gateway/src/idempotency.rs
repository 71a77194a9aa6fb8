//! The idempotency middleware (CONTRACT §5) for every POST, PATCH and DELETE under `/v1`: no
//! route needs code of its own. It runs after authentication (the key's scope is the API key)
//! and hands the stored answer back byte for byte on a replay.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpResponse};
use layers_db::Pool;
use layers_idempotency::{self as idem, Begin, Fingerprint, IdempotencyKey, Scope, StoredResponse};

use crate::app::AppState;
use crate::auth::{Endpoint, Principal};
use crate::error::{ApiError, Code};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Releases a claimed key if the request never finishes (panic, dropped connection), so that a
/// retry can run.
struct Claim {
    pool: Pool,
    api_key_id: uuid::Uuid,
    endpoint: String,
    key: IdempotencyKey,
    settled: bool,
}

impl Claim {
    fn scope(&self) -> Scope<'_> {
        Scope {
            api_key_id: self.api_key_id,
            endpoint: &self.endpoint,
            key: &self.key,
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (pool, api_key_id, endpoint, key) = (
            self.pool.clone(),
            self.api_key_id,
            self.endpoint.clone(),
            self.key.clone(),
        );
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Ok(db) = pool.get().await {
                    let scope = Scope { api_key_id, endpoint: &endpoint, key: &key };
                    if let Err(e) = idem::release(&db, scope).await {
                        tracing::warn!(error = %e, "could not release an abandoned idempotency key");
                    }
                }
            });
        }
    }
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let mut res =
        HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
    if let Some(content_type) = stored.content_type {
        res.insert_header((CONTENT_TYPE, content_type));
    }
    res.insert_header((REPLAYED, HeaderValue::from_static("true")));
    res.body(stored.body)
}

/// See the module docs.
pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let writes = matches!(*req.method(), Method::POST | Method::PATCH | Method::DELETE);
    let header = req.headers().get(IDEMPOTENCY_KEY).cloned();
    let (true, Some(header)) = (writes, header) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = header
        .to_str()
        .ok()
        .and_then(|v| IdempotencyKey::parse(v).ok())
        .ok_or_else(|| {
            ApiError::validation(
                "Idempotency-Key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
            )
        })?;
    let (principal, endpoint) = {
        let ext = req.extensions();
        (
            ext.get::<Principal>().cloned(),
            ext.get::<Endpoint>().cloned(),
        )
    };
    let (Some(principal), Some(endpoint)) = (principal, endpoint) else {
        return Err(ApiError::internal("idempotency runs inside authentication").into());
    };
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state is missing"))?;

    // Read the body once: it is fingerprinted here and handed on to the route.
    let body = req.extract::<Bytes>().await.map_err(|e| {
        if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            ApiError::new(Code::ValidationError, "the request body could not be read")
        }
    })?;
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_owned();
    let fingerprint = Fingerprint::of(&path_and_query, &body);
    req.set_payload(actix_web::dev::Payload::from(body));

    let mut claim = Claim {
        pool: state.pool.clone(),
        api_key_id: principal.api_key_id,
        endpoint: endpoint.0,
        key,
        settled: true,
    };
    let begun = {
        let db = state.pool.get().await.map_err(ApiError::from)?;
        idem::begin(&db, claim.scope(), &fingerprint)
            .await
            .map_err(ApiError::internal)?
    };
    match begun {
        Begin::Replay(stored) => Ok(req.into_response(replay(stored))),
        Begin::InProgress => Err(ApiError::conflict(
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still running; retry after it finishes",
        )
        .into()),
        Begin::Mismatch => Err(ApiError::new(
            Code::IdempotencyKeyReused,
            "this Idempotency-Key was already used for a different request; use a new key",
        )
        .into()),
        Begin::Proceed => {
            claim.settled = false;
            let res = next.call(req).await?;
            let status = res.status();
            let content_type = res
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (http_req, res) = res.into_parts();
            let (res, body) = res.into_parts();
            let bytes = to_bytes(body)
                .await
                .map_err(|_| ApiError::internal("could not read the response body to store it"))?;
            let db = state.pool.get().await.map_err(ApiError::from)?;
            if status.is_server_error() {
                idem::release(&db, claim.scope())
                    .await
                    .map_err(ApiError::internal)?;
            } else {
                let stored = StoredResponse {
                    status: status.as_u16(),
                    content_type,
                    body: bytes.to_vec(),
                };
                idem::complete(&db, claim.scope(), &stored)
                    .await
                    .map_err(ApiError::internal)?;
            }
            claim.settled = true;
            Ok(ServiceResponse::new(
                http_req,
                res.set_body(bytes).map_into_boxed_body(),
            ))
        }
    }
}
