//! Reads: the statistics of a range (stored rollups for its whole hours, raw events for the
//! rest, in one snapshot), a code's runs, and the export.

use protocol::stats::ExportRow;
use protocol::telemetry::EventKind;
use rusqlite::Connection;
use rusqlite::types::Type;

use crate::clock::{self, HOUR_MS};
use crate::storage::hyperloglog::HyperLogLog;
use crate::storage::summary::{EventRow, HourRollup, RangeStats, Summary};
use crate::storage::{Aggregates, CodeRuns};

/// The statistics of `[from, to)`: stored rollups for the whole hours that have one, raw
/// events for the rest, read in one snapshot.
pub(super) fn aggregates(
    connection: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<Aggregates> {
    let snapshot = connection.unchecked_transaction()?;
    let mut stats = RangeStats::new(from, to);
    let first_whole = from.div_euclid(HOUR_MS) + i64::from(from.rem_euclid(HOUR_MS) != 0);
    let end_whole = to.div_euclid(HOUR_MS);
    let mut cursor = from;
    if first_whole < end_whole {
        let mut statement = snapshot.prepare_cached(
            "SELECT hour, summary, visitors, sessions FROM hourly_rollups
             WHERE hour >= ?1 AND hour < ?2 ORDER BY hour",
        )?;
        let mut rows = statement.query([first_whole, end_whole])?;
        while let Some(row) = rows.next()? {
            let hour: i64 = row.get(0)?;
            let summary: Summary =
                serde_json::from_str(row.get_ref(1)?.as_str()?).map_err(|error| {
                    rusqlite::Error::FromSqlConversionFailure(1, Type::Text, Box::new(error))
                })?;
            let start = hour * HOUR_MS;
            if start > cursor {
                scan_events(&snapshot, cursor, start, |event| stats.add_event(&event))?;
            }
            stats.add_hour(
                hour,
                HourRollup {
                    summary,
                    visitors: HyperLogLog::from_bytes(row.get(2)?),
                    sessions: HyperLogLog::from_bytes(row.get(3)?),
                },
            );
            cursor = start + HOUR_MS;
        }
    }
    if cursor < to {
        scan_events(&snapshot, cursor, to, |event| stats.add_event(&event))?;
    }
    Ok(stats.finish())
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
fn event_kind(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<EventKind> {
    let text = row.get_ref(index)?.as_str()?;
    EventKind::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            Type::Text,
            format!("unknown event kind {text:?}").into(),
        )
    })
}
