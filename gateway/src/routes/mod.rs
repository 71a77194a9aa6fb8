//! One module per resource: request and response types, handlers and `config`.
//!
//! A route is declared once, by its handler's `#[utoipa::path]` (method, path and
//! documentation). `config` hands each handler with that declaration to [`Routes::route`],
//! which serves it at the declared method and path and records it for the OpenAPI document,
//! with the security its extractors demand ([`Secured`]: a handler taking
//! `Authorized<ContentWrite>` needs a key with `content:write`; one taking no `Authorized` is
//! public). [`registered()`] lists what the app serves; `crate::openapi` builds the document's
//! paths from the same records.

pub mod ads;
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
pub mod test_clocks;
pub mod test_helpers;
pub mod uploads;
pub mod webhooks;
pub mod whoami;

use std::cell::RefCell;

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpRequest, Responder};
use layers_keys::Scope;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{RefOr, Schema};

use crate::auth::{Authorized, RequiredScope};
use crate::env::Env;
use crate::error::ApiError;
use crate::extract::{Json, ListParams};
use crate::tx::{Deferred, Tx};

/// Where the authenticated API is mounted (`web::scope` in [`crate::app::configure`]).
pub const V1: &str = "/v1";

/// One operation the app serves, as the document describes it.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // utoipa's types have no Debug without its `debug` feature
pub struct Registered {
    pub method: HttpMethod,
    /// The document's template (`/v1/projects/{projectId}`).
    pub path: String,
    /// The handler's `#[utoipa::path]`, with the security its extractors demand.
    pub operation: Operation,
    /// The schemas its body and answers refer to.
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

/// A route's declaration: what `#[utoipa::path]` generates for a handler (`__path_<handler>`).
/// The `__dev` traits are utoipa's own interface for registering declared paths at run time
/// (utoipa-axum and utoipa-actix-web use them).
pub trait Declared:
    utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>
{
}

impl<P> Declared for P where
    P: utoipa::Path + utoipa::__dev::SchemaReferences + for<'t> utoipa::__dev::Tags<'t>
{
}

/// Registers a module's routes with actix, grouped by path (one actix resource per path, so
/// that a method no route of the path serves answers 405), in the order first named.
#[allow(missing_debug_implementations)] // actix's ServiceConfig has no Debug
pub struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    prefix: &'static str,
    resources: Vec<(String, actix_web::Resource)>,
}

impl<'a> Routes<'a> {
    /// Routes mounted at `prefix` ([`V1`] or `""`): the declared paths start with it.
    pub fn new(cfg: &'a mut web::ServiceConfig, prefix: &'static str) -> Routes<'a> {
        Routes {
            cfg,
            prefix,
            resources: Vec::new(),
        }
    }

    /// Serves `handler` at the method and path its `#[utoipa::path]` declares (`doc`, the
    /// `__path_<handler>` value the attribute generates).
    pub fn route<P, F, Args>(self, doc: P, handler: F) -> Routes<'a>
    where
        P: Declared,
        F: Handler<Args>,
        Args: FromRequest + Secured + 'static,
        F::Output: Responder + 'static,
    {
        let path = P::path();
        self.route_at(&path, doc, handler)
    }

    /// As [`Routes::route`], at an actix `pattern` whose segments carry a pattern of their own
    /// (`/media/{key:.*}`, whose template `/media/{key}` is the declared path).
    pub fn route_at<P, F, Args>(mut self, pattern: &str, _doc: P, handler: F) -> Routes<'a>
    where
        P: Declared,
        F: Handler<Args>,
        Args: FromRequest + Secured + 'static,
        F::Output: Responder + 'static,
    {
        let declared = P::path();
        assert_eq!(
            template(pattern),
            declared,
            "a route is served where its #[utoipa::path] says"
        );
        let local = pattern
            .strip_prefix(self.prefix)
            .unwrap_or_else(|| panic!("{pattern} is declared outside {}", self.prefix))
            .to_owned();
        let at = match self.resources.iter().position(|(p, _)| *p == local) {
            Some(at) => at,
            None => {
                self.resources.push((local.clone(), web::resource(local)));
                self.resources.len() - 1
            }
        };
        for method in P::methods() {
            let (path, resource) = self.resources.remove(at);
            let route = web::method(actix_method(&method)).to(handler.clone());
            self.resources.insert(at, (path, resource.route(route)));
            record::<P, Args>(method, &declared);
        }
        self
    }

    /// Serves `HEAD` at `pattern` (routed for `GET` already) with the GET's `handler`: actix
    /// answers a `HEAD` with the head of that answer and no body. The document describes it
    /// beside the GET, not as an operation of its own.
    pub fn head_too<F, Args>(mut self, pattern: &str, handler: F) -> Routes<'a>
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let local = pattern.strip_prefix(self.prefix).unwrap_or(pattern);
        let at = self
            .resources
            .iter()
            .position(|(p, _)| p == local)
            .unwrap_or_else(|| panic!("HEAD {pattern} follows its GET's route"));
        let (path, resource) = self.resources.remove(at);
        let resource = resource.route(web::head().to(handler));
        self.resources.insert(at, (path, resource));
        self
    }
}

impl Drop for Routes<'_> {
    fn drop(&mut self) {
        for (_, resource) in self.resources.drain(..) {
            self.cfg.service(resource);
        }
    }
}

fn actix_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// Records one operation while [`operations`] builds an app on this thread.
fn record<P, Args>(method: HttpMethod, path: &str)
where
    P: Declared,
    Args: Secured,
{
    RECORDING.with(|recording| {
        if let Some(list) = recording.borrow_mut().as_mut() {
            let mut operation = P::operation();
            let tags = <P as utoipa::__dev::Tags>::tags();
            if !tags.is_empty() {
                let listed = operation.tags.get_or_insert_with(Vec::new);
                listed.extend(tags.into_iter().map(str::to_owned));
            }
            operation.security = Some(match Args::security() {
                None => Vec::new(),
                Some(scope) => {
                    let scopes: Vec<String> = scope.iter().map(ToString::to_string).collect();
                    vec![
                        SecurityRequirement::new("bearer", scopes.clone()),
                        SecurityRequirement::new("apiKey", scopes),
                    ]
                }
            });
            let mut schemas = Vec::new();
            <P as utoipa::__dev::SchemaReferences>::schemas(&mut schemas);
            list.push(Registered {
                method,
                path: path.to_owned(),
                operation,
                schemas,
            });
        }
    });
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

/// What a handler's extractors demand of the caller's key, for the document: `None` for a
/// public route, `Some(None)` for any key, `Some(Some(scope))` for a key holding `scope`. Only
/// [`Authorized`] demands anything.
pub trait Secured {
    fn security() -> Option<Option<Scope>> {
        None
    }
}

impl<S: RequiredScope> Secured for Authorized<S> {
    fn security() -> Option<Option<Scope>> {
        Some(S::SCOPE)
    }
}

macro_rules! demands_nothing {
    ($($ty:ty),* $(,)?) => {$( impl Secured for $ty {} )*};
}

demands_nothing!(Env, Tx, Deferred, ListParams, HttpRequest, web::Payload);

impl<T> Secured for web::Path<T> {}
impl<T> Secured for web::Query<T> {}
impl<T: ?Sized> Secured for web::Data<T> {}
impl<T> Secured for Json<T> {}

macro_rules! tuples {
    ($($name:ident)*) => {
        impl<$($name: Secured),*> Secured for ($($name,)*) {
            fn security() -> Option<Option<Scope>> {
                None$(.or_else($name::security))*
            }
        }
    };
}

tuples!();
tuples!(A);
tuples!(A B);
tuples!(A B C);
tuples!(A B C D);
tuples!(A B C D E);
tuples!(A B C D E F);
tuples!(A B C D E F G);

thread_local! {
    /// `Some` while [`operations`] builds an app on this thread.
    static RECORDING: RefCell<Option<Vec<Registered>>> = const { RefCell::new(None) };
}

/// Every operation the app serves, as registered by [`crate::app::configure`], in registration
/// order.
pub fn operations() -> Vec<Registered> {
    RECORDING.with(|r| *r.borrow_mut() = Some(Vec::new()));
    // `configure` runs at once; the app is never started.
    let _app = actix_web::App::new().configure(crate::app::configure);
    RECORDING
        .with(|r| r.borrow_mut().take())
        .unwrap_or_default()
}

/// Every (method, path template) the app serves (`("GET", "/v1/projects/{projectId}")`),
/// sorted.
pub fn registered() -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = operations()
        .into_iter()
        .map(|r| (actix_method(&r.method).as_str().to_owned(), r.path))
        .collect();
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
