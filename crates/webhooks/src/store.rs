//! The database side of webhooks: endpoints (secrets sealed at rest), the event outbox, the
//! deliveries log and redelivery. Every write goes through the caller's connection or
//! transaction, so an event commits (or not) with the change that caused it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use layers_core::{EnvKind, Limit, Page};
use layers_db::GenericClient;
use layers_orgs::OrgId;
use layers_outbound::Url;
use ring::rand::SystemRandom;
use tokio_postgres::Row;

use crate::{envelope_json, seal, EventId, EventType, MasterKey, WebhookSecret};

layers_core::prefixed_id!(
    /// A webhook endpoint (`wh_…`).
    EndpointId,
    "wh"
);

layers_core::prefixed_id!(
    /// One event's delivery to one endpoint (`whd_…`).
    DeliveryId,
    "whd"
);

/// How long the secret before a rotation keeps signing beside the new one.
pub const ROTATION_GRACE: Duration = Duration::hours(24);

/// The longest URL and description an endpoint keeps.
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// What went wrong with a webhook operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such webhook endpoint")]
    NotFound,
    /// Read in one environment, the endpoint (or event) exists in the other one (named here).
    #[error("the object exists only in {0}")]
    InOtherEnvironment(EnvKind),
    /// A change in one environment naming an endpoint of the other one (named here).
    #[error("the endpoint belongs to {0}")]
    EnvironmentMismatch(EnvKind),
    #[error("no such delivery")]
    DeliveryNotFound,
    #[error("no such event")]
    EventNotFound,
    /// The endpoint's address is not acceptable.
    #[error("{0}")]
    InvalidUrl(String),
    /// The list of event types is not acceptable.
    #[error("{0}")]
    InvalidEvents(String),
    #[error("description must be at most {MAX_DESCRIPTION_LEN} characters")]
    InvalidDescription,
    /// The organization already has [`MAX_ENDPOINTS`] endpoints in this environment.
    #[error("an organization may have at most {MAX_ENDPOINTS} webhook endpoints per environment; delete one first")]
    TooManyEndpoints,
    /// Secrets cannot be sealed or opened without `LAYERS_MASTER_KEY`.
    #[error(
        "webhooks need LAYERS_MASTER_KEY (32 bytes, standard base64) to keep endpoint secrets"
    )]
    NotConfigured,
    #[error("stored webhook data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// The most endpoints an organization may have in one environment (as Stripe allows 16).
pub const MAX_ENDPOINTS: i64 = 16;

/// The event types an endpoint receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// Every type (`["*"]`).
    All,
    /// These types only (never empty).
    Only(Vec<EventType>),
}

impl Subscription {
    /// Reads a list of type names: `*` anywhere means all; an empty list or an unknown name is
    /// refused (beside `*` too: a typo is never silently subscribed to everything).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> StoreResult<Subscription> {
        if names.is_empty() {
            return Err(StoreError::InvalidEvents(
                "events must name at least one event type, or \"*\" for all".into(),
            ));
        }
        let mut all = false;
        let mut types = Vec::with_capacity(names.len());
        for name in names {
            if name.as_ref() == "*" {
                all = true;
                continue;
            }
            let t = EventType::parse(name.as_ref())
                .map_err(|e| StoreError::InvalidEvents(e.to_string()))?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        Ok(if all {
            Subscription::All
        } else {
            Subscription::Only(types)
        })
    }

    /// The names as stored and shown.
    pub fn names(&self) -> Vec<String> {
        match self {
            Subscription::All => vec!["*".to_owned()],
            Subscription::Only(types) => types.iter().map(|t| t.as_str().to_owned()).collect(),
        }
    }
}

/// An endpoint as stored (its secrets are never part of it).
#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub organization_id: OrgId,
    pub env: EnvKind,
    pub url: String,
    pub events: Subscription,
    pub description: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// An endpoint to create.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub url: String,
    /// `None`: every type.
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
}

/// A change to an endpoint: `None` leaves a field as it is; `description: Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub disabled: Option<bool>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<DeliveryStatus> {
        Ok(match s {
            "pending" => DeliveryStatus::Pending,
            "succeeded" => DeliveryStatus::Succeeded,
            "failed" => DeliveryStatus::Failed,
            other => return Err(StoreError::Corrupt(format!("delivery status {other:?}"))),
        })
    }
}

/// One attempt of a delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub attempted_at: DateTime<Utc>,
    /// The receiver's status, if it answered.
    pub status_code: Option<u16>,
    pub duration_ms: u32,
    /// Why the attempt failed, if it did.
    pub error: Option<String>,
    /// The first 1 KiB of the receiver's answer.
    pub response_excerpt: Option<String>,
}

/// One event's delivery to one endpoint, with its attempts (oldest first).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub endpoint_id: EndpointId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    /// When the next attempt is due; `None` once the delivery is finished.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An event as produced: its envelope is the exact bytes delivered.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub id: EventId,
    pub event_type: EventType,
    pub envelope: Vec<u8>,
}

/// Webhook operations for one environment: what a handler holds, so that it never passes (or
/// chooses) the environment itself.
#[derive(Clone)]
pub struct Webhooks {
    env: EnvKind,
    master_key: Option<Arc<MasterKey>>,
    allow_private_network: bool,
    /// Endpoints may be plain `http` (the sandbox's, for a partner's local receiver; any with
    /// private networks allowed).
    plain_http: bool,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("env", &self.env)
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_private_network", &self.allow_private_network)
            .field("plain_http", &self.plain_http)
            .finish()
    }
}

impl layers_core::Environment for Webhooks {
    fn kind(&self) -> EnvKind {
        self.env
    }
}

const ENDPOINT_COLUMNS: &str =
    "id, organization_id, is_sandbox, url, events, description, disabled, created_at";

/// The associated data that binds a sealed secret to its endpoint's row: a sealed value copied
/// to another row does not open there.
fn sealing_context(id: EndpointId) -> Vec<u8> {
    format!("webhook_endpoints.secret:{id}").into_bytes()
}

impl Webhooks {
    /// The webhooks of `env`. Without a master key, endpoints can be listed and read but not
    /// created or rotated ([`StoreError::NotConfigured`]).
    pub fn new(
        env: EnvKind,
        master_key: Option<Arc<MasterKey>>,
        allow_private_network: bool,
    ) -> Webhooks {
        Webhooks {
            env,
            master_key,
            allow_private_network,
            plain_http: allow_private_network,
        }
    }

    /// The same, accepting plain `http` endpoints (chosen by the environment seam for the
    /// sandbox).
    pub fn allowing_plain_http(self) -> Webhooks {
        Webhooks {
            plain_http: true,
            ..self
        }
    }

    fn master_key(&self) -> StoreResult<&MasterKey> {
        self.master_key.as_deref().ok_or(StoreError::NotConfigured)
    }

    /// An endpoint's address: `http(s)` with a host; `https` for live endpoints unless private
    /// networks are allowed; no loopback, private, link-local or metadata address (nor
    /// `localhost`) unless allowed. A name is checked again, after resolution, at every delivery.
    pub fn check_url(&self, url: &str) -> StoreResult<String> {
        if url.len() > MAX_URL_LEN {
            return Err(StoreError::InvalidUrl(format!(
                "url must be at most {MAX_URL_LEN} characters"
            )));
        }
        let parsed = Url::parse(url)
            .map_err(|e| StoreError::InvalidUrl(format!("url is not a valid URL: {e}")))?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(StoreError::InvalidUrl("url must be http or https".into()));
        }
        if parsed.scheme() != "https" && !self.plain_http {
            return Err(StoreError::InvalidUrl(
                "url must be https for endpoints of live keys".into(),
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(StoreError::InvalidUrl(
                "url must not carry credentials; authenticate deliveries by their signature".into(),
            ));
        }
        layers_outbound::check_url(&parsed, self.allow_private_network)
            .map_err(|e| StoreError::InvalidUrl(format!("url is refused: {e}")))?;
        Ok(parsed.to_string())
    }

    fn check_description(description: Option<String>) -> StoreResult<Option<String>> {
        match description {
            Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN => {
                Err(StoreError::InvalidDescription)
            }
            other => Ok(other),
        }
    }

    /// Creates an endpoint of this environment with a fresh secret, which is returned here and
    /// never again (only a sealed copy is stored).
    pub async fn create(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        new: NewEndpoint,
    ) -> StoreResult<(Endpoint, WebhookSecret)> {
        let url = self.check_url(&new.url)?;
        let events = match new.events {
            None => Subscription::All,
            Some(names) => Subscription::parse(&names)?,
        };
        let description = Self::check_description(new.description)?;
        let key = self.master_key()?;
        let id = EndpointId::new();
        let secret = WebhookSecret::generate(&SystemRandom::new());
        let sealed = seal(key, secret.as_str().as_bytes(), &sealing_context(id));
        // creations of one organization and environment take turns, so that the count below
        // sees every endpoint committed before it
        layers_db::cached::execute(
            db,
            "SELECT pg_advisory_xact_lock(hashtextextended( \
                 'webhook_endpoints:' || $1::uuid::text || ':' || $2::boolean::text, 0))",
            &[&org.as_uuid(), &self.env.is_sandbox()],
        )
        .await?;
        let row = layers_db::cached::query_opt(
            db,
            &format!(
                "INSERT INTO webhook_endpoints \
                     (id, organization_id, is_sandbox, url, events, description, secret_sealed) \
                 SELECT $1, $2, $3, $4, $5, $6, $7 \
                 WHERE (SELECT count(*) FROM webhook_endpoints \
                        WHERE organization_id = $2 AND is_sandbox = $3) < $8 \
                 RETURNING {ENDPOINT_COLUMNS}"
            ),
            &[
                &id.as_uuid(),
                &org.as_uuid(),
                &self.env.is_sandbox(),
                &url,
                &events.names(),
                &description,
                &sealed,
                &MAX_ENDPOINTS,
            ],
        )
        .await?
        .ok_or(StoreError::TooManyEndpoints)?;
        Ok((endpoint(&row)?, secret))
    }

    /// Reads one of the organization's endpoints of this environment.
    pub async fn get(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: EndpointId,
    ) -> StoreResult<Endpoint> {
        let found = self.find(db, org, id).await?;
        if found.env != self.env {
            return Err(StoreError::InOtherEnvironment(found.env));
        }
        Ok(found)
    }

    async fn find(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: EndpointId,
    ) -> StoreResult<Endpoint> {
        let row = layers_db::cached::query_opt(
            db,
            &format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
                 WHERE id = $1 AND organization_id = $2"
            ),
            &[&id.as_uuid(), &org.as_uuid()],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
        endpoint(&row)
    }

    /// The endpoint a change names, locked for the rest of the caller's transaction; one of
    /// the other environment is [`StoreError::EnvironmentMismatch`].
    async fn for_change(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: EndpointId,
    ) -> StoreResult<Endpoint> {
        let row = layers_db::cached::query_opt(
            db,
            &format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
                 WHERE id = $1 AND organization_id = $2 FOR UPDATE"
            ),
            &[&id.as_uuid(), &org.as_uuid()],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
        let found = endpoint(&row)?;
        if found.env != self.env {
            return Err(StoreError::EnvironmentMismatch(found.env));
        }
        Ok(found)
    }

    /// Lists the organization's endpoints of this environment, newest first.
    pub async fn list(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        limit: Limit,
        after: Option<EndpointId>,
    ) -> StoreResult<Page<Endpoint, EndpointId>> {
        let rows = layers_db::cached::query(
            db,
            &format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
                 WHERE organization_id = $1 AND is_sandbox = $2 AND ($3::uuid IS NULL OR id < $3) \
                 ORDER BY id DESC LIMIT $4"
            ),
            &[
                &org.as_uuid(),
                &self.env.is_sandbox(),
                &after.map(|a| a.as_uuid()),
                &(i64::from(limit.get()) + 1),
            ],
        )
        .await?;
        let items = rows.iter().map(endpoint).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, limit, |e: &Endpoint| e.id))
    }

    /// Changes an endpoint's url, events, description or disabled flag. Deliveries already
    /// queued keep going to the endpoint (to its new url); a disabled endpoint gets no new
    /// deliveries and its pending ones wait until it is enabled again.
    pub async fn update(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: EndpointId,
        patch: EndpointPatch,
    ) -> StoreResult<Endpoint> {
        let url = patch.url.map(|u| self.check_url(&u)).transpose()?;
        let events = patch
            .events
            .map(|names| Subscription::parse(&names))
            .transpose()?;
        let description = patch.description.map(Self::check_description).transpose()?;
        self.for_change(db, org, id).await?;
        let row = layers_db::cached::query_one(
            db,
            &format!(
                "UPDATE webhook_endpoints SET \
                     url = coalesce($2, url), \
                     events = coalesce($3, events), \
                     description = CASE WHEN $4 THEN $5 ELSE description END, \
                     disabled = coalesce($6, disabled), \
                     updated_at = now() \
                 WHERE id = $1 RETURNING {ENDPOINT_COLUMNS}"
            ),
            &[
                &id.as_uuid(),
                &url,
                &events.map(|e| e.names()),
                &description.is_some(),
                &description.flatten(),
                &patch.disabled,
            ],
        )
        .await?;
        endpoint(&row)
    }

    /// Deletes an endpoint, with its deliveries log; its pending deliveries are never made.
    pub async fn delete(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: EndpointId,
    ) -> StoreResult<Endpoint> {
        let found = self.for_change(db, org, id).await?;
        layers_db::cached::execute(
            db,
            "DELETE FROM webhook_endpoints WHERE id = $1",
            &[&id.as_uuid()],
        )
        .await?;
        Ok(found)
    }

    /// Gives the endpoint a new secret, returned here and never again. The one it replaces keeps
    /// signing beside it for [`ROTATION_GRACE`]; a secret older than that stops at once.
    pub async fn rotate_secret(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: EndpointId,
    ) -> StoreResult<(Endpoint, WebhookSecret)> {
        let key = self.master_key()?;
        let found = self.for_change(db, org, id).await?;
        let secret = WebhookSecret::generate(&SystemRandom::new());
        let sealed = seal(key, secret.as_str().as_bytes(), &sealing_context(id));
        layers_db::cached::execute(
            db,
            "UPDATE webhook_endpoints SET \
                 previous_secret_sealed = secret_sealed, \
                 previous_secret_until = now() + $3::text::interval, \
                 secret_sealed = $2, updated_at = now() \
             WHERE id = $1",
            &[
                &id.as_uuid(),
                &sealed,
                &format!("{} seconds", ROTATION_GRACE.num_seconds()),
            ],
        )
        .await?;
        Ok((found, secret))
    }

    /// Fires `test.ping` at one endpoint: an ordinary event of this environment, delivered
    /// (and retried) to that endpoint only, whatever its subscription. A disabled endpoint's
    /// ping waits in its log, pending, until the endpoint is enabled.
    pub async fn test(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: EndpointId,
    ) -> StoreResult<EventId> {
        let endpoint = self.for_change(db, org, id).await?;
        let data = serde_json::json!({ "endpointId": endpoint.id.to_string() });
        insert_event(
            db,
            org,
            self.env,
            EventType::TestPing,
            data,
            Some(endpoint.id),
            None,
        )
        .await
    }

    /// Fires an event of any type at one endpoint of this environment (the test helper
    /// `fire`, CONTRACT §12): like [`Webhooks::test`], an ordinary event delivered, retried and
    /// logged, to that endpoint only, whatever its subscription; `data` defaults to the type's
    /// [`crate::example_data`]. An endpoint of the other environment is [`StoreError::NotFound`],
    /// as one that does not exist.
    pub async fn fire(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: EndpointId,
        event_type: EventType,
        data: Option<serde_json::Value>,
    ) -> StoreResult<EventId> {
        let endpoint = self.for_change(db, org, id).await.map_err(|e| match e {
            StoreError::EnvironmentMismatch(_) => StoreError::NotFound,
            e => e,
        })?;
        let data =
            data.unwrap_or_else(|| crate::example_data(event_type, &endpoint.id.to_string()));
        insert_event(db, org, self.env, event_type, data, Some(endpoint.id), None).await
    }

    /// Writes an event of this environment and a delivery to each subscribed endpoint, in the
    /// caller's transaction (see [`emit`]).
    pub async fn emit(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        event_type: EventType,
        data: serde_json::Value,
    ) -> StoreResult<EventId> {
        emit(db, org, self.env, event_type, data).await
    }

    /// An endpoint's deliveries, newest first, each with its attempts.
    pub async fn deliveries(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        endpoint: EndpointId,
        limit: Limit,
        after: Option<DeliveryId>,
    ) -> StoreResult<Page<Delivery, DeliveryId>> {
        self.get(db, org, endpoint).await?;
        let rows = layers_db::cached::query(
            db,
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
                 JOIN events ev ON ev.id = d.event_id \
                 WHERE d.endpoint_id = $1 AND ($2::uuid IS NULL OR d.id < $2) \
                 ORDER BY d.id DESC LIMIT $3"
            ),
            &[
                &endpoint.as_uuid(),
                &after.map(|a| a.as_uuid()),
                &(i64::from(limit.get()) + 1),
            ],
        )
        .await?;
        let mut items = rows.iter().map(delivery).collect::<StoreResult<Vec<_>>>()?;
        attach_attempts(db, &mut items).await?;
        Ok(Page::from_overfetch(items, limit, |d: &Delivery| d.id))
    }

    /// Queues one more attempt of a delivery, due now. A finished delivery (succeeded or
    /// failed) becomes pending for exactly that attempt; a pending one has its next attempt
    /// brought forward.
    pub async fn redeliver(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        endpoint: EndpointId,
        id: DeliveryId,
    ) -> StoreResult<Delivery> {
        self.for_change(db, org, endpoint).await?;
        let row = layers_db::cached::query_opt(
            db,
            &format!(
                "WITH changed AS ( \
                     UPDATE webhook_deliveries SET \
                         last_attempt = CASE WHEN status = 'pending' THEN last_attempt \
                                             ELSE attempt_count + 1 END, \
                         status = 'pending', next_attempt_at = now(), updated_at = now() \
                     WHERE id = $1 AND endpoint_id = $2 RETURNING *) \
                 SELECT {DELIVERY_COLUMNS} FROM changed d JOIN events ev ON ev.id = d.event_id"
            ),
            &[&id.as_uuid(), &endpoint.as_uuid()],
        )
        .await?
        .ok_or(StoreError::DeliveryNotFound)?;
        let mut found = vec![delivery(&row)?];
        attach_attempts(db, &mut found).await?;
        Ok(found.remove(0))
    }

    /// The events this environment produced, newest first, optionally of one type.
    pub async fn events(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        event_type: Option<EventType>,
        limit: Limit,
        after: Option<EventId>,
    ) -> StoreResult<Page<StoredEvent, EventId>> {
        let rows = layers_db::cached::query(
            db,
            "SELECT id, type, body FROM events \
             WHERE organization_id = $1 AND is_sandbox = $2 \
               AND ($3::text IS NULL OR type = $3) AND ($4::uuid IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5",
            &[
                &org.as_uuid(),
                &self.env.is_sandbox(),
                &event_type.map(EventType::as_str),
                &after.map(|a| a.as_uuid()),
                &(i64::from(limit.get()) + 1),
            ],
        )
        .await?;
        let items = rows
            .iter()
            .map(stored_event)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, limit, |e: &StoredEvent| e.id))
    }

    /// One event this environment produced; one of the other environment is
    /// [`StoreError::InOtherEnvironment`].
    pub async fn event(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: EventId,
    ) -> StoreResult<StoredEvent> {
        let row = layers_db::cached::query_opt(
            db,
            "SELECT id, type, body, is_sandbox FROM events WHERE id = $1 AND organization_id = $2",
            &[&id.as_uuid(), &org.as_uuid()],
        )
        .await?
        .ok_or(StoreError::EventNotFound)?;
        let env = EnvKind::from_sandbox(row.get("is_sandbox"));
        if env != self.env {
            return Err(StoreError::InOtherEnvironment(env));
        }
        stored_event(&row)
    }
}

/// Writes an event of `env` and one pending delivery to each enabled endpoint of the
/// organization in `env` that subscribes to its type, in one statement on the caller's
/// connection: called inside the transaction of the change that caused the event, the event
/// commits with it or not at all (the outbox). Delivery workers are woken by the commit.
///
/// The endpoints are read `FOR KEY SHARE`: an endpoint deleted at the same moment either waits
/// for this transaction (and its deliveries go with it) or is gone first and gets none, so a
/// write that emits never fails on an endpoint that vanished under it.
pub async fn emit(
    db: &impl GenericClient,
    org: OrgId,
    env: EnvKind,
    event_type: EventType,
    data: serde_json::Value,
) -> StoreResult<EventId> {
    insert_event(db, org, env, event_type, data, None, None).await
}

/// [`emit`] with the envelope's `createdAt` at `stated` if given (a test clock's time).
pub async fn emit_at(
    db: &impl GenericClient,
    org: OrgId,
    env: EnvKind,
    event_type: EventType,
    data: serde_json::Value,
    stated: Option<DateTime<Utc>>,
) -> StoreResult<EventId> {
    insert_event(db, org, env, event_type, data, None, stated).await
}

/// Writes several events of one type in `env` and their deliveries, in one statement (see
/// [`emit`]); the ids in the order of `data`.
pub async fn emit_many(
    db: &impl GenericClient,
    org: OrgId,
    env: EnvKind,
    event_type: EventType,
    data: Vec<serde_json::Value>,
) -> StoreResult<Vec<EventId>> {
    let data = data.into_iter().map(|d| (d, None)).collect();
    emit_many_at(db, org, env, event_type, data).await
}

/// [`emit_many`], each envelope's `createdAt` the time given with its data, if any: the time
/// of a test clock for what its advance caused (CONTRACT §12). Ids, order and delivery follow
/// the wall clock as for any event.
pub async fn emit_many_at(
    db: &impl GenericClient,
    org: OrgId,
    env: EnvKind,
    event_type: EventType,
    data: Vec<(serde_json::Value, Option<DateTime<Utc>>)>,
) -> StoreResult<Vec<EventId>> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let rng = SystemRandom::new();
    let mut ids = Vec::with_capacity(data.len());
    let mut bodies = Vec::with_capacity(data.len());
    for (d, stated) in data {
        let id = EventId::at(now, &rng);
        bodies.push(envelope_json(
            &id,
            event_type,
            stated.unwrap_or(now),
            env,
            d,
        ));
        ids.push(id);
    }
    let uuids: Vec<uuid::Uuid> = ids.iter().map(EventId::as_uuid).collect();
    layers_db::cached::execute(
        db,
        "WITH event AS ( \
             INSERT INTO events (id, organization_id, is_sandbox, type, body, created_at) \
             SELECT u.id, $2, $3, $4, u.body, $6 FROM unnest($1::uuid[], $5::bytea[]) AS u (id, body) \
             RETURNING id) \
         INSERT INTO webhook_deliveries (id, endpoint_id, event_id, next_attempt_at) \
         SELECT layers_uuid_v7(), e.id, event.id, now() FROM webhook_endpoints e, event \
         WHERE e.organization_id = $2 AND e.is_sandbox = $3 AND NOT e.disabled \
           AND ('*' = ANY (e.events) OR $4 = ANY (e.events)) \
         FOR KEY SHARE OF e",
        &[
            &uuids,
            &org.as_uuid(),
            &env.is_sandbox(),
            &event_type.as_str(),
            &bodies,
            &now,
        ],
    )
    .await?;
    Ok(ids)
}

async fn insert_event(
    db: &impl GenericClient,
    org: OrgId,
    env: EnvKind,
    event_type: EventType,
    data: serde_json::Value,
    only: Option<EndpointId>,
    stated: Option<DateTime<Utc>>,
) -> StoreResult<EventId> {
    let now = Utc::now();
    let id = EventId::at(now, &SystemRandom::new());
    let body = envelope_json(&id, event_type, stated.unwrap_or(now), env, data);
    layers_db::cached::execute(
        db,
        "WITH event AS ( \
             INSERT INTO events (id, organization_id, is_sandbox, type, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id) \
         INSERT INTO webhook_deliveries (id, endpoint_id, event_id, next_attempt_at) \
         SELECT layers_uuid_v7(), e.id, event.id, now() FROM webhook_endpoints e, event \
         WHERE e.organization_id = $2 AND e.is_sandbox = $3 \
           AND CASE WHEN $7::uuid IS NULL \
                    THEN NOT e.disabled AND ('*' = ANY (e.events) OR $4 = ANY (e.events)) \
                    ELSE e.id = $7 END \
         FOR KEY SHARE OF e",
        &[
            &id.as_uuid(),
            &org.as_uuid(),
            &env.is_sandbox(),
            &event_type.as_str(),
            &body,
            &now,
            &only.map(|e| e.as_uuid()),
        ],
    )
    .await?;
    Ok(id)
}

const DELIVERY_COLUMNS: &str = "d.id, d.endpoint_id, d.event_id, ev.type, d.status, \
     d.next_attempt_at, d.created_at";

fn endpoint(row: &Row) -> StoreResult<Endpoint> {
    let events: Vec<String> = row.get("events");
    Ok(Endpoint {
        id: EndpointId::from_uuid(row.get("id")),
        organization_id: OrgId::from_uuid(row.get("organization_id")),
        env: EnvKind::from_sandbox(row.get("is_sandbox")),
        url: row.get("url"),
        events: Subscription::parse(&events)
            .map_err(|e| StoreError::Corrupt(format!("endpoint events: {e}")))?,
        description: row.get("description"),
        disabled: row.get("disabled"),
        created_at: row.get("created_at"),
    })
}

fn delivery(row: &Row) -> StoreResult<Delivery> {
    let status = DeliveryStatus::parse(row.get(4))?;
    Ok(Delivery {
        id: DeliveryId::from_uuid(row.get(0)),
        endpoint_id: EndpointId::from_uuid(row.get(1)),
        event_id: EventId::from_uuid(row.get(2)),
        event_type: EventType::parse(row.get(3)).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        status,
        attempts: Vec::new(),
        next_attempt_at: if status == DeliveryStatus::Pending {
            row.get(5)
        } else {
            None
        },
        created_at: row.get(6),
    })
}

fn stored_event(row: &Row) -> StoreResult<StoredEvent> {
    Ok(StoredEvent {
        id: EventId::from_uuid(row.get("id")),
        event_type: EventType::parse(row.get("type"))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        envelope: row.get("body"),
    })
}

async fn attach_attempts(db: &impl GenericClient, deliveries: &mut [Delivery]) -> StoreResult<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = deliveries.iter().map(|d| d.id.as_uuid()).collect();
    let rows = layers_db::cached::query(
        db,
        "SELECT delivery_id, attempted_at, status_code, duration_ms, error, response_excerpt \
         FROM webhook_attempts WHERE delivery_id = ANY ($1) ORDER BY delivery_id, attempt",
        &[&ids],
    )
    .await?;
    for row in rows {
        let id = DeliveryId::from_uuid(row.get(0));
        let Some(d) = deliveries.iter_mut().find(|d| d.id == id) else {
            continue;
        };
        d.attempts.push(Attempt {
            attempted_at: row.get(1),
            status_code: row
                .get::<_, Option<i32>>(2)
                .and_then(|c| u16::try_from(c).ok()),
            duration_ms: u32::try_from(row.get::<_, i32>(3)).unwrap_or(0),
            error: row.get(4),
            response_excerpt: row.get(5),
        });
    }
    Ok(())
}
