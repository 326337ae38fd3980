//! Statistics answers: the legacy `GET /api/stats` shape, the admin dashboard's
//! `GET /api/dashboard/stats` (which keeps the original keys and adds new ones) with its
//! named ranges, the code look-up, and the export's rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::telemetry::{EventKind, is_sha256_hex};

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

/// The named time ranges of the dashboard (`?range=…`), each ending now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RangeName {
    #[serde(rename = "1h")]
    LastHour,
    #[default]
    #[serde(rename = "24h")]
    LastDay,
    #[serde(rename = "7d")]
    LastWeek,
    #[serde(rename = "30d")]
    LastMonth,
    #[serde(rename = "all")]
    AllTime,
}

impl RangeName {
    /// Every range, shortest first, as the dashboard offers them.
    pub const ALL: [RangeName; 5] = [
        Self::LastHour,
        Self::LastDay,
        Self::LastWeek,
        Self::LastMonth,
        Self::AllTime,
    ];

    /// The name in addresses and in [`RangeInfo::label`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LastHour => "1h",
            Self::LastDay => "24h",
            Self::LastWeek => "7d",
            Self::LastMonth => "30d",
            Self::AllTime => "all",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|name| name.as_str() == text)
    }

    /// How far back the range reaches, in milliseconds; `None` for all time.
    pub fn span_ms(self) -> Option<i64> {
        const HOUR_MS: i64 = 3_600_000;
        match self {
            Self::LastHour => Some(HOUR_MS),
            Self::LastDay => Some(24 * HOUR_MS),
            Self::LastWeek => Some(7 * 24 * HOUR_MS),
            Self::LastMonth => Some(30 * 24 * HOUR_MS),
            Self::AllTime => None,
        }
    }
}

/// Which time range the dashboard shows: a named one ending now, or an explicit `[from, to)`
/// in unix milliseconds. The dashboard builds its address and requests with
/// [`Range::query`]; the server reads them back through [`RangeQuery::range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Range {
    Named(RangeName),
    Custom { from: i64, to: i64 },
}

impl Default for Range {
    fn default() -> Self {
        Self::Named(RangeName::default())
    }
}

impl Range {
    /// [`RangeInfo::label`] of the range: its name, or `custom`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Named(name) => name.as_str(),
            Self::Custom { .. } => "custom",
        }
    }

    /// The range as a query string: `range=7d` or `from=…&to=…`.
    pub fn query(self) -> String {
        match self {
            Self::Named(name) => format!("range={}", name.as_str()),
            Self::Custom { from, to } => format!("from={from}&to={to}"),
        }
    }

    /// Whether the range may reach before the first stored event (all time, or explicit), so
    /// the server narrows it to the data.
    pub fn is_open_ended(self) -> bool {
        matches!(self, Self::Named(RangeName::AllTime) | Self::Custom { .. })
    }
}

/// The range's query parameters as they arrive (`range`, or `from` and `to`), read into a
/// [`Range`] by [`RangeQuery::range`] with an error a person can act on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl RangeQuery {
    /// The range asked for: `from` and `to` (both, `from` before `to`), else the named
    /// `range`, else the default (24 hours).
    pub fn range(&self) -> Result<Range, String> {
        let number = |name: &str, value: &Option<String>| -> Result<Option<i64>, String> {
            value
                .as_deref()
                .map(|text| {
                    text.parse::<i64>()
                        .map_err(|_| format!("{name} must be a time in unix milliseconds"))
                })
                .transpose()
        };
        match (number("from", &self.from)?, number("to", &self.to)?) {
            (Some(from), Some(to)) if from >= to => Err("from must be before to".into()),
            (Some(from), Some(to)) => Ok(Range::Custom { from, to }),
            (Some(_), None) | (None, Some(_)) => {
                Err("give both from and to (unix milliseconds), or neither".into())
            }
            (None, None) => match self.range.as_deref() {
                None => Ok(Range::default()),
                Some(text) => RangeName::parse(text).map(Range::Named).ok_or_else(|| {
                    format!(
                        "range must be 1h, 24h, 7d, 30d or all, or give from and to; not {text:?}"
                    )
                }),
            },
        }
    }
}

/// `POST /api/dashboard/lookup` (admin): how often a piece of code ran, asked by the code
/// itself or by its SHA-256. When both are given, the code counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl LookupRequest {
    /// What a person typed: a SHA-256 (64 hex digits, any case, spaces around allowed) is
    /// asked for as a hash, anything else as code.
    pub fn from_input(text: &str) -> Self {
        match Self::normalized_sha256(text) {
            Some(sha256) => Self {
                code: None,
                sha256: Some(sha256),
            },
            None => Self {
                code: Some(text.to_owned()),
                sha256: None,
            },
        }
    }

    /// `text` as a SHA-256 in lowercase hex, if it is one.
    pub fn normalized_sha256(text: &str) -> Option<String> {
        let hash = text.trim().to_ascii_lowercase();
        is_sha256_hex(&hash).then_some(hash)
    }
}

/// The answer of `POST /api/dashboard/lookup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LookupAnswer {
    pub success: bool,
    /// The SHA-256 looked up (of the code, when code was given).
    pub sha256: String,
    pub executions: u64,
    /// When it first and last ran (ISO 8601), if it ever did.
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

/// One stored event as `GET /api/dashboard/export` gives it, in JSON and as a CSV row:
/// everything the server keeps, with the keyed code hash instead of the browser's. The
/// fields' order is the CSV's column order and their names are its header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRow {
    /// When the server received it (ISO 8601).
    pub received_at: String,
    pub event_id: String,
    pub session_id: String,
    pub kind: EventKind,
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
    /// The CSV export's header: the fields' wire names, in order.
    pub const CSV_COLUMNS: [&'static str; 19] = [
        "receivedAt",
        "eventId",
        "sessionId",
        "kind",
        "success",
        "durationMs",
        "errorType",
        "codeKey",
        "codeBytes",
        "stdoutBytes",
        "stderrBytes",
        "package",
        "version",
        "fileExt",
        "fileBytes",
        "pyodideVersion",
        "clientTime",
        "clientAddr",
        "userAgent",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(pairs: &[(&str, &str)]) -> Result<Range, String> {
        let query = pairs
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        let map: BTreeMap<String, String> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let query: RangeQuery =
            serde_json::from_value(serde_json::to_value(map).expect("a map")).expect("the query");
        query.range()
    }

    #[test]
    fn ranges_are_read_back_from_the_query_they_make() {
        for range in RangeName::ALL
            .into_iter()
            .map(Range::Named)
            .chain([Range::Custom { from: 5, to: 9 }])
        {
            let query = range.query();
            let pairs: Vec<(&str, &str)> = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .collect();
            assert_eq!(asked(&pairs), Ok(range), "{query}");
        }
        assert_eq!(asked(&[]), Ok(Range::Named(RangeName::LastDay)));
        assert_eq!(
            asked(&[("range", "7d"), ("from", "1"), ("to", "2")]),
            Ok(Range::Custom { from: 1, to: 2 }),
            "an explicit range wins"
        );
        assert_eq!(Range::Custom { from: 1, to: 2 }.label(), "custom");
        assert!(Range::Named(RangeName::AllTime).is_open_ended());
        assert!(!Range::Named(RangeName::LastMonth).is_open_ended());
    }

    #[test]
    fn bad_ranges_say_what_to_give() {
        for (pairs, message) in [
            (
                &[("range", "1y")][..],
                "range must be 1h, 24h, 7d, 30d or all",
            ),
            (&[("from", "9"), ("to", "5")][..], "from must be before to"),
            (&[("from", "x"), ("to", "5")][..], "from must be a time"),
            (&[("from", "5")][..], "give both from and to"),
            (&[("to", "5")][..], "give both from and to"),
        ] {
            let error = asked(pairs).expect_err("refused");
            assert!(error.starts_with(message), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn range_names_are_the_ones_in_addresses() {
        for name in RangeName::ALL {
            let wire = serde_json::to_value(name).expect("serialises");
            assert_eq!(wire, name.as_str());
            assert_eq!(RangeName::parse(name.as_str()), Some(name));
        }
        assert_eq!(RangeName::default().as_str(), "24h");
        assert_eq!(RangeName::parse("1y"), None);
        assert_eq!(RangeName::LastWeek.span_ms(), Some(7 * 86_400_000));
        assert_eq!(RangeName::AllTime.span_ms(), None);
    }

    #[test]
    fn a_typed_hash_is_looked_up_as_a_hash_and_anything_else_as_code() {
        let hash = "AB".repeat(32);
        assert_eq!(
            serde_json::to_value(LookupRequest::from_input(&format!(" {hash}\n")))
                .expect("serialises"),
            serde_json::json!({"sha256": "ab".repeat(32)})
        );
        assert_eq!(
            serde_json::to_value(LookupRequest::from_input("print(1)")).expect("serialises"),
            serde_json::json!({"code": "print(1)"})
        );
    }
}
