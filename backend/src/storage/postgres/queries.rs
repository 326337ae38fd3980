//! Reads: the statistics of a range (stored rollups of its whole hours, raw events for the
//! rest, in one repeatable-read snapshot), a code's runs, and the export.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use deadpool_postgres::{GenericClient, Pool};
use futures_util::StreamExt;
use protocol::stats::ExportRow;
use protocol::telemetry::EventKind;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

use super::{classify, database, unavailable};
use crate::clock::{self, HOUR_MS};
use crate::storage::hyperloglog::HyperLogLog;
use crate::storage::summary::{EventRow, RangeStats, Rollup, Summary};
use crate::storage::{Aggregates, CodeRuns, StoreError, StoreWork};

/// Decoded rollups kept at most (about half a year of hours).
const CACHED_ROLLUPS: usize = 4_096;

/// Stored rollups already decoded, by hour, with the version they were stored under: a
/// month's dashboard fetches and decodes each hour's summary once, not on every call.
#[derive(Debug, Default)]
pub(super) struct RollupCache {
    decoded: Mutex<HashMap<i64, (i64, Arc<Rollup>)>>,
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

/// `stats` filled for its range: rollups for the whole hours that have one, raw events for
/// the gaps between them.
pub(super) async fn aggregates(
    pool: &Pool,
    work: &StoreWork,
    cache: &RollupCache,
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
    let first_whole = from.div_euclid(HOUR_MS) + i64::from(from.rem_euclid(HOUR_MS) != 0);
    let end_whole = to.div_euclid(HOUR_MS);
    let stored: Vec<(i64, i64)> = if first_whole < end_whole {
        snapshot
            .query(
                "SELECT hour, version FROM hourly_rollups
                 WHERE hour >= $1 AND hour < $2 ORDER BY hour",
                &[&first_whole, &end_whole],
            )
            .await
            .map_err(classify)?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    } else {
        Vec::new()
    };
    let missing: Vec<i64> = stored
        .iter()
        .filter(|(hour, version)| cache.get(*hour, *version).is_none())
        .map(|(hour, _)| *hour)
        .collect();
    if !missing.is_empty() {
        let rows = snapshot
            .query(
                "SELECT hour, version, summary, visitors, sessions FROM hourly_rollups
                 WHERE hour = ANY($1)",
                &[&missing],
            )
            .await
            .map_err(classify)?;
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
    let mut cursor = from;
    let mut raw_read = 0;
    let mut merged = 0;
    for (hour, version) in stored {
        let start = hour * HOUR_MS;
        if start > cursor {
            raw_read +=
                scan_events(&snapshot, cursor, start, |event| stats.add_event(&event)).await?;
        }
        let rollup = cache.get(hour, version).ok_or_else(|| {
            StoreError::Database(format!("the rollup of hour {hour} went missing"))
        })?;
        stats.add_rollup(hour, &rollup);
        merged += 1;
        cursor = start + HOUR_MS;
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
