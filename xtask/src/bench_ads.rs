//! The ads run of `cargo xtask bench` (issue 20): what run (h), a sandbox campaign creation per
//! request, needs in the bench project: an Instagram account connected with the ads consent, its
//! sandbox ad account and a completed container; made through the API as a partner would.

use std::process::Command;

use crate::util::{capture, Result};

/// `curl -sf` of `url` with `auth` and, if given, a JSON `body` POSTed; the answer as JSON.
fn call(url: &str, auth: &str, body: Option<&str>) -> Result<serde_json::Value> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sf", url, "-H", auth]);
    if let Some(body) = body {
        cmd.args([
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ]);
    }
    let answer = capture(&mut cmd)?;
    serde_json::from_str(&answer).map_err(|e| format!("{url}: {e}: {answer}"))
}

fn text(value: &serde_json::Value, field: &str) -> Result<String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {field} in {value}"))
}

/// The body of run (h): a campaign on the project's sandbox Meta ad account with one creative.
pub fn campaign_body(port: u16, auth: &str, project: &str) -> Result<String> {
    let base = format!("http://127.0.0.1:{port}");
    let minted = call(
        &format!("{base}/v1/projects/{project}/social/oauth-url"),
        auth,
        Some(r#"{"platform":"instagram","ads":true}"#),
    )?;
    let state = text(&minted, "state")?;
    let done = call(
        &format!("{base}/v1/social/sandbox-complete?state={state}&platform=instagram"),
        auth,
        None,
    )?;
    let sa = text(&done, "socialAccountId")?;
    let linked = call(
        &format!("{base}/v1/projects/{project}/ads/accounts"),
        auth,
        Some(&format!(
            r#"{{"platform":"meta","externalId":"sb_act_{sa}","socialAccountId":"{sa}"}}"#
        )),
    )?;
    let account = text(&linked, "id")?;
    let generated = call(
        &format!("{base}/v1/projects/{project}/content/image"),
        auth,
        Some("{}"),
    )?;
    let container = generated["containers"][0]["id"]
        .as_str()
        .ok_or_else(|| format!("no container in {generated}"))?;
    Ok(format!(
        r#"{{"adAccountId":"{account}","name":"bench","objective":"traffic","dailyBudget":{{"amount":5000,"currency":"USD"}},"startAt":"2026-01-01T00:00:00Z","targeting":{{"countries":["US","CA"],"ageMin":18}},"creatives":[{{"containerId":"{container}","headline":"Plan less"}}]}}"#
    ))
}
