//! The storage suite, once for each store: the embedded SQLite and PostgreSQL (a throwaway
//! cluster, a fresh database per test). Every test is a generic check run against both, so
//! the two implementations keep one behaviour: exactly-once inserts, rollups that give the
//! same figures as raw events, purges, exports.

use std::sync::Arc;

use backend::storage::{Aggregates, BoxFuture, StoreError};
use backend::testing::postgres::PgCluster;
use backend::testing::sample_event as event;
use backend::{EventStore, NewEvent, PgStore, SqliteStore, now_ms};

const HOUR_MS: i64 = 3_600_000;

/// Where a test's events live, kept so the store can be opened again.
enum Backing {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backing {
    fn sqlite() -> Self {
        Self::Sqlite(tempfile::tempdir().expect("a data folder"))
    }

    async fn postgres() -> Self {
        Self::Postgres(PgCluster::shared().fresh_database().await)
    }

    async fn open(&self) -> AnyStore {
        match self {
            Self::Sqlite(folder) => {
                AnyStore::Sqlite(SqliteStore::open(folder.path()).expect("opens"))
            }
            Self::Postgres(url) => AnyStore::Postgres(
                PgStore::connect(url, tokio::sync::broadcast::channel(16).0)
                    .await
                    .expect("connects"),
            ),
        }
    }
}

/// Either store, with what tests need beyond [`EventStore`].
#[derive(Clone)]
enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl AnyStore {
    fn store(&self) -> Arc<dyn EventStore> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    fn catch_up(&self) -> BoxFuture<Result<usize, StoreError>> {
        match self {
            Self::Sqlite(store) => store.catch_up(),
            Self::Postgres(store) => store.catch_up(),
        }
    }
}

/// Runs each check against both stores: `name::sqlite` and `name::postgres`.
macro_rules! both_stores {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[tokio::test]
            async fn sqlite() {
                super::$check(super::Backing::sqlite()).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$check(super::Backing::postgres().await).await;
            }
        }
    )*};
}

both_stores!(
    rollups_give_the_same_statistics_as_raw_events,
    an_event_stored_into_a_summarised_hour_counts_at_once,
    recent_minutes_are_summarised_and_only_the_last_read_raw,
    an_event_stored_into_a_summarised_minute_counts_at_once,
    purging_drops_the_rollups_of_purged_hours,
    each_event_is_stored_once,
    two_stores_storing_the_same_events_in_opposite_orders_store_each_once,
    exports_and_code_runs_read_what_was_stored,
);

/// 2,000 events over the last two days, most in finished hours.
async fn seeded(backing: &Backing) -> (AnyStore, i64) {
    let store = backing.open().await;
    let now = now_ms();
    let events = (0..2000)
        .map(|index| event(index, now - (index as i64 * 86_413) % (2 * 24 * HOUR_MS)))
        .collect();
    store.store().insert(events).await.expect("stored");
    (store, now)
}

/// The figures rollups keep exact are equal, and the estimates close.
fn assert_same(rolled: &Aggregates, raw: &Aggregates) {
    assert_eq!(
        (rolled.executions, rolled.successes, rolled.failures),
        (raw.executions, raw.successes, raw.failures)
    );
    assert!((rolled.mean_duration_ms - raw.mean_duration_ms).abs() < 1e-9);
    assert_eq!(rolled.last_execution_at, raw.last_execution_at);
    assert_eq!(rolled.trend, raw.trend);
    assert_eq!(rolled.hour_of_day, raw.hour_of_day);
    assert_eq!(rolled.duration_histogram, raw.duration_histogram);
    assert_eq!(rolled.error_types, raw.error_types);
    assert_eq!(rolled.client_addrs, raw.client_addrs);
    assert_eq!(rolled.code_keys, raw.code_keys);
    assert_eq!((rolled.unique_visitors, rolled.sessions), (25, 40));
    let close = |a: f64, b: f64| (a - b).abs() <= b * 0.012;
    assert!(close(rolled.p50_duration_ms, raw.p50_duration_ms));
    assert!(close(rolled.p99_duration_ms, raw.p99_duration_ms));
}

async fn rollups_give_the_same_statistics_as_raw_events(backing: Backing) {
    let (store, now) = seeded(&backing).await;
    // Ranges whose trend buckets start on whole minutes, the trend's resolution in rollups.
    let to = (now / (24 * 60_000) + 1) * 24 * 60_000;
    let ranges = [(0, to), (to - 24 * HOUR_MS - 24 * 60_000, to)];
    let mut raw = Vec::new();
    for (from, to) in ranges {
        raw.push(store.store().aggregates(from, to).await.expect("raw"));
    }
    assert_eq!(raw[0].executions, 2000);
    assert_eq!((raw[0].unique_visitors, raw[0].sessions), (25, 40));

    let rolled_up = store.catch_up().await.expect("rolled up");
    assert!(rolled_up >= 46, "only {rolled_up} hours were rolled up");
    for ((from, to), raw) in ranges.into_iter().zip(&raw) {
        assert_same(
            &store.store().aggregates(from, to).await.expect("rolled"),
            raw,
        );
    }

    // A restart finds the rollups and has nothing to redo.
    drop(store);
    let store = backing.open().await;
    assert_eq!(store.catch_up().await.expect("after restart"), rolled_up);
    let (from, to) = ranges[0];
    assert_same(
        &store.store().aggregates(from, to).await.expect("reopened"),
        &raw[0],
    );
}

async fn an_event_stored_into_a_summarised_hour_counts_at_once(backing: Backing) {
    let (store, now) = seeded(&backing).await;
    let rolled_up = store.catch_up().await.expect("rolled up");
    let before = store.store().aggregates(0, now + 1).await.expect("before");
    let late = event(100_000, now - 30 * HOUR_MS);
    assert_eq!(
        store.store().insert(vec![late]).await.expect("stored"),
        [true]
    );
    let after = store.store().aggregates(0, now + 1).await.expect("after");
    assert_eq!(after.executions, before.executions + 1);
    assert_eq!(store.catch_up().await.expect("re-rolled"), rolled_up);
    let again = store.store().aggregates(0, now + 1).await.expect("again");
    assert_eq!(again.executions, before.executions + 1);
    assert_eq!(again.failures, before.failures + 1);
}

/// 3,000 events over the last 50 minutes.
async fn seeded_recently(backing: &Backing) -> (AnyStore, Vec<i64>, i64) {
    let store = backing.open().await;
    let now = now_ms();
    let times: Vec<i64> = (0..3000)
        .map(|index| now - (index * 797) % (50 * MINUTE_MS))
        .collect();
    let events = times
        .iter()
        .enumerate()
        .map(|(index, at)| event(index, *at))
        .collect();
    store.store().insert(events).await.expect("stored");
    (store, times, now)
}

const MINUTE_MS: i64 = 60_000;

/// From the start of the hour of the first event to past now, in whole multiples of 24
/// minutes: no partial hour at the start is read raw, and the trend's buckets start on
/// whole minutes, its resolution in summaries.
fn recent_range(now: i64) -> (i64, i64) {
    let from = (now - 50 * MINUTE_MS) / HOUR_MS * HOUR_MS;
    let bucket = 24 * MINUTE_MS;
    (from, from + ((now - from) / bucket + 1) * bucket)
}

async fn recent_minutes_are_summarised_and_only_the_last_read_raw(backing: Backing) {
    let (store, times, now) = seeded_recently(&backing).await;
    let (from, to) = recent_range(now);
    let raw = store.store().aggregates(from, to).await.expect("raw");
    assert_eq!(raw.executions, 3000);

    store.catch_up().await.expect("summarised");
    let work = |store: &AnyStore| {
        let store = store.store();
        let work = store.work();
        (
            backend::storage::StoreWork::read(&work.raw_events_read),
            backend::storage::StoreWork::read(&work.summaries_merged),
        )
    };
    let (raw_before, merged_before) = work(&store);
    let summarised = store
        .store()
        .aggregates(from, to)
        .await
        .expect("summarised");
    let (raw_after, merged_after) = work(&store);
    assert_same(&summarised, &raw);
    // Minutes that ended more than a few seconds before the summariser ran are summarised
    // (SQLite keeps even the current one in memory): only the last minute or so is raw.
    let unsummarised_from = (now - 10_000) / MINUTE_MS * MINUTE_MS;
    let recent = times.iter().filter(|at| **at >= unsummarised_from).count() as u64;
    assert!(
        raw_after - raw_before <= recent,
        "{} raw events read, {recent} in the last minutes",
        raw_after - raw_before
    );
    // An hour and the minutes since, or just minutes in an hour's first minute.
    assert!(merged_after > merged_before, "no summaries merged");
    let counts = store.store().counts(from, to).await.expect("counts");
    assert_eq!(
        (counts.executions, &counts.trend, &counts.hour_of_day),
        (raw.executions, &raw.trend, &raw.hour_of_day)
    );
}

async fn an_event_stored_into_a_summarised_minute_counts_at_once(backing: Backing) {
    let (store, _, now) = seeded_recently(&backing).await;
    let (from, to) = recent_range(now);
    store.catch_up().await.expect("summarised");
    let before = store.store().aggregates(from, to).await.expect("before");
    let late = event(100_000, now - 5 * MINUTE_MS - 1_234);
    assert_eq!(
        store.store().insert(vec![late]).await.expect("stored"),
        [true]
    );
    let after = store.store().aggregates(from, to).await.expect("after");
    assert_eq!(after.executions, before.executions + 1);
    assert_eq!(after.failures, before.failures + 1);
    store.catch_up().await.expect("summarised again");
    let again = store.store().aggregates(from, to).await.expect("again");
    assert_eq!(again.executions, before.executions + 1);
    assert_eq!(again.failures, before.failures + 1);
    let trend = |stats: &Aggregates| stats.trend.iter().map(|(s, f)| s + f).sum::<u64>();
    assert_eq!(trend(&again), trend(&before) + 1);
}

async fn purging_drops_the_rollups_of_purged_hours(backing: Backing) {
    let (store, now) = seeded(&backing).await;
    store.catch_up().await.expect("rolled up");
    let cutoff = now - 24 * HOUR_MS - 20 * 60_000;
    let kept = store
        .store()
        .aggregates(cutoff, now + 1)
        .await
        .expect("kept");
    let purged = store.store().purge_before(cutoff).await.expect("purged");
    assert_eq!(purged, 2000 - kept.executions);
    let all = store.store().aggregates(0, now + 1).await.expect("all");
    assert_eq!(all.executions, kept.executions);
    store.catch_up().await.expect("rolled up again");
    let all = store
        .store()
        .aggregates(0, now + 1)
        .await
        .expect("all again");
    assert_eq!(all.executions, kept.executions);
    assert_eq!(
        all.trend.iter().map(|(s, f)| s + f).sum::<u64>(),
        kept.executions
    );
}

async fn each_event_is_stored_once(backing: Backing) {
    let store = backing.open().await.store();
    let now = now_ms();
    let first = store
        .insert(vec![event(1, now), event(2, now), event(1, now)])
        .await
        .expect("stored");
    assert_eq!(first, [true, true, false], "a repeat within a batch");
    let again = store
        .insert(vec![event(2, now), event(3, now)])
        .await
        .expect("stored");
    assert_eq!(again, [false, true], "a repeat of a stored event");
    // Concurrent inserts of the same events: each stored once in all.
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .insert((10..60).map(|index| event(index, now)).collect())
                    .await
                    .expect("stored")
            })
        })
        .collect();
    let mut new = 0;
    for racer in racers {
        new += racer
            .await
            .expect("joins")
            .iter()
            .filter(|new| **new)
            .count();
    }
    assert_eq!(new, 50);
    let stats = store.aggregates(0, now + 1).await.expect("stats");
    assert_eq!(stats.executions, 53);
}

/// Two handles on one database (two replicas for PostgreSQL; one store twice for SQLite,
/// which one process owns) store overlapping batches in opposite orders at the same moment: no deadlock, no error, each event stored once.
async fn two_stores_storing_the_same_events_in_opposite_orders_store_each_once(backing: Backing) {
    let first = backing.open().await;
    // Another replica on PostgreSQL; SQLite has one process, so one store, used twice.
    let second = match (&backing, &first) {
        (Backing::Postgres(_), _) => backing.open().await,
        (_, store) => store.clone(),
    };
    let (first, second) = (first.store(), second.store());
    let now = now_ms();
    for round in 0..10 {
        let ids: Vec<usize> = (round * 1000..round * 1000 + 300).collect();
        let forward: Vec<NewEvent> = ids.iter().map(|index| event(*index, now)).collect();
        let backward: Vec<NewEvent> = ids.iter().rev().map(|index| event(*index, now)).collect();
        let (a, b) = tokio::join!(first.insert(forward), second.insert(backward));
        let (a, b) = (a.expect("stored"), b.expect("stored"));
        let new = a.iter().chain(&b).filter(|new| **new).count();
        assert_eq!(new, 300, "round {round}");
    }
    let stats = first.aggregates(0, now + 1).await.expect("stats");
    assert_eq!(stats.executions, 3000);
}

async fn exports_and_code_runs_read_what_was_stored(backing: Backing) {
    let store = backing.open().await.store();
    let now = now_ms();
    // Given in reverse order of id: each stored row keeps its own fields.
    let events: Vec<NewEvent> = (0..8)
        .rev()
        .map(|index| event(index, now - 8 + index as i64))
        .collect();
    store.insert(events).await.expect("stored");
    let rows = store.export(0, now + 1).await.expect("export");
    assert_eq!(rows.len(), 8);
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row.event_id, format!("event-{index}"));
        assert_eq!(row.session_id, format!("session-{index}"));
        assert_eq!(row.duration_ms, Some(1.0 + index as f64));
        assert_eq!(row.error_type.is_some(), index % 5 == 0);
    }
    assert_eq!(rows[0].event_id, "event-0");
    assert_eq!(rows[7].event_id, "event-7");
    assert_eq!(rows[0].code_bytes, Some(10));
    let runs = store.code_runs("key-1".into()).await.expect("runs");
    assert_eq!(runs.executions, 2);
    assert_eq!(runs.first_at, Some(now - 7));
    assert_eq!(runs.last_at, Some(now - 3));
    assert_eq!(store.first_event_at().await.expect("first"), Some(now - 8));
    assert!(store.reachable().await);
}
