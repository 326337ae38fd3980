//! The notebook model: cells with ids, execution counts and outputs; the editing commands
//! the page sends (with undo of deletes); Jupyter `.ipynb` files in and out (nbformat 4.0
//! to 4.5 read, 4.5 written as Jupyter writes it); and the percent-format `.py` export.
//!
//! No UI, no JavaScript, nothing wasm-specific: the page shows a [`Notebook`] and sends it
//! commands, and everything here is tested with `cargo test -p notebook`. Randomness (for
//! new cell ids) comes from the caller through [`IdSource`].
//!
//! Limits, each explained where it is defined: [`MAX_NOTEBOOK_BYTES`] for a file opened,
//! [`MAX_OUTPUT_BYTES`] for one output kept, [`UNDO_DELETE_DEPTH`] deletes undoable.

pub mod archive;
mod cell;
mod edit;
mod export;
mod id;
mod import;
pub mod markdown;
mod multiline;
mod notebook;
mod output;
mod percent;
mod revisions;
pub mod safe;
mod share;
mod title;

pub use cell::{Cell, CellKind};
pub use edit::Direction;
pub use id::{CellId, IdSource, InvalidCellId, MAX_CELL_ID_LEN, SeededIds};
pub use import::{ImportError, MAX_NOTEBOOK_BYTES};
pub use notebook::{Notebook, UNDO_DELETE_DEPTH};
pub use output::{MAX_OUTPUT_BYTES, MimeBundle, Output, StreamName, is_json_mime, merge_streams};
pub use revisions::{Changes, Fingerprint, revisions_to_let_go, text_hash};
pub use share::{
    DEFAULT_LINK_LIMIT, FRAGMENT_PREFIX, MAX_LINK_LIMIT, MAX_SHARED_BYTES, ShareError,
    SharedNotebook, SharedOutputs,
};
pub use title::MAX_TITLE_CHARS;
