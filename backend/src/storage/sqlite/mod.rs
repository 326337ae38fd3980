//! The embedded store: SQLite in WAL mode with `synchronous=FULL`.
//!
//! One writer thread owns the write connection and commits in groups: it takes every insert
//! request waiting in its queue, writes them all in one transaction, commits (one fsync for
//! the group), then answers each request and appends the audit log. Reads use their own
//! connection, which WAL lets run beside the writer.
//!
//! The writer also keeps the hourly rollups: when an hour is over, it summarises that hour's
//! events into one row of `hourly_rollups` (one hour per round, so a backlog never holds up
//! ingest for long). A query reads the rollups of the whole hours in its range and the raw
//! events of everything else, so a rollup only makes a query faster, never different in
//! counts. An event stored into an hour that already has a rollup (an admin import) deletes
//! that rollup in the same transaction; the hour is summarised again later.
//!
//! `schema` opens connections and migrates; `writer` is the writer thread (group commit,
//! rollups, purges); `queries` reads; `audit` is the daily audit log.

mod audit;
mod queries;
mod schema;
mod writer;

use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use protocol::stats::ExportRow;
use rusqlite::Connection;
use tokio::sync::oneshot;

use self::audit::AuditLog;
use self::schema::{migrate, open_connection};
use self::writer::{Command, Reply, Writer};
use super::{Aggregates, BoxFuture, CodeRuns, EventStore, NewEvent, StoreError};

/// A cheap-to-clone handle on the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: mpsc::Sender<Command>,
    /// Reads go through their own connection, one at a time.
    reader: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) `events.sqlite3` in `data_dir`, and the audit
    /// log folder beside it.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(data_dir).map_err(database)?;
        let path = data_dir.join("events.sqlite3");
        let mut connection = open_connection(&path)?;
        migrate(&mut connection)?;
        let reader = open_connection(&path)?;
        let writer = Writer::new(connection, AuditLog::new(data_dir.join("audit")))?;
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer.run(&receiver))
            .map_err(database)?;
        Ok(Self {
            writer: sender,
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// Summarises every finished hour that has no rollup yet, and returns how many hours have
    /// one. The writer does this by itself between writes; benchmarks and tests call it to
    /// wait for it.
    pub fn catch_up(&self) -> BoxFuture<Result<usize, StoreError>> {
        self.command(Command::CatchUp)
    }

    fn command<T: Send + 'static>(
        &self,
        command: impl FnOnce(Reply<T>) -> Command,
    ) -> BoxFuture<Result<T, StoreError>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.writer.send(command(reply));
        Box::pin(async move {
            sent.map_err(|_| StoreError::WriterGone)?;
            answer.await.map_err(|_| StoreError::WriterGone)?
        })
    }

    fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<Result<T, StoreError>> {
        let reader = Arc::clone(&self.reader);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let connection = reader
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                query(&connection).map_err(database)
            })
            .await
            .map_err(database)?
        })
    }
}

impl EventStore for SqliteStore {
    fn insert(&self, events: Vec<NewEvent>) -> BoxFuture<Result<Vec<bool>, StoreError>> {
        self.command(|reply| Command::Insert(events, reply))
    }

    fn aggregates(&self, from: i64, to: i64) -> BoxFuture<Result<Aggregates, StoreError>> {
        self.read(move |connection| queries::aggregates(connection, from, to))
    }

    fn code_runs(&self, code_key: String) -> BoxFuture<Result<CodeRuns, StoreError>> {
        self.read(move |connection| queries::code_runs(connection, &code_key))
    }

    fn export(&self, from: i64, to: i64) -> BoxFuture<Result<Vec<ExportRow>, StoreError>> {
        self.read(move |connection| queries::export(connection, from, to))
    }

    fn purge_before(&self, cutoff: i64) -> BoxFuture<Result<u64, StoreError>> {
        self.command(|reply| Command::Purge(cutoff, reply))
    }
}

pub(super) fn database(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(error.to_string())
}

#[cfg(test)]
mod tests {
    use protocol::telemetry::{EventKind, TelemetryEvent};

    use super::*;
    use crate::clock::{self, HOUR_MS};
    use crate::storage::summary::assert_exact_figures_match;

    fn event(index: usize, received_at: i64) -> NewEvent {
        let failed = index.is_multiple_of(5);
        NewEvent {
            event: TelemetryEvent {
                event_id: format!("event-{index}"),
                session_id: format!("session-{}", index % 40),
                kind: EventKind::Execution,
                code_sha256: None,
                code_bytes: Some(10),
                duration_ms: Some(1.0 + (index % 300) as f64),
                success: Some(!failed),
                error_type: failed.then(|| "ValueError".to_owned()),
                stdout_bytes: None,
                stderr_bytes: None,
                package: None,
                version: None,
                file_ext: None,
                file_bytes: None,
                pyodide_version: None,
                client_time: None,
            },
            received_at,
            client_addr: format!("10.0.{}.0/24", index % 3),
            visitor_id: format!("visitor-{}", index % 25),
            user_agent: Some("Agent/1".into()),
            code_key: Some(format!("key-{}", index % 4)),
        }
    }

    /// 2,000 events over the last two days, most in finished hours.
    async fn seeded() -> (tempfile::TempDir, SqliteStore, i64) {
        let data = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(data.path()).expect("store");
        let now = clock::now_ms();
        let events = (0..2000)
            .map(|index| event(index, now - (index as i64 * 86_413) % (2 * 24 * HOUR_MS)))
            .collect();
        store.insert(events).await.expect("stored");
        (data, store, now)
    }

    fn assert_same(rolled: &Aggregates, raw: &Aggregates) {
        assert_exact_figures_match(rolled, raw);
        assert_eq!((rolled.unique_visitors, rolled.sessions), (25, 40));
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.012;
        assert!(close(rolled.p50_duration_ms, raw.p50_duration_ms));
        assert!(close(rolled.p99_duration_ms, raw.p99_duration_ms));
    }

    #[tokio::test]
    async fn rollups_give_the_same_statistics_as_raw_events() {
        let (data, store, now) = seeded().await;
        // Ranges whose trend buckets start on whole minutes, the trend's resolution in rollups.
        let to = (now / (24 * 60_000) + 1) * 24 * 60_000;
        let ranges = [(0, to), (to - 24 * HOUR_MS - 24 * 60_000, to)];
        let mut raw = Vec::new();
        for (from, to) in ranges {
            raw.push(store.aggregates(from, to).await.expect("raw"));
        }
        assert_eq!(raw[0].executions, 2000);
        assert_eq!((raw[0].unique_visitors, raw[0].sessions), (25, 40));

        let rolled_up = store.catch_up().await.expect("rolled up");
        assert!(rolled_up >= 47, "only {rolled_up} hours were rolled up");
        for ((from, to), raw) in ranges.into_iter().zip(&raw) {
            assert_same(&store.aggregates(from, to).await.expect("rolled"), raw);
        }

        // A restart finds the rollups and has nothing to redo.
        drop(store);
        let store = SqliteStore::open(data.path()).expect("reopened");
        assert_eq!(store.catch_up().await.expect("after restart"), rolled_up);
        let (from, to) = ranges[0];
        assert_same(
            &store.aggregates(from, to).await.expect("reopened"),
            &raw[0],
        );
    }

    #[tokio::test]
    async fn an_event_stored_into_a_summarised_hour_counts_at_once() {
        let (_data, store, now) = seeded().await;
        let rolled_up = store.catch_up().await.expect("rolled up");
        let before = store.aggregates(0, now + 1).await.expect("before");
        let late = event(100_000, now - 30 * HOUR_MS);
        assert_eq!(store.insert(vec![late]).await.expect("stored"), [true]);
        let after = store.aggregates(0, now + 1).await.expect("after");
        assert_eq!(after.executions, before.executions + 1);
        assert_eq!(store.catch_up().await.expect("re-rolled"), rolled_up);
        let again = store.aggregates(0, now + 1).await.expect("again");
        assert_eq!(again.executions, before.executions + 1);
        assert_eq!(again.failures, before.failures + 1);
    }

    #[tokio::test]
    async fn purging_drops_the_rollups_of_purged_hours() {
        let (_data, store, now) = seeded().await;
        store.catch_up().await.expect("rolled up");
        let cutoff = now - 24 * HOUR_MS - 20 * 60_000;
        let kept = store.aggregates(cutoff, now + 1).await.expect("kept");
        let purged = store.purge_before(cutoff).await.expect("purged");
        assert_eq!(purged, 2000 - kept.executions);
        let all = store.aggregates(0, now + 1).await.expect("all");
        assert_eq!(all.executions, kept.executions);
        store.catch_up().await.expect("rolled up again");
        let all = store.aggregates(0, now + 1).await.expect("all again");
        assert_eq!(all.executions, kept.executions);
        assert_eq!(
            all.trend.iter().map(|(s, f)| s + f).sum::<u64>(),
            kept.executions
        );
    }
}
