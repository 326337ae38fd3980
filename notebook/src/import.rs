//! Opening a Jupyter `.ipynb` file (nbformat 4.0 to 4.5) into a [`Notebook`].
//!
//! The file comes from anyone, so nothing in it may panic, and every refusal says in plain
//! words what is wrong. What is merely odd is repaired rather than refused: missing or
//! repeated cell ids get new ones, a missing `metadata` or `outputs` is empty, an
//! execution count that is not a count is dropped, an output too large to keep is replaced
//! by a note. What the workbench does not use but Jupyter might (unknown metadata) is kept.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::cell::{Cell, CellKind};
use crate::id::{CellId, IdSource, fresh_id};
use crate::multiline;
use crate::notebook::{
    Notebook, TRANSIENT_CELL_METADATA, TRANSIENT_NOTEBOOK_METADATA, fill_default_metadata,
};
use crate::output::{Output, is_json_mime, megabytes_rounded_up, shortened};

/// The largest `.ipynb` text that can be opened: 25 MiB.
///
/// Checked on the text before it is parsed. Parsing makes a tree several times the text's
/// size, and the whole notebook is then kept in IndexedDB and in the page's memory; a
/// notebook bigger than this is almost always one that carries its data in its outputs,
/// which the browser cannot hold comfortably (see [`crate::MAX_OUTPUT_BYTES`]).
pub const MAX_NOTEBOOK_BYTES: usize = 25 * 1024 * 1024;

/// Why a file could not be opened as a notebook. Each message is meant for the person
/// who picked the file. Cells and outputs are counted from 1, as people count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("this file is empty")]
    Empty,
    #[error(
        "this file is {}; notebooks up to {} MB can be opened",
        megabytes_rounded_up(*bytes),
        MAX_NOTEBOOK_BYTES / (1024 * 1024)
    )]
    TooLarge { bytes: usize },
    #[error("this file is not JSON (line {line}, column {column}: {problem})")]
    NotJson {
        line: usize,
        column: usize,
        problem: String,
    },
    #[error("this is JSON but not a Jupyter notebook ({problem})")]
    NotANotebook { problem: &'static str },
    #[error(
        "this notebook is nbformat {major}; open it in Jupyter and save it as nbformat 4 first"
    )]
    TooOld { major: u64 },
    #[error("nbformat {major} is not supported yet (this workbench reads 4.0–4.5)")]
    TooNew { major: u64 },
    #[error("cell {cell} has the unknown type {cell_type:?}")]
    UnknownCellType { cell: usize, cell_type: String },
    #[error("cell {cell} {problem}")]
    InvalidCell { cell: usize, problem: &'static str },
    #[error("cell {cell}, output {output} has the unknown type {output_type:?}")]
    UnknownOutputType {
        cell: usize,
        output: usize,
        output_type: String,
    },
    #[error("cell {cell}, output {output} is not a valid output ({problem})")]
    InvalidOutput {
        cell: usize,
        output: usize,
        problem: String,
    },
}

/// At most this many characters of a name from the file go into a message.
const MAX_QUOTED_CHARS: usize = 40;

impl Notebook {
    /// Reads a `.ipynb` file's text. nbformat 4.0–4.5 are read (a newer 4.x is read as
    /// 4.5, as Jupyter does); cells without a valid, unique id get one from `ids`; an
    /// output over [`crate::MAX_OUTPUT_BYTES`] is replaced by a note; a file with no cells
    /// gets one empty code cell.
    pub fn from_ipynb(text: &str, ids: &mut impl IdSource) -> Result<Notebook, ImportError> {
        if text.len() > MAX_NOTEBOOK_BYTES {
            return Err(ImportError::TooLarge { bytes: text.len() });
        }
        // Some Windows editors start a UTF-8 file with a byte order mark; JSON has none.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(ImportError::Empty);
        }
        let Value::Object(mut top) = serde_json::from_str(text).map_err(not_json)? else {
            return Err(not_a_notebook("no \"cells\" list"));
        };
        check_version(&top)?;
        let cells = match top.remove("cells") {
            Some(Value::Array(cells)) => cells,
            Some(_) => return Err(not_a_notebook("\"cells\" is not a list")),
            None => return Err(not_a_notebook("no \"cells\" list")),
        };
        let mut metadata = match top.remove("metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(metadata)) => metadata,
            Some(_) => return Err(not_a_notebook("its \"metadata\" is not a JSON object")),
        };
        for transient in TRANSIENT_NOTEBOOK_METADATA {
            metadata.remove(transient);
        }
        fill_default_metadata(&mut metadata);

        let mut imported = cells
            .into_iter()
            .enumerate()
            .map(|(index, cell)| import_cell(index + 1, cell))
            .collect::<Result<Vec<ImportedCell>, ImportError>>()?;
        // The first cell to claim an id keeps it; later claimants get new ones.
        let mut taken = HashSet::new();
        for cell in &mut imported {
            if let Some(id) = cell.id.take()
                && !taken.contains(&id)
            {
                taken.insert(id.clone());
                cell.id = Some(id);
            }
        }
        let cells = imported
            .into_iter()
            .map(|mut imported| {
                let id = imported.id.take().unwrap_or_else(|| {
                    let id = fresh_id(ids, &taken);
                    taken.insert(id.clone());
                    id
                });
                imported.into_cell(id)
            })
            .collect();
        Ok(Notebook::with_parts(cells, metadata, ids))
    }
}

/// A cell read from the file, before ids are settled: [`Cell`]'s fields but the id.
struct ImportedCell {
    /// The file's id, if it was a valid one.
    id: Option<CellId>,
    kind: CellKind,
    source: String,
    execution_count: Option<u32>,
    outputs: Vec<Output>,
    metadata: Map<String, Value>,
    attachments: Option<Value>,
}

impl ImportedCell {
    fn into_cell(self, id: CellId) -> Cell {
        Cell {
            id,
            kind: self.kind,
            source: self.source,
            execution_count: self.execution_count,
            outputs: self.outputs,
            metadata: self.metadata,
            attachments: self.attachments,
        }
    }
}

fn not_a_notebook(problem: &'static str) -> ImportError {
    ImportError::NotANotebook { problem }
}

fn not_json(error: serde_json::Error) -> ImportError {
    let problem = if error.is_eof() {
        "the file ends before the JSON does; it may have been cut short".to_owned()
    } else {
        // serde_json's message is "<problem> at line L column C"; the place is said apart.
        let message = error.to_string();
        let place = format!(" at line {} column {}", error.line(), error.column());
        let problem = message.strip_suffix(&place).unwrap_or(&message);
        if problem == "recursion limit exceeded" {
            "it is nested too deeply".to_owned()
        } else {
            problem.to_owned()
        }
    };
    ImportError::NotJson {
        line: error.line(),
        column: error.column(),
        problem,
    }
}

/// Refuses what is not nbformat 4. A file without `nbformat` but with cells is read as 4.
fn check_version(top: &Map<String, Value>) -> Result<(), ImportError> {
    let Some(major) = top.get("nbformat") else {
        return Ok(());
    };
    match major.as_u64() {
        Some(4) => Ok(()),
        Some(major @ 1..=3) => Err(ImportError::TooOld { major }),
        Some(major @ 5..) => Err(ImportError::TooNew { major }),
        Some(0) | None => Err(not_a_notebook("its \"nbformat\" is not a version number")),
    }
}

fn import_cell(number: usize, value: Value) -> Result<ImportedCell, ImportError> {
    let invalid = |problem| ImportError::InvalidCell {
        cell: number,
        problem,
    };
    let Value::Object(mut object) = value else {
        return Err(invalid("is not a JSON object"));
    };
    let kind = match object.remove("cell_type") {
        Some(Value::String(cell_type)) => {
            CellKind::parse(&cell_type).ok_or_else(|| ImportError::UnknownCellType {
                cell: number,
                cell_type: shortened(&cell_type, MAX_QUOTED_CHARS),
            })?
        }
        Some(_) => return Err(invalid("has a \"cell_type\" that is not text")),
        None => return Err(invalid("has no \"cell_type\"")),
    };
    let id = match object.remove("id") {
        Some(Value::String(id)) => CellId::parse(id).ok(),
        _ => None,
    };
    let source = match object.remove("source") {
        None | Some(Value::Null) => String::new(),
        Some(source) => multiline::join_owned(source)
            .map_err(|_| invalid("has a \"source\" that is not text"))?,
    };
    let mut metadata = match object.remove("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(metadata)) => metadata,
        Some(_) => return Err(invalid("has a \"metadata\" that is not a JSON object")),
    };
    for transient in TRANSIENT_CELL_METADATA {
        metadata.remove(transient);
    }
    let mut cell = ImportedCell {
        id,
        kind,
        source,
        execution_count: None,
        outputs: Vec::new(),
        metadata,
        attachments: None,
    };
    match kind {
        CellKind::Code => {
            // A count that is not a small non-negative integer is only a display hint lost.
            cell.execution_count = object
                .get("execution_count")
                .and_then(Value::as_u64)
                .and_then(|count| u32::try_from(count).ok());
            cell.outputs = match object.remove("outputs") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(outputs)) => outputs
                    .into_iter()
                    .enumerate()
                    .map(|(index, output)| import_output(number, index + 1, output))
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(invalid("has \"outputs\" that are not a list")),
            };
        }
        CellKind::Markdown | CellKind::Raw => {
            cell.attachments = match object.remove("attachments") {
                None | Some(Value::Null) => None,
                Some(Value::Object(mut attachments)) => {
                    for bundle in attachments.values_mut() {
                        if let Value::Object(bundle) = bundle {
                            rejoin_text(bundle);
                        }
                    }
                    Some(Value::Object(attachments))
                }
                Some(_) => return Err(invalid("has \"attachments\" that are not a JSON object")),
            };
        }
    }
    Ok(cell)
}

const OUTPUT_TYPES: [&str; 4] = ["stream", "display_data", "execute_result", "error"];

fn import_output(cell: usize, output: usize, value: Value) -> Result<Output, ImportError> {
    let invalid = |problem: &str| ImportError::InvalidOutput {
        cell,
        output,
        problem: shortened(problem, 200),
    };
    let output_type = match &value {
        Value::Object(object) => match object.get("output_type") {
            Some(Value::String(output_type)) => output_type,
            Some(_) => return Err(invalid("its \"output_type\" is not text")),
            None => return Err(invalid("it has no \"output_type\"")),
        },
        _ => return Err(invalid("it is not a JSON object")),
    };
    if !OUTPUT_TYPES.contains(&output_type.as_str()) {
        return Err(ImportError::UnknownOutputType {
            cell,
            output,
            output_type: shortened(output_type, MAX_QUOTED_CHARS),
        });
    }
    Output::deserialize(value)
        .map(Output::limit_size)
        .map_err(|error| invalid(&error.to_string()))
}

/// Joins the text of a MIME bundle kept as JSON (an attachment), as [`crate::MimeBundle`]
/// does for outputs.
fn rejoin_text(bundle: &mut Map<String, Value>) {
    for (mime, value) in bundle.iter_mut() {
        if !is_json_mime(mime)
            && value.is_array()
            && let Some(text) = multiline::join(value)
        {
            *value = Value::String(text);
        }
    }
}
