//! A cell's outputs, in the order the code made them: streams, errors, and rich data shown
//! in the richest form the page can show safely — our table for pandas frames, images,
//! Markdown (rendered safely, see `notebook::markdown`), and HTML only as sanitised nodes
//! (see `sanitize`: a notebook may come from a stranger).

use leptos::prelude::*;
use notebook::{MimeBundle, Output, StreamName};
use serde_json::Value;

use wasm_bindgen::JsCast;

use super::{charts, sanitize};
use crate::workbench::viewer::OpenInViewer;

/// Our table of a pandas frame (the harness's `display.table_of`): every cell as the text pandas prints.
pub const TABLE_MIME: &str = "application/vnd.workbench.table+json";

/// The outputs of one cell.
#[component]
pub fn CellOutputs(outputs: RwSignal<Vec<Output>>, collapsed: RwSignal<bool>) -> impl IntoView {
    let shown = move || {
        outputs
            .get()
            .into_iter()
            .enumerate()
            // A stream that grows re-renders itself only.
            .map(|(index, output)| (index, fingerprint(&output), output))
            .collect::<Vec<_>>()
    };
    view! {
        <div class="cell-outputs" class:collapsed=move || collapsed.get() data-testid="output" role="log" aria-live="polite">
            <Show
                when=move || !collapsed.get()
                fallback=move || {
                    view! {
                        <button class="link" data-testid="expand-output" on:click=move |_| collapsed.set(false)>
                            {move || format!("{} outputs hidden — show", outputs.with(Vec::len))}
                        </button>
                    }
                }
            >
                <For each=shown key=|(index, fingerprint, _)| (*index, *fingerprint) let:item>
                    {output_view(item.2)}
                </For>
            </Show>
        </div>
    }
}

/// What changes when an output changes in place (a stream that grew).
fn fingerprint(output: &Output) -> usize {
    match output {
        Output::Stream { text, .. } => text.len(),
        _ => 0,
    }
}

fn output_view(output: Output) -> AnyView {
    match output {
        Output::Stream { name, text } => {
            let class = match name {
                StreamName::Stdout => "stdout",
                StreamName::Stderr => "stderr",
            };
            view! { <pre class=class>{text}</pre> }.into_any()
        }
        Output::Error {
            ename,
            evalue,
            traceback,
        } => {
            let text = if traceback.is_empty() {
                format!("{ename}: {evalue}")
            } else {
                strip_ansi(&traceback.join("\n"))
            };
            view! { <pre class="error" data-testid="cell-error">{text}</pre> }.into_any()
        }
        Output::DisplayData { data, .. } => bundle_view(&data, false),
        Output::ExecuteResult { data, .. } => bundle_view(&data, true),
    }
}

/// The richest form of a bundle this page shows.
fn bundle_view(data: &MimeBundle, result: bool) -> AnyView {
    if let Some(chart) = charts::chart_view(data) {
        return chart;
    }
    if let Some(view) = data.get(TABLE_MIME).and_then(table_view) {
        return view;
    }
    for mime in ["image/png", "image/jpeg", "image/gif", "image/webp"] {
        if let Some(base64) = data.get_text(mime) {
            let source = format!("data:{mime};base64,{}", squeeze(base64));
            return view! { <img class="figure" data-testid="figure" src=source alt="A figure the code drew" /> }
                .into_any();
        }
    }
    if let Some(svg) = data.get_text("image/svg+xml") {
        // As an image, an SVG runs no script.
        let source = format!(
            "data:image/svg+xml;charset=utf-8,{}",
            js_sys::encode_uri_component(svg)
        );
        return view! { <img class="figure" data-testid="figure" src=source alt="A figure the code drew" /> }
            .into_any();
    }
    if let Some(markdown) = data.get_text("text/markdown") {
        return markdown_view(markdown, "markdown-output").into_any();
    }
    if let Some(html) = data.get_text("text/html")
        && let Some(clean) = sanitize::sanitized(html)
    {
        // The sanitised nodes themselves, not their markup parsed again.
        let holder = NodeRef::<leptos::html::Div>::new();
        Effect::new(move |_| {
            if let Some(holder) = holder.get() {
                holder.set_inner_html("");
                let _ = holder.append_child(&clean);
            }
        });
        return view! { <div class="html-output" data-testid="html-output" node_ref=holder></div> }
            .into_any();
    }
    let text = data
        .get_text("text/plain")
        .map(strip_ansi)
        .or_else(|| data.get("application/json").map(|json| json.to_string()))
        .unwrap_or_default();
    let class = if result { "result" } else { "display" };
    view! { <pre class=class data-testid="result">{text}</pre> }.into_any()
}

/// Our table, if the value has its shape.
fn table_view(table: &Value) -> Option<AnyView> {
    let texts = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .map(|items| items.iter().map(cell_text).collect())
            .unwrap_or_default()
    };
    let columns = texts(table.get("columns")?);
    let dtypes = texts(table.get("dtypes").unwrap_or(&Value::Null));
    let index = texts(table.get("index").unwrap_or(&Value::Null));
    let rows: Vec<Vec<String>> = table.get("rows")?.as_array()?.iter().map(texts).collect();
    let total = table
        .get("totalRows")
        .and_then(Value::as_u64)
        .unwrap_or(rows.len() as u64);
    let truncated = table
        .get("truncated")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // The frame the harness named for the data viewer, while there is one to open it.
    let open_in_viewer = table
        .get("viewAs")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .zip(use_context::<OpenInViewer>())
        .map(|(name, OpenInViewer(viewing))| {
            let title = format!("Open {name} in the data viewer: every row, sorted and filtered");
            view! {
                " · "
                // Not a press that selects the cell: selecting it moves the page under the
                // pointer (the tools of the cell selected before go away), and the click
                // would land elsewhere.
                <button class="link" data-testid="open-in-viewer" title=title
                    on:mousedown=|event| event.stop_propagation()
                    on:click=move |_| viewing.set(Some(name.clone()))>"Open in viewer"</button>
            }
        });
    let caption = format!(
        "{total} rows × {} columns{}",
        columns.len(),
        if truncated {
            format!(", first {} shown", rows.len())
        } else {
            String::new()
        }
    );
    Some(
        view! {
            <figure class="table" data-testid="table">
                <div class="table-scroll">
                    <table>
                        <thead>
                            <tr>
                                <th></th>
                                {columns
                                    .into_iter()
                                    .enumerate()
                                    .map(|(at, column)| {
                                        let dtype = dtypes.get(at).cloned().unwrap_or_default();
                                        view! { <th scope="col">{column} <small>{dtype}</small></th> }
                                    })
                                    .collect_view()}
                            </tr>
                        </thead>
                        <tbody>
                            {rows
                                .into_iter()
                                .enumerate()
                                .map(|(at, row)| {
                                    let label = index.get(at).cloned().unwrap_or_default();
                                    view! {
                                        <tr>
                                            <th scope="row">{label}</th>
                                            {row.into_iter().map(|cell| view! { <td>{cell}</td> }).collect_view()}
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                </div>
                <figcaption>{caption}{open_in_viewer}</figcaption>
            </figure>
        }
        .into_any(),
    )
}

fn cell_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "NaN".to_owned(),
        other => other.to_string(),
    }
}

/// Tracebacks from Jupyter carry terminal colours (`ESC[…m`); the page shows plain text.
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for code in chars.by_ref() {
                if code.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Base64 from a file may hold line breaks; a data URL must not.
fn squeeze(base64: &str) -> String {
    base64
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect()
}

/// Markdown rendered safely (`notebook::markdown`); its links open in a new tab, so a click
/// never leaves the workbench.
pub fn markdown_view(markdown: &str, test_id: &'static str) -> impl IntoView + use<> {
    let html = notebook::markdown::to_safe_html(markdown);
    let open_links_apart = |event: web_sys::MouseEvent| {
        let Some(link) = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
            .and_then(|element| element.closest("a[href]").ok().flatten())
        else {
            return;
        };
        let href = link.get_attribute("href").unwrap_or_default();
        if href.starts_with('#') {
            return;
        }
        event.prevent_default();
        if let Some(window) = web_sys::window() {
            let _ = window.open_with_url_and_target_and_features(
                &href,
                "_blank",
                "noopener,noreferrer",
            );
        }
    };
    view! { <div class="markdown" data-testid=test_id inner_html=html on:click=open_links_apart></div> }
}
