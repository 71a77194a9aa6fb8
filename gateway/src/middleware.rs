//! The outermost middleware: a request id on every response, one log line per request, the
//! error envelope for every error (including the framework's own 404/405 and panics).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use futures_util::FutureExt as _;
use tracing::Instrument as _;

use crate::error::ApiError;

/// Largest request body accepted anywhere.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request being served (or `unknown` outside one).
pub fn current_request_id() -> String {
    CURRENT_REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Runs `fut` with `id` as the current request id.
pub fn with_request_id<F: Future>(id: String, fut: F) -> impl Future<Output = F::Output> {
    CURRENT_REQUEST_ID.scope(id, fut)
}

fn new_request_id() -> String {
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

fn declared_length(req: &ServiceRequest) -> Option<u64> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// What the inner service produced: a response with its request, or only a response (an
/// error or a panic, after which the request is gone).
enum Outcome {
    Served(ServiceResponse<BoxBody>),
    Bare(HttpResponse),
}

impl Outcome {
    fn status(&self) -> StatusCode {
        match self {
            Outcome::Served(res) => res.status(),
            Outcome::Bare(res) => res.status(),
        }
    }

    /// Whether the response is one the framework made itself: an empty body or one that is
    /// not JSON (every body of ours is JSON).
    fn is_framework_made(&self) -> bool {
        let res = match self {
            Outcome::Served(res) => res.response(),
            Outcome::Bare(res) => res,
        };
        let json = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        !json || matches!(res.body().size(), BodySize::None | BodySize::Sized(0))
    }

    /// Swaps the response for `with`, keeping the headers already set (rate limits) except
    /// those that describe the old body.
    fn replace(self, mut with: HttpResponse) -> Outcome {
        let kept: Vec<_> = match &self {
            Outcome::Served(res) => res.headers(),
            Outcome::Bare(res) => res.headers(),
        }
        .iter()
        .filter(|(name, _)| **name != CONTENT_TYPE && **name != CONTENT_LENGTH)
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
        for (name, value) in kept {
            if !with.headers().contains_key(&name) {
                with.headers_mut().insert(name, value);
            }
        }
        match self {
            Outcome::Served(res) => Outcome::Served(res.into_response(with)),
            Outcome::Bare(_) => Outcome::Bare(with),
        }
    }

    fn headers_mut(&mut self) -> &mut actix_web::http::header::HeaderMap {
        match self {
            Outcome::Served(res) => res.headers_mut(),
            Outcome::Bare(res) => res.headers_mut(),
        }
    }
}

/// The text of a caught panic, for the log.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

/// The routes that stream their body to storage under limits of their own (a live upload's
/// `PUT`: its declared size, at most `LAYERS_UPLOAD_MAX_BYTES`) rather than [`BODY_LIMIT`].
fn streams_its_body(req: &ServiceRequest) -> bool {
    req.method() == actix_web::http::Method::PUT && req.path().starts_with("/uploads/")
}

/// See the module docs.
pub async fn envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = new_request_id();
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.path());
    let method = req.method().to_string();
    let path = req.path().to_owned();

    let served = async {
        if declared_length(&req).is_some_and(|n| n > BODY_LIMIT as u64) && !streams_its_body(&req) {
            return Outcome::Served(
                req.into_response(ApiError::payload_too_large().error_response()),
            );
        }
        let outcome = match AssertUnwindSafe(next.call(req)).catch_unwind().await {
            Ok(Ok(res)) => Outcome::Served(res.map_into_boxed_body()),
            Ok(Err(err)) => Outcome::Bare(err.error_response()),
            Err(panic) => Outcome::Bare(
                ApiError::internal(format!(
                    "handler panicked: {}",
                    panic_message(panic.as_ref())
                ))
                .error_response(),
            ),
        };
        // Errors the framework made itself (no route, wrong method) get our envelope too.
        let status = outcome.status();
        if (status.is_client_error() || status.is_server_error()) && outcome.is_framework_made() {
            let replacement = ApiError::for_status(status, &method, &path).error_response();
            return outcome.replace(replacement);
        }
        outcome
    };
    let mut outcome = with_request_id(id.clone(), served.instrument(span.clone())).await;

    if let Ok(value) = HeaderValue::from_str(&id) {
        outcome.headers_mut().insert(REQUEST_ID, value);
    }
    // no answer of ours is ever to be sniffed into another type (media, fixtures, errors)
    outcome.headers_mut().insert(
        actix_web::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let _entered = span.enter();
    tracing::info!(
        status = outcome.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "served"
    );
    match outcome {
        Outcome::Served(res) => Ok(res),
        // Without its request a response can only travel as an error; actix writes it as is.
        Outcome::Bare(res) => Err(InternalError::from_response("request failed", res).into()),
    }
}
