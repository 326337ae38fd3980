//! The notebooks kept in this browser: which one is open, the side panel that lists them
//! (new, open a `.ipynb`, rename, duplicate, delete with undo), the autosave, and what happens
//! when another tab saved the same notebook.
//!
//! Every change is saved [`SAVE_AFTER`] after the last one, and when the page goes away the
//! open notebook is also journalled in localStorage, which takes it at once: a reload a
//! moment after the last keystroke loses nothing.

use std::time::Duration;

use futures_channel::oneshot;
use leptos::prelude::*;
use leptos::task::spawn_local;
use notebook::{CellKind, Notebook, SeededIds};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::super::{editor, history};
use super::disk::{self, DiskTrouble};
use super::revisions::{Reason, Revision, Revisions, Size};
use super::share;
use super::state::{DocMeta, NotebookState};
use super::store::{self, DiskLink, Document, Entry, Saved, Store};

/// How long after the last change it is saved.
const SAVE_AFTER: Duration = Duration::from_millis(300);
/// While changes go on, a save still happens this often.
const SAVE_AT_LEAST_EVERY: Duration = Duration::from_secs(2);
/// While a notebook is edited, a revision is kept this often.
const REVISION_EVERY: Duration = Duration::from_secs(5 * 60);

/// The notebooks and the open one; a cheap copyable handle.
#[derive(Debug, Clone, Copy)]
pub struct Documents {
    store: StoredValue<Option<Store>, LocalStorage>,
    pub entries: RwSignal<Vec<Entry>>,
    pub state: NotebookState,
    /// Another tab saved the open notebook after this tab loaded it.
    pub conflict: RwSignal<bool>,
    /// What to tell the user about the last action: (success, message).
    pub notice: RwSignal<Option<(bool, String)>>,
    /// The notebook deleted last, until its undo expires.
    pub deleted: RwSignal<Option<Document>>,
    save_scheduled: StoredValue<bool>,
    /// When the document last changed, and when its first unsaved change was (`Date.now()`).
    last_change_at: StoredValue<f64>,
    first_unsaved_at: StoredValue<f64>,
    /// The change count last saved; a save is due while it differs.
    saved_change: StoredValue<u64>,
    ids: StoredValue<SeededIds>,
    /// Whether the first load (`start`) has shown a notebook: until then nothing else may
    /// open one, or the load would replace it.
    pub loaded: RwSignal<bool>,
    /// Who waits for the first load; `None` once it is over.
    load_waiters: StoredValue<Option<Vec<oneshot::Sender<()>>>, LocalStorage>,
    /// The open notebook came from a share link and is not kept in this browser yet: it
    /// is, at its first change or when the user keeps a copy.
    pub shared: RwSignal<bool>,
    revisions: StoredValue<Option<Revisions>, LocalStorage>,
    /// The open notebook's size as last saved or opened, to notice a large deletion.
    saved_size: StoredValue<Size>,
    /// When the open notebook's newest revision was kept (Unix milliseconds).
    revision_at: StoredValue<f64>,
    /// Bumped whenever a revision is kept or restored (the Versions box follows it).
    pub revisions_changed: RwSignal<u64>,
    /// The folder on disk that is open (`folder.rs`), where folder notebooks are written.
    pub folder: StoredValue<Option<web_sys::FileSystemDirectoryHandle>, LocalStorage>,
    /// Why the open folder notebook's changes did not reach its file, until the user
    /// chooses what to do (saves go on in this browser meanwhile).
    pub disk_trouble: RwSignal<Option<DiskTrouble>>,
    /// A folder notebook's file is being written.
    disk_writing: StoredValue<bool>,
    /// How many writes of the open notebook's file have started.
    disk_write_count: StoredValue<u64>,
}

impl Documents {
    pub fn new(state: NotebookState) -> Self {
        Self {
            store: StoredValue::new_local(None),
            entries: RwSignal::new(Vec::new()),
            state,
            conflict: RwSignal::new(false),
            notice: RwSignal::new(None),
            deleted: RwSignal::new(None),
            save_scheduled: StoredValue::new(false),
            last_change_at: StoredValue::new(0.0),
            first_unsaved_at: StoredValue::new(0.0),
            saved_change: StoredValue::new(0),
            ids: StoredValue::new(SeededIds::new(
                (js_sys::Math::random() * 4_294_967_295.0) as u64 ^ js_sys::Date::now() as u64,
            )),
            loaded: RwSignal::new(false),
            load_waiters: StoredValue::new_local(Some(Vec::new())),
            shared: RwSignal::new(false),
            revisions: StoredValue::new_local(None),
            saved_size: StoredValue::new(Size::default()),
            revision_at: StoredValue::new(0.0),
            revisions_changed: RwSignal::new(0),
            folder: StoredValue::new_local(None),
            disk_trouble: RwSignal::new(None),
            disk_writing: StoredValue::new(false),
            disk_write_count: StoredValue::new(0),
        }
    }

    /// Resolves once the first load has shown a notebook (at once after it).
    pub async fn first_load(self) {
        let wait = self
            .load_waiters
            .try_update_value(|waiters| {
                waiters.as_mut().map(|waiters| {
                    let (done, wait) = oneshot::channel();
                    waiters.push(done);
                    wait
                })
            })
            .flatten();
        if let Some(wait) = wait {
            let _ = wait.await;
        }
    }

    /// Opens the store and the notebook open last; with none kept, `migrate` makes the first
    /// one (from what the single editor of earlier versions kept). [`Documents::loaded`]
    /// says when the notebook is there.
    pub fn start(self, migrate: impl AsyncFnOnce() -> Notebook + 'static) {
        spawn_local(async move {
            let store = match Store::open().await {
                Ok(store) => Some(store),
                Err(error) => {
                    self.notice.set(Some((
                        false,
                        format!("notebooks cannot be kept in this browser: {error}"),
                    )));
                    None
                }
            };
            self.store.set_value(store.clone());
            if store.is_some() {
                self.revisions.set_value(Revisions::open().await.ok());
            }
            let journalled = store::take_journal();
            let mut opened = None;
            if let Some(store) = &store {
                if let Some(document) = journalled {
                    // Kept only if it is newer than what IndexedDB has.
                    let stored = store.entry(&document.entry.id).await;
                    if stored.is_none_or(|stored| stored.revision < document.entry.revision) {
                        let _ = store.save(&document);
                    }
                }
                let entries = store.entries().await;
                let wanted = store::current_id()
                    .filter(|id| entries.iter().any(|entry| &entry.id == id))
                    .or_else(|| entries.first().map(|entry| entry.id.clone()));
                if let Some(id) = wanted {
                    opened = store
                        .load(&id)
                        .await
                        .and_then(|document| self.parse(document));
                }
                self.entries.set(entries);
            }
            // A share link in the address opens its notebook instead (kept only once
            // changed); a damaged one says why, and the usual notebook opens.
            if let Some(payload) = share::payload_in_address()
                && let Err(error) = self.open_shared(&payload)
            {
                self.notice.set(Some((false, error)));
                share::clear_address();
            }
            match opened {
                _ if self.shared.get_untracked() => {}
                Some((notebook, meta)) => self.show(notebook, meta),
                None => {
                    let notebook = migrate().await;
                    let meta = self.fresh_meta(&notebook, "Untitled");
                    self.show(notebook, meta);
                    // A new notebook is saved at once, so it is in the list before anything
                    // else may open another.
                    self.saved_change.set_value(u64::MAX);
                    self.save().await;
                }
            }
            self.listen();
            self.watch_changes();
            self.watch_address();
            self.loaded.set(true);
            let waiters = self
                .load_waiters
                .try_update_value(Option::take)
                .flatten()
                .unwrap_or_default();
            for waiter in waiters {
                let _ = waiter.send(());
            }
        });
    }

    fn parse(self, document: Document) -> Option<(Notebook, DocMeta)> {
        let notebook = self
            .ids
            .try_update_value(|ids| Notebook::from_ipynb(&document.ipynb, ids).ok())
            .flatten()?;
        let Entry {
            id,
            title,
            modified,
            revision,
            disk,
        } = document.entry;
        Some((
            notebook,
            DocMeta {
                id,
                title,
                modified,
                revision,
                disk,
            },
        ))
    }

    fn fresh_meta(self, notebook: &Notebook, fallback: &str) -> DocMeta {
        let title = notebook
            .title_from_cells()
            .unwrap_or_else(|| self.unused_title(fallback));
        DocMeta {
            id: new_id(),
            title,
            modified: js_sys::Date::now(),
            revision: 0,
            disk: None,
        }
    }

    /// `base`, or `base 2`, `base 3`… if a notebook already has that title.
    fn unused_title(self, base: &str) -> String {
        let taken = |title: &str| {
            self.entries
                .with_untracked(|entries| entries.iter().any(|entry| entry.title == title))
        };
        if !taken(base) {
            return base.to_owned();
        }
        (2..)
            .map(|n| format!("{base} {n}"))
            .find(|title| !taken(title))
            .unwrap_or_default()
    }

    fn show(self, notebook: Notebook, meta: DocMeta) {
        store::set_current_id(&meta.id);
        if self.shared.get_untracked() {
            // The shared notebook is left unkept; a reload must not bring it back.
            share::clear_address();
            self.shared.set(false);
        }
        self.conflict.set(false);
        self.disk_trouble.set(None);
        self.saved_size.set_value(Size::of(&notebook));
        let id = meta.id.clone();
        self.state.replace(notebook, meta);
        self.state.keep_shell();
        self.saved_change
            .set_value(self.state.changed.get_untracked());
        // Until the newest revision's time is read, a save may keep one (a duplicate of the
        // newest is not kept).
        self.revision_at.set_value(0.0);
        if let Some(revisions) = self.revisions.get_value() {
            spawn_local(async move {
                let at = revisions.newest_at(&id).await.unwrap_or(0.0);
                if self.state.meta.with_untracked(|meta| meta.id == id) {
                    self.revision_at.set_value(at);
                }
            });
        }
    }

    /// Keeps the open notebook as it is now as its newest revision (unless its cells are
    /// the newest revision's); resolves once it is kept.
    pub fn keep_revision(self, reason: Reason) -> impl Future<Output = ()> + 'static {
        // Taken now: what follows (a run, a restore) changes the notebook at once.
        let taken = (!self.shared.get_untracked())
            .then(|| self.revisions.get_value())
            .flatten()
            .map(|revisions| {
                let id = self.state.meta.with_untracked(|meta| meta.id.clone());
                let (fingerprint, ipynb) = self
                    .state
                    .with(|model| (model.fingerprint(), model.to_ipynb()));
                (revisions, id, fingerprint, ipynb)
            });
        async move {
            let Some((revisions, id, fingerprint, ipynb)) = taken else {
                return;
            };
            match revisions.keep(&id, fingerprint, &ipynb, reason).await {
                Ok(true) => {
                    if self.state.meta.with_untracked(|meta| meta.id == id) {
                        self.revision_at.set_value(js_sys::Date::now());
                    }
                    self.revisions_changed.update(|count| *count += 1);
                }
                Ok(false) => {}
                Err(error) => leptos::logging::warn!("a revision could not be kept: {error}"),
            }
        }
    }

    /// The open notebook's revisions, newest first.
    pub async fn revision_list(self) -> Vec<Revision> {
        let Some(revisions) = self.revisions.get_value() else {
            return Vec::new();
        };
        if self.shared.get_untracked() {
            return Vec::new();
        }
        let id = self.state.meta.with_untracked(|meta| meta.id.clone());
        revisions.revisions(&id).await
    }

    /// Puts an earlier revision back in the open notebook; what it replaces is kept as a
    /// revision first, so the restore can be undone by restoring that one.
    pub async fn restore(self, revision: String) -> Result<(), String> {
        let revisions = self
            .revisions
            .get_value()
            .ok_or("versions cannot be kept in this browser")?;
        let id = self.state.meta.with_untracked(|meta| meta.id.clone());
        let text = revisions
            .text(&id, &revision)
            .await
            .ok_or_else(|| format!("there is no version {revision} of this notebook"))?;
        let notebook = self
            .ids
            .try_update_value(|ids| Notebook::from_ipynb(&text, ids))
            .expect("the id source is there")
            .map_err(|error| format!("that version cannot be opened: {error}"))?;
        if self.state.meta.with_untracked(|meta| meta.id != id) {
            return Err("another notebook was opened meanwhile".to_owned());
        }
        self.keep_revision(Reason::BeforeRestoring).await;
        if self.state.meta.with_untracked(|meta| meta.id != id) {
            return Err("another notebook was opened meanwhile".to_owned());
        }
        let meta = self.state.meta.get_untracked();
        self.saved_size.set_value(Size::of(&notebook));
        self.state.replace(notebook, meta);
        self.state.keep_shell();
        self.keep_revision(Reason::Restored).await;
        // Saved as any change is.
        self.state.changed.update(|count| *count += 1);
        Ok(())
    }

    /// Every notebook kept in this browser for a backup: (title, last change, `.ipynb`),
    /// the open one as it is now.
    pub async fn all_for_backup(self) -> Vec<(String, f64, String)> {
        let Some(store) = self.store.get_value() else {
            return Vec::new();
        };
        let open = self.state.meta.get_untracked();
        let mut kept = Vec::new();
        for entry in store.entries().await {
            if entry.id == open.id && !self.shared.get_untracked() {
                kept.push((
                    open.title.clone(),
                    open.modified,
                    self.state.with(Notebook::to_ipynb),
                ));
            } else if let Some(document) = store.load(&entry.id).await {
                kept.push((entry.title, entry.modified, document.ipynb));
            }
        }
        kept
    }

    /// `.ipynb` text read as a notebook, or why not.
    pub fn parse_notebook(self, text: &str) -> Result<Notebook, String> {
        self.ids
            .try_update_value(|ids| Notebook::from_ipynb(text, ids))
            .expect("the id source is there")
            .map_err(|error| error.to_string())
    }

    /// Keeps restored notebooks: one whose title a kept notebook has replaces it if
    /// `replace` (the replaced one is kept as a version), else is kept beside it under a
    /// free title. Answers how many were kept.
    pub async fn restore_notebooks(
        self,
        notebooks: Vec<(String, Notebook)>,
        replace: bool,
    ) -> Result<usize, String> {
        let store = self
            .store
            .get_value()
            .ok_or("notebooks cannot be kept in this browser")?;
        let open_id = self.state.meta.with_untracked(|meta| meta.id.clone());
        let mut reopen = false;
        let count = notebooks.len();
        for (title, notebook) in notebooks {
            let existing = self.entries.with_untracked(|entries| {
                entries.iter().find(|entry| entry.title == title).cloned()
            });
            let entry = match existing {
                Some(existing) if replace => {
                    if existing.id == open_id {
                        self.keep_revision(Reason::BeforeRestoring).await;
                        reopen = true;
                    } else if let (Some(revisions), Some(previous)) =
                        (self.revisions.get_value(), store.load(&existing.id).await)
                        && let Ok(model) = self.parse_notebook(&previous.ipynb)
                    {
                        let _ = revisions
                            .keep(
                                &existing.id,
                                model.fingerprint(),
                                &previous.ipynb,
                                Reason::BeforeRestoring,
                            )
                            .await;
                    }
                    Entry {
                        revision: existing.revision + 1,
                        modified: js_sys::Date::now(),
                        ..existing
                    }
                }
                _ => Entry {
                    id: new_id(),
                    title: self.unused_title(&title),
                    modified: js_sys::Date::now(),
                    revision: 1,
                    disk: None,
                },
            };
            let document = Document {
                ipynb: notebook.to_ipynb(),
                entry,
            };
            store.save(&document)?;
            self.upsert_entry(document.entry.clone());
            announce(&Saved {
                id: document.entry.id,
                revision: document.entry.revision,
            });
        }
        if reopen {
            // Nothing unsaved may overwrite what was restored.
            self.saved_change
                .set_value(self.state.changed.get_untracked());
            self.open_stored_now(open_id).await?;
        }
        Ok(count)
    }

    /// The deleted notebook `id` can no longer be brought back: its revisions go too.
    pub fn forget_deleted(self, id: String) {
        if self.deleted.with_untracked(|deleted| {
            deleted
                .as_ref()
                .is_some_and(|document| document.entry.id == id)
        }) {
            self.deleted.set(None);
        }
        let kept = self
            .entries
            .with_untracked(|entries| entries.iter().any(|entry| entry.id == id));
        if let (false, Some(revisions)) = (kept, self.revisions.get_value()) {
            spawn_local(async move { revisions.forget(&id).await });
        }
    }

    /// Opens the notebook a share link's payload carries, not kept in this browser until
    /// it changes or the user keeps a copy (the open one is saved first). Says why not.
    pub fn open_shared(self, payload: &str) -> Result<(), String> {
        let (notebook, title) = self
            .ids
            .try_update_value(|ids| Notebook::from_shared(payload, ids))
            .expect("the id source is there")
            .map_err(|error| error.to_string())?;
        if self.state.changed.get_untracked() != self.saved_change.get_value() {
            self.save_now();
        }
        let mut meta = self.fresh_meta(&notebook, "Shared notebook");
        if let Some(title) = title {
            meta.title = title;
        }
        self.conflict.set(false);
        self.state.replace(notebook, meta);
        self.shared.set(true);
        self.saved_change
            .set_value(self.state.changed.get_untracked());
        Ok(())
    }

    /// Keeps the shared notebook that is open as a new notebook in this browser.
    pub fn keep_shared(self) {
        if self.shared.get_untracked() {
            self.saved_change.set_value(u64::MAX);
            self.save_now();
        }
    }

    /// A share link opened in this tab after it loaded (the address's `#` part changed).
    fn watch_address(self) {
        let on_hashchange = Closure::<dyn Fn()>::new(move || {
            if let Some(payload) = share::payload_in_address()
                && let Err(error) = self.open_shared(&payload)
            {
                self.notice.set(Some((false, error)));
                share::clear_address();
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window.add_event_listener_with_callback(
                "hashchange",
                on_hashchange.as_ref().unchecked_ref(),
            );
        }
        on_hashchange.forget();
    }

    /// Saves whenever the document changed, [`SAVE_AFTER`] later.
    fn watch_changes(self) {
        Effect::new(move |_| {
            let change = self.state.changed.get();
            self.last_change_at.set_value(js_sys::Date::now());
            if change != self.saved_change.get_value() && !self.save_scheduled.get_value() {
                self.save_scheduled.set_value(true);
                self.first_unsaved_at.set_value(js_sys::Date::now());
                self.save_when_quiet();
            }
        });
        let on_pagehide = Closure::<dyn Fn()>::new(move || {
            if self.state.changed.get_untracked() != self.saved_change.get_value() {
                // The save that did not happen: one revision on from what is stored.
                let mut document = self.document();
                document.entry.revision += 1;
                document.entry.modified = js_sys::Date::now();
                store::journal(&document);
            }
        });
        if let Some(window) = web_sys::window() {
            let _ = window
                .add_event_listener_with_callback("pagehide", on_pagehide.as_ref().unchecked_ref());
        }
        on_pagehide.forget();
    }

    /// Saves once typing has paused for [`SAVE_AFTER`] — writing a big notebook takes a few
    /// milliseconds, which is not spent between two keystrokes — or at the latest
    /// [`SAVE_AT_LEAST_EVERY`] after the first unsaved change.
    fn save_when_quiet(self) {
        set_timeout(
            move || {
                let now = js_sys::Date::now();
                let quiet =
                    now - self.last_change_at.get_value() >= SAVE_AFTER.as_millis() as f64 * 0.8;
                let overdue = now - self.first_unsaved_at.get_value()
                    >= SAVE_AT_LEAST_EVERY.as_millis() as f64;
                if quiet || overdue {
                    self.save_scheduled.set_value(false);
                    // Another notebook opened meanwhile saved this one as it left, and the
                    // one open now has not changed: nothing to save (a deleted notebook
                    // must not come back, a shared one must not be kept unchanged).
                    if self.state.changed.get_untracked() != self.saved_change.get_value() {
                        self.save_now();
                    }
                } else {
                    self.save_when_quiet();
                }
            },
            SAVE_AFTER,
        );
    }

    /// The open notebook as it is now.
    pub fn document(self) -> Document {
        let meta = self.state.meta.get_untracked();
        Document {
            entry: Entry {
                id: meta.id,
                title: meta.title,
                modified: meta.modified,
                revision: meta.revision,
                disk: meta.disk,
            },
            ipynb: self.state.with(Notebook::to_ipynb),
        }
    }

    /// Saves the open notebook, unless another tab saved it since this one loaded it.
    pub fn save_now(self) {
        spawn_local(self.save());
    }

    /// Saves the open notebook as it is now (taken at the call); resolves once the save is
    /// under way.
    fn save(self) -> impl Future<Output = ()> + 'static {
        // Taken now, not when the future runs: opening another notebook right after (a
        // click in the list, `notebook.open` called in a loop) must not lose this one.
        let taken = self
            .store
            .get_value()
            .filter(|_| !self.conflict.get_untracked())
            .map(|store| {
                let change = self.state.changed.get_untracked();
                let mut document = self.document();
                if change != self.saved_change.get_value() {
                    document.entry.modified = js_sys::Date::now();
                }
                (store, change, document, self.shared.get_untracked())
            });
        async move {
            let Some((store, change, mut document, shared)) = taken else {
                return;
            };
            let open = |id: &str| self.state.meta.with_untracked(|meta| meta.id == id);
            let stored = store.entry(&document.entry.id).await;
            if stored.is_none() && document.entry.revision > 0 && !open(&document.entry.id) {
                // Saved before, gone from the store, and no longer open: it was deleted.
                return;
            }
            if stored
                .as_ref()
                .is_some_and(|stored| stored.revision > document.entry.revision)
            {
                if open(&document.entry.id) {
                    self.conflict.set(true);
                }
                return;
            }
            if !shared && open(&document.entry.id) {
                self.keep_revisions_on_save(&store, &document).await;
            }
            if let Some(link) = document.entry.disk.take() {
                let link = self
                    .write_to_disk(&document.entry.id, link, &document.ipynb)
                    .await;
                // No await from here until the link is in the meta: the folder's look
                // compares the file with it.
                self.disk_writing.set_value(false);
                document.entry.disk = Some(link);
            }
            document.entry.revision += 1;
            if let Err(error) = store.save(&document) {
                self.notice.set(Some((
                    false,
                    format!("the notebook could not be saved: {error}"),
                )));
                return;
            }
            if open(&document.entry.id) {
                store::clear_journal();
                if shared && self.shared.get_untracked() {
                    // Kept: one of this browser's notebooks now; the link has done its work.
                    self.shared.set(false);
                    store::set_current_id(&document.entry.id);
                    self.state.keep_shell();
                    share::clear_address();
                    self.notice.set(Some((
                        true,
                        format!("“{}” is kept in this browser", document.entry.title),
                    )));
                }
                self.saved_change.set_value(change);
                self.state.meta.update(|meta| {
                    meta.revision = document.entry.revision;
                    meta.modified = document.entry.modified;
                    meta.disk.clone_from(&document.entry.disk);
                });
            }
            self.upsert_entry(document.entry.clone());
            announce(&Saved {
                id: document.entry.id,
                revision: document.entry.revision,
            });
        }
    }

    /// Writes a folder notebook's text to its file, unless it is what the file holds, the
    /// file changed on disk meanwhile, or the user has not chosen yet what to do about an
    /// earlier trouble; answers the link as it is now.
    async fn write_to_disk(self, id: &str, link: DiskLink, text: &str) -> DiskLink {
        let open = self.state.meta.with_untracked(|meta| meta.id == id);
        if notebook::text_hash(text) == link.hash
            || (open && self.disk_trouble.get_untracked().is_some())
        {
            return link;
        }
        let Some(root) = self
            .folder
            .get_value()
            .filter(|root| root.name() == link.folder)
        else {
            if open {
                self.disk_trouble.set(Some(DiskTrouble::NoAccess(format!(
                    "the folder “{}” is not open",
                    link.folder
                ))));
            }
            return link;
        };
        if open {
            self.disk_writing.set_value(true);
            self.disk_write_count.update_value(|count| *count += 1);
        }
        match disk::write_notebook(&root, &link, text, false).await {
            Ok(written) => written,
            Err(trouble) => {
                if open {
                    self.disk_trouble.set(Some(trouble));
                }
                link
            }
        }
    }

    /// Whether the open notebook's file is being written (its time and size are about to
    /// change).
    pub fn disk_busy(self) -> bool {
        self.disk_writing.get_value()
    }

    /// How many writes of the open notebook's file have started: a look at the folder that
    /// spans one may have read the file before it.
    pub fn disk_writes(self) -> u64 {
        self.disk_write_count.get_value()
    }

    /// The folder saw the open notebook's file change or go.
    pub fn disk_trouble_found(self, trouble: DiskTrouble) {
        if self.disk_trouble.get_untracked().is_none() {
            self.disk_trouble.set(Some(trouble));
        }
    }

    /// The folder `name` is open again: the open notebook's changes waiting for it go to
    /// its file.
    pub fn folder_available(self, name: &str) {
        let waiting = self
            .state
            .meta
            .with_untracked(|meta| meta.disk.as_ref().is_some_and(|link| link.folder == name))
            && matches!(
                self.disk_trouble.get_untracked(),
                Some(DiskTrouble::NoAccess(_))
            );
        if waiting {
            self.disk_trouble.set(None);
            self.saved_change.set_value(u64::MAX);
            self.save_now();
        }
    }

    /// Opens a notebook read from a folder's file: as the notebook already linked to that
    /// file (its earlier text kept as a version if it differs), or as a new one.
    pub async fn open_from_disk(self, notebook: Notebook, link: DiskLink) {
        if self.state.changed.get_untracked() != self.saved_change.get_value() {
            self.save().await;
        }
        let linked = self.entries.with_untracked(|entries| {
            entries
                .iter()
                .find(|entry| {
                    entry
                        .disk
                        .as_ref()
                        .is_some_and(|disk| disk.folder == link.folder && disk.path == link.path)
                })
                .cloned()
        });
        if let Some(existing) = &linked
            && let (Some(store), Some(revisions)) =
                (self.store.get_value(), self.revisions.get_value())
            && let Some(previous) = store.load(&existing.id).await
            && notebook::text_hash(&previous.ipynb) != link.hash
            && let Ok(model) = self.parse_notebook(&previous.ipynb)
            && revisions
                .keep(
                    &existing.id,
                    model.fingerprint(),
                    &previous.ipynb,
                    Reason::BeforeDiskVersion,
                )
                .await
                .unwrap_or(false)
        {
            self.revisions_changed.update(|count| *count += 1);
        }
        let title = link
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&link.path)
            .trim_end_matches(".ipynb")
            .to_owned();
        let meta = match linked {
            Some(existing) => DocMeta {
                id: existing.id,
                title: existing.title,
                modified: js_sys::Date::now(),
                revision: existing.revision,
                disk: Some(link),
            },
            None => DocMeta {
                id: new_id(),
                title,
                modified: js_sys::Date::now(),
                revision: 0,
                disk: Some(link),
            },
        };
        self.show(notebook, meta);
        // Kept in this browser too (versions, backup); the file is not written, its text
        // being the same.
        self.saved_change.set_value(u64::MAX);
        self.save().await;
    }

    /// "Load the version on disk": this one is kept as a version first.
    pub fn disk_reload(self) {
        let Some(link) = self.state.meta.with_untracked(|meta| meta.disk.clone()) else {
            return;
        };
        let Some(root) = self.folder.get_value() else {
            return;
        };
        let kept = self.keep_revision(Reason::BeforeDiskVersion);
        spawn_local(async move {
            kept.await;
            let read = async {
                let (text, read) = disk::read_notebook(&root, &link.path).await?;
                let notebook = self.parse_notebook(&text)?;
                Ok::<_, String>((notebook, read))
            };
            match read.await {
                Ok((notebook, read)) => {
                    let link = DiskLink {
                        hash: notebook::text_hash(&notebook.to_ipynb()),
                        ..read
                    };
                    let mut meta = self.state.meta.get_untracked();
                    meta.disk = Some(link);
                    self.show(notebook, meta);
                    self.saved_change.set_value(u64::MAX);
                    self.save().await;
                }
                Err(error) => self.notice.set(Some((
                    false,
                    format!("{} was not loaded: {error}", link.path),
                ))),
            }
        });
    }

    /// "Overwrite it" (the file changed on disk) or "Save it there again" (the file went):
    /// this version is written to the file.
    pub fn disk_overwrite(self) {
        let Some(link) = self.state.meta.with_untracked(|meta| meta.disk.clone()) else {
            return;
        };
        let Some(root) = self.folder.get_value() else {
            return;
        };
        let text = self.state.with(Notebook::to_ipynb);
        spawn_local(async move {
            self.disk_writing.set_value(true);
            self.disk_write_count.update_value(|count| *count += 1);
            let written = disk::write_notebook(&root, &link, &text, true).await;
            self.disk_writing.set_value(false);
            match written {
                Ok(written) => {
                    self.disk_trouble.set(None);
                    self.state.meta.update(|meta| meta.disk = Some(written));
                    self.saved_change.set_value(u64::MAX);
                    self.save().await;
                }
                Err(trouble) => self.disk_trouble.set(Some(trouble)),
            }
        });
    }

    /// "Keep it in this browser only": the notebook is no longer linked to a file.
    pub fn disk_forget(self) {
        self.disk_trouble.set(None);
        self.state.meta.update(|meta| meta.disk = None);
        self.saved_change.set_value(u64::MAX);
        self.save_now();
    }

    /// Before a save: the notebook before a large deletion (as it was the moment before, or
    /// the version saved before when it went in small steps), and every few minutes of
    /// editing the version being saved, are kept as revisions.
    async fn keep_revisions_on_save(self, store: &Store, document: &Document) {
        let Some(revisions) = self.revisions.get_value() else {
            return;
        };
        let id = &document.entry.id;
        let size = self.state.with(Size::of);
        let mut kept = false;
        if let Some((fingerprint, before)) = self.state.take_before_deletion() {
            // The notebook as it was the moment before a long text or cell went.
            kept |= revisions
                .keep(id, fingerprint, &before, Reason::BeforeLargeDeletion)
                .await
                .unwrap_or(false);
        } else if self.saved_size.get_value().lost_much(size)
            && let Some(previous) = store.load(id).await
            && let Some(model) = self
                .ids
                .try_update_value(|ids| Notebook::from_ipynb(&previous.ipynb, ids).ok())
                .flatten()
        {
            kept |= revisions
                .keep(
                    id,
                    model.fingerprint(),
                    &previous.ipynb,
                    Reason::BeforeLargeDeletion,
                )
                .await
                .unwrap_or(false);
        }
        self.saved_size.set_value(size);
        if js_sys::Date::now() - self.revision_at.get_value() >= REVISION_EVERY.as_millis() as f64 {
            let fingerprint = self.state.with(Notebook::fingerprint);
            kept |= revisions
                .keep(id, fingerprint, &document.ipynb, Reason::WhileEditing)
                .await
                .unwrap_or(false);
            self.revision_at.set_value(js_sys::Date::now());
        }
        if kept {
            self.revisions_changed.update(|count| *count += 1);
        }
    }

    fn upsert_entry(self, entry: Entry) {
        self.entries.update(|entries| {
            entries.retain(|kept| kept.id != entry.id);
            entries.push(entry);
            entries.sort_by(|a, b| b.modified.total_cmp(&a.modified));
        });
    }

    /// Hears other tabs' saves: a newer save of the open notebook is a conflict; any save
    /// refreshes the list.
    fn listen(self) {
        let Ok(channel) = web_sys::BroadcastChannel::new(store::CHANNEL) else {
            return;
        };
        let on_message =
            Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                let Some(saved) = event
                    .data()
                    .as_string()
                    .and_then(|json| serde_json::from_str::<Saved>(&json).ok())
                else {
                    return;
                };
                let open = self.state.meta.get_untracked();
                if saved.id == open.id && saved.revision > open.revision {
                    self.conflict.set(true);
                }
                self.refresh_list();
            });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        std::mem::forget(channel);
    }

    fn refresh_list(self) {
        let Some(store) = self.store.get_value() else {
            return;
        };
        spawn_local(async move {
            self.entries.set(store.entries().await);
        });
    }

    /// Takes the other tab's version of the open notebook (this tab's is kept as a
    /// revision).
    pub fn reload_from_store(self) {
        let id = self.state.meta.get_untracked().id;
        let kept = self.keep_revision(Reason::BeforeOtherTab);
        spawn_local(async move {
            kept.await;
            self.open_stored(id);
        });
    }

    /// Keeps this tab's version, over the other tab's.
    pub fn keep_mine(self) {
        let Some(store) = self.store.get_value() else {
            return;
        };
        let id = self.state.meta.get_untracked().id;
        spawn_local(async move {
            if let Some(stored) = store.entry(&id).await {
                self.state
                    .meta
                    .update(|meta| meta.revision = stored.revision);
            }
            self.conflict.set(false);
            self.state.changed.update(|count| *count += 1);
        });
    }

    /// Opens a kept notebook (the open one is saved first).
    pub fn open_stored(self, id: String) {
        spawn_local(async move {
            if let Err(error) = self.open_stored_now(id).await {
                self.notice.set(Some((false, error)));
            }
        });
    }

    /// [`Documents::open_stored`], finished when the notebook shows.
    pub async fn open_stored_now(self, id: String) -> Result<(), String> {
        let store = self
            .store
            .get_value()
            .ok_or("notebooks cannot be kept in this browser")?;
        if self.state.changed.get_untracked() != self.saved_change.get_value() {
            self.save_now();
        }
        let (notebook, meta) = store
            .load(&id)
            .await
            .and_then(|document| self.parse(document))
            .ok_or_else(|| format!("there is no notebook {id} in this browser"))?;
        self.show(notebook, meta);
        Ok(())
    }

    /// A new, empty notebook, opened.
    pub fn create(self) -> String {
        let notebook = self
            .ids
            .try_update_value(Notebook::new)
            .expect("the id source is there");
        self.add(notebook, "Untitled")
    }

    fn add(self, notebook: Notebook, fallback_title: &str) -> String {
        if self.state.changed.get_untracked() != self.saved_change.get_value() {
            self.save_now();
        }
        let meta = self.fresh_meta(&notebook, fallback_title);
        let id = meta.id.clone();
        self.show(notebook, meta);
        // A new notebook is saved at once, so it is in the list.
        self.saved_change.set_value(u64::MAX);
        self.save_now();
        id
    }

    /// Opens `.ipynb` text as a new notebook; the open ones stay as they were. Says why not.
    pub fn import(self, text: &str, file_name: Option<&str>) -> Result<(String, usize), String> {
        let notebook = self
            .ids
            .try_update_value(|ids| Notebook::from_ipynb(text, ids))
            .expect("the id source is there")
            .map_err(|error| error.to_string())?;
        let cells = notebook.cells.len();
        let fallback = file_name
            .map(|name| name.trim_end_matches(".ipynb").to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "Imported".to_owned());
        let id = self.add(notebook, &fallback);
        Ok((id, cells))
    }

    pub fn rename(self, title: String) {
        let title = title
            .trim()
            .chars()
            .take(notebook::MAX_TITLE_CHARS)
            .collect::<String>();
        if !title.is_empty() {
            self.state.set_title(title);
        }
    }

    /// A copy of the open notebook, opened.
    pub fn duplicate(self) {
        let notebook = self.state.snapshot();
        let title = format!("{} (copy)", self.state.meta.get_untracked().title);
        let meta = DocMeta {
            id: new_id(),
            title,
            modified: js_sys::Date::now(),
            revision: 0,
            disk: None,
        };
        if self.state.changed.get_untracked() != self.saved_change.get_value() {
            self.save_now();
        }
        self.show(notebook, meta);
        self.saved_change.set_value(u64::MAX);
        self.save_now();
    }

    /// Deletes the open notebook (undoable for a while) and opens another.
    pub fn delete_open(self) {
        let Some(store) = self.store.get_value() else {
            return;
        };
        let document = self.document();
        if let Err(error) = store.delete(&document.entry.id) {
            self.notice
                .set(Some((false, format!("could not delete it: {error}"))));
            return;
        }
        let id = document.entry.id.clone();
        self.entries
            .update(|entries| entries.retain(|entry| entry.id != id));
        self.deleted.set(Some(document));
        match self
            .entries
            .with_untracked(|entries| entries.first().map(|entry| entry.id.clone()))
        {
            Some(next) => {
                // Nothing unsaved to keep: the deleted one must not be saved again.
                self.saved_change
                    .set_value(self.state.changed.get_untracked());
                self.open_stored(next);
            }
            None => {
                self.saved_change
                    .set_value(self.state.changed.get_untracked());
                self.create();
            }
        }
    }

    /// Brings the deleted notebook back and opens it.
    pub fn undo_delete(self) {
        let (Some(store), Some(mut document)) =
            (self.store.get_value(), self.deleted.get_untracked())
        else {
            return;
        };
        self.deleted.set(None);
        document.entry.revision += 1;
        if store.save(&document).is_ok() {
            self.upsert_entry(document.entry.clone());
            self.open_stored(document.entry.id);
        }
    }
}

/// A notebook's id in this browser.
fn new_id() -> String {
    web_sys::window()
        .and_then(|window| window.crypto().ok())
        .map(|crypto| crypto.random_uuid())
        .unwrap_or_else(|| format!("{:x}", (js_sys::Math::random() * 1e15) as u64))
}

fn announce(saved: &Saved) {
    if let (Ok(channel), Ok(json)) = (
        web_sys::BroadcastChannel::new(store::CHANNEL),
        serde_json::to_string(saved),
    ) {
        let _ = channel.post_message(&JsValue::from_str(&json));
        channel.close();
    }
}

/// The first notebook of a browser that had none: the code the single editor of earlier
/// versions kept (or the shell's example), then the run history's code, one cell per run,
/// under a heading — nothing a user had is lost.
pub async fn first_notebook() -> Notebook {
    let mut ids = SeededIds::new(js_sys::Date::now() as u64);
    let mut first = Notebook::new(&mut ids);
    first.cells[0].source = editor::shell_source().unwrap_or_else(|| "print(1 + 1)\n".to_owned());
    let mut runs: Vec<String> = Vec::new();
    for run in history::kept_runs().await {
        let code = run.code.trim_end().to_owned();
        if !code.is_empty() && !runs.contains(&code) && code != first.cells[0].source.trim_end() {
            runs.push(code);
        }
    }
    if !runs.is_empty() {
        let heading = first.insert_cell(1, CellKind::Markdown, &mut ids);
        first.set_source(
            &heading,
            "## Earlier runs\n\nThe code of the runs in your history, oldest first.".to_owned(),
        );
        for (offset, code) in runs.into_iter().enumerate() {
            let cell = first.insert_cell(2 + offset, CellKind::Code, &mut ids);
            first.set_source(&cell, code);
        }
    }
    first
}

/// Opens a `.ipynb` file as a new notebook, or says why not (the file is never read whole
/// when it is too big to open).
pub fn open_file(documents: Documents, file: web_sys::File) {
    let name = file.name();
    let size = file.size() as usize;
    if size > notebook::MAX_NOTEBOOK_BYTES {
        let reason = notebook::ImportError::TooLarge { bytes: size }.to_string();
        documents
            .notice
            .set(Some((false, format!("{name}: {reason}"))));
        return;
    }
    spawn_local(async move {
        // A file dropped before the first load is opened after it, not replaced by it.
        documents.first_load().await;
        let text = wasm_bindgen_futures::JsFuture::from(file.text())
            .await
            .ok()
            .and_then(|text| text.as_string());
        let outcome = match text {
            Some(text) => documents.import(&text, Some(&name)),
            None => Err("the file could not be read".to_owned()),
        };
        match outcome {
            Ok((_, cells)) => documents
                .notice
                .set(Some((true, format!("{name} opened ({cells} cells)")))),
            Err(reason) => documents
                .notice
                .set(Some((false, format!("{name}: {reason}")))),
        }
    });
}
