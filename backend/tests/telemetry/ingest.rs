//! Ingest: every aggregate sees accepted events, an event id is stored once, invalid events
//! are refused with a reason, and a client over its rate waits.

use backend::testing::{ADMIN_TOKEN, spawn_app, spawn_app_with};
use protocol::ErrorCode;
use serde_json::{Value, json};

use crate::{batch, execution, fresh_id, sha};

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
    let app = spawn_app_with(|config| {
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
    assert_eq!(limited.error().code, ErrorCode::RateLimited);
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn addresses_in_one_ipv6_64_share_a_rate_limit() {
    let app = spawn_app_with(|config| {
        config.ingest_rate = 0.01;
        config.ingest_burst = 2.0;
        config.trusted_proxy = vec!["127.0.0.1".parse().expect("ip")];
    })
    .await;
    let client = app.client();
    let send = |forwarded: &'static str| {
        let client = client.clone();
        async move {
            client
                .send(
                    "POST",
                    "/api/telemetry",
                    &[
                        ("Content-Type", "application/json"),
                        ("X-Forwarded-For", forwarded),
                    ],
                    batch(vec![]).to_string().as_bytes(),
                )
                .await
                .status
        }
    };
    // One subscriber rotating through its /64.
    assert_eq!(send("2001:db8:7:1::1").await, 202);
    assert_eq!(send("2001:db8:7:1:aaaa::2").await, 202);
    assert_eq!(send("2001:db8:7:1:ffff:ffff:ffff:3").await, 429);
    assert_eq!(
        send("2001:db8:7:2::1").await,
        202,
        "the next /64 is someone else"
    );
}
