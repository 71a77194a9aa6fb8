//! Organizations: who owns keys, credits and projects, which plan they are on, and whether that
//! plan carries the `api_access` feature the Partner API requires.
//!
//! ```
//! use layers_orgs::{OrgId, Plan};
//!
//! assert_eq!(Plan::parse("partner")?, Plan::Partner);
//! assert_eq!(Plan::Free.as_str(), "free");
//! assert!(Plan::parse("gold").is_err());
//!
//! let id = OrgId::new();
//! assert!(id.to_string().starts_with("org_"));
//! assert_eq!(OrgId::parse(&id.to_string())?, id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The database side (`create`, `get`, `set_plan`, `set_monthly_quota`) is the default `store`
//! feature; with `default-features = false` this crate is the types above and needs no database.
//!
//! This crate owns the `organizations` and `plans` tables: no other crate's SQL names them.
//! Other domains read what they need through the `organization_access` view this crate
//! publishes (`migrations/V11__domain_views.sql`: id, plan, monthly quota, `api_access`), so
//! that the key lookup of authentication stays one statement.

use chrono::{DateTime, Utc};
use thiserror::Error;

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
///
/// Non-exhaustive because the `Db` variant exists only with the `store` feature.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    #[error("name must be between 1 and 200 characters")]
    InvalidName,
    #[error("plan must be partner or free")]
    UnknownPlan,
    #[error("monthly quota must not be negative")]
    NegativeQuota,
    #[error("no such organization")]
    NotFound,
    #[cfg(feature = "store")]
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(feature = "store")]
mod store;
#[cfg(feature = "store")]
pub use store::{create, get, set_monthly_quota, set_plan};
