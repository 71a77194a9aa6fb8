//! The `oauth_states` and `social_accounts` tables: every statement of the social domain, each
//! one round trip through the connection's prepared-statement cache, in the caller's transaction
//! (the caller owns the transaction and the order of the calls; nothing here begins, commits or
//! locks beyond the row it names).
//!
//! States are keyed by the SHA-256 of their token ([`crate::state_hash`]); nothing here sees a
//! token. Other domains read accounts only through [`accounts_of_org`].

use chrono::{DateTime, Utc};
use layers_core::EnvKind;
use layers_db::GenericClient;
use layers_orgs::OrgId;
use tokio_postgres::Row;

use crate::{Account, AccountStatus, Error, Platform, Result, SocialAccountId};

/// The columns [`account`] reads, in a `RETURNING` or a `SELECT` of `social_accounts`.
const ACCOUNT_COLUMNS: &str = "id, organization_id, project_id, is_sandbox, platform, \
     platform_user_id, handle, status, connected_at, ads";

/// A state to store: minted by `oauth-url`, good until `now() + lifetime`.
pub(crate) struct NewState<'a> {
    pub hash: &'a [u8],
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub api_key_id: uuid::Uuid,
    pub env: EnvKind,
    pub platform: Platform,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: &'a str,
    pub lifetime: chrono::Duration,
    /// Connecting with the ads consent (`oauth-url {ads: true}`).
    pub ads: bool,
}

/// Stores a minted state and answers when it expires (the database's clock).
pub(crate) async fn insert_state(
    db: &impl GenericClient,
    s: &NewState<'_>,
) -> Result<DateTime<Utc>> {
    let row = layers_db::cached::query_one(
        db,
        "INSERT INTO oauth_states (state_hash, organization_id, project_id, api_key_id, \
             is_sandbox, platform, redirect_uri, code_verifier, expires_at, ads) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + $9::text::interval, $10) \
         RETURNING expires_at",
        &[
            &s.hash,
            &s.organization_id.as_uuid(),
            &s.project_id,
            &s.api_key_id,
            &s.env.is_sandbox(),
            &s.platform.as_str(),
            &s.redirect_uri,
            &s.code_verifier,
            &format!("{} seconds", s.lifetime.num_seconds()),
            &s.ads,
        ],
    )
    .await?;
    Ok(row.get(0))
}

/// A state as stored.
pub(crate) struct StoredState {
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    /// The key that minted it.
    pub api_key_id: uuid::Uuid,
    pub is_sandbox: bool,
    pub platform: Platform,
    pub redirect_uri: Option<String>,
    pub code_verifier: String,
    /// The account it connected, once completed.
    pub social_account_id: Option<uuid::Uuid>,
    /// Whether it has not expired yet (the database's clock).
    pub unexpired: bool,
    /// Whether it asked for the ads consent.
    pub ads: bool,
}

/// The state stored under `hash`, if any; with `lock`, its row is locked `FOR UPDATE` until the
/// caller's transaction ends (a completion that writes the account).
pub(crate) async fn state(
    db: &impl GenericClient,
    hash: &[u8],
    lock: bool,
) -> Result<Option<StoredState>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "SELECT organization_id, project_id, api_key_id, is_sandbox, platform, redirect_uri, \
                 code_verifier, social_account_id, expires_at > now(), ads \
             FROM oauth_states WHERE state_hash = $1{}",
            if lock { " FOR UPDATE" } else { "" }
        ),
        &[&hash],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let platform: &str = row.get(4);
    Ok(Some(StoredState {
        organization_id: OrgId::from_uuid(row.get(0)),
        project_id: row.get(1),
        api_key_id: row.get(2),
        is_sandbox: row.get(3),
        platform: Platform::parse(platform).ok_or_else(|| Error::Corrupt(platform.into()))?,
        redirect_uri: row.get(5),
        code_verifier: row.get(6),
        social_account_id: row.get(7),
        unexpired: row.get(8),
        ads: row.get(9),
    }))
}

/// Spends a state (a denied consent): it expires now, if it had not already.
pub(crate) async fn expire_state(db: &impl GenericClient, hash: &[u8]) -> Result<()> {
    layers_db::cached::execute(
        db,
        "UPDATE oauth_states SET expires_at = least(expires_at, now()) WHERE state_hash = $1",
        &[&hash],
    )
    .await?;
    Ok(())
}

/// Records the account a state connected: a replay of the state answers that account.
pub(crate) async fn complete_state(
    db: &impl GenericClient,
    hash: &[u8],
    account: SocialAccountId,
) -> Result<()> {
    layers_db::cached::execute(
        db,
        "UPDATE oauth_states SET social_account_id = $2 WHERE state_hash = $1",
        &[&hash, &account.as_uuid()],
    )
    .await?;
    Ok(())
}

/// A project's accounts of `env`, newest first: at most `fetch`, those before `after` if given.
pub(crate) async fn list(
    db: &impl GenericClient,
    org: OrgId,
    project_id: uuid::Uuid,
    env: EnvKind,
    after: Option<SocialAccountId>,
    fetch: i64,
) -> Result<Vec<Account>> {
    let rows = layers_db::cached::query(
        db,
        &format!(
            "SELECT {ACCOUNT_COLUMNS} FROM social_accounts \
             WHERE organization_id = $1 AND project_id = $2 AND is_sandbox = $3 \
               AND ($4::uuid IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        ),
        &[
            &org.as_uuid(),
            &project_id,
            &env.is_sandbox(),
            &after.map(|a| a.as_uuid()),
            &fetch,
        ],
    )
    .await?;
    rows.iter().map(account).collect()
}

/// The account `id` (any environment), if it is the organization's and the project's, its row
/// locked `FOR UPDATE` until the caller's transaction ends.
pub(crate) async fn lock_account(
    db: &impl GenericClient,
    org: OrgId,
    project_id: uuid::Uuid,
    id: SocialAccountId,
) -> Result<Option<Account>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "SELECT {ACCOUNT_COLUMNS} FROM social_accounts \
             WHERE id = $1 AND organization_id = $2 AND project_id = $3 FOR UPDATE"
        ),
        &[&id.as_uuid(), &org.as_uuid(), &project_id],
    )
    .await?;
    row.as_ref().map(account).transpose()
}

/// The account `id` (any environment and project), if it is the organization's, its row locked
/// `FOR UPDATE` until the caller's transaction ends.
pub(crate) async fn lock_account_of_org(
    db: &impl GenericClient,
    org: OrgId,
    id: SocialAccountId,
) -> Result<Option<Account>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "SELECT {ACCOUNT_COLUMNS} FROM social_accounts \
             WHERE id = $1 AND organization_id = $2 FOR UPDATE"
        ),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?;
    row.as_ref().map(account).transpose()
}

/// Deletes the organization's sandbox OAuth states and social accounts, of one project or of
/// all (the test helper `reset`, CONTRACT §12), in one statement on the caller's transaction;
/// answers how many accounts. The posts that name an account go first (layers-publishing's
/// `delete_sandbox`). Never a live row: the statement is bound to `is_sandbox`.
pub async fn delete_sandbox(
    db: &impl GenericClient,
    org: OrgId,
    project: Option<uuid::Uuid>,
) -> Result<u64, tokio_postgres::Error> {
    let row = layers_db::cached::query_one(
        db,
        "WITH states AS ( \
             DELETE FROM oauth_states WHERE organization_id = $1 AND is_sandbox \
               AND ($2::uuid IS NULL OR project_id = $2)), \
         deleted AS ( \
             DELETE FROM social_accounts WHERE organization_id = $1 AND is_sandbox \
               AND ($2::uuid IS NULL OR project_id = $2) RETURNING 1) \
         SELECT count(*) FROM deleted",
        &[&org.as_uuid(), &project],
    )
    .await?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Marks the account `id` `disconnected` (now) and answers it as it is then.
pub(crate) async fn disconnect(db: &impl GenericClient, id: SocialAccountId) -> Result<Account> {
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "UPDATE social_accounts SET status = 'disconnected', disconnected_at = now() \
             WHERE id = $1 RETURNING {ACCOUNT_COLUMNS}"
        ),
        &[&id.as_uuid()],
    )
    .await?;
    account(&row)
}

/// The account `id`, which must exist (a state's or a job's account: a missing one is a
/// database error).
pub(crate) async fn account_by_id(db: &impl GenericClient, id: uuid::Uuid) -> Result<Account> {
    let row = layers_db::cached::query_one(
        db,
        &format!("SELECT {ACCOUNT_COLUMNS} FROM social_accounts WHERE id = $1"),
        &[&id],
    )
    .await?;
    account(&row)
}

/// The accounts among `ids` that are the organization's, in any environment, project and
/// status, in no particular order (ids that match none are absent): one statement, for another
/// domain that checks the accounts it is given (publishing's targets) in its own round trip.
pub async fn accounts_of_org(
    db: &impl GenericClient,
    org: OrgId,
    ids: &[uuid::Uuid],
) -> Result<Vec<Account>> {
    let rows = layers_db::cached::query(
        db,
        &format!(
            "SELECT {ACCOUNT_COLUMNS} FROM social_accounts \
             WHERE id = ANY($1) AND organization_id = $2"
        ),
        &[&ids, &org.as_uuid()],
    )
    .await?;
    rows.iter().map(account).collect()
}

/// A sandbox account to write with the completion of the state `state_hash`.
pub(crate) struct NewSandboxAccount<'a> {
    pub id: SocialAccountId,
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub platform: Platform,
    pub platform_user_id: &'a str,
    pub handle: &'a str,
    /// The sentinel token of every sandbox account.
    pub token: &'a [u8],
    pub state_hash: &'a [u8],
}

/// Writes a sandbox account and marks its state completed by it, in one statement.
pub(crate) async fn insert_sandbox_account(
    db: &impl GenericClient,
    a: &NewSandboxAccount<'_>,
) -> Result<Account> {
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "WITH a AS ( \
                 INSERT INTO social_accounts (id, organization_id, project_id, is_sandbox, \
                     platform, platform_user_id, handle, token, ads) \
                 VALUES ($1, $2, $3, true, $4, $5, $6, $7, coalesce((SELECT ads FROM \
                     oauth_states WHERE state_hash = $8), false)) RETURNING {ACCOUNT_COLUMNS}), \
             s AS (UPDATE oauth_states SET social_account_id = $1 WHERE state_hash = $8) \
             SELECT * FROM a"
        ),
        &[
            &a.id.as_uuid(),
            &a.organization_id.as_uuid(),
            &a.project_id,
            &a.platform.as_str(),
            &a.platform_user_id,
            &a.handle,
            &a.token,
            &a.state_hash,
        ],
    )
    .await?;
    account(&row)
}

/// A live account as a callback connects it.
pub(crate) struct NewLiveAccount<'a> {
    pub id: SocialAccountId,
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub platform: Platform,
    pub platform_user_id: &'a str,
    pub handle: &'a str,
    /// The token sealed to `id` (see [`crate::Vault::seal`]).
    pub sealed_token: &'a [u8],
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Connected with the ads consent.
    pub ads: bool,
}

/// Writes a live account, or, when the project already has this platform user, makes that row
/// active again with the new handle and answers it: the answer's id is then not `a.id`, and the
/// stored token is still sealed to `a.id` (the caller seals it again, [`set_token`]).
pub(crate) async fn upsert_live_account(
    db: &impl GenericClient,
    a: &NewLiveAccount<'_>,
) -> Result<Account> {
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "INSERT INTO social_accounts AS a (id, organization_id, project_id, is_sandbox, \
                 platform, platform_user_id, handle, token, token_expires_at, ads) \
             VALUES ($1, $2, $3, false, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (project_id, platform, platform_user_id) DO UPDATE SET \
                 handle = EXCLUDED.handle, status = 'active', connected_at = now(), \
                 ads = EXCLUDED.ads, \
                 disconnected_at = NULL \
             RETURNING {ACCOUNT_COLUMNS}"
        ),
        &[
            &a.id.as_uuid(),
            &a.organization_id.as_uuid(),
            &a.project_id,
            &a.platform.as_str(),
            &a.platform_user_id,
            &a.handle,
            &a.sealed_token,
            &a.token_expires_at,
            &a.ads,
        ],
    )
    .await?;
    account(&row)
}

/// Stores the account's token, sealed to its id, and when it expires.
pub(crate) async fn set_token(
    db: &impl GenericClient,
    id: SocialAccountId,
    sealed: &[u8],
    expires_at: Option<DateTime<Utc>>,
) -> Result<()> {
    layers_db::cached::execute(
        db,
        "UPDATE social_accounts SET token = $2, token_expires_at = $3 WHERE id = $1",
        &[&id.as_uuid(), &sealed, &expires_at],
    )
    .await?;
    Ok(())
}

/// An account's token as stored, sealed.
pub(crate) struct StoredToken {
    pub platform: Platform,
    /// As stored (`active`, `needs_reauth`, `disconnected`).
    pub status: String,
    pub sealed: Vec<u8>,
    pub is_sandbox: bool,
}

/// The sealed token of the account `id` ([`Error::NotFound`] without one); with `lock`, its row
/// is locked `FOR UPDATE` until the caller's transaction ends (a refresh that spends the
/// refresh token).
pub(crate) async fn token(
    db: &impl GenericClient,
    id: SocialAccountId,
    lock: bool,
) -> Result<StoredToken> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "SELECT platform, status, token, is_sandbox FROM social_accounts WHERE id = $1{}",
            if lock { " FOR UPDATE" } else { "" }
        ),
        &[&id.as_uuid()],
    )
    .await?
    .ok_or(Error::NotFound)?;
    let platform: &str = row.get(0);
    Ok(StoredToken {
        platform: Platform::parse(platform).ok_or_else(|| Error::Corrupt(platform.to_owned()))?,
        status: row.get(1),
        sealed: row.get(2),
        is_sandbox: row.get(3),
    })
}

/// Marks an `active` account `needs_reauth` (any other is left as it is).
pub(crate) async fn mark_needs_reauth(
    db: &impl GenericClient,
    id: SocialAccountId,
) -> Result<Option<Account>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "UPDATE social_accounts SET status = 'needs_reauth' \
             WHERE id = $1 AND status = 'active' RETURNING {ACCOUNT_COLUMNS}"
        ),
        &[&id.as_uuid()],
    )
    .await?;
    row.as_ref().map(account).transpose()
}

/// An account from a row holding [`ACCOUNT_COLUMNS`].
fn account(row: &Row) -> Result<Account> {
    let platform: &str = row.get("platform");
    let status: &str = row.get("status");
    Ok(Account {
        id: SocialAccountId::from_uuid(row.get("id")),
        organization_id: OrgId::from_uuid(row.get("organization_id")),
        project_id: row.get("project_id"),
        env: EnvKind::from_sandbox(row.get("is_sandbox")),
        platform: Platform::parse(platform).ok_or_else(|| Error::Corrupt(platform.into()))?,
        platform_user_id: row.get("platform_user_id"),
        handle: row.get("handle"),
        status: AccountStatus::parse(status).ok_or_else(|| Error::Corrupt(status.into()))?,
        connected_at: row.get("connected_at"),
        ads: row.get("ads"),
    })
}

/// Stamps the active sandbox accounts of `projects` (the projects of one test clock) that have
/// no clock time of connection yet with `at`, the clock's time before the advance that sees
/// them first (exact: a clock does not move between advances). Answers how many it stamped.
pub async fn stamp_clock_connected(
    db: &impl GenericClient,
    projects: &[uuid::Uuid],
    at: DateTime<Utc>,
) -> Result<u64> {
    Ok(layers_db::cached::execute(
        db,
        "UPDATE social_accounts SET clock_connected_at = $2 \
         WHERE project_id = ANY($1) AND is_sandbox AND status = 'active' \
           AND clock_connected_at IS NULL",
        &[&projects, &at],
    )
    .await?)
}

/// The active sandbox accounts of `projects` that connected at or before the clock time
/// `cutoff`, oldest first.
pub async fn clock_connected_before(
    db: &impl GenericClient,
    projects: &[uuid::Uuid],
    cutoff: DateTime<Utc>,
) -> Result<Vec<SocialAccountId>> {
    let rows = layers_db::cached::query(
        db,
        "SELECT id FROM social_accounts \
         WHERE project_id = ANY($1) AND is_sandbox AND status = 'active' \
           AND clock_connected_at <= $2 \
         ORDER BY id",
        &[&projects, &cutoff],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| SocialAccountId::from_uuid(r.get(0)))
        .collect())
}
