//! Interactive charts: an output in plotly's mime type (`fig.show()`, a figure as a cell's
//! last value, `display(fig)`, or a notebook saved by JupyterLab) is drawn by plotly.js —
//! zoom, pan, hover — inside a frame of its own.
//!
//! A chart's JSON may come from a stranger's notebook, and plotly.js follows URLs a figure
//! names (`layout.images`, map tiles, topojson). So the frame is sandboxed (scripts, and the
//! PNG download its camera button makes: an opaque origin that cannot reach the page, its
//! storage or the user's files, open a window or navigate the page) and its own policy lets
//! it load nothing at all (`default-src 'none'`): plotly.js reaches it from the page as a
//! Blob (by reference, not copied), with the figure, in one message.
//! An image a figure names from another origin is simply not there.
//!
//! plotly.js (4.6 MB) is fetched from our server only when the first chart shows — never at
//! start-up — once per page, and listed for the service worker to keep, so charts draw
//! offline after one visit.

use std::cell::RefCell;

use leptos::html;
use leptos::prelude::*;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// plotly's own mime type, as JupyterLab's plotly extension reads it.
pub const PLOTLY_MIME: &str = "application/vnd.plotly.v1+json";
/// The plotly.js version set-up lays out (`manifest.json`'s `chartRenderer`): the one the
/// wheelhouse's plotly (5.24.1) is made for.
pub const PLOTLY_JS_VERSION: &str = "2.35.2";
/// plotly's own default height, when the figure names none.
const DEFAULT_HEIGHT: f64 = 450.0;

fn plotly_js_url() -> String {
    format!("/plotly/v{PLOTLY_JS_VERSION}/plotly.min.js")
}

/// The frame's page: its policy, and a script that waits for plotly.js and the figure.
const FRAME: &str = r#"<!doctype html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' blob:; style-src 'unsafe-inline'; img-src data: blob:; font-src data:">
<style>html, body { margin: 0; background: transparent; } #chart { width: 100%; }</style>
</head><body><div id="chart"></div><script>
addEventListener("message", (event) => {
  if (event.source !== parent || !event.data || !event.data.figure) return;
  const { plotly, figure } = event.data;
  const tell = (news) => parent.postMessage(news, "*");
  const draw = () => {
    const chart = document.getElementById("chart");
    const config = Object.assign({ responsive: true, displaylogo: false }, figure.config || {});
    Plotly.newPlot(chart, figure.data || [], figure.layout || {}, config).then(
      () => tell({ drawn: chart.querySelectorAll(".trace, .point, path").length }),
      (error) => tell({ failed: String(error && error.message || error) }),
    );
  };
  if (window.Plotly) return draw();
  const script = document.createElement("script");
  script.src = URL.createObjectURL(plotly);
  script.onload = () => { try { draw(); } catch (error) { tell({ failed: String(error && error.message || error) }); } };
  script.onerror = () => tell({ failed: "plotly.js did not load" });
  document.head.appendChild(script);
});
parent.postMessage({ ready: true }, "*");
</script></body></html>"#;

thread_local! {
    /// plotly.js, fetched once for every chart of the page.
    static PLOTLY_JS: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
}

/// plotly.js as a Blob: fetched the first time, then the same promise for every chart.
async fn plotly_js() -> Result<JsValue, String> {
    let promise = PLOTLY_JS.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                wasm_bindgen_futures::future_to_promise(async {
                    let window = web_sys::window().ok_or_else(|| JsValue::from("no window"))?;
                    let response: web_sys::Response =
                        JsFuture::from(window.fetch_with_str(&plotly_js_url()))
                            .await?
                            .unchecked_into();
                    if !response.ok() {
                        return Err(format!("HTTP {}", response.status()).into());
                    }
                    keep_for_offline(&response.url());
                    // A Blob: handed to each chart's frame by reference, never copied.
                    JsFuture::from(response.blob()?).await
                })
            })
            .clone()
    });
    match JsFuture::from(promise).await {
        Ok(blob) if blob.is_instance_of::<web_sys::Blob>() => Ok(blob),
        Ok(_) => Err("plotly.js did not come as a file".to_owned()),
        Err(error) => {
            // The next chart tries again (the server may be back).
            PLOTLY_JS.with(|cell| cell.borrow_mut().take());
            Err(error
                .as_string()
                .unwrap_or_else(|| "the server could not be reached".to_owned()))
        }
    }
}

/// Lists plotly.js for the service worker to keep (the page's own fetch passes it by on a
/// first visit, before it controls the page): on the channel the worker's lists use.
fn keep_for_offline(url: &str) {
    if let Ok(channel) = web_sys::BroadcastChannel::new("workbench-files") {
        let keep = js_sys::Object::new();
        let list = js_sys::Array::of1(&url.into());
        let _ = js_sys::Reflect::set(&keep, &"keep".into(), &list);
        let _ = channel.post_message(&keep);
        channel.close();
    }
}

/// How far a chart got.
#[derive(Debug, Clone, PartialEq)]
enum Drawing {
    Loading,
    /// With how many marks (traces, points, paths) plotly.js drew.
    Drawn(u64),
    Failed(String),
}

/// A plotly figure (`{data, layout, config}`), drawn in its sandboxed frame.
pub fn plotly_view(figure: &Value) -> AnyView {
    let height = figure
        .pointer("/layout/height")
        .and_then(Value::as_f64)
        .filter(|height| height.is_finite() && *height > 0.0)
        .unwrap_or(DEFAULT_HEIGHT)
        .min(4000.0);
    let message = match serde_wasm_figure(figure) {
        Ok(message) => message,
        Err(error) => {
            return view! { <pre class="error" data-testid="chart-problem">{format!("This chart could not be shown: {error}")}</pre> }
                .into_any();
        }
    };
    let frame = NodeRef::<html::Iframe>::new();
    let drawing = RwSignal::new(Drawing::Loading);
    let listener = window_event_listener(leptos::ev::message, move |event| {
        let Some(frame) = frame.get_untracked() else {
            return;
        };
        let Some(window) = frame.content_window() else {
            return;
        };
        let from_frame = event
            .source()
            .is_some_and(|source| JsValue::from(source) == JsValue::from(window.clone()));
        if !from_frame {
            return;
        }
        let data = event.data();
        let field = |name: &str| js_sys::Reflect::get(&data, &name.into()).unwrap_or_default();
        if field("ready").is_truthy() {
            let message = message.clone();
            leptos::task::spawn_local(async move {
                match plotly_js().await {
                    Ok(source) => {
                        let _ = js_sys::Reflect::set(&message, &"plotly".into(), &source);
                        let _ = window.post_message(&message, "*");
                    }
                    Err(error) => drawing.set(Drawing::Failed(format!(
                        "plotly.js could not be loaded ({error}); it comes from this workbench's server the first time a chart shows"
                    ))),
                }
            });
        } else if let Some(marks) = field("drawn").as_f64() {
            drawing.set(Drawing::Drawn(marks as u64));
        } else if let Some(failed) = field("failed").as_string() {
            drawing.set(Drawing::Failed(failed));
        }
    });
    on_cleanup(move || listener.remove());
    view! {
        <div class="chart" data-testid="chart"
            data-state=move || match drawing.get() {
                Drawing::Loading => "loading",
                Drawing::Drawn(_) => "drawn",
                Drawing::Failed(_) => "failed",
            }
            data-marks=move || match drawing.get() {
                Drawing::Drawn(marks) => marks.to_string(),
                _ => "0".to_owned(),
            }>
            <iframe node_ref=frame class="chart-frame" sandbox="allow-scripts allow-downloads" srcdoc=FRAME
                title="Interactive chart" style=format!("height: {height}px")></iframe>
            {move || match drawing.get() {
                Drawing::Loading => Some(view! { <p class="hint chart-note">"Drawing the chart…"</p> }.into_any()),
                Drawing::Drawn(_) => None,
                Drawing::Failed(why) => Some(view! {
                    <p class="error chart-note" data-testid="chart-problem">{format!("This chart could not be drawn: {why}")}</p>
                }.into_any()),
            }}
        </div>
    }
    .into_any()
}

/// The message the frame gets: `{figure}` (plotly.js is added once it is here).
fn serde_wasm_figure(figure: &Value) -> Result<js_sys::Object, String> {
    let text = serde_json::to_string(figure).map_err(|error| error.to_string())?;
    let parsed = js_sys::JSON::parse(&text).map_err(|_| "its JSON is not valid".to_owned())?;
    let message = js_sys::Object::new();
    js_sys::Reflect::set(&message, &"figure".into(), &parsed)
        .map_err(|_| "its JSON is not valid".to_owned())?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_renderer_version_matches_the_asset_manifest() {
        let manifest: Value =
            serde_json::from_str(include_str!("../../../../pyodide-loader/manifest.json"))
                .expect("manifest.json is JSON");
        let renderer = &manifest["chartRenderer"];
        assert_eq!(renderer["version"], PLOTLY_JS_VERSION);
        assert_eq!(
            renderer["npmPackage"],
            format!("plotly.js-dist-min@{PLOTLY_JS_VERSION}")
        );
        assert_eq!(plotly_js_url(), "/plotly/v2.35.2/plotly.min.js");
        let wheel = manifest["wheelhouse"]["wheels"]
            .as_array()
            .and_then(|wheels| wheels.iter().find(|wheel| wheel["name"] == "plotly"))
            .expect("the wheelhouse has plotly");
        assert_eq!(
            wheel["version"], "5.24.1",
            "plotly 5.24.1 is made for plotly.js 2.35.2: change both together"
        );
    }

    #[test]
    fn the_frame_loads_nothing_and_runs_only_what_the_page_hands_it() {
        assert!(FRAME.contains("content=\"default-src 'none';"));
        assert!(!FRAME.contains("://"), "the frame names no URL");
    }
}
