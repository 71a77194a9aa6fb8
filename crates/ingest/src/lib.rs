//! Ingest (CONTRACT §11 "Ingest"): facts about a partner's app, read from the App Store lookup
//! API, the GitHub REST API or the app's website, as a durable job whose `result` is
//! `{source, facts: {name, description, …}}`.
//!
//! ```
//! use layers_ingest::{Source, Repository};
//!
//! let source = Source::github(Repository::parse("rust-lang/rust").unwrap(), None);
//! assert_eq!(source.kind(), "ingest_github");
//! assert_eq!(source.operation().cost(), 10);
//! // the sandbox answers from the input alone, the same bytes every time
//! assert_eq!(source.sandbox_facts(), source.sandbox_facts());
//! assert!(Repository::parse("not a repository").is_err());
//! ```
//!
//! Validation and the job are one code path for both environments; what differs is the
//! outside effect, [`Ingest`]: `Live` calls the platforms through the guarded outbound client,
//! `Sandbox` never calls out and derives the facts deterministically from the input.

mod command;
mod live;
mod source;

pub use command::{Error, IngestEnv, StartIngest};
pub use live::{LiveIngest, Platforms};
pub use source::{AppstoreTarget, Branch, InputError, Repository, Source, WebsiteUrl};

use layers_core::{EnvKind, Environment};
use layers_jobs::{Control, Failure};

/// The outside effect of ingest for one environment. A closed set of two, so an enum.
#[derive(Debug, Clone)]
pub enum Ingest {
    Live(Box<LiveIngest>),
    Sandbox,
}

impl Environment for Ingest {
    fn kind(&self) -> EnvKind {
        match self {
            Ingest::Live(_) => EnvKind::Live,
            Ingest::Sandbox => EnvKind::Sandbox,
        }
    }
}

impl Ingest {
    /// The job's result when the request itself can give it: the sandbox's facts come from the
    /// input alone, so its job is written done (`None` live: the job calls out).
    pub fn done(&self, source: &Source) -> Option<serde_json::Value> {
        match self {
            Ingest::Sandbox => Some(source.sandbox_facts()),
            Ingest::Live(_) => None,
        }
    }

    /// One attempt of an ingest job of `source`.
    pub async fn run(
        &self,
        source: &Source,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        match self {
            Ingest::Sandbox => Ok(source.sandbox_facts()),
            Ingest::Live(live) => {
                // from here on a cancel no longer refunds: the call is about to be made
                control.spending_outside().await?;
                live.facts(source).await
            }
        }
    }
}

/// The job kinds ingest runs.
pub const KINDS: [&str; 3] = ["ingest_appstore", "ingest_github", "ingest_website"];
