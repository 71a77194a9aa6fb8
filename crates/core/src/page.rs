//! Cursor pagination: a validated page size and a page of results with the cursor that follows it.

use thiserror::Error;

/// A page size between 1 and 100 (default 20).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(u8);

/// The page size was outside 1..=100.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("limit must be an integer between 1 and 100")]
pub struct LimitError;

impl Limit {
    pub const MAX: u8 = 100;

    pub fn new(n: i64) -> Result<Self, LimitError> {
        u8::try_from(n)
            .ok()
            .filter(|n| (1..=Self::MAX).contains(n))
            .map(Limit)
            .ok_or(LimitError)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Limit(20)
    }
}

/// One page of a list, newest first. `next` is the last item's id when more items follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    pub items: Vec<T>,
    pub next: Option<C>,
    /// The cursor that follows each item, so that a caller may end the page earlier (the
    /// gateway does, to bound a page's bytes).
    pub cursors: Vec<C>,
}

impl<T, C> Page<T, C> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only says that more follow.
    pub fn from_overfetch(mut rows: Vec<T>, limit: Limit, cursor_of: impl Fn(&T) -> C) -> Self {
        let more = rows.len() > usize::from(limit.get());
        rows.truncate(usize::from(limit.get()));
        let cursors: Vec<C> = rows.iter().map(&cursor_of).collect();
        let next = if more {
            rows.last().map(&cursor_of)
        } else {
            None
        };
        Page {
            items: rows,
            next,
            cursors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_bounds() {
        assert!(Limit::new(0).is_err());
        assert!(Limit::new(101).is_err());
        assert!(Limit::new(-1).is_err());
        assert_eq!(Limit::new(1).unwrap().get(), 1);
        assert_eq!(Limit::new(100).unwrap().get(), 100);
        assert_eq!(Limit::default().get(), 20);
    }

    #[test]
    fn overfetch_sets_cursor_only_when_more_follow() {
        let limit = Limit::new(2).unwrap();
        let page = Page::from_overfetch(vec![1, 2, 3], limit, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next, Some(2));
        assert_eq!(page.cursors, vec![1, 2]);
        let last = Page::from_overfetch(vec![1, 2], limit, |n| *n);
        assert_eq!(last.next, None);
    }
}
