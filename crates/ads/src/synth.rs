//! Sandbox ad metrics (CONTRACT §13), synthesized on read like post metrics: a pure function of
//! the campaign id and the day (FNV-1a seeding mulberry32), zero outside the campaign's active
//! days and on the days it was paused at their end.
//!
//! ```
//! use layers_ads::synth::{series, Schedule};
//! use layers_metrics_synth::Date;
//!
//! let d = |s: &str| s.parse::<Date>().unwrap();
//! let schedule = Schedule {
//!     campaign_id: "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f",
//!     daily_budget: 5_000,
//!     currency: "USD",
//!     installs: true,
//!     first_day: Some(d("2026-05-03")),
//!     last_day: None,
//!     paused_days: &[(d("2026-05-05"), true), (d("2026-05-06"), false)],
//!     today: d("2026-05-08"),
//!     paused_now: false,
//! };
//! let days = series(&schedule, d("2026-05-01"), d("2026-05-08"));
//! assert_eq!(days.len(), 8);
//! assert_eq!(days[0].spend, 0); // before it started
//! assert!(days[2].spend >= 3_000 && days[2].spend <= 5_000);
//! assert_eq!(days[4].spend, 0); // paused at the end of May 5
//! assert!(days[5].spend > 0); // resumed on May 6
//! assert_eq!(days, series(&schedule, d("2026-05-01"), d("2026-05-08"))); // deterministic
//! ```

use layers_metrics_synth::{fnv1a, fnv1a_extend, Date, Mulberry32};

/// One day of a campaign: `spend` in minor units of its currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdDay {
    pub date: Date,
    pub spend: i64,
    pub impressions: i64,
    pub clicks: i64,
    pub installs: i64,
}

impl AdDay {
    fn zero(date: Date) -> AdDay {
        AdDay {
            date,
            spend: 0,
            impressions: 0,
            clicks: 0,
            installs: 0,
        }
    }
}

/// What a campaign's days depend on.
#[derive(Clone, Copy, Debug)]
pub struct Schedule<'a> {
    /// `cmp_…`: the seed.
    pub campaign_id: &'a str,
    /// Minor units.
    pub daily_budget: i64,
    pub currency: &'a str,
    /// Whether installs count (`app_installs`).
    pub installs: bool,
    /// The first active day; `None`: it never ran (failed, or not yet created).
    pub first_day: Option<Date>,
    /// The day of its end, if it has one.
    pub last_day: Option<Date>,
    /// The days its status changed, ascending: whether it was paused (or archived) at the end
    /// of that day.
    pub paused_days: &'a [(Date, bool)],
    /// Today (the project's clock's day on a test clock).
    pub today: Date,
    /// Whether it is paused or archived now: today's answer.
    pub paused_now: bool,
}

/// The digits after the decimal point of a currency's major unit (ISO 4217: 0 for the yen,
/// the won and the other currencies without minor units, else 2).
pub fn minor_digits(currency: &str) -> u32 {
    const NONE: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
        "XAF", "XOF", "XPF",
    ];
    if NONE.contains(&currency) {
        0
    } else {
        2
    }
}

/// The campaign's days from `from` to `to`, both included (none when `from > to`).
pub fn series(s: &Schedule<'_>, from: Date, to: Date) -> Vec<AdDay> {
    let (first, last) = (from.days_since_epoch(), to.days_since_epoch());
    let mut out = Vec::with_capacity(usize::try_from(last - first + 1).unwrap_or(0));
    // the status changes before `from` decide whether the first day is paused
    let mut next_change = s.paused_days.partition_point(|(d, _)| *d < from);
    let mut paused = next_change
        .checked_sub(1)
        .map(|i| s.paused_days[i].1)
        .unwrap_or(false);
    let seed = fnv1a(s.campaign_id);
    for n in first..=last {
        let Ok(date) = Date::from_days_since_epoch(n) else {
            continue;
        };
        while let Some(&(_, p)) = s.paused_days.get(next_change).filter(|(d, _)| *d <= date) {
            paused = p;
            next_change += 1;
        }
        let paused_then = if date == s.today {
            s.paused_now
        } else {
            paused
        };
        out.push(if is_active(s, date) && !paused_then {
            day(s, seed, date)
        } else {
            AdDay::zero(date)
        });
    }
    out
}

fn is_active(s: &Schedule<'_>, date: Date) -> bool {
    s.first_day.is_some_and(|first| first <= date)
        && s.last_day.is_none_or(|last| date <= last)
        && date <= s.today
}

/// An active day's numbers: spend 0.6 to 1.0 of the budget, 800 to 1,200 impressions per unit
/// of currency spent, clicks 0.5 to 2 % of impressions, installs 5 to 20 % of clicks.
fn day(s: &Schedule<'_>, seed: u32, date: Date) -> AdDay {
    let mut rng = Mulberry32::new(fnv1a_extend(seed, &date.ymd()));
    let spend = (s.daily_budget as f64 * (0.6 + 0.4 * rng.next_f64())).floor() as i64;
    let units = spend as f64 / 10f64.powi(minor_digits(s.currency) as i32);
    let impressions = (units * (800.0 + 400.0 * rng.next_f64())).floor() as i64;
    let clicks = (impressions as f64 * (0.005 + 0.015 * rng.next_f64())).floor() as i64;
    let installs_share = 0.05 + 0.15 * rng.next_f64();
    let installs = if s.installs {
        (clicks as f64 * installs_share).floor() as i64
    } else {
        0
    };
    AdDay {
        date,
        spend,
        impressions,
        clicks,
        installs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn schedule<'a>(paused: &'a [(Date, bool)]) -> Schedule<'a> {
        Schedule {
            campaign_id: "cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f",
            daily_budget: 12_345,
            currency: "USD",
            installs: true,
            first_day: Some(d("2026-01-10")),
            last_day: Some(d("2026-03-20")),
            paused_days: paused,
            today: d("2026-04-01"),
            paused_now: true,
        }
    }

    #[test]
    fn within_the_ranges_and_never_above_the_budget() {
        let s = schedule(&[]);
        for day in series(&s, d("2026-01-10"), d("2026-03-20")) {
            assert!(day.spend >= 7_407 && day.spend <= 12_345, "{day:?}");
            let units = day.spend as f64 / 100.0;
            assert!(day.impressions as f64 >= (units * 800.0).floor() - 1.0);
            assert!(day.impressions as f64 <= units * 1200.0);
            assert!(day.clicks as f64 <= day.impressions as f64 * 0.02);
            assert!(day.installs as f64 <= day.clicks as f64 * 0.2);
        }
    }

    #[test]
    fn zero_outside_the_active_days_and_on_paused_ones() {
        let paused = [(d("2026-02-01"), true), (d("2026-02-03"), false)];
        let s = schedule(&paused);
        let days = series(&s, d("2026-01-09"), d("2026-04-01"));
        assert_eq!(days[0].spend, 0); // before the first day
        assert!(days[1].spend > 0);
        let feb = |n: usize| days[23 + n - 1]; // Jan 9 + 23 days = Feb 1
        assert_eq!(feb(1).date, d("2026-02-01"));
        assert_eq!((feb(1).spend, feb(2).spend), (0, 0));
        assert!(feb(3).spend > 0);
        assert!(days
            .iter()
            .filter(|x| x.date > d("2026-03-20"))
            .all(|x| x.spend == 0));
    }

    #[test]
    fn overlapping_ranges_agree_day_by_day() {
        let paused = [(d("2026-02-01"), true), (d("2026-02-03"), false)];
        let s = schedule(&paused);
        let a = series(&s, d("2026-01-01"), d("2026-02-15"));
        let b = series(&s, d("2026-02-02"), d("2026-03-01"));
        for x in &b {
            if let Some(y) = a.iter().find(|y| y.date == x.date) {
                assert_eq!(x, y);
            }
        }
    }

    #[test]
    fn today_follows_the_status_now_and_awareness_has_no_installs() {
        let mut s = schedule(&[]);
        s.last_day = None;
        s.installs = false;
        let today = series(&s, d("2026-04-01"), d("2026-04-01"));
        assert_eq!(today[0].spend, 0); // paused now
        s.paused_now = false;
        let today = series(&s, d("2026-03-31"), d("2026-04-01"));
        assert!(today.iter().all(|x| x.spend > 0 && x.installs == 0));
        assert_eq!(minor_digits("JPY"), 0);
    }
}
