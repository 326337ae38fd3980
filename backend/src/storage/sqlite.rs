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

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Type;
use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::hyperloglog::HyperLogLog;
use super::summary::{EventRow, HourRollup, RangeStats, Summary};
use protocol::stats::ExportRow;
use protocol::telemetry::EventKind;

use super::{Aggregates, BoxFuture, CodeRuns, EventStore, NewEvent, StoreError};
use crate::clock::{self, HOUR_MS};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    "
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
    ",
    "
    CREATE TABLE hourly_rollups (
        hour INTEGER PRIMARY KEY,   -- unix milliseconds / 3,600,000
        summary TEXT NOT NULL,      -- JSON of `Summary`
        visitors BLOB NOT NULL,     -- HyperLogLog registers
        sessions BLOB NOT NULL
    );
    ",
];

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// What the writer thread is asked to do.
enum Command {
    Insert(Vec<NewEvent>, Reply<Vec<bool>>),
    Purge(i64, Reply<u64>),
    CatchUp(Reply<usize>),
}

/// A cheap-to-clone handle on the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: mpsc::Sender<Command>,
    /// Reads go through their own connection, one at a time.
    reader: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Self::Insert(..) => "Insert",
            Self::Purge(..) => "Purge",
            Self::CatchUp(..) => "CatchUp",
        })
    }
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
        self.read(move |connection| aggregates(connection, from, to))
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
        })
    }

    fn purge_before(&self, cutoff: i64) -> BoxFuture<Result<u64, StoreError>> {
        self.command(|reply| Command::Purge(cutoff, reply))
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

/// The writer thread's state.
struct Writer {
    connection: Connection,
    audit: AuditLog,
    /// Hours that have a stored rollup.
    rolled: HashSet<i64>,
    /// Finished hours that have events and no rollup yet.
    pending: BTreeSet<i64>,
    /// Every hour before this one has been looked at: it is rolled up, pending or empty.
    finished_until: i64,
}

impl Writer {
    fn new(connection: Connection, audit: AuditLog) -> Result<Self, StoreError> {
        let rolled = connection
            .prepare("SELECT hour FROM hourly_rollups")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<HashSet<i64>>>()
            })
            .map_err(database)?;
        Ok(Self {
            connection,
            audit,
            rolled,
            pending: BTreeSet::new(),
            finished_until: 0,
        })
    }

    /// Group commit until every handle is dropped, one hour's rollup per round.
    fn run(mut self, commands: &mpsc::Receiver<Command>) {
        loop {
            self.notice_finished_hours();
            let wait = if self.pending.is_empty() {
                let next_hour = (clock::now_ms().div_euclid(HOUR_MS) + 1) * HOUR_MS;
                Duration::from_millis((next_hour - clock::now_ms()).unsigned_abs() + 50)
            } else {
                Duration::ZERO
            };
            let first = match commands.recv_timeout(wait) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    self.roll_up_next();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut inserts = Vec::new();
            let mut others = Vec::new();
            for command in std::iter::once(first).chain(commands.try_iter()) {
                match command {
                    Command::Insert(events, reply) => inserts.push((events, reply)),
                    other => others.push(other),
                }
            }
            if !inserts.is_empty() {
                self.insert(inserts);
            }
            for command in others {
                match command {
                    Command::Insert(events, reply) => self.insert(vec![(events, reply)]),
                    Command::Purge(cutoff, reply) => {
                        let _ = reply.send(self.purge(cutoff).map_err(database));
                    }
                    Command::CatchUp(reply) => {
                        self.notice_finished_hours();
                        while self.roll_up_next() {}
                        let _ = reply.send(Ok(self.rolled.len()));
                    }
                }
            }
            self.roll_up_next();
        }
    }

    fn insert(&mut self, group: Vec<(Vec<NewEvent>, Reply<Vec<bool>>)>) {
        match write_group(&mut self.connection, &group, &self.rolled) {
            Ok((outcomes, reopened)) => {
                for hour in reopened {
                    self.rolled.remove(&hour);
                }
                for ((events, reply), inserted) in group.into_iter().zip(outcomes) {
                    for (new, _) in events.iter().zip(&inserted).filter(|(_, new)| **new) {
                        let hour = new.received_at.div_euclid(HOUR_MS);
                        if hour < self.finished_until {
                            self.pending.insert(hour);
                        }
                    }
                    self.audit.record(&events, &inserted);
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

    /// Marks the hours that ended since the last look and have events as pending.
    fn notice_finished_hours(&mut self) {
        let current = clock::now_ms().div_euclid(HOUR_MS);
        if current <= self.finished_until {
            return;
        }
        match hours_with_events(&self.connection, self.finished_until, current) {
            Ok(hours) => {
                let rolled = &self.rolled;
                self.pending
                    .extend(hours.into_iter().filter(|hour| !rolled.contains(hour)));
                self.finished_until = current;
            }
            Err(error) => tracing::error!("could not look for finished hours: {error}"),
        }
    }

    /// Rolls up the oldest pending hour; `false` when none was pending.
    fn roll_up_next(&mut self) -> bool {
        let Some(hour) = self.pending.pop_first() else {
            return false;
        };
        match roll_up(&mut self.connection, hour) {
            Ok(true) => {
                self.rolled.insert(hour);
            }
            Ok(false) => {}
            Err(error) => {
                tracing::error!(
                    "could not summarise hour {}: {error}",
                    clock::iso(hour * HOUR_MS)
                );
            }
        }
        true
    }

    /// Deletes events before `cutoff` and the rollups of the hours they were in.
    fn purge(&mut self, cutoff: i64) -> rusqlite::Result<u64> {
        let cut_hour = cutoff.div_euclid(HOUR_MS);
        let transaction = self.connection.transaction()?;
        let deleted = transaction.execute("DELETE FROM events WHERE received_at < ?1", [cutoff])?;
        transaction.execute("DELETE FROM hourly_rollups WHERE hour <= ?1", [cut_hour])?;
        transaction.commit()?;
        self.rolled.retain(|hour| *hour > cut_hour);
        self.pending.retain(|hour| *hour > cut_hour);
        if cut_hour < self.finished_until {
            // The hour the cut falls in keeps its later events; summarise what is left.
            self.pending.insert(cut_hour);
        }
        Ok(deleted as u64)
    }
}

/// The hours in `[from_hour, to_hour)` that hold at least one event: one index seek each.
fn hours_with_events(
    connection: &Connection,
    from_hour: i64,
    to_hour: i64,
) -> rusqlite::Result<Vec<i64>> {
    let mut statement = connection.prepare_cached(
        "SELECT MIN(received_at) FROM events WHERE received_at >= ?1 AND received_at < ?2",
    )?;
    let end = to_hour.saturating_mul(HOUR_MS);
    let mut cursor = from_hour.saturating_mul(HOUR_MS);
    let mut hours = Vec::new();
    while let Some(at) = statement.query_row([cursor, end], |row| row.get::<_, Option<i64>>(0))? {
        let hour = at.div_euclid(HOUR_MS);
        hours.push(hour);
        cursor = (hour + 1) * HOUR_MS;
    }
    Ok(hours)
}

/// Stores the rollup of one finished hour; `false` if the hour has no events.
fn roll_up(connection: &mut Connection, hour: i64) -> rusqlite::Result<bool> {
    let transaction = connection.transaction()?;
    let mut stats = RangeStats::new(hour * HOUR_MS, (hour + 1) * HOUR_MS);
    let events = scan_events(&transaction, hour * HOUR_MS, (hour + 1) * HOUR_MS, |row| {
        stats.add_event(&row);
    })?;
    if events > 0 {
        let rollup = stats.into_rollup();
        let summary = serde_json::to_string(&rollup.summary)
            .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
        transaction.execute(
            "INSERT OR REPLACE INTO hourly_rollups (hour, summary, visitors, sessions)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                hour,
                summary,
                rollup.visitors.as_bytes(),
                rollup.sessions.as_bytes()
            ],
        )?;
    }
    transaction.commit()?;
    Ok(events > 0)
}

/// Calls `each` for every event received in `[from, to)`; returns how many there were.
fn scan_events(
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

/// Writes a group in one transaction. Returns, per request, which events were new, and the
/// rolled-up hours that got new events (their rollups are deleted in the same transaction).
fn write_group(
    connection: &mut Connection,
    group: &[(Vec<NewEvent>, Reply<Vec<bool>>)],
    rolled: &HashSet<i64>,
) -> rusqlite::Result<(Vec<Vec<bool>>, BTreeSet<i64>)> {
    let transaction = connection.transaction()?;
    let mut outcomes = Vec::with_capacity(group.len());
    let mut reopened = BTreeSet::new();
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
                let hour = new.received_at.div_euclid(HOUR_MS);
                if changed == 1 && rolled.contains(&hour) {
                    reopened.insert(hour);
                }
                inserted.push(changed == 1);
            }
            outcomes.push(inserted);
        }
        let mut forget =
            transaction.prepare_cached("DELETE FROM hourly_rollups WHERE hour = ?1")?;
        for hour in &reopened {
            forget.execute([hour])?;
        }
    }
    transaction.commit()?;
    Ok((outcomes, reopened))
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

fn clamp(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// The statistics of `[from, to)`: stored rollups for the whole hours that have one, raw
/// events for the rest, read in one snapshot.
fn aggregates(connection: &Connection, from: i64, to: i64) -> rusqlite::Result<Aggregates> {
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

#[cfg(test)]
mod tests {
    use protocol::telemetry::TelemetryEvent;

    use super::*;

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
