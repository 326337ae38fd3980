//! Offline: after a single visit the workbench loads, runs pandas on a stored CSV, imports
//! the package installed online and stops runaway code without the network; runs made
//! meanwhile reach the statistics exactly once when the server is back. A file missing
//! offline is named, with what to do. And a damaged file in the service worker's cache is
//! noticed and replaced.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{
    Browser, PYTHON_LOAD_TIMEOUT, TestApp, go_offline, go_online, service_worker_in_control,
    spawn_app, until,
};

/// Executions stored, all time, as the admin dashboard computes them for each request (the
/// public `/api/stats` may be a second old).
async fn total_executions(app: &TestApp) -> u64 {
    app.client()
        .get_as_admin("/api/dashboard/stats?range=all")
        .await
        .json()["stats"]["overview"]["totalExecutions"]
        .as_u64()
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread")]
async fn after_one_visit_the_workbench_works_without_the_server() {
    let mut app = spawn_app().await;
    // A fresh profile: this is the browser's first visit, and its only one online.
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    service_worker_in_control(&browser).await;
    let stored = browser
        .eval("return window.workbench.loadFile('trips.csv', 'city,km\\nOslo,3\\nRome,5\\nOslo,4\\n')")
        .await;
    assert_eq!(stored["success"], true, "{stored}");
    let warmed = browser
        .execute(json!({"code": "import pandas\npandas.__version__"}))
        .await;
    assert_eq!(warmed["success"], true);
    let installed = browser
        .eval("return window.workbench.install('seaborn')")
        .await;
    assert_eq!(installed["success"], true, "{installed}");
    until(
        "telemetry being sent",
        Duration::from_secs(30),
        async || {
            browser
                .find("telemetry-status")
                .await
                .text()
                .await
                .ok()
                .as_deref()
                == Some("all sent")
        },
    )
    .await;
    // The service worker copies what Python's worker used once the worker lists it (after the
    // preloads, and after the install): Pyodide's files, the lock, the preloaded wheels, and
    // seaborn's wheel with the package index's answer for it.
    browser
        .wait_for_kept_files(&["numpy", "pandas", "matplotlib"])
        .await;
    until(
        "the service worker keeping seaborn",
        Duration::from_secs(60),
        async || {
            browser
                .eval(
                    "const index = await caches.match(new URL('/pypi/simple/seaborn/', location.href).href);
                     if (!index) return false;
                     const page = await index.clone().json();
                     const wheel = new URL(page.files[0].url, location.href).href;
                     return (await caches.match(wheel)) !== undefined;",
                )
                .await
                == true
        },
    )
    .await;
    let before = total_executions(&app).await;

    go_offline(&mut app, &browser).await;
    browser
        .client
        .refresh()
        .await
        .expect("reloads without the server");
    browser.wait_for_python().await;
    // The reloaded page started Python's worker before the app loaded (the worker served from
    // the cache still knew it was the early one).
    assert_eq!(
        browser
            .eval("return performance.getEntriesByName('workbench-python-ready')[0].detail")
            .await,
        json!({"startedEarly": true}),
        "the offline visit's worker did not start Python early"
    );
    assert_eq!(
        browser
            .eval("return fetch('/health').then(() => 'reachable', () => 'unreachable')")
            .await,
        "unreachable",
        "the server really is gone"
    );
    assert_eq!(browser.eval("return self.crossOriginIsolated").await, true);

    let totals = browser
        .execute(json!({"code": "import pandas as pd\npd.read_csv('trips.csv').groupby('city')['km'].sum().to_dict()"}))
        .await;
    assert_eq!(totals["result"], json!({"Oslo": 7, "Rome": 5}), "{totals}");
    let seaborn = browser
        .execute(json!({"code": "import seaborn\nseaborn.__version__"}))
        .await;
    let news = browser.text("packages").await;
    assert_eq!(
        seaborn["result"], "0.13.2",
        "the package installed online came back offline: {seaborn}; package news: {news:?}"
    );
    let stopped = browser
        .eval(
            "const run = window.workbench.execute('while True: pass');
             setTimeout(() => window.workbench.stop(), 300);
             return run;",
        )
        .await;
    assert_eq!(
        stopped["errorType"], "KeyboardInterrupt",
        "Stop works offline: {stopped}"
    );
    for n in 0..2 {
        let result = browser.execute(json!({ "code": format!("{n} * 2") })).await;
        assert_eq!(result["result"], n * 2);
    }
    browser
        .wait_for_text("telemetry-status", Duration::from_secs(10), |text| {
            text == "5 waiting to be sent"
        })
        .await;

    go_online(&mut app, &browser).await;
    browser.open_workbench(&app).await;
    let started = Instant::now();
    while total_executions(&app).await < before + 5 {
        if started.elapsed() > Duration::from_secs(60) {
            // Where the runs are: still queued in the page, refused, or stored but not counted.
            let queued = browser.text("telemetry-status").await;
            let metrics = browser
                .eval("return fetch('/metrics').then((answer) => answer.text())")
                .await;
            let counters: Vec<&str> = metrics
                .as_str()
                .unwrap_or_default()
                .lines()
                .filter(|line| {
                    line.starts_with("workbench_telemetry") || line.starts_with("workbench_stored")
                })
                .collect();
            panic!(
                "the 5 offline runs did not arrive within 60 s: {} executions counted, {before} \
                 before; the page says {queued:?}; the server: {counters:?}",
                total_executions(&app).await
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A deliberate negative check: a second copy of a run (the old page's beacon, a resend)
    // gives nothing to wait for, so it gets three seconds, three of the page's send intervals,
    // to arrive, and must not be counted.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Value = total_executions(&app).await.into();
    assert_eq!(after, before + 5, "exactly the 5 offline runs, each once");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_missing_offline_is_named_with_what_to_do() {
    let mut app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    service_worker_in_control(&browser).await;
    browser
        .wait_for_kept_files(&["numpy", "pandas", "matplotlib"])
        .await;
    // One file the start needs is gone from the service worker's caches (a browser that
    // evicted it, or a visit that ended before it was kept).
    let removed = browser
        .eval(
            "const lock = new URL('/pyodide/v0.27.7-pyc/pyodide-lock.json', location.href).href;
             let removed = false;
             for (const name of await caches.keys()) {
               removed = (await (await caches.open(name)).delete(lock)) || removed;
             }
             return removed;",
        )
        .await;
    assert_eq!(
        removed, true,
        "the lock was kept, so the test could remove it"
    );
    go_offline(&mut app, &browser).await;
    browser
        .client
        .refresh()
        .await
        .expect("reloads without the network");
    let status = browser
        .wait_for_text("status", PYTHON_LOAD_TIMEOUT, |text| {
            text.contains("ready") || text.contains("failed")
        })
        .await;
    assert!(
        status.contains("/pyodide/v0.27.7-pyc/pyodide-lock.json could not be loaded")
            && status.contains("connect to the network once more"),
        "the page must name the missing file and say what to do: {status}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_package_in_the_browsers_cache_is_fetched_again() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    service_worker_in_control(&browser).await;
    // The service worker keeps the wheel of a package nothing preloads, and then its copy is
    // damaged (as a disk error or an interrupted write would leave it).
    let kept = browser
        .eval(
            "const folder = '/pyodide/v0.27.7-pyc/';
             const lock = await (await fetch(folder + 'pyodide-lock.json')).json();
             const url = new URL(folder + lock.packages.decorator.file_name, location.href).href;
             await (await fetch(url)).arrayBuffer();
             const name = (await caches.keys()).find((name) => name.startsWith('workbench-files-'));
             const cache = await caches.open(name);
             if (!(await cache.match(url))) return null;
             await cache.put(url, new Response('damaged'));
             return [name, url, lock.packages.decorator.sha256];",
        )
        .await;
    let [cache, url, sha256] = kept.as_array().map(Vec::as_slice).unwrap_or_default() else {
        panic!("the service worker did not keep the wheel: {kept}");
    };
    // A new visit's worker fetches through the service worker.
    browser.client.refresh().await.expect("reloads");
    browser.wait_for_python().await;
    let imported = browser
        .execute(json!({"code": "import decorator\ndecorator.__name__"}))
        .await;
    assert_eq!(imported["result"], "decorator", "{imported}");
    let now_kept = browser
        .eval_with(
            "const kept = await (await caches.open(arguments[0])).match(arguments[1]);
             const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await kept.arrayBuffer()));
             return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');",
            vec![cache.clone(), url.clone()],
        )
        .await;
    assert_eq!(&now_kept, sha256, "the cache keeps the server's copy again");
    browser.close().await;
}
