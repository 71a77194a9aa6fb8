//! Authentication, in one place: the middleware reads the key, resolves it to organization,
//! environment, scopes and tier, applies CONTRACT §1's outcomes in order, and hands the handler
//! a [`Principal`] and an [`Env`](crate::env::Env). Handlers get the principal only through
//! [`Authorized`], which checks the route's scope, so no handler can forget it.

use std::future::{ready, Ready};
use std::marker::PhantomData;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::FutureExt as _;
use layers_core::EnvKind;
use layers_keys::cache::Lookup;
use layers_keys::{store, ApiKey, ApiKeyId, Denied, ResolvedKey, Scope, Scopes, Tier};
use layers_limits::{Decision, Policy};
use layers_orgs::OrgId;
use serde_json::json;

use crate::app::AppState;
use crate::error::{ApiError, Code};
use crate::middleware::panic_message;

/// Who is calling: resolved from the key by the middleware.
#[derive(Clone, Debug)]
pub struct Principal {
    pub organization_id: OrgId,
    pub api_key_id: ApiKeyId,
    pub env: EnvKind,
    pub scopes: Scopes,
    /// The tier requests are limited by (test keys: always `pilot`).
    pub tier: Tier,
    pub monthly_quota: Option<i64>,
    /// The organization's calls this UTC month, this request included.
    pub monthly_usage: i64,
}

/// Method and route template of the request (`POST /v1/projects/{projectId}/archive`): the
/// unit of rate limits and idempotency keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    /// `false` for a path no route knows (it answers 404 after authentication).
    pub matched: bool,
}

impl Endpoint {
    /// Names the endpoint from the same decoded path the router matches (`/v1/%70rojects` is
    /// `/v1/projects` to both), so that no spelling of a path escapes its bucket or its
    /// idempotency keys. Methods no route uses share one name, so made-up methods cannot mint
    /// buckets.
    fn of(req: &ServiceRequest) -> Endpoint {
        let pattern = req.resource_map().match_pattern(req.match_info().as_str());
        let method = match *req.method() {
            Method::GET
            | Method::HEAD
            | Method::POST
            | Method::PUT
            | Method::PATCH
            | Method::DELETE
            | Method::OPTIONS => req.method().as_str(),
            _ => "<other method>",
        };
        Endpoint {
            matched: pattern.is_some(),
            name: format!("{method} {}", pattern.as_deref().unwrap_or("<unmatched>")),
        }
    }
}

/// The key presented in `Authorization: Bearer …` or `X-Api-Key`. Ambiguous credentials are
/// refused rather than guessed at: a repeated credential header, or both headers carrying
/// different keys.
fn presented_key(headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let unauthenticated = |msg: &str| ApiError::new(Code::Unauthenticated, msg);
    let single = |name: HeaderName, shown: &str| match headers.get_all(&name).count() {
        0 => Ok(None),
        1 => Ok(headers.get(&name)),
        _ => Err(unauthenticated(&format!(
            "send the {shown} header once: several credentials are ambiguous"
        ))),
    };
    let bearer = single(AUTHORIZATION, "Authorization")?
        .map(|value| {
            let value = value
                .to_str()
                .map_err(|_| unauthenticated("Authorization header is not valid text"))?;
            match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Ok(token.trim().to_owned())
                }
                _ => Err(unauthenticated(
                    "Authorization header must read Bearer <API key>",
                )),
            }
        })
        .transpose()?;
    let header = single(HeaderName::from_static("x-api-key"), "X-Api-Key")?
        .map(|value| {
            value
                .to_str()
                .map(|v| v.trim().to_owned())
                .map_err(|_| unauthenticated("X-Api-Key header is not valid text"))
        })
        .transpose()?;
    let raw = match (bearer, header) {
        (Some(a), Some(b)) if a != b => {
            return Err(unauthenticated(
                "Authorization and X-Api-Key carry different keys: send one key",
            ))
        }
        (Some(key), _) | (None, Some(key)) => key,
        (None, None) => {
            return Err(unauthenticated(
                "missing API key: send Authorization: Bearer <API key> or X-Api-Key: <API key>",
            ))
        }
    };
    ApiKey::parse(&raw).map_err(|e| unauthenticated(&e.to_string()))
}

fn denied(d: Denied) -> ApiError {
    match d {
        Denied::Unauthenticated => ApiError::new(
            Code::Unauthenticated,
            "the API key is unknown, revoked or wrong; check it or mint a new one",
        ),
        Denied::Killed => ApiError::new(
            Code::KillSwitch,
            "this API key has been disabled by its kill switch; contact your Layers admin",
        ),
        Denied::PaymentRequired => ApiError::new(
            Code::PaymentRequired,
            "the organization's plan does not include API access; ask Layers to move it to a partner plan",
        ),
    }
}

fn too_many_failures(retry_after_secs: u64) -> ApiError {
    ApiError::new(
        Code::RateLimited,
        format!(
            "too many failed authentications from this address; retry in {retry_after_secs} s with a valid key"
        ),
    )
    .with_details(json!({ "retryAfterSeconds": retry_after_secs }))
    .with_header(RETRY_AFTER, HeaderValue::from(retry_after_secs))
}

/// Resolves the presented key, from the cache when it can, and applies 401 → 503 → 402 in
/// that order. Every 401 counts against the client's address; an address out of failures gets
/// 429 for any key id this process has not recently seen resolve to a key.
async fn resolve(
    state: &AppState,
    headers: &HeaderMap,
    addr: Option<IpAddr>,
) -> Result<Arc<ResolvedKey>, ApiError> {
    let failed = |e: ApiError| {
        state.auth_failures.record(addr);
        e
    };
    let blocked = || state.auth_failures.blocked(addr).map(too_many_failures);
    let key = match presented_key(headers) {
        Ok(key) => key,
        Err(e) => return Err(blocked().unwrap_or_else(|| failed(e))),
    };
    let resolved = match state.keys.lookup(key.key_id()) {
        Lookup::Found(hit) => hit,
        Lookup::Unknown => {
            return Err(blocked().unwrap_or_else(|| failed(denied(Denied::Unauthenticated))))
        }
        Lookup::Miss => {
            if !state.keys.recently_valid(key.key_id()) {
                if let Some(e) = blocked() {
                    return Err(e);
                }
            }
            let generation = state.keys.generation();
            let found = read_key(state, &key).await?;
            let Some(found) = found else {
                state.keys.insert_unknown(key.key_id(), generation);
                return Err(failed(denied(Denied::Unauthenticated)));
            };
            let found = Arc::new(found);
            state.keys.insert(found.clone(), generation);
            found
        }
    };
    match resolved.admit(&key) {
        Ok(()) => Ok(resolved),
        Err(Denied::Unauthenticated) => Err(failed(denied(Denied::Unauthenticated))),
        Err(d) => Err(denied(d)),
    }
}

/// The key's row, read once more on a fresh connection if the pooled one turns out dead (the
/// database restarted: the pool's other idle connections are dropped too).
async fn read_key(state: &AppState, key: &ApiKey) -> Result<Option<ResolvedKey>, ApiError> {
    let once = || async {
        let db = state.pool.get().await?;
        store::resolve(&db, key.key_id())
            .await
            .map_err(ApiError::internal)
    };
    match once().await {
        Err(e) if e.is_unreachable() => {
            layers_db::forget_idle(&state.pool);
            once().await
        }
        done => done,
    }
}

fn rate_headers(limit: u32, remaining: u32, reset_secs: u64) -> [(HeaderName, HeaderValue); 3] {
    [
        (
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderValue::from(limit),
        ),
        (
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderValue::from(remaining),
        ),
        (
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderValue::from(reset_secs),
        ),
    ]
}

/// Applies the rate limit (429 `RATE_LIMITED`) and the monthly quota (429 `QUOTA_EXCEEDED`).
/// Returns this month's usage and the rate-limit headers for the response.
async fn admit(
    state: &AppState,
    resolved: &ResolvedKey,
    tier: Tier,
    endpoint: &Endpoint,
) -> Result<(i64, [(HeaderName, HeaderValue); 3]), ApiError> {
    let record = &resolved.record;
    let per_minute = state
        .settings
        .rate_limit_standard_per_min
        .saturating_mul(tier.multiplier());
    let decision = state
        .limiter
        .admit(layers_limits::Request {
            api_key_id: record.id,
            endpoint: endpoint.name.clone(),
            organization_id: record.organization_id,
            policy: Policy::per_minute(per_minute),
            monthly_quota: resolved.monthly_quota,
        })
        .await
        .map_err(ApiError::internal)?;
    match decision {
        Decision::Admitted(a) => Ok((
            a.monthly_usage,
            rate_headers(a.limit, a.remaining, a.reset_secs),
        )),
        Decision::RateLimited(t) => {
            let mut err = ApiError::new(
                Code::RateLimited,
                format!(
                    "rate limit of {} requests per minute reached for this key on {}; retry in {} s",
                    t.limit, endpoint.name, t.retry_after_secs
                ),
            )
            .with_details(json!({ "retryAfterSeconds": t.retry_after_secs }))
            .with_header(RETRY_AFTER, HeaderValue::from(t.retry_after_secs));
            for (name, value) in rate_headers(t.limit, 0, t.reset_secs) {
                err = err.with_header(name, value);
            }
            Err(err)
        }
        Decision::QuotaExceeded {
            limit,
            remaining,
            reset_secs,
            quota,
            retry_after_secs,
        } => {
            let mut err = ApiError::new(
                Code::QuotaExceeded,
                format!("the organization's monthly quota of {quota} API calls is used up until the next UTC month"),
            )
            .with_details(json!({ "monthlyQuota": quota, "retryAfterSeconds": retry_after_secs }))
            .with_header(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            for (name, value) in rate_headers(limit, remaining, reset_secs) {
                err = err.with_header(name, value);
            }
            Err(err)
        }
    }
}

/// The authentication middleware for everything under `/v1`: 401, 503, 402, then 429 (rate),
/// 429 (quota); the scope (403) is checked by [`Authorized`] in the handler.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state is missing"))?;
    let addr = req.peer_addr().map(|a| a.ip());
    let resolved = resolve(&state, req.headers(), addr).await?;
    let endpoint = Endpoint::of(&req);
    let record = &resolved.record;
    let tier = record.tier.effective(record.env);
    let (monthly_usage, headers) = admit(&state, &resolved, tier, &endpoint).await?;
    let principal = Principal {
        organization_id: record.organization_id,
        api_key_id: record.id,
        env: record.env,
        tier,
        scopes: record.scopes.clone(),
        monthly_quota: resolved.monthly_quota,
        monthly_usage,
    };
    let env = crate::env::Env(state.environments.get(principal.env));
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(env);
    req.extensions_mut().insert(endpoint);
    // Every answer after authentication carries the rate-limit headers, errors included (a
    // panic becomes its 500 here, so that it carries them too).
    let outcome = match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(ApiError::internal(format!(
            "handler panicked: {}",
            panic_message(panic.as_ref())
        ))
        .into()),
    };
    match outcome {
        Ok(mut res) => {
            for (name, value) in headers {
                res.headers_mut().insert(name, value);
            }
            Ok(res.map_into_boxed_body())
        }
        Err(err) => {
            let mut res = err.error_response();
            for (name, value) in headers {
                res.headers_mut().insert(name, value);
            }
            Err(InternalError::from_response("request failed", res).into())
        }
    }
}

/// A scope requirement, as a type: `Authorized<ProjectsWrite>`.
pub trait RequiredScope: 'static {
    /// `None` for routes every key may call (`whoami`).
    const SCOPE: Option<Scope>;
}

macro_rules! required_scopes {
    ($($name:ident => $area:ident : $access:ident),* $(,)?) => {$(
        #[doc = concat!("Requires `", stringify!($area), ":", stringify!($access), "`.")]
        #[derive(Debug)]
        pub struct $name;
        impl RequiredScope for $name {
            const SCOPE: Option<Scope> =
                Some(Scope::new(layers_keys::Area::$area, layers_keys::Access::$access));
        }
    )*};
}

required_scopes! {
    ProjectsRead => Projects: Read,
    ProjectsWrite => Projects: Write,
    JobsRead => Jobs: Read,
    JobsWrite => Jobs: Write,
    CreditsRead => Credits: Read,
    CreditsWrite => Credits: Write,
    IngestWrite => Ingest: Write,
    ContentRead => Content: Read,
    ContentWrite => Content: Write,
    SocialRead => Social: Read,
    SocialWrite => Social: Write,
    PublishingRead => Publishing: Read,
    PublishingWrite => Publishing: Write,
    MetricsRead => Metrics: Read,
    WebhooksRead => Webhooks: Read,
    WebhooksWrite => Webhooks: Write,
    AdsRead => Ads: Read,
    AdsWrite => Ads: Write,
}

/// No scope needed.
#[derive(Debug)]
pub struct AnyScope;
impl RequiredScope for AnyScope {
    const SCOPE: Option<Scope> = None;
}

/// The principal of a request whose key holds scope `S` (403 `FORBIDDEN_SCOPE` otherwise).
#[derive(Debug)]
pub struct Authorized<S: RequiredScope> {
    pub principal: Principal,
    _scope: PhantomData<S>,
}

impl<S: RequiredScope> std::ops::Deref for Authorized<S> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<S: RequiredScope> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let principal = req.extensions().get::<Principal>().cloned();
        ready(match principal {
            None => Err(ApiError::internal(
                "route outside the authenticated scope asked for a principal",
            )),
            Some(p) => match S::SCOPE {
                Some(scope) if !p.scopes.allows(scope) => Err(ApiError::new(
                    Code::ForbiddenScope,
                    format!("this API key lacks the {scope} scope"),
                )
                .with_details(json!({ "requiredScope": scope.to_string() }))),
                _ => Ok(Authorized {
                    principal: p,
                    _scope: PhantomData,
                }),
            },
        })
    }
}
