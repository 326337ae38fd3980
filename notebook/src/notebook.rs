//! The notebook itself: its cells in order, its metadata, and the editing state (deleted
//! cells to undo) that is not part of the document.

use std::collections::{HashSet, VecDeque};

use serde_json::{Map, Value, json};

use crate::cell::{Cell, CellKind};
use crate::id::{CellId, IdSource, SeededIds, fresh_id, seed_from};

/// A notebook: never empty (it always has at least one cell), its cell ids unique.
///
/// Two notebooks are equal when their documents are (cells and metadata); what can be
/// undone is editing state and does not count.
#[derive(Debug, Clone)]
pub struct Notebook {
    pub cells: Vec<Cell>,
    /// The file's notebook-level metadata, kept whole; always has `kernelspec` and
    /// `language_info` (ours unless the file had its own).
    pub metadata: Map<String, Value>,
    /// Deleted cells, each with the index it had, newest last; at most
    /// [`UNDO_DELETE_DEPTH`], the oldest forgotten first.
    pub(crate) deleted: VecDeque<DeletedCell>,
    /// Makes the ids the notebook needs without a caller to ask: the empty cell that
    /// replaces the only one deleted, and a new id for a restored cell whose id was taken
    /// meanwhile. Seeded from the caller's [`IdSource`] when the notebook is made.
    pub(crate) own_ids: SeededIds,
}

/// How many deletes can be undone. Each keeps its cell with its outputs, which can be
/// megabytes; Jupyter users undo the last few deletes, not the hundredth.
pub const UNDO_DELETE_DEPTH: usize = 100;

/// A deleted cell and where it stood.
#[derive(Debug, Clone)]
pub(crate) struct DeletedCell {
    pub(crate) index: usize,
    pub(crate) cell: Cell,
}

impl PartialEq for Notebook {
    fn eq(&self, other: &Self) -> bool {
        self.cells == other.cells && self.metadata == other.metadata
    }
}

impl Notebook {
    /// A new notebook with one empty code cell.
    pub fn new(ids: &mut impl IdSource) -> Self {
        let mut metadata = Map::new();
        fill_default_metadata(&mut metadata);
        let first = Cell::new(ids.next_id(), CellKind::Code);
        Self::with_parts(vec![first], metadata, ids)
    }

    /// A notebook of `cells` whose ids are already unique (an empty code cell is added if
    /// there are none); `from_ipynb` and `new` build through this.
    pub(crate) fn with_parts(
        cells: Vec<Cell>,
        metadata: Map<String, Value>,
        ids: &mut impl IdSource,
    ) -> Self {
        let mut notebook = Self {
            cells,
            metadata,
            deleted: VecDeque::new(),
            own_ids: SeededIds::new(seed_from(ids.next_id().as_str())),
        };
        notebook.ensure_not_empty();
        notebook
    }

    /// Where the cell with `id` stands.
    pub fn index_of(&self, id: &CellId) -> Option<usize> {
        self.cells.iter().position(|cell| &cell.id == id)
    }

    pub fn cell(&self, id: &CellId) -> Option<&Cell> {
        self.cells.iter().find(|cell| &cell.id == id)
    }

    pub fn cell_mut(&mut self, id: &CellId) -> Option<&mut Cell> {
        self.cells.iter_mut().find(|cell| &cell.id == id)
    }

    /// Every id in use: the cells' and the deleted cells' (which undo may bring back).
    pub(crate) fn taken_ids(&self) -> HashSet<CellId> {
        self.cells
            .iter()
            .map(|cell| cell.id.clone())
            .chain(self.deleted.iter().map(|deleted| deleted.cell.id.clone()))
            .collect()
    }

    /// A notebook is never empty: the page always has a cell to put the cursor in.
    pub(crate) fn ensure_not_empty(&mut self) {
        if self.cells.is_empty() {
            let taken = self.taken_ids();
            let id = fresh_id(&mut self.own_ids, &taken);
            self.cells.push(Cell::new(id, CellKind::Code));
        }
    }
}

/// The `kernelspec` written when a notebook has none: the name `python3` makes Jupyter
/// open it with its usual Python kernel.
pub(crate) fn default_kernelspec() -> Value {
    json!({
        "display_name": "Python 3 (Pyodide)",
        "language": "python",
        "name": "python3"
    })
}

/// The `language_info` written when a notebook has none: Pyodide 0.27's Python, in the
/// words IPython uses.
pub(crate) fn default_language_info() -> Value {
    json!({
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": "3.12"
    })
}

/// Adds our `kernelspec` and `language_info` where the metadata has none that nbformat's
/// schema accepts (an object whose required fields, and the optional fields the schema
/// types, are text), so every file written validates and opens with a Python kernel.
pub(crate) fn fill_default_metadata(metadata: &mut Map<String, Value>) {
    let acceptable = |value: Option<&Value>, required: &[&str], optional: &[&str]| {
        value.and_then(Value::as_object).is_some_and(|object| {
            required
                .iter()
                .all(|field| object.get(*field).is_some_and(Value::is_string))
                && optional
                    .iter()
                    .all(|field| object.get(*field).is_none_or(Value::is_string))
        })
    };
    if !acceptable(metadata.get("kernelspec"), &["name", "display_name"], &[]) {
        metadata.insert("kernelspec".to_owned(), default_kernelspec());
    }
    let language_info = metadata.get("language_info");
    let codemirror_mode_acceptable = language_info
        .and_then(|info| info.get("codemirror_mode"))
        .is_none_or(|mode| mode.is_string() || mode.is_object());
    if !(codemirror_mode_acceptable
        && acceptable(
            language_info,
            &["name"],
            &["file_extension", "mimetype", "pygments_lexer"],
        ))
    {
        metadata.insert("language_info".to_owned(), default_language_info());
    }
}

/// nbformat's transient notebook metadata: never written to a file, dropped when read
/// (nbformat's `strip_transient`).
pub(crate) const TRANSIENT_NOTEBOOK_METADATA: [&str; 3] =
    ["orig_nbformat", "orig_nbformat_minor", "signature"];

/// nbformat's transient cell metadata (the classic notebook's trust flag).
pub(crate) const TRANSIENT_CELL_METADATA: [&str; 1] = ["trusted"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_notebook_has_one_empty_code_cell_and_python_metadata() {
        let notebook = Notebook::new(&mut SeededIds::new(7));
        assert_eq!(notebook.cells.len(), 1);
        let cell = &notebook.cells[0];
        assert_eq!(
            (cell.kind, cell.source.as_str(), cell.outputs.len()),
            (CellKind::Code, "", 0)
        );
        assert_eq!(notebook.metadata["kernelspec"]["name"], "python3");
        assert_eq!(notebook.metadata["language_info"]["version"], "3.12");
        assert_eq!(notebook.index_of(&cell.id), Some(0));
        assert_eq!(notebook.cell(&cell.id), Some(cell));
    }

    fn check_filled(file_metadata: Value, expected: Value) {
        let mut metadata = file_metadata.as_object().cloned().unwrap_or_default();
        fill_default_metadata(&mut metadata);
        assert_eq!(Value::Object(metadata), expected, "from {file_metadata}");
    }

    #[test]
    fn keeps_the_files_own_kernel_metadata_if_nbformat_accepts_it() {
        let r = json!({"name": "ir", "display_name": "R", "language": "R"});
        let r_language = json!({"name": "R", "version": "4.4.1"});
        check_filled(
            json!({"kernelspec": r, "language_info": r_language, "toc": {}}),
            json!({"kernelspec": r, "language_info": r_language, "toc": {}}),
        );
        check_filled(
            json!({"kernelspec": r}),
            json!({"kernelspec": r, "language_info": default_language_info()}),
        );
        let ours =
            json!({"kernelspec": default_kernelspec(), "language_info": default_language_info()});
        check_filled(json!({}), ours.clone());
        check_filled(
            json!({"kernelspec": null, "language_info": 3}),
            ours.clone(),
        );
        check_filled(
            json!({"kernelspec": {"name": "ir"}, "language_info": {"version": "3.12"}}),
            ours.clone(),
        );
        check_filled(
            json!({"kernelspec": {"name": "ir", "display_name": 1}, "language_info": {"name": "R", "mimetype": []}}),
            ours.clone(),
        );
        check_filled(
            json!({"kernelspec": r, "language_info": {"name": "R", "codemirror_mode": 3}}),
            json!({"kernelspec": r, "language_info": default_language_info()}),
        );
    }
}
