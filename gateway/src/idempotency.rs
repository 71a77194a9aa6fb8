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
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt as _;
use layers_idempotency::{
    self as idem, Begin, ClaimToken, Fingerprint, IdempotencyKey, Scope, StoredResponse,
};

use crate::app::AppState;
use crate::auth::{Endpoint, Principal};
use crate::error::{ApiError, Code};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A claimed key and how to reach it.
#[derive(Clone)]
struct Claim {
    pool: Pool,
    api_key_id: uuid::Uuid,
    endpoint: String,
    key: IdempotencyKey,
}

impl Claim {
    fn scope(&self) -> Scope<'_> {
        Scope {
            api_key_id: self.api_key_id,
            endpoint: &self.endpoint,
            key: &self.key,
        }
    }

    /// Forgets the claim so that a retry runs again (after a 5xx or a panic).
    async fn release(&self, token: ClaimToken) {
        let released = match self.pool.get().await {
            Ok(db) => idem::release(&db, self.scope(), token)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not release an idempotency key; it frees itself after the takeover delay");
        }
    }

    /// Stores the answer in a task of its own: once the route has run, a client that hangs up
    /// must not keep the answer from being stored. A failed attempt is retried in the background
    /// (the answer is sent after the first attempt): an answer never stored would leave the key
    /// claimed until the takeover, after which a retry would run the side effect again.
    async fn complete(self, token: ClaimToken, stored: StoredResponse) {
        let (first, first_done) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut first = Some(first);
            for (attempt, pause) in STORE_RETRIES.iter().enumerate() {
                let outcome = match self.pool.get().await {
                    Ok(db) => idem::complete(&db, self.scope(), token, &stored)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let failed = outcome.is_err();
                match outcome {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        "idempotency claim was taken over before its answer was stored"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, "could not store an idempotent answer")
                    }
                }
                if let Some(first) = first.take() {
                    let _ = first.send(());
                }
                if !failed {
                    return;
                }
                tokio::time::sleep(*pause).await;
            }
            tracing::error!(
                "gave up storing an idempotent answer; the key stays claimed until the takeover"
            );
        });
        let _ = first_done.await;
    }
}

/// Pauses between attempts to store an answer.
const STORE_RETRIES: [Duration; 6] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(15),
    Duration::from_secs(30),
];

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
    if !endpoint.matched {
        // no route: the answer is a 404 that changes nothing, and paths no route knows must not
        // share one scope of keys
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
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

    let claim = Claim {
        pool: state.pool.clone(),
        api_key_id: principal.api_key_id,
        endpoint: endpoint.name,
        key,
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
        Begin::Proceed(token) => {
            // A panic is a 500: release, then let the outer middleware answer it. A request
            // dropped half-way (the client hung up) keeps its claim: its side effect may have
            // committed, so only the takeover after ABANDONED_AFTER frees the key.
            let res = match AssertUnwindSafe(next.call(req)).catch_unwind().await {
                Ok(Ok(res)) => res,
                Ok(Err(e)) => {
                    claim.release(token).await;
                    return Err(e);
                }
                Err(panic) => {
                    claim.release(token).await;
                    std::panic::resume_unwind(panic);
                }
            };
            let status = res.status();
            if status.is_server_error() {
                claim.release(token).await;
                return Ok(res.map_into_boxed_body());
            }
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
            let stored = StoredResponse {
                status: status.as_u16(),
                content_type,
                body: bytes.to_vec(),
            };
            claim.complete(token, stored).await;
            Ok(ServiceResponse::new(
                http_req,
                res.set_body(bytes).map_into_boxed_body(),
            ))
        }
    }
}
