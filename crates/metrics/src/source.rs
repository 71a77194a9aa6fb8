//! The environment seam of metrics: where a post's days come from (synced from the platforms'
//! insights live, synthesized on read in the sandbox) and what a `metrics_sync` job does.

use layers_core::{EnvKind, Environment};
use layers_db::GenericClient;
use layers_jobs::{Control, Failure, Job};
use layers_publishing::PublishedPost;

use crate::store::read_synced;
use crate::{Range, Result, Sync, SyncPost, SyncedRow};

/// The metrics of one environment.
#[derive(Debug, Clone)]
pub enum Metrics {
    /// Rows synced daily from the platforms' insights by the `metrics_sync` job.
    Live(Box<Sync>),
    /// Synthesized on read, deterministic per post and day: no job.
    Sandbox,
}

impl Environment for Metrics {
    fn kind(&self) -> EnvKind {
        match self {
            Metrics::Live(_) => EnvKind::Live,
            Metrics::Sandbox => EnvKind::Sandbox,
        }
    }
}

impl Metrics {
    /// One attempt of a `metrics_sync` job.
    pub async fn sync(
        &self,
        job: &Job,
        task: &SyncPost,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        match self {
            Metrics::Live(sync) => sync.run(job, task, control).await,
            Metrics::Sandbox => Err(Failure::Permanent(
                "sandbox metrics are synthesized on read, never synced".into(),
            )),
        }
    }
}

/// Where the days of the posts of an environment come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Synced,
    Synthesized,
}

impl Origin {
    pub(crate) fn of(env: EnvKind) -> Origin {
        match env {
            EnvKind::Live => Origin::Synced,
            EnvKind::Sandbox => Origin::Synthesized,
        }
    }

    /// The synced rows of `posts` over `range` (none to read for synthesized ones).
    pub(crate) async fn synced(
        self,
        db: &impl GenericClient,
        posts: &[PublishedPost],
        range: Range,
    ) -> Result<Vec<SyncedRow>> {
        if self == Origin::Synthesized || posts.is_empty() {
            return Ok(Vec::new());
        }
        let posts: Vec<&PublishedPost> = posts.iter().collect();
        read_synced(db, &posts, range).await
    }
}
