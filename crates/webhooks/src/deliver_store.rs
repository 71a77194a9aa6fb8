//! The statements of the delivery worker ([`crate::Deliverer`]): the claim of due deliveries
//! and the write of attempts' outcomes.

use chrono::{DateTime, Utc};
use layers_db::GenericClient;

use crate::deliver::{Delivery, Record};
use crate::store::{DeliveryId, EndpointId};
use crate::{EventId, EventType};

/// The counts a claim must respect, as arrays for the claim's statement.
#[derive(Debug, Default)]
pub(crate) struct Bounds {
    pub(crate) orgs: Vec<String>,
    pub(crate) org_counts: Vec<i32>,
    pub(crate) full_orgs: Vec<String>,
    pub(crate) endpoints: Vec<uuid::Uuid>,
    pub(crate) endpoint_counts: Vec<i32>,
    pub(crate) full_endpoints: Vec<uuid::Uuid>,
}

/// One claim's arguments.
#[derive(Debug)]
pub(crate) struct Claim<'a> {
    /// How long a taken delivery is held (an interval's text, `"12000 milliseconds"`).
    pub(crate) lease: String,
    /// How many to take at most.
    pub(crate) n: i64,
    /// How many of the oldest due deliveries the claim chooses from.
    pub(crate) window: i64,
    /// Most taken per organization in one environment, and per endpoint.
    pub(crate) per_organization: i64,
    pub(crate) per_endpoint: i64,
    /// The attempts the schedule allows.
    pub(crate) attempts: i32,
    /// What this process already has in flight.
    pub(crate) bounds: &'a Bounds,
}

/// The claim (see `Deliverer::take`): a window of the oldest due deliveries of tenants and
/// endpoints not at their bound ($11, $12), ranked per tenant and endpoint on top of what they
/// have taken ($4–$7) and cut at their bounds ($8, $9) and at what the claim asks for ($2);
/// only those chosen are locked. A delivery at the end of its schedule ($10) ends `failed`.
const CLAIM: &str = "WITH cand AS ( \
                 SELECT dd.id, ee.organization_id::text || '/' || ee.is_sandbox::text AS org, \
                     dd.endpoint_id AS ep, dd.next_attempt_at \
                 FROM webhook_deliveries dd JOIN webhook_endpoints ee ON ee.id = dd.endpoint_id \
                 WHERE dd.status = 'pending' AND dd.next_attempt_at <= now() AND NOT ee.disabled \
                   AND NOT (ee.organization_id::text || '/' || ee.is_sandbox::text \
                            = ANY ($11::text[])) \
                   AND NOT (dd.endpoint_id = ANY ($12::uuid[])) \
                 ORDER BY dd.next_attempt_at LIMIT $3), \
             ranked AS ( \
                 SELECT c.id, c.next_attempt_at, \
                     row_number() OVER (PARTITION BY c.org ORDER BY c.next_attempt_at) \
                         + coalesce(o.n, 0) AS at_org, \
                     row_number() OVER (PARTITION BY c.ep ORDER BY c.next_attempt_at) \
                         + coalesce(p.n, 0) AS at_ep \
                 FROM cand c \
                 LEFT JOIN unnest($4::text[], $5::int[]) AS o (id, n) ON o.id = c.org \
                 LEFT JOIN unnest($6::uuid[], $7::int[]) AS p (id, n) ON p.id = c.ep), \
             chosen AS ( \
                 SELECT dd.id FROM webhook_deliveries dd \
                 WHERE dd.id = ANY (ARRAY( \
                         SELECT id FROM ranked WHERE at_org <= $8 AND at_ep <= $9 \
                         ORDER BY next_attempt_at LIMIT $2)) \
                   AND dd.status = 'pending' AND dd.next_attempt_at <= now() \
                 FOR UPDATE SKIP LOCKED) \
             UPDATE webhook_deliveries d SET \
                 status = CASE WHEN d.attempt_count >= coalesce(d.last_attempt, $10) \
                               THEN 'failed' ELSE d.status END, \
                 attempt_count = CASE WHEN d.attempt_count >= coalesce(d.last_attempt, $10) \
                                      THEN d.attempt_count ELSE d.attempt_count + 1 END, \
                 next_attempt_at = CASE WHEN d.attempt_count >= coalesce(d.last_attempt, $10) \
                                        THEN NULL ELSE now() + $1::text::interval END, \
                 updated_at = now() \
             FROM chosen, events ev, webhook_endpoints e \
             WHERE d.id = chosen.id AND ev.id = d.event_id AND e.id = d.endpoint_id \
             RETURNING d.status, d.id, d.attempt_count, d.last_attempt, ev.id, ev.type, ev.body, \
                 e.id, e.organization_id::text || '/' || e.is_sandbox::text, e.url, \
                 e.secret_sealed, \
                 CASE WHEN e.previous_secret_until > now() THEN e.previous_secret_sealed END";

/// Takes the deliveries `claim` allows (see `Deliverer::take`), each counting its attempt; those
/// at the end of their schedule end `failed` and are not returned.
pub(crate) async fn claim(
    db: &impl GenericClient,
    claim: &Claim<'_>,
) -> Result<Vec<Delivery>, String> {
    let bounds = claim.bounds;
    let rows = layers_db::cached::query(
        db,
        CLAIM,
        &[
            &claim.lease,
            &claim.n,
            &claim.window,
            &bounds.orgs,
            &bounds.org_counts,
            &bounds.endpoints,
            &bounds.endpoint_counts,
            &claim.per_organization,
            &claim.per_endpoint,
            &claim.attempts,
            &bounds.full_orgs,
            &bounds.full_endpoints,
        ],
    )
    .await
    .map_err(|e| e.to_string())?;
    rows.iter()
        .filter(|row| row.get::<_, &str>(0) == "pending")
        .map(|row| {
            Ok(Delivery {
                id: DeliveryId::from_uuid(row.get(1)),
                attempt: row.get(2),
                last_attempt: row.get(3),
                event_id: EventId::from_uuid(row.get(4)),
                event_type: EventType::parse(row.get(5)).map_err(|e| e.to_string())?,
                body: row.get(6),
                endpoint_id: EndpointId::from_uuid(row.get(7)),
                tenant: row.get(8),
                url: row.get(9),
                secret: row.get(10),
                previous_secret: row.get(11),
            })
        })
        .collect()
}

/// Writes attempts' outcomes in one statement, each only while its delivery still counts that
/// attempt (a late writer, whose lease passed, changes nothing).
pub(crate) async fn write_records(
    db: &impl GenericClient,
    batch: &[Record],
) -> Result<(), tokio_postgres::Error> {
    let ids: Vec<uuid::Uuid> = batch.iter().map(|r| r.id.as_uuid()).collect();
    let attempts: Vec<i32> = batch.iter().map(|r| r.attempt).collect();
    let statuses: Vec<&str> = batch.iter().map(|r| r.status).collect();
    let next: Vec<Option<String>> = batch
        .iter()
        .map(|r| r.next.map(|d| format!("{} milliseconds", d.as_millis())))
        .collect();
    let attempted_at: Vec<DateTime<Utc>> = batch.iter().map(|r| r.outcome.attempted_at).collect();
    let codes: Vec<Option<i32>> = batch
        .iter()
        .map(|r| r.outcome.status_code.map(i32::from))
        .collect();
    let durations: Vec<i32> = batch
        .iter()
        .map(|r| i32::try_from(r.outcome.duration.as_millis()).unwrap_or(i32::MAX))
        .collect();
    let errors: Vec<Option<&str>> = batch.iter().map(|r| r.outcome.error.as_deref()).collect();
    let excerpts: Vec<Option<&str>> = batch.iter().map(|r| r.outcome.excerpt.as_deref()).collect();
    layers_db::cached::execute(
        db,
        "WITH i AS ( \
             SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], \
                                  $5::timestamptz[], $6::int[], $7::int[], $8::text[], $9::text[]) \
                 AS i (id, attempt, status, next, attempted_at, status_code, duration_ms, error, \
                       excerpt)), \
         d AS ( \
             UPDATE webhook_deliveries w SET status = i.status, \
                 next_attempt_at = CASE WHEN i.next IS NULL THEN NULL \
                                        ELSE now() + i.next::interval END, \
                 updated_at = now() \
             FROM i WHERE w.id = i.id AND w.attempt_count = i.attempt AND w.status = 'pending' \
             RETURNING w.id, w.attempt_count) \
         INSERT INTO webhook_attempts \
             (delivery_id, attempt, attempted_at, status_code, duration_ms, error, response_excerpt) \
         SELECT i.id, i.attempt, i.attempted_at, i.status_code, i.duration_ms, i.error, i.excerpt \
         FROM i JOIN d ON d.id = i.id AND d.attempt_count = i.attempt",
        &[
            &ids,
            &attempts,
            &statuses,
            &next,
            &attempted_at,
            &codes,
            &durations,
            &errors,
            &excerpts,
        ],
    )
    .await?;
    Ok(())
}
