//! A folder on disk (browsers with the File System Access API; others show no button):
//! "Open folder" lists its `.ipynb` files as notebooks and shows all its files to Python at
//! [`pyodide_loader::FOLDER_DIR`], read-only and read in place from each `File` (nothing is
//! copied into the browser's storage). A notebook opened from the folder is one of this
//! browser's notebooks linked to its file ([`DiskLink`]): autosave writes it back, unless
//! the file changed on disk since it was read or written here, which is said and left to
//! the user (`Documents::disk_trouble`). Its code runs in its own folder, as in Jupyter.
//!
//! The folder's handle is kept in IndexedDB, so after a reload one click asks the browser
//! for access again (Chromium may grant it without asking). The folder is looked at again
//! every few seconds while the page is visible: new, changed and deleted files are noticed.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use notebook::text_hash;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{FileSystemDirectoryHandle, FileSystemFileHandle, FileSystemHandle};

use super::notebook::disk::{DiskTrouble, error_name, file_at, read_notebook};
use super::notebook::documents::Documents;
use super::notebook::store::DiskLink;
use super::session::Session;
use crate::format::format_bytes;
use crate::idb::{KeyValueStore, describe};

/// Where the folder's handle is kept (IndexedDB takes handles as they are).
const HANDLES: (&str, &str) = ("pyodide-workbench-folder", "handles");
const HANDLE_KEY: &str = "folder";
/// How often the open folder notebook's file is looked at while the page is visible…
const CHECK_EVERY: Duration = Duration::from_secs(3);
/// …and the whole folder (reading every file's time and size: a big folder costs), which
/// is also looked at whenever the page gets the focus back (from another program, say).
const LOOK_EVERY: Duration = Duration::from_secs(15);
/// At most this many files are shown (a home folder picked by mistake stays usable)…
const MAX_FILES: usize = 5_000;
/// …and at most this many entries (files and folders) are read.
const MAX_ENTRIES: usize = 20_000;
/// Folders skipped: hidden ones (`.git`, `.ipynb_checkpoints`) and these.
const SKIPPED: [&str; 3] = ["node_modules", "__pycache__", "site-packages"];
/// How many of the folder's data files the panel lists.
const LISTED: usize = 200;

#[wasm_bindgen]
extern "C" {
    /// A `FileSystemHandle` seen through its permission methods (web-sys has them only
    /// behind its unstable flag).
    type Permissions;

    #[wasm_bindgen(catch, method, js_name = queryPermission)]
    fn query_permission(
        this: &Permissions,
        descriptor: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(catch, method, js_name = requestPermission)]
    fn request_permission(
        this: &Permissions,
        descriptor: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// A file found in the folder.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: String,
    pub file: web_sys::File,
}

/// A file as two looks at the folder compare it: path, size, time.
type Seen = (String, f64, f64);

/// What access the page has to the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No folder opened (or this browser cannot open one).
    None,
    /// A folder opened in an earlier visit, waiting for the user's click to grant access.
    Remembered(String),
    /// Open: readable and writable.
    Open(String),
}

/// The folder; a cheap copyable handle.
#[derive(Debug, Clone, Copy)]
pub struct Folder {
    documents: Documents,
    session: Session,
    handle: StoredValue<Option<FileSystemDirectoryHandle>, LocalStorage>,
    pub access: RwSignal<Access>,
    /// The folder's files, notebooks included, in path order.
    pub found: RwSignal<Vec<Seen>>,
    files: StoredValue<Vec<Found>, LocalStorage>,
    /// What Python was last shown: each file's (path, size, time), and where code runs.
    shown: StoredValue<Option<(Vec<Seen>, Option<String>)>>,
    pub notice: RwSignal<Option<(bool, String)>>,
    /// More files than [`MAX_FILES`] were found (the rest are not shown).
    pub cut: RwSignal<bool>,
    looking: StoredValue<bool>,
}

/// Whether this browser can open a folder on disk.
pub fn supported() -> bool {
    web_sys::window().is_some_and(|window| {
        js_sys::Reflect::has(&window, &"showDirectoryPicker".into()).unwrap_or(false)
    })
}

impl Folder {
    pub fn new(documents: Documents, session: Session) -> Self {
        let folder = Self {
            documents,
            session,
            handle: StoredValue::new_local(None),
            access: RwSignal::new(Access::None),
            found: RwSignal::new(Vec::new()),
            files: StoredValue::new_local(Vec::new()),
            // A new worker shows no folder.
            shown: StoredValue::new(Some((Vec::new(), None))),
            notice: RwSignal::new(None),
            cut: RwSignal::new(false),
            looking: StoredValue::new(false),
        };
        if supported() {
            // After the notebook shows: start-up does not wait for another database.
            spawn_local(async move {
                documents.first_load().await;
                folder.remembered().await;
            });
            folder.look_regularly();
            // Code runs in the open notebook's own folder.
            Effect::new(move |_| {
                documents.state.meta.with(|meta| meta.disk.clone());
                folder.show_to_python(false);
            });
        }
        folder
    }

    /// The folder opened in an earlier visit: opened again if the browser still grants
    /// access, else offered (one click).
    async fn remembered(self) {
        let Ok(store) = KeyValueStore::open(HANDLES.0, HANDLES.1).await else {
            return;
        };
        let Some(handle) = store
            .get_value(HANDLE_KEY)
            .await
            .ok()
            .flatten()
            .and_then(|value| value.dyn_into::<FileSystemDirectoryHandle>().ok())
        else {
            return;
        };
        let name = handle.name();
        if permission(&handle, false).await.as_deref() == Ok("granted") {
            self.adopt(handle).await;
        } else {
            self.handle.set_value(Some(handle));
            self.access.set(Access::Remembered(name));
        }
    }

    /// "Open folder…": the browser's folder picker.
    pub fn pick(self) {
        spawn_local(async move {
            let picked = async {
                let window = web_sys::window().ok_or("no window")?;
                let picker = js_sys::Reflect::get(&window, &"showDirectoryPicker".into())
                    .map_err(describe)?
                    .dyn_into::<js_sys::Function>()
                    .map_err(|_| "this browser cannot open a folder on disk".to_owned())?;
                let options = js_sys::Object::new();
                let _ = js_sys::Reflect::set(&options, &"mode".into(), &"readwrite".into());
                let _ = js_sys::Reflect::set(&options, &"id".into(), &"workbench".into());
                let promise = picker
                    .call1(&window, &options)
                    .map_err(describe)?
                    .dyn_into::<js_sys::Promise>()
                    .map_err(describe)?;
                JsFuture::from(promise)
                    .await
                    .map_err(|error| {
                        if error_name(&error) == "AbortError" {
                            String::new()
                        } else {
                            describe(error)
                        }
                    })?
                    .dyn_into::<FileSystemDirectoryHandle>()
                    .map_err(|_| "the picker did not give a folder".to_owned())
            };
            match picked.await {
                Ok(handle) => {
                    if permission(&handle, true).await.as_deref() != Ok("granted") {
                        self.notice.set(Some((
                            false,
                            format!(
                                "Access to “{}” was not granted: its notebooks cannot be saved there",
                                handle.name()
                            ),
                        )));
                        return;
                    }
                    if let Ok(store) = KeyValueStore::open(HANDLES.0, HANDLES.1).await {
                        let _ = store.put_value(HANDLE_KEY, &handle);
                    }
                    self.adopt(handle).await;
                }
                Err(error) if error.is_empty() => {}
                Err(error) => self
                    .notice
                    .set(Some((false, format!("The folder was not opened: {error}")))),
            }
        });
    }

    /// "Reopen": asks the browser for access to the remembered folder again.
    pub fn reopen(self) {
        let Some(handle) = self.handle.get_value() else {
            return;
        };
        spawn_local(async move {
            match permission(&handle, true).await {
                Ok(state) if state == "granted" => self.adopt(handle).await,
                Ok(_) => self.notice.set(Some((
                    false,
                    format!("Access to “{}” was not granted", handle.name()),
                ))),
                Err(error) => self.notice.set(Some((
                    false,
                    format!(
                        "Access to “{}” could not be asked for: {error}",
                        handle.name()
                    ),
                ))),
            }
        });
    }

    /// "Close folder": Python no longer sees it; its notebooks stay in this browser.
    pub fn close(self) {
        self.handle.set_value(None);
        self.documents.folder.set_value(None);
        self.access.set(Access::None);
        self.found.set(Vec::new());
        self.files.set_value(Vec::new());
        self.notice.set(None);
        spawn_local(async move {
            if let Ok(store) = KeyValueStore::open(HANDLES.0, HANDLES.1).await {
                let _ = store.delete_all([HANDLE_KEY]);
            }
        });
        self.show_to_python(true);
    }

    async fn adopt(self, handle: FileSystemDirectoryHandle) {
        let name = handle.name();
        self.handle.set_value(Some(handle.clone()));
        self.documents.folder.set_value(Some(handle));
        self.access.set(Access::Open(name.clone()));
        self.notice.set(None);
        self.look().await;
        // A folder notebook waiting for access is written now.
        self.documents.folder_available(&name);
    }

    /// Python was restarted: the folder is shown to the new worker.
    pub fn restarted(self) {
        self.shown.set_value(Some((Vec::new(), None)));
        self.show_to_python(false);
    }

    fn look_regularly(self) {
        let since_look = StoredValue::new(Duration::ZERO);
        let tick = move || {
            let visible = web_sys::window()
                .and_then(|window| window.document())
                .is_some_and(|document| !document.hidden());
            if !visible || !matches!(self.access.get_untracked(), Access::Open(_)) {
                return;
            }
            since_look.update_value(|since| *since += CHECK_EVERY);
            if since_look.get_value() >= LOOK_EVERY {
                since_look.set_value(Duration::ZERO);
                spawn_local(self.look());
            } else {
                spawn_local(self.check_open_file());
            }
        };
        // Lives as long as the page (an interval is cleared only when asked).
        let _ = set_interval_with_handle(tick, CHECK_EVERY);
        let on_focus = Closure::<dyn Fn()>::new(move || {
            if matches!(self.access.get_untracked(), Access::Open(_)) {
                spawn_local(self.look());
            }
        });
        if let Some(window) = web_sys::window() {
            let _ =
                window.add_event_listener_with_callback("focus", on_focus.as_ref().unchecked_ref());
        }
        on_focus.forget();
    }

    /// Whether the open folder notebook's file changed or went on disk (its time and size
    /// only: cheap enough to do every few seconds).
    async fn check_open_file(self) {
        let (Some(root), Some(link)) = (
            self.handle.get_value(),
            self.documents
                .state
                .meta
                .with_untracked(|meta| meta.disk.clone()),
        ) else {
            return;
        };
        if !self.is_open(&link.folder) {
            return;
        }
        let writes = self.documents.disk_writes();
        let now = match file_at(&root, &link.path, false).await {
            Ok(handle) => match JsFuture::from(handle.get_file()).await {
                Ok(file) => {
                    let file: web_sys::File = file.unchecked_into();
                    Some((file.last_modified(), file.size()))
                }
                Err(_) => return,
            },
            Err(error) if error_name(&error) == "NotFoundError" => None,
            Err(_) => return,
        };
        if self.documents.disk_writes() == writes {
            self.compare_open_file(&link, now);
        }
    }

    /// Reads the folder's listing again; tells Python and the open notebook what changed.
    async fn look(self) {
        let Some(handle) = self.handle.get_value() else {
            return;
        };
        if self.looking.get_value() {
            return;
        }
        self.looking.set_value(true);
        let writes = self.documents.disk_writes();
        let walked = walk(&handle).await;
        self.looking.set_value(false);
        if !self
            .handle
            .with_value(|now| now.as_ref().is_some_and(|now| now == &handle))
        {
            return;
        }
        match walked {
            Ok((files, cut)) => {
                let found: Vec<_> = files.iter().map(describe_found).collect();
                if self.found.with_untracked(|old| old != &found) {
                    self.found.set(found);
                }
                self.cut.set(cut);
                self.files.set_value(files);
                self.show_to_python(false);
                // A file this page wrote during the look may have been read before it.
                if self.documents.disk_writes() == writes {
                    self.check_open_notebook();
                }
            }
            Err(error) => {
                // Access withdrawn, or the folder itself gone.
                self.notice.set(Some((
                    false,
                    format!("“{}” cannot be read any more: {error}", handle.name()),
                )));
                self.access.set(Access::Remembered(handle.name()));
                self.documents.folder.set_value(None);
            }
        }
    }

    /// Whether the open notebook's file changed or went on disk since it was read or
    /// written here.
    fn check_open_notebook(self) {
        let Some(link) = self
            .documents
            .state
            .meta
            .with_untracked(|meta| meta.disk.clone())
        else {
            return;
        };
        if !self.is_open(&link.folder) || self.documents.disk_busy() {
            return;
        }
        let now = self.files.with_value(|files| {
            files
                .iter()
                .find(|found| found.path == link.path)
                .map(|found| (found.file.last_modified(), found.file.size()))
        });
        self.compare_open_file(&link, now);
    }

    /// Says so if the open notebook's file is gone (`now` is `None`) or differs from what
    /// this page last read or wrote, unless this page is writing it.
    fn compare_open_file(self, link: &DiskLink, now: Option<(f64, f64)>) {
        let still_open = self
            .documents
            .state
            .meta
            .with_untracked(|meta| meta.disk.as_ref() == Some(link));
        if !still_open || self.documents.disk_busy() {
            return;
        }
        let trouble = match now {
            None => Some(DiskTrouble::Gone),
            Some((modified, size)) if modified != link.modified || size != link.size => {
                Some(DiskTrouble::Changed)
            }
            Some(_) => None,
        };
        if let Some(trouble) = trouble {
            self.documents.disk_trouble_found(trouble);
        }
    }

    fn is_open(self, name: &str) -> bool {
        matches!(self.access.get_untracked(), Access::Open(open) if open == name)
    }

    /// Shows the folder's files to Python, and runs code in the open notebook's folder (or
    /// the data folder), when either changed since Python was last told (or `always`).
    fn show_to_python(self, always: bool) {
        let Some(runtime) = self.session.runtime() else {
            return;
        };
        let open = match self.access.get_untracked() {
            Access::Open(name) => Some(name),
            _ => None,
        };
        let files: Vec<(String, web_sys::File)> = if open.is_some() {
            self.files.with_value(|files| {
                files
                    .iter()
                    .filter(|found| pyodide_loader::validate_data_path(&found.path).is_ok())
                    .map(|found| (found.path.clone(), found.file.clone()))
                    .collect()
            })
        } else {
            Vec::new()
        };
        let work_in = self.documents.state.meta.with_untracked(|meta| {
            meta.disk
                .as_ref()
                .filter(|link| open.as_ref() == Some(&link.folder))
                .map(|link| {
                    link.path
                        .rsplit_once('/')
                        .map_or(String::new(), |(dir, _)| dir.to_owned())
                })
        });
        // What the files were at the last look: `found` holds exactly that.
        let key = (
            if open.is_some() {
                self.found.get_untracked()
            } else {
                Vec::new()
            },
            work_in.clone(),
        );
        if !always && self.shown.with_value(|shown| shown.as_ref() == Some(&key)) {
            return;
        }
        self.shown.set_value(Some(key));
        spawn_local(async move {
            if let Err(error) = runtime.link_folder(&files, work_in.as_deref()).await {
                self.notice.set(Some((
                    false,
                    format!("Python cannot see the folder: {error}"),
                )));
            }
        });
    }

    /// Opens the folder's notebook at `path` (read from disk: the file is the truth).
    pub fn open_notebook(self, path: String) {
        let Some(handle) = self.handle.get_value() else {
            return;
        };
        spawn_local(async move {
            if let Err(error) = self.open_notebook_now(&handle, &path).await {
                self.documents
                    .notice
                    .set(Some((false, format!("{path} was not opened: {error}"))));
            }
        });
    }

    async fn open_notebook_now(
        self,
        handle: &FileSystemDirectoryHandle,
        path: &str,
    ) -> Result<(), String> {
        let (text, link) = read_notebook(handle, path).await?;
        let notebook = self.documents.parse_notebook(&text)?;
        let link = DiskLink {
            hash: text_hash(&notebook.to_ipynb()),
            ..link
        };
        self.documents.open_from_disk(notebook, link).await;
        Ok(())
    }
}

fn describe_found(found: &Found) -> Seen {
    (
        found.path.clone(),
        found.file.size(),
        found.file.last_modified(),
    )
}

/// `queryPermission`, or `requestPermission` when `ask` (which needs a click), for reading
/// and writing.
async fn permission(handle: &FileSystemDirectoryHandle, ask: bool) -> Result<String, String> {
    let descriptor = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&descriptor, &"mode".into(), &"readwrite".into());
    let handle: &Permissions = handle.unchecked_ref();
    let promise = if ask {
        handle.request_permission(&descriptor)
    } else {
        handle.query_permission(&descriptor)
    };
    // A browser without these methods grants what its picker gave.
    let Ok(promise) = promise else {
        return Ok("granted".to_owned());
    };
    JsFuture::from(promise)
        .await
        .map(|state| state.as_string().unwrap_or_default())
        .map_err(describe)
}

/// Every file in the folder, by path, in path order (hidden and tool folders skipped); and
/// whether more than [`MAX_FILES`] were there.
async fn walk(root: &FileSystemDirectoryHandle) -> Result<(Vec<Found>, bool), String> {
    let mut found = Vec::new();
    let mut folders = vec![(String::new(), root.clone())];
    let mut cut = false;
    let mut read = 0;
    while let Some((prefix, folder)) = folders.pop() {
        let entries = folder.values();
        loop {
            let next = entries.next().map_err(describe)?;
            let step = JsFuture::from(next).await.map_err(describe)?;
            let step: js_sys::IteratorNext = step.unchecked_into();
            if step.done() {
                break;
            }
            read += 1;
            if read > MAX_ENTRIES {
                cut = true;
                break;
            }
            let entry: FileSystemHandle = step.value().unchecked_into();
            let name = entry.name();
            if name.starts_with('.') {
                continue;
            }
            let path = format!("{prefix}{name}");
            if let Ok(sub) = entry.clone().dyn_into::<FileSystemDirectoryHandle>() {
                if !SKIPPED.contains(&name.as_str()) {
                    folders.push((format!("{path}/"), sub));
                }
                continue;
            }
            if found.len() >= MAX_FILES {
                cut = true;
                continue;
            }
            let file_handle: FileSystemFileHandle = entry.unchecked_into();
            // A file deleted while the folder is read is left out.
            if let Ok(file) = JsFuture::from(file_handle.get_file()).await {
                found.push(Found {
                    path,
                    file: file.unchecked_into(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((found, cut))
}

#[component]
pub fn FolderPanel(folder: Folder, on_insert: Callback<String>) -> impl IntoView {
    if !supported() {
        return ().into_any();
    }
    let documents = folder.documents;
    let open_path = move || {
        documents
            .state
            .meta
            .with(|meta| meta.disk.as_ref().map(|link| link.path.clone()))
    };
    let notebooks = move || {
        folder.found.with(|found| {
            found
                .iter()
                .filter(|(path, _, _)| path.to_ascii_lowercase().ends_with(".ipynb"))
                .map(|(path, _, _)| path.clone())
                .collect::<Vec<_>>()
        })
    };
    let data = move || {
        folder.found.with(|found| {
            found
                .iter()
                .filter(|(path, _, _)| !path.to_ascii_lowercase().ends_with(".ipynb"))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="panel folder-panel" aria-label="Folder on disk" data-testid="folder-panel">
            <h2>"Folder on disk"</h2>
            {move || match folder.access.get() {
                Access::None => view! {
                    <p class="hint">"Work on a folder of your computer: its notebooks save back to their .ipynb files, and Python reads its files where they are."</p>
                    <button class="small" data-testid="folder-open" on:click=move |_| folder.pick()>"Open folder…"</button>
                }.into_any(),
                Access::Remembered(name) => view! {
                    <p class="hint">{format!("“{name}” was open in your last visit: the browser needs your permission again.")}</p>
                    <button class="small" data-testid="folder-reopen" on:click=move |_| folder.reopen()>{format!("Reopen “{name}”")}</button>
                    " "
                    <button class="secondary small" data-testid="folder-forget" on:click=move |_| folder.close()>"Forget it"</button>
                }.into_any(),
                Access::Open(name) => view! {
                    <p data-testid="folder-name">
                        <strong>{name}</strong>
                        " "
                        <button class="secondary small" data-testid="folder-close" on:click=move |_| folder.close()>"Close folder"</button>
                    </p>
                    <h3>"Notebooks"</h3>
                    <ul class="notebook-list" data-testid="folder-notebooks">
                        <For each=notebooks key=|path| path.clone() let:path>
                            {
                                let shown = path.clone();
                                let opened = path.clone();
                                view! {
                                    <li class="notebook-entry" class:open=move || open_path().as_deref() == Some(shown.as_str())>
                                        <button
                                            class="link"
                                            data-testid="folder-notebook"
                                            on:click=move |_| folder.open_notebook(opened.clone())
                                        >
                                            <span class="notebook-title">{path}</span>
                                        </button>
                                    </li>
                                }
                            }
                        </For>
                    </ul>
                    <Show when=move || notebooks().is_empty()>
                        <p class="hint">"No .ipynb files here."</p>
                    </Show>
                    <h3>"Files"</h3>
                    <p class="hint">{format!("Python reads them in place, read-only, at {}; a notebook from this folder runs in its own folder.", pyodide_loader::FOLDER_DIR)}</p>
                    <ul class="folder-files" data-testid="folder-files">
                        {move || data().into_iter().take(LISTED).map(|(path, size, _)| {
                            let code = folder_snippet(&path, size);
                            view! {
                                <li>
                                    <span class="file-name">{path}</span>
                                    " "
                                    <span class="hint">{format_bytes(size as u64)}</span>
                                    " "
                                    <button class="secondary small" data-testid="folder-insert" on:click=move |_| on_insert.run(code.clone())>"Insert code"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                    {move || {
                        let count = data().len();
                        (count > LISTED).then(|| view! { <p class="hint">{format!("and {} more", count - LISTED)}</p> })
                    }}
                    <Show when=move || folder.cut.get()>
                        <p class="hint">{format!("The folder is large: only its first {MAX_FILES} files (of {MAX_ENTRIES} entries read) are shown.")}</p>
                    </Show>
                }.into_any(),
            }}
            {move || folder.notice.get().map(|(ok, text)| view! {
                <p class=if ok { "info" } else { "error" } role="status" data-testid="folder-notice">{text}</p>
            })}
        </section>
    }
    .into_any()
}

/// The code that reads a file of the folder (as the Files panel's, at its path there).
fn folder_snippet(path: &str, size: f64) -> String {
    let file = pyodide_loader::DataFile {
        name: path.to_owned(),
        path: format!("{}/{path}", pyodide_loader::FOLDER_DIR),
        bytes: size as u64,
        kind: pyodide_loader::FileKind::of(path),
    };
    super::files::read_snippet(&file)
}
