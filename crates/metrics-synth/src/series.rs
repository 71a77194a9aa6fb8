//! One post's synthetic daily series (CONTRACT §8 "Metrics synthesis"): each day is drawn from a
//! mulberry32 generator seeded by the post id and that day alone, so any two ranges agree on the
//! days they share.

use std::fmt;

use crate::date::Date;
use crate::rng::{fnv1a, fnv1a_extend, Mulberry32};

/// One day of a post's metrics: the fields of the live series, no more, no fewer.
#[derive(Clone, Debug, PartialEq)]
pub struct Day {
    pub date: Date,
    pub views: u64,
    /// At most `views`.
    pub reach: u64,
    pub likes: u64,
    pub comments: u64,
    pub shares: u64,
    pub saves: u64,
    pub watch_time_ms: u64,
    /// 1 on the day the post was published, else 0.
    pub posts_published: u64,
    /// `(likes + comments + shares + saves) / views`, rounded to 4 decimals (0.0 without views),
    /// so that equal inputs give bit-identical floats and so identical JSON.
    pub engagement_rate: f64,
}

impl Day {
    /// A day without activity: every count 0 and `engagement_rate` 0.0.
    pub fn zero(date: Date) -> Day {
        Day {
            date,
            views: 0,
            reach: 0,
            likes: 0,
            comments: 0,
            shares: 0,
            saves: 0,
            watch_time_ms: 0,
            posts_published: 0,
            engagement_rate: 0.0,
        }
    }

    /// `likes + comments + shares + saves`.
    pub fn interactions(&self) -> u64 {
        self.likes
            .saturating_add(self.comments)
            .saturating_add(self.shares)
            .saturating_add(self.saves)
    }
}

/// A range whose `from` is after its `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReversedRange {
    pub from: Date,
    pub to: Date,
}

impl fmt::Display for ReversedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the range starts ({}) after it ends ({})",
            self.from, self.to
        )
    }
}

impl std::error::Error for ReversedRange {}

/// Bounds of a day (CONTRACT §8, seed 001: views ~100/day ±20%, engagement 2–5%).
pub const MIN_VIEWS: u64 = 80;
pub const MAX_VIEWS: u64 = 120;
pub const MIN_ENGAGEMENT_RATE: f64 = 0.02;
pub const MAX_ENGAGEMENT_RATE: f64 = 0.05;
/// `MAX_ENGAGEMENT_RATE - MIN_ENGAGEMENT_RATE` written out: the subtraction gives
/// 0.030000000000000002 in f64, and a port to another language should not have to know that.
const ENGAGEMENT_RATE_SPAN: f64 = 0.03;
/// Reach is this share of views, in percent.
const REACH_PERCENT: (u64, u64) = (60, 95);
/// Average watch time per view, in milliseconds.
const WATCH_MS_PER_VIEW: (u64, u64) = (2_000, 8_000);

/// `x` rounded to 4 decimals, the precision of every engagement rate.
pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// A whole number in `lo..=hi` from a draw `u` in [0, 1).
fn pick(u: f64, lo: u64, hi: u64) -> u64 {
    // u < 1 makes u * span < span, so the floor is at most hi - lo; `min` keeps to hi anyway.
    let span = hi - lo + 1;
    lo + ((u * span as f64) as u64).min(span - 1)
}

/// The seed of `post_id`'s generator on the day `days_since_epoch` days after 1970-01-01:
/// `fnv1a(post_id) ^ fnv1a("{post_id}:{days_since_epoch}")`, the day count in decimal (with a
/// `-` before 1970). The range asked for plays no part.
pub fn day_seed(post_id: &str, days_since_epoch: i64) -> u32 {
    seed_after(fnv1a(post_id), days_since_epoch)
}

/// [`day_seed`] from the post id's hash, without rehashing the id or allocating:
/// `fnv1a("{post_id}:{n}")` is the id's hash carried on over `:` and the digits of `n`.
fn seed_after(id_hash: u32, days_since_epoch: i64) -> u32 {
    // ':' and at most 20 characters of an i64 in decimal
    let mut buf = [0u8; 21];
    let mut at = buf.len();
    let mut n = days_since_epoch.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if days_since_epoch < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    let tail = fnv1a_extend(fnv1a_extend(id_hash, b":"), &buf[at..]);
    id_hash ^ tail
}

/// The metrics of `post_id`, published on `published`, on `date`. A function of `post_id` and
/// `date` only (and of `published`, which decides the zeros and `posts_published`):
///
/// - before `published`: [`Day::zero`];
/// - otherwise `views` in [80, 120]; `reach` 60–95% of views; `engagement_rate` in
///   [0.02, 0.05], 4 decimals; `likes + comments + shares + saves` an integer that gives that
///   rate (`round4(interactions / views) == engagement_rate`), about 70% likes, 12% comments,
///   8% shares, 10% saves; `watch_time_ms` 2–8 s per view; `posts_published` 1 on the publish
///   day.
///
/// The draws, `u` in [0, 1) each, in order, from
/// `Mulberry32::new(day_seed(post_id, date.days_since_epoch()))`:
///
/// 1. `views = 80 + floor(41u)`;
/// 2. `reach = floor(views × (60 + floor(36u)) / 100)`;
/// 3. the target rate `0.02 + 0.03u`, whence `interactions = round(views × rate)` clamped to
///    `ceil(views × 2 / 100) ..= floor(views × 5 / 100)`;
/// 4. `watch_time_ms = views × (2000 + floor(6001u))`;
/// 5. one per interaction: a like below 0.70, a comment below 0.82, a share below 0.90, else a
///    save.
///
/// `engagement_rate = round(interactions / views × 10000) / 10000`.
pub fn day(post_id: &str, published: Date, date: Date) -> Day {
    day_of(fnv1a(post_id), published, date)
}

/// [`day`] from the post id's hash.
fn day_of(id_hash: u32, published: Date, date: Date) -> Day {
    if date < published {
        return Day::zero(date);
    }
    let mut rng = Mulberry32::new(seed_after(id_hash, date.days_since_epoch()));
    let views = pick(rng.next_f64(), MIN_VIEWS, MAX_VIEWS);
    let reach = views * pick(rng.next_f64(), REACH_PERCENT.0, REACH_PERCENT.1) / 100;
    let target_rate = MIN_ENGAGEMENT_RATE + ENGAGEMENT_RATE_SPAN * rng.next_f64();
    let per_view = pick(rng.next_f64(), WATCH_MS_PER_VIEW.0, WATCH_MS_PER_VIEW.1);

    // The whole interaction counts whose rate lies in [2%, 5%] (in integers, no float edge):
    // ceil(2 * views / 100) ..= floor(5 * views / 100); for 80..=120 views never empty.
    let fewest = (2 * views).div_ceil(100);
    let most = 5 * views / 100;
    let interactions = ((views as f64 * target_rate).round() as u64).clamp(fewest, most);

    let (mut likes, mut comments, mut shares, mut saves) = (0, 0, 0, 0);
    for _ in 0..interactions {
        match rng.next_f64() {
            u if u < 0.70 => likes += 1,
            u if u < 0.82 => comments += 1,
            u if u < 0.90 => shares += 1,
            _ => saves += 1,
        }
    }

    Day {
        date,
        views,
        reach,
        likes,
        comments,
        shares,
        saves,
        watch_time_ms: views * per_view,
        posts_published: u64::from(date == published),
        engagement_rate: round4(interactions as f64 / views as f64),
    }
}

/// The days `from..=to` of `post_id`'s series, one [`day`] each, in order. `from` after `to` is
/// an error; a post published after `to` gives zeros.
pub fn series(
    post_id: &str,
    published: Date,
    from: Date,
    to: Date,
) -> Result<Vec<Day>, ReversedRange> {
    if from > to {
        return Err(ReversedRange { from, to });
    }
    let id_hash = fnv1a(post_id);
    let days = from.days_since_epoch()..=to.days_since_epoch();
    Ok(days
        .map(|n| {
            let date = Date::from_days_since_epoch(n).expect("a day between two dates is a date");
            day_of(id_hash, published, date)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn the_seed_without_allocating_is_the_seed_as_defined() {
        for n in [
            0,
            1,
            9,
            10,
            -1,
            -10,
            19_782,
            -719_468,
            2_932_896,
            i64::MIN,
            i64::MAX,
        ] {
            for id in ["", "p", "sb_post_cnt_01a2150dae4a77fdb2553e583c2ab8c2_0"] {
                assert_eq!(
                    day_seed(id, n),
                    fnv1a(id) ^ fnv1a(&format!("{id}:{n}")),
                    "{id} {n}"
                );
            }
        }
    }

    #[test]
    fn the_seed_mixes_the_id_and_the_day() {
        assert_eq!(
            day_seed("p", 19_782),
            fnv1a("p") ^ fnv1a("p:19782"),
            "the documented formula"
        );
        assert_ne!(day_seed("p", 19_782), day_seed("p", 19_783));
        assert_ne!(day_seed("p", 19_782), day_seed("q", 19_782));
        assert_eq!(day_seed("p", -3), fnv1a("p") ^ fnv1a("p:-3"));
    }

    /// Pinned days, computed independently by the same draws written in JavaScript (the
    /// published mulberry32, FNV-1a over `Buffer.from(s, "utf8")`, `Math.floor`/`Math.round`)
    /// and run with Node 20: a change of formula, draw order or generator shows here.
    #[test]
    fn known_days() {
        /// A post id, its publish date, the seed of `date`, and the day.
        struct Known {
            id: &'static str,
            published: &'static str,
            seed: u32,
            day: Day,
        }
        fn pinned(date: &str, counts: [u64; 8], engagement_rate: f64) -> Day {
            let [views, reach, likes, comments, shares, saves, watch_time_ms, posts_published] =
                counts;
            Day {
                date: d(date),
                views,
                reach,
                likes,
                comments,
                shares,
                saves,
                watch_time_ms,
                posts_published,
                engagement_rate,
            }
        }
        // Counts: views, reach, likes, comments, shares, saves, watch_time_ms, posts_published.
        let known = [
            Known {
                id: "sb_post_cnt_x_0",
                published: "2024-01-01",
                seed: 0x32f9_9898,
                day: pinned("2024-01-03", [112, 67, 4, 0, 0, 0, 750_848, 0], 0.0357),
            },
            Known {
                id: "sb_post_cnt_x_0",
                published: "2024-01-01",
                seed: 0x3cf9_91ee,
                day: pinned("2024-01-01", [94, 77, 3, 0, 1, 0, 359_080, 1], 0.0426),
            },
            Known {
                id: "a",
                published: "2024-02-29",
                seed: 0xaf33_0283,
                day: pinned("2024-02-29", [105, 98, 5, 0, 0, 0, 580_965, 1], 0.0476),
            },
            Known {
                id: "sb_post_01HZZZ_1",
                published: "1969-07-01",
                seed: 0x95e9_39eb,
                day: pinned("1969-07-20", [89, 79, 3, 0, 0, 0, 463_512, 0], 0.0337),
            },
        ];
        for known in known {
            let date = known.day.date;
            assert_eq!(
                day_seed(known.id, date.days_since_epoch()),
                known.seed,
                "{} {date}",
                known.id
            );
            assert_eq!(
                day(known.id, d(known.published), date),
                known.day,
                "{} {date}",
                known.id
            );
        }
    }

    #[test]
    fn before_publishing_every_field_is_zero() {
        let zero = day("p", d("2024-05-10"), d("2024-05-09"));
        assert_eq!(zero, Day::zero(d("2024-05-09")));
        assert_eq!(zero.engagement_rate.to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn the_publish_day_counts_one_post() {
        let published = d("2024-05-10");
        assert_eq!(day("p", published, published).posts_published, 1);
        assert_eq!(day("p", published, d("2024-05-11")).posts_published, 0);
        assert!(day("p", published, published).views >= MIN_VIEWS);
    }

    #[test]
    fn a_reversed_range_is_an_error() {
        let err = series("p", d("2024-01-01"), d("2024-02-02"), d("2024-02-01")).unwrap_err();
        assert_eq!(
            err,
            ReversedRange {
                from: d("2024-02-02"),
                to: d("2024-02-01")
            }
        );
        assert_eq!(
            err.to_string(),
            "the range starts (2024-02-02) after it ends (2024-02-01)"
        );
    }

    #[test]
    fn a_range_holds_its_days_inclusive_in_order() {
        let s = series("p", d("2024-02-27"), d("2024-02-25"), d("2024-03-02")).unwrap();
        let dates: Vec<String> = s.iter().map(|day| day.date.to_string()).collect();
        assert_eq!(
            dates,
            [
                "2024-02-25",
                "2024-02-26",
                "2024-02-27",
                "2024-02-28",
                "2024-02-29",
                "2024-03-01",
                "2024-03-02"
            ]
        );
        assert_eq!(s[0].views, 0);
        assert_eq!(s[1].views, 0);
        assert_eq!(s[2].posts_published, 1);
        assert_eq!(s.iter().map(|d| d.posts_published).sum::<u64>(), 1);
        let one = series("p", d("2024-02-27"), d("2024-03-01"), d("2024-03-01")).unwrap();
        assert_eq!(one, vec![s[5].clone()]);
    }

    #[test]
    fn the_ends_of_the_calendar_are_served() {
        let s = series("p", Date::MIN, Date::MIN, Date::MIN).unwrap();
        assert_eq!(s.len(), 1);
        let s = series("p", Date::MIN, Date::MAX, Date::MAX).unwrap();
        assert_eq!(s[0].date, Date::MAX);
    }

    #[test]
    fn pick_covers_its_bounds() {
        assert_eq!(pick(0.0, 80, 120), 80);
        assert_eq!(pick(f64::from(u32::MAX) / 4_294_967_296.0, 80, 120), 120);
        assert_eq!(pick(0.5, 80, 120), 100);
    }

    #[test]
    fn round4_rounds_to_four_decimals() {
        assert_eq!(round4(0.123_46), 0.1235);
        assert_eq!(round4(0.123_44), 0.1234);
        assert_eq!(round4(0.02), 0.02);
        assert_eq!(round4(2.0 / 81.0), 0.0247);
        assert_eq!(round4(0.0), 0.0);
    }
}
