//! The workbench page in a real headless Chromium: a user opens it, waits for Python, runs
//! code and sees the output.

use tests::{Browser, PYTHON_LOAD_TIMEOUT, spawn_app};

#[tokio::test(flavor = "multi_thread")]
async fn running_print_shows_its_output_in_a_cross_origin_isolated_page() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&app.url("/"))
        .await
        .expect("the page opens");

    let status = browser
        .wait_for_text("status", PYTHON_LOAD_TIMEOUT, |text| {
            text.contains("ready") || text.contains("failed")
        })
        .await;
    assert!(
        status.contains("Python ready (Pyodide 0.27.7)"),
        "status line: {status}"
    );
    assert_eq!(
        browser.eval("return self.crossOriginIsolated").await,
        serde_json::Value::Bool(true),
        "the page must be cross-origin isolated, or Stop cannot work"
    );

    browser.type_code("print(1+1)").await;
    browser.find("run").await.click().await.expect("Run clicks");

    let output = browser
        .wait_for_text("output", PYTHON_LOAD_TIMEOUT, |text| {
            !text.trim().is_empty()
        })
        .await;
    assert_eq!(output.trim(), "2");

    browser.close().await;
}
