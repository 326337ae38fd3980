//! The workbench page as a person uses it, in a real headless Chromium against the real
//! server and build, grouped by what the user does.

use std::time::Duration;

use fantoccini::Locator;
use serde_json::json;
use tests::{Browser, PYTHON_LOAD_TIMEOUT, TestApp, spawn_app, until};

const WAIT: Duration = Duration::from_secs(30);
const CTRL_ENTER: &str = "\u{e009}\u{e007}\u{e000}";

async fn workbench() -> (TestApp, Browser) {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    (app, browser)
}

/// Drops a file on the page the way a browser does: a real `drop` event with a `File`.
async fn drop_file(browser: &Browser, name: &str, contents: &str) {
    browser
        .eval_with(
            "const transfer = new DataTransfer();
             transfer.items.add(new File([arguments[1]], arguments[0], {type: 'text/csv'}));
             const main = document.querySelector('main');
             main.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true, cancelable: true}));
             main.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));",
            vec![json!(name), json!(contents)],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typing_code_and_pressing_ctrl_enter_runs_it_in_an_isolated_page() {
    let (_app, browser) = workbench().await;
    assert_eq!(
        browser.eval("return self.crossOriginIsolated").await,
        true,
        "the page must be cross-origin isolated, or Stop cannot work"
    );
    browser.type_code("print(1+1)").await;
    browser
        .find("editor")
        .await
        .send_keys(CTRL_ENTER)
        .await
        .expect("Ctrl+Enter");
    let output = browser
        .wait_for_text("output", WAIT, |text| !text.trim().is_empty())
        .await;
    assert_eq!(output.trim(), "2");
    let history = browser.wait_for_text("history-entry", WAIT, |_| true).await;
    assert!(history.ends_with("ok · print(1+1)"), "{history}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_editor_takes_typing_before_python_is_ready_and_the_run_waits_for_it() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    // Where the app's editor sits on the page, every frame from the start: loading (and the
    // progress bar) ending must not move it under the person typing.
    browser
        .devtools(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": "window.editorTops = [];
                const watch = () => {
                  const editor = document.getElementById('boot') ? null : document.querySelector('[data-testid=editor]');
                  if (editor) {
                    const top = Math.round(editor.getBoundingClientRect().top + window.scrollY);
                    if (window.editorTops.at(-1) !== top) window.editorTops.push(top);
                  }
                  requestAnimationFrame(watch);
                };
                requestAnimationFrame(watch);"}),
        )
        .await;
    browser.client.goto(&app.url("/")).await.expect("opens");
    browser.wait_for_text("editor", WAIT, |_| true).await;
    browser.type_code("print('typed early')").await;
    // Read in one step: the shell's status line may give way to the app's meanwhile.
    let status = browser
        .eval("return document.querySelector('[data-testid=status]').textContent")
        .await;
    let status = status.as_str().unwrap_or_default();
    assert!(
        status.starts_with("Loading Python"),
        "typing did not wait for Python: {status}"
    );
    // The shell's Run button gives way to the app's when the app takes over; a click that
    // found the old one finds the new one.
    let mut tries = 0;
    while let Err(error) = browser.find("run").await.click().await {
        tries += 1;
        assert!(tries < 5, "run: {error}");
    }
    let output = browser
        .wait_for_text("output", PYTHON_LOAD_TIMEOUT, |text| {
            text.contains("typed early")
        })
        .await;
    assert_eq!(output.trim(), "typed early");
    until("the loading ending", PYTHON_LOAD_TIMEOUT, async || {
        browser
            .eval("return document.querySelector('[data-testid=load-progress]').classList.contains('done')")
            .await
            == true
    })
    .await;
    let tops = browser.eval("return window.editorTops").await;
    assert_eq!(
        tops.as_array().map(Vec::len),
        Some(1),
        "the editor moved while the page loaded: {tops}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_takes_code_and_a_run_before_the_app_arrives_and_loses_neither() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    // The app's own WebAssembly does not arrive (a slow or failing network): the page's
    // editor still takes code, and keeps it across a reload.
    browser.devtools("Network.enable", json!({})).await;
    browser
        .devtools("Network.setBlockedURLs", json!({"urls": ["*_bg.wasm"]}))
        .await;
    browser.client.goto(&app.url("/")).await.expect("opens");
    browser.wait_for_text("editor", WAIT, |_| true).await;
    browser.type_code("print('typed before the app')").await;
    browser.client.refresh().await.expect("reloads");
    let kept = browser
        .wait_for_text("editor", WAIT, |text| text.contains("typed before"))
        .await;
    assert_eq!(kept, "print('typed before the app')");

    // Ctrl+Enter asks for a run, and the page says it will happen.
    browser
        .find("editor")
        .await
        .send_keys(CTRL_ENTER)
        .await
        .expect("ctrl+enter");
    let status = browser.text("status").await;
    assert_eq!(
        status,
        "Loading Python… your code runs as soon as it is ready"
    );
    assert_eq!(
        browser.eval("return typeof window.workbench").await,
        "undefined",
        "the app is not there yet"
    );

    // The app arrives (its module runs as the page's own would), takes the editor over and
    // runs the code.
    browser
        .devtools("Network.setBlockedURLs", json!({"urls": []}))
        .await;
    browser
        .eval(
            "const app = document.createElement('script');
             app.type = 'module';
             app.textContent = document.querySelector('script[type=module]').textContent;
             document.head.append(app);",
        )
        .await;
    let output = browser
        .wait_for_text("output", PYTHON_LOAD_TIMEOUT, |text| {
            text.contains("typed before the app")
        })
        .await;
    assert_eq!(output.trim(), "typed before the app");
    assert_eq!(
        browser.text("editor").await,
        "print('typed before the app')"
    );
    let entry = browser.wait_for_text("history-entry", WAIT, |_| true).await;
    assert!(
        entry.ends_with("ok · print('typed before the app')"),
        "{entry}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn output_from_a_loop_with_sleeps_streams_in_while_it_runs() {
    let (_app, browser) = workbench().await;
    // The editor indents the loop body itself after the colon.
    browser
        .type_code("import time\nfor i in range(3):\nprint(f'tick {i}')\ntime.sleep(1.5)")
        .await;
    browser.find("run").await.click().await.expect("run");
    browser
        .wait_for_text("output", WAIT, |text| text.contains("tick 0"))
        .await;
    let still_running = browser.find("run").await.text().await.expect("text");
    assert_eq!(
        still_running, "Running…",
        "the first line arrived before the run ended"
    );
    let output = browser
        .wait_for_text("output", WAIT, |text| text.contains("tick 2"))
        .await;
    assert_eq!(output.trim(), "tick 0\ntick 1\ntick 2");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_csv_is_previewed_and_the_inserted_snippet_reads_it() {
    let (_app, browser) = workbench().await;
    drop_file(
        &browser,
        "sales.csv",
        "city,amount\nOslo,3\nRome,5\nLima,7\n",
    )
    .await;
    let shape = browser.wait_for_text("file-shape", WAIT, |_| true).await;
    assert_eq!(shape, "3 rows × 2 columns");
    let preview = browser
        .find("file-preview")
        .await
        .text()
        .await
        .expect("text");
    assert!(
        preview.contains("city") && preview.contains("int64") && preview.contains("Oslo"),
        "{preview}"
    );

    browser.type_code("").await;
    browser
        .find("insert-read")
        .await
        .click()
        .await
        .expect("insert");
    browser.find("run").await.click().await.expect("run");
    let table = browser.wait_for_text("table", WAIT, |_| true).await;
    assert!(
        table.contains("Rome") && table.contains("3 rows × 2 columns"),
        "{table}"
    );
    // The snippet went into a new cell below the selected one, which the run ran.
    let code = browser
        .eval("return window.workbench.notebook.cells().then((cells) => cells[1].source)")
        .await;
    assert!(
        code.as_str()
            .is_some_and(|code| code.contains("pd.read_csv('/home/pyodide/data/sales.csv')")),
        "{code}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn files_can_be_picked_and_a_malformed_csv_says_why() {
    let (_app, browser) = workbench().await;
    let folder = tempfile::tempdir().expect("dir");
    let broken = folder.path().join("broken.csv");
    std::fs::write(&broken, "a,b\n1,2\n\"never closed\n").expect("write");
    let input = browser
        .client
        .find(Locator::Css("[data-testid=file-input]"))
        .await
        .expect("the picker");
    input
        .send_keys(&broken.display().to_string())
        .await
        .expect("picks the file");
    let error = browser.wait_for_text("file-error", WAIT, |_| true).await;
    assert!(
        error.starts_with("could not read broken.csv as CSV: ParserError"),
        "{error}"
    );
    let name = browser.find("file-name").await.text().await.expect("name");
    assert_eq!(name, "broken.csv");
    let still_works = browser.execute(json!({"code": "1 + 1"})).await;
    assert_eq!(still_works["result"], 2, "the page is not broken");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seaborn_installs_from_the_packages_panel_and_is_listed() {
    let (_app, browser) = workbench().await;
    browser
        .find("package-name")
        .await
        .send_keys("seaborn")
        .await
        .expect("types");
    browser
        .find("install")
        .await
        .click()
        .await
        .expect("installs");
    let notice = browser
        .wait_for_text("install-notice", WAIT, |_| true)
        .await;
    assert_eq!(notice, "seaborn 0.13.2 installed");
    browser
        .client
        .find(Locator::Css("[data-testid=packages-panel] summary"))
        .await
        .expect("the list")
        .click()
        .await
        .expect("opens");
    let listed = browser
        .wait_for_text("package-list", WAIT, |text| text.contains("seaborn"))
        .await;
    let lines: Vec<&str> = listed.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|line| *line == "seaborn")
        .expect("seaborn is listed");
    assert_eq!(lines.get(at + 1), Some(&"0.13.2"), "{listed}");
    browser
        .find("package-name")
        .await
        .send_keys("no-such-package-xyz")
        .await
        .expect("types");
    browser
        .find("install")
        .await
        .click()
        .await
        .expect("installs");
    let failure = browser
        .wait_for_text("install-notice", WAIT, |text| {
            text.contains("no-such-package-xyz")
        })
        .await;
    assert!(
        failure.starts_with("could not install no-such-package-xyz"),
        "{failure}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn code_files_and_history_survive_a_reload() {
    let (_app, browser) = workbench().await;
    drop_file(&browser, "kept.csv", "x\n1\n2\n").await;
    browser.wait_for_text("file-shape", WAIT, |_| true).await;
    browser
        .type_code("kept_marker = 41\nprint(kept_marker + 1)")
        .await;
    browser.find("run").await.click().await.expect("run");
    browser
        .wait_for_text("output", WAIT, |text| text.contains("42"))
        .await;
    browser.wait_for_text("history-entry", WAIT, |_| true).await;

    browser.client.refresh().await.expect("reloads");
    browser
        .wait_for_text("status", PYTHON_LOAD_TIMEOUT, |text| text.contains("ready"))
        .await;
    let code = browser
        .wait_for_text("editor", WAIT, |text| text.contains("kept_marker"))
        .await;
    assert_eq!(code, "kept_marker = 41\nprint(kept_marker + 1)");
    let file = browser.wait_for_text("file-name", WAIT, |_| true).await;
    assert_eq!(file, "kept.csv");
    let history = browser.wait_for_text("history-entry", WAIT, |_| true).await;
    assert!(history.ends_with("ok · kept_marker = 41"), "{history}");
    let read = browser
        .execute(json!({"code": "open('/home/pyodide/data/kept.csv').read()"}))
        .await;
    assert_eq!(
        read["result"], "x\n1\n2\n",
        "the file itself is back in Python"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn code_kept_by_an_earlier_version_comes_back_once() {
    // Earlier versions kept the editor's code in IndexedDB; the first visit of this one
    // moves it over, and from then on the code the user types is what comes back. (This
    // browser is made to look as one that never ran a version with notebooks.)
    let (_app, browser) = workbench().await;
    browser
        .eval(
            "return new Promise((resolve, reject) => {
               localStorage.removeItem('workbench.code');
               localStorage.removeItem('workbench.shell');
               localStorage.removeItem('workbench.notebook.current');
               indexedDB.deleteDatabase('pyodide-workbench-notebooks');
               indexedDB.deleteDatabase('pyodide-workbench-notebook-list');
               const request = indexedDB.open('pyodide-workbench-state', 1);
               request.onsuccess = () => {
                 const transaction = request.result.transaction('state', 'readwrite');
                 transaction.objectStore('state').put('print(\"kept before\")', 'code');
                 transaction.oncomplete = () => resolve(true);
                 transaction.onerror = () => reject(transaction.error);
               };
               request.onerror = () => reject(request.error);
             });",
        )
        .await;
    browser.client.refresh().await.expect("reloads");
    let code = browser
        .wait_for_text("editor", WAIT, |text| text.contains("kept before"))
        .await;
    assert_eq!(code, "print(\"kept before\")");
    browser.type_code("print('typed now')").await;
    browser.client.refresh().await.expect("reloads");
    browser.wait_for_python().await;
    assert_eq!(browser.text("editor").await, "print('typed now')");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plot_shows_as_an_image_and_an_error_names_its_type_and_line() {
    let (_app, browser) = workbench().await;
    browser
        .type_code("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])")
        .await;
    browser.find("run").await.click().await.expect("run");
    browser.wait_for_text("figure", WAIT, |_| true).await;
    let source = browser
        .client
        .find(Locator::Css("[data-testid=figure]"))
        .await
        .expect("an image")
        .attr("src")
        .await
        .expect("attr")
        .expect("a source");
    assert!(
        source.starts_with("data:image/png;base64,iVBORw0KGgo"),
        "{}",
        &source[..40]
    );

    browser.type_code("x = 1\nx / 0").await;
    browser.find("run").await.click().await.expect("run");
    let output = browser
        .wait_for_text("output", WAIT, |text| text.contains("ZeroDivisionError"))
        .await;
    // The cell's second run: its traceback names it as Jupyter does.
    assert!(output.contains("Cell [2], line 2"), "{output}");
    assert!(
        output
            .trim_end()
            .ends_with("ZeroDivisionError: division by zero"),
        "{output}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_asks_first_and_a_deleted_file_is_gone() {
    let (_app, browser) = workbench().await;
    drop_file(&browser, "old.csv", "a\n1\n").await;
    browser.wait_for_text("file-name", WAIT, |_| true).await;
    browser
        .find("delete-file")
        .await
        .click()
        .await
        .expect("deletes");
    browser
        .wait_for_text("files-notice", WAIT, |text| text == "old.csv deleted")
        .await;
    let listed = browser
        .eval("return document.querySelectorAll('[data-testid=file]').length")
        .await;
    assert_eq!(listed, 0);
    let gone = browser
        .execute(json!({"code": "import os\nos.path.exists('/home/pyodide/data/old.csv')"}))
        .await;
    assert_eq!(gone["result"], false);

    browser.execute(json!({"code": "precious = 1"})).await;
    browser.find("restart").await.click().await.expect("asks");
    browser
        .client
        .dismiss_alert()
        .await
        .expect("a confirmation was asked");
    let kept = browser.execute(json!({"code": "precious"})).await;
    assert_eq!(kept["result"], 1, "declining keeps the runtime");

    browser.find("restart").await.click().await.expect("asks");
    browser
        .client
        .accept_alert()
        .await
        .expect("a confirmation was asked");
    browser
        .wait_for_text("status", PYTHON_LOAD_TIMEOUT, |text| text.contains("ready"))
        .await;
    let lost = browser
        .execute(json!({"code": "'precious' in globals()"}))
        .await;
    assert_eq!(lost["result"], false, "a restart starts a fresh runtime");
    browser.close().await;
}
