//! What the statistics cost under load, asserted as work done — raw events read, summaries
//! merged, computations — never as time: many events in the last hour, concurrent
//! anonymous clients, live dashboards, an import into a past hour, clients that go away.

use std::time::{Duration, Instant};

use backend::testing::{ADMIN_TOKEN, Client, TestApp, spawn_app, spawn_app_with, until, until_ok};
use backend::{EventStore, NewEvent, PUBLIC_FIGURES_AT_MOST_EVERY, ROLLUP_QUIET, SqliteStore};
use protocol::ErrorCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::{batch, execution, sha};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// Imports `count` executions received at `at(index)`, in batches of 100.
async fn import(client: &Client, count: usize, at: impl Fn(usize) -> i64) {
    for first in (0..count).step_by(100) {
        let events: Vec<Value> = (first..(first + 100).min(count))
            .map(|index| {
                json!({
                    "receivedAt": at(index),
                    "event": execution(&format!("s{}", index % 40), &sha("x"), index % 7 != 0, (index % 300) as f64),
                    "clientAddr": format!("198.51.{}.0/24", index % 30),
                })
            })
            .collect();
        let answer = client
            .post_as_admin("/api/dashboard/import", &json!({ "events": events }))
            .await;
        assert_eq!(answer.status, 202, "{}", answer.body);
    }
}

/// Waits until `/metrics` shows `name` at `at_least`; returns the value.
async fn wait_for_metric(client: &Client, name: &str, at_least: u64) -> u64 {
    until_ok(
        &format!("{name} reaching {at_least}"),
        Duration::from_secs(20),
        async || {
            let value = client.metric(name).await;
            if value >= at_least {
                Ok(value)
            } else {
                Err(value)
            }
        },
    )
    .await
}

#[tokio::test]
async fn public_statistics_merge_summaries_and_are_computed_once_for_many_clients() {
    let app = spawn_app().await;
    let client = app.client();
    let now = backend::now_ms();
    // 10,000 executions spread over the last 50 minutes: 200 a minute.
    import(&client, 10_000, |index| {
        now - (index as i64 * 307) % (50 * MINUTE)
    })
    .await;

    let raw_before = client.metric("workbench_stats_raw_events_read_total").await;
    let merged_before = client
        .metric("workbench_stats_summaries_merged_total")
        .await;
    let computed_before = client
        .metric("workbench_public_stats_computations_total")
        .await;
    // Reading /metrics took a snapshot. A new event makes it stale, and the public figures
    // are recomputed at most once a second by design, so let it age past that: its age is the
    // condition here, which nothing can be asked without a computation. It was taken by the
    // reads above, so this much from now is exactly enough.
    client
        .post_json(
            "/api/telemetry",
            &batch(vec![execution("s", &sha("y"), true, 4.0)]),
        )
        .await;
    tokio::time::sleep(PUBLIC_FIGURES_AT_MOST_EVERY).await;
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let client = client.clone();
        clients.spawn(async move { client.get("/api/stats").await });
    }
    for answer in clients.join_all().await {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.json()["executionStats"]["totalExecutions"], 10_001);
    }
    assert_eq!(
        client
            .metric("workbench_public_stats_computations_total")
            .await,
        computed_before + 1,
        "16 clients at once share one computation"
    );
    let raw = client.metric("workbench_stats_raw_events_read_total").await - raw_before;
    let merged = client
        .metric("workbench_stats_summaries_merged_total")
        .await
        - merged_before;
    assert!(
        raw <= 400,
        "{raw} raw events read: at most two minutes' worth"
    );
    assert!(merged >= 50, "only {merged} summaries merged");

    let raw_before = client.metric("workbench_stats_raw_events_read_total").await;
    let dashboard = client.get_as_admin("/api/dashboard/stats?range=24h").await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    assert_eq!(
        dashboard.json()["stats"]["overview"]["totalExecutions"],
        10_001
    );
    let raw = client.metric("workbench_stats_raw_events_read_total").await - raw_before;
    assert!(
        raw <= 600,
        "{raw} raw events read for the dashboard's three figures"
    );
}

#[tokio::test]
async fn live_streams_of_one_range_share_one_computation_per_change_and_are_capped() {
    let app = spawn_app_with(|config| {
        config.trusted_proxy = vec!["127.0.0.1".parse().expect("ip")];
    })
    .await;
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let mut streams = Vec::new();
    for _ in 0..4 {
        let mut live = app
            .client()
            .open_as_admin("/api/dashboard/live?range=1h")
            .await;
        assert_eq!(live.status, 200);
        live.read_until("\"totalExecutions\":0").await;
        streams.push(live);
    }
    let client = app.client();
    let before = client.metric("workbench_live_computations_total").await;
    client
        .post_json(
            "/api/telemetry",
            &batch(vec![execution("s", &sha("x"), true, 4.0)]),
        )
        .await;
    for live in &mut streams {
        tokio::time::timeout(
            Duration::from_secs(5),
            live.read_until("\"totalExecutions\":1"),
        )
        .await
        .expect("every stream hears of the new event");
    }
    assert_eq!(
        client.metric("workbench_live_computations_total").await,
        before + 1,
        "four streams of one range, one computation"
    );

    let fifth = client
        .send(
            "GET",
            "/api/dashboard/live?range=1h",
            &[("Authorization", &bearer)],
            b"",
        )
        .await;
    assert_eq!(fifth.status, 429);
    assert_eq!(fifth.error().code, ErrorCode::TooManyStreams);
    assert!(
        fifth.json()["error"]
            .as_str()
            .is_some_and(|error| error.contains("per client")),
        "{}",
        fifth.body
    );

    // Other clients (behind the trusted proxy) fill the server's cap of 32.
    for index in 0..28 {
        let forwarded = format!("203.0.113.{}", index / 4);
        let live = app
            .client()
            .open(
                "GET",
                "/api/dashboard/live?range=24h",
                &[("Authorization", &bearer), ("X-Forwarded-For", &forwarded)],
                b"",
            )
            .await;
        assert_eq!(live.status, 200, "stream {index}");
        streams.push(live);
    }
    let over = client
        .send(
            "GET",
            "/api/dashboard/live?range=24h",
            &[
                ("Authorization", &bearer),
                ("X-Forwarded-For", "198.51.100.7"),
            ],
            b"",
        )
        .await;
    assert_eq!(over.status, 429);
    assert!(
        over.json()["error"]
            .as_str()
            .is_some_and(|error| error.contains("32 live dashboards")),
        "{}",
        over.body
    );
    assert_eq!(client.metric("workbench_live_streams").await, 32);
    drop(streams);
    until(
        "closed streams giving their places back",
        Duration::from_secs(10),
        async || client.metric("workbench_live_streams").await == 0,
    )
    .await;
}

#[tokio::test]
async fn an_import_into_a_past_hour_is_summarised_once_after_its_last_batch() {
    let app = spawn_app().await;
    let client = app.client();
    let now = backend::now_ms();
    let hour_start = (now / HOUR - 3) * HOUR;
    import(&client, 100, |index| hour_start + index as i64 * 1000).await;
    wait_for_metric(&client, "workbench_rollups_stored_total", 1).await;
    let computed = client.metric("workbench_rollups_computed_total").await;
    // The hour is handed to the summariser only after ROLLUP_QUIET without a batch, so its
    // summaries are at least that far apart: by any moment, at most one per ROLLUP_QUIET
    // since now. A machine that keeps up sends the batches closer together than that, and
    // this allowance is zero; one that stalls for that long between two batches sees at
    // most those extra summaries.
    let since = Instant::now();
    let stalls = || (since.elapsed().as_millis() / ROLLUP_QUIET.as_millis()) as u64;

    for round in 1..=5 {
        import(&client, 100, |index| {
            hour_start + round * 100_000 + index as i64 * 1000
        })
        .await;
        let now = client.metric("workbench_rollups_computed_total").await;
        assert!(
            now <= computed + stalls(),
            "not summarised again while the import goes on (after batch {round}): \
             {now} summaries, {computed} before the import, {} s since it began",
            since.elapsed().as_secs_f64()
        );
    }
    let allowed = stalls();
    wait_for_metric(&client, "workbench_rollups_stored_total", 2).await;
    let now = client.metric("workbench_rollups_computed_total").await;
    assert!(
        (computed + 1..=computed + 1 + allowed).contains(&now),
        "five batches, one new summary: {now} summaries, {computed} before the import, \
         {allowed} more allowed for a slow machine"
    );
    let week = client.get_as_admin("/api/dashboard/stats?range=7d").await;
    assert_eq!(week.json()["stats"]["overview"]["totalExecutions"], 600);
}

/// Sends a request on its own connection and closes it before the answer.
async fn abandon(app: &TestApp, path: &str) {
    let mut stream = tokio::net::TcpStream::connect(app.address)
        .await
        .expect("connects");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sends");
    // The server is to have the request and be reading when the client goes. No figure says
    // when a query has begun, so this is a fixed pause; of the eight tries below, one being
    // cancelled mid-query is what is waited for.
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn a_query_whose_client_went_away_is_cancelled() {
    let mut app = spawn_app().await;
    app.stop().await;
    // 60,000 events in one hour two days ago, stored straight into the server's database.
    let hour_start = (backend::now_ms() / HOUR - 48) * HOUR;
    {
        let store = SqliteStore::open(app.data.path()).expect("store");
        let events: Vec<NewEvent> = (0..60_000)
            .map(|index| NewEvent {
                event: serde_json::from_value(execution("s", &sha("x"), true, 1.0)).expect("event"),
                received_at: hour_start + index,
                client_addr: "127.0.0.0/24".into(),
                visitor_id: format!("v{index}"),
                user_agent: None,
                code_key: None,
            })
            .collect();
        store.insert(events).await.expect("stored");
    }
    app.start_again().await;
    let client = app.client();
    // A range inside that hour is read event by event: slow enough to abandon.
    let path = format!(
        "/api/dashboard/stats?from={}&to={}",
        hour_start + 1,
        hour_start + HOUR - 1
    );
    for _ in 0..8 {
        abandon(&app, &path).await;
    }
    wait_for_metric(&client, "workbench_reads_cancelled_total", 1).await;
    let answer = client.get_as_admin(&path).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json()["stats"]["overview"]["totalExecutions"],
        59_999
    );
}
