//! The credit ledger: an organization's balance and every movement of it. Grants come from the
//! operator CLI; charges arrive with content generation (a later issue), where the sandbox gate
//! will skip the ledger entirely.
//!
//! ```no_run
//! # async fn example(pool: layers_db::Pool, org: layers_orgs::OrgId) -> Result<(), Box<dyn std::error::Error>> {
//! let db = pool.get().await?;
//! let balance = layers_credits::grant(&db, org, 1_000, "welcome credits").await?;
//! assert_eq!(layers_credits::balance(&db, org).await?, balance);
//! # Ok(())
//! # }
//! ```
//!
//! Everything here is the database side, the default `store` feature: the ledger has no pure
//! part yet (the cost table will be one), so with `default-features = false` this crate is empty.

#[cfg(feature = "store")]
mod store;

#[cfg(feature = "store")]
pub use store::{balance, grant, Error, Result};
