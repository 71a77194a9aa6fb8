//! The webhook figures of `cargo xtask bench`: delivery throughput against a plain POST loop to
//! the same local receiver, and event-to-delivery latency on an idle worker.
//!
//! Reads `DATABASE_URL` (a migrated database) and `LAYERS_JOB_CONCURRENCY` (default 8: the
//! deliveries in flight, and the plain loop's concurrency). Prints one JSON object.
//!
//! - Plain loop: `concurrency` tasks POST a 1 KiB body to the receiver for 5 s with reqwest.
//! - Throughput: `EVENTS` events are emitted to one endpoint while no worker runs; then the
//!   delivery worker (the product's, `layers_webhooks::Deliverer`) starts and the clock runs
//!   until every delivery is recorded `succeeded`.
//! - Latency: with the worker idle, 1,000 events one at a time, each from the call that writes it
//!   (one autocommitted statement) to its arrival at the receiver.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use layers_core::EnvKind;
use layers_webhooks::{DeliveryConfig, EventType, MasterKey, NewEndpoint, Webhooks};
use serde_json::json;
use tokio::sync::mpsc;

const EVENTS: usize = 10_000;
const LATENCY_EVENTS: usize = 1_000;
const PLAIN_SECS: u64 = 5;

type Arrivals = mpsc::UnboundedSender<String>;

async fn receive(
    req: HttpRequest,
    _body: web::Bytes,
    arrivals: web::Data<Arrivals>,
) -> HttpResponse {
    if let Some(id) = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
    {
        let _ = arrivals.send(id.to_owned());
    }
    HttpResponse::Ok().finish()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn succeeded(db: &layers_db::Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'",
        &[],
    )
    .await
    .expect("count deliveries")
    .get(0)
}

/// What the example's parts return on failure.
type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The receiver: answers 200 at once and reports each delivery's id on the returned channel;
/// its URL.
fn start_receiver() -> BenchResult<(String, mpsc::UnboundedReceiver<String>)> {
    let (arrivals, arrived) = mpsc::unbounded_channel::<String>();
    let arrivals = web::Data::new(arrivals);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(arrivals.clone())
            .app_data(web::PayloadConfig::new(1 << 20))
            .default_service(web::to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Ok((format!("http://127.0.0.1:{port}/hooks"), arrived))
}

/// The plain loop: `concurrency` tasks POST a 1 KiB body to `receiver` for [`PLAIN_SECS`];
/// the requests per second.
async fn plain_loop(receiver: &str, concurrency: usize) -> BenchResult<f64> {
    let http = reqwest::Client::new();
    let body = vec![b'x'; 1024];
    let until = Instant::now() + Duration::from_secs(PLAIN_SECS);
    let loops = (0..concurrency).map(|_| {
        let (http, body, receiver) = (http.clone(), body.clone(), receiver.to_owned());
        tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                let res = http
                    .post(&receiver)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("the receiver answers");
                assert!(res.status().is_success());
                n += 1;
            }
            n
        })
    });
    let mut plain = 0;
    for task in loops {
        plain += task.await?;
    }
    Ok(plain as f64 / PLAIN_SECS as f64)
}

/// One sandbox endpoint at `receiver` of a fresh organization; the organization and the
/// webhooks that deliver with `key`.
async fn sandbox_endpoint(
    db: &layers_db::Client,
    receiver: &str,
    key: Arc<MasterKey>,
) -> BenchResult<(layers_orgs::OrgId, Webhooks)> {
    let org = layers_orgs::create(db, "Webhooks bench", layers_orgs::Plan::Partner, None)
        .await?
        .id;
    let webhooks = Webhooks::new(EnvKind::Sandbox, Some(key), true);
    webhooks
        .create(
            db,
            org,
            NewEndpoint {
                url: receiver.to_owned(),
                events: None,
                description: None,
            },
        )
        .await?;
    Ok((org, webhooks))
}

/// Emits [`EVENTS`] copies of `data` for `org`, 500 to a transaction, with no worker running.
async fn emit_backlog(
    pool: &layers_db::Pool,
    webhooks: &Webhooks,
    org: layers_orgs::OrgId,
    data: &serde_json::Value,
) -> BenchResult<()> {
    for _ in 0..EVENTS / 500 {
        let mut db = pool.get().await?;
        let tx = db.transaction().await?;
        for _ in 0..500 {
            webhooks
                .emit(&tx, org, EventType::JobSucceeded, data.clone())
                .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Throughput: starts the product's delivery worker and waits until it has drained the
/// backlog; the worker, still running, and the deliveries per second.
async fn drain_backlog(
    pool: &layers_db::Pool,
    db: &layers_db::Client,
    url: &str,
    key: Arc<MasterKey>,
    concurrency: usize,
) -> BenchResult<(layers_webhooks::DelivererHandle, f64)> {
    let started = Instant::now();
    let worker = layers_webhooks::Deliverer::new(
        pool.clone(),
        url.to_owned(),
        key,
        DeliveryConfig {
            concurrency,
            allow_private_network: true,
            ..DeliveryConfig::default()
        },
    )?
    .spawn()
    .expect("a worker with concurrency > 0");
    loop {
        if succeeded(db).await >= EVENTS as i64 {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err("the backlog did not drain in 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = started.elapsed();
    Ok((worker, EVENTS as f64 / drained.as_secs_f64()))
}

/// Latency on the idle worker: [`LATENCY_EVENTS`] events one at a time, each from its emit to
/// its arrival at the receiver; in ms, sorted.
async fn latencies(
    db: &layers_db::Client,
    webhooks: &Webhooks,
    org: layers_orgs::OrgId,
    data: &serde_json::Value,
    arrived: &mut mpsc::UnboundedReceiver<String>,
) -> BenchResult<Vec<f64>> {
    let mut latencies = Vec::with_capacity(LATENCY_EVENTS);
    for _ in 0..LATENCY_EVENTS {
        let started = Instant::now();
        let id = webhooks
            .emit(db, org, EventType::JobSucceeded, data.clone())
            .await?
            .to_string();
        loop {
            let got = tokio::time::timeout(Duration::from_secs(10), arrived.recv())
                .await?
                .ok_or("the receiver stopped")?;
            if got == id {
                break;
            }
        }
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let concurrency: usize = std::env::var("LAYERS_JOB_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(8);
    let pool = layers_db::pool(&url, 16)?;
    let db = pool.get().await?;

    let (receiver, mut arrived) = start_receiver()?;
    let plain_per_sec = plain_loop(&receiver, concurrency).await?;
    while arrived.try_recv().is_ok() {}

    let key = Arc::new(MasterKey::from_bytes([7; 32]));
    let (org, webhooks) = sandbox_endpoint(&db, &receiver, key.clone()).await?;
    let data = json!({ "id": "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f", "kind": "ingest_appstore",
                       "status": "succeeded", "result": { "facts": { "name": "x".repeat(600) } } });
    emit_backlog(&pool, &webhooks, org, &data).await?;

    let (worker, deliveries_per_sec) = drain_backlog(&pool, &db, &url, key, concurrency).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while arrived.try_recv().is_ok() {}

    let latencies = latencies(&db, &webhooks, org, &data, &mut arrived).await?;
    worker.shutdown(Duration::from_secs(5)).await;
    println!(
        "{}",
        json!({
            "concurrency": concurrency,
            "plainPerSec": plain_per_sec,
            "events": EVENTS,
            "deliveriesPerSec": deliveries_per_sec,
            "ratio": deliveries_per_sec / plain_per_sec,
            "latencyEvents": LATENCY_EVENTS,
            "latencyP50Ms": percentile(&latencies, 0.5),
            "latencyP99Ms": percentile(&latencies, 0.99),
        })
    );
    Ok(())
}
