//! The delivery worker: takes due deliveries, POSTs each event's envelope to its endpoint with
//! fresh signatures, records every attempt, and schedules the next one on the retry schedule.
//!
//! At least once: a delivery is taken by moving its due time to the end of a lease in the same
//! statement that counts the attempt; if the process dies mid-attempt, the delivery is due again
//! when the lease passes and another worker (or this one, restarted) attempts it again. An
//! attempt records its outcome only while the delivery still counts it, so a late writer never
//! overwrites a newer attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use layers_db::Pool;
use layers_outbound::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use layers_outbound::{Outbound, OutboundConfig, OutboundError, Url};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use crate::deliver_store::{self, Bounds, Claim};
use crate::store::{DeliveryId, EndpointId};
use crate::{delivery_headers, open, EventId, EventType, MasterKey, WebhookSecret};

/// The channel the deliveries trigger notifies when a delivery is due now.
pub const CHANNEL: &str = "layers_webhooks";

/// How much of a receiver's answer an attempt keeps.
pub const EXCERPT_BYTES: usize = 1024;

/// `LAYERS_WEBHOOK_RETRY_SCHEDULE`'s default: the delay before each attempt.
pub const DEFAULT_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Deliveries in flight at once in this process; 0 runs none. An attempt mostly waits on a
    /// receiver, so the gateway gives eight per job slot (`LAYERS_JOB_CONCURRENCY`).
    pub concurrency: usize,
    /// Deliveries in flight at once to one endpoint in this process: a slow receiver holds at
    /// most this many of the senders.
    pub per_endpoint: usize,
    /// Deliveries in flight at once for one organization in one environment in this process,
    /// over all its endpoints: however many endpoints one organization points at a tarpit, the
    /// other senders stay free for everyone else (and a sandbox tarpit never holds back the
    /// same organization's live deliveries).
    pub per_organization: usize,
    /// The delay before each attempt, the first counted from the event: its length is the number
    /// of attempts. Every delay after the first varies by up to ±10 % (jitter), so that a
    /// receiver coming back is not met by every retry at once.
    pub schedule: Vec<Duration>,
    /// The longest one attempt may take (connect, send, read the answer's excerpt): 10 s.
    pub timeout: Duration,
    /// How long a taken delivery is held: longer than an attempt. A delivery whose worker died
    /// is attempted again once it has passed.
    pub lease: Duration,
    /// How often to look for due deliveries without a notification (retries coming due).
    pub poll: Duration,
    /// Lets deliveries reach loopback and private addresses (`LAYERS_ALLOW_PRIVATE_NETWORK`).
    pub allow_private_network: bool,
}

impl DeliveryConfig {
    /// Deliveries taken for one endpoint at once: twice what may send, so that the next is
    /// ready the moment an attempt ends and the senders never wait on a claim.
    fn taken_per_endpoint(&self) -> usize {
        self.per_endpoint.saturating_mul(2)
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            concurrency: 64,
            per_endpoint: 8,
            per_organization: 16,
            schedule: DEFAULT_SCHEDULE.to_vec(),
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(40),
            poll: Duration::from_millis(500),
            allow_private_network: false,
        }
    }
}

/// Makes deliveries until stopped.
pub struct Deliverer {
    pool: Pool,
    database_url: String,
    master_key: Arc<MasterKey>,
    client: Outbound,
    config: DeliveryConfig,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A delivery taken for one attempt.
pub(crate) struct Delivery {
    pub(crate) id: DeliveryId,
    pub(crate) attempt: i32,
    pub(crate) last_attempt: Option<i32>,
    pub(crate) event_id: EventId,
    pub(crate) event_type: EventType,
    pub(crate) body: Vec<u8>,
    pub(crate) endpoint_id: EndpointId,
    /// Whose delivery this is, for fairness: the organization in one environment.
    pub(crate) tenant: String,
    pub(crate) url: String,
    pub(crate) secret: Vec<u8>,
    pub(crate) previous_secret: Option<Vec<u8>>,
}

/// How one attempt went.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) attempted_at: DateTime<Utc>,
    pub(crate) status_code: Option<u16>,
    pub(crate) duration: Duration,
    pub(crate) error: Option<String>,
    pub(crate) excerpt: Option<String>,
}

impl Outcome {
    fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

impl Deliverer {
    /// A worker signing with secrets sealed under `master_key`. Redirects are never followed (a
    /// 3xx is a failed attempt); private addresses are refused after resolution unless allowed.
    pub fn new(
        pool: Pool,
        database_url: String,
        master_key: Arc<MasterKey>,
        config: DeliveryConfig,
    ) -> Result<Deliverer, OutboundError> {
        let client = Outbound::new(OutboundConfig {
            allow_private_network: config.allow_private_network,
            timeout: config.timeout,
            connect_timeout: config.timeout.min(Duration::from_secs(5)),
            max_redirects: 0,
            ..OutboundConfig::default()
        })?;
        Ok(Deliverer {
            pool,
            database_url,
            master_key,
            client,
            config,
        })
    }

    /// Starts the worker on the current runtime (nothing when its concurrency is 0).
    pub fn spawn(self) -> Option<DelivererHandle> {
        (self.config.concurrency > 0).then(|| {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            DelivererHandle {
                stop,
                task: tokio::spawn(Arc::new(self).run(stopped)),
            }
        })
    }

    async fn run(self: Arc<Self>, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(layers_db::listen(
            self.database_url.clone(),
            CHANNEL,
            wake.clone(),
        ));
        let (records, recorded) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_batches(self.pool.clone(), recorded));
        let senders = Senders::new(&self.config, records);
        loop {
            let held = tokio::select! {
                biased;
                _ = stopped.changed() => break,
                held = senders.hold(&self.config) => match held {
                    Some(held) => held,
                    None => break,
                },
            };
            let bounds = senders.in_flight.bounds(&self.config);
            let capped = match self.take(held.len(), &bounds).await {
                Ok(taken) => {
                    let full = taken.len() == held.len();
                    senders.launch(&self, taken, held);
                    if full {
                        continue;
                    }
                    senders.in_flight.any_at_bound(&self.config)
                }
                Err(e) => {
                    drop(held);
                    tracing::warn!(error = %e, "could not take webhook deliveries");
                    tokio::time::sleep(self.config.poll).await;
                    continue;
                }
            };
            // Nothing more is due, or what is due waits on a bound: look again when a delivery
            // comes due, when attempts end (if a bound held something back), or at the poll.
            tokio::select! {
                _ = stopped.changed() => break,
                _ = wake.notified() => {}
                _ = senders.ended(&self.config), if capped => {}
                _ = tokio::time::sleep(self.config.poll) => {}
            }
        }
        listener.abort();
        // Stopping: take nothing more, let the attempts in flight finish and their outcomes be
        // written; one cut short by the process ending is attempted again when its lease passes.
        senders.drain().await;
        let _ = recorder.await;
    }

    /// Takes up to `n` due deliveries of enabled endpoints, oldest due first, within `bounds`:
    /// no organization or endpoint beyond what it may still have in flight. Of a window of the
    /// oldest due deliveries of the tenants and endpoints not at their bound, each tenant and
    /// endpoint gets its oldest ones up to what it has left; only those chosen are locked
    /// (`SKIP LOCKED`: another process's claim of the same ones leaves this one fewer).
    /// A delivery that has made the last attempt its schedule (or redelivery) allows, whose
    /// outcome was never recorded, ends `failed` here instead of being attempted again.
    async fn take(&self, n: usize, bounds: &Bounds) -> Result<Vec<Delivery>, String> {
        let db = self.pool.get().await.map_err(|e| e.to_string())?;
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let claim = Claim {
            lease: format!("{} milliseconds", self.config.lease.as_millis()),
            n,
            window: n.saturating_mul(2).clamp(16, 128),
            per_organization: i64::try_from(self.config.per_organization).unwrap_or(i64::MAX),
            per_endpoint: i64::try_from(self.config.taken_per_endpoint()).unwrap_or(i64::MAX),
            attempts: i32::try_from(self.config.schedule.len()).unwrap_or(i32::MAX),
            bounds,
        };
        deliver_store::claim(&db, &claim).await
    }

    /// The endpoint's valid secrets, newest first.
    fn secrets(&self, taken: &Delivery) -> Result<Vec<WebhookSecret>, String> {
        let context = format!("webhook_endpoints.secret:{}", taken.endpoint_id);
        std::iter::once(&taken.secret)
            .chain(taken.previous_secret.as_ref())
            .map(|sealed| {
                let plain = open(&self.master_key, sealed, context.as_bytes())
                    .map_err(|e| format!("could not open the endpoint's secret: {e}"))?;
                let text = String::from_utf8(plain)
                    .map_err(|_| "the endpoint's secret is not text".to_owned())?;
                WebhookSecret::parse(&text).map_err(|e| e.to_string())
            })
            .collect()
    }

    async fn send(&self, taken: &Delivery) -> Outcome {
        let attempted_at = Utc::now();
        let started = Instant::now();
        let outcome = |status_code, error, excerpt| Outcome {
            attempted_at,
            status_code,
            duration: started.elapsed(),
            error,
            excerpt,
        };
        let prepared = self.secrets(taken).and_then(|secrets| {
            let url = Url::parse(&taken.url).map_err(|e| format!("invalid url: {e}"))?;
            let headers = delivery_headers(
                &taken.event_id,
                taken.event_type,
                attempted_at.timestamp(),
                &taken.body,
                &secrets,
            )
            .map_err(|e| e.to_string())?;
            let mut map = HeaderMap::with_capacity(headers.len() + 1);
            map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            for (name, value) in headers {
                map.append(
                    HeaderName::from_static(name_lower(name)),
                    HeaderValue::from_str(&value).map_err(|e| e.to_string())?,
                );
            }
            Ok((url, map))
        });
        let (url, headers) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => return outcome(None, Some(error), None),
        };
        let sent = self
            .client
            .post(url)
            .headers(headers)
            .body(taken.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                let excerpt = response.excerpt(EXCERPT_BYTES).await;
                let excerpt = storable(&String::from_utf8_lossy(&excerpt));
                let error = (!status.is_success()).then(|| {
                    if status.is_redirection() {
                        format!("the endpoint answered {status}; redirects are not followed")
                    } else {
                        format!("the endpoint answered {status}")
                    }
                });
                outcome(Some(status.as_u16()), error, Some(excerpt))
            }
            Err(OutboundError::Timeout) => outcome(
                None,
                Some(format!(
                    "no answer within {} s",
                    self.config.timeout.as_secs_f32()
                )),
                None,
            ),
            Err(e) => outcome(None, Some(cause_chain(&e)), None),
        }
    }

    /// Makes one attempt and says what to record. The whole attempt (connecting, sending,
    /// reading the answer's excerpt) has one deadline, whatever the receiver does; what is kept
    /// of the answer and of the error is made safe to store.
    async fn attempt(&self, taken: Delivery) -> Record {
        let attempted_at = Utc::now();
        let started = Instant::now();
        let mut outcome = match tokio::time::timeout(self.config.timeout, self.send(&taken)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome {
                attempted_at,
                status_code: None,
                duration: started.elapsed(),
                error: Some(format!(
                    "no answer within {} s",
                    self.config.timeout.as_secs_f32()
                )),
                excerpt: None,
            },
        };
        outcome.error = outcome.error.map(|e| storable(&e));
        outcome.excerpt = outcome.excerpt.map(|e| storable(&e));
        let next = self.next_attempt(&taken, &outcome);
        let status = match (outcome.succeeded(), next) {
            (true, _) => "succeeded",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        Record {
            id: taken.id,
            attempt: taken.attempt,
            status,
            next,
            outcome,
        }
    }

    /// After a failed attempt, the delay before the next one (with jitter), or `None` when the
    /// delivery has used its attempts.
    fn next_attempt(&self, taken: &Delivery, outcome: &Outcome) -> Option<Duration> {
        if outcome.succeeded() {
            return None;
        }
        let made = usize::try_from(taken.attempt).unwrap_or(usize::MAX);
        if taken.last_attempt.is_some_and(|last| taken.attempt >= last) {
            return None;
        }
        let delay = *self.config.schedule.get(made)?;
        Some(jitter(delay))
    }
}

/// What one attempt leaves in the database.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) id: DeliveryId,
    pub(crate) attempt: i32,
    pub(crate) status: &'static str,
    pub(crate) next: Option<Duration>,
    pub(crate) outcome: Outcome,
}

/// The worker's senders. At most `concurrency` attempts send at once and as many more are
/// taken ahead, so that the senders never wait on a claim; a claim waits for half the taken
/// permits, so that one claim (one commit) takes several. Per organization in one environment at
/// most `per_organization` are taken, per endpoint twice `per_endpoint`, of which `per_endpoint`
/// send at once: a claim asks only for what those bounds leave free, so one organization's
/// backlog or slow receivers never hold the senders that another organization's deliveries need.
struct Senders {
    taken: Arc<Semaphore>,
    sending: Arc<Semaphore>,
    in_flight: Arc<InFlight>,
    freed: Arc<Notify>,
    records: mpsc::UnboundedSender<Record>,
    concurrency: usize,
}

impl Senders {
    fn new(config: &DeliveryConfig, records: mpsc::UnboundedSender<Record>) -> Senders {
        Senders {
            taken: Arc::new(Semaphore::new(2 * config.concurrency)),
            sending: Arc::new(Semaphore::new(config.concurrency)),
            in_flight: Arc::new(InFlight::default()),
            freed: Arc::new(Notify::new()),
            records,
            concurrency: config.concurrency,
        }
    }

    /// The permits of the next claim, one per delivery it may take: half the taken permits
    /// or, should tenants at their bounds hold too many for that, whatever comes free within
    /// 5 ms (a claim is never held back for long); at most two organizations' worth, since a
    /// claim's window, and so its cost, follows what it asks for. `None` once closed.
    async fn hold(&self, config: &DeliveryConfig) -> Option<Vec<OwnedSemaphorePermit>> {
        let half = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        let first = match tokio::time::timeout(
            Duration::from_millis(5),
            self.taken.clone().acquire_many_owned(half),
        )
        .await
        {
            Ok(permit) => permit,
            Err(_) => self.taken.clone().acquire_owned().await,
        }
        .ok()?;
        let ask = (2 * config.per_organization).max(1);
        let mut held = Vec::new();
        let mut permit = first;
        while permit.num_permits() > 1 && held.len() + 1 < ask {
            held.push(permit.split(1).expect("more than one permit"));
        }
        held.push(permit);
        while held.len() < ask {
            match self.taken.clone().try_acquire_owned() {
                Ok(permit) => held.push(permit),
                Err(_) => break,
            }
        }
        Some(held)
    }

    /// Sends each taken delivery on a task of its own, once its endpoint and the process have
    /// a sender free; what `held` has left over goes back.
    fn launch(
        &self,
        worker: &Arc<Deliverer>,
        taken: Vec<Delivery>,
        mut held: Vec<OwnedSemaphorePermit>,
    ) {
        for delivery in taken {
            let permit = held.pop().expect("no more taken than permits");
            let slot = self.in_flight.enter(&delivery, &worker.config);
            let (worker, records, freed, sending) = (
                worker.clone(),
                self.records.clone(),
                self.freed.clone(),
                self.sending.clone(),
            );
            tokio::spawn(async move {
                let Ok(_to_endpoint) = slot.sending.clone().acquire_owned().await else {
                    return;
                };
                let Ok(_sending) = sending.acquire_owned().await else {
                    return;
                };
                let record = worker.attempt(delivery).await;
                let _ = records.send(record);
                drop(slot);
                drop(permit);
                freed.notify_one();
            });
        }
    }

    /// Resolves once an endpoint's worth of attempts have ended (or 5 ms after the first), so
    /// that the claim that follows takes several: those taken ahead keep the senders busy
    /// meanwhile.
    async fn ended(&self, config: &DeliveryConfig) {
        self.freed.notified().await;
        let until = tokio::time::Instant::now() + Duration::from_millis(5);
        for _ in 1..config.per_endpoint.max(1) {
            if tokio::time::timeout_at(until, self.freed.notified())
                .await
                .is_err()
            {
                break;
            }
        }
    }

    /// Waits for every taken delivery to be attempted and its outcome handed on.
    async fn drain(self) {
        let all = u32::try_from(2 * self.concurrency).unwrap_or(u32::MAX);
        let _ = self.taken.acquire_many(all).await;
    }
}

/// What this process has in flight, per organization and per endpoint.
#[derive(Debug, Default)]
struct InFlight(std::sync::Mutex<InFlightCounts>);

#[derive(Debug, Default)]
struct InFlightCounts {
    orgs: HashMap<String, usize>,
    endpoints: HashMap<uuid::Uuid, usize>,
    /// Per endpoint with deliveries taken: the permits to send (`per_endpoint` of them).
    sending: HashMap<uuid::Uuid, Arc<Semaphore>>,
}

impl InFlight {
    fn counts(&self) -> std::sync::MutexGuard<'_, InFlightCounts> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bounds(&self, config: &DeliveryConfig) -> Bounds {
        let counts = self.counts();
        let mut bounds = Bounds::default();
        for (org, n) in &counts.orgs {
            bounds.orgs.push(org.clone());
            bounds
                .org_counts
                .push(i32::try_from(*n).unwrap_or(i32::MAX));
            if *n >= config.per_organization {
                bounds.full_orgs.push(org.clone());
            }
        }
        for (endpoint, n) in &counts.endpoints {
            bounds.endpoints.push(*endpoint);
            bounds
                .endpoint_counts
                .push(i32::try_from(*n).unwrap_or(i32::MAX));
            if *n >= config.taken_per_endpoint() {
                bounds.full_endpoints.push(*endpoint);
            }
        }
        bounds
    }

    /// Whether some organization or endpoint is at its bound (so that an attempt ending may
    /// let a due delivery through).
    fn any_at_bound(&self, config: &DeliveryConfig) -> bool {
        let counts = self.counts();
        counts.orgs.values().any(|n| *n >= config.per_organization)
            || counts
                .endpoints
                .values()
                .any(|n| *n >= config.taken_per_endpoint())
    }

    /// Counts `delivery` in flight until the returned slot is dropped; the slot's `sending`
    /// hands out the endpoint's permits to send.
    fn enter(self: &Arc<Self>, delivery: &Delivery, config: &DeliveryConfig) -> Slot {
        let (org, endpoint) = (delivery.tenant.clone(), delivery.endpoint_id.as_uuid());
        let mut counts = self.counts();
        *counts.orgs.entry(org.clone()).or_default() += 1;
        *counts.endpoints.entry(endpoint).or_default() += 1;
        let sending = counts
            .sending
            .entry(endpoint)
            .or_insert_with(|| Arc::new(Semaphore::new(config.per_endpoint.max(1))))
            .clone();
        Slot {
            in_flight: self.clone(),
            org,
            endpoint,
            sending,
        }
    }
}

/// One delivery counted in flight.
struct Slot {
    in_flight: Arc<InFlight>,
    org: String,
    endpoint: uuid::Uuid,
    sending: Arc<Semaphore>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut guard = self.in_flight.counts();
        let counts = &mut *guard;
        fn leave<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
            if let Some(n) = map.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(key);
                }
            }
        }
        leave(&mut counts.orgs, &self.org);
        leave(&mut counts.endpoints, &self.endpoint);
        if !counts.endpoints.contains_key(&self.endpoint) {
            counts.sending.remove(&self.endpoint);
        }
    }
}

/// Writes attempts' outcomes as they come, as many at a time as have arrived (up to 256) in one
/// statement. An outcome is written only while its delivery still counts its attempt, so a late
/// writer (whose lease passed) changes nothing. Ends when every sender is gone and all is
/// written.
async fn record_batches(pool: Pool, mut recorded: mpsc::UnboundedReceiver<Record>) {
    while let Some(first) = recorded.recv().await {
        let mut batch = vec![first];
        while batch.len() < 256 {
            match recorded.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        if let Err(e) = write_records(&pool, &batch).await {
            // one outcome the database refuses must not lose the others: one by one, then
            tracing::warn!(error = %e, attempts = batch.len(), "could not record webhook attempts together; recording them one by one");
            for record in &batch {
                record_alone(&pool, record).await;
            }
        }
    }
}

/// Records one attempt's outcome, trying a few times; one that still cannot be written is
/// logged and left: its delivery is attempted again when its lease passes.
async fn record_alone(pool: &Pool, record: &Record) {
    for pause in [10u64, 100, 1_000, 5_000] {
        match write_records(pool, std::slice::from_ref(record)).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, delivery = %record.id, "could not record a webhook attempt");
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
    tracing::error!(delivery = %record.id, "gave up recording a webhook attempt; it is made again when its lease passes");
}

/// Writes `batch` in one statement on a connection of `pool`.
async fn write_records(pool: &Pool, batch: &[Record]) -> Result<(), String> {
    let db = pool.get().await.map_err(|e| e.to_string())?;
    deliver_store::write_records(&db, batch)
        .await
        .map_err(|e| e.to_string())
}

/// An error and its causes on one line (reqwest's own message leaves out "connection refused").
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// `text` as PostgreSQL's `text` can hold it: NUL characters (which it refuses) replaced by
/// U+FFFD, as invalid UTF-8 already is by the lossy decoding.
fn storable(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// The lower-case spelling HTTP/2 requires (HTTP/1.1 does not care).
fn name_lower(name: &'static str) -> &'static str {
    match name {
        "X-Layers-Signature" => "x-layers-signature",
        "X-Layers-Event-Id" => "x-layers-event-id",
        "X-Layers-Event-Type" => "x-layers-event-type",
        other => other,
    }
}

/// `delay` varied by up to ±10 %; zero stays zero.
fn jitter(delay: Duration) -> Duration {
    let mut bytes = [0u8; 2];
    if delay.is_zero() || SystemRandom::new().fill(&mut bytes).is_err() {
        return delay;
    }
    // a factor in [0.9, 1.1]
    let factor = 0.9 + 0.2 * f64::from(u16::from_be_bytes(bytes)) / f64::from(u16::MAX);
    delay.mul_f64(factor)
}

/// A running delivery worker.
#[derive(Debug)]
pub struct DelivererHandle {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl DelivererHandle {
    /// Stops taking deliveries and waits up to `grace` for the attempts in flight to finish.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!(
                "webhook attempts still running after the grace period; their leases will pass"
            );
            task.abort();
        }
    }

    /// Stops at once.
    pub fn abort(&self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        for _ in 0..200 {
            let d = jitter(Duration::from_secs(100));
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(110),
                "{d:?}"
            );
        }
    }

    #[test]
    fn header_names_are_valid_lower_case() {
        for name in [
            crate::HEADER_LAYERS_SIGNATURE,
            crate::HEADER_EVENT_ID,
            crate::HEADER_EVENT_TYPE,
            crate::HEADER_WEBHOOK_ID,
            crate::HEADER_WEBHOOK_SIGNATURE,
            crate::HEADER_WEBHOOK_TIMESTAMP,
        ] {
            let lower = name_lower(name);
            assert_eq!(lower, name.to_ascii_lowercase());
            HeaderName::from_static(lower);
        }
    }
}
