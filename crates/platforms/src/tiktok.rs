//! TikTok: Login Kit v2 (authorize page, form-encoded token endpoint), the user info API, the
//! Content Posting API (video and photo direct posts pulled from a URL, the publish status) and
//! the video query API for counts.

use layers_outbound::{Request, Url};
use serde_json::{json, Value};

use crate::config::{AppCredentials, Config};
use crate::error::{truncate, Call, PlatformError, Result};
use crate::http::{count, expires_at, join, optional, text};
use crate::{Clients, Insights, Media, Platform, Profile, Published, Token};

const P: Platform = Platform::Tiktok;

/// The user's id and names (`user.info.profile` is what grants `username`), posting, and
/// reading the user's videos for their counts.
const SCOPES: &str = "user.info.basic,user.info.profile,video.publish,video.list";

/// Who may see a post: an app that TikTok has not audited may only post privately; choosing
/// wider audiences needs the creator info query and its UI, which this product does not have.
const PRIVACY_LEVEL: &str = "SELF_ONLY";

/// Longest video title (the video's caption) and photo title TikTok takes, in characters.
const VIDEO_TITLE_MAX: usize = 2200;
const PHOTO_TITLE_MAX: usize = 90;
const PHOTO_DESCRIPTION_MAX: usize = 4000;

pub(crate) fn authorize_url(
    config: &Config,
    app: &AppCredentials,
    state: &str,
    code_challenge: &str,
    redirect_uri: &str,
) -> Url {
    let mut url = join(&config.tiktok_auth_base_url, "v2/auth/authorize/");
    url.query_pairs_mut()
        .append_pair("client_key", &app.client_id)
        .append_pair("response_type", "code")
        .append_pair("scope", SCOPES)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("code_challenge", code_challenge)
        .append_pair("code_challenge_method", "S256");
    url
}

fn api(c: &Clients, path: &str) -> Url {
    join(&c.config.tiktok_api_base_url, path)
}

fn post(c: &Clients, path: &str, token: &Token) -> Request {
    c.outbound.post(api(c, path)).bearer(&token.access_token)
}

/// A token answer: `{open_id, access_token, expires_in, refresh_token, ...}`.
fn token(answer: &Value) -> Result<Token> {
    Ok(Token {
        access_token: text(P, &answer["access_token"], "access_token")?,
        refresh_token: optional(&answer["refresh_token"]),
        expires_at: expires_at(&answer["expires_in"]),
        user_id: optional(&answer["open_id"]),
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
            c.outbound.post(api(c, "v2/oauth/token/")).form(&[
                ("client_key", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
                ("code", code),
                ("grant_type", "authorization_code"),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ]),
        )
        .await?;
    token(&answer)
}

pub(crate) async fn refresh(c: &Clients, app: &AppCredentials, old: &Token) -> Result<Token> {
    let Some(refresh_token) = old.refresh_token.as_deref() else {
        return Err(PlatformError::TokenExpired(
            "the tiktok token has no refresh token".into(),
        ));
    };
    let answer = c
        .json(
            P,
            Call::Refresh,
            c.outbound.post(api(c, "v2/oauth/token/")).form(&[
                ("client_key", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ]),
        )
        .await?;
    let mut fresh = token(&answer)?;
    if fresh.refresh_token.is_none() {
        fresh.refresh_token = old.refresh_token.clone();
    }
    if fresh.user_id.is_none() {
        fresh.user_id = old.user_id.clone();
    }
    Ok(fresh)
}

pub(crate) async fn profile(c: &Clients, token: &Token) -> Result<Profile> {
    let answer = c
        .json(
            P,
            Call::Api,
            c.outbound
                .get(api(c, "v2/user/info/"))
                .bearer(&token.access_token)
                .query(&[("fields", "open_id,username,display_name")]),
        )
        .await?;
    let user = &answer["data"]["user"];
    let user_id = text(P, &user["open_id"], "open_id")?;
    let handle = optional(&user["username"])
        .or_else(|| optional(&user["display_name"]))
        .unwrap_or_else(|| user_id.clone());
    Ok(Profile { user_id, handle })
}

pub(crate) async fn publish(
    c: &Clients,
    token: &Token,
    media: &Media,
    caption: Option<&str>,
) -> Result<Published> {
    let (path, body) = match media {
        Media::Video { url, .. } => {
            let mut post_info = json!({
                "privacy_level": PRIVACY_LEVEL,
                "disable_comment": false,
                "disable_duet": false,
                "disable_stitch": false,
            });
            if let Some(caption) = caption {
                post_info["title"] = json!(cut(caption, VIDEO_TITLE_MAX));
            }
            let body = json!({
                "post_info": post_info,
                "source_info": {"source": "PULL_FROM_URL", "video_url": url},
            });
            ("v2/post/publish/video/init/", body)
        }
        Media::Image { url } => ("v2/post/publish/content/init/", photos(&[url], caption)),
        Media::Carousel { urls } => {
            if urls.is_empty() {
                return Err(PlatformError::rejected(
                    422,
                    "a photo post needs at least one photo",
                ));
            }
            let urls: Vec<&String> = urls.iter().collect();
            ("v2/post/publish/content/init/", photos(&urls, caption))
        }
    };
    let answer = c
        .json(P, Call::Api, post(c, path, token).json(&body))
        .await?;
    let publish_id = text(P, &answer["data"]["publish_id"], "publish_id")?;
    let post_id = wait(c, token, &publish_id).await?;
    let external_url = match &post_id {
        // the post exists from here on: a failure to read its link must not fail the publish
        Some(id) => share_url(c, token, id).await,
        None => None,
    };
    Ok(Published {
        external_id: post_id.unwrap_or(publish_id),
        external_url,
    })
}

/// A photo post: `title` is the caption's start, `description` the whole caption.
fn photos(urls: &[&String], caption: Option<&str>) -> Value {
    let mut post_info = json!({
        "privacy_level": PRIVACY_LEVEL,
        "disable_comment": false,
        "auto_add_music": true,
    });
    if let Some(caption) = caption {
        post_info["title"] = json!(cut(caption, PHOTO_TITLE_MAX));
        post_info["description"] = json!(cut(caption, PHOTO_DESCRIPTION_MAX));
    }
    json!({
        "post_info": post_info,
        "source_info": {
            "source": "PULL_FROM_URL",
            "photo_cover_index": 0,
            "photo_images": urls,
        },
        "post_mode": "DIRECT_POST",
        "media_type": "PHOTO",
    })
}

/// At most `max` characters, cut without an ellipsis (the platform shows what it gets).
fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Polls the publish status until TikTok is done; the public post id, when TikTok has made
/// the post public.
async fn wait(c: &Clients, token: &Token, publish_id: &str) -> Result<Option<String>> {
    let attempts = c.config.poll_attempts.max(1);
    let mut last = String::from("unknown");
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(c.config.poll_interval).await;
        }
        let answer = c
            .json(
                P,
                Call::Api,
                post(c, "v2/post/publish/status/fetch/", token)
                    .json(&json!({ "publish_id": publish_id })),
            )
            .await?;
        let data = &answer["data"];
        let status = data["status"].as_str().unwrap_or("").to_owned();
        match status.as_str() {
            "PUBLISH_COMPLETE" | "SEND_TO_USER_INBOX" => {
                // the field's name is spelled so by TikTok
                let first = data["publicaly_available_post_id"]
                    .as_array()
                    .and_then(|ids| ids.first())
                    .and_then(|id| text(P, id, "post id").ok());
                return Ok(first);
            }
            "FAILED" => {
                let reason = optional(&data["fail_reason"]).unwrap_or_else(|| "unknown".into());
                return Err(PlatformError::rejected(
                    422,
                    format!("tiktok could not publish the post: {reason}"),
                ));
            }
            "" => {}
            _ => last = status,
        }
    }
    Err(PlatformError::Transient(format!(
        "the tiktok publish {publish_id} was still {last} after {attempts} checks; it may \
         still complete"
    )))
}

/// The video's `share_url`, if TikTok tells it.
async fn share_url(c: &Clients, token: &Token, id: &str) -> Option<String> {
    let videos = query(c, token, id, "id,share_url").await.ok()?;
    optional(&videos["share_url"])
}

/// One of the user's videos, with `fields`.
async fn query(c: &Clients, token: &Token, id: &str, fields: &str) -> Result<Value> {
    let answer = c
        .json(
            P,
            Call::Api,
            post(c, "v2/video/query/", token)
                .query(&[("fields", fields)])
                .json(&json!({"filters": {"video_ids": [id]}})),
        )
        .await?;
    let videos = answer["data"]["videos"].as_array().ok_or_else(|| {
        PlatformError::Malformed("tiktok's video query answer has no videos".into())
    })?;
    videos
        .iter()
        .find(|v| text(P, &v["id"], "id").is_ok_and(|vid| vid == id))
        .cloned()
        .ok_or_else(|| {
            PlatformError::rejected(
                404,
                format!("tiktok has no video {} on this account", truncate(id, 40)),
            )
        })
}

pub(crate) async fn insights(c: &Clients, token: &Token, id: &str) -> Result<Insights> {
    let video = query(
        c,
        token,
        id,
        "id,view_count,like_count,comment_count,share_count",
    )
    .await?;
    Ok(Insights {
        views: count(&video["view_count"]),
        likes: count(&video["like_count"]),
        comments: count(&video["comment_count"]),
        shares: count(&video["share_count"]),
        ..Insights::default()
    })
}
