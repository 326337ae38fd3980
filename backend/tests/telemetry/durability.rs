//! Durability: statistics survive a restart, every acknowledged event survives a kill under
//! load, and retention purges old events.

use std::collections::BTreeSet;
use std::time::Duration;

use backend::testing::{ADMIN_TOKEN, Client, spawn_app, until_ok};
use backend::{EventStore, NewEvent, SqliteStore};
use serde_json::{Value, json};

use crate::{batch, execution, sha};

#[tokio::test]
async fn statistics_survive_a_restart() {
    let mut app = spawn_app().await;
    app.client()
        .post_json(
            "/api/telemetry",
            &batch(vec![execution("s", &sha("x"), true, 4.0); 1]),
        )
        .await;
    app.stop().await;
    app.start_again().await;
    let stats = app.client().get("/api/stats").await.json();
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
    let client = Client::new(address);

    let (acked_sender, mut acked) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut senders = Vec::new();
    for worker in 0..8 {
        let acked_sender = acked_sender.clone();
        let client = client.clone();
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
                let client = client.clone();
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
    // The kill comes while the load goes on, once it has batches in.
    let mut acknowledged = BTreeSet::new();
    until_ok(
        "the load getting batches in",
        Duration::from_secs(30),
        async || {
            while let Ok(id) = acked.try_recv() {
                acknowledged.insert(id);
            }
            if acknowledged.len() >= 20 {
                Ok(())
            } else {
                Err(acknowledged.len())
            }
        },
    )
    .await;
    server.start_kill().expect("SIGKILL");
    server.wait().await.expect("the server is gone");
    for sender in senders {
        let _ = sender.await;
    }
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
async fn retention_deletes_the_audit_log_of_days_past_it() {
    let data = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(data.path()).expect("store");
    let now = backend::now_ms();
    let day = 24 * 3_600_000;
    store
        .insert(vec![NewEvent {
            event: serde_json::from_value(execution("s", &sha("x"), true, 1.0)).expect("event"),
            received_at: now,
            client_addr: "127.0.0.0/24".into(),
            visitor_id: "v".into(),
            user_agent: Some("Agent".into()),
            code_key: None,
        }])
        .await
        .expect("stored");
    let audit = data.path().join("audit");
    let today: Vec<String> = std::fs::read_dir(&audit)
        .expect("the audit log")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("name")
        })
        .collect();
    assert_eq!(today.len(), 1, "{today:?}");
    for old in ["audit-2020-01-01.jsonl", "audit-2021-06-15.jsonl"] {
        std::fs::write(audit.join(old), "{\"clientAddr\":\"203.0.113.0/24\"}\n").expect("written");
    }
    std::fs::write(audit.join("notes.txt"), "not a log").expect("written");

    store.purge_before(now - 90 * day).await.expect("purged");
    let mut left: Vec<String> = std::fs::read_dir(&audit)
        .expect("the audit log")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("name")
        })
        .collect();
    left.sort();
    let mut expected = vec!["notes.txt".to_owned(), today[0].clone()];
    expected.sort();
    assert_eq!(
        left, expected,
        "the files of days past the retention are gone"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_its_files_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = backend::testing::spawn_app_with(|config| {
        config.data_dir = config.data_dir.join("made-by-the-server");
        config.admin_token = None;
    })
    .await;
    app.client()
        .post_json(
            "/api/telemetry",
            &batch(vec![execution("s", &sha("x"), true, 4.0)]),
        )
        .await;
    let data = app.data.path().join("made-by-the-server");
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("audit")), 0o700);
    for file in [
        "events.sqlite3",
        "events.sqlite3-wal",
        "events.sqlite3-shm",
        "admin-token",
        "code-key.secret",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    for entry in std::fs::read_dir(data.join("audit")).expect("the audit log") {
        let path = entry.expect("entry").path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}
