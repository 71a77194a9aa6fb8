//! One module per resource: request and response types, handlers (each with its
//! `#[utoipa::path]`) and `config`, which registers them through [`Routes`] so that
//! [`registered()`] can list every route the app serves.

pub mod content;
pub mod credits;
pub mod docs;
pub mod health;
pub mod influencers;
pub mod ingest;
pub mod jobs;
pub mod media;
pub mod metrics;
pub mod projects;
pub mod publishing;
pub mod social;
pub mod uploads;
pub mod webhooks;
pub mod whoami;

use std::cell::RefCell;

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, Responder};

use crate::error::ApiError;

/// Where the authenticated API is mounted (`web::scope` in [`crate::app::configure`]).
pub const V1: &str = "/v1";

/// Registers a module's routes with actix and records each (method, path template), so that a
/// test can hold the list against the OpenAPI document.
///
/// `prefix` is where the module's `config` is mounted ([`V1`] or `""`); paths are actix
/// templates, which are also the document's (`/projects/{projectId}`).
#[allow(missing_debug_implementations)] // actix's ServiceConfig has no Debug
pub struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    prefix: &'static str,
}

impl<'a> Routes<'a> {
    pub fn new(cfg: &'a mut web::ServiceConfig, prefix: &'static str) -> Routes<'a> {
        Routes { cfg, prefix }
    }

    /// One path and its methods: `.resource("/projects", |r| r.get(list).post(create))`.
    pub fn resource(self, path: &str, build: impl FnOnce(Resource) -> Resource) -> Routes<'a> {
        let resource = build(Resource {
            inner: web::resource(path),
            methods: Vec::new(),
        });
        RECORDING.with(|recording| {
            if let Some(list) = recording.borrow_mut().as_mut() {
                list.extend(resource.methods.iter().map(|m| {
                    (
                        m.as_str().to_owned(),
                        format!("{}{}", self.prefix, template(path)),
                    )
                }));
            }
        });
        self.cfg.service(resource.inner);
        self
    }
}

/// A path as the document names it: `{path:.*}` (a segment with its pattern) is `{path}`.
fn template(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut skipping = false;
    for c in path.chars() {
        match c {
            ':' if out.ends_with(|p: char| p.is_alphanumeric() || p == '_')
                && out.rfind('{') > out.rfind('}') =>
            {
                skipping = true
            }
            '}' => {
                skipping = false;
                out.push(c);
            }
            _ if skipping => {}
            _ => out.push(c),
        }
    }
    out
}

/// The routes of one path, one per method.
#[allow(missing_debug_implementations)] // actix's Resource has no Debug
pub struct Resource {
    inner: actix_web::Resource,
    methods: Vec<Method>,
}

macro_rules! methods {
    ($($name:ident => $method:ident),*) => {$(
        pub fn $name<F, Args>(self, handler: F) -> Resource
        where
            F: Handler<Args>,
            Args: FromRequest + 'static,
            F::Output: Responder + 'static,
        {
            self.route(Method::$method, handler)
        }
    )*};
}

impl Resource {
    methods!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

    fn route<F, Args>(mut self, method: Method, handler: F) -> Resource
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.inner = self.inner.route(web::method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }
}

thread_local! {
    /// `Some` while [`registered`] builds an app on this thread.
    static RECORDING: RefCell<Option<Vec<(String, String)>>> = const { RefCell::new(None) };
}

/// Every (method, path template) the app serves, as registered by [`crate::app::configure`]
/// (`("GET", "/v1/projects/{projectId}")`), sorted.
pub fn registered() -> Vec<(String, String)> {
    RECORDING.with(|r| *r.borrow_mut() = Some(Vec::new()));
    // `configure` runs at once; the app is never started.
    let _app = actix_web::App::new().configure(crate::app::configure);
    let mut list = RECORDING
        .with(|r| r.borrow_mut().take())
        .unwrap_or_default();
    list.sort();
    list
}

/// The answer for a path no route knows.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::for_status(
        actix_web::http::StatusCode::NOT_FOUND,
        req.method().as_str(),
        req.path(),
    ))
}
