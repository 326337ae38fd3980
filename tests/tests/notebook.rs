//! Notebooks as a person uses them, in a real headless Chromium against the real server and
//! build: cells and their keys, outputs in the order the code made them, running and stopping,
//! Markdown (and what a stranger's notebook must not be able to do), IPython's syntax,
//! Jupyter files in and out, documents kept in the browser, and `window.workbench.notebook`.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{
    Browser, PYTHON_LOAD_TIMEOUT, RECORD_REQUEST_BODIES, TestApp, cells, cells_until, editor_of,
    spawn_app, workspace_root,
};

const WAIT: Duration = Duration::from_secs(60);
const SHIFT_ENTER: &str = "\u{e008}\u{e007}\u{e000}";
const CTRL_ENTER: &str = "\u{e009}\u{e007}\u{e000}";
const ALT_ENTER: &str = "\u{e00a}\u{e007}\u{e000}";
const ESCAPE: &str = "\u{e00c}";
const CTRL_SPACE: &str = "\u{e009}\u{e00d}\u{e000}";

async fn completion_popup_open(browser: &Browser) -> bool {
    browser
        .eval("return document.querySelector('.cm-tooltip-autocomplete') !== null")
        .await
        == json!(true)
}

async fn workbench() -> (TestApp, Browser) {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    (app, browser)
}

/// Types into the editor of cell `index` (clicking it first), replacing its code.
async fn type_into(browser: &Browser, index: usize, code: &str) {
    browser
        .type_into(&editor_of(browser, index).await, code)
        .await;
}

/// Keys to the notebook in command mode.
async fn command_keys(browser: &Browser, keys: &str) {
    browser
        .find("notebook")
        .await
        .send_keys(keys)
        .await
        .expect("keys reach the notebook");
}

fn output_types(cell: &Value) -> Vec<String> {
    cell["outputs"]
        .as_array()
        .map(|outputs| {
            outputs
                .iter()
                .map(|output| match output["output_type"].as_str() {
                    Some("stream") => format!(
                        "stream:{}",
                        output["text"].as_str().unwrap_or_default().trim()
                    ),
                    Some(other) => other.to_owned(),
                    None => "?".to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(workspace_root().join("notebook/tests/fixtures").join(name))
        .expect("the fixture is there")
}

/// Opens `.ipynb` text through the API; returns its id.
async fn open_notebook(browser: &Browser, text: &str) -> String {
    let opened = browser
        .eval_with(
            "return window.workbench.notebook.open(arguments[0])",
            vec![json!(text)],
        )
        .await;
    opened["id"].as_str().expect("an id").to_owned()
}

/// Waits until the background preloads are done (their last step imports pyplot, which
/// builds matplotlib's font cache and says so on stderr the first time).
async fn wait_for_preloads(browser: &Browser) {
    tests::until("the preloads finishing", WAIT, async || {
        browser
            .execute(json!({"code": "'matplotlib.pyplot' in __import__('sys').modules"}))
            .await["result"]
            == true
    })
    .await;
}

/// The first cell's source of every notebook IndexedDB keeps: what the autosave wrote. (A
/// database that is not there yet is not made here: nothing was saved yet.)
const SAVED_FIRST_SOURCES: &str = "
    const firstSource = (json) => {
      try {
        const source = JSON.parse(JSON.parse(json).ipynb).cells[0]?.source ?? null;
        return Array.isArray(source) ? source.join('') : source;
      } catch {
        return null;
      }
    };
    return new Promise((resolve) => {
      const request = indexedDB.open('pyodide-workbench-notebooks', 1);
      request.onupgradeneeded = () => request.transaction.abort();
      request.onerror = () => resolve([]);
      request.onsuccess = () => {
        const database = request.result;
        try {
          const read = database.transaction('documents').objectStore('documents').getAll();
          read.onsuccess = () => resolve(read.result.map(firstSource));
          read.onerror = () => resolve([]);
        } catch {
          resolve([]);
        }
        database.close();
      };
    });";

/// Waits until the autosave has kept a notebook whose first cell is `source`.
async fn until_saved(browser: &Browser, source: &str) {
    tests::until_ok(
        &format!("the autosave keeping {source:?}"),
        WAIT,
        async || {
            let saved = browser.eval(SAVED_FIRST_SOURCES).await;
            if saved
                .as_array()
                .is_some_and(|saved| saved.iter().any(|kept| kept == source))
            {
                Ok(())
            } else {
                Err(saved)
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_come_in_the_order_the_code_made_them() {
    let (_app, browser) = workbench().await;
    wait_for_preloads(&browser).await;
    type_into(
        &browser,
        0,
        "import pandas as pd\nimport matplotlib.pyplot as plt\nprint('first')\nplt.plot([1, 2])\nplt.show()\nprint('second')\ndisplay(pd.DataFrame({'x': [0.123456789, 2.5]}))\n'last'",
    )
    .await;
    editor_of(&browser, 0)
        .await
        .send_keys(CTRL_ENTER)
        .await
        .expect("ctrl+enter");
    let cells = cells_until(&browser, "the run", |cells| {
        cells[0]["executionCount"] == 1 && !cells[0]["outputs"].as_array().is_none_or(Vec::is_empty)
    })
    .await;
    assert_eq!(
        output_types(&cells[0]),
        [
            "stream:first",
            "display_data",
            "stream:second",
            "display_data",
            "execute_result"
        ],
        "{:#?}",
        cells[0]
    );
    let outputs = &cells[0]["outputs"];
    assert!(
        outputs[1]["data"]["image/png"]
            .as_str()
            .is_some_and(|png| png.starts_with("iVBORw0KGgo"))
    );
    assert_eq!(outputs[4]["data"]["text/plain"], "'last'");
    // The page shows them in that order too, the float as pandas prints it.
    let shown = browser.text("output").await;
    let at = |text: &str| {
        shown
            .find(text)
            .unwrap_or_else(|| panic!("{text:?} is not shown: {shown}"))
    };
    assert!(
        at("first") < at("second")
            && at("second") < at("0.123457")
            && at("0.123457") < at("'last'"),
        "{shown}"
    );
    assert!(
        !shown.contains("0.123456789"),
        "pandas shows 6 digits: {shown}"
    );
    let figures = browser
        .eval("return [...document.querySelectorAll('[data-testid=output] > *')].map((node) => node.dataset.testid || node.className)")
        .await;
    assert_eq!(
        figures[1], "figure",
        "the figure sits where plt.show() ran: {figures}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_keys_move_on_stay_or_insert_and_the_count_shows() {
    let (_app, browser) = workbench().await;
    type_into(&browser, 0, "a = 1\na").await;
    // Shift+Enter: runs, and a new cell at the end takes the typing.
    editor_of(&browser, 0)
        .await
        .send_keys(SHIFT_ENTER)
        .await
        .expect("keys");
    cells_until(&browser, "a second cell", |cells| cells.len() == 2).await;
    let active = browser
        .eval("return document.activeElement.closest('[data-testid=cell]') === document.querySelectorAll('[data-testid=cell]')[1]")
        .await;
    assert_eq!(active, true, "Shift+Enter moves into the next cell");
    browser
        .wait_for_text("cell-count", WAIT, |text| text == "[1]")
        .await;
    // Ctrl+Enter: runs in place.
    type_into(&browser, 1, "b = a + 1\nb").await;
    editor_of(&browser, 1)
        .await
        .send_keys(CTRL_ENTER)
        .await
        .expect("keys");
    let cells = cells_until(&browser, "the second run", |cells| {
        cells[1]["executionCount"] == 2 && !cells[1]["outputs"].as_array().is_none_or(Vec::is_empty)
    })
    .await;
    assert_eq!(cells.len(), 2, "Ctrl+Enter adds no cell");
    assert_eq!(cells[1]["outputs"][0]["data"]["text/plain"], "2");
    // Alt+Enter: runs, and a new cell goes right below it.
    editor_of(&browser, 0).await.click().await.expect("click");
    editor_of(&browser, 0)
        .await
        .send_keys(ALT_ENTER)
        .await
        .expect("keys");
    let cells = cells_until(&browser, "a cell inserted below", |cells| cells.len() == 3).await;
    assert_eq!(
        cells[1]["source"], "",
        "the new cell is right below the one that ran"
    );
    assert_eq!(cells[0]["executionCount"], 3);
    assert_eq!(cells[2]["source"], "b = a + 1\nb");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn command_mode_keys_add_delete_undo_retype_and_move() {
    let (_app, browser) = workbench().await;
    type_into(&browser, 0, "first = 1").await;
    editor_of(&browser, 0)
        .await
        .send_keys(ESCAPE)
        .await
        .expect("escape");
    // B inserts below, A above (the selection follows the new cell).
    command_keys(&browser, "b").await;
    command_keys(&browser, "a").await;
    let cells = cells_until(&browser, "two new cells", |cells| cells.len() == 3).await;
    assert_eq!(cells[0]["source"], "first = 1");
    // The new cell above the second is selected: make it Markdown, then code, then Markdown.
    command_keys(&browser, "m").await;
    cells_until(&browser, "a Markdown cell", |cells| {
        cells[1]["type"] == "markdown"
    })
    .await;
    command_keys(&browser, "y").await;
    cells_until(&browser, "a code cell again", |cells| {
        cells[1]["type"] == "code"
    })
    .await;
    command_keys(&browser, "m").await;
    // D D deletes it, Z brings it back.
    command_keys(&browser, "dd").await;
    cells_until(&browser, "the delete", |cells| cells.len() == 2).await;
    command_keys(&browser, "z").await;
    let cells = cells_until(&browser, "the undo", |cells| cells.len() == 3).await;
    assert_eq!(cells[1]["type"], "markdown", "the same cell came back");
    // ↑ selects the first cell; Enter edits it.
    command_keys(&browser, "\u{e013}").await;
    command_keys(&browser, "\u{e007}").await;
    let editing = browser
        .eval("return document.activeElement.closest('[data-testid=cell]') === document.querySelectorAll('[data-testid=cell]')[0]")
        .await;
    assert_eq!(editing, true, "Enter goes into the selected cell's editor");
    // ? lists the keys.
    editor_of(&browser, 0)
        .await
        .send_keys(ESCAPE)
        .await
        .expect("escape");
    command_keys(&browser, "?").await;
    let help = browser.wait_for_text("keys-help", WAIT, |_| true).await;
    assert!(
        help.contains("D D") && help.contains("Shift+Enter"),
        "{help}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_all_stops_at_an_error_and_stop_cancels_the_queue() {
    let (_app, browser) = workbench().await;
    let notebook = json!({
        "cells": [
            {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "1 / 0", "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "y = 2", "metadata": {}, "outputs": [], "execution_count": null},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    });
    open_notebook(&browser, &notebook.to_string()).await;
    let outcomes = browser
        .eval("return window.workbench.notebook.runAll()")
        .await;
    assert_eq!(
        outcomes,
        json!([
            {"index": 0, "success": true, "executionCount": 1},
            {"index": 1, "success": false, "executionCount": 2},
            {"index": 2, "success": false, "executionCount": null},
        ])
    );
    let not_run = browser.wait_for_text("not-run", WAIT, |_| true).await;
    assert_eq!(not_run, "Not run: an earlier cell failed");
    let after_error = cells(&browser).await;
    assert_eq!(after_error[1]["outputs"][0]["ename"], "ZeroDivisionError");
    assert!(
        after_error[1]["outputs"][0]["traceback"]
            .to_string()
            .contains("Cell [2], line 1"),
        "{}",
        after_error[1]
    );

    // Stop while a run-all runs: the running cell is interrupted, the rest are not run.
    let looping = json!({
        "cells": [
            {"cell_type": "code", "source": "import time\nwhile True: time.sleep(0.01)", "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "after = 1", "metadata": {}, "outputs": [], "execution_count": null},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    });
    open_notebook(&browser, &looping.to_string()).await;
    let outcomes = browser
        .eval(
            "const run = window.workbench.notebook.runAll();
             setTimeout(() => document.querySelector('[data-testid=stop]').click(), 1500);
             return run;",
        )
        .await;
    assert_eq!(outcomes[0]["success"], false, "{outcomes}");
    assert_eq!(outcomes[1]["executionCount"], Value::Null, "{outcomes}");
    let stopped = cells(&browser).await;
    assert_eq!(stopped[0]["outputs"][0]["ename"], "KeyboardInterrupt");
    assert_eq!(
        browser.text("not-run").await,
        "Not run: the run was stopped"
    );
    // Python is still there, with its variables.
    let still = browser.execute(json!({"code": "x + 1"})).await;
    assert_eq!(still["result"], 2, "{still}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_and_run_all_starts_the_counts_again_in_a_fresh_python() {
    let (_app, browser) = workbench().await;
    browser.execute(json!({"code": "leftover = 1"})).await;
    let notebook = json!({
        "cells": [
            {"cell_type": "code", "source": "'leftover' in globals()", "metadata": {}, "outputs": [], "execution_count": 7},
            {"cell_type": "code", "source": "40 + 2", "metadata": {}, "outputs": [], "execution_count": 8},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    });
    open_notebook(&browser, &notebook.to_string()).await;
    browser
        .eval("window.confirm = () => true; document.querySelector('[data-testid=restart-run-all]').click()")
        .await;
    let cells = cells_until(&browser, "both cells ran again", |cells| {
        cells[1]["executionCount"] == 2 && !cells[1]["outputs"].as_array().is_none_or(Vec::is_empty)
    })
    .await;
    assert_eq!(cells[0]["executionCount"], 1);
    assert_eq!(
        cells[0]["outputs"][0]["data"]["text/plain"], "False",
        "Python was fresh"
    );
    assert_eq!(cells[1]["outputs"][0]["data"]["text/plain"], "42");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn markdown_renders_and_nothing_in_a_notebook_runs_script_or_reaches_out() {
    let (_app, browser) = workbench().await;
    // Whatever happens, dialogs and requests are counted.
    browser
        .eval(
            "window.dialogs = 0;
             window.alert = window.confirm = window.prompt = () => { window.dialogs += 1; };
             window.requestsBefore = performance.getEntriesByType('resource').length;",
        )
        .await;
    let hostile = json!({
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source":
                "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint(1)\n```\n\n<script>alert('md')</script>\n\n<img src=x onerror=\"alert('img')\">\n\n[click](javascript:alert('link'))\n\n![tracker](http://127.0.0.1:9/pixel.png)"},
            {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "html()", "outputs": [
                {"output_type": "display_data", "metadata": {}, "data": {
                    "text/html": "<b>bold</b><script>parent.alert('html')</script><img src=x onerror=\"parent.alert('img')\"><img src=\"http://127.0.0.1:9/pixel.png\">",
                    "text/plain": "<HTML>"}}
            ]}
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    });
    open_notebook(&browser, &hostile.to_string()).await;
    let rendered = browser
        .wait_for_text("markdown", WAIT, |text| text.contains("Title"))
        .await;
    assert!(
        rendered.contains("<script>alert('md')</script>"),
        "raw HTML shows as text: {rendered}"
    );
    let structure = browser
        .eval(
            "const markdown = document.querySelector('[data-testid=markdown]');
             return {
               heading: markdown.querySelector('h1')?.textContent,
               table: markdown.querySelectorAll('table td').length,
               code: markdown.querySelector('pre code')?.textContent,
               scripts: document.querySelectorAll('.markdown script, .markdown img[onerror]').length,
               link: markdown.querySelector('a')?.getAttribute('href'),
               images: markdown.querySelectorAll('img').length,
               html: (() => {
                 const html = document.querySelector('[data-testid=html-output]');
                 return {
                   bold: html?.querySelector('b')?.textContent,
                   scripts: html?.querySelectorAll('script, [onerror], [onload]').length,
                   images: html?.querySelectorAll('img[src]').length,
                 };
               })(),
             };",
        )
        .await;
    assert_eq!(
        structure,
        json!({"heading": "Title", "table": 2, "code": "print(1)\n", "scripts": 0, "link": "#", "images": 0,
               "html": {"bold": "bold", "scripts": 0, "images": 0}})
    );
    // Double-click edits, Shift+Enter renders again.
    browser
        .find("rendered-markdown")
        .await
        .click()
        .await
        .expect("click");
    browser
        .eval("document.querySelector('[data-testid=rendered-markdown]').dispatchEvent(new MouseEvent('dblclick', {bubbles: true}))")
        .await;
    editor_of(&browser, 0)
        .await
        .send_keys(SHIFT_ENTER)
        .await
        .expect("keys");
    browser
        .wait_for_text("markdown", WAIT, |text| text.contains("Title"))
        .await;
    // A deliberate negative check: there is no event to wait for when nothing may happen, so
    // the page gets two seconds — far longer than an image load or a script on a rendered
    // page takes — to show a dialog or make a request, and then must not have.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = browser
        .eval("return {dialogs: window.dialogs, requests: performance.getEntriesByType('resource').slice(window.requestsBefore).map((entry) => entry.name).filter((name) => !name.includes('/api/telemetry'))}")
        .await;
    assert_eq!(
        after,
        json!({"dialogs": 0, "requests": []}),
        "nothing ran, nothing left"
    );
    assert!(
        browser.client.get_alert_text().await.is_err(),
        "no dialog is open"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ipython_syntax_works_as_in_jupyter_or_says_why_not() {
    let (_app, browser) = workbench().await;
    let notebook = json!({
        "cells": [
            {"cell_type": "code", "source": "%matplotlib inline\nimport matplotlib.pyplot as plt", "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "%time total = sum(range(1000))\ntotal", "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "%timeit -n 10 -r 2 sum(range(100))", "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "%%time\nx = 2 ** 10", "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "%pip install seaborn", "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "import seaborn\nseaborn.__version__", "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "%who", "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "!ls", "metadata": {}, "outputs": [], "execution_count": null},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    });
    open_notebook(&browser, &notebook.to_string()).await;
    let outcomes = browser
        .eval("return window.workbench.notebook.runAll()")
        .await;
    let successes: Vec<bool> = outcomes
        .as_array()
        .expect("outcomes")
        .iter()
        .map(|outcome| outcome["success"] == true)
        .collect();
    assert_eq!(
        successes,
        [true, true, true, true, true, true, true, false],
        "{outcomes}"
    );
    let cells = cells(&browser).await;
    let text = |index: usize| cells[index]["outputs"].to_string();
    assert!(
        text(1).contains("Wall time:") && text(1).contains("499500"),
        "{}",
        text(1)
    );
    assert!(
        text(2).contains("per loop (mean ± std. dev. of 2 runs, 10 loops each)"),
        "{}",
        text(2)
    );
    assert!(text(3).contains("Wall time:"), "{}", text(3));
    assert!(text(4).contains("seaborn"), "{}", text(4));
    assert_eq!(cells[5]["outputs"][0]["data"]["text/plain"], "'0.13.2'");
    assert!(
        text(6).contains("total") && text(6).contains("x"),
        "{}",
        text(6)
    );
    assert!(
        text(7).contains("shell commands are not available in the browser"),
        "{}",
        text(7)
    );
    let unknown = browser.execute(json!({"code": "%frobnicate"})).await;
    assert_eq!(
        unknown["error"], "UsageError: unknown magic %frobnicate",
        "{unknown}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jupyter_files_open_and_export_as_valid_nbformat_and_percent_python() {
    let (_app, browser) = workbench().await;
    // A v4.4 file without ids, as classic Jupyter wrote them: its stored outputs show.
    open_notebook(&browser, &fixture("classic-v4.4-without-ids.ipynb")).await;
    let cells = cells(&browser).await;
    assert_eq!(cells[0]["type"], "markdown");
    assert_eq!(cells[1]["executionCount"], 1);
    browser
        .wait_for_text("notebook-name", WAIT, |text| text == "Iris measurements")
        .await;
    let shown = browser.text("output").await;
    assert!(
        shown.contains("rows: 3"),
        "stored outputs show until the cell runs again: {shown}"
    );
    // Exported as nbformat 4.5 with ids, which nbformat itself accepts, and opened again
    // it is the same notebook.
    let exported = browser
        .eval("return window.workbench.notebook.export()")
        .await;
    let exported = exported.as_str().expect("text").to_owned();
    validate_with_nbformat(&exported);
    let parsed: Value = serde_json::from_str(&exported).expect("JSON");
    assert_eq!(parsed["nbformat_minor"], 5);
    assert!(parsed["cells"][0]["id"].is_string());
    assert_eq!(parsed["metadata"]["kernelspec"]["name"], "python3");
    open_notebook(&browser, &exported).await;
    let again = browser
        .eval("return window.workbench.notebook.export()")
        .await;
    assert_eq!(
        again.as_str(),
        Some(exported.as_str()),
        "open → export → open gives the same notebook"
    );

    // A 4.5 file as JupyterLab 4 writes it comes back byte for byte.
    let lab = fixture("jupyterlab4-v4.5.ipynb");
    open_notebook(&browser, &lab).await;
    let exported = browser
        .eval("return window.workbench.notebook.export()")
        .await;
    assert_eq!(exported.as_str().map(str::trim_end), Some(lab.trim_end()));
    browser.wait_for_text("figure", WAIT, |_| true).await;

    // .py in the percent format.
    let python = browser
        .eval(
            "let saved = null;
             const original = URL.createObjectURL;
             URL.createObjectURL = (blob) => { saved = blob; return original(blob); };
             document.querySelector('[data-testid=download-py]').click();
             URL.createObjectURL = original;
             return saved.text();",
        )
        .await;
    let python = python.as_str().expect("text");
    assert!(
        python.contains("# %%\n") && python.contains("# %% [markdown]\n# "),
        "{python}"
    );
    browser.close().await;
}

/// `nbformat.validate` from PyPI (set-up installs it beside pytest) accepts the file.
fn validate_with_nbformat(ipynb: &str) {
    let mut check = std::process::Command::new("python3")
        .args(["-c", "import sys, nbformat; nbformat.validate(nbformat.reads(sys.stdin.read(), as_version=4)); print('valid')"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(ipynb.as_bytes())
        .expect("written");
    let output = check.wait_with_output().expect("it finishes");
    assert!(
        output.status.success(),
        "nbformat refused the export: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_files_get_a_clear_message_and_change_nothing() {
    let (_app, browser) = workbench().await;
    type_into(&browser, 0, "kept = 'yes'").await;
    let list_before = browser
        .eval("return window.workbench.notebook.list().then((list) => list.length)")
        .await;
    let too_big = format!(
        "{{\"cells\": [], \"padding\": \"{}\"}}",
        "x".repeat(26 * 1024 * 1024)
    );
    let cases = [
        ("not json at all".to_owned(), "this file is not JSON"),
        ("{\"a\": 1}".to_owned(), "not a Jupyter notebook"),
        (json!({"nbformat": 3, "nbformat_minor": 0, "worksheets": []}).to_string(), "nbformat 3"),
        (json!({"nbformat": 5, "nbformat_minor": 0, "cells": []}).to_string(), "nbformat 5"),
        (json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "foo", "source": "", "metadata": {}}]}).to_string(), "unknown type \"foo\""),
        (too_big, "notebooks up to 25 MB can be opened"),
    ];
    for (text, expected) in cases {
        let error = browser
            .eval_with(
                "return window.workbench.notebook.open(arguments[0]).then(() => 'opened', (error) => error.message)",
                vec![json!(text)],
            )
            .await;
        assert!(
            error
                .as_str()
                .is_some_and(|message| message.contains(expected)),
            "{expected:?}: {error}"
        );
    }
    // A file dropped on the page says the same, in the panel.
    browser
        .eval(
            "const transfer = new DataTransfer();
             transfer.items.add(new File(['{\"nbformat\": 3}'], 'old.ipynb', {type: 'application/json'}));
             const main = document.querySelector('main');
             main.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));",
        )
        .await;
    let notice = browser
        .wait_for_text("notebooks-notice", WAIT, |_| true)
        .await;
    assert!(
        notice.starts_with("old.ipynb: ") && notice.contains("nbformat 3"),
        "{notice}"
    );
    assert_eq!(
        browser
            .eval("return window.workbench.notebook.list().then((list) => list.length)")
            .await,
        list_before
    );
    assert_eq!(
        cells(&browser).await[0]["source"],
        "kept = 'yes'",
        "the open notebook is as it was"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notebooks_are_kept_across_a_reload_and_listed_and_switched() {
    let (app, browser) = workbench().await;
    type_into(&browser, 0, "typed_then_reloaded = 1").await;
    // A reload once the autosave (300 ms after the last key) has kept it loses nothing.
    until_saved(&browser, "typed_then_reloaded = 1").await;
    browser.client.refresh().await.expect("reloads");
    browser.wait_for_python().await;
    assert_eq!(
        cells(&browser).await[0]["source"],
        "typed_then_reloaded = 1"
    );
    assert_eq!(
        browser.text("editor").await,
        "typed_then_reloaded = 1",
        "the first paint shows it too"
    );

    // A second notebook: listed, selected, and the first is still there.
    let second = open_notebook(&browser, &fixture("classic-v4.4-without-ids.ipynb")).await;
    let list = browser
        .eval("return window.workbench.notebook.list()")
        .await;
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    let first = list
        .as_array()
        .and_then(|list| list.iter().find(|entry| entry["id"] != second.as_str()))
        .and_then(|entry| entry["id"].as_str())
        .expect("the first notebook")
        .to_owned();
    browser
        .eval_with(
            "return window.workbench.notebook.select(arguments[0])",
            vec![json!(first)],
        )
        .await;
    assert_eq!(
        cells(&browser).await[0]["source"],
        "typed_then_reloaded = 1"
    );
    let entries = browser
        .wait_for_text("notebooks-panel", WAIT, |text| {
            text.contains("Iris measurements")
        })
        .await;
    assert!(entries.contains("Untitled"), "{entries}");
    drop(app);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_tab_says_the_notebook_changed_elsewhere() {
    let (app, browser) = workbench().await;
    type_into(&browser, 0, "from_the_first_tab = 1").await;
    until_saved(&browser, "from_the_first_tab = 1").await;
    let first_tab = browser.client.window().await.expect("a window");
    let second_tab = browser.client.new_window(true).await.expect("a new tab");
    browser
        .client
        .switch_to_window(second_tab.handle)
        .await
        .expect("switch");
    browser.client.goto(&app.url("/")).await.expect("opens");
    browser.wait_for_python().await;
    assert_eq!(cells(&browser).await[0]["source"], "from_the_first_tab = 1");
    type_into(&browser, 0, "from_the_second_tab = 2").await;
    until_saved(&browser, "from_the_second_tab = 2").await;
    browser
        .client
        .switch_to_window(first_tab)
        .await
        .expect("back");
    let conflict = browser.wait_for_text("conflict", WAIT, |_| true).await;
    assert!(conflict.contains("changed in another tab"), "{conflict}");
    // This tab's later typing does not overwrite the other's save… A deliberate negative
    // check: a save that must not happen gives nothing to wait for, so this tab gets a second,
    // more than three times the autosave's 300 ms after the last key, to make it.
    type_into(&browser, 0, "typed_after = 3").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // …and loading that version shows the second tab's code.
    browser
        .find("conflict-reload")
        .await
        .click()
        .await
        .expect("reload it");
    cells_until(&browser, "the other tab's version", |cells| {
        cells[0]["source"] == "from_the_second_tab = 2"
    })
    .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_single_editor_and_its_history_move_into_the_first_notebook() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    // What the version before notebooks left in this browser: its code and its history.
    browser
        .client
        .goto(&app.url("/login"))
        .await
        .expect("opens");
    browser
        .eval(
            "localStorage.setItem('workbench.code', 'x = 41\\nprint(x + 1)');
             return new Promise((resolve, reject) => {
               const request = indexedDB.open('pyodide-workbench-state', 1);
               request.onupgradeneeded = () => request.result.createObjectStore('state');
               request.onsuccess = () => {
                 const transaction = request.result.transaction('state', 'readwrite');
                 transaction.objectStore('state').put(JSON.stringify([
                   {at: 1, durationMs: 3, success: true, code: 'import math\\nmath.pi'},
                   {at: 2, durationMs: 4, success: false, code: '1 / 0'},
                 ]), 'history');
                 transaction.oncomplete = () => resolve(true);
                 transaction.onerror = () => reject(transaction.error);
               };
             });",
        )
        .await;
    browser.open_workbench(&app).await;
    let cells = cells_until(&browser, "the first notebook", |cells| cells.len() == 4).await;
    let sources: Vec<&str> = cells
        .iter()
        .map(|cell| cell["source"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(sources[0], "x = 41\nprint(x + 1)");
    assert!(sources[1].starts_with("## Earlier runs"), "{sources:?}");
    assert_eq!(&sources[2..], ["import math\nmath.pi", "1 / 0"]);
    let history = browser.wait_for_text("history-entry", WAIT, |_| true).await;
    assert!(
        history.contains("1 / 0"),
        "the history panel keeps its runs: {history}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn notebook_text_outputs_and_file_names_never_leave_the_browser() {
    let (_app, browser) = workbench().await;
    browser.eval(RECORD_REQUEST_BODIES).await;
    let private = json!({
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# secret-title-4711"},
            {"cell_type": "code", "metadata": {}, "execution_count": null, "outputs": [], "source": "with open('secret-file-4711.csv', 'w') as f:\n    f.write('a\\n1\\n')\nprint('secret-output-4711')"},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    });
    open_notebook(&browser, &private.to_string()).await;
    type_into(&browser, 1, "print('secret-typed-4711')").await;
    browser
        .eval("return window.workbench.notebook.runAll()")
        .await;
    browser
        .eval("return window.workbench.notebook.export()")
        .await;
    // Runs are counted (hashes only), so something is sent; none of it is the notebook's.
    let bodies = tests::until_ok("a run being counted", WAIT, async || {
        let bodies: Vec<String> =
            serde_json::from_value(browser.eval("return window.sentBodies").await).expect("bodies");
        if bodies.iter().any(|body| body.contains("codeSha256")) {
            Ok(bodies)
        } else {
            Err(bodies)
        }
    })
    .await;
    for body in &bodies {
        assert!(
            !body.contains("4711"),
            "notebook content left the browser: {body}"
        );
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_notebook_survives_stopping_a_cell_that_loops_forever() {
    let (_app, browser) = workbench().await;
    // The loop ends in a name, so a completion popup comes up as it is typed (once jedi is
    // loaded; Ctrl+Space asks again until then). A popup left open while the cell runs would
    // take the Escape below for itself, and the loop would never stop.
    type_into(&browser, 0, "while True: abs").await;
    let mut asked = std::time::Instant::now();
    tests::until("the completion popup", WAIT, async || {
        if completion_popup_open(&browser).await {
            return true;
        }
        if asked.elapsed() > Duration::from_secs(2) {
            editor_of(&browser, 0)
                .await
                .send_keys(CTRL_SPACE)
                .await
                .expect("Ctrl+Space");
            asked = std::time::Instant::now();
        }
        false
    })
    .await;
    editor_of(&browser, 0)
        .await
        .send_keys(CTRL_ENTER)
        .await
        .expect("run");
    browser
        .wait_for_text("cell-count", WAIT, |text| text == "[*]")
        .await;
    tests::until("the popup closing as the cell runs", WAIT, async || {
        !completion_popup_open(&browser).await
    })
    .await;
    // Escape while it runs stops it.
    editor_of(&browser, 0)
        .await
        .send_keys(ESCAPE)
        .await
        .expect("escape");
    let cells = cells_until(&browser, "the stop", |cells| {
        cells[0]["executionCount"] == 1 && !cells[0]["outputs"].as_array().is_none_or(Vec::is_empty)
    })
    .await;
    assert_eq!(cells[0]["outputs"][0]["ename"], "KeyboardInterrupt");
    let after = browser.execute(json!({"code": "1 + 1"})).await;
    assert_eq!(after["result"], 2);
    let _ = PYTHON_LOAD_TIMEOUT;
    browser.close().await;
}

/// Holds the first load of the kept notebooks until Python is ready (and half a second more):
/// the notebook list's IndexedDB answers its `open` only then.
const HOLD_FIRST_LOAD: &str = "
  const open = IDBFactory.prototype.open;
  const setSuccess = Object.getOwnPropertyDescriptor(IDBRequest.prototype, 'onsuccess').set;
  const pythonReady = async () => {
    while (!(window.workbench && (await window.workbench.status()).isReady))
      await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 500));
  };
  IDBFactory.prototype.open = function (name, ...rest) {
    const request = open.call(this, name, ...rest);
    if (name === 'pyodide-workbench-notebook-list')
      Object.defineProperty(request, 'onsuccess', { configurable: true, set(handler) {
        setSuccess.call(this, (event) => pythonReady().then(() => handler.call(this, event)));
      }});
    return request;
  };";

#[tokio::test(flavor = "multi_thread")]
async fn a_notebook_opened_the_moment_python_is_ready_is_the_one_that_runs() {
    let app = spawn_app().await;
    for round in 0..4 {
        // A fresh profile each round: nothing kept, so the first load makes "Untitled".
        let browser = Browser::start().await;
        if round == 3 {
            browser
                .devtools(
                    "Page.addScriptToEvaluateOnNewDocument",
                    json!({ "source": HOLD_FIRST_LOAD }),
                )
                .await;
        }
        browser.client.goto(&app.url("/")).await.expect("opens");
        let marker = format!("opened-{round}");
        let notebook = json!({"cells": [
            {"cell_type": "code", "source": format!("marker = '{marker}'"), "metadata": {}, "outputs": [], "execution_count": null},
            {"cell_type": "code", "source": "print(marker)", "metadata": {}, "outputs": [], "execution_count": null}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5});
        // The calls follow the ready poll in one script: no WebDriver round trip between.
        let answer = browser
            .eval_with(
                "return (async (text, byId) => {
                   const until = Date.now() + 120000;
                   while (!(window.workbench && window.workbench.notebook
                            && (await window.workbench.status()).isReady)) {
                     if (Date.now() > until) throw new Error('Python was not ready in 120 s');
                     await new Promise((resolve) => setTimeout(resolve, 5));
                   }
                   const opened = await window.workbench.notebook.open(text);
                   const outcomes = await window.workbench.notebook.runAll(byId ? opened.id : undefined);
                   return { opened, outcomes, cells: await window.workbench.notebook.cells() };
                 })(arguments[0], arguments[1]);",
                vec![json!(notebook.to_string()), json!(round % 2 == 1)],
            )
            .await;
        assert_eq!(
            answer["outcomes"],
            json!([
                {"index": 0, "success": true, "executionCount": 1},
                {"index": 1, "success": true, "executionCount": 2}]),
            "round {round}: {answer}"
        );
        assert_eq!(
            answer["cells"][0]["source"],
            format!("marker = '{marker}'"),
            "round {round}: {answer}"
        );
        assert!(
            answer["cells"][1]["outputs"].to_string().contains(&marker),
            "round {round}: {answer}"
        );
        // It stays open, and is kept beside the first notebook.
        let id = answer["opened"]["id"].clone();
        tests::until("the opened notebook is listed", WAIT, async || {
            let list = browser
                .eval("return window.workbench.notebook.list()")
                .await;
            list.as_array()
                .is_some_and(|list| list.len() == 2 && list.iter().any(|entry| entry["id"] == id))
        })
        .await;
        assert_eq!(
            cells(&browser).await[0]["source"],
            format!("marker = '{marker}'"),
            "round {round}"
        );
        if round == 0 {
            // runAll names another kept notebook: that one is opened and run.
            let other = browser
                .eval_with(
                    "return (async (opened) => {
                       const other = (await window.workbench.notebook.list())
                         .find((entry) => entry.id !== opened);
                       const outcomes = await window.workbench.notebook.runAll(other.id);
                       return { outcomes, cells: await window.workbench.notebook.cells() };
                     })(arguments[0]);",
                    vec![id.clone()],
                )
                .await;
            let code_cells = other["cells"]
                .as_array()
                .expect("cells")
                .iter()
                .filter(|cell| cell["type"] == "code")
                .count();
            assert_eq!(
                other["outcomes"].as_array().map(Vec::len),
                Some(code_cells),
                "{other}"
            );
            assert_ne!(
                other["cells"][0]["source"],
                format!("marker = '{marker}'"),
                "the other notebook is open: {other}"
            );
        }
        browser.close().await;
    }
}
