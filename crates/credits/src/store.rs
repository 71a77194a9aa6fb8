//! The `credit_balances` and `credit_ledger` tables: grants and balances (the `store` feature).

use layers_db::GenericClient;
use layers_orgs::OrgId;
use thiserror::Error;

/// What can go wrong with credits.
#[derive(Debug, Error)]
pub enum Error {
    #[error("a grant must be a positive number of credits")]
    NonPositiveGrant,
    #[error("no such organization")]
    UnknownOrganization,
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds `amount` credits to an organization and records the movement. Returns the new balance.
///
/// Runs as one statement, so the ledger row and the balance move together.
pub async fn grant(db: &impl GenericClient, org: OrgId, amount: i64, reason: &str) -> Result<i64> {
    if amount <= 0 {
        return Err(Error::NonPositiveGrant);
    }
    let row = layers_db::cached::query_opt(
        db,
        "WITH org AS (SELECT id FROM organizations WHERE id = $1), \
             balance AS ( \
                 INSERT INTO credit_balances (organization_id, balance) \
                 SELECT id, $2 FROM org \
                 ON CONFLICT (organization_id) DO UPDATE \
                     SET balance = credit_balances.balance + EXCLUDED.balance, updated_at = now() \
                 RETURNING balance), \
             entry AS ( \
                 INSERT INTO credit_ledger (id, organization_id, delta, balance_after, reason) \
                 SELECT $3, $1, $2, balance, $4 FROM balance) \
             SELECT balance FROM balance",
        &[&org.as_uuid(), &amount, &uuid::Uuid::now_v7(), &reason],
    )
    .await?
    .ok_or(Error::UnknownOrganization)?;
    Ok(row.get(0))
}

/// The current balance (0 for an organization that never had credits).
pub async fn balance(db: &impl GenericClient, org: OrgId) -> Result<i64> {
    let row = layers_db::cached::query_opt(
        db,
        "SELECT coalesce(b.balance, 0) FROM organizations o \
             LEFT JOIN credit_balances b ON b.organization_id = o.id WHERE o.id = $1",
        &[&org.as_uuid()],
    )
    .await?
    .ok_or(Error::UnknownOrganization)?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use layers_db::testing::fresh_database;
    use layers_orgs::Plan;

    #[tokio::test]
    async fn grants_accumulate_and_are_recorded() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let org = layers_orgs::create(&c, "Acme", Plan::Partner, None)
            .await
            .unwrap();
        assert_eq!(balance(&c, org.id).await.unwrap(), 0);
        assert_eq!(grant(&c, org.id, 1000, "seed").await.unwrap(), 1000);
        assert_eq!(grant(&c, org.id, 5, "top-up").await.unwrap(), 1005);
        assert_eq!(balance(&c, org.id).await.unwrap(), 1005);
        let entries: Vec<(i64, i64)> = c
            .query(
                "SELECT delta, balance_after FROM credit_ledger WHERE organization_id = $1 ORDER BY id",
                &[&org.id.as_uuid()],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(entries, vec![(1000, 1000), (5, 1005)]);
    }

    #[tokio::test]
    async fn refuses_bad_grants_without_writing() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let org = layers_orgs::create(&c, "Acme", Plan::Partner, None)
            .await
            .unwrap();
        assert!(matches!(
            grant(&c, org.id, 0, "x").await,
            Err(Error::NonPositiveGrant)
        ));
        assert!(matches!(
            grant(&c, org.id, -3, "x").await,
            Err(Error::NonPositiveGrant)
        ));
        assert!(matches!(
            grant(&c, OrgId::new(), 3, "x").await,
            Err(Error::UnknownOrganization)
        ));
        let rows: i64 = c
            .query_one("SELECT count(*) FROM credit_ledger", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 0);
    }
}
