//! Work that is not lost: the browser is asked to keep the site's storage the moment
//! something is worth keeping, and the Storage panel shows what is used, what is available
//! and whether the browser promised to keep it.

use std::time::Duration;

use serde_json::Value;
use tests::{Browser, editor_of, spawn_app, until};

/// How often the page called `navigator.storage.persist()` since [`SPY_ON_PERSIST`].
async fn persist_calls(browser: &Browser) -> Value {
    browser.eval("return window.persistCalls").await
}

const SPY_ON_PERSIST: &str = "
    window.persistCalls = 0;
    const original = navigator.storage.persist.bind(navigator.storage);
    navigator.storage.persist = () => { window.persistCalls += 1; return original(); };";

#[tokio::test(flavor = "multi_thread")]
async fn the_browser_is_asked_to_keep_the_storage_at_the_first_change_and_the_figures_show() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    browser.eval(SPY_ON_PERSIST).await;
    // A first visit that changed nothing asked nothing.
    let usage_before = browser
        .wait_for_text("storage-usage", Duration::from_secs(10), |text| {
            text.ends_with(" available")
        })
        .await;
    assert_eq!(
        browser
            .eval("return localStorage.getItem('workbench.storage.asked')")
            .await,
        Value::Null
    );
    assert_eq!(persist_calls(&browser).await, 0);

    // The first edit asks, once.
    let editor = editor_of(&browser, 0).await;
    browser.type_into(&editor, "total = 1").await;
    until(
        "the page asking to keep its storage",
        Duration::from_secs(10),
        async || persist_calls(&browser).await == 1,
    )
    .await;
    editor.send_keys(" + 2").await.expect("typing");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(persist_calls(&browser).await, 1, "asked once a page");
    let asked_at = browser
        .eval("return localStorage.getItem('workbench.storage.asked')")
        .await;
    assert!(asked_at.is_string(), "{asked_at}");

    // The panel says what the browser says.
    let kept = browser.eval("return navigator.storage.persisted()").await;
    let said = browser
        .wait_for_text("storage-persisted", Duration::from_secs(10), |text| {
            !text.is_empty()
        })
        .await;
    if kept == true {
        assert!(said.starts_with("Kept"), "{said}");
    } else {
        assert!(said.starts_with("Not promised"), "{said}");
        let advice = browser.text("storage-advice").await;
        assert!(
            advice.contains("Safari") && advice.contains("Download"),
            "{advice}"
        );
    }

    // A kept file of 8 MB shows in the figures.
    let stored = browser
        .eval("return window.workbench.loadFile('big.bin', new Blob([new Uint8Array(8 * 1024 * 1024).fill(7)]))")
        .await;
    assert_eq!(stored["success"], true, "{stored}");
    browser
        .wait_for_text("storage-usage", Duration::from_secs(30), |text| {
            text != usage_before && text.ends_with(" available")
        })
        .await;

    // A reload within the week does not ask again.
    browser.client.refresh().await.expect("reloads");
    browser.wait_for_python().await;
    let editor = editor_of(&browser, 0).await;
    browser.type_into(&editor, "again = 2").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        browser
            .eval("return localStorage.getItem('workbench.storage.asked')")
            .await,
        asked_at,
        "not asked again"
    );
    browser.close().await;
}
