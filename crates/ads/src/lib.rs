//! Ads (CONTRACT §13): ad accounts linked to a project, campaigns on Meta, TikTok and Apple
//! Search Ads, and their daily metrics. Ads spend the partner's own ad account ("BYO"), so they
//! cost no credits.
//!
//! ```
//! use layers_ads::{sandbox_external_ids, AdPlatform, CampaignId, CampaignStatus};
//!
//! let id = CampaignId::from_uuid(uuid::Uuid::nil());
//! let ids = sandbox_external_ids(id, 2);
//! assert_eq!(ids.campaign.as_deref(), Some("sb_cmp_cmp_00000000000000000000000000000000"));
//! assert_eq!(ids.ads[1], "sb_ad_cmp_00000000000000000000000000000000_1");
//! assert_eq!(AdPlatform::parse("apple_search_ads"), Some(AdPlatform::AppleSearchAds));
//! assert!(CampaignStatus::Paused.is_editable() && !CampaignStatus::Archived.is_editable());
//! ```
//!
//! One code path checks and writes for both environments ([`AdsEnv`]); they differ only at the
//! seam, [`Ads`]: live, linking reads the ad account on its platform and a campaign's job
//! creates the platform's objects in order ([`live`]); in the sandbox nothing is called, a
//! campaign is `active` with `sb_…` ids in the request, and metrics are synthesized on read
//! ([`synth`]). A campaign name containing `#sandbox_reject` fails a sandbox campaign as a
//! platform refusal (CONTRACT §12).

use chrono::{DateTime, Utc};
use layers_content::ContainerId;
use layers_core::EnvKind;
use layers_jobs::JobId;
use layers_orgs::OrgId;
use layers_social::SocialAccountId;
use serde::{Deserialize, Serialize};

mod command;
pub mod input;
pub mod live;
mod reset_store;
mod seam;
mod store;
pub mod synth;

pub use command::{AdsEnv, CampaignDays, ForMetrics, Linked};
pub use input::{Change, Invalid, Link, NewCampaign};
pub use live::{CreateCampaign, SyncAds, UpdateCampaign};
pub use reset_store::delete_sandbox;
pub use seam::{Ads, LiveAds};

layers_core::prefixed_id!(
    /// An ad account linked to a project (`adacct_…`).
    AdAccountId,
    "adacct"
);

layers_core::prefixed_id!(
    /// An ad campaign (`cmp_…`).
    CampaignId,
    "cmp"
);

/// The job kind that creates a campaign on its platform (done in the request in the sandbox).
pub const CREATE: &str = "ads_campaign_create";
/// The job kind that applies a change (edit, pause, resume, archive) on the platform.
pub const UPDATE: &str = "ads_campaign_update";
/// The daily job kind that reads a live campaign's metrics from its platform.
pub const SYNC: &str = "ads_metrics_sync";

/// The magic value of CONTRACT §12: a sandbox campaign whose name contains it fails.
pub const SANDBOX_REJECT: &str = "#sandbox_reject";

/// The platforms ads run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdPlatform {
    Meta,
    Tiktok,
    AppleSearchAds,
}

impl AdPlatform {
    pub const ALL: [AdPlatform; 3] = [
        AdPlatform::Meta,
        AdPlatform::Tiktok,
        AdPlatform::AppleSearchAds,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdPlatform::Meta => "meta",
            AdPlatform::Tiktok => "tiktok",
            AdPlatform::AppleSearchAds => "apple_search_ads",
        }
    }

    pub fn parse(s: &str) -> Option<AdPlatform> {
        AdPlatform::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The social platform whose account reaches this ad platform, as it spells itself
    /// (none: Apple Search Ads takes the partner's API credentials).
    pub fn social_platform(self) -> Option<&'static str> {
        match self {
            AdPlatform::Meta => Some("instagram"),
            AdPlatform::Tiktok => Some("tiktok_business"),
            AdPlatform::AppleSearchAds => None,
        }
    }
}

/// What a campaign is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    AppInstalls,
    Traffic,
    Awareness,
}

impl Objective {
    pub const ALL: [Objective; 3] = [
        Objective::AppInstalls,
        Objective::Traffic,
        Objective::Awareness,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Objective::AppInstalls => "app_installs",
            Objective::Traffic => "traffic",
            Objective::Awareness => "awareness",
        }
    }

    pub fn parse(s: &str) -> Option<Objective> {
        Objective::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Where a campaign stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignStatus {
    /// Being created on the platform (live).
    Pending,
    Active,
    Paused,
    Failed,
    Archived,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Pending => "pending",
            CampaignStatus::Active => "active",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Failed => "failed",
            CampaignStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<CampaignStatus> {
        Some(match s {
            "pending" => CampaignStatus::Pending,
            "active" => CampaignStatus::Active,
            "paused" => CampaignStatus::Paused,
            "failed" => CampaignStatus::Failed,
            "archived" => CampaignStatus::Archived,
            _ => return None,
        })
    }

    /// Whether it exists on its platform and may still change (edit, pause, resume, archive).
    pub fn is_editable(self) -> bool {
        matches!(self, CampaignStatus::Active | CampaignStatus::Paused)
    }
}

/// An ad account linked to a project, the same shape in both environments.
#[derive(Clone, Debug, PartialEq)]
pub struct AdAccount {
    pub id: AdAccountId,
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub env: EnvKind,
    pub platform: AdPlatform,
    pub external_id: String,
    pub social_account_id: Option<SocialAccountId>,
    pub name: String,
    pub currency: String,
    pub timezone: String,
    /// `active`, or `disabled` once unlinked.
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
}

/// An amount in minor units of a currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub amount: i64,
    pub currency: String,
}

/// Who sees a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Targeting {
    /// ISO 3166-1 alpha-2 codes, upper case.
    pub countries: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_min: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_max: Option<u8>,
    /// Language tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
}

/// A creative: a completed container of the campaign's project, with its texts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Creative {
    /// `cnt_…`.
    pub container_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

impl Creative {
    /// The container's id (checked when the campaign was created).
    pub fn container(&self) -> Option<ContainerId> {
        ContainerId::parse(&self.container_id).ok()
    }
}

/// The platform's ids of a campaign's objects: the campaign, its ad set (Meta), ad group
/// (TikTok, Apple Search Ads) and its ads (Apple Search Ads: its keywords).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ExternalIds {
    pub campaign: Option<String>,
    pub ad_set: Option<String>,
    pub ads: Vec<String>,
}

/// `sb_cmp_<id>`, `sb_adset_<id>`, `sb_ad_<id>_<i>` (CONTRACT §13).
pub fn sandbox_external_ids(id: CampaignId, ads: usize) -> ExternalIds {
    ExternalIds {
        campaign: Some(format!("sb_cmp_{id}")),
        ad_set: Some(format!("sb_adset_{id}")),
        ads: (0..ads).map(|i| format!("sb_ad_{id}_{i}")).collect(),
    }
}

/// Why a campaign failed: a code to branch on and the platform's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignError {
    /// `platform_rejected`, `token_expired` or `platform_error`.
    pub code: String,
    pub message: String,
}

impl CampaignError {
    pub fn rejected(message: impl Into<String>) -> CampaignError {
        CampaignError {
            code: "platform_rejected".into(),
            message: message.into(),
        }
    }
}

/// A campaign, the same shape in both environments.
#[derive(Clone, Debug, PartialEq)]
pub struct Campaign {
    pub id: CampaignId,
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub env: EnvKind,
    pub ad_account_id: AdAccountId,
    pub platform: AdPlatform,
    pub name: String,
    pub objective: Objective,
    pub status: CampaignStatus,
    pub daily_budget: Budget,
    pub start_at: DateTime<Utc>,
    pub end_at: Option<DateTime<Utc>>,
    /// The first active moment: the later of `start_at` and its creation (clock time on a
    /// test clock).
    pub active_from: DateTime<Utc>,
    pub targeting: Targeting,
    pub creatives: Vec<Creative>,
    pub app_store_url: Option<String>,
    pub keywords: Vec<String>,
    pub external_ids: ExternalIds,
    pub error: Option<CampaignError>,
    pub job_id: JobId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The time of its project's test clock when it was last written (`None`: the wall
    /// clock, or not known): the `createdAt` of the events that write causes.
    pub clock_time: Option<DateTime<Utc>>,
}

/// What can go wrong with ads, in the order the checks run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input our schema refuses (400, naming the field).
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Projects(#[from] layers_projects::Error),
    #[error("no such ad account in this project")]
    AccountNotFound,
    /// An ad account of the other environment.
    #[error("the ad account belongs to {0}")]
    AccountEnvironmentMismatch(EnvKind),
    #[error("no such social account in this project")]
    SocialAccountNotFound,
    /// The social account belongs to the other environment.
    #[error("the social account belongs to {0}")]
    SocialAccountEnvironmentMismatch(EnvKind),
    /// The social account is of another platform than the ad platform needs.
    #[error("{platform} ads need a {expected} account, not a {found} one")]
    WrongSocialPlatform {
        platform: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    /// An Instagram account connected without the ads consent.
    #[error("the Instagram account was connected without the ads permission: connect it again with oauth-url {{platform: \"instagram\", ads: true}}")]
    AdsPermissionMissing,
    #[error("the social account is {0}: connect it again")]
    SocialAccountNotActive(&'static str),
    #[error("this ad account is already linked to the project")]
    AlreadyLinked,
    /// The platform refused the ad account (its words).
    #[error("{0}")]
    AccountRefused(String),
    #[error("no such campaign")]
    CampaignNotFound,
    /// Read in one environment, the campaign exists in the other one.
    #[error("the campaign exists only in {0}")]
    CampaignInOtherEnvironment(EnvKind),
    /// A change naming a campaign of the other environment.
    #[error("the campaign belongs to {0}")]
    CampaignEnvironmentMismatch(EnvKind),
    /// Campaign ids that are none of the project's (in this environment).
    #[error("no campaign of this project has the id {}", .0.join(", "))]
    UnknownCampaigns(Vec<String>),
    /// The platform could not be reached, or answered something unreadable (502).
    #[error("the platform failed: {0}")]
    Platform(String),
    /// A creative's container is unknown, another organization's or another project's.
    #[error("no such content in the campaign's project")]
    ContainerNotFound { index: usize },
    #[error("the content belongs to {env}")]
    ContainerEnvironmentMismatch { index: usize, env: EnvKind },
    #[error("the content is {status}, not completed: wait for it before using it in a campaign")]
    ContainerNotReady { index: usize, status: &'static str },
    /// A change a campaign's status does not allow.
    #[error("the campaign is {status}: it cannot be {action}")]
    InvalidState {
        status: &'static str,
        action: &'static str,
    },
    #[error(transparent)]
    NotConfigured(#[from] layers_platforms::NotConfigured),
    #[error("stored ads data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Jobs(#[from] layers_jobs::Error),
    #[error(transparent)]
    Events(#[from] layers_webhooks::StoreError),
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `data` of `ads_campaign.created`, `.updated` and `.failed` (CONTRACT §13).
pub(crate) fn event_data(c: &Campaign) -> serde_json::Value {
    EventData {
        campaign: c.id,
        project: c.project_id,
        platform: c.platform,
        status: c.status,
        external_ids: &c.external_ids,
        error: c.error.as_ref(),
    }
    .value()
}

/// What a campaign's events say of it.
pub(crate) struct EventData<'a> {
    pub campaign: CampaignId,
    pub project: uuid::Uuid,
    pub platform: AdPlatform,
    pub status: CampaignStatus,
    pub external_ids: &'a ExternalIds,
    pub error: Option<&'a CampaignError>,
}

impl EventData<'_> {
    pub(crate) fn value(&self) -> serde_json::Value {
        let mut data = serde_json::json!({
            "campaignId": self.campaign.to_string(),
            "projectId": layers_projects::ProjectId::from_uuid(self.project).to_string(),
            "platform": self.platform.as_str(),
            "status": self.status.as_str(),
            "externalIds": self.external_ids,
        });
        if let Some(error) = self.error {
            data["error"] = serde_json::json!(error);
        }
        data
    }
}
