//! The server: `Application::build(settings)` binds and wires everything, `port()` tells where
//! it listens (port 0 picks one), `run_until_stopped()` serves until SIGTERM or Ctrl-C and then
//! drains in-flight requests.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use std::sync::Arc;
use std::time::Duration;

use layers_db::Pool;
use layers_keys::KeyCache;
use layers_limits::Limiter;

use crate::auth_failures::FailedAuth;
use crate::config::Settings;
use crate::env::Environments;
use crate::middleware::{envelope, BODY_LIMIT};
use crate::tx::transact;
use crate::{auth, routes};

/// Shared by every request. Its `Debug` shows no secret (the database URL's password is
/// redacted in [`Settings`]' own `Debug`).
#[derive(Debug)]
pub struct AppState {
    pub pool: Pool,
    pub settings: Settings,
    pub environments: Environments,
    /// Key lookups, invalidated by LISTEN/NOTIFY.
    pub keys: Arc<KeyCache>,
    /// Rate limits and monthly quotas.
    pub limiter: Arc<Limiter>,
    /// Failed authentications per client address.
    pub auth_failures: FailedAuth,
    /// Live media: its storage and the signer of its URLs.
    pub media: routes::media::Media,
    /// What stored idempotent answers are sealed under (the master key), if there is one.
    pub answers_key: Option<layers_webhooks::MasterKey>,
}

/// A bound, not yet running server.
#[allow(missing_debug_implementations)] // actix's Server has no Debug
pub struct Application {
    port: u16,
    server: Server,
    /// This process's job and delivery workers (none with `LAYERS_JOB_CONCURRENCY=0`).
    workers: Workers,
}

/// The background work of one process: job workers and webhook deliveries, both sized by
/// `LAYERS_JOB_CONCURRENCY` (0 runs neither).
#[derive(Debug)]
pub struct Workers {
    jobs: Option<layers_jobs::WorkerHandle>,
    deliveries: Option<layers_webhooks::DelivererHandle>,
}

impl Workers {
    /// Starts the job workers (with the same services as the handlers, chosen by job row) and,
    /// when a master key is set, the webhook deliveries.
    pub fn spawn(
        environments: &Environments,
        pool: &Pool,
        settings: &Settings,
    ) -> Result<Workers, StartError> {
        let jobs = environments
            .worker(
                pool.clone(),
                settings.database_url.clone(),
                worker_config(settings),
            )
            .spawn();
        let deliveries = match &settings.master_key {
            Some(key) => layers_webhooks::Deliverer::new(
                pool.clone(),
                settings.database_url.clone(),
                Arc::new(layers_webhooks::MasterKey::from_bytes(key.0)),
                delivery_config(settings),
            )
            .map_err(layers_env::Error::from)?
            .spawn(),
            None => {
                tracing::warn!("LAYERS_MASTER_KEY is not set: no webhook endpoints can be created and no deliveries are made");
                None
            }
        };
        Ok(Workers { jobs, deliveries })
    }

    /// Stops claiming work and lets what is in flight finish within `grace`.
    pub async fn shutdown(self, grace: Duration) {
        let jobs = async {
            if let Some(jobs) = self.jobs {
                jobs.shutdown(grace).await;
            }
        };
        let deliveries = async {
            if let Some(deliveries) = self.deliveries {
                deliveries.shutdown(grace).await;
            }
        };
        tokio::join!(jobs, deliveries);
    }

    /// Stops at once.
    pub fn abort(&self) {
        if let Some(jobs) = &self.jobs {
            jobs.abort();
        }
        if let Some(deliveries) = &self.deliveries {
            deliveries.abort();
        }
    }
}

/// The webhook delivery worker's settings: an attempt's lease outlasts its timeout twice over.
/// An attempt mostly waits on its receiver, so each job slot (`LAYERS_JOB_CONCURRENCY`) gives
/// eight deliveries in flight; one endpoint may hold an eighth of them and one organization a
/// quarter, so that slow receivers never hold every sender.
pub fn delivery_config(settings: &Settings) -> layers_webhooks::DeliveryConfig {
    let concurrency = settings.job_concurrency.saturating_mul(8);
    layers_webhooks::DeliveryConfig {
        concurrency,
        per_endpoint: (concurrency / 8).max(1),
        per_organization: (concurrency / 4).max(1),
        schedule: settings.webhook_retry_schedule.clone(),
        timeout: settings.webhook_timeout,
        lease: settings.webhook_timeout * 2 + Duration::from_secs(2),
        allow_private_network: settings.allow_private_network,
        ..layers_webhooks::DeliveryConfig::default()
    }
}

/// The job workers' settings.
pub fn worker_config(settings: &Settings) -> layers_jobs::WorkerConfig {
    layers_jobs::WorkerConfig {
        concurrency: settings.job_concurrency,
        ..layers_jobs::WorkerConfig::default()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Db(#[from] layers_db::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Environments(#[from] layers_env::Error),
}

/// Registers every route on an `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // before the `/v1` scope, so that `/v1/openapi.json` answers without a key
    cfg.configure(routes::docs::config);
    // before the authenticated `/v1` scope: the state is the credential
    cfg.configure(routes::social::public_config);
    cfg.configure(routes::content::fixtures_config);
    cfg.configure(routes::media::config);
    cfg.configure(routes::uploads::put_config);
    cfg.configure(routes::health::config).service(
        web::scope("/v1")
            // the last wrap runs first: authentication, then the write's transaction (with its
            // idempotency key)
            .wrap(from_fn(transact))
            .wrap(from_fn(auth::authenticate))
            .configure(routes::whoami::config)
            .configure(routes::projects::config)
            .configure(routes::influencers::config)
            .configure(routes::jobs::config)
            .configure(routes::credits::config)
            .configure(routes::ingest::config)
            .configure(routes::webhooks::config)
            // before content's `…/content/{format}`, which would take `…/content/upload`
            .configure(routes::social::config)
            .configure(routes::publishing::config)
            .configure(routes::metrics::config)
            .configure(routes::ads::config)
            .configure(routes::uploads::config)
            .configure(routes::content::config)
            .configure(routes::test_helpers::config)
            .configure(routes::test_clocks::config),
    );
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartError> {
        let pool = layers_db::pool(&settings.database_url, settings.db_pool_size)?;
        let listener = TcpListener::bind(settings.bind).map_err(|source| StartError::Bind {
            addr: settings.bind,
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: settings.bind,
                source,
            })?
            .port();
        let http_workers = settings.workers;
        let keys = KeyCache::new(KEY_CACHE_TTL);
        keys.spawn_listener(settings.database_url.clone());
        tokio::spawn(maintain(pool.clone()));
        let env_settings = settings.environments()?;
        let media = routes::media::Media {
            storage: env_settings.storage.clone(),
            signer: settings
                .master_key
                .as_ref()
                .map(|k| layers_storage::UrlSigner::new(&k.0)),
        };
        let environments = Environments::new(&env_settings)?;
        let workers = Workers::spawn(&environments, &pool, &settings)?;
        let state = web::Data::new(AppState {
            answers_key: settings
                .master_key
                .as_ref()
                .map(|k| layers_webhooks::MasterKey::from_bytes(k.0)),
            media,
            auth_failures: FailedAuth::new(settings.auth_failures_per_min),
            limiter: Limiter::with_max_batch(pool.clone(), settings.rate_limit_max_batch),
            keys,
            pool,
            environments,
            settings,
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .wrap(from_fn(envelope))
                .configure(configure)
                .default_service(web::to(routes::not_found))
        })
        .workers(http_workers)
        .shutdown_timeout(10)
        .disable_signals()
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: ([127, 0, 0, 1], port).into(),
            source,
        })?
        .run();
        Ok(Application {
            port,
            server,
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or Ctrl-C, then stops accepting and drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown_signal().await;
        tracing::info!("shutting down: draining in-flight requests");
        handle.stop(true).await;
        // attempts in flight get the same grace as requests; one cut short is picked up again
        // once its lease passes
        self.workers.shutdown(Duration::from_secs(10)).await;
        server.await.map_err(std::io::Error::other)?
    }

    /// Serves until dropped (tests spawn this).
    pub async fn run(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.workers.abort();
        served
    }
}

/// How long a cached key lookup (or a known-unknown key id) may live even without a
/// notification: the last line of defence should notifications stop without the heartbeat
/// noticing.
const KEY_CACHE_TTL: Duration = Duration::from_secs(3);

/// How often expired idempotency keys and idle rate-limit buckets are deleted.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(300);

/// Deletes expired idempotency keys and idle rate-limit buckets, every few minutes.
async fn maintain(pool: Pool) {
    let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
    loop {
        tick.tick().await;
        let Ok(db) = pool.get().await else { continue };
        match layers_idempotency::purge_expired(&db).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "purged expired idempotency keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
        }
        if let Err(e) = layers_limits::purge_idle_buckets(&db).await {
            tracing::warn!(error = %e, "could not purge idle rate-limit buckets");
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_state_shows_no_secret_in_debug_output() {
        let url = "postgres://layers:hunter2@127.0.0.1:1/layers";
        let settings = Settings::from_lookup(|name| match name {
            "DATABASE_URL" => Some(url.into()),
            // base64 of "SECRETSECRETSECRETSECRETSECRET12"
            "LAYERS_MASTER_KEY" => Some("U0VDUkVUU0VDUkVUU0VDUkVUU0VDUkVUU0VDUkVUMTI=".into()),
            _ => None,
        })
        .unwrap();
        // building the pool connects lazily: nothing here needs the (unreachable) database
        let pool = layers_db::pool(&settings.database_url, 1).unwrap();
        let state = AppState {
            answers_key: None,
            limiter: Limiter::new(pool.clone()),
            keys: KeyCache::new(KEY_CACHE_TTL),
            auth_failures: FailedAuth::new(60),
            environments: Environments::new(&settings.environments().unwrap()).unwrap(),
            media: routes::media::Media {
                storage: settings.environments().unwrap().storage,
                signer: Some(layers_storage::UrlSigner::new(&[7; 32])),
            },
            pool,
            settings,
        };
        let shown = format!("{state:?} {state:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("U0VDUkVU"), "{shown}");
    }
}
