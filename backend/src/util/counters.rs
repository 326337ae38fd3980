//! What the server counts as it runs, for `/metrics` (counts only: no addresses, agents or
//! hashes). Apart from the metrics endpoint so the features that count do not depend on it.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the server counts as it runs.
#[derive(Debug, Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Statistics computed for live dashboards (once per change and range, for all streams).
    pub live_computations: AtomicU64,
    /// Admin logins with a wrong token.
    pub login_failures: AtomicU64,
    /// Admin logins refused over the rate limit, before the token was looked at.
    pub logins_refused: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }
}
