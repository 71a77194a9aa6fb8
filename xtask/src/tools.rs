//! Third-party tools from their registries, installed by xtask so that a clean clone needs
//! nothing installed by hand: npm packages from a checked-in lockfile, Python packages into a
//! venv from a pinned requirements file, and Debian packages (node, python3-venv, chromium)
//! when the machine lacks them. Each install is skipped when what it was made from is unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::{capture, run_inherited, Result};

/// `npm ci` in `dir` (which holds `package.json` and `package-lock.json`), unless the
/// `node_modules` there was installed from the same lockfile.
pub fn npm_ci(dir: &Path, what: &str) -> Result<()> {
    let lock_path = dir.join("package-lock.json");
    let lock =
        std::fs::read(&lock_path).map_err(|e| format!("read {}: {e}", lock_path.display()))?;
    let marker = dir.join("node_modules").join(".xtask-installed-lock");
    if std::fs::read(&marker).ok().as_ref() == Some(&lock) {
        return Ok(());
    }
    ensure_npm()?;
    let started = Instant::now();
    eprintln!("xtask: installing {what} (npm ci in {})", dir.display());
    run_inherited(Command::new("npm").current_dir(dir).args([
        "ci",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
    ]))
    .map_err(|e| format!("{what} could not be installed from npm: {e}"))?;
    std::fs::write(&marker, &lock).map_err(|e| format!("write {}: {e}", marker.display()))?;
    eprintln!(
        "xtask: {what} installed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// node and npm, from Debian when absent.
pub fn ensure_npm() -> Result<()> {
    let works = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works("node") && works("npm") {
        return Ok(());
    }
    apt_install(&["nodejs", "npm"], "node and npm")
}

/// A venv at `venv` holding exactly the packages pinned in `requirements` (installed with
/// `--no-deps` when `no_deps`, as every dependency is pinned there too), unless it was made from
/// the same file. Returns the venv's `bin` directory.
pub fn python_venv(venv: &Path, requirements: &Path, no_deps: bool, what: &str) -> Result<PathBuf> {
    let bin = venv.join("bin");
    let pinned =
        std::fs::read(requirements).map_err(|e| format!("read {}: {e}", requirements.display()))?;
    let marker = venv.join("xtask-installed-requirements.txt");
    if bin.join("python").exists() && std::fs::read(&marker).ok().as_ref() == Some(&pinned) {
        return Ok(bin);
    }
    let started = Instant::now();
    eprintln!(
        "xtask: installing {what} (pinned in {}) into {}",
        requirements.display(),
        venv.display()
    );
    let _ = std::fs::remove_dir_all(venv);
    if let Some(parent) = venv.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    let make_venv = || capture(Command::new("python3").arg("-m").arg("venv").arg(venv));
    if make_venv().is_err() {
        // Debian and Ubuntu ship python3 without venv (ensurepip) unless python3-venv is there.
        let _ = std::fs::remove_dir_all(venv);
        apt_install(&["python3", "python3-venv"], "python3-venv")?;
        make_venv()?;
    }
    let mut pip = Command::new(bin.join("pip"));
    pip.args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
    ]);
    if no_deps {
        pip.arg("--no-deps");
    }
    run_inherited(pip.arg("--requirement").arg(requirements))
        .map_err(|e| format!("{what} could not be installed from PyPI: {e}"))?;
    std::fs::write(&marker, &pinned).map_err(|e| format!("write {}: {e}", marker.display()))?;
    eprintln!(
        "xtask: {what} installed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(bin)
}

/// Debian's Chromium (`/usr/bin/chromium`), installed when absent.
pub fn ensure_chromium() -> Result<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    if !path.exists() {
        apt_install(&["chromium"], "Chromium")?;
    }
    Ok(path)
}

/// `apt-get install` of Debian packages, after an update of the package lists.
fn apt_install(packages: &[&str], what: &str) -> Result<()> {
    eprintln!("xtask: installing {} (Debian packages)", packages.join(" "));
    let _ = run_inherited(Command::new("apt-get").arg("update").arg("-qq"));
    run_inherited(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .map_err(|e| format!("{what} is needed and could not be installed: {e}"))
}
