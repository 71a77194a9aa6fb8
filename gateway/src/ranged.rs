//! Media as players fetch it (RFC 9110 §13–14), for `/sandbox/…` and `/media/…`: `HEAD`, one
//! `Range` answered 206 with `Content-Range` (a set of several ranges is answered whole, as a
//! server may), `If-Range`, `If-None-Match` answered 304, and `Accept-Ranges: bytes` and the
//! `ETag` on every answer, so that Safari and iOS video players can stream and caches revalidate.

use std::ops::Range;

use actix_web::http::header::{
    HeaderValue, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, IF_RANGE, RANGE,
};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use crate::error::ApiError;

/// What is served: its size, validator and headers.
#[derive(Debug, Clone)]
pub struct Entity {
    pub size: u64,
    /// The strong entity tag, unquoted.
    pub etag: String,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// How a request for an entity is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 304: the client's copy is current.
    NotModified,
    /// 200 with the whole entity.
    Whole,
    /// 206 with these bytes (end excluded).
    Part(Range<u64>),
    /// 416: no byte of the range exists.
    Unsatisfiable,
}

impl Entity {
    fn quoted(&self) -> String {
        format!("\"{}\"", self.etag)
    }

    /// How `req` is answered: `If-None-Match` first, then `Range` (honoured only while an
    /// `If-Range` names this entity's tag).
    pub fn answer(&self, req: &HttpRequest) -> Answer {
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let tag = self.quoted();
        if let Some(wanted) = header(IF_NONE_MATCH) {
            let matches = wanted
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == tag);
            if matches {
                return Answer::NotModified;
            }
        }
        if header(IF_RANGE).is_some_and(|r| r.trim() != tag) {
            return Answer::Whole;
        }
        match header(RANGE) {
            Some(range) => parse_range(range, self.size),
            None => Answer::Whole,
        }
    }

    /// The head of the answer: status and headers; `Err` for a 416 (as the error envelope).
    pub fn respond(&self, answer: &Answer) -> Result<HttpResponseBuilder, ApiError> {
        let status = match answer {
            Answer::NotModified => StatusCode::NOT_MODIFIED,
            Answer::Whole => StatusCode::OK,
            Answer::Part(_) => StatusCode::PARTIAL_CONTENT,
            Answer::Unsatisfiable => return Err(ApiError::range_not_satisfiable(self.size)),
        };
        let mut res = HttpResponse::build(status);
        res.insert_header((ETAG, self.quoted()))
            .insert_header((ACCEPT_RANGES, "bytes"))
            .insert_header((CACHE_CONTROL, self.cache_control));
        match answer {
            Answer::Whole => {
                res.insert_header((CONTENT_TYPE, self.content_type))
                    .insert_header((CONTENT_LENGTH, self.size));
            }
            Answer::Part(r) => {
                res.insert_header((CONTENT_TYPE, self.content_type))
                    .insert_header((CONTENT_LENGTH, r.end - r.start))
                    .insert_header((
                        CONTENT_RANGE,
                        format!("bytes {}-{}/{}", r.start, r.end - 1, self.size),
                    ));
            }
            Answer::NotModified | Answer::Unsatisfiable => {}
        }
        Ok(res)
    }
}

/// One `bytes=` range of an entity of `size` bytes; anything else (another unit, several
/// ranges, a malformed one) is answered whole.
fn parse_range(header: &str, size: u64) -> Answer {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Answer::Whole;
    };
    if spec.contains(',') {
        return Answer::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Answer::Whole;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), number(first), number(last)) {
        // the last n bytes
        (true, _, Some(n)) if n > 0 && size > 0 => Answer::Part(size.saturating_sub(n)..size),
        (true, _, Some(_)) => Answer::Unsatisfiable,
        (false, Some(start), _) if start >= size => Answer::Unsatisfiable,
        (false, Some(start), None) if last.trim().is_empty() => Answer::Part(start..size),
        (false, Some(start), Some(end)) if end >= start => {
            Answer::Part(start..end.saturating_add(1).min(size))
        }
        _ => Answer::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_players_send_them() {
        assert_eq!(parse_range("bytes=0-1", 100), Answer::Part(0..2));
        assert_eq!(parse_range("bytes=0-", 100), Answer::Part(0..100));
        assert_eq!(parse_range("bytes=50-1000", 100), Answer::Part(50..100));
        assert_eq!(parse_range("bytes=-10", 100), Answer::Part(90..100));
        assert_eq!(parse_range("bytes=-1000", 100), Answer::Part(0..100));
        assert_eq!(parse_range("bytes=100-", 100), Answer::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Answer::Unsatisfiable);
        // answered whole: several ranges, another unit, nonsense, a reversed range
        for whole in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=a-b",
            "bytes=9-3",
            "bytes",
        ] {
            assert_eq!(parse_range(whole, 100), Answer::Whole, "{whole}");
        }
    }
}
