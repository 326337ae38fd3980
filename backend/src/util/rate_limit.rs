//! Token buckets: one per client (by [`ClientKey`]) for telemetry and for admin logins, and
//! one for all logins together.
//!
//! Buckets live in two generations. Every refill period (the time an empty bucket takes to
//! fill), the current generation becomes the previous one and the previous one is dropped: a
//! client not seen for a whole period would have a full bucket anyway, so forgetting it
//! loses nothing. A lookup moves a client's bucket from the previous generation to the
//! current one. So memory holds the clients of the last two periods, and clean-up costs
//! nothing per request.

use std::collections::HashMap;
use std::mem;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::client::ClientKey;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// How fast tokens come back and how many a bucket holds.
#[derive(Debug, Clone, Copy)]
struct Rate {
    per_second: f64,
    burst: f64,
}

impl Rate {
    fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second: per_second.max(0.001),
            burst: burst.max(1.0),
        }
    }

    /// Takes a token from `bucket`, or says how long until one is there.
    fn take(self, bucket: &mut Bucket, now: Instant) -> Result<(), Duration> {
        let refilled =
            now.saturating_duration_since(bucket.updated).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refilled).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }

    fn full(self, now: Instant) -> Bucket {
        Bucket {
            tokens: self.burst,
            updated: now,
        }
    }

    fn refill_period(self) -> Duration {
        Duration::from_secs_f64(self.burst / self.per_second)
    }
}

/// A token bucket per client.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    generations: Mutex<Generations>,
}

#[derive(Debug)]
struct Generations {
    current: HashMap<ClientKey, Bucket>,
    previous: HashMap<ClientKey, Bucket>,
    started: Instant,
}

impl RateLimiter {
    /// `per_second` tokens a second, at most `burst` at once, per client.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            rate: Rate::new(per_second, burst),
            generations: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
                started: Instant::now(),
            }),
        }
    }

    /// Takes one token for `client`, or says how long until one is available.
    pub fn check(&self, client: ClientKey) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: ClientKey, now: Instant) -> Result<(), Duration> {
        let mut generations = self
            .generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if now.saturating_duration_since(generations.started) >= self.rate.refill_period() {
            let current = mem::take(&mut generations.current);
            // The dropped generation is freed here, once per period, not per request.
            generations.previous = current;
            generations.started = now;
        }
        let bucket = match generations.previous.remove(&client) {
            Some(bucket) => generations.current.entry(client).or_insert(bucket),
            None => generations
                .current
                .entry(client)
                .or_insert_with(|| self.rate.full(now)),
        };
        self.rate.take(bucket, now)
    }

    /// Clients with a bucket in memory.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        let generations = self
            .generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        generations.current.len() + generations.previous.len()
    }
}

/// One token bucket for everyone.
#[derive(Debug)]
pub struct SharedLimit {
    rate: Rate,
    bucket: Mutex<Bucket>,
}

impl SharedLimit {
    pub fn new(per_second: f64, burst: f64) -> Self {
        let rate = Rate::new(per_second, burst);
        Self {
            rate,
            bucket: Mutex::new(rate.full(Instant::now())),
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn check(&self) -> Result<(), Duration> {
        let mut bucket = self
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.rate.take(&mut bucket, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ClientKey {
        ClientKey::of(text.parse().expect("ip"))
    }

    #[test]
    fn a_burst_then_a_wait_per_client() {
        let limiter = RateLimiter::new(1.0, 3.0);
        let client = key("203.0.113.9");
        for _ in 0..3 {
            assert!(limiter.check(client).is_ok());
        }
        let wait = limiter.check(client).expect_err("over the burst");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(
            limiter.check(key("203.0.113.10")).is_ok(),
            "other clients are not affected"
        );
    }

    #[test]
    fn addresses_in_one_ipv6_64_share_a_bucket() {
        let limiter = RateLimiter::new(1.0, 2.0);
        assert!(limiter.check(key("2001:db8:1:2::1")).is_ok());
        assert!(limiter.check(key("2001:db8:1:2::2")).is_ok());
        assert!(limiter.check(key("2001:db8:1:2:ffff::3")).is_err());
        assert!(limiter.check(key("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn clients_not_seen_for_two_periods_are_forgotten_and_lose_nothing() {
        // A period is burst ÷ rate = 10 s.
        let limiter = RateLimiter::new(1.0, 10.0);
        let start = Instant::now();
        for index in 0..1000_u32 {
            let address = std::net::IpAddr::from(index.to_be_bytes());
            assert!(limiter.check_at(ClientKey::of(address), start).is_ok());
        }
        let busy = key("203.0.113.9");
        for _ in 0..10 {
            assert!(limiter.check_at(busy, start).is_ok());
        }
        assert!(limiter.check_at(busy, start).is_err());
        assert_eq!(limiter.remembered(), 1001);

        let later = start + Duration::from_secs(11);
        assert!(limiter.check_at(busy, later).is_ok());
        assert_eq!(limiter.remembered(), 1001, "one period: still there");
        let much_later = later + Duration::from_secs(11);
        assert!(limiter.check_at(busy, much_later).is_ok());
        assert_eq!(
            limiter.remembered(),
            1,
            "the quiet ones are gone, the busy one moved along"
        );
    }

    #[test]
    fn a_shared_limit_counts_everyone() {
        let shared = SharedLimit::new(1.0, 2.0);
        assert!(shared.check().is_ok());
        assert!(shared.check().is_ok());
        assert!(shared.check().is_err());
    }
}
