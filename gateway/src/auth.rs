//! Authentication, in one place: the middleware reads the key, resolves it to organization,
//! environment, scopes and tier, applies CONTRACT §1's outcomes in order, and hands the handler
//! a [`Principal`] and an [`Env`](crate::env::Env). Handlers get the principal only through
//! [`Authorized`], which checks the route's scope, so no handler can forget it.

use std::future::{ready, Ready};
use std::marker::PhantomData;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use layers_core::EnvKind;
use layers_keys::{store, ApiKey, ApiKeyId, Denied, Scope, Scopes, Tier};
use layers_orgs::OrgId;
use serde_json::json;

use crate::app::AppState;
use crate::error::{ApiError, Code};

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
}

/// The key presented in `Authorization: Bearer …` or `X-Api-Key`.
fn presented_key(headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let unauthenticated = |msg: &str| ApiError::new(Code::Unauthenticated, msg);
    let raw = if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| unauthenticated("Authorization header is not valid text"))?;
        match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                token.trim().to_owned()
            }
            _ => {
                return Err(unauthenticated(
                    "Authorization header must read Bearer <API key>",
                ))
            }
        }
    } else if let Some(value) = headers.get("x-api-key") {
        value
            .to_str()
            .map_err(|_| unauthenticated("X-Api-Key header is not valid text"))?
            .trim()
            .to_owned()
    } else {
        return Err(unauthenticated(
            "missing API key: send Authorization: Bearer <API key> or X-Api-Key: <API key>",
        ));
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

/// Resolves the presented key to a principal, applying 401 → 503 → 402 in that order.
async fn resolve(state: &AppState, key: &ApiKey) -> Result<Principal, ApiError> {
    let db = state.pool.get().await?;
    let resolved = store::resolve(&db, key.key_id())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| denied(Denied::Unauthenticated))?;
    resolved.admit(key).map_err(denied)?;
    let record = resolved.record;
    Ok(Principal {
        organization_id: record.organization_id,
        api_key_id: record.id,
        env: record.env,
        tier: record.tier.effective(record.env),
        scopes: record.scopes,
        monthly_quota: resolved.monthly_quota,
    })
}

/// The authentication middleware for everything under `/v1`.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state is missing"))?;
    let key = presented_key(req.headers())?;
    let principal = resolve(&state, &key).await?;
    let env = state.environments.get(principal.env);
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(env);
    next.call(req).await
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
