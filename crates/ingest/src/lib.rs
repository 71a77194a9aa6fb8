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
use layers_jobs::{Control, Failure, JobError, Outset};

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
    /// How the job of `source` starts. The sandbox's facts come from the input alone, so its
    /// job is written `succeeded` in the request, except for the magic inputs (CONTRACT §12):
    /// a `notfound` one is written `failed` (`not_found`) and a `slow` one `running` until
    /// [`SANDBOX_SLOW`] from now, when a worker's attempt gives its facts. Live it is queued
    /// (the job calls out), whatever the input says.
    pub fn outset(&self, source: &Source) -> Outset {
        match self {
            Ingest::Sandbox => match Magic::of(source) {
                Some(Magic::NotFound) => Outset::Failed(JobError {
                    code: "not_found",
                    message: format!("no {} source was found at that input", source.name()),
                }),
                Some(Magic::Slow) => Outset::running_for(SANDBOX_SLOW),
                None => Outset::Succeeded(source.sandbox_facts()),
            },
            Ingest::Live(_) => Outset::Queued,
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

/// How long a sandbox `slow` job stays `running` (wall clock). The one place that sets when it
/// ends: a project's test clock will move it.
pub const SANDBOX_SLOW: std::time::Duration = std::time::Duration::from_secs(30);

/// The sandbox's magic inputs (CONTRACT §12): `iosBundleId` `com.sandbox.<m>`, GitHub
/// repository `sandbox/<m>`, website host `<m>.sandbox.invalid`, for `<m>` `slow` or
/// `notfound`. With a live key they are ordinary input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Magic {
    Slow,
    NotFound,
}

impl Magic {
    fn of(source: &Source) -> Option<Magic> {
        let word = match source {
            Source::Appstore(AppstoreTarget::BundleId(b)) => b.strip_prefix("com.sandbox.")?,
            Source::Appstore(AppstoreTarget::TrackId(_)) => return None,
            Source::Github { repository, .. } if repository.owner() == "sandbox" => {
                repository.name()
            }
            Source::Github { .. } => return None,
            Source::Website(url) => url.url().host_str()?.strip_suffix(".sandbox.invalid")?,
        };
        match word {
            "slow" => Some(Magic::Slow),
            "notfound" => Some(Magic::NotFound),
            _ => None,
        }
    }
}

/// The job kinds ingest runs.
pub const KINDS: [&str; 3] = ["ingest_appstore", "ingest_github", "ingest_website"];
