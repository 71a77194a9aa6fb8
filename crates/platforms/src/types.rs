//! What the platforms hand back, in our words: a token, a profile, a published post, insights;
//! and what we hand them: the media to publish.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user's grant on one platform. The caller keeps it sealed (as JSON); `Debug` never shows the
/// access or refresh token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub access_token: String,
    /// TikTok and Google give one; a Meta token is refreshed by exchanging itself.
    pub refresh_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// the platform's user id when the token answer carries one (Instagram user id, TikTok open_id)
    ///
    /// Instagram's token answer carries none: [`crate::Clients::exchange_code`] reads the
    /// profile and fills it with the Instagram professional account's id, which publishing
    /// needs. TikTok's is the `open_id` of the token answer. YouTube leaves it `None` (nothing
    /// needs it; the channel id is [`Profile::user_id`]).
    pub user_id: Option<String>,
}

impl Token {
    /// Whether the access token expires within `margin` from now (a token without an expiry
    /// never does).
    pub fn expires_within(&self, margin: chrono::Duration) -> bool {
        self.expires_at.is_some_and(|at| at <= Utc::now() + margin)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"<redacted>")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// Who the token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// Instagram professional account id, TikTok open_id, YouTube channel id.
    pub user_id: String,
    /// Instagram username, TikTok username (else display name), YouTube custom URL (`@name`,
    /// else the channel title).
    pub handle: String,
}

/// What to publish: public URLs the platform (or, for YouTube, this client) fetches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Media {
    Video {
        url: String,
        /// Instagram takes it as the reel's cover; TikTok and YouTube ignore it.
        thumbnail_url: Option<String>,
    },
    Image {
        url: String,
    },
    Carousel {
        urls: Vec<String>,
    },
}

/// A post the platform accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// Instagram media id, TikTok post id (the publish id while TikTok has not made the post
    /// public), YouTube video id.
    pub external_id: String,
    pub external_url: Option<String>,
}

/// lifetime totals as the platform reports them now (fields a platform lacks are 0)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insights {
    pub views: i64,
    pub reach: i64,
    pub likes: i64,
    pub comments: i64,
    pub shares: i64,
    pub saves: i64,
    pub watch_time_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_hides_the_tokens_and_json_round_trips() {
        let token = Token {
            access_token: "EAAB-secret".into(),
            refresh_token: Some("rft-secret".into()),
            expires_at: Some(DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
            user_id: Some("1789".into()),
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("1789"), "{shown}");
        let json = serde_json::to_string(&token).unwrap();
        assert_eq!(serde_json::from_str::<Token>(&json).unwrap(), token);
        assert!(token.expires_within(chrono::Duration::zero()));
    }
}
