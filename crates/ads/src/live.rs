//! The ads jobs (CONTRACT §13): their typed payloads, and the live runs. `ads_campaign_create`
//! creates the platform's objects in order through `layers-platforms` (which deletes what it
//! made when a later step is refused); `ads_campaign_update` applies a change there first;
//! `ads_metrics_sync` reads a campaign's days from the platform's reports, then again each day
//! while it runs. Every run reads, then calls the platform holding no connection, then writes.

use chrono::{DateTime, Utc};
use layers_content::{AssetKind, Container, Location};
use layers_jobs::{Control, Failure, Job, NewJob};
use layers_platforms::{AdsAuth, CampaignChange, CampaignSpec, PlatformError};
use layers_webhooks::EventType;
use serde::{Deserialize, Serialize};

use crate::command::{apply, containers_of};
use crate::input::Change;
use crate::seam::{status_after, LiveAds};
use crate::store::{self, Update};
use crate::{
    AdPlatform, Budget, Campaign, CampaignError, CampaignId, CampaignStatus, Error, ExternalIds,
    Objective, CREATE, SYNC, UPDATE,
};

/// How long the media URLs handed to a platform stay valid.
const MEDIA_URL_LIFETIME_SECS: i64 = 6 * 3600;

/// The most days the first sync reads (back to the campaign's start).
const SYNC_DAYS: i64 = 90;
/// The days each later sync reads again.
const RECENT_DAYS: i64 = 3;

/// The payload of `ads_campaign_create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateCampaign {
    /// `cmp_…`.
    pub campaign: String,
}

impl CreateCampaign {
    pub fn new(id: CampaignId) -> CreateCampaign {
        CreateCampaign {
            campaign: id.to_string(),
        }
    }
}

impl layers_jobs::Payload for CreateCampaign {
    fn kind(&self) -> &'static str {
        CREATE
    }
}

/// The payload of `ads_campaign_update`: the campaign and the change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateCampaign {
    pub campaign: String,
    /// `edit`, `pause`, `resume` or `archive`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_budget: Option<Budget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<DateTime<Utc>>,
}

impl UpdateCampaign {
    pub fn new(id: CampaignId, change: &Change) -> UpdateCampaign {
        let mut task = UpdateCampaign {
            campaign: id.to_string(),
            action: String::new(),
            name: None,
            daily_budget: None,
            end_at: None,
        };
        task.action = match change {
            Change::Edit {
                name,
                daily_budget,
                end_at,
            } => {
                task.name = name.clone();
                task.daily_budget = daily_budget.clone();
                task.end_at = *end_at;
                "edit"
            }
            Change::Pause => "pause",
            Change::Resume => "resume",
            Change::Archive => "archive",
        }
        .into();
        task
    }

    /// The change it carries.
    pub fn change(&self) -> Result<Change, Failure> {
        Ok(match self.action.as_str() {
            "edit" => Change::Edit {
                name: self.name.clone(),
                daily_budget: self.daily_budget.clone(),
                end_at: self.end_at,
            },
            "pause" => Change::Pause,
            "resume" => Change::Resume,
            "archive" => Change::Archive,
            other => return Err(Failure::Permanent(format!("no campaign change {other}"))),
        })
    }
}

impl layers_jobs::Payload for UpdateCampaign {
    fn kind(&self) -> &'static str {
        UPDATE
    }
}

/// The payload of `ads_metrics_sync`: one live campaign.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncAds {
    pub campaign: String,
    /// A daily sync after the first: only the last [`RECENT_DAYS`] days, which the platforms
    /// still revise (the first reads back to the campaign's start, at most [`SYNC_DAYS`]).
    #[serde(default)]
    pub recent: bool,
}

impl layers_jobs::Payload for SyncAds {
    fn kind(&self) -> &'static str {
        SYNC
    }
}

/// A campaign job's result: `{campaignId, status, externalIds}`.
pub fn result(id: CampaignId, status: CampaignStatus, ids: &ExternalIds) -> serde_json::Value {
    serde_json::json!({
        "campaignId": id.to_string(),
        "status": status.as_str(),
        "externalIds": ids,
    })
}

fn transient(e: impl std::fmt::Display) -> Failure {
    Failure::Transient(e.to_string())
}

fn campaign_id(raw: &str) -> Result<CampaignId, Failure> {
    CampaignId::parse(raw).map_err(|_| Failure::Permanent(format!("no campaign {raw}")))
}

/// Everything a platform call about a campaign needs, read before calling.
struct Reach {
    campaign: Campaign,
    external_id: String,
    auth: AdsAuth,
    /// The Instagram user id (Meta creatives).
    identity: Option<String>,
}

impl LiveAds {
    async fn read_campaign(&self, pool: &layers_db::Pool, raw: &str) -> Result<Campaign, Failure> {
        let id = campaign_id(raw)?;
        let db = pool.get().await.map_err(transient)?;
        store::campaign_by_id(&db, id)
            .await
            .map_err(transient)?
            .ok_or_else(|| Failure::Permanent(format!("no campaign {raw}")))
    }

    /// The ad account, its credentials or token: read, then the connection is given back.
    async fn reach(&self, pool: &layers_db::Pool, campaign: Campaign) -> Result<Reach, Error> {
        let (external_id, social, sealed, _) = {
            let db = pool
                .get()
                .await
                .map_err(|e| Error::Platform(format!("no database connection: {e}")))?;
            store::reach_of(&db, campaign.ad_account_id)
                .await?
                .ok_or(Error::AccountNotFound)?
        };
        let (auth, identity) = match (campaign.platform, social, sealed) {
            (AdPlatform::AppleSearchAds, _, Some(sealed)) => (
                AdsAuth::Apple(self.open(campaign.ad_account_id, &sealed)?),
                None,
            ),
            (platform, Some(social), _) => {
                let id = layers_social::SocialAccountId::from_uuid(social);
                let auth = self.auth_of(pool, platform, id).await?;
                let identity = self
                    .identity_of(pool, campaign.organization_id, social)
                    .await?;
                (auth, identity)
            }
            _ => return Err(Error::Corrupt("an ad account without a way in".into())),
        };
        Ok(Reach {
            campaign,
            external_id,
            auth,
            identity,
        })
    }

    /// The platform's id of the social account (Meta creatives name the Instagram account).
    async fn identity_of(
        &self,
        pool: &layers_db::Pool,
        org: layers_orgs::OrgId,
        social: uuid::Uuid,
    ) -> Result<Option<String>, Error> {
        let db = pool
            .get()
            .await
            .map_err(|e| Error::Platform(format!("no database connection: {e}")))?;
        let found = layers_social::accounts_of_org(&db, org, &[social])
            .await
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(found.into_iter().next().map(|a| a.platform_user_id))
    }

    /// Runs `ads_campaign_create`: the platform's objects in order, then the campaign
    /// `active` with `ads_campaign.created`; a refusal fails it with the platform's words and
    /// `ads_campaign.failed` (an expired token also marks the social account `needs_reauth`).
    pub(crate) async fn run_create(
        &self,
        job: &Job,
        task: &CreateCampaign,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        let pool = control.pool();
        let campaign = self.read_campaign(pool, &task.campaign).await?;
        if campaign.status != CampaignStatus::Pending {
            return Ok(result(campaign.id, campaign.status, &campaign.external_ids));
        }
        let spec = self.spec_of(pool, &campaign).await;
        let reach = self.reach(pool, campaign.clone()).await;
        let (spec, reach) = match (spec, reach) {
            (Ok(spec), Ok(reach)) => (spec, reach),
            (Err(e), _) | (_, Err(e)) => {
                return self.fail_create(job, pool, &campaign, platform_of(e)).await
            }
        };
        let spec = CampaignSpec {
            identity: reach.identity.clone(),
            ..spec
        };
        control.spending_outside().await?;
        let made = self
            .clients
            .create_campaign(&reach.auth, &reach.external_id, &spec)
            .await;
        match made {
            Ok(ids) => self.created(pool, &reach.campaign, ids).await,
            Err(e) => self.fail_create(job, pool, &reach.campaign, e).await,
        }
    }

    /// The spec of a campaign's objects: its fields, and its creatives' media as signed URLs.
    async fn spec_of(&self, pool: &layers_db::Pool, c: &Campaign) -> Result<CampaignSpec, Error> {
        let containers = {
            let db = pool
                .get()
                .await
                .map_err(|e| Error::Platform(format!("no database connection: {e}")))?;
            let content = layers_content::Content::new(c.env);
            let mut found = Vec::new();
            for id in containers_of(c) {
                let container = content
                    .get(&db, c.organization_id, id)
                    .await
                    .map_err(|e| Error::Corrupt(e.to_string()))?;
                found.push(container);
            }
            found
        };
        let creatives = c
            .creatives
            .iter()
            .zip(&containers)
            .map(|(cr, container)| {
                let (media_url, is_video) = self.media_of(container)?;
                Ok(layers_platforms::Creative {
                    media_url,
                    is_video,
                    headline: cr.headline.clone(),
                    caption: cr.caption.clone(),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(CampaignSpec {
            name: c.name.clone(),
            objective: match c.objective {
                Objective::AppInstalls => layers_platforms::Objective::AppInstalls,
                Objective::Traffic => layers_platforms::Objective::Traffic,
                Objective::Awareness => layers_platforms::Objective::Awareness,
            },
            daily_budget_minor: c.daily_budget.amount,
            currency: c.daily_budget.currency.clone(),
            start_at: c.active_from,
            end_at: c.end_at,
            countries: c.targeting.countries.clone(),
            age_min: c.targeting.age_min,
            age_max: c.targeting.age_max,
            languages: c.targeting.languages.clone(),
            creatives,
            app_store_url: c.app_store_url.clone(),
            keywords: c.keywords.clone(),
            identity: None,
        })
    }

    /// A container's media for an ad: its video, else its first image.
    fn media_of(&self, c: &Container) -> Result<(String, bool), Error> {
        let stored = |kind: AssetKind| {
            c.assets
                .iter()
                .find_map(|a| match (&a.location, a.kind == kind) {
                    (Location::Stored(key), true) => Some(key.clone()),
                    _ => None,
                })
        };
        let (key, is_video) = match (stored(AssetKind::Video), stored(AssetKind::Image)) {
            (Some(video), _) => (video, true),
            (None, Some(image)) => (image, false),
            (None, None) => {
                return Err(Error::Corrupt(format!(
                    "the content {} has no stored media to advertise",
                    c.id
                )))
            }
        };
        let url = layers_storage::media_url(
            self.media_signer.as_ref(),
            &self.public_base_url,
            &key,
            MEDIA_URL_LIFETIME_SECS,
        );
        Ok((url, is_video))
    }

    async fn created(
        &self,
        pool: &layers_db::Pool,
        c: &Campaign,
        made: layers_platforms::ExternalIds,
    ) -> Result<serde_json::Value, Failure> {
        let ids = ExternalIds {
            campaign: Some(made.campaign),
            ad_set: Some(made.ad_set),
            ads: made.ads,
        };
        let update = Update {
            status: Some(CampaignStatus::Active),
            external_ids: Some(&ids),
            ..Update::default()
        };
        let mut db = pool.get().await.map_err(transient)?;
        let tx = db.transaction().await.map_err(transient)?;
        let active = store::update_campaign(&tx, c, &update)
            .await
            .map_err(transient)?;
        emit(&tx, &active, EventType::AdsCampaignCreated).await?;
        let sync = NewJob {
            project_id: Some(c.project_id),
            ..NewJob::new(
                layers_jobs::JobId::new(),
                c.organization_id,
                c.env,
                &SyncAds {
                    campaign: c.id.to_string(),
                    recent: false,
                },
            )
        };
        layers_jobs::enqueue_at(&tx, &sync, Some(Utc::now() + chrono::TimeDelta::days(1)))
            .await
            .map_err(transient)?;
        tx.commit().await.map_err(transient)?;
        Ok(result(active.id, active.status, &active.external_ids))
    }

    /// Ends a creation the platform refused (or that ran out of attempts): the campaign
    /// `failed` with the platform's words and `ads_campaign.failed`.
    async fn fail_create(
        &self,
        job: &Job,
        pool: &layers_db::Pool,
        c: &Campaign,
        e: PlatformError,
    ) -> Result<serde_json::Value, Failure> {
        let last = job.attempts >= job.max_attempts;
        if e.is_transient() && !last {
            return Err(Failure::Transient(e.to_string()));
        }
        let (error, reauth) = match e {
            PlatformError::Rejected { message, .. } => (CampaignError::rejected(message), false),
            PlatformError::TokenExpired(message) => (
                CampaignError {
                    code: "token_expired".into(),
                    message,
                },
                true,
            ),
            other => (
                CampaignError {
                    code: "platform_error".into(),
                    message: other.to_string(),
                },
                false,
            ),
        };
        let update = Update {
            status: Some(CampaignStatus::Failed),
            error: Some(&error),
            ..Update::default()
        };
        let mut db = pool.get().await.map_err(transient)?;
        let tx = db.transaction().await.map_err(transient)?;
        let failed = store::update_campaign(&tx, c, &update)
            .await
            .map_err(transient)?;
        emit(&tx, &failed, EventType::AdsCampaignFailed).await?;
        if reauth {
            if let Some((_, Some(social), _, _)) = store::reach_of(&tx, c.ad_account_id)
                .await
                .map_err(transient)?
            {
                layers_social::mark_needs_reauth(
                    &tx,
                    layers_social::SocialAccountId::from_uuid(social),
                )
                .await
                .map_err(transient)?;
            }
        }
        tx.commit().await.map_err(transient)?;
        Err(Failure::Refused(layers_jobs::JobError {
            code: job_code(&error.code),
            message: error.message,
        }))
    }

    /// Runs `ads_campaign_update`: the change on the platform, then on the row with
    /// `ads_campaign.updated`. A change the campaign no longer allows fails the job.
    pub(crate) async fn run_update(
        &self,
        job: &Job,
        task: &UpdateCampaign,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        let pool = control.pool();
        let change = task.change()?;
        let campaign = self.read_campaign(pool, &task.campaign).await?;
        let status =
            status_after(&campaign, &change).map_err(|e| Failure::Permanent(e.to_string()))?;
        let platform_ids = platform_ids(&campaign.external_ids);
        let reach = self
            .reach(pool, campaign)
            .await
            .map_err(|e| match platform_of(e) {
                e if e.is_transient() => Failure::Transient(e.to_string()),
                e => Failure::Permanent(e.to_string()),
            })?;
        control.spending_outside().await?;
        for step in platform_changes(&change) {
            if let Err(e) = self
                .clients
                .update_campaign(&reach.auth, &reach.external_id, &platform_ids, &step)
                .await
            {
                let last = job.attempts >= job.max_attempts;
                return Err(if e.is_transient() && !last {
                    Failure::Transient(e.to_string())
                } else {
                    Failure::Permanent(e.to_string())
                });
            }
        }
        let mut db = pool.get().await.map_err(transient)?;
        let tx = db.transaction().await.map_err(transient)?;
        let updated = apply(&tx, &reach.campaign, &change, status)
            .await
            .map_err(transient)?;
        emit(&tx, &updated, EventType::AdsCampaignUpdated).await?;
        tx.commit().await.map_err(transient)?;
        Ok(result(updated.id, updated.status, &updated.external_ids))
    }

    /// Runs `ads_metrics_sync`: the campaign's days from its platform into
    /// `ads_metrics_daily`, then the next sync tomorrow while it runs.
    pub(crate) async fn run_sync(
        &self,
        job: &Job,
        task: &SyncAds,
        control: &Control,
    ) -> Result<serde_json::Value, Failure> {
        let pool = control.pool();
        let campaign = self.read_campaign(pool, &task.campaign).await?;
        if campaign.external_ids.campaign.is_none() {
            return Ok(serde_json::json!({ "synced": 0 }));
        }
        let today = Utc::now().date_naive();
        let back = if task.recent { RECENT_DAYS } else { SYNC_DAYS };
        let first = campaign
            .active_from
            .date_naive()
            .max(today - chrono::TimeDelta::days(back - 1));
        let currency = campaign.daily_budget.currency.clone();
        let ids = platform_ids(&campaign.external_ids);
        let reach = self
            .reach(pool, campaign)
            .await
            .map_err(|e| transient(platform_of(e)))?;
        control.spending_outside().await?;
        let days = self
            .clients
            .campaign_days(
                &reach.auth,
                &reach.external_id,
                &ids,
                &currency,
                first,
                today,
            )
            .await
            .map_err(|e| {
                if e.is_transient() {
                    transient(e)
                } else {
                    Failure::Permanent(e.to_string())
                }
            })?;
        let db = pool.get().await.map_err(transient)?;
        let n = store::upsert_metrics(&db, reach.campaign.id, &days)
            .await
            .map_err(transient)?;
        let c = &reach.campaign;
        if matches!(c.status, CampaignStatus::Active | CampaignStatus::Paused) {
            let next = NewJob {
                project_id: Some(c.project_id),
                api_key_id: job.api_key_id,
                ..NewJob::new(
                    layers_jobs::JobId::new(),
                    c.organization_id,
                    c.env,
                    &SyncAds {
                        campaign: task.campaign.clone(),
                        recent: true,
                    },
                )
            };
            layers_jobs::enqueue_at(&db, &next, Some(Utc::now() + chrono::TimeDelta::days(1)))
                .await
                .map_err(transient)?;
        }
        Ok(serde_json::json!({ "synced": n }))
    }
}

async fn emit(
    db: &impl layers_db::GenericClient,
    c: &Campaign,
    event: EventType,
) -> Result<(), Failure> {
    layers_webhooks::emit(db, c.organization_id, c.env, event, crate::event_data(c))
        .await
        .map(|_| ())
        .map_err(transient)
}

/// A campaign error's code as a job's (the same words).
fn job_code(code: &str) -> &'static str {
    match code {
        "platform_rejected" => "platform_rejected",
        "token_expired" => "token_expired",
        _ => "platform_error",
    }
}

/// Our ids as the platform clients take them.
fn platform_ids(ids: &ExternalIds) -> layers_platforms::ExternalIds {
    layers_platforms::ExternalIds {
        campaign: ids.campaign.clone().unwrap_or_default(),
        ad_set: ids.ad_set.clone().unwrap_or_default(),
        ads: ids.ads.clone(),
    }
}

/// The platform calls of a change: an edit may carry up to three.
fn platform_changes(change: &Change) -> Vec<CampaignChange> {
    match change {
        Change::Edit {
            name,
            daily_budget,
            end_at,
        } => {
            let mut steps = Vec::new();
            if let Some(name) = name {
                steps.push(CampaignChange::Rename(name.clone()));
            }
            if let Some(b) = daily_budget {
                steps.push(CampaignChange::DailyBudget {
                    minor: b.amount,
                    currency: b.currency.clone(),
                });
            }
            if let Some(end) = end_at {
                steps.push(CampaignChange::EndAt(Some(*end)));
            }
            steps
        }
        Change::Pause => vec![CampaignChange::Pause],
        Change::Resume => vec![CampaignChange::Resume],
        Change::Archive => vec![CampaignChange::Archive],
    }
}

/// A failure before the platform was called, sorted as a platform error would be.
fn platform_of(e: Error) -> PlatformError {
    match e {
        Error::AccountRefused(message) => PlatformError::TokenExpired(message),
        Error::Platform(message) => PlatformError::Transient(message),
        Error::NotConfigured(e) => PlatformError::NotConfigured(e),
        other => PlatformError::Malformed(other.to_string()),
    }
}
