//! The embedded store: SQLite in WAL mode with `synchronous=FULL`.
//!
//! One writer thread owns the write connection and commits in groups: it takes every insert
//! request waiting in its queue, writes them all in one transaction, commits (one fsync for
//! the group), then answers each request and appends the audit log. Reads use their own
//! connection, which WAL lets run beside the writer.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use protocol::stats::Entry;
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::{
    Aggregates, BoxFuture, CodeRuns, DURATION_BUCKETS, EventStore, ExportRow, NewEvent, StoreError,
};
use crate::clock;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        session_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        code_key TEXT,
        code_bytes INTEGER,
        duration_ms REAL,
        success INTEGER,
        error_type TEXT,
        stdout_bytes INTEGER,
        stderr_bytes INTEGER,
        package TEXT,
        version TEXT,
        file_ext TEXT,
        file_bytes INTEGER,
        pyodide_version TEXT,
        client_time TEXT,
        received_at INTEGER NOT NULL,
        client_addr TEXT NOT NULL,
        visitor_id TEXT NOT NULL,
        user_agent TEXT
    );
    CREATE INDEX events_by_kind_and_time ON events (kind, received_at);
    CREATE INDEX events_by_time ON events (received_at);
    CREATE INDEX events_by_code ON events (code_key, received_at);
"];

/// Top lists hold at most this many entries.
const TOP: i64 = 20;

type InsertReply = oneshot::Sender<Result<Vec<bool>, StoreError>>;

/// A cheap-to-clone handle on the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: mpsc::Sender<(Vec<NewEvent>, InsertReply)>,
    /// Reads go through their own connection, one at a time.
    reader: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) `events.sqlite3` in `data_dir`, and the audit
    /// log folder beside it.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(data_dir).map_err(database)?;
        let path = data_dir.join("events.sqlite3");
        let mut writer = open_connection(&path)?;
        migrate(&mut writer)?;
        let reader = open_connection(&path)?;
        let audit = AuditLog::new(data_dir.join("audit"));
        let (sender, receiver) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(writer, receiver, audit))
            .map_err(database)?;
        Ok(Self {
            writer: sender,
            reader: Arc::new(Mutex::new(reader)),
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
        let (reply, answer) = oneshot::channel();
        let sent = self.writer.send((events, reply));
        Box::pin(async move {
            sent.map_err(|_| StoreError::WriterGone)?;
            answer.await.map_err(|_| StoreError::WriterGone)?
        })
    }

    fn aggregates(&self, from: i64, to: i64) -> BoxFuture<Result<Aggregates, StoreError>> {
        self.read(move |connection| aggregates(connection, from, to))
    }

    fn hour_of_day_counts(&self, since: i64) -> BoxFuture<Result<Vec<u64>, StoreError>> {
        self.read(move |connection| {
            let mut counts = vec![0u64; 24];
            let mut statement = connection.prepare_cached(
                "SELECT (received_at / 3600000) % 24, COUNT(*) FROM events
                 WHERE kind = 'execution' AND received_at >= ?1 GROUP BY 1",
            )?;
            let rows = statement.query_map([since], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (hour, count) = row?;
                if let Some(slot) = usize::try_from(hour)
                    .ok()
                    .and_then(|hour| counts.get_mut(hour))
                {
                    *slot = count.unsigned_abs();
                }
            }
            Ok(counts)
        })
    }

    fn code_runs(&self, code_key: String) -> BoxFuture<Result<CodeRuns, StoreError>> {
        self.read(move |connection| {
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
        })
    }

    fn export(&self, from: i64, to: i64) -> BoxFuture<Result<Vec<ExportRow>, StoreError>> {
        self.read(move |connection| {
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
                    kind: row.get(3)?,
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
        })
    }

    fn purge_before(&self, cutoff: i64) -> BoxFuture<Result<u64, StoreError>> {
        self.read(move |connection| {
            connection
                .execute("DELETE FROM events WHERE received_at < ?1", [cutoff])
                .map(|deleted| deleted as u64)
        })
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path).map_err(database)?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 10000;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(database)?;
    Ok(connection)
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let applied: usize = connection
        .query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
        .map_err(database)?
        .try_into()
        .unwrap_or(0);
    for (number, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let transaction = connection.transaction().map_err(database)?;
        transaction.execute_batch(migration).map_err(database)?;
        transaction
            .execute_batch(&format!("PRAGMA user_version = {}", number + 1))
            .map_err(database)?;
        transaction.commit().map_err(database)?;
    }
    Ok(())
}

/// The writer thread: group commit until every handle is dropped.
fn write_loop(
    mut connection: Connection,
    requests: mpsc::Receiver<(Vec<NewEvent>, InsertReply)>,
    mut audit: AuditLog,
) {
    while let Ok(first) = requests.recv() {
        let mut group = vec![first];
        group.extend(requests.try_iter());
        match write_group(&mut connection, &group) {
            Ok(outcomes) => {
                for ((events, reply), inserted) in group.into_iter().zip(outcomes) {
                    audit.record(&events, &inserted);
                    let _ = reply.send(Ok(inserted));
                }
            }
            Err(error) => {
                tracing::error!("could not store events: {error}");
                for (_, reply) in group {
                    let _ = reply.send(Err(StoreError::Database(error.to_string())));
                }
            }
        }
    }
}

fn write_group(
    connection: &mut Connection,
    group: &[(Vec<NewEvent>, InsertReply)],
) -> rusqlite::Result<Vec<Vec<bool>>> {
    let transaction = connection.transaction()?;
    let mut outcomes = Vec::with_capacity(group.len());
    {
        let mut insert = transaction.prepare_cached(
            "INSERT OR IGNORE INTO events (event_id, session_id, kind, code_key, code_bytes,
                 duration_ms, success, error_type, stdout_bytes, stderr_bytes, package, version,
                 file_ext, file_bytes, pyodide_version, client_time, received_at, client_addr,
                 visitor_id, user_agent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20)",
        )?;
        for (events, _) in group {
            let mut inserted = Vec::with_capacity(events.len());
            for new in events {
                let event = &new.event;
                let changed = insert.execute(params![
                    event.event_id,
                    event.session_id,
                    event.kind.as_str(),
                    new.code_key,
                    event.code_bytes.map(clamp),
                    event.duration_ms,
                    event.success,
                    event.error_type,
                    event.stdout_bytes.map(clamp),
                    event.stderr_bytes.map(clamp),
                    event.package,
                    event.version,
                    event.file_ext,
                    event.file_bytes.map(clamp),
                    event.pyodide_version,
                    event.client_time,
                    new.received_at,
                    new.client_addr,
                    new.visitor_id,
                    new.user_agent,
                ])?;
                inserted.push(changed == 1);
            }
            outcomes.push(inserted);
        }
    }
    transaction.commit()?;
    Ok(outcomes)
}

fn clamp(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

fn aggregates(connection: &Connection, from: i64, to: i64) -> rusqlite::Result<Aggregates> {
    let mut aggregates = connection.query_row(
        "SELECT COUNT(*), COALESCE(SUM(success = 1), 0), COALESCE(SUM(success = 0), 0),
                COALESCE(AVG(duration_ms), 0), MAX(received_at)
         FROM events WHERE kind = 'execution' AND received_at >= ?1 AND received_at < ?2",
        [from, to],
        |row| {
            Ok(Aggregates {
                executions: row.get::<_, i64>(0)?.unsigned_abs(),
                successes: row.get::<_, i64>(1)?.unsigned_abs(),
                failures: row.get::<_, i64>(2)?.unsigned_abs(),
                mean_duration_ms: row.get(3)?,
                last_execution_at: row.get(4)?,
                ..Aggregates::default()
            })
        },
    )?;
    (aggregates.unique_visitors, aggregates.sessions) = connection.query_row(
        "SELECT COUNT(DISTINCT visitor_id), COUNT(DISTINCT session_id)
         FROM events WHERE received_at >= ?1 AND received_at < ?2",
        [from, to],
        |row| {
            Ok((
                row.get::<_, i64>(0)?.unsigned_abs(),
                row.get::<_, i64>(1)?.unsigned_abs(),
            ))
        },
    )?;
    (aggregates.installs, aggregates.file_loads) = connection.query_row(
        "SELECT COALESCE(SUM(kind = 'install' AND success IS NOT 0), 0),
                COALESCE(SUM(kind = 'file_load'), 0)
         FROM events WHERE received_at >= ?1 AND received_at < ?2",
        [from, to],
        |row| {
            Ok((
                row.get::<_, i64>(0)?.unsigned_abs(),
                row.get::<_, i64>(1)?.unsigned_abs(),
            ))
        },
    )?;
    // One scan and a sort in memory: three ORDER BY … OFFSET queries each sorted the range.
    let mut durations: Vec<f64> = connection
        .prepare_cached(
            "SELECT duration_ms FROM events WHERE kind = 'execution' AND duration_ms IS NOT NULL
             AND received_at >= ?1 AND received_at < ?2",
        )?
        .query_map([from, to], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    durations.sort_unstable_by(f64::total_cmp);
    aggregates.p50_duration_ms = nearest_rank(&durations, 0.50);
    aggregates.p95_duration_ms = nearest_rank(&durations, 0.95);
    aggregates.p99_duration_ms = nearest_rank(&durations, 0.99);

    let top = |column: &str, condition: &str| -> rusqlite::Result<Vec<Entry>> {
        let mut statement = connection.prepare_cached(&format!(
            "SELECT {column}, COUNT(*) FROM events
             WHERE {condition} AND {column} IS NOT NULL AND received_at >= ?1 AND received_at < ?2
             GROUP BY {column} ORDER BY 2 DESC, 1 LIMIT {TOP}"
        ))?;
        let rows = statement.query_map([from, to], |row| {
            Ok(Entry {
                name: row.get(0)?,
                count: row.get::<_, i64>(1)?.unsigned_abs(),
            })
        })?;
        rows.collect()
    };
    aggregates.error_types = top("error_type", "kind = 'execution' AND success = 0")?;
    aggregates.client_addrs = top("client_addr", "kind = 'execution'")?;
    aggregates.user_agents = top("user_agent", "kind = 'execution'")?;
    aggregates.packages = top("package", "kind = 'install' AND success IS NOT 0")?;
    aggregates.code_keys = top("code_key", "kind = 'execution'")?;

    aggregates.duration_histogram = vec![0; DURATION_BUCKETS.len()];
    {
        let mut statement = connection.prepare_cached(
            "SELECT CASE WHEN duration_ms < 10 THEN 0 WHEN duration_ms < 100 THEN 1
                         WHEN duration_ms < 1000 THEN 2 WHEN duration_ms < 10000 THEN 3 ELSE 4 END,
                    COUNT(*)
             FROM events WHERE kind = 'execution' AND duration_ms IS NOT NULL
             AND received_at >= ?1 AND received_at < ?2 GROUP BY 1",
        )?;
        let rows = statement.query_map([from, to], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (bucket, count) = row?;
            if let Some(slot) = usize::try_from(bucket)
                .ok()
                .and_then(|bucket| aggregates.duration_histogram.get_mut(bucket))
            {
                *slot = count.unsigned_abs();
            }
        }
    }
    aggregates.trend = vec![(0, 0); 24];
    if to > from {
        let mut statement = connection.prepare_cached(
            "SELECT (received_at - ?1) * 24 / (?2 - ?1), COALESCE(SUM(success = 1), 0),
                    COALESCE(SUM(success IS NOT 1), 0)
             FROM events WHERE kind = 'execution' AND received_at >= ?1 AND received_at < ?2
             GROUP BY 1",
        )?;
        let rows = statement.query_map([from, to], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (bucket, successes, failures) = row?;
            if let Some(slot) = usize::try_from(bucket)
                .ok()
                .and_then(|bucket| aggregates.trend.get_mut(bucket))
            {
                *slot = (successes.unsigned_abs(), failures.unsigned_abs());
            }
        }
    }
    Ok(aggregates)
}

/// The nearest-rank percentile of sorted values: the smallest value with at least
/// `fraction` of the values at or below it (0 when there are none).
fn nearest_rank(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The structured successor of the original `security.log`: one JSON line per stored event,
/// with the server's fields, in a file per UTC day.
#[derive(Debug)]
struct AuditLog {
    folder: PathBuf,
}

impl AuditLog {
    fn new(folder: PathBuf) -> Self {
        Self { folder }
    }

    fn record(&mut self, events: &[NewEvent], inserted: &[bool]) {
        let mut lines = String::new();
        for (new, _) in events
            .iter()
            .zip(inserted)
            .filter(|(_, inserted)| **inserted)
        {
            let mut line = serde_json::to_value(&new.event).unwrap_or_default();
            if let Some(fields) = line.as_object_mut() {
                fields.remove("codeSha256");
                fields.insert("receivedAt".into(), clock::iso(new.received_at).into());
                fields.insert("clientAddr".into(), new.client_addr.clone().into());
                fields.insert("visitorId".into(), new.visitor_id.clone().into());
                fields.insert("userAgent".into(), new.user_agent.clone().into());
                fields.insert("codeKey".into(), new.code_key.clone().into());
            }
            lines.push_str(&line.to_string());
            lines.push('\n');
        }
        if lines.is_empty() {
            return;
        }
        let path = self
            .folder
            .join(format!("audit-{}.jsonl", clock::date(clock::now_ms())));
        let written = fs::create_dir_all(&self.folder).and_then(|()| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?
                .write_all(lines.as_bytes())
        });
        if let Err(error) = written {
            tracing::error!("could not write the audit log {}: {error}", path.display());
        }
    }
}

fn database(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(error.to_string())
}
