//! Work that is not lost: the browser is asked to keep the site's storage the moment
//! something is worth keeping, and the Storage panel shows what is used, what is available
//! and whether the browser promised to keep it.

use std::time::Duration;

use serde_json::Value;
use tests::{Browser, editor_of, spawn_app, until, until_ok};

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

async fn versions(browser: &Browser) -> Vec<Value> {
    browser
        .eval("return window.workbench.notebook.revisions()")
        .await
        .as_array()
        .expect("a list")
        .clone()
}

async fn sources(browser: &Browser) -> Vec<Value> {
    browser
        .eval("return (await window.workbench.notebook.cells()).map((cell) => [cell.source, cell.outputs.length])")
        .await
        .as_array()
        .expect("cells")
        .clone()
}

/// Waits until the newest version's summary is `summary`.
async fn wait_for_version(browser: &Browser, count: usize, summary: &str) -> Vec<Value> {
    until_ok(
        &format!("{count} versions, the newest {summary:?}"),
        Duration::from_secs(15),
        async || {
            let seen = versions(browser).await;
            if seen.len() == count && seen[0]["summary"] == summary {
                Ok(seen)
            } else {
                Err(seen)
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_are_kept_before_run_all_and_large_deletions_and_a_restore_can_be_undone() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    let long = format!("notes = '''{}'''", "all the trips of the year; ".repeat(30));
    let notebook = serde_json::json!({
        "cells": [
            {"cell_type": "code", "id": "a", "metadata": {}, "execution_count": null, "outputs": [], "source": "a = 1"},
            {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": null, "outputs": [], "source": "print(a * 2)"},
            {"cell_type": "code", "id": "long", "metadata": {}, "execution_count": null, "outputs": [], "source": long},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    });
    browser
        .eval_with(
            "return window.workbench.notebook.open(arguments[0])",
            vec![Value::String(notebook.to_string())],
        )
        .await;
    // Its first save is its first version.
    wait_for_version(&browser, 1, "while editing · 3 cells").await;

    // An edit, then Run all: the version before the run has the edit and no outputs.
    let editor = editor_of(&browser, 0).await;
    browser.type_into(&editor, "a = 10").await;
    until(
        "the edit in the model",
        Duration::from_secs(5),
        async || sources(&browser).await[0][0] == "a = 10",
    )
    .await;
    browser.find("run-all").await.click().await.expect("runs");
    wait_for_version(&browser, 2, "before Run all · 1 cell changed").await;
    until("the run's output", Duration::from_secs(30), async || {
        sources(&browser).await[1][1] == 1
    })
    .await;
    let before_deletion = sources(&browser).await;

    // Most of a cell's text deleted: the version saved before it is kept, outputs and all.
    let editor = editor_of(&browser, 2).await;
    browser.type_into(&editor, "notes = ''").await;
    let listed = wait_for_version(
        &browser,
        3,
        "before a large deletion · only outputs changed",
    )
    .await;
    let after_deletion = sources(&browser).await;
    assert_eq!(after_deletion[2][0], "notes = ''");

    // Restoring the version before Run all: its cells come back, and what it replaced is
    // kept first.
    let before_run = listed[1]["id"].as_str().expect("an id").to_owned();
    browser
        .eval_with(
            "return window.workbench.notebook.restore(arguments[0])",
            vec![Value::String(before_run)],
        )
        .await;
    let restored = sources(&browser).await;
    assert_eq!(
        restored,
        vec![
            serde_json::json!(["a = 10", 0]),
            serde_json::json!(["print(a * 2)", 0]),
            serde_json::json!([long, 0]),
        ]
    );
    // The page shows it: the run's output (which the restored version did not have) is gone.
    until(
        "the restored version on the page",
        Duration::from_secs(10),
        async || {
            browser
                .eval("return document.querySelectorAll('[data-testid=output]').length")
                .await
                == 0
        },
    )
    .await;
    let listed =
        wait_for_version(&browser, 5, "an earlier version restored · 1 cell changed").await;
    assert_eq!(
        listed[1]["summary"],
        "before restoring an earlier version · 1 cell changed"
    );

    // The Versions box lists them; restoring "before restoring" undoes the restore.
    browser.find("versions").await.click().await.expect("opens");
    until("the versions listed", Duration::from_secs(10), async || {
        browser
            .client
            .find_all(fantoccini::Locator::Css("[data-testid=version]"))
            .await
            .map(|found| found.len())
            .unwrap_or(0)
            == 5
    })
    .await;
    let buttons = browser
        .client
        .find_all(fantoccini::Locator::Css("[data-testid=restore-version]"))
        .await
        .expect("buttons");
    buttons[1].click().await.expect("restores");
    until("the restore undone", Duration::from_secs(10), async || {
        sources(&browser).await == after_deletion
    })
    .await;
    assert_ne!(after_deletion, before_deletion);

    // Versions stay across a reload.
    browser.client.refresh().await.expect("reloads");
    browser.wait_for_python().await;
    let kept = versions(&browser).await;
    assert!(kept.len() >= 6, "{kept:?}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notebooks_opened_or_left_in_quick_succession_lose_nothing() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    // Twenty notebooks opened as fast as the API allows: every one is kept.
    let titles = browser
        .eval(
            "for (let i = 0; i < 20; i++) {
               await window.workbench.notebook.open(JSON.stringify({cells: [
                 {cell_type: 'markdown', source: `# Quick ${i}`, metadata: {}},
                 {cell_type: 'code', source: '', metadata: {}, outputs: [], execution_count: null}],
                 metadata: {}, nbformat: 4, nbformat_minor: 5}));
             }
             await new Promise((resolve) => setTimeout(resolve, 1000));
             return (await window.workbench.notebook.list()).map((entry) => entry.title);",
        )
        .await;
    let titles = titles.as_array().expect("titles");
    for i in 0..20 {
        assert!(
            titles.contains(&Value::String(format!("Quick {i}"))),
            "Quick {i} was lost: {titles:?}"
        );
    }

    // Typing, then at once another notebook: the typing is kept.
    let editor = editor_of(&browser, 1).await;
    browser
        .type_into(&editor, "typed_just_before_leaving = 1")
        .await;
    let back = browser
        .eval(
            "const list = await window.workbench.notebook.list();
             const open = list.find((entry) => entry.title === 'Quick 19');
             const other = list.find((entry) => entry.title === 'Quick 0');
             await window.workbench.notebook.select(other.id);
             await new Promise((resolve) => setTimeout(resolve, 1000));
             await window.workbench.notebook.select(open.id);
             return (await window.workbench.notebook.cells())[1].source;",
        )
        .await;
    assert_eq!(back, "typed_just_before_leaving = 1");
    browser.close().await;
}
