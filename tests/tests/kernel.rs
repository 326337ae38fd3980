//! A fuller kernel, as a person uses it, in a real headless Chromium against the real server
//! and build: `input()`, `getpass` and pdb through the running cell's box (typed as a person
//! types), `window.workbench.execute`'s input lines, and Stop while the code waits.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{Browser, TestApp, cells, open_notebook_of, spawn_app};

const WAIT: Duration = Duration::from_secs(60);
const ENTER: &str = "\u{e007}";

async fn workbench() -> (TestApp, Browser) {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    (app, browser)
}

/// Opens a notebook of these code cells through the API.
async fn open_cells(browser: &Browser, sources: &[&str]) {
    let cells: Vec<Value> = sources
        .iter()
        .map(|source| {
            json!({"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": null})
        })
        .collect();
    open_notebook_of(browser, json!(cells)).await;
}

/// Starts Run all without waiting for it; [`finished`] waits.
async fn start_run_all(browser: &Browser) {
    browser
        .eval("window.runAllDone = window.workbench.notebook.runAll(); return true")
        .await;
}

async fn finished(browser: &Browser) -> Value {
    browser.eval("return window.runAllDone").await
}

/// The text cell `index` shows as its output, while it runs too.
async fn shown_output(browser: &Browser, index: usize) -> String {
    browser
        .eval_with(
            "const cell = document.querySelectorAll('[data-testid=cell]')[arguments[0]];
             return cell.querySelector('[data-testid=output]')?.innerText ?? '';",
            vec![json!(index)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits for the box to ask `prompt`, checks it has the focus, types `line` and Enter, and
/// waits until the cell shows `then` (what the code printed once it had the line).
async fn answer(browser: &Browser, prompt: &str, line: &str, then: &str) {
    let asked = browser
        .wait_for_text("stdin-prompt", WAIT, |text| {
            text.trim_end() == prompt.trim_end()
        })
        .await;
    assert_eq!(asked, prompt, "the prompt as the code gave it");
    let focused = browser
        .eval("return document.activeElement?.dataset?.testid ?? null")
        .await;
    assert_eq!(focused, "stdin-field", "the box takes the focus");
    browser
        .find("stdin-field")
        .await
        .send_keys(&format!("{line}{ENTER}"))
        .await
        .expect("typing into the box");
    tests::until_ok(&format!("the cell showing {then:?}"), WAIT, async || {
        let shown = shown_output(browser, 0).await;
        if shown.contains(then) {
            Ok(())
        } else {
            Err(shown)
        }
    })
    .await;
}

/// The exception class of cell `index`'s last output.
async fn last_error(browser: &Browser, index: usize) -> Value {
    let cells = cells(browser).await;
    let outputs = cells[index]["outputs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    outputs
        .last()
        .map(|last| last["ename"].clone())
        .unwrap_or(Value::Null)
}

async fn box_count(browser: &Browser) -> u64 {
    browser
        .eval("return document.querySelectorAll('[data-testid=stdin]').length")
        .await
        .as_u64()
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread")]
async fn input_asks_in_the_running_cell_and_the_api_reads_its_lines() {
    let (_app, browser) = workbench().await;

    // The API: the request's lines, in order, echoed after their prompts; one call more is
    // an `EOFError` that says so; no lines at all is an `EOFError` at once, and no box.
    let fed = browser
        .execute(json!({"code": "a = input('a? ')\nb = input('b? ')\na + b", "input": ["1", "2"]}))
        .await;
    assert_eq!(fed["result"], "12", "{fed}");
    assert_eq!(fed["stdout"], "a? 1\nb? 2\n");
    let past = browser
        .execute(json!({"code": "input()\ninput()", "input": ["only"]}))
        .await;
    assert_eq!(past["errorType"], "EOFError", "{past}");
    assert!(
        past["error"]
            .as_str()
            .unwrap_or_default()
            .contains("input lines (1)"),
        "{past}"
    );
    let many = browser
        .execute(json!({
            "code": "sum(int(input()) for _ in range(10_000))",
            "input": (0..10_000).map(|n| n.to_string()).collect::<Vec<_>>(),
        }))
        .await;
    assert_eq!(
        many["result"],
        (0..10_000).sum::<u64>(),
        "{}",
        many["error"]
    );
    let none = browser.execute(json!({"code": "input('name? ')"})).await;
    assert_eq!(none["errorType"], "EOFError", "{none}");
    assert_eq!(box_count(&browser).await, 0);

    // A cell: what it printed shows, then a focused box with the prompt; the typed line
    // goes to Python, which goes on; the line shows after the prompt, as in Jupyter.
    open_cells(
        &browser,
        &["print('before')\nname = input('Your name? ')\nprint('Hello, ' + name)"],
    )
    .await;
    start_run_all(&browser).await;
    browser
        .wait_for_text("stdin-prompt", WAIT, |text| text.trim_end() == "Your name?")
        .await;
    assert_eq!(shown_output(&browser, 0).await.trim(), "before");
    answer(
        &browser,
        "Your name? ",
        "Ada Lovelace",
        "Hello, Ada Lovelace",
    )
    .await;
    assert_eq!(finished(&browser).await[0]["success"], true);
    assert_eq!(box_count(&browser).await, 0);
    let outputs = &cells(&browser).await[0]["outputs"];
    assert_eq!(
        outputs[0]["text"], "before\nYour name? Ada Lovelace\nHello, Ada Lovelace\n",
        "{outputs}"
    );

    // getpass: a password field, and what was typed shows nowhere.
    open_cells(
        &browser,
        &["import getpass\nword = getpass.getpass('Token: ')\nprint(len(word), 'characters')"],
    )
    .await;
    start_run_all(&browser).await;
    browser
        .wait_for_text("stdin-prompt", WAIT, |text| text.trim_end() == "Token:")
        .await;
    assert_eq!(
        browser
            .find("stdin-field")
            .await
            .attr("type")
            .await
            .expect("its type"),
        Some("password".to_owned())
    );
    answer(&browser, "Token: ", "hunter2", "7 characters").await;
    finished(&browser).await;
    let saved = cells(&browser).await[0]["outputs"].to_string();
    assert!(!saved.contains("hunter2"), "{saved}");

    // Escape in the box (as Stop, and as Escape anywhere while cells run) while the code
    // waits: the run stops, the box goes, Python stays.
    open_cells(&browser, &["kept = 1", "input('wait? ')\nreached = 1"]).await;
    start_run_all(&browser).await;
    browser
        .wait_for_text("stdin-prompt", WAIT, |text| text.trim_end() == "wait?")
        .await;
    browser
        .find("stdin-field")
        .await
        .send_keys("\u{e00c}")
        .await
        .expect("Escape");
    let outcomes = finished(&browser).await;
    assert_eq!(outcomes[1]["success"], false, "{outcomes}");
    assert_eq!(last_error(&browser, 1).await, "KeyboardInterrupt");
    assert_eq!(box_count(&browser).await, 0);
    let after = browser
        .execute(json!({"code": "(kept, 'reached' in globals())"}))
        .await;
    assert_eq!(after["result"], json!([1, false]), "{after}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn breakpoint_and_debug_take_pdb_commands_in_the_box() {
    let (_app, browser) = workbench().await;

    // breakpoint(): `p`, `n`, `c`, with pdb's answers in the cell.
    open_cells(
        &browser,
        &["x = 41\nbreakpoint()\ny = x + 1\nprint('y is', y)"],
    )
    .await;
    start_run_all(&browser).await;
    answer(&browser, "(Pdb) ", "p x", "(Pdb) p x\n41").await;
    answer(&browser, "(Pdb) ", "n", "(Pdb) n").await;
    answer(&browser, "(Pdb) ", "p y", "(Pdb) p y\n42").await;
    answer(&browser, "(Pdb) ", "c", "y is 42").await;
    assert_eq!(finished(&browser).await[0]["success"], true);

    // %debug after an error: pdb where it was raised.
    open_cells(&browser, &["def half(v):\n    return 1 / v\n\nhalf(0)"]).await;
    start_run_all(&browser).await;
    assert_eq!(finished(&browser).await[0]["success"], false);
    open_cells(&browser, &["%debug"]).await;
    start_run_all(&browser).await;
    answer(&browser, "(Pdb) ", "p v", "(Pdb) p v\n0").await;
    answer(&browser, "(Pdb) ", "q", "(Pdb) q").await;
    assert_eq!(finished(&browser).await[0]["success"], true);

    // Stop at pdb's prompt stops the run (pdb would otherwise catch the interrupt and ask
    // again).
    open_cells(&browser, &["breakpoint()\nreached = 1"]).await;
    start_run_all(&browser).await;
    browser
        .wait_for_text("stdin-prompt", WAIT, |text| text.trim_end() == "(Pdb)")
        .await;
    browser.find("stop").await.click().await.expect("Stop");
    assert_eq!(finished(&browser).await[0]["success"], false);
    assert_eq!(last_error(&browser, 0).await, "KeyboardInterrupt");
    browser.close().await;
}

/// The Variables panel's rows, as (name, type, shape or value, size).
async fn variable_rows(browser: &Browser) -> Vec<Vec<String>> {
    let rows = browser
        .eval(
            "return [...document.querySelectorAll('[data-testid=variable]')].map((row) =>
               [...row.querySelectorAll('td')].map((cell) => cell.textContent));",
        )
        .await;
    serde_json::from_value(rows).expect("rows of text")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_variables_panel_lists_the_names_after_each_run() {
    let (_app, browser) = workbench().await;
    open_cells(
        &browser,
        &[
            "import math\nimport pandas as pd\ncount = 42\ntitle = 'report'\nframe = pd.DataFrame({'a': range(1000), 'b': [0.5] * 1000})\n_hidden = 1",
            "class Odd:\n    def __len__(self):\n        raise RuntimeError('no length')\n\nodd = Odd()",
        ],
    )
    .await;
    start_run_all(&browser).await;
    finished(&browser).await;
    let rows = tests::until_ok("the panel listing the names", WAIT, async || {
        let rows = variable_rows(&browser).await;
        if rows.iter().any(|row| row[0] == "odd") {
            Ok(rows)
        } else {
            Err(rows)
        }
    })
    .await;
    let row = |name: &str| {
        rows.iter()
            .find(|row| row[0] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {name}: {rows:?}"))
    };
    let names: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    // Sorted; no modules, no hidden names; the class is listed as what it is.
    assert_eq!(names, ["Odd", "count", "frame", "odd", "title"], "{rows:?}");
    assert_eq!(row("count")[1..3], ["int", "42"]);
    assert_eq!(row("title")[2], "'report'");
    assert_eq!(row("frame")[1..3], ["DataFrame", "1,000 × 2"]);
    // 1,000 int64 and 1,000 float64 values, and the index's few bytes.
    assert!(row("frame")[3].contains("KB"), "{:?}", row("frame"));
    assert_eq!(row("odd")[1..], ["Odd", "?", "?"]);
    // The same list for scripts — also when the panel asks at the same moment: the first
    // question goes to the worker, and the same question asked twice while it waits shares
    // one answer rather than one cancelling the other.
    let all = browser
        .eval(
            "const ask = () => window.workbench.variables().then((answer) => answer.variables.length);
             return Promise.all([ask(), ask(), ask()]);",
        )
        .await;
    assert_eq!(all, json!([5, 5, 5]), "{all}");
    let listed = browser.eval("return window.workbench.variables()").await;
    assert_eq!(listed["more"], 0, "{listed}");
    let frame = listed["variables"]
        .as_array()
        .and_then(|variables| {
            variables
                .iter()
                .find(|variable| variable["name"] == "frame")
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(frame["shape"], "1,000 × 2", "{listed}");
    assert_eq!(frame["type"], "DataFrame", "{listed}");
    // pandas' `memory_usage(deep=False)`: 16,000 bytes of values and the index's few.
    assert!(
        frame["bytes"]
            .as_u64()
            .is_some_and(|bytes| (16_000..17_000).contains(&bytes)),
        "{listed}"
    );

    // An object whose length never comes back: the panel's question is cut at its time
    // limit, the names still show, and the next run runs.
    open_cells(
        &browser,
        &["class Hangs:\n    def __len__(self):\n        while True:\n            pass\n\nhangs = Hangs()"],
    )
    .await;
    start_run_all(&browser).await;
    finished(&browser).await;
    tests::until_ok("the hanging object's row", WAIT, async || {
        let rows = variable_rows(&browser).await;
        match rows.iter().find(|row| row[0] == "hangs") {
            Some(row) if row[2] == "?" => Ok(()),
            _ => Err(rows),
        }
    })
    .await;
    let after = browser.execute(json!({"code": "count + 1"})).await;
    assert_eq!(after["result"], 43, "{after}");
    // A script's run (not a cell's) changes the names too: the panel follows.
    browser
        .execute(json!({"code": "from_a_script = 'yes'"}))
        .await;
    tests::until_ok("a script's name listed", WAIT, async || {
        let rows = variable_rows(&browser).await;
        if rows.iter().any(|row| row[0] == "from_a_script") {
            Ok(())
        } else {
            Err(rows)
        }
    })
    .await;

    // Reset variables: the panel empties.
    browser
        .eval("window.confirm = () => true; document.querySelector('[data-testid=reset]').click(); return true")
        .await;
    tests::until_ok("the panel emptying", WAIT, async || {
        let rows = variable_rows(&browser).await;
        if rows.is_empty() { Ok(()) } else { Err(rows) }
    })
    .await;
    browser.close().await;
}

/// The font list the served matplotlib wheel ships is this matplotlib's own (set-up builds
/// it: `xtask/precompile.js`): stamped with the `FontManager.__version__` of the original
/// wheel's `font_manager.py`, and naming only fonts the wheel bundles.
#[test]
fn the_served_matplotlib_ships_a_font_list_for_its_own_version() {
    let root = tests::workspace_root().join("public/pyodide");
    let check = r#"
import glob, json, re, sys, zipfile
served, original = (zipfile.ZipFile(glob.glob(f"{folder}/matplotlib-3*.whl")[0]) for folder in sys.argv[1:3])
listed = json.loads(served.read("matplotlib/fontlist.json"))
source = original.read("matplotlib/font_manager.py").decode()
version = int(re.search(r"^    __version__ = (\d+)", source, re.M).group(1))
bundled = {name for name in served.namelist() if name.startswith("matplotlib/mpl-data/")}
missing = [font["fname"] for font in listed["ttflist"] if "matplotlib/mpl-data/" + font["fname"] not in bundled]
print(json.dumps({"listed": listed["_version"], "own": version, "fonts": len(listed["ttflist"]), "missing": missing}))
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", check])
        .arg(root.join("v0.27.7-pyc"))
        .arg(root.join("v0.27.7"))
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let found: Value = serde_json::from_slice(&output.stdout).expect("the check's JSON");
    assert_eq!(found["listed"], found["own"], "{found}");
    assert!(found["fonts"].as_u64().unwrap_or(0) > 10, "{found}");
    assert_eq!(found["missing"], json!([]), "{found}");
}

#[tokio::test(flavor = "multi_thread")]
async fn matplotlib_uses_its_shipped_font_list_the_moment_python_is_ready() {
    let (_app, browser) = workbench().await;
    let first = browser
        .execute(json!({"code": "
import logging
import matplotlib.font_manager as font_manager
heard = []
class Keep(logging.Handler):
    def emit(self, record):
        if not record.getMessage().startswith('findfont'):
            heard.append(record.getMessage())
log = logging.getLogger('matplotlib.font_manager')
log.setLevel(logging.DEBUG)
log.addHandler(Keep())
font_manager._load_fontmanager()
import matplotlib.pyplot as plt
plt.plot([1, 2])
plt.show()
log.removeHandler(log.handlers[-1])
heard"}))
        .await;
    let heard = first["result"].to_string();
    assert!(heard.contains("Using fontManager instance"), "{first}");
    assert!(!heard.contains("generated new fontManager"), "{first}");
    assert!(
        !first["stderr"].to_string().contains("font cache"),
        "{first}"
    );
    let drew = first["outputs"]
        .as_array()
        .is_some_and(|outputs| outputs.iter().any(|output| output["mime"] == "image/png"));
    assert!(drew, "{first}");
    browser.close().await;
}

/// What the data viewer shows: its line about the object, and each row on screen as its
/// index label and cells.
async fn viewer_shows(browser: &Browser) -> (String, Vec<Vec<String>>) {
    let seen = browser
        .eval(
            "const about = document.querySelector('[data-testid=viewer-about]')?.textContent ?? '';
             const rows = [...document.querySelectorAll('[data-testid=viewer-row]')].map((row) =>
               [...row.querySelectorAll('[role=rowheader], [role=gridcell]')].map((cell) => cell.textContent));
             return [about, rows];",
        )
        .await;
    serde_json::from_value(seen).expect("the viewer's text")
}

/// Waits until the viewer's rows satisfy `check`, and returns them.
async fn viewer_until(
    browser: &Browser,
    what: &str,
    check: impl Fn(&str, &[Vec<String>]) -> bool,
) -> Vec<Vec<String>> {
    tests::until_ok(what, WAIT, async || {
        let (about, rows) = viewer_shows(browser).await;
        if check(&about, &rows) {
            Ok(rows)
        } else {
            Err((about, rows))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_data_viewer_sorts_filters_and_scrolls_a_million_rows() {
    let (_app, browser) = workbench().await;
    open_cells(
        &browser,
        &["import numpy as np\nimport pandas as pd\nn = np.arange(1_000_000)\nframe = pd.DataFrame({'n': n, 'fruit': np.array(['apple', 'pear', 'fig', 'kiwi'])[n % 4], 'half': n / 2})\nlabel = 'not a table'"],
    )
    .await;
    start_run_all(&browser).await;
    finished(&browser).await;
    // Only tables open: the frame's and the array's names are buttons, the string's is not.
    let viewable = tests::until_ok("the frame listed as viewable", WAIT, async || {
        let names = browser
            .eval("return [...document.querySelectorAll('[data-testid=variable-view]')].map((b) => b.textContent)")
            .await;
        if names == json!(["frame", "n"]) { Ok(names) } else { Err(names) }
    })
    .await;
    assert_eq!(viewable, json!(["frame", "n"]));
    browser
        .find("variable-view")
        .await
        .click()
        .await
        .expect("opens");
    let rows = viewer_until(&browser, "the first rows", |about, rows| {
        about.contains("1,000,000 rows × 3 columns") && rows.len() > 5
    })
    .await;
    assert_eq!(rows[0], ["0", "0", "apple", "0"]);
    assert_eq!(rows[3], ["3", "3", "kiwi", "1.5"]);
    // The grid has the focus: the keyboard scrolls it.
    let focused = browser
        .eval("return document.activeElement?.dataset.testid ?? null")
        .await;
    assert_eq!(focused, "viewer-grid");

    // Each column's summary comes after the rows.
    let summary = tests::until_ok("the summaries", WAIT, async || {
        let texts = browser
            .eval("return [...document.querySelectorAll('[data-testid=viewer-summary]')].map((s) => s.title)")
            .await;
        if texts.as_array().is_some_and(|texts| texts.len() == 3) { Ok(texts) } else { Err(texts) }
    })
    .await;
    assert_eq!(
        summary[0], "1,000,000 values · 0 – 999999, mean 499999.5",
        "{summary}"
    );
    assert!(
        summary[1]
            .as_str()
            .is_some_and(|text| text.starts_with("1,000,000 values · 4 distinct: ")),
        "{summary}"
    );

    // Scrolled to the end: the last rows, asked for only now.
    browser
        .eval("const grid = document.querySelector('[data-testid=viewer-grid]'); grid.scrollTop = grid.scrollHeight; return true")
        .await;
    let rows = viewer_until(&browser, "the last rows", |_, rows| {
        rows.last().is_some_and(|row| row[0] == "999999")
    })
    .await;
    assert_eq!(
        rows.last().expect("a row")[1..],
        ["999999", "kiwi", "499999.5"]
    );

    // Sorted by `half`, twice: descending; back at the top.
    let sort_by = async |column: usize| {
        browser
            .eval_with(
                "document.querySelectorAll('[data-testid=viewer-sort]')[arguments[0]].click(); return true",
                vec![json!(column)],
            )
            .await;
    };
    sort_by(2).await;
    viewer_until(&browser, "sorted ascending", |_, rows| {
        rows.first().is_some_and(|row| row[0] == "0")
    })
    .await;
    sort_by(2).await;
    let rows = viewer_until(&browser, "sorted descending", |_, rows| {
        rows.first().is_some_and(|row| row[0] == "999999")
    })
    .await;
    assert_eq!(rows[1][0], "999998");

    // A condition on a column, then text; the sort stays.
    let filter = browser.find("viewer-filter").await;
    filter.send_keys("n < 10").await.expect("types");
    let rows = viewer_until(&browser, "the condition", |about, _| {
        about.contains("10 rows n < 10")
    })
    .await;
    let labels: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(labels, ["9", "8", "7", "6", "5", "4", "3", "2", "1", "0"]);
    filter.clear().await.expect("clears");
    filter.send_keys("KIW").await.expect("types");
    let rows = viewer_until(&browser, "the text", |about, rows| {
        about.contains("250,000 rows containing KIW") && !rows.is_empty()
    })
    .await;
    assert!(rows.iter().all(|row| row[2] == "kiwi"), "{rows:?}");
    assert_eq!(rows[0][0], "999999");
    // A condition that does not fit its column says so, and nothing breaks.
    filter.clear().await.expect("clears");
    filter.send_keys("n > many").await.expect("types");
    let problem = browser
        .wait_for_text("viewer-problem", WAIT, |text| !text.is_empty())
        .await;
    assert_eq!(problem, "n holds numbers, and 'many' is not one");

    // Escape closes it; a name that is gone then says so.
    browser
        .find("viewer-grid")
        .await
        .send_keys("\u{e00c}")
        .await
        .expect("Escape");
    tests::until("the viewer closing", WAIT, async || {
        browser
            .eval("return document.querySelector('[data-testid=data-viewer]') === null")
            .await
            == json!(true)
    })
    .await;
    browser
        .find("variable-view")
        .await
        .click()
        .await
        .expect("opens again");
    viewer_until(&browser, "the rows again, unsorted", |_, rows| {
        rows.first().is_some_and(|row| row[0] == "0")
    })
    .await;
    browser.execute(json!({"code": "del frame"})).await;
    browser
        .find("viewer-filter")
        .await
        .send_keys("x")
        .await
        .expect("types");
    let problem = browser
        .wait_for_text("viewer-problem", WAIT, |text| !text.is_empty())
        .await;
    assert_eq!(problem, "there is no variable named 'frame' now");

    // A table in a cell's output opens in the viewer too: by the name that holds it, or as
    // Out[N] for a cell's last value that no name holds.
    browser
        .find("viewer-close")
        .await
        .click()
        .await
        .expect("closes");
    open_cells(
        &browser,
        &[
            "evens = pd.DataFrame({'n': np.arange(0, 600, 2)})\nevens",
            "evens[evens.n >= 400]",
        ],
    )
    .await;
    start_run_all(&browser).await;
    finished(&browser).await;
    let titles = browser
        .eval("return [...document.querySelectorAll('[data-testid=open-in-viewer]')].map((b) => b.title)")
        .await;
    let titles: Vec<String> = serde_json::from_value(titles).expect("titles");
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert_eq!(
        titles[0],
        "Open evens in the data viewer: every row, sorted and filtered"
    );
    let result = titles[1]
        .strip_prefix("Open ")
        .and_then(|rest| rest.split_once(' '))
        .map(|(name, _)| name.to_owned())
        .expect("a name");
    assert!(
        result.starts_with("Out[") && result.ends_with(']'),
        "{titles:?}"
    );
    // Clicked as a person does while the first cell is selected: pressing in the second
    // cell selects it, and the first cell's tools go away under the pointer.
    let find_all = async |test_id: &str| {
        browser
            .client
            .find_all(fantoccini::Locator::Css(&format!(
                "[data-testid={test_id}]"
            )))
            .await
            .expect(test_id)
    };
    find_all("cell-count").await[0]
        .click()
        .await
        .expect("selects the first cell");
    find_all("open-in-viewer").await[1]
        .click()
        .await
        .expect("clicks Open in viewer");
    let rows = viewer_until(&browser, "the cell's result, every row", |about, rows| {
        about.contains("100 rows") && !rows.is_empty()
    })
    .await;
    assert_eq!(rows[0], ["200", "400"]);
    let dialog = browser
        .eval("return document.querySelector('[data-testid=data-viewer]').textContent")
        .await;
    assert!(
        dialog.as_str().is_some_and(|text| text.contains(&result)),
        "{dialog}"
    );
    browser.close().await;
}
