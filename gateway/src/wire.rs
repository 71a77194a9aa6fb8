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

/// The most bytes of items a list page carries: past them the page ends early (with a
/// `nextCursor`), however many rows were asked for. A page always carries at least one item.
pub const MAX_LIST_BYTES: usize = 1 << 20;

/// Counts what is written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<T: Serialize> List<T> {
    /// The page's items on the wire, ending early once they pass [`MAX_LIST_BYTES`].
    pub fn from_page<U, C: ToString>(page: layers_core::Page<U, C>, f: impl Fn(U) -> T) -> List<T> {
        let count = page.items.len();
        let mut data = Vec::with_capacity(count);
        let mut bytes = Counter(0);
        let mut next_cursor = page.next.map(|c| c.to_string());
        for (i, (item, cursor)) in page.items.into_iter().zip(page.cursors).enumerate() {
            let item = f(item);
            let _ = serde_json::to_writer(&mut bytes, &item);
            data.push(item);
            if bytes.0 > MAX_LIST_BYTES && i + 1 < count {
                next_cursor = Some(cursor.to_string());
                break;
            }
        }
        List { data, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_list_page_ends_early_once_its_items_pass_the_byte_bound() {
        let items: Vec<u32> = (0..100).collect();
        let page =
            layers_core::Page::from_overfetch(items, layers_core::Limit::new(100).unwrap(), |n| *n);
        let list = List::from_page(page, |n| "x".repeat(20_000) + &n.to_string());
        let bytes = serde_json::to_vec(&list).unwrap().len();
        assert!(
            list.data.len() < 100 && !list.data.is_empty(),
            "{}",
            list.data.len()
        );
        assert!(bytes <= MAX_LIST_BYTES + 21_000, "{bytes}");
        let last = list.data.len() - 1;
        assert_eq!(list.next_cursor, Some(last.to_string()));
        // a page of small items is whole, with no cursor when nothing follows
        let page = layers_core::Page::from_overfetch(
            vec![1, 2],
            layers_core::Limit::new(5).unwrap(),
            |n| *n,
        );
        let list = List::from_page(page, |n| n);
        assert_eq!((list.data, list.next_cursor), (vec![1, 2], None));
    }

    #[test]
    fn times_have_milliseconds_and_z() {
        let t = Utc.with_ymd_and_hms(2026, 5, 8, 12, 0, 0).unwrap();
        assert_eq!(time(t), "2026-05-08T12:00:00.000Z");
    }
}
