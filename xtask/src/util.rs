//! Small helpers shared by the xtask commands: paths, running commands, free ports, Ctrl-C.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub type Result<T, E = String> = std::result::Result<T, E>;

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The shared cargo target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// Runs a command to completion and fails with its stderr when it does not succeed.
pub fn capture(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs a command with inherited stdio and fails when it does not succeed.
pub fn run_inherited(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

/// Runs an operator command of the gateway binary against `database_url` and parses the one
/// JSON object it prints.
pub fn gateway_json(
    gateway: &Path,
    database_url: &str,
    args: &[&str],
) -> Result<serde_json::Value> {
    let out = capture(
        Command::new(gateway)
            .args(args)
            .env("DATABASE_URL", database_url),
    )?;
    serde_json::from_str(&out).map_err(|e| format!("unexpected output from {args:?}: {e}: {out}"))
}

/// 32-bit FNV-1a, for short stable names derived from paths and URLs.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

/// Builds the gateway binary, showing cargo's progress on stderr, and returns its path.
pub fn build_gateway(release: bool) -> Result<PathBuf> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root())
        .args(["build", "-p", "layers-gateway"]);
    if release {
        cmd.arg("--release");
    }
    run_inherited(&mut cmd)?;
    Ok(target_dir()
        .join(if release { "release" } else { "debug" })
        .join("layers-gateway"))
}

/// A flag that turns true on Ctrl-C or SIGTERM; the process itself keeps running so that it can
/// stop what it started.
pub fn interrupted() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    // A second registration (only in tests) is harmless to ignore.
    let _ = ctrlc::set_handler(move || set.store(true, Ordering::SeqCst));
    flag
}
