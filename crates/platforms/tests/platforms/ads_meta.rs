//! Meta ads (Marketing API on Graph v21.0) against a wiremock fake: the ad account, a campaign
//! created step by step (and undone when a step is refused), changes, daily insights, and
//! Graph's errors.

use layers_platforms::{AdDay, AdsAuth, CampaignChange, ExternalIds, PlatformError};
use serde_json::json;
use wiremock::matchers::{
    body_string_contains, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::*;

fn auth() -> AdsAuth {
    AdsAuth::Meta {
        access_token: "EAAads".into(),
    }
}

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn mount_post(server: &MockServer, at: &str, contains: &str, id: &str) {
    Mock::given(method("POST"))
        .and(path(at))
        .and(body_string_contains(contains))
        .respond_with(ok(json!({ "id": id })))
        .mount(server)
        .await;
}

/// Every step of a creation answers, except the ones the test mounts itself.
async fn mount_creation(server: &MockServer) {
    mount_post(
        server,
        "/v21.0/act_42/campaigns",
        "OUTCOME_APP_PROMOTION",
        "c1",
    )
    .await;
    mount_post(server, "/v21.0/act_42/adsets", "c1", "s1").await;
    mount_post(server, "/v21.0/act_42/advideos", "clip.mp4", "v1").await;
    mount_post(server, "/v21.0/act_42/adcreatives", "video_data", "cr1").await;
    mount_post(server, "/v21.0/act_42/adcreatives", "link_data", "cr2").await;
    mount_post(server, "/v21.0/act_42/ads", "cr1", "ad1").await;
    mount_post(server, "/v21.0/act_42/ads", "cr2", "ad2").await;
}

#[tokio::test]
async fn the_ad_account_with_or_without_its_prefix() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/act_42"))
        .and(query_param(
            "fields",
            "name,currency,timezone_name,account_status",
        ))
        .and(header("authorization", "Bearer EAAads"))
        .respond_with(ok(json!({
            "id": "act_42", "name": "Acme Ads", "currency": "EUR",
            "timezone_name": "Europe/Paris", "account_status": 1
        })))
        .expect(2)
        .mount(&server)
        .await;
    let c = clients(&server);
    for id in ["act_42", "42"] {
        let info = c.ad_account(&auth(), id).await.unwrap();
        assert_eq!(
            (
                info.name.as_str(),
                info.currency.as_str(),
                info.timezone.as_str()
            ),
            ("Acme Ads", "EUR", "Europe/Paris")
        );
    }

    server.reset().await;
    Mock::given(path("/v21.0/act_42"))
        .respond_with(ok(
            json!({"name": "Old", "currency": "EUR", "timezone_name": "UTC", "account_status": 2}),
        ))
        .mount(&server)
        .await;
    let result = c.ad_account(&auth(), "act_42").await;
    assert_eq!(rejected(result), (422, "the ad account is disabled".into()));
}

#[tokio::test]
async fn a_campaign_is_created_in_order() {
    let server = MockServer::start().await;
    mount_creation(&server).await;
    let ids = clients(&server)
        .create_campaign(&auth(), "act_42", &campaign_spec())
        .await
        .unwrap();
    assert_eq!(
        ids,
        ExternalIds {
            campaign: "c1".into(),
            ad_set: "s1".into(),
            ads: vec!["ad1".into(), "ad2".into()],
        }
    );
    let requests = server.received_requests().await.unwrap();
    let order: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert_eq!(
        order,
        [
            "/v21.0/act_42/campaigns",
            "/v21.0/act_42/adsets",
            "/v21.0/act_42/advideos",
            "/v21.0/act_42/adcreatives",
            "/v21.0/act_42/ads",
            "/v21.0/act_42/adcreatives",
            "/v21.0/act_42/ads",
        ]
    );
    assert!(requests
        .iter()
        .all(|r| r.headers["authorization"] == "Bearer EAAads"));
    assert_eq!(
        json_of(&requests[0]),
        json!({"name": "Spring launch", "objective": "OUTCOME_APP_PROMOTION", "status": "ACTIVE", "special_ad_categories": []})
    );
    assert_eq!(
        json_of(&requests[1]),
        json!({
            "name": "Spring launch", "campaign_id": "c1", "daily_budget": 1250,
            "billing_event": "IMPRESSIONS", "optimization_goal": "APP_INSTALLS",
            "targeting": {"geo_locations": {"countries": ["US", "CA"]}, "age_min": 18, "age_max": 34, "publisher_platforms": ["instagram"]},
            "start_time": "2025-04-01T09:30:00Z", "end_time": "2025-04-30T00:00:00Z",
            "promoted_object": {"object_store_url": "https://apps.apple.com/us/app/acme/id1234567890"},
            "status": "ACTIVE"
        })
    );
    assert_eq!(
        json_of(&requests[2]),
        json!({"file_url": "https://cdn.layers.test/clip.mp4"})
    );
    let video = json_of(&requests[3]);
    assert_eq!(
        video["object_story_spec"],
        json!({
            "instagram_user_id": "17841400001",
            "video_data": {
                "video_id": "v1", "message": "The app for acmes", "title": "Try Acme",
                "call_to_action": {"type": "INSTALL_MOBILE_APP", "value": {"link": "https://apps.apple.com/us/app/acme/id1234567890"}}
            }
        })
    );
    let ad = json_of(&requests[4]);
    assert_eq!(ad["adset_id"], "s1");
    assert_eq!(ad["creative"], json!({"creative_id": "cr1"}));
    let picture = json_of(&requests[5]);
    assert_eq!(
        picture["object_story_spec"]["link_data"]["picture"],
        "https://cdn.layers.test/still.jpg"
    );
    assert_eq!(
        picture["object_story_spec"]["link_data"]["name"],
        "Acme, now"
    );
    assert!(picture["object_story_spec"]["link_data"]
        .get("message")
        .is_none());
}

#[tokio::test]
async fn a_refused_ad_set_deletes_the_campaign_and_keeps_metas_words() {
    let server = MockServer::start().await;
    mount_post(&server, "/v21.0/act_42/campaigns", "Spring", "c1").await;
    Mock::given(method("POST"))
        .and(path("/v21.0/act_42/adsets"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Invalid parameter", "type": "OAuthException", "code": 100,
            "error_user_msg": "The daily budget is too low for this ad set."
        }})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v21.0/c1"))
        .respond_with(ok(json!({"success": true})))
        .expect(1)
        .mount(&server)
        .await;
    let result = clients(&server)
        .create_campaign(&auth(), "42", &campaign_spec())
        .await;
    assert_eq!(
        rejected(result),
        (400, "The daily budget is too low for this ad set.".into())
    );
    assert_eq!(received(&server, "DELETE", "/v21.0/c1").await.len(), 1);
    for untouched in [
        "/v21.0/act_42/advideos",
        "/v21.0/act_42/adcreatives",
        "/v21.0/act_42/ads",
    ] {
        assert!(received(&server, "POST", untouched).await.is_empty());
    }
}

#[tokio::test]
async fn a_refused_ad_deletes_everything_made_newest_first() {
    let server = MockServer::start().await;
    mount_post(&server, "/v21.0/act_42/campaigns", "Spring", "c1").await;
    mount_post(&server, "/v21.0/act_42/adsets", "c1", "s1").await;
    mount_post(&server, "/v21.0/act_42/advideos", "clip", "v1").await;
    mount_post(&server, "/v21.0/act_42/adcreatives", "video_data", "cr1").await;
    Mock::given(method("POST"))
        .and(path("/v21.0/act_42/ads"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"error": {"message": "An unexpected error has occurred.", "code": 2, "is_transient": true}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ok(json!({"success": true})))
        .mount(&server)
        .await;
    let result = clients(&server)
        .create_campaign(&auth(), "act_42", &campaign_spec())
        .await;
    assert!(transient(result).contains("An unexpected error has occurred."));
    let deleted: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        deleted,
        ["/v21.0/cr1", "/v21.0/v1", "/v21.0/s1", "/v21.0/c1"]
    );
}

#[tokio::test]
async fn changes_go_to_the_campaign_or_its_ad_set() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok(json!({"success": true})))
        .mount(&server)
        .await;
    let ids = ExternalIds {
        campaign: "c1".into(),
        ad_set: "s1".into(),
        ads: vec!["ad1".into()],
    };
    let c = clients(&server);
    let changes = [
        CampaignChange::Rename("Summer".into()),
        CampaignChange::DailyBudget {
            minor: 2000,
            currency: "USD".into(),
        },
        CampaignChange::Pause,
        CampaignChange::EndAt(None),
    ];
    for change in &changes {
        c.update_campaign(&auth(), "act_42", &ids, change)
            .await
            .unwrap();
    }
    let requests = server.received_requests().await.unwrap();
    let sent: Vec<(&str, serde_json::Value)> = requests
        .iter()
        .map(|r| (r.url.path(), json_of(r)))
        .collect();
    assert_eq!(
        sent,
        [
            ("/v21.0/c1", json!({"name": "Summer"})),
            ("/v21.0/s1", json!({"daily_budget": 2000})),
            ("/v21.0/c1", json!({"status": "PAUSED"})),
            ("/v21.0/s1", json!({"end_time": 0})),
        ]
    );
}

#[tokio::test]
async fn campaign_days_in_minor_units_across_pages() {
    let server = MockServer::start().await;
    let since = r#"{"since":"2025-04-01","until":"2025-04-03"}"#;
    Mock::given(method("GET"))
        .and(path("/v21.0/c1/insights"))
        .and(query_param("level", "campaign"))
        .and(query_param("time_increment", "1"))
        .and(query_param("time_range", since))
        .and(query_param("fields", "spend,impressions,clicks,actions"))
        .and(query_param_is_missing("after"))
        .respond_with(ok(json!({
            "data": [
                {"date_start": "2025-04-01", "date_stop": "2025-04-01", "spend": "12.34", "impressions": "1000", "clicks": "12",
                 "actions": [{"action_type": "mobile_app_install", "value": "3"}, {"action_type": "link_click", "value": "12"}]},
                {"date_start": "2025-04-02", "date_stop": "2025-04-02", "spend": "0.5", "impressions": "80", "clicks": "1"}
            ],
            "paging": {"cursors": {"before": "b0", "after": "p2"}, "next": "https://graph.facebook.com/v21.0/c1/insights?after=p2"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/c1/insights"))
        .and(query_param("after", "p2"))
        .respond_with(ok(json!({
            "data": [{"date_start": "2025-04-03", "spend": "7", "impressions": "5", "clicks": "0"}],
            "paging": {"cursors": {"before": "p2", "after": "p3"}}
        })))
        .mount(&server)
        .await;
    let ids = ExternalIds {
        campaign: "c1".into(),
        ..ExternalIds::default()
    };
    let days = clients(&server)
        .campaign_days(
            &auth(),
            "act_42",
            &ids,
            "USD",
            day(2025, 4, 1),
            day(2025, 4, 3),
        )
        .await
        .unwrap();
    assert_eq!(
        days,
        [
            AdDay {
                date: day(2025, 4, 1),
                spend_minor: 1234,
                impressions: 1000,
                clicks: 12,
                installs: 3
            },
            AdDay {
                date: day(2025, 4, 2),
                spend_minor: 50,
                impressions: 80,
                clicks: 1,
                installs: 0
            },
            AdDay {
                date: day(2025, 4, 3),
                spend_minor: 700,
                impressions: 5,
                clicks: 0,
                installs: 0
            },
        ]
    );
}

#[tokio::test]
async fn graph_errors_are_sorted() {
    let server = MockServer::start().await;
    Mock::given(path("/v21.0/act_42"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Error validating access token: Session has expired.", "type": "OAuthException", "code": 190
        }})))
        .mount(&server)
        .await;
    let c = clients(&server);
    let message = expired(c.ad_account(&auth(), "act_42").await);
    assert_eq!(
        message,
        "Error validating access token: Session has expired."
    );

    server.reset().await;
    Mock::given(path("/v21.0/act_42"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .mount(&server)
        .await;
    let result = c.ad_account(&auth(), "act_42").await;
    assert!(matches!(&result, Err(e) if e.is_transient()));
    transient(result);

    // refused before any call
    server.reset().await;
    let mut spec = campaign_spec();
    spec.identity = None;
    let result = c.create_campaign(&auth(), "act_42", &spec).await;
    assert!(matches!(
        result,
        Err(PlatformError::Rejected { status: 422, .. })
    ));
    assert!(server.received_requests().await.unwrap().is_empty());
}
