//! One cell of a notebook: its kind, its text, and for code cells what the last run showed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::id::CellId;
use crate::output::Output;

/// What a cell holds. nbformat's `cell_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Python, run by the worker.
    Code,
    /// CommonMark, rendered.
    Markdown,
    /// Text kept as is and never run (nbconvert's raw cells).
    Raw,
}

impl CellKind {
    pub const ALL: [CellKind; 3] = [Self::Code, Self::Markdown, Self::Raw];

    /// nbformat's name: `code`, `markdown` or `raw`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Markdown => "markdown",
            Self::Raw => "raw",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Unique within its notebook; stays with the cell through edits, moves and undo, so
    /// the page can key its views by it.
    pub id: CellId,
    pub kind: CellKind,
    pub source: String,
    /// `[n]` beside a code cell: which run made its outputs. Always `None` for other kinds.
    pub execution_count: Option<u32>,
    /// What the cell's last run showed, in order. Always empty for other kinds.
    pub outputs: Vec<Output>,
    /// Everything the file had in the cell's `metadata` (tags, `collapsed`, `jupyter`, …),
    /// kept so that a notebook goes back to Jupyter as it came.
    pub metadata: Map<String, Value>,
    /// Images pasted into a Markdown or raw cell: nbformat's `attachments`, an object of
    /// MIME bundles keyed by file name (text in them joined into one string). Always `None`
    /// for code cells.
    pub attachments: Option<Value>,
}

impl Cell {
    /// An empty cell of `kind`.
    pub fn new(id: CellId, kind: CellKind) -> Self {
        Self {
            id,
            kind,
            source: String::new(),
            execution_count: None,
            outputs: Vec::new(),
            metadata: Map::new(),
            attachments: None,
        }
    }
}
