//! What went wrong with a platform call, sorted by what the caller should do about it: give up
//! (`Rejected`), ask the user to connect again (`TokenExpired`), retry later (`Transient`).

use std::error::Error as StdError;

use layers_outbound::OutboundError;
use serde_json::Value;

use crate::config::NotConfigured;
use crate::Platform;

/// `Result` with [`PlatformError`] as its default error.
pub type Result<T, E = PlatformError> = std::result::Result<T, E>;

/// A platform call that failed.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error(transparent)]
    NotConfigured(#[from] NotConfigured),
    /// the user denied or the platform refused the request (a 4xx other than an expired/invalid token): not worth retrying; the message is the platform's own error message
    ///
    /// `status` is the HTTP status the platform answered. A refusal that no 4xx carried is 422:
    /// TikTok's 200 with an error code in the body, a container or publish that failed while
    /// processing, and what is refused here before any call (YouTube given an image, a media URL
    /// that is not one).
    #[error("the platform refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// the token is expired, revoked or invalid (401, Meta error code 190, TikTok access_token_invalid, Google invalid_grant on refresh...): the account needs re-authorization
    #[error("the token is expired or revoked, connect the account again: {0}")]
    TokenExpired(String),
    /// 5xx, 429, timeout, connection failure: worth retrying
    #[error("the platform is unavailable, try again later: {0}")]
    Transient(String),
    /// the platform answered something we could not read
    #[error("the platform answered something unreadable: {0}")]
    Malformed(String),
}

impl PlatformError {
    /// Whether the same call may succeed later: only [`PlatformError::Transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, PlatformError::Transient(_))
    }

    /// Whether the account needs the user to connect it again.
    pub fn is_token_expired(&self) -> bool {
        matches!(self, PlatformError::TokenExpired(_))
    }

    pub(crate) fn rejected(status: u16, message: impl Into<String>) -> PlatformError {
        PlatformError::Rejected {
            status,
            message: message.into(),
        }
    }
}

/// What a failed answer means depends on what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// Exchanging an authorization code: a refusal is about the code or the app, never an
    /// expired account.
    Code,
    /// Refreshing a token: `invalid_grant` (Meta: code 190) means the grant is gone.
    Refresh,
    /// A call with the user's access token: 401 (and the platform's own codes) mean the token
    /// is gone.
    Api,
}

/// The error fields of a platform's answer, whichever of the usual shapes it has:
/// Graph `{error: {message, code, is_transient}}`, TikTok `{error: {code, message}}`, Google
/// `{error: {message, errors: [{reason}]}}`, OAuth `{error, error_description}`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ErrorBody {
    pub message: Option<String>,
    /// A number or a string, as text (`190`, `access_token_invalid`, `invalid_grant`).
    pub code: Option<String>,
    /// Google's `errors[].reason`.
    pub reasons: Vec<String>,
    /// Graph's `is_transient`.
    pub transient: bool,
}

impl ErrorBody {
    pub(crate) fn parse(body: &Value) -> ErrorBody {
        let text = |v: &Value| match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        match &body["error"] {
            Value::Object(error) => ErrorBody {
                message: error
                    .get("error_user_msg")
                    .or(error.get("message"))
                    .and_then(text),
                code: error.get("code").and_then(text),
                reasons: error
                    .get("errors")
                    .and_then(Value::as_array)
                    .map(|errors| {
                        errors
                            .iter()
                            .filter_map(|e| e["reason"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                transient: error.get("is_transient").and_then(Value::as_bool) == Some(true),
            },
            Value::String(code) if !code.is_empty() => ErrorBody {
                message: text(&body["error_description"]).or(Some(code.clone())),
                code: Some(code.clone()),
                ..ErrorBody::default()
            },
            _ => ErrorBody::default(),
        }
    }
}

/// Graph error codes that mean "slow down" or "try again": unknown error, service unavailable,
/// the app, user, page and per-action rate limits.
const META_TRANSIENT_CODES: &[&str] = &["1", "2", "4", "17", "32", "341", "613"];

/// Sorts a platform's answer that is an error: an HTTP status other than 2xx, or (TikTok) a
/// 2xx whose body carries an error code.
pub(crate) fn classify(p: Platform, call: Call, status: u16, body: &[u8]) -> PlatformError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = ErrorBody::parse(&json);
    let message = error.message.clone().unwrap_or_else(|| {
        let excerpt = String::from_utf8_lossy(body);
        let excerpt = excerpt.trim();
        if excerpt.is_empty() {
            format!("{p} answered {status} without an error message")
        } else {
            format!("{p} answered {status}: {}", truncate(excerpt, 300))
        }
    });
    let code = error.code.as_deref().unwrap_or("");
    let transient = status >= 500
        || status == 408
        || status == 429
        || match p {
            Platform::Instagram => error.transient || META_TRANSIENT_CODES.contains(&code),
            Platform::Tiktok => matches!(
                code,
                "rate_limit_exceeded"
                    | "internal_error"
                    | "server_error"
                    | "temporarily_unavailable"
            ),
            // its own envelope is sorted by `ads::tiktok`; here only what HTTP says
            Platform::TiktokBusiness => false,
            Platform::Youtube => error.reasons.iter().any(|r| {
                matches!(
                    r.as_str(),
                    "rateLimitExceeded" | "userRateLimitExceeded" | "backendError"
                )
            }),
        };
    if transient {
        return PlatformError::Transient(format!("{p} answered {status}: {message}"));
    }
    let expired = match call {
        Call::Code => false,
        Call::Refresh => code == "invalid_grant" || (p == Platform::Instagram && code == "190"),
        Call::Api => {
            // a Google account without a channel answers 401 too: not a token problem
            let no_channel = error.reasons.iter().any(|r| r == "youtubeSignupRequired");
            (status == 401 && !no_channel)
                || match p {
                    Platform::Instagram => code == "190",
                    Platform::Tiktok => matches!(code, "access_token_invalid" | "token_expired"),
                    Platform::TiktokBusiness | Platform::Youtube => false,
                }
        }
    };
    if expired {
        return PlatformError::TokenExpired(message);
    }
    PlatformError::Rejected {
        status: if status >= 400 { status } else { 422 },
        message,
    }
}

/// Sorts a call that got no answer. The message never quotes the URL (Graph's token calls carry
/// the app secret in the query string).
pub(crate) fn transport(p: Platform, e: OutboundError) -> PlatformError {
    transport_as(p.as_str(), e, &|status, body| {
        classify(p, Call::Api, status, body)
    })
}

/// [`transport`] for any service: `who` names it in messages, `sort` sorts an error status.
pub(crate) fn transport_as(
    who: &str,
    e: OutboundError,
    sort: &(dyn Fn(u16, &[u8]) -> PlatformError + Sync),
) -> PlatformError {
    let transient = e.is_transient();
    match e {
        OutboundError::Refused { .. } => PlatformError::rejected(
            422,
            "the host is not reachable from this API: loopback, private, link-local and \
             metadata addresses are refused",
        ),
        OutboundError::Timeout => PlatformError::Transient(format!("{who} did not answer in time")),
        OutboundError::TooLarge { limit } => {
            PlatformError::Malformed(format!("{who} answered more than {limit} bytes"))
        }
        OutboundError::Decode(e) => PlatformError::Malformed(format!("{who}: {e}")),
        OutboundError::Status { code, body_excerpt } => {
            sort(code.as_u16(), body_excerpt.as_bytes())
        }
        OutboundError::Http(inner) => {
            // reqwest's own message names the URL; its innermost cause does not
            let mut cause = inner.source();
            let mut innermost = None;
            while let Some(c) = cause {
                innermost = Some(c);
                cause = c.source();
            }
            let message = innermost.map_or_else(
                || "the request could not be sent".to_owned(),
                ToString::to_string,
            );
            if transient {
                PlatformError::Transient(format!("could not reach {who}: {message}"))
            } else {
                PlatformError::Malformed(format!("the call to {who} failed: {message}"))
            }
        }
    }
}

/// At most `max` characters of `s`, with an ellipsis when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sort(p: Platform, call: Call, status: u16, body: Value) -> PlatformError {
        classify(p, call, status, body.to_string().as_bytes())
    }

    #[test]
    fn error_bodies_of_every_shape() {
        let graph = json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}});
        assert_eq!(
            ErrorBody::parse(&graph),
            ErrorBody {
                message: Some("Invalid OAuth access token.".into()),
                code: Some("190".into()),
                ..ErrorBody::default()
            }
        );
        let oauth = json!({"error": "invalid_grant", "error_description": "Bad Request"});
        let parsed = ErrorBody::parse(&oauth);
        assert_eq!(parsed.code.as_deref(), Some("invalid_grant"));
        assert_eq!(parsed.message.as_deref(), Some("Bad Request"));
        let google = json!({"error": {"code": 403, "message": "Quota", "errors": [{"reason": "rateLimitExceeded"}]}});
        assert_eq!(ErrorBody::parse(&google).reasons, ["rateLimitExceeded"]);
        assert_eq!(ErrorBody::parse(&json!({"data": {}})), ErrorBody::default());
    }

    #[test]
    fn sorting() {
        let graph_190 = json!({"error": {"message": "Session has expired", "code": 190}});
        assert!(sort(Platform::Instagram, Call::Api, 400, graph_190.clone()).is_token_expired());
        assert!(
            sort(Platform::Instagram, Call::Refresh, 400, graph_190.clone()).is_token_expired()
        );
        assert!(matches!(
            sort(Platform::Instagram, Call::Code, 400, graph_190),
            PlatformError::Rejected { status: 400, .. }
        ));
        let limited = json!({"error": {"message": "Application request limit reached", "code": 4}});
        assert!(sort(Platform::Instagram, Call::Api, 400, limited).is_transient());
        let grant = json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."});
        assert!(sort(Platform::Youtube, Call::Refresh, 400, grant.clone()).is_token_expired());
        assert!(matches!(
            sort(Platform::Youtube, Call::Code, 400, grant),
            PlatformError::Rejected { .. }
        ));
        let client = json!({"error": "invalid_client", "error_description": "Unauthorized"});
        assert!(matches!(
            sort(Platform::Youtube, Call::Refresh, 401, client),
            PlatformError::Rejected { status: 401, .. }
        ));
        let tiktok = json!({"error": {"code": "access_token_invalid", "message": "The access token is invalid"}});
        assert!(sort(Platform::Tiktok, Call::Api, 200, tiktok).is_token_expired());
        let spam =
            json!({"error": {"code": "spam_risk_too_many_posts", "message": "Too many posts"}});
        let PlatformError::Rejected { status, message } =
            sort(Platform::Tiktok, Call::Api, 200, spam)
        else {
            panic!("not rejected")
        };
        assert_eq!((status, message.as_str()), (422, "Too many posts"));
        assert!(classify(
            Platform::Youtube,
            Call::Api,
            502,
            b"<html>bad gateway</html>"
        )
        .is_transient());
        let PlatformError::Rejected { message, .. } =
            classify(Platform::Youtube, Call::Api, 404, b"")
        else {
            panic!("not rejected")
        };
        assert_eq!(message, "youtube answered 404 without an error message");
    }
}
