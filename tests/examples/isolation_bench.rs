//! The mixed run of `cargo xtask bench` (issue 17): while one organization runs every hostile
//! pattern at once, how another organization's requests and webhook pings fare.
//!
//! Reads `DATABASE_URL` (migrated here if it is not yet). Starts the gateway in this process with
//! its default pool, workers and deadlines (private networks allowed, so that the parties can live
//! on 127.0.0.1). The hostile organization: 20 direct-upload PUTs sending one byte every 2 s, 17
//! URL uploads of a page that trickles one byte a second, a receiver answering one byte a second
//! behind all 16 of its sandbox endpoints (pinged every second), a receiver answering NUL bytes
//! (pinged), endpoints created and deleted in a loop while two clients generate content. The
//! other organization: two clients alternating `GET /v1/projects` and `POST /v1/projects` for
//! `SECONDS`, and a `test.ping` to its own endpoint every 500 ms, timed from the request to the
//! receiver. Prints one JSON object.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use layers_core::EnvKind;
use layers_gateway::{Application, Settings};
use layers_keys::{Scopes, Tier};
use layers_orgs::Plan;
use layers_tests::hostile::{dripping_put, tarpit_receiver, trickle_server};
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECONDS: u64 = 10;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A gateway's client for one key.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Result<reqwest::Response, Error> {
        Ok(self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await?)
    }

    async fn json(&self, path: &str, body: Value) -> Result<Value, Error> {
        Ok(self.post(path, body).await?.json().await?)
    }

    async fn get(&self, path: &str) -> Result<reqwest::Response, Error> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await?)
    }

    async fn delete(&self, path: &str) -> Result<reqwest::Response, Error> {
        Ok(self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await?)
    }
}

async fn key(
    db: &layers_db::Client,
    org: layers_orgs::OrgId,
    env: EnvKind,
) -> Result<String, Error> {
    let minted = layers_keys::store::mint(
        db,
        &ring::rand::SystemRandom::new(),
        org,
        env,
        &Scopes::parse("*")?,
        Tier::Pilot,
    )
    .await?;
    Ok(minted.key.expose().to_owned())
}

fn quantile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

/// Starts every hostile pattern of `live` and `sandbox` (one organization); they run until
/// `stop`.
async fn hostile(live: &Client, sandbox: &Client, stop: Arc<AtomicBool>) -> Result<(), Error> {
    let project = live
        .json("/v1/projects", json!({ "name": "hostile" }))
        .await?;
    let project = project["id"].as_str().ok_or("no project")?.to_owned();
    let sandbox_project = sandbox
        .json("/v1/projects", json!({ "name": "hostile" }))
        .await?;
    let sandbox_project = sandbox_project["id"]
        .as_str()
        .ok_or("no project")?
        .to_owned();
    for _ in 0..20 {
        let session = live
            .json(
                &format!("/v1/projects/{project}/content/uploads"),
                json!({ "files": [{ "filename": "a.jpg", "contentType": "image/jpeg", "sizeBytes": 100_000 }] }),
            )
            .await?;
        let url = session["files"][0]["uploadUrl"]
            .as_str()
            .ok_or("no upload URL")?
            .replace("http://127.0.0.1:8080", &live.base);
        drop(dripping_put(&url, 100_000, Duration::from_secs(2)));
    }
    let trickle = trickle_server(Duration::from_secs(1), 60).await;
    for _ in 0..17 {
        let live = live.clone();
        let (path, trickle) = (
            format!("/v1/projects/{project}/content/upload"),
            trickle.clone(),
        );
        tokio::spawn(async move { live.post(&path, json!({ "urls": [trickle] })).await });
    }
    let (tarpit, _) = tarpit_receiver().await;
    let mut tarpits = Vec::new();
    for _ in 0..16 {
        let created = sandbox
            .json("/v1/webhook-endpoints", json!({ "url": tarpit }))
            .await?;
        tarpits.push(created["id"].as_str().ok_or("no endpoint")?.to_owned());
    }
    let nul = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"ok\0\0\0".to_vec()))
        .mount(&nul)
        .await;
    let created = live
        .json(
            "/v1/webhook-endpoints",
            json!({ "url": format!("{}/nul", nul.uri()) }),
        )
        .await?;
    let nul_endpoint = created["id"].as_str().ok_or("no endpoint")?.to_owned();
    {
        let (live, sandbox, stop) = (live.clone(), sandbox.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                for id in &tarpits {
                    let _ = sandbox
                        .post(&format!("/v1/webhook-endpoints/{id}/test"), json!({}))
                        .await;
                }
                let _ = live
                    .post(
                        &format!("/v1/webhook-endpoints/{nul_endpoint}/test"),
                        json!({}),
                    )
                    .await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            drop(nul);
        });
    }
    {
        let (live, stop) = (live.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let Ok(created) = live
                    .json(
                        "/v1/webhook-endpoints",
                        json!({ "url": "http://127.0.0.1:9/churn" }),
                    )
                    .await
                else {
                    continue;
                };
                if let Some(id) = created["id"].as_str() {
                    let _ = live.delete(&format!("/v1/webhook-endpoints/{id}")).await;
                }
            }
        });
    }
    for _ in 0..2 {
        let (sandbox, stop, path) = (
            sandbox.clone(),
            stop.clone(),
            format!("/v1/projects/{sandbox_project}/content"),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let _ = sandbox.post(&path, json!({ "format": "image" })).await;
            }
        });
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let database_url = std::env::var("DATABASE_URL")?;
    layers_db::migrate(&database_url).await?;
    let media = std::env::temp_dir().join(format!("layers-isolation-bench-{}", std::process::id()));
    let settings = Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(database_url.clone()),
        "LAYERS_BIND" => Some("127.0.0.1:0".into()),
        "LAYERS_ALLOW_PRIVATE_NETWORK" => Some("true".into()),
        "LAYERS_STORAGE_URL" => Some(format!("file://{}", media.display())),
        "LAYERS_MASTER_KEY" => Some("KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=".into()),
        _ => std::env::var(name).ok(),
    })?;
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let pool = layers_db::pool(&database_url, 2)?;
    let db = pool.get().await?;
    let http = reqwest::Client::new();
    let client = |key: String| Client {
        http: http.clone(),
        base: base.clone(),
        key,
    };
    let bad = layers_orgs::create(&db, "hostile", Plan::Partner, None)
        .await?
        .id;
    let good = layers_orgs::create(&db, "bystander", Plan::Partner, None)
        .await?
        .id;
    let (live, sandbox) = (
        client(key(&db, bad, EnvKind::Live).await?),
        client(key(&db, bad, EnvKind::Sandbox).await?),
    );
    let victim = client(key(&db, good, EnvKind::Sandbox).await?);

    let stop = Arc::new(AtomicBool::new(false));
    hostile(&live, &sandbox, stop.clone()).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (arrivals, mut arrived) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(move |_: &wiremock::Request| {
            let _ = arrivals.send(Instant::now());
            ResponseTemplate::new(200)
        })
        .mount(&receiver)
        .await;
    let endpoint = victim
        .json(
            "/v1/webhook-endpoints",
            json!({ "url": format!("{}/quick", receiver.uri()) }),
        )
        .await?;
    let endpoint = endpoint["id"].as_str().ok_or("no endpoint")?.to_owned();

    let until = Instant::now() + Duration::from_secs(SECONDS);
    let mut workers = Vec::new();
    for worker in 0..2 {
        let victim = victim.clone();
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            let mut i = 0u64;
            while Instant::now() < until {
                let started = Instant::now();
                let res = if i.is_multiple_of(2) {
                    victim.get("/v1/projects").await
                } else {
                    victim
                        .post("/v1/projects", json!({ "name": format!("v{worker}-{i}") }))
                        .await
                };
                match res {
                    Ok(r) if r.status().as_u16() < 500 => {}
                    _ => errors += 1,
                }
                latencies.push(started.elapsed().as_secs_f64() * 1e3);
                i += 1;
            }
            (latencies, errors)
        }));
    }
    let mut pings = Vec::new();
    while Instant::now() < until {
        let sent = Instant::now();
        victim
            .post(&format!("/v1/webhook-endpoints/{endpoint}/test"), json!({}))
            .await?;
        match tokio::time::timeout(Duration::from_secs(30), arrived.recv()).await {
            Ok(Some(at)) => pings.push((at - sent).as_secs_f64() * 1e3),
            _ => pings.push(30_000.0),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for worker in workers {
        let (l, e) = worker.await?;
        latencies.extend(l);
        errors += e;
    }
    stop.store(true, Ordering::SeqCst);
    let _ = std::fs::remove_dir_all(&media);
    println!(
        "{}",
        json!({
            "seconds": SECONDS,
            "requests": latencies.len(),
            "errors": errors,
            "p50_ms": quantile(&mut latencies, 0.5),
            "p99_ms": quantile(&mut latencies, 0.99),
            "max_ms": quantile(&mut latencies, 1.0),
            "pings": pings.len(),
            "ping_p50_ms": quantile(&mut pings, 0.5),
            "ping_max_ms": quantile(&mut pings, 1.0),
        })
    );
    std::process::exit(0);
}
