//! The `ad_accounts`, `ads_campaigns`, `ads_campaign_days` and `ads_metrics_daily` tables.

use chrono::{DateTime, NaiveDate, Utc};
use layers_core::EnvKind;
use layers_db::GenericClient;
use layers_jobs::JobId;
use layers_metrics_synth::Date;
use layers_orgs::OrgId;
use layers_social::SocialAccountId;
use tokio_postgres::Row;

use crate::input::{Link, NewCampaign};
use crate::{
    AdAccount, AdAccountId, AdPlatform, Budget, Campaign, CampaignError, CampaignId,
    CampaignStatus, Error, ExternalIds, Objective, Result,
};

const ACCOUNT_COLUMNS: &str = "id, organization_id, project_id, is_sandbox, platform, \
     external_id, social_account_id, name, currency, timezone, created_at, deleted_at";

const CAMPAIGN_COLUMNS: &str = "id, organization_id, project_id, is_sandbox, ad_account_id, \
     platform, name, objective, status, daily_budget, currency, start_at, end_at, active_from, \
     targeting, creatives, app_store_url, keywords, external_ids, error, job_id, created_at, \
     updated_at";

/// The time of the campaign's project's test clock, returned by the writes (its events carry it).
const CLOCK_TIME: &str = "(SELECT c.frozen_time FROM project_clock_times c \
     WHERE c.project_id = ads_campaigns.project_id) AS clock_time";

/// "Now" for a project: its test clock's time if it lives on one, else the wall clock.
const PROJECT_NOW: &str =
    "coalesce((SELECT c.frozen_time FROM project_clock_times c WHERE c.project_id = $1), now())";

fn corrupt(what: &str) -> Error {
    Error::Corrupt(what.to_owned())
}

fn account(r: &Row) -> Result<AdAccount> {
    let platform: String = r.get("platform");
    let deleted: Option<DateTime<Utc>> = r.get("deleted_at");
    Ok(AdAccount {
        id: AdAccountId::from_uuid(r.get("id")),
        organization_id: OrgId::from_uuid(r.get("organization_id")),
        project_id: r.get("project_id"),
        env: EnvKind::from_sandbox(r.get("is_sandbox")),
        platform: AdPlatform::parse(&platform).ok_or_else(|| corrupt("ad account platform"))?,
        external_id: r.get("external_id"),
        social_account_id: r
            .get::<_, Option<uuid::Uuid>>("social_account_id")
            .map(SocialAccountId::from_uuid),
        name: r.get("name"),
        currency: r.get("currency"),
        timezone: r.get("timezone"),
        status: if deleted.is_some() {
            "disabled"
        } else {
            "active"
        },
        created_at: r.get("created_at"),
    })
}

fn json_of<T: serde::de::DeserializeOwned>(v: serde_json::Value, what: &str) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

fn campaign(r: &Row) -> Result<Campaign> {
    let platform: String = r.get("platform");
    let objective: String = r.get("objective");
    let status: String = r.get("status");
    let external: Option<serde_json::Value> = r.get("external_ids");
    let error: Option<serde_json::Value> = r.get("error");
    Ok(Campaign {
        id: CampaignId::from_uuid(r.get("id")),
        organization_id: OrgId::from_uuid(r.get("organization_id")),
        project_id: r.get("project_id"),
        env: EnvKind::from_sandbox(r.get("is_sandbox")),
        ad_account_id: AdAccountId::from_uuid(r.get("ad_account_id")),
        platform: AdPlatform::parse(&platform).ok_or_else(|| corrupt("campaign platform"))?,
        name: r.get("name"),
        objective: Objective::parse(&objective).ok_or_else(|| corrupt("campaign objective"))?,
        status: CampaignStatus::parse(&status).ok_or_else(|| corrupt("campaign status"))?,
        daily_budget: Budget {
            amount: r.get("daily_budget"),
            currency: r.get("currency"),
        },
        start_at: r.get("start_at"),
        end_at: r.get("end_at"),
        active_from: r.get("active_from"),
        targeting: json_of(r.get("targeting"), "targeting")?,
        creatives: json_of(r.get("creatives"), "creatives")?,
        app_store_url: r.get("app_store_url"),
        keywords: r.get("keywords"),
        external_ids: external
            .map(|v| json_of(v, "external ids"))
            .transpose()?
            .unwrap_or_default(),
        error: error
            .map(|v| json_of::<CampaignError>(v, "error"))
            .transpose()?,
        job_id: JobId::from_uuid(r.get("job_id")),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        clock_time: r.try_get("clock_time").ok().flatten(),
    })
}

/// Writes a linked ad account; one already linked to the project is [`Error::AlreadyLinked`].
pub(crate) async fn insert_account(
    db: &impl GenericClient,
    link: &Link,
    env: EnvKind,
    info: &layers_platforms::AdAccountInfo,
    sealed: Option<&[u8]>,
) -> Result<AdAccount> {
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "INSERT INTO ad_accounts (id, organization_id, project_id, is_sandbox, platform, \
                 external_id, social_account_id, credentials, name, currency, timezone) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {ACCOUNT_COLUMNS}"
        ),
        &[
            &link.id.as_uuid(),
            &link.organization_id.as_uuid(),
            &link.project_id,
            &env.is_sandbox(),
            &link.platform.as_str(),
            &link.external_id,
            &link.social_account_id.map(|s| s.as_uuid()),
            &sealed,
            &info.name,
            &info.currency,
            &info.timezone,
        ],
    )
    .await
    .map_err(|e| match e.as_db_error().map(|d| d.constraint()) {
        Some(Some("ad_accounts_linked_once")) => Error::AlreadyLinked,
        _ => Error::Db(e),
    })?;
    account(&row)
}

/// One of the organization's ad accounts (either environment, unlinked ones too), with its
/// sealed credentials.
pub(crate) async fn account_of_org(
    db: &impl GenericClient,
    org: OrgId,
    id: AdAccountId,
) -> Result<Option<(AdAccount, Option<Vec<u8>>)>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "SELECT {ACCOUNT_COLUMNS}, credentials FROM ad_accounts \
             WHERE id = $1 AND organization_id = $2"
        ),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?;
    row.map(|r| Ok((account(&r)?, r.get("credentials"))))
        .transpose()
}

/// A project's linked accounts of one environment, newest first (`fetch` rows).
pub(crate) async fn list_accounts(
    db: &impl GenericClient,
    org: OrgId,
    project: uuid::Uuid,
    env: EnvKind,
    after: Option<AdAccountId>,
    fetch: i64,
) -> Result<Vec<AdAccount>> {
    let rows = layers_db::cached::query(
        db,
        &format!(
            "SELECT {ACCOUNT_COLUMNS} FROM ad_accounts \
             WHERE organization_id = $1 AND project_id = $2 AND is_sandbox = $3 \
               AND deleted_at IS NULL AND ($4::uuid IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        ),
        &[
            &org.as_uuid(),
            &project,
            &env.is_sandbox(),
            &after.map(|a| a.as_uuid()),
            &fetch,
        ],
    )
    .await?;
    rows.iter().map(account).collect()
}

/// Unlinks an account (its campaigns keep naming it); `None`: not linked (any more).
pub(crate) async fn unlink(db: &impl GenericClient, id: AdAccountId) -> Result<Option<AdAccount>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!(
            "UPDATE ad_accounts SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL \
             RETURNING {ACCOUNT_COLUMNS}"
        ),
        &[&id.as_uuid()],
    )
    .await?;
    row.as_ref().map(account).transpose()
}

/// How a new campaign is first written.
pub(crate) struct Written<'a> {
    pub status: CampaignStatus,
    pub external_ids: Option<&'a ExternalIds>,
    pub error: Option<&'a CampaignError>,
}

/// Writes a campaign; its first active moment is the later of its start and the project's now.
pub(crate) async fn insert_campaign(
    db: &impl GenericClient,
    new: &NewCampaign,
    env: EnvKind,
    account: &AdAccount,
    written: Written<'_>,
) -> Result<Campaign> {
    let targeting = serde_json::to_value(&new.targeting).expect("targeting serializes");
    let creatives = serde_json::to_value(&new.creatives).expect("creatives serialize");
    let external = written.external_ids.map(|e| serde_json::json!(e));
    let error = written.error.map(|e| serde_json::json!(e));
    let row = layers_db::cached::query_one(
        db,
        &format!(
            "INSERT INTO ads_campaigns (project_id, id, organization_id, is_sandbox, \
                 ad_account_id, platform, name, objective, status, daily_budget, currency, \
                 start_at, end_at, active_from, targeting, creatives, app_store_url, keywords, \
                 external_ids, error, job_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                 greatest($12, {PROJECT_NOW}), $14, $15, $16, $17, $18, $19, $20) \
             RETURNING {CAMPAIGN_COLUMNS}, {CLOCK_TIME}"
        ),
        &[
            &new.project_id,
            &new.id.as_uuid(),
            &new.organization_id.as_uuid(),
            &env.is_sandbox(),
            &account.id.as_uuid(),
            &account.platform.as_str(),
            &new.name,
            &new.objective.as_str(),
            &written.status.as_str(),
            &new.daily_budget.amount,
            &new.daily_budget.currency,
            &new.start_at,
            &new.end_at,
            &targeting,
            &creatives,
            &new.app_store_url,
            &new.keywords,
            &external,
            &error,
            &new.job_id.as_uuid(),
        ],
    )
    .await?;
    campaign(&row)
}

/// One of the organization's campaigns (either environment), locked for a change if asked.
pub(crate) async fn campaign_of_org(
    db: &impl GenericClient,
    org: OrgId,
    id: CampaignId,
    lock: bool,
) -> Result<Option<Campaign>> {
    let sql = format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM ads_campaigns WHERE id = $1 AND organization_id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = layers_db::cached::query_opt(db, &sql, &[&id.as_uuid(), &org.as_uuid()]).await?;
    row.as_ref().map(campaign).transpose()
}

/// A campaign by id alone (a job's).
pub(crate) async fn campaign_by_id(
    db: &impl GenericClient,
    id: CampaignId,
) -> Result<Option<Campaign>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!("SELECT {CAMPAIGN_COLUMNS} FROM ads_campaigns WHERE id = $1"),
        &[&id.as_uuid()],
    )
    .await?;
    row.as_ref().map(campaign).transpose()
}

/// A project's campaigns of one environment, newest first (`fetch` rows).
pub(crate) async fn list_campaigns(
    db: &impl GenericClient,
    org: OrgId,
    project: uuid::Uuid,
    env: EnvKind,
    after: Option<CampaignId>,
    fetch: i64,
) -> Result<Vec<Campaign>> {
    let rows = layers_db::cached::query(
        db,
        &format!(
            "SELECT {CAMPAIGN_COLUMNS} FROM ads_campaigns \
             WHERE organization_id = $1 AND project_id = $2 AND is_sandbox = $3 \
               AND ($4::uuid IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5"
        ),
        &[
            &org.as_uuid(),
            &project,
            &env.is_sandbox(),
            &after.map(|a| a.as_uuid()),
            &fetch,
        ],
    )
    .await?;
    rows.iter().map(campaign).collect()
}

/// What a change writes: each `Some` replaces the stored value.
#[derive(Debug, Default)]
pub(crate) struct Update<'a> {
    pub name: Option<&'a str>,
    pub daily_budget: Option<i64>,
    pub end_at: Option<DateTime<Utc>>,
    pub status: Option<CampaignStatus>,
    pub external_ids: Option<&'a ExternalIds>,
    pub error: Option<&'a CampaignError>,
}

/// Applies `update` to a campaign and, when its status changes between running and paused,
/// records whether it is paused at the end of the project's day (one round trip).
pub(crate) async fn update_campaign(
    db: &impl GenericClient,
    c: &Campaign,
    update: &Update<'_>,
) -> Result<Campaign> {
    let external = update.external_ids.map(|e| serde_json::json!(e));
    let error = update.error.map(|e| serde_json::json!(e));
    let id = c.id.as_uuid();
    let status = update.status.map(CampaignStatus::as_str);
    let sql = format!(
        "UPDATE ads_campaigns SET name = coalesce($2, name), \
             daily_budget = coalesce($3, daily_budget), end_at = coalesce($4, end_at), \
             status = coalesce($5, status), external_ids = coalesce($6, external_ids), \
             error = coalesce($7, error), updated_at = now() \
         WHERE id = $1 RETURNING {CAMPAIGN_COLUMNS}, {CLOCK_TIME}"
    );
    let write = async {
        layers_db::cached::query_one(
            db,
            &sql,
            &[
                &id,
                &update.name,
                &update.daily_budget,
                &update.end_at,
                &status,
                &external,
                &error,
            ],
        )
        .await
        .map_err(Error::from)
    };
    let paused = update
        .status
        .filter(|s| *s != c.status)
        .and_then(|s| match s {
            CampaignStatus::Paused | CampaignStatus::Archived => Some(true),
            CampaignStatus::Active => Some(false),
            _ => None,
        });
    let day = async {
        match paused {
            Some(paused) => record_day(db, c, paused).await,
            None => Ok(()),
        }
    };
    let (row, ()) = futures_util::future::try_join(write, day).await?;
    campaign(&row)
}

/// Records that the campaign is (or is not) paused at the end of the project's current day.
async fn record_day(db: &impl GenericClient, c: &Campaign, paused: bool) -> Result<()> {
    layers_db::cached::execute(
        db,
        &format!(
            "INSERT INTO ads_campaign_days (campaign_id, day, paused) \
             VALUES ($2, ({PROJECT_NOW} AT TIME ZONE 'UTC')::date, $3) \
             ON CONFLICT (campaign_id, day) DO UPDATE SET paused = EXCLUDED.paused"
        ),
        &[&c.project_id, &c.id.as_uuid(), &paused],
    )
    .await?;
    Ok(())
}

/// What a campaign's metrics depend on, and the days its status changed (ascending: whether
/// paused at their end).
#[derive(Debug)]
pub(crate) struct WithDays {
    pub id: CampaignId,
    pub platform: AdPlatform,
    pub objective: Objective,
    pub status: CampaignStatus,
    pub daily_budget: i64,
    pub currency: String,
    pub active_from: DateTime<Utc>,
    pub end_at: Option<DateTime<Utc>>,
    pub paused_days: Vec<(Date, bool)>,
}

/// The project's campaigns of one environment (those named, or all), oldest first, each with
/// its status days: one statement, one index range of status days per campaign.
pub(crate) async fn campaigns_with_days(
    db: &impl GenericClient,
    org: OrgId,
    project: uuid::Uuid,
    env: EnvKind,
    ids: Option<&[uuid::Uuid]>,
) -> Result<Vec<WithDays>> {
    let rows = layers_db::cached::query(
        db,
        "SELECT c.id, c.platform, c.objective, c.status, c.daily_budget, c.currency, \
             c.active_from, c.end_at, coalesce(d.days, '{}'), coalesce(d.paused, '{}') \
         FROM ads_campaigns c LEFT JOIN LATERAL ( \
             SELECT array_agg(x.day ORDER BY x.day) AS days, \
                    array_agg(x.paused ORDER BY x.day) AS paused \
             FROM ads_campaign_days x WHERE x.campaign_id = c.id) d ON true \
         WHERE c.organization_id = $1 AND c.project_id = $2 AND c.is_sandbox = $3 \
           AND ($4::uuid[] IS NULL OR c.id = ANY($4)) \
         ORDER BY c.id LIMIT 1001",
        &[&org.as_uuid(), &project, &env.is_sandbox(), &ids],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let (platform, objective, status): (&str, &str, &str) = (r.get(1), r.get(2), r.get(3));
            let days: Vec<NaiveDate> = r.get(8);
            let paused: Vec<bool> = r.get(9);
            Ok(WithDays {
                id: CampaignId::from_uuid(r.get(0)),
                platform: AdPlatform::parse(platform).ok_or_else(|| corrupt("platform"))?,
                objective: Objective::parse(objective).ok_or_else(|| corrupt("objective"))?,
                status: CampaignStatus::parse(status).ok_or_else(|| corrupt("status"))?,
                daily_budget: r.get(4),
                currency: r.get(5),
                active_from: r.get(6),
                end_at: r.get(7),
                paused_days: days.into_iter().map(date).zip(paused).collect(),
            })
        })
        .collect()
}

/// A stored date as the synthesizer's.
pub(crate) fn date(d: NaiveDate) -> Date {
    use chrono::Datelike;
    Date::new(d.year(), d.month(), d.day()).unwrap_or(Date::MIN)
}

/// The stored live days of `campaigns` within `from..=to`: (campaign, day, spend, impressions,
/// clicks, installs).
pub(crate) async fn metrics_rows(
    db: &impl GenericClient,
    campaigns: &[uuid::Uuid],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(uuid::Uuid, Date, [i64; 4])>> {
    let rows = layers_db::cached::query(
        db,
        "SELECT campaign_id, day, spend, impressions, clicks, installs FROM ads_metrics_daily \
         WHERE campaign_id = ANY($1) AND day BETWEEN $2 AND $3 ORDER BY campaign_id, day",
        &[&campaigns, &from, &to],
    )
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                date(r.get(1)),
                [r.get(2), r.get(3), r.get(4), r.get(5)],
            )
        })
        .collect())
}

/// Stores a live campaign's days as its platform reported them (a day read again replaces the
/// old numbers).
pub(crate) async fn upsert_metrics(
    db: &impl GenericClient,
    campaign: CampaignId,
    days: &[layers_platforms::AdDay],
) -> Result<u64> {
    let dates: Vec<NaiveDate> = days.iter().map(|d| d.date).collect();
    let column = |f: fn(&layers_platforms::AdDay) -> i64| days.iter().map(f).collect::<Vec<i64>>();
    let n = layers_db::cached::execute(
        db,
        "INSERT INTO ads_metrics_daily (campaign_id, day, spend, impressions, clicks, installs) \
         SELECT $1, u.day, u.spend, u.impressions, u.clicks, u.installs \
         FROM unnest($2::date[], $3::int8[], $4::int8[], $5::int8[], $6::int8[]) \
             AS u (day, spend, impressions, clicks, installs) \
         ON CONFLICT (campaign_id, day) DO UPDATE SET spend = EXCLUDED.spend, \
             impressions = EXCLUDED.impressions, clicks = EXCLUDED.clicks, \
             installs = EXCLUDED.installs, synced_at = now()",
        &[
            &campaign.as_uuid(),
            &dates,
            &column(|d| d.spend_minor),
            &column(|d| d.impressions),
            &column(|d| d.clicks),
            &column(|d| d.installs),
        ],
    )
    .await?;
    Ok(n)
}

/// The sealed credentials and social account of a campaign's ad account.
pub(crate) async fn reach_of(
    db: &impl GenericClient,
    account: AdAccountId,
) -> Result<Option<(String, Option<uuid::Uuid>, Option<Vec<u8>>, String)>> {
    let row = layers_db::cached::query_opt(
        db,
        "SELECT external_id, social_account_id, credentials, currency FROM ad_accounts WHERE id = $1",
        &[&account.as_uuid()],
    )
    .await?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))))
}
