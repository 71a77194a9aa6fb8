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

/// What a request that carries an `Idempotency-Key` claims: its scope and fingerprint, kept so
/// that the claim can be taken again after the handler released it ([`Deferred`]).
#[derive(Debug, Clone)]
struct Claim {
    api_key_id: uuid::Uuid,
    endpoint: String,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
}

impl Claim {
    fn scope(&self) -> Scope<'_> {
        Scope {
            api_key_id: self.api_key_id,
            endpoint: &self.endpoint,
            key: &self.key,
        }
    }

    /// What a sealed answer is bound to: it opens only under this key's scope.
    fn sealing_context(&self) -> Vec<u8> {
        format!(
            "idempotency_keys.response:{}:{}:{}",
            self.api_key_id,
            self.endpoint,
            self.key.as_str()
        )
        .into_bytes()
    }
}

/// What taking a claim gave.
enum Claimed {
    /// The key is this request's: run it in this transaction.
    Proceed(UnitOfWork),
    /// The key already answered: this is the answer, replayed.
    Replay(HttpResponse),
}

/// Opens a transaction on a pooled connection and claims the key in it (one round trip). A key
/// in progress is 409 and a key used for another request 422.
async fn claim_key(state: &AppState, claim: &Claim) -> Result<Claimed, ApiError> {
    // Wrapped before the first statement is sent: should this request be dropped during the
    // claim's round trip, the connection still rolls back before it returns to the pool.
    let uow = UnitOfWork::opened(state.pool.get().await?);
    let begun = match idem::begin(uow.client(), claim.scope(), &claim.fingerprint).await {
        Ok(begun) => begun,
        Err(e) => {
            // the claim failed, perhaps with its connection: never hand that one out again
            uow.abandon();
            return Err(ApiError::internal(e));
        }
    };
    match begun {
        Begin::Proceed => Ok(Claimed::Proceed(uow)),
        Begin::Replay(stored) => Ok(Claimed::Replay(replay(state, claim, stored)?)),
        Begin::InProgress => Err(ApiError::conflict(
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still running; retry after it finishes",
        )),
        Begin::Mismatch => Err(ApiError::new(
            Code::IdempotencyKeyReused,
            "this Idempotency-Key was already used for a different request; use a new key",
        )),
    }
}

#[derive(Default)]
struct SlotState {
    uow: Option<UnitOfWork>,
    claim: Option<Claim>,
    /// The handler took the claim back and found the key already answered: its answer is that
    /// replay, which is not stored again.
    replayed: bool,
}

/// Where a request's unit of work waits between the middleware and the handler.
#[derive(Clone, Default)]
struct Slot(Rc<RefCell<SlotState>>);

impl Slot {
    fn take(&self) -> Option<UnitOfWork> {
        self.0.borrow_mut().uow.take()
    }

    fn put(&self, uow: UnitOfWork) {
        self.0.borrow_mut().uow = Some(uow);
    }

    fn claim(&self) -> Option<Claim> {
        self.0.borrow().claim.clone()
    }

    fn replayed(&self) -> bool {
        self.0.borrow().replayed
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

/// The slot and the state of a request, or a 500 for a route outside the middleware.
fn slot_and_state(req: &HttpRequest) -> Result<(Slot, web::Data<AppState>), ApiError> {
    let slot = req.extensions().get::<Slot>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    match (slot, state) {
        (Some(slot), Some(state)) => Ok((slot, state)),
        _ => Err(ApiError::internal(
            "a route outside the transaction middleware asked for a Tx",
        )),
    }
}

/// The slot's transaction (the claim's, with an `Idempotency-Key`), or a new one.
async fn open_tx(slot: Slot, state: &AppState) -> Result<Tx, ApiError> {
    let uow = match slot.take() {
        Some(open) => open,
        None => UnitOfWork::begin(state).await?,
    };
    Ok(Tx {
        uow: Some(uow),
        slot,
    })
}

impl FromRequest for Tx {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Tx, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = slot_and_state(req);
        Box::pin(async move {
            let (slot, state) = found?;
            open_tx(slot, &state).await
        })
    }
}

/// The request's transaction for a handler that must wait on someone outside (fetch a URL)
/// between its checks and its writes: it checks in [`Deferred::tx`], gives the transaction and
/// its connection back with [`Deferred::release`] before going outside, and writes in
/// [`Deferred::reopen`]'s. No connection, transaction or idempotency claim is held meanwhile:
/// a request with the same `Idempotency-Key` arriving then may run too, and whichever takes the
/// claim back second answers the first one's stored answer (and drops what it fetched). A
/// handler reopens before it answers, even to refuse what it fetched, so that its answer is
/// stored under the key like any other.
pub struct Deferred {
    slot: Slot,
    state: web::Data<AppState>,
}

/// What [`Deferred::reopen`] gives.
#[derive(Debug)]
pub enum Reopened {
    /// Write in this transaction.
    Tx(Tx),
    /// The key was answered meanwhile: answer this, and drop what was prepared.
    Replay(HttpResponse),
}

impl Deferred {
    /// The transaction to check in before going outside.
    pub async fn tx(&self) -> Result<Tx, ApiError> {
        open_tx(self.slot.clone(), &self.state).await
    }

    /// Rolls the transaction back and returns its connection (the claim goes with it).
    pub fn release(&self) {
        drop(self.slot.take());
    }

    /// A transaction to write in, the `Idempotency-Key` claimed again if there is one.
    pub async fn reopen(&self) -> Result<Reopened, ApiError> {
        let Some(claim) = self.slot.claim() else {
            return Ok(Reopened::Tx(self.tx().await?));
        };
        match claim_key(&self.state, &claim).await? {
            Claimed::Proceed(uow) => {
                self.slot.put(uow);
                Ok(Reopened::Tx(self.tx().await?))
            }
            Claimed::Replay(res) => {
                self.slot.0.borrow_mut().replayed = true;
                Ok(Reopened::Replay(res))
            }
        }
    }
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deferred")
    }
}

impl FromRequest for Deferred {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Deferred, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(slot_and_state(req).map(|(slot, state)| Deferred { slot, state }))
    }
}

/// The slowest a streamed upload body may arrive on average: its total deadline is its size at
/// this rate, and never less than the `/v1` body deadline.
pub const MIN_UPLOAD_RATE: u64 = 64 * 1024;

/// The deadline of a streamed body of `size` bytes (see [`MIN_UPLOAD_RATE`]).
pub fn upload_deadline(size: u64, floor: Duration) -> Duration {
    Duration::from_secs(size / MIN_UPLOAD_RATE).max(floor)
}

/// Whether a [`deadlined`] body gave up.
#[derive(Debug, Clone, Default)]
pub struct TimedOut(Rc<std::cell::Cell<bool>>);

impl TimedOut {
    pub fn happened(&self) -> bool {
        self.0.get()
    }
}

/// `payload` as a stream that ends with an error when no byte arrives for `idle` or the whole
/// takes longer than `total` (and says so in the returned [`TimedOut`]): a body streamed
/// elsewhere gets the same deadlines as one read whole.
pub fn deadlined(
    payload: impl futures_util::Stream<Item = Result<Bytes, actix_web::error::PayloadError>>
        + Unpin
        + 'static,
    idle: Duration,
    total: Duration,
) -> (
    impl futures_util::Stream<Item = Result<Bytes, String>> + Unpin,
    TimedOut,
) {
    let deadline = tokio::time::Instant::now() + total;
    let timed_out = TimedOut::default();
    let flag = timed_out.clone();
    let stream = futures_util::stream::unfold(Some(payload), move |payload| {
        let flag = flag.clone();
        async move {
            let mut payload = payload?;
            let until = (tokio::time::Instant::now() + idle).min(deadline);
            match tokio::time::timeout_at(until, payload.next()).await {
                Err(_) => {
                    flag.0.set(true);
                    Some((Err("the body arrived too slowly".to_owned()), None))
                }
                Ok(None) => None,
                Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(payload))),
                Ok(Some(Err(e))) => Some((Err(e.to_string()), None)),
            }
        }
    });
    (Box::pin(stream), timed_out)
}

/// 408 for a body that arrived too slowly; the connection is closed.
pub fn too_slow() -> ApiError {
    ApiError::new(
        Code::RequestTimeout,
        "the request body arrived too slowly; send it at once and retry",
    )
    .closing_the_connection()
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
            Err(_) => return Err(too_slow()),
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

/// The stored answer, opened if it was sealed.
fn replay(
    state: &AppState,
    claim: &Claim,
    stored: StoredResponse,
) -> Result<HttpResponse, ApiError> {
    let body = if stored.sealed {
        let key = state.answers_key.as_ref().ok_or_else(|| {
            ApiError::internal("a sealed idempotent answer, and no LAYERS_MASTER_KEY to open it")
        })?;
        layers_webhooks::open(key, &stored.body, &claim.sealing_context())
            .map_err(|e| ApiError::internal(format!("could not open a stored answer: {e}")))?
    } else {
        stored.body
    };
    let mut res =
        HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK));
    if let Some(content_type) = stored.content_type {
        res.insert_header((CONTENT_TYPE, content_type));
    }
    res.insert_header((REPLAYED, HeaderValue::from_static("true")));
    Ok(res.body(body))
}

/// The answer as it is stored: sealed under the master key when there is one, so that no
/// secret an answer carries (a webhook secret, an OAuth state, a signed upload URL) is kept in
/// clear. A process without a master key stores answers as they are.
fn to_store(
    state: &AppState,
    claim: &Claim,
    status: StatusCode,
    content_type: Option<String>,
    body: &[u8],
) -> StoredResponse {
    let (body, sealed) = match &state.answers_key {
        Some(key) => (
            layers_webhooks::seal(key, body, &claim.sealing_context()),
            true,
        ),
        None => (body.to_vec(), false),
    };
    StoredResponse {
        status: status.as_u16(),
        content_type,
        body,
        sealed,
    }
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

    let Some(claim) = claim_of(&req, &body)? else {
        let answer = run(req, next, &slot).await;
        return finish(slot.take(), answer).await;
    };
    match claim_key(&state, &claim).await? {
        Claimed::Replay(res) => return Ok(req.into_response(res)),
        Claimed::Proceed(uow) => {
            slot.put(uow);
            slot.0.borrow_mut().claim = Some(claim.clone());
        }
    }
    let answer = run(req, next, &slot).await;
    if slot.replayed() {
        return answer.into_result();
    }
    match slot.take() {
        Some(uow) => store_answer(&state, uow, &claim, answer).await,
        // The handler released the claim (to wait on someone outside) and answered without
        // taking it back: nothing it did was written, and its answer is not stored.
        None => answer.into_result(),
    }
}

/// The claim of a write that carries an `Idempotency-Key` and reached a route (an unmatched
/// path is a 404 that changes nothing); a malformed key is 400.
fn claim_of(req: &ServiceRequest, body: &Bytes) -> Result<Option<Claim>, ApiError> {
    let Some(header) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
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
    let ext = req.extensions();
    let (Some(principal), Some(endpoint)) = (ext.get::<Principal>(), ext.get::<Endpoint>()) else {
        return Err(ApiError::internal(
            "the transaction middleware runs inside authentication",
        ));
    };
    if !endpoint.matched {
        // the endpoint is named from the same decoded path the router matches, so every write
        // that reaches a handler is matched
        return Ok(None);
    }
    // the decoded path the router matched: `/v1/%70rojects` and `/v1/projects` are one request
    let path_and_query = match req.query_string() {
        "" => req.match_info().as_str().to_owned(),
        query => format!("{}?{query}", req.match_info().as_str()),
    };
    Ok(Some(Claim {
        api_key_id: principal.api_key_id,
        endpoint: endpoint.name.clone(),
        key,
        fingerprint: Fingerprint::of(&path_and_query, body),
    }))
}

/// Stores the handler's answer under the key and commits, in `uow`: a 2xx/3xx with the
/// handler's writes, a 4xx without them (rolled back to the claim's savepoint); a 5xx rolls
/// everything back, which releases the key.
async fn store_answer(
    state: &AppState,
    uow: UnitOfWork,
    claim: &Claim,
    answer: Answer,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let status = answer.status();
    if status.is_server_error() {
        // rolled back: neither the side effect nor an answer, so a retry runs again
        uow.abandon();
        return answer.into_result();
    }
    let (response, content_type, bytes) = match answer {
        Answer::Served(res) => {
            let content_type = content_type_of(res.headers());
            let (http_req, res) = res.into_parts();
            let (res, body) = res.into_parts();
            let bytes = to_bytes(body)
                .await
                .map_err(|_| ApiError::internal("could not read the response body to store it"))?;
            let res =
                ServiceResponse::new(http_req, res.set_body(bytes.clone()).map_into_boxed_body());
            (Ok(res), content_type, bytes)
        }
        Answer::Failed(e) => {
            let rendered = e.error_response();
            let content_type = content_type_of(rendered.headers());
            let bytes = to_bytes(rendered.into_body()).await.unwrap_or_default();
            (Err(e), content_type, bytes)
        }
    };
    if bytes.len() > layers_idempotency::MAX_STORED_BODY {
        // Never stored (the key is released by the rollback). A client error wrote nothing; a
        // success this large would be a route bug, refused rather than committed without the
        // answer its retries need.
        drop(uow);
        if status.is_client_error() {
            return response;
        }
        return Err(ApiError::internal(format!(
            "a {} answer of {} bytes is too large to store for Idempotency-Key replays",
            status.as_u16(),
            bytes.len()
        ))
        .into());
    }
    let stored = to_store(state, claim, status, content_type, &bytes);
    let committed = if status.is_client_error() {
        idem::commit_answer_only(uow.client(), claim.scope(), &claim.fingerprint, &stored).await
    } else {
        idem::commit(uow.client(), claim.scope(), &claim.fingerprint, &stored).await
    };
    uow.committed(committed)?;
    response
}

fn content_type_of(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
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
