//! The ads seam (CONTRACT §13): what differs between live and sandbox, and nothing else. Live
//! reads ad accounts on their platforms and leaves campaigns to their jobs ([`crate::live`]);
//! the sandbox calls nothing: its ad accounts are derived from its social accounts, its
//! campaigns are `active` (or, named with `#sandbox_reject`, `failed`) in the request, and its
//! metrics are synthesized on read.

use std::sync::Arc;

use layers_jobs::{Control, Failure, Job, JobError, Outset};
use layers_platforms::{AdAccountInfo, AdsAuth, AppleCredentials, Clients};
use layers_social::{Account, Vault};
use layers_webhooks::{EventType, MasterKey};

use crate::input::{Change, Field, Invalid, Link, NewCampaign};
use crate::live::{CreateCampaign, SyncAds, UpdateCampaign};
use crate::{
    sandbox_external_ids, AdPlatform, Campaign, CampaignError, CampaignStatus, Error, ExternalIds,
    Result, SANDBOX_REJECT,
};

/// Ads for one environment.
#[derive(Debug)]
pub enum Ads {
    Live(Box<LiveAds>),
    Sandbox,
}

/// What live ads reach: the platforms' clients, the social accounts' tokens, the master key
/// that seals Apple Search Ads credentials, and the signer of the media URLs handed to the
/// platforms.
#[derive(Clone)]
pub struct LiveAds {
    pub clients: Clients,
    pub vault: Vault,
    pub master_key: Option<Arc<MasterKey>>,
    pub media_signer: Option<layers_storage::UrlSigner>,
    pub public_base_url: String,
}

impl std::fmt::Debug for LiveAds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveAds").finish_non_exhaustive()
    }
}

/// How a new campaign starts: its row, its job and its event.
pub(crate) struct CampaignOutset {
    pub status: CampaignStatus,
    pub external_ids: Option<ExternalIds>,
    pub error: Option<CampaignError>,
    pub job: Outset,
    pub event: Option<EventType>,
}

/// The sandbox's one ad account per Instagram or TikTok for Business account.
pub fn sandbox_account_id(social: &Account) -> String {
    format!("sb_act_{}", social.id)
}

impl Ads {
    /// The ad account as its platform describes it. Live: one call with the social account's
    /// token (or the Apple credentials); a refusal is [`Error::AccountRefused`] with the
    /// platform's words. Sandbox: no call; only the social account's own `sb_act_…` exists, and
    /// Apple credentials are accepted unread.
    pub async fn probe(
        &self,
        pool: &layers_db::Pool,
        link: &Link,
        social: Option<&Account>,
    ) -> Result<AdAccountInfo> {
        match self {
            Ads::Sandbox => sandbox_probe(link, social),
            Ads::Live(live) => live.probe(pool, link).await,
        }
    }

    /// What is kept of the link's credentials: sealed live, nothing in the sandbox.
    pub fn seal(&self, link: &Link) -> Result<Option<Vec<u8>>> {
        match (self, &link.credentials) {
            (Ads::Live(live), Some(credentials)) => live.seal(link.id, credentials).map(Some),
            _ => Ok(None),
        }
    }

    /// How a new campaign starts (see [`CampaignOutset`]).
    pub(crate) fn outset(&self, new: &NewCampaign) -> CampaignOutset {
        match self {
            Ads::Live(_) => CampaignOutset {
                status: CampaignStatus::Pending,
                external_ids: None,
                error: None,
                job: Outset::Queued,
                event: None,
            },
            Ads::Sandbox if new.name.contains(SANDBOX_REJECT) => {
                let message = format!(
                    "the platform refused the campaign (sandbox: its name contains {SANDBOX_REJECT})"
                );
                CampaignOutset {
                    status: CampaignStatus::Failed,
                    external_ids: None,
                    error: Some(CampaignError::rejected(message.clone())),
                    job: Outset::Failed(JobError {
                        code: "platform_rejected",
                        message,
                    }),
                    event: Some(EventType::AdsCampaignFailed),
                }
            }
            Ads::Sandbox => {
                let ids = sandbox_external_ids(new.id, new.creatives.len());
                CampaignOutset {
                    status: CampaignStatus::Active,
                    job: Outset::Succeeded(crate::live::result(
                        new.id,
                        CampaignStatus::Active,
                        &ids,
                    )),
                    external_ids: Some(ids),
                    error: None,
                    event: Some(EventType::AdsCampaignCreated),
                }
            }
        }
    }

    /// Whether a change is applied in the request (the sandbox) or by its job (live).
    pub(crate) fn applies_in_request(&self) -> bool {
        matches!(self, Ads::Sandbox)
    }

    /// Runs an `ads_campaign_create` job (live; a sandbox one was done in its request).
    pub async fn create(
        &self,
        job: &Job,
        task: &CreateCampaign,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        match self {
            Ads::Live(live) => live.run_create(job, task, control).await,
            Ads::Sandbox => Err(Failure::Permanent(
                "a sandbox campaign is created in its request".into(),
            )),
        }
    }

    /// Runs an `ads_campaign_update` job (live).
    pub async fn update(
        &self,
        job: &Job,
        task: &UpdateCampaign,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        match self {
            Ads::Live(live) => live.run_update(job, task, control).await,
            Ads::Sandbox => Err(Failure::Permanent(
                "a sandbox change is applied in its request".into(),
            )),
        }
    }

    /// Runs an `ads_metrics_sync` job (live; sandbox metrics are synthesized on read).
    pub async fn sync(
        &self,
        job: &Job,
        task: &SyncAds,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        match self {
            Ads::Live(live) => live.run_sync(job, task, control).await,
            Ads::Sandbox => Ok(serde_json::json!({ "synced": 0 })),
        }
    }

    /// Whether metrics are read from the synced table (live) or synthesized.
    pub(crate) fn synthesizes(&self) -> bool {
        matches!(self, Ads::Sandbox)
    }
}

fn sandbox_probe(link: &Link, social: Option<&Account>) -> Result<AdAccountInfo> {
    let info = AdAccountInfo {
        name: "Sandbox ad account".into(),
        currency: "USD".into(),
        timezone: "UTC".into(),
    };
    match (link.platform, social) {
        (AdPlatform::AppleSearchAds, _) => Ok(info),
        (_, Some(social)) if link.external_id == sandbox_account_id(social) => Ok(info),
        (_, Some(social)) => Err(Error::AccountRefused(format!(
            "no ad account {} is reachable through {}: in the sandbox, each Instagram or TikTok \
             for Business account reaches one ad account, {}",
            link.external_id.chars().take(64).collect::<String>(),
            social.id,
            sandbox_account_id(social)
        ))),
        (_, None) => Err(Error::SocialAccountNotFound),
    }
}

impl LiveAds {
    async fn probe(&self, pool: &layers_db::Pool, link: &Link) -> Result<AdAccountInfo> {
        let auth = match (&link.credentials, link.social_account_id) {
            (Some(credentials), _) => {
                credentials.check().map_err(|why| Invalid {
                    field: Field::Credentials,
                    index: None,
                    message: format!("the private key cannot be used: {why}"),
                })?;
                AdsAuth::Apple(credentials.clone())
            }
            (None, Some(social)) => self.auth_of(pool, link.platform, social).await?,
            (None, None) => return Err(Error::SocialAccountNotFound),
        };
        self.clients
            .ad_account(&auth, &link.external_id)
            .await
            .map_err(refused)
    }

    /// The token of a Meta or TikTok account, as the ads clients take it.
    pub(crate) async fn auth_of(
        &self,
        pool: &layers_db::Pool,
        platform: AdPlatform,
        social: layers_social::SocialAccountId,
    ) -> Result<AdsAuth> {
        let (_, token) = self
            .vault
            .usable_token(pool, social)
            .await
            .map_err(|e| match e {
                layers_social::TokenError::Transient(why) => Error::Platform(why),
                other => Error::AccountRefused(other.to_string()),
            })?;
        Ok(match platform {
            AdPlatform::Meta => AdsAuth::Meta {
                access_token: token.access_token,
            },
            _ => AdsAuth::Tiktok {
                access_token: token.access_token,
            },
        })
    }

    fn seal(&self, id: crate::AdAccountId, credentials: &AppleCredentials) -> Result<Vec<u8>> {
        let key = self.master_key.as_ref().ok_or_else(|| {
            Error::Platform("LAYERS_MASTER_KEY is not set: credentials cannot be kept".into())
        })?;
        let plain = serde_json::to_vec(credentials).expect("credentials of strings serialize");
        Ok(layers_webhooks::seal(
            key,
            &plain,
            id.to_string().as_bytes(),
        ))
    }

    /// Opens credentials sealed by [`LiveAds::seal`].
    pub(crate) fn open(&self, id: crate::AdAccountId, sealed: &[u8]) -> Result<AppleCredentials> {
        let key = self
            .master_key
            .as_ref()
            .ok_or_else(|| Error::Corrupt("no master key to open credentials".into()))?;
        let plain = layers_webhooks::open(key, sealed, id.to_string().as_bytes())
            .map_err(|e| Error::Corrupt(format!("sealed credentials: {e}")))?;
        serde_json::from_slice(&plain).map_err(|e| Error::Corrupt(format!("credentials: {e}")))
    }
}

/// A platform's refusal of an ad account, in its words; an outage is a 502.
fn refused(e: layers_platforms::PlatformError) -> Error {
    use layers_platforms::PlatformError as P;
    match e {
        P::Rejected { message, .. } => Error::AccountRefused(message),
        P::TokenExpired(message) => Error::AccountRefused(format!(
            "the social account's token is expired or revoked, connect it again: {message}"
        )),
        P::NotConfigured(e) => Error::NotConfigured(e),
        e @ (P::Transient(_) | P::Malformed(_)) => Error::Platform(e.to_string()),
    }
}

/// What a change of a campaign's status leads to.
pub(crate) fn status_after(c: &Campaign, change: &Change) -> Result<Option<CampaignStatus>> {
    let refuse = || Error::InvalidState {
        status: c.status.as_str(),
        action: change.action(),
    };
    if !c.status.is_editable() {
        return Err(refuse());
    }
    Ok(match (change, c.status) {
        (Change::Edit { .. }, _) => None,
        (Change::Pause, CampaignStatus::Active) => Some(CampaignStatus::Paused),
        (Change::Resume, CampaignStatus::Paused) => Some(CampaignStatus::Active),
        (Change::Archive, _) => Some(CampaignStatus::Archived),
        _ => return Err(refuse()),
    })
}
