//! `cargo xtask`: every developer chore of the Layers Partner API.
//!
//! - `cargo xtask dev`: a local PostgreSQL, migrations, a seeded dev organization and the API on
//!   127.0.0.1:8080.
//! - `cargo xtask admin …`: the operator CLI (`layers-gateway admin …`) against the dev database.
//! - `cargo xtask test`: a throwaway PostgreSQL and every test in the workspace, then the
//!   third-party checks: redocly's lint of the OpenAPI document, schemathesis, the typed
//!   clients (types undrifted, strict type checks, unit tests, partner journeys) and headless
//!   Chromium streaming the sandbox video.
//! - `cargo xtask clients`: the typed clients' types regenerated from the document (`cargo xtask
//!   clients check`: that step of `cargo xtask test` alone).
//! - `cargo xtask browser`: the browser step of `cargo xtask test` alone.
//! - `cargo xtask openapi`: that lint alone (the document in `target/xtask/openapi.json`).
//! - `cargo xtask schemathesis`: schemathesis over every operation of the document, all checks,
//!   against a gateway served on a throwaway database with a test key.
//! - `cargo xtask bench`: the hot path under load, written to `docs/BENCHMARKS.md`.
//! - `cargo xtask smoke [BASE_URL]`: a smoke test (whoami, a project, an ingest and its cancel)
//!   against a running API.
//! - `cargo xtask listen --key lp_test_…`: a key's webhook deliveries on this machine, signatures
//!   checked (and forwarded with `--forward-to URL`).

mod bench;
mod bench_ads;
mod browser;
mod clients;
mod dev;
mod fixtures;
mod leftover;
mod listen;
mod openapi;
mod pg;
mod schemathesis;
mod served;
mod smoke;
mod test;
#[cfg(test)]
mod tidy;
#[cfg(test)]
mod tidy_code;
mod tools;
mod util;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => dev::run(),
        Some("admin") => match dev::admin(&args[1..]) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Some("test") => test::run(&args[1..]),
        Some("bench") => bench::run(),
        Some("openapi") => openapi::run(),
        Some("schemathesis") => schemathesis::run(),
        Some("clients") => clients::run(&args[1..]),
        Some("browser") => browser::run(),
        Some("smoke") => smoke::run(&args[1..]),
        Some("listen") => listen::run(&args[1..]),
        Some("fixtures") => fixtures::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 dev     run the API on 127.0.0.1:8080 against a local PostgreSQL (started for you)\n  \
                 admin   run the operator CLI against the dev database (or DATABASE_URL), e.g.\n          \
                 cargo xtask admin key revoke API_KEY_ID; cargo xtask admin --help lists the commands\n  \
                 test    run every test against a throwaway local PostgreSQL (extra args go to the test runner),\n          then the third-party checks (redocly, schemathesis, the typed clients, Chromium)\n  \
                 openapi write the OpenAPI document to target/xtask/openapi.json and lint it (redocly)\n  \
                 schemathesis test every operation of the document against a served gateway, all checks\n  \
                 clients regenerate the typed clients' types (clients/typescript, clients/python) from the document;\n          cargo xtask clients check: their drift check, strict type checks, unit tests and journeys\n  \
                 browser headless Chromium plays a sandbox video from a served gateway (206 answers)\n  \
                 bench   measure the request hot path and write docs/BENCHMARKS.md\n  \
                 smoke   a smoke test (whoami, a project, an ingest, its cancel) against a running API: LAYERS_API_KEY=lp_test_… cargo xtask smoke [BASE_URL]\n  \
                 listen  receive the key's webhooks here, signatures checked, like stripe listen:\n          \
                 cargo xtask listen --key lp_test_… [--forward-to URL] [--api URL] [--events a,b]\n  \
                 fixtures regenerate the sandbox fixture media in crates/content/fixtures (needs ffmpeg)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
