//! `cargo xtask bench`: its own PostgreSQL and gateway, then one load generator (wrk) with the
//! same connections and duration against
//!   (a) a ceiling: a minimal actix-web endpoint doing one prepared SELECT through the same pool,
//!   (b) `GET /v1/whoami` with a test key (rate limiting on, never tripping),
//!   (c) `POST /v1/projects` with a fresh `Idempotency-Key` per request,
//!   (b') (b) with one rate-limit call per request,
//!   (d) `POST /v1/projects/:id/ingest/appstore` with a test key,
//!   (e) `POST /v1/projects/:id/content` with a test key (a slideshow, three variants),
//!   (f) `POST /v1/content/:id/publish` with a test key to three sandbox accounts, a fresh
//!       container (made beforehand) and `Idempotency-Key` per request,
//!   (g) `GET /v1/whoami` with a made-up (well-formed, unknown) key per request, from one address,
//! printing requests/s, p50 and p99, the ratios to (a), and how many key lookups reached the
//! database during (g); then sandbox job latency, a live direct upload of 50 MiB (session, `PUT`
//! with curl, finalize) against a plain copy of the same file, with the gateway's RSS sampled
//! during the `PUT`, and the webhook figures; and writing them all to `docs/BENCHMARKS.md`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

use crate::pg::Cluster;
use crate::util::{
    capture, free_port, gateway_json, interrupted, root, run_inherited, target_dir, Result,
};

const CONNECTIONS: u32 = 64;
const THREADS: u32 = 2;
const DURATION_SECS: u32 = 15;
const WARMUP_SECS: u32 = 3;
/// The size of the live upload's file: exactly 50 MiB.
const UPLOAD_BYTES: usize = 50 * 1024 * 1024;
/// How many times the live upload (and the plain copy) is measured; the median is reported.
const UPLOAD_ROUNDS: usize = 3;
/// How often the gateway's RSS is read during an upload's `PUT`.
const RSS_EVERY: Duration = Duration::from_millis(50);

/// One measured run.
#[derive(Debug, Clone)]
struct Run {
    name: &'static str,
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    requests: u64,
    /// Requests decided per `layers_admit` call (the limiter's batching), when measured.
    per_admit_call: Option<f64>,
    /// Key lookups that reached the database, per request (the flood run).
    lookups_per_request: Option<f64>,
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn ensure_wrk() -> Result<()> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("xtask: installing wrk (Debian package)");
    let _ = run_inherited(Command::new("apt-get").arg("update").arg("-qq"));
    run_inherited(Command::new("apt-get").args(["install", "-y", "-qq", "wrk"]))
        .map_err(|e| format!("wrk is needed for the benchmark and could not be installed: {e}"))
}

pub(crate) fn wait_ready(url: &str) -> Result<()> {
    for _ in 0..200 {
        if Command::new("curl")
            .args(["-sf", "-o", "/dev/null", url])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{url} did not become ready"))
}

fn wrk(
    url: &str,
    script: Option<&std::path::Path>,
    headers: &[String],
    secs: u32,
) -> Result<String> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t",
        &THREADS.to_string(),
        "-c",
        &CONNECTIONS.to_string(),
        "-d",
        &format!("{secs}s"),
        "--latency",
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    cmd.arg(url);
    capture(&mut cmd)
}

/// Parses wrk's report: Requests/sec and the 50% / 99% latency lines.
fn parse(name: &'static str, report: &str) -> Result<Run> {
    let ms = |s: &str| -> Option<f64> {
        let s = s.trim();
        if let Some(v) = s.strip_suffix("us") {
            v.parse::<f64>().ok().map(|v| v / 1000.0)
        } else if let Some(v) = s.strip_suffix("ms") {
            v.parse().ok()
        } else if let Some(v) = s.strip_suffix('s') {
            v.parse::<f64>().ok().map(|v| v * 1000.0)
        } else {
            None
        }
    };
    let mut run = Run {
        name,
        requests_per_sec: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        non_2xx: 0,
        requests: 0,
        per_admit_call: None,
        lookups_per_request: None,
    };
    for line in report.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Requests/sec:", v] => run.requests_per_sec = v.parse().unwrap_or(0.0),
            ["50%", v] => run.p50_ms = ms(v).unwrap_or(0.0),
            ["99%", v] => run.p99_ms = ms(v).unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => run.non_2xx = n.parse().unwrap_or(0),
            [n, "requests", "in", ..] => run.requests = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    if run.requests_per_sec == 0.0 {
        return Err(format!("could not read wrk's report for {name}:\n{report}"));
    }
    Ok(run)
}

/// How many times `layers_admit` has run (statistics reach the view within a second).
fn admit_calls(cluster: &Cluster) -> Result<u64> {
    std::thread::sleep(Duration::from_millis(1500));
    let out = cluster.psql(
        "layers_bench",
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = 'layers_admit'",
    )?;
    out.trim()
        .parse()
        .map_err(|e| format!("admit calls: {e}: {out}"))
}

/// How many times the key lookup has read `api_keys` by its key id (statistics reach the view
/// within a second).
fn key_lookups(cluster: &Cluster) -> Result<u64> {
    std::thread::sleep(Duration::from_millis(1500));
    let out = cluster.psql(
        "layers_bench",
        "SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_stat_user_tables WHERE relname = 'api_keys'",
    )?;
    out.trim()
        .parse()
        .map_err(|e| format!("key lookups: {e}: {out}"))
}

fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU")
        .to_owned();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cores} cores ({model}), {mem_gib:.0} GiB")
}

pub fn run() -> Result<()> {
    let _interrupted = interrupted();
    ensure_wrk()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_inherited(Command::new(&cargo).current_dir(root()).args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "layers-gateway",
        "--bin",
        "layers-gateway",
        "--example",
        "ceiling",
        "--example",
        "webhooks_bench",
        "--example",
        "metrics_bench",
    ]))?;
    run_inherited(Command::new(&cargo).current_dir(root()).args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "layers-tests",
        "--example",
        "isolation_bench",
        "--example",
        "clock_bench",
    ]))?;
    let release = target_dir().join("release");
    let gateway = release.join("layers-gateway");
    let ceiling = release.join("examples").join("ceiling");
    let webhooks = release.join("examples").join("webhooks_bench");
    let metrics = release.join("examples").join("metrics_bench");
    let isolation = release.join("examples").join("isolation_bench");
    let clock = release.join("examples").join("clock_bench");

    let cluster = Cluster::new(target_dir().join("xtask").join("bench-pg"), free_port()?)?;
    cluster.stop()?;
    cluster.wipe()?;
    cluster.start(&[
        ("max_connections", "200"),
        ("shared_buffers", "256MB"),
        ("track_functions", "pl"),
    ])?;
    // live media of the upload runs, and the file they upload (and copy)
    let scratch = target_dir().join("xtask");
    let media = scratch.join("bench-media");
    let clean = || {
        let _ = std::fs::remove_dir_all(&media);
        for name in [UPLOAD_FILE, COPY_FILE] {
            let _ = std::fs::remove_file(scratch.join(name));
        }
    };
    clean();
    std::fs::create_dir_all(&media)
        .map_err(|e| format!("could not create {}: {e}", media.display()))?;
    let examples = Examples {
        webhooks: &webhooks,
        metrics: &metrics,
        isolation: &isolation,
        clock: &clock,
    };
    let result = measure(&cluster, &gateway, &ceiling, &examples, &media);
    clean();
    cluster.stop()?;
    cluster.wipe()?;
    result
}

/// The upload runs' file and its plain copy, in `target/xtask/`.
const UPLOAD_FILE: &str = "bench-upload.jpg";
const COPY_FILE: &str = "bench-upload-copy.jpg";

/// 32 random bytes, base64: a master key for this run only (signed upload URLs need one).
pub(crate) fn random_master_key() -> Result<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system CSPRNG failed".to_string())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The benches that run apart from wrk, each an example printing one JSON object.
struct Examples<'a> {
    webhooks: &'a Path,
    metrics: &'a Path,
    isolation: &'a Path,
    clock: &'a Path,
}

/// Runs `example` against a fresh database `database` of `cluster` and parses what it prints.
fn run_example(cluster: &Cluster, example: &Path, database: &str) -> Result<serde_json::Value> {
    cluster.ensure_database(database)?;
    let figures = capture(
        Command::new(example)
            .env("DATABASE_URL", cluster.url(database))
            .env("RUST_LOG", "warn"),
    )?;
    serde_json::from_str(figures.trim()).map_err(|e| format!("{database}: {e}: {figures}"))
}

/// The keys a bench run uses, minted in its own organization.
struct BenchKeys {
    org: String,
    /// A test key, and its key id (the ceiling looks it up).
    key: String,
    key_id: String,
    /// A live key, for the direct upload.
    live_key: String,
}

/// Migrates the bench database, creates the organization and mints a test and a live key.
fn bench_keys(gateway: &Path, url: &str) -> Result<BenchKeys> {
    let cli = |args: &[&str]| gateway_json(gateway, url, args);
    cli(&["migrate"])?;
    let org = cli(&["admin", "org", "create", "--name", "Bench"])?;
    let org = org["organizationId"]
        .as_str()
        .ok_or("no organizationId")?
        .to_owned();
    let minted = cli(&["admin", "key", "mint", "--org", &org, "--env", "test"])?;
    let key = minted["key"].as_str().ok_or("no key")?.to_owned();
    let key_id = key.split('_').nth(2).ok_or("bad key")?.to_owned();
    let live = cli(&["admin", "key", "mint", "--org", &org, "--env", "live"])?;
    let live_key = live["key"].as_str().ok_or("no live key")?.to_owned();
    Ok(BenchKeys {
        org,
        key,
        key_id,
        live_key,
    })
}

/// The servers under load and their ports. The fields drop (and so stop) in the reverse of
/// their start order.
struct Servers {
    /// The gateway with one rate-limit call per request, to show what batching buys.
    unbatched: Server,
    gateway: Server,
    ceiling: Server,
    ceiling_port: u16,
    gateway_port: u16,
    unbatched_port: u16,
}

/// Starts the ceiling, the gateway (live uploads stored under `media`) and the unbatched
/// gateway against the database at `url`, and waits until each is ready.
fn start_servers(
    url: &str,
    gateway: &Path,
    ceiling: &Path,
    media: &Path,
    key_id: &str,
) -> Result<Servers> {
    let (ceiling_port, gateway_port) = (free_port()?, free_port()?);
    let common = |cmd: &mut Command, port: u16| {
        cmd.env("DATABASE_URL", url)
            .env("LAYERS_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
    };
    let mut c = Command::new(ceiling);
    common(&mut c, ceiling_port);
    let ceiling_server = Server(c.spawn().map_err(|e| format!("start the ceiling: {e}"))?);
    let mut g = Command::new(gateway);
    g.arg("serve")
        .env("LAYERS_RATE_LIMIT_STANDARD_PER_MIN", "100000000")
        // live uploads: signed URLs that point back at this gateway, stored on the local disk
        .env("LAYERS_MASTER_KEY", random_master_key()?)
        .env("LAYERS_STORAGE_URL", format!("file://{}", media.display()))
        .env(
            "LAYERS_PUBLIC_BASE_URL",
            format!("http://127.0.0.1:{gateway_port}"),
        );
    common(&mut g, gateway_port);
    let gateway_server = Server(g.spawn().map_err(|e| format!("start the gateway: {e}"))?);
    // the same gateway with one rate-limit call per request, to show what batching buys
    let unbatched_port = free_port()?;
    let mut u = Command::new(gateway);
    u.arg("serve")
        .env("LAYERS_RATE_LIMIT_STANDARD_PER_MIN", "100000000")
        .env("LAYERS_RATE_LIMIT_MAX_BATCH", "1");
    common(&mut u, unbatched_port);
    let unbatched = Server(
        u.spawn()
            .map_err(|e| format!("start the unbatched gateway: {e}"))?,
    );
    wait_ready(&format!("http://127.0.0.1:{ceiling_port}/ceiling/{key_id}"))?;
    wait_ready(&format!("http://127.0.0.1:{gateway_port}/readyz"))?;
    wait_ready(&format!("http://127.0.0.1:{unbatched_port}/readyz"))?;
    Ok(Servers {
        unbatched,
        gateway: gateway_server,
        ceiling: ceiling_server,
        ceiling_port,
        gateway_port,
        unbatched_port,
    })
}

/// What the wrk runs aim at: their URLs, the test key's header and their scripts.
struct Targets {
    ceiling_url: String,
    whoami_url: String,
    auth: String,
    projects_url: String,
    unbatched_url: String,
    ingest_url: String,
    content_url: String,
    publish_base: String,
    script: PathBuf,
    ingest_script: PathBuf,
    content_script: PathBuf,
    publish_script: PathBuf,
    flood: PathBuf,
    ads_url: String,
    ads_script: PathBuf,
}

/// Writes the wrk scripts and makes what they need: a sandbox project, its sandbox accounts
/// and the publishable containers.
fn prepare_targets(cluster: &Cluster, servers: &Servers, keys: &BenchKeys) -> Result<Targets> {
    let (key, gateway_port) = (&keys.key, servers.gateway_port);
    let auth = format!("Authorization: Bearer {key}");
    let projects_url = format!("http://127.0.0.1:{gateway_port}/v1/projects");
    std::fs::create_dir_all(target_dir().join("xtask")).map_err(|e| e.to_string())?;
    let script = target_dir().join("xtask").join("bench-post.lua");
    write_post_script(&script, key, r#"{"name":"bench"}"#)?;
    let project = bench_project(&projects_url, &auth)?;
    let ingest_script = target_dir().join("xtask").join("bench-ingest.lua");
    write_post_script(
        &ingest_script,
        key,
        r#"{"iosBundleId":"com.example.bench"}"#,
    )?;
    let content_script = target_dir().join("xtask").join("bench-content.lua");
    write_post_script(
        &content_script,
        key,
        r#"{"format":"slideshow","variantCount":3}"#,
    )?;
    let publish_script = target_dir().join("xtask").join("bench-publish.lua");
    let accounts = sandbox_accounts(gateway_port, &auth, &project)?;
    publishable_containers(cluster, &keys.org, &project)?;
    let offsets = target_dir().join("xtask").join("bench-publish-offset");
    let _ = std::fs::remove_file(&offsets);
    std::fs::write(
        &publish_script,
        publish_script_text(key, &accounts, &offsets),
    )
    .map_err(|e| format!("write the wrk script: {e}"))?;
    let flood = target_dir().join("xtask").join("bench-flood.lua");
    std::fs::write(&flood, flood_script()).map_err(|e| format!("write the wrk script: {e}"))?;
    let ads_script = target_dir().join("xtask").join("bench-ads.lua");
    let campaign = crate::bench_ads::campaign_body(gateway_port, &auth, &project)?;
    write_post_script(&ads_script, key, &campaign)?;
    Ok(Targets {
        ceiling_url: format!(
            "http://127.0.0.1:{}/ceiling/{}",
            servers.ceiling_port, keys.key_id
        ),
        whoami_url: format!("http://127.0.0.1:{gateway_port}/v1/whoami"),
        auth,
        projects_url,
        unbatched_url: format!("http://127.0.0.1:{}/v1/whoami", servers.unbatched_port),
        ingest_url: format!(
            "http://127.0.0.1:{gateway_port}/v1/projects/{project}/ingest/appstore"
        ),
        content_url: format!("http://127.0.0.1:{gateway_port}/v1/projects/{project}/content"),
        publish_base: format!("http://127.0.0.1:{gateway_port}"),
        script,
        ingest_script,
        content_script,
        publish_script,
        flood,
        ads_url: format!("http://127.0.0.1:{gateway_port}/v1/projects/{project}/ads/campaigns"),
        ads_script,
    })
}

/// A sandbox project for the ingest, content and publish runs; its id.
fn bench_project(projects_url: &str, auth: &str) -> Result<String> {
    let project = capture(Command::new("curl").args([
        "-sf",
        "-X",
        "POST",
        projects_url,
        "-H",
        auth,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"name":"bench-ingest"}"#,
    ]))?;
    let project: serde_json::Value =
        serde_json::from_str(&project).map_err(|e| format!("project: {e}: {project}"))?;
    Ok(project["id"].as_str().ok_or("no project id")?.to_owned())
}

/// The wrk runs (a) to (h), in order.
fn wrk_runs(cluster: &Cluster, t: &Targets) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    for (name, url, headers, script) in [
        (
            "(a) ceiling: one prepared SELECT",
            &t.ceiling_url,
            vec![],
            None,
        ),
        (
            "(b) GET /v1/whoami, test key",
            &t.whoami_url,
            vec![t.auth.clone()],
            None,
        ),
        (
            "(c) POST /v1/projects, fresh Idempotency-Key",
            &t.projects_url,
            vec![],
            Some(t.script.as_path()),
        ),
        (
            "(b') as (b), one rate-limit call per request",
            &t.unbatched_url,
            vec![t.auth.clone()],
            None,
        ),
        (
            "(d) POST /v1/projects/:id/ingest/appstore, test key, fresh Idempotency-Key",
            &t.ingest_url,
            vec![],
            Some(t.ingest_script.as_path()),
        ),
        (
            "(e) POST /v1/projects/:id/content, test key, variantCount 3, fresh Idempotency-Key",
            &t.content_url,
            vec![],
            Some(t.content_script.as_path()),
        ),
        (
            "(f) POST /v1/content/:id/publish, test key, 3 targets, fresh Idempotency-Key",
            &t.publish_base,
            vec![],
            Some(t.publish_script.as_path()),
        ),
        (
            "(g) GET /v1/whoami, a made-up key per request",
            &t.whoami_url,
            vec![],
            Some(t.flood.as_path()),
        ),
        (
            "(h) POST /v1/projects/:id/ads/campaigns, test key, fresh Idempotency-Key",
            &t.ads_url,
            vec![],
            Some(t.ads_script.as_path()),
        ),
    ] {
        runs.push(wrk_run(cluster, name, url, script, &headers)?);
    }
    Ok(runs)
}

/// One wrk run: a warm-up, then the measured run with the limiter's calls and (for the flood)
/// the key lookups counted; an error if a response is not as expected.
fn wrk_run(
    cluster: &Cluster,
    name: &'static str,
    url: &str,
    script: Option<&Path>,
    headers: &[String],
) -> Result<Run> {
    let refused = name.starts_with("(g)");
    eprintln!("xtask: {name}: warming up {WARMUP_SECS}s, measuring {DURATION_SECS}s");
    wrk(url, script, headers, WARMUP_SECS)?;
    let calls_before = admit_calls(cluster)?;
    let lookups_before = key_lookups(cluster)?;
    let mut run = parse(name, &wrk(url, script, headers, DURATION_SECS)?)?;
    let calls = admit_calls(cluster)? - calls_before;
    if calls > 0 && !refused {
        run.per_admit_call = Some(run.requests as f64 / calls as f64);
    }
    if refused {
        let lookups = key_lookups(cluster)? - lookups_before;
        run.lookups_per_request = Some(lookups as f64 / run.requests.max(1) as f64);
        if run.non_2xx < run.requests {
            return Err(format!("{name}: a made-up key was accepted"));
        }
    } else if run.non_2xx > 0 {
        return Err(format!("{name}: {} responses were not 2xx", run.non_2xx));
    }
    Ok(run)
}

/// Runs the webhooks, metrics and isolation examples; their report lines.
fn example_lines(cluster: &Cluster, examples: &Examples<'_>, url: &str) -> Result<String> {
    eprintln!(
        "xtask: webhooks: a plain POST loop, then 10,000 deliveries, then 1,000 one at a time"
    );
    let figures = capture(
        Command::new(examples.webhooks)
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn"),
    )?;
    let figures: serde_json::Value = serde_json::from_str(figures.trim())
        .map_err(|e| format!("webhooks bench: {e}: {figures}"))?;
    eprintln!("xtask: metrics: 1,000 sandbox posts × 90 days, route against serialization");
    let metrics_figures = run_example(cluster, examples.metrics, "layers_metrics_bench")?;
    eprintln!("xtask: isolation: another tenant beside every hostile pattern at once");
    let isolation_figures = run_example(cluster, examples.isolation, "layers_isolation_bench")?;
    eprintln!("xtask: test clock: an advance over 1,000 due scheduled posts");
    let clock_figures = capture(
        Command::new(examples.clock)
            .env("LAYERS_TEST_DATABASE_URL", cluster.url("postgres"))
            .env("RUST_LOG", "warn"),
    )?;
    let clock_figures: serde_json::Value = serde_json::from_str(clock_figures.trim())
        .map_err(|e| format!("clock bench: {e}: {clock_figures}"))?;
    Ok(webhook_lines(&figures)?
        + &metrics_lines(&metrics_figures)?
        + &isolation_lines(&isolation_figures)?
        + &clock_lines(&clock_figures)?)
}

/// Every measurement in turn, against a fresh bench database of `cluster`, then the report.
fn measure(
    cluster: &Cluster,
    gateway: &std::path::Path,
    ceiling: &std::path::Path,
    examples: &Examples<'_>,
    media: &Path,
) -> Result<()> {
    cluster.ensure_database("layers_bench")?;
    let url = cluster.url("layers_bench");
    let keys = bench_keys(gateway, &url)?;
    let servers = start_servers(&url, gateway, ceiling, media, &keys.key_id)?;
    let gateway_pid = servers.gateway.0.id();
    let targets = prepare_targets(cluster, &servers, &keys)?;
    let runs = wrk_runs(cluster, &targets)?;
    let latency = job_latency(cluster, &targets.ingest_url, &targets.ingest_script)?;
    let rss = peak_rss_mb(gateway_pid);
    let upload = upload_throughput(
        &format!("http://127.0.0.1:{}", servers.gateway_port),
        &keys.live_key,
        gateway_pid,
        media,
    )?;
    let Servers {
        unbatched,
        gateway: gateway_server,
        ceiling: ceiling_server,
        ..
    } = servers;
    drop(gateway_server);
    drop(unbatched);
    drop(ceiling_server);
    let extra = example_lines(cluster, examples, &url)?;
    report(&runs, rss, latency, &upload, &extra)
}

/// The live upload figures: medians over [`UPLOAD_ROUNDS`], in MB/s (MB = 2^20 bytes, as for
/// RSS), and the gateway's RSS.
#[derive(Debug, Clone)]
struct Upload {
    /// Median MB/s of the `PUT` alone (curl's own transfer time).
    put_mb_s: f64,
    /// Each round's `PUT` MB/s, in order.
    put_rounds: Vec<f64>,
    /// Median MB/s of `std::fs::copy` of the same file on the same disk.
    copy_mb_s: f64,
    copy_rounds: Vec<f64>,
    /// The highest VmRSS read during any `PUT`, and the VmRSS just before the first.
    peak_rss_mb: f64,
    rss_before_mb: f64,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// VmRSS of `pid` in MB (2^20 bytes).
fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// A thread reading the VmRSS of `pid` every [`RSS_EVERY`] until `stop`; it answers the highest.
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        let mut peak: f64 = 0.0;
        loop {
            let last = stop.load(Ordering::SeqCst);
            if let Some(mb) = rss_mb(pid) {
                peak = peak.max(mb);
            }
            if last {
                return peak;
            }
            std::thread::sleep(RSS_EVERY);
        }
    })
}

/// curl with an optional key and JSON body; answers the status and the parsed body.
fn curl_json(
    method: &str,
    url: &str,
    key: &str,
    body: Option<&str>,
) -> Result<(u16, serde_json::Value)> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-X", method, url, "-w", "\n%{http_code}"])
        .args(["-H", &format!("Authorization: Bearer {key}")]);
    if let Some(body) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", body]);
    }
    let out = capture(&mut cmd)?;
    let (body, code) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
    let code: u16 = code
        .trim()
        .parse()
        .map_err(|e| format!("{method} {url}: no status ({e}): {out}"))?;
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    Ok((code, json))
}

/// The upload's file: a real JPEG (the first fixture image, whose SOF the probe reads in the
/// first 64 KiB) followed by random bytes up to exactly [`UPLOAD_BYTES`].
fn write_upload_file(path: &Path) -> Result<()> {
    let jpeg_path = root().join("crates/content/fixtures/image/sample-1.jpg");
    let mut bytes =
        std::fs::read(&jpeg_path).map_err(|e| format!("{}: {e}", jpeg_path.display()))?;
    let start = bytes.len();
    bytes.resize(UPLOAD_BYTES, 0);
    for chunk in bytes[start..].chunks_mut(1 << 20) {
        SystemRandom::new()
            .fill(chunk)
            .map_err(|_| "the system CSPRNG failed".to_string())?;
    }
    std::fs::write(path, &bytes).map_err(|e| format!("could not write {}: {e}", path.display()))
}

/// A live direct upload of a 50 MiB JPEG, [`UPLOAD_ROUNDS`] times: session, `PUT` (timed, with
/// the gateway's RSS sampled), finalize (must answer 201); and a timed plain copy of the same
/// file beside it each round.
fn upload_throughput(base: &str, live_key: &str, gateway_pid: u32, media: &Path) -> Result<Upload> {
    let scratch: PathBuf = target_dir().join("xtask");
    let file = scratch.join(UPLOAD_FILE);
    let copy = scratch.join(COPY_FILE);
    write_upload_file(&file)?;
    let project = live_project(base, live_key)?;
    let megabytes = UPLOAD_BYTES as f64 / (1024.0 * 1024.0);
    let rss_before_mb = rss_mb(gateway_pid).unwrap_or(0.0);
    let (mut put_rounds, mut copy_rounds, mut peak_rss_mb) = (Vec::new(), Vec::new(), 0.0_f64);
    for round in 1..=UPLOAD_ROUNDS {
        eprintln!("xtask: live upload of 50 MiB, round {round} of {UPLOAD_ROUNDS}");
        let sent = upload_once(base, &project, live_key, &file, gateway_pid, media)?;
        put_rounds.push(megabytes / sent.secs);
        peak_rss_mb = peak_rss_mb.max(sent.peak_rss_mb);
        // the same bytes, copied on the same disk (the source is in the page cache: it was just
        // written, and just read by curl; neither side syncs)
        let _ = std::fs::remove_file(&copy);
        let started = Instant::now();
        std::fs::copy(&file, &copy).map_err(|e| format!("copy {}: {e}", file.display()))?;
        copy_rounds.push(megabytes / started.elapsed().as_secs_f64());
        let _ = std::fs::remove_file(&copy);
    }
    Ok(Upload {
        put_mb_s: median(&put_rounds),
        put_rounds,
        copy_mb_s: median(&copy_rounds),
        copy_rounds,
        peak_rss_mb,
        rss_before_mb,
    })
}

/// A live project for the upload runs (must answer 201); its id.
fn live_project(base: &str, live_key: &str) -> Result<String> {
    let (code, project) = curl_json(
        "POST",
        &format!("{base}/v1/projects"),
        live_key,
        Some(r#"{"name":"bench-upload"}"#),
    )?;
    Ok(project["id"]
        .as_str()
        .filter(|_| code == 201)
        .ok_or_else(|| format!("live project: {code} {project}"))?
        .to_owned())
}

/// One live direct upload of `file` to `project`: session, `PUT`, finalize (must answer 201),
/// and a check that all of it was stored under `media`; the `PUT`'s figures.
fn upload_once(
    base: &str,
    project: &str,
    live_key: &str,
    file: &Path,
    gateway_pid: u32,
    media: &Path,
) -> Result<Put> {
    let declared = format!(
        r#"{{"files":[{{"filename":"bench.jpg","contentType":"image/jpeg","sizeBytes":{UPLOAD_BYTES}}}]}}"#
    );
    let (code, session) = curl_json(
        "POST",
        &format!("{base}/v1/projects/{project}/content/uploads"),
        live_key,
        Some(&declared),
    )?;
    let (Some(upload_id), Some(put_url)) = (
        session["id"].as_str().filter(|_| code == 201),
        session["files"][0]["uploadUrl"].as_str(),
    ) else {
        return Err(format!("upload session: {code} {session}"));
    };
    let sent = put(file, put_url, gateway_pid)?;
    if sent.status != 200 || sent.body_json["sizeBytes"].as_u64() != Some(UPLOAD_BYTES as u64) {
        return Err(format!(
            "upload PUT answered {} after {} s: {}",
            sent.status, sent.secs, sent.body
        ));
    }
    let (code, container) = curl_json(
        "POST",
        &format!("{base}/v1/projects/{project}/content/finalize-upload"),
        live_key,
        Some(&format!(r#"{{"uploadId":"{upload_id}"}}"#)),
    )?;
    if code != 201 {
        return Err(format!("finalize-upload answered {code}: {container}"));
    }
    let stored = media
        .join("uploads")
        .join(upload_id)
        .join("0.jpg")
        .metadata()
        .map(|m| m.len())
        .map_err(|e| format!("the stored upload under {}: {e}", media.display()))?;
    if stored as usize != UPLOAD_BYTES {
        return Err(format!("{stored} bytes were stored, {UPLOAD_BYTES} sent"));
    }
    Ok(sent)
}

/// One `PUT` of an upload's file, timed by curl, with the gateway's RSS sampled meanwhile.
struct Put {
    status: u16,
    /// curl's `time_total`: connect, send, answer.
    secs: f64,
    body: String,
    body_json: serde_json::Value,
    peak_rss_mb: f64,
}

fn put(file: &Path, url: &str, gateway_pid: u32) -> Result<Put> {
    let mut cmd = Command::new("curl");
    // -T streams the file (no copy in curl's memory); `Expect:` off, so that nothing waits on a
    // 100 Continue
    cmd.arg("-sS").arg("-T").arg(file).args([
        "-X",
        "PUT",
        "-H",
        "Content-Type: image/jpeg",
        "-H",
        "Expect:",
    ]);
    cmd.args(["-w", "\n%{http_code} %{time_total}", url]);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(gateway_pid, stop.clone());
    let out = capture(&mut cmd);
    stop.store(true, Ordering::SeqCst);
    let peak_rss_mb = sampler.join().map_err(|_| "the RSS sampler panicked")?;
    let out = out?;
    let (body, last) = out.rsplit_once('\n').unwrap_or(("", out.as_str()));
    let mut fields = last.split_whitespace();
    let (Some(status), Some(secs)) = (
        fields.next().and_then(|f| f.parse::<u16>().ok()),
        fields.next().and_then(|f| f.parse::<f64>().ok()),
    ) else {
        return Err(format!("upload PUT: unexpected curl output {out:?}"));
    };
    Ok(Put {
        status,
        secs: secs.max(1e-6),
        body: body.to_owned(),
        body_json: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        peak_rss_mb,
    })
}

/// The start of every wrk script: each wrk thread has its own Lua state, so `setup()` numbers
/// them (`tid`) and each counts its own requests (`counter`): ids built from both never repeat.
const WRK_THREADS: &str = "local threads = 0\n\
    function setup(thread)\n\
    \x20 thread:set(\"tid\", threads)\n\
    \x20 threads = threads + 1\n\
    end\n\
    local counter = 0\n";

/// How many publishable containers the (f) runs may use (warm-up and measure together).
const PUBLISHABLE: u64 = 200_000;

/// Connects three sandbox accounts (Instagram, TikTok, YouTube) to the project; their ids.
fn sandbox_accounts(port: u16, auth: &str, project: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for platform in ["instagram", "tiktok", "youtube"] {
        let minted = capture(Command::new("curl").args([
            "-sf",
            "-X",
            "POST",
            &format!("http://127.0.0.1:{port}/v1/projects/{project}/social/oauth-url"),
            "-H",
            auth,
            "-H",
            "Content-Type: application/json",
            "-d",
            &format!(r#"{{"platform":"{platform}"}}"#),
        ]))?;
        let minted: serde_json::Value =
            serde_json::from_str(&minted).map_err(|e| format!("oauth-url: {e}: {minted}"))?;
        let state = minted["state"].as_str().ok_or("no state")?;
        let done = capture(Command::new("curl").args([
            "-sf",
            &format!(
                "http://127.0.0.1:{port}/v1/social/sandbox-complete?state={state}&platform={platform}"
            ),
        ]))?;
        let done: serde_json::Value =
            serde_json::from_str(&done).map_err(|e| format!("sandbox-complete: {e}: {done}"))?;
        ids.push(
            done["socialAccountId"]
                .as_str()
                .ok_or("no socialAccountId")?
                .to_owned(),
        );
    }
    Ok(ids)
}

/// Completed sandbox containers for the (f) runs, one per request: container n's id is the UUID
/// `00000000-0000-7000-8000-<n, 12 digits>`, so the wrk script can name it from a counter.
fn publishable_containers(cluster: &Cluster, org: &str, project: &str) -> Result<()> {
    let org = org.trim_start_matches("org_");
    let project = project.trim_start_matches("proj_");
    cluster.psql(
        "layers_bench",
        &format!(
            "INSERT INTO content_containers (id, organization_id, project_id, is_sandbox, format, \
                 source, status) \
             SELECT ('00000000-0000-7000-8000-' || lpad(n::text, 12, '0'))::uuid, '{org}', \
                 '{project}', true, 'image', 'generated', 'completed' \
             FROM generate_series(1, {PUBLISHABLE}) AS n"
        ),
    )?;
    Ok(())
}

/// A wrk script that publishes each container once to the accounts: thread `tid`'s n-th
/// request takes container `base + tid + threads × n`, and `base` is kept in `offset_file`
/// across wrk runs (the warm-up and the measured run), moved past every container a run could
/// have taken.
fn publish_script_text(key: &str, accounts: &[String], offset_file: &Path) -> String {
    let targets: Vec<String> = accounts
        .iter()
        .map(|a| format!(r#"{{"socialAccountId":"{a}"}}"#))
        .collect();
    let body = format!(r#"{{"targets":[{}]}}"#, targets.join(","));
    let offsets = offset_file.display();
    format!(
        "local offsets = \"{offsets}\"\n\
         local base = 0\n\
         local f = io.open(offsets, \"r\")\n\
         if f then base = tonumber(f:read(\"*l\")) or 0; f:close() end\n\
         local threads = 0\n\
         function setup(thread)\n\
         \x20 thread:set(\"tid\", threads)\n\
         \x20 thread:set(\"base\", base)\n\
         \x20 threads = threads + 1\n\
         end\n\
         function done(summary, latency, requests)\n\
         \x20 local f = io.open(offsets, \"w\")\n\
         \x20 f:write(tostring(base + threads * (summary.requests + 10000)))\n\
         \x20 f:close()\n\
         end\n\
         local counter = 0\n\
         local run = tostring(os.time()) .. tostring(math.random(1000000))\n\
         request = function()\n\
         \x20 counter = counter + 1\n\
         \x20 local n = base + tid + {THREADS} * counter\n\
         \x20 local path = string.format(\"/v1/content/cnt_00000000000070008000%012d/publish\", n)\n\
         \x20 local headers = {{}}\n\
         \x20 headers[\"Authorization\"] = \"Bearer {key}\"\n\
         \x20 headers[\"Content-Type\"] = \"application/json\"\n\
         \x20 headers[\"Idempotency-Key\"] = run .. \"-\" .. tid .. \"-\" .. counter\n\
         \x20 return wrk.format(\"POST\", path, headers, '{body}')\n\
         end\n"
    )
}

/// A wrk script that sends a made-up, well-formed live key per request.
fn flood_script() -> String {
    format!(
            "-- a made-up, well-formed live key per request: what a key-guessing flood sends\n\
         {WRK_THREADS}\
         request = function()\n\
         \x20 counter = counter + 1\n\
         \x20 local key = string.format(\"lp_live_%02d%014d_\", tid, counter) .. string.rep(\"A\", 40)\n\
         \x20 return wrk.format(\"GET\", nil, {{ [\"Authorization\"] = \"Bearer \" .. key }}, nil)\n\
         end\n"
        )
}

/// A wrk script that POSTs `body` with a fresh `Idempotency-Key` per request.
fn write_post_script(path: &std::path::Path, key: &str, body: &str) -> Result<()> {
    std::fs::write(
        path,
        format!(
            "{WRK_THREADS}\
             local run = tostring(os.time()) .. tostring(math.random(1000000))\n\
             request = function()\n\
             \x20 counter = counter + 1\n\
             \x20 local headers = {{}}\n\
             \x20 headers[\"Authorization\"] = \"Bearer {key}\"\n\
             \x20 headers[\"Content-Type\"] = \"application/json\"\n\
             \x20 headers[\"Idempotency-Key\"] = run .. \"-\" .. tid .. \"-\" .. counter\n\
             \x20 return wrk.format(\"POST\", nil, headers, '{body}')\n\
             end\n"
        ),
    )
    .map_err(|e| format!("write the wrk script: {e}"))
}

/// From the 202 to `succeeded`, for sandbox ingest jobs started one at a time on an idle
/// worker (after the backlog of the load runs has drained): p50, p99 in ms, and the count.
#[derive(Debug, Clone, Copy)]
struct JobLatency {
    p50_ms: f64,
    p99_ms: f64,
    jobs: u64,
    /// How long the load runs' backlog took to drain.
    drain_secs: f64,
}

fn job_latency(cluster: &Cluster, url: &str, script: &std::path::Path) -> Result<JobLatency> {
    let started = std::time::Instant::now();
    loop {
        let open = cluster.psql(
            "layers_bench",
            "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')",
        )?;
        if open.trim() == "0" {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(format!("{open} jobs still open after 10 minutes"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let drain_secs = started.elapsed().as_secs_f64();
    let mark = cluster.psql("layers_bench", "SELECT now()")?;
    eprintln!("xtask: job latency: ingest on one connection for 10 s");
    let mut cmd = Command::new("wrk");
    cmd.args(["-t", "1", "-c", "1", "-d", "10s", "-s"])
        .arg(script)
        .arg(url);
    capture(&mut cmd)?;
    std::thread::sleep(Duration::from_secs(1));
    let out = cluster.psql(
        "layers_bench",
        &format!(
            "WITH j AS (SELECT extract(epoch FROM finished_at - created_at) * 1000 AS ms FROM jobs \
               WHERE created_at > '{}' AND status = 'succeeded' ORDER BY created_at LIMIT 1000) \
             SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), \
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), count(*) FROM j",
            mark.trim()
        ),
    )?;
    let fields: Vec<&str> = out.trim().split('|').collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (number(0), number(1), number(2)) {
        (Some(p50_ms), Some(p99_ms), Some(jobs)) => Ok(JobLatency {
            p50_ms,
            p99_ms,
            jobs: jobs as u64,
            drain_secs,
        }),
        _ => Err(format!("job latency: unexpected {out:?}")),
    }
}

/// What each run pays per request, to read the figures with.
const READING: &str = "## Reading the figures\n\n\
- (a) pays one pool checkout and one round trip per request.\n\
- (b) pays an in-process key lookup (cached, invalidated by LISTEN/NOTIFY), an HMAC check and \
one `layers_admit` call (rate limit and monthly quota together) that it shares with the other \
requests queued for the same bucket while the previous call was in flight; the last column is \
how many requests one call decided. That sharing is why (b) can beat (a), which pays a whole \
round trip per request.\n\
- (b') is the same path with one call per request: every request of the one hot key and \
endpoint waits its turn on the bucket, so the bucket's round trip bounds the rate.\n\
- (c) pays the shared `layers_admit` call, then one transaction in three round trips: `BEGIN`, \
the key's advisory lock, the lookup of a stored answer and a savepoint, pipelined; the project \
insert; the stored answer and `COMMIT`, pipelined. One synchronous commit (a WAL flush) per \
request; PostgreSQL's CPU and WAL flushes on the two cores it shares with the gateway and wrk \
bound it (see shared/PERFORMANCE.md: a pipelined five-statement write transaction peaks near \
11k/s in pgbench alone, about 0.2 of the one-query ceiling). The three round trips that remain \
are each needed: the claim's answer (replay, `idempotency_in_progress`, a reused key) must be \
known before the handler runs, or a duplicate would run its work and wait on the first one's \
rows instead of answering 409 at once (CONTRACT §5); the stored answer is the handler's own \
answer, so it cannot travel before the insert returns. Sending the insert behind the claim \
unseen (and undoing it on a replay) would save one round trip at the cost of that rule.\n\
- (d) pays what (c) pays plus the project check, the credit gate (the sandbox's: one \
`credit.skipped` audit row), the job row written already `succeeded` with the facts the input \
gives and its `job.succeeded` event, all pipelined in the same transaction: one commit, no \
worker claim, no NOTIFY (a job with nothing left to do wakes no one).\n\
- (e) pays what (d) pays with three container rows (one per variant, completed with fixture \
media and their `content.completed` events) beside the done job row, in the same transaction.\n\
- (f) publishes one fresh completed container per request (made beforehand by one `INSERT`) to \
three sandbox accounts: the container (layers-content's store), whether it already has a post \
(publishing's own) and the accounts (layers-social's store) read in one pipelined round trip, then the post, \
its three targets, the done job with its event and three `post.published` events written in \
one pipelined round trip, in the request's transaction with its idempotency key. Like (d) and \
(e), each request costs one commit; what remains beside (c) is the extra statements and the \
rows they write: (d) 3 more statements writing 3 more rows (audit, job, event), (e) 6 writing about 25 (15 of them assets), \
(f) 7 writing 9, each row in its index's WAL too, on the two cores PostgreSQL \
shares with the gateway and wrk.\n\
- The metrics figure is measured apart by `examples/metrics_bench.rs`, in one process: the \
gateway, 1,000 published sandbox posts (published 120 days ago, so every day is synthesized), \
then the median of 15 sequential `GET …/metrics` for 90 days (the database read of the posts, \
the synthesis of 90,000 days, the JSON) against the median of 15 serializations of the route's \
own body built once from the same series; the two give the same bytes. The route streams its \
body, eight posts a chunk, as the connection takes it, so serializing overlaps the transfer.\n\
- (h) creates a sandbox campaign per request on one sandbox Meta ad account with one creative: \
the project check, the ad account, the creative's container and the project's clock read in one \
pipelined round trip, then the campaign row, its job written `succeeded` and \
`ads_campaign.created` in one more, with the idempotency claim and the stored answer: one \
commit, like (c), with (f)'s shape of extra rows. h/a's 0.25 is out of reach while (c), the \
idempotent write with nothing else to do, runs at about 0.14 of (a) (see (c)); h/c is the figure \
that says what ads add.\n\
- The ad metrics figure is measured by the same example, after the posts: 100 sandbox campaigns \
created 120 days ago, each paused for three days of the range, then 15 `GET …/ads/metrics` for \
90 days against 15 serializations of the route's body built once. The body is small (about \
0.7 MB), so the route's fixed costs dominate its time: the rate limit's round trip, the project \
check and the campaigns' read (pipelined, one round trip; the read's plan walks each campaign's \
status days), the synthesis of 9,000 days (about 1 ms) and the transfer.\n\
- Job latency is measured apart, on an idle worker: ingest requests one at a time, and for each \
sandbox job the time from its row's creation (just before the 202) to `succeeded`.\n\
- Webhooks are measured apart by `examples/webhooks_bench.rs`, with the gateway's servers \
stopped: a receiver that answers 200 at once (actix-web, one worker); a plain reqwest loop of \
`LAYERS_JOB_CONCURRENCY` (8) tasks POSTing a 1 KiB body to it for 5 s; then 10,000 events \
emitted to one endpoint while no worker runs, and the product's delivery worker started with \
the clock running until every delivery is recorded `succeeded`. Each delivery pays its share \
of a batched claim (one statement takes up to eight), the endpoint's secret opened (AES-GCM), \
two HMACs (one per signature scheme), the POST, and its share of a batched write of outcomes. Latency: 1,000 events one at a \
time on the idle worker, each from the statement that writes it (its commit's NOTIFY wakes the \
worker) to its arrival at the receiver.\n\
- (g) is a key-guessing flood from one address: each request carries a new well-formed key id. \
The first `LAYERS_AUTH_FAILURES_PER_MIN` (60) cost a lookup each; then the address is out of \
budget and every request is answered 429 from memory (a key id seen before is also answered \
from the negative cache, without the database). The last column counts the lookups that \
reached `api_keys`.\n\
- The live upload measures the direct-upload path end to end on one connection, after the load \
runs: a session with a live key, then the 50 MiB file `PUT` by curl to the signed URL (streamed \
from the file; the figure is the `PUT` alone, curl's own transfer time), which the gateway \
probes from its first 64 KiB and streams to `LAYERS_STORAGE_URL` (`file://` on the same disk, \
in 8 MiB parts) while counting bytes against the declared size; then finalize (201). The file \
is a fixture JPEG followed by random bytes. The plain copy is `std::fs::copy` of the same file \
to the same folder: the disk's own ceiling, with the source in the page cache and no fsync on \
either side (nor does the gateway's local store sync). MB is 2^20 bytes. RSS is the gateway's \
VmRSS read every 50 ms during each `PUT`; the highest reading of the three rounds is reported, \
and the reading just before the first `PUT`, after the load runs, for scale.\n\n- The test clock figure (`tests/examples/clock_bench.rs`, in `layers-tests`) is measured on its own fresh database: one post is scheduled over HTTP on a project on a clock and copied 999 times in SQL (each with its container, target and queued `publish` job), then the clock is advanced past them all; the figure runs from the advance request to the clock reading `ready` again, by which time the durable advance job has published every post in `publishAt` order with its event, in one transaction.\n\n- The mixed run (`tests/examples/isolation_bench.rs`, in `layers-tests`) starts the release \
gateway in its own process with default settings (private networks allowed so that every party \
lives on 127.0.0.1): one organization runs every hostile pattern of issue 17 at once (20 \
direct-upload PUTs sending a byte every 2 s, 17 URL uploads of a page that sends a byte a second, \
a receiver answering a byte a second behind all 16 of its sandbox endpoints pinged every second, a \
receiver answering NUL bytes, live endpoints created and deleted in a loop, two clients \
generating content so that events fan out), and for 10 s another organization runs two clients \
alternating `GET /v1/projects` and `POST /v1/projects` and sends itself a `test.ping` every \
500 ms, timed from the request to the receiver.\n";

/// The metrics figure of `examples/metrics_bench.rs`, as a line of the report.
fn metrics_lines(figures: &serde_json::Value) -> Result<String> {
    let number = |name: &str| {
        figures[name]
            .as_f64()
            .ok_or_else(|| format!("metrics bench: no {name} in {figures}"))
    };
    Ok(format!(
        "- metrics for {:.0} sandbox posts × {:.0} days ({:.1} MB of JSON): {:.1} ms through \
         `GET /v1/projects/:id/metrics` against {:.1} ms serializing the same response from a \
         precomputed value in the same process: ratio {:.2} (target ≤ 2)\n",
        number("posts")?,
        number("days")?,
        number("bytes")? / 1_048_576.0,
        number("route_ms")?,
        number("serialize_ms")?,
        number("ratio")?,
    ) + &ads_metrics_line(&figures["ads"])?)
}

/// The ads metrics figure of the same example (issue 20).
fn ads_metrics_line(figures: &serde_json::Value) -> Result<String> {
    let number = |name: &str| {
        figures[name]
            .as_f64()
            .ok_or_else(|| format!("metrics bench: no ads {name} in {figures}"))
    };
    Ok(format!(
        "- ad metrics for {:.0} sandbox campaigns × {:.0} days ({:.0} KB of JSON): {:.2} ms through \
         `GET /v1/projects/:id/ads/metrics` against {:.2} ms serializing the same response from a \
         precomputed value in the same process: ratio {:.2} (target ≤ 2)\n",
        number("campaigns")?,
        number("days")?,
        number("bytes")? / 1024.0,
        number("route_ms")?,
        number("serialize_ms")?,
        number("ratio")?,
    ))
}

/// The webhook figures of `examples/webhooks_bench.rs`, as lines of the report.
fn webhook_lines(figures: &serde_json::Value) -> Result<String> {
    let number = |name: &str| {
        figures[name]
            .as_f64()
            .ok_or_else(|| format!("webhooks bench: no {name} in {figures}"))
    };
    Ok(format!(
        "- webhook deliveries: {:.0}/s with {} in flight, against {:.0}/s for a plain reqwest \
         POST loop of the same concurrency to the same receiver: ratio {:.2} (target ≥ 0.30)\n\
         - webhook event-to-delivery latency at idle: p50 {:.2} ms, p99 {:.2} ms over {} events \
         (target p99 < 100 ms)\n",
        number("deliveriesPerSec")?,
        number("concurrency")?,
        number("plainPerSec")?,
        number("ratio")?,
        number("latencyP50Ms")?,
        number("latencyP99Ms")?,
        number("latencyEvents")?,
    ))
}

/// The mixed run of `examples/isolation_bench.rs` (in `layers-tests`), as lines of the report.
fn isolation_lines(figures: &serde_json::Value) -> Result<String> {
    let number = |name: &str| {
        figures[name]
            .as_f64()
            .ok_or_else(|| format!("isolation bench: no {name} in {figures}"))
    };
    Ok(format!(
        "- another organization beside every hostile pattern at once (20 dripping PUTs, 17 \
         trickling URL uploads, a tarpit behind 16 endpoints, a NUL-answering receiver, endpoint \
         churn under content fan-out): {:.0} requests in {:.0} s, {:.0} answered 5xx or not at \
         all, p50 {:.1} ms, p99 {:.1} ms, slowest {:.1} ms (target: no 5xx, p99 < 1 s); its \
         {:.0} webhook pings arrived after p50 {:.0} ms, at most {:.0} ms (target < 5 s)\n",
        number("requests")?,
        number("seconds")?,
        number("errors")?,
        number("p50_ms")?,
        number("p99_ms")?,
        number("max_ms")?,
        number("pings")?,
        number("ping_p50_ms")?,
        number("ping_max_ms")?,
    ))
}

/// The test clock's advance of `examples/clock_bench.rs` (in `layers-tests`), as a line.
fn clock_lines(figures: &serde_json::Value) -> Result<String> {
    let number = |name: &str| {
        figures[name]
            .as_f64()
            .ok_or_else(|| format!("clock bench: no {name} in {figures}"))
    };
    Ok(format!(
        "- a test clock advanced past 1,000 due scheduled sandbox posts: `ready` after {:.0} ms \
         ({:.0} posts published, {:.0} `post.published` events; target < 2 s)\n",
        number("ready_ms")?,
        number("posts")?,
        number("events")?,
    ))
}

/// Each round's figure, for the report: `412, 398, 405`.
fn rounds(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn report(
    runs: &[Run],
    rss: Option<f64>,
    latency: JobLatency,
    upload: &Upload,
    extra: &str,
) -> Result<()> {
    let (a, b, c) = (&runs[0], &runs[1], &runs[2]);
    let pg = Command::new("psql")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let mut table = String::from(
        "| run | requests/s | p50 | p99 | requests per rate-limit call | key lookups in the database per request |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in runs {
        let per_call = r
            .per_admit_call
            .map(|n| format!("{n:.1}"))
            .unwrap_or_else(|| "n/a".into());
        let lookups = r
            .lookups_per_request
            .map(|n| format!("{n:.4}"))
            .unwrap_or_else(|| "n/a".into());
        table.push_str(&format!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {per_call} | {lookups} |\n",
            r.name, r.requests_per_sec, r.p50_ms, r.p99_ms
        ));
    }
    let ratios = format!(
        "- b/a = {:.2} (target ≥ 0.80)\n- c/a = {:.2} (target ≥ 0.20; what bounds it: see (c) below)\n- b'/a = {:.2} (the same path without batching)\n- d/a = {:.2} (target ≥ 0.30)\n- e/a = {:.2} (target ≥ 0.30)\n- f/a = {:.2} (target ≥ 0.25)\n- d/c = {:.2}, e/c = {:.2}, f/c = {:.2} (target ≥ 0.80: a sandbox write commits once, like (c))\n- g/a = {:.2} (a flood of made-up keys, answered 429 from memory once the address used its budget)\n- h/a = {:.2} (target ≥ 0.25: a sandbox campaign, active in the answer)\n- sandbox job latency, 202 to succeeded: p50 {:.1} ms, p99 {:.1} ms over {} jobs (target p99 < 50 ms); the load runs' backlog drained in {:.1} s\n- p99 of (b) = {:.2} ms (target < 10 ms)\n- gateway peak RSS = {} (target < 100 MB)\n- live upload of 50 MiB (session → PUT → finalize): {:.0} MB/s against {:.0} MB/s for a plain file copy on the same disk; gateway peak RSS during the PUT {:.1} MB (target < 100 MB; {:.1} MB just before the first PUT); medians of {} rounds, PUT {} MB/s, copy {} MB/s\n",
        b.requests_per_sec / a.requests_per_sec,
        c.requests_per_sec / a.requests_per_sec,
        runs[3].requests_per_sec / a.requests_per_sec,
        runs[4].requests_per_sec / a.requests_per_sec,
        runs[5].requests_per_sec / a.requests_per_sec,
        runs[6].requests_per_sec / a.requests_per_sec,
        runs[4].requests_per_sec / c.requests_per_sec,
        runs[5].requests_per_sec / c.requests_per_sec,
        runs[6].requests_per_sec / c.requests_per_sec,
        runs[7].requests_per_sec / a.requests_per_sec,
        runs[8].requests_per_sec / a.requests_per_sec,
        latency.p50_ms,
        latency.p99_ms,
        latency.jobs,
        latency.drain_secs,
        b.p99_ms,
        rss.map(|m| format!("{m:.1} MB")).unwrap_or_else(|| "unknown".into()),
        upload.put_mb_s,
        upload.copy_mb_s,
        upload.peak_rss_mb,
        upload.rss_before_mb,
        upload.put_rounds.len(),
        rounds(&upload.put_rounds),
        rounds(&upload.copy_rounds),
    ) + extra;
    let date =
        capture(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])).unwrap_or_default();
    let doc = format!(
        "# Benchmarks\n\n\
         Written by `cargo xtask bench` on {} ({}; {}). wrk with {THREADS} threads and \
         {CONNECTIONS} connections, {WARMUP_SECS} s warm-up then {DURATION_SECS} s per run, on the \
         same machine as the servers and PostgreSQL (default durability settings). Release \
         builds; the gateway and the ceiling both use `LAYERS_DB_POOL_SIZE` and `LAYERS_WORKERS` \
         defaults and `RUST_LOG=warn`. The rate limit is on for (b) and (c) with a ceiling high \
         enough never to trip.\n\n{table}\n{ratios}\n{READING}",
        date.trim(),
        machine(),
        pg,
    );
    println!("\n{table}\n{ratios}");
    let path = root().join("docs").join("BENCHMARKS.md");
    std::fs::write(&path, doc).map_err(|e| format!("could not write {}: {e}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_post_script_counts_per_thread_and_sends_the_body() {
        let path = std::env::temp_dir().join(format!("bench-post-{}.lua", std::process::id()));
        write_post_script(&path, "lp_test_KEY", r#"{"name":"bench"}"#).unwrap();
        let script = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(script.starts_with("local threads = 0\nfunction setup(thread)\n"));
        assert!(script
            .contains("headers[\"Idempotency-Key\"] = run .. \"-\" .. tid .. \"-\" .. counter"));
        assert!(script.contains(r#"wrk.format("POST", nil, headers, '{"name":"bench"}')"#));
        assert!(script.contains("Bearer lp_test_KEY"));
        let flood = flood_script();
        assert!(flood.contains("function setup(thread)"));
        assert!(flood.contains(r#"string.format("lp_live_%02d%014d_", tid, counter)"#));
        assert!(flood.contains(r#"{ ["Authorization"] = "Bearer " .. key }"#));
    }
}
