//! Live connections: the platforms' authorize URLs, the callback that exchanges the code, and
//! the token vault that keeps tokens sealed under the master key and refreshes them before they
//! run out. Every platform call goes through [`layers_platforms::Clients`].

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use layers_core::EnvKind;
use layers_db::GenericClient;
use layers_jobs::{Failure, Job, JobId, NewJob};
use layers_orgs::OrgId;
use layers_platforms::{Clients, NotConfigured, PlatformError, Profile, Token};
use layers_webhooks::{EventType, MasterKey};

use crate::store::{self, account_by_id};
use crate::{announce, state_hash, Account, Error, Platform, Result, SocialAccountId};

/// The job kind that refreshes a live account's token before it runs out.
pub const REFRESH: &str = "social_token_refresh";

/// The payload of a [`REFRESH`] job: the account whose token it refreshes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refresh {
    pub account: String,
}

impl layers_jobs::Payload for Refresh {
    fn kind(&self) -> &'static str {
        REFRESH
    }
}

/// How long before its expiry a token is refreshed when it is used.
pub const REFRESH_MARGIN: Duration = Duration::minutes(10);

/// How long before its expiry the refresh job runs (at most: a shorter-lived token is refreshed
/// at half its life).
pub const REFRESH_AHEAD: Duration = Duration::days(1);

/// Live OAuth and the token vault: the platforms' clients and the master key.
#[derive(Clone)]
pub struct Vault {
    pub clients: Clients,
    master_key: Option<Arc<MasterKey>>,
    public_base_url: String,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("clients", &self.clients)
            .field("master_key", &self.master_key)
            .field("public_base_url", &self.public_base_url)
            .finish()
    }
}

/// Why a live account's token cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The account must be connected again (`needs_reauth` now, if it was not already).
    #[error("{0}")]
    NeedsReauth(String),
    /// Worth another try later (the platform or the network failed).
    #[error("{0}")]
    Transient(String),
    #[error(transparent)]
    Store(#[from] Error),
}

/// How a live callback ended, for the gateway to answer.
#[derive(Debug)]
pub enum Callback {
    /// Connected (or a replay of a completed state): the account, and where to send the
    /// browser if the partner gave a `redirectUri`.
    Connected {
        account: Account,
        redirect_uri: Option<String>,
    },
    /// The user said no on the platform's page (its `error` and `error_description`).
    Denied {
        error: String,
        description: Option<String>,
        redirect_uri: Option<String>,
    },
}

/// Why a callback failed.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error(transparent)]
    Store(#[from] Error),
    /// The platform refused the code (a bad or reused code), in its words.
    #[error("{platform} refused the authorization code: {message}")]
    CodeRefused {
        platform: &'static str,
        message: String,
    },
    /// The platform failed; the user may try connecting again.
    #[error("{platform} could not be reached to finish the connection: {message}")]
    Platform {
        platform: &'static str,
        message: String,
    },
    #[error(transparent)]
    NotConfigured(#[from] NotConfigured),
    /// The callback carries neither a code nor an error.
    #[error("the callback carries no code")]
    MissingCode,
}

impl Vault {
    pub fn new(
        clients: Clients,
        master_key: Option<Arc<MasterKey>>,
        public_base_url: impl Into<String>,
    ) -> Vault {
        Vault {
            clients,
            master_key,
            public_base_url: public_base_url.into(),
        }
    }

    /// Where the platforms send the browser back: `{LAYERS_PUBLIC_BASE_URL}/v1/social/callback`.
    pub fn callback_url(&self) -> String {
        format!("{}/v1/social/callback", self.public_base_url)
    }

    /// Refuses a platform whose app credentials, or the master key, are missing, naming the
    /// variables to set.
    pub fn ready(&self, platform: Platform) -> Result<(), NotConfigured> {
        if self.master_key.is_none() {
            return Err(NotConfigured {
                platform,
                variables: "LAYERS_MASTER_KEY (platform tokens are sealed under it)",
            });
        }
        self.clients.configured(platform)
    }

    /// The platform's authorize URL for `state` (PKCE S256 from the state's verifier).
    pub fn authorize_url(
        &self,
        platform: Platform,
        state: &crate::MintedState,
    ) -> Result<String, NotConfigured> {
        self.ready(platform)?;
        self.clients.authorize_url_with(
            platform,
            &state.token,
            &crate::pkce_challenge(&state.code_verifier),
            &self.callback_url(),
            state.ads,
        )
    }

    fn key(&self) -> Result<&MasterKey> {
        self.master_key
            .as_deref()
            .ok_or_else(|| Error::Corrupt("live tokens need LAYERS_MASTER_KEY".into()))
    }

    /// Seals `token` for the account `id` (the id is the associated data: a sealed token copied
    /// to another row does not open).
    pub fn seal(&self, id: SocialAccountId, token: &Token) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(token).expect("a token serializes");
        Ok(layers_webhooks::seal(
            self.key()?,
            &json,
            id.to_string().as_bytes(),
        ))
    }

    /// Opens the sealed token of the account `id`.
    pub fn open(&self, id: SocialAccountId, sealed: &[u8]) -> Result<Token> {
        let json = layers_webhooks::open(self.key()?, sealed, id.to_string().as_bytes())
            .map_err(|_| Error::Corrupt(format!("the token of {id} does not open")))?;
        serde_json::from_slice(&json).map_err(|e| Error::Corrupt(format!("token of {id}: {e}")))
    }

    /// Finishes a live connection: checks the state (unknown or expired: [`Error::UnknownState`];
    /// a test key's: [`Error::EnvironmentMismatch`]), exchanges the code with the state's PKCE
    /// verifier, reads the profile, then writes the account (a reconnection of the same
    /// platform user updates it), its token sealed, and fires `social_account.connected`. A
    /// replay of a completed state answers its account and calls nothing. No lock is held while
    /// the platform is called.
    pub async fn complete(
        &self,
        pool: &layers_db::Pool,
        state: &str,
        code: Option<&str>,
        denied: Option<(String, Option<String>)>,
    ) -> Result<Callback, CallbackError> {
        let found = {
            let db = pool.get().await.map_err(db_unavailable)?;
            read_state(&db, state).await?
        };
        // only a live state completes here
        if found.is_sandbox {
            return Err(Error::EnvironmentMismatch(EnvKind::from_sandbox(found.is_sandbox)).into());
        }
        // A state is good for its 15 minutes, and only while the key that minted it may still
        // act: an expired state, or one whose key was revoked or killed since, completes
        // nothing and replays nothing.
        if !found.live {
            return Err(Error::UnknownState.into());
        }
        if let Some(id) = found.social_account_id {
            let db = pool.get().await.map_err(db_unavailable)?;
            let done = account_by_id(&db, id).await?;
            return Ok(Callback::Connected {
                account: done,
                redirect_uri: found.redirect_uri,
            });
        }
        if let Some((error, description)) = denied {
            // the state is spent: a denial cannot be completed later
            let db = pool.get().await.map_err(db_unavailable)?;
            store::expire_state(&db, &state_hash(state)).await?;
            return Ok(Callback::Denied {
                error,
                description,
                redirect_uri: found.redirect_uri,
            });
        }
        let code = code.ok_or(CallbackError::MissingCode)?;
        let (token, profile) = self.exchange(&found, code).await?;
        self.connect(pool, state, found, &token, &profile).await
    }

    /// The token and the profile a callback's `code` is worth on the state's platform, with the
    /// state's PKCE verifier; a refused code is [`CallbackError::CodeRefused`], a failing
    /// platform [`CallbackError::Platform`]. Holds no connection.
    async fn exchange(
        &self,
        found: &FoundState,
        code: &str,
    ) -> Result<(Token, Profile), CallbackError> {
        self.ready(found.platform)?;
        let platform = found.platform.as_str();
        let outside = |e: PlatformError| match e {
            PlatformError::NotConfigured(n) => CallbackError::NotConfigured(n),
            PlatformError::Rejected { message, .. } | PlatformError::TokenExpired(message) => {
                CallbackError::CodeRefused { platform, message }
            }
            other => CallbackError::Platform {
                platform,
                message: other.to_string(),
            },
        };
        self.clients
            .connect(
                found.platform,
                code,
                &found.code_verifier,
                &self.callback_url(),
            )
            .await
            .map_err(outside)
    }

    /// The write of a live connection, in one transaction: the account (a reconnection of the
    /// same platform user updates its row, the token sealed to that row's id), the state marked
    /// completed by it, `social_account.connected` and the first token refresh. A state that a
    /// concurrent callback completed meanwhile answers that callback's account, writing nothing.
    async fn connect(
        &self,
        pool: &layers_db::Pool,
        state: &str,
        found: FoundState,
        token: &Token,
        profile: &Profile,
    ) -> Result<Callback, CallbackError> {
        let mut db = pool.get().await.map_err(db_unavailable)?;
        let tx = db.transaction().await.map_err(Error::from)?;
        let again = read_state(&tx, state).await?;
        if let Some(id) = again.social_account_id {
            // a concurrent callback of the same state won
            let done = account_by_id(&tx, id).await?;
            return Ok(Callback::Connected {
                account: done,
                redirect_uri: found.redirect_uri,
            });
        }
        let id = SocialAccountId::new();
        let sealed = self.seal(id, token)?;
        let connected = store::upsert_live_account(
            &tx,
            &store::NewLiveAccount {
                id,
                organization_id: found.organization_id,
                project_id: found.project_id,
                platform: found.platform,
                platform_user_id: &profile.user_id,
                handle: &profile.handle,
                sealed_token: &sealed,
                token_expires_at: token.expires_at,
                ads: found.ads,
            },
        )
        .await?;
        if connected.id != id {
            // a reconnection: the token is sealed to the existing row's id
            let sealed = self.seal(connected.id, token)?;
            store::set_token(&tx, connected.id, &sealed, token.expires_at).await?;
        }
        store::complete_state(&tx, &state_hash(state), connected.id).await?;
        announce(&tx, &connected, EventType::SocialAccountConnected).await?;
        schedule_refresh(&tx, &connected, found.api_key_id, token.expires_at).await?;
        tx.commit().await.map_err(Error::from)?;
        Ok(Callback::Connected {
            account: connected,
            redirect_uri: found.redirect_uri,
        })
    }

    /// The account's token, ready to use: refreshed first when it runs out within
    /// [`REFRESH_MARGIN`]. A refused refresh marks the account `needs_reauth` (and fires
    /// nothing); so does an account that is not active.
    pub async fn usable_token(
        &self,
        pool: &layers_db::Pool,
        id: SocialAccountId,
    ) -> Result<(Platform, Token), TokenError> {
        let db = pool
            .get()
            .await
            .map_err(|e| TokenError::Transient(format!("no database connection: {e}")))?;
        let (platform, status, token) = self.read_token(&db, id, false).await?;
        if status != "active" {
            return Err(TokenError::NeedsReauth(format!(
                "the {} account is {status}: connect it again",
                platform.as_str()
            )));
        }
        if !token.expires_within(REFRESH_MARGIN) {
            return Ok((platform, token));
        }
        drop(db);
        let token = self.refresh(pool, id).await?;
        Ok((platform, token))
    }

    /// Refreshes the account's token now (under the row's lock, so that two workers never
    /// spend one refresh token twice) and seals the new one; a refusal marks the account
    /// `needs_reauth`.
    pub async fn refresh(
        &self,
        pool: &layers_db::Pool,
        id: SocialAccountId,
    ) -> Result<Token, TokenError> {
        let mut db = pool
            .get()
            .await
            .map_err(|e| TokenError::Transient(format!("no database connection: {e}")))?;
        let tx = db.transaction().await.map_err(Error::from)?;
        let (platform, status, token) = self.read_token(&tx, id, true).await?;
        if status != "active" {
            return Err(TokenError::NeedsReauth(format!(
                "the {} account is {status}: connect it again",
                platform.as_str()
            )));
        }
        match self.clients.refresh(platform, &token).await {
            Ok(fresh) => {
                store::set_token(&tx, id, &self.seal(id, &fresh)?, fresh.expires_at).await?;
                tx.commit().await.map_err(Error::from)?;
                Ok(fresh)
            }
            Err(e) if e.is_transient() => Err(TokenError::Transient(e.to_string())),
            Err(e) => {
                mark_needs_reauth(&tx, id).await?;
                tx.commit().await.map_err(Error::from)?;
                Err(TokenError::NeedsReauth(format!(
                    "{} refused to refresh the token: {e}",
                    platform.as_str()
                )))
            }
        }
    }

    async fn read_token(
        &self,
        db: &impl GenericClient,
        id: SocialAccountId,
        lock: bool,
    ) -> Result<(Platform, String, Token), TokenError> {
        let stored = store::token(db, id, lock).await?;
        if stored.is_sandbox {
            // a sandbox account's sentinel token is never used
            return Err(Error::AccountEnvironmentMismatch(EnvKind::from_sandbox(
                stored.is_sandbox,
            ))
            .into());
        }
        let token = self.open(id, &stored.sealed)?;
        Ok((stored.platform, stored.status, token))
    }

    /// Runs a [`REFRESH`] job: refreshes the account's token and schedules the next refresh. An
    /// account that is gone or needs re-authorization ends the chain.
    pub async fn run_refresh(
        &self,
        job: &Job,
        task: &Refresh,
        pool: &layers_db::Pool,
    ) -> Result<serde_json::Value, Failure> {
        let id = SocialAccountId::parse(&task.account)
            .map_err(|_| Failure::Permanent(format!("no account {}", task.account)))?;
        match self.refresh(pool, id).await {
            Ok(token) => {
                let db = pool
                    .get()
                    .await
                    .map_err(|e| Failure::Transient(format!("no database connection: {e}")))?;
                let found = account_by_id(&db, id.as_uuid())
                    .await
                    .map_err(|e| Failure::Transient(e.to_string()))?;
                schedule_refresh(&db, &found, job.api_key_id, token.expires_at)
                    .await
                    .map_err(|e| Failure::Transient(e.to_string()))?;
                Ok(serde_json::json!({ "refreshed": true }))
            }
            Err(TokenError::NeedsReauth(why)) => Err(Failure::Permanent(why)),
            Err(TokenError::Transient(why)) => Err(Failure::Transient(why)),
            Err(TokenError::Store(e)) => Err(Failure::Transient(e.to_string())),
        }
    }
}

/// Marks an active account `needs_reauth` (an expired or revoked token) and fires
/// `social_account.needs_reauth`, in the caller's transaction; an account not active is left
/// as it is and fires nothing. Answers the account it marked.
pub async fn mark_needs_reauth(
    db: &impl GenericClient,
    id: SocialAccountId,
) -> Result<Option<Account>> {
    mark_needs_reauth_at(db, id, None).await
}

/// [`mark_needs_reauth`], the event's `createdAt` at `at` if given (a test clock's time).
pub async fn mark_needs_reauth_at(
    db: &impl GenericClient,
    id: SocialAccountId,
    at: Option<DateTime<Utc>>,
) -> Result<Option<Account>> {
    let marked = store::mark_needs_reauth(db, id).await?;
    if let Some(account) = &marked {
        crate::announce_at(
            db,
            account,
            layers_webhooks::EventType::SocialAccountNeedsReauth,
            at,
        )
        .await?;
    }
    Ok(marked)
}

/// Queues the next [`REFRESH`] of an account whose token expires at `expires_at` (none for a
/// token without an expiry): a day ahead, or at half the remaining life if that is sooner.
///
/// An account has one chain of refreshes: a refresh still queued for it (a reconnection while
/// the old token's refresh waits) is moved to the new time, or dropped when the new token does
/// not expire, rather than joined by a second one.
async fn schedule_refresh(
    db: &impl GenericClient,
    a: &Account,
    api_key_id: Option<uuid::Uuid>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let run_at = expires_at.map(|at| at - std::cmp::min(REFRESH_AHEAD, (at - Utc::now()) / 2));
    let task = Refresh {
        account: a.id.to_string(),
    };
    // a queued job is not running, so moving it races no worker (one that claims it meanwhile
    // holds it `running`, and this matches nothing)
    let moved = layers_jobs::reschedule_queued(db, a.env, &task, run_at)
        .await
        .map_err(|e| match e {
            layers_jobs::Error::Db(e) => Error::Db(e),
            e => Error::Corrupt(format!("could not move the token refresh: {e}")),
        })?;
    let Some(run_at) = run_at else {
        return Ok(());
    };
    if moved {
        return Ok(());
    }
    let job = NewJob {
        project_id: Some(a.project_id),
        api_key_id,
        ..NewJob::new(JobId::new(), a.organization_id, a.env, &task)
    };
    layers_jobs::enqueue_at(db, &job, Some(run_at))
        .await
        .map_err(|e| Error::Corrupt(format!("could not schedule the token refresh: {e}")))?;
    Ok(())
}

struct FoundState {
    organization_id: OrgId,
    project_id: uuid::Uuid,
    api_key_id: Option<uuid::Uuid>,
    is_sandbox: bool,
    platform: Platform,
    redirect_uri: Option<String>,
    code_verifier: String,
    social_account_id: Option<uuid::Uuid>,
    live: bool,
    ads: bool,
}

/// The state of `token` (unknown: [`Error::UnknownState`]), and whether it may still complete:
/// unexpired, and its key neither revoked nor killed.
async fn read_state(db: &impl GenericClient, token: &str) -> Result<FoundState> {
    let found = store::state(db, &state_hash(token), false)
        .await?
        .ok_or(Error::UnknownState)?;
    let live = found.unexpired && crate::key_may_act(db, found.api_key_id).await?;
    Ok(FoundState {
        organization_id: found.organization_id,
        project_id: found.project_id,
        api_key_id: Some(found.api_key_id),
        is_sandbox: found.is_sandbox,
        platform: found.platform,
        redirect_uri: found.redirect_uri,
        code_verifier: found.code_verifier,
        social_account_id: found.social_account_id,
        live,
        ads: found.ads,
    })
}

fn db_unavailable(e: impl std::fmt::Display) -> CallbackError {
    Error::Unavailable(e.to_string()).into()
}
