//! Credits: the cost of every operation, the organization's wallet, and the gate every
//! credit-burning request passes (CONTRACT §11 "Credits").
//!
//! ```
//! use layers_credits::Operation;
//!
//! assert_eq!(Operation::IngestAppstore.cost(), 2);
//! assert_eq!(Operation::ContentUgcCreative.cost(), 8);
//! assert_eq!(Operation::IngestGithub.as_str(), "ingest_github");
//! ```
//!
//! The gate is where live and sandbox differ ([`CreditGate`], with the default `store`
//! feature): a live charge debits the wallet, writes a ledger row and a `credit.charged` audit
//! row in the caller's transaction (the one that also writes the job it pays for), or refuses
//! with [`Error::BillingExhausted`] and writes nothing; the sandbox gate never reads or writes
//! the wallet and records only a `credit.skipped` audit row with the cost that would have been
//! charged. The wallet is the organization's, one for both environments.

#[cfg(feature = "store")]
mod store;

#[cfg(feature = "store")]
pub use store::{
    audit, balance, grant, ledger, month_to_date, refund, set_sandbox_exhausted, AuditEntry,
    Charge, CreditGate, Error, LedgerEntry, MonthToDate, Result,
};

/// What a charge pays for, with its cost in credits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    ContentImage,
    ContentSlideshow,
    ContentVideoRemix,
    ContentUgcCreative,
    IngestGithub,
    IngestAppstore,
    IngestWebsite,
}

impl Operation {
    /// The cost in credits (per variant for content; regenerating costs the same).
    pub fn cost(self) -> i64 {
        match self {
            Operation::ContentImage => 1,
            Operation::ContentSlideshow => 3,
            Operation::ContentVideoRemix => 5,
            Operation::ContentUgcCreative => 8,
            Operation::IngestGithub => 10,
            Operation::IngestAppstore => 2,
            Operation::IngestWebsite => 2,
        }
    }

    /// The name recorded in the ledger and the audit.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ContentImage => "content_image",
            Operation::ContentSlideshow => "content_slideshow",
            Operation::ContentVideoRemix => "content_video_remix",
            Operation::ContentUgcCreative => "content_ugc_creative",
            Operation::IngestGithub => "ingest_github",
            Operation::IngestAppstore => "ingest_appstore",
            Operation::IngestWebsite => "ingest_website",
        }
    }
}
