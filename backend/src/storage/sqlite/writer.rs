//! The writer thread: it owns the write connection, commits every waiting insert in one
//! transaction (group commit) before anyone is answered, appends the audit log, purges, and
//! between writes summarises each finished hour into `hourly_rollups`.

use std::collections::{BTreeSet, HashSet};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::audit::AuditLog;
use super::database;
use super::queries::scan_events;
use crate::clock::{self, HOUR_MS};
use crate::storage::summary::RangeStats;
use crate::storage::{NewEvent, StoreError};

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// What the writer thread is asked to do.
pub(super) enum Command {
    Insert(Vec<NewEvent>, Reply<Vec<bool>>),
    Purge(i64, Reply<u64>),
    CatchUp(Reply<usize>),
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

/// The writer thread's state.
pub(super) struct Writer {
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
    pub(super) fn new(connection: Connection, audit: AuditLog) -> Result<Self, StoreError> {
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
    pub(super) fn run(mut self, commands: &mpsc::Receiver<Command>) {
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

fn clamp(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}
