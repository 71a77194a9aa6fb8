//! `cargo xtask schemathesis` (not yet a step of `cargo xtask test`: it still finds failures):
//! schemathesis, a third-party property-based tester, run over every operation of the OpenAPI
//! document with every check, against the gateway binary `serve`d on a free port with a
//! sandbox key of scope `*`.
//!
//! The run: a fresh database on the given PostgreSQL, migrated; an organization and a test key
//! minted with the operator CLI (`layers-gateway admin …`); a sandbox project; the gateway
//! (job workers on, private networks allowed so that the sandbox's own URLs can be fetched, rate
//! limits out of reach so that no check meets a 429 the run itself caused); then `schemathesis
//! run` with a fixed seed, so that a failure reproduces. Any failure of any check fails the step.
//!
//! The project's id is given to schemathesis for every `projectId`, so that the project's
//! operations reach their handlers; other path ids are generated from the document's patterns
//! (or come from the stateful phase's links) and mostly meet the documented 404.
//!
//! `xtask/schemathesis/schemathesis.toml` holds the settings and the few checks that are told
//! the contract's answer, each with why. schemathesis comes from PyPI at the versions pinned in
//! `xtask/schemathesis/requirements.txt`, installed once into a venv under
//! `target/xtask/schemathesis` (about 15 s; python3-venv from Debian when `python3 -m venv`
//! does not work), so a clean clone needs nothing installed by hand.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::bench::{random_master_key, wait_ready};
use crate::openapi;
use crate::pg::{psql, Cluster};
use crate::test::FAST_SETTINGS;
use crate::util::{
    build_gateway, capture, free_port, gateway_json, interrupted, root, run_inherited, target_dir,
    Result,
};

/// The seed of every run: the same cases each time, so that a failure is reproducible.
const SEED: &str = "20260508";
/// Test cases per operation and phase; the whole step stays within about two minutes.
const MAX_EXAMPLES: &str = "25";

/// `cargo xtask schemathesis`: builds the gateway as `cargo xtask dev` does, starts a throwaway
/// PostgreSQL (or uses `DATABASE_URL`'s server), then [`check`].
pub fn run() -> Result<()> {
    let _interrupted = interrupted();
    let gateway = build_gateway(false)?;
    match std::env::var("DATABASE_URL") {
        Ok(url) => check(&gateway, &url),
        Err(_) => {
            let cluster = Cluster::new(
                target_dir().join("xtask").join("schemathesis-pg"),
                free_port()?,
            )?;
            cluster.stop()?;
            cluster.wipe()?;
            cluster.start(FAST_SETTINGS)?;
            let result = check(&gateway, &cluster.url("postgres"));
            cluster.stop()?;
            cluster.wipe()?;
            result
        }
    }
}

/// Runs schemathesis against `gateway`, served on a database of its own created on the server
/// of `server_url` (any database URL of that server) and dropped afterwards.
pub fn check(gateway: &Path, server_url: &str) -> Result<()> {
    let started = Instant::now();
    let schemathesis = ensure_schemathesis()?;
    let document = openapi::dump(gateway)?;
    let database = format!("layers_schemathesis_{}", std::process::id());
    let drop = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
    psql(server_url, &drop)?;
    psql(server_url, &format!("CREATE DATABASE {database}"))?;
    let result = run_against(
        &schemathesis,
        gateway,
        &document,
        &with_database(server_url, &database),
    );
    let dropped = psql(server_url, &drop);
    eprintln!(
        "xtask: schemathesis finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    result.and(dropped.map(|_| ()))
}

fn run_against(schemathesis: &Path, gateway: &Path, document: &Path, url: &str) -> Result<()> {
    let cli = |args: &[&str]| gateway_json(gateway, url, args);
    cli(&["migrate"])?;
    let org = cli(&["admin", "org", "create", "--name", "Schemathesis"])?;
    let org = org["organizationId"].as_str().ok_or("no organizationId")?;
    let minted = cli(&[
        "admin", "key", "mint", "--org", org, "--env", "test", "--scopes", "*",
    ])?;
    let key = minted["key"].as_str().ok_or("no key")?.to_owned();

    let dir = target_dir().join("xtask").join("schemathesis");
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.join("gateway.log");
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let child = Command::new(gateway)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("LAYERS_BIND", format!("127.0.0.1:{port}"))
        .env("LAYERS_MASTER_KEY", random_master_key()?)
        .env("LAYERS_ALLOW_PRIVATE_NETWORK", "true")
        .env("LAYERS_PUBLIC_BASE_URL", &base)
        .env("LAYERS_MEDIA_BASE_URL", &base)
        .env(
            "LAYERS_STORAGE_URL",
            format!("file://{}", dir.join("media").display()),
        )
        // schemathesis sends thousands of requests a minute, some without a key on purpose.
        .env("LAYERS_RATE_LIMIT_STANDARD_PER_MIN", "100000000")
        .env("LAYERS_AUTH_FAILURES_PER_MIN", "100000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("could not start the gateway: {e}"))?;
    let _gateway = Stop(child);
    wait_ready(&format!("{base}/readyz"))?;
    let project = create_project(&base, &key)?;

    let config = write_config(&dir, &project)?;
    eprintln!(
        "xtask: schemathesis run {} (seed {SEED}, gateway log {})",
        document.display(),
        log.display()
    );
    run_inherited(
        Command::new(schemathesis)
            .current_dir(&dir)
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(document)
            .args(["--url", &base])
            .args(["--header", &format!("Authorization: Bearer {key}")])
            .args(["--checks", "all"])
            .args(["--seed", SEED, "--max-examples", MAX_EXAMPLES])
            .args(["--workers", "2", "--no-color"])
            .args(["--report", "junit"])
            .arg("--report-dir")
            .arg(dir.join("report"))
            // no telemetry, no cache of earlier runs: the result depends on the pins only
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .env("HYPOTHESIS_STORAGE_DIRECTORY", dir.join("hypothesis")),
    )
    // (not the command line: it holds the key)
    .map_err(|_| "schemathesis found failures (listed above)".to_string())
}

/// `POST /v1/projects` with `key`; the new project's id.
fn create_project(base: &str, key: &str) -> Result<String> {
    let body = capture(Command::new("curl").args([
        "-sS",
        "--fail-with-body",
        "-X",
        "POST",
        &format!("{base}/v1/projects"),
        "-H",
        &format!("Authorization: Bearer {key}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"name":"Schemathesis"}"#,
    ]))?;
    let project: Value =
        serde_json::from_str(&body).map_err(|e| format!("POST /v1/projects: {e}: {body}"))?;
    project["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("POST /v1/projects answered no id: {body}"))
}

/// The checked-in `schemathesis.toml` with this run's fixtures appended, written under `dir`.
fn write_config(dir: &Path, project: &str) -> Result<PathBuf> {
    let pinned = root()
        .join("xtask")
        .join("schemathesis")
        .join("schemathesis.toml");
    let mut config =
        std::fs::read_to_string(&pinned).map_err(|e| format!("read {}: {e}", pinned.display()))?;
    config.push_str(&format!(
        "\n# This run's fixtures (written by cargo xtask schemathesis).\n\
         [parameters]\n\"path.projectId\" = \"{project}\"\n"
    ));
    let path = dir.join("schemathesis.toml");
    std::fs::write(&path, config).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(path)
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let server = match base.rfind('/') {
        Some(i) if i > base.find("//").map_or(0, |s| s + 1) => &base[..i],
        _ => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// A child process stopped (SIGTERM, then waited for) when dropped.
struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// schemathesis's executable, installed into a venv under `target/xtask/schemathesis` from the
/// pinned requirements unless that install is already there.
fn ensure_schemathesis() -> Result<PathBuf> {
    let pinned = root()
        .join("xtask")
        .join("schemathesis")
        .join("requirements.txt");
    let dir = target_dir().join("xtask").join("schemathesis");
    let venv = dir.join("venv");
    let bin = venv.join("bin").join("schemathesis");
    let requirements =
        std::fs::read(&pinned).map_err(|e| format!("read {}: {e}", pinned.display()))?;
    let installed = dir.join("installed-requirements.txt");
    if bin.exists() && std::fs::read(&installed).ok().as_ref() == Some(&requirements) {
        return Ok(bin);
    }
    let started = Instant::now();
    eprintln!(
        "xtask: installing schemathesis (pinned in xtask/schemathesis/requirements.txt) into {}",
        venv.display()
    );
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let make_venv = || capture(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    if make_venv().is_err() {
        // Debian and Ubuntu ship python3 without venv (ensurepip) unless python3-venv is there.
        eprintln!("xtask: installing python3 and python3-venv (Debian packages)");
        let _ = std::fs::remove_dir_all(&venv);
        let _ = run_inherited(Command::new("apt-get").arg("update").arg("-qq"));
        run_inherited(Command::new("apt-get").args([
            "install",
            "-y",
            "-qq",
            "python3",
            "python3-venv",
        ]))
        .map_err(|e| {
            format!("python3-venv is needed for schemathesis and could not be installed: {e}")
        })?;
        make_venv()?;
    }
    run_inherited(
        Command::new(venv.join("bin").join("pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                // every package is pinned in the file: nothing else is resolved
                "--no-deps",
                "--requirement",
            ])
            .arg(&pinned),
    )
    .map_err(|e| format!("schemathesis could not be installed from PyPI: {e}"))?;
    std::fs::write(&installed, &requirements)
        .map_err(|e| format!("write {}: {e}", installed.display()))?;
    eprintln!(
        "xtask: schemathesis installed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_another_database_of_the_same_server() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "st"),
            "postgres://postgres@127.0.0.1:5432/st"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432/app?sslmode=disable", "st"),
            "postgres://u:p@db:5432/st?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@db:5432", "st"),
            "postgres://u@db:5432/st"
        );
    }

    #[test]
    fn schemathesis_and_its_dependencies_are_pinned() {
        let pinned = std::fs::read_to_string(
            root()
                .join("xtask")
                .join("schemathesis")
                .join("requirements.txt"),
        )
        .expect("xtask/schemathesis/requirements.txt");
        let pins: Vec<&str> = pinned
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .collect();
        assert!(
            pins.iter().any(|l| l.starts_with("schemathesis==")),
            "schemathesis is pinned"
        );
        for pin in pins {
            assert!(pin.contains("=="), "{pin} is pinned to one version");
        }
    }
}
