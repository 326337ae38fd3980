//! Hourly rollups and the retention purge, once for the whole cluster: every replica tries
//! now and then, and whichever holds the rollup advisory lock (a transaction's) does the
//! work while the others skip. An hour is summarised a minute after it ends ([`SETTLE`]), so
//! an insert still in flight when the hour turned has committed; later inserts into a
//! finished hour take the same lock, delete its rollup and mark it pending.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use deadpool_postgres::{Pool, Transaction};

use super::queries::scan_events;
use super::{ROLLUP_LOCK, classify, database, unavailable};
use crate::clock::{self, DAY_MS, HOUR_MS};
use crate::storage::summary::RangeStats;
use crate::storage::{StoreError, StoreWork};

/// How often each replica tries to summarise.
const EVERY: Duration = Duration::from_secs(30);
/// How long after its end an hour is summarised.
const SETTLE: i64 = 60_000;
/// A replica's hourly purge counts as due this much before the hour since the last one is
/// over, so replicas whose timers drift apart do not skip an hour between them.
const PURGE_SLACK: i64 = 5 * 60_000;

/// Whether to wait for another replica's summarising, or skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    Yes,
    No,
}

/// Tries to summarise every [`EVERY`] until the store is dropped.
pub(super) async fn run(pool: Pool, work: Arc<StoreWork>) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(error) = summarise(&pool, &work, Wait::No).await {
            tracing::warn!("could not summarise finished hours: {error}");
        }
    }
}

/// Summarises the hours that ended (and settled) since the last look, and the pending ones.
pub(super) async fn summarise(pool: &Pool, work: &StoreWork, wait: Wait) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(unavailable)?;
    let transaction = client.transaction().await.map_err(classify)?;
    if !lock(&transaction, wait).await? {
        return Ok(());
    }
    let current = (clock::now_ms() - SETTLE).div_euclid(HOUR_MS);
    let finished_until: i64 = transaction
        .query_one("SELECT finished_until FROM rollup_progress", &[])
        .await
        .map_err(classify)?
        .get(0);
    let mut hours: BTreeSet<i64> = transaction
        .query("SELECT hour FROM pending_hours", &[])
        .await
        .map_err(classify)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    hours.extend(hours_with_events(&transaction, finished_until, current).await?);
    for hour in &hours {
        summarise_hour(&transaction, work, *hour).await?;
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
    transaction.commit().await.map_err(classify)
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

/// Stores the summary of one hour's events (or no rollup if it has none).
async fn summarise_hour(
    transaction: &Transaction<'_>,
    work: &StoreWork,
    hour: i64,
) -> Result<(), StoreError> {
    work.rollups_computed.fetch_add(1, Ordering::Relaxed);
    let (from, to) = (hour * HOUR_MS, (hour + 1) * HOUR_MS);
    let mut stats = RangeStats::new(from, to);
    let events = scan_events(transaction, from, to, |row| stats.add_event(&row)).await?;
    if events == 0 {
        transaction
            .execute("DELETE FROM hourly_rollups WHERE hour = $1", &[&hour])
            .await
            .map_err(classify)?;
        return Ok(());
    }
    let rollup = stats.into_rollup();
    let summary = serde_json::to_string(&rollup.summary).map_err(database)?;
    transaction
        .execute(
            "INSERT INTO hourly_rollups (hour, summary, visitors, sessions)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (hour) DO UPDATE SET summary = EXCLUDED.summary,
                 visitors = EXCLUDED.visitors, sessions = EXCLUDED.sessions,
                 version = nextval('hourly_rollup_versions')",
            &[
                &hour,
                &summary,
                &rollup.visitors.as_bytes(),
                &rollup.sessions.as_bytes(),
            ],
        )
        .await
        .map_err(classify)?;
    work.rollups_stored.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The hours in `[from_hour, to_hour)` that hold at least one event: one index seek each.
async fn hours_with_events(
    transaction: &Transaction<'_>,
    from_hour: i64,
    to_hour: i64,
) -> Result<Vec<i64>, StoreError> {
    let statement = transaction
        .prepare("SELECT MIN(received_at) FROM events WHERE received_at >= $1 AND received_at < $2")
        .await
        .map_err(classify)?;
    let end = to_hour.saturating_mul(HOUR_MS);
    let mut cursor = from_hour.saturating_mul(HOUR_MS);
    let mut hours = Vec::new();
    while cursor < end {
        let at: Option<i64> = transaction
            .query_one(&statement, &[&cursor, &end])
            .await
            .map_err(classify)?
            .get(0);
        let Some(at) = at else { break };
        let hour = at.div_euclid(HOUR_MS);
        hours.push(hour);
        cursor = (hour + 1) * HOUR_MS;
    }
    Ok(hours)
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

/// Deletes events received before `cutoff`, the rollups of the hours they were in, their
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
