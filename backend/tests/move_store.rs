//! `backend move-store`: a single server's SQLite history moved into the PostgreSQL that
//! replicas serve, by the real binary, as an operator runs it — while a replica already
//! serves that database and keeps taking events.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use backend::storage::Aggregates;
use backend::testing::postgres::PgCluster;
use backend::testing::{ADMIN_TOKEN, TestApp, execution_event, sample_event, spawn_app_with};
use backend::{EventStore, NewEvent, PgStore, SqliteStore, now_ms};
use protocol::stats::RangeName;
use protocol::telemetry::EventKind;
use serde_json::{Value, json};
use tokio_postgres::NoTls;

const HOUR_MS: i64 = 3_600_000;
/// Events in the single server's history, besides the three sent through its API.
const HISTORY: usize = 1_000_000;
/// The SHA-256 every test execution event carries (`execution_event`).
fn known_code() -> String {
    "a".repeat(64)
}

/// Events of the history received in one millisecond: more than a batch of the move.
const SAME_MOMENT: usize = 6_000;

/// The `index`th event of the history, received in the 31 days before `until` (the first
/// [`SAME_MOMENT`] at one instant): mostly executions, with installs and file loads.
fn history_event(index: usize, until: i64) -> NewEvent {
    let at = if index < SAME_MOMENT {
        until - 5 * HOUR_MS
    } else {
        until - 1 - (index as i64 * 7919) % (31 * 24 * HOUR_MS)
    };
    let mut new = sample_event(index, at);
    if index % 50 == 1 {
        new.event.kind = EventKind::Install;
        new.event.package = Some(format!("package-{}", index % 7));
        new.event.version = Some("1.0".into());
    } else if index % 70 == 3 {
        new.event.kind = EventKind::FileLoad;
        new.event.file_ext = Some("csv".into());
        new.event.file_bytes = Some(index as u64);
    }
    new.user_agent = Some(format!("Agent/{}", index % 9));
    new
}

/// The dashboard's figures for every range, as they were at `until`.
async fn every_range(store: &dyn EventStore, until: i64) -> BTreeMap<&'static str, Aggregates> {
    let first = store
        .first_event_at()
        .await
        .expect("reads")
        .expect("has events");
    let mut figures = BTreeMap::new();
    for name in RangeName::ALL {
        let from = name.span_ms().map_or(first, |span| until - span);
        let aggregates = store.aggregates(from, until).await.expect("figures");
        figures.insert(name.as_str(), aggregates);
    }
    figures
}

/// Equal figures: every count, list, trend and unique count the same; the means and
/// percentiles equal but for floating-point rounding.
fn assert_same_figures(moved: &Aggregates, before: &Aggregates, range: &str) {
    let floats = |figures: &Aggregates| {
        [
            figures.mean_duration_ms,
            figures.p50_duration_ms,
            figures.p95_duration_ms,
            figures.p99_duration_ms,
        ]
    };
    for (moved, before) in floats(moved).into_iter().zip(floats(before)) {
        assert!(
            (moved - before).abs() <= before.abs() * 1e-9,
            "{range}: {moved} after the move, {before} before"
        );
    }
    let without_floats = |figures: &Aggregates| Aggregates {
        mean_duration_ms: 0.0,
        p50_duration_ms: 0.0,
        p95_duration_ms: 0.0,
        p99_duration_ms: 0.0,
        ..figures.clone()
    };
    assert_eq!(
        without_floats(moved),
        without_floats(before),
        "{range}: the figures after the move"
    );
}

/// Runs `backend move-store` and returns what it printed (stdout, stderr).
async fn move_store(from: &Path, to: &str) -> (String, String) {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_backend"))
        .args(["move-store", "--from"])
        .arg(from)
        .args(["--to", to])
        .env_remove("WORKBENCH_DATABASE_URL")
        .output()
        .await
        .expect("the binary runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout).into_owned(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    );
    assert!(
        run.status.success(),
        "move-store failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

/// `1000003` as the command prints it: `1,000,003`.
fn thousands(number: usize) -> String {
    let digits = number.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|group| std::str::from_utf8(group).expect("digits"))
        .collect();
    groups.join(",")
}

/// A replica ingesting batches of executions of the known code until told to stop.
struct Ingesting {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Ingesting {
    fn start(replica: &TestApp) -> Self {
        let (stop, accepted) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let client = replica.client();
        let (stopping, counting) = (Arc::clone(&stop), Arc::clone(&accepted));
        let task = tokio::spawn(async move {
            let mut batch = 0;
            while !stopping.load(Ordering::Acquire) {
                let events: Vec<Value> = (0..20)
                    .map(|n| execution_event(&format!("live-{batch}-{n}")))
                    .collect();
                let answer = client
                    .post_json("/api/telemetry", &json!({ "events": events }))
                    .await;
                assert_eq!(answer.status, 202, "{}", answer.body);
                counting.fetch_add(
                    answer.json()["accepted"].as_u64().expect("a count"),
                    Ordering::AcqRel,
                );
                batch += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
        Self {
            stop,
            accepted,
            task,
        }
    }

    /// Stops, and returns how many events the replica accepted.
    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.task.await.expect("the ingest ran without failing");
        self.accepted.load(Ordering::Acquire)
    }
}

async fn query(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connects");
    tokio::spawn(connection);
    client.query(sql, &[]).await.expect("the query runs")
}

/// Where a replica's admin token comes from.
enum Token {
    /// `--admin-token` ([`ADMIN_TOKEN`]).
    Given,
    /// None given: the database's.
    FromTheDatabase,
}

/// A replica on the database at `url`.
async fn start_replica(url: &str, token: Token) -> TestApp {
    let url = url.to_owned();
    spawn_app_with(move |config| {
        config.database_url = Some(url);
        if let Token::FromTheDatabase = token {
            config.admin_token = None;
        }
    })
    .await
}

/// Three runs of the known code (`known-1` … `known-3`), sent as a browser sends them.
async fn send_known_runs(app: &TestApp) {
    let known: Vec<Value> = (1..=3)
        .map(|n| execution_event(&format!("known-{n}")))
        .collect();
    let answer = app
        .client()
        .post_json("/api/telemetry", &json!({ "events": known }))
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
}

/// What the dashboard's look-up says of the known code, asked with `token`.
async fn look_up(app: &TestApp, token: &str) -> Value {
    let bearer = format!("Bearer {}", token.trim());
    let answer = app
        .client()
        .send(
            "POST",
            "/api/dashboard/lookup",
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            json!({ "sha256": known_code() }).to_string().as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// The audit line the SQLite server wrote for `event_id`.
fn sqlite_audit_line(data: &Path, event_id: &str) -> Value {
    let quoted = format!("\"eventId\":\"{event_id}\"");
    let folder = std::fs::read_dir(data.join("audit")).expect("the audit folder");
    folder
        .filter_map(Result::ok)
        .find_map(|file| {
            let text = std::fs::read_to_string(file.path()).expect("an audit file");
            text.lines()
                .find(|line| line.contains(&quoted))
                .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        })
        .unwrap_or_else(|| panic!("no audit line for {event_id}"))
}

/// The audit line PostgreSQL holds for `event_id`.
async fn postgres_audit_line(url: &str, event_id: &str) -> Value {
    let rows = query(
        url,
        &format!("SELECT line::text FROM audit_log WHERE line->>'eventId' = '{event_id}'"),
    )
    .await;
    assert_eq!(rows.len(), 1, "one audit row for {event_id}");
    serde_json::from_str(rows[0].get(0)).expect("JSON")
}

#[tokio::test]
async fn a_single_servers_history_moves_into_postgresql_once_while_a_replica_ingests() {
    // The single server: it made its own admin token and code-hash key, and stored three
    // runs of a known piece of code through its API.
    let mut single = spawn_app_with(|config| config.admin_token = None).await;
    send_known_runs(&single).await;
    let data = single.data.path().to_path_buf();
    let token = std::fs::read_to_string(data.join("admin-token")).expect("the token it made");
    let known_runs = look_up(&single, &token).await;
    single.stop().await;

    // A million more, over the 31 days before this hour; and one with a NUL in its error
    // type, stored before ingest refused such text (PostgreSQL cannot store it as it is).
    let this_hour = now_ms().div_euclid(HOUR_MS) * HOUR_MS;
    let sqlite = SqliteStore::open(&data).expect("opens the single server's store");
    for start in (0..HISTORY).step_by(10_000) {
        let batch = (start..start + 10_000)
            .map(|index| history_event(index, this_hour))
            .collect();
        sqlite.insert(batch).await.expect("stored");
    }
    let mut nul = sample_event(0, now_ms());
    nul.event.event_id = "with-nul".into();
    nul.event.error_type = Some("Bad\u{0}Error".into());
    sqlite.insert(vec![nul]).await.expect("stored");
    sqlite.catch_up().await.expect("summarised");
    let before = every_range(&sqlite, this_hour).await;
    assert_eq!(
        before["all"].executions + before["all"].installs + before["all"].file_loads,
        HISTORY as u64,
        "every event before this hour is in the 'all' figures"
    );
    drop(sqlite);

    // The database, which a replica (with its own code-hash key) already serves, and which
    // keeps taking events throughout both moves.
    let url = PgCluster::shared().fresh_database().await;
    let replica = start_replica(&url, Token::Given).await;
    let ingesting = Ingesting::start(&replica);

    let store_file = data.join("events.sqlite3");
    let (first, progress) = move_store(&store_file, &url).await;
    let moved = thousands(HISTORY + 4);
    assert!(
        first.contains(&format!("moved {moved} events"))
            && first.contains(&format!(
                "new: {moved} (each with its audit log row); already in the database: 0"
            )),
        "{first}"
    );
    assert!(
        first.contains("code-hash key: kept beside the database's own key"),
        "{first}"
    );
    assert!(first.contains("admin token: copied from"), "{first}");
    assert!(
        progress.contains(&format!("{moved} of {moved} events (100%)")),
        "a progress line reaches the end:\n{progress}"
    );

    // Every finished hour with events has its rollup again when the command ends.
    let hours = query(
        &url,
        &format!(
            "SELECT (SELECT COUNT(DISTINCT received_at / {HOUR_MS}) FROM events
                     WHERE received_at < {this_hour}),
                    (SELECT COUNT(*) FROM hourly_rollups WHERE hour < {this_hour} / {HOUR_MS}),
                    (SELECT COUNT(*) FROM pending_hours WHERE hour < {this_hour} / {HOUR_MS})"
        ),
    )
    .await;
    let (with_events, summarised, pending): (i64, i64, i64) =
        (hours[0].get(0), hours[0].get(1), hours[0].get(2));
    assert_eq!(
        (summarised, pending),
        (with_events, 0),
        "rollups after the move"
    );

    let (second, _) = move_store(&data, &url).await;
    assert!(
        second.contains(&format!(
            "new: 0 (each with its audit log row); already in the database: {moved}"
        )),
        "the second move stores nothing again: {second}"
    );
    assert!(second.contains("code-hash key: kept beside"), "{second}");
    let live = ingesting.finish().await;
    assert!(live > 0, "the replica took events during the moves");

    // Every event once: the history and the replica's own.
    let counts = query(
        &url,
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE event_id LIKE 'live-%') FROM events",
    )
    .await;
    let (all, replicas): (i64, i64) = (counts[0].get(0), counts[0].get(1));
    assert_eq!(
        (all as u64, replicas as u64),
        (HISTORY as u64 + 4 + live, live),
        "each event stored once"
    );

    // The dashboard's figures of every range, as they were at this hour's start, are the
    // single server's.
    let postgres = PgStore::connect(&url, tokio::sync::broadcast::channel(1).0)
        .await
        .expect("connects");
    let after = every_range(&postgres, this_hour).await;
    for (range, figures) in &before {
        assert_same_figures(&after[range], figures, range);
    }

    // The audit log: a row per moved event (once), each the line the single server wrote,
    // logged when the event was received (so the retention purge takes both together).
    let rows = query(
        &url,
        "SELECT COUNT(*) FILTER (WHERE line->>'eventId' NOT LIKE 'live-%'),
                COUNT(*) FILTER (WHERE line->>'eventId' NOT LIKE 'live-%' AND logged_at <>
                    (EXTRACT(EPOCH FROM (line->>'receivedAt')::timestamptz) * 1000)::bigint)
         FROM audit_log",
    )
    .await;
    let (audited, logged_elsewhen): (i64, i64) = (rows[0].get(0), rows[0].get(1));
    assert_eq!(
        audited as usize,
        HISTORY + 4,
        "one audit row per moved event"
    );
    let nul = query(
        &url,
        "SELECT error_type FROM events WHERE event_id = 'with-nul'",
    )
    .await;
    assert_eq!(nul[0].get::<_, String>(0), "Bad\u{FFFD}Error");
    for event_id in ["known-1", "event-777", "event-999999"] {
        assert_eq!(
            postgres_audit_line(&url, event_id).await,
            sqlite_audit_line(&data, event_id),
            "the audit line of {event_id}"
        );
    }
    assert_eq!(logged_elsewhen, 0, "moved rows are logged at receipt");

    // A look-up of the known code counts its runs on the single server (under its key) and
    // through the replica (under the replica's), from the single server's first.
    let runs = look_up(&replica, ADMIN_TOKEN).await;
    assert_eq!(runs["executions"], 3 + live, "{runs}");
    assert_eq!(runs["firstSeen"], known_runs["firstSeen"], "{runs}");
    assert!(
        runs["lastSeen"].as_str() > known_runs["lastSeen"].as_str(),
        "{runs}"
    );

    // A replica started without --admin-token takes the single server's token.
    let tokenless = start_replica(&url, Token::FromTheDatabase).await;
    assert_eq!(look_up(&tokenless, &token).await, runs);
    assert_ne!(token.trim(), ADMIN_TOKEN);
}

#[tokio::test]
async fn a_missing_or_foreign_source_is_refused_with_one_line() {
    let url = PgCluster::shared().fresh_database().await;
    let folder = tempfile::tempdir().expect("a folder");
    let foreign = folder.path().join("notes.sqlite3");
    std::fs::write(&foreign, b"not a database at all, just some text").expect("written");
    for (from, says) in [
        (
            folder.path().join("nothing-here"),
            "there is no event store at",
        ),
        (foreign, "could not read"),
    ] {
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_backend"))
            .args(["move-store", "--from"])
            .arg(&from)
            .args(["--to", &url])
            .output()
            .await
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{stderr}");
        let error = stderr
            .lines()
            .find(|line| line.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line: {stderr}"));
        assert!(error.contains(says), "{error}");
    }
    let rows = query(&url, "SELECT to_regclass('events') IS NULL").await;
    assert!(rows[0].get::<_, bool>(0), "the database was not touched");
}

/// The README's order: the history moves into a database no replica has used yet (so its
/// key and token become the database's), replicas start, and a second move picks up what
/// the single server took meanwhile.
#[tokio::test]
async fn a_first_move_gives_the_database_the_single_servers_key_and_token() {
    let mut single = spawn_app_with(|config| config.admin_token = None).await;
    let data = single.data.path().to_path_buf();
    let token = std::fs::read_to_string(data.join("admin-token")).expect("the token it made");
    let url = PgCluster::shared().fresh_database().await;

    // Nothing stored yet: the move still brings the key and the token.
    single.stop().await;
    let (empty, _) = move_store(&data, &url).await;
    assert!(empty.contains("moved 0 events"), "{empty}");
    assert!(
        empty.contains("code-hash key: copied: it is the database's key now"),
        "{empty}"
    );
    assert!(empty.contains("admin token: copied from"), "{empty}");

    // The single server takes three runs before it is stopped; the second move brings them.
    single.start_again().await;
    send_known_runs(&single).await;
    single.stop().await;
    let (second, _) = move_store(&data, &url).await;
    assert!(
        second.contains("new: 3 (each with its audit log row); already in the database: 0"),
        "{second}"
    );
    assert!(
        second.contains("code-hash key: the database already has it"),
        "{second}"
    );
    assert!(
        second.contains("admin token: the database has one already"),
        "{second}"
    );

    // A replica without --admin-token takes the single server's token, and a look-up with
    // it finds the three runs under the one key.
    let replica = start_replica(&url, Token::FromTheDatabase).await;
    let runs = look_up(&replica, &token).await;
    assert_eq!(runs["executions"], 3, "{runs}");
    let former = query(
        &url,
        "SELECT COUNT(*) FROM deployment_secrets WHERE name LIKE 'former-%'",
    )
    .await;
    assert_eq!(former[0].get::<_, i64>(0), 0, "no former key was needed");
}
