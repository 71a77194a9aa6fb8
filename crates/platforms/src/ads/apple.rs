//! Apple Search Ads API v5 with the partner's own API credentials: an access token for every
//! use (client credentials with an ES256 client secret), then the organization (`X-AP-Context`),
//! campaign → ad group → keywords, changes, and the daily campaign report.

use chrono::{DateTime, NaiveDate, Utc};
use layers_outbound::header::{HeaderName, HeaderValue};
use layers_outbound::{Method, Request, Url};
use serde_json::{json, Value};

use super::jwt;
use super::money::{exponent, minor_of, to_major};
use super::{
    compact, date, AdAccountInfo, AdDay, AppleCredentials, CampaignChange, CampaignSpec,
    ExternalIds,
};
use crate::error::{truncate, PlatformError, Result};
use crate::http::{count, join, optional};
use crate::Clients;

const WHO: &str = "apple search ads";

/// Sorts a failed API answer `{error: {errors: [{messageCode, message, field}]}}`: 5xx, 429
/// and 408 are `Transient`; anything else (401 included: the partner's credentials, not a
/// social account) `Rejected` with Apple's messages joined.
pub(crate) fn sort(status: u16, body: &[u8]) -> PlatformError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let messages: Vec<String> = json["error"]["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| optional(&e["message"]))
                .collect()
        })
        .unwrap_or_default();
    let message = if messages.is_empty() {
        let excerpt = String::from_utf8_lossy(body);
        let excerpt = excerpt.trim();
        if excerpt.is_empty() {
            format!("{WHO} answered {status} without an error message")
        } else {
            format!("{WHO} answered {status}: {}", truncate(excerpt, 300))
        }
    } else {
        messages.join("; ")
    };
    if status >= 500 || status == 429 || status == 408 {
        return PlatformError::Transient(format!("{WHO} answered {status}: {message}"));
    }
    PlatformError::Rejected {
        status: if status >= 400 { status } else { 422 },
        message,
    }
}

/// Sorts a refused token exchange (`{error: "invalid_client"}`): `Rejected` 422 with Apple's
/// words, unless Apple is unavailable.
fn sort_token(status: u16, body: &[u8]) -> PlatformError {
    if status >= 500 || status == 429 || status == 408 {
        return sort(status, body);
    }
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = optional(&json["error_description"])
        .or_else(|| optional(&json["error"]))
        .unwrap_or_else(|| format!("{WHO} refused the credentials ({status})"));
    PlatformError::rejected(422, message)
}

/// A fresh access token for `credentials` (a key that cannot sign is refused without a call).
async fn access_token(c: &Clients, credentials: &AppleCredentials) -> Result<String> {
    let secret = jwt::client_secret(credentials, Utc::now().timestamp())
        .map_err(|e| PlatformError::rejected(422, e))?;
    let url = join(&c.config.apple_auth_base_url, "auth/oauth2/token");
    let request = c.outbound.post(url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", credentials.client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", "searchadsorg"),
    ]);
    let (_, answer) = c.json_as(WHO, request, &sort_token).await?;
    text_of(&answer["access_token"], "access_token")
}

fn text_of(value: &Value, field: &str) -> Result<String> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(PlatformError::Malformed(format!(
            "{WHO}'s answer has no {field}"
        ))),
    }
}

/// An API call in the organization `org`, with a token.
struct Session<'a> {
    token: String,
    org: &'a str,
}

impl Session<'_> {
    async fn open<'a>(
        c: &Clients,
        credentials: &AppleCredentials,
        org: &'a str,
    ) -> Result<Session<'a>> {
        Ok(Session {
            token: access_token(c, credentials).await?,
            org,
        })
    }

    fn request(&self, c: &Clients, method: Method, path: &str) -> Result<Request> {
        let context = HeaderValue::from_str(&format!("orgId={}", self.org)).map_err(|_| {
            PlatformError::rejected(422, "the organization id is not a valid header value")
        })?;
        let url: Url = join(&c.config.apple_ads_base_url, &format!("api/v5/{path}"));
        Ok(c.outbound
            .request(method, url)
            .bearer(&self.token)
            .header(HeaderName::from_static("x-ap-context"), context))
    }

    /// Sends a call (with `body` as JSON, if any); Apple's answer.
    async fn send(
        &self,
        c: &Clients,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut request = self.request(c, method, path)?;
        if let Some(body) = body {
            request = request.json(body);
        }
        let (_, answer) = c.json_as(WHO, request, &sort).await?;
        Ok(answer)
    }
}

pub(crate) async fn account(
    c: &Clients,
    credentials: &AppleCredentials,
    org: &str,
) -> Result<AdAccountInfo> {
    let session = Session::open(c, credentials, org).await?;
    let answer = session.send(c, Method::GET, "acls", None).await?;
    let ours = answer["data"].as_array().and_then(|acls| {
        acls.iter()
            .find(|acl| text_of(&acl["orgId"], "orgId").is_ok_and(|id| id == org))
    });
    let Some(acl) = ours else {
        return Err(PlatformError::rejected(
            422,
            format!(
                "no access to Apple Search Ads organization {}",
                truncate(org, 40)
            ),
        ));
    };
    Ok(AdAccountInfo {
        name: optional(&acl["orgName"]).unwrap_or_else(|| org.to_owned()),
        currency: text_of(&acl["currency"], "currency")?,
        timezone: text_of(&acl["timeZone"], "timeZone")?,
    })
}

/// The app's Adam id: the digits of `/id<digits>` in its App Store URL.
fn adam_id(url: Option<&str>) -> Option<String> {
    let url = url?;
    url.match_indices("/id").find_map(|(at, _)| {
        let digits: String = url[at + 3..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        (!digits.is_empty()).then_some(digits)
    })
}

/// Apple's timestamps: `YYYY-MM-DDTHH:MM:SS.mmm` (UTC).
fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

fn money(minor: i64, currency: &str) -> Value {
    json!({"amount": to_major(minor, currency), "currency": currency})
}

/// Creates the campaign, its ad group and the keywords; on a failure after the campaign
/// exists, deletes the campaign (which takes its ad group and keywords with it).
pub(crate) async fn create(
    c: &Clients,
    credentials: &AppleCredentials,
    org: &str,
    spec: &CampaignSpec,
) -> Result<ExternalIds> {
    let Some(adam) = adam_id(spec.app_store_url.as_deref()) else {
        return Err(PlatformError::rejected(
            422,
            "Apple Search Ads needs the app's App Store URL (…/id<digits>)",
        ));
    };
    let session = Session::open(c, credentials, org).await?;
    let body = compact(json!({
        "orgId": org.parse::<i64>().map_or_else(|_| json!(org), |id| json!(id)),
        "name": spec.name,
        "adamId": adam.parse::<i64>().map_or_else(|_| json!(adam), |id| json!(id)),
        "countriesOrRegions": spec.countries,
        "dailyBudgetAmount": money(spec.daily_budget_minor, &spec.currency),
        "adChannelType": "SEARCH",
        "supplySources": ["APPSTORE_SEARCH_RESULTS"],
        "billingEvent": "TAPS",
        "startTime": time(spec.start_at),
        "endTime": spec.end_at.map(time),
    }));
    let answer = session
        .send(c, Method::POST, "campaigns", Some(&body))
        .await?;
    let campaign = text_of(&answer["data"]["id"], "campaign id")?;
    let result = build(c, &session, &campaign, spec).await;
    if result.is_err() {
        let path = format!("campaigns/{campaign}");
        let _ = session.send(c, Method::DELETE, &path, None).await;
    }
    result
}

/// The ad group (bidding one major unit a tap by default) and its broad-match keywords.
async fn build(
    c: &Clients,
    session: &Session<'_>,
    campaign: &str,
    spec: &CampaignSpec,
) -> Result<ExternalIds> {
    let bid = money(10_i64.pow(exponent(&spec.currency)), &spec.currency);
    let age = (spec.age_min.is_some() || spec.age_max.is_some())
        .then(|| json!({"age": {"included": [{"minAge": spec.age_min, "maxAge": spec.age_max}]}}));
    let body = compact(json!({
        "name": spec.name,
        "pricingModel": "CPC",
        "defaultBidAmount": bid,
        "startTime": time(spec.start_at),
        "endTime": spec.end_at.map(time),
        "automatedKeywordsOptIn": false,
        "targetingDimensions": age,
    }));
    let path = format!("campaigns/{campaign}/adgroups");
    let answer = session.send(c, Method::POST, &path, Some(&body)).await?;
    let ad_group = text_of(&answer["data"]["id"], "ad group id")?;
    let mut keywords = Vec::new();
    if !spec.keywords.is_empty() {
        let body: Value = spec
            .keywords
            .iter()
            .map(|k| json!({"text": k, "matchType": "BROAD", "bidAmount": bid}))
            .collect();
        let path = format!("campaigns/{campaign}/adgroups/{ad_group}/targetingkeywords/bulk");
        let answer = session.send(c, Method::POST, &path, Some(&body)).await?;
        let created = answer["data"].as_array().ok_or_else(|| {
            PlatformError::Malformed(format!("{WHO}'s keywords answer has no data"))
        })?;
        for keyword in created {
            keywords.push(text_of(&keyword["id"], "keyword id")?);
        }
    }
    Ok(ExternalIds {
        campaign: campaign.to_owned(),
        ad_set: ad_group,
        ads: keywords,
    })
}

/// Every change is the campaign's (`PUT` of its fields); archiving deletes it.
pub(crate) async fn update(
    c: &Clients,
    credentials: &AppleCredentials,
    org: &str,
    ids: &ExternalIds,
    change: &CampaignChange,
) -> Result<()> {
    let fields = match change {
        CampaignChange::Rename(name) => json!({"name": name}),
        CampaignChange::DailyBudget { minor, currency } => {
            json!({"dailyBudgetAmount": money(*minor, currency)})
        }
        CampaignChange::EndAt(at) => json!({"endTime": at.map(time)}),
        CampaignChange::Pause => json!({"status": "PAUSED"}),
        CampaignChange::Resume => json!({"status": "ENABLED"}),
        CampaignChange::Archive => Value::Null,
    };
    let session = Session::open(c, credentials, org).await?;
    let path = format!("campaigns/{}", ids.campaign);
    if fields.is_null() {
        session.send(c, Method::DELETE, &path, None).await?;
    } else {
        let body = json!({"campaign": fields});
        session.send(c, Method::PUT, &path, Some(&body)).await?;
    }
    Ok(())
}

/// The campaign's daily report (UTC days), one page of up to 1,000 rows.
pub(crate) async fn days(
    c: &Clients,
    credentials: &AppleCredentials,
    org: &str,
    ids: &ExternalIds,
    currency: &str,
    (from, to): (NaiveDate, NaiveDate),
) -> Result<Vec<AdDay>> {
    let body = json!({
        "startTime": from.to_string(),
        "endTime": to.to_string(),
        "granularity": "DAILY",
        "timeZone": "UTC",
        "selector": {
            "conditions": [{"field": "campaignId", "operator": "IN", "values": [ids.campaign]}],
            "orderBy": [{"field": "campaignId", "sortOrder": "ASCENDING"}],
            "pagination": {"offset": 0, "limit": 1000},
        },
        "returnRowTotals": false,
        "returnRecordsWithNoMetrics": true,
    });
    let session = Session::open(c, credentials, org).await?;
    let answer = session
        .send(c, Method::POST, "reports/campaigns", Some(&body))
        .await?;
    let rows = answer["data"]["reportingDataResponse"]["row"]
        .as_array()
        .ok_or_else(|| PlatformError::Malformed(format!("{WHO}'s report has no rows")))?;
    let mut days = Vec::new();
    for granularity in rows.iter().filter_map(|row| row["granularity"].as_array()) {
        for day in granularity {
            let installs = if day["totalInstalls"].is_null() {
                &day["installs"]
            } else {
                &day["totalInstalls"]
            };
            days.push(AdDay {
                date: date(WHO, &day["date"])?,
                spend_minor: minor_of(&day["localSpend"]["amount"], currency),
                impressions: count(&day["impressions"]),
                clicks: count(&day["taps"]),
                installs: count(installs),
            });
        }
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam_ids_from_app_store_urls() {
        let url = "https://apps.apple.com/us/app/acme/id1234567890?mt=8";
        assert_eq!(adam_id(Some(url)).as_deref(), Some("1234567890"));
        assert_eq!(adam_id(Some("https://apps.apple.com/idea/x")), None);
        assert_eq!(
            adam_id(Some(
                "https://play.google.com/store/apps/details?id=com.acme"
            )),
            None
        );
        assert_eq!(adam_id(None), None);
    }

    #[test]
    fn errors_are_sorted_with_apples_messages() {
        let body = json!({"data": null, "error": {"errors": [
            {"messageCode": "INVALID_INPUT", "message": "budget too low", "field": "dailyBudgetAmount"},
            {"messageCode": "INVALID_INPUT", "message": "bad country", "field": "countriesOrRegions"}
        ]}})
        .to_string();
        let PlatformError::Rejected { status, message } = sort(400, body.as_bytes()) else {
            panic!("not rejected")
        };
        assert_eq!(
            (status, message.as_str()),
            (400, "budget too low; bad country")
        );
        assert!(matches!(
            sort(401, b""),
            PlatformError::Rejected { status: 401, .. }
        ));
        assert!(sort(503, b"<html>").is_transient());
        assert!(sort(429, b"").is_transient());
        let PlatformError::Rejected { status, message } =
            sort_token(400, br#"{"error":"invalid_client"}"#)
        else {
            panic!("not rejected")
        };
        assert_eq!((status, message.as_str()), (422, "invalid_client"));
    }
}
