//! The transaction every write runs in, and the middleware that owns it (CONTRACT §5).
//!
//! For POST, PATCH, PUT and DELETE under `/v1` the middleware first reads the whole body (with
//! an idle and a total time limit, before any database connection is taken), then:
//!
//! - with an `Idempotency-Key`, opens the transaction and claims the key in one round trip
//!   ([`layers_idempotency::begin`]); a replay, a mismatch or a key in progress is answered at
//!   once. Otherwise the handler runs in that transaction ([`Tx`]) and the middleware stores the
//!   answer in it and commits ([`layers_idempotency::commit`]): the side effect and the answer it
//!   is replayed with are one fact. A 4xx rolls the handler's writes back and stores only the
//!   answer; a 5xx or a panic rolls everything back, which releases the key.
//! - without a key, a handler that asks for a [`Tx`] gets a transaction of its own, committed
//!   when the handler succeeds and rolled back otherwise.
//!
//! A request dropped half-way (the client hung up) drops its transaction, which rolls back: the
//! write happened with its answer stored, or neither happened.

use std::cell::RefCell;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Duration;

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt as _, StreamExt as _};
use layers_db::Client;
use layers_idempotency::{self as idem, Begin, Fingerprint, IdempotencyKey, Scope, StoredResponse};

use crate::app::AppState;
use crate::auth::{Endpoint, Principal};
use crate::error::{ApiError, Code};
use crate::middleware::BODY_LIMIT;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const REPLAYED: actix_web::http::header::HeaderName =
    actix_web::http::header::HeaderName::from_static("idempotent-replayed");

/// An open transaction on a pooled connection. Dropped without [`UnitOfWork::commit`], it rolls
/// back before the connection returns to the pool.
pub struct UnitOfWork {
    client: Option<Client>,
}

impl UnitOfWork {
    /// Opens a transaction. `BEGIN` is sent without waiting for its answer: the first statement
    /// of the transaction travels in the same round trip, and a connection that cannot begin
    /// fails that statement too.
    async fn begin(state: &AppState) -> Result<UnitOfWork, ApiError> {
        let client = state.pool.get().await?;
        // polling once sends the message; the answer is read (and dropped) by the connection
        let _ = client.batch_execute("BEGIN").now_or_never();
        Ok(UnitOfWork {
            client: Some(client),
        })
    }

    /// Wraps a connection on which a transaction is about to be opened (by the caller's first
    /// statements).
    fn opened(client: Client) -> UnitOfWork {
        UnitOfWork {
            client: Some(client),
        }
    }

    fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a unit of work holds its client until it ends")
    }

    /// Commits; the connection returns to the pool.
    async fn commit(mut self) -> Result<(), ApiError> {
        let client = self.client.take().expect("a unit of work commits once");
        match client.batch_execute("COMMIT").await {
            Ok(()) => Ok(()),
            Err(e) => {
                UnitOfWork::discard(client);
                Err(ApiError::internal(e))
            }
        }
    }

    /// Ends the unit of work after the caller committed through [`UnitOfWork::client`]; if that
    /// failed, the connection is not trusted again.
    fn committed(
        mut self,
        outcome: Result<(), impl Into<Box<dyn std::error::Error + Send + Sync>>>,
    ) -> Result<(), ApiError> {
        let client = self.client.take().expect("a unit of work ends once");
        outcome.map_err(|e| {
            UnitOfWork::discard(client);
            ApiError::internal(e)
        })
    }

    /// Ends the unit of work after a server error: the transaction is abandoned with its
    /// connection, which may be the very thing that failed (a connection the server closed is
    /// not always known to be closed yet when it would return to the pool).
    fn abandon(mut self) {
        if let Some(client) = self.client.take() {
            UnitOfWork::discard(client);
        }
    }

    /// Closes a connection whose transaction failed to commit instead of returning it to the
    /// pool: it may be dead (the pool's cheap check would not notice yet), and the next request
    /// must not inherit it.
    fn discard(client: Client) {
        drop(deadpool_postgres::Object::take(client));
    }
}

impl Drop for UnitOfWork {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Sent before the connection can be checked out again: the next user's statements
            // queue behind it on the same connection.
            let _ = client.batch_execute("ROLLBACK").now_or_never();
        }
    }
}

impl std::fmt::Debug for UnitOfWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitOfWork")
            .field("open", &self.client.is_some())
            .finish()
    }
}

/// Where a request's unit of work waits between the middleware and the handler.
#[derive(Clone, Default)]
struct Slot(Rc<RefCell<Option<UnitOfWork>>>);

impl Slot {
    fn take(&self) -> Option<UnitOfWork> {
        self.0.borrow_mut().take()
    }

    fn put(&self, uow: UnitOfWork) {
        *self.0.borrow_mut() = Some(uow);
    }
}

/// The request's transaction, for handlers that write: pass `&*tx` wherever a database client
/// is expected. The middleware commits it after the handler answered (2xx/3xx) or rolls it back.
pub struct Tx {
    uow: Option<UnitOfWork>,
    slot: Slot,
}

impl Deref for Tx {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.uow
            .as_ref()
            .expect("a Tx holds its unit of work")
            .client()
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        // back to the middleware, which decides how it ends
        if let Some(uow) = self.uow.take() {
            self.slot.put(uow);
        }
    }
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl FromRequest for Tx {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Tx, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let slot = req.extensions().get::<Slot>().cloned();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let (Some(slot), Some(state)) = (slot, state) else {
                return Err(ApiError::internal(
                    "a route outside the transaction middleware asked for a Tx",
                ));
            };
            let uow = match slot.take() {
                Some(open) => open,
                None => UnitOfWork::begin(&state).await?,
            };
            Ok(Tx {
                uow: Some(uow),
                slot,
            })
        })
    }
}

/// Reads the whole body, giving up when no byte arrives for `idle` or the whole takes longer
/// than `total` (408), or it outgrows [`BODY_LIMIT`] (413).
async fn read_body(
    mut payload: Payload,
    idle: Duration,
    total: Duration,
) -> Result<Bytes, ApiError> {
    let deadline = tokio::time::Instant::now() + total;
    let mut body = BytesMut::new();
    loop {
        let until = (tokio::time::Instant::now() + idle).min(deadline);
        let chunk = match tokio::time::timeout_at(until, payload.next()).await {
            Err(_) => {
                return Err(ApiError::new(
                    Code::RequestTimeout,
                    "the request body arrived too slowly; send it at once and retry",
                )
                .closing_the_connection())
            }
            Ok(None) => return Ok(body.freeze()),
            Ok(Some(chunk)) => chunk,
        };
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Overflow => ApiError::payload_too_large(),
            _ => ApiError::new(Code::ValidationError, "the request body could not be read"),
        })?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(ApiError::payload_too_large());
        }
        body.extend_from_slice(&chunk);
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

/// What the handler (and the middlewares inside this one) answered.
enum Answer {
    Served(ServiceResponse<BoxBody>),
    Failed(actix_web::Error),
}

impl Answer {
    fn status(&self) -> StatusCode {
        match self {
            Answer::Served(res) => res.status(),
            Answer::Failed(e) => e.as_response_error().status_code(),
        }
    }

    fn into_result(self) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        match self {
            Answer::Served(res) => Ok(res),
            Answer::Failed(e) => Err(e),
        }
    }
}

/// Runs the inner service; a panic rolls back whatever `slot` holds and goes on unwinding.
async fn run(req: ServiceRequest, next: Next<impl MessageBody + 'static>, slot: &Slot) -> Answer {
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(Ok(res)) => Answer::Served(res.map_into_boxed_body()),
        Ok(Err(e)) => Answer::Failed(e),
        Err(panic) => {
            drop(slot.take());
            std::panic::resume_unwind(panic);
        }
    }
}

/// See the module docs.
pub async fn transact(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let slot = Slot::default();
    req.extensions_mut().insert(slot.clone());
    let writes = matches!(
        *req.method(),
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    );
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state is missing"))?;
    if !writes {
        let answer = run(req, next, &slot).await;
        return finish(slot.take(), answer).await;
    }

    let body = read_body(
        req.take_payload(),
        state.settings.body_idle_timeout,
        state.settings.body_timeout,
    )
    .await?;
    req.set_payload(Payload::from(body.clone()));

    let Some(header) = req.headers().get(IDEMPOTENCY_KEY).cloned() else {
        let answer = run(req, next, &slot).await;
        return finish(slot.take(), answer).await;
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
        return Err(
            ApiError::internal("the transaction middleware runs inside authentication").into(),
        );
    };
    if !endpoint.matched {
        // No route: a 404 that changes nothing. The endpoint is named from the same decoded path
        // the router matches, so every write that reaches a handler is matched.
        let answer = run(req, next, &slot).await;
        return finish(slot.take(), answer).await;
    }

    // the decoded path the router matched: `/v1/%70rojects` and `/v1/projects` are one request
    let path_and_query = match req.query_string() {
        "" => req.match_info().as_str().to_owned(),
        query => format!("{}?{query}", req.match_info().as_str()),
    };
    let fingerprint = Fingerprint::of(&path_and_query, &body);
    let scope = Scope {
        api_key_id: principal.api_key_id,
        endpoint: &endpoint.name,
        key: &key,
    };
    // Wrapped before the first statement is sent: should this request be dropped during the
    // claim's round trip, the connection still rolls back before it returns to the pool.
    let uow = UnitOfWork::opened(state.pool.get().await.map_err(ApiError::from)?);
    let begun = match idem::begin(uow.client(), scope, &fingerprint).await {
        Ok(begun) => begun,
        Err(e) => {
            // the claim failed, perhaps with its connection: never hand that one out again
            uow.abandon();
            return Err(ApiError::internal(e).into());
        }
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
            slot.put(uow);
            let answer = run(req, next, &slot).await;
            let Some(uow) = slot.take() else {
                return Err(
                    ApiError::internal("the handler kept the request's transaction").into(),
                );
            };
            let status = answer.status();
            if status.is_server_error() {
                // rolled back: neither the side effect nor an answer, so a retry runs again
                uow.abandon();
                return answer.into_result();
            }
            let (response, stored) = match answer {
                Answer::Served(res) => {
                    let content_type = res
                        .headers()
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let (http_req, res) = res.into_parts();
                    let (res, body) = res.into_parts();
                    let bytes = to_bytes(body).await.map_err(|_| {
                        ApiError::internal("could not read the response body to store it")
                    })?;
                    let stored = StoredResponse {
                        status: status.as_u16(),
                        content_type,
                        body: bytes.to_vec(),
                    };
                    let res =
                        ServiceResponse::new(http_req, res.set_body(bytes).map_into_boxed_body());
                    (Ok(res), stored)
                }
                Answer::Failed(e) => {
                    let rendered = e.error_response();
                    let content_type = rendered
                        .headers()
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let bytes = to_bytes(rendered.into_body()).await.unwrap_or_default();
                    let stored = StoredResponse {
                        status: status.as_u16(),
                        content_type,
                        body: bytes.to_vec(),
                    };
                    (Err(e), stored)
                }
            };
            if !stored.fits() {
                // Never stored (the key is released by the rollback). A client error wrote
                // nothing; a success this large would be a route bug, refused rather than
                // committed without the answer its retries need.
                drop(uow);
                if status.is_client_error() {
                    return response;
                }
                return Err(ApiError::internal(format!(
                    "a {} answer of {} bytes is too large to store for Idempotency-Key replays",
                    status.as_u16(),
                    stored.body.len()
                ))
                .into());
            }
            let committed = if status.is_client_error() {
                idem::commit_answer_only(uow.client(), scope, &fingerprint, &stored).await
            } else {
                idem::commit(uow.client(), scope, &fingerprint, &stored).await
            };
            uow.committed(committed)?;
            response
        }
    }
}

/// Ends a unit of work the handler opened without an idempotency key: commit after a success,
/// roll back otherwise.
async fn finish(
    uow: Option<UnitOfWork>,
    answer: Answer,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(uow) = uow {
        let status = answer.status();
        if status.is_success() || status.is_redirection() {
            uow.commit().await?;
        } else if status.is_server_error() {
            uow.abandon();
        }
    }
    answer.into_result()
}
