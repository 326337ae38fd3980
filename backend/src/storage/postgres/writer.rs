//! The writer task: it takes every insert waiting in its queue and stores them in one
//! transaction with one multi-row `INSERT … ON CONFLICT (event_id) DO NOTHING` (group
//! commit), writes their audit log rows and a `NOTIFY` in the same transaction, commits with
//! `synchronous_commit` on, and only then answers. A duplicate `eventId` — within the group,
//! or already stored through any replica — is stored once.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::error::SqlState;

use super::{CHANNEL, ROLLUP_LOCK, classify, unavailable};
use crate::storage::{NewEvent, StoreError, StoreWork, audit_line};
use crate::util::clock::{self, HOUR_MS, MINUTE_MS};

/// Events in one group at most: one statement, a few megabytes.
const MAX_GROUP_EVENTS: usize = 5_000;

/// A request to store events, and where to answer.
#[derive(Debug)]
pub(super) struct Insert {
    pub events: Vec<NewEvent>,
    pub reply: oneshot::Sender<Result<Vec<bool>, StoreError>>,
}

/// Group commit until every handle on the store is gone.
pub(super) async fn run(
    pool: Pool,
    mut queue: mpsc::UnboundedReceiver<Insert>,
    work: Arc<StoreWork>,
) {
    while let Some(first) = queue.recv().await {
        let mut count = first.events.len();
        let mut group = vec![first];
        while count < MAX_GROUP_EVENTS {
            match queue.try_recv() {
                Ok(next) => {
                    count += next.events.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let events: Vec<&NewEvent> = group.iter().flat_map(|insert| &insert.events).collect();
        match write_group(&pool, &events, Logged::Now).await {
            Ok(inserted) => {
                if inserted.iter().any(|new| *new) {
                    work.changes.fetch_add(1, Ordering::Release);
                }
                let mut outcomes = inserted.into_iter();
                for insert in group {
                    let mine = outcomes.by_ref().take(insert.events.len()).collect();
                    let _ = insert.reply.send(Ok(mine));
                }
            }
            Err(error) => {
                tracing::error!("could not store events: {error}");
                for insert in group {
                    let _ = insert.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// When an event's audit log row says it was logged: for the retention purge, which deletes
/// rows logged before its cutoff with the events received before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Logged {
    /// Now, as it is stored (ingest, the admin import).
    Now,
    /// When it was received: an event moved from another store, whose row there was written
    /// then.
    AtReceipt,
}

/// Tries a group this many times when PostgreSQL picks its transaction as a deadlock's
/// victim (two replicas storing the same events at the same moment).
const ATTEMPTS: usize = 3;

/// Why one attempt at a group failed.
enum WriteError {
    Pool(deadpool_postgres::PoolError),
    Database(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for WriteError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Database(error)
    }
}

/// Stores `events` in one transaction; for each, whether it was new.
pub(super) async fn write_group(
    pool: &Pool,
    events: &[&NewEvent],
    logged: Logged,
) -> Result<Vec<bool>, StoreError> {
    let mut attempt = 1;
    loop {
        match write_once(pool, events, logged).await {
            Ok(inserted) => return Ok(inserted),
            Err(WriteError::Pool(error)) => return Err(unavailable(error)),
            Err(WriteError::Database(error)) => {
                let retry = error.code().is_some_and(|code| {
                    *code == SqlState::T_R_DEADLOCK_DETECTED
                        || *code == SqlState::T_R_SERIALIZATION_FAILURE
                });
                if !retry || attempt == ATTEMPTS {
                    return Err(classify(error));
                }
                attempt += 1;
            }
        }
    }
}

/// One attempt at storing `events` in one transaction. The rows go in sorted by `eventId`,
/// so two transactions storing some of the same events lock them in the same order: one
/// waits for the other rather than deadlocking.
async fn write_once(
    pool: &Pool,
    events: &[&NewEvent],
    logged: Logged,
) -> Result<Vec<bool>, WriteError> {
    let mut client = pool.get().await.map_err(WriteError::Pool)?;
    let transaction = client.transaction().await?;
    transaction
        .batch_execute("SET LOCAL synchronous_commit TO on")
        .await?;

    // A stable sort: of several events with one id, the first stays first.
    let mut sorted = events.to_vec();
    sorted.sort_by(|a, b| a.event.event_id.cmp(&b.event.event_id));
    let column = |pick: &dyn Fn(&NewEvent) -> Option<String>| -> Vec<Option<String>> {
        sorted.iter().map(|new| pick(new)).collect()
    };
    let size = |pick: &dyn Fn(&NewEvent) -> Option<u64>| -> Vec<Option<i64>> {
        sorted
            .iter()
            .map(|new| pick(new).map(|size| i64::try_from(size).unwrap_or(i64::MAX)))
            .collect()
    };
    let ids: Vec<String> = sorted
        .iter()
        .map(|new| new.event.event_id.clone())
        .collect();
    let sessions = column(&|new| Some(new.event.session_id.clone()));
    let kinds = column(&|new| Some(new.event.kind.as_str().to_owned()));
    let code_keys = column(&|new| new.code_key.clone());
    let code_bytes = size(&|new| new.event.code_bytes);
    let durations: Vec<Option<f64>> = sorted.iter().map(|new| new.event.duration_ms).collect();
    let successes: Vec<Option<bool>> = sorted.iter().map(|new| new.event.success).collect();
    let error_types = column(&|new| new.event.error_type.clone());
    let stdout_bytes = size(&|new| new.event.stdout_bytes);
    let stderr_bytes = size(&|new| new.event.stderr_bytes);
    let packages = column(&|new| new.event.package.clone());
    let versions = column(&|new| new.event.version.clone());
    let file_exts = column(&|new| new.event.file_ext.clone());
    let file_bytes = size(&|new| new.event.file_bytes);
    let pyodide_versions = column(&|new| new.event.pyodide_version.clone());
    let client_times = column(&|new| new.event.client_time.clone());
    let received: Vec<i64> = sorted.iter().map(|new| new.received_at).collect();
    let addrs = column(&|new| Some(new.client_addr.clone()));
    let visitors = column(&|new| Some(new.visitor_id.clone()));
    let agents = column(&|new| new.user_agent.clone());

    let rows = transaction
        .query(
            "INSERT INTO events (event_id, session_id, kind, code_key, code_bytes, duration_ms,
                 success, error_type, stdout_bytes, stderr_bytes, package, version, file_ext,
                 file_bytes, pyodide_version, client_time, received_at, client_addr,
                 visitor_id, user_agent)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                 $5::bigint[], $6::float8[], $7::bool[], $8::text[], $9::bigint[],
                 $10::bigint[], $11::text[], $12::text[], $13::text[], $14::bigint[],
                 $15::text[], $16::text[], $17::bigint[], $18::text[], $19::text[],
                 $20::text[])
             ON CONFLICT (event_id) DO NOTHING
             RETURNING event_id",
            &[
                &ids,
                &sessions,
                &kinds,
                &code_keys,
                &code_bytes,
                &durations,
                &successes,
                &error_types,
                &stdout_bytes,
                &stderr_bytes,
                &packages,
                &versions,
                &file_exts,
                &file_bytes,
                &pyodide_versions,
                &client_times,
                &received,
                &addrs,
                &visitors,
                &agents,
            ],
        )
        .await?;
    let mut stored: HashSet<String> = rows.iter().map(|row| row.get(0)).collect();
    // The first of several events with one id in the group is the one stored.
    let inserted: Vec<bool> = events
        .iter()
        .map(|new| stored.remove(&new.event.event_id))
        .collect();

    // The audit rows before the rollup lock below, which the summariser waits on.
    if inserted.iter().any(|new| *new) {
        let now = clock::now_ms();
        let (times, lines): (Vec<i64>, Vec<String>) = events
            .iter()
            .zip(&inserted)
            .filter(|(_, new)| **new)
            .map(|(new, _)| {
                let at = match logged {
                    Logged::Now => now,
                    Logged::AtReceipt => new.received_at,
                };
                (at, audit_line(new).to_string())
            })
            .unzip();
        transaction
            .execute(
                "INSERT INTO audit_log (logged_at, line)
                 SELECT logged_at, line::jsonb FROM UNNEST($1::bigint[], $2::text[])
                     AS rows (logged_at, line)",
                &[&times, &lines],
            )
            .await?;
    }

    // Events in hours that have ended: their rollups go, and the hours are summarised again.
    // Likewise for minutes that have ended: their rollups go, and the summariser finds them
    // without one and summarises them again.
    let now = clock::now_ms();
    let current_hour = now.div_euclid(HOUR_MS);
    let current_minute = now.div_euclid(MINUTE_MS);
    let ended_minutes: Vec<i64> = events
        .iter()
        .zip(&inserted)
        .filter(|(_, new)| **new)
        .map(|(new, _)| new.received_at.div_euclid(MINUTE_MS))
        .filter(|minute| *minute < current_minute)
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    if !ended_minutes.is_empty() {
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&ROLLUP_LOCK])
            .await?;
        transaction
            .execute(
                "DELETE FROM minute_rollups WHERE minute = ANY($1)",
                &[&ended_minutes],
            )
            .await?;
    }
    let finished: BTreeSet<i64> = events
        .iter()
        .zip(&inserted)
        .filter(|(_, new)| **new)
        .map(|(new, _)| new.received_at.div_euclid(HOUR_MS))
        .filter(|hour| *hour < current_hour)
        .collect();
    if !finished.is_empty() {
        // The lock is already held: an event in an ended hour is in an ended minute too.
        let hours: Vec<i64> = finished.into_iter().collect();
        transaction
            .execute("DELETE FROM hourly_rollups WHERE hour = ANY($1)", &[&hours])
            .await?;
        transaction
            .execute(
                "INSERT INTO pending_hours (hour) SELECT UNNEST($1::bigint[])
                 ON CONFLICT DO NOTHING",
                &[&hours],
            )
            .await?;
    }

    if inserted.iter().any(|new| *new) {
        transaction
            .execute("SELECT pg_notify($1, '')", &[&CHANNEL])
            .await?;
    }
    transaction.commit().await?;
    Ok(inserted)
}
