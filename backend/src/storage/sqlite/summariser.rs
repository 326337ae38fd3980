//! Summarising hours off the writer's thread: the writer hands over an hour (one that just
//! ended, or one an import touched, once it has been quiet for a moment); this thread reads
//! the hour's events on its own connection and hands the summary back, which the writer stores
//! only if nothing touched the hour in between. So ingest never waits for a summary, and an
//! import of many batches into one hour is summarised once, after the last batch.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use rusqlite::Connection;

use super::queries::scan_events;
use super::schema::open_connection;
use crate::storage::summary::{RangeStats, Rollup};
use crate::storage::{StoreError, StoreWork};
use crate::util::clock::HOUR_MS;

/// An hour to summarise, with the writer's count of changes to it when it was handed over.
#[derive(Debug, Clone, Copy)]
pub(super) struct Job {
    pub hour: i64,
    pub seq: u64,
}

/// What the writer hears back: an hour's summary (`None` for an hour without events). It
/// answers `false` once the writer is gone.
pub(super) type Answer =
    Box<dyn Fn(Job, rusqlite::Result<Option<Box<Rollup>>>) -> bool + Send + 'static>;

/// Starts the thread; it ends when the writer drops the returned sender, or stops listening.
pub(super) fn spawn(
    path: &Path,
    answer: Answer,
    work: Arc<StoreWork>,
) -> Result<mpsc::Sender<Job>, StoreError> {
    let connection = open_connection(path)?;
    let (jobs, queue) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("sqlite-summariser".into())
        .spawn(move || {
            for job in queue {
                let rollup =
                    summarise_hour(&connection, job.hour, &work).map(|rollup| rollup.map(Box::new));
                if !answer(job, rollup) {
                    return;
                }
            }
        })
        .map_err(super::database)?;
    Ok(jobs)
}

/// The summary of one hour's events, or `None` if it has none.
pub(super) fn summarise_hour(
    connection: &Connection,
    hour: i64,
    work: &StoreWork,
) -> rusqlite::Result<Option<Rollup>> {
    work.rollups_computed.fetch_add(1, Ordering::Relaxed);
    let snapshot = connection.unchecked_transaction()?;
    let mut stats = RangeStats::new(hour * HOUR_MS, (hour + 1) * HOUR_MS);
    let events = scan_events(&snapshot, hour * HOUR_MS, (hour + 1) * HOUR_MS, |row| {
        stats.add_event(&row);
    })?;
    Ok((events > 0).then(|| stats.into_rollup()))
}
