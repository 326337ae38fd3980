//! Reads: the statistics of a range, a code's runs, and the export.
//!
//! The statistics of a range are planned as pieces: the stored rollups of its whole hours,
//! the minute summaries kept in memory for the last day (`recent`), and raw events only for
//! what neither covers — the partial minutes at the range's edges, and older hours that have
//! no rollup yet. So a query reads a few minutes of events at most, however many arrived
//! this hour. A range whose in-memory part holds few events and touches no rollup is read
//! from raw events instead, exactly.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use protocol::stats::ExportRow;
use protocol::telemetry::EventKind;
use rusqlite::Connection;
use rusqlite::types::Type;

use crate::storage::hyperloglog::HyperLogLog;
use crate::storage::recent::{MINUTE_MS, MinutePart, RecentMinutes, SharedRecent};
use crate::storage::summary::{EventRow, RangeStats, Rollup, Summary};
use crate::storage::{Aggregates, CodeRuns, StoreWork};
use crate::util::clock::{self, HOUR_MS};

/// A range whose in-memory part holds at most this many events, and which touches no stored
/// rollup, is computed from its raw events: every figure exact.
pub(super) const EXACT_UP_TO: u64 = 2_000;
/// Decoded rollups kept at most (about half a year of hours).
const CACHED_ROLLUPS: usize = 4_096;

/// Stored rollups already decoded, by hour, with the version they were stored under: a
/// query over a month decodes each hour's JSON once, not on every call.
#[derive(Debug, Default)]
pub(super) struct RollupCache {
    decoded: Mutex<HashMap<i64, (i64, Arc<Rollup>)>>,
}

impl RollupCache {
    /// The rollup stored for `hour` under `version`, decoded once.
    fn get(&self, snapshot: &Connection, hour: i64, version: i64) -> rusqlite::Result<Arc<Rollup>> {
        if let Some((cached_version, rollup)) = self.lock().get(&hour)
            && *cached_version == version
        {
            return Ok(Arc::clone(rollup));
        }
        let rollup = Arc::new(snapshot.query_row(
            "SELECT summary, visitors, sessions FROM hourly_rollups WHERE hour = ?1",
            [hour],
            |row| {
                let summary: Summary =
                    serde_json::from_str(row.get_ref(0)?.as_str()?).map_err(|error| {
                        rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(error))
                    })?;
                Ok(Rollup {
                    summary,
                    visitors: HyperLogLog::from_bytes(row.get(1)?),
                    sessions: HyperLogLog::from_bytes(row.get(2)?),
                })
            },
        )?);
        let mut decoded = self.lock();
        if decoded.len() >= CACHED_ROLLUPS {
            decoded.clear();
        }
        decoded.insert(hour, (version, Arc::clone(&rollup)));
        Ok(rollup)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (i64, Arc<Rollup>)>> {
        self.decoded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One part of a range's plan.
#[derive(Debug)]
enum Piece {
    /// Raw events received in `[from, to)`.
    Raw(i64, i64),
    /// A stored hour: its number and the version of its rollup.
    Stored(i64, i64),
    /// A minute summarised in memory, and the hour it is in.
    Minute(i64, Arc<MinutePart>),
}

/// `stats` filled for its range, read in one snapshot; see the module's comment for how.
pub(super) fn aggregates(
    connection: &Connection,
    recent: &SharedRecent,
    cache: &RollupCache,
    work: &StoreWork,
    mut stats: RangeStats,
) -> rusqlite::Result<Aggregates> {
    let (from, to) = stats.range();
    let snapshot = connection.unchecked_transaction()?;
    let stored = stored_hours(&snapshot, from, to)?;
    let pieces = {
        let recent = recent
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        plan(from, to, &stored, &recent)
    };
    let in_memory: u64 = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Minute(_, part) => part.events,
            _ => 0,
        })
        .sum();
    let touches_stored = pieces
        .iter()
        .any(|piece| matches!(piece, Piece::Stored(..)));
    let mut raw_read = 0;
    let mut merged = 0;
    if !touches_stored && in_memory <= EXACT_UP_TO {
        raw_read += scan_events(&snapshot, from, to, |event| stats.add_event(&event))?;
    } else {
        for piece in pieces {
            match piece {
                Piece::Raw(start, end) => {
                    raw_read += scan_events(&snapshot, start, end, |event| {
                        stats.add_event(&event);
                    })?;
                }
                Piece::Stored(hour, version) => {
                    let rollup = cache.get(&snapshot, hour, version)?;
                    stats.add_rollup(hour, &rollup);
                    merged += 1;
                }
                Piece::Minute(hour, part) => {
                    stats.add_rollup(hour, &part.rollup);
                    merged += 1;
                }
            }
        }
    }
    work.raw_events_read
        .fetch_add(raw_read as u64, Ordering::Relaxed);
    work.summaries_merged.fetch_add(merged, Ordering::Relaxed);
    Ok(stats.finish())
}

/// The whole hours inside `[from, to)` that have a stored rollup, with its version.
fn stored_hours(snapshot: &Connection, from: i64, to: i64) -> rusqlite::Result<Vec<(i64, i64)>> {
    let first_whole = from.div_euclid(HOUR_MS) + i64::from(from.rem_euclid(HOUR_MS) != 0);
    let end_whole = to.div_euclid(HOUR_MS);
    if first_whole >= end_whole {
        return Ok(Vec::new());
    }
    let mut statement = snapshot.prepare_cached(
        "SELECT hour, version FROM hourly_rollups WHERE hour >= ?1 AND hour < ?2 ORDER BY hour",
    )?;
    let rows = statement.query_map([first_whole, end_whole], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?;
    rows.collect()
}

/// How to cover `[from, to)`: stored hours where there are, and the gaps between them from
/// memory or raw events.
fn plan(from: i64, to: i64, stored: &[(i64, i64)], recent: &RecentMinutes) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut cursor = from;
    for (hour, version) in stored {
        let start = hour * HOUR_MS;
        if start > cursor {
            cover_gap(cursor, start, recent, &mut pieces);
        }
        pieces.push(Piece::Stored(*hour, *version));
        cursor = start + HOUR_MS;
    }
    if cursor < to {
        cover_gap(cursor, to, recent, &mut pieces);
    }
    pieces
}

/// A span without stored hours: raw events before the memory's window, minute summaries
/// inside it, and raw events for a partial minute at either edge unless the minute's events
/// all lie inside the span anyway.
fn cover_gap(from: i64, to: i64, recent: &RecentMinutes, pieces: &mut Vec<Piece>) {
    let window = recent.covers_from();
    if from < window {
        pieces.push(Piece::Raw(from, to.min(window)));
    }
    let mut cursor = from.max(window);
    if cursor >= to {
        return;
    }
    let hour_of = |minute: i64| (minute * MINUTE_MS).div_euclid(HOUR_MS);
    // An edge minute is summarised whole when its events all lie in [from, to).
    let edge = |start: i64, end: i64, pieces: &mut Vec<Piece>| {
        let minute = start.div_euclid(MINUTE_MS);
        match recent.minute(minute) {
            Some(part) if part.first_at >= start && part.last_at < end => {
                pieces.push(Piece::Minute(hour_of(minute), part));
            }
            Some(_) => pieces.push(Piece::Raw(start, end)),
            None => {}
        }
    };
    if cursor.rem_euclid(MINUTE_MS) != 0 {
        let next_minute = (cursor.div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
        let end = next_minute.min(to);
        edge(cursor, end, pieces);
        cursor = end;
    }
    let whole_end = to.div_euclid(MINUTE_MS) * MINUTE_MS;
    if cursor < whole_end {
        for (minute, part) in recent.minutes(cursor, whole_end) {
            pieces.push(Piece::Minute(hour_of(minute), part));
        }
        cursor = whole_end;
    }
    if cursor < to {
        edge(cursor, to, pieces);
    }
}

/// How often code with this key ran, and when first and last.
pub(super) fn code_runs(connection: &Connection, code_key: &str) -> rusqlite::Result<CodeRuns> {
    connection.query_row(
        "SELECT COUNT(*), MIN(received_at), MAX(received_at) FROM events
         WHERE kind = 'execution' AND code_key = ?1",
        [code_key],
        |row| {
            Ok(CodeRuns {
                executions: row.get::<_, i64>(0)?.unsigned_abs(),
                first_at: row.get(1)?,
                last_at: row.get(2)?,
            })
        },
    )
}

/// Every event received in `[from, to)`, oldest first, as exported.
pub(super) fn export(
    connection: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<Vec<ExportRow>> {
    let mut statement = connection.prepare_cached(
        "SELECT received_at, event_id, session_id, kind, success, duration_ms, error_type,
                code_key, code_bytes, stdout_bytes, stderr_bytes, package, version, file_ext,
                file_bytes, pyodide_version, client_time, client_addr, user_agent
         FROM events WHERE received_at >= ?1 AND received_at < ?2 ORDER BY received_at, id",
    )?;
    let rows = statement.query_map([from, to], |row| {
        Ok(ExportRow {
            received_at: clock::iso(row.get(0)?),
            event_id: row.get(1)?,
            session_id: row.get(2)?,
            kind: event_kind(row, 3)?,
            success: row.get(4)?,
            duration_ms: row.get(5)?,
            error_type: row.get(6)?,
            code_key: row.get(7)?,
            code_bytes: row.get(8)?,
            stdout_bytes: row.get(9)?,
            stderr_bytes: row.get(10)?,
            package: row.get(11)?,
            version: row.get(12)?,
            file_ext: row.get(13)?,
            file_bytes: row.get(14)?,
            pyodide_version: row.get(15)?,
            client_time: row.get(16)?,
            client_addr: row.get(17)?,
            user_agent: row.get(18)?,
        })
    })?;
    rows.collect()
}

/// Calls `each` for every event received in `[from, to)`; returns how many there were.
pub(super) fn scan_events(
    connection: &Connection,
    from: i64,
    to: i64,
    mut each: impl FnMut(EventRow),
) -> rusqlite::Result<usize> {
    let mut statement = connection.prepare_cached(
        "SELECT kind, success, duration_ms, error_type, client_addr, user_agent, package,
                code_key, visitor_id, session_id, received_at
         FROM events WHERE received_at >= ?1 AND received_at < ?2",
    )?;
    let mut rows = statement.query([from, to])?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        each(EventRow {
            kind: event_kind(row, 0)?,
            success: row.get(1)?,
            duration_ms: row.get(2)?,
            error_type: row.get(3)?,
            client_addr: row.get(4)?,
            user_agent: row.get(5)?,
            package: row.get(6)?,
            code_key: row.get(7)?,
            visitor_id: row.get(8)?,
            session_id: row.get(9)?,
            received_at: row.get(10)?,
        });
        count += 1;
    }
    Ok(count)
}

/// A stored event's kind, which is only ever written from [`EventKind::as_str`].
pub(super) fn event_kind(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<EventKind> {
    let text = row.get_ref(index)?.as_str()?;
    EventKind::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            Type::Text,
            format!("unknown event kind {text:?}").into(),
        )
    })
}
