//! The webhooks store and delivery worker against a fresh database and a local receiver.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine as _};
use chrono::{DateTime, Utc};
use layers_core::{EnvKind, Limit};
use layers_db::testing::{fresh_database_with_pool, TestDatabase};
use layers_orgs::{OrgId, Plan};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::*;

const WAIT: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A delivery as the database holds it.
#[derive(Debug)]
struct DeliveryRow {
    status: String,
    attempt_count: i32,
    next_attempt_at: Option<DateTime<Utc>>,
}

/// One row of `webhook_attempts`.
#[derive(Debug)]
struct AttemptRow {
    attempt: i32,
    attempted_at: DateTime<Utc>,
    status_code: Option<i32>,
    duration_ms: i32,
    error: Option<String>,
    response_excerpt: Option<String>,
}

struct Fixture {
    db: TestDatabase,
    org: OrgId,
    key: Arc<MasterKey>,
    deliverer: Option<DelivererHandle>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(deliverer) = &self.deliverer {
            deliverer.abort();
        }
    }
}

/// A worker that reaches 127.0.0.1, waits 20 ms between looks, and retries on `schedule`.
fn config(schedule: &[Duration]) -> DeliveryConfig {
    DeliveryConfig {
        concurrency: 4,
        per_endpoint: 4,
        per_organization: 4,
        schedule: schedule.to_vec(),
        timeout: Duration::from_secs(2),
        lease: Duration::from_secs(3),
        poll: ms(20),
        allow_private_network: true,
    }
}

async fn fixture() -> Fixture {
    let db = fresh_database_with_pool(8).await;
    let c = db.pool.get().await.unwrap();
    let org = layers_orgs::create(&c, "Acme", Plan::Partner, None)
        .await
        .unwrap()
        .id;
    Fixture {
        db,
        org,
        key: Arc::new(MasterKey::from_bytes([7; 32])),
        deliverer: None,
    }
}

/// Polls `probe` every 20 ms until it gives a value, for at most [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            tokio::time::sleep(ms(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A receiver on 127.0.0.1 answering `POST path` with `response`.
async fn receiver(at: &str, response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

async fn requests_to(server: &MockServer, at: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .into_iter()
        .filter(|r| r.url.path() == at)
        .collect()
}

fn header<'a>(request: &'a wiremock::Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("the delivery has no {name} header"))
        .to_str()
        .unwrap()
}

/// Checks both signature schemes of a received delivery against `secret`.
fn verify(request: &wiremock::Request, secret: &WebhookSecret) -> Result<i64, Error> {
    let now = Utc::now().timestamp();
    let t = verify_layers_signature(
        secret,
        header(request, "x-layers-signature"),
        &request.body,
        now,
        DEFAULT_TOLERANCE_SECS,
    )?;
    verify_standard_signature(
        secret,
        header(request, "webhook-id"),
        header(request, "webhook-timestamp"),
        header(request, "webhook-signature"),
        &request.body,
        now,
        DEFAULT_TOLERANCE_SECS,
    )?;
    Ok(t)
}

impl Fixture {
    /// As `layers-env` builds them: sandbox endpoints may be plain http.
    fn hooks(&self, env: EnvKind, allow_private_network: bool) -> Webhooks {
        let hooks = Webhooks::new(env, Some(self.key.clone()), allow_private_network);
        match env {
            EnvKind::Sandbox => hooks.allowing_plain_http(),
            EnvKind::Live => hooks,
        }
    }

    fn sandbox(&self) -> Webhooks {
        self.hooks(EnvKind::Sandbox, true)
    }

    fn start(&mut self, config: DeliveryConfig) {
        let deliverer = Deliverer::new(
            self.db.pool.clone(),
            self.db.url.clone(),
            self.key.clone(),
            config,
        )
        .unwrap();
        self.deliverer = deliverer.spawn();
        assert!(self.deliverer.is_some());
    }

    async fn client(&self) -> layers_db::Client {
        self.db.pool.get().await.unwrap()
    }

    async fn endpoint(
        &self,
        hooks: &Webhooks,
        url: &str,
        events: Option<&[&str]>,
    ) -> (Endpoint, WebhookSecret) {
        hooks
            .create(
                &self.client().await,
                self.org,
                NewEndpoint {
                    url: url.to_owned(),
                    events: events.map(|e| e.iter().map(|s| (*s).to_owned()).collect()),
                    description: None,
                },
            )
            .await
            .unwrap()
    }

    /// A sandbox endpoint of every type on `server`'s `at`.
    async fn endpoint_on(&self, server: &MockServer, at: &str) -> (Endpoint, WebhookSecret) {
        self.endpoint(&self.sandbox(), &format!("{}{at}", server.uri()), None)
            .await
    }

    /// Emits a sandbox event in a committed transaction.
    async fn emit(&self, event_type: EventType) -> EventId {
        let mut c = self.client().await;
        let tx = c.transaction().await.unwrap();
        let id = emit(
            &tx,
            self.org,
            EnvKind::Sandbox,
            event_type,
            json!({ "jobId": "job_1" }),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// The one delivery of `event` to `endpoint`.
    async fn delivery_of(&self, event: EventId, endpoint: EndpointId) -> DeliveryId {
        let row = self
            .client()
            .await
            .query_one(
                "SELECT id FROM webhook_deliveries WHERE event_id = $1 AND endpoint_id = $2",
                &[&event.as_uuid(), &endpoint.as_uuid()],
            )
            .await
            .unwrap();
        DeliveryId::from_uuid(row.get(0))
    }

    async fn row(&self, id: DeliveryId) -> DeliveryRow {
        let row = self
            .client()
            .await
            .query_one(
                "SELECT status, attempt_count, next_attempt_at FROM webhook_deliveries \
                 WHERE id = $1",
                &[&id.as_uuid()],
            )
            .await
            .unwrap();
        DeliveryRow {
            status: row.get(0),
            attempt_count: row.get(1),
            next_attempt_at: row.get(2),
        }
    }

    async fn attempts(&self, id: DeliveryId) -> Vec<AttemptRow> {
        self.client()
            .await
            .query(
                "SELECT attempt, attempted_at, status_code, duration_ms, error, response_excerpt \
                 FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt",
                &[&id.as_uuid()],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| AttemptRow {
                attempt: r.get(0),
                attempted_at: r.get(1),
                status_code: r.get(2),
                duration_ms: r.get(3),
                error: r.get(4),
                response_excerpt: r.get(5),
            })
            .collect()
    }

    /// Waits until the delivery is no longer pending.
    async fn finished(&self, id: DeliveryId) -> DeliveryRow {
        eventually("the delivery to finish", || async move {
            let row = self.row(id).await;
            (row.status != "pending").then_some(row)
        })
        .await
    }

    /// The delivery as the deliveries log shows it.
    async fn logged(&self, endpoint: EndpointId, id: DeliveryId) -> Delivery {
        self.sandbox()
            .deliveries(
                &self.client().await,
                self.org,
                endpoint,
                Limit::default(),
                None,
            )
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|d| d.id == id)
            .expect("the delivery is in its endpoint's log")
    }

    async fn count(&self, sql: &str) -> i64 {
        self.client()
            .await
            .query_one(sql, &[])
            .await
            .unwrap()
            .get(0)
    }
}

// --- the outbox ---

#[tokio::test]
async fn emit_writes_the_event_and_one_delivery_per_subscribed_endpoint_of_its_org_and_env() {
    let f = fixture().await;
    let c = f.client().await;
    let other_org = layers_orgs::create(&c, "Other", Plan::Partner, None)
        .await
        .unwrap()
        .id;
    let sandbox = f.hooks(EnvKind::Sandbox, false);
    let live = f.hooks(EnvKind::Live, false);
    let url = "https://example.com/hook";

    let (all, _) = f.endpoint(&sandbox, url, None).await;
    let (star, _) = f.endpoint(&sandbox, url, Some(&["*"])).await;
    let (failed_only, _) = f.endpoint(&sandbox, url, Some(&["job.failed"])).await;
    let (succeeded_only, _) = f.endpoint(&sandbox, url, Some(&["job.succeeded"])).await;
    let (disabled, _) = f.endpoint(&sandbox, url, None).await;
    sandbox
        .update(
            &c,
            f.org,
            disabled.id,
            EndpointPatch {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (live_all, _) = f.endpoint(&live, url, None).await;
    let (other_org_all, _) = sandbox
        .create(
            &c,
            other_org,
            NewEndpoint {
                url: url.into(),
                events: None,
                description: None,
            },
        )
        .await
        .unwrap();

    let deliveries_of = |event: EventId| {
        let c = &c;
        async move {
            let mut ids: Vec<uuid::Uuid> = c
                .query(
                    "SELECT endpoint_id FROM webhook_deliveries \
                     WHERE event_id = $1 AND status = 'pending' AND attempt_count = 0 \
                       AND next_attempt_at <= now()",
                    &[&event.as_uuid()],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            ids.sort();
            ids
        }
    };
    let sorted = |ids: &[EndpointId]| {
        let mut ids: Vec<uuid::Uuid> = ids.iter().map(|e| e.as_uuid()).collect();
        ids.sort();
        ids
    };

    // a sandbox job.failed: the sandbox endpoints of this org that take it, nothing else
    let event = f.emit(EventType::JobFailed).await;
    assert_eq!(
        deliveries_of(event).await,
        sorted(&[all.id, star.id, failed_only.id])
    );
    let stored = sandbox.event(&c, f.org, event).await.unwrap();
    assert_eq!(stored.event_type, EventType::JobFailed);
    let envelope: serde_json::Value = serde_json::from_slice(&stored.envelope).unwrap();
    assert_eq!(envelope["id"], event.to_string());
    assert_eq!(envelope["type"], "job.failed");
    assert_eq!(envelope["meta"], json!({ "sandbox": true }));
    assert_eq!(envelope["data"], json!({ "jobId": "job_1" }));

    // a live one reaches the live endpoint only, and carries no meta
    let live_event = live
        .emit(&c, f.org, EventType::JobSucceeded, json!({}))
        .await
        .unwrap();
    assert_eq!(deliveries_of(live_event).await, sorted(&[live_all.id]));
    let stored = live.event(&c, f.org, live_event).await.unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(&stored.envelope).unwrap();
    assert!(envelope.get("meta").is_none(), "{envelope}");

    // the other org's event reaches the other org's endpoint only
    let theirs = emit(
        &c,
        other_org,
        EnvKind::Sandbox,
        EventType::JobFailed,
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(deliveries_of(theirs).await, sorted(&[other_org_all.id]));

    // test.ping goes to the one endpoint named, whatever it subscribes to
    let ping = sandbox.test(&c, f.org, succeeded_only.id).await.unwrap();
    assert_eq!(deliveries_of(ping).await, sorted(&[succeeded_only.id]));

    // the succeeded-only and disabled endpoints got nothing but the ping
    for (endpoint, expected) in [(succeeded_only.id, 1), (disabled.id, 0)] {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1",
                &[&endpoint.as_uuid()],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, expected, "{endpoint}");
    }
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_no_event_and_no_delivery() {
    let f = fixture().await;
    f.endpoint(&f.sandbox(), "https://example.com/hook", None)
        .await;
    let events = "SELECT count(*) FROM events";
    let deliveries = "SELECT count(*) FROM webhook_deliveries";

    let mut c = f.client().await;
    let tx = c.transaction().await.unwrap();
    let event = emit(
        &tx,
        f.org,
        EnvKind::Sandbox,
        EventType::JobFailed,
        json!({}),
    )
    .await
    .unwrap();
    // inside the transaction both are there...
    let seen: i64 = tx
        .query_one(
            "SELECT count(*) FROM webhook_deliveries WHERE event_id = $1",
            &[&event.as_uuid()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 1);
    tx.rollback().await.unwrap();

    // ...and after the rollback neither is
    assert_eq!(f.count(events).await, 0);
    assert_eq!(f.count(deliveries).await, 0);
    assert!(matches!(
        f.sandbox().event(&c, f.org, event).await,
        Err(StoreError::EventNotFound)
    ));

    // the same emit committed does leave them
    f.emit(EventType::JobFailed).await;
    assert_eq!(f.count(events).await, 1);
    assert_eq!(f.count(deliveries).await, 1);
}

// --- endpoints ---

#[tokio::test]
async fn create_checks_the_url_the_events_and_the_master_key() {
    let f = fixture().await;
    let c = f.client().await;
    let create = |hooks: Webhooks, url: &str, events: Option<Vec<&str>>| {
        let c = &c;
        let new = NewEndpoint {
            url: url.to_owned(),
            events: events.map(|e| e.into_iter().map(str::to_owned).collect()),
            description: None,
        };
        let org = f.org;
        async move { hooks.create(c, org, new).await }
    };
    let strict_live = || f.hooks(EnvKind::Live, false);
    let open_live = || f.hooks(EnvKind::Live, true);
    let strict_sandbox = || f.hooks(EnvKind::Sandbox, false);
    let open_sandbox = || f.hooks(EnvKind::Sandbox, true);

    // live endpoints must be https unless private networks are allowed; sandbox ones need not
    let refused = create(strict_live(), "http://example.com/hook", None).await;
    assert!(
        matches!(&refused, Err(StoreError::InvalidUrl(m)) if m.contains("https")),
        "{refused:?}"
    );
    create(strict_live(), "https://example.com/hook", None)
        .await
        .unwrap();
    create(open_live(), "http://example.com/hook", None)
        .await
        .unwrap();
    create(strict_sandbox(), "http://example.com/hook", None)
        .await
        .unwrap();

    // loopback, private, link-local and metadata addresses, and localhost: refused unless allowed
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost:3000/hook",
        "https://[::1]/hook",
    ] {
        let refused = create(strict_sandbox(), url, None).await;
        assert!(
            matches!(&refused, Err(StoreError::InvalidUrl(m)) if m.contains("refused")),
            "{url}: {refused:?}"
        );
        create(open_sandbox(), url, None).await.unwrap();
    }

    // not http(s), or with credentials: refused even when private networks are allowed
    for url in [
        "ftp://example.com/hook",
        "https://user:pass@example.com/hook",
        "https://user@example.com/hook",
        "not a url",
    ] {
        let refused = create(open_sandbox(), url, None).await;
        assert!(
            matches!(refused, Err(StoreError::InvalidUrl(_))),
            "{url}: {refused:?}"
        );
    }

    // event types
    let url = "https://example.com/hook";
    for events in [
        vec!["job.exploded"],
        vec![],
        vec!["job.failed", "Job.Failed"],
        vec!["*", "job.exploded"],
    ] {
        let refused = create(strict_sandbox(), url, Some(events.clone())).await;
        assert!(
            matches!(refused, Err(StoreError::InvalidEvents(_))),
            "{events:?}: {refused:?}"
        );
    }
    let (all, _) = create(strict_sandbox(), url, Some(vec!["*", "job.failed"]))
        .await
        .unwrap();
    assert_eq!(all.events, Subscription::All);
    let (some, _) = create(
        strict_sandbox(),
        url,
        Some(vec!["job.failed", "post.published", "job.failed"]),
    )
    .await
    .unwrap();
    assert_eq!(
        some.events,
        Subscription::Only(vec![EventType::JobFailed, EventType::PostPublished])
    );
    let stored: Vec<Vec<String>> = c
        .query(
            "SELECT events FROM webhook_endpoints WHERE id = ANY ($1) ORDER BY id",
            &[&vec![all.id.as_uuid(), some.id.as_uuid()]],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        stored,
        vec![
            vec!["*".to_owned()],
            vec!["job.failed".into(), "post.published".into()]
        ]
    );

    // without a master key nothing can be created
    let unkeyed = Webhooks::new(EnvKind::Sandbox, None, false);
    let refused = create(unkeyed, url, None).await;
    assert!(
        matches!(refused, Err(StoreError::NotConfigured)),
        "{refused:?}"
    );

    // only the accepted ones were written: 3 live/sandbox http(s), 5 allowed private, 2 typed
    assert_eq!(f.count("SELECT count(*) FROM webhook_endpoints").await, 10);
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_bound_to_their_row() {
    let mut f = fixture().await;
    let server = receiver("/one", ResponseTemplate::new(200)).await;
    Mock::given(method("POST"))
        .and(path("/two"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let (one, secret) = f.endpoint_on(&server, "/one").await;
    let (two, _) = f.endpoint_on(&server, "/two").await;
    let c = f.client().await;
    let sealed_of = |id: EndpointId| {
        let c = &c;
        async move {
            c.query_one(
                "SELECT secret_sealed FROM webhook_endpoints WHERE id = $1",
                &[&id.as_uuid()],
            )
            .await
            .unwrap()
            .get::<_, Vec<u8>>(0)
        }
    };

    let sealed = sealed_of(one.id).await;
    let text = secret.as_str().as_bytes();
    let raw = STANDARD
        .decode(&secret.as_str()[SECRET_PREFIX.len()..])
        .unwrap();
    assert_eq!(raw.len(), 32);
    for piece in text.windows(8).chain(raw.windows(8)) {
        assert!(
            !sealed.windows(8).any(|w| w == piece),
            "the stored bytes contain part of the secret"
        );
    }
    // what is stored is that secret, sealed under the master key for this row only
    let context = format!("webhook_endpoints.secret:{}", one.id);
    assert_eq!(open(&f.key, &sealed, context.as_bytes()).unwrap(), text);
    let elsewhere = format!("webhook_endpoints.secret:{}", two.id);
    assert_eq!(
        open(&f.key, &sealed, elsewhere.as_bytes()),
        Err(Error::Open)
    );

    // the sealed secret copied onto the other row does not sign deliveries there
    c.execute(
        "UPDATE webhook_endpoints SET secret_sealed = $1 WHERE id = $2",
        &[&sealed, &two.id.as_uuid()],
    )
    .await
    .unwrap();
    f.start(config(&[Duration::ZERO]));
    let hooks = f.sandbox();
    let to_one = hooks.test(&c, f.org, one.id).await.unwrap();
    let to_two = hooks.test(&c, f.org, two.id).await.unwrap();
    let (to_one, to_two) = (
        f.delivery_of(to_one, one.id).await,
        f.delivery_of(to_two, two.id).await,
    );
    assert_eq!(f.finished(to_one).await.status, "succeeded");
    assert_eq!(f.finished(to_two).await.status, "failed");
    let attempts = f.attempts(to_two).await;
    assert_eq!(attempts.len(), 1);
    let error = attempts[0].error.as_deref().unwrap();
    assert!(
        error.contains("could not open the endpoint's secret"),
        "{error}"
    );
    assert!(!error.contains(secret.as_str()));
    assert_eq!(attempts[0].status_code, None);

    let received = requests_to(&server, "/one").await;
    assert_eq!(received.len(), 1);
    verify(&received[0], &secret).unwrap();
    assert!(requests_to(&server, "/two").await.is_empty());
}

#[tokio::test]
async fn each_environment_sees_and_changes_only_its_own_endpoints() {
    let f = fixture().await;
    let c = f.client().await;
    let sandbox = f.hooks(EnvKind::Sandbox, false);
    let live = f.hooks(EnvKind::Live, false);
    let (s, _) = f
        .endpoint(&sandbox, "https://sandbox.example.com/", None)
        .await;
    let (l, _) = f.endpoint(&live, "https://live.example.com/", None).await;
    let secrets_before: Vec<Vec<u8>> = c
        .query(
            "SELECT secret_sealed FROM webhook_endpoints ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let live_event = live
        .emit(&c, f.org, EventType::JobFailed, json!({}))
        .await
        .unwrap();
    let delivery = f.delivery_of(live_event, l.id).await;

    for (hooks, own, theirs, their_env) in [
        (&sandbox, &s, &l, EnvKind::Live),
        (&live, &l, &s, EnvKind::Sandbox),
    ] {
        assert_eq!(hooks.get(&c, f.org, own.id).await.unwrap(), *own);
        let got = hooks.get(&c, f.org, theirs.id).await;
        assert!(
            matches!(got, Err(StoreError::InOtherEnvironment(e)) if e == their_env),
            "{got:?}"
        );
        let logged = hooks
            .deliveries(&c, f.org, theirs.id, Limit::default(), None)
            .await;
        assert!(
            matches!(logged, Err(StoreError::InOtherEnvironment(e)) if e == their_env),
            "{logged:?}"
        );

        let mismatch = |r: StoreResult<()>| {
            assert!(
                matches!(r, Err(StoreError::EnvironmentMismatch(e)) if e == their_env),
                "{r:?}"
            )
        };
        mismatch(
            hooks
                .update(
                    &c,
                    f.org,
                    theirs.id,
                    EndpointPatch {
                        url: Some("https://evil.example.com/".into()),
                        disabled: Some(true),
                        ..Default::default()
                    },
                )
                .await
                .map(|_| ()),
        );
        mismatch(hooks.delete(&c, f.org, theirs.id).await.map(|_| ()));
        mismatch(hooks.rotate_secret(&c, f.org, theirs.id).await.map(|_| ()));
        mismatch(hooks.test(&c, f.org, theirs.id).await.map(|_| ()));
        if their_env == EnvKind::Live {
            mismatch(
                hooks
                    .redeliver(&c, f.org, theirs.id, delivery)
                    .await
                    .map(|_| ()),
            );
        }

        let listed: Vec<EndpointId> = hooks
            .list(&c, f.org, Limit::default(), None)
            .await
            .unwrap()
            .items
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(listed, vec![own.id]);
    }

    // the refused changes changed nothing
    assert_eq!(live.get(&c, f.org, l.id).await.unwrap(), l);
    assert_eq!(sandbox.get(&c, f.org, s.id).await.unwrap(), s);
    let secrets_after: Vec<Vec<u8>> = c
        .query(
            "SELECT secret_sealed FROM webhook_endpoints ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(secrets_after, secrets_before);
    assert_eq!(f.count("SELECT count(*) FROM events").await, 1);
    assert_eq!(f.row(delivery).await.status, "pending");

    // events too: the live event is not the sandbox's
    let read = sandbox.event(&c, f.org, live_event).await;
    assert!(
        matches!(read, Err(StoreError::InOtherEnvironment(EnvKind::Live))),
        "{read:?}"
    );
    assert!(sandbox
        .events(&c, f.org, None, Limit::default(), None)
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(
        live.events(&c, f.org, None, Limit::default(), None)
            .await
            .unwrap()
            .items
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        vec![live_event]
    );

    // and another organization sees neither
    let other = layers_orgs::create(&c, "Other", Plan::Partner, None)
        .await
        .unwrap()
        .id;
    assert!(matches!(
        live.get(&c, other, l.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        live.delete(&c, other, l.id).await,
        Err(StoreError::NotFound)
    ));
}

// --- the delivery worker ---

#[tokio::test]
async fn a_delivery_arrives_signed_with_the_stored_envelope_and_is_recorded() {
    let mut f = fixture().await;
    let answer: String = "0123456789".repeat(500);
    let server = receiver(
        "/hook",
        ResponseTemplate::new(200)
            .set_body_string(answer.clone())
            .set_delay(ms(100)),
    )
    .await;
    let (endpoint, secret) = f.endpoint_on(&server, "/hook").await;
    f.start(config(&[Duration::ZERO, ms(200), ms(200)]));

    let event = f.emit(EventType::JobSucceeded).await;
    let id = f.delivery_of(event, endpoint.id).await;
    let row = f.finished(id).await;
    assert_eq!(row.status, "succeeded");
    assert_eq!(row.attempt_count, 1);
    assert_eq!(row.next_attempt_at, None);

    let received = requests_to(&server, "/hook").await;
    assert_eq!(received.len(), 1);
    let request = &received[0];
    let stored = f
        .sandbox()
        .event(&f.client().await, f.org, event)
        .await
        .unwrap();
    assert_eq!(request.body, stored.envelope);
    assert_eq!(header(request, "content-type"), "application/json");
    assert_eq!(header(request, "x-layers-event-id"), event.to_string());
    assert_eq!(header(request, "webhook-id"), event.to_string());
    assert_eq!(header(request, "x-layers-event-type"), "job.succeeded");
    let t = verify(request, &secret).unwrap();
    assert_eq!(header(request, "webhook-timestamp"), t.to_string());
    assert!((Utc::now().timestamp() - t).abs() <= 5, "{t}");
    let stranger = WebhookSecret::generate(&SystemRandom::new());
    assert_eq!(verify(request, &stranger), Err(Error::NoMatchingSignature));

    let attempts = f.attempts(id).await;
    assert_eq!(attempts.len(), 1);
    let attempt = &attempts[0];
    assert_eq!(attempt.attempt, 1);
    assert_eq!(attempt.status_code, Some(200));
    assert_eq!(attempt.error, None);
    assert!(
        (100..2_000).contains(&attempt.duration_ms),
        "{}",
        attempt.duration_ms
    );
    assert_eq!(EXCERPT_BYTES, 1024);
    assert_eq!(
        attempt.response_excerpt.as_deref(),
        Some(&answer[..EXCERPT_BYTES])
    );

    // the log shows the same
    let logged = f.logged(endpoint.id, id).await;
    assert_eq!(logged.status, DeliveryStatus::Succeeded);
    assert_eq!(logged.next_attempt_at, None);
    assert_eq!(logged.event_id, event);
    assert_eq!(logged.event_type, EventType::JobSucceeded);
    assert_eq!(logged.attempts.len(), 1);
    assert_eq!(logged.attempts[0].status_code, Some(200));
    assert_eq!(logged.attempts[0].attempted_at, attempt.attempted_at);
}

#[tokio::test]
async fn failed_attempts_are_retried_on_the_schedule_until_one_succeeds() {
    let mut f = fixture().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500).set_body_string("down"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .with_priority(2)
        .mount(&server)
        .await;
    let (endpoint, secret) = f.endpoint_on(&server, "/hook").await;
    f.start(config(&[Duration::ZERO, ms(200), ms(200)]));

    let event = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(event, endpoint.id).await;
    let row = f.finished(id).await;
    assert_eq!(row.status, "succeeded");
    assert_eq!(row.attempt_count, 3);
    assert_eq!(row.next_attempt_at, None);

    let attempts = f.attempts(id).await;
    let summary: Vec<_> = attempts
        .iter()
        .map(|a| (a.attempt, a.status_code, a.response_excerpt.as_deref()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, Some(500), Some("down")),
            (2, Some(500), Some("down")),
            (3, Some(200), Some("ok")),
        ]
    );
    assert!(attempts[0].error.as_deref().unwrap().contains("500"));
    assert!(attempts[1].error.as_deref().unwrap().contains("500"));
    assert_eq!(attempts[2].error, None);
    // each retry waited its delay (200 ms, less at most 10 % of jitter)
    for pair in attempts.windows(2) {
        let gap = pair[1].attempted_at - pair[0].attempted_at;
        assert!(gap >= chrono::Duration::milliseconds(175), "{gap}");
    }

    // every attempt carries the same event, freshly signed
    let received = requests_to(&server, "/hook").await;
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(request.body, received[0].body);
        assert_eq!(header(request, "webhook-id"), event.to_string());
        verify(request, &secret).unwrap();
    }
}

#[tokio::test]
async fn a_redirect_is_a_failed_attempt_and_is_not_followed() {
    let mut f = fixture().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/target"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/target", server.uri())),
        )
        .mount(&server)
        .await;
    let (endpoint, _) = f.endpoint_on(&server, "/hook").await;
    f.start(config(&[Duration::ZERO]));

    let event = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(event, endpoint.id).await;
    let row = f.finished(id).await;
    assert_eq!(row.status, "failed");
    assert_eq!(row.next_attempt_at, None);
    let attempts = f.attempts(id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status_code, Some(302));
    let error = attempts[0].error.as_deref().unwrap();
    assert!(error.contains("redirects are not followed"), "{error}");
    assert_eq!(requests_to(&server, "/hook").await.len(), 1);
    assert!(requests_to(&server, "/target").await.is_empty());
}

#[tokio::test]
async fn a_delivery_fails_for_good_once_the_schedule_is_used_up() {
    let mut f = fixture().await;
    let server = receiver("/hook", ResponseTemplate::new(503)).await;
    let (endpoint, _) = f.endpoint_on(&server, "/hook").await;
    f.start(config(&[Duration::ZERO, ms(100), ms(100)]));

    let event = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(event, endpoint.id).await;
    let row = f.finished(id).await;
    assert_eq!(row.status, "failed");
    assert_eq!(row.attempt_count, 3);
    assert_eq!(row.next_attempt_at, None);
    let logged = f.logged(endpoint.id, id).await;
    assert_eq!(logged.status, DeliveryStatus::Failed);
    assert_eq!(logged.next_attempt_at, None);
    assert_eq!(
        logged
            .attempts
            .iter()
            .map(|a| a.status_code)
            .collect::<Vec<_>>(),
        vec![Some(503); 3]
    );

    // and nothing more is attempted
    tokio::time::sleep(ms(300)).await;
    assert_eq!(requests_to(&server, "/hook").await.len(), 3);
    assert_eq!(f.attempts(id).await.len(), 3);
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_a_failed_attempt() {
    let mut f = fixture().await;
    let server = receiver("/hook", ResponseTemplate::new(200).set_delay(ms(1_500))).await;
    let (endpoint, _) = f.endpoint_on(&server, "/hook").await;
    f.start(DeliveryConfig {
        timeout: ms(300),
        ..config(&[Duration::ZERO])
    });

    let event = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(event, endpoint.id).await;
    let row = f.finished(id).await;
    assert_eq!(row.status, "failed");
    let attempts = f.attempts(id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status_code, None);
    let error = attempts[0].error.as_deref().unwrap();
    assert!(error.contains("no answer within 0.3 s"), "{error}");
    assert!(
        (250..1_400).contains(&attempts[0].duration_ms),
        "{}",
        attempts[0].duration_ms
    );
    assert_eq!(requests_to(&server, "/hook").await.len(), 1);
}

#[tokio::test]
async fn during_a_rotation_deliveries_carry_both_signatures_until_the_grace_ends() {
    let mut f = fixture().await;
    let server = receiver("/hook", ResponseTemplate::new(200)).await;
    let (endpoint, old) = f.endpoint_on(&server, "/hook").await;
    let c = f.client().await;
    let (rotated, new) = f
        .sandbox()
        .rotate_secret(&c, f.org, endpoint.id)
        .await
        .unwrap();
    assert_eq!(rotated.id, endpoint.id);
    assert_ne!(new.as_str(), old.as_str());
    f.start(config(&[Duration::ZERO]));

    let first = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(first, endpoint.id).await;
    assert_eq!(f.finished(id).await.status, "succeeded");
    let received = requests_to(&server, "/hook").await;
    assert_eq!(received.len(), 1);
    let request = &received[0];
    let layers = header(request, "x-layers-signature");
    let standard = header(request, "webhook-signature");
    assert_eq!(layers.matches(",v1=").count(), 2, "{layers}");
    assert_eq!(standard.split(' ').count(), 2, "{standard}");
    assert!(
        standard.split(' ').all(|s| s.starts_with("v1,")),
        "{standard}"
    );
    verify(request, &old).unwrap();
    verify(request, &new).unwrap();
    // newest first
    let t: i64 = header(request, "webhook-timestamp").parse().unwrap();
    assert_eq!(
        layers,
        layers_signature(t, &request.body, &[new.clone(), old.clone()])
    );
    assert_eq!(
        standard,
        standard_signature(
            header(request, "webhook-id"),
            t,
            &request.body,
            &[new.clone(), old.clone()]
        )
    );

    // once the grace has passed, the old secret signs no more
    c.execute(
        "UPDATE webhook_endpoints SET previous_secret_until = now() - interval '1 second' \
         WHERE id = $1",
        &[&endpoint.id.as_uuid()],
    )
    .await
    .unwrap();
    let second = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(second, endpoint.id).await;
    assert_eq!(f.finished(id).await.status, "succeeded");
    let received = requests_to(&server, "/hook").await;
    let request = received
        .iter()
        .find(|r| header(r, "webhook-id") == second.to_string())
        .unwrap();
    assert_eq!(
        header(request, "x-layers-signature")
            .matches(",v1=")
            .count(),
        1
    );
    verify(request, &new).unwrap();
    assert_eq!(verify(request, &old), Err(Error::NoMatchingSignature));
}

#[tokio::test]
async fn a_delivery_whose_worker_died_is_attempted_again_when_its_lease_passes() {
    let mut f = fixture().await;
    let server = receiver("/hook", ResponseTemplate::new(200)).await;
    let (endpoint, _) = f.endpoint_on(&server, "/hook").await;
    let event = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(event, endpoint.id).await;

    // a worker takes the delivery, as `take` does, and dies before recording anything
    let lease_end: DateTime<Utc> = f
        .client()
        .await
        .query_one(
            "UPDATE webhook_deliveries SET attempt_count = attempt_count + 1, \
                 next_attempt_at = now() + interval '300 milliseconds' \
             WHERE id = $1 RETURNING next_attempt_at",
            &[&id.as_uuid()],
        )
        .await
        .unwrap()
        .get(0);
    f.start(config(&[Duration::ZERO, ms(200), ms(200)]));

    // nothing while the lease holds
    tokio::time::sleep(ms(150)).await;
    assert!(requests_to(&server, "/hook").await.is_empty());

    let row = f.finished(id).await;
    assert_eq!(row.status, "succeeded");
    assert_eq!(row.attempt_count, 2);
    let attempts = f.attempts(id).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].attempt, 2);
    assert_eq!(attempts[0].status_code, Some(200));
    assert!(attempts[0].attempted_at >= lease_end, "{attempts:?}");
    assert_eq!(requests_to(&server, "/hook").await.len(), 1);
}

#[tokio::test]
async fn an_attempt_that_outlived_its_lease_records_nothing() {
    // Attempt 1 is slow (600 ms) and outlives its 200 ms lease; attempt 2 is taken meanwhile
    // and fails at once with a retry due 800 ms later. Attempt 1 then finishes with a 200 while
    // the delivery is pending: counted as attempt 2 by then, it must record nothing. Attempt 3
    // succeeds.
    let mut f = fixture().await;
    let server = MockServer::start().await;
    for (priority, response) in [
        (1, ResponseTemplate::new(200).set_delay(ms(600))),
        (2, ResponseTemplate::new(500)),
    ] {
        Mock::given(method("POST"))
            .and(path("/hook"))
            .respond_with(response)
            .up_to_n_times(1)
            .with_priority(priority)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(3)
        .mount(&server)
        .await;
    let (endpoint, _) = f.endpoint_on(&server, "/hook").await;
    f.start(DeliveryConfig {
        lease: ms(200),
        timeout: Duration::from_secs(3),
        ..config(&[Duration::ZERO, Duration::ZERO, ms(900), ms(900)])
    });

    let event = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(event, endpoint.id).await;
    let row = f.finished(id).await;
    assert_eq!(row.status, "succeeded");
    assert_eq!(row.attempt_count, 3);
    let attempts: Vec<_> = f
        .attempts(id)
        .await
        .iter()
        .map(|a| (a.attempt, a.status_code))
        .collect();
    assert_eq!(attempts, vec![(2, Some(500)), (3, Some(200))]);
    assert_eq!(requests_to(&server, "/hook").await.len(), 3);
}

#[tokio::test]
async fn a_redelivery_makes_exactly_one_more_attempt() {
    let mut f = fixture().await;
    let server = MockServer::start().await;
    for (priority, status) in [(1, 200), (2, 500)] {
        Mock::given(method("POST"))
            .and(path("/hook"))
            .respond_with(ResponseTemplate::new(status))
            .up_to_n_times(1)
            .with_priority(priority)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(3)
        .mount(&server)
        .await;
    let (endpoint, _) = f.endpoint_on(&server, "/hook").await;
    // a schedule with room for more attempts: a redelivery must not use it
    f.start(config(&[Duration::ZERO, ms(100), ms(100), ms(100)]));
    let hooks = f.sandbox();
    let c = f.client().await;

    let event = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(event, endpoint.id).await;
    assert_eq!(f.finished(id).await.status, "succeeded");

    // redelivered: pending for one attempt, which fails (500) and ends the delivery (read
    // before the commit, so that the worker cannot have made the attempt yet)
    let mut tc = f.client().await;
    let tx = tc.transaction().await.unwrap();
    let redelivered = hooks.redeliver(&tx, f.org, endpoint.id, id).await.unwrap();
    assert_eq!(redelivered.status, DeliveryStatus::Pending);
    assert_eq!(redelivered.attempts.len(), 1);
    assert!(redelivered.next_attempt_at.is_some());
    tx.commit().await.unwrap();
    let row = f.finished(id).await;
    assert_eq!(row.status, "failed");
    assert_eq!(row.attempt_count, 2);
    assert_eq!(row.next_attempt_at, None);
    tokio::time::sleep(ms(300)).await;
    assert_eq!(f.row(id).await.status, "failed");
    assert_eq!(requests_to(&server, "/hook").await.len(), 2);

    // redelivered again: one more attempt, which succeeds
    hooks.redeliver(&c, f.org, endpoint.id, id).await.unwrap();
    let row = f.finished(id).await;
    assert_eq!(row.status, "succeeded");
    let attempts: Vec<_> = f
        .attempts(id)
        .await
        .iter()
        .map(|a| (a.attempt, a.status_code))
        .collect();
    assert_eq!(
        attempts,
        vec![(1, Some(200)), (2, Some(500)), (3, Some(200))]
    );
    assert_eq!(requests_to(&server, "/hook").await.len(), 3);

    // a delivery of another endpoint cannot be redelivered through this one
    let (other, _) = f.endpoint_on(&server, "/other").await;
    let refused = hooks.redeliver(&c, f.org, other.id, id).await;
    assert!(
        matches!(refused, Err(StoreError::DeliveryNotFound)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn deliveries_of_a_disabled_endpoint_wait_until_it_is_enabled() {
    let mut f = fixture().await;
    let server = receiver("/hook", ResponseTemplate::new(200)).await;
    let (endpoint, _) = f.endpoint_on(&server, "/hook").await;
    let hooks = f.sandbox();
    let c = f.client().await;
    let event = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(event, endpoint.id).await;
    let patch = |disabled| EndpointPatch {
        disabled: Some(disabled),
        ..Default::default()
    };
    assert!(
        hooks
            .update(&c, f.org, endpoint.id, patch(true))
            .await
            .unwrap()
            .disabled
    );
    f.start(config(&[Duration::ZERO]));

    tokio::time::sleep(ms(300)).await;
    assert!(requests_to(&server, "/hook").await.is_empty());
    let row = f.row(id).await;
    assert_eq!((row.status.as_str(), row.attempt_count), ("pending", 0));

    hooks
        .update(&c, f.org, endpoint.id, patch(false))
        .await
        .unwrap();
    assert_eq!(f.finished(id).await.status, "succeeded");
    assert_eq!(requests_to(&server, "/hook").await.len(), 1);
}

#[tokio::test]
async fn private_addresses_are_refused_at_delivery_unless_allowed() {
    let mut f = fixture().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    // accepted when it was created (private networks allowed then), refused by this worker
    let (endpoint, _) = f.endpoint_on(&server, "/hook").await;
    f.start(DeliveryConfig {
        allow_private_network: false,
        ..config(&[Duration::ZERO])
    });

    let event = f.emit(EventType::JobFailed).await;
    let id = f.delivery_of(event, endpoint.id).await;
    assert_eq!(f.finished(id).await.status, "failed");
    let attempts = f.attempts(id).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status_code, None);
    let error = attempts[0].error.as_deref().unwrap();
    assert!(error.contains("refused to call 127.0.0.1"), "{error}");
    assert!(requests_to(&server, "/hook").await.is_empty());
}

// --- no tenant can stall another ---

/// A second organization of the fixture's database.
async fn other_org(f: &Fixture, name: &str) -> OrgId {
    layers_orgs::create(&f.client().await, name, Plan::Partner, None)
        .await
        .unwrap()
        .id
}

/// Emits a sandbox `test.ping` of `org` in a committed transaction.
async fn emit_for(f: &Fixture, org: OrgId) -> EventId {
    let mut c = f.client().await;
    let tx = c.transaction().await.unwrap();
    let id = emit(&tx, org, EnvKind::Sandbox, EventType::TestPing, json!({}))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn an_answer_with_nul_bytes_is_recorded_and_does_not_lose_the_others() {
    let mut f = fixture().await;
    let nul = receiver(
        "/nul",
        ResponseTemplate::new(200).set_body_bytes(b"ok\0\0 and \xff more".to_vec()),
    )
    .await;
    let fine = receiver("/fine", ResponseTemplate::new(200).set_body_string("fine")).await;
    let (bad, _) = f.endpoint_on(&nul, "/nul").await;
    let (good, _) = f.endpoint_on(&fine, "/fine").await;
    let events = [
        f.emit(EventType::TestPing).await,
        f.emit(EventType::TestPing).await,
    ];
    // both outcomes arrive together and are written in one batch
    f.start(config(&[Duration::ZERO, ms(100), ms(100)]));

    for event in events {
        for endpoint in [bad.id, good.id] {
            let id = f.delivery_of(event, endpoint).await;
            let row = f.finished(id).await;
            assert_eq!((row.status.as_str(), row.attempt_count), ("succeeded", 1));
        }
        let id = f.delivery_of(event, bad.id).await;
        let excerpt = f.attempts(id).await[0].response_excerpt.clone().unwrap();
        assert_eq!(excerpt, "ok\u{FFFD}\u{FFFD} and \u{FFFD} more");
    }
    assert_eq!(requests_to(&nul, "/nul").await.len(), 2);
    assert_eq!(requests_to(&fine, "/fine").await.len(), 2);
}

#[tokio::test]
async fn a_delivery_at_the_end_of_its_schedule_is_never_attempted_again() {
    let mut f = fixture().await;
    let server = receiver("/hook", ResponseTemplate::new(200)).await;
    let (endpoint, _) = f.endpoint_on(&server, "/hook").await;
    let event = f.emit(EventType::TestPing).await;
    let id = f.delivery_of(event, endpoint.id).await;
    // its three attempts were made (by a worker whose outcomes never reached the database) and
    // its lease has passed
    f.client()
        .await
        .execute(
            "UPDATE webhook_deliveries SET attempt_count = 3, next_attempt_at = now() WHERE id = $1",
            &[&id.as_uuid()],
        )
        .await
        .unwrap();
    f.start(config(&[Duration::ZERO, ms(100), ms(100)]));

    let row = f.finished(id).await;
    assert_eq!((row.status.as_str(), row.attempt_count), ("failed", 3));
    assert_eq!(row.next_attempt_at, None);
    tokio::time::sleep(ms(200)).await;
    assert!(requests_to(&server, "/hook").await.is_empty());
}

#[tokio::test]
async fn one_organizations_slow_receivers_do_not_delay_another_organizations_deliveries() {
    let mut f = fixture().await;
    let tarpit = receiver("/slow", ResponseTemplate::new(200).set_delay(ms(1_500))).await;
    let quick = receiver("/quick", ResponseTemplate::new(200)).await;
    // the fixture's organization points three endpoints at a receiver that takes 1.5 s, with
    // three events each: nine slow deliveries, more than the worker's four senders
    for _ in 0..3 {
        f.endpoint_on(&tarpit, "/slow").await;
    }
    for _ in 0..3 {
        f.emit(EventType::TestPing).await;
    }
    let other = other_org(&f, "Other").await;
    let (theirs, _) = f
        .sandbox()
        .create(
            &f.client().await,
            other,
            NewEndpoint {
                url: format!("{}/quick", quick.uri()),
                events: None,
                description: None,
            },
        )
        .await
        .unwrap();
    f.start(DeliveryConfig {
        concurrency: 4,
        per_endpoint: 1,
        per_organization: 2,
        ..config(&[Duration::ZERO])
    });
    eventually("the tarpit to hold its senders", || async {
        (requests_to(&tarpit, "/slow").await.len() >= 2).then_some(())
    })
    .await;

    let started = std::time::Instant::now();
    let event = emit_for(&f, other).await;
    let id = f.delivery_of(event, theirs.id).await;
    assert_eq!(f.finished(id).await.status, "succeeded");
    let waited = started.elapsed();
    assert!(waited < ms(700), "the other organization waited {waited:?}");
    // the tarpit's organization never had more than its two in flight
    assert!(requests_to(&tarpit, "/slow").await.len() <= 4);
}

#[tokio::test]
async fn an_organization_has_at_most_sixteen_endpoints_per_environment() {
    let f = fixture().await;
    for i in 0..MAX_ENDPOINTS {
        f.endpoint(&f.sandbox(), &format!("https://example.com/{i}"), None)
            .await;
    }
    let refused = f
        .sandbox()
        .create(
            &f.client().await,
            f.org,
            NewEndpoint {
                url: "https://example.com/17".into(),
                events: None,
                description: None,
            },
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::TooManyEndpoints)),
        "{refused:?}"
    );
    assert_eq!(
        f.count("SELECT count(*) FROM webhook_endpoints WHERE is_sandbox")
            .await,
        MAX_ENDPOINTS
    );
    // the live environment has its own sixteen
    f.endpoint(
        &f.hooks(EnvKind::Live, true),
        "https://example.com/live",
        None,
    )
    .await;
}

#[tokio::test]
async fn an_event_emitted_while_its_endpoint_is_deleted_still_commits() {
    let f = fixture().await;
    let (endpoint, _) = f
        .endpoint(&f.sandbox(), "https://example.com/hook", None)
        .await;
    // the endpoint's deletion is under way, not yet committed
    let mut deleting = f.client().await;
    let deletion = deleting.transaction().await.unwrap();
    deletion
        .execute(
            "DELETE FROM webhook_endpoints WHERE id = $1",
            &[&endpoint.id.as_uuid()],
        )
        .await
        .unwrap();
    let emitting = {
        let pool = f.db.pool.clone();
        let org = f.org;
        tokio::spawn(async move {
            let mut c = pool.get().await.unwrap();
            let tx = c.transaction().await.unwrap();
            emit(&tx, org, EnvKind::Sandbox, EventType::TestPing, json!({})).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })
    };
    tokio::time::sleep(ms(300)).await;
    deletion.commit().await.unwrap();

    emitting
        .await
        .unwrap()
        .expect("the write that emits commits");
    assert_eq!(f.count("SELECT count(*) FROM events").await, 1);
    assert_eq!(f.count("SELECT count(*) FROM webhook_deliveries").await, 0);
}
