//! Post metrics (CONTRACT §11 "Metrics", §8): the daily series of a project's published posts
//! over a date range, and their sum.
//!
//! ```
//! use layers_metrics::{Range, RangeError};
//! use layers_metrics_synth::Date;
//!
//! let today: Date = "2026-05-08".parse()?;
//! let default = Range::new(None, None, today)?;
//! assert_eq!(default.from().to_string(), "2026-04-11"); // the last 28 days, today included
//! assert_eq!(default.days(), 28);
//!
//! let tomorrow = "2026-05-09".parse()?;
//! assert!(matches!(Range::new(None, Some(tomorrow), today), Err(RangeError::InTheFuture { .. })));
//! let long_ago = "2025-01-01".parse()?;
//! assert!(matches!(Range::new(Some(long_ago), None, today), Err(RangeError::TooLong { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The series of a post depends on where it was published, not on the key that asks: a sandbox
//! post's (`sb_post_…`) is synthesized on read by `layers-metrics-synth`, a live post's is read
//! from `post_metrics_daily`, which the [`SYNC`] job fills from the platforms' insights. Both
//! kinds may mix in one call and come back with the same fields.

use chrono::{NaiveDate, Utc};
use layers_core::EnvKind;
use layers_db::GenericClient;
use layers_metrics_synth::{Date, Day, Summary};
use layers_orgs::OrgId;
use layers_publishing::PublishedPost;

mod source;
mod store;
mod sync;

pub use source::Metrics;
use source::Origin;
pub use sync::{first_sync, Sync, SyncPost, SYNC};

/// The longest range one call may ask for, in days.
pub const MAX_DAYS: i64 = 366;

/// The range when none is given: the last 28 days, today included.
pub const DEFAULT_DAYS: i64 = 28;

/// A checked date range: `from <= to <= today`, at most [`MAX_DAYS`] days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    from: Date,
    to: Date,
}

/// Why a range was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    #[error("to ({to}) is after today ({today}, UTC)")]
    InTheFuture { to: Date, today: Date },
    #[error("from ({from}) is after to ({to})")]
    Reversed { from: Date, to: Date },
    #[error("the range holds {days} days; at most {MAX_DAYS} may be asked for at once")]
    TooLong { days: i64 },
}

impl Range {
    /// `to` defaults to today, `from` to [`DEFAULT_DAYS`] days ending at `to`.
    pub fn new(from: Option<Date>, to: Option<Date>, today: Date) -> Result<Range, RangeError> {
        let to = to.unwrap_or(today);
        if to > today {
            return Err(RangeError::InTheFuture { to, today });
        }
        let from = match from {
            Some(from) => from,
            None => Date::from_days_since_epoch(to.days_since_epoch() - (DEFAULT_DAYS - 1))
                .unwrap_or(Date::MIN),
        };
        if from > to {
            return Err(RangeError::Reversed { from, to });
        }
        let days = to.days_since_epoch() - from.days_since_epoch() + 1;
        if days > MAX_DAYS {
            return Err(RangeError::TooLong { days });
        }
        Ok(Range { from, to })
    }

    pub fn from(&self) -> Date {
        self.from
    }

    pub fn to(&self) -> Date {
        self.to
    }

    pub fn days(&self) -> i64 {
        self.to.days_since_epoch() - self.from.days_since_epoch() + 1
    }
}

/// Today's date, UTC.
pub fn today() -> Date {
    day_of(Utc::now())
}

/// The UTC date of `at` (a test clock's time: the "today" of its projects).
pub fn day_of(at: chrono::DateTime<Utc>) -> Date {
    to_date(at.date_naive())
}

/// What can go wrong reading metrics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Post ids that are none of the project's published posts (in this environment).
    #[error("no published post of this project has the externalId {}", .0.join(", "))]
    UnknownPosts(Vec<String>),
    #[error("stored metrics are corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Publishing(#[from] layers_publishing::Error),
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One post's series over the range.
#[derive(Clone, Debug, PartialEq)]
pub struct PostSeries {
    pub post: PublishedPost,
    pub days: Vec<Day>,
}

/// The series of the project's published posts of `env` over `range`: the ones named in
/// `external_ids` (every one must be found, else [`Error::UnknownPosts`]), or all of them,
/// oldest first. Sandbox posts are synthesized; live ones are read in one statement.
pub async fn series(
    db: &impl GenericClient,
    org: OrgId,
    env: EnvKind,
    project_id: uuid::Uuid,
    range: Range,
    external_ids: Option<&[String]>,
) -> Result<Vec<PostSeries>> {
    let posts = layers_publishing::posts_of_project(db, org, env, project_id, external_ids).await?;
    if let Some(asked) = external_ids {
        let missing: Vec<String> = asked
            .iter()
            .filter(|id| !posts.iter().any(|p| &p.external_id == *id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Error::UnknownPosts(missing));
        }
    }
    let origin = Origin::of(env);
    let mut synced = origin.synced(db, &posts, range).await?;
    let mut out = Vec::with_capacity(posts.len());
    for post in posts {
        let published = to_date(post.posted_at.date_naive());
        let days = match origin {
            Origin::Synthesized => {
                layers_metrics_synth::series(&post.external_id, published, range.from, range.to)
                    .map_err(|e| Error::Corrupt(e.to_string()))?
            }
            Origin::Synced => {
                let rows = take_rows(&mut synced, &post);
                live_days(published, range, &rows)
            }
        };
        out.push(PostSeries { post, days });
    }
    Ok(out)
}

/// The range's sum over every series (CONTRACT §11: `engagement_rate` weighted by views, plus
/// the number of posts).
pub fn summarize(series: &[PostSeries]) -> Summary {
    let days: Vec<&[Day]> = series.iter().map(|s| s.days.as_slice()).collect();
    layers_metrics_synth::summarize(&days)
}

/// A synced day of one post.
pub(crate) struct SyncedRow {
    platform: String,
    external_id: String,
    day: Date,
    /// views, reach, likes, comments, shares, saves, watch time (ms)
    counts: [i64; 7],
}

fn take_rows(rows: &mut Vec<SyncedRow>, post: &PublishedPost) -> Vec<SyncedRow> {
    let (mine, rest): (Vec<SyncedRow>, Vec<SyncedRow>) = std::mem::take(rows)
        .into_iter()
        .partition(|r| r.platform == post.platform.as_str() && r.external_id == post.external_id);
    *rows = rest;
    mine
}

/// A live post's days over the range: the synced counts (zeros for days not synced), one
/// `posts_published` on the day it was published, and the day's engagement rate
/// `(likes + comments + shares + saves) / views` to 4 decimals.
fn live_days(published: Date, range: Range, rows: &[SyncedRow]) -> Vec<Day> {
    (range.from.days_since_epoch()..=range.to.days_since_epoch())
        .map(|n| {
            let date = Date::from_days_since_epoch(n).expect("a day of a checked range");
            let mut day = Day::zero(date);
            if let Some(row) = rows.iter().find(|r| r.day == date) {
                let [views, reach, likes, comments, shares, saves, watch] =
                    row.counts.map(|c| c.max(0) as u64);
                day.views = views;
                day.reach = reach;
                day.likes = likes;
                day.comments = comments;
                day.shares = shares;
                day.saves = saves;
                day.watch_time_ms = watch;
            }
            if date == published {
                day.posts_published = 1;
            }
            if day.views > 0 {
                day.engagement_rate = layers_metrics_synth::series::round4(
                    day.interactions() as f64 / day.views as f64,
                );
            }
            day
        })
        .collect()
}

fn to_date(d: NaiveDate) -> Date {
    let days = d.signed_duration_since(NaiveDate::default()).num_days();
    Date::from_days_since_epoch(days).expect("a chrono date within 0000..=9999")
}

fn to_naive(d: Date) -> NaiveDate {
    NaiveDate::default() + chrono::Duration::days(d.days_since_epoch())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_cross_over_both_ways() {
        for s in ["1970-01-01", "2024-02-29", "1969-12-31", "2026-11-25"] {
            let d: Date = s.parse().unwrap();
            let naive = to_naive(d);
            assert_eq!(naive.to_string(), s);
            assert_eq!(to_date(naive), d);
        }
    }

    #[test]
    fn ranges_are_checked() {
        let today: Date = "2026-05-08".parse().unwrap();
        let d = |s: &str| s.parse::<Date>().unwrap();
        let year = Range::new(Some(d("2025-05-08")), None, today).unwrap();
        assert_eq!(year.days(), 366);
        assert_eq!(
            Range::new(Some(d("2025-05-07")), None, today),
            Err(RangeError::TooLong { days: 367 })
        );
        assert_eq!(
            Range::new(Some(d("2026-05-08")), Some(d("2026-05-07")), today),
            Err(RangeError::Reversed {
                from: d("2026-05-08"),
                to: d("2026-05-07")
            })
        );
        let one = Range::new(Some(today), Some(today), today).unwrap();
        assert_eq!(one.days(), 1);
    }

    #[test]
    fn live_days_fill_gaps_with_zeros_and_mark_the_publish_day() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        let range = Range::new(
            Some(d("2026-05-01")),
            Some(d("2026-05-03")),
            d("2026-05-08"),
        )
        .unwrap();
        let rows = [SyncedRow {
            platform: "instagram".into(),
            external_id: "1789".into(),
            day: d("2026-05-02"),
            counts: [200, 150, 6, 1, 1, 2, 9000],
        }];
        let days = live_days(d("2026-05-02"), range, &rows);
        assert_eq!(days.len(), 3);
        assert_eq!(days[0], Day::zero(d("2026-05-01")));
        assert_eq!(days[1].views, 200);
        assert_eq!(days[1].posts_published, 1);
        assert_eq!(days[1].engagement_rate, 0.05);
        assert_eq!(days[2].views, 0);
        assert_eq!(days[2].engagement_rate, 0.0);
    }
}
