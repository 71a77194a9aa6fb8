//! A limit on failed authentications per client address: a flood of made-up or wrong keys from
//! one address is answered 429 `RATE_LIMITED` from memory, without a database query, once the
//! address has used up its budget. Key ids this process has seen resolve to a key still work
//! from a blocked address, so a partner behind the same NAT as an attacker keeps working. IPv6
//! addresses count per /64, the block one subscriber usually holds.
//!
//! The budget is a token bucket per address (`LAYERS_AUTH_FAILURES_PER_MIN` failures a minute,
//! in bursts of as many), kept per process: it protects each process's database connections,
//! which is what a flood costs.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use parking_lot::Mutex;

/// Most addresses remembered at once; past it, addresses whose bucket is full again are dropped.
const MAX_ADDRESSES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Failed authentications per client address.
#[derive(Debug)]
pub struct FailedAuth {
    per_minute: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl FailedAuth {
    pub fn new(per_minute: u32) -> FailedAuth {
        FailedAuth {
            per_minute: f64::from(per_minute.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The unit that is counted: the address itself, or its /64 for IPv6.
    fn unit(addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(_) => addr,
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let rate = self.per_minute / 60.0;
        (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(self.per_minute)
    }

    /// `Some(seconds to wait)` when `addr` has no failures left.
    pub fn blocked(&self, addr: Option<IpAddr>) -> Option<u64> {
        let addr = FailedAuth::unit(addr?);
        let now = Instant::now();
        let buckets = self.buckets.lock();
        let tokens = self.refilled(*buckets.get(&addr)?, now);
        if tokens >= 1.0 {
            return None;
        }
        let rate = self.per_minute / 60.0;
        Some(((1.0 - tokens) / rate).ceil().max(1.0) as u64)
    }

    /// Counts one failed authentication from `addr`.
    pub fn record(&self, addr: Option<IpAddr>) {
        let Some(addr) = addr.map(FailedAuth::unit) else {
            return;
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(&addr) {
            // forget addresses with budget left first, blocked ones last
            let full = self.per_minute;
            buckets.retain(|_, b| self.refilled(*b, now) < full);
            if buckets.len() >= MAX_ADDRESSES {
                buckets.retain(|_, b| self.refilled(*b, now) < 1.0);
            }
            if buckets.len() >= MAX_ADDRESSES {
                buckets.clear();
            }
        }
        let tokens = match buckets.get(&addr) {
            Some(b) => self.refilled(*b, now),
            None => self.per_minute,
        };
        buckets.insert(
            addr,
            Bucket {
                tokens: (tokens - 1.0).max(0.0),
                at: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_budget_and_others_are_not() {
        let limit = FailedAuth::new(3);
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            assert_eq!(limit.blocked(a), None);
            limit.record(a);
        }
        let wait = limit.blocked(a).expect("blocked after three failures");
        assert!((1..=20).contains(&wait), "{wait}");
        assert_eq!(limit.blocked(b), None);
        // IPv6 counts per /64
        let v6 = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        for _ in 0..3 {
            limit.record(v6("2001:db8:1:2::1"));
        }
        assert!(limit.blocked(v6("2001:db8:1:2:ffff::9")).is_some());
        assert_eq!(limit.blocked(v6("2001:db8:1:3::1")), None);
        // no address (a test client, a Unix socket) is never counted
        limit.record(None);
        assert_eq!(limit.blocked(None), None);
    }
}
