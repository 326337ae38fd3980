//! The editor knows Python, in a real headless Chromium against the real server and build:
//! completion from the running namespace (a DataFrame's columns, module members, keyword
//! arguments, loaded files' names), signature help, docs on Shift+Tab, syntax errors before
//! running; and what it must not do — hold up or interrupt a run, freeze on a hostile
//! object, or send anything to the server.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{Browser, TestApp, cells, cells_until, editor_of, spawn_app, until, until_ok};

const WAIT: Duration = Duration::from_secs(60);
const CTRL_ENTER: &str = "\u{e009}\u{e007}\u{e000}";
const ALT_ENTER: &str = "\u{e00a}\u{e007}\u{e000}";
const CTRL_SPACE: &str = "\u{e009}\u{e00d}\u{e000}";
const SHIFT_TAB: &str = "\u{e008}\u{e004}\u{e000}";
const CTRL_SHIFT_M: &str = "\u{e009}\u{e008}m\u{e000}";
const ENTER: &str = "\u{e007}";
const TAB: &str = "\u{e004}";
const DOWN: &str = "\u{e015}";
const ESCAPE: &str = "\u{e00c}";
/// CodeMirror ignores ↓, ↑ and the keys that take a completion for its `interactionDelay`
/// (75 ms) after the popup opens or changes. Nothing on the page says when that has passed —
/// time is the condition — so a key that must count waits twice that first.
const POPUP_SETTLES: Duration = Duration::from_millis(150);

/// The options of the completion popup on the page: label and the kind shown beside it.
const POPUP_OPTIONS: &str =
    "return [...document.querySelectorAll('.cm-tooltip-autocomplete li')].map((option) => [
    option.querySelector('.cm-completionLabel')?.textContent ?? '',
    option.querySelector('.cm-completionDetail')?.textContent ?? '']);";

async fn workbench() -> (TestApp, Browser) {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    (app, browser)
}

/// Types into the editor of cell `index` (clicking it first), replacing its code.
async fn type_into(browser: &Browser, index: usize, code: &str) {
    let editor = editor_of(browser, index).await;
    editor.click().await.expect("the editor takes focus");
    editor
        .send_keys("\u{e009}a\u{e000}\u{e003}")
        .await
        .expect("select all and delete");
    editor.send_keys(code).await.expect("typing works");
}

async fn keys(browser: &Browser, index: usize, keys: &str) {
    editor_of(browser, index)
        .await
        .send_keys(keys)
        .await
        .expect("keys reach the editor");
}

/// Runs `code` in cell 0 and waits for its answer; a new cell 1 below takes the typing.
async fn run_first_cell(browser: &Browser, code: &str) {
    type_into(browser, 0, code).await;
    keys(browser, 0, ALT_ENTER).await;
    let cells = cells_until(browser, "the first run", |cells| {
        cells.len() == 2 && cells[0]["executionCount"] == 1
    })
    .await;
    assert!(
        cells[0]["outputs"].as_array().is_none_or(|outputs| outputs
            .iter()
            .all(|output| output["output_type"] != "error")),
        "{:#?}",
        cells[0]
    );
}

async fn popup_options(browser: &Browser) -> Vec<(String, String)> {
    serde_json::from_value(browser.eval(POPUP_OPTIONS).await).expect("options")
}

/// Types `typed` into cell `index` and returns the completion popup's options once it shows.
/// Completion needs jedi, which Python loads after the packages a first run may wait for;
/// until it is there the editor shows nothing, so Ctrl+Space asks again now and then.
async fn complete(browser: &Browser, index: usize, typed: &str) -> Vec<(String, String)> {
    type_into(browser, index, typed).await;
    let mut asked = Instant::now();
    until_ok(&format!("completions for {typed:?}"), WAIT, async || {
        let options = popup_options(browser).await;
        if !options.is_empty() {
            return Ok(options);
        }
        if asked.elapsed() > Duration::from_secs(2) {
            keys(browser, index, CTRL_SPACE).await;
            asked = Instant::now();
        }
        Err(options)
    })
    .await
}

fn kind_of<'a>(options: &'a [(String, String)], label: &str) -> &'a str {
    options
        .iter()
        .find(|(shown, _)| shown == label)
        .map(|(_, kind)| kind.as_str())
        .unwrap_or_else(|| panic!("{label:?} is not offered: {options:?}"))
}

/// Waits for an element of the page to appear and returns its text.
async fn text_of(browser: &Browser, selector: &str, timeout: Duration) -> String {
    until_ok(&format!("{selector} showing"), timeout, async || {
        let text = browser
            .eval_with(
                "return document.querySelector(arguments[0])?.textContent ?? null",
                vec![json!(selector)],
            )
            .await;
        let shown = text.as_str().map(str::to_owned);
        shown.ok_or(text)
    })
    .await
}

/// Whether the completion popup shows at some point within `within` (for the checks that it
/// does not: they watch it for this long, as nothing can be waited for).
async fn popup_shows_within(browser: &Browser, within: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if !popup_options(browser).await.is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn completion_asked_before_python_is_ready_shows_once_it_is_without_another_key() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&app.url("/"))
        .await
        .expect("the page opens");
    // Typed the moment the first cell's editor is there: Python, and jedi after the
    // preloads, are seconds away.
    type_into(&browser, 0, "prin").await;
    // No other key: the popup comes when Python can answer, the cursor not having moved.
    let options = until_ok(
        "the popup for \"prin\" without another key",
        WAIT,
        async || {
            let options = popup_options(&browser).await;
            if options.iter().any(|(label, _)| label == "print") {
                Ok(options)
            } else {
                Err(options)
            }
        },
    )
    .await;
    assert!(
        kind_of(&options, "print").starts_with("function"),
        "{options:?}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn completion_offers_columns_members_keyword_arguments_and_loaded_files() {
    let (_app, browser) = workbench().await;
    let loaded = browser
        .eval("return window.workbench.loadFile('sales.csv', 'amount,city\\n1.5,Oslo\\n')")
        .await;
    assert_eq!(loaded["success"], true, "{loaded}");
    run_first_cell(
        &browser,
        "import numpy as np\nimport pandas as pd\ndf = pd.DataFrame({'amount': [1.5], 'city': ['Oslo']})",
    )
    .await;

    // `df.` lists that DataFrame's columns (as columns) with its methods.
    let options = complete(&browser, 1, "df.").await;
    assert_eq!(kind_of(&options, "amount"), "column", "{options:?}");
    assert_eq!(kind_of(&options, "agg"), "function");
    // Typing on narrows the list; Tab takes the first.
    keys(&browser, 1, "ci").await;
    until_ok("\"city\" first in the popup", WAIT, async || {
        let options = popup_options(&browser).await;
        if options.first().is_some_and(|(label, _)| label == "city") {
            Ok(())
        } else {
            Err(options)
        }
    })
    .await;
    tokio::time::sleep(POPUP_SETTLES).await;
    keys(&browser, 1, TAB).await;
    cells_until(&browser, "the accepted completion", |cells| {
        cells[1]["source"] == "df.city"
    })
    .await;

    // Module members.
    let options = complete(&browser, 1, "np.lin").await;
    assert_eq!(kind_of(&options, "linspace"), "function", "{options:?}");
    assert_eq!(kind_of(&options, "linalg"), "module");
    // Nothing is highlighted until ↓ or ↑: Enter starts a new line as ever.
    tokio::time::sleep(POPUP_SETTLES).await;
    keys(&browser, 1, ENTER).await;
    cells_until(&browser, "the new line", |cells| {
        cells[1]["source"] == "np.lin\n"
    })
    .await;

    // Keyword arguments inside a call, first.
    let options = complete(&browser, 1, "pd.read_csv(sep").await;
    assert_eq!(options[0].0, "sep=", "{options:?}");
    assert_eq!(options[0].1, "argument");

    // A loaded file's name inside the string passed to read_csv; the editor had closed the
    // quote and the bracket, and they stay single.
    let options = complete(&browser, 1, "pd.read_csv(\"").await;
    assert_eq!(kind_of(&options, "sales.csv"), "file", "{options:?}");
    tokio::time::sleep(POPUP_SETTLES).await;
    // ↓ picks it, Enter takes it.
    keys(&browser, 1, DOWN).await;
    keys(&browser, 1, ENTER).await;
    cells_until(&browser, "the file name", |cells| {
        cells[1]["source"] == "pd.read_csv(\"sales.csv\")"
    })
    .await;

    // Import names, including what the package index can install.
    let options = complete(&browser, 1, "import sea").await;
    assert!(
        options
            .iter()
            .any(|(label, kind)| label == "seaborn" && kind.starts_with("module")),
        "{options:?}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signature_help_follows_the_call_and_shift_tab_shows_the_docs() {
    let (_app, browser) = workbench().await;
    run_first_cell(&browser, "import pandas as pd").await;
    // Completion working means jedi is loaded.
    complete(&browser, 1, "pd.read_cs").await;

    type_into(&browser, 1, "print(").await;
    let signature = text_of(&browser, "[data-testid=signature]", WAIT).await;
    assert!(signature.starts_with("print(*values"), "{signature}");
    let active = text_of(
        &browser,
        "[data-testid=signature] .cm-python-param-active",
        WAIT,
    )
    .await;
    assert!(active.starts_with("*values"), "{active}");
    // Leaving the parentheses hides it.
    keys(&browser, 1, "\u{e014}").await;
    until("the signature going", Duration::from_secs(10), async || {
        browser
            .eval("return document.querySelector('[data-testid=signature]') !== null")
            .await
            != true
    })
    .await;

    // Shift+Tab after a name: its signature and the start of its docstring.
    type_into(&browser, 1, "pd.read_csv").await;
    keys(&browser, 1, SHIFT_TAB).await;
    let docs = text_of(&browser, "[data-testid=docs]", WAIT).await;
    assert!(docs.contains("read_csv(filepath_or_buffer"), "{docs}");
    assert!(
        docs.contains("Read a comma-separated values (csv) file into DataFrame"),
        "{docs}"
    );
    let source = cells(&browser).await[1]["source"].clone();
    assert_eq!(
        source, "pd.read_csv",
        "Shift+Tab after code does not indent"
    );
    // Escape closes the docs and keeps the editor.
    keys(&browser, 1, ESCAPE).await;
    let state = browser
        .eval(
            "return [document.querySelector('[data-testid=docs]') === null,
                     document.activeElement?.closest('[data-testid=cell]') === document.querySelectorAll('[data-testid=cell]')[1]]",
        )
        .await;
    assert_eq!(state, json!([true, true]));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_syntax_error_is_underlined_with_pythons_message_before_running() {
    let (_app, browser) = workbench().await;
    type_into(&browser, 0, "total = 1\nprint(total 2)").await;
    let underlined = text_of(&browser, ".cm-lintRange-error", WAIT).await;
    assert_eq!(underlined, "total 2");
    // Ctrl+Shift+M lists the problems: CPython's own message.
    keys(&browser, 0, CTRL_SHIFT_M).await;
    let listed = text_of(&browser, ".cm-panel-lint li", WAIT).await;
    assert!(
        listed.contains("invalid syntax. Perhaps you forgot a comma?"),
        "{listed}"
    );
    // Nothing ran.
    assert_eq!(cells(&browser).await[0]["executionCount"], Value::Null);
    // Fixed, the underline goes.
    type_into(&browser, 0, "total = 1\nprint(total, 2)").await;
    until("the underline going after the fix", WAIT, async || {
        browser
            .eval("return document.querySelector('.cm-lintRange-error') !== null")
            .await
            != true
    })
    .await;
    // IPython's syntax is not an error. A deliberate negative check: a mark that must not come
    // gives nothing to wait for, so the syntax check (300 ms after the last key, then Python's
    // answer; the mark above came well within this) gets two seconds, and must mark nothing.
    type_into(&browser, 0, "%time total = 2\n!ls").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('.cm-lintRange-error, .cm-lintRange-warning').length")
            .await,
        0
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn completion_never_holds_up_or_interrupts_a_run_and_stop_still_works() {
    let (_app, browser) = workbench().await;
    run_first_cell(&browser, "import time").await;
    complete(&browser, 1, "time.sl").await;

    // A run of three seconds; typing in the next cell meanwhile, with Ctrl+Space too.
    type_into(
        &browser,
        0,
        "for step in range(30): time.sleep(0.1)\nprint('finished', step)",
    )
    .await;
    keys(&browser, 0, CTRL_ENTER).await;
    browser
        .wait_for_text("cell-count", WAIT, |text| text == "[*]")
        .await;
    let typed_at = Instant::now();
    type_into(&browser, 1, "time.sl").await;
    keys(&browser, 1, CTRL_SPACE).await;
    // The page stays responsive: what was typed is in the notebook at once.
    cells_until(&browser, "the typing during the run", |cells| {
        cells[1]["source"] == "time.sl"
    })
    .await;
    assert!(typed_at.elapsed() < Duration::from_secs(3));
    assert!(
        !popup_shows_within(&browser, Duration::from_millis(800)).await,
        "no completion while a cell runs"
    );
    let cells = cells_until(&browser, "the run's answer", |cells| {
        cells[0]["executionCount"] == 2 && !cells[0]["outputs"].as_array().is_none_or(Vec::is_empty)
    })
    .await;
    assert_eq!(
        cells[0]["outputs"][0]["text"], "finished 29\n",
        "{:#?}",
        cells[0]
    );

    // Stop still stops a run typed around.
    type_into(&browser, 0, "while True: time.sleep(0.01)").await;
    keys(&browser, 0, CTRL_ENTER).await;
    browser
        .wait_for_text("cell-count", WAIT, |text| text == "[*]")
        .await;
    type_into(&browser, 1, "time.sl").await;
    browser.find("stop").await.click().await.expect("stop");
    let cells = cells_until(&browser, "the stop", |cells| {
        cells[0]["executionCount"] == 3 && !cells[0]["outputs"].as_array().is_none_or(Vec::is_empty)
    })
    .await;
    assert_eq!(cells[0]["outputs"][0]["ename"], "KeyboardInterrupt");
    // And completion is back once nothing runs.
    let options = complete(&browser, 1, "time.sl").await;
    assert_eq!(kind_of(&options, "sleep"), "function");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_dir_answers_nothing_and_spoils_neither_python_nor_the_next_run() {
    let (_app, browser) = workbench().await;
    run_first_cell(&browser, "import json").await;
    complete(&browser, 1, "json.du").await;
    let defined = browser
        .execute(json!({"code": "class Hostile:\n    def __dir__(self):\n        while True:\n            pass\n    def __getattr__(self, name):\n        while True:\n            pass\n\nhostile = Hostile()\nraising = type('Raising', (), {'__dir__': lambda self: 1 / 0})()"}))
        .await;
    assert_eq!(defined["success"], true, "{defined}");

    // A run sent while the question is stuck in the object's code waits for the time limit
    // (1 s), not for ever, and is not stopped by the interrupt that ended the question. On a
    // busy machine the question may not have reached the object 200 ms after Ctrl+Space (the
    // run then does not wait): that try does not count, and the next one asks again.
    let mut held = None;
    for _ in 0..5 {
        type_into(&browser, 1, "hostile.").await;
        keys(&browser, 1, CTRL_SPACE).await;
        // The page cannot see the question reach the object (that happens in Python's
        // worker), so this is a guess that may come early: the try then does not count.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = Instant::now();
        let result = execute_or_notice(&browser, "'ran after the question'").await;
        let waited = sent.elapsed();
        assert_eq!(result["result"], "ran after the question", "{result}");
        assert!(
            waited < Duration::from_secs(5),
            "the run waited {waited:?} for the stuck question"
        );
        if waited > Duration::from_millis(500) {
            held = Some(waited);
            break;
        }
    }
    assert!(
        held.is_some(),
        "in five tries, no run was sent while the question was stuck"
    );
    for typed in ["hostile.", "raising.", "hostile.attribute."] {
        type_into(&browser, 1, typed).await;
        keys(&browser, 1, CTRL_SPACE).await;
        assert!(
            !popup_shows_within(&browser, Duration::from_millis(1500)).await,
            "{typed} shows nothing"
        );
    }
    // Python answers at once, and the time limit's interrupt did not reach this run.
    let started = Instant::now();
    let result = execute_or_notice(&browser, "import time\ntime.sleep(0.3)\n'still fine'").await;
    assert_eq!(result["result"], "still fine", "{result}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "Python was held for {:?}",
        started.elapsed()
    );
    // Nothing was restarted: the variables are there, and completion works.
    let notice = browser
        .eval("return document.querySelector('[data-testid=python-notice]')?.textContent ?? ''")
        .await;
    assert!(
        !notice.as_str().unwrap_or_default().contains("restarted"),
        "{notice}"
    );
    let options = complete(&browser, 1, "json.du").await;
    assert_eq!(kind_of(&options, "dumps"), "function");
    browser.close().await;
}

/// `window.workbench.execute` of `code`, or — if the run fails — its error and what the page
/// says about Python (a restart's reason), for the assertion's message.
async fn execute_or_notice(browser: &Browser, code: &str) -> Value {
    browser
        .eval_with(
            "try {
                return await window.workbench.execute({ code: arguments[0] });
            } catch (error) {
                const notice = document.querySelector('[data-testid=python-notice]');
                return { error: String(error), notice: notice?.textContent ?? null };
            }",
            vec![json!(code)],
        )
        .await
}

/// Counts every request the page starts from now on (fetch, beacons, XHR, WebSocket,
/// EventSource), with its URL.
const RECORD_REQUESTS: &str = "
    window.requestsMade = [];
    const note = (kind, url) => window.requestsMade.push(kind + ' ' + String(url));
    const originalFetch = window.fetch.bind(window);
    window.fetch = (input, init) => {
        note('fetch', input instanceof Request ? input.url : input);
        return originalFetch(input, init);
    };
    const originalBeacon = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = (url, data) => {
        note('beacon', url);
        return originalBeacon(url, data);
    };
    const originalOpen = XMLHttpRequest.prototype.open;
    XMLHttpRequest.prototype.open = function (method, url, ...rest) {
        note('xhr', url);
        return originalOpen.call(this, method, url, ...rest);
    };
    const OriginalSocket = window.WebSocket;
    window.WebSocket = function (url, ...rest) { note('websocket', url); return new OriginalSocket(url, ...rest); };
    const OriginalSource = window.EventSource;
    window.EventSource = function (url, ...rest) { note('eventsource', url); return new OriginalSource(url, ...rest); };";

/// How many resources Python's worker has fetched (its own performance timeline, which the
/// page cannot see).
const WORKER_REQUESTS: &str = "from js import performance\nperformance.setResourceTimingBufferSize(100000)\nperformance.getEntriesByType('resource').length";

#[tokio::test(flavor = "multi_thread")]
async fn completion_is_local_and_telemetry_is_unchanged() {
    let (_app, browser) = workbench().await;
    run_first_cell(
        &browser,
        "import pandas as pd\ndf = pd.DataFrame({'amount_7f3a': [1]})",
    )
    .await;
    complete(&browser, 1, "pd.read_cs").await;
    let before = browser.execute(json!({"code": WORKER_REQUESTS})).await;
    browser
        .wait_for_text("telemetry-status", WAIT, |text| text == "all sent")
        .await;
    browser.eval(RECORD_REQUESTS).await;

    // Completion, signatures, docs, a syntax check and hovering: all answered.
    let options = complete(&browser, 1, "df.").await;
    assert_eq!(kind_of(&options, "amount_7f3a"), "column");
    type_into(&browser, 1, "print(").await;
    text_of(&browser, "[data-testid=signature]", WAIT).await;
    type_into(&browser, 1, "pd.read_csv").await;
    keys(&browser, 1, SHIFT_TAB).await;
    text_of(&browser, "[data-testid=docs]", WAIT).await;
    type_into(&browser, 1, "print(amount_7f3a 2)").await;
    text_of(&browser, ".cm-lintRange-error", WAIT).await;

    let made = browser.eval("return window.requestsMade").await;
    assert_eq!(
        made,
        json!([]),
        "the page made requests while the editor asked Python"
    );
    let after = browser.execute(json!({"code": WORKER_REQUESTS})).await;
    assert_eq!(
        after["result"], before["result"],
        "Python's worker fetched something while the editor asked it"
    );
    // Usage statistics count the three runs and nothing else.
    browser
        .wait_for_text("telemetry-status", WAIT, |text| text == "all sent")
        .await;
    let stats = browser
        .eval("return fetch('/api/stats').then((answer) => answer.json())")
        .await;
    assert_eq!(stats["executionStats"]["totalExecutions"], 3, "{stats}");
    browser.close().await;
}
