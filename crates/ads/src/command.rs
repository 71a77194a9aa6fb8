//! The ads commands (CONTRACT §13): one code path for both environments, each a call on the
//! request's transaction that checks, writes its rows, starts its job and emits its event; the
//! seam ([`Ads`]) decides only what differs.

use chrono::{DateTime, Utc};
use layers_content::{Container, ContainerId};
use layers_core::{EnvKind, Limit, Page};
use layers_db::GenericClient;
use layers_jobs::{Job, Jobs, NewJob, Outset};
use layers_metrics_synth::Date;
use layers_orgs::OrgId;
use layers_projects::{ProjectId, Projects};
use layers_social::{Account, AccountStatus};

use crate::input::{Change, Link, NewCampaign};
use crate::live::{CreateCampaign, UpdateCampaign};
use crate::seam::{status_after, Ads};
use crate::store::{self, Update, Written};
use crate::synth::{self, AdDay, Schedule};
use crate::{
    AdAccount, AdAccountId, Campaign, CampaignId, CampaignStatus, Error, Objective, Result,
};

/// What the ads commands reach, for one environment.
#[derive(Debug, Clone, Copy)]
pub struct AdsEnv<'a> {
    pub env: EnvKind,
    pub projects: &'a Projects,
    pub jobs: &'a Jobs,
    pub ads: &'a Ads,
}

/// A link checked in the request's transaction, ready for [`Ads::probe`] outside it.
#[derive(Debug)]
pub struct Linked {
    pub link: Link,
    pub social: Option<Account>,
}

/// The campaigns a metrics read covers, with the days their status changed.
#[derive(Debug)]
pub struct ForMetrics(Vec<store::WithDays>);

/// One campaign's days over a range.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignDays {
    pub campaign_id: CampaignId,
    pub platform: crate::AdPlatform,
    pub days: Vec<AdDay>,
}

fn social_error(e: layers_social::Error) -> Error {
    match e {
        layers_social::Error::Db(e) => Error::Db(e),
        e => Error::Corrupt(e.to_string()),
    }
}

impl AdsEnv<'_> {
    /// Checks a link before the platform is asked: the input, the project (of this
    /// environment), and for Meta and TikTok the social account (this project's, this
    /// environment's, the right platform, active, and for Meta connected with the ads consent).
    pub async fn check_link(&self, db: &impl GenericClient, link: Link) -> Result<Linked> {
        link.check()?;
        let project = ProjectId::from_uuid(link.project_id);
        let social = async {
            match link.social_account_id {
                Some(id) => {
                    layers_social::accounts_of_org(db, link.organization_id, &[id.as_uuid()])
                        .await
                        .map(|mut found| found.pop())
                        .map_err(social_error)
                }
                None => Ok(None),
            }
        };
        let project = async {
            self.projects
                .require_active(db, link.organization_id, project)
                .await
                .map_err(Error::from)
        };
        let (_, social) = futures_util::future::try_join(project, social).await?;
        if link.social_account_id.is_some() {
            let account = social.as_ref().ok_or(Error::SocialAccountNotFound)?;
            self.check_social(&link, account)?;
        }
        Ok(Linked { link, social })
    }

    fn check_social(&self, link: &Link, account: &Account) -> Result<()> {
        if account.env != self.env {
            return Err(Error::SocialAccountEnvironmentMismatch(account.env));
        }
        if account.project_id != link.project_id {
            return Err(Error::SocialAccountNotFound);
        }
        let expected = link.platform.social_platform().unwrap_or_default();
        if account.platform.as_str() != expected {
            return Err(Error::WrongSocialPlatform {
                platform: link.platform.as_str(),
                expected,
                found: account.platform.as_str(),
            });
        }
        if account.status != AccountStatus::Active {
            return Err(Error::SocialAccountNotActive(account.status.as_str()));
        }
        if link.platform == crate::AdPlatform::Meta && !account.ads {
            return Err(Error::AdsPermissionMissing);
        }
        Ok(())
    }

    /// Writes a link the platform confirmed (`info`), its credentials sealed.
    pub async fn record_link(
        &self,
        db: &impl GenericClient,
        linked: &Linked,
        info: &layers_platforms::AdAccountInfo,
    ) -> Result<AdAccount> {
        let sealed = self.ads.seal(&linked.link)?;
        store::insert_account(db, &linked.link, self.env, info, sealed.as_deref()).await
    }

    /// A project's linked ad accounts, newest first.
    pub async fn list_accounts(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project: ProjectId,
        limit: Limit,
        after: Option<AdAccountId>,
    ) -> Result<Page<AdAccount, AdAccountId>> {
        self.projects.get(db, org, project).await?;
        let fetch = i64::from(limit.get()) + 1;
        let items =
            store::list_accounts(db, org, project.as_uuid(), self.env, after, fetch).await?;
        Ok(Page::from_overfetch(items, limit, |a: &AdAccount| a.id))
    }

    /// Unlinks one of the project's ad accounts of this environment.
    pub async fn unlink(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project: ProjectId,
        id: AdAccountId,
    ) -> Result<AdAccount> {
        let account = self.account(db, org, project.as_uuid(), id).await?;
        store::unlink(db, account.id)
            .await?
            .ok_or(Error::AccountNotFound)
    }

    /// One of the project's linked accounts of this environment; another environment's is
    /// 422, anything else unknown 404.
    async fn account(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project: uuid::Uuid,
        id: AdAccountId,
    ) -> Result<AdAccount> {
        let (account, _) = store::account_of_org(db, org, id)
            .await?
            .ok_or(Error::AccountNotFound)?;
        if account.env != self.env {
            return Err(Error::AccountEnvironmentMismatch(account.env));
        }
        if account.project_id != project || account.status != "active" {
            return Err(Error::AccountNotFound);
        }
        Ok(account)
    }

    /// Creates a campaign: the input, the project, the ad account and each creative's
    /// container are checked (read in one round trip), then the campaign, its job and (the
    /// sandbox) its event are written in one more.
    pub async fn create_campaign(
        &self,
        db: &impl GenericClient,
        new: &NewCampaign,
    ) -> Result<(Campaign, Job)> {
        new.check()?;
        let (account, containers, clock) = self.read_for_campaign(db, new).await?;
        new.check_for(account.platform, &account.currency)?;
        self.check_containers(new, &containers)?;
        let outset = self.ads.outset(new);
        let no_ids = crate::ExternalIds::default();
        let data = crate::EventData {
            campaign: new.id,
            project: new.project_id,
            platform: account.platform,
            status: outset.status,
            external_ids: outset.external_ids.as_ref().unwrap_or(&no_ids),
            error: outset.error.as_ref(),
        }
        .value();
        let written = Written {
            status: outset.status,
            external_ids: outset.external_ids.as_ref(),
            error: outset.error.as_ref(),
        };
        let job = NewJob {
            project_id: Some(new.project_id),
            api_key_id: new.api_key_id,
            ..NewJob::new(
                new.job_id,
                new.organization_id,
                self.env,
                &CreateCampaign::new(new.id),
            )
        };
        // the row, the job and the event in one round trip (the event's data is known already)
        let row = store::insert_campaign(db, new, self.env, &account, written);
        let job = async {
            self.jobs
                .start(db, job, outset.job)
                .await
                .map_err(Error::from)
        };
        let event = async {
            if let Some(event) = outset.event {
                let org = new.organization_id;
                layers_webhooks::emit_at(db, org, self.env, event, data, clock).await?;
            }
            Ok(())
        };
        let (campaign, job, ()) = futures_util::future::try_join3(row, job, event).await?;
        Ok((campaign, job))
    }

    async fn read_for_campaign(
        &self,
        db: &impl GenericClient,
        new: &NewCampaign,
    ) -> Result<(AdAccount, Vec<Option<Container>>, Option<DateTime<Utc>>)> {
        let project = async {
            self.projects
                .require_active(
                    db,
                    new.organization_id,
                    ProjectId::from_uuid(new.project_id),
                )
                .await
                .map_err(Error::from)
        };
        let account = self.account(db, new.organization_id, new.project_id, new.ad_account_id);
        let containers = futures_util::future::try_join_all(new.creatives.iter().map(|c| async {
            let Some(id) = c.container() else {
                return Ok(None);
            };
            layers_content::container_without_assets(db, new.organization_id, id)
                .await
                .map_err(|e| match e {
                    layers_content::Error::Db(e) => Error::Db(e),
                    e => Error::Corrupt(e.to_string()),
                })
        }));
        // the project's clock: the events' time on a test clock
        let clock = async {
            layers_projects::clock_time(db, new.project_id)
                .await
                .map_err(Error::from)
        };
        let (_, account, containers, clock) =
            futures_util::future::try_join4(project, account, containers, clock).await?;
        Ok((account, containers, clock))
    }

    fn check_containers(&self, new: &NewCampaign, found: &[Option<Container>]) -> Result<()> {
        for (index, c) in found.iter().enumerate() {
            let c = c.as_ref().ok_or(Error::ContainerNotFound { index })?;
            if c.env != self.env {
                return Err(Error::ContainerEnvironmentMismatch { index, env: c.env });
            }
            if c.project_id != new.project_id {
                return Err(Error::ContainerNotFound { index });
            }
        }
        for (index, c) in found.iter().flatten().enumerate() {
            if c.status != layers_content::Status::Completed {
                return Err(Error::ContainerNotReady {
                    index,
                    status: c.status.as_str(),
                });
            }
        }
        Ok(())
    }

    pub(crate) async fn emit(
        &self,
        db: &impl GenericClient,
        c: &Campaign,
        event: layers_webhooks::EventType,
    ) -> Result<()> {
        let data = crate::event_data(c);
        layers_webhooks::emit_at(db, c.organization_id, self.env, event, data, c.clock_time)
            .await?;
        Ok(())
    }

    /// One of the organization's campaigns of this environment.
    pub async fn get(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: CampaignId,
    ) -> Result<Campaign> {
        let c = store::campaign_of_org(db, org, id, false)
            .await?
            .ok_or(Error::CampaignNotFound)?;
        if c.env != self.env {
            return Err(Error::CampaignInOtherEnvironment(c.env));
        }
        Ok(c)
    }

    /// A project's campaigns of this environment, newest first.
    pub async fn list(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project: ProjectId,
        limit: Limit,
        after: Option<CampaignId>,
    ) -> Result<Page<Campaign, CampaignId>> {
        self.projects.get(db, org, project).await?;
        let fetch = i64::from(limit.get()) + 1;
        let items =
            store::list_campaigns(db, org, project.as_uuid(), self.env, after, fetch).await?;
        Ok(Page::from_overfetch(items, limit, |c: &Campaign| c.id))
    }

    /// Changes a campaign (edit, pause, resume, archive) through an `ads_campaign_update` job:
    /// applied in the request in the sandbox (with `ads_campaign.updated`), on the platform by
    /// the job live. A campaign not `active` or `paused`, or a status change that does not
    /// apply, is [`Error::InvalidState`].
    pub async fn change(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        api_key_id: Option<uuid::Uuid>,
        id: CampaignId,
        change: Change,
    ) -> Result<(Campaign, Job)> {
        let c = store::campaign_of_org(db, org, id, true)
            .await?
            .ok_or(Error::CampaignNotFound)?;
        if c.env != self.env {
            return Err(Error::CampaignEnvironmentMismatch(c.env));
        }
        let status = status_after(&c, &change)?;
        change.check(c.start_at, &c.daily_budget.currency)?;
        let task = UpdateCampaign::new(c.id, &change);
        let job = NewJob {
            project_id: Some(c.project_id),
            api_key_id,
            ..NewJob::new(layers_jobs::JobId::new(), org, self.env, &task)
        };
        if !self.ads.applies_in_request() {
            let job = self.jobs.start(db, job, Outset::Queued).await?;
            return Ok((c, job));
        }
        let updated = apply(db, &c, &change, status).await?;
        let result = crate::live::result(c.id, updated.status, &updated.external_ids);
        let job = self.jobs.start(db, job, Outset::Succeeded(result)).await?;
        self.emit(db, &updated, layers_webhooks::EventType::AdsCampaignUpdated)
            .await?;
        Ok((updated, job))
    }

    /// The daily metrics of the project's campaigns of this environment (those named, each of
    /// which must exist, or all) from `from` to `to`, oldest campaign first: synthesized in
    /// the sandbox, read from the synced table live. `today` is the project's day.
    pub async fn metrics(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project: ProjectId,
        ids: Option<&[CampaignId]>,
        (from, to, today): (Date, Date, Date),
    ) -> Result<Vec<CampaignDays>> {
        let found = self.campaigns_for_metrics(db, org, project, ids).await?;
        self.days(db, found, (from, to, today)).await
    }

    /// The first half of [`AdsEnv::metrics`]: the campaigns and their status days, read in one
    /// statement (a caller may send it beside its own reads, before it knows the range).
    pub async fn campaigns_for_metrics(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project: ProjectId,
        ids: Option<&[CampaignId]>,
    ) -> Result<ForMetrics> {
        let uuids: Option<Vec<uuid::Uuid>> =
            ids.map(|ids| ids.iter().map(|i| i.as_uuid()).collect());
        let found =
            store::campaigns_with_days(db, org, project.as_uuid(), self.env, uuids.as_deref())
                .await?;
        if let Some(ids) = ids {
            let missing: Vec<String> = ids
                .iter()
                .filter(|id| !found.iter().any(|f| f.id == **id))
                .map(ToString::to_string)
                .collect();
            if !missing.is_empty() {
                return Err(Error::UnknownCampaigns(missing));
            }
        }
        Ok(ForMetrics(found))
    }

    /// The second half of [`AdsEnv::metrics`]: the days of what was read, over the range.
    pub async fn days(
        &self,
        db: &impl GenericClient,
        found: ForMetrics,
        (from, to, today): (Date, Date, Date),
    ) -> Result<Vec<CampaignDays>> {
        if self.ads.synthesizes() {
            return Ok(found
                .0
                .into_iter()
                .map(|f| synthesized(f, from, to, today))
                .collect());
        }
        live_days(db, found.0, from, to).await
    }
}

/// Applies a change to the row (and its day), as the sandbox request or the live job does.
pub(crate) async fn apply(
    db: &impl GenericClient,
    c: &Campaign,
    change: &Change,
    status: Option<CampaignStatus>,
) -> Result<Campaign> {
    let update = match change {
        Change::Edit {
            name,
            daily_budget,
            end_at,
        } => Update {
            name: name.as_deref(),
            daily_budget: daily_budget.as_ref().map(|b| b.amount),
            end_at: *end_at,
            ..Update::default()
        },
        _ => Update {
            status,
            ..Update::default()
        },
    };
    store::update_campaign(db, c, &update).await
}

fn day_of(at: DateTime<Utc>) -> Date {
    store::date(at.date_naive())
}

fn synthesized(f: store::WithDays, from: Date, to: Date, today: Date) -> CampaignDays {
    let ran = !matches!(f.status, CampaignStatus::Pending | CampaignStatus::Failed);
    let id = f.id.to_string();
    let schedule = Schedule {
        campaign_id: &id,
        daily_budget: f.daily_budget,
        currency: &f.currency,
        installs: f.objective == Objective::AppInstalls,
        first_day: ran.then(|| day_of(f.active_from)),
        last_day: f.end_at.map(day_of),
        paused_days: &f.paused_days,
        today,
        paused_now: matches!(f.status, CampaignStatus::Paused | CampaignStatus::Archived),
    };
    CampaignDays {
        campaign_id: f.id,
        platform: f.platform,
        days: synth::series(&schedule, from, to),
    }
}

async fn live_days(
    db: &impl GenericClient,
    found: Vec<store::WithDays>,
    from: Date,
    to: Date,
) -> Result<Vec<CampaignDays>> {
    let naive =
        |d: Date| chrono::NaiveDate::from_ymd_opt(d.year(), d.month(), d.day()).unwrap_or_default();
    let ids: Vec<uuid::Uuid> = found.iter().map(|f| f.id.as_uuid()).collect();
    let rows: std::collections::HashMap<(uuid::Uuid, Date), [i64; 4]> =
        store::metrics_rows(db, &ids, naive(from), naive(to))
            .await?
            .into_iter()
            .map(|(c, d, v)| ((c, d), v))
            .collect();
    Ok(found
        .into_iter()
        .map(|f| {
            let id = f.id.as_uuid();
            let days = (from.days_since_epoch()..=to.days_since_epoch())
                .filter_map(|n| Date::from_days_since_epoch(n).ok())
                .map(|date| {
                    let [spend, impressions, clicks, installs] =
                        rows.get(&(id, date)).copied().unwrap_or([0; 4]);
                    AdDay {
                        date,
                        spend,
                        impressions,
                        clicks,
                        installs,
                    }
                })
                .collect();
            CampaignDays {
                campaign_id: f.id,
                platform: f.platform,
                days,
            }
        })
        .collect())
}

/// The container ids of a campaign's creatives.
pub(crate) fn containers_of(c: &Campaign) -> Vec<ContainerId> {
    c.creatives.iter().filter_map(|cr| cr.container()).collect()
}
