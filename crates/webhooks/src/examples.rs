//! A valid example `data` for each event type of the catalogue (CONTRACT §10), for the test
//! helper that fires an event of any type at one endpoint when the caller gives no `data`. The
//! shapes follow the catalogue; the ids are fixed, well-formed and name nothing that exists.

use serde::Serialize;
use serde_json::Value;

use crate::EventType;

const PROJECT: &str = "proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f";
const JOB: &str = "job_0196b1e4c9a37c2d8e5f0a1b2c3d4e60";
const CONTAINER: &str = "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e61";
const ACCOUNT: &str = "sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e62";
const SCHEDULED_POST: &str = "sp_0196b1e4c9a37c2d8e5f0a1b2c3d4e63";
const CLOCK: &str = "clock_0196b1e4c9a37c2d8e5f0a1b2c3d4e64";
const AT: &str = "2026-05-08T12:00:00.000Z";
const LATER: &str = "2026-05-08T12:00:02.000Z";

/// The example `data` of `event_type`; `endpoint` is the endpoint it is fired at (the data of
/// `test.ping`).
pub fn example_data(event_type: EventType, endpoint: &str) -> Value {
    match event_type {
        EventType::TestPing => to_value(&Ping {
            endpoint_id: endpoint,
        }),
        EventType::JobSucceeded => job(
            "succeeded",
            Some(serde_json::json!({"containerIds": ["cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f"]})),
            None,
        ),
        EventType::JobFailed => job(
            "failed",
            None,
            Some(ErrorBody {
                code: "generation_failed",
                message: "the generator could not produce this content",
            }),
        ),
        EventType::JobCanceled => job("canceled", None, None),
        EventType::ContentCompleted => content("completed"),
        EventType::ContentFailed => content("failed"),
        EventType::SocialAccountConnected
        | EventType::SocialAccountDisconnected
        | EventType::SocialAccountNeedsReauth => to_value(&AccountData {
            social_account_id: ACCOUNT,
            project_id: PROJECT,
            platform: "instagram",
            handle: "sandbox_instagram",
        }),
        EventType::PostPublished => post(None),
        EventType::PostFailed => post(Some(ErrorBody {
            code: "platform_rejected",
            message: "the platform rejected this post",
        })),
        EventType::TestClockAdvancing => clock("advancing"),
        EventType::TestClockReady => clock("ready"),
        EventType::AdsCampaignCreated => campaign("active", None),
        EventType::AdsCampaignUpdated => campaign("paused", None),
        EventType::AdsCampaignFailed => campaign(
            "failed",
            Some(ErrorBody {
                code: "platform_rejected",
                message: "The daily budget is too low for this ad set.",
            }),
        ),
    }
}

fn to_value(data: &impl Serialize) -> Value {
    serde_json::to_value(data).expect("an example of strings serializes")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Ping<'a> {
    endpoint_id: &'a str,
}

#[derive(Serialize)]
struct ErrorBody {
    code: &'static str,
    message: &'static str,
}

/// The job object of CONTRACT §7.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobData {
    id: &'static str,
    kind: &'static str,
    status: &'static str,
    project_id: &'static str,
    created_at: &'static str,
    updated_at: &'static str,
    started_at: &'static str,
    finished_at: &'static str,
    result: Option<Value>,
    error: Option<ErrorBody>,
}

fn job(status: &'static str, result: Option<Value>, error: Option<ErrorBody>) -> Value {
    to_value(&JobData {
        id: JOB,
        kind: "content_generate",
        status,
        project_id: PROJECT,
        created_at: AT,
        updated_at: LATER,
        started_at: AT,
        finished_at: LATER,
        result,
        error,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContentData {
    container_id: &'static str,
    project_id: &'static str,
    job_id: &'static str,
    format: &'static str,
    status: &'static str,
}

fn content(status: &'static str) -> Value {
    to_value(&ContentData {
        container_id: CONTAINER,
        project_id: PROJECT,
        job_id: JOB,
        format: "image",
        status,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountData {
    social_account_id: &'static str,
    project_id: &'static str,
    platform: &'static str,
    handle: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    scheduled_post_id: &'static str,
    container_id: &'static str,
    social_account_id: &'static str,
    platform: &'static str,
    target_index: u32,
    external_id: Option<&'static str>,
    external_url: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
}

fn post(error: Option<ErrorBody>) -> Value {
    let published = error.is_none();
    to_value(&PostData {
        scheduled_post_id: SCHEDULED_POST,
        container_id: CONTAINER,
        social_account_id: ACCOUNT,
        platform: "instagram",
        target_index: 0,
        external_id: published.then_some("sb_post_0196b1e4c9a37c2d"),
        external_url: published.then_some("https://www.instagram.com/p/sb_post_0196b1e4c9a37c2d"),
        error,
    })
}

/// The test clock of CONTRACT §12.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClockData {
    id: &'static str,
    name: &'static str,
    frozen_time: &'static str,
    status: &'static str,
    created_at: &'static str,
}

fn clock(status: &'static str) -> Value {
    to_value(&ClockData {
        id: CLOCK,
        name: "Example clock",
        frozen_time: LATER,
        status,
        created_at: AT,
    })
}

const CAMPAIGN: &str = "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e65";

/// A campaign of CONTRACT §13 (a failed one has no platform ids).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CampaignData {
    campaign_id: &'static str,
    project_id: &'static str,
    platform: &'static str,
    status: &'static str,
    external_ids: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
}

fn campaign(status: &'static str, error: Option<ErrorBody>) -> Value {
    let external_ids = match error {
        Some(_) => serde_json::json!({"campaign": null, "adSet": null, "ads": []}),
        None => serde_json::json!({
            "campaign": format!("sb_cmp_{CAMPAIGN}"),
            "adSet": format!("sb_adset_{CAMPAIGN}"),
            "ads": [format!("sb_ad_{CAMPAIGN}_0")],
        }),
    };
    to_value(&CampaignData {
        campaign_id: CAMPAIGN,
        project_id: PROJECT,
        platform: "meta",
        status,
        external_ids,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_an_object_example() {
        for t in EventType::ALL {
            let data = example_data(t, "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f");
            assert!(data.is_object(), "{t}");
        }
        assert_eq!(
            example_data(EventType::TestPing, "wh_x"),
            serde_json::json!({"endpointId": "wh_x"})
        );
    }
}
