//! The typed clients in `clients/`: `cargo xtask clients` regenerates their types from the
//! OpenAPI document; [`check`], a step of `cargo xtask test`, proves them.
//!
//! - `clients/typescript`: `@layers/partner-api`, types by openapi-typescript
//!   (`scripts/generate.mjs`), a hand-written wrapper on openapi-fetch.
//! - `clients/python`: `layers-partner-api`, TypedDicts by datamodel-code-generator
//!   (`scripts/generate.py`), a hand-written sync and async client on httpx.
//!
//! [`check`] regenerates both into `target/xtask/clients` and fails when the checked-in types
//! differ (they drifted from the document: `cargo xtask clients` rewrites them); type-checks
//! them strictly (`tsc` with `strict`, `mypy --strict`); runs their unit tests; then runs each
//! one's partner journey (project, content, a social account, a post, a verified webhook,
//! metrics) against a sandbox gateway served for it. The tools come from npm and PyPI at the
//! versions locked in each client's directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::openapi;
use crate::served::{self, Served};
use crate::tools;
use crate::util::{build_gateway, root, run_inherited, target_dir, Result};

/// A client: where it lives, how its types are generated and where they are checked in.
struct Client {
    name: &'static str,
    dir: PathBuf,
    generated: &'static str,
}

fn typescript() -> Client {
    Client {
        name: "the TypeScript client",
        dir: root().join("clients").join("typescript"),
        generated: "src/schema.ts",
    }
}

fn python() -> Client {
    Client {
        name: "the Python client",
        dir: root().join("clients").join("python"),
        generated: "src/layers_partner_api/models.py",
    }
}

/// `cargo xtask clients`: both clients' types regenerated from the current document;
/// `cargo xtask clients check`: [`check`] on its own.
pub fn run(args: &[String]) -> Result<()> {
    match args {
        [] => regenerate(),
        [check_] if check_ == "check" => crate::served::standalone("clients", check),
        _ => Err("usage: cargo xtask clients [check]".into()),
    }
}

fn regenerate() -> Result<()> {
    let gateway = build_gateway(false)?;
    let document = openapi::dump(&gateway)?;
    let python_bin = python_tools()?;
    for client in [typescript(), python()] {
        let out = client.dir.join(client.generated);
        generate(&client, &python_bin, &document, &out)?;
        eprintln!("xtask: wrote {}", out.display());
    }
    Ok(())
}

/// The clients' step of `cargo xtask test` (see the module's docs), against `gateway` served on
/// a database of its own on `server_url`'s server.
pub fn check(gateway: &Path, server_url: &str) -> Result<()> {
    let started = Instant::now();
    let document = openapi::dump(gateway)?;
    let python_bin = python_tools()?;
    let dir = target_dir().join("xtask").join("clients");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let (ts, py) = (typescript(), python());
    for client in [&ts, &py] {
        let fresh = dir.join(
            Path::new(client.generated)
                .file_name()
                .expect("a file name"),
        );
        generate(client, &python_bin, &document, &fresh)?;
        undrifted(client, &fresh)?;
    }
    run_inherited(&mut npm(&ts.dir, &["run", "build"]))
        .map_err(|e| format!("tsc (strict) refused the TypeScript client: {e}"))?;
    run_inherited(
        Command::new("node")
            .current_dir(&ts.dir)
            .args(["--test", "dist/test/"]),
    )
    .map_err(|e| format!("the TypeScript client's unit tests failed: {e}"))?;
    run_inherited(
        python_in(&py.dir, &python_bin, "mypy").args(["--strict", "src", "journey", "tests"]),
    )
    .map_err(|e| format!("mypy --strict refused the Python client: {e}"))?;
    run_inherited(
        python_in(&py.dir, &python_bin, "python")
            .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."]),
    )
    .map_err(|e| format!("the Python client's unit tests failed: {e}"))?;
    eprintln!(
        "xtask: both clients generated, type-checked and unit-tested in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let served = served::serve(gateway, server_url, "clients", &dir, false)?;
    let journeys = [
        journey(
            &served,
            "TypeScript",
            Command::new("node")
                .current_dir(&ts.dir)
                .arg("dist/journey/journey.js"),
        ),
        journey(
            &served,
            "Python",
            python_in(&py.dir, &python_bin, "python").arg("journey/journey.py"),
        ),
    ];
    let failures: Vec<String> = journeys.into_iter().filter_map(Result::err).collect();
    if !failures.is_empty() {
        return Err(format!(
            "{} (gateway log: {})",
            failures.join("; "),
            dir.join("gateway.log").display()
        ));
    }
    eprintln!(
        "xtask: the clients' step passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One client's partner journey against `served`, with its key.
fn journey(served: &Served, language: &str, command: &mut Command) -> Result<()> {
    let started = Instant::now();
    eprintln!(
        "xtask: the {language} client's partner journey against {}",
        served.base
    );
    run_inherited(
        command
            .env("LAYERS_BASE_URL", &served.base)
            .env("LAYERS_API_KEY", &served.key),
    )
    // (not the command line: the key is in its environment)
    .map_err(|_| format!("the {language} client's partner journey failed (its output is above)"))?;
    eprintln!(
        "xtask: the {language} journey passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The TypeScript client's npm packages installed (from its lockfile) and the Python client's
/// development tools in a venv under `target/xtask/clients`; the venv's `bin`.
fn python_tools() -> Result<PathBuf> {
    tools::npm_ci(&typescript().dir, "the TypeScript client's packages")?;
    let py = python();
    tools::python_venv(
        &target_dir().join("xtask").join("clients").join("venv"),
        &py.dir.join("requirements-dev.txt"),
        // every package is pinned in the file, its dependencies too: nothing else is resolved
        true,
        "the Python client's development tools",
    )
}

/// `client`'s generator run over `document`, writing `out`.
fn generate(client: &Client, python_bin: &Path, document: &Path, out: &Path) -> Result<()> {
    let mut command = if client.generated.ends_with(".ts") {
        let mut c = Command::new("node");
        c.current_dir(&client.dir).arg("scripts/generate.mjs");
        c
    } else {
        let mut c = python_in(&client.dir, python_bin, "python");
        c.arg("scripts/generate.py");
        c
    };
    run_inherited(command.arg(document).arg(out))
        .map_err(|e| format!("{}'s generator failed: {e}", client.name))
}

/// Fails when `fresh` (just generated) differs from `client`'s checked-in types.
fn undrifted(client: &Client, fresh: &Path) -> Result<()> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("read {}: {e}", p.display()));
    let checked_in = client.dir.join(client.generated);
    if read(&checked_in)? == read(fresh)? {
        return Ok(());
    }
    let diff = Command::new("diff")
        .arg("-u")
        .arg(&checked_in)
        .arg(fresh)
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    Err(format!(
        "{} drifted from the OpenAPI document: {} is not what the generator makes of it now \
         (run cargo xtask clients and commit the result). The first lines of the difference:\n{diff}",
        client.name,
        checked_in.display()
    ))
}

fn npm(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("npm");
    c.current_dir(dir).args(args).arg("--silent");
    c
}

/// `tool` from the venv, run in `dir` with the client's `src` importable.
fn python_in(dir: &Path, python_bin: &Path, tool: &str) -> Command {
    let mut c = Command::new(python_bin.join(tool));
    c.current_dir(dir)
        .env("PYTHONPATH", dir.join("src"))
        .env("MYPYPATH", dir.join("src"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    c
}
