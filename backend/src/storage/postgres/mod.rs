//! The server database store: PostgreSQL 14 or newer, for several stateless replicas
//! behind a load balancer. Everything replicas must agree on lives in the database.
//!
//! - `writer`: a task per replica commits every waiting insert in one transaction (group
//!   commit, `synchronous_commit` on) with one multi-row `INSERT … ON CONFLICT (event_id) DO
//!   NOTHING`, so an event sent to two replicas is stored once; the audit log rows and a
//!   `NOTIFY` go in the same transaction.
//! - `rollups`: finished hours are summarised into `hourly_rollups`, and the finished
//!   minutes of the hours not summarised yet into `minute_rollups`, by whichever replica
//!   holds the rollup advisory lock; the others skip. An insert into a summarised hour (an
//!   import) deletes its rollup and marks it pending under the same lock; one into a
//!   summarised minute deletes the minute's rollup, which is made again on the next run.
//! - `queries`: a range's statistics merge the stored rollups of its whole hours, then of
//!   its whole minutes, with raw events for the rest, in one repeatable-read snapshot.
//!   Unlike SQLite the minute summaries are in the database, not in memory (another
//!   replica's events would be missing there), so only the last minute or two is read raw.
//! - `listen`: a connection per replica `LISTEN`s for other replicas' inserts and wakes the
//!   live dashboards.
//! - `shared`: the daily visitor salt, deployment secrets (and the former code-hash keys of
//!   stores moved in) and admin sessions.
//! - `tls`: libpq's TLS parameters (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) read
//!   from the URL into one rustls configuration that every connection uses.
//!
//! A failure to reach the database is [`StoreError::Unavailable`]: ingest answers 503 with
//! `Retry-After`, and the pool reconnects by itself once the database is back.

mod listen;
mod queries;
mod rollups;
mod schema;
mod shared;
pub mod tls;
mod writer;

pub use self::shared::{CodeKeyAdopted, Secret};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use protocol::stats::ExportRow;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::{Aggregates, BoxFuture, CodeRuns, EventStore, NewEvent, StoreError, StoreWork};
use crate::storage::summary::RangeStats;

/// Advisory lock keys (`pg_advisory_lock`): arbitrary, fixed numbers of this application.
const MIGRATION_LOCK: i64 = 0x776f_726b_0001;
const ROLLUP_LOCK: i64 = 0x776f_726b_0002;
/// The channel replicas `NOTIFY` on after storing events.
const CHANNEL: &str = "workbench_events";
/// Pooled connections per replica: the writer, the summariser, the listener's own, and a
/// few dashboards.
const POOL_SIZE: usize = 12;
/// How long a request waits for a connection, or for one to be made, before the database
/// counts as unreachable.
const CONNECT_WAIT: Duration = Duration::from_secs(3);

/// A cheap-to-clone handle on the PostgreSQL store; its tasks stop when the last is dropped.
#[derive(Debug, Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// Where inserts queue for the writer task.
    writer: mpsc::UnboundedSender<writer::Insert>,
    /// What reads and summaries have done, for `/metrics` and tests.
    work: Arc<StoreWork>,
    /// Stored rollups already decoded.
    rollups: Arc<queries::Caches>,
    /// Today's visitor salt once read, so a request needs no round trip for it.
    salt: Mutex<Option<(i64, [u8; 32])>>,
    /// The writer, the summariser and the listener.
    tasks: Vec<JoinHandle<()>>,
}

/// Shows nothing of the salt (it is never logged), nor of the connections' settings.
impl std::fmt::Debug for Inner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PgStore")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`), migrates under the
    /// migration lock, and starts the writer, the summariser and the listener. `changes` is
    /// told whenever any replica stored events.
    pub async fn connect(url: &str, changes: broadcast::Sender<()>) -> Result<Self, StoreError> {
        let mut target = tls::Target::parse(url).map_err(StoreError::Database)?;
        target.config.connect_timeout(CONNECT_WAIT);
        target.config.application_name("pyodide-workbench");
        if let Err(error) = schema::migrate(&target).await {
            // A server that does not speak TLS at all fails before any handshake, with no
            // cause to read: ask it plainly.
            if target.mode != tls::SslMode::Disable
                && target.mode != tls::SslMode::Prefer
                && matches!(error, StoreError::Unavailable(_))
                && tls::server_refuses_tls(&target.config).await == Some(true)
            {
                return Err(StoreError::Unavailable(format!(
                    "the database does not offer TLS, and sslmode={} needs it: turn on ssl in the \
                     database server, or lower sslmode (prefer, disable) on a private network",
                    target.mode.name()
                )));
            }
            return Err(error);
        }
        let manager = Manager::from_config(
            target.config.clone(),
            target.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_WAIT))
            .create_timeout(Some(CONNECT_WAIT))
            .recycle_timeout(Some(CONNECT_WAIT))
            .build()
            .map_err(database)?;
        let work = Arc::new(StoreWork::default());
        let (sender, receiver) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(writer::run(pool.clone(), receiver, Arc::clone(&work))),
            tokio::spawn(rollups::run(pool.clone(), Arc::clone(&work))),
            tokio::spawn(listen::run(target, changes, Arc::clone(&work))),
        ];
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                writer: sender,
                work,
                rollups: Arc::default(),
                salt: Mutex::new(None),
                tasks,
            }),
        })
    }

    /// Summarises every finished hour that has no rollup yet (waiting for another replica
    /// doing so), and returns how many hours have one: for tests and benchmarks.
    pub fn catch_up(&self) -> BoxFuture<Result<usize, StoreError>> {
        let pool = self.inner.pool.clone();
        let work = Arc::clone(&self.inner.work);
        Box::pin(async move {
            while rollups::summarise(&pool, &work, rollups::Wait::Yes).await?
                == rollups::More::Pending
            {}
            let client = pool.get().await.map_err(unavailable)?;
            let count: i64 = client
                .query_one("SELECT COUNT(*) FROM hourly_rollups", &[])
                .await
                .map_err(classify)?
                .get(0);
            Ok(usize::try_from(count).unwrap_or(0))
        })
    }

    /// Stores events moved from another store (`backend move-store`) in one transaction,
    /// past the writer's queue: each at most once by `eventId`, with its audit log row logged
    /// at its receipt, and the rollups of its hour (if summarised) made again. For each event,
    /// whether it was new.
    pub async fn store_moved(&self, events: &[NewEvent]) -> Result<Vec<bool>, StoreError> {
        let events: Vec<&NewEvent> = events.iter().collect();
        let inserted =
            writer::write_group(&self.inner.pool, &events, writer::Logged::AtReceipt).await?;
        if inserted.iter().any(|new| *new) {
            self.inner
                .work
                .changes
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        Ok(inserted)
    }

    fn pool(&self) -> Pool {
        self.inner.pool.clone()
    }
}

impl EventStore for PgStore {
    fn insert(&self, events: Vec<NewEvent>) -> BoxFuture<Result<Vec<bool>, StoreError>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = self.inner.writer.send(writer::Insert { events, reply });
        Box::pin(async move {
            sent.map_err(|_| StoreError::WriterGone)?;
            answer.await.map_err(|_| StoreError::WriterGone)?
        })
    }

    fn aggregates(&self, from: i64, to: i64) -> BoxFuture<Result<Aggregates, StoreError>> {
        let (pool, work) = (self.pool(), Arc::clone(&self.inner.work));
        let cache = Arc::clone(&self.inner.rollups);
        Box::pin(async move {
            queries::aggregates(&pool, &work, &cache, RangeStats::new(from, to)).await
        })
    }

    fn counts(&self, from: i64, to: i64) -> BoxFuture<Result<Aggregates, StoreError>> {
        let (pool, work) = (self.pool(), Arc::clone(&self.inner.work));
        let cache = Arc::clone(&self.inner.rollups);
        Box::pin(async move {
            queries::aggregates(&pool, &work, &cache, RangeStats::counts_only(from, to)).await
        })
    }

    fn first_event_at(&self) -> BoxFuture<Result<Option<i64>, StoreError>> {
        let pool = self.pool();
        Box::pin(async move {
            let client = pool.get().await.map_err(unavailable)?;
            let row = client
                .query_one("SELECT MIN(received_at) FROM events", &[])
                .await
                .map_err(classify)?;
            Ok(row.get(0))
        })
    }

    fn code_runs(&self, code_key: String) -> BoxFuture<Result<CodeRuns, StoreError>> {
        let pool = self.pool();
        Box::pin(async move { queries::code_runs(&pool, &code_key).await })
    }

    fn former_code_keys(&self) -> BoxFuture<Result<Vec<String>, StoreError>> {
        let store = self.clone();
        Box::pin(async move { store.former_code_keys().await })
    }

    fn export(&self, from: i64, to: i64) -> BoxFuture<Result<Vec<ExportRow>, StoreError>> {
        let pool = self.pool();
        Box::pin(async move { queries::export(&pool, from, to).await })
    }

    fn purge_before(&self, cutoff: i64) -> BoxFuture<Result<u64, StoreError>> {
        let (pool, work) = (self.pool(), Arc::clone(&self.inner.work));
        Box::pin(async move { rollups::purge_before(&pool, &work, cutoff).await })
    }

    fn purge_hourly(&self, cutoff: i64) -> BoxFuture<Result<Option<u64>, StoreError>> {
        let (pool, work) = (self.pool(), Arc::clone(&self.inner.work));
        Box::pin(async move {
            if !rollups::claim_hourly_purge(&pool).await? {
                return Ok(None);
            }
            rollups::purge_before(&pool, &work, cutoff).await.map(Some)
        })
    }

    fn reachable(&self) -> BoxFuture<bool> {
        let pool = self.pool();
        Box::pin(async move {
            let check = async {
                let client = match pool.get().await {
                    Ok(client) => client,
                    Err(error) => {
                        // Said with its cause: an expired certificate after a reconnect reads
                        // as such, not as a bare "unreachable".
                        let cause = match &error {
                            deadpool_postgres::PoolError::Backend(error) => {
                                tls::explain(error).unwrap_or_else(|| error.to_string())
                            }
                            other => other.to_string(),
                        };
                        tracing::warn!("the database is unreachable: {cause}");
                        return None;
                    }
                };
                match client.simple_query("SELECT 1").await {
                    Ok(answer) => Some(answer),
                    Err(error) => {
                        tracing::warn!("the database's health check failed: {}", classify(error));
                        None
                    }
                }
            };
            matches!(tokio::time::timeout(CONNECT_WAIT, check).await, Ok(Some(_)))
        })
    }

    fn work(&self) -> &StoreWork {
        &self.inner.work
    }
}

fn database(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(error.to_string())
}

/// The pool could not give a connection: the database is down or unreachable.
fn unavailable(error: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// A driver error: a broken or refused connection (the database is away, restarting or
/// shutting down) is [`StoreError::Unavailable`], anything else a plain failure.
fn classify(error: tokio_postgres::Error) -> StoreError {
    let away = match error.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
    };
    // The driver's own text is only "db error"; the server's message says what went wrong,
    // and a TLS failure its cause, with the parameter to change.
    let details = match (error.as_db_error(), tls::explain(&error)) {
        (Some(server), _) => format!("{error}: {server}"),
        (None, Some(explained)) => explained,
        (None, None) => error.to_string(),
    };
    if away {
        StoreError::Unavailable(details)
    } else {
        StoreError::Database(details)
    }
}
