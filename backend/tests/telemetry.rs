//! The telemetry pipeline against the real server and a real SQLite file: ingest,
//! deduplication, validation, rate limits, statistics, admin auth, durability, retention.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use backend::{EventStore, NewEvent, SqliteStore};
use common::{ADMIN_TOKEN, execution, fresh_id, sha, spawn_app, spawn_app_with};
use serde_json::{Value, json};

fn batch(events: Vec<Value>) -> Value {
    json!({ "events": events })
}

#[tokio::test]
async fn ingested_events_show_in_every_aggregate() {
    let app = spawn_app().await;
    let client = app.client();
    let plot = sha("plt.plot([1, 2])");
    let events = vec![
        execution("session-a", &plot, true, 10.0),
        execution("session-a", &plot, true, 30.0),
        execution("session-a", &sha("1/0"), false, 50.0),
        json!({"eventId": fresh_id(), "sessionId": "session-a", "kind": "install",
               "package": "seaborn", "version": "0.13.2", "success": true, "durationMs": 400.0}),
        json!({"eventId": fresh_id(), "sessionId": "session-b", "kind": "file_load",
               "fileExt": "csv", "fileBytes": 2048, "success": true}),
        json!({"eventId": fresh_id(), "sessionId": "session-b", "kind": "reset"}),
    ];
    let answer = client.post_json("/api/telemetry", &batch(events)).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let ingest = answer.json();
    assert_eq!(
        (ingest["accepted"].as_u64(), ingest["rejected"].as_u64()),
        (Some(6), Some(0))
    );

    let legacy = client.get("/api/stats").await.json();
    let stats = &legacy["executionStats"];
    assert_eq!(stats["totalExecutions"], 3);
    assert!((stats["successRate"].as_f64().expect("rate") - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(stats["averageExecutionTime"], 30.0);
    assert_eq!(stats["errorCategories"], json!({"ZeroDivisionError": 1}));
    let trend: Vec<u64> = serde_json::from_value(stats["hourlyTrend"].clone()).expect("24 numbers");
    assert_eq!((trend.len(), trend.iter().sum::<u64>()), (24, 3));

    let dashboard = client.get_as_admin("/api/dashboard/stats?range=1h").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    let dashboard = dashboard.json();
    let stats = &dashboard["stats"];
    let overview = &stats["overview"];
    assert_eq!(overview["totalExecutions"], 3);
    assert_eq!(overview["successfulExecutions"], 2);
    assert_eq!(overview["failedExecutions"], 1);
    assert_eq!(overview["successRate"], "66.7");
    assert_eq!(overview["averageExecutionTime"], 30);
    assert_eq!(overview["p50DurationMs"], 30.0);
    assert_eq!(overview["p95DurationMs"], 50.0);
    assert_eq!(overview["uniqueVisitors"], 1);
    assert_eq!(overview["sessions"], 2);
    assert!(
        overview["lastExecutionTime"]
            .as_str()
            .is_some_and(|time| time.ends_with('Z'))
    );
    assert_eq!(stats["recent"]["lastHourExecutions"], 3);
    assert_eq!(stats["recent"]["packagesInstalled"], 1);
    assert_eq!(stats["recent"]["filesUploaded"], 1);
    assert_eq!(
        stats["topIPs"],
        json!([{"name": "127.0.0.0/24", "count": 3}])
    );
    assert_eq!(
        stats["userAgents"],
        json!([{"name": "test-agent/1.0", "count": 3}])
    );
    assert_eq!(
        stats["topErrors"],
        json!([{"name": "ZeroDivisionError", "count": 1}])
    );
    assert_eq!(stats["packages"], json!([{"name": "seaborn", "count": 1}]));
    let hashes = stats["topCodeHashes"].as_array().expect("hashes");
    assert_eq!(hashes.len(), 2);
    assert_eq!(hashes[0]["count"], 2);
    assert_ne!(
        hashes[0]["name"], plot,
        "code hashes are stored keyed, not as sent"
    );
    let trend = stats["trend"].as_array().expect("trend");
    let (successes, failures) = trend.iter().fold((0, 0), |(s, f), bucket| {
        (
            s + bucket["successes"].as_u64().expect("n"),
            f + bucket["failures"].as_u64().expect("n"),
        )
    });
    assert_eq!((trend.len(), successes, failures), (24, 2, 1));

    let lookup = client
        .send(
            "POST",
            "/api/dashboard/lookup",
            &[
                ("Authorization", &format!("Bearer {ADMIN_TOKEN}")),
                ("Content-Type", "application/json"),
            ],
            json!({"code": "plt.plot([1, 2])"}).to_string().as_bytes(),
        )
        .await
        .json();
    assert_eq!(lookup["executions"], 2, "{lookup}");
    assert_eq!(lookup["sha256"], plot);

    let audit_dir = app.data.path().join("audit");
    let audit: String = std::fs::read_dir(&audit_dir)
        .expect("an audit folder")
        .map(|entry| std::fs::read_to_string(entry.expect("entry").path()).expect("readable"))
        .collect();
    assert_eq!(audit.lines().count(), 6, "one audit line per stored event");
    assert!(
        !audit.contains(&plot),
        "the audit log holds keyed hashes only"
    );
}

#[tokio::test]
async fn the_same_event_id_is_stored_once() {
    let app = spawn_app().await;
    let client = app.client();
    let event = execution("s", &sha("x"), true, 1.0);
    let first = client
        .post_json("/api/telemetry", &batch(vec![event.clone(), event.clone()]))
        .await
        .json();
    assert_eq!(
        (first["accepted"].as_u64(), first["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    let again = client
        .post_json("/api/telemetry", &batch(vec![event]))
        .await
        .json();
    assert_eq!(again["results"][0]["status"], "duplicate");
    let stats = client.get("/api/stats").await.json();
    assert_eq!(stats["executionStats"]["totalExecutions"], 1);
}

#[tokio::test]
async fn invalid_events_are_rejected_with_a_reason_and_nothing_is_stored() {
    let app = spawn_app().await;
    let client = app.client();
    let with = |field: &str, value: Value| {
        let mut event = execution("s", &sha("x"), true, 1.0);
        event[field] = value;
        event
    };
    for (event, reason) in [
        (
            with("durationMs", json!("fast")),
            "durationMs: invalid type",
        ),
        (
            with("codeSha256", json!("not-a-hash")),
            "codeSha256 must be 64 lowercase hex digits",
        ),
        (
            with("durationMs", json!(-5)),
            "durationMs must be a number from 0",
        ),
        (with("kind", json!("format_disk")), "kind: unknown variant"),
        (
            with("errorType", json!("E".repeat(5000))),
            "errorType must be at most 200 characters",
        ),
        (
            with("code", json!("print('secret')")),
            "code: unknown field `code`",
        ),
        (with("eventId", json!("")), "eventId must be 1 to 64"),
    ] {
        let answer = client
            .post_json("/api/telemetry", &batch(vec![event]))
            .await;
        assert_eq!(answer.status, 202, "{}", answer.body);
        let outcome = &answer.json()["results"][0];
        assert_eq!(outcome["status"], "rejected");
        let given = outcome["reason"].as_str().expect("a reason");
        assert!(
            given.starts_with(reason),
            "{given:?} should start with {reason:?}"
        );
    }

    for (body, status, message) in [
        (b"{not json".to_vec(), 400, "the body is not valid JSON"),
        (
            b"[1, 2]".to_vec(),
            400,
            "the body must be {\"events\": [ ... ]}",
        ),
        (
            batch(vec![json!({}); 101]).to_string().into_bytes(),
            413,
            "a batch holds at most 100 events; this one has 101",
        ),
        (
            vec![b' '; 70 * 1024],
            413,
            "the body is larger than 65536 bytes",
        ),
    ] {
        let answer = client
            .send(
                "POST",
                "/api/telemetry",
                &[("Content-Type", "application/json")],
                &body,
            )
            .await;
        assert_eq!(answer.status, status, "{}", answer.body);
        let error = answer.json();
        assert_eq!(error["success"], false);
        let given = error["error"].as_str().expect("a message");
        assert!(
            given.starts_with(message),
            "{given:?} should start with {message:?}"
        );
    }

    let stats = client.get("/api/stats").await.json();
    assert_eq!(
        stats["executionStats"]["totalExecutions"], 0,
        "nothing invalid was stored"
    );
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let app = spawn_app_with(tempfile::tempdir().expect("dir"), |config| {
        config.ingest_rate = 0.5;
        config.ingest_burst = 2.0;
    })
    .await;
    let client = app.client();
    for _ in 0..2 {
        let answer = client.post_json("/api/telemetry", &batch(vec![])).await;
        assert_eq!(answer.status, 202);
    }
    let limited = client.post_json("/api/telemetry", &batch(vec![])).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["code"], "rate_limited");
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn admin_endpoints_need_the_token_as_bearer_or_cookie() {
    let app = spawn_app().await;
    let client = app.client();
    let missing = client.get("/api/dashboard/stats").await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["code"], "unauthorized");
    let wrong = client
        .send(
            "GET",
            "/api/dashboard/stats",
            &[("Authorization", "Bearer nope")],
            b"",
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        client.get_as_admin("/api/dashboard/stats").await.status,
        200
    );

    let refused = client
        .post_json("/api/admin/login", &json!({"token": "nope"}))
        .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"], "the admin token is wrong");
    let login = client
        .post_json("/api/admin/login", &json!({"token": ADMIN_TOKEN}))
        .await;
    assert_eq!(login.status, 200);
    let cookie = login
        .header("set-cookie")
        .expect("a session cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().expect("name=value").to_owned();
    let with_cookie = client
        .send("GET", "/api/dashboard/stats", &[("Cookie", &session)], b"")
        .await;
    assert_eq!(with_cookie.status, 200, "{}", with_cookie.body);
}

#[tokio::test]
async fn an_admin_token_is_made_on_first_start_and_kept_private() {
    let data = tempfile::tempdir().expect("dir");
    let app = spawn_app_with(data, |config| config.admin_token = None).await;
    let path = app.data.path().join("admin-token");
    let token = std::fs::read_to_string(&path).expect("the token is kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let bearer = format!("Bearer {}", token.trim());
    let answer = app
        .client()
        .send(
            "GET",
            "/api/dashboard/stats",
            &[("Authorization", &bearer)],
            b"",
        )
        .await;
    assert_eq!(answer.status, 200);
}

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
async fn statistics_survive_a_restart() {
    let app = spawn_app().await;
    app.client()
        .post_json(
            "/api/telemetry",
            &batch(vec![execution("s", &sha("x"), true, 4.0); 1]),
        )
        .await;
    let data = app.stop().await;
    let again = spawn_app_with(data, |_| {}).await;
    let stats = again.client().get("/api/stats").await.json();
    assert_eq!(stats["executionStats"]["totalExecutions"], 1);
}

#[tokio::test]
async fn every_acknowledged_event_survives_a_kill_during_load() {
    let data = tempfile::tempdir().expect("dir");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_backend"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--ingest-rate",
            "100000",
            "--ingest-burst",
            "100000",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env("WORKBENCH_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts");
    let address = read_address(server.stdout.take().expect("stdout")).await;
    let client = common::Client { address };

    let (acked_sender, mut acked) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut senders = Vec::new();
    for worker in 0..8 {
        let acked_sender = acked_sender.clone();
        senders.push(tokio::spawn(async move {
            for round in 0..10_000 {
                let events: Vec<Value> = (0..20)
                    .map(|n| {
                        let mut event = execution("load", &sha("x"), true, 1.0);
                        event["eventId"] = json!(format!("w{worker}-r{round}-n{n}"));
                        event
                    })
                    .collect();
                let ids: Vec<String> = events
                    .iter()
                    .map(|e| e["eventId"].as_str().expect("id").to_owned())
                    .collect();
                let body = batch(events).to_string();
                let Ok(Ok(answer)) = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::spawn(async move {
                        client
                            .send(
                                "POST",
                                "/api/telemetry",
                                &[("Content-Type", "application/json")],
                                body.as_bytes(),
                            )
                            .await
                    }),
                )
                .await
                else {
                    return;
                };
                if answer.status == 202 {
                    for id in ids {
                        let _ = acked_sender.send(id);
                    }
                }
            }
        }));
    }
    drop(acked_sender);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.start_kill().expect("SIGKILL");
    server.wait().await.expect("the server is gone");
    for sender in senders {
        let _ = sender.await;
    }
    let mut acknowledged = BTreeSet::new();
    while let Ok(id) = acked.try_recv() {
        acknowledged.insert(id);
    }
    assert!(
        acknowledged.len() >= 20,
        "the load got some batches in: {}",
        acknowledged.len()
    );

    let connection =
        rusqlite::Connection::open(data.path().join("events.sqlite3")).expect("the database opens");
    let mut statement = connection
        .prepare("SELECT event_id FROM events")
        .expect("query");
    let stored: BTreeSet<String> = statement
        .query_map([], |row| row.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("ids");
    let lost: Vec<&String> = acknowledged.difference(&stored).take(5).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events were lost, e.g. {lost:?}",
        acknowledged.difference(&stored).count()
    );
}

async fn read_address(stdout: tokio::process::ChildStdout) -> std::net::SocketAddr {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.split("http://").nth(1) {
            return rest.trim_end_matches('/').parse().expect("an address");
        }
    }
    panic!("the server never said where it listens");
}

#[tokio::test]
async fn retention_purges_old_events() {
    let data = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(data.path()).expect("store");
    let now = backend::now_ms();
    let day = 24 * 3_600_000;
    let event = |age_days: i64| NewEvent {
        event: serde_json::from_value(execution("s", &sha("x"), true, 1.0)).expect("event"),
        received_at: now - age_days * day,
        client_addr: "127.0.0.0/24".into(),
        visitor_id: "v".into(),
        user_agent: None,
        code_key: None,
    };
    store
        .insert(vec![event(120), event(91), event(10), event(0)])
        .await
        .expect("stored");
    let purged = store.purge_before(now - 90 * day).await.expect("purged");
    assert_eq!(purged, 2);
    let left = store.aggregates(0, now + 1).await.expect("aggregates");
    assert_eq!(left.executions, 2);
}

#[tokio::test]
async fn live_dashboards_hear_new_events_within_two_seconds() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app().await;
    let mut stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connects");
    let request = format!(
        "GET /api/dashboard/live?range=1h HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("sends");
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "\"totalExecutions\":0").await;
    assert!(seen.contains("text/event-stream"), "{seen}");
    app.client()
        .post_json(
            "/api/telemetry",
            &batch(vec![execution("s", &sha("x"), true, 4.0)]),
        )
        .await;
    tokio::time::timeout(
        Duration::from_secs(2),
        read_until(&mut stream, &mut seen, "\"totalExecutions\":1"),
    )
    .await
    .expect("the new total arrives within 2 s");
    assert_eq!(
        app.client().get("/api/dashboard/live").await.status,
        401,
        "live needs admin"
    );
}

async fn read_until(stream: &mut tokio::net::TcpStream, seen: &mut String, needle: &str) {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 4096];
    while !seen.contains(needle) {
        let read = stream.read(&mut buffer).await.expect("reads");
        assert!(read > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
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
