//! Where the platforms are and who we are to them: base URLs, app credentials and the polling
//! budget (CONTRACT §3), and the error that says which variables are missing.

use std::fmt;
use std::time::Duration;

use layers_outbound::Url;

use crate::Platform;

/// An app's OAuth client: Meta app id and secret, TikTok client key and secret, TikTok for
/// Business app id and secret, or Google client id and secret. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl AppCredentials {
    /// Both parts, when both are set and not blank.
    pub fn new(client_id: Option<String>, client_secret: Option<String>) -> Option<AppCredentials> {
        match (client_id, client_secret) {
            (Some(id), Some(secret)) if !id.trim().is_empty() && !secret.trim().is_empty() => {
                Some(AppCredentials {
                    client_id: id.trim().to_owned(),
                    client_secret: secret.trim().to_owned(),
                })
            }
            _ => None,
        }
    }
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// The platforms' settings (ads included). [`Config::defaults`] has the real base URLs and no
/// credentials; [`Config::from_lookup`] reads the variables of CONTRACT §3.
#[derive(Clone, Debug)]
pub struct Config {
    /// `LAYERS_META_APP_ID`, `LAYERS_META_APP_SECRET`
    pub meta: Option<AppCredentials>,
    /// `LAYERS_META_AUTH_BASE_URL` (`https://www.facebook.com`): the login dialog
    pub meta_auth_base_url: Url,
    /// `LAYERS_META_GRAPH_BASE_URL` (`https://graph.facebook.com`): tokens and the Graph API
    pub meta_graph_base_url: Url,
    /// `LAYERS_TIKTOK_CLIENT_KEY`, `LAYERS_TIKTOK_CLIENT_SECRET`
    pub tiktok: Option<AppCredentials>,
    /// `LAYERS_TIKTOK_AUTH_BASE_URL` (`https://www.tiktok.com`): the authorize page
    pub tiktok_auth_base_url: Url,
    /// `LAYERS_TIKTOK_API_BASE_URL` (`https://open.tiktokapis.com`): tokens and the API
    pub tiktok_api_base_url: Url,
    /// `LAYERS_TIKTOK_BUSINESS_APP_ID`, `LAYERS_TIKTOK_BUSINESS_SECRET`
    pub tiktok_business: Option<AppCredentials>,
    /// `LAYERS_TIKTOK_BUSINESS_BASE_URL` (`https://business-api.tiktok.com`): the consent page
    /// (`/portal/auth`), tokens and the Business API
    pub tiktok_business_base_url: Url,
    /// `LAYERS_APPLE_ADS_BASE_URL` (`https://api.searchads.apple.com`): the Search Ads API
    pub apple_ads_base_url: Url,
    /// `LAYERS_APPLE_AUTH_BASE_URL` (`https://appleid.apple.com`): Search Ads access tokens
    pub apple_auth_base_url: Url,
    /// `LAYERS_GOOGLE_CLIENT_ID`, `LAYERS_GOOGLE_CLIENT_SECRET`
    pub google: Option<AppCredentials>,
    /// `LAYERS_GOOGLE_AUTH_BASE_URL` (`https://accounts.google.com`): the consent page
    pub google_auth_base_url: Url,
    /// `LAYERS_GOOGLE_API_BASE_URL` (`https://www.googleapis.com`): tokens, the YouTube Data API
    /// and its upload endpoint
    pub google_api_base_url: Url,
    /// how often and how long to poll an Instagram container / TikTok publish status
    pub poll_interval: Duration,
    pub poll_attempts: u32,
}

/// A base URL known to parse.
fn fixed(url: &str) -> Url {
    Url::parse(url).expect("a default base URL parses")
}

impl Config {
    /// The default base URLs of CONTRACT §3, no credentials, polling every 2 s at most 30
    /// times.
    pub fn defaults() -> Config {
        Config {
            meta: None,
            meta_auth_base_url: fixed("https://www.facebook.com"),
            meta_graph_base_url: fixed("https://graph.facebook.com"),
            tiktok: None,
            tiktok_auth_base_url: fixed("https://www.tiktok.com"),
            tiktok_api_base_url: fixed("https://open.tiktokapis.com"),
            tiktok_business: None,
            tiktok_business_base_url: fixed("https://business-api.tiktok.com"),
            apple_ads_base_url: fixed("https://api.searchads.apple.com"),
            apple_auth_base_url: fixed("https://appleid.apple.com"),
            google: None,
            google_auth_base_url: fixed("https://accounts.google.com"),
            google_api_base_url: fixed("https://www.googleapis.com"),
            poll_interval: Duration::from_secs(2),
            poll_attempts: 30,
        }
    }

    /// Reads the variables of CONTRACT §3 through `lookup` (`|name| std::env::var(name).ok()`
    /// in production): credentials count only when both halves are set, an unset or blank base
    /// URL keeps its default, and a base URL that does not parse is an error naming the
    /// variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let mut config = Config::defaults();
        let credentials = |id: &str, secret: &str| AppCredentials::new(lookup(id), lookup(secret));
        config.meta = credentials("LAYERS_META_APP_ID", "LAYERS_META_APP_SECRET");
        config.tiktok = credentials("LAYERS_TIKTOK_CLIENT_KEY", "LAYERS_TIKTOK_CLIENT_SECRET");
        config.tiktok_business = credentials(
            "LAYERS_TIKTOK_BUSINESS_APP_ID",
            "LAYERS_TIKTOK_BUSINESS_SECRET",
        );
        config.google = credentials("LAYERS_GOOGLE_CLIENT_ID", "LAYERS_GOOGLE_CLIENT_SECRET");
        let urls: [(&str, &mut Url); 9] = [
            ("LAYERS_META_AUTH_BASE_URL", &mut config.meta_auth_base_url),
            (
                "LAYERS_META_GRAPH_BASE_URL",
                &mut config.meta_graph_base_url,
            ),
            (
                "LAYERS_TIKTOK_AUTH_BASE_URL",
                &mut config.tiktok_auth_base_url,
            ),
            (
                "LAYERS_TIKTOK_API_BASE_URL",
                &mut config.tiktok_api_base_url,
            ),
            (
                "LAYERS_TIKTOK_BUSINESS_BASE_URL",
                &mut config.tiktok_business_base_url,
            ),
            ("LAYERS_APPLE_ADS_BASE_URL", &mut config.apple_ads_base_url),
            (
                "LAYERS_APPLE_AUTH_BASE_URL",
                &mut config.apple_auth_base_url,
            ),
            (
                "LAYERS_GOOGLE_AUTH_BASE_URL",
                &mut config.google_auth_base_url,
            ),
            (
                "LAYERS_GOOGLE_API_BASE_URL",
                &mut config.google_api_base_url,
            ),
        ];
        for (name, url) in urls {
            let Some(value) = lookup(name).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            *url = Url::parse(value.trim()).map_err(|e| {
                format!("{name} is not a valid URL ({e}): give an http(s) base URL")
            })?;
        }
        Ok(config)
    }

    /// The app credentials of a platform, if set.
    pub fn credentials(&self, p: Platform) -> Option<&AppCredentials> {
        match p {
            Platform::Instagram => self.meta.as_ref(),
            Platform::Tiktok => self.tiktok.as_ref(),
            Platform::TiktokBusiness => self.tiktok_business.as_ref(),
            Platform::Youtube => self.google.as_ref(),
        }
    }
}

/// A platform's app credentials are not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{platform} is not configured: set {variables}")]
pub struct NotConfigured {
    /// The platform that lacks them.
    pub platform: Platform,
    /// The variables to set, e.g. `LAYERS_META_APP_ID and LAYERS_META_APP_SECRET`.
    pub variables: &'static str,
}

impl NotConfigured {
    pub(crate) fn of(platform: Platform) -> NotConfigured {
        let variables = match platform {
            Platform::Instagram => "LAYERS_META_APP_ID and LAYERS_META_APP_SECRET",
            Platform::Tiktok => "LAYERS_TIKTOK_CLIENT_KEY and LAYERS_TIKTOK_CLIENT_SECRET",
            Platform::TiktokBusiness => {
                "LAYERS_TIKTOK_BUSINESS_APP_ID and LAYERS_TIKTOK_BUSINESS_SECRET"
            }
            Platform::Youtube => "LAYERS_GOOGLE_CLIENT_ID and LAYERS_GOOGLE_CLIENT_SECRET",
        };
        NotConfigured {
            platform,
            variables,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let mut config = Config::defaults();
        config.meta = Some(AppCredentials {
            client_id: "app-1".into(),
            client_secret: "s3cret".into(),
        });
        let shown = format!("{config:?}");
        assert!(shown.contains("app-1"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn variables_are_read_and_half_credentials_do_not_count() {
        let vars = [
            ("LAYERS_META_APP_ID", "app-1"),
            ("LAYERS_META_APP_SECRET", "secret-1"),
            ("LAYERS_TIKTOK_CLIENT_KEY", "key-only"),
            ("LAYERS_GOOGLE_API_BASE_URL", "http://127.0.0.1:9/google/"),
            ("LAYERS_TIKTOK_BUSINESS_APP_ID", "tb-app"),
            ("LAYERS_TIKTOK_BUSINESS_SECRET", "tb-secret"),
            ("LAYERS_APPLE_ADS_BASE_URL", "http://127.0.0.1:9/apple/"),
        ];
        let lookup = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let config = Config::from_lookup(lookup).unwrap();
        assert_eq!(config.meta.as_ref().unwrap().client_secret, "secret-1");
        assert!(config.tiktok.is_none());
        assert_eq!(config.tiktok_business.as_ref().unwrap().client_id, "tb-app");
        assert_eq!(
            config.apple_ads_base_url.as_str(),
            "http://127.0.0.1:9/apple/"
        );
        assert_eq!(
            config.apple_auth_base_url.as_str(),
            "https://appleid.apple.com/"
        );
        assert_eq!(
            config.tiktok_business_base_url.as_str(),
            "https://business-api.tiktok.com/"
        );
        assert_eq!(
            config.google_api_base_url.as_str(),
            "http://127.0.0.1:9/google/"
        );
        assert_eq!(
            config.meta_graph_base_url.as_str(),
            "https://graph.facebook.com/"
        );

        let bad = Config::from_lookup(|name| {
            (name == "LAYERS_TIKTOK_API_BASE_URL").then(|| "not a url".to_owned())
        })
        .unwrap_err();
        assert!(
            bad.starts_with("LAYERS_TIKTOK_API_BASE_URL is not a valid URL"),
            "{bad}"
        );
    }

    #[test]
    fn not_configured_names_the_variables() {
        assert_eq!(
            NotConfigured::of(Platform::Instagram).to_string(),
            "instagram is not configured: set LAYERS_META_APP_ID and LAYERS_META_APP_SECRET"
        );
        assert_eq!(
            NotConfigured::of(Platform::Youtube).variables,
            "LAYERS_GOOGLE_CLIENT_ID and LAYERS_GOOGLE_CLIENT_SECRET"
        );
        assert_eq!(
            NotConfigured::of(Platform::TiktokBusiness).variables,
            "LAYERS_TIKTOK_BUSINESS_APP_ID and LAYERS_TIKTOK_BUSINESS_SECRET"
        );
    }
}
