//! Interactive charts, as a person uses them, in a real headless Chromium against the real
//! server and build: plotly figures drawn by plotly.js in the cell (`fig.show()`, a figure
//! as the last value) and altair charts drawn by vega-embed (a chart as the last value,
//! `display(chart)`); hostile charts that load nothing from another origin and run nothing
//! in the page; charts kept through `.ipynb` and drawn from a notebook written by
//! JupyterLab; and all of it offline after one visit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tests::{
    Browser, TestApp, go_offline, open_notebook_of, service_worker_in_control, spawn_app, until,
    until_ok,
};

const WAIT: Duration = Duration::from_secs(120);

fn code_cells(sources: &[String]) -> Value {
    json!(
        sources
            .iter()
            .map(|source| json!({"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": null}))
            .collect::<Vec<_>>()
    )
}

/// Runs every cell and waits for the run to end; every cell must succeed.
async fn run_all(browser: &Browser) {
    let outcome = browser
        .eval("return window.workbench.notebook.runAll()")
        .await;
    assert!(
        outcome
            .as_array()
            .is_some_and(|cells| cells.iter().all(|cell| cell["success"] == true)),
        "{outcome}"
    );
}

/// Each chart on the page: how far it got, and how many marks plotly.js drew.
async fn charts(browser: &Browser) -> Vec<(String, u64)> {
    let seen = browser
        .eval(
            "return [...document.querySelectorAll('[data-testid=chart]')].map((chart) =>
               [chart.dataset.state, Number(chart.dataset.marks ?? 0)]);",
        )
        .await;
    serde_json::from_value(seen).expect("charts")
}

/// Waits until `count` charts are drawn, each with marks; fails at once on a failed one.
async fn drawn(browser: &Browser, count: usize) {
    until_ok(&format!("{count} charts drawn"), WAIT, async || {
        let charts = charts(browser).await;
        assert!(
            charts.iter().all(|(state, _)| state != "failed"),
            "a chart failed: {charts:?} {}",
            browser
                .eval("return [...document.querySelectorAll('[data-testid=chart-problem]')].map((p) => p.textContent)")
                .await
        );
        if charts.len() == count && charts.iter().all(|(state, marks)| state == "drawn" && *marks > 0) {
            Ok(())
        } else {
            Err(charts)
        }
    })
    .await;
}

/// A server on another origin that counts the connections made to it.
async fn another_origin() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("its address").port();
    let reached = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&reached);
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, reached)
}

/// Nothing a hostile chart carried ran in the page (its title is still `title`) or reached
/// the other origin, a second after the charts were drawn.
async fn nothing_escaped(browser: &Browser, title: &Value, reached: &AtomicUsize) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(&browser.eval("return document.title").await, title);
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "a chart reached another origin"
    );
}

/// The open notebook as `.ipynb` (its text, and parsed).
async fn exported(browser: &Browser) -> (Value, Value) {
    let text = browser
        .eval("return window.workbench.notebook.export()")
        .await;
    let ipynb = serde_json::from_str(text.as_str().expect("the .ipynb text")).expect("JSON");
    (text, ipynb)
}

/// Once the service worker keeps `renderer`, the server and the network go away, the page
/// reloads, and a notebook of `cell` still draws its chart.
async fn draws_offline(app: &mut TestApp, browser: &Browser, renderer: &str, cell: &str) {
    until("the service worker keeping the renderer", WAIT, async || {
        browser
            .eval_with(
                "return (await caches.match(new URL(arguments[0], location.href).href)) !== undefined",
                vec![json!(renderer)],
            )
            .await
            == true
    })
    .await;
    go_offline(app, browser).await;
    browser.client.refresh().await.expect("reloads offline");
    browser.wait_for_python().await;
    open_notebook_of(browser, code_cells(&[cell.to_owned()])).await;
    run_all(browser).await;
    drawn(browser, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plotly_charts_draw_in_the_cell_load_nothing_elsewhere_and_work_offline() {
    let mut app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    service_worker_in_control(&browser).await;
    let (port, reached) = another_origin().await;
    let hostile = format!(
        "import plotly.graph_objects as go\n\
         hostile = go.Figure(go.Bar(x=['<img src=x onerror=\"parent.document.title=1\">', 'b'], y=[1, 2]))\n\
         hostile.update_layout(title='<script>parent.document.title=\"owned\"</script><b>bold</b>',\n\
         \x20   images=[dict(source='http://127.0.0.1:{port}/leak.png', xref='paper', yref='paper', x=0, y=1, sizex=0.5, sizey=0.5)])\n\
         hostile.show()"
    );
    // plotly is not installed: its import installs it from the wheelhouse.
    open_notebook_of(
        &browser,
        code_cells(&[
            "import plotly.express as px\nfig = px.scatter(x=[1, 2, 3], y=[4, 1, 9], title='Three points')\nfig.show()".to_owned(),
            "fig".to_owned(),
            hostile,
        ]),
    )
    .await;
    let title = browser.eval("return document.title").await;
    run_all(&browser).await;
    drawn(&browser, 3).await;
    nothing_escaped(&browser, &title, &reached).await;

    // Kept in .ipynb with plotly's mime type and a text fallback.
    let (_, ipynb) = exported(&browser).await;
    let first = &ipynb["cells"][0]["outputs"][0];
    assert_eq!(first["output_type"], "display_data", "{first}");
    assert_eq!(
        first["data"]["application/vnd.plotly.v1+json"]["layout"]["title"]["text"],
        "Three points"
    );
    // Text is kept as nbformat writes it: a list of lines.
    assert_eq!(
        first["data"]["text/plain"],
        json!(["<plotly figure: 1 trace>"])
    );
    // As in Jupyter, a figure as the last value displays itself (`_ipython_display_`).
    let last_value = &ipynb["cells"][1]["outputs"][0];
    assert_eq!(last_value["output_type"], "display_data", "{last_value}");
    assert!(last_value["data"]["application/vnd.plotly.v1+json"]["data"].is_array());

    // A notebook JupyterLab wrote, with a plotly output (and the HTML it adds, which is not
    // used), opens with its chart drawn.
    let fixture = include_str!("../fixtures/plotly-jupyterlab.ipynb");
    browser
        .eval_with(
            "return window.workbench.notebook.open(arguments[0])",
            vec![json!(fixture)],
        )
        .await;
    drawn(&browser, 1).await;

    // Offline after this one visit: the wheel, the import and plotly.js come from the
    // service worker's cache.
    draws_offline(
        &mut app,
        &browser,
        "/plotly/v2.35.2/plotly.min.js",
        "import plotly.express as px\npx.bar(x=['a', 'b'], y=[3, 5])",
    )
    .await;

    // A 46 MB figure waits to be asked for: no frame, no renderer at work, until "Draw it".
    open_notebook_of(
        &browser,
        code_cells(&["n = list(range(3_000_000))\n\
             display({'application/vnd.plotly.v1+json': {'data': [{'type': 'scattergl', 'x': n, 'y': n}]}}, raw=True)"
            .to_owned()]),
    )
    .await;
    run_all(&browser).await;
    let held = browser
        .wait_for_text("chart-held", WAIT, |text| !text.is_empty())
        .await;
    assert!(
        held.starts_with("This chart holds 4") && held.contains(" MB of data"),
        "{held}"
    );
    let frames = browser
        .eval("return document.querySelectorAll('[data-testid=chart] iframe').length")
        .await;
    assert_eq!(frames, 0);
    browser
        .find("chart-draw")
        .await
        .click()
        .await
        .expect("asks for it");
    let asked = charts(&browser).await;
    assert!(asked.len() == 1 && asked[0].0 != "held", "{asked:?}");
    let frames = browser
        .eval("return document.querySelectorAll('[data-testid=chart] iframe').length")
        .await;
    assert_eq!(frames, 1);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn altair_charts_draw_in_the_cell_load_nothing_elsewhere_and_work_offline() {
    let mut app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    service_worker_in_control(&browser).await;
    let (port, reached) = another_origin().await;
    // altair is not installed: its import installs it (and jsonschema, jinja2, narwhals…)
    // from the wheelhouse.
    open_notebook_of(
        &browser,
        code_cells(&[
            "import altair as alt\nimport pandas as pd\n\
             sales = pd.DataFrame({'month': [1, 2, 3, 4], 'total': [4, 1, 9, 3], 'shop': list('abab')})\n\
             alt.Chart(sales, title='Sales').mark_point().encode(x='month', y='total', color='shop', tooltip=['total']).interactive()"
                .to_owned(),
            "display(alt.Chart(sales).mark_bar().encode(x='shop', y='sum(total)'))".to_owned(),
            // Data named at another origin: refused, and said.
            format!("alt.Chart(alt.Data(url='http://127.0.0.1:{port}/leak.csv')).mark_point().encode(x='a:Q')"),
            // Images and links to another origin, and HTML in the title: drawn, inert.
            format!(
                "links = pd.DataFrame({{'u': ['http://127.0.0.1:{port}/leak.png'], 'x': [1]}})\n\
                 alt.Chart(links, title='<img src=x onerror=\"parent.document.title=1\"><script>parent.document.title=2</script>')\\\n\
                 \x20   .mark_image(width=40, height=40).encode(x='x:Q', url='u:N', href='u:N')"
            ),
            // A file of the data folder, by name: read by the page, drawn.
            "open('points.csv', 'w').write('a,b\\n1,2\\n3,4\\n5,1\\n')\n\
             alt.Chart('points.csv').mark_point().encode(x='a:Q', y='b:Q')"
                .to_owned(),
            "alt.Chart('missing.csv').mark_point().encode(x='a:Q')".to_owned(),
        ]),
    )
    .await;
    let title = browser.eval("return document.title").await;
    run_all(&browser).await;
    until_ok("the altair charts drawn or refused", WAIT, async || {
        let charts = charts(&browser).await;
        let states: Vec<&str> = charts.iter().map(|(state, _)| state.as_str()).collect();
        if states == ["drawn", "drawn", "failed", "drawn", "drawn", "failed"]
            && charts[0].1 >= 4
            && charts[1].1 >= 2
            && charts[4].1 >= 3
        {
            Ok(())
        } else {
            Err(charts)
        }
    })
    .await;
    let problems = browser
        .eval("return [...document.querySelectorAll('[data-testid=chart-problem]')].map((p) => p.textContent)")
        .await;
    assert_eq!(problems.as_array().map(Vec::len), Some(2), "{problems}");
    let problem = problems[0].as_str().unwrap_or_default();
    assert!(
        problem.contains(&format!("http://127.0.0.1:{port}/leak.csv"))
            && problem.contains("charts here load nothing from elsewhere"),
        "{problem}"
    );
    let missing = problems[1].as_str().unwrap_or_default();
    assert!(
        missing.ends_with("there is no file named missing.csv in the data folder"),
        "{missing}"
    );
    // Each drawn by vega-embed, from Vega-Lite's mime type.
    let kinds = browser
        .eval("return [...document.querySelectorAll('[data-testid=chart]')].map((chart) => chart.dataset.kind)")
        .await;
    assert_eq!(kinds, json!(vec!["vega-lite"; 6]));
    nothing_escaped(&browser, &title, &reached).await;

    // Kept in .ipynb with Vega-Lite's mime type and a text fallback; opened again, drawn.
    let (text, ipynb) = exported(&browser).await;
    let first = &ipynb["cells"][0]["outputs"][0];
    assert_eq!(first["output_type"], "execute_result", "{first}");
    let spec = &first["data"]["application/vnd.vegalite.v5+json"];
    assert_eq!(spec["title"], "Sales", "{first}");
    // altair keeps a chart's rows in `datasets`, named by their hash.
    let name = spec["data"]["name"].as_str().expect("the data's name");
    assert_eq!(
        spec["datasets"][name].as_array().map(Vec::len),
        Some(4),
        "{spec}"
    );
    assert_eq!(
        first["data"]["text/plain"],
        json!(["<altair chart: point marks>"])
    );
    assert_eq!(
        ipynb["cells"][1]["outputs"][0]["output_type"],
        "display_data"
    );
    browser
        .eval_with(
            "return window.workbench.notebook.open(arguments[0])",
            vec![text],
        )
        .await;
    until_ok("the reopened charts", WAIT, async || {
        let states: Vec<String> = charts(&browser)
            .await
            .into_iter()
            .map(|(state, _)| state)
            .collect();
        if states == ["drawn", "drawn", "failed", "drawn", "drawn", "failed"] {
            Ok(())
        } else {
            Err(states)
        }
    })
    .await;

    // Offline after this one visit: the wheels, the import and the renderers come from the
    // service worker's cache.
    draws_offline(
        &mut app,
        &browser,
        "/vega-embed/v6.29.0/vega-embed.min.js",
        "import altair as alt\nalt.Chart(alt.Data(values=[{'a': 1}, {'a': 3}])).mark_bar().encode(y='a:Q')",
    )
    .await;
    browser.close().await;
}
