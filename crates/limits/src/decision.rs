//! The arithmetic: from one `layers_admit` result to a decision per request of the batch.

/// A rate: `per_minute` requests, in bursts of up to `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub per_minute: u32,
}

impl Policy {
    pub fn per_minute(per_minute: u32) -> Policy {
        Policy {
            per_minute: per_minute.max(1),
        }
    }

    /// Microseconds between two requests at the sustained rate (at least 1).
    pub fn interval_us(self) -> i64 {
        (60_000_000 / i64::from(self.per_minute)).max(1)
    }

    pub fn burst(self) -> i32 {
        i32::try_from(self.per_minute).unwrap_or(i32::MAX)
    }
}

/// What `layers_admit` answered for a batch of `n` requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    pub now_us: i64,
    /// The bucket's theoretical arrival time before this batch (never before `now_us`).
    pub base_us: i64,
    /// How many of the batch the bucket admitted (the first ones).
    pub granted: i32,
    /// The organization's calls this month before this batch (the batch counts them all).
    pub usage_before: i64,
}

/// A request that may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// The organization's calls this month, this one included.
    pub monthly_usage: i64,
}

/// A request refused by the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub limit: u32,
    pub retry_after_secs: u64,
    pub reset_secs: u64,
}

/// The verdict for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Admitted(Admitted),
    RateLimited(Throttled),
    QuotaExceeded {
        limit: u32,
        remaining: u32,
        reset_secs: u64,
        quota: i64,
        /// Seconds until the next UTC month, when the quota starts afresh.
        retry_after_secs: u64,
    },
}

/// Seconds from `now_us` (microseconds since the epoch) to the start of the next UTC month.
pub fn secs_to_next_month(now_us: i64) -> u64 {
    use chrono::{Datelike, TimeZone, Utc};
    let Some(now) = Utc.timestamp_micros(now_us).single() else {
        return 1;
    };
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let next = Utc
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    ceil_secs((next - now).num_microseconds().unwrap_or(0)).max(1)
}

fn ceil_secs(us: i64) -> u64 {
    u64::try_from((us.max(0) + 999_999) / 1_000_000).unwrap_or(0)
}

impl BatchOutcome {
    /// The decision for the `i`-th request of the batch (0-based, in arrival order).
    pub fn decide(&self, i: usize, policy: Policy, quota: Option<i64>) -> Decision {
        let t = policy.interval_us();
        let tau = i64::from(policy.burst() - 1) * t;
        let limit = policy.per_minute;
        let i = i as i64;
        let granted = i64::from(self.granted);
        if i < granted {
            let tat = self.base_us + (i + 1) * t;
            let remaining = ((self.now_us + tau - tat).div_euclid(t) + 1).max(0);
            let remaining = u32::try_from(remaining).unwrap_or(u32::MAX);
            let reset_secs = ceil_secs(tat - self.now_us);
            let monthly_usage = self.usage_before + i + 1;
            if quota.is_none_or(|q| monthly_usage <= q) {
                Decision::Admitted(Admitted {
                    limit,
                    remaining,
                    reset_secs,
                    monthly_usage,
                })
            } else {
                Decision::QuotaExceeded {
                    limit,
                    remaining,
                    reset_secs,
                    quota: quota.unwrap_or(0),
                    retry_after_secs: secs_to_next_month(self.now_us),
                }
            }
        } else {
            let tat = self.base_us + granted * t;
            Decision::RateLimited(Throttled {
                limit,
                retry_after_secs: ceil_secs(tat - tau - self.now_us).max(1),
                reset_secs: ceil_secs(tat - self.now_us),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000_000;

    #[test]
    fn a_fresh_bucket_admits_a_full_burst() {
        let policy = Policy::per_minute(5);
        let out = BatchOutcome {
            now_us: NOW,
            base_us: NOW,
            granted: 5,
            usage_before: 10,
        };
        let remaining: Vec<u32> = (0..5)
            .map(|i| match out.decide(i, policy, None) {
                Decision::Admitted(a) => a.remaining,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        let Decision::Admitted(last) = out.decide(4, policy, None) else {
            unreachable!()
        };
        assert_eq!(last.monthly_usage, 15);
        assert_eq!(last.reset_secs, 60);
    }

    #[test]
    fn past_the_grant_requests_are_throttled_with_a_retry_after() {
        let policy = Policy::per_minute(60); // one a second
                                             // the bucket is exactly full: the next request may come one interval later
        let out = BatchOutcome {
            now_us: NOW,
            base_us: NOW + 59_000_000,
            granted: 0,
            usage_before: 0,
        };
        let Decision::RateLimited(t) = out.decide(0, policy, None) else {
            panic!()
        };
        assert_eq!(t.retry_after_secs, 1);
        assert_eq!(t.reset_secs, 59);
        assert_eq!(t.limit, 60);
    }

    #[test]
    fn admitted_but_over_quota() {
        let policy = Policy::per_minute(100);
        let out = BatchOutcome {
            now_us: NOW,
            base_us: NOW,
            granted: 3,
            usage_before: 9,
        };
        assert!(
            matches!(out.decide(0, policy, Some(10)), Decision::Admitted(a) if a.monthly_usage == 10)
        );
        assert!(matches!(
            out.decide(1, policy, Some(10)),
            Decision::QuotaExceeded { quota: 10, .. }
        ));
        assert!(matches!(
            out.decide(3, policy, Some(10)),
            Decision::RateLimited(_)
        ));
    }

    #[test]
    fn the_quota_resets_at_the_next_utc_month() {
        use chrono::{TimeZone, Utc};
        let at = |y, m, d, h| {
            Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
                .unwrap()
                .timestamp_micros()
        };
        assert_eq!(secs_to_next_month(at(2026, 11, 30, 23)), 3600);
        assert_eq!(secs_to_next_month(at(2026, 12, 31, 0)), 86_400);
        assert_eq!(secs_to_next_month(at(2027, 2, 1, 0)), 28 * 86_400);
    }

    #[test]
    fn huge_rates_keep_a_positive_interval() {
        let p = Policy::per_minute(u32::MAX);
        assert_eq!(p.interval_us(), 1);
        assert_eq!(Policy::per_minute(0).per_minute, 1);
    }
}
