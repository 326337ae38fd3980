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

use serde_json::{Value, json};
use tests::{Browser, TestApp, spawn_app_with, workspace_root};

const SNIPPET: &str =
    "import numpy, pandas; pandas.DataFrame({'a': numpy.arange(3)}).sum().iloc[0]";
const TRIVIAL_RUNS: usize = 200;
const CSV_CODE: &str =
    "import pandas as pd\ndf = pd.read_csv('big.csv')\nlen(df.groupby('city')['km'].sum())";
const FIGURE_CODE: &str = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()";
const BASELINE_FIGURE_CODE: &str = "import matplotlib\nmatplotlib.use('Agg')\nimport io, matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nbuffer = io.BytesIO()\nplt.savefig(buffer, format='png')\nbuffer.tell() > 0";
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
    serde_json::Map::from_iter([
        ("workbench trivial runs".to_owned(), trivial),
        ("workbench csv".to_owned(), csv),
        ("workbench figure".to_owned(), figure),
    ])
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
        md.push_str(&format!(
            "\n(The CSV is {csv_mb:.1} MB, made in the page; the workbench stores it in the browser first. The \
             trivial run, the CSV and the figure are measured after the warm visit, once the \
             workbench's background preloads are done and its service worker has copied the \
             files they fetched into its cache.)\n"
        ));
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
