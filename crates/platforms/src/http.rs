//! The plumbing every platform call shares: URLs under a base, sending through the guarded
//! client, sorting failed answers, and reading the JSON fields platforms send.

use chrono::{DateTime, Utc};
use layers_outbound::header::HeaderMap;
use layers_outbound::{Request, Url};
use serde_json::Value;

use crate::error::{classify, transport_as, Call, PlatformError, Result};
use crate::{Clients, Platform};

/// A 2xx answer, read whole (within the client's size cap).
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// `base` with `path` appended, keeping a path prefix the base may carry and the path's own
/// trailing slash (TikTok's paths end with one).
pub(crate) fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!(
        "{}/{}",
        base.path().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    url.set_path(&joined);
    url.set_query(None);
    url
}

/// How a service's failed answer is sorted, from its HTTP status and body.
pub(crate) type Sort<'a> = &'a (dyn Fn(u16, &[u8]) -> PlatformError + Sync);

impl Clients {
    /// Sends `request` and returns its answer if it is a success; any other answer is sorted
    /// by [`classify`], a call without an answer by [`transport`].
    pub(crate) async fn reply(&self, p: Platform, call: Call, request: Request) -> Result<Reply> {
        let sort = |status: u16, body: &[u8]| classify(p, call, status, body);
        self.reply_as(p.as_str(), request, &sort).await
    }

    /// [`Clients::reply`] for any service (the ads APIs): `who` names it in messages, `sort`
    /// sorts an answer other than 2xx.
    pub(crate) async fn reply_as(
        &self,
        who: &str,
        request: Request,
        sort: Sort<'_>,
    ) -> Result<Reply> {
        let response = request
            .send()
            .await
            .map_err(|e| transport_as(who, e, sort))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_as(who, e, sort))?;
        if !(200..300).contains(&status) {
            return Err(sort(status, &body));
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// [`Clients::reply_as`] decoded as a JSON object.
    pub(crate) async fn json_as(
        &self,
        who: &str,
        request: Request,
        sort: Sort<'_>,
    ) -> Result<(Reply, Value)> {
        let reply = self.reply_as(who, request, sort).await?;
        let json = object(who, &reply.body)?;
        Ok((reply, json))
    }

    /// [`Clients::reply`] decoded as a JSON object. TikTok answers some failures with a 200 and
    /// an error in the body (`error.code` other than `ok`, or an OAuth `error`): those are
    /// sorted as failures too.
    pub(crate) async fn json(&self, p: Platform, call: Call, request: Request) -> Result<Value> {
        let reply = self.reply(p, call, request).await?;
        let json = object(p.as_str(), &reply.body)?;
        if p == Platform::Tiktok {
            let failed = match &json["error"] {
                Value::String(code) => !code.is_empty(),
                Value::Object(error) => error
                    .get("code")
                    .and_then(Value::as_str)
                    .is_some_and(|code| code != "ok"),
                _ => false,
            };
            if failed {
                return Err(classify(p, call, reply.status, &reply.body));
            }
        }
        Ok(json)
    }
}

/// A body that must be a JSON object.
fn object(who: &str, body: &[u8]) -> Result<Value> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| PlatformError::Malformed(format!("{who} answered invalid JSON: {e}")))?;
    if !json.is_object() {
        return Err(PlatformError::Malformed(format!(
            "{who} answered JSON that is not an object"
        )));
    }
    Ok(json)
}

/// A string field (a number is taken as its digits), else `Malformed` naming it.
pub(crate) fn text(p: Platform, value: &Value, field: &str) -> Result<String> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(PlatformError::Malformed(format!(
            "{p}'s answer has no {field}"
        ))),
    }
}

/// A count sent as a number or as a string of digits (Google); anything else is 0.
pub(crate) fn count(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// When a token given now with `expires_in` seconds expires (none when the answer has none).
pub(crate) fn expires_at(expires_in: &Value) -> Option<DateTime<Utc>> {
    let seconds = count(expires_in);
    (seconds > 0).then(|| Utc::now() + chrono::Duration::seconds(seconds))
}

/// An optional non-empty string field.
pub(crate) fn optional(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// A media URL given by the caller, parsed; one that is not a URL is refused before any call.
pub(crate) fn media_url(p: Platform, url: &str) -> Result<Url> {
    Url::parse(url).map_err(|e| {
        PlatformError::rejected(
            422,
            format!("the media URL for {p} is not a valid URL: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_urls_keep_their_path_and_paths_their_slash() {
        let base = Url::parse("http://127.0.0.1:9/fake/").unwrap();
        assert_eq!(
            join(&base, "/v2/oauth/token/").as_str(),
            "http://127.0.0.1:9/fake/v2/oauth/token/"
        );
        let root = Url::parse("https://graph.facebook.com").unwrap();
        assert_eq!(
            join(&root, "v21.0/me/accounts").as_str(),
            "https://graph.facebook.com/v21.0/me/accounts"
        );
    }

    #[test]
    fn counts_and_expiries() {
        assert_eq!(count(&json!("1234")), 1234);
        assert_eq!(count(&json!(56)), 56);
        assert_eq!(count(&json!(null)), 0);
        assert!(expires_at(&json!(null)).is_none());
        let at = expires_at(&json!(3600)).unwrap();
        let left = (at - Utc::now()).num_seconds();
        assert!((3590..=3600).contains(&left), "{left}");
        assert_eq!(text(Platform::Tiktok, &json!(7), "id").unwrap(), "7");
        assert!(text(Platform::Tiktok, &json!(""), "id").is_err());
    }
}
