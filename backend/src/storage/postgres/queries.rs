//! Reads: the statistics of a range (stored rollups of its whole hours, then of its whole
//! minutes, raw events for the rest, in one repeatable-read snapshot), a code's runs, and
//! the export.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{GenericClient, Pool};
use futures_util::StreamExt;
use protocol::stats::ExportRow;
use protocol::telemetry::EventKind;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

use super::{classify, database, unavailable};
use crate::storage::hyperloglog::HyperLogLog;
use crate::storage::summary::{EventRow, RangeStats, Rollup, Summary};
use crate::storage::{Aggregates, CodeRuns, StoreError, StoreWork};
use crate::util::clock::{self, HOUR_MS, MINUTE_MS};

/// A range with no whole hour summarised and at most this many events in summarised minutes
/// is computed from its raw events: every figure exact (SQLite's rule too).
const EXACT_UP_TO: u64 = 2_000;

/// Decoded rollups kept at most in each cache (about half a year of hours).
const CACHED_ROLLUPS: usize = 4_096;

/// Stored rollups already decoded, by hour (or minute), with the version they were stored
/// under: a month's dashboard fetches and decodes each hour's summary once, not on every
/// call, and a live dashboard each minute's.
#[derive(Debug, Default)]
pub(super) struct RollupCache {
    decoded: Mutex<HashMap<i64, (i64, Arc<Rollup>)>>,
}

/// The decoded hourly rollups, and the decoded minute rollups.
#[derive(Debug, Default)]
pub(super) struct Caches {
    hours: RollupCache,
    minutes: RollupCache,
}

impl RollupCache {
    fn get(&self, hour: i64, version: i64) -> Option<Arc<Rollup>> {
        self.lock()
            .get(&hour)
            .filter(|(cached, _)| *cached == version)
            .map(|(_, rollup)| Arc::clone(rollup))
    }

    fn put(&self, hour: i64, version: i64, rollup: Arc<Rollup>) {
        let mut decoded = self.lock();
        if decoded.len() >= CACHED_ROLLUPS {
            decoded.clear();
        }
        decoded.insert(hour, (version, rollup));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (i64, Arc<Rollup>)>> {
        self.decoded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `stats` filled for its range: rollups for the whole hours that have one, minute rollups
/// for the whole minutes of the other hours that have one, raw events for the gaps between
/// them (the last minute or two, the range's partial edges, hours not summarised yet).
pub(super) async fn aggregates(
    pool: &Pool,
    work: &StoreWork,
    caches: &Caches,
    mut stats: RangeStats,
) -> Result<Aggregates, StoreError> {
    let (from, to) = stats.range();
    let mut client = pool.get().await.map_err(unavailable)?;
    let snapshot = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(classify)?;
    let hours = stored_rollups(&snapshot, &caches.hours, Table::Hours, from, to).await?;
    let stored_hours: HashSet<i64> = hours.iter().map(|(hour, ..)| *hour).collect();
    let minutes: Vec<_> = stored_rollups(&snapshot, &caches.minutes, Table::Minutes, from, to)
        .await?
        .into_iter()
        .filter(|(minute, ..)| !stored_hours.contains(&(minute * MINUTE_MS).div_euclid(HOUR_MS)))
        .collect();
    // A small range of recent minutes is read raw, every figure exact, as with SQLite.
    let summarised: u64 = minutes.iter().map(|(_, events, _)| *events).sum();
    let exact = hours.is_empty() && summarised <= EXACT_UP_TO;
    // Spans to merge, by start: whole hours, and the minutes of hours that have no rollup
    // (a minute's rollup and its hour's are never both stored, but they would count twice).
    let mut pieces: Vec<(i64, i64, i64, Arc<Rollup>)> = hours
        .into_iter()
        .map(|(hour, _, rollup)| (hour * HOUR_MS, HOUR_MS, hour, rollup))
        .chain(minutes.into_iter().map(|(minute, _, rollup)| {
            let start = minute * MINUTE_MS;
            (start, MINUTE_MS, start.div_euclid(HOUR_MS), rollup)
        }))
        .filter(|_| !exact)
        .collect();
    pieces.sort_by_key(|(start, ..)| *start);
    let mut cursor = from;
    let mut raw_read = 0;
    let mut merged = 0;
    for (start, length, hour, rollup) in pieces {
        if start > cursor {
            raw_read +=
                scan_events(&snapshot, cursor, start, |event| stats.add_event(&event)).await?;
        }
        stats.add_rollup(hour, &rollup);
        merged += 1;
        cursor = start + length;
    }
    if cursor < to {
        raw_read += scan_events(&snapshot, cursor, to, |event| stats.add_event(&event)).await?;
    }
    snapshot.commit().await.map_err(classify)?;
    work.raw_events_read
        .fetch_add(raw_read as u64, Ordering::Relaxed);
    work.summaries_merged.fetch_add(merged, Ordering::Relaxed);
    Ok(stats.finish())
}

/// A table of rollups.
#[derive(Debug, Clone, Copy)]
enum Table {
    Hours,
    Minutes,
}

impl Table {
    fn length(self) -> i64 {
        match self {
            Self::Hours => HOUR_MS,
            Self::Minutes => MINUTE_MS,
        }
    }
}

/// The rollups stored in `table` for spans lying wholly in `[from, to)`, by number, oldest
/// first, with how many events each holds (minutes only; 0 for hours): decoded from the
/// cache, or fetched and decoded (and cached) when not there.
async fn stored_rollups(
    snapshot: &impl GenericClient,
    cache: &RollupCache,
    table: Table,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, u64, Arc<Rollup>)>, StoreError> {
    let length = table.length();
    let first_whole = from.div_euclid(length) + i64::from(from.rem_euclid(length) != 0);
    let end_whole = to.div_euclid(length);
    if first_whole >= end_whole {
        return Ok(Vec::new());
    }
    let (list, fetch) = match table {
        Table::Hours => (
            "SELECT hour, version, 0::bigint FROM hourly_rollups
             WHERE hour >= $1 AND hour < $2 ORDER BY hour",
            "SELECT hour, version, summary, visitors, sessions FROM hourly_rollups
             WHERE hour = ANY($1)",
        ),
        Table::Minutes => (
            "SELECT minute, version, events FROM minute_rollups
             WHERE minute >= $1 AND minute < $2 ORDER BY minute",
            "SELECT minute, version, summary, visitors, sessions FROM minute_rollups
             WHERE minute = ANY($1)",
        ),
    };
    let stored: Vec<(i64, i64, i64)> = snapshot
        .query(list, &[&first_whole, &end_whole])
        .await
        .map_err(classify)?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let missing: Vec<i64> = stored
        .iter()
        .filter(|(number, version, _)| cache.get(*number, *version).is_none())
        .map(|(number, ..)| *number)
        .collect();
    if !missing.is_empty() {
        let rows = snapshot.query(fetch, &[&missing]).await.map_err(classify)?;
        for row in rows {
            let summary: Summary = serde_json::from_str(row.get(2)).map_err(database)?;
            cache.put(
                row.get(0),
                row.get(1),
                Arc::new(Rollup {
                    summary,
                    visitors: HyperLogLog::from_bytes(row.get(3)),
                    sessions: HyperLogLog::from_bytes(row.get(4)),
                }),
            );
        }
    }
    stored
        .into_iter()
        .map(|(number, version, events)| {
            let rollup = cache.get(number, version).ok_or_else(|| {
                StoreError::Database(format!("the rollup of {table:?} {number} went missing"))
            })?;
            Ok((number, events.unsigned_abs(), rollup))
        })
        .collect()
}

/// Calls `each` for every event received in `[from, to)`, streaming the rows; returns how
/// many there were.
pub(super) async fn scan_events(
    client: &impl GenericClient,
    from: i64,
    to: i64,
    mut each: impl FnMut(EventRow),
) -> Result<usize, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT kind, success, duration_ms, error_type, client_addr, user_agent, package,
                    code_key, visitor_id, session_id, received_at
             FROM events WHERE received_at >= $1 AND received_at < $2",
        )
        .await
        .map_err(classify)?;
    let params: [&(dyn ToSql + Sync); 2] = [&from, &to];
    let mut rows = Box::pin(
        client
            .query_raw(&statement, params)
            .await
            .map_err(classify)?,
    );
    let mut count = 0;
    while let Some(row) = rows.next().await {
        let row = row.map_err(classify)?;
        each(EventRow {
            kind: event_kind(row.get(0))?,
            success: row.get(1),
            duration_ms: row.get(2),
            error_type: row.get(3),
            client_addr: row.get(4),
            user_agent: row.get(5),
            package: row.get(6),
            code_key: row.get(7),
            visitor_id: row.get(8),
            session_id: row.get(9),
            received_at: row.get(10),
        });
        count += 1;
    }
    Ok(count)
}

/// How often code with this key ran, and when first and last.
pub(super) async fn code_runs(pool: &Pool, code_key: &str) -> Result<CodeRuns, StoreError> {
    let client = pool.get().await.map_err(unavailable)?;
    let row = client
        .query_one(
            "SELECT COUNT(*), MIN(received_at), MAX(received_at) FROM events
             WHERE kind = 'execution' AND code_key = $1",
            &[&code_key],
        )
        .await
        .map_err(classify)?;
    Ok(CodeRuns {
        executions: row.get::<_, i64>(0).unsigned_abs(),
        first_at: row.get(1),
        last_at: row.get(2),
    })
}

/// Every event received in `[from, to)`, oldest first, as exported.
pub(super) async fn export(pool: &Pool, from: i64, to: i64) -> Result<Vec<ExportRow>, StoreError> {
    let client = pool.get().await.map_err(unavailable)?;
    let rows = client
        .query(
            "SELECT received_at, event_id, session_id, kind, success, duration_ms, error_type,
                    code_key, code_bytes, stdout_bytes, stderr_bytes, package, version,
                    file_ext, file_bytes, pyodide_version, client_time, client_addr, user_agent
             FROM events WHERE received_at >= $1 AND received_at < $2
             ORDER BY received_at, id",
            &[&from, &to],
        )
        .await
        .map_err(classify)?;
    rows.iter()
        .map(|row| {
            Ok(ExportRow {
                received_at: clock::iso(row.get(0)),
                event_id: row.get(1),
                session_id: row.get(2),
                kind: event_kind(row.get(3))?,
                success: row.get(4),
                duration_ms: row.get(5),
                error_type: row.get(6),
                code_key: row.get(7),
                code_bytes: row.get(8),
                stdout_bytes: row.get(9),
                stderr_bytes: row.get(10),
                package: row.get(11),
                version: row.get(12),
                file_ext: row.get(13),
                file_bytes: row.get(14),
                pyodide_version: row.get(15),
                client_time: row.get(16),
                client_addr: row.get(17),
                user_agent: row.get(18),
            })
        })
        .collect()
}

/// A stored event's kind, which is only ever written from [`EventKind::as_str`].
fn event_kind(text: &str) -> Result<EventKind, StoreError> {
    EventKind::parse(text)
        .ok_or_else(|| StoreError::Database(format!("unknown event kind {text:?}")))
}
