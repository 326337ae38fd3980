//! What the numbers show: the public legacy statistics, the metrics, and the admin
//! dashboard's API (live updates, export, import and ranges).

use std::collections::BTreeSet;
use std::time::Duration;

use backend::testing::{ADMIN_TOKEN, spawn_app};
use serde_json::json;

use crate::{batch, execution, sha};

#[tokio::test]
async fn the_legacy_stats_keep_the_original_shape_without_addresses() {
    let app = spawn_app().await;
    let client = app.client();
    client
        .post_json(
            "/api/telemetry",
            &batch(vec![execution("s", &sha("x"), true, 4.0)]),
        )
        .await;
    let answer = client.get("/api/stats").await;
    let legacy = answer.json();
    let keys: BTreeSet<&str> = legacy
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["uptime", "pyodideReady", "executionStats"])
    );
    assert!(legacy["uptime"].is_f64());
    assert_eq!(
        legacy["pyodideReady"], false,
        "this test server has no Pyodide files"
    );
    let stats = legacy["executionStats"].as_object().expect("object");
    let keys: BTreeSet<&str> = stats.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "totalExecutions",
            "successRate",
            "averageExecutionTime",
            "errorCategories",
            "hourlyTrend"
        ])
    );
    assert_eq!(stats["totalExecutions"], 1);
    assert_eq!(stats["successRate"], 1.0);
    assert_eq!(stats["averageExecutionTime"], 4.0);
    assert!(
        stats["errorCategories"]
            .as_object()
            .expect("object")
            .is_empty()
    );
    assert!(
        !answer.body.contains("127.0.0"),
        "no addresses in public statistics"
    );
    assert!(
        !answer.body.contains("test-agent"),
        "no user agents in public statistics"
    );
}

#[tokio::test]
async fn live_dashboards_hear_new_events_within_two_seconds() {
    let app = spawn_app().await;
    let mut live = app
        .client()
        .open_as_admin("/api/dashboard/live?range=1h")
        .await;
    live.read_until("\"totalExecutions\":0").await;
    assert!(
        live.header("content-type")
            .is_some_and(|value| value.contains("text/event-stream")),
        "{live:?}"
    );
    app.client()
        .post_json(
            "/api/telemetry",
            &batch(vec![execution("s", &sha("x"), true, 4.0)]),
        )
        .await;
    tokio::time::timeout(
        Duration::from_secs(2),
        live.read_until("\"totalExecutions\":1"),
    )
    .await
    .expect("the new total arrives within 2 s");
    assert_eq!(
        app.client().get("/api/dashboard/live").await.status,
        401,
        "live needs admin"
    );
}

#[tokio::test]
async fn exports_match_the_stored_events_and_defuse_spreadsheet_formulas() {
    let app = spawn_app().await;
    let client = app.client();
    let events = vec![
        execution("s", &sha("a"), true, 4.0),
        execution("s", &sha("b"), false, 9.0),
    ];
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["eventId"].as_str().expect("id").to_owned())
        .collect();
    client
        .send(
            "POST",
            "/api/telemetry",
            &[
                ("Content-Type", "application/json"),
                ("User-Agent", "=cmd|' /C calc'!A0"),
            ],
            batch(events).to_string().as_bytes(),
        )
        .await;

    let json = client
        .get_as_admin("/api/dashboard/export?format=json&range=1h")
        .await;
    assert_eq!(json.status, 200);
    assert!(
        json.header("content-disposition")
            .is_some_and(|value| value.contains("attachment"))
    );
    let rows = json.json();
    let exported: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["eventId"].as_str().expect("id"))
        .collect();
    assert_eq!(exported, ids);
    assert_eq!(rows[1]["errorType"], "ZeroDivisionError");

    let csv = client
        .get_as_admin("/api/dashboard/export?format=csv&range=1h")
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-type")
            .is_some_and(|value| value.starts_with("text/csv"))
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "a header and one line per event: {}",
        csv.body
    );
    assert!(lines[0].starts_with("receivedAt,eventId,"));
    for (line, id) in lines[1..].iter().zip(&ids) {
        assert!(line.contains(id.as_str()), "{line}");
        assert!(
            line.ends_with("'=cmd|' /C calc'!A0"),
            "the agent cannot run as a formula: {line}"
        );
    }
    assert_eq!(client.get("/api/dashboard/export").await.status, 401);
    assert_eq!(
        client
            .get_as_admin("/api/dashboard/export?format=xml")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn metrics_count_events_in_prometheus_format() {
    let app = spawn_app().await;
    let client = app.client();
    let good = execution("s", &sha("x"), true, 4.0);
    let mut bad = execution("s", &sha("x"), true, 4.0);
    bad["durationMs"] = json!(-1);
    client
        .post_json("/api/telemetry", &batch(vec![good.clone(), good, bad]))
        .await;
    let metrics = client.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    for line in [
        "workbench_telemetry_events_total{outcome=\"accepted\"} 1",
        "workbench_telemetry_events_total{outcome=\"duplicate\"} 1",
        "workbench_telemetry_events_total{outcome=\"rejected\"} 1",
        "workbench_stored_executions{outcome=\"success\"} 1",
        "# TYPE workbench_uptime_seconds gauge",
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "missing {line:?} in\n{}",
            metrics.body
        );
    }
    assert!(!metrics.body.contains("127.0.0"), "no addresses in metrics");
}

#[tokio::test]
async fn imported_events_keep_their_times_and_ranges_select_them() {
    let app = spawn_app().await;
    let client = app.client();
    let now = backend::now_ms();
    let hour = 3_600_000;
    let imported = |age_ms: i64, duration: f64| {
        json!({
            "receivedAt": now - age_ms,
            "event": execution("s", &sha("x"), true, duration),
            "clientAddr": "198.51.100.0/24",
            "userAgent": "Importer/1.0",
        })
    };
    let body = json!({"events": [imported(hour / 2, 5.0), imported(3 * 24 * hour, 2500.0), imported(-10 * hour, 1.0)]});
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let answer = client
        .send(
            "POST",
            "/api/dashboard/import",
            &[("Authorization", &bearer)],
            body.to_string().as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let outcome = answer.json();
    assert_eq!(
        (outcome["accepted"].as_u64(), outcome["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        outcome["results"][2]["reason"],
        "receivedAt must be a past time in unix milliseconds"
    );

    let day = client
        .get_as_admin("/api/dashboard/stats?range=24h")
        .await
        .json();
    assert_eq!(day["stats"]["overview"]["totalExecutions"], 1);
    let week = client
        .get_as_admin("/api/dashboard/stats?range=7d")
        .await
        .json();
    assert_eq!(week["stats"]["overview"]["totalExecutions"], 2);
    assert_eq!(
        week["stats"]["topIPs"],
        json!([{"name": "198.51.100.0/24", "count": 2}])
    );
    let histogram = &week["stats"]["durationHistogram"];
    assert_eq!(
        histogram,
        &json!([
            {"name": "< 10 ms", "count": 1},
            {"name": "10–100 ms", "count": 0},
            {"name": "0.1–1 s", "count": 0},
            {"name": "1–10 s", "count": 1},
            {"name": "≥ 10 s", "count": 0},
        ])
    );
    let custom = client
        .get_as_admin(&format!(
            "/api/dashboard/stats?from={}&to={}",
            now - 4 * 24 * hour,
            now - 2 * 24 * hour
        ))
        .await
        .json();
    assert_eq!(custom["stats"]["overview"]["totalExecutions"], 1);
    assert_eq!(custom["range"]["label"], "custom");

    let anonymous = client.post_json("/api/dashboard/import", &body).await;
    assert_eq!(anonymous.status, 401, "importing is for admins");
}

#[tokio::test]
async fn extreme_ranges_are_narrowed_to_the_data_and_half_ranges_refused() {
    let app = spawn_app().await;
    let client = app.client();
    let now = backend::now_ms();
    let first = now - 5 * 24 * 3_600_000;
    let events: Vec<_> = [first, now - 3_600_000, now - 1000]
        .iter()
        .map(|at| json!({"receivedAt": at, "event": execution("s", &sha("x"), true, 2.0)}))
        .collect();
    let imported = client
        .post_as_admin("/api/dashboard/import", &json!({ "events": events }))
        .await;
    assert_eq!(imported.status, 202, "{}", imported.body);

    for query in [
        format!("from={}&to={}", i64::MIN, i64::MAX),
        "range=all".to_owned(),
    ] {
        let answer = client
            .get_as_admin(&format!("/api/dashboard/stats?{query}"))
            .await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.body);
        let body = answer.json();
        assert_eq!(body["range"]["from"], first, "{query}");
        assert!(
            body["range"]["to"].as_i64().expect("to") <= backend::now_ms() + 60_000,
            "up to the end of the current minute at most"
        );
        let trend = body["stats"]["trend"].as_array().expect("trend");
        assert_eq!(trend.len(), 24);
        assert_eq!(trend[0]["start"], first, "{query}");
        let in_trend: u64 = trend
            .iter()
            .map(|bucket| {
                bucket["successes"].as_u64().expect("n") + bucket["failures"].as_u64().expect("n")
            })
            .sum();
        assert_eq!(in_trend, 3, "{query}: the trend holds every execution");
        assert_eq!(body["stats"]["overview"]["totalExecutions"], 3, "{query}");
    }

    for half in ["from=5", "to=5"] {
        let answer = client
            .get_as_admin(&format!("/api/dashboard/stats?{half}"))
            .await;
        assert_eq!(answer.status, 400, "{half}");
        assert_eq!(
            answer.json()["error"],
            "give both from and to (unix milliseconds), or neither"
        );
    }
}
