//! Social accounts (CONTRACT §11 "Social accounts"): `POST …/social/oauth-url`, the sandbox's
//! `GET /v1/social/sandbox-complete` and the live `GET /v1/social/callback` (neither takes a
//! key: the state is the credential), list and disconnect.

use actix_web::{web, HttpResponse};
use layers_projects::ProjectId;
use layers_social::{
    Account, Callback, Platform, SandboxCompleted, SandboxConsent, SocialAccountId, StartConnect,
};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{Authorized, SocialRead, SocialWrite};
use crate::env::Env;
use crate::error::{quote, ApiError, Code};
use crate::extract::{path_id, Json, ListParams};
use crate::tx::Tx;
use crate::wire::{time, List};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OauthUrlRequest {
    /// `instagram`, `tiktok`, `youtube`, or `tiktok_business` (TikTok for Business: an
    /// advertiser's grant, which links a TikTok ad account and publishes no posts).
    #[schema(value_type = crate::openapi::SocialPlatform, example = "instagram")]
    platform: String,
    /// Instagram only: ask for the ads permission too (`ads_management`, `ads_read`), so that
    /// the account can link a Meta ad account (CONTRACT §13).
    #[serde(default)]
    ads: bool,
    /// Where the live callback sends the browser once connected: an `https` URL (`http` only to
    /// localhost), without credentials or a fragment, at most 2048 characters.
    #[schema(example = "https://example.com/connected", max_length = 2048)]
    redirect_uri: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OauthUrl)]
struct OauthUrlBody {
    /// Send the user here (a test key's URL completes the connection with a plain GET).
    url: String,
    state: String,
    #[schema(format = DateTime, example = "2026-05-08T12:15:00.000Z")]
    expires_at: String,
}

/// A connected account, the same shape in both environments.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SocialAccount)]
pub(super) struct AccountBody {
    #[schema(example = "sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(example = "instagram")]
    platform: &'static str,
    #[schema(example = "sandbox_instagram")]
    handle: String,
    /// `active`, `needs_reauth` or `disconnected`.
    #[schema(example = "active")]
    status: &'static str,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    connected_at: String,
}

impl From<Account> for AccountBody {
    fn from(a: Account) -> Self {
        AccountBody {
            id: a.id.to_string(),
            platform: a.platform.as_str(),
            handle: a.handle,
            status: a.status.as_str(),
            connected_at: time(a.connected_at),
        }
    }
}

/// The answer of a sandbox completion.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SandboxConnection)]
struct CompletedBody {
    state: String,
    #[schema(example = "completed")]
    status: &'static str,
    #[schema(example = "sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    social_account_id: String,
    #[schema(example = "instagram")]
    platform: &'static str,
    #[schema(example = "sandbox_instagram")]
    handle: String,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    connected_at: String,
    sandbox: bool,
}

fn platform_of(raw: &str) -> Result<Platform, ApiError> {
    Platform::parse(raw).ok_or_else(|| {
        ApiError::validation(
            "platform",
            format!(
                "platform must be instagram, tiktok, youtube or tiktok_business, got {}",
                quote(raw)
            ),
        )
    })
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/social/oauth-url",
    tag = "Social",
    operation_id = "createOauthUrl",
    summary = "Start connecting a social account",
    description = "Mints a state, valid 15 minutes, and answers the URL to send the user to. A \
        test key's URL is the API's own `sandbox-complete`: a plain GET connects a sandbox \
        account, no browser needed. A live key's URL is the platform's consent page (PKCE \
        S256), which sends the browser back to `/v1/social/callback`.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = OauthUrlRequest,
    responses(
        (status = 200, description = "The URL and its state", body = OauthUrlBody),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the project belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
        (status = 503, description = "`PLATFORM_NOT_CONFIGURED`: live, the platform's app \
            credentials are not set (the message names the variables)", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn oauth_url(
    state: web::Data<AppState>,
    auth: Authorized<SocialWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<OauthUrlRequest>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    let platform = platform_of(&body.platform)?;
    if let Some(uri) = &body.redirect_uri {
        check_redirect_uri(uri)?;
    }
    if body.ads && platform != layers_social::Platform::Instagram {
        return Err(ApiError::validation(
            "ads",
            "ads asks Instagram for the ads permission; a tiktok_business account is an \
             advertiser's grant already",
        ));
    }
    let command = StartConnect {
        organization_id: auth.organization_id,
        api_key_id: auth.api_key_id,
        project_id: project,
        platform,
        redirect_uri: body.redirect_uri,
        public_base_url: state.settings.public_base_url.clone(),
        ads: body.ads,
    };
    let (url, minted) = env.social_env().start_connect(&*tx, command).await?;
    Ok(HttpResponse::Ok().json(OauthUrlBody {
        url,
        state: minted.token,
        expires_at: time(minted.expires_at),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CompleteQuery {
    /// The state the oauth-url answer carried.
    state: String,
    /// The platform it was minted for.
    #[param(value_type = crate::openapi::SocialPlatform)]
    platform: String,
    /// What the user does on the sandbox consent page: `connected` (the default) connects the
    /// account; `access_denied` is the user pressing "Cancel" (CONTRACT §12): no account, the
    /// state is spent, and the answer is the live callback's for a declined consent (400
    /// `VALIDATION_ERROR` reason `access_denied`, or a 302 to the `redirectUri` with
    /// `error=access_denied` and `state`).
    #[param(value_type = Option<crate::openapi::ConnectOutcome>, inline, example = "access_denied")]
    outcome: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/social/sandbox-complete",
    tag = "Social",
    operation_id = "completeSandboxConnection",
    summary = "Complete a sandbox connection",
    description = "What a test key's oauth-url points at: connects a sandbox account \
        (`handle` `sandbox_<platform>`) and fires `social_account.connected`. No API key: the \
        state is the credential. A replay answers the same body and writes nothing.",
    params(CompleteQuery),
    responses(
        (status = 200, description = "Connected", body = CompletedBody),
        (status = 302, description = "Declined (`outcome=access_denied`): back to the `redirectUri` with `error=access_denied`"),
        (status = 400, description = "`VALIDATION_ERROR`: the user declined (`outcome=access_denied`, reason \
            `access_denied`), or an unknown `outcome`", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such state, or it expired", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the state was minted by a live key", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn sandbox_complete(
    state: web::Data<AppState>,
    query: web::Query<CompleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let consent = SandboxConsent::parse(query.outcome.as_deref()).ok_or_else(|| {
        ApiError::new(
            Code::ValidationError,
            "outcome must be connected or access_denied",
        )
        .with_details(serde_json::json!({ "field": "outcome" }))
    })?;
    let mut db = state.pool.get().await?;
    let tx = db.transaction().await?;
    let done = layers_social::complete_sandbox(&tx, &query.state, &query.platform, consent).await?;
    tx.commit().await?;
    match done {
        SandboxCompleted::Connected(account) => {
            Ok(HttpResponse::Ok().json(CompletedBody::new(query.state, account)))
        }
        SandboxCompleted::Denied {
            error,
            redirect_uri: Some(uri),
        } => Ok(redirect(&uri, &[("error", error), ("state", &query.state)])),
        SandboxCompleted::Denied { error, .. } => Err(declined(error, None)),
    }
}

/// 400 `VALIDATION_ERROR` (reason `access_denied`): the user declined the connection.
fn declined(error: &str, description: Option<String>) -> ApiError {
    ApiError::new(
        Code::ValidationError,
        format!(
            "the user declined the connection ({}{})",
            quote(error),
            description
                .map(|d| format!(": {}", quote(&d)))
                .unwrap_or_default()
        ),
    )
    .with_reason("access_denied")
    .with_details(serde_json::json!({ "field": "error" }))
}

impl CompletedBody {
    fn new(state: String, account: Account) -> CompletedBody {
        CompletedBody {
            state,
            status: "completed",
            social_account_id: account.id.to_string(),
            platform: account.platform.as_str(),
            sandbox: account.env.is_sandbox(),
            handle: account.handle,
            connected_at: time(account.connected_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CallbackQuery {
    /// The state the oauth-url answer carried, sent back by the platform.
    state: String,
    /// The authorization code (absent when the user declined).
    code: Option<String>,
    /// TikTok for Business sends its code as `auth_code` (beside `code`).
    auth_code: Option<String>,
    /// The platform's error when the user declined (`access_denied`).
    error: Option<String>,
    error_description: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/social/callback",
    tag = "Social",
    operation_id = "completeConnection",
    summary = "Finish a live connection",
    description = "Where the platform sends the browser back. Exchanges the code (with the \
        state's PKCE verifier), keeps the token encrypted, reads the profile, writes the account \
        and fires `social_account.connected`; then redirects (302) to the `redirectUri` given to \
        oauth-url, with `socialAccountId` and `state` added to its query (or `error` when the \
        user declined), else answers 200. No API key: the state is the credential. A replay of a \
        completed state answers the same account and calls no platform.",
    params(CallbackQuery),
    responses(
        (status = 200, description = "Connected", body = CompletedBody),
        (status = 302, description = "Connected (or declined): back to the `redirectUri`"),
        (status = 400, description = "`VALIDATION_ERROR`: the user declined (reason \
            `access_denied`), or the platform refused the code", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such state, or it expired", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the state was minted by a test key", body = crate::openapi::ErrorEnvelope),
        (status = 502, description = "`PLATFORM_ERROR`: the platform failed; start again", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn callback(
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let vault = state.environments.vault();
    let denied = query
        .error
        .clone()
        .map(|error| (error, query.error_description.clone()));
    let done = vault
        .complete(
            &state.pool,
            &query.state,
            query.code.as_deref().or(query.auth_code.as_deref()),
            denied,
        )
        .await?;
    match done {
        Callback::Connected {
            account,
            redirect_uri: Some(uri),
        } => Ok(redirect(
            &uri,
            &[
                ("socialAccountId", &account.id.to_string()),
                ("state", &query.state),
            ],
        )),
        Callback::Connected { account, .. } => {
            Ok(HttpResponse::Ok().json(CompletedBody::new(query.state, account)))
        }
        Callback::Denied {
            error,
            redirect_uri: Some(uri),
            ..
        } => Ok(redirect(
            &uri,
            &[("error", &error), ("state", &query.state)],
        )),
        Callback::Denied {
            error, description, ..
        } => Err(declined(&error, description)),
    }
}

/// Where a browser may be sent back to with an account id: an `https` URL (or `http` to this
/// machine, for local development), at most 2048 characters, with no credentials in it and no
/// fragment (which would swallow the parameters added to it).
fn check_redirect_uri(uri: &str) -> Result<(), ApiError> {
    let ok = uri.len() <= 2048
        && layers_outbound::Url::parse(uri).is_ok_and(|u| {
            let local = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            (u.scheme() == "https" || (u.scheme() == "http" && local))
                && u.host().is_some()
                && u.username().is_empty()
                && u.password().is_none()
                && u.fragment().is_none()
        });
    if ok {
        return Ok(());
    }
    Err(ApiError::validation(
        "redirectUri",
        "redirectUri must be an https URL (http only to localhost), without credentials or a \
         fragment, of at most 2048 characters",
    ))
}

/// 302 to `uri` with `pairs` added to its query.
fn redirect(uri: &str, pairs: &[(&str, &str)]) -> HttpResponse {
    let location = match layers_outbound::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        Err(_) => uri.to_owned(),
    };
    HttpResponse::Found()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/social/accounts",
    tag = "Social",
    operation_id = "listSocialAccounts",
    summary = "List a project's social accounts",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        crate::openapi::ListQuery,
    ),
    responses((status = 200, description = "A page of accounts", body = List<AccountBody>)),
)]
async fn list(
    state: web::Data<AppState>,
    auth: Authorized<SocialRead>,
    env: Env,
    path: web::Path<String>,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    let cursor = params.cursor(SocialAccountId::parse)?;
    let db = state.pool.get().await?;
    env.projects.get(&db, auth.organization_id, project).await?;
    let page = env
        .social
        .list(
            &db,
            auth.organization_id,
            project.as_uuid(),
            params.limit,
            cursor,
        )
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, AccountBody::from)))
}

#[utoipa::path(
    delete,
    path = "/v1/projects/{projectId}/social/accounts/{accountId}",
    tag = "Social",
    operation_id = "disconnectSocialAccount",
    summary = "Disconnect a social account",
    description = "Marks the account `disconnected` and fires `social_account.disconnected`; \
        disconnecting it again changes nothing.",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        ("accountId" = String, Path, description = "The account's id", example = "sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
    ),
    responses(
        (status = 200, description = "The account, disconnected", body = AccountBody),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the account belongs to the other \
            environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn disconnect(
    auth: Authorized<SocialWrite>,
    env: Env,
    path: web::Path<(String, String)>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let (project, account) = path.into_inner();
    let project = path_id(&project, "project", ProjectId::parse)?;
    let account = path_id(&account, "social account", SocialAccountId::parse)?;
    let gone = env
        .social
        .disconnect(&*tx, auth.organization_id, project.as_uuid(), account)
        .await?;
    Ok(HttpResponse::Ok().json(AccountBody::from(gone)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_oauth_url, oauth_url)
        .route(__path_list, list)
        .route(__path_disconnect, disconnect);
}

/// `GET /v1/social/sandbox-complete` and `GET /v1/social/callback`, registered before the
/// authenticated `/v1` scope (no key).
pub fn public_config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, "")
        .route(__path_sandbox_complete, sandbox_complete)
        .route(__path_callback, callback);
}
