//! TikTok for Business: the advertiser's grant ([`Platform::TiktokBusiness`]: the `/portal/auth`
//! consent page, the token, the user) and the Business API v1.3 ads (the advertiser, campaign →
//! ad group → uploaded media → ads, changes, daily reports). Every answer is the envelope
//! `{code, message, request_id, data}`, a failure often in a 200: [`sort`] reads it.

use chrono::{DateTime, NaiveDate, Utc};
use layers_outbound::header::{HeaderName, HeaderValue};
use layers_outbound::{Method, Request, Url};
use serde_json::{json, Value};

use super::money::{minor_of, to_major};
use super::{
    compact, date, need_creatives, AdAccountInfo, AdDay, CampaignChange, CampaignSpec, Creative,
    ExternalIds, Objective,
};
use crate::config::{AppCredentials, Config};
use crate::error::{truncate, Call, PlatformError, Result};
use crate::http::{count, join, optional, text};
use crate::{Clients, Platform, Profile, Token};

const P: Platform = Platform::TiktokBusiness;
const WHO: &str = "tiktok_business";

/// Envelope codes: too many requests, and the access token empty, invalid or expired.
const RATE_LIMITED: i64 = 40100;
const TOKEN_CODES: &[i64] = &[40102, 40104, 40105];

/// TikTok's age buckets, with the ages each covers.
const AGE_GROUPS: &[(&str, u8, u8)] = &[
    ("AGE_13_17", 13, 17),
    ("AGE_18_24", 18, 24),
    ("AGE_25_34", 25, 34),
    ("AGE_35_44", 35, 44),
    ("AGE_45_54", 45, 54),
    ("AGE_55_100", 55, 100),
];

/// What [`crate::Clients::publish`] and [`crate::Clients::insights`] answer for this account.
pub(crate) fn cannot_publish() -> PlatformError {
    PlatformError::rejected(
        422,
        "a TikTok for Business account runs ads; it cannot publish posts",
    )
}

/// Sorts a failed answer: 5xx, 429, code 40100 and codes 5xxxx are `Transient`; the token codes
/// (and a 401) `TokenExpired`, except when exchanging a code; any other code `Rejected` with
/// TikTok's message (422 when the HTTP status was a success).
pub(crate) fn sort(call: Call, status: u16, body: &[u8]) -> PlatformError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = json["code"].as_i64();
    let message = optional(&json["message"]).unwrap_or_else(|| {
        let excerpt = String::from_utf8_lossy(body);
        format!("{WHO} answered {status}: {}", truncate(excerpt.trim(), 300))
    });
    let server_code = code.is_some_and(|c| c == RATE_LIMITED || (50000..60000).contains(&c));
    if status >= 500 || status == 429 || status == 408 || server_code {
        return PlatformError::Transient(format!("{WHO} answered {status}: {message}"));
    }
    let token_gone = code.is_some_and(|c| TOKEN_CODES.contains(&c)) || status == 401;
    if token_gone && call != Call::Code {
        return PlatformError::TokenExpired(message);
    }
    PlatformError::Rejected {
        status: if status >= 400 { status } else { 422 },
        message,
    }
}

fn api(c: &Clients, path: &str) -> Url {
    join(
        &c.config.tiktok_business_base_url,
        &format!("open_api/v1.3/{path}"),
    )
}

/// A Business API request with the `Access-Token` header (marked sensitive).
fn request(c: &Clients, method: Method, path: &str, token: &str) -> Result<Request> {
    let mut value = HeaderValue::from_str(token).map_err(|_| {
        PlatformError::TokenExpired("the tiktok for business token is not a header value".into())
    })?;
    value.set_sensitive(true);
    Ok(c.outbound
        .request(method, api(c, path))
        .header(HeaderName::from_static("access-token"), value))
}

/// Sends `request` and returns the envelope's `data` when its `code` is 0.
async fn call(c: &Clients, call: Call, request: Request) -> Result<Value> {
    let sorter = |status: u16, body: &[u8]| sort(call, status, body);
    let (reply, mut json) = c.json_as(WHO, request, &sorter).await?;
    if json["code"].as_i64() != Some(0) {
        return Err(sorter(reply.status, &reply.body));
    }
    Ok(json["data"].take())
}

/// POSTs `body` as JSON with the token; the answer's `data`.
async fn post(c: &Clients, token: &str, path: &str, body: &Value) -> Result<Value> {
    let request = request(c, Method::POST, path, token)?.json(body);
    call(c, Call::Api, request).await
}

/// The consent page: TikTok for Business has no PKCE and asks for the scopes set on the app.
pub(crate) fn authorize_url(
    config: &Config,
    app: &AppCredentials,
    state: &str,
    redirect_uri: &str,
) -> Url {
    let mut url = join(&config.tiktok_business_base_url, "portal/auth");
    url.query_pairs_mut()
        .append_pair("app_id", &app.client_id)
        .append_pair("state", state)
        .append_pair("redirect_uri", redirect_uri);
    url
}

/// Exchanges the `auth_code` for a long-term token: it does not expire, has no refresh token,
/// and names no user (the profile does).
pub(crate) async fn exchange_code(c: &Clients, app: &AppCredentials, code: &str) -> Result<Token> {
    let body = json!({"app_id": app.client_id, "secret": app.client_secret, "auth_code": code});
    let request = c.outbound.post(api(c, "oauth2/access_token/")).json(&body);
    let data = call(c, Call::Code, request).await?;
    Ok(Token {
        access_token: text(P, &data["access_token"], "access_token")?,
        refresh_token: None,
        expires_at: None,
        user_id: None,
    })
}

pub(crate) async fn profile(c: &Clients, token: &Token) -> Result<Profile> {
    let request = request(c, Method::GET, "user/info/", &token.access_token)?;
    let data = call(c, Call::Api, request).await?;
    let user_id = text(P, &data["core_user_id"], "core_user_id")?;
    Ok(Profile {
        handle: optional(&data["display_name"]).unwrap_or_else(|| user_id.clone()),
        user_id,
    })
}

pub(crate) async fn account(c: &Clients, token: &str, advertiser: &str) -> Result<AdAccountInfo> {
    let ids = json!([advertiser]).to_string();
    let fields = json!(["name", "currency", "timezone", "status"]).to_string();
    let request = request(c, Method::GET, "advertiser/info/", token)?
        .query(&[("advertiser_ids", ids), ("fields", fields)]);
    let data = call(c, Call::Api, request).await?;
    let Some(info) = data["list"].as_array().and_then(|list| list.first()) else {
        return Err(PlatformError::rejected(
            422,
            format!(
                "no access to TikTok advertiser {}",
                truncate(advertiser, 40)
            ),
        ));
    };
    if info["status"] == "STATUS_DISABLE" {
        return Err(PlatformError::rejected(422, "the ad account is disabled"));
    }
    Ok(AdAccountInfo {
        name: optional(&info["name"]).unwrap_or_else(|| advertiser.to_owned()),
        currency: text(P, &info["currency"], "currency")?,
        timezone: text(P, &info["timezone"], "timezone")?,
    })
}

/// What a creation made, for undoing it: `("campaign" | "adgroup", id)`.
type Made = Vec<(&'static str, String)>;

/// Creates the campaign, its ad group, the creatives' media and one ad per creative; on a
/// failure deletes what it made (newest first) and returns the failure.
pub(crate) async fn create(
    c: &Clients,
    token: &str,
    advertiser: &str,
    spec: &CampaignSpec,
) -> Result<ExternalIds> {
    need_creatives(spec)?;
    if spec.objective != Objective::Awareness && spec.app_store_url.is_none() {
        return Err(PlatformError::rejected(
            422,
            "TikTok install and traffic ads need a link: set the app store URL",
        ));
    }
    let mut made = Made::new();
    let result = build(c, token, advertiser, spec, &mut made).await;
    if result.is_err() {
        for (kind, id) in made.iter().rev() {
            let _ = set_status(c, token, advertiser, kind, id, "DELETE").await;
        }
    }
    result
}

async fn build(
    c: &Clients,
    token: &str,
    advertiser: &str,
    spec: &CampaignSpec,
    made: &mut Made,
) -> Result<ExternalIds> {
    let objective = match spec.objective {
        Objective::AppInstalls => "APP_PROMOTION",
        Objective::Traffic => "TRAFFIC",
        Objective::Awareness => "REACH",
    };
    let body = json!({
        "advertiser_id": advertiser,
        "campaign_name": spec.name,
        "objective_type": objective,
        "budget_mode": "BUDGET_MODE_INFINITE",
    });
    let data = post(c, token, "campaign/create/", &body).await?;
    let campaign = text(P, &data["campaign_id"], "campaign_id")?;
    made.push(("campaign", campaign.clone()));
    let body = ad_group(advertiser, spec, &campaign)?;
    let data = post(c, token, "adgroup/create/", &body).await?;
    let ad_set = text(P, &data["adgroup_id"], "adgroup_id")?;
    made.push(("adgroup", ad_set.clone()));
    let mut creatives = Vec::with_capacity(spec.creatives.len());
    for (n, creative) in spec.creatives.iter().enumerate() {
        creatives.push(ad(c, token, advertiser, spec, creative, n).await?);
    }
    let body = json!({"advertiser_id": advertiser, "adgroup_id": ad_set, "creatives": creatives});
    let data = post(c, token, "ad/create/", &body).await?;
    let ads = data["ad_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| text(P, id, "ad id").ok())
                .collect()
        })
        .unwrap_or_default();
    Ok(ExternalIds {
        campaign,
        ad_set,
        ads,
    })
}

/// `YYYY-MM-DD HH:MM:SS` (UTC).
fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The budget as the JSON number of major units TikTok takes.
fn budget(minor: i64, currency: &str) -> Result<Value> {
    serde_json::from_str(&to_major(minor, currency))
        .map_err(|_| PlatformError::rejected(422, "the budget is not a number"))
}

/// TikTok's age buckets overlapping `min..=max` (none when neither is set: all ages).
fn age_groups(min: Option<u8>, max: Option<u8>) -> Option<Vec<&'static str>> {
    if min.is_none() && max.is_none() {
        return None;
    }
    let (min, max) = (min.unwrap_or(0), max.unwrap_or(u8::MAX));
    Some(
        AGE_GROUPS
            .iter()
            .filter(|(_, from, to)| *from <= max && *to >= min)
            .map(|(name, _, _)| *name)
            .collect(),
    )
}

/// The ad group: audience, daily budget, schedule and what it optimizes (and bills) for.
fn ad_group(advertiser: &str, spec: &CampaignSpec, campaign: &str) -> Result<Value> {
    let (goal, billing) = match spec.objective {
        Objective::AppInstalls => ("INSTALL", "OCPM"),
        Objective::Traffic => ("CLICK", "CPC"),
        Objective::Awareness => ("REACH", "CPM"),
    };
    let schedule = match spec.end_at {
        Some(_) => "SCHEDULE_START_END",
        None => "SCHEDULE_FROM_NOW",
    };
    let download = (spec.objective == Objective::AppInstalls).then_some(&spec.app_store_url);
    let languages = (!spec.languages.is_empty()).then_some(&spec.languages);
    Ok(compact(json!({
        "advertiser_id": advertiser,
        "campaign_id": campaign,
        "adgroup_name": spec.name,
        "placement_type": "PLACEMENT_TYPE_AUTOMATIC",
        "location_ids": spec.countries,
        "budget_mode": "BUDGET_MODE_DAY",
        "budget": budget(spec.daily_budget_minor, &spec.currency)?,
        "schedule_type": schedule,
        "schedule_start_time": time(spec.start_at),
        "schedule_end_time": spec.end_at.map(time),
        "optimization_goal": goal,
        "billing_event": billing,
        "age_groups": age_groups(spec.age_min, spec.age_max),
        "languages": languages,
        "app_download_url": download,
    })))
}

/// Uploads a creative's media from its URL and returns its entry of the ad creation.
async fn ad(
    c: &Clients,
    token: &str,
    advertiser: &str,
    spec: &CampaignSpec,
    creative: &Creative,
    n: usize,
) -> Result<Value> {
    let text_of_ad = creative
        .caption
        .clone()
        .or_else(|| creative.headline.clone())
        .unwrap_or_else(|| spec.name.clone());
    let mut entry = json!({
        "ad_name": format!("{} #{}", spec.name, n + 1),
        "ad_text": text_of_ad,
        "call_to_action": match spec.objective {
            Objective::AppInstalls => "DOWNLOAD_NOW",
            Objective::Traffic | Objective::Awareness => "LEARN_MORE",
        },
        "landing_page_url": spec.app_store_url,
    });
    if creative.is_video {
        let body = json!({
            "advertiser_id": advertiser,
            "upload_type": "UPLOAD_BY_URL",
            "video_url": creative.media_url,
        });
        let data = post(c, token, "file/video/ad/upload/", &body).await?;
        let video = if data.is_array() { &data[0] } else { &data };
        entry["ad_format"] = json!("SINGLE_VIDEO");
        entry["video_id"] = json!(text(P, &video["video_id"], "video_id")?);
    } else {
        let body = json!({
            "advertiser_id": advertiser,
            "upload_type": "UPLOAD_BY_URL",
            "image_url": creative.media_url,
        });
        let data = post(c, token, "file/image/ad/upload/", &body).await?;
        entry["ad_format"] = json!("SINGLE_IMAGE");
        entry["image_ids"] = json!([text(P, &data["image_id"], "image_id")?]);
    }
    Ok(compact(entry))
}

/// Sets the status of a `campaign`, `adgroup` or `ad`: `ENABLE`, `DISABLE` or `DELETE`.
async fn set_status(
    c: &Clients,
    token: &str,
    advertiser: &str,
    kind: &str,
    id: &str,
    status: &str,
) -> Result<()> {
    let body = json!({
        "advertiser_id": advertiser,
        format!("{kind}_ids"): [id],
        "operation_status": status,
    });
    post(c, token, &format!("{kind}/status/update/"), &body).await?;
    Ok(())
}

/// The name and status are the campaign's, the budget and end the ad group's. An end of
/// `None` makes the ad group run from now on without an end.
pub(crate) async fn update(
    c: &Clients,
    token: &str,
    advertiser: &str,
    ids: &ExternalIds,
    change: &CampaignChange,
) -> Result<()> {
    let status = |s| set_status(c, token, advertiser, "campaign", &ids.campaign, s);
    let group = |fields: Value| {
        let mut body = json!({"advertiser_id": advertiser, "adgroup_id": ids.ad_set});
        if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        body
    };
    let (path, body) = match change {
        CampaignChange::Pause => return status("DISABLE").await,
        CampaignChange::Resume => return status("ENABLE").await,
        CampaignChange::Archive => return status("DELETE").await,
        CampaignChange::Rename(name) => (
            "campaign/update/",
            json!({"advertiser_id": advertiser, "campaign_id": ids.campaign, "campaign_name": name}),
        ),
        CampaignChange::DailyBudget { minor, currency } => (
            "adgroup/update/",
            group(json!({"budget": budget(*minor, currency)?})),
        ),
        CampaignChange::EndAt(Some(at)) => (
            "adgroup/update/",
            group(json!({"schedule_end_time": time(*at)})),
        ),
        CampaignChange::EndAt(None) => (
            "adgroup/update/",
            group(json!({"schedule_type": "SCHEDULE_FROM_NOW"})),
        ),
    };
    post(c, token, path, &body).await?;
    Ok(())
}

/// The campaign's daily report, one page of up to 1,000 rows (a campaign's 90 days fit).
pub(crate) async fn days(
    c: &Clients,
    token: &str,
    advertiser: &str,
    ids: &ExternalIds,
    currency: &str,
    (from, to): (NaiveDate, NaiveDate),
) -> Result<Vec<AdDay>> {
    let filter = json!([{
        "field_name": "campaign_ids",
        "filter_type": "IN",
        "filter_value": json!([ids.campaign]).to_string(),
    }]);
    let query = [
        ("advertiser_id", advertiser.to_owned()),
        ("report_type", "BASIC".to_owned()),
        ("data_level", "AUCTION_CAMPAIGN".to_owned()),
        (
            "dimensions",
            json!(["campaign_id", "stat_time_day"]).to_string(),
        ),
        (
            "metrics",
            json!(["spend", "impressions", "clicks", "app_install"]).to_string(),
        ),
        ("start_date", from.to_string()),
        ("end_date", to.to_string()),
        ("filtering", filter.to_string()),
        ("page_size", "1000".to_owned()),
    ];
    let request = request(c, Method::GET, "report/integrated/get/", token)?.query(&query);
    let data = call(c, Call::Api, request).await?;
    let rows = data["list"]
        .as_array()
        .ok_or_else(|| PlatformError::Malformed(format!("{WHO}'s report has no list")))?;
    rows.iter()
        .map(|row| {
            let metrics = &row["metrics"];
            Ok(AdDay {
                date: date(WHO, &row["dimensions"]["stat_time_day"])?,
                spend_minor: minor_of(&metrics["spend"], currency),
                impressions: count(&metrics["impressions"]),
                clicks: count(&metrics["clicks"]),
                installs: count(&metrics["app_install"]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(status: u16, body: Value) -> PlatformError {
        sort(Call::Api, status, body.to_string().as_bytes())
    }

    #[test]
    fn the_envelope_is_sorted_by_its_code() {
        let envelope = |code: i64, message: &str| json!({"code": code, "message": message, "request_id": "r1", "data": {}});
        assert!(sorted(200, envelope(40100, "Too many requests")).is_transient());
        assert!(sorted(200, envelope(50000, "System error")).is_transient());
        assert!(sorted(200, envelope(51004, "Busy")).is_transient());
        assert!(sorted(503, json!({})).is_transient());
        assert!(sorted(429, json!({})).is_transient());
        for code in [40102, 40104, 40105] {
            assert!(sorted(200, envelope(code, "Access token is invalid")).is_token_expired());
        }
        let exchange = sort(
            Call::Code,
            200,
            envelope(40105, "bad").to_string().as_bytes(),
        );
        assert!(matches!(
            exchange,
            PlatformError::Rejected { status: 422, .. }
        ));
        let PlatformError::Rejected { status, message } =
            sorted(200, envelope(40002, "Budget is too low"))
        else {
            panic!("not rejected")
        };
        assert_eq!((status, message.as_str()), (422, "Budget is too low"));
    }

    #[test]
    fn age_groups_cover_the_range() {
        assert_eq!(age_groups(None, None), None);
        assert_eq!(
            age_groups(Some(18), Some(34)).unwrap(),
            ["AGE_18_24", "AGE_25_34"]
        );
        assert_eq!(
            age_groups(Some(40), None).unwrap(),
            ["AGE_35_44", "AGE_45_54", "AGE_55_100"]
        );
    }

    #[test]
    fn budgets_are_major_numbers() {
        assert_eq!(budget(1250, "USD").unwrap(), json!(12.5));
        assert_eq!(budget(5000, "JPY").unwrap(), json!(5000));
    }
}
