//! Apple Search Ads API v5 against a wiremock fake: the client-credentials token with an ES256
//! client secret (checked here against the key's public half), the organization context, the
//! ACL read, campaign → ad group → keywords (undone on a failure), changes and the daily report.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use layers_platforms::{AdDay, AdsAuth, AppleCredentials, CampaignChange, ExternalIds};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::*;

const ORG: &str = "40669820";
const CONTEXT: &str = "orgId=40669820";

/// Credentials with a fresh P-256 key, and the key's public half.
fn credentials() -> (AppleCredentials, Vec<u8>) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let body = STANDARD.encode(pkcs8.as_ref());
    let lines: Vec<String> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| String::from_utf8(chunk.to_vec()).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let credentials = AppleCredentials {
        client_id: "SEARCHADS.client-9".into(),
        team_id: "SEARCHADS.team-9".into(),
        key_id: "kid-9".into(),
        private_key_pem: pem,
    };
    (credentials, pair.public_key().as_ref().to_vec())
}

fn auth() -> AdsAuth {
    AdsAuth::Apple(credentials().0)
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn mount_token(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/auth/oauth2/token"))
        .respond_with(ok(
            json!({"access_token": "apple-at", "token_type": "Bearer", "expires_in": 3600}),
        ))
        .mount(server)
        .await;
}

/// An API call with the token and the organization.
fn api(http: &str, at: &str) -> wiremock::MockBuilder {
    Mock::given(method(http))
        .and(path(format!("/api/v5/{at}")))
        .and(header("authorization", "Bearer apple-at"))
        .and(header("x-ap-context", CONTEXT))
}

fn segment(s: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap()
}

#[tokio::test]
async fn the_token_exchange_signs_a_client_secret_and_the_acl_names_the_org() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v5/acls"))
        .and(header("authorization", "Bearer apple-at"))
        .respond_with(ok(json!({"data": [
            {"orgId": 111, "orgName": "Other", "currency": "EUR", "timeZone": "Europe/Berlin"},
            {"orgId": 40669820, "orgName": "Acme Org", "currency": "USD", "timeZone": "America/Los_Angeles", "roleNames": ["API Account Manager"]}
        ]})))
        .mount(&server)
        .await;
    let (creds, public) = credentials();
    let c = clients(&server);
    let info = c.ad_account(&AdsAuth::Apple(creds), ORG).await.unwrap();
    assert_eq!(
        (
            info.name.as_str(),
            info.currency.as_str(),
            info.timezone.as_str()
        ),
        ("Acme Org", "USD", "America/Los_Angeles")
    );

    let acls = received(&server, "GET", "/api/v5/acls").await;
    assert_eq!(acls[0].headers["x-ap-context"], CONTEXT);
    let token = received(&server, "POST", "/auth/oauth2/token").await;
    assert_eq!(token.len(), 1);
    let form = form_of(&token[0]);
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], "SEARCHADS.client-9");
    assert_eq!(form["scope"], "searchadsorg");
    let jwt: Vec<&str> = form["client_secret"].split('.').collect();
    assert_eq!(jwt.len(), 3);
    assert_eq!(segment(jwt[0]), json!({"alg": "ES256", "kid": "kid-9"}));
    let claims = segment(jwt[1]);
    assert_eq!(claims["iss"], "SEARCHADS.team-9");
    assert_eq!(claims["sub"], "SEARCHADS.client-9");
    assert_eq!(claims["aud"], "https://appleid.apple.com");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 3600);
    assert!((chrono::Utc::now().timestamp() - iat).abs() < 60);
    let signed = format!("{}.{}", jwt[0], jwt[1]);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public)
        .verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(jwt[2]).unwrap())
        .expect("the client secret is signed with the partner's key");

    // an organization the credentials cannot reach
    let result = c.ad_account(&auth(), "999").await;
    assert_eq!(
        rejected(result),
        (422, "no access to Apple Search Ads organization 999".into())
    );
}

#[tokio::test]
async fn refused_credentials_and_bad_keys() {
    let server = MockServer::start().await;
    Mock::given(path("/auth/oauth2/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_client"})))
        .mount(&server)
        .await;
    let c = clients(&server);
    assert_eq!(
        rejected(c.ad_account(&auth(), ORG).await),
        (422, "invalid_client".into())
    );

    server.reset().await;
    let (mut bad, _) = credentials();
    bad.private_key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".into();
    let why = bad.check().unwrap_err();
    assert!(why.contains("P-256"), "{why}");
    let (status, message) = rejected(c.ad_account(&AdsAuth::Apple(bad), ORG).await);
    assert_eq!((status, message), (422, why));
    assert!(server.received_requests().await.unwrap().is_empty());
    assert!(credentials().0.check().is_ok());
}

#[tokio::test]
async fn a_campaign_its_ad_group_and_keywords() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    api("POST", "campaigns")
        .respond_with(ok(
            json!({"data": {"id": 5001, "name": "Spring launch"}, "error": null}),
        ))
        .mount(&server)
        .await;
    api("POST", "campaigns/5001/adgroups")
        .respond_with(ok(json!({"data": {"id": 6001}})))
        .mount(&server)
        .await;
    api(
        "POST",
        "campaigns/5001/adgroups/6001/targetingkeywords/bulk",
    )
    .respond_with(ok(
        json!({"data": [{"id": 7001, "text": "acme"}, {"id": 7002, "text": "acme app"}]}),
    ))
    .mount(&server)
    .await;
    let ids = clients(&server)
        .create_campaign(&auth(), ORG, &campaign_spec())
        .await
        .unwrap();
    assert_eq!(
        ids,
        ExternalIds {
            campaign: "5001".into(),
            ad_set: "6001".into(),
            ads: vec!["7001".into(), "7002".into()],
        }
    );
    let campaign = &received(&server, "POST", "/api/v5/campaigns").await[0];
    assert_eq!(
        json_of(campaign),
        json!({
            "orgId": 40669820, "name": "Spring launch", "adamId": 1234567890,
            "countriesOrRegions": ["US", "CA"],
            "dailyBudgetAmount": {"amount": "12.50", "currency": "USD"},
            "adChannelType": "SEARCH", "supplySources": ["APPSTORE_SEARCH_RESULTS"],
            "billingEvent": "TAPS",
            "startTime": "2025-04-01T09:30:00.000", "endTime": "2025-04-30T00:00:00.000"
        })
    );
    let group = &received(&server, "POST", "/api/v5/campaigns/5001/adgroups").await[0];
    assert_eq!(
        json_of(group),
        json!({
            "name": "Spring launch", "pricingModel": "CPC",
            "defaultBidAmount": {"amount": "1.00", "currency": "USD"},
            "startTime": "2025-04-01T09:30:00.000", "endTime": "2025-04-30T00:00:00.000",
            "automatedKeywordsOptIn": false,
            "targetingDimensions": {"age": {"included": [{"minAge": 18, "maxAge": 34}]}}
        })
    );
    let path = "/api/v5/campaigns/5001/adgroups/6001/targetingkeywords/bulk";
    let keywords = &received(&server, "POST", path).await[0];
    assert_eq!(
        json_of(keywords),
        json!([
            {"text": "acme", "matchType": "BROAD", "bidAmount": {"amount": "1.00", "currency": "USD"}},
            {"text": "acme app", "matchType": "BROAD", "bidAmount": {"amount": "1.00", "currency": "USD"}}
        ])
    );
}

#[tokio::test]
async fn a_refused_ad_group_deletes_the_campaign() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    api("POST", "campaigns")
        .respond_with(ok(json!({"data": {"id": 5001}})))
        .mount(&server)
        .await;
    api("POST", "campaigns/5001/adgroups")
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"data": null, "error": {"errors": [
            {"messageCode": "INVALID_DATE", "message": "startTime cannot be in the past", "field": "startTime"}
        ]}})))
        .mount(&server)
        .await;
    api("DELETE", "campaigns/5001")
        .respond_with(ok(json!({"data": null})))
        .expect(1)
        .mount(&server)
        .await;
    let result = clients(&server)
        .create_campaign(&auth(), ORG, &campaign_spec())
        .await;
    assert_eq!(
        rejected(result),
        (400, "startTime cannot be in the past".into())
    );
    assert_eq!(
        received(&server, "DELETE", "/api/v5/campaigns/5001")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn an_app_store_url_without_an_id_is_refused_before_any_call() {
    let server = MockServer::start().await;
    let mut spec = campaign_spec();
    spec.app_store_url = Some("https://play.google.com/store/apps/details?id=com.acme".into());
    let (status, message) = rejected(clients(&server).create_campaign(&auth(), ORG, &spec).await);
    assert_eq!(status, 422);
    assert!(message.contains("App Store URL"), "{message}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn changes_and_the_daily_report() {
    let server = MockServer::start().await;
    mount_token(&server).await;
    api("PUT", "campaigns/5001")
        .respond_with(ok(json!({"data": {"id": 5001}})))
        .mount(&server)
        .await;
    api("POST", "reports/campaigns")
        .respond_with(ok(json!({"data": {"reportingDataResponse": {"row": [{
            "metadata": {"campaignId": 5001},
            "granularity": [
                {"date": "2025-04-01", "impressions": 1000, "taps": 40, "totalInstalls": 9, "localSpend": {"amount": "12.5", "currency": "USD"}},
                {"date": "2025-04-02", "impressions": 10, "taps": 1, "installs": 2, "localSpend": {"amount": "0.99", "currency": "USD"}}
            ]
        }]}}})))
        .mount(&server)
        .await;
    let ids = ExternalIds {
        campaign: "5001".into(),
        ad_set: "6001".into(),
        ads: vec![],
    };
    let c = clients(&server);
    let budget = CampaignChange::DailyBudget {
        minor: 2000,
        currency: "USD".into(),
    };
    c.update_campaign(&auth(), ORG, &ids, &budget)
        .await
        .unwrap();
    c.update_campaign(&auth(), ORG, &ids, &CampaignChange::Pause)
        .await
        .unwrap();
    let puts = received(&server, "PUT", "/api/v5/campaigns/5001").await;
    assert_eq!(
        json_of(&puts[0]),
        json!({"campaign": {"dailyBudgetAmount": {"amount": "20.00", "currency": "USD"}}})
    );
    assert_eq!(json_of(&puts[1]), json!({"campaign": {"status": "PAUSED"}}));

    let days = c
        .campaign_days(&auth(), ORG, &ids, "USD", day(2025, 4, 1), day(2025, 4, 2))
        .await
        .unwrap();
    assert_eq!(
        days,
        [
            AdDay {
                date: day(2025, 4, 1),
                spend_minor: 1250,
                impressions: 1000,
                clicks: 40,
                installs: 9
            },
            AdDay {
                date: day(2025, 4, 2),
                spend_minor: 99,
                impressions: 10,
                clicks: 1,
                installs: 2
            },
        ]
    );
    let report = json_of(&received(&server, "POST", "/api/v5/reports/campaigns").await[0]);
    assert_eq!(report["startTime"], "2025-04-01");
    assert_eq!(report["granularity"], "DAILY");
    assert_eq!(
        report["selector"]["conditions"],
        json!([{"field": "campaignId", "operator": "IN", "values": ["5001"]}])
    );

    server.reset().await;
    mount_token(&server).await;
    api("POST", "reports/campaigns")
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    transient(
        c.campaign_days(&auth(), ORG, &ids, "USD", day(2025, 4, 1), day(2025, 4, 2))
            .await,
    );
}
