//! A gateway binary served on a free port of 127.0.0.1 against a database of its own, with a
//! sandbox key of scope `*`: what the third-party steps of `cargo xtask test` (schemathesis, the
//! typed clients' journeys, the browser) talk to, each to its own.
//!
//! The database is created on the server of the URL given, migrated, and dropped again when the
//! [`Served`] is dropped (after the gateway is stopped). Job workers run; private networks are
//! allowed, so that the sandbox's own URLs can be fetched and a webhook receiver on this machine
//! gets its deliveries; every URL the API hands out is the gateway's own.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::bench::{random_master_key, wait_ready};
use crate::pg::{psql, Cluster};
use crate::test::FAST_SETTINGS;
use crate::util::{build_gateway, free_port, gateway_json, interrupted, target_dir, Result};

/// A third-party check run on its own (`cargo xtask schemathesis`, `cargo xtask clients check`,
/// `cargo xtask browser`): the gateway built as `cargo xtask dev` builds it, a throwaway
/// PostgreSQL started for it under `target/xtask/<name>-pg` (or `DATABASE_URL`'s server), then
/// `check`.
pub fn standalone(name: &str, check: fn(&Path, &str) -> Result<()>) -> Result<()> {
    let _interrupted = interrupted();
    let gateway = build_gateway(false)?;
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return check(&gateway, &url);
    }
    let cluster = Cluster::new(
        target_dir().join("xtask").join(format!("{name}-pg")),
        free_port()?,
    )?;
    cluster.stop()?;
    cluster.wipe()?;
    cluster.start(FAST_SETTINGS)?;
    let result = check(&gateway, &cluster.url("postgres"));
    cluster.stop()?;
    cluster.wipe()?;
    result
}

/// A served gateway: its base URL and a test key. Dropping it stops the gateway and drops its
/// database.
pub struct Served {
    pub base: String,
    pub key: String,
    server_url: String,
    database: String,
    gateway: Option<Child>,
}

/// Serves `gateway` on a fresh database named after `name` (on `server_url`'s server), with
/// its log in `dir/gateway.log` and its media under `dir/media`. `limits_off` puts the rate
/// limits out of reach (for a tester that sends thousands of requests a minute, some without a
/// key on purpose).
pub fn serve(
    gateway: &Path,
    server_url: &str,
    name: &str,
    dir: &Path,
    limits_off: bool,
) -> Result<Served> {
    let database = format!("layers_{name}_{}", std::process::id());
    psql(server_url, &drop_sql(&database))?;
    psql(server_url, &format!("CREATE DATABASE {database}"))?;
    let mut served = Served {
        base: String::new(),
        key: String::new(),
        server_url: server_url.to_owned(),
        database,
        gateway: None,
    };
    let url = with_database(server_url, &served.database);
    let cli = |args: &[&str]| gateway_json(gateway, &url, args);
    cli(&["migrate"])?;
    let org = cli(&["admin", "org", "create", "--name", name])?;
    let org = org["organizationId"].as_str().ok_or("no organizationId")?;
    let minted = cli(&[
        "admin", "key", "mint", "--org", org, "--env", "test", "--scopes", "*",
    ])?;
    served.key = minted["key"].as_str().ok_or("no key")?.to_owned();

    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let port = free_port()?;
    served.base = format!("http://127.0.0.1:{port}");
    let log = dir.join("gateway.log");
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let mut command = Command::new(gateway);
    command
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("LAYERS_BIND", format!("127.0.0.1:{port}"))
        .env("LAYERS_MASTER_KEY", random_master_key()?)
        .env("LAYERS_ALLOW_PRIVATE_NETWORK", "true")
        .env("LAYERS_PUBLIC_BASE_URL", &served.base)
        .env("LAYERS_MEDIA_BASE_URL", &served.base)
        .env(
            "LAYERS_STORAGE_URL",
            format!("file://{}", dir.join("media").display()),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log_file);
    if limits_off {
        command
            .env("LAYERS_RATE_LIMIT_STANDARD_PER_MIN", "100000000")
            .env("LAYERS_AUTH_FAILURES_PER_MIN", "100000000");
    }
    served.gateway = Some(
        command
            .spawn()
            .map_err(|e| format!("could not start the gateway: {e}"))?,
    );
    wait_ready(&format!("{}/readyz", served.base))
        .map_err(|e| format!("{e} (gateway log: {})", log.display()))?;
    Ok(served)
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.gateway.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        if let Err(e) = psql(&self.server_url, &drop_sql(&self.database)) {
            eprintln!("xtask: could not drop {}: {e}", self.database);
        }
    }
}

fn drop_sql(database: &str) -> String {
    format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let server = match base.rfind('/') {
        Some(i) if i > base.find("//").map_or(0, |s| s + 1) => &base[..i],
        _ => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_another_database_of_the_same_server() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "st"),
            "postgres://postgres@127.0.0.1:5432/st"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432/app?sslmode=disable", "st"),
            "postgres://u:p@db:5432/st?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@db:5432", "st"),
            "postgres://u@db:5432/st"
        );
    }
}
