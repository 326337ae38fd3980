//! The admin dashboard in a real headless Chromium against the real server and build:
//! login, live updates from a workbench tab, ranges, hostile strings, export, empty state.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{Value, json};
use tests::{ADMIN_TOKEN, Browser, TestApp, spawn_app, until_ok};

const WAIT: Duration = Duration::from_secs(20);

/// Logs in through the form and waits for the dashboard's numbers.
async fn log_in(browser: &Browser, app: &TestApp) {
    browser
        .client
        .goto(&app.url("/dashboard"))
        .await
        .expect("opens");
    wait_for_url(browser, "/login").await;
    browser
        .find("admin-token")
        .await
        .send_keys(ADMIN_TOKEN)
        .await
        .expect("types");
    browser.find("login").await.click().await.expect("submits");
    wait_for_url(browser, "/dashboard").await;
    browser
        .wait_for_text("value-executions", WAIT, |_| true)
        .await;
}

async fn wait_for_url(browser: &Browser, path: &str) -> String {
    until_ok(&format!("the page going to {path}"), WAIT, async || {
        let url = browser
            .client
            .current_url()
            .await
            .expect("a url")
            .to_string();
        if url.contains(path) {
            Ok(url)
        } else {
            Err(url)
        }
    })
    .await
}

/// Imports events through the admin API, from the logged-in page.
async fn import(browser: &Browser, events: Vec<Value>) {
    let answer = browser
        .eval_with(
            "return fetch('/api/dashboard/import', {method: 'POST', headers: {'Content-Type': 'application/json'},
                 body: JSON.stringify({events: arguments[0]})}).then((answer) => answer.json())",
            vec![Value::Array(events.clone())],
        )
        .await;
    assert_eq!(answer["accepted"], events.len(), "{answer}");
}

fn imported(id: &str, age_ms: i64, agent: &str, error_type: Option<&str>) -> Value {
    let now = backend::now_ms();
    json!({
        "receivedAt": now - age_ms,
        "clientAddr": "198.51.100.0/24",
        "userAgent": agent,
        "event": {
            "eventId": id,
            "sessionId": "seed",
            "kind": "execution",
            "codeSha256": "ab".repeat(32),
            "durationMs": 12.0,
            "success": error_type.is_none(),
            "errorType": error_type,
        },
    })
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_needs_a_login_and_a_fresh_install_says_no_data_yet() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&app.url("/dashboard?range=7d"))
        .await
        .expect("opens");
    let login_url = wait_for_url(&browser, "/login").await;
    assert!(
        login_url.contains("next="),
        "the login remembers where to go: {login_url}"
    );

    browser
        .find("admin-token")
        .await
        .send_keys("not-the-token")
        .await
        .expect("types");
    browser.find("login").await.click().await.expect("submits");
    let refusal = browser
        .wait_for_text("login-error", WAIT, |text| !text.is_empty())
        .await;
    assert_eq!(refusal, "the admin token is wrong");

    let field = browser.find("admin-token").await;
    field.clear().await.expect("clears");
    field.send_keys(ADMIN_TOKEN).await.expect("types");
    browser.find("login").await.click().await.expect("submits");
    let url = wait_for_url(&browser, "/dashboard").await;
    assert!(
        url.contains("range=7d"),
        "back to the range asked for: {url}"
    );
    assert_eq!(
        browser
            .wait_for_text("value-executions", WAIT, |_| true)
            .await,
        "0"
    );
    let empty = browser
        .find("empty-state")
        .await
        .text()
        .await
        .expect("text");
    assert!(empty.starts_with("No data yet"), "{empty}");
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('#boot, #boot-editor').length")
            .await,
        0,
        "the workbench's shell is not on the dashboard"
    );

    browser
        .find("logout")
        .await
        .click()
        .await
        .expect("logs out");
    wait_for_url(&browser, "/login").await;
    browser
        .client
        .goto(&app.url("/dashboard"))
        .await
        .expect("opens");
    wait_for_url(&browser, "/login").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_in_another_tab_appears_on_the_dashboard_without_a_reload() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    log_in(&browser, &app).await;
    browser
        .wait_for_text("live-status", WAIT, |text| text == "● live")
        .await;
    let dashboard = browser.client.window().await.expect("this tab");

    let workbench = browser.client.new_window(true).await.expect("a second tab");
    browser
        .client
        .switch_to_window(workbench.handle)
        .await
        .expect("switches");
    browser.open_workbench(&app).await;
    let result = browser.execute(json!({"code": "sum(range(10))"})).await;
    assert_eq!(result["result"], 45);
    let ran = Instant::now();

    browser
        .client
        .switch_to_window(dashboard)
        .await
        .expect("switches back");
    browser
        .wait_for_text("value-executions", Duration::from_secs(2), |text| {
            text == "1"
        })
        .await;
    assert!(
        ran.elapsed() < Duration::from_secs(3),
        "the dashboard followed live"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_range_selector_changes_the_numbers_and_the_address() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    log_in(&browser, &app).await;
    import(
        &browser,
        vec![
            imported("recent-1", HOUR / 4, "Firefox/133.0", None),
            imported("recent-2", HOUR / 2, "Firefox/133.0", Some("KeyError")),
            imported("days-1", 3 * DAY, "Firefox/133.0", None),
            imported("days-2", 4 * DAY, "Firefox/133.0", None),
            imported("weeks-1", 20 * DAY, "Firefox/133.0", None),
        ],
    )
    .await;
    for (range, executions) in [("1h", "2"), ("7d", "4"), ("30d", "5"), ("24h", "2")] {
        browser
            .find(&format!("range-{range}"))
            .await
            .click()
            .await
            .expect("clicks");
        browser
            .wait_for_text("value-executions", WAIT, |text| text == executions)
            .await;
        let url = browser.client.current_url().await.expect("url").to_string();
        assert!(url.ends_with(&format!("range={range}")), "{url}");
    }
    let rate = browser
        .find("value-success-rate")
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(rate, "50.0 %");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn strings_from_clients_are_shown_as_text_and_run_nothing() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    log_in(&browser, &app).await;
    let agent = "<img src=x onerror=alert(1)>";
    let error_type = "<script>window.hacked = true</script>";
    import(
        &browser,
        vec![imported("hostile", HOUR / 4, agent, Some(error_type))],
    )
    .await;
    browser
        .eval("window.alerted = false; window.alert = () => { window.alerted = true; };")
        .await;
    browser
        .find("range-1h")
        .await
        .click()
        .await
        .expect("clicks");
    browser
        .wait_for_text("value-executions", WAIT, |text| text == "1")
        .await;

    let summary = browser
        .client
        .find(Locator::Css("[data-testid=user-agents] summary"))
        .await
        .expect("a browser family");
    summary.click().await.expect("opens the raw strings");
    let shown = browser.find("user-agent").await.text().await.expect("text");
    assert!(
        shown.starts_with(agent),
        "the agent is shown literally: {shown}"
    );
    let errors = browser
        .find("errors-chart")
        .await
        .text()
        .await
        .expect("text");
    assert!(
        errors.contains("<script>window.hacke"),
        "the label is literal text: {errors}"
    );
    let described = browser
        .client
        .find(Locator::Css("[data-testid=errors-chart] svg"))
        .await
        .expect("the chart")
        .attr("aria-label")
        .await
        .expect("attr")
        .expect("a text alternative");
    assert!(described.contains(error_type), "{described}");
    let ran = browser
        .eval(
            "return {alerted: window.alerted, hacked: window.hacked === true,
                     images: document.querySelectorAll('main img').length,
                     scripts: document.querySelectorAll('main script').length}",
        )
        .await;
    assert_eq!(
        ran,
        json!({"alerted": false, "hacked": false, "images": 0, "scripts": 0})
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_csv_export_holds_the_rows_the_api_counts() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    log_in(&browser, &app).await;
    let ids = ["export-1", "export-2", "export-3"];
    import(
        &browser,
        ids.iter()
            .enumerate()
            .map(|(n, id)| imported(id, HOUR * (n as i64 + 1) / 8, "Firefox/133.0", None))
            .collect(),
    )
    .await;
    browser
        .find("range-1h")
        .await
        .click()
        .await
        .expect("clicks");
    browser
        .wait_for_text("value-executions", WAIT, |text| text == "3")
        .await;
    let link = browser.find("export-csv").await;
    let href = link.attr("href").await.expect("attr").expect("an href");
    assert_eq!(href, "/api/dashboard/export?format=csv&range=1h");
    let csv = browser
        .eval_with(
            "return fetch(arguments[0]).then((answer) => answer.text())",
            vec![json!(href)],
        )
        .await;
    let csv = csv.as_str().expect("text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + ids.len(), "{csv}");
    let mut exported: Vec<&str> = lines[1..]
        .iter()
        .map(|line| line.split(',').nth(1).expect("an eventId column"))
        .collect();
    exported.sort_unstable();
    assert_eq!(exported, ids);
    let counted = browser
        .find("value-executions")
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(counted, lines.len().saturating_sub(1).to_string());
    browser.close().await;
}
