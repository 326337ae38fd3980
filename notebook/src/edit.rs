//! The editing commands the page sends: insert, delete (and undo it), move, change kind,
//! set text, clear outputs. Each returns the index it touched, so the page re-renders only
//! that; `None` means the cell was not found (or, for a move, could not move) and nothing
//! changed.

use crate::cell::{Cell, CellKind};
use crate::id::{CellId, IdSource, fresh_id};
use crate::notebook::{DeletedCell, Notebook, UNDO_DELETE_DEPTH};

/// Which way [`Notebook::move_cell`] moves a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Towards the start of the notebook.
    Up,
    /// Towards the end of the notebook.
    Down,
}

impl Notebook {
    /// Inserts an empty cell of `kind` at `index` (at the end if `index` is past it) and
    /// returns its new id.
    pub fn insert_cell(&mut self, index: usize, kind: CellKind, ids: &mut impl IdSource) -> CellId {
        let id = fresh_id(ids, &self.taken_ids());
        let index = index.min(self.cells.len());
        self.cells.insert(index, Cell::new(id.clone(), kind));
        id
    }

    /// Deletes a cell and returns the index it had; [`Notebook::undo_delete`] brings it back.
    /// Deleting the only cell leaves one new empty code cell at index 0 in its place, since
    /// a notebook is never empty.
    pub fn delete_cell(&mut self, id: &CellId) -> Option<usize> {
        let index = self.index_of(id)?;
        let cell = self.cells.remove(index);
        if self.deleted.len() == UNDO_DELETE_DEPTH {
            self.deleted.pop_front();
        }
        self.deleted.push_back(DeletedCell { index, cell });
        self.ensure_not_empty();
        Some(index)
    }

    /// Puts the most recently deleted cell back at the index it had (or at the end, if
    /// the notebook has fewer cells now) and returns that index and its id. The id is the
    /// one it had, unless a cell with that id was added meanwhile; then it gets a new one.
    pub fn undo_delete(&mut self) -> Option<(usize, CellId)> {
        let DeletedCell { index, mut cell } = self.deleted.pop_back()?;
        if self.index_of(&cell.id).is_some() {
            let taken = self.taken_ids();
            cell.id = fresh_id(&mut self.own_ids, &taken);
        }
        let index = index.min(self.cells.len());
        let id = cell.id.clone();
        self.cells.insert(index, cell);
        Some((index, id))
    }

    /// How many deletes [`Notebook::undo_delete`] can still undo.
    pub fn undoable_deletes(&self) -> usize {
        self.deleted.len()
    }

    /// Moves a cell one place up or down and returns its new index; `None` if there is no
    /// such cell or it is already first (up) or last (down).
    pub fn move_cell(&mut self, id: &CellId, direction: Direction) -> Option<usize> {
        let index = self.index_of(id)?;
        let new_index = match direction {
            Direction::Up => index.checked_sub(1)?,
            Direction::Down => Some(index + 1).filter(|&below| below < self.cells.len())?,
        };
        self.cells.swap(index, new_index);
        Some(new_index)
    }

    /// Changes a cell's kind. A cell that stops being code loses its outputs and execution
    /// count, as in Jupyter; a cell that becomes code loses its attachments, which only
    /// Markdown and raw cells can have.
    pub fn set_kind(&mut self, id: &CellId, kind: CellKind) -> Option<usize> {
        let index = self.index_of(id)?;
        let cell = &mut self.cells[index];
        cell.kind = kind;
        if kind == CellKind::Code {
            cell.attachments = None;
        } else {
            cell.outputs.clear();
            cell.execution_count = None;
        }
        Some(index)
    }

    pub fn set_source(&mut self, id: &CellId, source: String) -> Option<usize> {
        let index = self.index_of(id)?;
        self.cells[index].source = source;
        Some(index)
    }

    /// Clears a cell's outputs and its execution count.
    pub fn clear_outputs(&mut self, id: &CellId) -> Option<usize> {
        let index = self.index_of(id)?;
        let cell = &mut self.cells[index];
        cell.outputs.clear();
        cell.execution_count = None;
        Some(index)
    }

    /// Clears every cell's outputs and execution count.
    pub fn clear_all_outputs(&mut self) {
        for cell in &mut self.cells {
            cell.outputs.clear();
            cell.execution_count = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SeededIds;
    use crate::output::{Output, StreamName};

    /// A notebook whose cells are `sources` (code cells), with their ids.
    fn notebook_of(sources: &[&str]) -> (Notebook, Vec<CellId>, SeededIds) {
        let mut ids = SeededIds::new(3);
        let mut notebook = Notebook::new(&mut ids);
        let first = notebook.cells[0].id.clone();
        let mut cell_ids = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let id = notebook.insert_cell(index, CellKind::Code, &mut ids);
            notebook.set_source(&id, (*source).to_owned());
            cell_ids.push(id);
        }
        notebook.delete_cell(&first);
        // Forget that delete: tests start from exactly `sources`.
        notebook.deleted.clear();
        (notebook, cell_ids, ids)
    }

    fn sources(notebook: &Notebook) -> Vec<&str> {
        notebook
            .cells
            .iter()
            .map(|cell| cell.source.as_str())
            .collect()
    }

    #[test]
    fn inserts_cells_where_asked_and_at_the_end_past_it() {
        let (mut notebook, _, mut ids) = notebook_of(&["a", "b"]);
        let above = notebook.insert_cell(0, CellKind::Markdown, &mut ids);
        let far = notebook.insert_cell(99, CellKind::Raw, &mut ids);
        let middle = notebook.insert_cell(2, CellKind::Code, &mut ids);
        assert_eq!(sources(&notebook), ["", "a", "", "b", ""]);
        assert_eq!(notebook.index_of(&above), Some(0));
        assert_eq!(notebook.index_of(&middle), Some(2));
        assert_eq!(notebook.index_of(&far), Some(4));
        assert_eq!(
            notebook.cell(&above).map(|cell| cell.kind),
            Some(CellKind::Markdown)
        );
        assert_eq!(
            notebook.cell(&far).map(|cell| cell.kind),
            Some(CellKind::Raw)
        );
    }

    #[test]
    fn deletes_and_undoes_deletes_in_reverse_order() {
        let (mut notebook, ids, _) = notebook_of(&["a", "b", "c", "d"]);
        assert_eq!(notebook.delete_cell(&ids[1]), Some(1));
        assert_eq!(notebook.delete_cell(&ids[3]), Some(2));
        assert_eq!(sources(&notebook), ["a", "c"]);
        assert_eq!(notebook.delete_cell(&ids[1]), None, "already deleted");
        assert_eq!(notebook.undo_delete(), Some((2, ids[3].clone())));
        assert_eq!(notebook.undo_delete(), Some((1, ids[1].clone())));
        assert_eq!(sources(&notebook), ["a", "b", "c", "d"]);
        assert_eq!(notebook.undo_delete(), None);
    }

    #[test]
    fn undo_puts_a_cell_at_the_end_when_its_place_is_gone() {
        let (mut notebook, ids, _) = notebook_of(&["a", "b", "c"]);
        assert_eq!(notebook.delete_cell(&ids[2]), Some(2));
        // The page may drop cells itself (say, by loading other cells into the model).
        notebook.cells.truncate(1);
        assert_eq!(notebook.undo_delete(), Some((1, ids[2].clone())));
        assert_eq!(sources(&notebook), ["a", "c"]);
    }

    #[test]
    fn deleting_the_only_cell_leaves_an_empty_code_cell_and_undo_brings_it_back_too() {
        let (mut notebook, ids, _) = notebook_of(&["only"]);
        notebook.set_kind(&ids[0], CellKind::Markdown);
        assert_eq!(notebook.delete_cell(&ids[0]), Some(0));
        assert_eq!(notebook.cells.len(), 1);
        let replacement = notebook.cells[0].clone();
        assert_eq!(
            (replacement.kind, replacement.source.as_str()),
            (CellKind::Code, "")
        );
        assert_ne!(replacement.id, ids[0]);
        assert_eq!(notebook.undo_delete(), Some((0, ids[0].clone())));
        assert_eq!(sources(&notebook), ["only", ""]);
        assert_eq!(notebook.cells[1], replacement);
    }

    #[test]
    fn a_restored_cell_whose_id_was_taken_meanwhile_gets_a_new_one() {
        let (mut notebook, ids, _) = notebook_of(&["a", "b"]);
        notebook.delete_cell(&ids[1]);
        // The page may add cells itself; one of them happens to have the deleted id.
        notebook
            .cells
            .push(Cell::new(ids[1].clone(), CellKind::Code));
        let (index, id) = notebook.undo_delete().expect("a delete to undo");
        assert_eq!(index, 1);
        assert_ne!(id, ids[1]);
        assert_eq!(
            notebook.cell(&id).map(|cell| cell.source.as_str()),
            Some("b")
        );
    }

    #[test]
    fn remembers_only_the_last_deletes() {
        let (mut notebook, _, mut ids) = notebook_of(&["kept"]);
        for _ in 0..UNDO_DELETE_DEPTH + 5 {
            let id = notebook.insert_cell(1, CellKind::Code, &mut ids);
            notebook.delete_cell(&id);
        }
        let mut undone = 0;
        while notebook.undo_delete().is_some() {
            undone += 1;
        }
        assert_eq!(undone, UNDO_DELETE_DEPTH);
    }

    #[test]
    fn new_ids_never_reuse_a_deleted_cells_id() {
        let (mut notebook, ids, _) = notebook_of(&["a", "b"]);
        notebook.delete_cell(&ids[1]);
        // A source that offers the deleted id first.
        struct Replays(Vec<CellId>);
        impl IdSource for Replays {
            fn next_id(&mut self) -> CellId {
                self.0
                    .pop()
                    .unwrap_or_else(|| CellId::parse("fresh").expect("valid"))
            }
        }
        let id = notebook.insert_cell(1, CellKind::Code, &mut Replays(vec![ids[1].clone()]));
        assert_eq!(id.as_str(), "fresh");
        assert_eq!(notebook.undo_delete(), Some((1, ids[1].clone())));
    }

    #[test]
    fn moves_cells_up_and_down_within_the_notebook() {
        let (mut notebook, ids, _) = notebook_of(&["a", "b", "c"]);
        assert_eq!(notebook.move_cell(&ids[0], Direction::Up), None);
        assert_eq!(notebook.move_cell(&ids[2], Direction::Down), None);
        assert_eq!(notebook.move_cell(&ids[0], Direction::Down), Some(1));
        assert_eq!(sources(&notebook), ["b", "a", "c"]);
        assert_eq!(notebook.move_cell(&ids[2], Direction::Up), Some(1));
        assert_eq!(sources(&notebook), ["b", "c", "a"]);
        let missing = CellId::parse("missing").expect("valid");
        assert_eq!(notebook.move_cell(&missing, Direction::Up), None);
        assert_eq!(sources(&notebook), ["b", "c", "a"]);
    }

    fn ran(notebook: &mut Notebook, id: &CellId) {
        let cell = notebook.cell_mut(id).expect("the cell");
        cell.execution_count = Some(4);
        cell.outputs = vec![Output::stream(StreamName::Stdout, "hi\n")];
    }

    #[test]
    fn changing_a_code_cell_to_markdown_clears_its_outputs() {
        let (mut notebook, ids, _) = notebook_of(&["print('hi')"]);
        ran(&mut notebook, &ids[0]);
        assert_eq!(notebook.set_kind(&ids[0], CellKind::Code), Some(0));
        assert_eq!(
            notebook.cells[0].outputs.len(),
            1,
            "staying code keeps outputs"
        );
        assert_eq!(notebook.set_kind(&ids[0], CellKind::Markdown), Some(0));
        let cell = &notebook.cells[0];
        assert_eq!(
            (
                cell.kind,
                cell.source.as_str(),
                cell.execution_count,
                cell.outputs.len()
            ),
            (CellKind::Markdown, "print('hi')", None, 0)
        );
        notebook.cells[0].attachments = Some(serde_json::json!({"a.png": {}}));
        assert_eq!(notebook.set_kind(&ids[0], CellKind::Code), Some(0));
        assert_eq!(notebook.cells[0].attachments, None);
    }

    #[test]
    fn clears_outputs_of_one_cell_or_all() {
        let (mut notebook, ids, _) = notebook_of(&["a", "b", "c"]);
        for id in &ids {
            ran(&mut notebook, id);
        }
        assert_eq!(notebook.clear_outputs(&ids[1]), Some(1));
        let counts = |notebook: &Notebook| -> Vec<(Option<u32>, usize)> {
            notebook
                .cells
                .iter()
                .map(|cell| (cell.execution_count, cell.outputs.len()))
                .collect()
        };
        assert_eq!(counts(&notebook), [(Some(4), 1), (None, 0), (Some(4), 1)]);
        notebook.clear_all_outputs();
        assert_eq!(counts(&notebook), [(None, 0), (None, 0), (None, 0)]);
    }

    #[test]
    fn commands_on_a_missing_cell_change_nothing() {
        let (mut notebook, _, _) = notebook_of(&["a"]);
        let before = notebook.clone();
        let missing = CellId::parse("missing").expect("valid");
        assert_eq!(notebook.delete_cell(&missing), None);
        assert_eq!(notebook.set_kind(&missing, CellKind::Raw), None);
        assert_eq!(notebook.set_source(&missing, "x".to_owned()), None);
        assert_eq!(notebook.clear_outputs(&missing), None);
        assert!(notebook.cell_mut(&missing).is_none());
        assert_eq!(notebook, before);
        assert_eq!(notebook.undo_delete(), None);
    }
}
