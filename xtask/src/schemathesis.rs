//! `cargo xtask schemathesis`, and a step of `cargo xtask test`: schemathesis, a third-party
//! property-based tester, run over every operation of the OpenAPI document with every check,
//! against the gateway binary `serve`d on a free port with a sandbox key of scope `*`
//! ([`crate::served`]).
//!
//! The run: a fresh database on the given PostgreSQL, migrated; an organization and a test key
//! minted with the operator CLI (`layers-gateway admin …`); a sandbox project; the gateway
//! (job workers on, private networks allowed so that the sandbox's own URLs can be fetched, rate
//! limits out of reach so that no check meets a 429 the run itself caused); then `schemathesis
//! run` with a fixed seed and one worker, so that a failure reproduces. Any failure of any check fails the step.
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
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::openapi;
use crate::served::{self, Served};
use crate::tools;
use crate::util::{capture, root, run_inherited, target_dir, Result};

/// The seed of every run: the same cases each time, so that a failure is reproducible.
const SEED: &str = "20260508";
/// Test cases per operation and phase; the whole step stays within about two minutes.
const MAX_EXAMPLES: &str = "25";

/// `cargo xtask schemathesis`: builds the gateway as `cargo xtask dev` does, starts a throwaway
/// PostgreSQL (or uses `DATABASE_URL`'s server), then [`check`].
pub fn run() -> Result<()> {
    served::standalone("schemathesis", check)
}

/// Runs schemathesis against `gateway`, served on a database of its own created on the server
/// of `server_url` (any database URL of that server) and dropped afterwards.
pub fn check(gateway: &Path, server_url: &str) -> Result<()> {
    let started = Instant::now();
    let schemathesis = ensure_schemathesis()?;
    let document = openapi::dump(gateway)?;
    let dir = target_dir().join("xtask").join("schemathesis");
    // schemathesis sends thousands of requests a minute, some without a key on purpose
    let served = served::serve(gateway, server_url, "schemathesis", &dir, true)?;
    let result = run_against(&schemathesis, &document, &served, &dir);
    drop(served);
    eprintln!(
        "xtask: schemathesis finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    result
}

fn run_against(schemathesis: &Path, document: &Path, served: &Served, dir: &Path) -> Result<()> {
    let project = create_project(&served.base, &served.key)?;
    let config = write_config(dir, &project)?;
    eprintln!(
        "xtask: schemathesis run {} (seed {SEED}, gateway log {})",
        document.display(),
        dir.join("gateway.log").display()
    );
    run_inherited(
        Command::new(schemathesis)
            .current_dir(dir)
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(document)
            .args(["--url", &served.base])
            .args(["--header", &format!("Authorization: Bearer {}", served.key)])
            .args(["--checks", "all"])
            .args(["--seed", SEED, "--max-examples", MAX_EXAMPLES])
            // one worker: the same order every run, and no CPython 3.11 `ast.parse` race
            // between threads (a "recursion depth mismatch" SystemError inside hypothesis)
            .args(["--workers", "1", "--no-color"])
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

/// schemathesis's executable, installed into a venv under `target/xtask/schemathesis` from the
/// pinned requirements unless that install is already there.
fn ensure_schemathesis() -> Result<PathBuf> {
    let pinned = root()
        .join("xtask")
        .join("schemathesis")
        .join("requirements.txt");
    let venv = target_dir().join("xtask").join("schemathesis").join("venv");
    let bin = tools::python_venv(&venv, &pinned, true, "schemathesis")?;
    Ok(bin.join("schemathesis"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
