//! The workbench benchmark (not a test): our workbench next to a baseline page — plain
//! Pyodide from the same files on the same server — in the same run, in headless Chromium.
//!
//! `cargo xtask bench` builds in release mode, runs the server benchmark, then this, which
//! writes `BENCHMARKS.md` (keeping its hand-written part from `<!-- levers -->` on) and
//! `benchmarks.json`. Figures depend on the machine; compare the ratios.
//!
//! Usage: `browser_bench RUNS SERVER_JSON OUT_MD OUT_JSON`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{Value, json};
use tests::{Browser, TestApp, make_trips, spawn_app_with, workspace_root};

const SNIPPET: &str =
    "import numpy, pandas; pandas.DataFrame({'a': numpy.arange(3)}).sum().iloc[0]";
const TRIVIAL_RUNS: usize = 200;
const CSV_CODE: &str =
    "import pandas as pd\ndf = pd.read_csv('big.csv')\nlen(df.groupby('city')['km'].sum())";
const FIGURE_CODE: &str = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()";
const BASELINE_FIGURE_CODE: &str = "import matplotlib\nmatplotlib.use('Agg')\nimport io, matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nbuffer = io.BytesIO()\nplt.savefig(buffer, format='png')\nbuffer.tell() > 0";
/// Cells in the notebook whose opening, scrolling and typing are measured (~2 MB with outputs).
const BIG_NOTEBOOK_CELLS: usize = 200;
/// Trivial cells run by "run all", against as many `execute` calls.
const RUN_ALL_CELLS: usize = 50;
/// Cells of the notebook whose share link is made and opened.
const SHARED_CELLS: usize = 50;
/// Notebooks added before the backup is timed (beside those the bench made).
const BACKUP_NOTEBOOKS: usize = 100;
/// The data file in the timed backup (a multiple of 64).
const BACKUP_FILE_MB: usize = 1024;
/// Keystrokes timed in the big notebook.
const KEYSTROKES: usize = 40;
/// A CSV of this many MB is loaded by a drop, to weigh what it costs the app's memory.
const MEMORY_CSV_MB: usize = 100;
/// Completions timed once the first one shows, each a `.` typed after one of these names.
const COMPLETIONS: usize = 50;
const COMPLETION_NAMESPACE: &str = "import numpy as np\nimport pandas as pd\ndf = pd.DataFrame({'amount': range(10), 'city': ['Oslo'] * 10})";
/// Types `arguments[0]` and then a `.` into the first cell's editor the way a keyboard does
/// (`beforeinput`/`input` events, which CodeMirror reads as typing), and resolves with the
/// milliseconds from the `.` to the frame that shows the completion popup, or null if none
/// shows within 3 s. (The popup a two-letter name may open first is closed before the `.`.)
const TIME_COMPLETION: &str = "window.benchComplete = async (name) => {
    const content = document.querySelector('[data-testid=cell] .cm-content');
    const popup = () => document.querySelector('.cm-tooltip-autocomplete');
    const escape = () => content.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true, cancelable: true}));
    const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    content.focus();
    document.execCommand('selectAll');
    document.execCommand('insertText', false, name);
    await pause(250);
    if (popup()) escape();
    content.focus();
    await pause(50);
    const shown = new Promise((resolve) => {
      const observer = new MutationObserver(() => {
        if (popup()) { observer.disconnect(); requestAnimationFrame(() => resolve(performance.now())); }
      });
      observer.observe(document.body, {childList: true, subtree: true});
      setTimeout(() => { observer.disconnect(); resolve(null); }, 3000);
    });
    const started = performance.now();
    document.execCommand('insertText', false, '.');
    const at = await shown;
    if (popup()) escape();
    return at === null ? null : at - started;
  };";
/// Makes a ~10 MB CSV in the page as `text`.
const MAKE_CSV: &str = "const rows = ['city,km']; for (let i = 0; i < 450000; i++) rows.push(`city${i % 100},${(i % 997) / 7}`); const text = rows.join('\\n');";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Workbench,
    Baseline,
}

type Samples = BTreeMap<&'static str, Vec<f64>>;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = args.first().map_or(5, |runs| runs.parse().expect("RUNS"));
    let server_json = args.get(1).map(PathBuf::from);
    let root = workspace_root();
    let out_md = args
        .get(2)
        .map_or_else(|| root.join("BENCHMARKS.md"), PathBuf::from);
    let out_json = args
        .get(3)
        .map_or_else(|| root.join("benchmarks.json"), PathBuf::from);

    // The real build plus the baseline page, served by the real server.
    let site = tempfile::tempdir().expect("dir");
    for entry in std::fs::read_dir(root.join("dist")).expect("dist/ (run `cargo xtask build`)") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), site.path().join(entry.file_name())).expect("copied");
    }
    std::fs::copy(
        root.join("tests/bench/baseline.html"),
        site.path().join("baseline.html"),
    )
    .expect("baseline page");
    let dist = site.path().to_path_buf();
    let app = spawn_app_with(|config| config.dist_dir = dist).await;

    let mut samples = Samples::new();
    let mut extras = serde_json::Map::new();
    for run in 0..runs {
        let order = if run % 2 == 0 {
            [Page::Baseline, Page::Workbench]
        } else {
            [Page::Workbench, Page::Baseline]
        };
        for page in order {
            // A fresh profile: the first visit is cold, the second warm.
            let browser = Browser::start().await;
            // The app's own WebAssembly memory, for the file-load measurement.
            browser
                .devtools(
                    "Page.addScriptToEvaluateOnNewDocument",
                    json!({"source": "addEventListener('TrunkApplicationStarted', (event) => { window.benchAppMemory = event.detail.wasm.memory; });"}),
                )
                .await;
            for visit in ["cold", "warm"] {
                let answer = first_result(&browser, &app, page).await;
                assert_eq!(answer["result"], json!(3), "{page:?} answered {answer}");
                let at = answer["at"].as_f64().expect("a time");
                println!("run {run} {page:?} {visit}: first pandas result at {at:.0} ms");
                let name = match (page, visit) {
                    (Page::Workbench, "cold") => "workbench cold",
                    (Page::Workbench, _) => "workbench warm",
                    (Page::Baseline, "cold") => "baseline cold",
                    (Page::Baseline, _) => "baseline warm",
                };
                samples.entry(name).or_default().push(at);
                for (field, cold, warm) in [
                    ("editor", "editor cold", "editor warm"),
                    ("codeEditor", "code editor cold", "code editor warm"),
                ] {
                    if let Some(at) = answer[field].as_f64() {
                        let measure = if visit == "cold" { cold } else { warm };
                        samples.entry(measure).or_default().push(at);
                    }
                }
            }
            if run == runs - 1 {
                let measured = match page {
                    Page::Workbench => workbench_extras(&browser).await,
                    Page::Baseline => baseline_extras(&browser).await,
                };
                extras.extend(measured);
                if page == Page::Workbench {
                    extras.insert("data".to_owned(), data_extras(&browser).await);
                }
            }
            browser.close().await;
        }
    }

    let server: Value = server_json
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let report = Report::new(runs, &samples, &extras, server);
    std::fs::write(
        &out_json,
        serde_json::to_string_pretty(&report.json).expect("JSON"),
    )
    .expect("JSON written");
    let kept = std::fs::read_to_string(&out_md)
        .ok()
        .and_then(|text| text.find("<!-- levers -->").map(|at| text[at..].to_owned()))
        .unwrap_or_default();
    std::fs::write(&out_md, format!("{}{kept}", report.markdown)).expect("written");
    println!("\n{}", report.markdown);
    println!("wrote {} and {}", out_md.display(), out_json.display());
}

/// Navigates to the page and waits for the snippet's answer; times are from navigation start.
async fn first_result(browser: &Browser, app: &TestApp, page: Page) -> Value {
    let path = match page {
        Page::Workbench => "/",
        Page::Baseline => "/baseline.html",
    };
    browser.client.goto(&app.url(path)).await.expect("opens");
    let script = match page {
        Page::Workbench => {
            "while (!window.workbench) { await new Promise((resolve) => setTimeout(resolve, 2)); }
             const answer = await window.workbench.execute({ code: arguments[0] });
             const at = performance.now();
             const mark = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
             return { at, result: answer.result, editor: mark('workbench-editor-usable'),
                      codeEditor: mark('workbench-code-editor-ready') };"
        }
        Page::Baseline => "return await window.benchFirstResult;",
    };
    browser
        .eval_with(
            &format!("return (async () => {{ {script} }})()"),
            vec![json!(SNIPPET)],
        )
        .await
}

async fn workbench_extras(browser: &Browser) -> serde_json::Map<String, Value> {
    // First, while the page is young: when completion first answers, then how fast it is.
    let completion = completion_extras(browser).await;
    // On a settled runtime, like the baseline's idle worker: once the background preloads are
    // done (their last step imports pyplot), not while they still take turns with the runs.
    let settled = browser
        .eval(
            "return (async () => {
               const started = performance.now();
               while (performance.now() - started < 60000) {
                 const answer = await window.workbench.execute({ code: \"'matplotlib.pyplot' in __import__('sys').modules\" });
                 if (answer.result === true) return true;
                 await new Promise((resolve) => setTimeout(resolve, 100));
               }
               return false;
             })()",
        )
        .await;
    assert_eq!(settled, true, "the background preloads did not finish");
    // ... and the service worker has copied the files of the start into its cache, which it
    // does right after them (a one-off ≈ 60 MB copy that would otherwise run beside the
    // trivial runs).
    browser
        .wait_for_kept_files(&["numpy", "pandas", "matplotlib"])
        .await;
    let trivial = browser
        .eval_with(
            "return (async () => {
               const times = [];
               for (let i = 0; i < arguments[0]; i++) {
                 const started = performance.now();
                 await window.workbench.execute({ code: '1+1' });
                 times.push(performance.now() - started);
               }
               return times;
             })()",
            vec![json!(TRIVIAL_RUNS)],
        )
        .await;
    let csv = browser
        .eval_with(
            &format!(
                "return (async () => {{ {MAKE_CSV}
                   await window.workbench.loadFile('big.csv', text);
                   const started = performance.now();
                   const answer = await window.workbench.execute({{ code: arguments[0] }});
                   return {{ ms: performance.now() - started, result: answer.result, bytes: text.length }};
                 }})()"
            ),
            vec![json!(CSV_CODE)],
        )
        .await;
    assert_eq!(csv["result"], json!(100), "{csv}");
    let figure = browser
        .eval_with(
            "return (async () => {
               const started = performance.now();
               const answer = await window.workbench.execute({ code: arguments[0] });
               return { ms: performance.now() - started, success: answer.success };
             })()",
            vec![json!(FIGURE_CODE)],
        )
        .await;
    assert_eq!(figure["success"], true, "{figure}");
    let mut measured = serde_json::Map::from_iter([
        ("workbench trivial runs".to_owned(), trivial),
        ("workbench csv".to_owned(), csv),
        ("workbench figure".to_owned(), figure),
    ]);
    measured.extend(completion);
    measured.extend(notebook_extras(browser).await);
    measured.insert("file memory".to_owned(), file_memory(browser).await);
    measured.insert("keeping".to_owned(), keeping_extras(browser).await);
    measured.insert("kernel".to_owned(), kernel_extras(browser).await);
    measured
}

/// How many names the Variables panel lists in the bench, and how often it is asked.
const VARIABLE_NAMES: usize = 200;
const VARIABLE_ASKS: usize = 20;

/// The Variables panel's question over [`VARIABLE_NAMES`] names (ints, strings, lists,
/// numpy arrays, DataFrames), page → answer, each of [`VARIABLE_ASKS`]; and matplotlib's
/// font list read as shipped against rebuilt (what every fresh start did before set-up
/// shipped this version's own list), in one run, Python's own time.
async fn kernel_extras(browser: &Browser) -> Value {
    let made = browser
        .execute(json!({"code": format!(
            "import numpy as np, pandas as pd\n\
             for i in range({VARIABLE_NAMES}):\n\
             \x20   globals()[f'v{{i:03}}'] = [i, str(i), list(range(i)), np.zeros(i), pd.DataFrame({{'a': range(i)}})][i % 5]"
        )}))
        .await;
    assert_eq!(made["success"], true, "{made}");
    let asked = browser
        .eval_with(
            "return (async () => {
               const times = [];
               let listed = 0;
               for (let i = 0; i < arguments[0]; i++) {
                 const started = performance.now();
                 const answer = await window.workbench.variables();
                 times.push(performance.now() - started);
                 listed = answer.variables.length;
               }
               return { times, listed };
             })()",
            vec![json!(VARIABLE_ASKS)],
        )
        .await;
    assert!(
        asked["listed"].as_u64().unwrap_or(0) >= VARIABLE_NAMES as u64,
        "{asked}"
    );
    // The same question's Python time alone: assist.py's `variables`, over the same names,
    // from a copy of assist.py set up on this namespace (what the worker runs, minus the
    // message to the page and back).
    let python = browser
        .execute(json!({"code": format!(
            "import time as _time\n\
             _assist = {{}}\n\
             exec({assist}, _assist)\n\
             _assist['setup'](globals())\n\
             _times = []\n\
             for _ in range({VARIABLE_ASKS}):\n\
             \x20   _started = _time.perf_counter(); _listed = _assist['variables'](); _times.append((_time.perf_counter() - _started) * 1000)\n\
             assert len(_listed['variables']) >= {VARIABLE_NAMES}, len(_listed['variables'])\n\
             _times",
            // A JSON string is a Python string literal.
            assist = json!(include_str!("../../pyodide-loader/python/assist.py")),
        )}))
        .await;
    assert_eq!(python["success"], true, "{python}");
    let fonts = browser
        .execute(json!({"code": "
import time
import matplotlib.font_manager as font_manager
times = {'shipped': [], 'rebuilt': []}
for _ in range(5):
    started = time.perf_counter(); font_manager._load_fontmanager(); times['shipped'].append(time.perf_counter() - started)
    started = time.perf_counter(); font_manager._load_fontmanager(try_read_cache=False); times['rebuilt'].append(time.perf_counter() - started)
times"}))
        .await;
    json!({
        "variables": asked,
        "variablesPython": python["result"],
        "fonts": fonts["result"],
        "viewer": viewer_extras(browser).await,
        "charts": chart_extras(
            browser,
            "import plotly.express as px",
            "px.scatter(x=list(range(100)), y=[v * v for v in range(100)], title='{i}')",
        )
        .await,
        "altair": chart_extras(
            browser,
            "import altair as alt, pandas as pd\nsquares = pd.DataFrame({'x': range(100), 'y': [v * v for v in range(100)]})",
            "alt.Chart(squares, title='{i}').mark_point().encode(x='x', y='y')",
        )
        .await,
    })
}

/// A chart library: its first import (installed from the wheelhouse and imported), then a
/// chart's cell run → the chart drawn on the page, five times: the first fetches the
/// renderer, each draws in a new frame. `chart` is the cell's code, with `{i}` in it.
async fn chart_extras(browser: &Browser, import: &str, chart: &str) -> Value {
    browser
        .eval_with(
            "return (async (imports, chart) => {
               const notebook = (source) => JSON.stringify({cells: [{cell_type: 'code', source, metadata: {},
                 outputs: [], execution_count: null}], metadata: {}, nbformat: 4, nbformat_minor: 5});
               const started = performance.now();
               await window.workbench.notebook.open(notebook(imports));
               const imported = await window.workbench.notebook.runAll();
               if (!imported[0].success) throw new Error(`${imports} failed`);
               const importMs = performance.now() - started;
               const drawn = [];
               for (let i = 0; i < 5; i++) {
                 await window.workbench.notebook.open(notebook(chart.replace('{i}', String(i))));
                 await new Promise((resolve) => setTimeout(resolve, 300));
                 const begun = performance.now();
                 window.workbench.notebook.runAll();
                 await new Promise((resolve, reject) => {
                   const check = () => {
                     const chart = document.querySelector('[data-testid=chart]');
                     if (chart?.dataset.state === 'drawn') resolve();
                     else if (chart?.dataset.state === 'failed') reject(new Error('the chart failed'));
                     else requestAnimationFrame(check);
                   };
                   check();
                 });
                 drawn.push(performance.now() - begun);
               }
               return { importMs, drawn };
             })(arguments[0], arguments[1])",
            vec![json!(import), json!(chart)],
        )
        .await
}

/// Rows of the DataFrame the data viewer opens in the bench.
const VIEWER_ROWS: u64 = 10_000_000;

/// The data viewer over a [`VIEWER_ROWS`]-row DataFrame: its name clicked → the first rows in
/// the DOM (five times, closed between); then 40 scroll steps of seven rows and 10 jumps
/// anywhere: the scroll event → the rows redrawn (what a frame costs), and → no row waiting
/// for Python any more.
async fn viewer_extras(browser: &Browser) -> Value {
    let made = browser
        .execute(json!({"code": format!(
            "import numpy as np, pandas as pd\n\
             n = np.arange({VIEWER_ROWS})\n\
             big = pd.DataFrame({{'n': n, 'half': n / 2, 'fruit': pd.Categorical(np.array(['apple', 'pear', 'fig', 'kiwi'])[n % 4])}})\n\
             del n"
        )}))
        .await;
    assert_eq!(made["success"], true, "{made}");
    browser
        .eval_with(
            "return (async () => {
               const appears = (check) => new Promise((resolve) => {
                 if (check()) return resolve(performance.now());
                 const observer = new MutationObserver(() => {
                   if (check()) { observer.disconnect(); resolve(performance.now()); }
                 });
                 observer.observe(document.body, { childList: true, subtree: true, characterData: true });
               });
               const button = () => [...document.querySelectorAll('[data-testid=variable-view]')]
                 .find((b) => b.textContent === 'big');
               const deadline = Date.now() + 60000;
               while (!button()) {
                 if (Date.now() > deadline) {
                   const panel = [...document.querySelectorAll('[data-testid=variable-name]')].map((n) => n.textContent);
                   const asked = await window.workbench.variables().then(
                     (answer) => answer.variables.slice(0, 8).map((v) => `${v.name}:${v.viewable}`).join(' ') + ` more ${answer.more}`,
                     (error) => String(error));
                   throw new Error(`big is not listed: the panel has ${panel.length} names (${panel.slice(0, 8).join(' ')}); variables() says ${asked}`);
                 }
                 await new Promise((resolve) => setTimeout(resolve, 50));
               }
               const opened = [];
               for (let i = 0; i < 5; i++) {
                 await new Promise((resolve) => setTimeout(resolve, 300));
                 const started = performance.now();
                 button().click();
                 opened.push(await appears(() => document.querySelector('[data-testid=viewer-row]')) - started);
                 if (i < 4) {
                   document.querySelector('[data-testid=viewer-close]').click();
                   await appears(() => !document.querySelector('[data-testid=data-viewer]'));
                 }
               }
               const grid = document.querySelector('[data-testid=viewer-grid]');
               const first = () => document.querySelector('[data-testid=viewer-row] [role=rowheader]')?.textContent;
               let scrolled = 0;
               window.addEventListener('scroll', () => { scrolled = performance.now(); }, true);
               const redrawn = [];
               const filled = [];
               const step = async (top) => {
                 await new Promise((resolve) => setTimeout(resolve, 50));
                 const before = first();
                 scrolled = 0;
                 grid.scrollTop = top;
                 const drawn = await appears(() => scrolled > 0 && first() !== before);
                 redrawn.push(drawn - scrolled);
                 filled.push(await appears(() => !document.querySelector('.viewer-waiting')) - scrolled);
               };
               for (let i = 1; i <= 40; i++) await step(i * 26 * 7);
               for (let i = 1; i <= 10; i++) await step(Math.floor((grid.scrollHeight - grid.clientHeight) * i / 10.5));
               return { rows: arguments[0], opened, redrawn, filled };
             })()",
            vec![json!(VIEWER_ROWS)],
        )
        .await
}

/// Share links of a notebook of [`SHARED_CELLS`] cells with outputs (made: the median of
/// ten `shareLink` calls; opened: `#` part changed → its cells on the screen, the median of
/// six, each from a settled page, as a person opens a link: the previous open's editors,
/// made in the tasks after its cells show, are not counted in the next), and a backup of [`BACKUP_NOTEBOOKS`] more notebooks and a [`BACKUP_FILE_MB`] MB
/// file: click → the zip ready, with the app's wasm memory and the page's JS heap before
/// and at their highest meanwhile (sampled every 20 ms).
async fn keeping_extras(browser: &Browser) -> Value {
    let share = browser
        .eval_with(
            "return (async () => {
               const cells = [];
               for (let i = 0; i < arguments[0]; i++) {
                 cells.push({cell_type: 'code', source: `# step ${i}\ntotal_${i} = sum(x * ${i} for x in range(100))\nprint(total_${i})`,
                   metadata: {}, execution_count: i + 1,
                   outputs: [{output_type: 'stream', name: 'stdout', text: `${4950 * i}\n`}]});
               }
               await window.workbench.notebook.open(JSON.stringify({cells, metadata: {}, nbformat: 4, nbformat_minor: 5}));
               const made = [];
               let link = null;
               for (let i = 0; i < 10; i++) {
                 const started = performance.now();
                 link = await window.workbench.notebook.shareLink({maxLength: 2097152});
                 made.push(performance.now() - started);
               }
               const without = await window.workbench.notebook.shareLink({outputs: false, maxLength: 2097152});
               const opened = [];
               for (let i = 0; i < 6; i++) {
                 const hash = new URL(i % 2 ? without : link).hash;
                 await new Promise((resolve) => setTimeout(resolve, 500));
                 await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
                 const started = performance.now();
                 location.hash = hash;
                 await new Promise((resolve) => {
                   const check = () => {
                     const shown = document.querySelectorAll('[data-testid=cell]').length === arguments[0]
                       && document.querySelector('[data-testid=save-state]')?.textContent === 'Shared — not saved yet'
                       && (i % 2 === 1) === (document.querySelectorAll('[data-testid=output]').length === 0);
                     if (shown) resolve(); else requestAnimationFrame(check);
                   };
                   check();
                 });
                 opened.push(performance.now() - started);
               }
               history.replaceState(null, '', location.pathname);
               const median = (values) => values.slice().sort((a, b) => a - b)[Math.floor(values.length / 2)];
               return { cells: arguments[0], linkChars: link.length, linkCharsWithoutOutputs: without.length,
                        makeMs: median(made), openMs: median(opened) };
             })()",
            vec![json!(SHARED_CELLS)],
        )
        .await;
    let backup = browser
        .eval_with(
            "return (async () => {
               for (let i = 0; i < arguments[0]; i++) {
                 await window.workbench.notebook.open(JSON.stringify({cells: [
                   {cell_type: 'markdown', source: `# Backup bench ${i}`, metadata: {}},
                   {cell_type: 'code', source: `value = ${i}`, metadata: {}, outputs: [], execution_count: null}],
                   metadata: {}, nbformat: 4, nbformat_minor: 5}));
               }
               const chunk = new Uint8Array(64 * 1024 * 1024).fill(42);
               const file = new Blob(Array.from({length: arguments[1] / 64}, () => chunk));
               const kept = await window.workbench.loadFile('backup-bench.bin', file);
               if (!kept.success) return { error: kept.error };
               const notebooks = (await window.workbench.notebook.list()).length;
               const app = () => window.benchAppMemory ? window.benchAppMemory.buffer.byteLength : NaN;
               const heap = () => performance.memory ? performance.memory.usedJSHeapSize : NaN;
               const before = { app: app(), heap: heap() };
               const peak = { ...before };
               const sampler = setInterval(() => { peak.app = Math.max(peak.app, app()); peak.heap = Math.max(peak.heap, heap()); }, 20);
               document.querySelector('[data-testid=backup-notice]')?.remove();
               const started = performance.now();
               document.querySelector('[data-testid=backup-download]').click();
               let notice = '';
               while (!(notice = document.querySelector('[data-testid=backup-notice]')?.textContent || '')) {
                 await new Promise((resolve) => setTimeout(resolve, 20));
               }
               const ms = performance.now() - started;
               clearInterval(sampler);
               return { notebooks, fileBytes: file.size, ms, appBefore: before.app, appPeak: peak.app,
                        heapBefore: before.heap, heapPeak: peak.heap, notice };
             })()",
            vec![json!(BACKUP_NOTEBOOKS), json!(BACKUP_FILE_MB)],
        )
        .await;
    json!({"share": share, "backup": backup})
}

/// Completion in the first cell: navigation → the first popup (jedi loads after the
/// preloads), that popup's keystroke → frame, then keystroke → frame for
/// [`COMPLETIONS`] more, after `df`, `np` and `pd` in turn.
async fn completion_extras(browser: &Browser) -> serde_json::Map<String, Value> {
    let defined = browser
        .eval_with(
            "return window.workbench.execute({ code: arguments[0] })",
            vec![json!(COMPLETION_NAMESPACE)],
        )
        .await;
    assert_eq!(defined["success"], json!(true), "{defined}");
    browser.eval(TIME_COMPLETION).await;
    let first = browser
        .eval(
            "return (async () => {
               for (let attempt = 0; attempt < 60; attempt++) {
                 const ms = await window.benchComplete('df');
                 if (ms !== null) return { ms, at: performance.now(), attempts: attempt + 1 };
               }
               return null;
             })()",
        )
        .await;
    assert!(first.is_object(), "no completion within 3 minutes");
    // The rest on a settled page: the service worker copies the files of the start into its
    // cache right after the preloads.
    browser
        .wait_for_kept_files(&["numpy", "pandas", "matplotlib", "jedi"])
        .await;
    let times = browser
        .eval_with(
            "return (async () => {
               const names = ['df', 'np', 'pd'];
               const times = [];
               for (let i = 0; i < arguments[0]; i++) times.push(await window.benchComplete(names[i % 3]));
               return times;
             })()",
            vec![json!(COMPLETIONS)],
        )
        .await;
    serde_json::Map::from_iter([
        ("first completion".to_owned(), first),
        ("completions".to_owned(), times),
    ])
}

/// The notebook: run-all against `execute` calls, opening a big notebook, typing in it.
async fn notebook_extras(browser: &Browser) -> serde_json::Map<String, Value> {
    let run_all = browser
        .eval_with(
            "return (async () => {
               const cells = Array.from({length: arguments[0]}, (_, i) => ({cell_type: 'code', source: `${i} + 1`, metadata: {}, outputs: [], execution_count: null}));
               await window.workbench.notebook.open(JSON.stringify({cells, metadata: {}, nbformat: 4, nbformat_minor: 5}));
               // Once the notebook is on the screen with its editors, as a person would run it.
               await new Promise((resolve) => setTimeout(resolve, 1000));
               let started = performance.now();
               const outcomes = await window.workbench.notebook.runAll();
               const runAll = performance.now() - started;
               started = performance.now();
               for (let i = 0; i < arguments[0]; i++) await window.workbench.execute({ code: `${i} + 1` });
               const calls = performance.now() - started;
               return { runAllMs: runAll, executeCallsMs: calls, ran: outcomes.filter((outcome) => outcome.success).length };
             })()",
            vec![json!(RUN_ALL_CELLS)],
        )
        .await;
    assert_eq!(run_all["ran"], json!(RUN_ALL_CELLS), "{run_all}");
    // A 200-cell notebook with outputs (text and a small figure each), as a file would hold it.
    let open = browser
        .eval_with(
            "return (async () => {
               const png = document.createElement('canvas');
               png.width = 320; png.height = 200;
               const context = png.getContext('2d');
               for (let i = 0; i < 200; i++) { context.fillStyle = `hsl(${i * 7}, 60%, 50%)`; context.fillRect(i * 1.6, 200 - i, 2, i); }
               const image = png.toDataURL('image/png').split(',')[1];
               const cells = [];
               for (let i = 0; i < arguments[0]; i++) {
                 const source = `# step ${i}\nvalues = [x * ${i} for x in range(100)]\nsum(values)`;
                 cells.push({cell_type: 'code', source, metadata: {}, execution_count: i + 1, outputs: [
                   {output_type: 'stream', name: 'stdout', text: 'a line of output from this step\\n'.repeat(90)},
                   {output_type: 'display_data', metadata: {}, data: {'image/png': image, 'text/plain': '<Figure>'}},
                 ]});
               }
               const text = JSON.stringify({cells, metadata: {}, nbformat: 4, nbformat_minor: 5});
               const started = performance.now();
               await window.workbench.notebook.open(text);
               // Until the first cells are on the screen and the first one can be typed in.
               await new Promise((resolve) => {
                 const check = () => {
                   const first = document.querySelector('[data-testid=cell] .cm-editor');
                   if (first && document.querySelectorAll('[data-testid=cell]').length === arguments[0]) resolve();
                   else requestAnimationFrame(check);
                 };
                 check();
               });
               return { ms: performance.now() - started, bytes: text.length, editors: document.querySelectorAll('.cm-editor').length };
             })()",
            vec![json!(BIG_NOTEBOOK_CELLS)],
        )
        .await;
    // Keystroke → next frame, in that notebook's first cell.
    browser
        .eval(
            "window.benchKeys = [];
             const editor = document.querySelector('[data-testid=cell] .cm-content');
             let pressed = null;
             editor.addEventListener('keydown', (event) => { pressed = event.timeStamp; }, true);
             new MutationObserver(() => {
               if (pressed === null) return;
               const at = pressed;
               pressed = null;
               requestAnimationFrame((frame) => window.benchKeys.push(frame - at));
             }).observe(editor, {childList: true, subtree: true, characterData: true});",
        )
        .await;
    let editor = browser
        .client
        .find(Locator::Css("[data-testid=cell] [data-testid=editor]"))
        .await
        .expect("the first cell's editor");
    editor.click().await.expect("focus");
    for _ in 0..KEYSTROKES {
        editor.send_keys("x").await.expect("a key");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = browser.eval("return window.benchKeys").await;
    serde_json::Map::from_iter([
        ("notebook run all".to_owned(), run_all),
        ("notebook open".to_owned(), open),
        ("notebook keystrokes".to_owned(), keys),
    ])
}

/// How much the app's own memory grows when a 100 MB CSV is dropped on the page (the bytes
/// go to Python's worker without passing through it).
async fn file_memory(browser: &Browser) -> Value {
    browser
        .eval_with(
            "return (async () => {
               const size = arguments[0] * 1024 * 1024;
               const row = 'city42,123.456\\n';
               const chunk = row.repeat(Math.ceil(1024 * 1024 / row.length));
               const file = new File(['city,km\\n', ...Array.from({length: arguments[0]}, () => chunk)], 'memory.csv', {type: 'text/csv'});
               const memory = () => window.benchAppMemory ? window.benchAppMemory.buffer.byteLength : NaN;
               const before = memory();
               const transfer = new DataTransfer();
               transfer.items.add(file);
               const main = document.querySelector('main');
               const started = performance.now();
               main.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
               while (!(document.querySelector('[data-testid=files-notice]')?.textContent || '').includes('memory.csv')) {
                 await new Promise((resolve) => setTimeout(resolve, 50));
               }
               return { fileBytes: file.size, appMemoryBefore: before, appMemoryAfter: memory(), ms: performance.now() - started,
                        notice: document.querySelector('[data-testid=files-notice]').textContent };
             })()",
            vec![json!(MEMORY_CSV_MB)],
        )
        .await
}

/// The analyst's data at real size: a 1 GB CSV made on disk and picked through the file
/// input, kept in place; its preview, reads, a tail read, and start-up with it kept against
/// start-up with no files — all on the same warm page.
async fn data_extras(browser: &Browser) -> Value {
    let folder = tempfile::tempdir().expect("a folder");
    let path = folder.path().join("trips.csv");
    let trips = make_trips(&path, DATA_CSV_BYTES);
    let run = |code: String| async move {
        let answer = browser
            .execute(json!({"code": code, "timeout": 600_000}))
            .await;
        assert_eq!(answer["success"], true, "{answer}");
        answer["result"].clone()
    };
    // No files kept: the earlier measurements' go.
    run("import os\nfor name in os.listdir('/home/pyodide/data'):\n    os.remove('/home/pyodide/data/' + name)".to_owned()).await;
    let empty_start = python_ready_after_reloads(browser).await;
    run("import pandas".to_owned()).await;
    let python_before = run(PYTHON_MEMORY.to_owned()).await;
    let heap_before = browser
        .eval("return performance.memory.usedJSHeapSize")
        .await;
    let input = browser
        .client
        .find(Locator::Css("[data-testid=file-input]"))
        .await
        .expect("the file input");
    let started = Instant::now();
    input
        .send_keys(&path.display().to_string())
        .await
        .expect("picks the file");
    browser
        .wait_for_text("file-shape", Duration::from_secs(120), |text| {
            text.contains("columns")
        })
        .await;
    let add_ms = started.elapsed().as_secs_f64() * 1000.0;
    let heap_after = browser
        .eval("return performance.memory.usedJSHeapSize")
        .await;
    let python_after_add = run(PYTHON_MEMORY.to_owned()).await;
    // Kept: the copy into the browser's storage is done.
    let started = Instant::now();
    while browser
        .eval("return document.querySelectorAll('[data-testid=file-keeping]').length")
        .await
        != json!(0)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept_ms = add_ms + started.elapsed().as_secs_f64() * 1000.0;
    let kept_start = python_ready_after_reloads(browser).await;
    run("import pandas".to_owned()).await;
    let tail = run(
        "import time\ntimes = []\nfor _ in range(7):\n    started = time.perf_counter()\n    with open('/home/pyodide/data/trips.csv', 'rb') as f:\n        f.seek(-200, 2)\n        tail = f.read()\n    times.append((time.perf_counter() - started) * 1000)\nassert len(tail) == 200\nsorted(times)[3]".to_owned())
    .await;
    let lazy = run(group_by("/home/pyodide/data/trips.csv")).await;
    let python_after_read = run(PYTHON_MEMORY.to_owned()).await;
    assert_eq!(
        lazy[1],
        json!(trips.by_zone.values().map(|(count, _)| count).sum::<u64>()),
        "{lazy}"
    );
    // The same read over 100 MB of it, in memory (as files were kept before) and kept.
    run("with open('/home/pyodide/data/trips.csv', 'rb') as source:\n    head = source.read(100_000_000)\nhead = head[: head.rfind(b'\\n') + 1]\nopen('/tmp/memory.csv', 'wb').write(head)\nopen('/home/pyodide/data/hundred.csv', 'wb').write(head)\ndel head".to_owned()).await;
    let memory_100 = run(group_by("/tmp/memory.csv")).await;
    let kept_100 = run(group_by("/home/pyodide/data/hundred.csv")).await;
    // SQL: the first query after a page start (the engine loads then), the same group-by in
    // DuckDB over the CSV and over the same data written once as Parquet, and a result of a
    // million rows by five columns into a DataFrame.
    run("import os\nos.remove('/home/pyodide/data/hundred.csv')".to_owned()).await;
    browser.client.refresh().await.expect("reload");
    browser.wait_for_python().await;
    let started = Instant::now();
    run("from workbench import sql\nsql('SELECT 1')".to_owned()).await;
    let sql_first_ms = started.elapsed().as_secs_f64() * 1000.0;
    let sql_csv = run(sql_group_by("trips.csv")).await;
    assert_eq!(
        sql_csv[1], lazy[1],
        "DuckDB and pandas count the same trips"
    );
    run(WRITE_PARQUET.to_owned()).await;
    let sql_parquet = run(sql_group_by("trips.parquet")).await;
    assert_eq!(
        sql_parquet[1], lazy[1],
        "the Parquet copy holds the same trips"
    );
    let sql_million = run(
        "import time\nstarted = time.perf_counter()\nframe = sql(\"SELECT range AS a, range * 2 AS b, range * 0.5 AS c, 'zone ' || (range % 100)::VARCHAR AS d, range % 7 = 0 AS e FROM range(1000000)\")\nassert frame.shape == (1_000_000, 5)\ntime.perf_counter() - started"
            .to_owned(),
    )
    .await;
    json!({
        "fileBytes": trips.bytes,
        "addMs": add_ms,
        "keptMs": kept_ms,
        "jsHeapBefore": heap_before,
        "jsHeapAfter": heap_after,
        "pythonMemoryBefore": python_before,
        "pythonMemoryAfterAdd": python_after_add,
        "pythonMemoryAfterRead": python_after_read,
        "startNoFilesMs": empty_start,
        "startKeptMs": kept_start,
        "tailMs": tail,
        "readMs": lazy[0].as_f64().map(|seconds| seconds * 1000.0),
        "memory100Ms": memory_100[0].as_f64().map(|seconds| seconds * 1000.0),
        "kept100Ms": kept_100[0].as_f64().map(|seconds| seconds * 1000.0),
        "sqlFirstMs": sql_first_ms,
        "sqlCsvMs": sql_csv[0].as_f64().map(|seconds| seconds * 1000.0),
        "sqlParquetMs": sql_parquet[0].as_f64().map(|seconds| seconds * 1000.0),
        "sqlMillionRowsMs": sql_million.as_f64().map(|seconds| seconds * 1000.0),
    })
}

/// The trips CSV written once as Parquet (all five columns, in row groups), by pyarrow.
const WRITE_PARQUET: &str = "import pyarrow.csv as pacsv, pyarrow.parquet as pq
reader = pacsv.open_csv('/home/pyodide/data/trips.csv')
with pq.ParquetWriter('/home/pyodide/data/trips.parquet', reader.schema) as writer:
    for batch in reader:
        writer.write_batch(batch)
del reader";

/// The bench's group-by in SQL over one file: `[seconds, rows]`.
fn sql_group_by(file: &str) -> String {
    format!(
        "import time\nstarted = time.perf_counter()\n\
         totals = sql(\"SELECT zone, count(*) AS trips, sum(fare) AS fares FROM '{file}' GROUP BY zone\")\n\
         [time.perf_counter() - started, int(totals['trips'].sum())]"
    )
}

/// Python's WebAssembly memory, in bytes (it never shrinks: after a read, its peak).
const PYTHON_MEMORY: &str = "import pyodide_js\npyodide_js._module.HEAP8.length";
/// The bench's large CSV.
const DATA_CSV_BYTES: u64 = 1_000_000_000;

/// Two columns of a trips CSV, grouped by zone in chunks: `[seconds, rows]`.
fn group_by(path: &str) -> String {
    format!(
        "import time, pandas as pd\nstarted = time.perf_counter()\ntotals = None\n\
         for chunk in pd.read_csv('{path}', usecols=['zone', 'fare'], chunksize=2_000_000):\n    \
         part = chunk.groupby('zone')['fare'].agg(['count', 'sum'])\n    \
         totals = part if totals is None else totals.add(part, fill_value=0)\n\
         [time.perf_counter() - started, int(totals['count'].sum())]"
    )
}

/// Reloads the page three times and gives each start's navigation → Python ready, in ms.
async fn python_ready_after_reloads(browser: &Browser) -> Vec<f64> {
    let mut starts = Vec::new();
    for _ in 0..3 {
        browser.client.refresh().await.expect("reload");
        let at = browser
            .eval(
                "return (async () => {
                   for (;;) {
                     const mark = performance.getEntriesByName('workbench-python-ready')[0];
                     if (mark) return mark.startTime;
                     await new Promise((resolve) => setTimeout(resolve, 10));
                   }
                 })()",
            )
            .await;
        starts.push(at.as_f64().unwrap_or(f64::NAN));
        browser.wait_for_python().await;
    }
    starts
}

async fn baseline_extras(browser: &Browser) -> serde_json::Map<String, Value> {
    let bare = browser
        .eval_with(
            "return window.benchBareWorker(arguments[0])",
            vec![json!(TRIVIAL_RUNS)],
        )
        .await;
    let csv = browser
        .eval_with(
            &format!(
                "return (async () => {{ {MAKE_CSV}
                   window.pyodide.FS.writeFile('big.csv', text);
                   const answer = await window.benchTime(['pandas'], arguments[0]);
                   return {{ ms: answer.ms, result: Number(answer.result), bytes: text.length }};
                 }})()"
            ),
            vec![json!(CSV_CODE)],
        )
        .await;
    assert_eq!(csv["result"], json!(100), "{csv}");
    let figure = browser
        .eval_with(
            "return window.benchTime(['matplotlib'], arguments[0])",
            vec![json!(BASELINE_FIGURE_CODE)],
        )
        .await;
    assert_eq!(figure["result"], "true", "{figure}");
    serde_json::Map::from_iter([
        ("bare runPython round trips".to_owned(), bare),
        ("baseline csv".to_owned(), csv),
        ("baseline figure".to_owned(), figure),
    ])
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The nearest-rank percentile `share` (0–1) of `values`.
fn percentile(values: &[f64], share: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (share * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

struct Report {
    markdown: String,
    json: Value,
}

impl Report {
    fn new(
        runs: usize,
        samples: &Samples,
        extras: &serde_json::Map<String, Value>,
        server: Value,
    ) -> Self {
        let m = |name: &str| median(samples.get(name).map_or(&[][..], Vec::as_slice));
        let extra_ms = |name: &str| {
            extras
                .get(name)
                .and_then(|v| v["ms"].as_f64())
                .unwrap_or(f64::NAN)
        };
        let trivial = median(&numbers(&extras["workbench trivial runs"]));
        let bare = median(&numbers(&extras["bare runPython round trips"]));
        let csv_mb = extras["workbench csv"]["bytes"].as_f64().unwrap_or(0.0) / 1e6;
        // Each run measures both pages within a minute or two, so the ratio of one run's pair
        // is less exposed to the machine's drift than the ratio of the medians.
        let per_run = |visit: &str| -> Vec<f64> {
            let ours = samples.get(format!("workbench {visit}").as_str());
            let theirs = samples.get(format!("baseline {visit}").as_str());
            ours.zip(theirs).map_or_else(Vec::new, |(ours, theirs)| {
                ours.iter()
                    .zip(theirs)
                    .map(|(ours, theirs)| ours / theirs)
                    .collect()
            })
        };
        let (cold_ratios, warm_ratios) = (per_run("cold"), per_run("warm"));
        let rows = [
            (
                "Navigation → first pandas result, cold",
                m("workbench cold"),
                m("baseline cold"),
                spread(&cold_ratios),
            ),
            (
                "Navigation → first pandas result, warm",
                m("workbench warm"),
                m("baseline warm"),
                spread(&warm_ratios),
            ),
            (
                "10 MB CSV: `read_csv` + `groupby` (warm runtime)",
                extra_ms("workbench csv"),
                extra_ms("baseline csv"),
                "—".to_owned(),
            ),
            (
                "First matplotlib figure (pandas already loaded)",
                extra_ms("workbench figure"),
                extra_ms("baseline figure"),
                "—".to_owned(),
            ),
        ];
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default();
        let machine = machine();
        let mut md = String::from("# Benchmarks\n\n");
        md.push_str(&format!(
            "Measured {date} on {machine} by `cargo xtask bench` (release build, headless \
             Chromium, {runs} alternating runs of each page, each run in a fresh browser \
             profile: its first visit is **cold**, its second **warm**). The baseline is \
             `tests/bench/baseline.html`: plain Pyodide from the same files on the same server \
             (`loadPyodide`, `loadPackage(['numpy', 'pandas'])`, `runPython`). Times run from \
             navigation start. Compare ratios across runs, not absolute times. Raw numbers: \
             `benchmarks.json`.\n\n"
        ));
        md.push_str(
            "| measure | workbench | baseline | ratio | each run's ratio: median (lowest–highest) |\n\
             |---|---|---|---|---|\n",
        );
        for (label, ours, theirs, each_run) in rows {
            md.push_str(&format!(
                "| {label} | {} | {} | {:.2}× | {each_run} |\n",
                seconds(ours),
                seconds(theirs),
                ours / theirs
            ));
        }
        md.push_str(&format!(
            "| Navigation → editor usable (the code box on screen), cold / warm | {:.0} ms / {:.0} ms | — | — | — |\n\
             | Navigation → full code editor (CodeMirror), cold / warm | {:.0} ms / {:.0} ms | — | — | — |\n",
            m("editor cold"),
            m("editor warm"),
            m("code editor cold"),
            m("code editor warm")
        ));
        md.push_str(&format!(
            "| Trivial run `1+1`, page → result (median of {TRIVIAL_RUNS}) | {trivial:.2} ms | {bare:.2} ms (bare `runPython` in a worker) | overhead {:+.2} ms | — |\n",
            trivial - bare
        ));
        let run_all = &extras["notebook run all"];
        let open = &extras["notebook open"];
        let keys = numbers(&extras["notebook keystrokes"]);
        let memory = &extras["file memory"];
        let first_completion = &extras["first completion"];
        let completions = &extras["completions"];
        let shown = numbers(completions);
        let mib = |value: &Value| value.as_f64().unwrap_or(f64::NAN) / 1024.0 / 1024.0;
        md.push_str(&format!(
            "| Notebook: run all of {RUN_ALL_CELLS} trivial cells, against {RUN_ALL_CELLS} `execute` calls | {:.0} ms | {:.0} ms (`execute`) | {:.2}× | — |\n\
             | Notebook: open {BIG_NOTEBOOK_CELLS} cells with outputs ({:.1} MB `.ipynb`) until the first cell is editable | {:.0} ms | — | — | — |\n\
             | Notebook: keystroke → next frame in that notebook, median / slowest of {} | {:.1} ms / {:.1} ms | — | — | — |\n\
             | Dropping a {:.0} MB CSV: the app's own memory before → after | {:.1} MiB → {:.1} MiB | — | — | — |\n\
             | Completion: navigation → the first popup (jedi loads after the preloads); that `.` → popup on screen | {:.1} s; {:.0} ms | — | — | — |\n\
             | Completion: `.` → popup on screen after `df`/`np`/`pd` (a DataFrame, numpy, pandas), p50 / p95 of {} ({} shown) | {:.0} ms / {:.0} ms | — | — | — |\n",
            run_all["runAllMs"].as_f64().unwrap_or(f64::NAN),
            run_all["executeCallsMs"].as_f64().unwrap_or(f64::NAN),
            run_all["runAllMs"].as_f64().unwrap_or(f64::NAN) / run_all["executeCallsMs"].as_f64().unwrap_or(f64::NAN),
            open["bytes"].as_f64().unwrap_or(0.0) / 1e6,
            open["ms"].as_f64().unwrap_or(f64::NAN),
            keys.len(),
            median(&keys),
            keys.iter().copied().fold(f64::NAN, f64::max),
            memory["fileBytes"].as_f64().unwrap_or(0.0) / 1024.0 / 1024.0,
            mib(&memory["appMemoryBefore"]),
            mib(&memory["appMemoryAfter"]),
            first_completion["at"].as_f64().unwrap_or(f64::NAN) / 1000.0,
            first_completion["ms"].as_f64().unwrap_or(f64::NAN),
            completions.as_array().map_or(0, Vec::len),
            shown.len(),
            percentile(&shown, 0.5),
            percentile(&shown, 0.95),
        ));
        let keeping = &extras["keeping"];
        let (share, backup) = (&keeping["share"], &keeping["backup"]);
        let number = |value: &Value| value.as_f64().unwrap_or(f64::NAN);
        md.push_str(&format!(
            "| Share link of a {}-cell notebook with outputs ({} characters; {} without): made / opened (`#` changed on a settled page → its cells on screen), medians | {:.1} ms / {:.0} ms | — | — | — |\n\
             | Backup of {} notebooks and a {:.0} MB file: click → zip ready; app's wasm memory before → peak; page's JS heap before → peak | {:.1} s; {:.1} → {:.1} MiB; {:.1} → {:.1} MiB | — | — | — |\n",
            number(&share["cells"]),
            number(&share["linkChars"]),
            number(&share["linkCharsWithoutOutputs"]),
            number(&share["makeMs"]),
            number(&share["openMs"]),
            number(&backup["notebooks"]),
            number(&backup["fileBytes"]) / 1024.0 / 1024.0,
            number(&backup["ms"]) / 1000.0,
            mib(&backup["appBefore"]),
            mib(&backup["appPeak"]),
            mib(&backup["heapBefore"]),
            mib(&backup["heapPeak"]),
        ));
        let kernel = &extras["kernel"];
        let variable_times = numbers(&kernel["variables"]["times"]);
        let variable_python = numbers(&kernel["variablesPython"]);
        let shipped = numbers(&kernel["fonts"]["shipped"]);
        let rebuilt = numbers(&kernel["fonts"]["rebuilt"]);
        md.push_str(&format!(
            "| Variables panel over {VARIABLE_NAMES} names (ints, strings, lists, arrays, DataFrames): page → answer, median / slowest of {} | {:.1} ms / {:.1} ms | — | — | — |\n\
             | Variables panel: the same question's Python time alone, median / slowest of {} | {:.1} ms / {:.1} ms | — | — | — |\n\
             | matplotlib's font list at start: read as shipped, against rebuilt (each fresh start before), Python's time, medians of {} | {:.1} ms | {:.0} ms (rebuilt) | {:.3}× | — |\n",
            variable_times.len(),
            median(&variable_times),
            variable_times.iter().copied().fold(f64::NAN, f64::max),
            variable_python.len(),
            median(&variable_python),
            variable_python.iter().copied().fold(f64::NAN, f64::max),
            shipped.len(),
            median(&shipped) * 1000.0,
            median(&rebuilt) * 1000.0,
            median(&shipped) / median(&rebuilt),
        ));
        let viewer = &kernel["viewer"];
        let opened = numbers(&viewer["opened"]);
        let redrawn = numbers(&viewer["redrawn"]);
        let filled = numbers(&viewer["filled"]);
        let slowest = |values: &[f64]| values.iter().copied().fold(f64::NAN, f64::max);
        md.push_str(&format!(
            "| Data viewer over a {} M-row DataFrame (3 columns): name clicked → first rows in the page, median of {} | {:.0} ms | — | — | — |\n\
             | Data viewer: scroll event → rows redrawn, median / slowest of {} (steps of 7 rows, then jumps anywhere); → rows filled from Python, median / slowest | {:.1} ms / {:.1} ms; {:.1} ms / {:.0} ms | — | — | — |\n",
            viewer["rows"].as_f64().unwrap_or(f64::NAN) / 1e6,
            opened.len(),
            median(&opened),
            redrawn.len(),
            median(&redrawn),
            slowest(&redrawn),
            median(&filled),
            slowest(&filled),
        ));
        for (key, what) in [
            (
                "charts",
                "plotly: first `import plotly.express` (installed from the wheelhouse); a figure's cell run → chart drawn, the first (plotly.js fetched)",
            ),
            (
                "altair",
                "altair: first `import altair` (installed from the wheelhouse, with pandas); a 100-point chart's cell run → chart drawn, the first (vega, vega-lite, vega-embed fetched)",
            ),
        ] {
            let charts = &kernel[key];
            let drawn = numbers(&charts["drawn"]);
            md.push_str(&format!(
                "| {what} / median of the next {} | {:.1} s; {:.0} ms / {:.0} ms | — | — | — |\n",
                drawn.len().saturating_sub(1),
                charts["importMs"].as_f64().unwrap_or(f64::NAN) / 1000.0,
                drawn.first().copied().unwrap_or(f64::NAN),
                median(drawn.get(1..).unwrap_or_default()),
            ));
        }
        md.push_str(&format!(
            "\n(The CSV is {csv_mb:.1} MB, made in the page; the workbench stores it in the browser first. The \
             trivial run, the CSV and the figure are measured after the warm visit, once the \
             workbench's background preloads are done and its service worker has copied the \
             files they fetched into its cache.)\n"
        ));
        md.push_str(&data_section(&extras["data"]));
        if server.is_object() {
            md.push_str(&server_section(&server));
        }
        md.push_str("\nRerun: `cargo xtask bench` (about ten minutes).\n\n");
        let medians: BTreeMap<&str, f64> = samples.keys().map(|name| (*name, m(name))).collect();
        let json = json!({
            "date": date,
            "machine": machine,
            "runs": runs,
            "samplesMs": samples,
            "mediansMs": medians,
            "perRunRatios": { "cold": cold_ratios, "warm": warm_ratios },
            "trivialRunMedianMs": trivial,
            "bareRunPythonMedianMs": bare,
            "extras": extras,
            "server": server,
        });
        Self { markdown: md, json }
    }
}

/// The `## Your data at real size` part of `BENCHMARKS.md`.
fn data_section(data: &Value) -> String {
    let number = |name: &str| data[name].as_f64().unwrap_or(f64::NAN);
    let mb = |name: &str| number(name) / 1e6;
    let gb = number("fileBytes") / 1e9;
    let empty = median(&numbers(&data["startNoFilesMs"]));
    let kept = median(&numbers(&data["startKeptMs"]));
    let per_byte = (number("readMs") / number("fileBytes")) / (number("memory100Ms") / 1e8);
    format!(
        "\n## Your data at real size\n\n\
         A {gb:.1} GB trips CSV made on disk by the bench and picked through the Files panel's \
         input, on the warm workbench page of the last run.\n\n\
         | measure | figure |\n|---|---|\n\
         | Picked → listed and previewed | {:.0} ms |\n\
         | Picked → kept in the browser's storage (the background copy done) | {:.1} s |\n\
         | The page's JS heap, before → after adding | {:.1} MB → {:.1} MB |\n\
         | Python's memory, before → after adding | {:.0} MB → {:.0} MB |\n\
         | Navigation → Python ready (warm), {gb:.1} GB kept against no files, medians of 3 reloads | {:.0} ms against {:.0} ms: {:.2}× |\n\
         | Reading its last 200 bytes (median of 7) | {:.1} ms |\n\
         | `pd.read_csv(chunksize=2_000_000, usecols=2 columns)` + group-by over the whole file | {:.1} s; Python's memory after: {:.0} MB |\n\
         | The same over 100 MB of it: in memory (as files were kept before) / kept | {:.2} s / {:.2} s: {:.2}× |\n\
         | Per byte, the whole kept file against 100 MB in memory | {:.2}× |\n\n\
         SQL over the same file, after a reload (DuckDB-Wasm starts with the first query):\n\n\
         | measure | figure |\n|---|---|\n\
         | First `sql('SELECT 1')` after the page started (the engine loads) | {:.2} s |\n\
         | `SELECT zone, count(*), sum(fare) … GROUP BY zone` over the CSV, against pandas' chunked group-by above | {:.1} s against {:.1} s: **{:.2}×** |\n\
         | The same over the data written once as Parquet (read by pyarrow, the two columns) | {:.2} s |\n\
         | A result of 1 M rows × 5 columns into a DataFrame | {:.2} s |\n",
        number("addMs"),
        number("keptMs") / 1000.0,
        mb("jsHeapBefore"),
        mb("jsHeapAfter"),
        mb("pythonMemoryBefore"),
        mb("pythonMemoryAfterAdd"),
        kept,
        empty,
        kept / empty,
        number("tailMs"),
        number("readMs") / 1000.0,
        mb("pythonMemoryAfterRead"),
        number("memory100Ms") / 1000.0,
        number("kept100Ms") / 1000.0,
        number("kept100Ms") / number("memory100Ms"),
        per_byte,
        number("sqlFirstMs") / 1000.0,
        number("sqlCsvMs") / 1000.0,
        number("readMs") / 1000.0,
        number("sqlCsvMs") / number("readMs"),
        number("sqlParquetMs") / 1000.0,
        number("sqlMillionRowsMs") / 1000.0,
    )
}

/// The `## Server` part of `BENCHMARKS.md`, from `backend/examples/bench.rs`'s figures.
fn server_section(server: &Value) -> String {
    let f = |name: &str| server[name].as_f64().unwrap_or(f64::NAN);
    let mut md = format!(
        "\n## Server\n\n`cargo xtask bench-server` in the same run: {} keep-alive connections, \
         batches of 20 events.\n\n| measure | value |\n|---|---|\n\
         | `GET /health` | {:.0} requests/s (p99 {:.2} ms) |\n\
         | `POST /api/telemetry` | {:.0} requests/s = {:.0} events/s, p50 {:.1} ms, p99 {:.1} ms |\n\
         | ingest ÷ health, requests/s | {:.3} (each ingest waits for a durable group commit) |\n\
         | dashboard stats, 30 days over {:.0} stored events | {:.0} ms (median of 5) |\n\
         | server RSS after the ingest load | {:.1} MiB |\n",
        f("concurrency"),
        f("healthPerSecond"),
        f("healthP99Ms"),
        f("ingestRequestsPerSecond"),
        f("ingestEventsPerSecond"),
        f("ingestP50Ms"),
        f("ingestP99Ms"),
        f("ingestRequestsPerSecond") / f("healthPerSecond"),
        f("seededEvents"),
        f("dashboard30dMedianMs"),
        f("rssMiB"),
    );
    if server.get("stats16P99Ms").is_some() {
        md.push_str(&format!(
            "\nUnder load, over {:.0} events across 30 days and {:.0} more in the current hour \
             (the server started over them in {:.1} s), while 4 connections keep ingesting; \
             target p99 ≤ 50 ms:\n\n\
             | measure | 1 client p50 / p99 | 16 clients p50 / p99 | `/health` p99 beside it (1 / 16) |\n\
             |---|---|---|---|\n",
            f("seededEvents"),
            f("currentHourEvents"),
            f("serverStartSeconds"),
        ));
        for (label, name) in [
            ("`GET /api/stats`", "stats"),
            ("`GET /api/dashboard/stats?range=24h`", "dashboard24h"),
        ] {
            let g = |clients: u32, figure: &str| f(&format!("{name}{clients}{figure}"));
            md.push_str(&format!(
                "| {label} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {:.2} / {:.2} ms |\n",
                g(1, "P50Ms"),
                g(1, "P99Ms"),
                g(16, "P50Ms"),
                g(16, "P99Ms"),
                g(1, "HealthP99Ms"),
                g(16, "HealthP99Ms"),
            ));
        }
        md.push_str(&format!(
            "\nIngest p99 (8 connections): {:.1} ms without live dashboards, {:.1} ms with 10 open.\n",
            f("ingestP99QuietMs"),
            f("ingestP99LiveMs"),
        ));
    }
    md
}

/// "0.48× (0.46–0.50×)": the median of these ratios and their range.
fn spread(ratios: &[f64]) -> String {
    if ratios.is_empty() {
        return "—".to_owned();
    }
    let lowest = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.2}× ({lowest:.2}–{highest:.2}×)", median(ratios))
}

fn seconds(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

/// CPU model, cores, memory and the Chromium version.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "an unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| rest.trim().trim_end_matches(" kB").parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let chromium = std::process::Command::new("/usr/bin/chromium")
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{model}, {cores} cores, {memory_gib:.0} GiB, {chromium}")
}
