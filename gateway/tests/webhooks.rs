//! Webhook delivery is at least once (CONTRACT §10), proven with the real binary: 1,000 events to
//! one endpoint whose receiver is down at first, the gateway SIGKILLed in the middle of
//! delivering and started again; every event arrives with a signature that an off-the-shelf
//! Standard Webhooks verifier accepts, and the duplicates are counted.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use layers_db::testing::{fresh_database, TestDatabase};
use serde_json::{json, Value};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const EVENTS: usize = 1_000;
const MASTER_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn admin(db: &TestDatabase, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_layers-gateway"))
        .arg("admin")
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `layers-gateway serve` with short retries and leases, so that the test stays short.
fn serve(db: &TestDatabase, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_layers-gateway"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("LAYERS_BIND", format!("127.0.0.1:{port}"))
        .env("LAYERS_WORKERS", "1")
        .env("LAYERS_MASTER_KEY", MASTER_KEY)
        .env("LAYERS_ALLOW_PRIVATE_NETWORK", "true")
        .env(
            "LAYERS_WEBHOOK_RETRY_SCHEDULE",
            "0s,300ms,500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
        )
        .env("LAYERS_WEBHOOK_TIMEOUT", "1s")
        .env("LAYERS_JOB_CONCURRENCY", "8")
        .env("RUST_LOG", "error")
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_until_listening(http: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the gateway did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn count(db: &TestDatabase, sql: &str) -> i64 {
    db.pool
        .get()
        .await
        .unwrap()
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

/// POSTs `…/test` until it is accepted (waiting out a 429), returning the event id.
async fn ping(http: &reqwest::Client, url: &str, key: &str) -> String {
    loop {
        let res = http.post(url).bearer_auth(key).send().await.unwrap();
        match res.status().as_u16() {
            202 => {
                let body: Value = res.json().await.unwrap();
                return body["eventId"].as_str().unwrap().to_owned();
            }
            429 => tokio::time::sleep(Duration::from_millis(200)).await,
            other => panic!("{other}: {}", res.text().await.unwrap()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_arrive_signed_across_a_receiver_outage_and_a_sigkill() {
    let db = fresh_database().await;
    let org = admin(&db, &["org", "create", "--name", "Reliable"]);
    let minted = admin(
        &db,
        &[
            "key",
            "mint",
            "--org",
            org["organizationId"].as_str().unwrap(),
            "--env",
            "test",
            "--scopes",
            "*",
            "--tier",
            "pilot",
        ],
    );
    let key = minted["key"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = serve(&db, port);
    wait_until_listening(&http, &base).await;

    // the receiver's port is chosen now and nothing listens there yet
    let receiver_port = free_port();
    let created: Value = http
        .post(format!("{base}/v1/webhook-endpoints"))
        .bearer_auth(&key)
        .json(&json!({ "url": format!("http://127.0.0.1:{receiver_port}/hooks") }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let test_url = format!(
        "{base}/v1/webhook-endpoints/{}/test",
        created["id"].as_str().unwrap()
    );

    let started = Instant::now();
    let mut emitted = Vec::with_capacity(EVENTS);
    for batch in 0..EVENTS / 25 {
        let pings = (0..25).map(|_| ping(&http, &test_url, &key));
        emitted.extend(futures_util::future::join_all(pings).await);
        assert_eq!(emitted.len(), (batch + 1) * 25);
    }
    let emitting = started.elapsed();
    // the receiver is down: attempts fail and are scheduled again
    let refused = count(
        &db,
        "SELECT count(*) FROM webhook_attempts WHERE status_code IS NULL",
    )
    .await;
    assert!(
        refused > 0,
        "attempts were made while the receiver was down"
    );

    // the receiver comes up, answering a little slowly so that deliveries are in flight
    let listener = std::net::TcpListener::bind(("127.0.0.1", receiver_port)).unwrap();
    let receiver = MockServer::builder().listener(listener).start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(20)))
        .mount(&receiver)
        .await;

    // SIGKILL in the middle of delivering
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.received_requests().await.unwrap().len() < EVENTS / 3 {
        assert!(Instant::now() < deadline, "deliveries did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let at_kill = receiver.received_requests().await.unwrap().len();
    assert!(at_kill < EVENTS, "the kill came after every delivery");

    let mut second = serve(&db, port);
    wait_until_listening(&http, &base).await;

    // every event arrives at least once with a valid signature
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let seen = loop {
        let requests = receiver.received_requests().await.unwrap();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for request in &requests {
            let id = request.headers["webhook-id"].to_str().unwrap().to_owned();
            *seen.entry(id).or_default() += 1;
        }
        if seen.len() >= EVENTS {
            for request in &requests {
                verifier
                    .verify(&request.body, &request.headers)
                    .expect("every delivery verifies");
                let envelope: Value = serde_json::from_slice(&request.body).unwrap();
                assert_eq!(
                    envelope["id"].as_str().unwrap(),
                    request.headers["webhook-id"].to_str().unwrap()
                );
                assert_eq!(envelope["meta"], json!({ "sandbox": true }));
            }
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {EVENTS} events arrived",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for id in &emitted {
        assert!(seen.contains_key(id), "event {id} never arrived");
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let total = started.elapsed();
    // and the deliveries log agrees: every delivery ends succeeded
    let deadline = Instant::now() + Duration::from_secs(20);
    let succeeded = loop {
        let succeeded = count(
            &db,
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'",
        )
        .await;
        if succeeded == EVENTS as i64 || Instant::now() > deadline {
            break succeeded;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    second.kill().unwrap();
    second.wait().unwrap();
    println!(
        "webhooks reliability: {EVENTS} events emitted in {:.1} s, {refused} attempts refused \
         while the receiver was down, SIGKILL after {at_kill} deliveries, all {} event ids \
         arrived in {:.1} s with {duplicates} duplicates; {succeeded} deliveries succeeded",
        emitting.as_secs_f64(),
        seen.len(),
        total.as_secs_f64(),
    );
    assert_eq!(succeeded, EVENTS as i64);
}
