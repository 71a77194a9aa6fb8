//! Ads (CONTRACT §13): link ad accounts, create and change campaigns (202 jobs), read their
//! daily metrics. Ads spend the partner's own ad account, so they cost no credits.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use layers_ads::input::Field;
use layers_ads::synth::AdDay;
use layers_ads::{
    AdAccount, AdAccountId, AdPlatform, Budget, Campaign, CampaignDays, CampaignId, Change,
    Creative, Link, NewCampaign, Objective, Targeting,
};
use layers_jobs::{Job, JobId};
use layers_metrics::Range;
use layers_projects::ProjectId;
use layers_social::SocialAccountId;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{AdsRead, AdsWrite, Authorized};
use crate::env::Env;
use crate::error::{quote, ApiError};
use crate::extract::{path_id, Json, ListParams};
use crate::routes::metrics::{date_of, project_today, range_of, Ymd};
use crate::tx::{Deferred, Reopened, Tx};
use crate::wire::{time, List};

/// Apple Search Ads API credentials, kept sealed and never returned.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CredentialsRequest {
    #[schema(example = "SEARCHADS.27478e71-3bb0-4588-998c-182e2b405577")]
    client_id: String,
    #[schema(example = "SEARCHADS.27478e71-3bb0-4588-998c-182e2b405577")]
    team_id: String,
    #[schema(example = "bacaebda-e219-41ee-a907-e2c25b24d1b2")]
    key_id: String,
    /// The PKCS#8 P-256 private key whose public key is uploaded to Apple, in PEM.
    #[schema(example = "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----")]
    private_key_pem: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LinkRequest {
    /// `meta`, `tiktok` or `apple_search_ads`.
    #[schema(value_type = crate::openapi::AdPlatform, example = "meta")]
    platform: String,
    /// Meta `act_…`, the TikTok advertiser id, the Apple Search Ads orgId. A test key's
    /// Instagram or TikTok for Business account reaches one ad account, `sb_act_<socialAccountId>`.
    #[schema(example = "sb_act_sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    external_id: String,
    /// Meta: an Instagram account connected with `oauth-url {ads: true}`; TikTok: a
    /// `tiktok_business` account.
    #[schema(example = "sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    social_account_id: Option<String>,
    /// Apple Search Ads only (a test key's are accepted unread).
    credentials: Option<CredentialsRequest>,
}

/// An ad account linked to a project, the same shape in both environments.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdAccount)]
struct AccountBody {
    #[schema(example = "adacct_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: String,
    #[schema(example = "meta")]
    platform: &'static str,
    #[schema(example = "sb_act_sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    external_id: String,
    #[schema(example = "Sandbox ad account")]
    name: String,
    #[schema(example = "USD")]
    currency: String,
    #[schema(example = "UTC")]
    timezone: String,
    /// `active`, or `disabled` once unlinked.
    #[schema(example = "active")]
    status: &'static str,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
}

impl From<AdAccount> for AccountBody {
    fn from(a: AdAccount) -> Self {
        AccountBody {
            id: a.id.to_string(),
            project_id: ProjectId::from_uuid(a.project_id).to_string(),
            platform: a.platform.as_str(),
            external_id: a.external_id,
            name: a.name,
            currency: a.currency,
            timezone: a.timezone,
            status: a.status,
            created_at: time(a.created_at),
        }
    }
}

/// An amount in minor units (cents for USD).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Money)]
struct MoneyBody {
    #[schema(example = 5000)]
    amount: i64,
    #[schema(example = "USD")]
    currency: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = AdTargeting)]
struct TargetingBody {
    /// 1 to 50 ISO 3166-1 alpha-2 codes.
    #[schema(min_items = 1, max_items = 50, example = json!(["US", "CA"]))]
    countries: Vec<String>,
    /// 13 to 65.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 18)]
    age_min: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 44)]
    age_max: Option<u8>,
    /// BCP 47 tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(example = json!(["en"]))]
    languages: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = AdCreative)]
struct CreativeBody {
    /// A `completed` container of the project, of the key's environment.
    #[schema(example = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    container_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    headline: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CampaignRequest {
    #[schema(example = "adacct_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    ad_account_id: String,
    /// 1 to 200 characters. With a test key, a name containing `#sandbox_reject` fails the
    /// campaign as a platform refusal (`error.code` `platform_rejected`, `ads_campaign.failed`);
    /// with a live key it is ordinary text.
    #[schema(example = "Spring launch")]
    name: String,
    /// `app_installs`, `traffic` or `awareness`.
    #[schema(value_type = crate::openapi::CampaignObjective, example = "app_installs")]
    objective: String,
    /// In the ad account's currency, above 0.
    daily_budget: MoneyBody,
    /// When it starts; a time in the past means now.
    #[schema(format = DateTime, example = "2026-05-09T00:00:00.000Z")]
    start_at: String,
    #[schema(format = DateTime, example = "2099-06-09T00:00:00.000Z")]
    end_at: Option<String>,
    targeting: TargetingBody,
    /// 1 to 5 for Meta and TikTok; none for Apple Search Ads.
    #[serde(default)]
    #[schema(max_items = 5)]
    creatives: Vec<CreativeBody>,
    /// Required for `app_installs` (and for Apple Search Ads, whose ad is the app's page).
    #[schema(example = "https://apps.apple.com/us/app/example/id1234567890")]
    app_store_url: Option<String>,
    /// Apple Search Ads only: 1 to 100.
    #[serde(default)]
    #[schema(max_items = 100)]
    keywords: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchRequest {
    name: Option<String>,
    daily_budget: Option<MoneyBody>,
    #[schema(format = DateTime, example = "2099-06-30T00:00:00.000Z")]
    end_at: Option<String>,
}

/// The platform's ids of the campaign's objects (`sb_…` in the sandbox); `null` until created.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdExternalIds)]
struct ExternalIdsBody {
    #[schema(
        required = true,
        example = "sb_cmp_cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"
    )]
    campaign: Option<String>,
    #[schema(
        required = true,
        example = "sb_adset_cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"
    )]
    ad_set: Option<String>,
    #[schema(example = json!(["sb_ad_cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f_0"]))]
    ads: Vec<String>,
}

/// Why a campaign failed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CampaignError)]
struct CampaignErrorBody {
    /// `platform_rejected`, `token_expired` or `platform_error`.
    #[schema(example = "platform_rejected")]
    code: String,
    #[schema(example = "The daily budget is too low for this ad set.")]
    message: String,
}

/// A campaign, the same shape in both environments.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Campaign)]
struct CampaignBody {
    #[schema(example = "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    id: String,
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: String,
    #[schema(example = "adacct_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    ad_account_id: String,
    #[schema(example = "meta")]
    platform: &'static str,
    name: String,
    #[schema(example = "app_installs")]
    objective: &'static str,
    /// `pending`, `active`, `paused`, `failed` or `archived`.
    #[schema(example = "active")]
    status: &'static str,
    daily_budget: MoneyBody,
    #[schema(format = DateTime, example = "2026-05-09T00:00:00.000Z")]
    start_at: String,
    #[schema(required = true, format = DateTime)]
    end_at: Option<String>,
    targeting: TargetingBody,
    creatives: Vec<CreativeBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_store_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keywords: Vec<String>,
    external_ids: ExternalIdsBody,
    #[schema(required = true)]
    error: Option<CampaignErrorBody>,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    created_at: String,
    #[schema(format = DateTime, example = "2026-05-08T12:00:00.000Z")]
    updated_at: String,
}

impl From<Campaign> for CampaignBody {
    fn from(c: Campaign) -> Self {
        CampaignBody {
            id: c.id.to_string(),
            project_id: ProjectId::from_uuid(c.project_id).to_string(),
            ad_account_id: c.ad_account_id.to_string(),
            platform: c.platform.as_str(),
            name: c.name,
            objective: c.objective.as_str(),
            status: c.status.as_str(),
            daily_budget: MoneyBody {
                amount: c.daily_budget.amount,
                currency: c.daily_budget.currency,
            },
            start_at: time(c.start_at),
            end_at: c.end_at.map(time),
            targeting: TargetingBody {
                countries: c.targeting.countries,
                age_min: c.targeting.age_min,
                age_max: c.targeting.age_max,
                languages: c.targeting.languages,
            },
            creatives: c
                .creatives
                .into_iter()
                .map(|cr| CreativeBody {
                    container_id: cr.container_id,
                    headline: cr.headline,
                    caption: cr.caption,
                })
                .collect(),
            app_store_url: c.app_store_url,
            keywords: c.keywords,
            external_ids: ExternalIdsBody {
                campaign: c.external_ids.campaign,
                ad_set: c.external_ids.ad_set,
                ads: c.external_ids.ads,
            },
            error: c.error.map(|e| CampaignErrorBody {
                code: e.code,
                message: e.message,
            }),
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
        }
    }
}

/// The answer of a campaign's creation: its job and its id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CampaignStarted)]
struct Started {
    #[schema(example = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    job_id: String,
    #[schema(schema_with = crate::openapi::job_status)]
    status: &'static str,
    #[schema(example = "ads_campaign_create")]
    kind: String,
    #[schema(example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    project_id: String,
    #[schema(example = "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    campaign_id: String,
    /// The campaign as the request left it (`pending` live; `active` or `failed` in the
    /// sandbox; after a change, changed in the sandbox and unchanged until its job ends live).
    campaign: CampaignBody,
}

impl Started {
    fn new(job: Job, campaign: Campaign) -> Started {
        Started {
            job_id: job.id.to_string(),
            status: job.status.as_str(),
            kind: job.kind,
            project_id: ProjectId::from_uuid(campaign.project_id).to_string(),
            campaign_id: campaign.id.to_string(),
            campaign: CampaignBody::from(campaign),
        }
    }
}

/// The wire name of a refused field.
fn field_name(field: Field, index: Option<usize>) -> String {
    let name = match field {
        Field::Platform => "platform",
        Field::ExternalId => "externalId",
        Field::SocialAccount => "socialAccountId",
        Field::Credentials => "credentials",
        Field::Name | Field::Change => "name",
        Field::Objective => "objective",
        Field::BudgetAmount => "dailyBudget.amount",
        Field::BudgetCurrency => "dailyBudget.currency",
        Field::StartAt => "startAt",
        Field::EndAt => "endAt",
        Field::Countries => "targeting.countries",
        Field::AgeMin => "targeting.ageMin",
        Field::AgeMax => "targeting.ageMax",
        Field::Languages => "targeting.languages",
        Field::Creatives => "creatives",
        Field::CreativeHeadline => return format!("creatives[{}].headline", index.unwrap_or(0)),
        Field::CreativeCaption => return format!("creatives[{}].caption", index.unwrap_or(0)),
        Field::AppStoreUrl => "appStoreUrl",
        Field::Keywords => "keywords",
    };
    match index {
        Some(i) => format!("{name}[{i}]"),
        None => name.to_owned(),
    }
}

/// Refuses a refused field as a 400 naming it.
pub(crate) fn invalid(e: layers_ads::Invalid) -> ApiError {
    ApiError::validation(&field_name(e.field, e.index), e.message)
}

fn at_of(raw: &str, field: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::validation(
                field,
                format!("{field} must be an RFC 3339 time, like 2026-05-09T15:00:00.000Z"),
            )
        })
}

fn platform_of(raw: &str) -> Result<AdPlatform, ApiError> {
    AdPlatform::parse(raw).ok_or_else(|| {
        ApiError::validation(
            "platform",
            format!(
                "platform must be meta, tiktok or apple_search_ads, got {}",
                quote(raw)
            ),
        )
    })
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/ads/accounts",
    tag = "Ads",
    operation_id = "linkAdAccount",
    summary = "Link an ad account",
    description = "Links a Meta ad account (through an Instagram account connected with \
        `oauth-url {platform: \"instagram\", ads: true}`), a TikTok advertiser (through a \
        `tiktok_business` account) or an Apple Search Ads organization (with API credentials, \
        kept sealed and never returned). A live key's ad account is read on its platform (a \
        refusal is 422 `PLATFORM_REJECTED` with the platform's words); a test key's Instagram or \
        TikTok for Business account reaches one ad account, `sb_act_<socialAccountId>`, named \
        `Sandbox ad account`, in USD and UTC, and Apple credentials are accepted unread.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = LinkRequest,
    responses(
        (status = 201, description = "The linked account", body = AccountBody),
        (status = 404, description = "`NOT_FOUND`: the project, or the social account", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: `already_linked`, `ads_permission_missing` or \
            `account_not_active`", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`PLATFORM_REJECTED`: the platform refused the ad account; \
            `ENVIRONMENT_MISMATCH`: the social account belongs to the other environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn link(
    state: web::Data<AppState>,
    auth: Authorized<AdsWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<LinkRequest>,
    later: Deferred,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    let social_account_id = body
        .social_account_id
        .as_deref()
        .map(|s| {
            path_id(s, "social account", SocialAccountId::parse).map_err(|_| {
                ApiError::validation(
                    "socialAccountId",
                    "socialAccountId must be a social account id (sa_…)",
                )
            })
        })
        .transpose()?;
    let link = Link {
        id: AdAccountId::new(),
        organization_id: auth.organization_id,
        project_id: project.as_uuid(),
        platform: platform_of(&body.platform)?,
        external_id: body.external_id,
        social_account_id,
        credentials: body
            .credentials
            .map(|c| layers_platforms::AppleCredentials {
                client_id: c.client_id,
                team_id: c.team_id,
                key_id: c.key_id,
                private_key_pem: c.private_key_pem,
            }),
    };
    let linked = env.ads_env().check_link(&*later.tx().await?, link).await?;
    // the platform is asked with no connection, transaction or claim held
    later.release();
    let info = env
        .ads
        .probe(&state.pool, &linked.link, linked.social.as_ref())
        .await;
    let tx = match later.reopen().await? {
        Reopened::Tx(tx) => tx,
        Reopened::Replay(answer) => return Ok(answer),
    };
    let account = env.ads_env().record_link(&*tx, &linked, &info?).await?;
    Ok(HttpResponse::Created().json(AccountBody::from(account)))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/ads/accounts",
    tag = "Ads",
    operation_id = "listAdAccounts",
    summary = "List a project's ad accounts",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        crate::openapi::ListQuery,
    ),
    responses((status = 200, description = "A page of linked accounts, newest first", body = List<AccountBody>)),
)]
async fn list_accounts(
    state: web::Data<AppState>,
    auth: Authorized<AdsRead>,
    env: Env,
    path: web::Path<String>,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    let cursor = params.cursor(AdAccountId::parse)?;
    let db = state.pool.get().await?;
    let page = env
        .ads_env()
        .list_accounts(&db, auth.organization_id, project, params.limit, cursor)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, AccountBody::from)))
}

#[utoipa::path(
    delete,
    path = "/v1/projects/{projectId}/ads/accounts/{adAccountId}",
    tag = "Ads",
    operation_id = "unlinkAdAccount",
    summary = "Unlink an ad account",
    description = "The account is no longer listed and no campaign can be created on it; its \
        campaigns stay as they are.",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        ("adAccountId" = String, Path, description = "The ad account's id", example = "adacct_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
    ),
    responses(
        (status = 200, description = "The account, `disabled`", body = AccountBody),
        (status = 404, description = "`NOT_FOUND`", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn unlink(
    auth: Authorized<AdsWrite>,
    env: Env,
    path: web::Path<(String, String)>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let (project, id) = path.into_inner();
    let project = path_id(&project, "project", ProjectId::parse)?;
    let id = path_id(&id, "ad account", AdAccountId::parse)?;
    let account = env
        .ads_env()
        .unlink(&*tx, auth.organization_id, project, id)
        .await?;
    Ok(HttpResponse::Ok().json(AccountBody::from(account)))
}

/// A creation request, parsed (its rules are checked by the command).
fn new_campaign(
    auth: &Authorized<AdsWrite>,
    project: ProjectId,
    body: CampaignRequest,
) -> Result<NewCampaign, ApiError> {
    let ad_account_id = AdAccountId::parse(&body.ad_account_id).map_err(|_| {
        ApiError::validation(
            "adAccountId",
            "adAccountId must be an ad account id (adacct_…)",
        )
    })?;
    let objective = Objective::parse(&body.objective).ok_or_else(|| {
        ApiError::validation(
            "objective",
            format!(
                "objective must be app_installs, traffic or awareness, got {}",
                quote(&body.objective)
            ),
        )
    })?;
    let mut creatives = Vec::with_capacity(body.creatives.len());
    for (i, c) in body.creatives.into_iter().enumerate() {
        let field = format!("creatives[{i}].containerId");
        layers_content::ContainerId::parse(&c.container_id).map_err(|_| {
            ApiError::validation(&field, format!("{field} must be a content id (cnt_…)"))
        })?;
        creatives.push(Creative {
            container_id: c.container_id,
            headline: c.headline,
            caption: c.caption,
        });
    }
    Ok(NewCampaign {
        id: CampaignId::new(),
        organization_id: auth.organization_id,
        api_key_id: Some(auth.api_key_id),
        project_id: project.as_uuid(),
        ad_account_id,
        name: body.name,
        objective,
        daily_budget: Budget {
            amount: body.daily_budget.amount,
            currency: body.daily_budget.currency,
        },
        start_at: at_of(&body.start_at, "startAt")?,
        end_at: body
            .end_at
            .as_deref()
            .map(|e| at_of(e, "endAt"))
            .transpose()?,
        targeting: Targeting {
            countries: body.targeting.countries,
            age_min: body.targeting.age_min,
            age_max: body.targeting.age_max,
            languages: body.targeting.languages,
        },
        creatives,
        app_store_url: body.app_store_url,
        keywords: body.keywords,
        job_id: JobId::new(),
    })
}

#[utoipa::path(
    post,
    path = "/v1/projects/{projectId}/ads/campaigns",
    tag = "Ads",
    operation_id = "createCampaign",
    summary = "Create a campaign",
    description = "Starts a job (kind `ads_campaign_create`). A live key's job creates the \
        platform's objects in order (Meta: campaign, ad set, creatives, ads; TikTok: campaign, ad \
        group, media, ads; Apple Search Ads: campaign, ad group, keywords), deletes what it made \
        if a later step is refused, and ends the campaign `active` (`ads_campaign.created`) or \
        `failed` with the platform's words (`ads_campaign.failed`). A test key calls nothing and \
        validates nothing beyond this schema: the campaign is `active` in the answer, with \
        `sb_cmp_<id>`, `sb_adset_<id>` and `sb_ad_<id>_<i>` ids. Ads cost no credits.",
    params(("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = CampaignRequest,
    responses(
        (status = 202, description = "The job and the campaign", body = Started),
        (status = 400, description = "`VALIDATION_ERROR` naming the field", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: the project, the ad account or a creative's \
            content", body = crate::openapi::ErrorEnvelope),
        (status = 409, description = "`CONFLICT` `content_not_ready`: a creative's content is \
            not completed", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`: the ad account or a creative's \
            content belongs to the other environment", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn create(
    auth: Authorized<AdsWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<CampaignRequest>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    let new = new_campaign(&auth, project, body)?;
    let (campaign, job) = env.ads_env().create_campaign(&*tx, &new).await?;
    Ok(HttpResponse::Accepted().json(Started::new(job, campaign)))
}

#[utoipa::path(
    get,
    path = "/v1/ads/campaigns/{campaignId}",
    tag = "Ads",
    operation_id = "getCampaign",
    summary = "Get a campaign",
    params(("campaignId" = String, Path, description = "The campaign's id", example = "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    responses(
        (status = 200, description = "The campaign", body = CampaignBody),
        (status = 404, description = "`NOT_FOUND` (the message says when it exists in the other \
            environment)", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn get(
    state: web::Data<AppState>,
    auth: Authorized<AdsRead>,
    env: Env,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&path, "campaign", CampaignId::parse)?;
    let db = state.pool.get().await?;
    let campaign = env.ads_env().get(&db, auth.organization_id, id).await?;
    Ok(HttpResponse::Ok().json(CampaignBody::from(campaign)))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/ads/campaigns",
    tag = "Ads",
    operation_id = "listCampaigns",
    summary = "List a project's campaigns",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        crate::openapi::ListQuery,
    ),
    responses((status = 200, description = "A page of campaigns, newest first", body = List<CampaignBody>)),
)]
async fn list(
    state: web::Data<AppState>,
    auth: Authorized<AdsRead>,
    env: Env,
    path: web::Path<String>,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    let cursor = params.cursor(CampaignId::parse)?;
    let db = state.pool.get().await?;
    let page = env
        .ads_env()
        .list(&db, auth.organization_id, project, params.limit, cursor)
        .await?;
    Ok(HttpResponse::Ok().json(List::from_page(page, CampaignBody::from)))
}

/// The shared path of patch, pause, resume and archive.
async fn change(
    auth: &Authorized<AdsWrite>,
    env: &Env,
    tx: &Tx,
    id: &str,
    change: Change,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(id, "campaign", CampaignId::parse)?;
    let (campaign, job) = env
        .ads_env()
        .change(
            &**tx,
            auth.organization_id,
            Some(auth.api_key_id),
            id,
            change,
        )
        .await?;
    Ok(HttpResponse::Accepted().json(Started::new(job, campaign)))
}

const CHANGE_DESCRIPTION: &str = "Starts a job (kind `ads_campaign_update`). A test key's \
    change is applied in the answer (`ads_campaign.updated`); a live key's job applies it on the \
    platform first, then on the campaign. Only an `active` or `paused` campaign changes (409 \
    `invalid_campaign_state`).";

#[utoipa::path(
    patch,
    path = "/v1/ads/campaigns/{campaignId}",
    tag = "Ads",
    operation_id = "updateCampaign",
    summary = "Change a campaign's name, daily budget or end",
    description = CHANGE_DESCRIPTION,
    params(("campaignId" = String, Path, description = "The campaign's id", example = "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
    request_body = PatchRequest,
    responses(
        (status = 202, description = "The job and the campaign", body = Started),
        (status = 409, description = "`CONFLICT` `invalid_campaign_state`", body = crate::openapi::ErrorEnvelope),
        (status = 422, description = "`ENVIRONMENT_MISMATCH`", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn patch(
    auth: Authorized<AdsWrite>,
    env: Env,
    path: web::Path<String>,
    Json(body): Json<PatchRequest>,
    tx: Tx,
) -> Result<HttpResponse, ApiError> {
    let edit = Change::Edit {
        name: body.name,
        daily_budget: body.daily_budget.map(|b| Budget {
            amount: b.amount,
            currency: b.currency,
        }),
        end_at: body
            .end_at
            .as_deref()
            .map(|e| at_of(e, "endAt"))
            .transpose()?,
    };
    change(&auth, &env, &tx, &path, edit).await
}

macro_rules! status_route {
    ($name:ident, $path:literal, $op:literal, $summary:literal, $change:expr) => {
        #[utoipa::path(
            post,
            path = $path,
            tag = "Ads",
            operation_id = $op,
            summary = $summary,
            description = CHANGE_DESCRIPTION,
            params(("campaignId" = String, Path, description = "The campaign's id", example = "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),),
            responses(
                (status = 202, description = "The job and the campaign", body = Started),
                (status = 409, description = "`CONFLICT` `invalid_campaign_state`", body = crate::openapi::ErrorEnvelope),
                (status = 422, description = "`ENVIRONMENT_MISMATCH`", body = crate::openapi::ErrorEnvelope),
            ),
        )]
        async fn $name(
            auth: Authorized<AdsWrite>,
            env: Env,
            path: web::Path<String>,
            tx: Tx,
        ) -> Result<HttpResponse, ApiError> {
            change(&auth, &env, &tx, &path, $change).await
        }
    };
}

status_route!(
    pause,
    "/v1/ads/campaigns/{campaignId}/pause",
    "pauseCampaign",
    "Pause a campaign",
    Change::Pause
);
status_route!(
    resume,
    "/v1/ads/campaigns/{campaignId}/resume",
    "resumeCampaign",
    "Resume a paused campaign",
    Change::Resume
);
status_route!(
    archive,
    "/v1/ads/campaigns/{campaignId}/archive",
    "archiveCampaign",
    "Archive a campaign",
    Change::Archive
);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct MetricsQuery {
    /// First day, `YYYY-MM-DD` (default: 27 days before `to`).
    #[param(value_type = Option<String>, format = Date, example = "2026-05-01")]
    from: Option<String>,
    /// Last day, `YYYY-MM-DD`, at most the project's today (the default).
    #[param(value_type = Option<String>, format = Date, example = "2026-05-08")]
    to: Option<String>,
    /// Comma-separated campaign ids (default: every campaign of the project).
    #[param(example = "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    campaign_ids: Option<String>,
}

/// One day of a campaign.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AdMetricsDay)]
struct DayBody {
    #[schema(value_type = String, format = Date, example = "2026-05-08")]
    date: Ymd,
    /// Minor units of the campaign's currency.
    #[schema(example = 4210)]
    spend: i64,
    impressions: i64,
    clicks: i64,
    installs: i64,
}

/// A campaign's days, serialized straight from the series.
#[derive(Debug)]
struct Days<'a>(&'a [AdDay]);

impl Serialize for Days<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|d| DayBody {
            date: Ymd(d.date.ymd()),
            spend: d.spend,
            impressions: d.impressions,
            clicks: d.clicks,
            installs: d.installs,
        }))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CampaignMetrics)]
struct SeriesBody<'a> {
    #[schema(example = "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    campaign_id: String,
    #[schema(example = "meta")]
    platform: &'static str,
    #[schema(value_type = Vec<DayBody>)]
    series: Days<'a>,
}

/// A project's campaigns' days over the range.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AdMetrics)]
pub struct AdMetricsBody<'a> {
    #[schema(format = Date, example = "2026-05-01")]
    from: String,
    #[schema(format = Date, example = "2026-05-08")]
    to: String,
    data: Vec<SeriesBody<'a>>,
}

impl<'a> AdMetricsBody<'a> {
    /// The body of the metrics route for `days` over `range` (also what the bench compares the
    /// route with).
    pub fn new(range: Range, days: &'a [CampaignDays]) -> AdMetricsBody<'a> {
        AdMetricsBody {
            from: range.from().to_string(),
            to: range.to().to_string(),
            data: days
                .iter()
                .map(|c| SeriesBody {
                    campaign_id: c.campaign_id.to_string(),
                    platform: c.platform.as_str(),
                    series: Days(&c.days),
                })
                .collect(),
        }
    }
}

fn campaign_ids_of(raw: Option<&str>) -> Result<Option<Vec<CampaignId>>, ApiError> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let ids = raw
        .split(',')
        .map(|s| {
            CampaignId::parse(s.trim()).map_err(|_| {
                ApiError::validation(
                    "campaignIds",
                    format!("campaignIds must be campaign ids (cmp_…), got {}", quote(s)),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ids.len() > 1000 {
        return Err(ApiError::validation(
            "campaignIds",
            "campaignIds may name at most 1000 campaigns",
        ));
    }
    Ok(Some(ids))
}

#[utoipa::path(
    get,
    path = "/v1/projects/{projectId}/ads/metrics",
    tag = "Ads",
    operation_id = "getAdMetrics",
    summary = "Daily ad metrics of a project's campaigns",
    description = "Live: the days the daily `ads_metrics_sync` job read from the platforms' \
        reports. A test key's are synthesized on read, the same for the same campaign and day: \
        spend 0.6 to 1.0 of the daily budget, 800 to 1,200 impressions per unit of currency, \
        clicks 0.5 to 2 % of impressions, installs 5 to 20 % of clicks (`app_installs` only); \
        zero outside the campaign's active days and on days it was paused or archived at their \
        end (UTC).",
    params(
        ("projectId" = String, Path, description = "The project's id", example = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"),
        MetricsQuery,
    ),
    responses(
        (status = 200, description = "Each campaign's days, oldest campaign first", body = AdMetricsBody),
        (status = 400, description = "`VALIDATION_ERROR`: a bad date or range", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: the project, or a campaign (`details.field` \
            `campaignIds`)", body = crate::openapi::ErrorEnvelope),
    ),
)]
async fn metrics(
    state: web::Data<AppState>,
    auth: Authorized<AdsRead>,
    env: Env,
    path: web::Path<String>,
    query: web::Query<MetricsQuery>,
) -> Result<HttpResponse, ApiError> {
    let project = path_id(&path, "project", ProjectId::parse)?;
    let from = date_of(query.from.as_deref(), "from")?;
    let to = date_of(query.to.as_deref(), "to")?;
    let ids = campaign_ids_of(query.campaign_ids.as_deref())?;
    let db = state.pool.get().await?;
    // the project's day and its campaigns in one round trip
    let ads = env.ads_env();
    let (today, found) = futures_util::future::join(
        project_today(&env, &db, auth.organization_id, project),
        ads.campaigns_for_metrics(&db, auth.organization_id, project, ids.as_deref()),
    )
    .await;
    let today = today?;
    let range = range_of(from, to, today)?;
    let days = ads
        .days(&db, found?, (range.from(), range.to(), today))
        .await?;
    drop(db);
    Ok(HttpResponse::Ok().json(AdMetricsBody::new(range, &days)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    super::Routes::new(cfg, super::V1)
        .route(__path_link, link)
        .route(__path_list_accounts, list_accounts)
        .route(__path_unlink, unlink)
        .route(__path_create, create)
        .route(__path_list, list)
        .route(__path_get, get)
        .route(__path_patch, patch)
        .route(__path_pause, pause)
        .route(__path_resume, resume)
        .route(__path_archive, archive)
        .route(__path_metrics, metrics);
}
