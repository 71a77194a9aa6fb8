//! Throwaway databases for tests: each test gets its own database, cloned from a template that
//! holds the migrated schema, so a test costs one `CREATE DATABASE … TEMPLATE` instead of a
//! migration run.
//!
//! The server comes from `LAYERS_TEST_DATABASE_URL` (set by `cargo xtask test`), or from
//! `DATABASE_URL`. The template is named after the migrations' fingerprint and built once, under
//! an advisory lock, by whichever test process gets there first.
//!
//! Databases are not dropped when their test ends (a test's pool may still be open). Their names
//! carry their creation time instead, and each test process, once, drops those older than
//! [`KEEP`] on a server it shares with earlier runs, so a long-lived server does not fill its
//! disk (`cargo xtask test` throws its cluster away anyway).

use tokio::sync::OnceCell;
use tokio_postgres::NoTls;

use crate::{migrate, migrations_fingerprint, pool, Pool};

/// A database of one's own: its URL and a small pool on it.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    pub url: String,
    pub name: String,
    pub pool: Pool,
}

/// The URL of the server tests run against, with the database part replaced by `db`.
pub fn server_url(db: &str) -> String {
    let base = std::env::var("LAYERS_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .expect(
            "tests need PostgreSQL: run them with `cargo xtask test`, which starts a local \
             cluster, or set LAYERS_TEST_DATABASE_URL to a server you own",
        );
    with_database(&base, db)
}

fn with_database(url: &str, db: &str) -> String {
    // postgres://user@host:port/dbname?params
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = head[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(head.len());
    let mut out = format!("{}/{}", &head[..authority_end], db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&server_url("postgres"), NoTls)
        .await
        .expect("connect to the test PostgreSQL server");
    tokio::spawn(conn);
    client
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// How long a test database is kept before a later test process drops it.
pub const KEEP: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

const PREFIX: &str = "layers_test_";

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether the test database `name` (`layers_test_<unix seconds>_<uuid>`) was made more than
/// [`KEEP`] before `now`; a name without a time (an older layout) counts as old.
fn is_stale(name: &str, now: u64) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    match rest
        .split_once('_')
        .and_then(|(t, _)| t.parse::<u64>().ok())
    {
        Some(made) => now.saturating_sub(made) > KEEP.as_secs(),
        None => true,
    }
}

/// Drops the stale test databases of earlier runs; one still in use stays (the drop fails).
async fn sweep(client: &tokio_postgres::Client) {
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'layers\\_test\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    let now = now_secs();
    for row in rows {
        let name: String = row.get(0);
        if is_stale(&name, now) {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .await;
        }
    }
}

async fn template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("layers_tpl_{:016x}", migrations_fingerprint());
            let client = admin().await;
            client
                .execute("SELECT pg_advisory_lock(7357)", &[])
                .await
                .expect("lock the template");
            let exists = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .expect("look up the template")
                .is_some();
            if !exists {
                let building = format!("{name}_building");
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))
                    .await
                    .expect("drop a half-built template");
                client
                    .batch_execute(&format!("CREATE DATABASE {building}"))
                    .await
                    .expect("create the template");
                migrate(&server_url(&building))
                    .await
                    .expect("migrate the template");
                client
                    .batch_execute(&format!(
                        "ALTER DATABASE {building} RENAME TO {name}; \
                         ALTER DATABASE {name} IS_TEMPLATE true"
                    ))
                    .await
                    .expect("publish the template");
            }
            sweep(&client).await;
            client
                .execute("SELECT pg_advisory_unlock(7357)", &[])
                .await
                .expect("unlock the template");
            name
        })
        .await
}

/// Creates a fresh, migrated database and returns it with a pool of `pool_size` connections.
pub async fn fresh_database_with_pool(pool_size: usize) -> TestDatabase {
    let template = template().await;
    let name = format!("{PREFIX}{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
    admin()
        .await
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .await
        .expect("clone the template database");
    let url = server_url(&name);
    let pool = pool(&url, pool_size).expect("build the test pool");
    TestDatabase { url, name, pool }
}

/// Creates a fresh, migrated database with a small pool.
pub async fn fresh_database() -> TestDatabase {
    fresh_database_with_pool(4).await
}

#[cfg(test)]
mod tests {
    use super::{is_stale, with_database, KEEP};

    #[test]
    fn only_old_test_databases_are_stale() {
        let now = 1_800_000_000;
        let keep = KEEP.as_secs();
        assert!(!is_stale(&format!("layers_test_{now}_abc"), now));
        assert!(!is_stale(&format!("layers_test_{}_abc", now - keep), now));
        assert!(is_stale(
            &format!("layers_test_{}_abc", now - keep - 1),
            now
        ));
        // the older layout, without a time
        assert!(is_stale(
            "layers_test_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f",
            now
        ));
        // not a test database
        assert!(!is_stale("layers_tpl_0123", now));
        assert!(!is_stale("layers_dev", now));
    }

    #[test]
    fn replaces_only_the_database_part() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/postgres?sslmode=disable", "x"),
            "postgres://u@127.0.0.1:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:1", "x"), "postgres://u@h:1/x");
    }
}
