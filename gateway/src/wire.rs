//! Wire formats shared by every route: RFC 3339 times with milliseconds, list envelopes.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// `2026-05-08T12:00:00.000Z`
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `{"data": [...], "nextCursor": string|null}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    pub fn from_page<U, C: ToString>(page: layers_core::Page<U, C>, f: impl Fn(U) -> T) -> List<T> {
        List {
            data: page.items.into_iter().map(f).collect(),
            next_cursor: page.next.map(|c| c.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_have_milliseconds_and_z() {
        let t = Utc.with_ymd_and_hms(2026, 5, 8, 12, 0, 0).unwrap();
        assert_eq!(time(t), "2026-05-08T12:00:00.000Z");
    }
}
