//! Webhooks of the Layers Partner API (CONTRACT §10): the pure parts, with no database and no HTTP.
//!
//! ```
//! use layers_webhooks::{
//!     delivery_headers, envelope_json, verify_layers_signature, verify_standard_signature,
//!     EnvKind, EventId, EventType, SystemRandom, WebhookSecret, DEFAULT_TOLERANCE_SECS,
//! };
//!
//! let rng = SystemRandom::new();
//! let secret = WebhookSecret::generate(&rng); // shown to the partner once: secret.as_str()
//! let id = EventId::generate(&rng);
//! let now = chrono::Utc::now();
//! let body = envelope_json(&id, EventType::TestPing, now, EnvKind::Sandbox, serde_json::json!({}));
//!
//! let t = now.timestamp();
//! let headers = delivery_headers(&id, EventType::TestPing, t, &body, &[secret.clone()])?;
//! let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
//!
//! // What a partner's receiver does, with either scheme:
//! let signature = header("X-Layers-Signature").unwrap();
//! verify_layers_signature(&secret, signature, &body, t, DEFAULT_TOLERANCE_SECS)?;
//! verify_standard_signature(
//!     &secret,
//!     header("webhook-id").unwrap(),
//!     header("webhook-timestamp").unwrap(),
//!     header("webhook-signature").unwrap(),
//!     &body,
//!     t,
//!     DEFAULT_TOLERANCE_SECS,
//! )?;
//! assert!(verify_layers_signature(&secret, signature, b"{}", t, DEFAULT_TOLERANCE_SECS).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`WebhookSecret`]: an endpoint's signing secret, `whsec_` + standard base64 of 32 random
//!   bytes from ring's CSPRNG; its `Debug` is redacted.
//! - Signing: [`delivery_headers`] gives every header a delivery carries: `X-Layers-Signature`
//!   (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the secret string as
//!   shown), `X-Layers-Event-Id`, `X-Layers-Event-Type` and the Standard Webhooks headers
//!   `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
//!   "<id>.<t>.<body>">`, keyed with the base64-decoded part after `whsec_`). During a rotation
//!   both signature headers carry one signature per secret, newest first.
//!   [`verify_layers_signature`] and [`verify_standard_signature`] check them in constant time.
//! - Sealing: [`MasterKey`] (`LAYERS_MASTER_KEY`, CONTRACT §3) and [`seal`]/[`open`], AES-256-GCM
//!   with a random nonce per seal and associated data that ties a sealed value to its row.
//! - Events: [`EventId`] (`evt_` + a ULID), [`EventType`] and [`envelope_json`], the exact bytes
//!   that are delivered and signed.
//!
//! With the default `store` feature, the database side:
//!
//! - [`Webhooks`]: one environment's endpoints (each belongs to the environment of the key that
//!   created it and receives only its events), with secrets sealed under the master key,
//!   rotation with a 24-hour grace, `test.ping`, the deliveries log, redelivery, and the events
//!   the environment produced.
//! - [`emit`]: the outbox. An event and a delivery per subscribed endpoint are written in one
//!   statement on the caller's transaction, so they commit with the change that caused them.
//! - [`Deliverer`]: the worker that makes deliveries, woken by `LISTEN layers_webhooks`, retrying
//!   on the schedule, at least once across crashes.

#[cfg(feature = "store")]
mod deliver;
#[cfg(feature = "store")]
mod deliver_store;
mod event;
mod examples;
#[cfg(feature = "store")]
mod reset_store;
mod seal;
mod secret;
mod sign;
#[cfg(feature = "store")]
mod store;
#[cfg(all(test, feature = "store"))]
mod tests;

#[cfg(feature = "store")]
pub use deliver::{Deliverer, DelivererHandle, DeliveryConfig, DEFAULT_SCHEDULE, EXCERPT_BYTES};
#[cfg(feature = "store")]
pub use store::{
    emit, emit_at, emit_many, emit_many_at, Attempt, Delivery, DeliveryId, DeliveryStatus,
    Endpoint, EndpointId, EndpointPatch, NewEndpoint, StoreError, StoreResult, StoredEvent,
    Subscription, Webhooks, MAX_ENDPOINTS, ROTATION_GRACE,
};

pub use event::{envelope_json, EventId, EventType, API_VERSION};
pub use examples::example_data;
pub use layers_core::EnvKind;
#[cfg(feature = "store")]
pub use reset_store::{delete_sandbox, delete_sandbox_endpoints, ProjectEvents};
pub use ring::rand::{SecureRandom, SystemRandom};
pub use seal::{open, seal, MasterKey, NONCE_LEN, TAG_LEN};
pub use secret::{WebhookSecret, SECRET_PREFIX};
pub use sign::{
    delivery_headers, layers_signature, standard_signature, verify_layers_signature,
    verify_standard_signature, DEFAULT_TOLERANCE_SECS, HEADER_EVENT_ID, HEADER_EVENT_TYPE,
    HEADER_LAYERS_SIGNATURE, HEADER_WEBHOOK_ID, HEADER_WEBHOOK_SIGNATURE, HEADER_WEBHOOK_TIMESTAMP,
};

/// What went wrong. Messages never contain a secret, a key or a signature.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum Error {
    #[error("webhook secret must be whsec_ followed by the standard base64 of 32 bytes")]
    MalformedSecret,
    #[error("master key must be the standard base64 of 32 bytes")]
    MalformedMasterKey,
    #[error("sealed value could not be opened: wrong master key, wrong row or damaged bytes")]
    Open,
    #[error("a delivery needs at least one webhook secret to sign with")]
    NoSecret,
    #[error("signature header is malformed: {0}")]
    MalformedSignature(&'static str),
    #[error("signature timestamp is outside the tolerance of {tolerance_secs} s")]
    TimestampOutOfTolerance { tolerance_secs: u64 },
    #[error("no signature matches the secret")]
    NoMatchingSignature,
    #[error("event id must be evt_ followed by a 26-character ULID")]
    MalformedEventId,
    #[error("unknown event type {0:?}: expected one of {types}", types = event::names())]
    UnknownEventType(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
