//! The Files panel: files and folders added by picker or drag-and-drop are kept in this
//! browser (the worker keeps each `File` in place and copies it into the browser's own
//! storage in the background) and read by Python where they lie; nothing is uploaded. Each
//! file shows its size and kind at once, a preview read from its start (CSV) or footer
//! (Parquet), and the code to read it; files can be renamed, downloaded (from disk, not
//! through memory) and deleted.
//!
//! This module owns the page's side of kept files: which are still being copied in (with
//! their `File`, so a restarted worker gets them again), and what the worker said of them.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use pyodide_loader::{
    DataFile, DeleteResult, FileKind, FileLoad, FileNews, FileSource, LoaderError,
    validate_data_path,
};
use serde_json::Value;
use wasm_bindgen::JsCast;

use super::session::Session;
use crate::format::format_bytes;

/// Files this large get a snippet that reads them in parts (a whole read would need several
/// times the file's size in Python's memory, which has at most 4 GB).
pub const LARGE_FILE_BYTES: u64 = 100 * 1000 * 1000;

/// The panel's state; a cheap copyable handle, so the page's drop handler can add files.
#[derive(Debug, Clone, Copy)]
pub struct Files {
    session: Session,
    listed: RwSignal<Vec<DataFile>>,
    /// Previews, by name: of files added in this visit, and of files whose preview was asked.
    previews: RwSignal<HashMap<String, FileLoad>>,
    /// Files whose bytes are still being copied into the browser's storage: (done, total).
    keeping: RwSignal<HashMap<String, (u64, u64)>>,
    /// The `File`s being copied in, to hand over again if Python is restarted meanwhile.
    incoming: StoredValue<HashMap<String, web_sys::Blob>>,
    /// The latest outcome to tell the user: (success, message).
    notice: RwSignal<Option<(bool, String)>>,
    /// How many additions are waiting for Python's answer.
    adding: RwSignal<usize>,
}

impl Files {
    pub fn new(session: Session) -> Self {
        Self {
            session,
            listed: RwSignal::new(Vec::new()),
            previews: RwSignal::new(HashMap::new()),
            keeping: RwSignal::new(HashMap::new()),
            incoming: StoredValue::new(HashMap::new()),
            notice: RwSignal::new(None),
            adding: RwSignal::new(0),
        }
    }

    /// Keeps the files of a restored backup: under their own names, replacing what has
    /// them if `replace`, else beside it under the next free name.
    pub fn restore(self, files: Vec<(String, web_sys::Blob)>, replace: bool) {
        let mut taken: Vec<String> = self
            .listed
            .with_untracked(|listed| listed.iter().map(|file| file.name.clone()).collect());
        for (path, blob) in files {
            let name = if replace {
                path
            } else {
                free_name(&path, &taken)
            };
            taken.push(name.clone());
            self.keep(name, blob, false);
        }
    }

    /// Whether no file is kept (tracked).
    pub fn is_empty(self) -> bool {
        self.listed.with(Vec::is_empty)
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

    /// What the worker says about files being copied into the browser's storage.
    pub fn hear(self, news: FileNews) {
        match news {
            FileNews::Keeping { name, done, total } => self.keeping.update(|keeping| {
                keeping.insert(name, (done, total));
            }),
            FileNews::Kept { name } => {
                self.keeping.update(|keeping| {
                    keeping.remove(&name);
                });
                self.incoming.update_value(|incoming| {
                    incoming.remove(&name);
                });
            }
            FileNews::NotKept { name, text } => {
                self.keeping.update(|keeping| {
                    keeping.remove(&name);
                });
                self.incoming.update_value(|incoming| {
                    incoming.remove(&name);
                });
                self.listed
                    .update(|files| files.retain(|file| file.name != name));
                self.previews.update(|previews| {
                    previews.remove(&name);
                });
                self.notice.set(Some((false, text)));
            }
            FileNews::Unavailable { text } => self.notice.set(Some((false, text))),
            FileNews::Changed => self.refresh(),
        }
    }

    /// Python was restarted: files still being copied in are handed over again (the new
    /// worker dropped the copies cut short).
    pub fn restarted(self) {
        let incoming = self.incoming.get_value();
        for (name, blob) in incoming {
            self.keep(name, blob, false);
        }
        self.refresh();
    }

    /// Adds the files of a picker or a drop: each with its path inside the data folder (a
    /// dropped folder's sub-folders kept). A name already kept is kept as well, under the
    /// next free name (`sales (2).csv`): adding never replaces a file.
    pub fn add(self, files: Vec<(String, web_sys::File)>) {
        let mut taken: Vec<String> = self
            .listed
            .with_untracked(|listed| listed.iter().map(|file| file.name.clone()).collect());
        let mut renamed = Vec::new();
        for (path, file) in files {
            if let Err(reason) = validate_data_path(&path) {
                self.notice
                    .set(Some((false, format!("Not added: {reason}"))));
                continue;
            }
            let name = free_name(&path, &taken);
            if name != path {
                renamed.push(format!("{path} as {name}"));
            }
            taken.push(name.clone());
            self.keep(name, file.into(), true);
        }
        if !renamed.is_empty() {
            self.notice.set(Some((
                true,
                format!("Already kept, so added beside it: {}", renamed.join(", ")),
            )));
        }
    }

    fn keep(self, name: String, blob: web_sys::Blob, announce: bool) {
        let size = blob.size() as u64;
        self.adding.update(|adding| *adding += 1);
        if size > 0 {
            self.keeping.update(|keeping| {
                keeping.insert(name.clone(), (0, size));
            });
            self.incoming.update_value(|incoming| {
                incoming.insert(name.clone(), blob.clone());
            });
        }
        // Listed at once: the worker's answer may wait behind a run.
        self.listed.update(|listed| {
            if !listed.iter().any(|file| file.name == name) {
                listed.push(DataFile {
                    name: name.clone(),
                    path: format!("{}/{name}", pyodide_loader::DATA_DIR),
                    bytes: size,
                    kind: FileKind::of(&name),
                });
                listed.sort_by_key(|file| file.name.to_lowercase());
            }
        });
        spawn_local(async move {
            let answer = self.session.load_file(&name, FileSource::Kept(blob)).await;
            self.adding.update(|adding| *adding -= 1);
            match answer {
                Ok(answer) if answer.success => {
                    if announce {
                        self.notice.set(Some((
                            true,
                            format!("{name} added ({})", format_bytes(size)),
                        )));
                    }
                    self.previews.update(|previews| {
                        previews.insert(name.clone(), answer);
                    });
                }
                Ok(answer) => {
                    // Described with an error (a broken CSV): the file is there all the same.
                    if answer.path.is_none() {
                        self.forget(&name);
                    }
                    self.notice.set(Some((
                        false,
                        answer
                            .error
                            .clone()
                            .unwrap_or_else(|| format!("{name} could not be added")),
                    )));
                    self.previews.update(|previews| {
                        previews.insert(name.clone(), answer);
                    });
                }
                Err(error) => {
                    self.forget(&name);
                    self.notice
                        .set(Some((false, format!("{name} was not added: {error}"))));
                }
            }
            self.refresh();
        });
    }

    fn forget(self, name: &str) {
        self.keeping.update(|keeping| {
            keeping.remove(name);
        });
        self.incoming.update_value(|incoming| {
            incoming.remove(name);
        });
        self.listed
            .update(|files| files.retain(|file| file.name != name));
    }

    fn delete(self, name: String) {
        let Some(runtime) = self.session.runtime() else {
            return;
        };
        spawn_local(async move {
            let outcome = runtime.delete_file(&name).await;
            self.conclude(outcome, || {
                // Gone from the list at once: the refresh may wait in the worker's queue
                // behind background imports.
                self.forget(&name);
                self.previews.update(|previews| {
                    previews.remove(&name);
                });
                format!("{name} deleted")
            });
        });
    }

    /// Says what came of a deletion or a renaming (`done` makes the page match and says
    /// what happened, when it worked), and lists the files again.
    fn conclude(self, outcome: Result<DeleteResult, LoaderError>, done: impl FnOnce() -> String) {
        let notice = match outcome {
            Ok(answer) if answer.success => (true, done()),
            Ok(answer) => (false, answer.error.unwrap_or_default()),
            Err(error) => (false, error.to_string()),
        };
        self.notice.set(Some(notice));
        self.refresh();
    }

    fn rename(self, name: String) {
        let Some(runtime) = self.session.runtime() else {
            return;
        };
        let Some(new_name) = web_sys::window()
            .and_then(|window| {
                window
                    .prompt_with_message_and_default(&format!("Rename {name} to:"), &name)
                    .ok()
            })
            .flatten()
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty() && *text != name)
        else {
            return;
        };
        if let Err(reason) = validate_data_path(&new_name) {
            self.notice
                .set(Some((false, format!("Not renamed: {reason}"))));
            return;
        }
        spawn_local(async move {
            let outcome = runtime.rename_file(&name, &new_name).await;
            self.conclude(outcome, || {
                self.previews.update(|previews| {
                    if let Some(mut preview) = previews.remove(&name) {
                        preview.filename.clone_from(&new_name);
                        previews.insert(new_name.clone(), preview);
                    }
                });
                format!("{name} renamed to {new_name}")
            });
        });
    }

    fn preview(self, name: String) {
        let Some(runtime) = self.session.runtime() else {
            return;
        };
        spawn_local(async move {
            match runtime.describe_file(&name).await {
                Ok(answer) => self.previews.update(|previews| {
                    previews.insert(name, answer);
                }),
                Err(error) => self.notice.set(Some((false, error.to_string()))),
            }
        });
    }

    fn download(self, name: String) {
        let Some(runtime) = self.session.runtime() else {
            return;
        };
        spawn_local(async move {
            match runtime.read_file(&name).await {
                Ok(blob) => download(base_name(&name), &blob),
                Err(error) => self.notice.set(Some((false, error.to_string()))),
            }
        });
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// `path`, or the first of `name (2).ext`, `name (3).ext`, … that is not taken.
pub fn free_name(path: &str, taken: &[String]) -> String {
    if !taken.iter().any(|name| name == path) {
        return path.to_owned();
    }
    let (folder, name) = match path.rsplit_once('/') {
        Some((folder, name)) => (format!("{folder}/"), name),
        None => (String::new(), path),
    };
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
        _ => (name, String::new()),
    };
    (2..)
        .map(|number| format!("{folder}{stem} ({number}){extension}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| path.to_owned())
}

/// The code that reads a file, by its kind and size: a large one in parts, with a comment
/// saying why.
pub fn read_snippet(file: &DataFile) -> String {
    let path = python_string(&file.path);
    let name = base_name(&file.name);
    let large = file.bytes >= LARGE_FILE_BYTES;
    let size = format_bytes(file.bytes);
    match file.kind {
        FileKind::Csv | FileKind::Tsv => {
            let separator = if file.kind == FileKind::Tsv {
                ", sep='\\t'"
            } else {
                ""
            };
            if large {
                format!(
                    "import pandas as pd\n\
                     # {name} is {size}: read whole, it would need several times that in memory\n\
                     # (Python in the browser has at most 4 GB), so read it a million rows at a time,\n\
                     # and only the columns you need (usecols=['a', 'b']).\n\
                     rows = 0\n\
                     for chunk in pd.read_csv({path}{separator}, chunksize=1_000_000):\n    \
                     rows += len(chunk)  # aggregate each chunk here, e.g. chunk.groupby('a').size()\n\
                     rows"
                )
            } else {
                format!("import pandas as pd\ndf = pd.read_csv({path}{separator})\ndf.head()")
            }
        }
        FileKind::Parquet => {
            if large {
                format!(
                    "import pyarrow.parquet as pq\n\
                     # {name} is {size}: read it a batch at a time, and only the columns you need\n\
                     # (columns=['a', 'b']): Python in the browser has at most 4 GB.\n\
                     parquet = pq.ParquetFile({path})\n\
                     print(parquet.schema_arrow)\n\
                     rows = 0\n\
                     for batch in parquet.iter_batches(batch_size=1_000_000):\n    \
                     rows += batch.num_rows  # aggregate each batch here, e.g. batch.to_pandas()\n\
                     rows"
                )
            } else {
                format!("import pandas as pd\ndf = pd.read_parquet({path})\ndf.head()")
            }
        }
        FileKind::Json => {
            format!("import json\nwith open({path}) as f:\n    data = json.load(f)\ndata")
        }
        FileKind::Python if !file.name.contains('/') => {
            let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
            format!("import {stem}")
        }
        _ if large => format!(
            "# {name} is {size}: read only what you need, e.g. its first megabyte.\n\
             with open({path}, 'rb') as f:\n    head = f.read(1_000_000)\nprint(head[:1000])"
        ),
        _ => format!("with open({path}) as f:\n    text = f.read()\nprint(text[:1000])"),
    }
}

/// A Python string literal holding `text`.
fn python_string(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

/// The files of a picker (`webkitRelativePath` keeps a picked folder's sub-folders).
pub fn picked_files(list: &web_sys::FileList) -> Vec<(String, web_sys::File)> {
    (0..list.length())
        .filter_map(|index| list.get(index))
        .map(|file| {
            let relative = js_sys::Reflect::get(&file, &"webkitRelativePath".into())
                .ok()
                .and_then(|path| path.as_string())
                .filter(|path| !path.is_empty());
            (relative.unwrap_or_else(|| file.name()), file)
        })
        .collect()
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
                files.add(picked_files(&list));
            }
            input.set_value("");
        }
    };
    view! {
        <section class="panel" aria-labelledby="files-title" data-testid="files-panel">
            <h2 id="files-title">"Files"</h2>
            <p class="hint">"Drop files or folders anywhere on the page, or "</p>
            <div class="file-pickers">
                <label class="button secondary file-picker">
                    "Choose files…"
                    <input type="file" multiple data-testid="file-input" on:change=picked />
                </label>
                <label class="button secondary file-picker">
                    "Choose a folder…"
                    <input
                        type="file"
                        prop:webkitdirectory=true
                        data-testid="folder-input"
                        on:change=picked
                    />
                </label>
            </div>
            <p class="hint">
                "They stay in this browser, on its disk: Python reads them where they are, whatever their size."
            </p>
            <Show when=move || { files.adding.get() > 0 }>
                <p class="hint" role="status">"Adding…"</p>
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
    let keeping = {
        let name = name.clone();
        move || files.keeping.with(|keeping| keeping.get(&name).copied())
    };
    let insert = move |_| {
        on_insert.run(snippet.clone());
    };
    let describable = matches!(file.kind, FileKind::Csv | FileKind::Tsv | FileKind::Parquet);
    let (delete_name, download_name, rename_name, preview_name) =
        (name.clone(), name.clone(), name.clone(), name.clone());
    let has_preview = preview.clone();
    view! {
        <li class="file" data-testid="file">
            <div class="file-head">
                <span class="file-name" data-testid="file-name">{name.clone()}</span>
                <span class="hint" data-testid="file-size">
                    {format!("{} · {}", file.kind.label(), format_bytes(file.bytes))}
                </span>
            </div>
            {move || {
                keeping()
                    .map(|(done, total)| {
                        view! {
                            <p class="hint keeping" data-testid="file-keeping">
                                <progress max=total.max(1).to_string() value=done.to_string()></progress>
                                {format!(
                                    " Keeping in this browser: {} of {}",
                                    format_bytes(done),
                                    format_bytes(total),
                                )}
                            </p>
                        }
                    })
            }}
            <div class="file-actions">
                <button class="secondary small" data-testid="insert-read" on:click=insert>
                    "Insert code"
                </button>
                <Show when=move || describable && has_preview().is_none()>
                    {
                        let preview_name = preview_name.clone();
                        view! {
                            <button
                                class="secondary small"
                                data-testid="preview-file"
                                on:click=move |_| files.preview(preview_name.clone())
                            >
                                "Preview"
                            </button>
                        }
                    }
                </Show>
                <button
                    class="secondary small"
                    data-testid="rename-file"
                    aria-label=format!("Rename {name}")
                    on:click=move |_| files.rename(rename_name.clone())
                >
                    "Rename"
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

/// Shape, columns with types, and the first rows of a CSV or Parquet file; or why it could
/// not be read.
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
    let rows_text = crate::format::thousands(shape.first().copied().unwrap_or(0));
    let about = if answer.shape_estimated { "≈ " } else { "" };
    view! {
        <div class="preview" data-testid="file-preview">
            <p class="hint" data-testid="file-shape">
                {format!("{about}{rows_text} rows × {} columns", shape.get(1).copied().unwrap_or(0))}
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

/// Offers a `Blob` to the user as a download: a kept file streams from disk.
pub fn download(name: &str, blob: &web_sys::Blob) {
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
    // The download has started reading by the next task; the URL can go after that.
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(window) = web_sys::window() {
        let _ = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 60_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_already_kept_gets_the_next_free_number() {
        let taken = vec!["sales.csv".to_owned(), "sales (2).csv".to_owned()];
        assert_eq!(free_name("new.csv", &taken), "new.csv");
        assert_eq!(free_name("sales.csv", &taken), "sales (3).csv");
        let taken = vec!["trips/jan.csv".to_owned(), "README".to_owned()];
        assert_eq!(free_name("trips/jan.csv", &taken), "trips/jan (2).csv");
        assert_eq!(free_name("README", &taken), "README (2)");
    }

    fn file(name: &str, bytes: u64) -> DataFile {
        DataFile {
            name: name.to_owned(),
            path: format!("/home/pyodide/data/{name}"),
            bytes,
            kind: FileKind::of(name),
        }
    }

    #[test]
    fn a_large_file_is_read_in_parts_and_the_snippet_says_why() {
        let small = read_snippet(&file("sales.csv", 1_000));
        assert!(
            small.contains("pd.read_csv('/home/pyodide/data/sales.csv')"),
            "{small}"
        );
        let large = read_snippet(&file("trips.csv", 2_000_000_000));
        assert!(large.contains("chunksize=1_000_000"), "{large}");
        assert!(large.contains("at most 4 GB"), "{large}");
        let parquet = read_snippet(&file("trips.parquet", 2_000_000_000));
        assert!(parquet.contains("iter_batches"), "{parquet}");
        let tsv = read_snippet(&file("log.tsv", 10));
        assert!(tsv.contains("sep='\\t'"), "{tsv}");
        let quoted = read_snippet(&file("it's.csv", 10));
        assert!(
            quoted.contains("'/home/pyodide/data/it\\'s.csv'"),
            "{quoted}"
        );
        assert_eq!(read_snippet(&file("helpers.py", 10)), "import helpers");
    }
}
