//! Several replicas on one PostgreSQL: the deployment `--database-url` makes. Each test has
//! a fresh database in a throwaway cluster (see `backend::testing::postgres`); the servers
//! are in-process ([`spawn_app_with`]) or, to be killed, the real binary.

use std::collections::BTreeSet;
use std::time::Duration;

use backend::testing::postgres::PgCluster;
use backend::testing::{
    ADMIN_TOKEN, Client, TestApp, execution_event, live_dashboard, spawn_app_with,
};
use backend::{EventStore, PgStore};
use protocol::{DatabaseHealth, Health};
use serde_json::{Value, json};
use tokio_postgres::NoTls;

fn batch(ids: &[String]) -> Value {
    json!({ "events": ids.iter().map(|id| execution_event(id)).collect::<Vec<_>>() })
}

fn ids(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}-{n}")).collect()
}

/// A replica on the database at `url`.
async fn replica(url: &str) -> TestApp {
    let url = url.to_owned();
    spawn_app_with(move |config| config.database_url = Some(url)).await
}

async fn dashboard(client: &Client) -> Value {
    let answer = client.get_as_admin("/api/dashboard/stats?range=24h").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["stats"]["overview"].clone()
}

/// The event ids stored in the database at `url`.
async fn stored_ids(url: &str) -> BTreeSet<String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connects");
    tokio::spawn(connection);
    client
        .query("SELECT event_id FROM events", &[])
        .await
        .expect("reads the events")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn either_dashboard_shows_the_exact_sum_and_one_visitor_through_both_counts_once() {
    let url = PgCluster::shared().fresh_database().await;
    let (a, b) = (replica(&url).await, replica(&url).await);
    for (app, prefix, count) in [(&a, "a", 30), (&b, "b", 12), (&a, "a2", 5)] {
        let answer = app
            .client()
            .post_json("/api/telemetry", &batch(&ids(prefix, count)))
            .await;
        assert_eq!(answer.status, 202, "{}", answer.body);
    }
    for app in [&a, &b] {
        let overview = dashboard(&app.client()).await;
        assert_eq!(overview["totalExecutions"], 47);
        assert_eq!(
            overview["uniqueVisitors"], 1,
            "the same address and browser through two replicas is one visitor"
        );
    }
}

#[tokio::test]
async fn a_duplicate_sent_to_both_replicas_is_stored_once() {
    let url = PgCluster::shared().fresh_database().await;
    let (a, b) = (replica(&url).await, replica(&url).await);
    let body = batch(&ids("twice", 20));
    let (client_a, client_b) = (a.client(), b.client());
    let (first, second) = tokio::join!(
        client_a.post_json("/api/telemetry", &body),
        client_b.post_json("/api/telemetry", &body),
    );
    let (first, second) = (first.json(), second.json());
    assert_eq!(
        first["accepted"].as_u64().expect("a count")
            + second["accepted"].as_u64().expect("a count"),
        20,
        "{first} {second}"
    );
    assert_eq!(
        first["duplicates"].as_u64().expect("a count")
            + second["duplicates"].as_u64().expect("a count"),
        20
    );
    assert_eq!(stored_ids(&url).await.len(), 20);
    assert_eq!(dashboard(&a.client()).await["totalExecutions"], 20);
}

#[tokio::test]
async fn an_event_sent_to_one_replica_shows_on_the_others_live_stream_within_two_seconds() {
    let url = PgCluster::shared().fresh_database().await;
    let (a, b) = (replica(&url).await, replica(&url).await);
    let mut live = live_dashboard(&b.client()).await;
    let answer = a
        .client()
        .post_json("/api/telemetry", &batch(&ids("live", 1)))
        .await;
    assert_eq!(answer.status, 202);
    tokio::time::timeout(
        Duration::from_secs(2),
        live.read_until("\"totalExecutions\":1"),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the event sent to A reaches B's live dashboard within 2 s: {}",
            live.seen()
        )
    });
}

#[tokio::test]
async fn an_admin_session_opened_on_one_replica_works_on_the_other_until_logout() {
    let url = PgCluster::shared().fresh_database().await;
    let (a, b) = (replica(&url).await, replica(&url).await);
    let login = a
        .client()
        .post_json("/api/admin/login", &json!({"token": ADMIN_TOKEN}))
        .await;
    assert_eq!(login.status, 200);
    let cookie = login.header("set-cookie").expect("a session cookie");
    let session = cookie.split(';').next().expect("name=value").to_owned();
    let on_b = b
        .client()
        .send("GET", "/api/dashboard/stats", &[("Cookie", &session)], b"")
        .await;
    assert_eq!(on_b.status, 200, "{}", on_b.body);
    let logout = b
        .client()
        .send(
            "POST",
            "/api/admin/logout",
            &[
                ("Cookie", &session),
                ("Content-Type", "application/json"),
                ("Sec-Fetch-Site", "same-origin"),
            ],
            b"{}",
        )
        .await;
    assert_eq!(logout.status, 200, "{}", logout.body);
    let on_a = a
        .client()
        .send("GET", "/api/dashboard/stats", &[("Cookie", &session)], b"")
        .await;
    assert_eq!(on_a.status, 401, "logged out everywhere");
}

#[tokio::test]
async fn replicas_share_the_admin_token_they_made_and_the_code_hash_key() {
    let url = PgCluster::shared().fresh_database().await;
    let without_token = |url: String| {
        spawn_app_with(move |config| {
            config.database_url = Some(url);
            config.admin_token = None;
        })
    };
    let a = without_token(url.clone()).await;
    let b = without_token(url.clone()).await;
    // Code that ran through A (its hash keyed with the deployment's key) ...
    let answer = a
        .client()
        .post_json("/api/telemetry", &batch(&ids("keyed", 3)))
        .await;
    assert_eq!(answer.status, 202);
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    let token: String = client
        .query_one(
            "SELECT value FROM deployment_secrets WHERE name = 'admin-token'",
            &[],
        )
        .await
        .expect("the first replica made the token")
        .get(0);
    // ... is found through B, with the token A made.
    let lookup = b
        .client()
        .send(
            "POST",
            "/api/dashboard/lookup",
            &[
                ("Authorization", &format!("Bearer {token}")),
                ("Content-Type", "application/json"),
            ],
            json!({"sha256": "a".repeat(64)}).to_string().as_bytes(),
        )
        .await;
    assert_eq!(lookup.status, 200, "{}", lookup.body);
    assert_eq!(lookup.json()["executions"], 3);
}

#[tokio::test]
async fn the_hourly_purge_runs_on_one_replica_an_hour() {
    let url = PgCluster::shared().fresh_database().await;
    let changes = || tokio::sync::broadcast::channel(16).0;
    let first = PgStore::connect(&url, changes()).await.expect("starts");
    let second = PgStore::connect(&url, changes()).await.expect("starts");
    let old = backend::now_ms() - 100 * 24 * 3_600_000;
    let events: Vec<backend::NewEvent> = (0..5)
        .map(|n| backend::NewEvent {
            event: serde_json::from_value(execution_event(&format!("old-{n}"))).expect("an event"),
            received_at: old,
            client_addr: "203.0.113.0/24".into(),
            visitor_id: "visitor".into(),
            user_agent: None,
            code_key: None,
        })
        .collect();
    first.insert(events).await.expect("stored");
    let cutoff = backend::now_ms() - 90 * 24 * 3_600_000;
    let (a, b) = tokio::join!(first.purge_hourly(cutoff), second.purge_hourly(cutoff));
    let mut outcomes = [a.expect("purges"), b.expect("purges")];
    outcomes.sort();
    assert_eq!(
        outcomes,
        [None, Some(5)],
        "one replica purged, the other skipped"
    );
    assert_eq!(
        first.purge_hourly(cutoff).await.expect("asks"),
        None,
        "not again within the hour"
    );
}

#[tokio::test]
async fn replicas_started_together_on_an_empty_database_migrate_once() {
    let url = PgCluster::shared().fresh_database().await;
    let changes = || tokio::sync::broadcast::channel(16).0;
    let (first, second, third) = tokio::join!(
        PgStore::connect(&url, changes()),
        PgStore::connect(&url, changes()),
        PgStore::connect(&url, changes()),
    );
    for store in [first, second, third] {
        assert!(store.expect("each replica starts").reachable().await);
    }
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connects");
    tokio::spawn(connection);
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("reads the migrations")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3, 4], "each migration applied once");
}

/// Sends batches of fresh events to `clients` in turn from `workers` tasks until `stop`
/// says so; returns the ids of the events acknowledged with 202, and the statuses seen.
async fn load(
    clients: Vec<Client>,
    workers: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (BTreeSet<String>, Vec<u16>) {
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let clients = clients.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut statuses = Vec::new();
            let mut round = 0;
            while !*stop.borrow() {
                round += 1;
                let client = clients[round % clients.len()].clone();
                let ids = ids(&format!("w{worker}-r{round}"), 10);
                let body = batch(&ids).to_string();
                let sent = tokio::time::timeout(
                    Duration::from_secs(10),
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
                .await;
                match sent {
                    Ok(Ok(answer)) => {
                        statuses.push(answer.status);
                        if answer.status == 202 {
                            acknowledged.extend(ids);
                        } else {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    // The replica went away mid-request: nothing was acknowledged.
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            (acknowledged, statuses)
        }));
    }
    let mut acknowledged = BTreeSet::new();
    let mut statuses = Vec::new();
    for task in tasks {
        let (ids, seen) = task.await.expect("a load task ends");
        acknowledged.extend(ids);
        statuses.extend(seen);
    }
    (acknowledged, statuses)
}

/// The server binary on the database at `url`, and where it listens.
async fn spawn_binary(url: &str, data: &std::path::Path) -> (tokio::process::Child, Client) {
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
        .arg(data)
        .env("WORKBENCH_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("WORKBENCH_DATABASE_URL", url)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts");
    let stdout = server.stdout.take().expect("stdout");
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.split("http://").nth(1) {
            let address = rest.trim_end_matches('/').parse().expect("an address");
            // Keep reading so the server never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (server, Client::new(address));
        }
    }
    panic!("the server never said where it listens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_replica_under_load_loses_no_acknowledged_event() {
    let url = PgCluster::shared().fresh_database().await;
    let (data_a, data_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (mut a, client_a) = spawn_binary(&url, data_a.path()).await;
    let (_b, client_b) = spawn_binary(&url, data_b.path()).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(load(vec![client_a, client_b.clone()], 6, stopped));
    // The phases of the load, not waits for an event: 1.5 s on both replicas, then A is
    // killed mid-load, then a second on B alone. The load's own count is checked below.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.start_kill().expect("SIGKILL");
    a.wait().await.expect("replica A is gone");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.send(true).expect("the load listens");
    let (acknowledged, statuses) = load.await.expect("the load ends");
    assert!(
        acknowledged.len() >= 200,
        "the load got batches in: {}",
        acknowledged.len()
    );
    assert!(!statuses.contains(&500), "no failures, only a replica gone");

    let after = client_b
        .post_json("/api/telemetry", &batch(&ids("after-kill", 3)))
        .await;
    assert_eq!(after.status, 202, "replica B keeps answering");

    let stored = stored_ids(&url).await;
    let lost: Vec<&String> = acknowledged.difference(&stored).take(5).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events were lost, e.g. {lost:?}",
        acknowledged.difference(&stored).count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_ingest_answers_503_and_resumes_by_itself() {
    // A cluster of its own: the shared one keeps serving the other tests.
    let cluster = PgCluster::start();
    let url = cluster.fresh_database().await;
    let app = replica(&url).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(load(vec![app.client()], 4, stopped));
    // The phases of the load, not waits for an event (`stop_server` and `start_server` wait
    // for PostgreSQL themselves): 0.8 s up, 1.5 s down around the checks, 0.5 s up again.
    tokio::time::sleep(Duration::from_millis(800)).await;

    cluster.stop_server();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let down = app
        .client()
        .post_json("/api/telemetry", &batch(&ids("while-down", 2)))
        .await;
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(down.header("retry-after").is_some(), "{:?}", down.headers);
    let health = app.client().get("/health").await;
    assert_eq!(health.status, 200);
    let health: Health = serde_json::from_str(&health.body).expect("the health answer");
    assert_eq!(health.database, Some(DatabaseHealth::Unreachable));
    // The dashboard says the same, and when to try again, rather than failing.
    let figures = app
        .client()
        .get_as_admin("/api/dashboard/stats?range=24h")
        .await;
    assert_eq!(figures.status, 503, "{}", figures.body);
    assert!(
        figures.header("retry-after").is_some(),
        "{:?}",
        figures.headers
    );
    assert!(
        figures.body.contains("database cannot be reached"),
        "{}",
        figures.body
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;

    cluster.start_server();
    let resumed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let answer = app
                .client()
                .post_json("/api/telemetry", &batch(&ids("after-restart", 2)))
                .await;
            if answer.status == 202 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(resumed.is_ok(), "ingest resumes once PostgreSQL is back");
    let health: Health =
        serde_json::from_str(&app.client().get("/health").await.body).expect("the health answer");
    assert_eq!(health.database, Some(DatabaseHealth::Reachable));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).expect("the load listens");
    let (acknowledged, statuses) = load.await.expect("the load ends");
    assert!(
        statuses.contains(&503),
        "the load saw 503s while the database was down"
    );
    assert!(
        statuses.iter().all(|status| matches!(status, 202 | 503)),
        "only 202 and 503: {:?}",
        statuses.iter().collect::<BTreeSet<_>>()
    );

    let stored = stored_ids(&url).await;
    let lost: Vec<&String> = acknowledged.difference(&stored).take(5).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events were lost, e.g. {lost:?}",
        acknowledged.difference(&stored).count()
    );
}
