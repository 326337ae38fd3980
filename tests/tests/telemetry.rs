//! Usage statistics from a real page: a run in the browser reaches the server's statistics
//! as a hash, and no request the page sends carries the code.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tests::{Browser, RECORD_REQUEST_BODIES, spawn_app, until, until_ok};

#[tokio::test(flavor = "multi_thread")]
async fn a_run_reaches_the_statistics_as_a_hash_and_never_as_code() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    browser.eval(RECORD_REQUEST_BODIES).await;

    let code = "secret_marker = 'do-not-send-7f3a'\nprint(secret_marker)";
    browser.type_code(code).await;
    browser.find("run").await.click().await.expect("run");
    browser
        .wait_for_text("output", Duration::from_secs(30), |text| {
            text.contains("do-not-send-7f3a")
        })
        .await;
    // The event is queued when the run's result arrives, after its output: wait for it to go.
    let hash = format!("{:x}", Sha256::digest(code.as_bytes()));
    let bodies = until_ok(
        "the code's SHA-256 being sent",
        Duration::from_secs(30),
        async || {
            let bodies: Vec<String> =
                serde_json::from_value(browser.eval("return window.sentBodies").await)
                    .expect("bodies");
            if bodies.iter().any(|body| body.contains(&hash)) {
                Ok(bodies)
            } else {
                Err(bodies)
            }
        },
    )
    .await;
    for body in &bodies {
        assert!(
            !body.contains("do-not-send-7f3a"),
            "code text left the browser: {body}"
        );
        assert!(
            !body.contains("secret_marker"),
            "code text left the browser: {body}"
        );
    }

    browser
        .wait_for_text("telemetry-status", Duration::from_secs(30), |text| {
            text == "all sent"
        })
        .await;
    let stats = browser
        .eval("return fetch('/api/stats').then((answer) => answer.json())")
        .await;
    assert_eq!(stats["executionStats"]["totalExecutions"], 1, "{stats}");
    assert_eq!(stats["executionStats"]["successRate"], 1.0);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn turning_telemetry_off_sends_nothing() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    browser
        .find("telemetry-toggle")
        .await
        .click()
        .await
        .expect("toggle");
    browser
        .wait_for_text("telemetry-status", Duration::from_secs(5), |text| {
            text == "telemetry off"
        })
        .await;
    browser.eval(RECORD_REQUEST_BODIES).await;
    let result = browser.execute(serde_json::json!({"code": "6 * 7"})).await;
    assert_eq!(result["result"], 42);
    // Nothing may ever be sent, so there is no event to wait for: a deliberate negative
    // check, watching the page for two of the telemetry client's send intervals (1 s each),
    // failing at the first body.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let bodies = browser.eval("return window.sentBodies.length").await;
        if bodies != 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bodies = browser.eval("return window.sentBodies").await;
    assert_eq!(
        bodies,
        serde_json::json!([]),
        "nothing is sent while telemetry is off"
    );
    let stats = browser
        .eval("return fetch('/api/stats').then((answer) => answer.json())")
        .await;
    assert_eq!(stats["executionStats"]["totalExecutions"], 0);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_that_could_not_be_sent_survive_a_reload() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    // The server is unreachable for telemetry, as if offline, and beacons are lost too.
    browser
        .eval(
            "const originalFetch = window.fetch.bind(window);
             window.telemetryAttempts = 0;
             window.fetch = (input, init) => {
                 if (!String(input instanceof Request ? input.url : input).includes('/api/telemetry')) return originalFetch(input, init);
                 window.telemetryAttempts += 1;
                 return Promise.reject(new TypeError('offline'));
             };
             navigator.sendBeacon = () => false;",
        )
        .await;
    let result = browser
        .execute(serde_json::json!({"code": "'queued while offline'"}))
        .await;
    assert_eq!(result["success"], true);
    browser
        .wait_for_text("telemetry-status", Duration::from_secs(10), |text| {
            text == "1 waiting to be sent"
        })
        .await;
    // The page tried to send the event and failed.
    until(
        "the page trying to send the queued event",
        Duration::from_secs(10),
        async || browser.eval("return window.telemetryAttempts").await != 0,
    )
    .await;
    let stats = browser
        .eval("return fetch('/api/stats').then((answer) => answer.json())")
        .await;
    assert_eq!(
        stats["executionStats"]["totalExecutions"], 0,
        "nothing got through yet"
    );

    browser.client.refresh().await.expect("reload");
    browser
        .wait_for_text("telemetry-status", Duration::from_secs(30), |text| {
            text == "all sent"
        })
        .await;
    let stats = browser
        .eval("return fetch('/api/stats').then((answer) => answer.json())")
        .await;
    assert_eq!(
        stats["executionStats"]["totalExecutions"], 1,
        "the queued event arrived once"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_survives_two_navigations_in_a_row_without_beacons() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    // Nothing reaches the server from this page, not even the beacon at pagehide.
    browser
        .eval(
            "const originalFetch = window.fetch.bind(window);
             window.fetch = (input, init) =>
                 String(input instanceof Request ? input.url : input).includes('/api/telemetry')
                     ? Promise.reject(new TypeError('offline'))
                     : originalFetch(input, init);
             navigator.sendBeacon = () => false;",
        )
        .await;
    let result = browser
        .execute(serde_json::json!({"code": "'handed over at once'"}))
        .await;
    assert_eq!(result["success"], true);
    // Away at once (the event may not be in IndexedDB yet), and away again from the next page
    // as soon as it has loaded (it may not have stored what the first page left).
    browser.client.refresh().await.expect("reload");
    browser.open_workbench(&app).await;
    browser
        .wait_for_text("telemetry-status", Duration::from_secs(30), |text| {
            text == "all sent"
        })
        .await;
    let executions = until_ok(
        "the event being stored",
        Duration::from_secs(30),
        async || {
            let stats = app
                .client()
                .get_as_admin("/api/dashboard/stats?range=all")
                .await
                .json();
            let executions = stats["stats"]["overview"]["totalExecutions"].clone();
            if executions == 0 {
                Err(executions)
            } else {
                Ok(executions)
            }
        },
    )
    .await;
    assert_eq!(executions, 1, "the event arrived, once");
    browser.close().await;
}
