//! YouTube: Google OAuth 2.0 (consent page, form-encoded token endpoint), the caller's channel,
//! the resumable upload of a video downloaded from its URL, and video statistics.

use std::time::Duration;

use layers_outbound::header::{HeaderName, HeaderValue, CONTENT_TYPE, LOCATION};
use layers_outbound::{Method, OutboundError, Request, Url};
use serde_json::{json, Value};

use crate::config::{AppCredentials, Config};
use crate::error::{classify, transport, truncate, Call, PlatformError, Result};
use crate::http::{count, expires_at, join, media_url, optional, text};
use crate::{Clients, Insights, Media, Platform, Profile, Published, Token};

const P: Platform = Platform::Youtube;

/// Uploading, and reading the channel and its videos' statistics.
const SCOPES: &str =
    "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly";

/// The largest video downloaded to upload (the contract's largest upload, 256 MiB).
pub const VIDEO_MAX_BYTES: usize = 256 * 1024 * 1024;

/// The whole download, and the whole upload, of one video.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(600);

/// YouTube's limits: a title of 100 characters, a description of 5000 bytes, neither with `<`
/// or `>`.
const TITLE_MAX: usize = 100;
const DESCRIPTION_MAX_BYTES: usize = 5000;

pub(crate) fn authorize_url(
    config: &Config,
    app: &AppCredentials,
    state: &str,
    code_challenge: &str,
    redirect_uri: &str,
) -> Url {
    let mut url = join(&config.google_auth_base_url, "o/oauth2/v2/auth");
    url.query_pairs_mut()
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", SCOPES)
        .append_pair("access_type", "offline")
        .append_pair("prompt", "consent")
        .append_pair("state", state)
        .append_pair("code_challenge", code_challenge)
        .append_pair("code_challenge_method", "S256");
    url
}

fn api(c: &Clients, path: &str) -> Url {
    join(&c.config.google_api_base_url, path)
}

fn get(c: &Clients, path: &str, token: &Token) -> Request {
    c.outbound.get(api(c, path)).bearer(&token.access_token)
}

/// A token answer: `{access_token, expires_in, refresh_token?, scope, token_type}`.
fn token(answer: &Value) -> Result<Token> {
    Ok(Token {
        access_token: text(P, &answer["access_token"], "access_token")?,
        refresh_token: optional(&answer["refresh_token"]),
        expires_at: expires_at(&answer["expires_in"]),
        user_id: None,
    })
}

pub(crate) async fn exchange_code(
    c: &Clients,
    app: &AppCredentials,
    code: &str,
    code_verifier: &str,
    redirect_uri: &str,
) -> Result<Token> {
    let answer = c
        .json(
            P,
            Call::Code,
            c.outbound.post(api(c, "oauth2/v4/token")).form(&[
                ("code", code),
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
                ("redirect_uri", redirect_uri),
                ("grant_type", "authorization_code"),
                ("code_verifier", code_verifier),
            ]),
        )
        .await?;
    token(&answer)
}

pub(crate) async fn refresh(c: &Clients, app: &AppCredentials, old: &Token) -> Result<Token> {
    let Some(refresh_token) = old.refresh_token.as_deref() else {
        return Err(PlatformError::TokenExpired(
            "the youtube token has no refresh token".into(),
        ));
    };
    let answer = c
        .json(
            P,
            Call::Refresh,
            c.outbound.post(api(c, "oauth2/v4/token")).form(&[
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
                ("refresh_token", refresh_token),
                ("grant_type", "refresh_token"),
            ]),
        )
        .await?;
    let mut fresh = token(&answer)?;
    // Google sends a new refresh token only sometimes: the old one stays valid
    if fresh.refresh_token.is_none() {
        fresh.refresh_token = old.refresh_token.clone();
    }
    fresh.user_id = old.user_id.clone();
    Ok(fresh)
}

pub(crate) async fn profile(c: &Clients, token: &Token) -> Result<Profile> {
    let answer = c
        .json(
            P,
            Call::Api,
            get(c, "youtube/v3/channels", token).query(&[("part", "snippet"), ("mine", "true")]),
        )
        .await?;
    let channel = answer["items"]
        .as_array()
        .and_then(|items| items.first())
        .ok_or_else(|| {
            PlatformError::rejected(
                422,
                "this Google account has no YouTube channel: create one and connect again",
            )
        })?;
    let user_id = text(P, &channel["id"], "channel id")?;
    let snippet = &channel["snippet"];
    let handle = optional(&snippet["customUrl"])
        .or_else(|| optional(&snippet["title"]))
        .unwrap_or_else(|| user_id.clone());
    Ok(Profile { user_id, handle })
}

pub(crate) async fn publish(
    c: &Clients,
    token: &Token,
    media: &Media,
    caption: Option<&str>,
) -> Result<Published> {
    let Media::Video { url, .. } = media else {
        return Err(PlatformError::rejected(
            422,
            "YouTube takes videos only: publish a video container to a YouTube account",
        ));
    };
    let (video, content_type) = download(c, url).await?;

    let caption = caption
        .map(|c| c.replace(['<', '>'], ""))
        .unwrap_or_default();
    let title: String = caption.trim().chars().take(TITLE_MAX).collect();
    let title = match title.trim() {
        "" => "Untitled".to_owned(),
        t => t.to_owned(),
    };
    let mut description = caption.as_str();
    if description.len() > DESCRIPTION_MAX_BYTES {
        let mut end = DESCRIPTION_MAX_BYTES;
        while !description.is_char_boundary(end) {
            end -= 1;
        }
        description = &description[..end];
    }
    let metadata = json!({
        "snippet": {"title": title, "description": description},
        "status": {"privacyStatus": "private"},
    });
    let init_url = api(c, "upload/youtube/v3/videos");
    let session = c
        .reply(
            P,
            Call::Api,
            c.outbound
                .post(init_url.clone())
                .bearer(&token.access_token)
                .query(&[("uploadType", "resumable"), ("part", "snippet,status")])
                .header(
                    HeaderName::from_static("x-upload-content-type"),
                    content_type.clone(),
                )
                .header(
                    HeaderName::from_static("x-upload-content-length"),
                    HeaderValue::from(video.len()),
                )
                .json(&metadata),
        )
        .await?;
    let location = session
        .headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| init_url.join(v).ok())
        .ok_or_else(|| {
            PlatformError::Malformed("youtube started no upload session (no Location)".into())
        })?;
    let mut upload = c
        .outbound
        .request(Method::PUT, location.clone())
        .timeout(TRANSFER_TIMEOUT)
        .header(CONTENT_TYPE, content_type)
        .body(video);
    // the session URL is the credential; the token goes only to Google's own origin
    if location.origin() == c.config.google_api_base_url.origin() {
        upload = upload.bearer(&token.access_token);
    }
    let answer = c.json(P, Call::Api, upload).await?;
    let id = text(P, &answer["id"], "video id")?;
    Ok(Published {
        external_url: Some(format!("https://www.youtube.com/shorts/{id}")),
        external_id: id,
    })
}

/// The video's bytes and their type (`video/mp4` unless the server says another video type).
async fn download(c: &Clients, url: &str) -> Result<(Vec<u8>, HeaderValue)> {
    let url = media_url(P, url)?;
    let fetching = |e: OutboundError| match e {
        OutboundError::TooLarge { .. } => PlatformError::rejected(
            413,
            format!(
                "the video is larger than {} MiB",
                VIDEO_MAX_BYTES / (1024 * 1024)
            ),
        ),
        e => match transport(P, e) {
            PlatformError::Malformed(message) => PlatformError::rejected(422, message),
            other => other,
        },
    };
    let response = c
        .outbound
        .get(url)
        .timeout(TRANSFER_TIMEOUT)
        .send()
        .await
        .map_err(fetching)?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let excerpt = response.excerpt(300).await;
        return Err(match classify(P, Call::Code, status, &excerpt) {
            PlatformError::Rejected { status, .. } => PlatformError::rejected(
                status,
                format!("fetching the video to upload answered {status}"),
            ),
            other => other,
        });
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .filter(|v| v.to_str().is_ok_and(|t| t.starts_with("video/")))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("video/mp4"));
    let video = response
        .bytes_limited(VIDEO_MAX_BYTES)
        .await
        .map_err(fetching)?;
    if video.is_empty() {
        return Err(PlatformError::rejected(422, "the video to upload is empty"));
    }
    Ok((video, content_type))
}

pub(crate) async fn insights(c: &Clients, token: &Token, id: &str) -> Result<Insights> {
    let answer = c
        .json(
            P,
            Call::Api,
            get(c, "youtube/v3/videos", token).query(&[("part", "statistics"), ("id", id)]),
        )
        .await?;
    let video = answer["items"]
        .as_array()
        .and_then(|items| items.first())
        .ok_or_else(|| {
            PlatformError::rejected(404, format!("youtube has no video {}", truncate(id, 40)))
        })?;
    let statistics = &video["statistics"];
    Ok(Insights {
        views: count(&statistics["viewCount"]),
        likes: count(&statistics["likeCount"]),
        comments: count(&statistics["commentCount"]),
        ..Insights::default()
    })
}
