//! A new build replaces the old one: the service worker of the new build caches it, deletes
//! the old build's cache, and the open page offers a reload that shows the new build.

use std::time::Duration;

use serde_json::Value;
use tests::{Browser, spawn_app_with, until, workspace_root};

const WAIT: Duration = Duration::from_secs(60);

async fn shell_caches(browser: &Browser) -> Vec<String> {
    let names = browser.eval("return caches.keys()").await;
    names
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(Value::as_str)
        .filter(|name| name.starts_with("workbench-shell-"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_build_replaces_the_old_cache_and_the_open_page_offers_a_reload() {
    // A copy of the real build that the test can change.
    let build = tempfile::tempdir().expect("dir");
    for entry in std::fs::read_dir(workspace_root().join("dist")).expect("dist/") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), build.path().join(entry.file_name())).expect("copied");
    }
    let dist = build.path().to_path_buf();
    let app = spawn_app_with(|config| config.dist_dir = dist).await;
    let browser = Browser::start().await;
    browser.client.goto(&app.url("/")).await.expect("opens");
    until("the service worker taking control", WAIT, async || {
        browser
            .eval("return navigator.serviceWorker.controller !== null")
            .await
            == true
    })
    .await;
    let first = shell_caches(&browser).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let notice = "return document.querySelector('[data-testid=update-notice]') !== null";
    assert_eq!(
        browser.eval(notice).await,
        false,
        "a first visit is no update"
    );

    // The next build: its page carries a marker.
    let index = build.path().join("index.html");
    let html = std::fs::read_to_string(&index).expect("index.html");
    std::fs::write(
        &index,
        html.replace(
            "<title>",
            "<meta name=\"build-marker\" content=\"next\" /><title>",
        ),
    )
    .expect("written");

    browser.client.refresh().await.expect("reloads");
    let marker = "return document.querySelector('meta[name=build-marker]')?.content ?? null";
    assert_eq!(
        browser.eval(marker).await,
        Value::Null,
        "the visit after a build still shows the cached build"
    );
    until("the update notice", WAIT, async || {
        browser.eval(notice).await == true
    })
    .await;
    until("the old build's cache being deleted", WAIT, async || {
        let now = shell_caches(&browser).await;
        now.len() == 1 && now != first
    })
    .await;

    browser
        .eval("document.querySelector('[data-testid=update-reload]').click()")
        .await;
    until("the new build on screen", WAIT, async || {
        browser.eval(marker).await == "next"
    })
    .await;
    assert_eq!(browser.eval(notice).await, false);
    browser.close().await;
}
