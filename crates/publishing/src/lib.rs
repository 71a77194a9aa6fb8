//! Publishing (CONTRACT §11 "Publishing", §8 "Sandbox posts"): a container goes out to one to
//! ten connected accounts, now or at `publishAt`, as a scheduled post with one target per
//! account.
//!
//! ```
//! use layers_publishing::{sandbox_external_id, PostStatus};
//!
//! let container = layers_content::ContainerId::from_uuid(uuid::Uuid::nil());
//! assert_eq!(
//!     sandbox_external_id(container, 2),
//!     "sb_post_cnt_00000000000000000000000000000000_2"
//! );
//! assert!(PostStatus::Published.is_terminal());
//! assert!(!PostStatus::Scheduled.is_terminal());
//! ```
//!
//! One code path checks and writes for both environments ([`Publishing::create`]); they differ
//! only at the outside effect. In the sandbox every target is written `published` with the
//! externalId `sb_post_<containerId>_<targetIndex>` in the request's transaction, the post is
//! `published` at once, `post.published` fires per target after both writes and the `publish`
//! job is a no-op. Live, the post waits `scheduled` for its durable job, which runs at
//! `publishAt` and calls each target's platform ([`run::Publisher`]).

use chrono::{DateTime, Utc};
use layers_content::ContainerId;
use layers_core::EnvKind;
use layers_jobs::JobId;
use layers_orgs::OrgId;
use layers_social::{Platform, SocialAccountId};

mod clock_store;
mod reset_store;
pub mod run;
mod store;

pub use clock_store::{publish_due_on_clock, release_from_clock, ClockPublished};
pub use reset_store::delete_sandbox;
pub use run::{LivePublisher, Publisher};
pub use store::{posts_of_project, published_targets, Publish, PublishedPost, Publishing};

layers_core::prefixed_id!(
    /// A scheduled post (`sp_…`).
    ScheduledPostId,
    "sp"
);

/// The job kind that publishes a post (a no-op in the sandbox).
pub const PUBLISH: &str = "publish";

/// The most targets one post may have.
pub const MAX_TARGETS: usize = 10;

/// How far ahead a post may be scheduled.
pub const MAX_SCHEDULE_AHEAD: chrono::Duration = chrono::Duration::days(90);

/// Where a post, or one of its targets, stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostStatus {
    Scheduled,
    Publishing,
    Published,
    Failed,
    Canceled,
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PostStatus::Scheduled => "scheduled",
            PostStatus::Publishing => "publishing",
            PostStatus::Published => "published",
            PostStatus::Failed => "failed",
            PostStatus::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<PostStatus> {
        Some(match s {
            "scheduled" => PostStatus::Scheduled,
            "publishing" => PostStatus::Publishing,
            "published" => PostStatus::Published,
            "failed" => PostStatus::Failed,
            "canceled" => PostStatus::Canceled,
            _ => return None,
        })
    }

    /// Whether nothing more happens to it.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PostStatus::Published | PostStatus::Failed | PostStatus::Canceled
        )
    }
}

/// `sb_post_<containerId>_<targetIndex>` (CONTRACT §8).
pub fn sandbox_external_id(container: ContainerId, target_index: u32) -> String {
    format!("sb_post_{container}_{target_index}")
}

/// One account a post goes to.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Its place in the request's targets, from 0.
    pub index: u32,
    pub social_account_id: SocialAccountId,
    pub platform: Platform,
    pub caption: Option<String>,
    pub status: PostStatus,
    /// The platform's id of the post once published.
    pub external_id: Option<String>,
    pub external_url: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error: Option<TargetError>,
}

/// Why a target failed: a code to branch on and the platform's words.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TargetError {
    /// `platform_rejected`, `token_expired`, `media_unusable` or `platform_error`.
    pub code: &'static str,
    pub message: String,
}

impl TargetError {
    /// The platform refused the post (its message).
    pub fn rejected(message: impl Into<String>) -> TargetError {
        TargetError {
            code: "platform_rejected",
            message: message.into(),
        }
    }

    /// The account's token expired or was revoked: it needs a new connection.
    pub fn token_expired(message: impl Into<String>) -> TargetError {
        TargetError {
            code: "token_expired",
            message: message.into(),
        }
    }

    /// The code read back from storage (a row without one is `platform_error`).
    pub fn stored(code: Option<&str>, message: String) -> TargetError {
        let code = ["platform_rejected", "token_expired", "media_unusable"]
            .into_iter()
            .find(|c| Some(*c) == code)
            .unwrap_or("platform_error");
        TargetError { code, message }
    }
}

/// A scheduled post and its targets, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledPost {
    pub id: ScheduledPostId,
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub env: EnvKind,
    pub container_id: ContainerId,
    pub job_id: JobId,
    pub status: PostStatus,
    pub publish_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub targets: Vec<Target>,
}

/// A target as asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTarget {
    pub social_account_id: SocialAccountId,
    pub caption: Option<String>,
}

/// A request to publish a container now (`publish_at` `None`) or later.
#[derive(Clone, Debug)]
pub struct NewPost {
    pub id: ScheduledPostId,
    pub organization_id: OrgId,
    pub api_key_id: Option<uuid::Uuid>,
    pub container_id: ContainerId,
    pub targets: Vec<NewTarget>,
    pub publish_at: Option<DateTime<Utc>>,
    pub job_id: JobId,
}

/// What can go wrong with publishing, in the order the checks run (CONTRACT §11).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The container is unknown, or another organization's.
    #[error("no such content")]
    ContentNotFound,
    /// A target's account is unknown, another organization's or another project's.
    #[error("no such social account in the content's project")]
    AccountNotFound { index: usize },
    #[error("no such scheduled post")]
    NotFound,
    /// Read in one environment, the post exists in the other one.
    #[error("the scheduled post exists only in {0}")]
    InOtherEnvironment(EnvKind),
    /// An action naming a post of the other environment.
    #[error("the scheduled post belongs to {0}")]
    EnvironmentMismatch(EnvKind),
    /// Publishing content of the other environment.
    #[error("the content belongs to {0}")]
    ContentEnvironmentMismatch(EnvKind),
    /// Publishing through an account of the other environment.
    #[error("the social account belongs to {env}")]
    AccountEnvironmentMismatch { index: usize, env: EnvKind },
    /// The container is not `completed` (its status named here).
    #[error("the content is {0}, not completed: wait for it before publishing")]
    ContentNotReady(&'static str),
    /// The container already has a post that is not canceled or failed.
    #[error("the content already has a scheduled post that is not canceled or failed")]
    AlreadyPublished,
    /// A target's account is disconnected or needs re-authorization.
    #[error("the social account is {status}: connect it again")]
    AccountNotActive { index: usize, status: &'static str },
    /// A schedule's `publishAt` is not after its project's now (the clock's, on a test clock).
    #[error("publishAt must be in the future (now is {now}); use …/publish to publish now")]
    PublishAtNotAhead { now: DateTime<Utc> },
    /// A schedule's `publishAt` is more than 90 days after its project's now.
    #[error("publishAt must be within 90 days of now ({now})")]
    PublishAtTooFar { now: DateTime<Utc> },
    /// A target's account runs ads only (TikTok for Business).
    #[error(
        "a tiktok_business account runs ads; it cannot publish posts: connect a tiktok account"
    )]
    AccountCannotPublish { index: usize },
    /// Canceling a post that is no longer `scheduled`.
    #[error("the scheduled post is already {0}")]
    AlreadyTerminal(&'static str),
    #[error("stored publishing data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Jobs(#[from] layers_jobs::Error),
    /// Live, a target's platform app is not configured.
    #[error(transparent)]
    NotConfigured(#[from] layers_platforms::NotConfigured),
    #[error(transparent)]
    Events(#[from] layers_webhooks::StoreError),
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `data` of `post.published` and `post.failed` (CONTRACT §10).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostEvent<'a> {
    pub scheduled_post_id: String,
    pub container_id: String,
    pub social_account_id: String,
    pub platform: &'static str,
    pub target_index: u32,
    pub external_id: Option<&'a str>,
    pub external_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a TargetError>,
}

impl<'a> PostEvent<'a> {
    pub(crate) fn of(post: ScheduledPostId, container: ContainerId, t: &'a Target) -> Self {
        PostEvent {
            scheduled_post_id: post.to_string(),
            container_id: container.to_string(),
            social_account_id: t.social_account_id.to_string(),
            platform: t.platform.as_str(),
            target_index: t.index,
            external_id: t.external_id.as_deref(),
            external_url: t.external_url.as_deref(),
            error: t.error.as_ref(),
        }
    }

    pub(crate) fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an event of strings and numbers serializes")
    }
}
