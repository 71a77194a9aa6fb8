//! Projects and their influencers.
//!
//! ```
//! use layers_projects::{LanguageTag, Name, ProjectId, Timezone};
//!
//! // field types parse instead of validate: a value you hold is valid
//! assert_eq!(Name::parse("  Acme  ").unwrap().as_str(), "Acme");
//! assert!(Name::parse("evil\u{202E}txt").is_err());
//! assert_eq!(LanguageTag::parse("pt-br").unwrap().as_str(), "pt-BR");
//! assert!(Timezone::parse("Mars/Olympus").is_err());
//! let id = ProjectId::new();
//! assert_eq!(ProjectId::parse(&id.to_string()).unwrap(), id);
//! ```
//!
//! With the `store` feature (on by default), [`Projects`] reads and writes them for one
//! environment.
//!
//! A project belongs to one organization; every read and write is scoped by that organization,
//! so another organization's ids are simply not found. Rows remember which environment wrote
//! them (`is_sandbox`) through the [`Projects`] value the caller holds: one exists per
//! environment, and the caller never passes the flag itself.

mod types;

use chrono::{DateTime, Utc};
use layers_orgs::OrgId;
use thiserror::Error;

pub use layers_core::EnvKind;

#[cfg(feature = "store")]
mod store;
#[cfg(feature = "store")]
pub use store::{find, Projects};
#[cfg(feature = "store")]
mod reset_store;
#[cfg(feature = "store")]
pub use reset_store::delete_sandbox;
#[cfg(feature = "store")]
mod clock_store;
#[cfg(feature = "store")]
pub use clock_store::{
    clock_projects, clock_time, create_clock, delete_clock, find_clock, finish_advance,
    list_clocks, start_advance,
};

pub use types::{CustomerExternalId, Description, FieldError, LanguageTag, Name, Timezone};

layers_core::prefixed_id!(
    /// A project (`proj_…`).
    ProjectId,
    "proj"
);
layers_core::prefixed_id!(
    /// A test clock (`clock_…`): a sandbox time that moves only when told to.
    TestClockId,
    "clock"
);
layers_core::prefixed_id!(
    /// An influencer (`inf_…`).
    InfluencerId,
    "inf"
);

/// What can go wrong with projects.
#[derive(Debug, Error)]
pub enum Error {
    #[error("no such project")]
    NotFound,
    /// Read in one environment, the project exists in the other one (named here).
    #[error("the project exists only in {0}")]
    InOtherEnvironment(EnvKind),
    #[error("the project is archived")]
    Archived,
    /// A write in one environment naming a project of the other one (named here).
    #[error("the project belongs to {0}")]
    EnvironmentMismatch(EnvKind),
    #[error("another project already uses this customer external id")]
    CustomerExternalIdTaken,
    /// The influencer named is not one of the project's.
    #[error("no such influencer in this project")]
    InfluencerNotFound,
    /// The test clock named is not one of the organization's (or the key is live).
    #[error("no such test clock")]
    TestClockNotFound,
    #[cfg(feature = "store")]
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A project as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    pub id: ProjectId,
    pub organization_id: OrgId,
    pub name: String,
    pub customer_external_id: Option<String>,
    pub timezone: String,
    pub primary_language: String,
    pub is_sandbox: bool,
    /// The test clock the (sandbox) project lives on; `None`: the wall clock.
    pub test_clock_id: Option<TestClockId>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The fields of a new project, already parsed.
#[derive(Clone, Debug)]
pub struct NewProject {
    pub name: Name,
    pub customer_external_id: Option<CustomerExternalId>,
    pub timezone: Timezone,
    pub primary_language: LanguageTag,
    /// Sandbox only: the organization's test clock the project lives on.
    pub test_clock_id: Option<TestClockId>,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProjectPatch {
    pub name: Option<Name>,
    pub customer_external_id: Option<CustomerExternalId>,
    pub timezone: Option<Timezone>,
    pub primary_language: Option<LanguageTag>,
}

/// Whether [`Projects::create`] made a new row or found the one with the same
/// `customerExternalId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

/// Whether a test clock is still running what its last advance made due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockStatus {
    Ready,
    Advancing,
}

impl ClockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClockStatus::Ready => "ready",
            ClockStatus::Advancing => "advancing",
        }
    }
}

/// A test clock as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct TestClock {
    pub id: TestClockId,
    pub organization_id: OrgId,
    pub name: Option<String>,
    pub frozen_time: DateTime<Utc>,
    pub status: ClockStatus,
    pub created_at: DateTime<Utc>,
}

/// Why a clock was not advanced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdvanceRefusal {
    /// Not one of the organization's clocks.
    NotFound,
    /// The new time is not after the clock's time.
    NotForward,
    /// The new time is more than [`MAX_ADVANCE_MONTHS`] months after the clock's time.
    TooFar,
    /// The clock is still running what its last advance made due.
    Advancing,
}

/// The most one advance moves a clock: two years.
pub const MAX_ADVANCE_MONTHS: u32 = 24;

/// An advance begun: the clock as it now is (`advancing`) and its time before.
#[derive(Clone, Debug, PartialEq)]
pub struct Advanced {
    pub clock: TestClock,
    pub previous: DateTime<Utc>,
}

/// An influencer as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Influencer {
    pub id: InfluencerId,
    pub project_id: ProjectId,
    pub name: String,
    pub description: Option<String>,
    pub is_sandbox: bool,
    pub created_at: DateTime<Utc>,
}

/// The fields of a new influencer, already parsed.
#[derive(Clone, Debug)]
pub struct NewInfluencer {
    pub name: Name,
    pub description: Option<Description>,
}

#[cfg(test)]
mod tests;
