//! SQL beside Python: DuckDB-Wasm over the data folder's files and the namespace's
//! DataFrames, through `sql()` and `%%sql` cells. A real headless Chromium, the real server,
//! build and engine files; answers are checked against figures computed when the data was
//! made.

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::{
    Browser, RECORD_REQUEST_BODIES, TestApp, go_offline, go_online, make_trips,
    service_worker_in_control, spawn_app, until, until_ok,
};

const WAIT: Duration = Duration::from_secs(60);
const CTRL_SPACE: &str = "\u{e009} \u{e000}";

async fn workbench() -> (TestApp, Browser) {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    (app, browser)
}

async fn run(browser: &Browser, code: &str) -> Value {
    let answer = browser
        .execute(json!({"code": code, "timeout": 300_000}))
        .await;
    assert_eq!(answer["success"], true, "{code}\n{answer}");
    answer["result"].clone()
}

/// A run that must fail: its answer.
async fn fail(browser: &Browser, code: &str) -> Value {
    let answer = browser
        .execute(json!({"code": code, "timeout": 300_000}))
        .await;
    assert_eq!(answer["success"], false, "{code} succeeded: {answer}");
    answer
}

async fn pick(browser: &Browser, path: &Path) {
    browser
        .client
        .find(Locator::Css("[data-testid=file-input]"))
        .await
        .expect("the picker")
        .send_keys(&path.display().to_string())
        .await
        .expect("picks the file");
}

const BUSIEST: &str = "%%sql busiest\nSELECT zone, count(*) AS trips\nFROM 'trips.csv'\nGROUP BY zone ORDER BY trips DESC, zone LIMIT 3";

const GROUP_BY: &str = "
from workbench import sql
totals = sql(\"SELECT zone, count(*) AS trips, sum(fare) AS fares FROM 'trips.csv' GROUP BY zone\")
{str(zone): [int(trips), int(fares)] for zone, trips, fares in totals.itertuples(index=False)}";

#[tokio::test(flavor = "multi_thread")]
async fn sql_groups_a_large_csv_queries_parquet_globs_and_dataframes_and_explains_its_errors() {
    let folder = tempfile::tempdir().expect("a folder");
    let path = folder.path().join("trips.csv");
    let trips = make_trips(&path, 120_000_000);
    let (_app, browser) = workbench().await;
    browser.eval(RECORD_REQUEST_BODIES).await;
    pick(&browser, &path).await;
    browser
        .wait_for_text("file-shape", WAIT, |text| text.contains("columns"))
        .await;

    // A group-by over the CSV, read in place by DuckDB, against the figures of its making.
    let expected: serde_json::Map<String, Value> = trips
        .by_zone
        .iter()
        .map(|(zone, (count, sum))| (zone.to_string(), json!([count, sum])))
        .collect();
    assert_eq!(run(&browser, GROUP_BY).await, Value::Object(expected));

    // Parquet files Python writes into a folder, queried together by a glob.
    let globbed = run(
        &browser,
        "import numpy as np, pandas as pd, os
os.makedirs('sales', exist_ok=True)
pd.DataFrame({'year': 2024, 'amount': np.arange(1_000, dtype='int64')}).to_parquet('sales/2024.parquet')
pd.DataFrame({'year': 2025, 'amount': np.arange(2_000, dtype='int64')}).to_parquet('sales/2025.parquet')
by_year = sql(\"SELECT year, count(*) AS n, sum(amount) AS total FROM 'sales/*.parquet' GROUP BY year ORDER BY year\")
by_year.values.tolist()",
    )
    .await;
    assert_eq!(
        globbed,
        json!([[2024, 1000, 999 * 1000 / 2], [2025, 2000, 1999 * 2000 / 2]])
    );

    // A DataFrame by its name, joined to a file; and from inside a function, its locals.
    let joined = run(
        &browser,
        "names = pd.DataFrame({'zone': [0, 1, 2], 'name': ['Harbour', 'Old Town', 'Hills']})
joined = sql(\"SELECT name, count(*) AS trips FROM 'trips.csv' t JOIN names USING (zone) GROUP BY name ORDER BY name\")
joined.values.tolist()",
    )
    .await;
    let count = |zone: u32| trips.by_zone.get(&zone).map_or(0, |(count, _)| *count);
    assert_eq!(
        joined,
        json!([
            ["Harbour", count(0)],
            ["Hills", count(2)],
            ["Old Town", count(1)]
        ])
    );
    let in_function = run(
        &browser,
        "def top(n):
    scores = pd.DataFrame({'v': range(100)})
    return sql(f'SELECT sum(v) AS s FROM (SELECT v FROM scores ORDER BY v DESC LIMIT {n})')['s'][0]
[int(top(n)) for n in (1, 3)]",
    )
    .await;
    assert_eq!(in_function, json!([99, 99 + 98 + 97]));

    // A `%%sql` cell: its result is the run's table, and bound to the name it gives.
    let cell = browser.execute(json!({"code": BUSIEST})).await;
    assert_eq!(cell["success"], true, "{cell}");
    assert!(
        cell.to_string().contains("\"trips\""),
        "the result is shown as a table: {cell}"
    );
    assert_eq!(run(&browser, "len(busiest)").await, 3);

    // Errors: DuckDB's message as a Python exception at the cell's line; then SQL still works.
    let syntax = fail(&browser, "%%sql\nSELECT zone\nFORM 'trips.csv'").await;
    let text = syntax.to_string();
    assert!(
        text.contains("SQLError") && text.contains("syntax error") && text.contains("LINE 3"),
        "{syntax}"
    );
    let missing = fail(&browser, "sql('SELECT * FROM nowhere')").await;
    let text = missing.to_string();
    assert!(
        text.contains("nowhere does not exist")
            && text.contains("'trips.csv'")
            && text.contains("names"),
        "the error names the tables there are: {missing}"
    );
    let typed = fail(
        &browser,
        "sql(\"SELECT CAST(note AS INTEGER) FROM 'trips.csv'\")",
    )
    .await;
    assert!(typed.to_string().contains("Conversion Error"), "{typed}");

    // A result too large to bring into Python is refused with what to do; the tab is fine.
    let large = fail(&browser, "sql('SELECT * FROM range(150000000)')").await;
    assert!(
        large.to_string().contains("LIMIT") && large.to_string().contains("aggregate"),
        "{large}"
    );
    let last_run = "int(sql('SELECT 41 + 1 AS x')['x'][0])";
    assert_eq!(run(&browser, last_run).await, 42);

    // Neither the queries nor the data left the browser. Every run is counted, by the hash of
    // its code, and the page sends the oldest events first: once the last run's is sent, so is
    // every one before it.
    let last_hash = format!("{:x}", Sha256::digest(last_run.as_bytes()));
    let bodies = until_ok("the last run's event being sent", WAIT, async || {
        let bodies = browser.eval("return window.sentBodies").await.to_string();
        if bodies.contains(&last_hash) {
            Ok(bodies)
        } else {
            Err(bodies)
        }
    })
    .await;
    for secret in ["trips", "SELECT", "Harbour", "sales/"] {
        assert!(
            !bodies.contains(secret),
            "{secret} was sent to the server: {bodies}"
        );
    }
    // The `%%sql` run was counted like any run: by the hash of the cell's text.
    let hash: String = Sha256::digest(BUSIEST.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert!(
        bodies.contains(&hash),
        "the SQL cell's run was not counted: {bodies}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_a_long_query_within_a_second_and_sql_works_after() {
    let (_app, browser) = workbench().await;
    // Code that says none of `sql(`, `%%sql` or `workbench` gets no engine started before it
    // runs: its query says so, and the next run has one.
    let hidden = "int(getattr(__import__('work' + 'bench'), 'sq' + 'l')('SELECT 7 AS x')['x'][0])";
    let refused = fail(&browser, hidden).await;
    assert!(refused.to_string().contains("run this again"), "{refused}");
    assert_eq!(run(&browser, hidden).await, 7);
    let waited_ms = browser
        .run_then_stop("%%sql\nSELECT count(DISTINCT a.range * 7 + b.range) FROM range(3000000) a, range(1000) b", Duration::from_millis(1500))
        .await;
    assert!(waited_ms < 1000.0, "Stop took {waited_ms} ms");
    browser
        .wait_for_text("output", Duration::from_secs(5), |text| {
            text.contains("KeyboardInterrupt")
        })
        .await;
    // A new engine answers the next query.
    assert_eq!(
        run(
            &browser,
            "from workbench import sql\nint(sql('SELECT 6 * 7 AS x')['x'][0])"
        )
        .await,
        42
    );
    browser.close().await;
}

/// The options of the completion popup: label and kind.
const POPUP_OPTIONS: &str =
    "return [...document.querySelectorAll('.cm-tooltip-autocomplete li')].map((option) => [
    option.querySelector('.cm-completionLabel')?.textContent ?? '',
    option.querySelector('.cm-completionDetail')?.textContent ?? '']);";

#[tokio::test(flavor = "multi_thread")]
async fn a_sql_cell_offers_the_columns_of_the_file_it_names() {
    let (_app, browser) = workbench().await;
    let stored = browser
        .eval("return window.workbench.loadFile('rides.csv', 'zone,fare,distance_km\\n1,10,3\\n')")
        .await;
    assert_eq!(stored["success"], true, "{stored}");
    browser.type_code("%%sql\nSELECT di FROM 'rides.csv'").await;
    let editor = browser.find("editor").await;
    // The cursor after `di`: back over ` FROM 'rides.csv'`.
    editor
        .send_keys(&"\u{e012}".repeat(" FROM 'rides.csv'".len()))
        .await
        .expect("moves the cursor");
    // Ctrl+Space asks again every 400 ms until the popup shows.
    let mut asked: Option<Instant> = None;
    let options: Vec<(String, String)> = until_ok("a completion showing", WAIT, async || {
        if asked.is_none_or(|at| at.elapsed() >= Duration::from_millis(400)) {
            editor.send_keys(CTRL_SPACE).await.expect("asks");
            asked = Some(Instant::now());
        }
        let options: Vec<(String, String)> =
            serde_json::from_value(browser.eval(POPUP_OPTIONS).await).expect("options");
        if options.is_empty() {
            Err(options)
        } else {
            Ok(options)
        }
    })
    .await;
    assert_eq!(
        options
            .first()
            .map(|(label, kind)| (label.as_str(), kind.as_str())),
        Some(("distance_km", "column")),
        "{options:?}"
    );
    browser.close().await;
}

/// Whether the service worker keeps the SQL engine's files.
async fn engine_kept(browser: &Browser) -> bool {
    browser
        .eval(
            "for (const file of ['duckdb-eh.wasm', 'duckdb-browser-blocking.js']) {
               if (!(await caches.match(new URL('/duckdb/v1.32.0/' + file, location.href).href))) return false;
             }
             return true;",
        )
        .await
        == true
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_works_offline_after_a_visit_that_used_it_and_says_what_to_do_before() {
    let mut app = spawn_app().await;
    // A fresh profile: its first visit does not use SQL.
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    service_worker_in_control(&browser).await;
    let stored = browser
        .eval("return window.workbench.loadFile('trips.csv', 'city,km\\nOslo,3\\nRome,5\\nOslo,4\\n')")
        .await;
    assert_eq!(stored["success"], true, "{stored}");
    run(&browser, "import pandas, pyarrow").await;
    browser
        .wait_for_kept_files(&["numpy", "pandas", "pyarrow"])
        .await;
    assert!(
        !engine_kept(&browser).await,
        "the engine loads only when SQL is used"
    );

    // Offline before SQL was ever used: the error says what to do.
    go_offline(&mut app, &browser).await;
    browser.client.refresh().await.expect("reloads offline");
    browser.wait_for_python().await;
    let refused = fail(&browser, "from workbench import sql\nsql('SELECT 1')").await;
    assert!(
        refused.to_string().contains("connect to the network")
            && refused.to_string().contains("/duckdb/v1.32.0/"),
        "{refused}"
    );

    // Online, SQL once; then offline it works.
    go_online(&mut app, &browser).await;
    browser.client.refresh().await.expect("reloads online");
    browser.open_workbench(&app).await;
    let query = "from workbench import sql\nsql(\"SELECT city, sum(km) AS km FROM 'trips.csv' GROUP BY city ORDER BY city\").values.tolist()";
    assert_eq!(
        run(&browser, query).await,
        json!([["Oslo", 7], ["Rome", 5]])
    );
    until(
        "the service worker keeping the SQL engine",
        WAIT,
        async || engine_kept(&browser).await,
    )
    .await;
    go_offline(&mut app, &browser).await;
    browser.client.refresh().await.expect("reloads offline");
    browser.wait_for_python().await;
    assert_eq!(
        run(&browser, query).await,
        json!([["Oslo", 7], ["Rome", 5]])
    );
    browser.close().await;
}
