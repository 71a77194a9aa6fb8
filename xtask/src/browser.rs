//! A real browser plays the sandbox's video: Debian's Chromium, headless, driven by
//! playwright-core (`xtask/browser/play.mjs`), loads a page holding a `<video>` of a sandbox
//! fixture served by the gateway, plays it, and fails unless it played and its media requests
//! were answered 206 with a `Content-Range` (as Safari and iOS players require). A step of
//! `cargo xtask test`; `xtask/browser/play.test.mjs` shows the check failing against servers
//! that ignore `Range` or serve nothing.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::served;
use crate::tools;
use crate::util::{root, run_inherited, target_dir, Result};

/// The fixture played (any sandbox video would do: the route and the answer are the same).
const VIDEO: &str = "/sandbox/video-remix/sample-1/video.mp4";

/// `cargo xtask browser`: [`check`] on its own.
pub fn run() -> Result<()> {
    served::standalone("browser", check)
}

/// The browser step against `gateway`, served on a database of its own on `server_url`'s server.
pub fn check(gateway: &Path, server_url: &str) -> Result<()> {
    let started = Instant::now();
    let chromium = tools::ensure_chromium()?;
    let dir = root().join("xtask").join("browser");
    tools::npm_ci(&dir, "playwright-core")?;
    let work = target_dir().join("xtask").join("browser");
    let served = served::serve(gateway, server_url, "browser", &work, false)?;
    let url = format!("{}{VIDEO}", served.base);
    eprintln!("xtask: headless Chromium plays {url}");
    run_inherited(
        Command::new("node")
            .current_dir(&dir)
            .arg("play.mjs")
            .arg(&url)
            .env("CHROMIUM", &chromium),
    )
    .map_err(|e| format!("Chromium did not stream the sandbox video: {e}"))?;
    run_inherited(
        Command::new("node")
            .current_dir(&dir)
            .args(["--test", "play.test.mjs"])
            .env("CHROMIUM", &chromium)
            .env("LAYERS_VIDEO_URL", &url),
    )
    .map_err(|e| format!("the browser check's own tests failed: {e}"))?;
    eprintln!(
        "xtask: the browser step passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
