//! The server: `Application::build(settings)` binds and wires everything, `port()` tells where
//! it listens (port 0 picks one), `run_until_stopped()` serves until SIGTERM or Ctrl-C and then
//! drains in-flight requests.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use layers_db::Pool;

use crate::config::Settings;
use crate::env::Environments;
use crate::middleware::{envelope, BODY_LIMIT};
use crate::{auth, routes};

/// Shared by every request.
#[derive(Debug)]
pub struct AppState {
    pub pool: Pool,
    pub settings: Settings,
    pub environments: Environments,
}

/// A bound, not yet running server.
#[allow(missing_debug_implementations)] // actix's Server has no Debug
pub struct Application {
    port: u16,
    server: Server,
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
}

/// Registers every route on an `App`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(routes::health::config).service(
        web::scope("/v1")
            .wrap(from_fn(auth::authenticate))
            .configure(routes::whoami::config)
            .configure(routes::projects::config)
            .configure(routes::influencers::config),
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
        let workers = settings.workers;
        let state = web::Data::new(AppState {
            pool,
            environments: Environments::new(&settings),
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
        .workers(workers)
        .shutdown_timeout(10)
        .disable_signals()
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: ([127, 0, 0, 1], port).into(),
            source,
        })?
        .run();
        Ok(Application { port, server })
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
        server.await.map_err(std::io::Error::other)?
    }

    /// Serves until dropped (tests spawn this).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn shutdown_signal() {
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
