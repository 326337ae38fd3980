//! Where notebooks are kept: in this browser's IndexedDB, never sent anywhere.
//!
//! Two stores: the documents (each notebook as `.ipynb` text, the form that round-trips every
//! output), and a small list of entries (title, last change, revision) that the side panel
//! reads without loading every document. Each save bumps the notebook's revision; a tab that
//! finds a higher revision than the one it loaded knows another tab saved meanwhile, and
//! saves are announced on a channel so an open tab hears it at once.

use serde::{Deserialize, Serialize};

use crate::idb::KeyValueStore;

const DOCUMENTS: (&str, &str) = ("pyodide-workbench-notebooks", "documents");
const ENTRIES: (&str, &str) = ("pyodide-workbench-notebook-list", "entries");
/// Which notebook was open last (localStorage).
const CURRENT_KEY: &str = "workbench.notebook.current";
/// A notebook whose last changes may not have reached IndexedDB when the page went away
/// (localStorage takes them at once); the next visit keeps it if it is newer.
const UNSAVED_KEY: &str = "workbench.notebook.unsaved";
/// Where tabs announce their saves.
pub const CHANNEL: &str = "workbench-notebooks";

/// A notebook in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: String,
    pub title: String,
    /// Unix milliseconds of the last change.
    pub modified: f64,
    pub revision: u64,
    /// The `.ipynb` in a folder on disk this notebook autosaves to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskLink>,
}

/// Where a notebook from a folder on disk lives there, and what this browser last read or
/// wrote of it: a file whose time or size differ since was changed by someone else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskLink {
    /// The folder's name (one folder is open at a time; a notebook of another waits).
    pub folder: String,
    /// The file's path inside the folder.
    pub path: String,
    /// The file's `lastModified` and size when last read or written here.
    pub modified: f64,
    pub size: f64,
    /// The hash of the notebook's text as last read or written (`text_hash`): a save of
    /// the same text does not touch the file.
    pub hash: u64,
}

/// A notebook as kept: its entry and its `.ipynb` text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub entry: Entry,
    pub ipynb: String,
}

/// A save another tab announced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub revision: u64,
}

/// Both stores; a cheap clone.
#[derive(Debug, Clone)]
pub struct Store {
    documents: KeyValueStore,
    entries: KeyValueStore,
}

impl Store {
    pub async fn open() -> Result<Self, String> {
        Ok(Self {
            documents: KeyValueStore::open(DOCUMENTS.0, DOCUMENTS.1).await?,
            entries: KeyValueStore::open(ENTRIES.0, ENTRIES.1).await?,
        })
    }

    /// Every notebook, the last changed first.
    pub async fn entries(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self.entries.values_of().await;
        entries.sort_by(|a, b| b.modified.total_cmp(&a.modified));
        entries
    }

    pub async fn entry(&self, id: &str) -> Option<Entry> {
        let json = self.entries.get(id).await.ok().flatten()?;
        serde_json::from_str(&json).ok()
    }

    pub async fn load(&self, id: &str) -> Option<Document> {
        let json = self.documents.get(id).await.ok().flatten()?;
        serde_json::from_str(&json).ok()
    }

    /// Writes the document and its entry (IndexedDB finishes the writes shortly after).
    pub fn save(&self, document: &Document) -> Result<(), String> {
        let json = serde_json::to_string(document).map_err(|error| error.to_string())?;
        let entry = serde_json::to_string(&document.entry).map_err(|error| error.to_string())?;
        self.documents.put(&document.entry.id, &json)?;
        self.entries.put(&document.entry.id, &entry)
    }

    pub fn delete(&self, id: &str) -> Result<(), String> {
        self.documents.delete_all([id])?;
        self.entries.delete_all([id])
    }
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|window| window.local_storage().ok().flatten())
}

pub fn current_id() -> Option<String> {
    local_storage().and_then(|storage| storage.get_item(CURRENT_KEY).ok().flatten())
}

pub fn set_current_id(id: &str) {
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(CURRENT_KEY, id);
    }
}

/// Keeps a document in localStorage at once (when the page goes away with a save pending).
pub fn journal(document: &Document) {
    if let (Some(storage), Ok(json)) = (local_storage(), serde_json::to_string(document)) {
        // Too big for localStorage: the last autosave (at most a moment old) has to do.
        let _ = storage.set_item(UNSAVED_KEY, &json);
    }
}

/// The document an earlier page journalled, removed from localStorage.
pub fn take_journal() -> Option<Document> {
    let storage = local_storage()?;
    let json = storage.get_item(UNSAVED_KEY).ok().flatten();
    let _ = storage.remove_item(UNSAVED_KEY);
    serde_json::from_str(&json?).ok()
}

/// Forgets the journal once its document reached IndexedDB.
pub fn clear_journal() {
    if let Some(storage) = local_storage() {
        let _ = storage.remove_item(UNSAVED_KEY);
    }
}
