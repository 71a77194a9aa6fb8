//! `cargo xtask smoke [BASE_URL]`: seed 000's CI recipe against a running API, as partners run
//! it: whoami with `X-Api-Key`, a throwaway project keyed by `customerExternalId`, an App Store
//! ingest, an immediate cancel (200, 202 or 409 all pass). The key comes from `LAYERS_API_KEY`
//! (use a test key: it costs nothing and calls no store).

use std::process::Command;

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};

use crate::util::Result;

/// A fresh `Idempotency-Key`.
fn fresh_key() -> Result<String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system CSPRNG failed".to_string())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// One call through curl: the status and the JSON body.
fn call(method: &str, url: &str, key: &str, body: Option<&Value>) -> Result<(u16, Value)> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-X", method, url, "-w", "\n%{http_code}"])
        .args(["-H", &format!("X-Api-Key: {key}")])
        .args(["-H", "Content-Type: application/json"]);
    if method != "GET" {
        cmd.args(["-H", &format!("Idempotency-Key: {}", fresh_key()?)]);
    }
    if let Some(body) = body {
        cmd.args(["--data-binary", &body.to_string()]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("could not run curl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{method} {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status: u16 = status
        .trim()
        .parse()
        .map_err(|_| format!("{method} {url}: no status in {text:?}"))?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn expect(step: &str, got: (u16, Value), wanted: &[u16]) -> Result<Value> {
    if wanted.contains(&got.0) {
        println!("  {step}: {}", got.0);
        Ok(got.1)
    } else {
        Err(format!("{step}: {} {}", got.0, got.1))
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let base = args
        .first()
        .map(|b| b.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let key = std::env::var("LAYERS_API_KEY").map_err(|_| {
        "set LAYERS_API_KEY to an API key (a test key: lp_test_…); cargo xtask dev prints one"
            .to_string()
    })?;
    println!("smoke against {base}");
    expect(
        "whoami",
        call("GET", &format!("{base}/v1/whoami"), &key, None)?,
        &[200],
    )?;
    let project = expect(
        "create project",
        call(
            "POST",
            &format!("{base}/v1/projects"),
            &key,
            Some(&json!({
                "name": "ci-smoke",
                "customerExternalId": format!("ci-{}", fresh_key()?),
                "timezone": "UTC",
                "primaryLanguage": "en",
            })),
        )?,
        &[200, 201],
    )?;
    let project_id = project["id"].as_str().ok_or("the project has no id")?;
    let job = expect(
        "ingest appstore",
        call(
            "POST",
            &format!("{base}/v1/projects/{project_id}/ingest/appstore"),
            &key,
            Some(&json!({ "iosBundleId": "com.example.doesnotexist" })),
        )?,
        &[202],
    )?;
    let job_id = job["jobId"]
        .as_str()
        .ok_or("the ingest answered no jobId")?;
    expect(
        "cancel",
        call(
            "POST",
            &format!("{base}/v1/jobs/{job_id}/cancel"),
            &key,
            None,
        )?,
        &[200, 202, 409],
    )?;
    println!("smoke ok: project {project_id}, job {job_id}");
    Ok(())
}
