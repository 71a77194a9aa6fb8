//! Meta ads through the Marketing API (on the Graph API at [`GRAPH_VERSION`]), with the
//! Instagram account's token: the ad account, campaign → ad set → creatives (an uploaded video
//! or a picture link) → ads, changes, and the campaign's daily insights. Errors are Graph's,
//! sorted as Instagram's are.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use layers_outbound::{Method, Request};
use serde_json::{json, Value};

use super::money::minor_of;
use super::{
    compact, date, need_creatives, AdAccountInfo, AdDay, CampaignChange, CampaignSpec, Creative,
    ExternalIds, Objective,
};
use crate::error::{Call, PlatformError, Result};
use crate::http::{count, join, optional, text};
use crate::{Clients, Platform, GRAPH_VERSION};

const P: Platform = Platform::Instagram;

/// How many pages of insights are read at most (a page holds up to [`PAGE_SIZE`] days).
const MAX_PAGES: usize = 10;
const PAGE_SIZE: &str = "100";

/// A Marketing API request with the user's token.
fn graph(c: &Clients, method: Method, path: &str, token: &str) -> Request {
    let url = join(
        &c.config.meta_graph_base_url,
        &format!("{GRAPH_VERSION}/{path}"),
    );
    c.outbound.request(method, url).bearer(token)
}

async fn send(c: &Clients, request: Request) -> Result<Value> {
    c.json(P, Call::Api, request).await
}

/// `act_<digits>`, from the id with or without its prefix.
fn act(external_id: &str) -> Result<String> {
    let digits = external_id.trim();
    let digits = digits.strip_prefix("act_").unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PlatformError::rejected(
            422,
            format!("{external_id:?} is not a Meta ad account id (act_<digits>)"),
        ));
    }
    Ok(format!("act_{digits}"))
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) async fn account(c: &Clients, token: &str, external_id: &str) -> Result<AdAccountInfo> {
    let act = act(external_id)?;
    let answer = send(
        c,
        graph(c, Method::GET, &act, token)
            .query(&[("fields", "name,currency,timezone_name,account_status")]),
    )
    .await?;
    if count(&answer["account_status"]) != 1 {
        return Err(PlatformError::rejected(422, "the ad account is disabled"));
    }
    Ok(AdAccountInfo {
        name: optional(&answer["name"]).unwrap_or(act),
        currency: text(P, &answer["currency"], "currency")?,
        timezone: text(P, &answer["timezone_name"], "timezone_name")?,
    })
}

/// POSTs `body` as JSON and returns the created object's id.
async fn create_object(c: &Clients, token: &str, path: &str, body: Value) -> Result<String> {
    let answer = send(c, graph(c, Method::POST, path, token).json(&body)).await?;
    text(P, &answer["id"], "id")
}

/// The ads' link: the App Store page. Installs and traffic need it, and so does a picture ad.
fn link(spec: &CampaignSpec) -> Result<Option<&str>> {
    let needed =
        spec.objective != Objective::Awareness || spec.creatives.iter().any(|cr| !cr.is_video);
    match spec.app_store_url.as_deref() {
        None if needed => Err(PlatformError::rejected(
            422,
            "Meta ads for this campaign need a link: set the app store URL",
        )),
        link => Ok(link),
    }
}

/// Creates the campaign, its ad set, a creative and an ad per creative; on a failure deletes
/// what it made (newest first) and returns the failure.
pub(crate) async fn create(
    c: &Clients,
    token: &str,
    external_id: &str,
    spec: &CampaignSpec,
) -> Result<ExternalIds> {
    let act = act(external_id)?;
    need_creatives(spec)?;
    let identity = spec.identity.as_deref().ok_or_else(|| {
        PlatformError::rejected(
            422,
            "Meta ads need the Instagram account they run as (identity)",
        )
    })?;
    let link = link(spec)?;
    let mut made = Vec::new();
    let ask = Ask {
        act: &act,
        spec,
        identity,
        link,
    };
    let result = build(c, token, &ask, &mut made).await;
    if result.is_err() {
        for id in made.iter().rev() {
            let _ = send(c, graph(c, Method::DELETE, id, token)).await;
        }
    }
    result
}

/// What every step of a creation needs.
struct Ask<'a> {
    act: &'a str,
    spec: &'a CampaignSpec,
    identity: &'a str,
    link: Option<&'a str>,
}

async fn build(
    c: &Clients,
    token: &str,
    ask: &Ask<'_>,
    made: &mut Vec<String>,
) -> Result<ExternalIds> {
    let (act, spec) = (ask.act, ask.spec);
    let objective = match spec.objective {
        Objective::AppInstalls => "OUTCOME_APP_PROMOTION",
        Objective::Traffic => "OUTCOME_TRAFFIC",
        Objective::Awareness => "OUTCOME_AWARENESS",
    };
    let body = json!({
        "name": spec.name,
        "objective": objective,
        "status": "ACTIVE",
        "special_ad_categories": [],
    });
    let campaign = create_object(c, token, &format!("{act}/campaigns"), body).await?;
    made.push(campaign.clone());
    let body = ad_set(spec, &campaign);
    let ad_set = create_object(c, token, &format!("{act}/adsets"), body).await?;
    made.push(ad_set.clone());
    let mut ads = Vec::with_capacity(spec.creatives.len());
    for (n, creative) in spec.creatives.iter().enumerate() {
        let name = format!("{} #{}", spec.name, n + 1);
        let creative_id = make_creative(c, token, ask, creative, &name, made).await?;
        let body = json!({
            "name": name,
            "adset_id": ad_set,
            "creative": {"creative_id": creative_id},
            "status": "ACTIVE",
        });
        let ad = create_object(c, token, &format!("{act}/ads"), body).await?;
        made.push(ad.clone());
        ads.push(ad);
    }
    Ok(ExternalIds {
        campaign,
        ad_set,
        ads,
    })
}

/// The ad set: budget (Meta takes minor units), schedule, audience, and what it optimizes
/// for. Its ads show on Instagram, where the account they run as is.
fn ad_set(spec: &CampaignSpec, campaign: &str) -> Value {
    let goal = match spec.objective {
        Objective::AppInstalls => "APP_INSTALLS",
        Objective::Traffic => "LINK_CLICKS",
        Objective::Awareness => "REACH",
    };
    let promoted = (spec.objective == Objective::AppInstalls)
        .then(|| json!({"object_store_url": spec.app_store_url}));
    compact(json!({
        "name": spec.name,
        "campaign_id": campaign,
        "daily_budget": spec.daily_budget_minor,
        "billing_event": "IMPRESSIONS",
        "optimization_goal": goal,
        "targeting": {
            "geo_locations": {"countries": spec.countries},
            "age_min": spec.age_min,
            "age_max": spec.age_max,
            "publisher_platforms": ["instagram"],
        },
        "start_time": time(spec.start_at),
        "end_time": spec.end_at.map(time),
        "promoted_object": promoted,
        "status": "ACTIVE",
    }))
}

/// Uploads a video creative's media (Meta fetches it from its URL), then creates the ad
/// creative; its id. Both are recorded in `made`.
async fn make_creative(
    c: &Clients,
    token: &str,
    ask: &Ask<'_>,
    creative: &Creative,
    name: &str,
    made: &mut Vec<String>,
) -> Result<String> {
    let act = ask.act;
    let call_to_action = ask.link.map(|link| {
        let kind = match ask.spec.objective {
            Objective::AppInstalls => "INSTALL_MOBILE_APP",
            Objective::Traffic | Objective::Awareness => "LEARN_MORE",
        };
        json!({"type": kind, "value": {"link": link}})
    });
    let story = if creative.is_video {
        let body = json!({"file_url": creative.media_url});
        let video = create_object(c, token, &format!("{act}/advideos"), body).await?;
        made.push(video.clone());
        json!({
            "instagram_user_id": ask.identity,
            "video_data": {
                "video_id": video,
                "message": creative.caption,
                "title": creative.headline,
                "call_to_action": call_to_action,
            },
        })
    } else {
        json!({
            "instagram_user_id": ask.identity,
            "link_data": {
                "picture": creative.media_url,
                "message": creative.caption,
                "name": creative.headline,
                "link": ask.link,
                "call_to_action": call_to_action,
            },
        })
    };
    let body = compact(json!({"name": name, "object_story_spec": story}));
    let id = create_object(c, token, &format!("{act}/adcreatives"), body).await?;
    made.push(id.clone());
    Ok(id)
}

/// Name and status are the campaign's; budget and end are the ad set's. An end of `None`
/// is Meta's `end_time` 0 (no end).
pub(crate) async fn update(
    c: &Clients,
    token: &str,
    ids: &ExternalIds,
    change: &CampaignChange,
) -> Result<()> {
    let (object, body) = match change {
        CampaignChange::Rename(name) => (&ids.campaign, json!({"name": name})),
        CampaignChange::DailyBudget { minor, .. } => (&ids.ad_set, json!({"daily_budget": minor})),
        CampaignChange::EndAt(Some(at)) => (&ids.ad_set, json!({"end_time": time(*at)})),
        CampaignChange::EndAt(None) => (&ids.ad_set, json!({"end_time": 0})),
        CampaignChange::Pause => (&ids.campaign, json!({"status": "PAUSED"})),
        CampaignChange::Resume => (&ids.campaign, json!({"status": "ACTIVE"})),
        CampaignChange::Archive => (&ids.campaign, json!({"status": "ARCHIVED"})),
    };
    send(c, graph(c, Method::POST, object, token).json(&body)).await?;
    Ok(())
}

/// The campaign's daily insights, following the paging cursor for at most [`MAX_PAGES`]
/// pages.
pub(crate) async fn days(
    c: &Clients,
    token: &str,
    ids: &ExternalIds,
    currency: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<AdDay>> {
    let range = json!({"since": from.to_string(), "until": to.to_string()}).to_string();
    let path = format!("{}/insights", ids.campaign);
    let mut after: Option<String> = None;
    let mut days = Vec::new();
    for _ in 0..MAX_PAGES {
        let mut request = graph(c, Method::GET, &path, token).query(&[
            ("level", "campaign"),
            ("time_increment", "1"),
            ("time_range", &range),
            ("fields", "spend,impressions,clicks,actions"),
            ("limit", PAGE_SIZE),
        ]);
        if let Some(cursor) = &after {
            request = request.query(&[("after", cursor)]);
        }
        let answer = send(c, request).await?;
        let rows = answer["data"]
            .as_array()
            .ok_or_else(|| PlatformError::Malformed("meta's insights have no data".into()))?;
        for row in rows {
            days.push(day(row, currency)?);
        }
        after = optional(&answer["paging"]["cursors"]["after"])
            .filter(|_| answer["paging"]["next"].is_string());
        if after.is_none() {
            break;
        }
    }
    Ok(days)
}

fn day(row: &Value, currency: &str) -> Result<AdDay> {
    let installs = row["actions"].as_array().map_or(0, |actions| {
        actions
            .iter()
            .filter(|a| a["action_type"] == "mobile_app_install")
            .map(|a| count(&a["value"]))
            .sum()
    });
    Ok(AdDay {
        date: date("meta", &row["date_start"])?,
        spend_minor: minor_of(&row["spend"], currency),
        impressions: count(&row["impressions"]),
        clicks: count(&row["clicks"]),
        installs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_account_ids_with_or_without_the_prefix() {
        assert_eq!(act("act_123").unwrap(), "act_123");
        assert_eq!(act(" 123 ").unwrap(), "act_123");
        assert!(act("act_").is_err());
        assert!(act("12a").is_err());
    }

    #[test]
    fn insight_rows_in_minor_units() {
        let row = json!({
            "date_start": "2025-03-01", "date_stop": "2025-03-01",
            "spend": "12.5", "impressions": "1000", "clicks": "12",
            "actions": [
                {"action_type": "link_click", "value": "12"},
                {"action_type": "mobile_app_install", "value": "3"}
            ]
        });
        let day = day(&row, "USD").unwrap();
        assert_eq!(day.date, NaiveDate::from_ymd_opt(2025, 3, 1).unwrap());
        assert_eq!(
            (day.spend_minor, day.impressions, day.clicks, day.installs),
            (1250, 1000, 12, 3)
        );
    }
}
