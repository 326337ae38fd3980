//! The writer thread: it owns the write connection, commits every waiting insert in one
//! transaction (group commit) before anyone is answered, adds what it stored to the minute
//! summaries in memory, appends the audit log and purges. It keeps the hourly rollups: a
//! finished hour with events and no rollup is *pending*, and once nothing has touched it for
//! [`QUIET`] it goes to the summariser thread, whose summary is stored only if the hour was not
//! touched again meanwhile.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::audit::AuditLog;
use super::database;
use super::queries::scan_events;
use super::summariser::{Job, summarise_hour};
use crate::storage::recent::{RecentMinutes, SharedRecent};
use crate::storage::summary::{EventRow, Rollup};
use crate::storage::{NewEvent, StoreError, StoreWork};
use crate::util::clock::{self, HOUR_MS};

pub(super) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(super) use crate::storage::ROLLUP_QUIET as QUIET;
/// Hours with the summariser at once, so a backlog does not queue up stale work.
const IN_FLIGHT: usize = 2;

/// What the writer thread is asked to do.
pub(super) enum Command {
    Insert(Vec<NewEvent>, Reply<Vec<bool>>),
    Purge(i64, Reply<u64>),
    CatchUp(Reply<usize>),
    /// The summariser's answer for a job.
    Summarised(Job, rusqlite::Result<Option<Box<Rollup>>>),
    /// Every handle on the store is gone.
    Stop,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Self::Insert(..) => "Insert",
            Self::Purge(..) => "Purge",
            Self::CatchUp(..) => "CatchUp",
            Self::Summarised(..) => "Summarised",
            Self::Stop => "Stop",
        })
    }
}

/// A change to a finished hour: when, and the writer's count of changes then.
#[derive(Debug, Clone, Copy)]
struct Touch {
    at: Instant,
    seq: u64,
}

/// The writer thread's state.
pub(super) struct Writer {
    connection: Connection,
    audit: AuditLog,
    /// The last day's minute summaries, shared with the readers.
    recent: SharedRecent,
    work: Arc<StoreWork>,
    /// Where hours go to be summarised.
    summariser: mpsc::Sender<Job>,
    /// Hours that have a stored rollup.
    rolled: HashSet<i64>,
    /// Finished hours that have events and no rollup yet, with their last change.
    pending: BTreeMap<i64, Touch>,
    /// Hours with the summariser, by the change count they were handed over at.
    in_flight: HashMap<i64, u64>,
    /// Counts changes to finished hours.
    next_seq: u64,
    /// The version the next stored rollup gets (readers cache decoded rollups by version).
    next_version: i64,
    /// Every hour before this one has been looked at: it is rolled up, pending or empty.
    finished_until: i64,
}

impl Writer {
    /// Reads which hours have rollups and fills the minute summaries from the events of
    /// the last day.
    pub(super) fn new(
        connection: Connection,
        audit: AuditLog,
        recent: SharedRecent,
        work: Arc<StoreWork>,
        summariser: mpsc::Sender<Job>,
    ) -> Result<Self, StoreError> {
        let rolled = connection
            .prepare("SELECT hour FROM hourly_rollups")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<HashSet<i64>>>()
            })
            .map_err(database)?;
        let next_version: i64 = connection
            .query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM hourly_rollups",
                [],
                |row| row.get(0),
            )
            .map_err(database)?;
        {
            let now = clock::now_ms();
            let mut minutes = RecentMinutes::new(now);
            scan_events(&connection, minutes.covers_from(), i64::MAX, |row| {
                minutes.add(&row);
            })
            .map_err(database)?;
            minutes.advance(now);
            *recent
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = minutes;
        }
        Ok(Self {
            connection,
            audit,
            recent,
            work,
            summariser,
            rolled,
            pending: BTreeMap::new(),
            in_flight: HashMap::new(),
            next_seq: 0,
            next_version,
            finished_until: 0,
        })
    }

    /// Group commit until told to stop, handing quiet pending hours to the summariser.
    pub(super) fn run(mut self, commands: &mpsc::Receiver<Command>) {
        loop {
            self.notice_finished_hours();
            self.hand_over_quiet_hours();
            let first = match commands.recv_timeout(self.next_wake_up()) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => continue,
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
                        self.summarise_all_pending();
                        let _ = reply.send(Ok(self.rolled.len()));
                    }
                    Command::Summarised(job, rollup) => self.store_summary(job, rollup),
                    Command::Stop => return,
                }
            }
        }
    }

    /// How long to wait for commands: until a pending hour is due, the next hour begins, or
    /// the current minute ends (its summary's top lists are cut then).
    fn next_wake_up(&self) -> Duration {
        let now = clock::now_ms();
        let next_minute = clock::end_of_minute(now);
        let mut wait = Duration::from_millis((next_minute - now).unsigned_abs() + 10);
        if self.in_flight.len() < IN_FLIGHT {
            for (hour, touch) in &self.pending {
                if !self.in_flight.contains_key(hour) {
                    wait = wait.min(QUIET.saturating_sub(touch.at.elapsed()));
                }
            }
        }
        wait.max(Duration::from_millis(1))
    }

    fn insert(&mut self, group: Vec<(Vec<NewEvent>, Reply<Vec<bool>>)>) {
        match write_group(&mut self.connection, &group, &self.rolled) {
            Ok((outcomes, reopened)) => {
                for hour in reopened {
                    self.rolled.remove(&hour);
                }
                let now = clock::now_ms();
                let mut any = false;
                let mut touched = BTreeSet::new();
                let mut recent = self
                    .recent
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                for (events, inserted) in group.iter().map(|(events, _)| events).zip(&outcomes) {
                    for (new, _) in events.iter().zip(inserted).filter(|(_, new)| **new) {
                        any = true;
                        recent.add(&EventRow::of(new));
                        let hour = new.received_at.div_euclid(HOUR_MS);
                        if hour < self.finished_until {
                            touched.insert(hour);
                        }
                    }
                }
                recent.advance(now);
                drop(recent);
                for hour in touched {
                    self.touch(hour);
                }
                if any {
                    self.work.changes.fetch_add(1, Ordering::Release);
                }
                for ((events, reply), inserted) in group.into_iter().zip(outcomes) {
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

    /// Marks a finished hour as changed: it is summarised again once quiet.
    fn touch(&mut self, hour: i64) {
        self.next_seq += 1;
        self.pending.insert(
            hour,
            Touch {
                at: Instant::now(),
                seq: self.next_seq,
            },
        );
    }

    /// Marks the hours that ended since the last look and have events as pending, and moves
    /// the minute summaries' window on.
    fn notice_finished_hours(&mut self) {
        let now = clock::now_ms();
        self.recent
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .advance(now);
        let current = now.div_euclid(HOUR_MS);
        if current <= self.finished_until {
            return;
        }
        match hours_with_events(&self.connection, self.finished_until, current) {
            Ok(hours) => {
                for hour in hours {
                    if !self.rolled.contains(&hour) && !self.pending.contains_key(&hour) {
                        self.touch(hour);
                    }
                }
                self.finished_until = current;
            }
            Err(error) => tracing::error!("could not look for finished hours: {error}"),
        }
    }

    /// Hands the pending hours nobody touched for [`QUIET`] to the summariser, oldest first.
    fn hand_over_quiet_hours(&mut self) {
        let due: Vec<(i64, u64)> = self
            .pending
            .iter()
            .filter(|(hour, touch)| {
                touch.at.elapsed() >= QUIET && !self.in_flight.contains_key(*hour)
            })
            .map(|(hour, touch)| (*hour, touch.seq))
            .take(IN_FLIGHT.saturating_sub(self.in_flight.len()))
            .collect();
        for (hour, seq) in due {
            if self.summariser.send(Job { hour, seq }).is_ok() {
                self.in_flight.insert(hour, seq);
            } else {
                tracing::error!("the summariser has stopped; hours stay unsummarised");
                // Try again after another quiet spell rather than at once.
                self.touch(hour);
            }
        }
    }

    /// Stores the summariser's rollup, unless the hour changed after it was handed over.
    fn store_summary(&mut self, job: Job, rollup: rusqlite::Result<Option<Box<Rollup>>>) {
        self.in_flight.remove(&job.hour);
        if self.pending.get(&job.hour).map(|touch| touch.seq) != Some(job.seq) {
            return;
        }
        match rollup.and_then(|rollup| self.store_rollup(job.hour, rollup.as_deref())) {
            Ok(()) => {
                self.pending.remove(&job.hour);
            }
            Err(error) => {
                tracing::error!(
                    "could not summarise hour {}: {error}",
                    clock::iso(job.hour * HOUR_MS)
                );
                // Try again after another quiet spell.
                self.touch(job.hour);
            }
        }
    }

    /// Summarises every pending hour here and now (for `catch_up`).
    fn summarise_all_pending(&mut self) {
        for hour in std::mem::take(&mut self.pending).into_keys() {
            let stored = summarise_hour(&self.connection, hour, &self.work)
                .and_then(|rollup| self.store_rollup(hour, rollup.as_ref()));
            if let Err(error) = stored {
                tracing::error!(
                    "could not summarise hour {}: {error}",
                    clock::iso(hour * HOUR_MS)
                );
            }
        }
    }

    /// Stores an hour's rollup under a new version (nothing when the hour has no events).
    fn store_rollup(&mut self, hour: i64, rollup: Option<&Rollup>) -> rusqlite::Result<()> {
        let Some(rollup) = rollup else {
            return Ok(());
        };
        let summary = serde_json::to_string(&rollup.summary)
            .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
        self.connection.execute(
            "INSERT OR REPLACE INTO hourly_rollups (hour, summary, visitors, sessions, version)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                hour,
                summary,
                rollup.visitors.as_bytes(),
                rollup.sessions.as_bytes(),
                self.next_version
            ],
        )?;
        self.next_version += 1;
        self.rolled.insert(hour);
        self.work.rollups_stored.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes events before `cutoff` and the rollups of the hours they were in.
    fn purge(&mut self, cutoff: i64) -> rusqlite::Result<u64> {
        let cut_hour = cutoff.div_euclid(HOUR_MS);
        let transaction = self.connection.transaction()?;
        let deleted = transaction.execute("DELETE FROM events WHERE received_at < ?1", [cutoff])?;
        transaction.execute("DELETE FROM hourly_rollups WHERE hour <= ?1", [cut_hour])?;
        transaction.commit()?;
        self.rolled.retain(|hour| *hour > cut_hour);
        self.pending.retain(|hour, _| *hour > cut_hour);
        if cut_hour < self.finished_until {
            // The hour the cut falls in keeps its later events; summarise what is left.
            self.touch(cut_hour);
        }
        self.recent
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .forget_before(cutoff, clock::now_ms());
        if deleted > 0 {
            self.work.changes.fetch_add(1, Ordering::Release);
        }
        let old_logs = self.audit.forget_before(cutoff);
        if old_logs > 0 {
            tracing::info!("deleted {old_logs} audit log files past the retention");
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
