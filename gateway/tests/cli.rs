//! The operator CLI (CONTRACT §2), run as the real binary against a fresh database.

use std::process::{Command, Output};

use layers_db::testing::{fresh_database, TestDatabase};
use serde_json::Value;

fn cli(db: Option<&TestDatabase>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_layers-gateway"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn");
    if let Some(db) = db {
        cmd.env("DATABASE_URL", &db.url);
    }
    cmd.output().expect("run layers-gateway")
}

/// Runs a command that must succeed and print exactly one JSON object.
fn ok(db: &TestDatabase, args: &[&str]) -> Value {
    let out = cli(Some(db), args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one line of output: {stdout}");
    let value: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert!(value.is_object());
    value
}

/// Runs a command that must fail with a one-line reason; returns the reason.
fn fails(db: Option<&TestDatabase>, args: &[&str]) -> String {
    let out = cli(db, args);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    stderr
}

/// Creates an organization through the CLI and returns its id.
fn new_org(db: &TestDatabase) -> String {
    let created = ok(db, &["admin", "org", "create", "--name", "Acme"]);
    created["organizationId"].as_str().unwrap().to_owned()
}

/// Starts `layers-gateway serve` on a free port; returns the process and the port.
fn serve(db: &TestDatabase, env: &[(&str, &str)]) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_layers-gateway"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("LAYERS_BIND", format!("127.0.0.1:{port}"))
        .env("LAYERS_WORKERS", "1")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    (child, port)
}

/// Connects to a gateway that is starting, waiting for it to listen.
async fn connect(port: u16) -> tokio::net::TcpStream {
    let started = std::time::Instant::now();
    loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(stream) => return stream,
            Err(_) if started.elapsed() < std::time::Duration::from_secs(20) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            Err(e) => panic!("the gateway did not start listening: {e}"),
        }
    }
}

/// The status of `GET path` with `key`, over a connection of its own.
async fn status_of(port: u16, path: &str, key: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = connect(port).await;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
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

#[tokio::test]
async fn organizations_credits_and_plans() {
    let db = fresh_database().await;
    let created = ok(
        &db,
        &[
            "admin",
            "org",
            "create",
            "--name",
            "Acme",
            "--credits",
            "1000",
            "--monthly-quota",
            "50",
        ],
    );
    let org = created["organizationId"].as_str().unwrap().to_owned();
    assert!(org.starts_with("org_"));
    assert_eq!(created.as_object().unwrap().len(), 1);
    assert_eq!(
        count(&db, "SELECT balance FROM credit_balances").await,
        1000
    );

    assert_eq!(
        ok(&db, &["admin", "credits", "grant", &org, "25"])["balance"],
        1025
    );
    let moved = ok(&db, &["admin", "org", "set-plan", &org, "free"]);
    assert_eq!(moved["organizationId"], org.as_str());
    assert_eq!(moved["plan"], "free");
    assert_eq!(moved["monthlyQuota"], 50);

    let plain = ok(&db, &["admin", "org", "create", "--name", "Plain"]);
    let plain_id = plain["organizationId"].as_str().unwrap();
    let row = db
        .pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT plan, monthly_quota FROM organizations WHERE id = $1",
            &[&layers_orgs::OrgId::parse(plain_id).unwrap().as_uuid()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "partner");
    assert_eq!(row.get::<_, Option<i64>>(1), None);
}

#[tokio::test]
async fn keys_are_minted_once_and_never_printed_again() {
    let db = fresh_database().await;
    let org = new_org(&db);
    let minted = ok(
        &db,
        &[
            "admin",
            "key",
            "mint",
            "--org",
            &org,
            "--env",
            "test",
            "--scopes",
            "projects:read,content:write",
            "--tier",
            "pilot",
        ],
    );
    let key = minted["key"].as_str().unwrap();
    assert!(key.starts_with("lp_test_"));
    // a test key is limited as pilot whatever it was minted with, and the CLI says so
    let standard = ok(
        &db,
        &["admin", "key", "mint", "--org", &org, "--env", "test"],
    );
    let shown = ok(
        &db,
        &[
            "admin",
            "key",
            "kill",
            standard["apiKeyId"].as_str().unwrap(),
        ],
    );
    assert_eq!(shown["tier"], "pilot");
    layers_keys::ApiKey::parse(key).expect("a well-formed key");
    let id = minted["apiKeyId"].as_str().unwrap();
    uuid::Uuid::parse_str(id).expect("apiKeyId is a UUID");
    let secret = &key[key.len() - 40..];

    for (command, state) in [
        ("kill", "killed"),
        ("unkill", "active"),
        ("revoke", "revoked"),
    ] {
        let shown = ok(&db, &["admin", "key", command, id]);
        assert_eq!(shown["apiKeyId"], id);
        assert_eq!(shown["state"], state);
        assert_eq!(shown["environment"], "test");
        assert_eq!(
            shown["scopes"],
            serde_json::json!(["projects:read", "content:write"])
        );
        assert!(
            !shown.to_string().contains(secret),
            "the secret is never printed again"
        );
    }
    let live = ok(
        &db,
        &["admin", "key", "mint", "--org", &org, "--env", "live"],
    );
    assert!(live["key"].as_str().unwrap().starts_with("lp_live_"));
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM api_keys WHERE scopes = ARRAY['*'] AND tier = 'standard' \
             AND environment = 'live'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn bad_input_fails_with_one_line_and_writes_nothing() {
    let db = fresh_database().await;
    let org = new_org(&db);
    fails(
        Some(&db),
        &["admin", "org", "create", "--name", "X", "--plan", "gold"],
    );
    fails(
        Some(&db),
        &["admin", "org", "create", "--name", "X", "--credits", "-5"],
    );
    fails(
        Some(&db),
        &[
            "admin",
            "org",
            "create",
            "--name",
            "X",
            "--monthly-quota",
            "-1",
        ],
    );
    fails(Some(&db), &["admin", "org", "create", "--name", "   "]);
    fails(
        Some(&db),
        &["admin", "org", "set-plan", "not-an-id", "free"],
    );
    fails(
        Some(&db),
        &[
            "admin",
            "org",
            "set-plan",
            "org_00000000000000000000000000000000",
            "free",
        ],
    );
    fails(Some(&db), &["admin", "credits", "grant", &org, "0"]);
    fails(Some(&db), &["admin", "credits", "grant", &org, "-3"]);
    fails(
        Some(&db),
        &["admin", "key", "mint", "--org", &org, "--env", "prod"],
    );
    let reason = fails(
        Some(&db),
        &[
            "admin",
            "key",
            "mint",
            "--org",
            &org,
            "--env",
            "test",
            "--scopes",
            "billing:read",
        ],
    );
    assert!(reason.contains("billing:read"), "{reason}");
    fails(Some(&db), &["admin", "key", "revoke", "nope"]);
    fails(
        Some(&db),
        &[
            "admin",
            "key",
            "kill",
            "00000000-0000-0000-0000-000000000000",
        ],
    );
    fails(Some(&db), &["admin", "bogus"]);
    let reason = fails(None, &["admin", "org", "create", "--name", "X"]);
    assert!(reason.contains("DATABASE_URL"), "{reason}");
    // arguments are checked before any connection is made
    let reason = fails(None, &["admin", "org", "set-plan", "not-an-id", "free"]);
    assert!(reason.contains("ORG_ID"), "{reason}");

    assert_eq!(count(&db, "SELECT count(*) FROM organizations").await, 1);
    assert_eq!(count(&db, "SELECT count(*) FROM api_keys").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM credit_ledger").await, 0);
}

#[tokio::test]
async fn admin_on_a_database_that_was_never_migrated_says_how_to_fix_it() {
    let template = fresh_database().await;
    let name = format!("layers_empty_{}", uuid::Uuid::new_v4().simple());
    let (admin, conn) = tokio_postgres::connect(
        &layers_db::testing::server_url("postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let empty = TestDatabase {
        url: layers_db::testing::server_url(&name),
        name,
        pool: template.pool.clone(),
    };
    // an operator command never migrates (a newer CLI must not change the schema under an older
    // fleet); it names the cause and the command that fixes it, on one line
    let reason = fails(Some(&empty), &["admin", "org", "create", "--name", "Fresh"]);
    assert!(reason.contains("schema is behind"), "{reason}");
    assert!(reason.contains("V1__foundation"), "{reason}");
    assert!(reason.contains("layers-gateway migrate"), "{reason}");
    ok(&empty, &["migrate"]);
    let created = ok(&empty, &["admin", "org", "create", "--name", "Fresh"]);
    assert!(created["organizationId"]
        .as_str()
        .unwrap()
        .starts_with("org_"));
}

#[tokio::test]
async fn an_unreachable_database_is_named_with_its_cause_on_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // free a moment ago, so nothing listens there
    let out = Command::new(env!("CARGO_BIN_EXE_layers-gateway"))
        .args(["admin", "org", "create", "--name", "Nowhere"])
        .env(
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/layers"),
        )
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.contains("could not reach the database"), "{stderr}");
    assert!(
        stderr.to_lowercase().contains("connection refused"),
        "the cause is named: {stderr}"
    );
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let db = fresh_database().await;
    // the template is already migrated: nothing left to apply
    assert_eq!(ok(&db, &["migrate"])["applied"], serde_json::json!([]));
}

#[tokio::test]
async fn serve_refuses_bad_configuration_in_one_line() {
    let db = fresh_database().await;
    let out = Command::new(env!("CARGO_BIN_EXE_layers-gateway"))
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("LAYERS_BIND", "nowhere")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("LAYERS_BIND"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_drains_an_in_flight_request_on_sigterm() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = fresh_database().await;
    let org = new_org(&db);
    let key = ok(
        &db,
        &["admin", "key", "mint", "--org", &org, "--env", "live"],
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (mut child, port) = serve(&db, &[]);
    let mut stream = connect(port).await;
    // A request in flight: its headers are in, half of its body is not.
    let body = br#"{"name": "Drained"}"#;
    let head = format!(
        "POST /v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..8]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // new connections are refused while the in-flight request still completes
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err());
    stream.write_all(&body[8..]).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let output = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        (status, stderr)
    });
    let (status, stderr) = tokio::time::timeout(std::time::Duration::from_secs(15), output)
        .await
        .expect("stopped within 15 s")
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("draining in-flight requests"), "{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    assert_eq!(count(&db, "SELECT count(*) FROM projects").await, 1);
}

#[tokio::test]
async fn two_gateway_processes_share_rate_limits() {
    let db = fresh_database().await;
    let org = new_org(&db);
    let minted = ok(
        &db,
        &["admin", "key", "mint", "--org", &org, "--env", "live"],
    );
    let key = minted["key"].as_str().unwrap();
    // three a minute: no token comes back while the test runs
    let limit = [("LAYERS_RATE_LIMIT_STANDARD_PER_MIN", "3")];
    let (mut first, first_port) = serve(&db, &limit);
    let (mut second, second_port) = serve(&db, &limit);
    let mut statuses = Vec::new();
    for i in 0..6 {
        let port = if i % 2 == 0 { first_port } else { second_port };
        statuses.push(status_of(port, "/v1/whoami", key).await);
    }
    for child in [&mut first, &mut second] {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().unwrap();
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
}

#[tokio::test]
async fn a_worker_process_runs_queued_jobs_and_refuses_zero_concurrency() {
    let db = fresh_database().await;
    let org = new_org(&db);
    let org = layers_orgs::OrgId::parse(&org).unwrap();
    let id = layers_jobs::JobId::new();
    layers_jobs::enqueue(
        &db.pool.get().await.unwrap(),
        &layers_jobs::NewJob {
            id,
            organization_id: org,
            project_id: None,
            api_key_id: None,
            env: layers_core::EnvKind::Sandbox,
            kind: "ingest_appstore",
            payload: serde_json::json!({ "bundleId": "com.example.worker" }),
            credits_charged: 0,
            operation: None,
        },
    )
    .await
    .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_layers-gateway"))
        .arg("worker")
        .env("DATABASE_URL", &db.url)
        .env("LAYERS_JOB_CONCURRENCY", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("LAYERS_JOB_CONCURRENCY is 0"), "{stderr}");

    let mut worker = Command::new(env!("CARGO_BIN_EXE_layers-gateway"))
        .arg("worker")
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        let status: String = db
            .pool
            .get()
            .await
            .unwrap()
            .query_one("SELECT status FROM jobs WHERE id = $1", &[&id.as_uuid()])
            .await
            .unwrap()
            .get(0);
        if status == "succeeded" || started.elapsed() > std::time::Duration::from_secs(20) {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let exit = worker.wait().unwrap();
    assert_eq!(status, "succeeded");
    assert!(exit.success(), "SIGTERM stops the worker cleanly: {exit}");
}
