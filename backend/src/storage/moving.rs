//! `backend move-store`: one server's history, from its SQLite store into the PostgreSQL
//! that replicas share.
//!
//! Every event goes as it was stored — original receive time, address prefix, visitor id,
//! keyed code hash — in batches, each one transaction that stores an event only if its
//! `eventId` is new (so a second move, or a replica that stored the same event, keeps it
//! once) and writes its audit log row (the same line the SQLite store's audit file holds,
//! logged at the event's receipt so the retention purge takes both together). The source is
//! read in receive order, so the finished hours behind the batches are complete: they are
//! summarised again every few batches and once more at the end, a few dozen per transaction. The code-hash key goes too, so look-ups of moved code still answer, and the admin
//! token if the target has none. The source is opened read-only; replicas may serve the
//! target meanwhile.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::mpsc;

use super::NewEvent;
use super::postgres::{CodeKeyAdopted, PgStore};
use super::sqlite::{FILE_NAME, Source};
use crate::util::clock::{self, HOUR_MS};
use crate::util::secrets::{ADMIN_TOKEN_FILE, CODE_KEY_FILE};

/// Events per transaction: one multi-row insert of a few megabytes.
const BATCH: usize = 5_000;
/// Batches read ahead of the one being stored.
const READ_AHEAD: usize = 2;
/// Batches between summarising the hours moved so far.
const SUMMARISE_EVERY: usize = 10;

/// Where a move stands, for its progress lines.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Events read from the source so far.
    pub read: u64,
    /// Events the source held when the move began.
    pub total: u64,
    /// Of those read, the ones the target did not have.
    pub new: u64,
    pub elapsed: Duration,
}

/// What a move did.
#[derive(Debug, Clone)]
pub struct Moved {
    pub source: PathBuf,
    pub progress: Progress,
    /// Finished hours that got new events, summarised again.
    pub hours_summarised: usize,
    /// Where the code-hash key was looked for, and how it was kept (`None`: no such file).
    pub code_key: (PathBuf, Option<CodeKeyAdopted>),
    /// Where the admin token was looked for, and whether it was copied (`None`: no such
    /// file).
    pub admin_token: (PathBuf, Option<bool>),
}

impl Progress {
    pub fn per_second(&self) -> f64 {
        self.read as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }
}

/// The SQLite store `from` names: its `events.sqlite3`, or the data directory holding it.
pub fn source_file(from: &Path) -> Result<PathBuf> {
    let file = if from.is_dir() {
        from.join(FILE_NAME)
    } else {
        from.to_path_buf()
    };
    if !file.is_file() {
        bail!(
            "there is no event store at {}: give the SQLite file (data/{FILE_NAME}) or its data directory",
            file.display()
        );
    }
    Ok(file)
}

/// Moves the store at `from` into the PostgreSQL at `to`, telling `progress` after each
/// batch.
pub async fn move_store(
    from: &Path,
    to: &str,
    mut progress: impl FnMut(&Progress),
) -> Result<Moved> {
    let source_path = source_file(from)?;
    let data_dir = source_path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let opening = source_path.clone();
    let (mut source, total) = tokio::task::spawn_blocking(move || {
        let source = Source::open(&opening)?;
        let total = source.count()?;
        Ok::<_, super::StoreError>((source, total))
    })
    .await?
    .with_context(|| format!("could not read {}", source_path.display()))?;
    let target = PgStore::connect(to, tokio::sync::broadcast::channel(1).0)
        .await
        .context("could not open the PostgreSQL store")?;

    // The secrets first: a look-up of moved code answers from the first moved batch on.
    let (code_key_file, admin_token_file) = (
        data_dir.join(CODE_KEY_FILE),
        data_dir.join(ADMIN_TOKEN_FILE),
    );
    let code_key = match read_secret(&code_key_file)? {
        Some(secret) => Some(
            target
                .adopt_code_key(&secret)
                .await
                .context("could not keep the code-hash key in PostgreSQL")?,
        ),
        None => None,
    };
    let admin_token = match read_secret(&admin_token_file)? {
        Some(token) => Some(
            target
                .adopt_admin_token(&token)
                .await
                .context("could not keep the admin token in PostgreSQL")?,
        ),
        None => None,
    };

    let started = Instant::now();
    // SQLite is read on a thread of its own while the previous batch is being stored.
    let (batches, mut incoming) = mpsc::channel(READ_AHEAD);
    let reader = tokio::task::spawn_blocking(move || {
        loop {
            let batch = source.next_batch(BATCH);
            // After the last batch (empty) or a failure, nothing more to read.
            let stop = !matches!(&batch, Ok(events) if !events.is_empty());
            if batches.blocking_send(batch).is_err() || stop {
                return;
            }
        }
    });
    let current_hour = clock::now_ms().div_euclid(HOUR_MS);
    let mut hours = std::collections::BTreeSet::new();
    let mut batches_stored = 0;
    let mut done = Progress {
        read: 0,
        total,
        new: 0,
        elapsed: Duration::ZERO,
    };
    while let Some(batch) = incoming.recv().await {
        let batch: Vec<NewEvent> =
            batch.with_context(|| format!("could not read {}", source_path.display()))?;
        if batch.is_empty() {
            break;
        }
        let inserted = target
            .store_moved(&batch)
            .await
            .context("could not store events in PostgreSQL")?;
        for (new, _) in batch.iter().zip(&inserted).filter(|(_, new)| **new) {
            let hour = new.received_at.div_euclid(HOUR_MS);
            if hour < current_hour {
                hours.insert(hour);
            }
            done.new += 1;
        }
        done.read += batch.len() as u64;
        // A server still writing to the store adds events after it was counted.
        done.total = done.total.max(done.read);
        done.elapsed = started.elapsed();
        progress(&done);
        // Batches come in time order, so the hours behind them are complete: summarised
        // now, replicas' dashboards read them from rollups again during the move, not raw.
        batches_stored += 1;
        if batches_stored % SUMMARISE_EVERY == 0 {
            target
                .catch_up()
                .await
                .context("could not summarise the moved hours")?;
        }
    }
    reader.await.context("the SQLite reader stopped")?;
    // Summarising the touched hours is part of the move: the dashboards read them from
    // rollups again, as before.
    target
        .catch_up()
        .await
        .context("could not summarise the moved hours")?;
    done.elapsed = started.elapsed();
    Ok(Moved {
        source: source_path,
        progress: done,
        hours_summarised: hours.len(),
        code_key: (code_key_file, code_key),
        admin_token: (admin_token_file, admin_token),
    })
}

/// A secret file's content, or `None` if there is no such file.
fn read_secret(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_owned())),
        Ok(_) => Ok(None),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("could not read {}", path.display())),
    }
}
