//! A history of revisions per notebook, kept in IndexedDB beside the notebooks: before every
//! "Run all", before a large deletion (the version saved before it), before another tab's
//! version or an earlier revision replaces it, and every few minutes of editing. At most
//! [`MAX_REVISIONS`] and [`MAX_REVISION_BYTES`] a notebook, older ones thinned first
//! (`notebook::revisions_to_let_go`).
//!
//! Two stores: each revision's `.ipynb` text (`<notebook>/<revision>`), and per notebook the
//! list of its revisions with a fingerprint of the newest, from which the next one's summary
//! (cells added, removed, changed) is made without reading any revision back.

use notebook::{Fingerprint, Notebook};
use serde::{Deserialize, Serialize};

use crate::idb::KeyValueStore;

const TEXTS: (&str, &str) = ("pyodide-workbench-revisions", "revisions");
const LISTS: (&str, &str) = ("pyodide-workbench-revision-lists", "lists");

/// The most revisions kept of one notebook.
pub const MAX_REVISIONS: usize = 50;
/// The most bytes of revisions kept of one notebook (more go, oldest thinned first).
pub const MAX_REVISION_BYTES: usize = 30 * 1024 * 1024;
/// Text removed at once (from one cell's editor, or a cell deleted) that makes a large
/// deletion: the notebook before it is kept as a revision.
pub const LARGE_DELETION_CHARS: usize = 500;
/// The newest revisions are never let go.
const KEEP_NEWEST: usize = 5;

/// Why a revision was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    BeforeRunAll,
    BeforeLargeDeletion,
    WhileEditing,
    BeforeRestoring,
    Restored,
    BeforeOtherTab,
    BeforeDiskVersion,
}

impl Reason {
    fn words(self) -> &'static str {
        match self {
            Self::BeforeRunAll => "before Run all",
            Self::BeforeLargeDeletion => "before a large deletion",
            Self::WhileEditing => "while editing",
            Self::BeforeRestoring => "before restoring an earlier version",
            Self::Restored => "an earlier version restored",
            Self::BeforeOtherTab => "before another tab's version was loaded",
            Self::BeforeDiskVersion => "before the version on disk was loaded",
        }
    }
}

/// A revision in a notebook's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub id: String,
    /// Unix milliseconds.
    pub at: f64,
    /// Why, and what changed since the revision before: "before Run all · 2 cells changed".
    pub summary: String,
    pub bytes: usize,
}

/// A notebook's list, newest last, and the newest revision's fingerprint and text hash.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct List {
    revisions: Vec<Revision>,
    newest: Fingerprint,
    #[serde(default)]
    newest_hash: u64,
}

/// Both stores; a cheap clone.
#[derive(Debug, Clone)]
pub struct Revisions {
    texts: KeyValueStore,
    lists: KeyValueStore,
}

impl Revisions {
    pub async fn open() -> Result<Self, String> {
        Ok(Self {
            texts: KeyValueStore::open(TEXTS.0, TEXTS.1).await?,
            lists: KeyValueStore::open(LISTS.0, LISTS.1).await?,
        })
    }

    async fn list(&self, notebook: &str) -> List {
        self.lists
            .get(notebook)
            .await
            .ok()
            .flatten()
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }

    /// The notebook's revisions, newest first.
    pub async fn revisions(&self, notebook: &str) -> Vec<Revision> {
        let mut revisions = self.list(notebook).await.revisions;
        revisions.reverse();
        revisions
    }

    /// When the newest revision was kept.
    pub async fn newest_at(&self, notebook: &str) -> Option<f64> {
        self.list(notebook)
            .await
            .revisions
            .last()
            .map(|revision| revision.at)
    }

    /// Keeps the `.ipynb` text `ipynb` (whose cells' fingerprint is `fingerprint`) as the
    /// notebook's newest revision, unless the newest is that same text; lets old ones go
    /// past the limits. Answers whether it kept one.
    pub async fn keep(
        &self,
        notebook: &str,
        fingerprint: Fingerprint,
        ipynb: &str,
        reason: Reason,
    ) -> Result<bool, String> {
        let mut list = self.list(notebook).await;
        let hash = notebook::text_hash(ipynb);
        if !list.revisions.is_empty() && hash == list.newest_hash {
            return Ok(false);
        }
        let changes = fingerprint.changes_since(&list.newest);
        let at = js_sys::Date::now();
        let id = format!(
            "{:x}-{:04x}",
            at as u64,
            (js_sys::Math::random() * 65_536.0) as u32
        );
        let summary = if list.revisions.is_empty() {
            format!("{} · {} cells", reason.words(), fingerprint.cells())
        } else if changes.is_empty() {
            format!("{} · only outputs changed", reason.words())
        } else {
            format!("{} · {changes}", reason.words())
        };
        self.texts.put(&key(notebook, &id), ipynb)?;
        list.revisions.push(Revision {
            id,
            at,
            summary,
            bytes: ipynb.len(),
        });
        list.newest = fingerprint;
        list.newest_hash = hash;
        let shape: Vec<(f64, usize)> = list
            .revisions
            .iter()
            .map(|revision| (revision.at, revision.bytes))
            .collect();
        let gone =
            notebook::revisions_to_let_go(&shape, MAX_REVISIONS, MAX_REVISION_BYTES, KEEP_NEWEST);
        let gone_keys: Vec<String> = gone
            .iter()
            .map(|&index| key(notebook, &list.revisions[index].id))
            .collect();
        for index in gone.into_iter().rev() {
            list.revisions.remove(index);
        }
        self.texts
            .delete_all(gone_keys.iter().map(String::as_str))?;
        let json = serde_json::to_string(&list).map_err(|error| error.to_string())?;
        self.lists.put(notebook, &json)?;
        Ok(true)
    }

    /// A revision's `.ipynb` text.
    pub async fn text(&self, notebook: &str, revision: &str) -> Option<String> {
        self.texts
            .get(&key(notebook, revision))
            .await
            .ok()
            .flatten()
    }

    /// Lets every revision of a deleted notebook go.
    pub async fn forget(&self, notebook: &str) {
        let list = self.list(notebook).await;
        let keys: Vec<String> = list
            .revisions
            .iter()
            .map(|revision| key(notebook, &revision.id))
            .collect();
        let _ = self.texts.delete_all(keys.iter().map(String::as_str));
        let _ = self.lists.delete_all([notebook]);
    }
}

fn key(notebook: &str, revision: &str) -> String {
    format!("{notebook}/{revision}")
}

/// The part of a notebook that says whether a change is a large deletion: its cells and the
/// characters of their text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Size {
    pub cells: usize,
    pub chars: usize,
}

impl Size {
    pub fn of(model: &Notebook) -> Self {
        Self {
            cells: model.cells.len(),
            chars: model.cells.iter().map(|cell| cell.source.len()).sum(),
        }
    }

    /// Whether going from `self` to `after` removed at least three cells or
    /// [`LARGE_DELETION_CHARS`] characters (in small steps between two saves).
    pub fn lost_much(self, after: Size) -> bool {
        self.cells >= after.cells + 3 || self.chars >= after.chars + LARGE_DELETION_CHARS
    }
}
