//! The per-request environment: the gateway hands a handler the [`EnvServices`] set of
//! `layers-env` that matches the request's key (chosen once, by the auth middleware). Handlers
//! receive it as [`Env`] and call it, never asking which one they got; job workers get their sets
//! from the same [`Environments`], by the job row's `is_sandbox`.

use std::future::{ready, Ready};
use std::ops::Deref;
use std::sync::Arc;

use actix_web::{FromRequest, HttpMessage, HttpRequest};

pub use layers_env::{EnvServices, Environments};

use crate::error::ApiError;

/// The environment chosen for this request by its key.
#[derive(Debug, Clone)]
pub struct Env(pub Arc<EnvServices>);

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
