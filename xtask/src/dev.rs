//! `cargo xtask dev`: the API on 127.0.0.1:8080 against a local PostgreSQL, with a seeded dev
//! organization whose keys are printed (the same keys on every run).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

use crate::pg::Cluster;
use crate::util::{build_gateway, fnv1a, gateway_json, interrupted, root, Result};

const DEV_DATABASE: &str = "layers_dev";
const DEV_PORT: u16 = 54329;

fn dev_dir() -> PathBuf {
    root().join(".dev")
}

pub fn run() -> Result<()> {
    let interrupted = interrupted();
    std::fs::create_dir_all(dev_dir()).map_err(|e| format!("could not create .dev/: {e}"))?;
    let gateway = build_gateway(false)?;

    let (cluster, url) = match std::env::var("DATABASE_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let port = std::env::var("LAYERS_DEV_PG_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(DEV_PORT);
            let cluster = Cluster::new(dev_dir().join("postgres"), port)?;
            if cluster.start(&[])? {
                eprintln!("xtask: started PostgreSQL on 127.0.0.1:{port} (data in .dev/postgres)");
            } else {
                eprintln!("xtask: reusing the PostgreSQL already running on 127.0.0.1:{port}");
            }
            cluster.ensure_database(DEV_DATABASE)?;
            let url = cluster.url(DEV_DATABASE);
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

fn serve(gateway: &PathBuf, url: &str, interrupted: &std::sync::atomic::AtomicBool) -> Result<()> {
    let master_key = master_key()?;
    let cli = |args: &[&str]| gateway_json(gateway, url, args);
    cli(&["migrate"])?;
    let seed = seed(&cli, url)?;
    let bind = std::env::var("LAYERS_BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let test_key = seed["testKey"].as_str().unwrap_or_default();
    println!(
        "\nLayers Partner API (dev)\n\
         \n  organization  {}\
         \n  test key      {}\
         \n  live key      {}\
         \n\n  curl -s http://{bind}/v1/whoami -H \"Authorization: Bearer {test_key}\"\n\
         \nCtrl-C stops the API and PostgreSQL.\n",
        seed["organizationId"].as_str().unwrap_or_default(),
        test_key,
        seed["liveKey"].as_str().unwrap_or_default(),
    );

    let mut child = Command::new(gateway)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("LAYERS_BIND", &bind)
        .env("LAYERS_MASTER_KEY", master_key)
        .env("LAYERS_ALLOW_PRIVATE_NETWORK", "true")
        .spawn()
        .map_err(|e| format!("could not start the gateway: {e}"))?;
    // The gateway gets Ctrl-C from the terminal too and shuts down gracefully; SIGTERM sent to
    // xtask alone is forwarded.
    let mut forwarded = false;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return if status.success() || interrupted.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err(format!("the gateway exited with {status}"))
            };
        }
        if interrupted.load(Ordering::SeqCst) && !forwarded {
            forwarded = true;
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
        }
        std::thread::sleep(Duration::from_millis(100));
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

/// The dev organization and its two keys. Keys are shown once at minting, so they are kept in
/// `.dev/seed-<database fingerprint>.json` and minted anew only when the database no longer
/// accepts them (a wiped cluster, a revoked or killed key, a plan without API access).
fn seed(cli: &dyn Fn(&[&str]) -> Result<Value>, url: &str) -> Result<Value> {
    let path = dev_dir().join(format!("seed-{:08x}.json", fnv1a(url.as_bytes())));
    if let Some(existing) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
    {
        // Reuse the keys only if they still work as printed; never change them behind the
        // operator's back (a key killed or an organization moved on purpose stays so).
        let ids: Vec<&str> = ["testKeyId", "liveKeyId"]
            .iter()
            .filter_map(|k| existing[k].as_str())
            .filter(|id| id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'))
            .collect();
        let usable = ids.len() == 2
            && crate::pg::psql(
                url,
                &format!(
                    "SELECT count(*) FROM api_keys k JOIN organizations o ON o.id = k.organization_id \
                     WHERE k.id IN ('{}', '{}') AND k.revoked_at IS NULL AND k.killed_at IS NULL \
                     AND o.plan = 'partner'",
                    ids[0], ids[1]
                ),
            )
            .map(|n| n == "2")
            .unwrap_or(false);
        if usable {
            return Ok(existing);
        }
        eprintln!("xtask: the saved dev keys no longer work; minting new ones");
    }
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
    let test = cli(&["admin", "key", "mint", "--org", org_id, "--env", "test"])?;
    let live = cli(&["admin", "key", "mint", "--org", org_id, "--env", "live"])?;
    let seed = serde_json::json!({
        "organizationId": org_id,
        "testKeyId": test["apiKeyId"],
        "testKey": test["key"],
        "liveKeyId": live["apiKeyId"],
        "liveKey": live["key"],
    });
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&seed).unwrap_or_default(),
    )
    .map_err(|e| format!("could not write {}: {e}", path.display()))?;
    Ok(seed)
}
