//! Social accounts (CONTRACT §11 "Social accounts", §8): OAuth states, the sandbox's
//! server-side completion, and the accounts a project connects.
//!
//! ```
//! use layers_social::{sandbox_platform_user_id, Platform};
//!
//! let id = sandbox_platform_user_id(Platform::Instagram, uuid::Uuid::nil(), "state-token");
//! assert!(id.starts_with("sb_instagram_00000000_"));
//! assert_eq!(id.len(), "sb_instagram_00000000_".len() + 8);
//! ```
//!
//! A state is minted per `oauth-url` call and stored by the SHA-256 of its token (the token
//! itself lives only in the URL handed to the partner), with a PKCE verifier and a 15-minute
//! expiry. In the sandbox the completion is a plain GET of the URL the API handed out: it
//! writes the account (`platform_user_id = sb_<platform>_<keyId-prefix>_<stateHash>`, vault
//! token the sentinel `sandbox_token`), fires `social_account.connected`, and a replay answers
//! the same account without writing anything.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use layers_core::{EnvKind, Limit, Page};
use layers_db::GenericClient;
use layers_orgs::OrgId;
use layers_webhooks::EventType;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

mod command;
mod live;
mod oauth;
mod store;

pub use command::{ConnectError, SocialEnv, StartConnect};
pub use layers_platforms::NotConfigured;
pub use live::{
    mark_needs_reauth, mark_needs_reauth_at, Callback, CallbackError, Refresh, TokenError, Vault,
    REFRESH,
};
pub use oauth::{OAuth, SandboxConsent};
pub use store::{accounts_of_org, clock_connected_before, delete_sandbox, stamp_clock_connected};

layers_core::prefixed_id!(
    /// A connected social account (`sa_…`).
    SocialAccountId,
    "sa"
);

/// How long a state may be completed.
pub const STATE_LIFETIME: Duration = Duration::minutes(15);

/// The vault token of every sandbox account: no path ever uses it.
pub const SANDBOX_TOKEN: &str = "sandbox_token";

pub use layers_platforms::Platform;

/// Where an account stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    NeedsReauth,
    Disconnected,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::NeedsReauth => "needs_reauth",
            AccountStatus::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<AccountStatus> {
        Some(match s {
            "active" => AccountStatus::Active,
            "needs_reauth" => AccountStatus::NeedsReauth,
            "disconnected" => AccountStatus::Disconnected,
            _ => return None,
        })
    }
}

/// A connected account, the same shape in both environments.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    pub id: SocialAccountId,
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub env: EnvKind,
    pub platform: Platform,
    pub platform_user_id: String,
    pub handle: String,
    pub status: AccountStatus,
    pub connected_at: DateTime<Utc>,
    /// Connected with the ads consent (`oauth-url {ads: true}`): it may reach an ad account.
    pub ads: bool,
}

/// What a state is minted for: the connection a key starts.
#[derive(Clone, Copy, Debug)]
pub struct StateFor<'a> {
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub api_key_id: uuid::Uuid,
    pub platform: Platform,
    pub redirect_uri: Option<&'a str>,
    /// Ask for the ads consent too.
    pub ads: bool,
}

/// A minted state: the token goes into the partner's URL.
#[derive(Clone, Debug, PartialEq)]
pub struct MintedState {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The PKCE verifier (live authorize URLs carry its S256 challenge).
    pub code_verifier: String,
    /// Whether it asks for the ads consent.
    pub ads: bool,
}

/// What went wrong with social accounts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An unknown or expired state.
    #[error("no such state, or it has expired: start again with a new oauth-url")]
    UnknownState,
    /// A state minted in the other environment (named here).
    #[error("the state was minted with a {0} key")]
    EnvironmentMismatch(EnvKind),
    /// The completion names another platform than the state's.
    #[error("the state was minted for {0}")]
    WrongPlatform(&'static str),
    #[error("no such social account")]
    NotFound,
    /// Read in one environment, the account exists in the other one.
    #[error("the account exists only in {0}")]
    InOtherEnvironment(EnvKind),
    /// A change in one environment naming an account of the other one.
    #[error("the account belongs to {0}")]
    AccountEnvironmentMismatch(EnvKind),
    #[error("no database connection: {0}")]
    Unavailable(String),
    #[error("stored social data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Events(#[from] layers_webhooks::StoreError),
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `sb_<platform>_<keyId-prefix>_<stateHash>` (CONTRACT §8): the key's UUID's first 8
/// characters without hyphens, and the first 8 hex characters of the SHA-256 of the state token.
pub fn sandbox_platform_user_id(platform: Platform, api_key_id: uuid::Uuid, state: &str) -> String {
    let key_prefix: String = api_key_id.simple().to_string().chars().take(8).collect();
    let hash = hex(digest(&SHA256, state.as_bytes()).as_ref());
    format!("sb_{}_{key_prefix}_{}", platform.as_str(), &hash[..8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn state_hash(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

/// 32 random bytes from the CSPRNG, base64url without padding.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system CSPRNG failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()))
}

/// Social operations for one environment.
#[derive(Clone, Copy, Debug)]
pub struct Social {
    env: EnvKind,
}

impl layers_core::Environment for Social {
    fn kind(&self) -> EnvKind {
        self.env
    }
}

impl Social {
    pub fn new(env: EnvKind) -> Social {
        Social { env }
    }

    /// Mints a state for connecting `s.platform` to a project of this environment.
    pub async fn mint_state(
        &self,
        db: &impl GenericClient,
        s: &StateFor<'_>,
    ) -> Result<MintedState> {
        let StateFor {
            organization_id: org,
            project_id,
            api_key_id,
            platform,
            redirect_uri,
            ads,
        } = *s;
        let token = random_token();
        let code_verifier = random_token();
        let expires_at = store::insert_state(
            db,
            &store::NewState {
                hash: &state_hash(&token),
                organization_id: org,
                project_id,
                api_key_id,
                env: self.env,
                platform,
                redirect_uri,
                code_verifier: &code_verifier,
                lifetime: STATE_LIFETIME,
                ads,
            },
        )
        .await?;
        Ok(MintedState {
            token,
            expires_at,
            code_verifier,
            ads,
        })
    }

    /// Lists a project's accounts of this environment, newest first.
    pub async fn list(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project_id: uuid::Uuid,
        limit: Limit,
        after: Option<SocialAccountId>,
    ) -> Result<Page<Account, SocialAccountId>> {
        let fetch = i64::from(limit.get()) + 1;
        let items = store::list(db, org, project_id, self.env, after, fetch).await?;
        Ok(Page::from_overfetch(items, limit, |a: &Account| a.id))
    }

    /// Disconnects one of the project's accounts of this environment (again: no change), and
    /// fires `social_account.disconnected` the first time.
    pub async fn disconnect(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project_id: uuid::Uuid,
        id: SocialAccountId,
    ) -> Result<Account> {
        let found = store::lock_account(db, org, project_id, id)
            .await?
            .ok_or(Error::NotFound)?;
        if found.env != self.env {
            return Err(Error::AccountEnvironmentMismatch(found.env));
        }
        if found.status == AccountStatus::Disconnected {
            return Ok(found);
        }
        let gone = store::disconnect(db, id).await?;
        announce(db, &gone, EventType::SocialAccountDisconnected).await?;
        Ok(gone)
    }
}

impl Social {
    /// Expires one of the organization's accounts of this environment (the test helper
    /// `expire`, CONTRACT §12): an active account becomes `needs_reauth` and fires
    /// `social_account.needs_reauth`, as an expired token would ([`mark_needs_reauth`]); an
    /// account already `needs_reauth` or `disconnected` is answered as it is. An account of the
    /// other environment is [`Error::NotFound`], as one that does not exist.
    pub async fn expire(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: SocialAccountId,
    ) -> Result<Account> {
        let found = store::lock_account_of_org(db, org, id)
            .await?
            .filter(|a| a.env == self.env)
            .ok_or(Error::NotFound)?;
        Ok(mark_needs_reauth(db, id).await?.unwrap_or(found))
    }
}

/// Whether the key that minted a state may still act: neither revoked nor killed since (a
/// state is only as good as its key).
pub(crate) async fn key_may_act(db: &impl GenericClient, api_key_id: uuid::Uuid) -> Result<bool> {
    match layers_keys::store::get(db, api_key_id).await {
        Ok(key) => Ok(key.state() == layers_keys::store::KeyState::Active),
        Err(layers_keys::store::Error::NotFound) => Ok(false),
        Err(layers_keys::store::Error::Db(e)) => Err(Error::Db(e)),
        Err(e) => Err(Error::Corrupt(format!(
            "could not read the state's key: {e}"
        ))),
    }
}

/// How a sandbox state was completed.
#[derive(Debug, Clone, PartialEq)]
pub enum SandboxCompleted {
    /// The account connected (or connected before: a replay).
    Connected(Account),
    /// The user declined (`outcome=access_denied`): no account, the state spent, and where to
    /// send the browser back with `error`, if oauth-url was given a `redirectUri`.
    Denied {
        error: &'static str,
        redirect_uri: Option<String>,
    },
}

/// Completes a sandbox state with no browser and no platform, as `consent` says: granted, it
/// writes the account and fires `social_account.connected`, in the caller's transaction; a
/// replay answers the same account and writes nothing. Denied, it writes no account and spends
/// the state, as a live callback does when the user declines. An unknown or expired state is
/// [`Error::UnknownState`], a live key's state [`Error::EnvironmentMismatch`].
pub async fn complete_sandbox(
    db: &impl GenericClient,
    token: &str,
    platform: &str,
    consent: SandboxConsent,
) -> Result<SandboxCompleted> {
    let hash = state_hash(token);
    let found = store::state(db, &hash, true)
        .await?
        .ok_or(Error::UnknownState)?;
    let minted_for = found.platform;
    let live = found.unexpired && key_may_act(db, found.api_key_id).await?;
    // only a sandbox state completes here
    if !found.is_sandbox {
        return Err(Error::EnvironmentMismatch(EnvKind::from_sandbox(
            found.is_sandbox,
        )));
    }
    // good for its 15 minutes, while the key that minted it may still act (replays too)
    if !live {
        return Err(Error::UnknownState);
    }
    if let Some(id) = found.social_account_id {
        // a replay: the same account, nothing written
        return store::account_by_id(db, id)
            .await
            .map(SandboxCompleted::Connected);
    }
    if platform != minted_for.as_str() {
        return Err(Error::WrongPlatform(minted_for.as_str()));
    }
    if let Some(error) = consent.declined() {
        // the state is spent: a denial cannot be completed later
        store::expire_state(db, &hash).await?;
        return Ok(SandboxCompleted::Denied {
            error,
            redirect_uri: found.redirect_uri,
        });
    }
    let connected = store::insert_sandbox_account(
        db,
        &store::NewSandboxAccount {
            id: SocialAccountId::new(),
            organization_id: found.organization_id,
            project_id: found.project_id,
            platform: minted_for,
            platform_user_id: &sandbox_platform_user_id(minted_for, found.api_key_id, token),
            handle: &format!("sandbox_{}", minted_for.as_str()),
            token: SANDBOX_TOKEN.as_bytes(),
            state_hash: &hash,
        },
    )
    .await?;
    announce(db, &connected, EventType::SocialAccountConnected).await?;
    Ok(SandboxCompleted::Connected(connected))
}

/// The `data` of `social_account.connected` and `social_account.disconnected` (CONTRACT §10).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountEvent<'a> {
    social_account_id: String,
    project_id: String,
    platform: &'static str,
    handle: &'a str,
}

pub(crate) async fn announce(
    db: &impl GenericClient,
    a: &Account,
    event_type: EventType,
) -> Result<()> {
    announce_at(db, a, event_type, None).await
}

/// [`announce`], the envelope's `createdAt` at `at` if given.
pub(crate) async fn announce_at(
    db: &impl GenericClient,
    a: &Account,
    event_type: EventType,
    at: Option<DateTime<Utc>>,
) -> Result<()> {
    let data = serde_json::to_value(AccountEvent {
        social_account_id: a.id.to_string(),
        project_id: format!("proj_{}", a.project_id.simple()),
        platform: a.platform.as_str(),
        handle: &a.handle,
    })
    .expect("an event of strings serializes");
    layers_webhooks::emit_at(db, a.organization_id, a.env, event_type, data, at).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_ids_follow_the_contract() {
        let key = uuid::Uuid::parse_str("b3ac7561-422e-4c71-bf35-ed103dc68928").unwrap();
        let id = sandbox_platform_user_id(Platform::Tiktok, key, "abc");
        // SHA-256("abc") = ba7816bf…
        assert_eq!(id, "sb_tiktok_b3ac7561_ba7816bf");
    }

    #[test]
    fn pkce_challenge_matches_rfc_7636() {
        // RFC 7636, appendix B
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
