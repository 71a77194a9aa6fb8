//! The three platforms' clients against wiremock fakes of their protocols: OAuth with PKCE,
//! profiles, publishing (with polling) and insights, and how every kind of failure is sorted.
//! One test binary, a module per platform.

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

/// Settings with every base URL at `server`, credentials for all three platforms, and a quick
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
