//! `GET /metrics` in Prometheus' text format: counters since start, the stored totals (from
//! the public snapshot, at most a second old), and the work the statistics took. It holds
//! counts only — no addresses, agents or hashes.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::AppState;
use crate::http::error::AppError;

pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let figures = state
        .public()
        .get(state.store().as_ref())
        .await
        .map_err(|error| AppError::Internal(error.to_string()))?;
    let stored = &figures.totals;
    let counters = state.counters();
    let work = state.store().work();
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let mut text = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(text, "{name}{labels} {value}");
        }
    };
    metric(
        "workbench_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        &[("", state.uptime().as_secs())],
    );
    metric(
        "workbench_telemetry_events_total",
        "counter",
        "Telemetry events received since start, by outcome.",
        &[
            ("{outcome=\"accepted\"}", read(&counters.accepted)),
            ("{outcome=\"duplicate\"}", read(&counters.duplicates)),
            ("{outcome=\"rejected\"}", read(&counters.rejected)),
        ],
    );
    metric(
        "workbench_telemetry_rate_limited_total",
        "counter",
        "Telemetry requests refused with 429 since start.",
        &[("", read(&counters.rate_limited))],
    );
    metric(
        "workbench_stored_executions",
        "gauge",
        "Executions stored, by outcome (within the retention period).",
        &[
            ("{outcome=\"success\"}", stored.successes),
            ("{outcome=\"failure\"}", stored.failures),
        ],
    );
    metric(
        "workbench_stored_installs",
        "gauge",
        "Successful package installs stored.",
        &[("", stored.installs)],
    );
    metric(
        "workbench_stored_file_loads",
        "gauge",
        "File loads stored.",
        &[("", stored.file_loads)],
    );
    metric(
        "workbench_stats_raw_events_read_total",
        "counter",
        "Raw events statistics queries read (the rest comes from summaries).",
        &[("", read(&work.raw_events_read))],
    );
    metric(
        "workbench_stats_summaries_merged_total",
        "counter",
        "Hour and minute summaries statistics queries merged.",
        &[("", read(&work.summaries_merged))],
    );
    metric(
        "workbench_rollups_computed_total",
        "counter",
        "Hours summarised (a summary is thrown away if the hour changed meanwhile).",
        &[("", read(&work.rollups_computed))],
    );
    metric(
        "workbench_rollups_stored_total",
        "counter",
        "Hour summaries stored.",
        &[("", read(&work.rollups_stored))],
    );
    metric(
        "workbench_reads_cancelled_total",
        "counter",
        "Database reads interrupted because the client went away.",
        &[("", read(&work.reads_cancelled))],
    );
    metric(
        "workbench_public_stats_computations_total",
        "counter",
        "Times the public statistics were computed (at most once a second).",
        &[("", read(&state.public().computations))],
    );
    metric(
        "workbench_live_computations_total",
        "counter",
        "Statistics computed for live dashboards (once per change and range).",
        &[("", read(&counters.live_computations))],
    );
    metric(
        "workbench_admin_login_failures_total",
        "counter",
        "Admin logins with a wrong token.",
        &[("", read(&counters.login_failures))],
    );
    metric(
        "workbench_admin_logins_refused_total",
        "counter",
        "Admin logins refused with 429 over the rate limit.",
        &[("", read(&counters.logins_refused))],
    );
    metric(
        "workbench_live_streams",
        "gauge",
        "Live dashboard streams open.",
        &[("", crate::features::live::open_streams(state.live()) as u64)],
    );
    metric(
        "workbench_package_index_projects",
        "gauge",
        "Projects the local package index serves.",
        &[("", state.index().len() as u64)],
    );
    Ok((
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    ))
}
