//! Hourly and minute rollups and the retention purge, once for the whole cluster: every
//! replica tries now and then, and whichever holds the rollup advisory lock (a
//! transaction's) does the work while the others skip. An hour is summarised a minute after
//! it ends ([`SETTLE`]), so an insert still in flight when the hour turned has committed;
//! later inserts into a finished hour take the same lock, delete its rollup and mark it
//! pending. The minutes of the hours not summarised yet (the current one, and the last one
//! for its first minute) get a rollup each in `minute_rollups` a few seconds after they end
//! ([`MINUTE_SETTLE`]); a later insert into a finished minute takes the lock and deletes
//! its rollup, and the minute is summarised again on the next run. A minute's rollups go
//! when its hour is summarised.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use deadpool_postgres::{Pool, Transaction};
use tokio_postgres::types::ToSql;

use super::queries::scan_events;
use super::{ROLLUP_LOCK, classify, database, unavailable};
use crate::storage::summary::RangeStats;
use crate::storage::{StoreError, StoreWork};
use crate::util::clock::{self, DAY_MS, HOUR_MS, MINUTE_MS};

/// How often each replica tries to summarise.
const EVERY: Duration = Duration::from_secs(30);
/// How long after its end an hour is summarised.
const SETTLE: i64 = 60_000;
/// How long after its end a minute is summarised. The writer only takes the rollup lock
/// for events in minutes that had ended when it looked (just before committing), so an
/// event of a minute that was still current then must have committed before the minute is
/// summarised: ten seconds is far more than a group commit takes (or than replicas' clocks
/// should differ by), and short enough that a dashboard reads only the last minute or two
/// raw (the current one, the last if under ten seconds old, and what ended since the last
/// [`EVERY`]).
const MINUTE_SETTLE: i64 = 10_000;
/// A replica's hourly purge counts as due this much before the hour since the last one is
/// over, so replicas whose timers drift apart do not skip an hour between them.
const PURGE_SLACK: i64 = 5 * 60_000;

/// Whether to wait for another replica's summarising, or skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    Yes,
    No,
}

/// Tries to summarise every [`EVERY`] until the store is dropped; while pending hours are
/// left over, again at once.
pub(super) async fn run(pool: Pool, work: Arc<StoreWork>) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        loop {
            match summarise(&pool, &work, Wait::No).await {
                Ok(More::Pending) => continue,
                Ok(More::Nothing) => break,
                Err(error) => {
                    tracing::warn!("could not summarise finished hours: {error}");
                    break;
                }
            }
        }
    }
}

/// Pending hours summarised in one transaction at most: a move or an import that touched
/// months of hours holds the rollup lock (which inserts into finished minutes wait for) for
/// a few seconds at a time, not for all of them.
const PENDING_AT_ONCE: i64 = 48;

/// Whether pending hours were left for another call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum More {
    Pending,
    Nothing,
}

/// Summarises the hours that ended (and settled) since the last look, and up to
/// [`PENDING_AT_ONCE`] pending ones.
pub(super) async fn summarise(
    pool: &Pool,
    work: &StoreWork,
    wait: Wait,
) -> Result<More, StoreError> {
    let mut client = pool.get().await.map_err(unavailable)?;
    let transaction = client.transaction().await.map_err(classify)?;
    if !lock(&transaction, wait).await? {
        return Ok(More::Nothing);
    }
    let current = (clock::now_ms() - SETTLE).div_euclid(HOUR_MS);
    let finished_until: i64 = transaction
        .query_one("SELECT finished_until FROM rollup_progress", &[])
        .await
        .map_err(classify)?
        .get(0);
    let pending = transaction
        .query(
            "SELECT hour FROM pending_hours ORDER BY hour LIMIT $1",
            &[&(PENDING_AT_ONCE + 1)],
        )
        .await
        .map_err(classify)?;
    let more = if pending.len() > PENDING_AT_ONCE as usize {
        More::Pending
    } else {
        More::Nothing
    };
    let mut hours: BTreeSet<i64> = pending
        .iter()
        .take(PENDING_AT_ONCE as usize)
        .map(|row| row.get(0))
        .collect();
    hours.extend(spans_with_events(&transaction, finished_until, current, HOUR_MS).await?);
    for hour in &hours {
        work.rollups_computed.fetch_add(1, Ordering::Relaxed);
        if summarise_span(&transaction, Span::Hour, *hour).await? {
            work.rollups_stored.fetch_add(1, Ordering::Relaxed);
        }
    }
    let done: Vec<i64> = hours.into_iter().collect();
    transaction
        .execute("DELETE FROM pending_hours WHERE hour = ANY($1)", &[&done])
        .await
        .map_err(classify)?;
    transaction
        .execute(
            "UPDATE rollup_progress SET finished_until = GREATEST(finished_until, $1)",
            &[&current],
        )
        .await
        .map_err(classify)?;
    summarise_minutes(&transaction, finished_until.max(current)).await?;
    transaction.commit().await.map_err(classify)?;
    Ok(more)
}

/// Drops the minute rollups of hours before `unrolled_from` (they have an hourly rollup
/// now, or are pending and read raw until they do), and summarises each finished minute
/// since then that has events and no rollup.
async fn summarise_minutes(
    transaction: &Transaction<'_>,
    unrolled_from: i64,
) -> Result<(), StoreError> {
    let first_minute = unrolled_from.saturating_mul(HOUR_MS / MINUTE_MS);
    transaction
        .execute(
            "DELETE FROM minute_rollups WHERE minute < $1",
            &[&first_minute],
        )
        .await
        .map_err(classify)?;
    // Minutes before this one ended at least MINUTE_SETTLE ago.
    let settled = (clock::now_ms() - MINUTE_SETTLE).div_euclid(MINUTE_MS);
    let summarised: BTreeSet<i64> = transaction
        .query(
            "SELECT minute FROM minute_rollups WHERE minute >= $1",
            &[&first_minute],
        )
        .await
        .map_err(classify)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for minute in spans_with_events(transaction, first_minute, settled, MINUTE_MS).await? {
        if !summarised.contains(&minute) {
            summarise_span(transaction, Span::Minute, minute).await?;
        }
    }
    Ok(())
}

async fn lock(transaction: &Transaction<'_>, wait: Wait) -> Result<bool, StoreError> {
    if wait == Wait::Yes {
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&ROLLUP_LOCK])
            .await
            .map_err(classify)?;
        return Ok(true);
    }
    Ok(transaction
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&ROLLUP_LOCK])
        .await
        .map_err(classify)?
        .get(0))
}

/// What a rollup summarises, and where it is stored.
#[derive(Debug, Clone, Copy)]
enum Span {
    Hour,
    Minute,
}

impl Span {
    fn length(self) -> i64 {
        match self {
            Self::Hour => HOUR_MS,
            Self::Minute => MINUTE_MS,
        }
    }
}

/// Stores the summary of one hour's or minute's events (or no rollup if it has none);
/// `true` if one was stored.
async fn summarise_span(
    transaction: &Transaction<'_>,
    span: Span,
    number: i64,
) -> Result<bool, StoreError> {
    let (from, to) = (number * span.length(), (number + 1) * span.length());
    let mut stats = RangeStats::new(from, to);
    let events = scan_events(transaction, from, to, |row| stats.add_event(&row)).await?;
    let (delete, upsert) = match span {
        Span::Hour => (
            "DELETE FROM hourly_rollups WHERE hour = $1",
            "INSERT INTO hourly_rollups (hour, summary, visitors, sessions)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (hour) DO UPDATE SET summary = EXCLUDED.summary,
                 visitors = EXCLUDED.visitors, sessions = EXCLUDED.sessions,
                 version = nextval('hourly_rollup_versions')",
        ),
        Span::Minute => (
            "DELETE FROM minute_rollups WHERE minute = $1",
            "INSERT INTO minute_rollups (minute, summary, visitors, sessions, events)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (minute) DO UPDATE SET summary = EXCLUDED.summary,
                 visitors = EXCLUDED.visitors, sessions = EXCLUDED.sessions,
                 events = EXCLUDED.events, version = nextval('minute_rollup_versions')",
        ),
    };
    if events == 0 {
        transaction
            .execute(delete, &[&number])
            .await
            .map_err(classify)?;
        return Ok(false);
    }
    let rollup = stats.into_rollup();
    let summary = serde_json::to_string(&rollup.summary).map_err(database)?;
    let events = i64::try_from(events).unwrap_or(i64::MAX);
    let (visitors, sessions) = (rollup.visitors.as_bytes(), rollup.sessions.as_bytes());
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&number, &summary, &visitors, &sessions];
    if let Span::Minute = span {
        params.push(&events);
    }
    transaction
        .execute(upsert, &params)
        .await
        .map_err(classify)?;
    Ok(true)
}

/// The spans of `length` ms numbered in `[from, to)` that hold at least one event: one
/// index seek each.
async fn spans_with_events(
    transaction: &Transaction<'_>,
    from: i64,
    to: i64,
    length: i64,
) -> Result<Vec<i64>, StoreError> {
    let statement = transaction
        .prepare("SELECT MIN(received_at) FROM events WHERE received_at >= $1 AND received_at < $2")
        .await
        .map_err(classify)?;
    let end = to.saturating_mul(length);
    let mut cursor = from.saturating_mul(length);
    let mut spans = Vec::new();
    while cursor < end {
        let at: Option<i64> = transaction
            .query_one(&statement, &[&cursor, &end])
            .await
            .map_err(classify)?
            .get(0);
        let Some(at) = at else { break };
        let span = at.div_euclid(length);
        spans.push(span);
        cursor = (span + 1) * length;
    }
    Ok(spans)
}

/// Claims this hour's retention purge for the cluster: `true` for the one replica that
/// should purge now, `false` if another did less than an hour ago.
pub(super) async fn claim_hourly_purge(pool: &Pool) -> Result<bool, StoreError> {
    let client = pool.get().await.map_err(unavailable)?;
    let now = clock::now_ms();
    let claimed = client
        .execute(
            "UPDATE rollup_progress SET last_purge_at = $1
             WHERE last_purge_at IS NULL OR last_purge_at <= $2",
            &[&now, &(now - HOUR_MS + PURGE_SLACK)],
        )
        .await
        .map_err(classify)?;
    Ok(claimed == 1)
}

/// Deletes events received before `cutoff`, the rollups of the hours and minutes they were
/// in (the minute the cut falls in is summarised again on the next run), their
/// audit log rows and the salts of past days; the hour the cut falls in is summarised again.
pub(super) async fn purge_before(
    pool: &Pool,
    work: &StoreWork,
    cutoff: i64,
) -> Result<u64, StoreError> {
    let cut_hour = cutoff.div_euclid(HOUR_MS);
    let mut client = pool.get().await.map_err(unavailable)?;
    let transaction = client.transaction().await.map_err(classify)?;
    lock(&transaction, Wait::Yes).await?;
    let deleted = transaction
        .execute("DELETE FROM events WHERE received_at < $1", &[&cutoff])
        .await
        .map_err(classify)?;
    transaction
        .execute("DELETE FROM hourly_rollups WHERE hour <= $1", &[&cut_hour])
        .await
        .map_err(classify)?;
    transaction
        .execute(
            "DELETE FROM minute_rollups WHERE minute <= $1",
            &[&cutoff.div_euclid(MINUTE_MS)],
        )
        .await
        .map_err(classify)?;
    if cut_hour < clock::now_ms().div_euclid(HOUR_MS) {
        transaction
            .execute(
                "INSERT INTO pending_hours (hour) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&cut_hour],
            )
            .await
            .map_err(classify)?;
    }
    transaction
        .execute("DELETE FROM audit_log WHERE logged_at < $1", &[&cutoff])
        .await
        .map_err(classify)?;
    transaction
        .execute(
            "DELETE FROM daily_salts WHERE day < $1",
            &[&clock::now_ms().div_euclid(DAY_MS)],
        )
        .await
        .map_err(classify)?;
    transaction.commit().await.map_err(classify)?;
    if deleted > 0 {
        work.changes.fetch_add(1, Ordering::Release);
    }
    Ok(deleted)
}
