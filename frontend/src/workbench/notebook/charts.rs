//! Interactive charts, each drawn inside a frame of its own:
//! - plotly's mime type (`fig.show()`, a figure as a cell's last value, `display(fig)`) by
//!   plotly.js — zoom, pan, hover;
//! - Vega-Lite's and Vega's (an altair chart as a cell's last value, `display(chart)`) by
//!   vega-embed over vega and vega-lite — tooltips, `.interactive()` zoom and selections,
//!   and its menu's PNG and SVG downloads.
//!
//! Both draw from a notebook saved by JupyterLab too.
//!
//! A chart's JSON may come from a stranger's notebook, and both libraries follow URLs a
//! chart names (plotly's `layout.images`, map tiles; Vega's `data.url`, image marks). So
//! the frame is sandboxed (scripts, and the downloads its buttons make: an opaque origin
//! that cannot reach the page, its storage or the user's files, open a window or navigate
//! the page) and its own policy lets it load nothing at all (`default-src 'none'`): the
//! renderer's scripts reach it from the page as Blobs (by reference, not copied), with the
//! chart, in one message. An image a figure names from another origin is simply not there;
//! Vega's loader takes `data:` URLs and files of the data folder by name (`sales.csv`, read
//! by the page from Python's folder and handed over as a Blob), and says so for any other.
//! A chart of more than [`BIG_CHART_BYTES`] of JSON waits for a click before it is drawn, so
//! a 50 MB figure (or a notebook of them) does not take the page's time and memory unasked.
//!
//! The renderers (plotly.js 4.6 MB; vega + vega-lite + vega-embed 0.8 MB) are fetched from
//! our server only when the first chart of their kind shows — never at start-up — once per
//! page, and listed for the service worker to keep, so charts draw offline after one visit.

use std::cell::RefCell;
use std::collections::HashMap;

use leptos::html;
use leptos::prelude::*;
use notebook::MimeBundle;
use pyodide_loader::{DATA_DIR, validate_data_path};

use crate::format::format_bytes;
use crate::workbench::session::Session;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// plotly's own mime type, as JupyterLab's plotly extension reads it.
pub const PLOTLY_MIME: &str = "application/vnd.plotly.v1+json";
/// Vega-Lite 5's mime type (altair 5's `mimetype` renderer; JupyterLab's vega extension).
pub const VEGA_LITE_MIME: &str = "application/vnd.vegalite.v5+json";
/// Vega-Lite 4's, which altair 4 wrote: vega-lite 5 draws those specs too.
pub const VEGA_LITE_4_MIME: &str = "application/vnd.vegalite.v4+json";
/// Vega 5's (altair with VegaFusion, or a Vega spec of one's own).
pub const VEGA_MIME: &str = "application/vnd.vega.v5+json";
/// The versions set-up lays out (`manifest.json`'s `chartRenderers`): plotly.js is the one
/// the wheelhouse's plotly (5.24.1) is made for; vega-lite is at least the schema altair
/// 5.5 writes (v5.20.1).
pub const PLOTLY_JS_VERSION: &str = "2.35.2";
pub const VEGA_VERSION: &str = "5.33.1";
pub const VEGA_LITE_VERSION: &str = "5.23.0";
pub const VEGA_EMBED_VERSION: &str = "6.29.0";
/// plotly's own default height, when the figure names none.
const DEFAULT_HEIGHT: f64 = 450.0;
/// Charts with more JSON than this are drawn only when asked.
pub const BIG_CHART_BYTES: usize = 10 << 20;
/// The largest data-folder file a chart may read (Vega parses it whole, in the frame).
const MAX_CHART_FILE_BYTES: f64 = 50.0 * 1024.0 * 1024.0;

/// What draws a kind of chart: the scripts the frame runs, in order, and how it is told
/// to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Renderer {
    Plotly,
    /// vega-embed, in its mode for a Vega-Lite or a Vega spec.
    Vega {
        lite: bool,
    },
}

impl Renderer {
    fn scripts(self) -> Vec<String> {
        match self {
            Self::Plotly => vec![format!("/plotly/v{PLOTLY_JS_VERSION}/plotly.min.js")],
            Self::Vega { .. } => vec![
                format!("/vega/v{VEGA_VERSION}/vega.min.js"),
                format!("/vega-lite/v{VEGA_LITE_VERSION}/vega-lite.min.js"),
                format!("/vega-embed/v{VEGA_EMBED_VERSION}/vega-embed.min.js"),
            ],
        }
    }

    /// The name the frame's script draws by.
    fn kind(self) -> &'static str {
        match self {
            Self::Plotly => "plotly",
            Self::Vega { lite: true } => "vega-lite",
            Self::Vega { lite: false } => "vega",
        }
    }

    /// How tall the frame starts: plotly's height is the figure's; a Vega chart's frame
    /// fits what it drew once it is drawn.
    fn height(self, spec: &Value) -> f64 {
        let named = match self {
            Self::Plotly => spec.pointer("/layout/height"),
            Self::Vega { .. } => spec.get("height"),
        };
        named
            .and_then(Value::as_f64)
            .filter(|height| height.is_finite() && *height > 0.0)
            .map(|height| match self {
                Self::Plotly => height,
                // Room for the axes, the title and the menu.
                Self::Vega { .. } => height + 80.0,
            })
            .unwrap_or(match self {
                Self::Plotly => DEFAULT_HEIGHT,
                Self::Vega { .. } => 360.0,
            })
            .min(4000.0)
    }
}

/// The chart a bundle holds, in the first mime type the page draws, if any.
pub fn chart_view(data: &MimeBundle) -> Option<AnyView> {
    [
        (PLOTLY_MIME, Renderer::Plotly),
        (VEGA_LITE_MIME, Renderer::Vega { lite: true }),
        (VEGA_LITE_4_MIME, Renderer::Vega { lite: true }),
        (VEGA_MIME, Renderer::Vega { lite: false }),
    ]
    .into_iter()
    .find_map(|(mime, renderer)| {
        data.get(mime)
            .filter(|spec| spec.is_object())
            .map(|spec| chart(renderer, spec))
    })
}

/// The frame's page: its policy, and a script that waits for the renderer and the chart.
const FRAME: &str = r#"<!doctype html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' blob:; style-src 'unsafe-inline'; img-src data: blob:; font-src data:">
<style>html, body { margin: 0; background: transparent; font-family: system-ui, sans-serif; } #chart { width: 100%; }</style>
</head><body><div id="chart"></div><script>
const tell = (news) => parent.postMessage(news, "*");
const failed = (error) => tell({ failed: String((error && error.message) || error) });
const load = (blob) => new Promise((resolve, reject) => {
  const script = document.createElement("script");
  script.src = URL.createObjectURL(blob);
  script.onload = resolve;
  script.onerror = () => reject(new Error("the chart's renderer did not load"));
  document.head.appendChild(script);
});
// A file of the data folder, asked of the page (which reads it from Python's folder).
const files = new Map();
let asked = 0;
const fromFolder = (path) => new Promise((resolve, reject) => {
  asked += 1;
  files.set(asked, { resolve, reject });
  tell({ load: path, id: asked });
});
// Vega's loader: the chart's own `data:` URLs and files of the data folder by name, and
// nothing from anywhere else.
const dataOnly = () => {
  const loader = vega.loader();
  loader.load = async (uri) => {
    const text = String(uri);
    if (/^data:/i.test(text)) {
      const comma = text.indexOf(",");
      const body = text.slice(comma + 1);
      return /;base64$/i.test(text.slice(0, comma)) ? atob(body) : decodeURIComponent(body);
    }
    if (!/^([a-z][a-z0-9+.-]*:|\/\/)/i.test(text)) return fromFolder(text);
    throw new Error("this chart names data at " + text.slice(0, 200) + ", and charts here load nothing from elsewhere: give the chart its data (a DataFrame, or values) or a file of the data folder by its name");
  };
  return loader;
};
// Vega's log: an error, or data that could not be loaded (a warning to Vega, which draws
// the chart empty), is the chart's failure; other warnings are not.
const logger = () => {
  let level = 0;
  const words = (args) => args.map((arg) => (arg && arg.message) || arg);
  return {
    level(value) { if (value === undefined) return level; level = value; return this; },
    error(...args) { failed(words(args).join(" ")); return this; },
    warn(...args) { if (args[0] === "Loading failed") failed(words(args.slice(2)).join(" ")); return this; },
    info() { return this; }, debug() { return this; },
  };
};
// vega-embed makes the view; this one logs to the logger above from its first step.
const loggedView = () => class extends vega.View {
  constructor(runtime, options) { super(runtime, Object.assign({}, options, { logger: logger() })); }
};
// The frame's height for what was drawn (the page cannot measure inside the frame).
const fit = () => tell({ height: Math.ceil(document.getElementById("chart").getBoundingClientRect().bottom) + 8 });
const draw = {
  plotly(chart, figure) {
    const config = Object.assign({ responsive: true, displaylogo: false }, figure.config || {});
    return Plotly.newPlot(chart, figure.data || [], figure.layout || {}, config).then(
      () => chart.querySelectorAll(".trace, .point, path").length);
  },
  vega(chart, spec, mode) {
    return vegaEmbed(chart, spec, {
      mode, renderer: "svg", loader: dataOnly(), viewClass: loggedView(), tooltip: true,
      actions: { export: true, source: false, compiled: false, editor: false },
    }).then(() => { fit(); return chart.querySelectorAll(".role-mark > *").length; });
  },
};
addEventListener("message", async (event) => {
  if (event.source !== parent || !event.data) return;
  const file = files.get(event.data.file);
  if (file) {
    files.delete(event.data.file);
    if (event.data.blob) file.resolve(await event.data.blob.text());
    else file.reject(new Error(event.data.error));
    return;
  }
  if (!event.data.spec) return;
  const { kind, scripts, spec } = event.data;
  try {
    for (const script of scripts) await load(script);
    const chart = document.getElementById("chart");
    const marks = await (kind === "plotly" ? draw.plotly(chart, spec) : draw.vega(chart, spec, kind));
    tell({ drawn: marks });
  } catch (error) {
    failed(error);
  }
});
tell({ ready: true });
</script></body></html>"#;

thread_local! {
    /// Each renderer's script, fetched once for every chart of the page.
    static SCRIPTS: RefCell<HashMap<String, js_sys::Promise>> = RefCell::new(HashMap::new());
}

/// A renderer's script as a Blob: fetched the first time, then the same promise for every
/// chart.
async fn script(url: String) -> Result<JsValue, String> {
    let promise = SCRIPTS.with(|cell| {
        cell.borrow_mut()
            .entry(url.clone())
            .or_insert_with(|| {
                let url = url.clone();
                wasm_bindgen_futures::future_to_promise(async move {
                    let window = web_sys::window().ok_or_else(|| JsValue::from("no window"))?;
                    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url))
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
        Ok(_) => Err(format!("{url} did not come as a file")),
        Err(error) => {
            // The next chart tries again (the server may be back).
            SCRIPTS.with(|cell| cell.borrow_mut().remove(&url));
            Err(error
                .as_string()
                .unwrap_or_else(|| "the server could not be reached".to_owned()))
        }
    }
}

/// Every script of a renderer, in order.
async fn scripts(renderer: Renderer) -> Result<js_sys::Array, String> {
    let list = js_sys::Array::new();
    for url in renderer.scripts() {
        list.push(&script(url).await?);
    }
    Ok(list)
}

/// Lists a renderer's file for the service worker to keep (the page's own fetch passes it
/// by on a first visit, before it controls the page): on the channel the worker's lists use.
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
    /// Too big to draw unasked: its size in bytes.
    Held(usize),
    Loading,
    /// With how many marks (traces, points, paths) the renderer drew.
    Drawn(u64),
    Failed(String),
}

/// A chart, drawn by `renderer` in its sandboxed frame.
fn chart(renderer: Renderer, spec: &Value) -> AnyView {
    let height = RwSignal::new(renderer.height(spec));
    let text = match serde_json::to_string(spec) {
        Ok(text) => StoredValue::new(text),
        Err(error) => {
            return view! { <pre class="error" data-testid="chart-problem">{format!("This chart could not be shown: {error}")}</pre> }
                .into_any();
        }
    };
    let size = text.with_value(String::len);
    let session = use_context::<Session>();
    let frame = NodeRef::<html::Iframe>::new();
    let drawing = RwSignal::new(if size > BIG_CHART_BYTES {
        Drawing::Held(size)
    } else {
        Drawing::Loading
    });
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
            let message = match text.with_value(|text| message_for(renderer, text)) {
                Ok(message) => message,
                Err(error) => return drawing.set(Drawing::Failed(error)),
            };
            leptos::task::spawn_local(async move {
                match scripts(renderer).await {
                    Ok(list) => {
                        let _ = js_sys::Reflect::set(&message, &"scripts".into(), &list);
                        let _ = window.post_message(&message, "*");
                    }
                    Err(error) => drawing.set(Drawing::Failed(format!(
                        "its renderer could not be loaded ({error}); it comes from this workbench's server the first time such a chart shows"
                    ))),
                }
            });
        } else if let Some(marks) = field("drawn").as_f64() {
            // A chart that failed while drawing stays failed.
            if drawing.get_untracked() == Drawing::Loading {
                drawing.set(Drawing::Drawn(marks as u64));
            }
        } else if let Some(failed) = field("failed").as_string() {
            drawing.set(Drawing::Failed(failed));
        } else if let Some(path) = field("load").as_string() {
            let id = field("id");
            leptos::task::spawn_local(async move {
                let answer = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&answer, &"file".into(), &id);
                match folder_file(session, &path).await {
                    Ok(blob) => js_sys::Reflect::set(&answer, &"blob".into(), &blob),
                    Err(error) => js_sys::Reflect::set(&answer, &"error".into(), &error.into()),
                }
                .ok();
                let _ = window.post_message(&answer, "*");
            });
        } else if let Some(fits) = field("height").as_f64()
            && fits.is_finite()
            && fits > 0.0
        {
            height.set(fits.min(4000.0));
        }
    });
    on_cleanup(move || listener.remove());
    view! {
        <div class="chart" data-testid="chart" data-kind=renderer.kind()
            data-state=move || match drawing.get() {
                Drawing::Held(_) => "held",
                Drawing::Loading => "loading",
                Drawing::Drawn(_) => "drawn",
                Drawing::Failed(_) => "failed",
            }
            data-marks=move || match drawing.get() {
                Drawing::Drawn(marks) => marks.to_string(),
                _ => "0".to_owned(),
            }>
            // A chart that failed shows its reason in place of an empty frame; a held one
            // has no frame until it is asked for.
            <Show when=move || !matches!(drawing.get(), Drawing::Held(_))>
                <iframe node_ref=frame class="chart-frame" sandbox="allow-scripts allow-downloads" srcdoc=FRAME
                    title="Interactive chart" style=move || match drawing.get() {
                        Drawing::Failed(_) => "height: 0; border: 0".to_owned(),
                        _ => format!("height: {}px", height.get()),
                    }></iframe>
            </Show>
            {move || match drawing.get() {
                Drawing::Held(size) => Some(view! {
                    <p class="hint chart-note" data-testid="chart-held">
                        {format!("This chart holds {} of data: drawing it takes a while, and much memory. ", format_bytes(size as u64))}
                        <button class="secondary small" data-testid="chart-draw"
                            on:mousedown=|event| event.stop_propagation()
                            on:click=move |_| drawing.set(Drawing::Loading)>"Draw it"</button>
                    </p>
                }.into_any()),
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

/// A file of the data folder a chart names (`sales.csv`, or its path under the folder), as
/// a Blob handed over by reference; refused in words if it is not one, or too big.
async fn folder_file(session: Option<Session>, path: &str) -> Result<JsValue, String> {
    let inside = path.trim_start_matches("./");
    let inside = inside
        .strip_prefix(DATA_DIR)
        .map_or(inside, |rest| rest.trim_start_matches('/'));
    validate_data_path(inside).map_err(|why| {
        format!("this chart names data at {path}, which is not a file of the data folder ({why}), and charts here load nothing from elsewhere")
    })?;
    let runtime = session
        .and_then(Session::runtime)
        .ok_or_else(|| format!("{inside} cannot be read: Python is not running"))?;
    let blob = runtime
        .read_file(inside)
        .await
        .map_err(|error| match error {
            // The worker's own words say what is wrong with the file.
            pyodide_loader::LoaderError::Request(why) => why,
            other => format!("{inside} could not be read from the data folder: {other}"),
        })?;
    if blob.size() > MAX_CHART_FILE_BYTES {
        return Err(format!(
            "{inside} is {}, and a chart reads files of up to {}: aggregate it in Python first and chart the result",
            format_bytes(blob.size() as u64),
            format_bytes(MAX_CHART_FILE_BYTES as u64)
        ));
    }
    Ok(blob.into())
}

/// The message the frame gets: `{kind, spec}` (the scripts are added once they are here).
fn message_for(renderer: Renderer, text: &str) -> Result<js_sys::Object, String> {
    let parsed = js_sys::JSON::parse(text).map_err(|_| "its JSON is not valid".to_owned())?;
    let message = js_sys::Object::new();
    js_sys::Reflect::set(&message, &"spec".into(), &parsed)
        .and_then(|_| js_sys::Reflect::set(&message, &"kind".into(), &renderer.kind().into()))
        .map_err(|_| "its JSON is not valid".to_owned())?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_renderer_versions_match_the_asset_manifest() {
        let manifest: Value =
            serde_json::from_str(include_str!("../../../../pyodide-loader/manifest.json"))
                .expect("manifest.json is JSON");
        let renderers = &manifest["chartRenderers"];
        for (folder, package, version) in [
            ("plotly", "plotly.js-dist-min", PLOTLY_JS_VERSION),
            ("vega", "vega", VEGA_VERSION),
            ("vega-lite", "vega-lite", VEGA_LITE_VERSION),
            ("vega-embed", "vega-embed", VEGA_EMBED_VERSION),
        ] {
            assert_eq!(renderers[folder]["version"], version, "{folder}");
            assert_eq!(
                renderers[folder]["npmPackage"],
                format!("{package}@{version}")
            );
            let served: Vec<&str> = renderers[folder]["files"]
                .as_array()
                .expect("files")
                .iter()
                .filter_map(|file| file["to"].as_str())
                .collect();
            let wanted = [Renderer::Plotly, Renderer::Vega { lite: true }]
                .into_iter()
                .flat_map(Renderer::scripts)
                .filter(|url| url.starts_with(&format!("/{folder}/v{version}/")))
                .count();
            assert_eq!(
                wanted,
                served.len(),
                "every file of {folder} is loaded: {served:?}"
            );
        }
        assert_eq!(
            Renderer::Plotly.scripts(),
            ["/plotly/v2.35.2/plotly.min.js"]
        );
        let wheel = |name: &str| {
            manifest["wheelhouse"]["wheels"]
                .as_array()
                .and_then(|wheels| wheels.iter().find(|wheel| wheel["name"] == name))
                .map(|wheel| wheel["version"].clone())
        };
        assert_eq!(
            wheel("plotly"),
            Some("5.24.1".into()),
            "plotly 5.24.1 is made for plotly.js 2.35.2: change both together"
        );
        assert_eq!(
            wheel("altair"),
            Some("5.5.0".into()),
            "altair 5.5 writes Vega-Lite 5.20 specs: vega-lite must be 5.20 or newer"
        );
    }

    #[test]
    fn the_frame_loads_nothing_and_runs_only_what_the_page_hands_it() {
        assert!(FRAME.contains("content=\"default-src 'none';"));
        assert!(!FRAME.contains("://"), "the frame names no URL");
    }

    #[test]
    fn a_chart_starts_as_tall_as_it_says_within_bounds() {
        let plotly =
            |layout: Value| Renderer::Plotly.height(&serde_json::json!({ "layout": layout }));
        assert_eq!(plotly(serde_json::json!({})), DEFAULT_HEIGHT);
        assert_eq!(plotly(serde_json::json!({"height": 300})), 300.0);
        assert_eq!(plotly(serde_json::json!({"height": -5})), DEFAULT_HEIGHT);
        assert_eq!(plotly(serde_json::json!({"height": 1e9})), 4000.0);
        let vega = Renderer::Vega { lite: true };
        assert_eq!(vega.height(&serde_json::json!({"height": 200})), 280.0);
        assert_eq!(
            vega.height(&serde_json::json!({"height": "container"})),
            360.0
        );
    }
}
