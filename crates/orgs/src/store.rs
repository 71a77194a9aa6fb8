//! The `organizations` table: create, read, change plan and quota (the `store` feature).

use layers_db::GenericClient;
use tokio_postgres::Row;

use crate::{Error, OrgId, Organization, Plan, Result};

const COLUMNS: &str = "id, name, plan, monthly_quota, created_at";

fn from_row(row: &Row) -> Result<Organization> {
    Ok(Organization {
        id: OrgId::from_uuid(row.get("id")),
        name: row.get("name"),
        plan: Plan::parse(row.get("plan"))?,
        monthly_quota: row.get("monthly_quota"),
        created_at: row.get("created_at"),
    })
}

/// Creates an organization.
pub async fn create(
    db: &impl GenericClient,
    name: &str,
    plan: Plan,
    monthly_quota: Option<i64>,
) -> Result<Organization> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::InvalidName);
    }
    if monthly_quota.is_some_and(|q| q < 0) {
        return Err(Error::NegativeQuota);
    }
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "INSERT INTO organizations (id, name, plan, monthly_quota) VALUES ($1, $2, $3, $4) \
                 RETURNING {COLUMNS}"
        ),
        &[
            &OrgId::new().as_uuid(),
            &name,
            &plan.as_str(),
            &monthly_quota,
        ],
    )
    .await?;
    from_row(&row)
}

/// Reads one organization.
pub async fn get(db: &impl GenericClient, id: OrgId) -> Result<Organization> {
    let row = layers_db::cached::query_opt(
        db,
        &format!("SELECT {COLUMNS} FROM organizations WHERE id = $1"),
        &[&id.as_uuid()],
    )
    .await?
    .ok_or(Error::NotFound)?;
    from_row(&row)
}

/// Moves an organization to another plan.
pub async fn set_plan(db: &impl GenericClient, id: OrgId, plan: Plan) -> Result<Organization> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "UPDATE organizations SET plan = $2, updated_at = now() WHERE id = $1 \
                 RETURNING {COLUMNS}"
        ),
        &[&id.as_uuid(), &plan.as_str()],
    )
    .await?
    .ok_or(Error::NotFound)?;
    from_row(&row)
}

/// Sets or clears the monthly API-call ceiling.
pub async fn set_monthly_quota(
    db: &impl GenericClient,
    id: OrgId,
    monthly_quota: Option<i64>,
) -> Result<Organization> {
    if monthly_quota.is_some_and(|q| q < 0) {
        return Err(Error::NegativeQuota);
    }
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "UPDATE organizations SET monthly_quota = $2, updated_at = now() WHERE id = $1 \
                 RETURNING {COLUMNS}"
        ),
        &[&id.as_uuid(), &monthly_quota],
    )
    .await?
    .ok_or(Error::NotFound)?;
    from_row(&row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use layers_db::testing::fresh_database;

    #[tokio::test]
    async fn create_read_and_change_plan() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        let org = create(&client, "  Acme  ", Plan::Partner, Some(10))
            .await
            .unwrap();
        assert_eq!(org.name, "Acme");
        assert_eq!(get(&client, org.id).await.unwrap(), org);
        let free = set_plan(&client, org.id, Plan::Free).await.unwrap();
        assert_eq!(free.plan, Plan::Free);
        let unlimited = set_monthly_quota(&client, org.id, None).await.unwrap();
        assert_eq!(unlimited.monthly_quota, None);
    }

    #[tokio::test]
    async fn rejects_bad_input_and_unknown_ids() {
        let db = fresh_database().await;
        let client = db.pool.get().await.unwrap();
        assert!(matches!(
            create(&client, " ", Plan::Free, None).await,
            Err(Error::InvalidName)
        ));
        assert!(matches!(
            create(&client, "x", Plan::Free, Some(-1)).await,
            Err(Error::NegativeQuota)
        ));
        assert!(matches!(
            get(&client, OrgId::new()).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(Plan::parse("gold"), Err(Error::UnknownPlan)));
    }
}
