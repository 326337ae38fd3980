//! Backup and restore of everything this browser keeps: one `.zip` with every notebook
//! (`notebooks/<title>.ipynb`), the data files (`files/<path>`, stored as they are) and the
//! installed packages (`packages.txt`).
//!
//! Nothing big passes through the page's memory. The download is a `Blob` whose parts are
//! the zip's headers and, between them, each kept file's own `File` (handed over from the
//! data folder): only each file's CRC-32 is computed, reading it as a stream. A restore reads
//! the archive's end and directory (`notebook::archive`), checks every name and size before
//! anything is written, and hands each stored file on as a slice of the user's `File`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use notebook::archive::{
    ArchiveWriter, ArchivedEntry, Crc32, END_SEARCH_BYTES, Method, check_entries, data_start,
    find_end, read_directory,
};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::files::{self, Files};
use super::notebook::documents::Documents;
use super::saved_state;
use super::session::Session;
use crate::format;

/// Files over this size are left out when the user asks to leave large files out.
pub const LARGE_FILE_BYTES: f64 = 100.0 * 1024.0 * 1024.0;
/// The most a compressed file in a backup may unpack to (it is unpacked in memory; the
/// workbench's own backups store files uncompressed).
const MAX_INFLATED_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// How often the progress of reading files is told.
const READ_BYTES: f64 = 8.0 * 1024.0 * 1024.0;

const NOTEBOOKS: &str = "notebooks/";
const FILES: &str = "files/";
const PACKAGES: &str = "packages.txt";
/// The notebooks' titles, by file name in the zip (JSON).
const TITLES: &str = "notebooks.json";

/// The Backup panel's state; a cheap copyable handle.
#[derive(Debug, Clone, Copy)]
pub struct Backup {
    documents: Documents,
    files: Files,
    session: Session,
    /// What a backup or restore under way is doing.
    pub progress: RwSignal<Option<String>>,
    /// The outcome of the last one: (success, message).
    pub notice: RwSignal<Option<(bool, String)>>,
}

impl Backup {
    pub fn new(documents: Documents, files: Files, session: Session) -> Self {
        Self {
            documents,
            files,
            session,
            progress: RwSignal::new(None),
            notice: RwSignal::new(None),
        }
    }

    /// Makes the backup and offers it as a download.
    pub fn download(self, leave_out_large: bool) {
        if self.progress.get_untracked().is_some() {
            return;
        }
        self.notice.set(None);
        spawn_local(async move {
            let outcome = self.make(leave_out_large).await;
            self.progress.set(None);
            match outcome {
                Ok((blob, made)) => {
                    let day = String::from(js_sys::Date::new_0().to_iso_string());
                    files::download(&format!("workbench-backup-{}.zip", &day[..10]), &blob);
                    self.notice.set(Some((true, made)));
                }
                Err(error) => self.notice.set(Some((false, error))),
            }
        });
    }

    /// The backup as a `Blob`, and what it holds in words.
    async fn make(self, leave_out_large: bool) -> Result<(web_sys::Blob, String), String> {
        self.progress
            .set(Some("Collecting the notebooks…".to_owned()));
        let parts = js_sys::Array::new();
        let mut writer = ArchiveWriter::new();
        let now = js_sys::Date::now();
        let mut names: Vec<String> = Vec::new();
        let mut titles = serde_json::Map::new();
        let notebooks = self.documents.all_for_backup().await;
        for (title, modified, ipynb) in &notebooks {
            let name = files::free_name(
                &format!("{NOTEBOOKS}{}.ipynb", super::notebook::file_stem(title)),
                &names,
            );
            // A file name cannot hold every title ("Sales: Q1", two of the same).
            titles.insert(name.clone(), serde_json::Value::String(title.clone()));
            let bytes = ipynb.as_bytes();
            let header = writer.entry(&name, bytes.len() as u64, crc32fast_hash(bytes), *modified);
            parts.push(&js_sys::Uint8Array::from(header.as_slice()));
            parts.push(&js_sys::Uint8Array::from(bytes));
            names.push(name);
        }
        let mut kept_files = 0;
        let mut left_out = Vec::new();
        if let Some(runtime) = self.session.runtime() {
            let listed = runtime
                .list_files()
                .await
                .map_err(|error| format!("the files could not be listed: {error}"))?;
            let total: u64 = listed.iter().map(|file| file.bytes).sum();
            let mut done = 0u64;
            for file in listed {
                if leave_out_large && file.bytes as f64 > LARGE_FILE_BYTES {
                    left_out.push(file.name);
                    continue;
                }
                let blob = runtime
                    .read_file(&file.name)
                    .await
                    .map_err(|error| format!("{} could not be read: {error}", file.name))?;
                let crc = crc_of(&blob, |read| {
                    self.progress.set(Some(format!(
                        "Reading the files: {} of {}…",
                        format::format_bytes(done + read),
                        format::format_bytes(total)
                    )));
                })
                .await
                .map_err(|error| format!("{} could not be read: {error}", file.name))?;
                done += file.bytes;
                let modified = blob
                    .dyn_ref::<web_sys::File>()
                    .map_or(now, web_sys::File::last_modified);
                let header = writer.entry(
                    &format!("{FILES}{}", file.name),
                    blob.size() as u64,
                    crc,
                    modified,
                );
                parts.push(&js_sys::Uint8Array::from(header.as_slice()));
                // The kept file itself: the browser reads it from disk when the download does.
                parts.push(&blob);
                kept_files += 1;
            }
        }
        let titles = serde_json::Value::Object(titles).to_string();
        let header = writer.entry(
            TITLES,
            titles.len() as u64,
            crc32fast_hash(titles.as_bytes()),
            now,
        );
        parts.push(&js_sys::Uint8Array::from(header.as_slice()));
        parts.push(&js_sys::Uint8Array::from(titles.as_bytes()));
        let packages = saved_state::load_installed().await;
        if !packages.is_empty() {
            let list = packages.join("\n") + "\n";
            let header = writer.entry(
                PACKAGES,
                list.len() as u64,
                crc32fast_hash(list.as_bytes()),
                now,
            );
            parts.push(&js_sys::Uint8Array::from(header.as_slice()));
            parts.push(&js_sys::Uint8Array::from(list.as_bytes()));
        }
        parts.push(&js_sys::Uint8Array::from(writer.finish().as_slice()));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("application/zip");
        let blob = web_sys::Blob::new_with_blob_sequence_and_options(&parts, &options)
            .map_err(|_| "the backup could not be made".to_owned())?;
        let mut made = format!(
            "Backup made: {}, {}, {} ({}).",
            count(notebooks.len(), "notebook"),
            count(kept_files, "file"),
            count(packages.len(), "package"),
            format::format_bytes(blob.size() as u64)
        );
        if !left_out.is_empty() {
            made.push_str(&format!(" Left out as large: {}.", left_out.join(", ")));
        }
        Ok((blob, made))
    }

    /// Restores a backup the user picked.
    pub fn restore(self, file: web_sys::File) {
        if self.progress.get_untracked().is_some() {
            return;
        }
        self.notice.set(None);
        spawn_local(async move {
            self.progress.set(Some(format!("Reading {}…", file.name())));
            let outcome = self.restore_from(&file).await;
            self.progress.set(None);
            self.notice.set(Some(match outcome {
                Ok(done) => (true, done),
                Err(error) => (false, format!("{}: {error}", file.name())),
            }));
        });
    }

    async fn restore_from(self, file: &web_sys::File) -> Result<String, String> {
        let entries = read_entries(file).await?;
        // Sorted out, and every size checked, before anything is written.
        let mut notebooks = Vec::new();
        let mut data = Vec::new();
        let mut packages = None;
        let mut titles_entry = None;
        let mut ignored = 0;
        let mut declared = 0u64;
        for entry in entries {
            if entry.is_folder() {
                continue;
            }
            declared = declared.saturating_add(entry.size);
            if let Some(name) = entry
                .name
                .strip_prefix(NOTEBOOKS)
                .and_then(|name| name.strip_suffix(".ipynb"))
                .filter(|name| !name.contains('/') && !name.is_empty())
            {
                if entry.size > notebook::MAX_NOTEBOOK_BYTES as u64 {
                    return Err(format!(
                        "{}: {}",
                        entry.name,
                        notebook::ImportError::TooLarge {
                            bytes: entry.size as usize
                        }
                    ));
                }
                notebooks.push((name.to_owned(), entry));
            } else if let Some(path) = entry.name.strip_prefix(FILES) {
                pyodide_loader::validate_data_path(path)
                    .map_err(|reason| format!("{}: {reason}", entry.name))?;
                if entry.method != Method::Stored && entry.size > MAX_INFLATED_FILE_BYTES {
                    return Err(format!(
                        "{} would unpack to {}; compressed files in a backup are read up to {} (the workbench's own backups store files uncompressed)",
                        entry.name,
                        format::format_bytes(entry.size),
                        format::format_bytes(MAX_INFLATED_FILE_BYTES)
                    ));
                }
                data.push((path.to_owned(), entry));
            } else if entry.name == PACKAGES && entry.size < 1_000_000 {
                packages = Some(entry);
            } else if entry.name == TITLES && entry.size < 10_000_000 {
                titles_entry = Some(entry);
            } else {
                ignored += 1;
            }
        }
        if let Some(available) = super::storage::available().await
            && declared as f64 > available
        {
            return Err(format!(
                "the backup would unpack to {}, but this browser has {} available; nothing was restored",
                format::format_bytes(declared),
                format::format_bytes(available as u64)
            ));
        }
        // Every entry that will be used is read or located, and its method known, before
        // anything is written.
        if let Some(entry) = [&titles_entry, &packages]
            .into_iter()
            .flatten()
            .chain(notebooks.iter().map(|(_, entry)| entry))
            .chain(data.iter().map(|(_, entry)| entry))
            .find(|entry| matches!(entry.method, Method::Other(_)))
        {
            return Err(format!(
                "{} is compressed in a way the workbench cannot read; nothing was restored",
                entry.name
            ));
        }
        if let Some(entry) = titles_entry {
            let kept: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&entry_bytes(file, &entry).await?).unwrap_or_default();
            for (title, entry) in &mut notebooks {
                if let Some(kept) = kept.get(&entry.name).and_then(serde_json::Value::as_str) {
                    let kept = kept.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !kept.is_empty() {
                        *title = kept.chars().take(notebook::MAX_TITLE_CHARS).collect();
                    }
                }
            }
        }
        let mut opened = Vec::new();
        for (index, (title, entry)) in notebooks.iter().enumerate() {
            self.progress.set(Some(format!(
                "Reading the notebooks: {} of {}…",
                index + 1,
                notebooks.len()
            )));
            let bytes = entry_bytes(file, entry).await?;
            let text =
                String::from_utf8(bytes).map_err(|_| format!("{} is not text", entry.name))?;
            let notebook = self
                .documents
                .parse_notebook(&text)
                .map_err(|error| format!("{}: {error}", entry.name))?;
            opened.push((title.clone(), notebook));
        }
        let mut restored_files = Vec::new();
        for (path, entry) in &data {
            let start = entry_data_start(file, entry).await?;
            let blob = if entry.method == Method::Stored {
                // A slice of the user's file: nothing is read into the page.
                file.slice_with_f64_and_f64(start as f64, (start + entry.compressed) as f64)
                    .map_err(|_| format!("{} could not be read", entry.name))?
            } else {
                let bytes = entry_bytes(file, entry).await?;
                web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(
                    &js_sys::Uint8Array::from(bytes.as_slice()),
                ))
                .map_err(|_| format!("{} could not be read", entry.name))?
            };
            restored_files.push((path.clone(), blob));
        }
        let package_names: Vec<String> = match &packages {
            Some(entry) => String::from_utf8(entry_bytes(file, entry).await?)
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|name| !name.is_empty() && !name.starts_with('#'))
                .map(str::to_owned)
                .collect(),
            None => Vec::new(),
        };

        // What would replace something already here: asked once.
        let titles: Vec<String> = self
            .documents
            .entries
            .with_untracked(|entries| entries.iter().map(|entry| entry.title.clone()).collect());
        let kept_files: Vec<String> = match self.session.runtime() {
            Some(runtime) => runtime
                .list_files()
                .await
                .map(|listed| listed.into_iter().map(|file| file.name).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let clashes: Vec<String> = notebooks
            .iter()
            .filter(|(title, _)| titles.contains(title))
            .map(|(title, _)| format!("the notebook “{title}”"))
            .chain(
                data.iter()
                    .filter(|(path, _)| kept_files.contains(path))
                    .map(|(path, _)| format!("the file {path}")),
            )
            .collect();
        let replace = !clashes.is_empty()
            && super::confirm(&format!(
                "The backup has {} with names already used here: {}. Replace them? (Cancel keeps both: the restored ones get new names.)",
                if clashes.len() == 1 {
                    "one item".to_owned()
                } else {
                    format!("{} items", clashes.len())
                },
                clashes
                    .iter()
                    .take(8)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if clashes.len() > 8 { ", …" } else { "" }
            ));

        let restored_notebooks = self.documents.restore_notebooks(opened, replace).await?;

        let file_count = restored_files.len();
        self.files.restore(restored_files, replace);

        let package_count = package_names.len();
        if package_count > 0 {
            saved_state::remember_all_installed(package_names.clone()).await;
            let session = self.session;
            spawn_local(async move {
                for name in package_names {
                    let _ = session.reinstall(&name).await;
                }
            });
        }
        let mut done = format!(
            "Restored {} and {}{}.",
            count(restored_notebooks, "notebook"),
            count(file_count, "file"),
            if package_count > 0 {
                format!("; installing {}", count(package_count, "package"))
            } else {
                String::new()
            }
        );
        if ignored > 0 {
            done.push_str(&format!(
                " {ignored} entries that are not part of a workbench backup were left out."
            ));
        }
        Ok(done)
    }
}

/// "1 file", "3 files".
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(bytes);
    crc.finalize()
}

/// A slice of a `Blob`, read.
async fn read_slice(blob: &web_sys::Blob, start: f64, end: f64) -> Result<Vec<u8>, String> {
    let slice = blob
        .slice_with_f64_and_f64(start, end)
        .map_err(|_| "it could not be read".to_owned())?;
    let buffer = JsFuture::from(slice.array_buffer())
        .await
        .map_err(|_| "it could not be read".to_owned())?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The CRC-32 of a whole `Blob`, read as a stream into one reused 1 MiB buffer (a "BYOB"
/// reader; the browser's own chunks where it has none): the page's memory stays flat however
/// big the file is. `progress` hears the bytes read.
async fn crc_of(blob: &web_sys::Blob, progress: impl Fn(u64)) -> Result<u32, String> {
    let unreadable = |_| "it could not be read".to_owned();
    let field = |value: &JsValue, name: &str| js_sys::Reflect::get(value, &name.into());
    let stream = blob.stream();
    let get_reader = field(&stream, "getReader")
        .map_err(unreadable)?
        .unchecked_into::<js_sys::Function>();
    let byob = js_sys::Object::new();
    js_sys::Reflect::set(&byob, &"mode".into(), &"byob".into()).map_err(unreadable)?;
    let (reader, mut view) = match get_reader.call1(&stream, &byob) {
        Ok(reader) => (reader, Some(js_sys::Uint8Array::new_with_length(1 << 20))),
        Err(_) => (get_reader.call0(&stream).map_err(unreadable)?, None),
    };
    let read = field(&reader, "read")
        .map_err(unreadable)?
        .unchecked_into::<js_sys::Function>();
    let mut crc = Crc32::new();
    let mut buffer = Vec::new();
    let (mut total, mut told) = (0u64, 0u64);
    loop {
        let asked = match &view {
            Some(view) => read.call1(&reader, view),
            None => read.call0(&reader),
        }
        .map_err(unreadable)?
        .unchecked_into::<js_sys::Promise>();
        let next = JsFuture::from(asked).await.map_err(unreadable)?;
        if field(&next, "done").map_err(unreadable)?.is_truthy() {
            break;
        }
        let chunk: js_sys::Uint8Array = field(&next, "value").map_err(unreadable)?.unchecked_into();
        buffer.resize(chunk.length() as usize, 0);
        chunk.copy_to(&mut buffer);
        crc.update(&buffer);
        if view.is_some() {
            // The buffer came back (moved, not copied): the next read fills it again.
            view = Some(js_sys::Uint8Array::new(&chunk.buffer()));
        }
        total += buffer.len() as u64;
        if total - told >= READ_BYTES as u64 {
            told = total;
            progress(total);
        }
    }
    Ok(crc.finalize())
}

/// The archive's entries, checked.
async fn read_entries(file: &web_sys::File) -> Result<Vec<ArchivedEntry>, String> {
    let len = file.size();
    let tail_start = (len - END_SEARCH_BYTES as f64).max(0.0);
    let tail = read_slice(file, tail_start, len).await?;
    let end = find_end(&tail, tail_start as u64, len as u64).map_err(|error| error.to_string())?;
    let directory_start = end.directory_offset as f64;
    let directory_end = directory_start + end.directory_size as f64;
    let directory = if directory_start >= tail_start {
        let from = (directory_start - tail_start) as usize;
        tail[from..from + end.directory_size as usize].to_vec()
    } else {
        read_slice(file, directory_start, directory_end).await?
    };
    let entries = read_directory(&directory, &end).map_err(|error| error.to_string())?;
    check_entries(&entries, &end).map_err(|error| error.to_string())?;
    Ok(entries)
}

async fn entry_data_start(file: &web_sys::File, entry: &ArchivedEntry) -> Result<u64, String> {
    let header = read_slice(
        file,
        entry.header_offset as f64,
        entry.header_offset as f64 + 30.0,
    )
    .await?;
    data_start(&header, entry).map_err(|error| error.to_string())
}

/// An entry's data, read and unpacked (only notebooks, the package list and small
/// compressed files are read this way).
async fn entry_bytes(file: &web_sys::File, entry: &ArchivedEntry) -> Result<Vec<u8>, String> {
    let start = entry_data_start(file, entry).await?;
    let raw = read_slice(file, start as f64, (start + entry.compressed) as f64).await?;
    let bytes = match entry.method {
        Method::Stored => raw,
        Method::Deflated => {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(raw.as_slice())
                .take(entry.size + 1)
                .read_to_end(&mut out)
                .map_err(|_| format!("{} does not unpack", entry.name))?;
            out
        }
        Method::Other(method) => {
            return Err(format!(
                "{} is compressed in a way the workbench cannot read (method {method})",
                entry.name
            ));
        }
    };
    if bytes.len() as u64 != entry.size || crc32fast_hash(&bytes) != entry.crc32 {
        return Err(format!("{} is damaged (its check sum differs)", entry.name));
    }
    Ok(bytes)
}

/// The Backup panel.
#[component]
pub fn BackupPanel(backup: Backup) -> impl IntoView {
    let leave_out_large = RwSignal::new(false);
    let picker = NodeRef::<leptos::html::Input>::new();
    let picked = move |event: web_sys::Event| {
        let input = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(input) = input {
            if let Some(file) = input.files().and_then(|list| list.get(0)) {
                backup.restore(file);
            }
            input.set_value("");
        }
    };
    let busy = move || backup.progress.get().is_some();
    view! {
        <section class="panel" aria-labelledby="backup-title" data-testid="backup-panel">
            <h2 id="backup-title">"Backup"</h2>
            <p class="hint">"One .zip of every notebook, your files and the installed packages."</p>
            <div class="panel-actions">
                <button class="secondary small" data-testid="backup-download" disabled=busy
                    on:click=move |_| backup.download(leave_out_large.get_untracked())>
                    "Download everything"
                </button>
                <button class="secondary small" data-testid="backup-restore" disabled=busy
                    on:click=move |_| if let Some(input) = picker.get() { input.click() }>
                    "Restore…"
                </button>
            </div>
            <label class="hint">
                <input type="checkbox" data-testid="backup-leave-out-large"
                    prop:checked=move || leave_out_large.get()
                    on:change=move |event| leave_out_large.set(event_target_checked(&event)) />
                " Leave out files over 100 MB"
            </label>
            <input type="file" accept=".zip,application/zip" hidden node_ref=picker
                data-testid="backup-input" on:change=picked />
            {move || backup.progress.get().map(|text| view! {
                <p class="hint" role="status" data-testid="backup-progress">{text}</p>
            })}
            {move || backup.notice.get().map(|(ok, text)| view! {
                <p class=if ok { "notice ok" } else { "notice error" } role="status" data-testid="backup-notice">{text}</p>
            })}
        </section>
    }
}
