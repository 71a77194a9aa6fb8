//! The `api_keys` table: minting, lookup for authentication, revoke and the kill switch.

use chrono::{DateTime, Utc};
use layers_core::EnvKind;
use layers_db::GenericClient;
use layers_orgs::OrgId;
use ring::rand::SecureRandom;
use thiserror::Error;
use tokio_postgres::Row;

use crate::{ApiKey, ApiKeyId, KeyId, Scopes, SecretHash, Tier};

/// What can go wrong in the key store.
#[derive(Debug, Error)]
pub enum Error {
    #[error("no such API key")]
    NotFound,
    #[error("no such organization")]
    UnknownOrganization,
    #[error("stored key is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a key stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    Active,
    /// Killed by the kill switch: 503 until unkilled.
    Killed,
    /// Revoked: 401 for ever.
    Revoked,
}

/// A key row, without anything secret.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRecord {
    pub id: ApiKeyId,
    pub key_id: KeyId,
    pub organization_id: OrgId,
    pub env: EnvKind,
    pub scopes: Scopes,
    pub tier: Tier,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub killed_at: Option<DateTime<Utc>>,
}

impl KeyRecord {
    pub fn state(&self) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.killed_at.is_some() {
            KeyState::Killed
        } else {
            KeyState::Active
        }
    }
}

/// A freshly minted key: its row and the full key, which is shown once and then forgotten.
#[derive(Debug)]
pub struct MintedKey {
    pub record: KeyRecord,
    pub key: ApiKey,
}

/// Everything authentication needs about a key, read in one query.
#[derive(Clone, Debug)]
pub struct ResolvedKey {
    pub record: KeyRecord,
    pub secret_hash: SecretHash,
    /// Whether the organization's plan carries the `api_access` feature.
    pub api_access: bool,
    /// The organization's monthly API-call ceiling, if any.
    pub monthly_quota: Option<i64>,
}

/// Why a presented key is refused, in the order CONTRACT §1 checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Denied {
    /// Unknown, wrong secret, wrong environment or revoked: 401.
    #[error("the API key is not valid")]
    Unauthenticated,
    /// Killed by the kill switch: 503.
    #[error("the API key has been disabled by its kill switch")]
    Killed,
    /// The organization's plan lacks `api_access`: 402.
    #[error("the organization's plan does not include API access")]
    PaymentRequired,
}

impl ResolvedKey {
    /// Applies the contract's checks to a presented key, in order.
    pub fn admit(&self, presented: &ApiKey) -> Result<(), Denied> {
        let verified = presented.secret().verify(&self.secret_hash);
        if !verified
            || presented.env() != self.record.env
            || presented.key_id() != &self.record.key_id
        {
            return Err(Denied::Unauthenticated);
        }
        match self.record.state() {
            KeyState::Revoked => return Err(Denied::Unauthenticated),
            KeyState::Killed => return Err(Denied::Killed),
            KeyState::Active => {}
        }
        if !self.api_access {
            return Err(Denied::PaymentRequired);
        }
        Ok(())
    }
}

const COLUMNS: &str = "k.id, k.key_id, k.organization_id, k.environment, k.scopes, k.tier, \
                       k.created_at, k.revoked_at, k.killed_at";

fn record(row: &Row) -> Result<KeyRecord> {
    let env = match row.get::<_, &str>("environment") {
        "live" => EnvKind::Live,
        "test" => EnvKind::Sandbox,
        other => return Err(Error::Corrupt(format!("environment {other:?}"))),
    };
    Ok(KeyRecord {
        id: row.get("id"),
        key_id: KeyId::parse(row.get("key_id")).map_err(|e| Error::Corrupt(e.to_string()))?,
        organization_id: OrgId::from_uuid(row.get("organization_id")),
        env,
        scopes: Scopes::from_strings(row.get::<_, Vec<String>>("scopes"))
            .map_err(|e| Error::Corrupt(e.to_string()))?,
        tier: Tier::parse(row.get("tier")).map_err(|e| Error::Corrupt(e.to_string()))?,
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
        killed_at: row.get("killed_at"),
    })
}

/// Mints a key for an organization and stores the hash of its secret; an organization missing
/// from `organization_access` (layers-orgs' published view) is [`Error::UnknownOrganization`].
pub async fn mint(
    db: &impl GenericClient,
    rng: &dyn SecureRandom,
    organization_id: OrgId,
    env: EnvKind,
    scopes: &Scopes,
    tier: Tier,
) -> Result<MintedKey> {
    let key = ApiKey::mint(env, rng);
    let row = layers_db::cached::query_opt(
                db,
            &format!(
                "INSERT INTO api_keys AS k (id, key_id, organization_id, environment, secret_hash, scopes, tier) \
                 SELECT $1, $2, o.id, $4, $5, $6, $7 FROM organization_access o WHERE o.id = $3 \
                 RETURNING {COLUMNS}"
            ),
            &[
                &uuid::Uuid::new_v4(),
                &key.key_id().as_str(),
                &organization_id.as_uuid(),
                &env.key_segment(),
                &key.secret().hash().as_bytes(),
                &scopes.to_strings(),
                &tier.as_str(),
            ],
        )
        .await?
        .ok_or(Error::UnknownOrganization)?;
    Ok(MintedKey {
        record: record(&row)?,
        key,
    })
}

/// Reads a key and its organization's access facts by the public key id, in one query: those
/// come from `organization_access`, the view layers-orgs publishes (migration V11).
pub async fn resolve(db: &impl GenericClient, key_id: &KeyId) -> Result<Option<ResolvedKey>> {
    let sql = format!(
        "SELECT {COLUMNS}, k.secret_hash, o.monthly_quota, o.api_access \
         FROM api_keys k \
         JOIN organization_access o ON o.id = k.organization_id \
         WHERE k.key_id = $1"
    );
    let Some(row) = layers_db::cached::query_opt(db, &sql, &[&key_id.as_str()]).await? else {
        return Ok(None);
    };
    Ok(Some(ResolvedKey {
        record: record(&row)?,
        secret_hash: SecretHash::from_bytes(row.get("secret_hash")),
        api_access: row.get("api_access"),
        monthly_quota: row.get("monthly_quota"),
    }))
}

/// Reads a key by its `apiKeyId`.
pub async fn get(db: &impl GenericClient, id: ApiKeyId) -> Result<KeyRecord> {
    let row = layers_db::cached::query_opt(
        db,
        &format!("SELECT {COLUMNS} FROM api_keys k WHERE k.id = $1"),
        &[&id],
    )
    .await?
    .ok_or(Error::NotFound)?;
    record(&row)
}

async fn set_state(db: &impl GenericClient, id: ApiKeyId, assignment: &str) -> Result<KeyRecord> {
    let row = layers_db::cached::query_opt(
        db,
        &format!("UPDATE api_keys k SET {assignment} WHERE k.id = $1 RETURNING {COLUMNS}"),
        &[&id],
    )
    .await?
    .ok_or(Error::NotFound)?;
    record(&row)
}

/// Revokes a key for ever. Revoking twice keeps the first revocation time.
pub async fn revoke(db: &impl GenericClient, id: ApiKeyId) -> Result<KeyRecord> {
    set_state(db, id, "revoked_at = coalesce(revoked_at, now())").await
}

/// Flips the kill switch on: the key answers 503 `KILL_SWITCH` until unkilled.
pub async fn kill(db: &impl GenericClient, id: ApiKeyId) -> Result<KeyRecord> {
    set_state(db, id, "killed_at = coalesce(killed_at, now())").await
}

/// Flips the kill switch off.
pub async fn unkill(db: &impl GenericClient, id: ApiKeyId) -> Result<KeyRecord> {
    set_state(db, id, "killed_at = NULL").await
}

#[cfg(test)]
mod tests {
    use super::*;
    use layers_db::testing::fresh_database;
    use layers_orgs::Plan;
    use ring::rand::SystemRandom;

    #[tokio::test]
    async fn mint_resolve_and_admit() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let org = layers_orgs::create(&c, "Acme", Plan::Partner, Some(5))
            .await
            .unwrap();
        let minted = mint(
            &c,
            &SystemRandom::new(),
            org.id,
            EnvKind::Sandbox,
            &Scopes::All,
            Tier::Standard,
        )
        .await
        .unwrap();
        let resolved = resolve(&c, minted.key.key_id()).await.unwrap().unwrap();
        assert_eq!(resolved.record, minted.record);
        assert_eq!(resolved.monthly_quota, Some(5));
        assert_eq!(resolved.admit(&minted.key), Ok(()));

        // the stored row holds a hash, never the secret
        let stored: Vec<u8> = c
            .query_one(
                "SELECT secret_hash FROM api_keys WHERE id = $1",
                &[&minted.record.id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(stored, minted.key.secret().hash().as_bytes());
        assert!(!String::from_utf8_lossy(&stored).contains(&minted.key.expose()[25..]));
    }

    #[tokio::test]
    async fn denials_come_in_contract_order() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let org = layers_orgs::create(&c, "Acme", Plan::Free, None)
            .await
            .unwrap();
        let rng = SystemRandom::new();
        let minted = mint(&c, &rng, org.id, EnvKind::Live, &Scopes::All, Tier::Pilot)
            .await
            .unwrap();
        let key = &minted.key;
        let resolve_now = || async { resolve(&c, key.key_id()).await.unwrap().unwrap() };

        // plan without api_access
        assert_eq!(resolve_now().await.admit(key), Err(Denied::PaymentRequired));
        // killed beats the plan
        kill(&c, minted.record.id).await.unwrap();
        assert_eq!(resolve_now().await.admit(key), Err(Denied::Killed));
        // a wrong secret beats everything
        let forged = ApiKey::parse(&format!("{}{}", &key.expose()[..25], "A".repeat(40))).unwrap();
        assert_eq!(
            resolve_now().await.admit(&forged),
            Err(Denied::Unauthenticated)
        );
        // the same id and secret under the other environment's prefix
        let other_env = ApiKey::parse(&key.expose().replace("lp_live_", "lp_test_")).unwrap();
        assert_eq!(
            resolve_now().await.admit(&other_env),
            Err(Denied::Unauthenticated)
        );
        // revoked beats killed
        revoke(&c, minted.record.id).await.unwrap();
        assert_eq!(resolve_now().await.admit(key), Err(Denied::Unauthenticated));
        // unkill does not undo a revoke
        let after = unkill(&c, minted.record.id).await.unwrap();
        assert_eq!(after.state(), KeyState::Revoked);
    }

    #[tokio::test]
    async fn unknown_ids() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let rng = SystemRandom::new();
        assert!(matches!(
            mint(
                &c,
                &rng,
                OrgId::new(),
                EnvKind::Live,
                &Scopes::All,
                Tier::Standard
            )
            .await,
            Err(Error::UnknownOrganization)
        ));
        assert!(matches!(
            revoke(&c, uuid::Uuid::new_v4()).await,
            Err(Error::NotFound)
        ));
        let key = ApiKey::mint(EnvKind::Live, &rng);
        assert!(resolve(&c, key.key_id()).await.unwrap().is_none());
    }
}
