//! The open notebook as the page holds it: the model (`notebook::Notebook`, the one truth
//! for cells, their order, text and outputs) and, per cell, the signals the view follows.
//! Every edit goes through [`NotebookState`]: it changes the model, then exactly the signals
//! that show what changed, then asks for an autosave. Nothing re-renders the whole notebook
//! for a keystroke.

use std::collections::HashMap;

use leptos::prelude::*;
use notebook::{CellId, CellKind, Direction, Notebook, Output, SeededIds};
use pyodide_loader::InputAsk;

use super::super::editor::{self, EditorHandle};
use super::revisions::LARGE_DELETION_CHARS;

/// Where the keyboard is: in a cell's editor, or on the notebook (Jupyter's command mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Command,
    Edit,
}

/// Where a code cell is in running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    Idle,
    Queued,
    Running,
    /// It was queued and then not run, and why.
    NotRun(&'static str),
}

/// What the view of one cell follows. Copyable handles; the model holds the data.
#[derive(Debug, Clone, Copy)]
pub struct CellView {
    pub kind: RwSignal<CellKind>,
    pub count: RwSignal<Option<u32>>,
    pub state: RwSignal<RunState>,
    pub outputs: RwSignal<Vec<Output>>,
    pub collapsed: RwSignal<bool>,
    /// Markdown: shown rendered (`true`) or in its editor.
    pub rendered: RwSignal<bool>,
    /// Bumped when the text changed other than by typing in its editor (undo, a reload).
    pub source_changed: RwSignal<u64>,
    /// The cell's editor once it has one (made when the cell nears the screen).
    pub editor: StoredValue<Option<EditorHandle>, LocalStorage>,
    /// Whether it has one (the plain copy of its text shows until then).
    pub has_editor: RwSignal<bool>,
    /// What its running code's `input()` asks, while it waits for the answer.
    pub asking: RwSignal<Option<InputAsk>>,
}

impl CellView {
    fn new(cell: &notebook::Cell) -> Self {
        Self {
            kind: RwSignal::new(cell.kind),
            count: RwSignal::new(cell.execution_count),
            state: RwSignal::new(RunState::Idle),
            outputs: RwSignal::new(cell.outputs.clone()),
            collapsed: RwSignal::new(collapsed(cell)),
            rendered: RwSignal::new(cell.kind == CellKind::Markdown && !cell.source.is_empty()),
            source_changed: RwSignal::new(0),
            editor: StoredValue::new_local(None),
            has_editor: RwSignal::new(false),
            asking: RwSignal::new(None),
        }
    }
}

/// Jupyter keeps a collapsed output as `collapsed: true` in the cell's metadata.
fn collapsed(cell: &notebook::Cell) -> bool {
    cell.metadata
        .get("collapsed")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// Which notebook is open, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DocMeta {
    pub id: String,
    pub title: String,
    /// Unix milliseconds of the last change.
    pub modified: f64,
    /// Bumped by every save; another tab's save shows as a higher one.
    pub revision: u64,
    /// The file in a folder on disk it autosaves to.
    pub disk: Option<super::store::DiskLink>,
}

/// The open notebook; a cheap copyable handle.
#[derive(Debug, Clone, Copy)]
pub struct NotebookState {
    model: StoredValue<Notebook>,
    pub meta: RwSignal<DocMeta>,
    pub order: RwSignal<Vec<CellId>>,
    views: StoredValue<HashMap<CellId, CellView>>,
    pub selected: RwSignal<Option<CellId>>,
    pub mode: RwSignal<Mode>,
    ids: StoredValue<SeededIds>,
    /// Bumped on every change of the document, for the autosave to follow.
    pub changed: RwSignal<u64>,
    /// How many cell deletes can be undone (the toolbar offers it).
    pub undoable: RwSignal<usize>,
    /// The notebook as it was before a large deletion (a long text removed in an editor, a
    /// long cell deleted) since the last save took it: (fingerprint, `.ipynb`), for the
    /// history of versions.
    before_deletion: StoredValue<Option<(notebook::Fingerprint, String)>>,
    /// Bumped when the whole notebook is replaced: the page keys cell views by it and the
    /// cell id, so a notebook with the same ids (another version of the same one, a share
    /// link opened twice) gets new views, not the old ones showing old outputs.
    pub generation: StoredValue<u64>,
}

impl NotebookState {
    pub fn new(notebook: Notebook, meta: DocMeta) -> Self {
        let state = Self {
            model: StoredValue::new(notebook),
            meta: RwSignal::new(meta),
            order: RwSignal::new(Vec::new()),
            views: StoredValue::new(HashMap::new()),
            selected: RwSignal::new(None),
            mode: RwSignal::new(Mode::Command),
            ids: StoredValue::new(SeededIds::new(random_seed())),
            changed: RwSignal::new(0),
            undoable: RwSignal::new(0),
            before_deletion: StoredValue::new(None),
            generation: StoredValue::new(0),
        };
        state.sync_all();
        state
    }

    /// Shows another notebook in place of this one (the editors of the old cells go).
    pub fn replace(self, notebook: Notebook, meta: DocMeta) {
        self.views.update_value(|views| {
            for view in views.values() {
                if let Some(editor) = view.editor.get_value() {
                    editor.destroy();
                }
            }
            views.clear();
        });
        self.model.set_value(notebook);
        self.before_deletion.set_value(None);
        self.generation.update_value(|generation| *generation += 1);
        self.meta.set(meta);
        self.selected.set(None);
        self.mode.set(Mode::Command);
        self.undoable.set(0);
        self.sync_all();
    }

    fn sync_all(self) {
        let (order, views): (Vec<CellId>, HashMap<CellId, CellView>) =
            self.model.with_value(|model| {
                let order = model.cells.iter().map(|cell| cell.id.clone()).collect();
                let views = model
                    .cells
                    .iter()
                    .map(|cell| (cell.id.clone(), CellView::new(cell)))
                    .collect();
                (order, views)
            });
        let first = order.first().cloned();
        self.views.set_value(views);
        self.order.set(order);
        self.selected.set(first);
    }

    /// The order changed (insert, delete, undo, move): new cells get views, gone ones lose theirs.
    fn sync_order(self) {
        let (order, fresh): (Vec<CellId>, Vec<(CellId, CellView)>) =
            self.model.with_value(|model| {
                let order: Vec<CellId> = model.cells.iter().map(|cell| cell.id.clone()).collect();
                let fresh = self.views.with_value(|views| {
                    model
                        .cells
                        .iter()
                        .filter(|cell| !views.contains_key(&cell.id))
                        .map(|cell| (cell.id.clone(), CellView::new(cell)))
                        .collect()
                });
                (order, fresh)
            });
        self.views.update_value(|views| {
            views.extend(fresh);
            views.retain(|id, view| {
                let kept = order.contains(id);
                if !kept && let Some(editor) = view.editor.get_value() {
                    editor.destroy();
                }
                kept
            });
        });
        self.order.set(order);
        self.touch();
        self.keep_shell();
    }

    /// Keeps the notebook as it is now for the history, unless a deletion since the last
    /// save already did.
    fn note_large_deletion(self) {
        if self.before_deletion.with_value(Option::is_none) {
            let taken = self.with(|model| (model.fingerprint(), model.to_ipynb()));
            self.before_deletion.set_value(Some(taken));
        }
    }

    /// What [`NotebookState::note_large_deletion`] kept, taken.
    pub fn take_before_deletion(self) -> Option<(notebook::Fingerprint, String)> {
        self.before_deletion
            .try_update_value(Option::take)
            .flatten()
    }

    fn touch(self) {
        self.changed.update(|count| *count += 1);
        let undoable = self.with(Notebook::undoable_deletes);
        if self.undoable.get_untracked() != undoable {
            self.undoable.set(undoable);
        }
    }

    /// The page's shell shows the first cell of the open notebook on the next visit, from
    /// its first paint: kept whenever that cell (or the notebook) changes.
    pub fn keep_shell(self) {
        let meta = self.meta.get_untracked();
        self.with(|model| {
            if let Some(first) = model.cells.first() {
                editor::keep_shell(&meta.id, &meta.title, first.id.as_str(), &first.source);
            }
        });
    }

    pub fn view(self, id: &CellId) -> Option<CellView> {
        self.views.with_value(|views| views.get(id).copied())
    }

    /// Reads the model.
    pub fn with<T>(self, read: impl FnOnce(&Notebook) -> T) -> T {
        self.model.with_value(read)
    }

    pub fn source(self, id: &CellId) -> String {
        self.with(|model| {
            model
                .cell(id)
                .map(|cell| cell.source.clone())
                .unwrap_or_default()
        })
    }

    pub fn kind(self, id: &CellId) -> Option<CellKind> {
        self.with(|model| model.cell(id).map(|cell| cell.kind))
    }

    pub fn index_of(self, id: &CellId) -> Option<usize> {
        self.with(|model| model.index_of(id))
    }

    pub fn id_at(self, index: usize) -> Option<CellId> {
        self.order.with_untracked(|order| order.get(index).cloned())
    }

    pub fn len(self) -> usize {
        self.order.with_untracked(Vec::len)
    }

    /// A copy of the document, for saving and exporting.
    pub fn snapshot(self) -> Notebook {
        self.model.get_value()
    }

    /// Typing in a cell's editor: the model follows, the editor already shows it.
    pub fn set_source_from_editor(self, id: &CellId, text: String) {
        // An editor given the text it had (the shell's, adopted) changed nothing.
        let had = self.with(|model| model.cell(id).map(|cell| cell.source.len()));
        if self.with(|model| model.cell(id).is_some_and(|cell| cell.source == text)) {
            return;
        }
        if had.is_some_and(|had| had >= text.len() + LARGE_DELETION_CHARS) {
            self.note_large_deletion();
        }
        let index = self
            .model
            .try_update_value(|model| model.set_source(id, text))
            .flatten();
        if index.is_some() {
            self.touch();
        }
        if index == Some(0) {
            self.keep_shell();
        }
    }

    /// Text set from outside the editor (a history entry, inserted code).
    pub fn set_source(self, id: &CellId, text: String) {
        if let Some(editor) = self.view(id).and_then(|view| view.editor.get_value()) {
            editor.set_value(&text);
        }
        self.model.update_value(|model| {
            model.set_source(id, text);
        });
        if let Some(view) = self.view(id) {
            view.source_changed.update(|count| *count += 1);
        }
        self.touch();
    }

    /// Inserts an empty cell at `index` and selects it.
    pub fn insert(self, index: usize, kind: CellKind) -> CellId {
        let id = self.ids.try_update_value(|ids| {
            self.model
                .try_update_value(|model| model.insert_cell(index, kind, ids))
        });
        let Some(Some(id)) = id else {
            unreachable!("the model and its ids are always there")
        };
        self.sync_order();
        self.selected.set(Some(id.clone()));
        id
    }

    /// Deletes a cell (undoable); the cell now at its place is selected.
    pub fn delete(self, id: &CellId) {
        if self.with(|model| {
            model
                .cell(id)
                .is_some_and(|cell| cell.source.len() >= LARGE_DELETION_CHARS)
        }) {
            self.note_large_deletion();
        }
        let Some(Some(index)) = self.model.try_update_value(|model| model.delete_cell(id)) else {
            return;
        };
        self.sync_order();
        let len = self.len();
        self.selected
            .set(self.id_at(index.min(len.saturating_sub(1))));
    }

    /// Brings the last deleted cell back and selects it.
    pub fn undo_delete(self) -> bool {
        let Some(Some((_, id))) = self.model.try_update_value(|model| model.undo_delete()) else {
            return false;
        };
        self.sync_order();
        self.selected.set(Some(id));
        true
    }

    pub fn move_cell(self, id: &CellId, direction: Direction) {
        if let Some(Some(_)) = self
            .model
            .try_update_value(|model| model.move_cell(id, direction))
        {
            self.sync_order();
        }
    }

    pub fn set_kind(self, id: &CellId, kind: CellKind) {
        if self.kind(id) == Some(kind) {
            return;
        }
        self.model.update_value(|model| {
            model.set_kind(id, kind);
        });
        if let Some(view) = self.view(id) {
            if let Some(editor) = view.editor.get_value() {
                editor.set_python(kind == CellKind::Code);
            }
            view.kind.set(kind);
            view.count.set(None);
            view.outputs.set(Vec::new());
            view.state.set(RunState::Idle);
            view.rendered.set(false);
        }
        self.touch();
    }

    pub fn clear_outputs(self, id: &CellId) {
        self.model.update_value(|model| {
            model.clear_outputs(id);
        });
        if let Some(view) = self.view(id) {
            view.outputs.set(Vec::new());
            view.count.set(None);
            if matches!(view.state.get_untracked(), RunState::NotRun(_)) {
                view.state.set(RunState::Idle);
            }
        }
        self.touch();
    }

    pub fn clear_all_outputs(self) {
        for id in self.order.get_untracked() {
            self.clear_outputs(&id);
        }
    }

    pub fn set_collapsed(self, id: &CellId, collapsed: bool) {
        self.model.update_value(|model| {
            if let Some(cell) = model.cell_mut(id) {
                if collapsed {
                    cell.metadata.insert("collapsed".into(), true.into());
                } else {
                    cell.metadata.remove("collapsed");
                }
            }
        });
        if let Some(view) = self.view(id) {
            view.collapsed.set(collapsed);
        }
        self.touch();
    }

    /// A run began: the cell's old outputs go, its count is the run's.
    pub fn start_run(self, id: &CellId, count: u32) {
        self.model.update_value(|model| {
            if let Some(cell) = model.cell_mut(id) {
                cell.outputs.clear();
                cell.execution_count = Some(count);
            }
        });
        if let Some(view) = self.view(id) {
            view.outputs.set(Vec::new());
            view.count.set(Some(count));
            view.state.set(RunState::Running);
        }
        self.touch();
    }

    /// Output that arrived while the cell runs, shown at once (the final answer replaces it).
    pub fn add_live_outputs(self, id: &CellId, outputs: Vec<Output>) {
        if let Some(view) = self.view(id) {
            view.outputs.update(|shown| {
                shown.extend(outputs);
                notebook::merge_streams(shown);
            });
        }
    }

    /// A run ended with these outputs (the complete, ordered list).
    pub fn finish_run(self, id: &CellId, outputs: Vec<Output>) {
        let outputs: Vec<Output> = outputs.into_iter().map(Output::limit_size).collect();
        self.model.update_value(|model| {
            if let Some(cell) = model.cell_mut(id) {
                cell.outputs = outputs.clone();
            }
        });
        if let Some(view) = self.view(id) {
            view.outputs.set(outputs);
            view.state.set(RunState::Idle);
        }
        self.touch();
    }

    pub fn set_run_state(self, id: &CellId, state: RunState) {
        if let Some(view) = self.view(id) {
            view.state.set(state);
        }
    }

    pub fn set_title(self, title: String) {
        self.meta.update(|meta| meta.title = title);
        self.touch();
        self.keep_shell();
    }

    /// The cell before or after the selected one.
    pub fn neighbour(self, id: &CellId, direction: Direction) -> Option<CellId> {
        let index = self.index_of(id)?;
        match direction {
            Direction::Up => index.checked_sub(1).and_then(|above| self.id_at(above)),
            Direction::Down => self.id_at(index + 1),
        }
    }
}

/// A seed for new cell ids (they only need to differ from the notebook's others).
fn random_seed() -> u64 {
    (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64 ^ js_sys::Date::now() as u64
}
