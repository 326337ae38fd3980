//! The public figures (`/api/stats`, and the stored totals in `/metrics`) come from one
//! snapshot of the store, computed at most once a second however many anonymous clients ask:
//! a request finds it fresh, or computes it while the others asking at the same moment wait
//! for that one computation. Without new events the snapshot stays for up to a minute (the
//! last 24 hours' figures move with the clock).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::storage::{Aggregates, EventStore, StoreError, StoreWork};
use crate::util::clock::{self, DAY_MS};

/// A snapshot is recomputed at most this often.
pub const AT_MOST_EVERY: Duration = Duration::from_secs(1);
/// Without new events, a snapshot is kept this long.
const UNCHANGED_FOR: Duration = Duration::from_secs(60);

/// What anonymous clients may see, as of one moment.
#[derive(Debug)]
pub struct PublicFigures {
    /// All time.
    pub totals: Aggregates,
    /// Executions by UTC hour of day over the last 24 hours.
    pub hour_of_day: Vec<u64>,
    taken: Instant,
    /// The store's change count when it was taken.
    changes: u64,
}

/// The latest public figures, shared by every request.
#[derive(Debug, Default)]
pub struct PublicSnapshot {
    latest: Mutex<Option<Arc<PublicFigures>>>,
    /// How often the figures were computed, for `/metrics` and tests.
    pub computations: AtomicU64,
}

impl PublicSnapshot {
    /// The current figures: the snapshot, or a new one if it is stale and a second old.
    pub async fn get(&self, store: &dyn EventStore) -> Result<Arc<PublicFigures>, StoreError> {
        let mut latest = self.latest.lock().await;
        let changes = StoreWork::read(&store.work().changes);
        if let Some(figures) = latest.as_ref() {
            let age = figures.taken.elapsed();
            if age < AT_MOST_EVERY || (figures.changes == changes && age < UNCHANGED_FOR) {
                return Ok(Arc::clone(figures));
            }
        }
        self.computations.fetch_add(1, Ordering::Relaxed);
        let end = clock::end_of_minute(clock::now_ms());
        let totals = store.aggregates(0, end).await?;
        let hour_of_day = store.counts(end - DAY_MS, end).await?.hour_of_day;
        let figures = Arc::new(PublicFigures {
            totals,
            hour_of_day,
            taken: Instant::now(),
            changes,
        });
        *latest = Some(Arc::clone(&figures));
        Ok(figures)
    }
}
