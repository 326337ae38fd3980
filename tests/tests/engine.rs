//! The execution engine through `window.workbench` and the page, in a real headless
//! Chromium against the real server and build: the original service's contract, and what
//! the engine does better (streaming, Stop, real timeouts, rich output, local installs).

use std::time::Duration;

use serde_json::{Value, json};
use tests::{Browser, PYTHON_LOAD_TIMEOUT, TestApp, spawn_app};

async fn workbench() -> (TestApp, Browser) {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    (app, browser)
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn context_values_become_python_globals() {
    let (_app, browser) = workbench().await;
    let result = browser
        .execute(json!({
            "code": "print(f'Hello {name}! Your value is {value}')",
            "context": {"name": "Alice", "value": 42},
        }))
        .await;
    assert_eq!(result["success"], true, "{result}");
    assert_eq!(result["stdout"], "Hello Alice! Your value is 42\n");
    assert_eq!(result["stderr"], "");
    assert!(
        result["timestamp"]
            .as_str()
            .is_some_and(|time| time.ends_with('Z'))
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn results_are_made_json_safe_as_the_original_service_did() {
    let (_app, browser) = workbench().await;
    for (code, expected) in [
        (
            "import numpy as np\nnp.arange(6).reshape(2, 3)",
            json!([[0, 1, 2], [3, 4, 5]]),
        ),
        (
            "import pandas as pd\npd.DataFrame({'city': ['Oslo', 'Rome'], 'n': [1, 2]})",
            json!({"city": {"0": "Oslo", "1": "Rome"}, "n": {"0": 1, "1": 2}}),
        ),
        ("(1, 'two', 3.5)", json!([1, "two", 3.5])),
        ("{1: 'one', 2: [3, 4]}", json!({"1": "one", "2": [3, 4]})),
        ("{7}", json!("{7}")),
        ("float('nan')", Value::Null),
    ] {
        let result = browser.execute(json!({ "code": code })).await;
        assert_eq!(result["success"], true, "{code}: {result}");
        assert_eq!(result["result"], expected, "{code}");
    }
    let table = browser
        .execute(json!({"code": "import pandas as pd\npd.DataFrame({'n': range(250)})"}))
        .await;
    let output = &table["outputs"][0];
    assert_eq!(output["type"], "table", "{table}");
    assert_eq!(output["totalRows"], 250);
    assert_eq!(output["truncated"], true);
    assert_eq!(output["dtypes"], json!(["int64"]));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn times_convert_between_zones_as_on_any_machine() {
    // The worker writes the UTC zone file itself (the harness's `state.UTC_ZONE_FILE`); other zones
    // come from the packages' own zone data.
    let (_app, browser) = workbench().await;
    let code = "import dateutil.tz, pandas as pd\n\
        oslo = pd.Timestamp('2024-07-01 12:00', tz='Europe/Oslo')\n\
        utc = dateutil.tz.gettz('UTC')\n\
        [str(oslo.tz_convert(utc)), str(oslo.tz_convert(dateutil.tz.gettz('America/New_York'))), \
        oslo.tz_convert(utc).tzname(), str(pd.Timestamp('2024-01-01', tz=utc) - pd.Timestamp('2024-01-01', tz='UTC'))]";
    let result = browser.execute(json!({ "code": code })).await;
    assert_eq!(result["success"], true, "{result}");
    assert_eq!(
        result["result"],
        json!([
            "2024-07-01 10:00:00+00:00",
            "2024-07-01 06:00:00-04:00",
            "UTC",
            "0 days 00:00:00"
        ])
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_run_names_the_exception_and_the_users_line_and_keeps_earlier_output() {
    let (_app, browser) = workbench().await;
    let result = browser
        .execute(json!({"code": "print('before')\n\ndef divide():\n    return 1/0\n\ndivide()"}))
        .await;
    assert_eq!(result["success"], false);
    assert_eq!(result["errorType"], "ZeroDivisionError");
    assert_eq!(result["error"], "ZeroDivisionError: division by zero");
    assert_eq!(result["stdout"], "before\n");
    let traceback = text(&result["traceback"]);
    assert!(
        traceback.contains("File \"<cell>\", line 6, in <module>"),
        "{traceback}"
    );
    assert!(
        traceback.contains("line 4, in divide\n    return 1/0"),
        "{traceback}"
    );
    assert!(
        !traceback.contains("harness"),
        "harness frames leak: {traceback}"
    );

    // The page shows the same: the earlier output, then the error.
    browser.type_code("print('shown')\n1/0").await;
    browser.find("run").await.click().await.expect("run");
    let shown = browser
        .wait_for_text("output", PYTHON_LOAD_TIMEOUT, |text| {
            text.contains("ZeroDivisionError")
        })
        .await;
    assert!(shown.starts_with("shown\n"), "{shown}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn output_appears_while_the_code_is_still_running() {
    let (_app, browser) = workbench().await;
    // In a notebook cell, whose output the page shows as it comes.
    browser
        .eval(
            "window.finished = false;
             const code = 'import time\\nprint(\"first\", flush=True)\\ntime.sleep(4)\\nprint(\"second\")';
             const cells = [{cell_type: 'code', source: code, metadata: {}, outputs: [], execution_count: null}];
             return window.workbench.notebook.open(JSON.stringify({cells, metadata: {}, nbformat: 4, nbformat_minor: 5}))
                 .then(() => { window.workbench.notebook.runAll().then(() => { window.finished = true; }); });",
        )
        .await;
    browser
        .wait_for_text("output", Duration::from_secs(20), |text| {
            text.contains("first")
        })
        .await;
    assert_eq!(
        browser.eval("return window.finished").await,
        false,
        "the first line must be on the page before the run ends"
    );
    browser
        .wait_for_text("output", Duration::from_secs(20), |text| {
            text.contains("second")
        })
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_an_endless_loop_and_keeps_earlier_variables() {
    let (_app, browser) = workbench().await;
    browser.execute(json!({"code": "kept = 41"})).await;
    let waited_ms = browser
        .run_then_stop("while True: pass", Duration::from_millis(500))
        .await;
    assert!(waited_ms < 1000.0, "Stop took {waited_ms} ms");
    let output = browser
        .wait_for_text("output", Duration::from_secs(5), |text| {
            text.contains("KeyboardInterrupt")
        })
        .await;
    // The wait saw the interrupt; what the person reads is their own code's, not the
    // harness's, and the run is reported once.
    assert!(!output.contains("harness"), "harness frames leak: {output}");
    assert_eq!(
        output.matches("KeyboardInterrupt").count(),
        1,
        "the stopped run is reported once: {output}"
    );
    let after = browser.execute(json!({"code": "kept + 1"})).await;
    assert_eq!(after["result"], 42, "{after}");
    assert_eq!(browser.eval("return self.crossOriginIsolated").await, true);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_pressed_while_python_starts_stops_that_run_and_spoils_nothing_else() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.client.goto(&app.url("/")).await.expect("opens");
    // As soon as the page has its API — Python is still starting — a run, and Stop.
    let stopped = browser
        .eval(
            "return new Promise((resolve) => {
               const go = () => {
                 if (!window.workbench) return setTimeout(go, 5);
                 const run = window.workbench.execute('while True: pass');
                 setTimeout(() => window.workbench.stop(), 50);
                 run.then(resolve, (error) => resolve({ failed: String(error) }));
               };
               go();
             });",
        )
        .await;
    assert_eq!(stopped["errorType"], "KeyboardInterrupt", "{stopped}");
    // Python started, and the preloaded packages were not interrupted.
    browser.wait_for_python().await;
    let sum = browser
        .execute(
            json!({"code": "import pandas\nint(pandas.DataFrame({'a': [1, 2]}).sum().iloc[0])"}),
        )
        .await;
    assert_eq!(sum["result"], 3, "{sum}");
    let news = browser.text("packages").await;
    assert!(!news.contains("could not"), "package news: {news}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timeout_interrupts_the_run_and_the_runtime_keeps_working() {
    let (_app, browser) = workbench().await;
    browser
        .execute(json!({"code": "kept = 'still here'"}))
        .await;
    let timed = browser
        .eval(
            "const started = performance.now();
             const result = await window.workbench.execute({code: 'while True: pass', timeout: 2000});
             return {result, elapsed: performance.now() - started};",
        )
        .await;
    let result = &timed["result"];
    assert_eq!(result["success"], false);
    assert_eq!(result["errorType"], "TimeoutError", "{result}");
    assert_eq!(result["stateLost"], false);
    let elapsed = timed["elapsed"].as_f64().expect("ms");
    assert!(elapsed < 5000.0, "a 2 s timeout took {elapsed} ms");
    let after = browser.execute(json!({"code": "kept"})).await;
    assert_eq!(after["result"], "still here");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn code_that_ignores_the_interrupt_is_ended_by_replacing_the_runtime() {
    let (_app, browser) = workbench().await;
    let result = browser
        .execute(json!({
            "code": "import signal\nlost = 1\nsignal.signal(signal.SIGINT, lambda *args: None)\nprint('ignoring')\nwhile True: pass",
            "timeout": 1000,
        }))
        .await;
    assert_eq!(result["errorType"], "TimeoutError", "{result}");
    assert_eq!(result["stateLost"], true);
    assert_eq!(
        result["stdout"], "ignoring\n",
        "output printed before the restart is kept"
    );
    assert!(text(&result["error"]).contains("restarted"), "{result}");
    let after = browser
        .execute(json!({"code": "'lost' in globals(), 2 + 2"}))
        .await;
    assert_eq!(after["result"], json!([false, 4]), "{after}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn packages_are_installed_file_for_file_as_their_wheels_hold_them() {
    // The worker copies the files of the (uncompressed) wheels into the file system itself
    // instead of Pyodide's Python unpacker: every file, byte for byte, with the installer's
    // records, as Pyodide would.
    let (_app, browser) = workbench().await;
    let answer = browser
        .execute(json!({"code": r#"
import io, json, sysconfig, zipfile
from pathlib import Path
from pyodide.http import pyfetch
import numpy, pandas
site = Path(sysconfig.get_paths()["purelib"])
folder = "/pyodide/v0.27.7-pyc/"
lock = await (await pyfetch(folder + "pyodide-lock.json")).json()
report = {}
for name in ["numpy", "pandas", "six"]:
    archive = zipfile.ZipFile(io.BytesIO(await (await pyfetch(folder + lock["packages"][name]["file_name"])).bytes()))
    files = [info for info in archive.infolist() if not info.is_dir()]
    dist_info = next(info.filename.split("/")[0] for info in files if ".dist-info/" in info.filename)
    report[name] = {
        "stored": all(info.compress_type == zipfile.ZIP_STORED for info in files),
        "files": len(files),
        "identical": sum((site / info.filename).read_bytes() == archive.read(info) for info in files),
        "installer": (site / dist_info / "INSTALLER").read_text(),
        "source": (site / dist_info / "PYODIDE_SOURCE").read_text(),
    }
json.dumps(report)
"#}))
        .await;
    assert_eq!(answer["success"], true, "{answer}");
    let report: Value = serde_json::from_str(text(&answer["result"])).expect("JSON");
    for name in ["numpy", "pandas", "six"] {
        let package = &report[name];
        assert_eq!(package["stored"], true, "{name}: {package}");
        assert!(package["files"].as_u64() > Some(0), "{name}: {package}");
        assert_eq!(package["identical"], package["files"], "{name}: {package}");
        assert_eq!(package["installer"], "pyodide.loadPackage", "{name}");
        assert_eq!(package["source"], "pyodide", "{name}");
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loaded_csv_is_described_and_pandas_can_use_it() {
    let (_app, browser) = workbench().await;
    let answer = browser
        .eval_with(
            "return window.workbench.loadFile('sales.csv', arguments[0])",
            vec![json!("city,amount\nOslo,3\nBergen,5\nOslo,7\nRome,1\n")],
        )
        .await;
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["filename"], "sales.csv");
    assert_eq!(answer["shape"], json!([4, 2]));
    assert_eq!(answer["columns"], json!(["city", "amount"]));
    assert_eq!(
        answer["sample"],
        json!([{"city": "Oslo", "amount": 3}, {"city": "Bergen", "amount": 5}, {"city": "Oslo", "amount": 7}])
    );
    let path = text(&answer["path"]).to_owned();
    assert_eq!(path, "/home/pyodide/data/sales.csv");
    let totals = browser
        .execute(json!({"code": format!(
            "import pandas as pd\npd.read_csv('{path}').groupby('city')['amount'].sum().to_dict()"
        )}))
        .await;
    assert_eq!(
        totals["result"],
        json!({"Bergen": 5, "Oslo": 10, "Rome": 1})
    );

    let broken = browser
        .eval("return window.workbench.loadFile('broken.csv', 'a,b\\n1,2\\n\"never closed')")
        .await;
    assert_eq!(broken["success"], false);
    let error = text(&broken["error"]);
    assert!(
        error.starts_with("could not read broken.csv as CSV: ParserError"),
        "{error}"
    );

    let module = browser
        .eval("return window.workbench.loadFile('helpers.py', 'def double(x):\\n    return 2 * x\\n')")
        .await;
    assert_eq!(module["success"], true);
    let imported = browser
        .execute(json!({"code": "import helpers\nhelpers.double(21)"}))
        .await;
    assert_eq!(imported["result"], 42, "{imported}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_matplotlib_figure_comes_back_as_a_png() {
    let (_app, browser) = workbench().await;
    let result = browser
        .execute(json!({"code": "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('trend')\nplt.show()"}))
        .await;
    assert_eq!(result["success"], true, "{result}");
    let images: Vec<&Value> = result["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .filter(|output| output["type"] == "image")
        .collect();
    assert_eq!(images.len(), 1, "{result}");
    assert_eq!(images[0]["mime"], "image/png");
    // Base64 of the PNG signature.
    assert!(text(&images[0]["data"]).starts_with("iVBORw0KGgo"));
    let next = browser.execute(json!({"code": "1"})).await;
    assert_eq!(
        next["outputs"],
        json!([{"type": "text", "text": "1"}]),
        "figures are not shown twice"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_removes_user_variables_and_the_runtime_keeps_working() {
    let (_app, browser) = workbench().await;
    browser.execute(json!({"code": "answer = 42"})).await;
    let reset = browser.eval("return window.workbench.reset()").await;
    assert_eq!(reset["success"], true);
    let gone = browser.execute(json!({"code": "answer"})).await;
    assert_eq!(gone["errorType"], "NameError");
    let works = browser.execute(json!({"code": "__name__, 6 * 7"})).await;
    assert_eq!(works["result"], json!(["__main__", 42]));
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn packages_install_from_the_local_index_and_unknown_ones_fail_clearly() {
    let (_app, browser) = workbench().await;
    let installed = browser
        .eval("return window.workbench.install('seaborn')")
        .await;
    assert_eq!(installed["success"], true, "{installed}");
    assert_eq!(installed["version"], "0.13.2");
    let imported = browser
        .execute(json!({"code": "import seaborn\nseaborn.__version__"}))
        .await;
    assert_eq!(imported["result"], "0.13.2", "{imported}");

    let requests = browser
        .eval("return window.workbench.install('requests')")
        .await;
    assert_eq!(requests["success"], true, "{requests}");

    let missing = browser
        .eval("return window.workbench.install('no-such-package-xyz')")
        .await;
    assert_eq!(missing["success"], false);
    let error = text(&missing["error"]);
    assert!(
        error.starts_with("could not install no-such-package-xyz"),
        "{error}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_of_a_package_our_index_serves_installs_it_first() {
    let (_app, browser) = workbench().await;
    // Nothing installed by hand: the import itself installs seaborn (and requests), from the
    // server's wheelhouse, before the code runs.
    let imported = browser
        .execute(json!({"code": "import seaborn\nfrom requests import __version__ as r\n(seaborn.__version__, r)"}))
        .await;
    assert_eq!(imported["success"], true, "{imported}");
    assert_eq!(
        imported["result"],
        json!(["0.13.2", "2.34.2"]),
        "{imported}"
    );
    let listed = browser
        .execute(json!({"code": "import micropip\nsorted(name for name in micropip.list() if name in ('seaborn', 'requests'))"}))
        .await;
    assert_eq!(listed["result"], json!(["requests", "seaborn"]), "{listed}");
    // A name neither Pyodide nor our index has fails as Python says, after nothing is tried.
    let unknown = browser
        .execute(json!({"code": "import zz_no_such_module"}))
        .await;
    assert_eq!(unknown["success"], false, "{unknown}");
    assert!(
        text(&unknown["error"]).contains("No module named 'zz_no_such_module'"),
        "{unknown}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_ready_and_the_pyodide_version() {
    let (_app, browser) = workbench().await;
    let status = browser.eval("return window.workbench.status()").await;
    assert_eq!(status["isReady"], true);
    assert_eq!(status["initialized"], true);
    assert_eq!(status["version"], "0.27.7");
    assert_eq!(status["executionTimeout"], 30000);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_output_is_capped_and_the_page_stays_responsive() {
    let (_app, browser) = workbench().await;
    // 100 MB of output in 1,000 lines.
    let result = browser
        .execute(json!({"code": "for _ in range(1000):\n    print('x' * 100_000)"}))
        .await;
    assert_eq!(result["success"], true);
    let stdout = text(&result["stdout"]);
    assert!(
        stdout.len() < 1_100_000,
        "stdout kept {} bytes",
        stdout.len()
    );
    assert!(
        stdout.contains("[output truncated: 99,"),
        "{}",
        &stdout[stdout.len() - 200..]
    );
    // The same in a notebook cell: the page shows what was kept, and the notice.
    browser
        .eval(
            "const cells = [{cell_type: 'code', source: \"for _ in range(1000):\\n    print('x' * 100_000)\", metadata: {}, outputs: [], execution_count: null}];
             return window.workbench.notebook.open(JSON.stringify({cells, metadata: {}, nbformat: 4, nbformat_minor: 5}))
                 .then(() => window.workbench.notebook.runAll());",
        )
        .await;
    let shown = browser
        .wait_for_text("output", Duration::from_secs(20), |text| {
            text.contains("[output truncated")
        })
        .await;
    assert!(shown.len() < 1_100_000);
    let after = browser.execute(json!({"code": "'still answering'"})).await;
    assert_eq!(after["result"], "still answering");
    browser.close().await;
}
