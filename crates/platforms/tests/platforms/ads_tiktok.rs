//! TikTok for Business against a wiremock fake: the `/portal/auth` consent URL, the token and
//! user of the Business API v1.3, and its ads (advertiser, campaign → ad group → uploads →
//! ads, undone on a failure, changes, the daily report), every answer in the `{code, message,
//! data}` envelope.

use layers_platforms::{AdDay, AdsAuth, CampaignChange, ExternalIds, Media, Platform, Profile};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::*;

const TB: Platform = Platform::TiktokBusiness;
const API: &str = "/open_api/v1.3";

fn auth() -> AdsAuth {
    AdsAuth::Tiktok {
        access_token: "tb-token".into(),
    }
}

fn ok(data: Value) -> ResponseTemplate {
    envelope(0, "OK", data)
}

fn envelope(code: i64, message: &str, data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"code": code, "message": message, "request_id": "202504010000", "data": data}),
    )
}

async fn mount(server: &MockServer, http: &str, at: &str, answer: ResponseTemplate) {
    Mock::given(method(http))
        .and(path(format!("{API}/{at}")))
        .and(header("access-token", "tb-token"))
        .respond_with(answer)
        .mount(server)
        .await;
}

#[tokio::test]
async fn authorize_url_has_the_app_id_state_and_redirect_and_no_pkce() {
    let server = MockServer::start().await;
    let c = clients(&server);
    let url = c.authorize_url(TB, "st_tb", CHALLENGE, REDIRECT).unwrap();
    assert!(
        url.starts_with(&format!("{}/portal/auth?", server.uri())),
        "{url}"
    );
    assert_eq!(
        query_of(&url),
        map(&[
            ("app_id", "tb-app"),
            ("state", "st_tb"),
            ("redirect_uri", REDIRECT)
        ])
    );
    let missing = unconfigured(&server)
        .authorize_url(TB, "st", CHALLENGE, REDIRECT)
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "tiktok_business is not configured: set LAYERS_TIKTOK_BUSINESS_APP_ID and \
         LAYERS_TIKTOK_BUSINESS_SECRET"
    );
}

#[tokio::test]
async fn connect_exchanges_the_auth_code_then_reads_the_user() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/oauth2/access_token/")))
        .and(body_partial_json(
            json!({"app_id": "tb-app", "secret": "tb-secret", "auth_code": "auth-1"}),
        ))
        .respond_with(ok(json!({
            "access_token": "tb-token", "advertiser_ids": ["7001", "7002"], "scope": [4, 5]
        })))
        .expect(1)
        .mount(&server)
        .await;
    mount(
        &server,
        "GET",
        "user/info/",
        ok(json!({"core_user_id": "7100", "display_name": "Acme Marketing", "email": "a@acme.test"})),
    )
    .await;
    let c = clients(&server);
    let (token, who) = c.connect(TB, "auth-1", VERIFIER, REDIRECT).await.unwrap();
    assert_eq!(token, crate::token("tb-token", None, None));
    assert_eq!(
        who,
        Profile {
            user_id: "7100".into(),
            handle: "Acme Marketing".into()
        }
    );
    // business tokens do not expire: refreshing makes no call
    let calls = server.received_requests().await.unwrap().len();
    assert_eq!(c.refresh(TB, &token).await.unwrap(), token);
    assert_eq!(server.received_requests().await.unwrap().len(), calls);
    // nor does it publish
    let media = Media::Image {
        url: "https://cdn.layers.test/a.jpg".into(),
    };
    let (status, message) = rejected(c.publish(TB, &token, &media, None).await);
    assert_eq!(
        (status, message.as_str()),
        (
            422,
            "a TikTok for Business account runs ads; it cannot publish posts"
        )
    );
    assert!(rejected(c.insights(TB, &token, "1").await).0 == 422);
    assert_eq!(server.received_requests().await.unwrap().len(), calls);
}

#[tokio::test]
async fn the_advertiser_and_an_expired_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/advertiser/info/")))
        .and(query_param("advertiser_ids", r#"["7001"]"#))
        .and(query_param("fields", r#"["name","currency","timezone","status"]"#))
        .and(header("access-token", "tb-token"))
        .respond_with(ok(json!({"list": [
            {"name": "Acme TT", "currency": "JPY", "timezone": "Asia/Tokyo", "status": "STATUS_ENABLE"}
        ]})))
        .mount(&server)
        .await;
    let c = clients(&server);
    let info = c.ad_account(&auth(), "7001").await.unwrap();
    assert_eq!(
        (
            info.name.as_str(),
            info.currency.as_str(),
            info.timezone.as_str()
        ),
        ("Acme TT", "JPY", "Asia/Tokyo")
    );

    server.reset().await;
    mount(
        &server,
        "GET",
        "advertiser/info/",
        envelope(40105, "Access token is invalid or expired.", json!({})),
    )
    .await;
    let message = expired(c.ad_account(&auth(), "7001").await);
    assert_eq!(message, "Access token is invalid or expired.");

    server.reset().await;
    mount(
        &server,
        "GET",
        "advertiser/info/",
        ResponseTemplate::new(502),
    )
    .await;
    transient(c.ad_account(&auth(), "7001").await);
    server.reset().await;
    mount(
        &server,
        "GET",
        "advertiser/info/",
        envelope(40100, "Too many requests.", json!({})),
    )
    .await;
    transient(c.ad_account(&auth(), "7001").await);
}

/// Every creation step answers; `ad/create/` with `ad_answer`.
async fn mount_creation(server: &MockServer, ad_answer: ResponseTemplate) {
    mount(
        server,
        "POST",
        "campaign/create/",
        ok(json!({"campaign_id": "1800"})),
    )
    .await;
    mount(
        server,
        "POST",
        "adgroup/create/",
        ok(json!({"adgroup_id": "1801"})),
    )
    .await;
    mount(
        server,
        "POST",
        "file/video/ad/upload/",
        ok(json!([{"video_id": "v09", "width": 720}])),
    )
    .await;
    mount(
        server,
        "POST",
        "file/image/ad/upload/",
        ok(json!({"image_id": "img7"})),
    )
    .await;
    mount(server, "POST", "ad/create/", ad_answer).await;
}

#[tokio::test]
async fn a_campaign_is_created_in_order() {
    let server = MockServer::start().await;
    mount_creation(&server, ok(json!({"ad_ids": ["1802", "1803"]}))).await;
    let ids = clients(&server)
        .create_campaign(&auth(), "7001", &campaign_spec())
        .await
        .unwrap();
    assert_eq!(
        ids,
        ExternalIds {
            campaign: "1800".into(),
            ad_set: "1801".into(),
            ads: vec!["1802".into(), "1803".into()],
        }
    );
    let requests = server.received_requests().await.unwrap();
    let order: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert_eq!(
        order,
        [
            "/open_api/v1.3/campaign/create/",
            "/open_api/v1.3/adgroup/create/",
            "/open_api/v1.3/file/video/ad/upload/",
            "/open_api/v1.3/file/image/ad/upload/",
            "/open_api/v1.3/ad/create/",
        ]
    );
    assert_eq!(
        json_of(&requests[0]),
        json!({"advertiser_id": "7001", "campaign_name": "Spring launch", "objective_type": "APP_PROMOTION", "budget_mode": "BUDGET_MODE_INFINITE"})
    );
    assert_eq!(
        json_of(&requests[1]),
        json!({
            "advertiser_id": "7001", "campaign_id": "1800", "adgroup_name": "Spring launch",
            "placement_type": "PLACEMENT_TYPE_AUTOMATIC", "location_ids": ["US", "CA"],
            "budget_mode": "BUDGET_MODE_DAY", "budget": 12.5,
            "schedule_type": "SCHEDULE_START_END",
            "schedule_start_time": "2025-04-01 09:30:00", "schedule_end_time": "2025-04-30 00:00:00",
            "optimization_goal": "INSTALL", "billing_event": "OCPM",
            "age_groups": ["AGE_18_24", "AGE_25_34"], "languages": ["en"],
            "app_download_url": "https://apps.apple.com/us/app/acme/id1234567890"
        })
    );
    assert_eq!(
        json_of(&requests[2]),
        json!({"advertiser_id": "7001", "upload_type": "UPLOAD_BY_URL", "video_url": "https://cdn.layers.test/clip.mp4"})
    );
    assert_eq!(
        json_of(&requests[3])["image_url"],
        "https://cdn.layers.test/still.jpg"
    );
    let ads = json_of(&requests[4]);
    assert_eq!(ads["adgroup_id"], "1801");
    assert_eq!(
        ads["creatives"][0],
        json!({
            "ad_name": "Spring launch #1", "ad_format": "SINGLE_VIDEO", "video_id": "v09",
            "ad_text": "The app for acmes", "call_to_action": "DOWNLOAD_NOW",
            "landing_page_url": "https://apps.apple.com/us/app/acme/id1234567890"
        })
    );
    assert_eq!(ads["creatives"][1]["ad_format"], "SINGLE_IMAGE");
    assert_eq!(ads["creatives"][1]["image_ids"], json!(["img7"]));
    assert_eq!(ads["creatives"][1]["ad_text"], "Acme, now");
}

#[tokio::test]
async fn a_refused_ad_deletes_the_ad_group_then_the_campaign() {
    let server = MockServer::start().await;
    mount_creation(
        &server,
        envelope(40002, "The ad text contains prohibited words.", json!({})),
    )
    .await;
    mount(&server, "POST", "adgroup/status/update/", ok(json!({}))).await;
    mount(&server, "POST", "campaign/status/update/", ok(json!({}))).await;
    let result = clients(&server)
        .create_campaign(&auth(), "7001", &campaign_spec())
        .await;
    assert_eq!(
        rejected(result),
        (422, "The ad text contains prohibited words.".into())
    );
    let requests = server.received_requests().await.unwrap();
    let undone: Vec<(&str, Value)> = requests
        .iter()
        .filter(|r| r.url.path().ends_with("/status/update/"))
        .map(|r| (r.url.path(), json_of(r)))
        .collect();
    assert_eq!(
        undone,
        [
            (
                "/open_api/v1.3/adgroup/status/update/",
                json!({"advertiser_id": "7001", "adgroup_ids": ["1801"], "operation_status": "DELETE"})
            ),
            (
                "/open_api/v1.3/campaign/status/update/",
                json!({"advertiser_id": "7001", "campaign_ids": ["1800"], "operation_status": "DELETE"})
            ),
        ]
    );
}

#[tokio::test]
async fn changes_and_the_daily_report() {
    let server = MockServer::start().await;
    mount(&server, "POST", "adgroup/update/", ok(json!({}))).await;
    mount(&server, "POST", "campaign/status/update/", ok(json!({}))).await;
    let ids = ExternalIds {
        campaign: "1800".into(),
        ad_set: "1801".into(),
        ads: vec![],
    };
    let c = clients(&server);
    let budget = CampaignChange::DailyBudget {
        minor: 3000,
        currency: "USD".into(),
    };
    c.update_campaign(&auth(), "7001", &ids, &budget)
        .await
        .unwrap();
    c.update_campaign(&auth(), "7001", &ids, &CampaignChange::Pause)
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        json_of(&requests[0]),
        json!({"advertiser_id": "7001", "adgroup_id": "1801", "budget": 30.0})
    );
    assert_eq!(
        json_of(&requests[1]),
        json!({"advertiser_id": "7001", "campaign_ids": ["1800"], "operation_status": "DISABLE"})
    );

    Mock::given(method("GET"))
        .and(path(format!("{API}/report/integrated/get/")))
        .and(query_param("advertiser_id", "7001"))
        .and(query_param("data_level", "AUCTION_CAMPAIGN"))
        .and(query_param("start_date", "2025-04-01"))
        .and(query_param("end_date", "2025-04-02"))
        .and(query_param(
            "filtering",
            r#"[{"field_name":"campaign_ids","filter_type":"IN","filter_value":"[\"1800\"]"}]"#,
        ))
        .respond_with(ok(json!({"list": [
            {"dimensions": {"campaign_id": "1800", "stat_time_day": "2025-04-02 00:00:00"},
             "metrics": {"spend": "3.1", "impressions": "90", "clicks": "2", "app_install": "0"}},
            {"dimensions": {"campaign_id": "1800", "stat_time_day": "2025-04-01 00:00:00"},
             "metrics": {"spend": "1.23", "impressions": "100", "clicks": "3", "app_install": "1"}}
        ], "page_info": {"page": 1, "total_page": 1}})))
        .mount(&server)
        .await;
    let days = c
        .campaign_days(
            &auth(),
            "7001",
            &ids,
            "USD",
            day(2025, 4, 1),
            day(2025, 4, 2),
        )
        .await
        .unwrap();
    assert_eq!(
        days,
        [
            AdDay {
                date: day(2025, 4, 1),
                spend_minor: 123,
                impressions: 100,
                clicks: 3,
                installs: 1
            },
            AdDay {
                date: day(2025, 4, 2),
                spend_minor: 310,
                impressions: 90,
                clicks: 2,
                installs: 0
            },
        ]
    );
}
