//! The embedded store: SQLite in WAL mode with `synchronous=FULL`.
//!
//! One writer thread owns the write connection and commits in groups: it takes every insert
//! request waiting in its queue, writes them all in one transaction, commits (one fsync for
//! the group), then answers each request and appends the audit log. Reads go through a small
//! pool of their own connections, which WAL lets run beside the writer; a read whose caller
//! went away is interrupted.
//!
//! Statistics never read more than a few minutes of raw events (see `queries`): the writer
//! adds every event it stores to a per-minute summary kept in memory for the last day
//! (`recent`), and finished hours are summarised into one row of `hourly_rollups` each by a
//! thread of their own (`summariser`), once nothing has touched the hour for a moment. A
//! query merges rollups for whole hours, minute summaries for the last day, and raw events
//! for the rest, so a summary only makes a query faster, never different in counts. An event
//! stored into an hour that already has a rollup (an admin import) deletes that rollup in the
//! same transaction; the hour is summarised again once the import is over.
//!
//! `schema` opens connections and migrates; `writer` is the writer thread (group commit,
//! purges, which hours to summarise); `summariser` summarises hours; `pool` runs reads;
//! `queries` plans and runs them; `audit` is the daily audit log; `source` reads the store
//! for a move into PostgreSQL (`backend move-store`).

mod audit;
mod pool;
mod queries;
mod schema;
mod source;
mod summariser;
mod writer;

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};

use protocol::stats::ExportRow;

use self::audit::AuditLog;
use self::pool::ReadPool;
use self::queries::RollupCache;
use self::schema::{migrate, open_connection};
pub use self::source::Source;
use self::writer::{Command, Reply, Writer};
use super::recent::{RecentMinutes, SharedRecent};
use super::summary::RangeStats;
use super::{Aggregates, BoxFuture, CodeRuns, EventStore, NewEvent, StoreError, StoreWork};
use crate::util::private_files;

/// The store's file in the data directory.
pub const FILE_NAME: &str = "events.sqlite3";

/// Read connections: enough for a few dashboards and the public statistics at once on a
/// small machine.
const READERS: usize = 4;

/// A cheap-to-clone handle on the SQLite store; the writer thread stops when the last one
/// is dropped.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Handles>,
}

#[derive(Debug)]
struct Handles {
    writer: mpsc::Sender<Command>,
    /// Reads, a few at a time, each on its own connection.
    readers: Arc<ReadPool>,
    /// The last day's minute summaries, which the writer keeps up to date.
    recent: SharedRecent,
    /// Stored rollups already decoded.
    rollups: Arc<RollupCache>,
    /// What reads and summaries have done, for `/metrics` and tests.
    work: Arc<StoreWork>,
}

impl Drop for Handles {
    fn drop(&mut self) {
        let _ = self.writer.send(Command::Stop);
    }
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) `events.sqlite3` in `data_dir`, and the audit
    /// log folder beside it.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        private_files::create_dir(data_dir).map_err(database)?;
        let path = data_dir.join(FILE_NAME);
        // Made owner-only before SQLite opens it; its -wal and -shm files take its mode.
        private_files::append(&path).map_err(database)?;
        for suffix in ["", "-wal", "-shm"] {
            private_files::restrict(&data_dir.join(format!("events.sqlite3{suffix}")))
                .map_err(database)?;
        }
        let mut connection = open_connection(&path)?;
        migrate(&mut connection)?;
        let work = Arc::new(StoreWork::default());
        let readers = Arc::new(ReadPool::open(&path, READERS, Arc::clone(&work))?);
        let recent: SharedRecent = Arc::new(RwLock::new(RecentMinutes::default()));
        let (sender, receiver) = mpsc::channel();
        let back = sender.clone();
        let summariser = summariser::spawn(
            &path,
            Box::new(move |job, rollup| back.send(Command::Summarised(job, rollup)).is_ok()),
            Arc::clone(&work),
        )?;
        let writer = Writer::new(
            connection,
            AuditLog::new(data_dir.join("audit")),
            Arc::clone(&recent),
            Arc::clone(&work),
            summariser,
        )?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer.run(&receiver))
            .map_err(database)?;
        Ok(Self {
            inner: Arc::new(Handles {
                writer: sender,
                readers,
                recent,
                rollups: Arc::new(RollupCache::default()),
                work,
            }),
        })
    }

    /// Summarises every finished hour that has no rollup yet, and returns how many hours have
    /// one. The writer has this done by itself between writes; benchmarks and tests call it
    /// to wait for it.
    pub fn catch_up(&self) -> BoxFuture<Result<usize, StoreError>> {
        self.command(Command::CatchUp)
    }

    fn command<T: Send + 'static>(
        &self,
        command: impl FnOnce(Reply<T>) -> Command,
    ) -> BoxFuture<Result<T, StoreError>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = self.inner.writer.send(command(reply));
        Box::pin(async move {
            sent.map_err(|_| StoreError::WriterGone)?;
            answer.await.map_err(|_| StoreError::WriterGone)?
        })
    }
}

impl EventStore for SqliteStore {
    fn insert(&self, events: Vec<NewEvent>) -> BoxFuture<Result<Vec<bool>, StoreError>> {
        self.command(|reply| Command::Insert(events, reply))
    }

    fn aggregates(&self, from: i64, to: i64) -> BoxFuture<Result<Aggregates, StoreError>> {
        let recent = Arc::clone(&self.inner.recent);
        let rollups = Arc::clone(&self.inner.rollups);
        let work = Arc::clone(&self.inner.work);
        self.inner.readers.read(move |connection| {
            let stats = RangeStats::new(from, to);
            queries::aggregates(connection, &recent, &rollups, &work, stats)
        })
    }

    fn counts(&self, from: i64, to: i64) -> BoxFuture<Result<Aggregates, StoreError>> {
        let recent = Arc::clone(&self.inner.recent);
        let rollups = Arc::clone(&self.inner.rollups);
        let work = Arc::clone(&self.inner.work);
        self.inner.readers.read(move |connection| {
            let stats = RangeStats::counts_only(from, to);
            queries::aggregates(connection, &recent, &rollups, &work, stats)
        })
    }

    fn first_event_at(&self) -> BoxFuture<Result<Option<i64>, StoreError>> {
        self.inner.readers.read(|connection| {
            connection.query_row("SELECT MIN(received_at) FROM events", [], |row| row.get(0))
        })
    }

    fn code_runs(&self, code_key: String) -> BoxFuture<Result<CodeRuns, StoreError>> {
        self.inner
            .readers
            .read(move |connection| queries::code_runs(connection, &code_key))
    }

    fn export(&self, from: i64, to: i64) -> BoxFuture<Result<Vec<ExportRow>, StoreError>> {
        self.inner
            .readers
            .read(move |connection| queries::export(connection, from, to))
    }

    fn purge_before(&self, cutoff: i64) -> BoxFuture<Result<u64, StoreError>> {
        self.command(|reply| Command::Purge(cutoff, reply))
    }

    fn work(&self) -> &StoreWork {
        &self.inner.work
    }
}

pub(super) fn database(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(error.to_string())
}

/// The storage suite both stores share is `tests/storage.rs`; these are SQLite's own.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StoreWork;
    use crate::storage::summary::{EventRow, RangeStats, assert_exact_figures_match};
    use crate::testing::sample_event as event;
    use crate::util::clock;

    /// Many events in the last 90 minutes: the statistics come from the minute summaries in
    /// memory, match the exact ones, and read raw events only for a partial edge minute.
    #[tokio::test]
    async fn recent_minutes_give_the_same_statistics_reading_only_the_edges() {
        let data = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(data.path()).expect("store");
        let now = clock::now_ms();
        let events: Vec<NewEvent> = (0..6000)
            .map(|index| event(index, now - (index as i64 * 899) % (90 * 60_000)))
            .collect();
        let rows: Vec<EventRow> = events.iter().map(EventRow::of).collect();
        for chunk in events.chunks(1000) {
            store.insert(chunk.to_vec()).await.expect("stored");
        }
        let exact = |from: i64, to: i64| {
            let mut stats = RangeStats::new(from, to);
            rows.iter()
                .filter(|row| (from..to).contains(&row.received_at))
                .for_each(|row| stats.add_event(row));
            stats.finish()
        };
        let read = |counter: &std::sync::atomic::AtomicU64| StoreWork::read(counter);
        let work = store.work();

        // Whole minutes, so the trend's buckets start on whole minutes too.
        let to = (now.div_euclid(60_000) + 1) * 60_000;
        let from = to - 120 * 60_000;
        let (raw_before, merged_before) =
            (read(&work.raw_events_read), read(&work.summaries_merged));
        let planned = store.aggregates(from, to).await.expect("planned");
        assert_eq!(planned.executions, 6000);
        assert_exact_figures_match(&planned, &exact(from, to));
        assert!(
            (planned.p50_duration_ms - exact(from, to).p50_duration_ms).abs()
                <= exact(from, to).p50_duration_ms * 0.012
        );
        assert_eq!((planned.unique_visitors, planned.sessions), (25, 40));
        assert_eq!(
            read(&work.raw_events_read),
            raw_before,
            "no raw events read"
        );
        assert!(read(&work.summaries_merged) >= merged_before + 90);
        let counts = store.counts(from, to).await.expect("counts");
        assert_eq!(
            (
                counts.executions,
                counts.failures,
                &counts.trend,
                &counts.hour_of_day
            ),
            (
                planned.executions,
                planned.failures,
                &planned.trend,
                &planned.hour_of_day
            ),
            "the cheap counts agree with the full statistics"
        );
        assert!(counts.code_keys.is_empty(), "and leave the lists out");

        // A range starting inside a minute reads that minute's events only.
        let from = now - 60 * 60_000 - 17_000;
        let raw_before = read(&work.raw_events_read);
        let planned = store.aggregates(from, now + 1).await.expect("planned");
        assert_eq!(planned.executions, exact(from, now + 1).executions);
        let raw = read(&work.raw_events_read) - raw_before;
        assert!(
            raw <= 6000 / 90 + 1,
            "{raw} raw events read for one partial minute"
        );
    }
}
