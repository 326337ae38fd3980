//! Statistics: the public legacy `GET /api/stats` (no addresses), and the admin-only
//! dashboard numbers and code look-up.

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use protocol::stats::{
    Dashboard, DashboardStats, Entry, ExportRow, LegacyExecutionStats, LegacyStats, LookupAnswer,
    LookupRequest, Overview, Range, RangeInfo, RangeQuery, Recent, TrendBucket,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::features::admin::Admin;
use crate::http::client::{ClientKey, Site};
use crate::http::error::AppError;
use crate::storage::DURATION_BUCKETS;
use crate::util::clock::{self, DAY_MS, HOUR_MS};
use crate::util::privacy::CodeKeyer;

/// `GET /api/stats`: all-time totals in the original service's shape, from the public
/// snapshot (at most a second old when events keep arriving).
pub async fn legacy(State(state): State<AppState>) -> Result<Json<LegacyStats>, AppError> {
    let figures = state.public().get(state.store().as_ref()).await?;
    let totals = &figures.totals;
    Ok(Json(LegacyStats {
        uptime: state.uptime().as_secs_f64(),
        pyodide_ready: state.serves_pyodide(),
        execution_stats: LegacyExecutionStats {
            total_executions: totals.executions,
            success_rate: ratio(totals.successes, totals.executions),
            average_execution_time: totals.mean_duration_ms,
            error_categories: totals
                .error_types
                .iter()
                .map(|entry| (entry.name.clone(), entry.count))
                .collect::<BTreeMap<_, _>>(),
            hourly_trend: figures.hour_of_day.clone(),
        },
    }))
}

/// `GET /api/dashboard/stats?range=1h|24h|7d|30d|all` or `?from=…&to=…` (unix ms).
pub async fn dashboard(
    _admin: Admin,
    State(state): State<AppState>,
    Query(query): Query<RangeQuery>,
) -> Result<Json<DashboardStats>, AppError> {
    dashboard_stats(&state, asked_range(&query)?)
        .await
        .map(Json)
}

/// `GET /api/dashboard/live?range=…`: server-sent events, one `stats` event at once and one
/// after each change; the statistics are computed once per change for every stream of the
/// same range (see `live`).
pub async fn live(
    _admin: Admin,
    State(state): State<AppState>,
    site: Site,
    Query(query): Query<RangeQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let range = asked_range(&query)?;
    let subscription = state
        .live()
        .subscribe(&state, ClientKey::of(site.client), range)?;
    let stream = futures_util::stream::unfold(subscription, |mut subscription| async move {
        let frame = subscription.next().await?;
        let event = Event::default().event(frame.event).data(&frame.data);
        Some((Ok(event), subscription))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `GET /api/dashboard/export?format=csv|json&range=…`: the range's events, as stored.
pub async fn export(
    _admin: Admin,
    State(state): State<AppState>,
    Query(query): Query<RangeQuery>,
    Query(format): Query<ExportFormat>,
) -> Result<Response, AppError> {
    let now = clock::now_ms();
    let range = within_data(&state, asked_range(&query)?, now).await?;
    let rows = state.store().export(range.from, range.to).await?;
    let name = format!("workbench-events-{}", range.label);
    match format.format.as_deref().unwrap_or("csv") {
        "json" => {
            let body = serde_json::to_vec(&rows).map_err(internal)?;
            Ok(download(&format!("{name}.json"), "application/json", body))
        }
        "csv" => Ok(download(
            &format!("{name}.csv"),
            "text/csv; charset=utf-8",
            to_csv(&rows).map_err(internal)?,
        )),
        other => Err(AppError::BadRequest(format!(
            "format must be csv or json, not {other:?}"
        ))),
    }
}

/// The export's `format` parameter (its own message when it is neither `csv` nor `json`).
#[derive(Debug, Deserialize)]
pub struct ExportFormat {
    format: Option<String>,
}

fn download(file_name: &str, content_type: &'static str, body: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{file_name}\"");
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        body,
    )
        .into_response()
}

/// CSV with a header row. Cells that a spreadsheet would read as a formula are prefixed
/// with `'`: user agents and error types come from clients and may be hostile.
pub fn to_csv(rows: &[ExportRow]) -> Result<Vec<u8>, csv::Error> {
    // The header is written by hand so that an empty export still has one.
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(ExportRow::CSV_COLUMNS)?;
    for row in rows {
        writer.serialize(defused(row.clone()))?;
    }
    writer
        .into_inner()
        .map_err(|error| error.into_error().into())
}

/// The row with every text cell guarded against being read as a formula. (The pattern
/// names every field, so a new one cannot be forgotten here.)
fn defused(row: ExportRow) -> ExportRow {
    let ExportRow {
        received_at,
        event_id,
        session_id,
        kind,
        success,
        duration_ms,
        error_type,
        code_key,
        code_bytes,
        stdout_bytes,
        stderr_bytes,
        package,
        version,
        file_ext,
        file_bytes,
        pyodide_version,
        client_time,
        client_addr,
        user_agent,
    } = row;
    let maybe = |text: Option<String>| text.map(formula_guard);
    ExportRow {
        received_at: formula_guard(received_at),
        event_id: formula_guard(event_id),
        session_id: formula_guard(session_id),
        kind,
        success,
        duration_ms,
        error_type: maybe(error_type),
        code_key: maybe(code_key),
        code_bytes,
        stdout_bytes,
        stderr_bytes,
        package: maybe(package),
        version: maybe(version),
        file_ext: maybe(file_ext),
        file_bytes,
        pyodide_version: maybe(pyodide_version),
        client_time: maybe(client_time),
        client_addr: formula_guard(client_addr),
        user_agent: maybe(user_agent),
    }
}

fn formula_guard(value: String) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value
    }
}

pub(crate) async fn dashboard_stats(
    state: &AppState,
    asked: Range,
) -> Result<DashboardStats, AppError> {
    let now = clock::now_ms();
    let range = within_data(state, asked, now).await?;
    let store = state.store();
    let numbers = store.aggregates(range.from, range.to).await?;
    // The last 24 hours' executions by hour of day, and the last hour's count: counts only.
    let end = clock::end_of_minute(now);
    let hourly_trend = if (range.from, range.to) == (end - DAY_MS, end) {
        numbers.hour_of_day.clone()
    } else {
        store.counts(end - DAY_MS, end).await?.hour_of_day
    };
    let last_hour = store.counts(end - HOUR_MS, end).await?;
    let uptime = state.uptime().as_secs();
    let bucket_ms = (range.to - range.from) / 24;
    let trend = numbers
        .trend
        .iter()
        .enumerate()
        .map(|(index, (successes, failures))| TrendBucket {
            start: range.from + bucket_ms * index as i64,
            successes: *successes,
            failures: *failures,
        })
        .collect();
    Ok(DashboardStats {
        success: true,
        stats: Dashboard {
            overview: Overview {
                total_executions: numbers.executions,
                successful_executions: numbers.successes,
                failed_executions: numbers.failures,
                success_rate: format!(
                    "{:.1}",
                    ratio(numbers.successes, numbers.executions) * 100.0
                ),
                average_execution_time: numbers.mean_duration_ms.round() as u64,
                p50_duration_ms: numbers.p50_duration_ms,
                p95_duration_ms: numbers.p95_duration_ms,
                p99_duration_ms: numbers.p99_duration_ms,
                unique_visitors: numbers.unique_visitors,
                sessions: numbers.sessions,
                last_execution_time: numbers.last_execution_at.map(clock::iso),
                uptime_seconds: uptime,
                uptime_human: human_duration(uptime),
            },
            recent: Recent {
                last_hour_executions: last_hour.executions,
                packages_installed: numbers.installs,
                files_uploaded: numbers.file_loads,
            },
            top_ips: numbers.client_addrs,
            top_errors: numbers.error_types,
            user_agents: numbers.user_agents,
            hourly_trend,
            trend,
            packages: numbers.packages,
            top_code_hashes: numbers.code_keys,
            duration_histogram: DURATION_BUCKETS
                .iter()
                .zip(numbers.duration_histogram)
                .map(|((label, _), count)| Entry {
                    name: (*label).to_owned(),
                    count,
                })
                .collect(),
        },
        range,
        timestamp: clock::iso(now),
    })
}

/// `POST /api/dashboard/lookup {code} | {sha256}`: how often and when a piece of code ran.
pub async fn lookup(
    _admin: Admin,
    State(state): State<AppState>,
    crate::http::extract::Json(lookup): crate::http::extract::Json<LookupRequest>,
) -> Result<Json<LookupAnswer>, AppError> {
    let sha256 = match (lookup.code, lookup.sha256) {
        (Some(code), _) => hex::encode(Sha256::digest(code.as_bytes())),
        (None, Some(hash)) => LookupRequest::normalized_sha256(&hash)
            .ok_or_else(|| AppError::BadRequest("sha256 must be 64 hex digits".into()))?,
        (None, None) => return Err(AppError::BadRequest("give the code or its sha256".into())),
    };
    let mut runs = state.store().code_runs(state.keyer().key(&sha256)).await?;
    // Events moved in from a store with another key keep the hashes that key made.
    for secret in state.store().former_code_keys().await? {
        let key = CodeKeyer::from_secret(&secret).key(&sha256);
        runs = runs.merge(state.store().code_runs(key).await?);
    }
    Ok(Json(LookupAnswer {
        success: true,
        sha256,
        executions: runs.executions,
        first_seen: runs.first_at.map(clock::iso),
        last_seen: runs.last_at.map(clock::iso),
    }))
}

/// The range a request's query asks for, or a 400 saying what to give.
fn asked_range(query: &RangeQuery) -> Result<Range, AppError> {
    query.range().map_err(AppError::BadRequest)
}

/// A range's bounds now. Named ranges are whole minutes, up to the end of the current one;
/// all time reaches back to the epoch (and is narrowed to the data by `within_data`).
fn resolve_range(range: Range, now: i64) -> RangeInfo {
    let (from, to) = match range {
        Range::Custom { from, to } => (from, to),
        Range::Named(name) => {
            let end = clock::end_of_minute(now);
            (end - name.span_ms().unwrap_or(end), end)
        }
    };
    RangeInfo {
        label: range.label().to_owned(),
        from,
        to,
    }
}

/// An explicit or all-time range narrowed to the stored data — from the first stored event
/// to the end of the current minute — so its trend's 24 buckets span something and no
/// arithmetic on it overflows. (The named spans are left as they are: their trend shows the
/// whole span.)
async fn within_data(state: &AppState, asked: Range, now: i64) -> Result<RangeInfo, AppError> {
    let range = resolve_range(asked, now);
    if !asked.is_open_ended() {
        return Ok(range);
    }
    let first = state
        .store()
        .first_event_at()
        .await?
        .unwrap_or(now)
        .min(now);
    let end = clock::end_of_minute(now);
    let from = range.from.clamp(first, end);
    let to = range.to.clamp(first, end).max(from);
    Ok(RangeInfo { from, to, ..range })
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn human_duration(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m {}s", seconds % 60),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h {minutes}m"),
    }
}

fn internal(error: impl std::fmt::Display) -> AppError {
    AppError::Internal(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_ranges_are_whole_minutes_up_to_the_end_of_the_current_one() {
        let now = 10 * DAY_MS;
        let day = resolve_range(Range::default(), now);
        assert_eq!(
            (day.label.as_str(), day.from, day.to),
            ("24h", now + 60_000 - DAY_MS, now + 60_000)
        );
        let week = resolve_range(Range::Named(protocol::stats::RangeName::LastWeek), now + 1);
        assert_eq!(week.from, now + 60_000 - 7 * DAY_MS);
        let custom = resolve_range(Range::Custom { from: 5, to: 9 }, now);
        assert_eq!(
            (custom.label.as_str(), custom.from, custom.to),
            ("custom", 5, 9)
        );
    }

    /// One cell as the export writes it.
    fn csv_cell(value: &str) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer
            .write_record([formula_guard(value.to_owned())])
            .expect("writes");
        let line = String::from_utf8(writer.into_inner().expect("flushes")).expect("UTF-8");
        line.strip_suffix('\n').expect("one line").to_owned()
    }

    fn row(user_agent: &str) -> ExportRow {
        ExportRow {
            received_at: "2026-11-29T10:00:00.000Z".into(),
            event_id: "e-1".into(),
            session_id: "s-1".into(),
            kind: protocol::telemetry::EventKind::Execution,
            success: Some(false),
            duration_ms: Some(12.5),
            error_type: Some("-ValueError".into()),
            code_key: Some("ab".repeat(32)),
            code_bytes: Some(10),
            stdout_bytes: None,
            stderr_bytes: Some(0),
            package: None,
            version: None,
            file_ext: None,
            file_bytes: None,
            pyodide_version: Some("0.27.7".into()),
            client_time: None,
            client_addr: "127.0.0.0/24".into(),
            user_agent: Some(user_agent.into()),
        }
    }

    #[test]
    fn the_csv_header_names_every_column_in_order() {
        let csv =
            String::from_utf8(to_csv(&[row("Agent, \"quoted\"")]).expect("csv")).expect("UTF-8");
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some(
                "receivedAt,eventId,sessionId,kind,success,durationMs,errorType,codeKey,codeBytes,stdoutBytes,stderrBytes,package,version,fileExt,fileBytes,pyodideVersion,clientTime,clientAddr,userAgent"
            )
        );
        assert_eq!(
            lines.next(),
            Some(
                format!(
                    "2026-11-29T10:00:00.000Z,e-1,s-1,execution,false,12.5,'-ValueError,{},10,,0,,,,,0.27.7,,127.0.0.0/24,\"Agent, \"\"quoted\"\"\"",
                    "ab".repeat(32)
                )
                .as_str()
            )
        );
        assert_eq!(lines.next(), None);
        // The header is there when nothing is exported too.
        let empty = String::from_utf8(to_csv(&[]).expect("csv")).expect("UTF-8");
        assert_eq!(empty.lines().count(), 1);
    }

    #[test]
    fn the_written_header_is_the_rows_own() {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(row("Agent")).expect("writes");
        let csv = String::from_utf8(writer.into_inner().expect("flushes")).expect("UTF-8");
        assert_eq!(
            csv.lines().next(),
            Some(ExportRow::CSV_COLUMNS.join(",").as_str())
        );
    }

    #[test]
    fn csv_cells_are_quoted_and_cannot_become_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
    }

    #[test]
    fn uptime_reads_like_a_person_would_say_it() {
        assert_eq!(human_duration(59), "0m 59s");
        assert_eq!(human_duration(3 * 3600 + 120), "3h 2m");
        assert_eq!(human_duration(2 * 86_400 + 3600), "2d 1h 0m");
    }
}
