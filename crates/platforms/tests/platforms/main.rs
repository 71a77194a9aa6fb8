//! The platforms' clients against wiremock fakes of their protocols: OAuth with PKCE,
//! profiles, publishing (with polling) and insights, the ads clients (`ads_*`), and how every
//! kind of failure is sorted. One test binary, a module per platform.

mod ads_apple;
mod ads_meta;
mod ads_tiktok;
mod instagram;
mod tiktok;
mod youtube;

use std::collections::BTreeMap;
use std::time::Duration;

use layers_outbound::{Outbound, OutboundConfig};
use layers_platforms::{AppCredentials, Clients, Config, PlatformError, Token, Url};
use wiremock::{MockServer, Request};

pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const REDIRECT: &str = "https://api.layers.test/v1/social/callback";

/// Settings with every base URL at `server`, credentials for every platform, and a quick
/// poll.
pub fn config(server: &MockServer) -> Config {
    let base = Url::parse(&server.uri()).unwrap();
    Config {
        meta: Some(credentials("meta-app", "meta-secret")),
        meta_auth_base_url: base.clone(),
        meta_graph_base_url: base.clone(),
        tiktok: Some(credentials("tt-key", "tt-secret")),
        tiktok_auth_base_url: base.clone(),
        tiktok_api_base_url: base.clone(),
        tiktok_business: Some(credentials("tb-app", "tb-secret")),
        tiktok_business_base_url: base.clone(),
        apple_ads_base_url: base.clone(),
        apple_auth_base_url: base.clone(),
        google: Some(credentials("g-client", "g-secret")),
        google_auth_base_url: base.clone(),
        google_api_base_url: base,
        poll_interval: Duration::from_millis(5),
        poll_attempts: 4,
    }
}

fn credentials(id: &str, secret: &str) -> AppCredentials {
    AppCredentials {
        client_id: id.into(),
        client_secret: secret.into(),
    }
}

pub fn outbound(timeout: Duration) -> Outbound {
    Outbound::new(OutboundConfig {
        allow_private_network: true,
        timeout,
        ..OutboundConfig::default()
    })
    .unwrap()
}

pub fn clients(server: &MockServer) -> Clients {
    Clients::new(outbound(Duration::from_secs(5)), config(server))
}

/// Clients whose platforms have no credentials.
pub fn unconfigured(server: &MockServer) -> Clients {
    let mut config = config(server);
    config.meta = None;
    config.tiktok = None;
    config.tiktok_business = None;
    config.google = None;
    Clients::new(outbound(Duration::from_secs(5)), config)
}

pub fn token(access: &str, refresh: Option<&str>, user_id: Option<&str>) -> Token {
    Token {
        access_token: access.into(),
        refresh_token: refresh.map(str::to_owned),
        expires_at: None,
        user_id: user_id.map(str::to_owned),
    }
}

/// The decoded pairs of a query string or a form body.
pub fn pairs(encoded: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect()
}

pub fn query_of(url: &str) -> BTreeMap<String, String> {
    pairs(Url::parse(url).unwrap().query().unwrap_or(""))
}

pub fn form_of(request: &Request) -> BTreeMap<String, String> {
    assert_eq!(
        request.headers["content-type"], "application/x-www-form-urlencoded",
        "{} {} is not a form",
        request.method, request.url
    );
    pairs(std::str::from_utf8(&request.body).unwrap())
}

pub fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A request's JSON body.
pub fn json_of(request: &Request) -> serde_json::Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// The requests the server received for `method` and `path`, in order.
pub async fn received(server: &MockServer, method: &str, path: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == method && r.url.path() == path)
        .collect()
}

pub fn rejected(result: Result<impl std::fmt::Debug, PlatformError>) -> (u16, String) {
    match result {
        Err(PlatformError::Rejected { status, message }) => (status, message),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

pub fn expired(result: Result<impl std::fmt::Debug, PlatformError>) -> String {
    match result {
        Err(PlatformError::TokenExpired(message)) => message,
        other => panic!("expected TokenExpired, got {other:?}"),
    }
}

pub fn transient(result: Result<impl std::fmt::Debug, PlatformError>) -> String {
    match result {
        Err(e @ PlatformError::Transient(_)) => {
            assert!(e.is_transient());
            e.to_string()
        }
        other => panic!("expected Transient, got {other:?}"),
    }
}

pub fn not_configured(result: Result<impl std::fmt::Debug, PlatformError>) -> String {
    match result {
        Err(e @ PlatformError::NotConfigured(_)) => e.to_string(),
        other => panic!("expected NotConfigured, got {other:?}"),
    }
}

/// A campaign to create: installs, 12.50 USD a day, one video and one picture.
pub fn campaign_spec() -> layers_platforms::CampaignSpec {
    use chrono::TimeZone;
    layers_platforms::CampaignSpec {
        name: "Spring launch".into(),
        objective: layers_platforms::Objective::AppInstalls,
        daily_budget_minor: 1250,
        currency: "USD".into(),
        start_at: chrono::Utc.with_ymd_and_hms(2025, 4, 1, 9, 30, 0).unwrap(),
        end_at: Some(chrono::Utc.with_ymd_and_hms(2025, 4, 30, 0, 0, 0).unwrap()),
        countries: vec!["US".into(), "CA".into()],
        age_min: Some(18),
        age_max: Some(34),
        languages: vec!["en".into()],
        creatives: vec![
            layers_platforms::Creative {
                media_url: "https://cdn.layers.test/clip.mp4".into(),
                is_video: true,
                headline: Some("Try Acme".into()),
                caption: Some("The app for acmes".into()),
            },
            layers_platforms::Creative {
                media_url: "https://cdn.layers.test/still.jpg".into(),
                is_video: false,
                headline: Some("Acme, now".into()),
                caption: None,
            },
        ],
        app_store_url: Some("https://apps.apple.com/us/app/acme/id1234567890".into()),
        keywords: vec!["acme".into(), "acme app".into()],
        identity: Some("17841400001".into()),
    }
}

pub fn day(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
}
