//! Request extractors whose every failure is an envelope: JSON bodies (415, 413, 400 naming the
//! field), list parameters and prefixed ids in paths.

use std::future::{ready, Ready};

use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use layers_core::Limit;
use serde::de::DeserializeOwned;

use crate::error::{quote, ApiError, Code};

/// A JSON body parsed into `T`; unknown fields are refused by `T`'s own serde attributes.
#[derive(Debug)]
pub struct Json<T>(pub T);

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `message` with every `quoted` part cut to [`quote`]'s bound: serde quotes the client's own
/// field names, which may be a megabyte long.
fn bound_quotes(message: &str) -> String {
    message
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                quote(part)
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// `message` cut to four quote bounds: room for serde's own words around one quoted part.
fn quote_long(message: &str) -> String {
    match message.char_indices().nth(4 * crate::error::QUOTE_LIMIT) {
        None => message.to_owned(),
        Some((cut, _)) => format!("{}…", &message[..cut]),
    }
}

/// Turns a serde error into a 400 that names the field.
fn invalid_body(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let inner = err.inner();
    if inner.is_syntax() || inner.is_eof() {
        return ApiError::new(
            Code::ValidationError,
            format!("request body is not valid JSON: {inner}"),
        );
    }
    let message = inner.to_string();
    let path = err.path().to_string();
    let quoted = message.split('`').nth(1).map(str::to_owned);
    // serde reports a missing field against the enclosing object; name the field itself.
    let field = match (message.starts_with("missing field"), path.as_str(), quoted) {
        (true, ".", Some(f)) => f,
        (true, p, Some(f)) => format!("{p}.{f}"),
        _ => path,
    };
    // each quoted part bounded, and the whole too (a backtick inside a field name would
    // otherwise shift which parts count as quoted)
    let message = quote_long(&bound_quotes(
        message.split(" at line ").next().unwrap_or(&message),
    ));
    let field = quote(&field);
    ApiError::validation(&field, format!("{field}: {message}"))
}

/// 400 naming the field when a string of the body holds a NUL character (`\u0000`), which no
/// text of this API may carry (PostgreSQL cannot store it either). Only a body whose bytes
/// mention `\u0000` is looked at closely.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    fn find(value: &serde_json::Value, path: &mut Vec<String>) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, v)| {
                path.push(format!("[{i}]"));
                let found = find(v, path);
                if !found {
                    path.pop();
                }
                found
            }),
            serde_json::Value::Object(fields) => fields.iter().any(|(k, v)| {
                path.push(format!(".{k}"));
                let found = k.contains('\0') || find(v, path);
                if !found {
                    path.pop();
                }
                found
            }),
            _ => false,
        }
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(()); // the parser that follows says what is wrong
    };
    let mut path = Vec::new();
    if !find(&value, &mut path) {
        return Ok(());
    }
    let field = path.concat();
    let field = field.trim_start_matches('.');
    Err(ApiError::validation(
        field,
        format!("{}: must not contain the NUL character", quote(field)),
    ))
}

/// The body with every number written with a fraction or exponent but of whole value (`3.0`,
/// `1e2`) turned into an integer, when it has such a number: JSON Schema counts `3.0` as an
/// integer, so a field documented `integer` accepts it. `None` (parse the bytes as they are)
/// when there is none, or the body is not JSON (the parser that follows says what is wrong).
fn integral_floats_as_integers(bytes: &[u8]) -> Option<serde_json::Value> {
    /// Beyond 2^53 a float no longer stands for one integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    fn normalize(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() != 0.0 || f.abs() > EXACT {
                    return false;
                }
                // exact: a whole number of magnitude at most 2^53
                #[allow(clippy::cast_possible_truncation)]
                let whole = f as i64;
                *n = serde_json::Number::from(whole);
                true
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().fold(false, |a, v| normalize(v) | a)
            }
            serde_json::Value::Object(fields) => {
                fields.values_mut().fold(false, |a, v| normalize(v) | a)
            }
            _ => false,
        }
    }
    // most bodies have no number with a fraction or an exponent: one pass, no second parse
    let fraction_or_exponent =
        |w: &[u8]| w[0].is_ascii_digit() && matches!(w[1], b'.' | b'e' | b'E');
    if !bytes.windows(2).any(fraction_or_exponent) {
        return None;
    }
    let mut value = serde_json::from_slice::<serde_json::Value>(bytes).ok()?;
    normalize(&mut value).then_some(value)
}

/// Parses a JSON body already read into memory. Every body of this API is a JSON object; an
/// array (which serde would otherwise accept for a struct, field by field) is refused.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.trim_ascii_start().first() == Some(&b'[') {
        return Err(ApiError::new(
            Code::ValidationError,
            "request body must be a JSON object, not an array",
        ));
    }
    refuse_nul(bytes)?;
    if let Some(value) = integral_floats_as_integers(bytes) {
        return serde_path_to_error::deserialize(value).map_err(invalid_body);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(invalid_body)?;
    de.end().map_err(|e| {
        ApiError::new(
            Code::ValidationError,
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().map(is_json).unwrap_or(false));
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            if content_type == Some(false) {
                return Err(ApiError::unsupported_media_type());
            }
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    ApiError::payload_too_large()
                } else {
                    ApiError::new(Code::ValidationError, "the request body could not be read")
                }
            })?;
            match content_type {
                None if bytes.is_empty() => Err(ApiError::new(
                    Code::ValidationError,
                    "request body is required: send a JSON object",
                )),
                None => Err(ApiError::unsupported_media_type()),
                _ => parse_json(&bytes).map(Json),
            }
        })
    }
}

/// `?limit=` (1..100, default 20) and `?cursor=` of a list endpoint.
#[derive(Debug)]
pub struct ListParams {
    pub limit: Limit,
    pub cursor: Option<String>,
}

impl ListParams {
    /// Parses the cursor with the id type of the list.
    pub fn cursor<C>(
        &self,
        parse: impl Fn(&str) -> Result<C, layers_core::IdError>,
    ) -> Result<Option<C>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| {
                parse(c).map_err(|_| {
                    ApiError::validation(
                        "cursor",
                        "cursor must be a nextCursor value from a previous page",
                    )
                })
            })
            .transpose()
    }
}

impl FromRequest for ListParams {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        #[derive(serde::Deserialize)]
        struct Raw {
            limit: Option<String>,
            cursor: Option<String>,
        }
        let parsed = actix_web::web::Query::<Raw>::from_query(req.query_string())
            .map_err(|_| {
                ApiError::new(
                    Code::ValidationError,
                    "the query string could not be parsed",
                )
            })
            .and_then(|q| {
                let raw = q.into_inner();
                let limit = match raw.limit {
                    None => Limit::default(),
                    Some(l) => l
                        .parse::<i64>()
                        .ok()
                        .and_then(|n| Limit::new(n).ok())
                        .ok_or_else(|| {
                            ApiError::validation(
                                "limit",
                                "limit must be an integer between 1 and 100",
                            )
                        })?,
                };
                Ok(ListParams {
                    limit,
                    cursor: raw.cursor.filter(|c| !c.is_empty()),
                })
            });
        ready(parsed)
    }
}

/// Parses a body field with its domain type; a refusal is a 400 naming the wire field (domain
/// messages say what is wrong, the gateway says where: `timezone must be an IANA …`).
pub fn field<T, E: std::fmt::Display>(
    name: &str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<T, ApiError> {
    parse(value).map_err(|e| ApiError::validation(name, format!("{name} {e}")))
}

/// [`field`] for an optional field: absent stays `None`.
pub fn optional_field<T, E: std::fmt::Display>(
    name: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, ApiError> {
    value.map(|v| field(name, v, parse)).transpose()
}

/// Parses a prefixed id from a path segment; a malformed id is simply not found.
pub fn path_id<T>(
    raw: &str,
    what: &str,
    parse: impl Fn(&str) -> Result<T, layers_core::IdError>,
) -> Result<T, ApiError> {
    parse(raw).map_err(|_| ApiError::not_found(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        name: String,
        time_zone: Option<String>,
    }

    fn field(bytes: &str) -> Option<String> {
        let err = parse_json::<Body>(bytes.as_bytes()).unwrap_err();
        assert_eq!(err.code(), Code::ValidationError);
        let res = err.error_response();
        assert_eq!(res.status(), 400);
        format!("{err}").split(": ").nth(1).map(|s| s.to_owned())
    }

    #[test]
    fn whole_numbers_with_a_fraction_are_integers() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Counts {
            count: i64,
            ratio: f64,
            items: Vec<u32>,
        }
        let parsed: Counts =
            parse_json(br#"{"count": 3.0, "ratio": 0.5, "items": [1e1, 2]}"#).unwrap();
        assert_eq!(
            parsed,
            Counts {
                count: 3,
                ratio: 0.5,
                items: vec![10, 2]
            }
        );
        let err = parse_json::<Counts>(br#"{"count": 3.5, "ratio": 1, "items": []}"#).unwrap_err();
        assert!(format!("{err}").contains("count"), "{err}");
    }

    #[test]
    fn names_fields() {
        assert_eq!(field(r#"{"timeZone": "UTC"}"#).as_deref(), Some("name"));
        assert_eq!(field(r#"{"name": 5}"#).as_deref(), Some("name"));
        assert_eq!(
            field(r#"{"name": "x", "bogus": 1}"#).as_deref(),
            Some("bogus")
        );
        assert!(parse_json::<Body>(b"{\"name\": \"x\"} trailing").is_err());
        assert!(parse_json::<Body>(b"{").is_err());
        assert!(parse_json::<Body>(br#"{"name": "x"}"#).is_ok());
        assert!(parse_json::<Body>(br#" ["x", null]"#).is_err());
    }

    #[test]
    fn client_input_is_quoted_only_up_to_a_bound() {
        let long = "k".repeat(1_000_000);
        let err = parse_json::<Body>(format!("{{\"{long}\": 1}}").as_bytes()).unwrap_err();
        let res = err.error_response();
        let shown = format!("{err}");
        assert!(shown.len() < 1_000, "{} bytes", shown.len());
        assert!(shown.contains(&"k".repeat(64)));
        assert_eq!(res.status(), 400);
        // a backtick in the name cannot smuggle the rest through unquoted
        let tricky = format!("{{\"a`{long}`b\": 1}}");
        let shown = format!("{}", parse_json::<Body>(tricky.as_bytes()).unwrap_err());
        assert!(shown.len() < 1_000, "{} bytes", shown.len());
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
