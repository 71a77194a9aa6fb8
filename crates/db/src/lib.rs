//! PostgreSQL plumbing shared by every domain crate: the connection pool, the embedded
//! migrations from `migrations/`, and (with the `testing` feature) throwaway test databases.
//!
//! ```no_run
//! # async fn run() -> Result<(), layers_db::Error> {
//! let url = "postgres://postgres@127.0.0.1:5432/layers";
//! layers_db::migrate(url).await?; // under an advisory lock: safe from several processes
//! let pool = layers_db::pool(url, 16)?; // connections open lazily, every step bounded
//! let db = pool.get().await?;
//! let one: i32 = layers_db::cached::query_one(&db, "SELECT 1", &[]).await?.get(0);
//! assert_eq!(one, 1);
//! # Ok(()) }
//! ```

use std::str::FromStr;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use thiserror::Error;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

pub use deadpool_postgres::{GenericClient, Object as Client, Pool, PoolError};
pub use tokio_postgres;

#[cfg(feature = "testing")]
pub mod testing;

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// Errors from the database layer.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid database url: {0}")]
    Url(#[source] tokio_postgres::Error),
    #[error("could not build the connection pool: {0}")]
    Pool(String),
    #[error("could not get a database connection: {0}")]
    Checkout(#[from] deadpool_postgres::PoolError),
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] refinery::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long any step of getting a connection may take.
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Builds a pool of at most `max_size` connections. Connections are opened lazily.
pub fn pool(database_url: &str, max_size: usize) -> Result<Pool> {
    let mut config = tokio_postgres::Config::from_str(database_url).map_err(Error::Url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(TIMEOUT);
    }
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            // The connections are only ever used by this process's own code, which never leaves
            // a session in a changed state, so a cheap liveness check is enough.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    // A database that does not answer makes requests fail after a few seconds instead of
    // hanging: waiting for a free connection, opening one and checking one are all bounded.
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(TIMEOUT))
        .create_timeout(Some(TIMEOUT))
        .recycle_timeout(Some(TIMEOUT))
        .build()
        .map_err(|e| Error::Pool(e.to_string()))
}

/// Applies pending migrations, holding an advisory lock so that several processes starting at
/// once apply them one after the other. Returns the names of the migrations applied now.
pub async fn migrate(database_url: &str) -> Result<Vec<String>> {
    let (mut client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .map_err(Error::Postgres)?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "migration connection closed with an error");
        }
    });
    const LOCK: i64 = 0x6c61_7965_7273; // "layers"
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK])
        .await?;
    let report = embedded::migrations::runner()
        .set_abort_divergent(true)
        .run_async(&mut client)
        .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK])
        .await?;
    drop(client);
    let _ = driver.await;
    let applied = report?
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect();
    Ok(applied)
}

/// The embedded migrations this database has not applied yet (`V4__…`), oldest first.
pub async fn pending_migrations(database_url: &str) -> Result<Vec<String>> {
    let (client, connection) = tokio_postgres::connect(database_url, tokio_postgres::NoTls)
        .await
        .map_err(Error::Postgres)?;
    let driver = tokio::spawn(connection);
    let applied: Vec<i32> = match client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await?
        .get::<_, bool>(0)
    {
        true => client
            .query("SELECT version FROM refinery_schema_history", &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect(),
        false => Vec::new(),
    };
    drop(client);
    let _ = driver.await;
    let mut pending: Vec<_> = embedded::migrations::runner()
        .get_migrations()
        .iter()
        .filter(|m| !applied.contains(&(m.version() as i32)))
        .map(|m| (m.version(), m.to_string()))
        .collect();
    pending.sort();
    Ok(pending.into_iter().map(|(_, name)| name).collect())
}

/// A fingerprint of the embedded migrations: changes whenever a migration is added or edited.
pub fn migrations_fingerprint() -> u64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |acc, m| {
            (acc ^ m.checksum()).wrapping_mul(0x0100_0000_01b3)
        })
}

/// `true` when `err` (or anything in its cause chain) says the database could not be reached or
/// the connection died under the caller: refused or timed-out connects, a connection the server
/// closed or killed (a restart), SQLSTATE class 08 and the shutdown codes 57P01–57P03, or no
/// pooled connection within the pool's wait. A caller answers such an error "unavailable, retry
/// later", not "internal error".
pub fn is_unreachable(err: &(dyn std::error::Error + 'static)) -> bool {
    fn postgres(e: &tokio_postgres::Error) -> bool {
        e.is_closed()
            || e.code().is_some_and(|c| {
                c.code().starts_with("08") || matches!(c.code(), "57P01" | "57P02" | "57P03")
            })
            || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
    }
    fn pool(e: &PoolError) -> bool {
        match e {
            PoolError::Backend(e) => postgres(e),
            PoolError::Timeout(_) | PoolError::Closed => true,
            _ => false,
        }
    }
    let mut next = Some(err);
    while let Some(e) = next {
        let found = e
            .downcast_ref::<tokio_postgres::Error>()
            .is_some_and(postgres)
            || e.downcast_ref::<Arc<tokio_postgres::Error>>()
                .is_some_and(|e| postgres(e))
            || e.downcast_ref::<PoolError>().is_some_and(pool)
            || e.downcast_ref::<Arc<PoolError>>().is_some_and(|e| pool(e))
            || e.is::<std::io::Error>();
        if found {
            return true;
        }
        next = e.source();
    }
    false
}

/// Drops the pool's idle connections (those in use are dropped when they come back broken):
/// after a connection turned out dead, the others to the same server are likely dead too, and
/// the next checkouts should open fresh ones rather than find out one by one.
pub fn forget_idle(pool: &Pool) {
    pool.retain(|_, _| false);
}

/// Whether the database answers: a connection from `pool` and a trivial statement on it (what a
/// readiness probe asks). Bound it with a timeout of your own; the pool's bounds apply to the
/// checkout.
pub async fn ping(pool: &Pool) -> Result<()> {
    let db = pool.get().await?;
    db.simple_query("SELECT 1").await?;
    Ok(())
}

/// Whether `err`'s chain holds a foreign-key violation (SQLSTATE 23503): a row the statement
/// referred to was deleted by another transaction after this one read it (a sandbox reset
/// deleting a project while a request writes into it), so the request's referent is gone.
pub fn is_foreign_key_violation(err: &(dyn std::error::Error + 'static)) -> bool {
    use tokio_postgres::error::{DbError, SqlState};
    let fk = |e: &tokio_postgres::Error| e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION);
    let mut next = Some(err);
    while let Some(e) = next {
        // (an error wrapping tokio-postgres's `transparent`ly shows its `DbError` only)
        if e.downcast_ref::<tokio_postgres::Error>().is_some_and(fk)
            || e.downcast_ref::<Arc<tokio_postgres::Error>>()
                .is_some_and(|e| fk(e))
            || e.downcast_ref::<DbError>()
                .is_some_and(|e| e.code() == &SqlState::FOREIGN_KEY_VIOLATION)
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// `true` when the error is a unique-constraint violation (SQLSTATE 23505).
pub fn is_unique_violation(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

/// Wakes `wake` on every notification of `channel` (and once as soon as it listens, for what
/// came before), reconnecting a second after the connection drops. Runs until aborted; a worker
/// that polls as well loses nothing while it is away.
pub async fn listen(database_url: String, channel: &'static str, wake: Arc<Notify>) {
    loop {
        let attempt = async {
            let (client, mut connection) =
                tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let driver = tokio::spawn(async move {
                while let Some(message) =
                    std::future::poll_fn(|cx| connection.poll_message(cx)).await
                {
                    match message {
                        Ok(AsyncMessage::Notification(_)) => {
                            if tx.send(()).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            });
            client
                .batch_execute(&format!("LISTEN {channel}"))
                .await
                .map_err(|e| e.to_string())?;
            wake.notify_one();
            while rx.recv().await.is_some() {
                wake.notify_one();
            }
            driver.abort();
            Err::<(), String>("the listening connection closed".into())
        };
        if let Err(e) = attempt.await {
            tracing::warn!(channel, error = %e, "listener stopped; polling until it is back");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Statements through each connection's prepared-statement cache: a statement is parsed and
/// planned once per connection instead of once per call, and each call costs one round trip.
pub mod cached {
    use deadpool_postgres::GenericClient;
    use tokio_postgres::types::ToSql;
    use tokio_postgres::{Error, Row};

    pub async fn query(
        db: &impl GenericClient,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let statement = db.prepare_cached(sql).await?;
        db.query(&statement, params).await
    }

    pub async fn query_one(
        db: &impl GenericClient,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        let statement = db.prepare_cached(sql).await?;
        db.query_one(&statement, params).await
    }

    pub async fn query_opt(
        db: &impl GenericClient,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let statement = db.prepare_cached(sql).await?;
        db.query_opt(&statement, params).await
    }

    pub async fn execute(
        db: &impl GenericClient,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        let statement = db.prepare_cached(sql).await?;
        db.execute(&statement, params).await
    }

    /// Prepares `statements` into the cache (the missing ones in one pipelined round trip, none
    /// when all are cached). Call it before pipelining statements that depend on one another:
    /// a call whose statement is cached sends its execution at once, while one that must first
    /// be prepared sends it a round trip later, so an insert can overtake the insert of the row
    /// it refers to. With every statement cached, executions leave in the order they are polled.
    pub async fn prepare_all(db: &impl GenericClient, statements: &[&str]) -> Result<(), Error> {
        futures_util::future::try_join_all(statements.iter().map(|sql| db.prepare_cached(sql)))
            .await?;
        Ok(())
    }
}
