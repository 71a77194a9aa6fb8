//! The summary of several posts' series over a range (CONTRACT §11 "Metrics", the `summary`
//! endpoint): every count summed, the engagement rate weighted by views, and the number of posts.

use crate::series::{round4, Day};

/// Totals over every day of every series given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub views: u64,
    /// The sum of the daily reaches (not a count of distinct people: the series do not know them).
    pub reach: u64,
    pub likes: u64,
    pub comments: u64,
    pub shares: u64,
    pub saves: u64,
    pub watch_time_ms: u64,
    pub posts_published: u64,
    /// The daily rates weighted by their views, `Σ(rate × views) / Σ views`, rounded to 4
    /// decimals; 0.0 when there are no views.
    pub engagement_rate: f64,
    /// The number of series given, one per post, whether or not they hold any activity (a post
    /// published after the range still counts: it was asked for).
    pub posts: u64,
}

/// The summary of `series`, one slice of days per post. Counts add up saturating at `u64::MAX`
/// (out of reach for synthetic days, but `Day`'s fields are public). The sums run in the order
/// given, so equal inputs give bit-identical rates.
pub fn summarize(series: &[&[Day]]) -> Summary {
    let mut summary = Summary {
        posts: series.len() as u64,
        ..Summary::default()
    };
    let mut weighted_rate = 0.0;
    for day in series.iter().flat_map(|days| days.iter()) {
        let add = |total: &mut u64, n: u64| *total = total.saturating_add(n);
        add(&mut summary.views, day.views);
        add(&mut summary.reach, day.reach);
        add(&mut summary.likes, day.likes);
        add(&mut summary.comments, day.comments);
        add(&mut summary.shares, day.shares);
        add(&mut summary.saves, day.saves);
        add(&mut summary.watch_time_ms, day.watch_time_ms);
        add(&mut summary.posts_published, day.posts_published);
        weighted_rate += day.engagement_rate * day.views as f64;
    }
    if summary.views > 0 {
        summary.engagement_rate = round4(weighted_rate / summary.views as f64);
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Date;

    fn day(date: &str, views: u64, rate: f64) -> Day {
        Day {
            views,
            reach: views / 2,
            likes: 1,
            comments: 2,
            shares: 3,
            saves: 4,
            watch_time_ms: views.saturating_mul(1000),
            posts_published: 0,
            engagement_rate: rate,
            ..Day::zero(date.parse::<Date>().unwrap())
        }
    }

    #[test]
    fn the_rate_is_weighted_by_views() {
        // 100 views at 2% and 300 at 4%: (2 + 12) / 400 = 3.5%, not the plain mean 3%.
        let a = [day("2024-01-01", 100, 0.02)];
        let b = [day("2024-01-01", 300, 0.04)];
        let summary = summarize(&[&a, &b]);
        assert_eq!(summary.engagement_rate, 0.035);
        assert_eq!(summary.views, 400);
        assert_eq!(summary.posts, 2);
    }

    #[test]
    fn days_without_views_weigh_nothing() {
        let days = [
            Day::zero("2024-01-01".parse().unwrap()),
            day("2024-01-02", 90, 0.0333),
        ];
        assert_eq!(summarize(&[&days]).engagement_rate, 0.0333);
    }

    #[test]
    fn every_count_is_summed() {
        let mut first = day("2024-01-01", 100, 0.03);
        first.posts_published = 1;
        let days = [first, day("2024-01-02", 80, 0.05)];
        let other = [day("2024-01-02", 120, 0.02)];
        assert_eq!(
            summarize(&[&days, &other]),
            Summary {
                views: 300,
                reach: 50 + 40 + 60,
                likes: 3,
                comments: 6,
                shares: 9,
                saves: 12,
                watch_time_ms: 300_000,
                posts_published: 1,
                // (3 + 4 + 2.4) / 300
                engagement_rate: 0.0313,
                posts: 2,
            }
        );
    }

    #[test]
    fn nothing_gives_zeros_but_counts_the_posts() {
        assert_eq!(summarize(&[]), Summary::default());
        let empty: [Day; 0] = [];
        let zeros = [Day::zero("2024-01-01".parse().unwrap())];
        let summary = summarize(&[&empty, &zeros]);
        assert_eq!(summary.posts, 2);
        assert_eq!(summary.views, 0);
        assert_eq!(summary.engagement_rate.to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn sums_saturate_instead_of_overflowing() {
        let big = [
            day("2024-01-01", u64::MAX, 0.02),
            day("2024-01-02", 5, 0.02),
        ];
        assert_eq!(summarize(&[&big]).views, u64::MAX);
    }
}
