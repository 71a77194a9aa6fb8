//! `cargo xtask dev`: the API on 127.0.0.1:8080 against a local PostgreSQL, with a seeded dev
//! organization whose keys are printed (the same keys on every run while they work), and
//! `cargo xtask admin …`: the operator CLI against that same database.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

use crate::leftover;
use crate::pg::Cluster;
use crate::util::{build_gateway, fnv1a, gateway_json, interrupted, root, Result};

const DEV_DATABASE: &str = "layers_dev";
const DEV_PORT: u16 = 54329;

fn dev_dir() -> PathBuf {
    root().join(".dev")
}

fn pid_file() -> PathBuf {
    dev_dir().join("gateway.pid")
}

/// The dev cluster (not started), on `LAYERS_DEV_PG_PORT` or 54329.
fn dev_cluster() -> Result<Cluster> {
    let port = std::env::var("LAYERS_DEV_PG_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEV_PORT);
    Cluster::new(dev_dir().join("postgres"), port)
}

/// Starts the dev cluster unless it runs (a run killed hard leaves it running: it is reused) and
/// makes sure the dev database exists. Returns the cluster, whether this call started it, and
/// the database URL.
fn start_dev_cluster() -> Result<(Cluster, bool, String)> {
    let cluster = dev_cluster()?;
    let started = cluster.start(&[])?;
    if started {
        eprintln!(
            "xtask: started PostgreSQL on 127.0.0.1:{} (data in .dev/postgres)",
            cluster.port
        );
    } else {
        eprintln!(
            "xtask: reusing the PostgreSQL already running on 127.0.0.1:{}",
            cluster.port
        );
    }
    cluster.ensure_database(DEV_DATABASE)?;
    let url = cluster.url(DEV_DATABASE);
    Ok((cluster, started, url))
}

pub fn run() -> Result<()> {
    let interrupted = interrupted();
    std::fs::create_dir_all(dev_dir()).map_err(|e| format!("could not create .dev/: {e}"))?;
    let gateway = build_gateway(false)?;
    stop_leftover_gateway(&gateway)?;

    let (cluster, url) = match std::env::var("DATABASE_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let (cluster, _, url) = start_dev_cluster()?;
            (Some(cluster), url)
        }
    };

    let result = serve(&gateway, &url, &interrupted);
    if let Some(cluster) = cluster {
        eprintln!("xtask: stopping PostgreSQL");
        cluster.stop()?;
    }
    result
}

/// `cargo xtask admin …`: `layers-gateway admin …` against `DATABASE_URL`, or else the dev
/// database (starting the dev cluster for the command if `cargo xtask dev` is not running, and
/// applying pending migrations). Its stdout, stderr and exit code are the gateway's.
pub fn admin(args: &[String]) -> Result<ExitCode> {
    std::fs::create_dir_all(dev_dir()).map_err(|e| format!("could not create .dev/: {e}"))?;
    let gateway = build_gateway(false)?;
    // Help needs no database.
    let help = args.is_empty()
        || args
            .iter()
            .any(|a| matches!(a.as_str(), "-h" | "--help" | "help"));
    let (cluster, url) = match std::env::var("DATABASE_URL") {
        Ok(url) => (None, url),
        Err(_) if help => (None, String::new()),
        Err(_) => {
            let (cluster, started, url) = start_dev_cluster()?;
            gateway_json(&gateway, &url, &["migrate"])?;
            (started.then_some(cluster), url)
        }
    };
    let status = Command::new(&gateway)
        .arg("admin")
        .args(args)
        .env("DATABASE_URL", &url)
        .status()
        .map_err(|e| format!("could not run {}: {e}", gateway.display()));
    // A cluster started only for this command is stopped again.
    if let Some(cluster) = cluster {
        cluster.stop()?;
    }
    let status = status?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// Stops the gateway a previous `cargo xtask dev` left running when it was killed hard, so that
/// this run does not fail with "address in use".
fn stop_leftover_gateway(gateway: &Path) -> Result<()> {
    match leftover::find(&pid_file(), gateway, "serve") {
        leftover::Found::Leftover(pid) => {
            eprintln!("xtask: stopping the gateway a previous run left behind (pid {pid})");
            leftover::stop(pid, Duration::from_secs(10))?;
            let _ = std::fs::remove_file(pid_file());
        }
        leftover::Found::Owned { pid, owner } => eprintln!(
            "xtask: another cargo xtask dev (pid {owner}) runs a gateway (pid {pid}); leaving it \
             alone (set LAYERS_BIND to serve on another address)"
        ),
        leftover::Found::Nothing => {}
    }
    Ok(())
}

fn serve(gateway: &Path, url: &str, interrupted: &AtomicBool) -> Result<()> {
    let master_key = master_key()?;
    let cli = |args: &[&str]| gateway_json(gateway, url, args);
    cli(&["migrate"])?;
    let seed = seed(&cli, url)?;
    let bind = std::env::var("LAYERS_BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    print_banner(&seed, url, &bind);

    let mut child = Command::new(gateway)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("LAYERS_BIND", &bind)
        .env("LAYERS_MASTER_KEY", master_key)
        .env("LAYERS_ALLOW_PRIVATE_NETWORK", "true")
        // every URL the API hands out (sandbox fixtures, live media, upload URLs) is this
        // gateway's own, so each one can be fetched on this machine
        .env("LAYERS_PUBLIC_BASE_URL", format!("http://{bind}"))
        .env("LAYERS_MEDIA_BASE_URL", format!("http://{bind}"))
        .env(
            "LAYERS_STORAGE_URL",
            format!("file://{}", dev_dir().join("media").display()),
        )
        .spawn()
        .map_err(|e| format!("could not start the gateway: {e}"))?;
    // Should xtask be killed hard, the next run finds this gateway by its pid and stops it.
    if let Err(e) = leftover::record(&pid_file(), child.id()) {
        eprintln!("xtask: could not write {}: {e}", pid_file().display());
    }
    // The gateway gets Ctrl-C from the terminal too and shuts down gracefully; SIGTERM sent to
    // xtask alone is forwarded.
    let mut forwarded = false;
    let outcome = loop {
        match child.try_wait() {
            Err(e) => break Err(e.to_string()),
            Ok(Some(status)) => {
                break if status.success() || interrupted.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err(format!("the gateway exited with {status}"))
                };
            }
            Ok(None) => {}
        }
        if interrupted.load(Ordering::SeqCst) && !forwarded {
            forwarded = true;
            leftover::signal(child.id(), "INT");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    leftover::forget(&pid_file(), child.id());
    outcome
}

fn print_banner(seed: &Value, url: &str, bind: &str) {
    let s = |k: &str| seed[k].as_str().unwrap_or_default().to_owned();
    let (org, test_key) = (s("organizationId"), s("testKey"));
    let admin = admin_env(url);
    println!(
        "\nLayers Partner API (dev) on http://{bind}\
         \n\n  API reference  http://{bind}/docs   (OpenAPI: http://{bind}/v1/openapi.json)\
         \n  DATABASE_URL   {url}\
         \n  organization   {org}\
         \n  test key       {test_key}   apiKeyId {}\
         \n  live key       {}   apiKeyId {}\
         \n\n  curl -s http://{bind}/v1/whoami -H \"Authorization: Bearer {test_key}\"\
         \n  LAYERS_API_KEY={test_key} cargo xtask smoke http://{bind}   # a smoke test\
         \n\nOperator CLI, from another terminal (prints one JSON object):\
         \n\n  {admin}cargo xtask admin credits grant {org} 500\
         \n  {admin}cargo xtask admin key mint --org {org} --env test\
         \n\nCtrl-C stops the API and PostgreSQL.\n",
        s("testKeyId"),
        s("liveKey"),
        s("liveKeyId"),
    );
}

/// What `cargo xtask admin` needs in its environment to reach the database this run uses.
fn admin_env(url: &str) -> String {
    if std::env::var_os("DATABASE_URL").is_some() {
        format!("DATABASE_URL={url} ")
    } else if let Ok(port) = std::env::var("LAYERS_DEV_PG_PORT") {
        format!("LAYERS_DEV_PG_PORT={port} ")
    } else {
        String::new()
    }
}

/// The dev master key, generated once and kept in `.dev/master.key`.
fn master_key() -> Result<String> {
    let path = dev_dir().join("master.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(existing.trim().to_owned());
    }
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system CSPRNG failed".to_string())?;
    let key = base64::engine::general_purpose::STANDARD.encode(bytes);
    std::fs::write(&path, &key).map_err(|e| format!("could not write {}: {e}", path.display()))?;
    Ok(key)
}

/// What the database says about the saved dev organization.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OrgStatus {
    Usable,
    /// It exists, but its plan lacks `api_access`: its keys answer 402.
    NoApiAccess {
        plan: String,
    },
    Gone,
}

/// What the database says about one saved dev key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyStatus {
    Active,
    Revoked,
    Killed,
    /// Not in the database (or not the saved organization's key of that environment).
    Gone,
}

impl KeyStatus {
    fn works(self) -> bool {
        self == KeyStatus::Active
    }

    fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Killed => "killed",
            KeyStatus::Gone => "gone",
        }
    }
}

/// The saved organization and keys as the database sees them now.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Saved {
    org: OrgStatus,
    test: KeyStatus,
    live: KeyStatus,
}

/// What `seed` does to the dev organization and keys.
#[derive(Debug, PartialEq, Eq)]
enum SeedPlan {
    /// Nothing is saved, or the saved organization is gone (a wiped cluster, another
    /// database): a new organization with a test and a live key.
    NewOrganization,
    /// Keep the saved organization (and the projects made with it) and every key that still
    /// works; mint a fresh key, for that same organization, in place of each one that does not.
    Keep {
        mint_test: bool,
        mint_live: bool,
        /// The organization's plan, when it lost `api_access` (the operator moved it): the
        /// organization is kept as the operator left it, and the banner says how to fix it.
        no_api_access: Option<String>,
    },
}

/// Decides from what was saved and what the database says now; never touches a key that works
/// or an organization that exists.
fn decide(saved: Option<&Saved>) -> SeedPlan {
    let Some(saved) = saved else {
        return SeedPlan::NewOrganization;
    };
    let no_api_access = match &saved.org {
        OrgStatus::Gone => return SeedPlan::NewOrganization,
        OrgStatus::Usable => None,
        OrgStatus::NoApiAccess { plan } => Some(plan.clone()),
    };
    SeedPlan::Keep {
        mint_test: !saved.test.works(),
        mint_live: !saved.live.works(),
        no_api_access,
    }
}

/// Whether `s` is `len` characters of hex digits and dashes (safe to put in SQL as a literal).
fn plain_id(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Asks the database about the saved organization and keys; `None` when the saved file is not
/// one this code wrote.
fn observe(url: &str, saved: &Value) -> Result<Option<Saved>> {
    let field = |k: &str| saved[k].as_str().unwrap_or_default();
    let Some(org_hex) = field("organizationId").strip_prefix("org_") else {
        return Ok(None);
    };
    let (test_id, live_id) = (field("testKeyId"), field("liveKeyId"));
    if !plain_id(org_hex, 32) || !plain_id(test_id, 36) || !plain_id(live_id, 36) {
        return Ok(None);
    }
    let key_state = |id: &str, env: &str| {
        format!(
            "(SELECT CASE WHEN revoked_at IS NOT NULL THEN 'revoked' \
                          WHEN killed_at IS NOT NULL THEN 'killed' ELSE 'active' END \
              FROM api_keys WHERE id = '{id}' AND organization_id = '{org_hex}' \
              AND environment = '{env}')"
        )
    };
    let row = crate::pg::psql(
        url,
        &format!(
            "SELECT coalesce((SELECT CASE WHEN 'api_access' = ANY (p.features) THEN 'usable' \
                                          ELSE 'plan:' || o.plan END \
                              FROM organizations o JOIN plans p ON p.code = o.plan \
                              WHERE o.id = '{org_hex}'), 'gone'), \
                    coalesce({}, 'gone'), coalesce({}, 'gone')",
            key_state(test_id, "test"),
            key_state(live_id, "live"),
        ),
    )?;
    let fields: Vec<&str> = row.split('|').collect();
    let key = |s: &str| match s {
        "active" => KeyStatus::Active,
        "revoked" => KeyStatus::Revoked,
        "killed" => KeyStatus::Killed,
        _ => KeyStatus::Gone,
    };
    let [org, test, live] = fields[..] else {
        return Err(format!(
            "unexpected answer about the dev organization: {row}"
        ));
    };
    let org = match org {
        "usable" => OrgStatus::Usable,
        "gone" => OrgStatus::Gone,
        other => OrgStatus::NoApiAccess {
            plan: other.trim_start_matches("plan:").to_owned(),
        },
    };
    Ok(Some(Saved {
        org,
        test: key(test),
        live: key(live),
    }))
}

/// The dev organization and its two keys. Keys are shown once at minting, so they are kept in
/// `.dev/seed-<database fingerprint>.json`; see [`decide`] for what a re-run keeps.
fn seed(cli: &dyn Fn(&[&str]) -> Result<Value>, url: &str) -> Result<Value> {
    let path = dev_dir().join(format!("seed-{:08x}.json", fnv1a(url.as_bytes())));
    let existing = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok());
    let saved = match &existing {
        Some(existing) => observe(url, existing)?,
        None => None,
    };
    let plan = decide(saved.as_ref());
    let mut seed = match (&plan, existing) {
        (SeedPlan::Keep { .. }, Some(existing)) => existing,
        _ => {
            if saved.is_some() {
                eprintln!("xtask: the saved dev organization is gone; creating a new one");
            }
            create_dev_org(cli)?
        }
    };
    let org_id = seed["organizationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if mint_keys(cli, &plan, saved.as_ref(), &org_id, &mut seed)? {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&seed).unwrap_or_default(),
        )
        .map_err(|e| format!("could not write {}: {e}", path.display()))?;
    }
    if let SeedPlan::Keep {
        no_api_access: Some(plan),
        ..
    } = &plan
    {
        eprintln!(
            "xtask: the dev organization {org_id} is on plan `{plan}`, which has no API access: \
             its keys answer 402. It is kept as it is; to give it API access again run\n\
             \n    cargo xtask admin org set-plan {org_id} partner\n"
        );
    }
    Ok(seed)
}

/// Creates the dev organization (partner plan, 1,000 credits); a seed holding its id.
fn create_dev_org(cli: &dyn Fn(&[&str]) -> Result<Value>) -> Result<Value> {
    let org = cli(&[
        "admin",
        "org",
        "create",
        "--name",
        "Dev Organization",
        "--plan",
        "partner",
        "--credits",
        "1000",
    ])?;
    let org_id = org["organizationId"]
        .as_str()
        .ok_or("org create printed no organizationId")?;
    Ok(serde_json::json!({ "organizationId": org_id }))
}

/// Mints into `seed` the keys `plan` asks for, saying why when a saved key is replaced;
/// whether any key was minted.
fn mint_keys(
    cli: &dyn Fn(&[&str]) -> Result<Value>,
    plan: &SeedPlan,
    saved: Option<&Saved>,
    org_id: &str,
    seed: &mut Value,
) -> Result<bool> {
    let (mint_test, mint_live) = match plan {
        SeedPlan::NewOrganization => (true, true),
        SeedPlan::Keep {
            mint_test,
            mint_live,
            ..
        } => (*mint_test, *mint_live),
    };
    for (env, mint, status) in [
        ("test", mint_test, saved.map(|s| s.test)),
        ("live", mint_live, saved.map(|s| s.live)),
    ] {
        if !mint {
            continue;
        }
        if let (SeedPlan::Keep { .. }, Some(status)) = (plan, status) {
            eprintln!(
                "xtask: the saved {env} key is {}; minting a fresh {env} key for {org_id}",
                status.as_str()
            );
        }
        let key = cli(&["admin", "key", "mint", "--org", org_id, "--env", env])?;
        seed[format!("{env}KeyId")] = key["apiKeyId"].clone();
        seed[format!("{env}Key")] = key["key"].clone();
    }
    Ok(mint_test || mint_live)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(org: OrgStatus, test: KeyStatus, live: KeyStatus) -> Saved {
        Saved { org, test, live }
    }

    #[test]
    fn a_first_run_creates_an_organization_with_both_keys() {
        assert_eq!(decide(None), SeedPlan::NewOrganization);
    }

    #[test]
    fn working_keys_of_a_usable_organization_are_kept() {
        let s = saved(OrgStatus::Usable, KeyStatus::Active, KeyStatus::Active);
        assert_eq!(
            decide(Some(&s)),
            SeedPlan::Keep {
                mint_test: false,
                mint_live: false,
                no_api_access: None
            }
        );
    }

    #[test]
    fn a_revoked_or_killed_key_is_replaced_in_the_same_organization_and_the_other_kept() {
        for broken in [KeyStatus::Revoked, KeyStatus::Killed, KeyStatus::Gone] {
            let s = saved(OrgStatus::Usable, broken, KeyStatus::Active);
            assert_eq!(
                decide(Some(&s)),
                SeedPlan::Keep {
                    mint_test: true,
                    mint_live: false,
                    no_api_access: None
                },
                "test key {broken:?}"
            );
            let s = saved(OrgStatus::Usable, KeyStatus::Active, broken);
            assert_eq!(
                decide(Some(&s)),
                SeedPlan::Keep {
                    mint_test: false,
                    mint_live: true,
                    no_api_access: None
                },
                "live key {broken:?}"
            );
        }
        let s = saved(OrgStatus::Usable, KeyStatus::Revoked, KeyStatus::Killed);
        assert_eq!(
            decide(Some(&s)),
            SeedPlan::Keep {
                mint_test: true,
                mint_live: true,
                no_api_access: None
            }
        );
    }

    #[test]
    fn a_gone_organization_is_replaced() {
        let s = saved(OrgStatus::Gone, KeyStatus::Gone, KeyStatus::Gone);
        assert_eq!(decide(Some(&s)), SeedPlan::NewOrganization);
    }

    #[test]
    fn an_organization_without_api_access_is_kept_and_reported() {
        let s = saved(
            OrgStatus::NoApiAccess {
                plan: "free".into(),
            },
            KeyStatus::Active,
            KeyStatus::Revoked,
        );
        assert_eq!(
            decide(Some(&s)),
            SeedPlan::Keep {
                mint_test: false,
                mint_live: true,
                no_api_access: Some("free".into())
            }
        );
    }

    #[test]
    fn only_plain_ids_reach_sql() {
        assert!(plain_id("0190b5a0-0000-7000-8000-000000000000", 36));
        assert!(!plain_id("0190b5a0-0000-7000-8000-00000000000'", 36));
        assert!(!plain_id("0190b5a0", 36));
    }
}
