//! `cargo xtask openapi` (and a step of `cargo xtask test`): the OpenAPI document, as the gateway
//! binary prints it (`layers-gateway openapi`), written to `target/xtask/openapi.json` and linted
//! by redocly with its recommended rules (`redocly.yaml` at the root). Any error fails; warnings
//! are shown.
//!
//! redocly comes from npm at the version pinned in `xtask/redocly/package-lock.json`, installed
//! once under `target/xtask/redocly` (`npm ci`, about 20 s; node and npm from Debian when
//! absent, as `bench` does for wrk), so a clean clone needs nothing installed by hand.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::util::{build_gateway, capture, root, run_inherited, target_dir, Result};

/// `cargo xtask openapi`: builds the gateway as `cargo xtask dev` does, then lints.
pub fn run() -> Result<()> {
    let gateway = build_gateway(false)?;
    lint(&gateway)
}

/// Dumps the document `gateway` prints and lints it: an error if redocly reports any error.
pub fn lint(gateway: &Path) -> Result<()> {
    let started = Instant::now();
    let document = dump(gateway)?;
    let redocly = ensure_redocly()?;
    eprintln!("xtask: redocly lint {}", document.display());
    let result = run_inherited(
        Command::new(redocly)
            .current_dir(root())
            .args(["lint", "--format", "stylish", "--config"])
            .arg(root().join("redocly.yaml"))
            .arg(&document)
            // No telemetry, no update check: the result depends on the pinned version only.
            .env("REDOCLY_TELEMETRY", "off")
            .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true"),
    )
    .map_err(|e| format!("the OpenAPI document has redocly errors (listed above): {e}"));
    eprintln!(
        "xtask: the OpenAPI document linted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    result
}

/// The gateway binary `cargo test --workspace` built (a no-op after the test run): the one its
/// features were unified for, so that nothing is compiled twice.
pub fn tested_gateway() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--quiet",
            "--message-format=json",
        ])
        .output()
        .map_err(|e| format!("could not run cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the gateway could not be built for the OpenAPI lint:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    gateway_artifact(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| "cargo test --no-run built no layers-gateway binary".into())
}

/// The path of the `layers-gateway` binary (not a test harness) among cargo's JSON messages.
fn gateway_artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["name"] == "layers-gateway"
                && m["target"]["kind"] == serde_json::json!(["bin"])
                && m["profile"]["test"] == false
        })
        .and_then(|m| m["executable"].as_str().map(PathBuf::from))
}

/// Writes what `gateway openapi` prints to `target/xtask/openapi.json`, checked to be JSON.
pub fn dump(gateway: &Path) -> Result<PathBuf> {
    let json = capture(Command::new(gateway).arg("openapi").env("RUST_LOG", "warn"))?;
    let document: Value = serde_json::from_str(&json)
        .map_err(|e| format!("`layers-gateway openapi` printed no JSON document: {e}"))?;
    // Indented, so that redocly's line numbers point somewhere readable.
    let json = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
    let dir = target_dir().join("xtask");
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let path = dir.join("openapi.json");
    std::fs::write(&path, json).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(path)
}

/// redocly's executable, installed under `target/xtask/redocly` from the pinned lockfile unless
/// that lockfile's install is already there.
fn ensure_redocly() -> Result<PathBuf> {
    let pinned = root().join("xtask").join("redocly");
    let dir = target_dir().join("xtask").join("redocly");
    let bin = dir.join("node_modules").join(".bin").join("redocly");
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("read {}: {e}", p.display()));
    let lock = read(&pinned.join("package-lock.json"))?;
    let installed_lock = dir.join("installed-package-lock.json");
    if bin.exists() && std::fs::read(&installed_lock).ok().as_ref() == Some(&lock) {
        return Ok(bin);
    }
    crate::tools::ensure_npm()?;
    eprintln!(
        "xtask: installing redocly (npm ci, pinned in xtask/redocly) into {}",
        dir.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(pinned.join(file), dir.join(file))
            .map_err(|e| format!("copy xtask/redocly/{file}: {e}"))?;
    }
    run_inherited(Command::new("npm").current_dir(&dir).args([
        "ci",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
    ]))
    .map_err(|e| format!("redocly could not be installed from npm: {e}"))?;
    std::fs::write(&installed_lock, &lock)
        .map_err(|e| format!("write {}: {e}", installed_lock.display()))?;
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_gateway_binary_among_cargo_messages() {
        let messages = [
            r#"{"reason":"compiler-artifact","target":{"name":"layers-gateway","kind":["lib"]},"profile":{"test":false},"executable":null}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"layers-gateway","kind":["bin"]},"profile":{"test":true},"executable":"/t/debug/deps/layers_gateway-abc"}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"layers-gateway","kind":["bin"]},"profile":{"test":false},"executable":"/t/debug/layers-gateway"}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        assert_eq!(
            gateway_artifact(&messages),
            Some(PathBuf::from("/t/debug/layers-gateway"))
        );
        assert_eq!(gateway_artifact(messages.lines().next().unwrap()), None);
    }

    #[test]
    fn the_pinned_redocly_is_locked() {
        let pinned = root().join("xtask").join("redocly");
        let package: Value = serde_json::from_slice(
            &std::fs::read(pinned.join("package.json")).expect("xtask/redocly/package.json"),
        )
        .unwrap();
        let lock: Value = serde_json::from_slice(
            &std::fs::read(pinned.join("package-lock.json"))
                .expect("xtask/redocly/package-lock.json"),
        )
        .unwrap();
        let version = package["dependencies"]["@redocly/cli"]
            .as_str()
            .expect("@redocly/cli is a dependency");
        assert!(
            version.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "@redocly/cli is pinned to one version, not {version}"
        );
        assert_eq!(
            lock["packages"]["node_modules/@redocly/cli"]["version"], version,
            "package-lock.json locks the pinned version (regenerate it with npm install \
             --package-lock-only)"
        );
    }
}
