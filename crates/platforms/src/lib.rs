//! The platforms' own protocols (CONTRACT §3, §11 "Social accounts", "Publishing", "Metrics"):
//! OAuth with PKCE, the connected profile, publishing and insights of Instagram (the Instagram
//! API with Facebook Login, on the Meta Graph API), TikTok (Login Kit v2 and the Content
//! Posting API) and YouTube (Google OAuth and the YouTube Data API v3); and the live ads clients
//! (CONTRACT §13) of Meta (Marketing API), TikTok for Business (Business API v1.3) and Apple
//! Search Ads (API v5).
//!
//! ```
//! use layers_outbound::{Outbound, OutboundConfig};
//! use layers_platforms::{AppCredentials, Clients, Config, Platform};
//!
//! let mut config = Config::defaults();
//! config.tiktok = Some(AppCredentials {
//!     client_id: "aw-client-key".into(),
//!     client_secret: "secret".into(),
//! });
//! let clients = Clients::new(Outbound::new(OutboundConfig::default()).unwrap(), config);
//! let url = clients
//!     .authorize_url(Platform::Tiktok, "st_1", "E9Melhoa2Owv", "https://api.example.com/cb")
//!     .unwrap();
//! assert!(url.starts_with("https://www.tiktok.com/v2/auth/authorize/?client_key=aw-client-key"));
//! assert!(url.contains("code_challenge=E9Melhoa2Owv&code_challenge_method=S256"));
//! // a platform without credentials says which variables to set
//! let missing = clients.configured(Platform::Youtube).unwrap_err();
//! assert_eq!(
//!     missing.to_string(),
//!     "youtube is not configured: set LAYERS_GOOGLE_CLIENT_ID and LAYERS_GOOGLE_CLIENT_SECRET"
//! );
//! ```
//!
//! Every call is a real request to the configured base URL through the guarded outbound client
//! (`layers-outbound`); tests point the base URLs at wiremock. There is no sandbox here: a
//! sandbox never reaches this crate (CONTRACT §9).
//!
//! Failures are sorted for the caller ([`PlatformError`]): `Rejected` (give up, with the
//! platform's own message), `TokenExpired` (the account needs the user again), `Transient`
//! (retry later: 5xx, 429, rate-limit codes, timeouts, connection failures) and `Malformed`.
//!
//! Per platform:
//!
//! - **Instagram**: the Graph API at a fixed version ([`GRAPH_VERSION`]), the access token as a
//!   bearer header. [`Clients::exchange_code`] exchanges the code, then trades the short-lived
//!   token for a long-lived one (`fb_exchange_token`, about 60 days), then reads the profile to
//!   fill [`Token::user_id`] with the Instagram professional account id that publishing and
//!   insights need. [`Clients::refresh`] is the same long-lived exchange with the current token.
//!   Publishing creates a container (a reel for a video, one child per item for a carousel),
//!   polls it until `FINISHED`, publishes it and reads its permalink.
//! - **TikTok**: form-encoded token calls, bearer API calls. Publishing pulls the media from its
//!   URL (`PULL_FROM_URL`, so the URL's domain must be verified with TikTok), as `SELF_ONLY`
//!   (what an unaudited app may post), then polls the publish status.
//! - **YouTube**: videos only. Publishing downloads the video through the same guarded client
//!   (at most [`VIDEO_MAX_BYTES`]) and uploads it with the resumable protocol, as a private
//!   video.
//! - **TikTok for Business** ([`Platform::TiktokBusiness`]): an advertiser's grant, used only
//!   for ads. No PKCE; its tokens do not expire, so [`Clients::refresh`] hands the same one back.
//!   It cannot publish.
//!
//! Ads ([`AdsAuth`]): [`Clients::ad_account`], [`Clients::create_campaign`] (which undoes what it
//! created when a later step fails), [`Clients::update_campaign`] and [`Clients::campaign_days`].
//! Meta ads use an Instagram grant asked with ads scopes ([`Clients::authorize_url_with`]), TikTok
//! ads a TikTok for Business grant, Apple ads the partner's own API credentials
//! ([`AppleCredentials`]), exchanged for a token on every use with an ES256 client secret.

mod ads;
mod config;
mod error;
mod http;
mod instagram;
mod tiktok;
mod types;
mod youtube;

use std::fmt;

use layers_outbound::Outbound;

pub use ads::{
    AdAccountInfo, AdDay, AdsAuth, AppleCredentials, CampaignChange, CampaignSpec, Creative,
    ExternalIds, Objective,
};
pub use config::{AppCredentials, Config, NotConfigured};
pub use error::{PlatformError, Result};
pub use instagram::GRAPH_VERSION;
pub use layers_outbound::Url;
pub use types::{Insights, Media, Profile, Published, Token};
pub use youtube::VIDEO_MAX_BYTES;

/// The platforms an account connects to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    Instagram,
    Tiktok,
    /// A TikTok for Business account (an advertiser's grant): ads only, it cannot publish.
    TiktokBusiness,
    Youtube,
}

impl Platform {
    pub const ALL: [Platform; 4] = [
        Platform::Instagram,
        Platform::Tiktok,
        Platform::TiktokBusiness,
        Platform::Youtube,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Instagram => "instagram",
            Platform::Tiktok => "tiktok",
            Platform::TiktokBusiness => "tiktok_business",
            Platform::Youtube => "youtube",
        }
    }

    pub fn parse(s: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The platforms' clients (and the ads clients): one guarded outbound client and their settings. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct Clients {
    outbound: Outbound,
    config: Config,
}

impl Clients {
    pub fn new(outbound: Outbound, config: Config) -> Clients {
        Clients { outbound, config }
    }

    /// The settings these clients use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Err names the variables to set, e.g. "set LAYERS_META_APP_ID and LAYERS_META_APP_SECRET"
    pub fn configured(&self, p: Platform) -> Result<(), NotConfigured> {
        self.credentials(p).map(|_| ())
    }

    pub(crate) fn credentials(&self, p: Platform) -> Result<&AppCredentials, NotConfigured> {
        self.config
            .credentials(p)
            .ok_or_else(|| NotConfigured::of(p))
    }

    /// authorize URL with client id, response_type=code, scope(s), state, redirect_uri, code_challenge and code_challenge_method=S256
    ///
    /// `code_challenge` is the base64url SHA-256 of the caller's PKCE verifier, which it gives
    /// back to [`Clients::exchange_code`]. Makes no call. TikTok for Business has no PKCE: its
    /// URL has only the app id, state and redirect URI.
    pub fn authorize_url(
        &self,
        p: Platform,
        state: &str,
        code_challenge: &str,
        redirect_uri: &str,
    ) -> Result<String, NotConfigured> {
        self.authorize_url_with(p, state, code_challenge, redirect_uri, false)
    }

    /// [`Clients::authorize_url`], asking Instagram also for the ads scopes (`ads_management`,
    /// `ads_read`) when `ads` is set; the other platforms ignore `ads`.
    pub fn authorize_url_with(
        &self,
        p: Platform,
        state: &str,
        code_challenge: &str,
        redirect_uri: &str,
        ads: bool,
    ) -> Result<String, NotConfigured> {
        let app = self.credentials(p)?;
        let config = &self.config;
        Ok(match p {
            Platform::Instagram => {
                instagram::authorize_url(config, app, state, code_challenge, redirect_uri, ads)
            }
            Platform::Tiktok => {
                tiktok::authorize_url(config, app, state, code_challenge, redirect_uri)
            }
            Platform::TiktokBusiness => {
                ads::tiktok::authorize_url(config, app, state, redirect_uri)
            }
            Platform::Youtube => {
                youtube::authorize_url(config, app, state, code_challenge, redirect_uri)
            }
        }
        .into())
    }

    /// Exchanges the authorization code the platform sent to `redirect_uri` (the same one the
    /// authorize URL named) with the PKCE verifier. A refused code is `Rejected`, never
    /// `TokenExpired`.
    ///
    /// Instagram makes three calls: the code exchange, the long-lived token exchange, and the
    /// profile read that fills [`Token::user_id`]. TikTok fills `user_id` with the answer's
    /// `open_id`; TikTok for Business and YouTube leave it `None`.
    pub async fn exchange_code(
        &self,
        p: Platform,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<Token> {
        let app = self.credentials(p)?;
        match p {
            Platform::Instagram => {
                instagram::exchange_code(self, app, code, code_verifier, redirect_uri)
                    .await
                    .map(|(token, _)| token)
            }
            Platform::Tiktok => {
                tiktok::exchange_code(self, app, code, code_verifier, redirect_uri).await
            }
            Platform::TiktokBusiness => ads::tiktok::exchange_code(self, app, code).await,
            Platform::Youtube => {
                youtube::exchange_code(self, app, code, code_verifier, redirect_uri).await
            }
        }
    }

    /// [`Clients::exchange_code`], then the profile of the token: what a connection needs.
    /// Instagram's exchange reads the profile already, so it is read once.
    pub async fn connect(
        &self,
        p: Platform,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<(Token, Profile)> {
        if p == Platform::Instagram {
            let app = self.credentials(p)?;
            return instagram::exchange_code(self, app, code, code_verifier, redirect_uri).await;
        }
        let token = self
            .exchange_code(p, code, code_verifier, redirect_uri)
            .await?;
        let who = self.profile(p, &token).await?;
        Ok((token, who))
    }

    /// A fresh token for `token`, keeping its `user_id` (and, when the answer has none, its
    /// refresh token). A refused refresh is `TokenExpired`: the user must connect again.
    pub async fn refresh(&self, p: Platform, token: &Token) -> Result<Token> {
        let app = self.credentials(p)?;
        match p {
            Platform::Instagram => instagram::refresh(self, app, token).await,
            Platform::Tiktok => tiktok::refresh(self, app, token).await,
            Platform::TiktokBusiness => Ok(token.clone()),
            Platform::Youtube => youtube::refresh(self, app, token).await,
        }
    }

    /// Who the token belongs to (needs no app credentials).
    pub async fn profile(&self, p: Platform, token: &Token) -> Result<Profile> {
        match p {
            Platform::Instagram => instagram::profile(self, token).await,
            Platform::Tiktok => tiktok::profile(self, token).await,
            Platform::TiktokBusiness => ads::tiktok::profile(self, token).await,
            Platform::Youtube => youtube::profile(self, token).await,
        }
    }

    /// Publishes `media` with `caption` on the token's account and returns the post. Polls
    /// (Instagram, TikTok) at most `poll_attempts` times, `poll_interval` apart; a post still
    /// processing after that is `Transient` (for TikTok the publish may still complete: its
    /// message names the publish id). Needs no app credentials. A TikTok for Business account
    /// is `Rejected` without any call.
    pub async fn publish(
        &self,
        p: Platform,
        token: &Token,
        media: &Media,
        caption: Option<&str>,
    ) -> Result<Published> {
        match p {
            Platform::Instagram => instagram::publish(self, token, media, caption).await,
            Platform::Tiktok => tiktok::publish(self, token, media, caption).await,
            Platform::TiktokBusiness => Err(ads::tiktok::cannot_publish()),
            Platform::Youtube => youtube::publish(self, token, media, caption).await,
        }
    }

    /// The post's lifetime totals now (needs no app credentials). `external_id` is
    /// [`Published::external_id`]. A TikTok for Business account is `Rejected` without any
    /// call.
    pub async fn insights(
        &self,
        p: Platform,
        token: &Token,
        external_id: &str,
    ) -> Result<Insights> {
        match p {
            Platform::Instagram => instagram::insights(self, token, external_id).await,
            Platform::Tiktok => tiktok::insights(self, token, external_id).await,
            Platform::TiktokBusiness => Err(ads::tiktok::cannot_publish()),
            Platform::Youtube => youtube::insights(self, token, external_id).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.as_str()), Some(p));
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!(Platform::parse("Instagram"), None);
    }
}
