//! Durable storage of telemetry events behind a small trait, so a server database can
//! replace the embedded SQLite when one machine is not enough.
//!
//! `insert` resolves only once the events are on disk: the ingest endpoint answers 202 after
//! it, so an acknowledged event survives a crash.

mod sqlite;
mod summary;

use std::future::Future;
use std::pin::Pin;

use protocol::stats::Entry;
use protocol::telemetry::TelemetryEvent;

pub use self::sqlite::SqliteStore;

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

/// One stored event as exported: everything the server keeps, the keyed code hash instead
/// of the browser's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRow {
    pub received_at: String,
    pub event_id: String,
    pub session_id: String,
    pub kind: String,
    pub success: Option<bool>,
    pub duration_ms: Option<f64>,
    pub error_type: Option<String>,
    pub code_key: Option<String>,
    pub code_bytes: Option<i64>,
    pub stdout_bytes: Option<i64>,
    pub stderr_bytes: Option<i64>,
    pub package: Option<String>,
    pub version: Option<String>,
    pub file_ext: Option<String>,
    pub file_bytes: Option<i64>,
    pub pyodide_version: Option<String>,
    pub client_time: Option<String>,
    pub client_addr: String,
    pub user_agent: Option<String>,
}

impl ExportRow {
    pub const CSV_HEADER: &'static str = "receivedAt,eventId,sessionId,kind,success,durationMs,errorType,codeKey,codeBytes,stdoutBytes,stderrBytes,package,version,fileExt,fileBytes,pyodideVersion,clientTime,clientAddr,userAgent";

    /// The cells in [`Self::CSV_HEADER`]'s order.
    pub fn csv_cells(&self) -> Vec<String> {
        fn text(value: &Option<String>) -> String {
            value.clone().unwrap_or_default()
        }
        fn number<T: ToString>(value: &Option<T>) -> String {
            value.as_ref().map(ToString::to_string).unwrap_or_default()
        }
        vec![
            self.received_at.clone(),
            self.event_id.clone(),
            self.session_id.clone(),
            self.kind.clone(),
            number(&self.success),
            number(&self.duration_ms),
            text(&self.error_type),
            text(&self.code_key),
            number(&self.code_bytes),
            number(&self.stdout_bytes),
            number(&self.stderr_bytes),
            text(&self.package),
            text(&self.version),
            text(&self.file_ext),
            number(&self.file_bytes),
            text(&self.pyodide_version),
            text(&self.client_time),
            self.client_addr.clone(),
            text(&self.user_agent),
        ]
    }
}

/// How often one piece of code ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeRuns {
    pub executions: u64,
    pub first_at: Option<i64>,
    pub last_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failed: {0}")]
    Database(String),
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
    /// How often code with this key ran.
    fn code_runs(&self, code_key: String) -> BoxFuture<Result<CodeRuns, StoreError>>;
    /// Every event received in `[from, to)`, oldest first.
    fn export(&self, from: i64, to: i64) -> BoxFuture<Result<Vec<ExportRow>, StoreError>>;
    /// Deletes events received before `cutoff`; returns how many.
    fn purge_before(&self, cutoff: i64) -> BoxFuture<Result<u64, StoreError>>;
}
