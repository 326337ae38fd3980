//! Durable storage of telemetry events behind a small trait with two implementations: the
//! embedded SQLite (the default, one process) and PostgreSQL (several replicas on one
//! database, `--database-url`).
//!
//! `insert` resolves only once the events are committed to disk: the ingest endpoint answers
//! 202 after it, so an acknowledged event survives a crash.
//!
//! `moving` takes a SQLite store's history into PostgreSQL (`backend move-store`).

mod hyperloglog;
pub mod moving;
mod percentiles;
mod postgres;
mod recent;
mod sqlite;
mod summary;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::stats::{Entry, ExportRow};
use protocol::telemetry::TelemetryEvent;

pub use self::postgres::{CodeKeyAdopted, PgStore, Secret};
pub use self::sqlite::SqliteStore;

/// How long a finished hour must go untouched before the SQLite store summarises it (again):
/// an import's batches arrive closer together than this, so the hour is summarised once,
/// after the last one.
pub const ROLLUP_QUIET: std::time::Duration = std::time::Duration::from_secs(2);

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An event with what the server adds to it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event: TelemetryEvent,
    /// Unix milliseconds the server received it.
    pub received_at: i64,
    /// Truncated to /24 (IPv4) or /48 (IPv6) unless full addresses are configured.
    pub client_addr: String,
    /// A daily-salted hash of address and user agent, for unique-visitor counts.
    pub visitor_id: String,
    pub user_agent: Option<String>,
    /// HMAC-SHA256 of the browser's code hash under the server secret.
    pub code_key: Option<String>,
}

/// Everything the statistics endpoints show for a time range `[from, to)` (unix ms).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregates {
    pub executions: u64,
    pub successes: u64,
    pub failures: u64,
    pub mean_duration_ms: f64,
    pub p50_duration_ms: f64,
    pub p95_duration_ms: f64,
    pub p99_duration_ms: f64,
    pub last_execution_at: Option<i64>,
    pub unique_visitors: u64,
    pub sessions: u64,
    pub installs: u64,
    pub file_loads: u64,
    pub error_types: Vec<Entry>,
    pub client_addrs: Vec<Entry>,
    pub user_agents: Vec<Entry>,
    pub packages: Vec<Entry>,
    pub code_keys: Vec<Entry>,
    /// 24 equal buckets over the range: (successes, failures).
    pub trend: Vec<(u64, u64)>,
    /// Executions by duration, in [`DURATION_BUCKETS`] order.
    pub duration_histogram: Vec<u64>,
    /// Executions by UTC hour of day (24 numbers).
    pub hour_of_day: Vec<u64>,
}

/// The duration histogram's buckets: a label and the upper bound in milliseconds.
pub const DURATION_BUCKETS: [(&str, f64); 5] = [
    ("< 10 ms", 10.0),
    ("10–100 ms", 100.0),
    ("0.1–1 s", 1000.0),
    ("1–10 s", 10_000.0),
    ("≥ 10 s", f64::INFINITY),
];

/// How often one piece of code ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeRuns {
    pub executions: u64,
    pub first_at: Option<i64>,
    pub last_at: Option<i64>,
}

impl CodeRuns {
    /// The runs of one piece of code counted under two keys.
    pub fn merge(self, other: Self) -> Self {
        Self {
            executions: self.executions + other.executions,
            first_at: match (self.first_at, other.first_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            last_at: self.last_at.max(other.last_at),
        }
    }
}

/// What the store has done since it opened: for `/metrics`, and for tests that check how
/// much work a query took rather than how long.
#[derive(Debug, Default)]
pub struct StoreWork {
    /// Raw events statistics queries read.
    pub raw_events_read: AtomicU64,
    /// Summaries (stored hours, minutes in memory) statistics queries merged.
    pub summaries_merged: AtomicU64,
    /// Hours summarised (including summaries thrown away because the hour changed meanwhile).
    pub rollups_computed: AtomicU64,
    /// Hour summaries stored.
    pub rollups_stored: AtomicU64,
    /// Reads interrupted because their caller went away.
    pub reads_cancelled: AtomicU64,
    /// Counts the writes that changed the stored events (so cached figures know they are stale).
    pub changes: AtomicU64,
}

impl StoreWork {
    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Acquire)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage failed: {0}")]
    Database(String),
    /// The database cannot be reached (down, restarting, the network): try again later.
    #[error("the database is unreachable: {0}")]
    Unavailable(String),
    #[error("the storage writer has stopped")]
    WriterGone,
}

/// Where events live.
pub trait EventStore: Send + Sync + 'static {
    /// Stores events durably, each at most once by `eventId`; for each, `true` if it was new.
    fn insert(&self, events: Vec<NewEvent>) -> BoxFuture<Result<Vec<bool>, StoreError>>;
    /// The aggregates over `[from, to)`; see `summary` for which figures are estimates when
    /// the range spans stored hourly rollups.
    fn aggregates(&self, from: i64, to: i64) -> BoxFuture<Result<Aggregates, StoreError>>;
    /// Only the counts, the mean duration and the trends over `[from, to)` (lists,
    /// percentiles and unique counts left empty): the cheap part of [`EventStore::aggregates`].
    fn counts(&self, from: i64, to: i64) -> BoxFuture<Result<Aggregates, StoreError>>;
    /// When the earliest stored event was received, if there is one.
    fn first_event_at(&self) -> BoxFuture<Result<Option<i64>, StoreError>>;
    /// How often code with this key ran.
    fn code_runs(&self, code_key: String) -> BoxFuture<Result<CodeRuns, StoreError>>;
    /// The secrets of code-hash keys other than the server's own that stored events' keys
    /// were made with (a store moved in with another key); look-ups ask with each too.
    fn former_code_keys(&self) -> BoxFuture<Result<Vec<String>, StoreError>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
    /// Every event received in `[from, to)`, oldest first.
    fn export(&self, from: i64, to: i64) -> BoxFuture<Result<Vec<ExportRow>, StoreError>>;
    /// Deletes events received before `cutoff`; returns how many.
    fn purge_before(&self, cutoff: i64) -> BoxFuture<Result<u64, StoreError>>;
    /// The hourly retention purge: [`EventStore::purge_before`], unless another server on
    /// the same database purged less than an hour ago (then `None`).
    fn purge_hourly(&self, cutoff: i64) -> BoxFuture<Result<Option<u64>, StoreError>> {
        let purge = self.purge_before(cutoff);
        Box::pin(async move { purge.await.map(Some) })
    }
    /// Whether the database answers (an embedded one always does).
    fn reachable(&self) -> BoxFuture<bool> {
        Box::pin(std::future::ready(true))
    }
    /// What the store has done since it opened.
    fn work(&self) -> &StoreWork;
}

/// One stored event as the audit log keeps it: the event without its code hash, with the
/// server's fields (the structured successor of the original `security.log`).
fn audit_line(new: &NewEvent) -> serde_json::Value {
    let mut line = serde_json::to_value(&new.event).unwrap_or_default();
    if let Some(fields) = line.as_object_mut() {
        fields.remove("codeSha256");
        fields.insert(
            "receivedAt".into(),
            crate::util::clock::iso(new.received_at).into(),
        );
        fields.insert("clientAddr".into(), new.client_addr.clone().into());
        fields.insert("visitorId".into(), new.visitor_id.clone().into());
        fields.insert("userAgent".into(), new.user_agent.clone().into());
        fields.insert("codeKey".into(), new.code_key.clone().into());
    }
    line
}
