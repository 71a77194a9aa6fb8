//! The per-request environment: one set of domain implementations for live, one for sandbox,
//! built at start-up. The auth middleware picks the set that matches the key; handlers receive
//! it as [`Env`] and call it, never asking which one they got.
//!
//! A later domain plugs in by adding its `Live…`/`Sandbox…` pair as a field here; neither the
//! middleware nor existing handlers change.

use std::future::{ready, Ready};
use std::ops::Deref;
use std::sync::Arc;

use actix_web::{FromRequest, HttpMessage, HttpRequest};
use layers_core::{EnvKind, Environment};
use layers_projects::Projects;

use crate::config::Settings;
use crate::error::ApiError;

/// Everything whose behaviour depends on live vs sandbox, for one of the two.
#[derive(Debug)]
pub struct EnvServices {
    kind: EnvKind,
    pub projects: Projects,
}

impl EnvServices {
    fn new(kind: EnvKind, _settings: &Settings) -> EnvServices {
        EnvServices {
            kind,
            projects: Projects::new(kind),
        }
    }
}

impl Environment for EnvServices {
    fn kind(&self) -> EnvKind {
        self.kind
    }
}

/// Both sets, built once.
#[derive(Debug, Clone)]
pub struct Environments {
    live: Arc<EnvServices>,
    sandbox: Arc<EnvServices>,
}

impl Environments {
    pub fn new(settings: &Settings) -> Environments {
        Environments {
            live: Arc::new(EnvServices::new(EnvKind::Live, settings)),
            sandbox: Arc::new(EnvServices::new(EnvKind::Sandbox, settings)),
        }
    }

    pub fn get(&self, kind: EnvKind) -> Env {
        Env(match kind {
            EnvKind::Live => self.live.clone(),
            EnvKind::Sandbox => self.sandbox.clone(),
        })
    }
}

/// The environment chosen for this request by its key.
#[derive(Debug, Clone)]
pub struct Env(Arc<EnvServices>);

impl Deref for Env {
    type Target = EnvServices;
    fn deref(&self) -> &EnvServices {
        &self.0
    }
}

impl FromRequest for Env {
    type Error = ApiError;
    type Future = Ready<Result<Env, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(req.extensions().get::<Env>().cloned().ok_or_else(|| {
            ApiError::internal("route outside the authenticated scope asked for Env")
        }))
    }
}
