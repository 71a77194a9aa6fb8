//! `cargo xtask test`: a throwaway PostgreSQL, then every test in the workspace (nextest, then
//! the doctests, which nextest does not run), then the third-party checks, each against the
//! tested gateway binary: redocly's lint of the OpenAPI document ([`crate::openapi`]),
//! schemathesis over every operation ([`crate::schemathesis`]), the typed clients' types,
//! strict type checks, unit tests and partner journeys ([`crate::clients`]), and headless
//! Chromium streaming the sandbox video ([`crate::browser`]).

use std::process::Command;

use crate::pg::Cluster;
use crate::util::{free_port, interrupted, root, run_inherited, target_dir, Result};
use crate::{browser, clients, openapi, schemathesis};

/// Settings that make a throwaway test cluster fast: nothing here needs to survive a crash.
pub const FAST_SETTINGS: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "400"),
    ("shared_buffers", "128MB"),
];

pub fn run(extra: &[String]) -> Result<()> {
    let _interrupted = interrupted();
    let (cluster, url) = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            eprintln!("xtask: testing against DATABASE_URL");
            (None, url)
        }
        Err(_) => {
            let cluster = Cluster::new(target_dir().join("xtask").join("test-pg"), free_port()?)?;
            cluster.stop()?;
            cluster.wipe()?;
            eprintln!(
                "xtask: starting a throwaway PostgreSQL on 127.0.0.1:{}",
                cluster.port
            );
            cluster.start(FAST_SETTINGS)?;
            let url = cluster.url("postgres");
            (Some(cluster), url)
        }
    };
    let result = run_tests(&url, extra);
    if let Some(cluster) = cluster {
        cluster.stop()?;
        cluster.wipe()?;
    }
    result
}

fn run_tests(url: &str, extra: &[String]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let nextest = Command::new(&cargo)
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let command = |args: &[&str]| {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(root())
            .env("LAYERS_TEST_DATABASE_URL", url)
            .env("RUST_BACKTRACE", "1")
            .args(args);
        cmd
    };
    if !nextest {
        // cargo test runs the doctests too.
        let tests = run_inherited(command(&["test", "--workspace", "--no-fail-fast"]).args(extra));
        return all([tests, third_party(url, extra)]);
    }
    let tests =
        run_inherited(command(&["nextest", "run", "--workspace", "--no-fail-fast"]).args(extra));
    // nextest does not run doctests. Extra arguments are nextest's (filters, profiles), so a
    // filtered run leaves the doctests out, and the third-party checks.
    if !extra.is_empty() {
        eprintln!(
            "xtask: arguments given, so the doctests and the third-party checks were not run"
        );
        return tests;
    }
    let doctests = run_inherited(&mut command(&[
        "test",
        "--doc",
        "--workspace",
        "--no-fail-fast",
    ]));
    all([tests, doctests, third_party(url, extra)])
}

/// The third-party checks of the tested gateway binary (not on a filtered run), each on a
/// database of its own on `url`'s server: redocly, schemathesis, the clients, the browser.
fn third_party(url: &str, extra: &[String]) -> Result<()> {
    if !extra.is_empty() {
        return Ok(());
    }
    let gateway = openapi::tested_gateway()?;
    all([
        openapi::lint(&gateway),
        schemathesis::check(&gateway, url),
        clients::check(&gateway, url),
        browser::check(&gateway, url),
    ])
}

/// Every step's failure, one per line.
fn all<const N: usize>(results: [Result<()>; N]) -> Result<()> {
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\nxtask: "))
    }
}
