//! Instagram through the Instagram API with Facebook Login: the Facebook login dialog, Graph
//! tokens (short-lived, then long-lived), the professional account behind the user's Pages,
//! content publishing (containers, `media_publish`) and media insights.

use layers_outbound::{Method, Request, Url};
use serde_json::Value;

use crate::config::{AppCredentials, Config};
use crate::error::{Call, PlatformError, Result};
use crate::http::{count, expires_at, join, optional, text};
use crate::{Clients, Insights, Media, Platform, Profile, Published, Token};

/// The Graph API version every path names.
pub const GRAPH_VERSION: &str = "v21.0";

const P: Platform = Platform::Instagram;

/// What the app asks for: the account and its media, publishing, insights, and the Pages that
/// lead to the Instagram professional account.
const SCOPES: &str =
    "instagram_basic,instagram_content_publish,instagram_manage_insights,pages_show_list";

/// Added to [`SCOPES`] for an account that also runs ads (the Marketing API).
const ADS_SCOPES: &str = "ads_management,ads_read";

/// The metrics [`insights`] asks for, and where each lands.
const METRICS: &str = "views,reach,likes,comments,shares,saved";

/// Path extensions taken as videos inside a carousel (a carousel item says nothing else about
/// its kind).
const VIDEO_EXTENSIONS: &[&str] = &[".mp4", ".mov", ".m4v"];

pub(crate) fn authorize_url(
    config: &Config,
    app: &AppCredentials,
    state: &str,
    code_challenge: &str,
    redirect_uri: &str,
    ads: bool,
) -> Url {
    let scopes = if ads {
        format!("{SCOPES},{ADS_SCOPES}")
    } else {
        SCOPES.to_owned()
    };
    let mut url = join(
        &config.meta_auth_base_url,
        &format!("{GRAPH_VERSION}/dialog/oauth"),
    );
    url.query_pairs_mut()
        .append_pair("client_id", &app.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("response_type", "code")
        .append_pair("scope", &scopes)
        .append_pair("code_challenge", code_challenge)
        .append_pair("code_challenge_method", "S256");
    url
}

/// A Graph API request with the user's token.
fn graph(c: &Clients, method: Method, path: &str, token: &Token) -> Request {
    let url = join(
        &c.config.meta_graph_base_url,
        &format!("{GRAPH_VERSION}/{path}"),
    );
    c.outbound.request(method, url).bearer(&token.access_token)
}

/// The token endpoint (app credentials in the query, as Graph wants them).
fn token_endpoint(c: &Clients) -> Request {
    c.outbound.get(join(
        &c.config.meta_graph_base_url,
        &format!("{GRAPH_VERSION}/oauth/access_token"),
    ))
}

pub(crate) async fn exchange_code(
    c: &Clients,
    app: &AppCredentials,
    code: &str,
    code_verifier: &str,
    redirect_uri: &str,
) -> Result<(Token, Profile)> {
    let short = c
        .json(
            P,
            Call::Code,
            token_endpoint(c).query(&[
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
                ("redirect_uri", redirect_uri),
                ("code", code),
                ("code_verifier", code_verifier),
            ]),
        )
        .await?;
    let short = text(P, &short["access_token"], "access_token")?;
    let mut token = long_lived(c, app, &short, Call::Code).await?;
    let who = profile(c, &token).await?;
    token.user_id = Some(who.user_id.clone());
    Ok((token, who))
}

/// Trades `access_token` for a long-lived user token (about 60 days).
async fn long_lived(
    c: &Clients,
    app: &AppCredentials,
    access_token: &str,
    call: Call,
) -> Result<Token> {
    let answer = c
        .json(
            P,
            call,
            token_endpoint(c).query(&[
                ("grant_type", "fb_exchange_token"),
                ("client_id", app.client_id.as_str()),
                ("client_secret", app.client_secret.as_str()),
                ("fb_exchange_token", access_token),
            ]),
        )
        .await?;
    Ok(Token {
        access_token: text(P, &answer["access_token"], "access_token")?,
        refresh_token: None,
        expires_at: expires_at(&answer["expires_in"]),
        user_id: None,
    })
}

pub(crate) async fn refresh(c: &Clients, app: &AppCredentials, token: &Token) -> Result<Token> {
    let mut fresh = long_lived(c, app, &token.access_token, Call::Refresh).await?;
    fresh.user_id = token.user_id.clone();
    Ok(fresh)
}

/// The first of the user's Pages that has an Instagram professional account linked.
pub(crate) async fn profile(c: &Clients, token: &Token) -> Result<Profile> {
    let answer = c
        .json(
            P,
            Call::Api,
            graph(c, Method::GET, "me/accounts", token)
                .query(&[("fields", "instagram_business_account{id,username}")]),
        )
        .await?;
    let pages = answer["data"]
        .as_array()
        .ok_or_else(|| PlatformError::Malformed("instagram's answer has no data".into()))?;
    let account = pages
        .iter()
        .map(|page| &page["instagram_business_account"])
        .find(|account| account.is_object())
        .ok_or_else(|| {
            PlatformError::rejected(
                422,
                "none of the Facebook Pages this user granted has an Instagram professional \
                 account: link one to a Page and connect again",
            )
        })?;
    let user_id = text(P, &account["id"], "instagram_business_account id")?;
    Ok(Profile {
        handle: optional(&account["username"]).unwrap_or_else(|| user_id.clone()),
        user_id,
    })
}

/// Publishes `media` with `caption` to the user's account: a container, processed, then
/// `media_publish`.
pub(crate) async fn publish(
    c: &Clients,
    token: &Token,
    media: &Media,
    caption: Option<&str>,
) -> Result<Published> {
    let user = match &token.user_id {
        Some(id) => id.clone(),
        None => profile(c, token).await?.user_id,
    };
    let container = container(c, token, &user, media, caption).await?;
    wait(c, token, &container).await?;
    media_publish(c, token, &user, &container).await
}

/// `params` with the caption, if there is one, added last.
fn with_caption(
    mut params: Vec<(&'static str, String)>,
    caption: Option<&str>,
) -> Vec<(&'static str, String)> {
    if let Some(caption) = caption {
        params.push(("caption", caption.to_owned()));
    }
    params
}

/// Creates the container that publishes `media` with `caption`; its id.
async fn container(
    c: &Clients,
    token: &Token,
    user: &str,
    media: &Media,
    caption: Option<&str>,
) -> Result<String> {
    match media {
        Media::Image { url } => {
            create(
                c,
                token,
                user,
                with_caption(vec![("image_url", url.clone())], caption),
            )
            .await
        }
        Media::Video { url, thumbnail_url } => {
            let mut params = vec![
                ("media_type", "REELS".to_owned()),
                ("video_url", url.clone()),
            ];
            if let Some(cover) = thumbnail_url {
                params.push(("cover_url", cover.clone()));
            }
            create(c, token, user, with_caption(params, caption)).await
        }
        Media::Carousel { urls } => carousel(c, token, user, urls, caption).await,
    }
}

/// Creates a container per item of a carousel, waits until each is processed, then creates
/// the carousel's container with `caption`; its id.
async fn carousel(
    c: &Clients,
    token: &Token,
    user: &str,
    urls: &[String],
    caption: Option<&str>,
) -> Result<String> {
    if urls.is_empty() {
        return Err(PlatformError::rejected(
            422,
            "a carousel needs at least one item",
        ));
    }
    let mut children = Vec::with_capacity(urls.len());
    for url in urls {
        let params = if is_video(url) {
            vec![
                ("media_type", "VIDEO".to_owned()),
                ("video_url", url.clone()),
                ("is_carousel_item", "true".to_owned()),
            ]
        } else {
            vec![
                ("image_url", url.clone()),
                ("is_carousel_item", "true".to_owned()),
            ]
        };
        children.push(create(c, token, user, params).await?);
    }
    for child in &children {
        wait(c, token, child).await?;
    }
    let params = vec![
        ("media_type", "CAROUSEL".to_owned()),
        ("children", children.join(",")),
    ];
    create(c, token, user, with_caption(params, caption)).await
}

/// Publishes a processed container; the post's id and, if it can be read, its permalink.
async fn media_publish(
    c: &Clients,
    token: &Token,
    user: &str,
    container: &str,
) -> Result<Published> {
    let published = c
        .json(
            P,
            Call::Api,
            graph(c, Method::POST, &format!("{user}/media_publish"), token)
                .form(&[("creation_id", container)]),
        )
        .await?;
    let id = text(P, &published["id"], "media id")?;
    // the post exists from here on: a failure to read its permalink must not fail the publish
    // (a retry would post it twice)
    let permalink = c
        .json(
            P,
            Call::Api,
            graph(c, Method::GET, &id, token).query(&[("fields", "permalink")]),
        )
        .await
        .ok()
        .and_then(|media| optional(&media["permalink"]));
    Ok(Published {
        external_id: id,
        external_url: permalink,
    })
}

fn is_video(url: &str) -> bool {
    let path = Url::parse(url)
        .map(|u| u.path().to_ascii_lowercase())
        .unwrap_or_else(|_| url.to_ascii_lowercase());
    VIDEO_EXTENSIONS.iter().any(|ext| path.ends_with(ext))
}

/// Creates a media container on the user's account; its id.
async fn create(
    c: &Clients,
    token: &Token,
    user: &str,
    params: Vec<(&'static str, String)>,
) -> Result<String> {
    let answer = c
        .json(
            P,
            Call::Api,
            graph(c, Method::POST, &format!("{user}/media"), token).form(&params),
        )
        .await?;
    text(P, &answer["id"], "container id")
}

/// Polls a container until Instagram has fetched and processed its media.
async fn wait(c: &Clients, token: &Token, container: &str) -> Result<()> {
    let mut last = String::from("unknown");
    for attempt in 0..c.config.poll_attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(c.config.poll_interval).await;
        }
        let answer = c
            .json(
                P,
                Call::Api,
                graph(c, Method::GET, container, token).query(&[("fields", "status_code,status")]),
            )
            .await?;
        let code = answer["status_code"].as_str().unwrap_or("").to_owned();
        match code.as_str() {
            "FINISHED" | "PUBLISHED" => return Ok(()),
            "ERROR" | "EXPIRED" => {
                let detail = optional(&answer["status"]).unwrap_or_else(|| code.clone());
                return Err(PlatformError::rejected(
                    422,
                    format!("instagram could not process the media ({code}): {detail}"),
                ));
            }
            "" => {}
            _ => last = code,
        }
    }
    Err(PlatformError::Transient(format!(
        "the instagram container {container} was still {last} after {} checks",
        c.config.poll_attempts.max(1)
    )))
}

pub(crate) async fn insights(c: &Clients, token: &Token, media_id: &str) -> Result<Insights> {
    let answer = c
        .json(
            P,
            Call::Api,
            graph(c, Method::GET, &format!("{media_id}/insights"), token)
                .query(&[("metric", METRICS)]),
        )
        .await?;
    let metrics = answer["data"]
        .as_array()
        .ok_or_else(|| PlatformError::Malformed("instagram's insights have no data".into()))?;
    let mut insights = Insights::default();
    for metric in metrics {
        let value = metric_value(metric);
        match metric["name"].as_str() {
            Some("views") => insights.views = value,
            Some("reach") => insights.reach = value,
            Some("likes") => insights.likes = value,
            Some("comments") => insights.comments = value,
            Some("shares") => insights.shares = value,
            Some("saved") => insights.saves = value,
            _ => {}
        }
    }
    Ok(insights)
}

/// A metric's lifetime value: `total_value.value`, else the last of `values[].value`.
fn metric_value(metric: &Value) -> i64 {
    if !metric["total_value"]["value"].is_null() {
        return count(&metric["total_value"]["value"]);
    }
    metric["values"]
        .as_array()
        .and_then(|values| values.last())
        .map_or(0, |v| count(&v["value"]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn carousel_items_are_videos_by_their_extension() {
        assert!(is_video("https://media.example.com/a/clip.MP4?sig=1"));
        assert!(!is_video("https://media.example.com/a/photo.jpg"));
        assert!(!is_video("https://media.example.com/mp4/photo.png"));
    }

    #[test]
    fn metric_values_of_both_shapes() {
        assert_eq!(
            metric_value(&json!({"name": "reach", "values": [{"value": 12}]})),
            12
        );
        assert_eq!(
            metric_value(&json!({"name": "views", "total_value": {"value": 40}})),
            40
        );
        assert_eq!(metric_value(&json!({"name": "likes"})), 0);
    }
}
