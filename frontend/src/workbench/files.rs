//! The files panel: CSV/TSV/JSON/TXT/PY files added by picker or drag-and-drop go into
//! Python's data folder (kept in IndexedDB by the worker) and never leave the browser.
//! Each shows its size and, for CSV, a preview; one click inserts the code to read it;
//! files can be deleted, and files the code wrote can be downloaded.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use pyodide_loader::{DataFile, FileLoad};
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::session::Session;
use crate::format::format_bytes;

/// Files larger than this are refused before they are read.
pub const MAX_FILE_BYTES: f64 = 200.0 * 1024.0 * 1024.0;

/// The panel's state; a cheap copyable handle, so the page's drop handler can add files.
#[derive(Debug, Clone, Copy)]
pub struct Files {
    session: Session,
    listed: RwSignal<Vec<DataFile>>,
    /// Previews of files loaded in this visit, by name.
    previews: RwSignal<HashMap<String, FileLoad>>,
    /// The latest outcome to tell the user: (success, message).
    notice: RwSignal<Option<(bool, String)>>,
    busy: RwSignal<bool>,
}

impl Files {
    pub fn new(session: Session) -> Self {
        Self {
            session,
            listed: RwSignal::new(Vec::new()),
            previews: RwSignal::new(HashMap::new()),
            notice: RwSignal::new(None),
            busy: RwSignal::new(false),
        }
    }

    /// Reads the data folder again (after a run, the code may have written files).
    pub fn refresh(self) {
        let Some(runtime) = self.session.runtime() else {
            return;
        };
        spawn_local(async move {
            if let Ok(files) = runtime.list_files().await {
                self.listed.set(files);
            }
        });
    }

    /// Loads every file of a picker or a drop.
    pub fn add(self, files: Vec<web_sys::File>) {
        self.busy.set(true);
        spawn_local(async move {
            for file in files {
                let name = file.name();
                if file.size() > MAX_FILE_BYTES {
                    self.notice.set(Some((
                        false,
                        format!(
                            "{name} is {}; files can be at most {}",
                            format_bytes(file.size() as u64),
                            format_bytes(MAX_FILE_BYTES as u64)
                        ),
                    )));
                    continue;
                }
                // The bytes stay outside the app's memory: the buffer moves to the worker.
                let bytes = match JsFuture::from(file.array_buffer()).await {
                    Ok(buffer) => buffer.unchecked_into::<js_sys::ArrayBuffer>(),
                    Err(_) => {
                        self.notice
                            .set(Some((false, format!("{name} could not be read"))));
                        continue;
                    }
                };
                match self.session.load_file(&name, bytes).await {
                    Ok(answer) => {
                        let notice = if answer.success {
                            (
                                true,
                                format!("{name} added ({})", format_bytes(file.size() as u64)),
                            )
                        } else {
                            (
                                false,
                                answer
                                    .error
                                    .clone()
                                    .unwrap_or_else(|| format!("{name} could not be loaded")),
                            )
                        };
                        self.notice.set(Some(notice));
                        self.previews.update(|previews| {
                            previews.insert(name.clone(), answer);
                        });
                    }
                    Err(error) => self.notice.set(Some((false, error.to_string()))),
                }
            }
            self.busy.set(false);
            self.refresh();
        });
    }

    fn delete(self, name: String) {
        let Some(runtime) = self.session.runtime() else {
            return;
        };
        spawn_local(async move {
            match runtime.delete_file(&name).await {
                Ok(answer) if answer.success => {
                    // Gone from the list at once: the refresh below may wait in the worker's
                    // queue behind background imports.
                    self.listed
                        .update(|files| files.retain(|file| file.name != name));
                    self.previews.update(|previews| {
                        previews.remove(&name);
                    });
                    self.notice.set(Some((true, format!("{name} deleted"))));
                }
                Ok(answer) => self
                    .notice
                    .set(Some((false, answer.error.unwrap_or_default()))),
                Err(error) => self.notice.set(Some((false, error.to_string()))),
            }
            self.refresh();
        });
    }

    fn download(self, name: String) {
        let Some(runtime) = self.session.runtime() else {
            return;
        };
        spawn_local(async move {
            match runtime.read_file(&name).await {
                Ok(bytes) => save_as(&name, &bytes),
                Err(error) => self.notice.set(Some((false, error.to_string()))),
            }
        });
    }
}

/// The code that reads a file, by its kind.
pub fn read_snippet(file: &DataFile) -> String {
    let path = &file.path;
    let stem = file
        .name
        .rsplit_once('.')
        .map_or(file.name.as_str(), |(stem, _)| stem);
    match file
        .name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .as_deref()
    {
        Some("csv") => format!("import pandas as pd\ndf = pd.read_csv('{path}')\ndf.head()"),
        Some("tsv") => {
            format!("import pandas as pd\ndf = pd.read_csv('{path}', sep='\\t')\ndf.head()")
        }
        Some("json") => {
            format!("import json\nwith open('{path}') as f:\n    data = json.load(f)\ndata")
        }
        Some("py") => format!("import {stem}"),
        _ => format!("with open('{path}') as f:\n    text = f.read()\nprint(text[:1000])"),
    }
}

#[component]
pub fn FilesPanel(
    files: Files,
    /// Puts code in the notebook (a new cell).
    on_insert: Callback<String>,
) -> impl IntoView {
    let picked = move |event: web_sys::Event| {
        let input = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(input) = input {
            if let Some(list) = input.files() {
                files.add(
                    (0..list.length())
                        .filter_map(|index| list.get(index))
                        .collect(),
                );
            }
            input.set_value("");
        }
    };
    view! {
        <section class="panel" aria-labelledby="files-title" data-testid="files-panel">
            <h2 id="files-title">"Files"</h2>
            <p class="hint">"Drop files anywhere on the page, or "</p>
            <label class="button secondary file-picker">
                "Choose files…"
                <input
                    type="file"
                    multiple
                    accept=".csv,.tsv,.json,.txt,.py"
                    data-testid="file-input"
                    on:change=picked
                />
            </label>
            <p class="hint">"They stay in this browser."</p>
            <Show when=move || files.busy.get()>
                <p class="hint" role="status">"Loading…"</p>
            </Show>
            {move || {
                files
                    .notice
                    .get()
                    .map(|(ok, text)| {
                        view! {
                            <p class=if ok { "notice ok" } else { "notice error" } role="status" data-testid="files-notice">
                                {text}
                            </p>
                        }
                    })
            }}
            <ul class="file-list">
                <For each=move || files.listed.get() key=|file| (file.name.clone(), file.bytes) let:file>
                    <FileItem file=file files=files on_insert=on_insert />
                </For>
            </ul>
        </section>
    }
}

#[component]
fn FileItem(file: DataFile, files: Files, on_insert: Callback<String>) -> impl IntoView {
    let name = file.name.clone();
    let snippet = read_snippet(&file);
    let preview = {
        let name = name.clone();
        move || files.previews.with(|previews| previews.get(&name).cloned())
    };
    let insert = move |_| {
        on_insert.run(snippet.clone());
    };
    let (delete_name, download_name) = (name.clone(), name.clone());
    view! {
        <li class="file" data-testid="file">
            <div class="file-head">
                <span class="file-name" data-testid="file-name">{name.clone()}</span>
                <span class="hint">{format_bytes(file.bytes)}</span>
            </div>
            <div class="file-actions">
                <button class="secondary small" data-testid="insert-read" on:click=insert>
                    "Insert code"
                </button>
                <button
                    class="secondary small"
                    data-testid="download-file"
                    aria-label=format!("Download {name}")
                    on:click=move |_| files.download(download_name.clone())
                >
                    "Download"
                </button>
                <button
                    class="secondary small"
                    data-testid="delete-file"
                    aria-label=format!("Delete {name}")
                    on:click=move |_| files.delete(delete_name.clone())
                >
                    "Delete"
                </button>
            </div>
            {move || preview().map(|answer| view! { <Preview answer=answer /> })}
        </li>
    }
}

/// Shape, columns with types, and the first rows of a CSV; or why it could not be read.
#[component]
fn Preview(answer: FileLoad) -> impl IntoView {
    if let Some(error) = answer.error {
        return view! { <p class="notice error" data-testid="file-error">{error}</p> }.into_any();
    }
    let (Some(shape), Some(columns)) = (answer.shape, answer.columns) else {
        return ().into_any();
    };
    let dtypes = answer.dtypes.unwrap_or_default();
    let sample = answer.sample.unwrap_or_default();
    let header = columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let dtype = dtypes.get(index).cloned().unwrap_or_default();
            view! {
                <th scope="col">
                    {column.clone()} <small>{dtype}</small>
                </th>
            }
        })
        .collect_view();
    let rows = sample
        .iter()
        .map(|record| {
            let cells = columns
                .iter()
                .map(|column| {
                    let text = match record.get(column) {
                        Some(Value::String(text)) => text.clone(),
                        Some(Value::Null) | None => "NaN".to_owned(),
                        Some(other) => other.to_string(),
                    };
                    view! { <td>{text}</td> }
                })
                .collect_view();
            view! { <tr>{cells}</tr> }
        })
        .collect_view();
    view! {
        <div class="preview" data-testid="file-preview">
            <p class="hint" data-testid="file-shape">
                {format!("{} rows × {} columns", shape.first().copied().unwrap_or(0), shape.get(1).copied().unwrap_or(0))}
            </p>
            <div class="table-scroll">
                <table>
                    <thead>
                        <tr>{header}</tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </div>
    }
    .into_any()
}

/// Offers text to the user as a download.
pub fn save_text_as(name: &str, text: &str, mime: &str) {
    let array = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    if let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&array, &options) {
        download(name, &blob);
    }
}

/// Offers bytes to the user as a download.
pub fn save_as(name: &str, bytes: &js_sys::ArrayBuffer) {
    let array = js_sys::Array::of1(bytes);
    if let Ok(blob) = web_sys::Blob::new_with_buffer_source_sequence(&array) {
        download(name, &blob);
    }
}

fn download(name: &str, blob: &web_sys::Blob) {
    let Ok(url) = web_sys::Url::create_object_url_with_blob(blob) else {
        return;
    };
    if let Some(anchor) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.create_element("a").ok())
        .and_then(|element| element.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        anchor.set_href(&url);
        anchor.set_download(name);
        anchor.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
