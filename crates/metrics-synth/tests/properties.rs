//! Properties of the public API for any post id and any dates: the CONTRACT §8 ranges, zeros
//! before publishing, ranges that agree day by day, determinism, date round trips and the
//! summary's weighting.

use layers_metrics_synth::{day, series, summarize, Date, Day};
use proptest::prelude::*;

/// Days since 1970-01-01 from 1900-01-01 to 2199-12-31: three centuries, leap rules included.
const FIRST: i64 = -25_567;
const LAST: i64 = 84_005;

fn date() -> impl Strategy<Value = Date> {
    (FIRST..=LAST).prop_map(|n| Date::from_days_since_epoch(n).unwrap())
}

/// Post ids: sandbox-shaped ones and arbitrary text (Unicode too).
fn post_id() -> impl Strategy<Value = String> {
    prop_oneof!["sb_post_[0-9A-Z]{26}_[0-9]", "\\PC{0,40}",]
}

/// Three dates in order.
fn ordered() -> impl Strategy<Value = (Date, Date, Date)> {
    (FIRST..=LAST - 60, 0i64..30, 0i64..30).prop_map(|(a, ab, bc)| {
        let at = |n| Date::from_days_since_epoch(n).unwrap();
        (at(a), at(a + ab), at(a + ab + bc))
    })
}

fn check_day(d: &Day) -> Result<(), TestCaseError> {
    prop_assert!((80..=120).contains(&d.views), "views {}", d.views);
    prop_assert!(
        (0.02..=0.05).contains(&d.engagement_rate),
        "rate {}",
        d.engagement_rate
    );
    prop_assert!(d.reach <= d.views);
    prop_assert!(d.reach > 0);
    // The rate is the interactions over the views, to 4 decimals, and already rounded.
    let rate = d.interactions() as f64 / d.views as f64;
    prop_assert!(
        (0.02..=0.05).contains(&rate),
        "interactions {}",
        d.interactions()
    );
    prop_assert_eq!(d.engagement_rate, (rate * 10_000.0).round() / 10_000.0);
    prop_assert_eq!(
        d.engagement_rate,
        (d.engagement_rate * 10_000.0).round() / 10_000.0
    );
    prop_assert!(d.watch_time_ms >= d.views * 2_000 && d.watch_time_ms <= d.views * 8_000);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_day_after_publishing_lies_in_the_contract_ranges(
        id in post_id(),
        published in date(),
        after in 0i64..400,
    ) {
        let n = published.days_since_epoch() + after;
        let date = Date::from_days_since_epoch(n).unwrap();
        let d = day(&id, published, date);
        prop_assert_eq!(d.date, date);
        prop_assert_eq!(d.posts_published, u64::from(after == 0));
        check_day(&d)?;
    }

    #[test]
    fn days_before_publishing_are_zeros(
        id in post_id(),
        published in date(),
        before in 1i64..400,
    ) {
        let date = Date::from_days_since_epoch(published.days_since_epoch() - before).unwrap();
        prop_assert_eq!(day(&id, published, date), Day::zero(date));
    }

    #[test]
    fn a_day_does_not_depend_on_the_publish_date_once_published(
        id in post_id(),
        (early, late, date) in ordered(),
    ) {
        // Publishing earlier changes only `posts_published` of the later publish day.
        let mut a = day(&id, early, date);
        let mut b = day(&id, late, date);
        a.posts_published = 0;
        b.posts_published = 0;
        prop_assert_eq!(a, b);
    }

    #[test]
    fn overlapping_ranges_agree_day_by_day(
        id in post_id(),
        published in date(),
        (a, b, c) in ordered(),
    ) {
        let whole = series(&id, published, a, c).unwrap();
        let tail = series(&id, published, b, c).unwrap();
        let skip = (b.days_since_epoch() - a.days_since_epoch()) as usize;
        prop_assert_eq!(whole.len() as i64, c.days_since_epoch() - a.days_since_epoch() + 1);
        prop_assert_eq!(&whole[skip..], &tail[..]);
        let head = series(&id, published, a, b).unwrap();
        prop_assert_eq!(&whole[..=skip], &head[..]);
        for (i, d) in whole.iter().enumerate() {
            prop_assert_eq!(d.date.days_since_epoch(), a.days_since_epoch() + i as i64);
            prop_assert_eq!(d, &day(&id, published, d.date));
        }
    }

    #[test]
    fn the_same_inputs_give_identical_output(
        id in post_id(),
        published in date(),
        (a, _, c) in ordered(),
    ) {
        let first = series(&id, published, a, c).unwrap();
        let second = series(&id.clone(), published, a, c).unwrap();
        prop_assert_eq!(first.len(), second.len());
        for (x, y) in first.iter().zip(&second) {
            // Bit-identical floats, not merely equal ones.
            prop_assert_eq!(x.engagement_rate.to_bits(), y.engagement_rate.to_bits());
            prop_assert_eq!(x, y);
        }
    }

    #[test]
    fn a_reversed_range_is_refused(
        id in post_id(),
        published in date(),
        (a, _, c) in ordered(),
    ) {
        prop_assume!(a < c);
        let err = series(&id, published, c, a).unwrap_err();
        prop_assert_eq!((err.from, err.to), (c, a));
    }

    #[test]
    fn dates_round_trip_through_days_and_text(n in Date::MIN.days_since_epoch()..=Date::MAX.days_since_epoch()) {
        let date = Date::from_days_since_epoch(n).unwrap();
        prop_assert_eq!(date.days_since_epoch(), n);
        prop_assert_eq!(Date::new(date.year(), date.month(), date.day()), Ok(date));
        let text = date.to_string();
        prop_assert_eq!(text.len(), 10);
        prop_assert_eq!(text.parse::<Date>(), Ok(date));
        let next = Date::from_days_since_epoch(n + 1);
        if let Ok(next) = next {
            prop_assert!(date < next);
        } else {
            prop_assert_eq!(date, Date::MAX);
        }
    }

    #[test]
    fn new_accepts_exactly_the_real_dates(year in -5i32..10_005, month in 0u32..14, day in 0u32..33) {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let length = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let real = (0..=9999).contains(&year) && (1..=12).contains(&month) && (1..=length).contains(&day);
        prop_assert_eq!(Date::new(year, month, day).is_ok(), real);
        if real {
            let text = format!("{year:04}-{month:02}-{day:02}");
            prop_assert_eq!(text.parse::<Date>(), Date::new(year, month, day));
        }
    }

    #[test]
    fn arbitrary_text_never_panics_and_parses_only_to_itself(s in "\\PC{0,12}") {
        if let Ok(date) = s.parse::<Date>() {
            prop_assert_eq!(date.to_string(), s);
        }
    }

    #[test]
    fn the_summary_sums_and_weighs_by_views(
        ids in prop::collection::vec(post_id(), 0..4),
        published in date(),
        (a, _, c) in ordered(),
    ) {
        let all: Vec<Vec<Day>> = ids.iter().map(|id| series(id, published, a, c).unwrap()).collect();
        let slices: Vec<&[Day]> = all.iter().map(Vec::as_slice).collect();
        let summary = summarize(&slices);
        let days = || all.iter().flatten();
        prop_assert_eq!(summary.posts, ids.len() as u64);
        prop_assert_eq!(summary.views, days().map(|d| d.views).sum::<u64>());
        prop_assert_eq!(summary.reach, days().map(|d| d.reach).sum::<u64>());
        prop_assert_eq!(summary.likes, days().map(|d| d.likes).sum::<u64>());
        prop_assert_eq!(summary.comments, days().map(|d| d.comments).sum::<u64>());
        prop_assert_eq!(summary.shares, days().map(|d| d.shares).sum::<u64>());
        prop_assert_eq!(summary.saves, days().map(|d| d.saves).sum::<u64>());
        prop_assert_eq!(summary.watch_time_ms, days().map(|d| d.watch_time_ms).sum::<u64>());
        prop_assert_eq!(summary.posts_published, days().map(|d| d.posts_published).sum::<u64>());
        if summary.views == 0 {
            prop_assert_eq!(summary.engagement_rate, 0.0);
        } else {
            // Weighted by views, the rate stays within the daily band and near the interaction
            // total over the views (the daily rates are rounded to 4 decimals).
            prop_assert!((0.02..=0.05).contains(&summary.engagement_rate));
            let interactions: u64 = days().map(Day::interactions).sum();
            let plain = interactions as f64 / summary.views as f64;
            prop_assert!((summary.engagement_rate - plain).abs() <= 0.0001 + 1e-12, "{} vs {plain}", summary.engagement_rate);
        }
    }
}
