//! Organizations: who owns keys, credits and projects, which plan they are on, and whether that
//! plan carries the `api_access` feature the Partner API requires.

use chrono::{DateTime, Utc};
use layers_db::GenericClient;
use thiserror::Error;
use tokio_postgres::Row;

layers_core::prefixed_id!(
    /// An organization (`org_…`).
    OrgId,
    "org"
);

/// A billing plan. `partner` carries `api_access`; `free` does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    Partner,
    Free,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Partner => "partner",
            Plan::Free => "free",
        }
    }

    pub fn parse(s: &str) -> Result<Plan> {
        match s {
            "partner" => Ok(Plan::Partner),
            "free" => Ok(Plan::Free),
            _ => Err(Error::UnknownPlan),
        }
    }
}

/// An organization as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub plan: Plan,
    /// Ceiling on authenticated API calls per UTC month; `None` means unlimited.
    pub monthly_quota: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// What can go wrong with organizations.
#[derive(Debug, Error)]
pub enum Error {
    #[error("name must be between 1 and 200 characters")]
    InvalidName,
    #[error("plan must be partner or free")]
    UnknownPlan,
    #[error("monthly quota must not be negative")]
    NegativeQuota,
    #[error("no such organization")]
    NotFound,
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

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
