//! Statistics answers: the legacy `GET /api/stats` shape, and the admin dashboard's
//! `GET /api/dashboard/stats`, which keeps the original keys and adds new ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /api/stats`: the original service's shape, with no addresses in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyStats {
    /// Seconds since the server started.
    pub uptime: f64,
    /// Whether this server serves a Pyodide distribution (Python runs in the browser).
    pub pyodide_ready: bool,
    pub execution_stats: LegacyExecutionStats,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyExecutionStats {
    pub total_executions: u64,
    /// Successful executions as a fraction of all (0 when there are none).
    pub success_rate: f64,
    /// Mean duration in milliseconds.
    pub average_execution_time: f64,
    /// Failed executions by error type.
    pub error_categories: BTreeMap<String, u64>,
    /// Executions in the last 24 hours by UTC hour of day (24 numbers).
    pub hourly_trend: Vec<u64>,
}

/// A name and how often it occurred, most frequent first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub count: u64,
}

/// `GET /api/dashboard/stats?range=…`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardStats {
    pub success: bool,
    pub range: RangeInfo,
    pub stats: Dashboard,
    /// When this answer was made (ISO 8601).
    pub timestamp: String,
}

/// The time range the numbers cover, as unix milliseconds `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeInfo {
    pub label: String,
    pub from: i64,
    pub to: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub overview: Overview,
    pub recent: Recent,
    #[serde(rename = "topIPs")]
    pub top_ips: Vec<Entry>,
    pub top_errors: Vec<Entry>,
    pub user_agents: Vec<Entry>,
    /// As in `/api/stats`: the last 24 hours by UTC hour of day.
    pub hourly_trend: Vec<u64>,
    /// The range in 24 equal buckets, oldest first.
    pub trend: Vec<TrendBucket>,
    /// Installs per package.
    pub packages: Vec<Entry>,
    /// Executions per keyed code hash (HMAC of the browser's SHA-256), most frequent first.
    pub top_code_hashes: Vec<Entry>,
    /// Executions by duration, shortest bucket first (every bucket, even when empty).
    pub duration_histogram: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub total_executions: u64,
    pub successful_executions: u64,
    pub failed_executions: u64,
    /// Percent with one decimal, as a string, as the original dashboard sent it.
    pub success_rate: String,
    /// Mean duration in whole milliseconds.
    pub average_execution_time: u64,
    pub p50_duration_ms: f64,
    pub p95_duration_ms: f64,
    pub p99_duration_ms: f64,
    pub unique_visitors: u64,
    pub sessions: u64,
    pub last_execution_time: Option<String>,
    pub uptime_seconds: u64,
    pub uptime_human: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recent {
    pub last_hour_executions: u64,
    pub packages_installed: u64,
    pub files_uploaded: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendBucket {
    /// Unix milliseconds of the bucket's start.
    pub start: i64,
    pub successes: u64,
    pub failures: u64,
}

/// `POST /api/dashboard/import` (admin): events with the times and origins they had, for
/// moving data from another installation or seeding a demonstration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportBatch {
    pub events: Vec<ImportedEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportedEvent {
    /// When the event was received, in unix milliseconds.
    pub received_at: i64,
    pub event: crate::telemetry::TelemetryEvent,
    /// The address as it should be stored (already truncated, if it should be).
    #[serde(default)]
    pub client_addr: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}
