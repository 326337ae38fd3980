//! What the page needs to keep a notebook's history of revisions, without the storage: a
//! cheap fingerprint of the cells, the changes between two fingerprints in words, and which
//! revisions to let go when there are too many or they are too big.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::notebook::Notebook;

/// Each cell's id and a hash of its kind and text, in order: enough to say which cells were
/// added, removed or changed between two revisions without keeping the older one parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(Vec<(String, u64)>);

/// Cells added, removed and changed between two revisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: usize,
    pub removed: usize,
    pub changed: usize,
}

impl Notebook {
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(
            self.cells
                .iter()
                .map(|cell| {
                    let mut hash = Fnv::new();
                    hash.write(cell.kind.as_str().as_bytes());
                    hash.write(&[0]);
                    hash.write(cell.source.as_bytes());
                    (cell.id.as_str().to_owned(), hash.0)
                })
                .collect(),
        )
    }
}

impl Fingerprint {
    /// How `self` differs from `before`: cells matched by id (ids stay with cells through
    /// edits and moves).
    pub fn changes_since(&self, before: &Fingerprint) -> Changes {
        let find = |cells: &[(String, u64)], id: &str| {
            cells
                .iter()
                .find(|(other, _)| other == id)
                .map(|(_, hash)| *hash)
        };
        let mut changes = Changes::default();
        for (id, hash) in &self.0 {
            match find(&before.0, id) {
                None => changes.added += 1,
                Some(old) if old != *hash => changes.changed += 1,
                Some(_) => {}
            }
        }
        changes.removed = before
            .0
            .iter()
            .filter(|(id, _)| find(&self.0, id).is_none())
            .count();
        changes
    }

    pub fn cells(&self) -> usize {
        self.0.len()
    }
}

impl Changes {
    pub fn is_empty(self) -> bool {
        self == Self::default()
    }
}

/// "2 cells changed, 1 added", "1 cell removed", "no cell changed".
impl fmt::Display for Changes {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<(usize, &str)> = [
            (self.changed, "changed"),
            (self.added, "added"),
            (self.removed, "removed"),
        ]
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .collect();
        if parts.is_empty() {
            return formatter.write_str("no cell changed");
        }
        for (index, (count, what)) in parts.iter().enumerate() {
            if index == 0 {
                let cells = if *count == 1 { "cell" } else { "cells" };
                write!(formatter, "{count} {cells} {what}")?;
            } else {
                write!(formatter, ", {count} {what}")?;
            }
        }
        Ok(())
    }
}

/// Which revisions to let go so that at most `max_count` remain and they hold at most
/// `max_bytes` together: given each revision's time and size, oldest first, the indexes to
/// remove. The newest `keep_newest` are never removed. Older ones are thinned rather than
/// cut: each time, the revision closest in time to the one before it goes (the oldest of
/// equals first), so the history keeps reaching back, sparser the older it is.
pub fn revisions_to_let_go(
    revisions: &[(f64, usize)],
    max_count: usize,
    max_bytes: usize,
    keep_newest: usize,
) -> Vec<usize> {
    let mut kept: Vec<usize> = (0..revisions.len()).collect();
    let mut removed = Vec::new();
    let total = |kept: &[usize]| kept.iter().map(|&index| revisions[index].1).sum::<usize>();
    while kept.len() > max_count || (total(&kept) > max_bytes && kept.len() > keep_newest) {
        let thinnable = kept.len().saturating_sub(keep_newest);
        if thinnable == 0 {
            break;
        }
        // The oldest is the history's far end: it goes only when nothing else can.
        let position = if thinnable == 1 {
            0
        } else {
            (1..thinnable)
                .min_by(|&a, &b| {
                    let gap = |position: usize| {
                        revisions[kept[position]].0 - revisions[kept[position - 1]].0
                    };
                    gap(a).total_cmp(&gap(b))
                })
                .unwrap_or(0)
        };
        removed.push(kept.remove(position));
    }
    removed.sort_unstable();
    removed
}

/// A hash of a whole text (a revision's `.ipynb`), stable across builds: two revisions with
/// the same hash are the same notebook, outputs included.
pub fn text_hash(text: &str) -> u64 {
    let mut hash = Fnv::new();
    hash.write(text.as_bytes());
    hash.0
}

/// FNV-1a, 64 bits: stable across builds, so a fingerprint kept by one version of the page
/// is read alike by the next.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CellKind, SeededIds};

    #[test]
    fn changes_are_counted_by_cell_id() {
        let mut ids = SeededIds::new(3);
        let mut notebook = Notebook::new(&mut ids);
        let second = notebook.insert_cell(1, CellKind::Code, &mut ids);
        let third = notebook.insert_cell(2, CellKind::Markdown, &mut ids);
        let before = notebook.fingerprint();
        assert_eq!(before.cells(), 3);
        assert!(notebook.fingerprint().changes_since(&before).is_empty());
        assert_eq!(
            notebook.fingerprint().changes_since(&before).to_string(),
            "no cell changed"
        );

        notebook.set_source(&second, "x = 1".to_owned());
        notebook.delete_cell(&third);
        notebook.insert_cell(0, CellKind::Code, &mut ids);
        notebook.insert_cell(0, CellKind::Code, &mut ids);
        let changes = notebook.fingerprint().changes_since(&before);
        assert_eq!(
            changes,
            Changes {
                added: 2,
                removed: 1,
                changed: 1
            }
        );
        assert_eq!(changes.to_string(), "1 cell changed, 2 added, 1 removed");
        // A moved cell is not a changed one; a changed kind is.
        let moved = notebook.fingerprint();
        notebook.move_cell(&second, crate::Direction::Up);
        assert!(notebook.fingerprint().changes_since(&moved).is_empty());
        notebook.set_kind(&second, CellKind::Markdown);
        assert_eq!(
            notebook.fingerprint().changes_since(&moved).to_string(),
            "1 cell changed"
        );
        let only_removed = Fingerprint::default().changes_since(&moved);
        assert_eq!(only_removed.to_string(), "4 cells removed");
    }

    #[test]
    fn too_many_revisions_are_thinned_oldest_first_keeping_the_far_end() {
        // Ten revisions a minute apart, then three an hour apart.
        let mut revisions: Vec<(f64, usize)> = (0..10).map(|n| (n as f64 * 60.0, 10)).collect();
        for n in 1..=3 {
            revisions.push((600.0 + n as f64 * 3600.0, 10));
        }
        let gone = revisions_to_let_go(&revisions, 8, usize::MAX, 3);
        assert_eq!(gone.len(), 5);
        assert!(!gone.contains(&0), "the oldest stays: {gone:?}");
        assert!(
            gone.iter().all(|&index| index < 10),
            "the hourly ones stay: {gone:?}"
        );
        // Equal gaps: the oldest go first, and every other one goes (thinned, not cut).
        assert_eq!(gone, vec![1, 3, 5, 7, 9]);
        assert!(revisions_to_let_go(&revisions, 13, usize::MAX, 3).is_empty());
    }

    #[test]
    fn too_many_bytes_let_old_revisions_go_but_never_the_newest() {
        let revisions = vec![(0.0, 50), (10.0, 50), (20.0, 50), (30.0, 50)];
        assert_eq!(revisions_to_let_go(&revisions, 10, 120, 1), vec![1, 2]);
        // The newest are kept even when they alone are over.
        assert_eq!(revisions_to_let_go(&revisions, 10, 10, 2), vec![0, 1]);
        assert_eq!(
            revisions_to_let_go(&[(0.0, 500)], 10, 10, 1),
            Vec::<usize>::new()
        );
    }
}
