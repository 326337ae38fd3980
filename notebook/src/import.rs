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
use crate::output::{MimeBundle, Output, megabytes_rounded_up, shortened};

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
        match problem {
            "recursion limit exceeded" => "it is nested too deeply".to_owned(),
            // Said of text that starts like `null`, `true` or `false` and is not.
            "expected ident" => "expected value".to_owned(),
            other => other.to_owned(),
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
                Some(Value::Object(attachments)) => Some(Value::Object(
                    attachments
                        .into_iter()
                        .filter_map(|(name, bundle)| match bundle {
                            // Held like an output's data; an attachment that is not a
                            // bundle cannot be shown and is dropped.
                            Value::Object(bundle) => {
                                let bundle: MimeBundle = bundle.into_iter().collect();
                                Some((name, Value::Object(bundle.into_iter().collect())))
                            }
                            _ => None,
                        })
                        .collect(),
                )),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::SeededIds;
    use crate::output::{MAX_OUTPUT_BYTES, StreamName};
    use serde_json::json;

    const JUPYTERLAB_V4_5: &str = include_str!("../tests/fixtures/jupyterlab4-v4.5.ipynb");
    const CLASSIC_V4_4: &str = include_str!("../tests/fixtures/classic-v4.4-without-ids.ipynb");

    fn open(text: &str) -> Result<Notebook, ImportError> {
        Notebook::from_ipynb(text, &mut SeededIds::new(1))
    }

    fn opened(text: &str) -> Notebook {
        open(text).expect("the notebook opens")
    }

    /// A nbformat 4.5 file around `cells`.
    fn file_with(cells: Value) -> String {
        json!({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).to_string()
    }

    #[test]
    fn opens_a_classic_v4_4_notebook_and_gives_every_cell_an_id() {
        let notebook = opened(CLASSIC_V4_4);
        let kinds: Vec<CellKind> = notebook.cells.iter().map(|cell| cell.kind).collect();
        use CellKind::{Code, Markdown};
        assert_eq!(kinds, [Markdown, Code, Code, Markdown, Code]);
        let ids: HashSet<&CellId> = notebook.cells.iter().map(|cell| &cell.id).collect();
        assert_eq!(ids.len(), 5);
        assert!(
            notebook
                .cells
                .iter()
                .all(|cell| cell.id.as_str().len() == 8)
        );

        assert!(
            notebook.cells[1]
                .source
                .starts_with("import pandas as pd\n\ndf = ")
        );
        assert!(
            notebook.cells[1]
                .source
                .ends_with("print(\"columns:\", list(df.columns))\ndf")
        );
        assert_eq!(notebook.cells[1].execution_count, Some(1));
        let [stream, result] = notebook.cells[1].outputs.as_slice() else {
            panic!("two outputs: {:?}", notebook.cells[1].outputs);
        };
        assert_eq!(
            stream,
            &Output::stream(
                StreamName::Stdout,
                "rows: 3\ncolumns: ['species', 'petal_length']\n"
            )
        );
        let Output::ExecuteResult {
            execution_count: Some(1),
            data,
            ..
        } = result
        else {
            panic!("an execute_result: {result:?}");
        };
        assert!(
            data.get_text("text/plain")
                .is_some_and(|text| text.ends_with("2   virginica           6.0"))
        );
        assert!(
            data.get_text("text/html")
                .is_some_and(|html| html.starts_with("<div>\n<style scoped>\n")
                    && html.ends_with("</table>\n</div>"))
        );

        let Output::Error {
            ename,
            evalue,
            traceback,
        } = &notebook.cells[2].outputs[0]
        else {
            panic!("an error output");
        };
        assert_eq!(
            (ename.as_str(), evalue.as_str(), traceback.len()),
            ("ZeroDivisionError", "float division by zero", 4)
        );
        assert_eq!(
            notebook.cells[2].metadata,
            *json!({"scrolled": true}).as_object().expect("object")
        );
        assert_eq!(
            (
                notebook.cells[4].execution_count,
                notebook.cells[4].source.as_str()
            ),
            (None, "")
        );
        assert_eq!(
            notebook.metadata["toc"]["title_cell"], "Table of Contents",
            "unknown metadata is kept"
        );
        assert_eq!(notebook.metadata["language_info"]["version"], "3.7.6");
        assert_eq!(
            notebook.title_from_cells().as_deref(),
            Some("Iris measurements")
        );
    }

    #[test]
    fn opens_a_jupyterlab_v4_5_notebook_keeping_its_ids() {
        let notebook = opened(JUPYTERLAB_V4_5);
        let ids: Vec<&str> = notebook.cells.iter().map(|cell| cell.id.as_str()).collect();
        assert_eq!(ids[0], "3f2c9a1e-7b4d-4e8a-9c21-5d6f0a1b2c3d");
        assert_eq!(ids[5], "e4a61f08-3b9d-4c27-8f52-7d0c2b9e1a36");
        assert_eq!(notebook.cells[4].kind, CellKind::Raw);
        let outputs = &notebook.cells[3].outputs;
        assert_eq!(
            outputs.iter().map(Output::output_type).collect::<Vec<_>>(),
            ["stream", "stream", "display_data"]
        );
        let Output::DisplayData { data, .. } = &outputs[2] else {
            panic!("a figure");
        };
        assert!(
            data.get_text("image/png")
                .is_some_and(|png| png.starts_with("iVBORw0KGgo") && !png.contains('\n'))
        );
        assert_eq!(
            data.get_text("text/plain"),
            Some("<Figure size 640x480 with 1 Axes>")
        );
        assert_eq!(notebook.cells[1].metadata["tags"], json!(["parameters"]));
        assert_eq!(
            notebook.metadata["kernelspec"]["display_name"],
            "Python 3 (ipykernel)"
        );
        assert_eq!(
            notebook.title_from_cells().as_deref(),
            Some("Sales by region")
        );
    }

    fn check_rejected(text: &str, expected: &str) {
        match open(text) {
            Ok(notebook) => panic!("{text:.100} opened as {notebook:?}"),
            Err(error) => assert_eq!(error.to_string(), expected, "for {text:.100}"),
        }
    }

    fn cell_error(cell: Value, expected: &str) {
        check_rejected(
            &file_with(json!([{"cell_type": "code", "source": "1"}, cell])),
            expected,
        );
    }

    fn output_error(output: Value, expected: &str) {
        let stream = json!({"output_type": "stream", "name": "stdout", "text": "ok"});
        cell_error(
            json!({"cell_type": "code", "source": "", "outputs": [stream, output]}),
            expected,
        );
    }

    #[test]
    fn tells_what_is_wrong_with_a_file_that_is_not_a_notebook() {
        check_rejected("", "this file is empty");
        check_rejected(" \n\t", "this file is empty");
        check_rejected(
            "name,age\nAda,36\n",
            "this file is not JSON (line 1, column 2: expected value)",
        );
        check_rejected(
            "import pandas\n",
            "this file is not JSON (line 1, column 1: expected value)",
        );
        check_rejected(
            "{\"cells\": [}",
            "this file is not JSON (line 1, column 12: expected value)",
        );
        check_rejected(
            "{\"cells\": []}\n{}",
            "this file is not JSON (line 2, column 1: trailing characters)",
        );
        check_rejected(
            &JUPYTERLAB_V4_5[..JUPYTERLAB_V4_5.len() / 2],
            "this file is not JSON (line 85, column 11: the file ends before the JSON does; it may have been cut short)",
        );
        check_rejected(
            &"[".repeat(10_000),
            "this file is not JSON (line 1, column 128: it is nested too deeply)",
        );
        check_rejected(
            "[1, 2]",
            "this is JSON but not a Jupyter notebook (no \"cells\" list)",
        );
        check_rejected(
            "\"cells\"",
            "this is JSON but not a Jupyter notebook (no \"cells\" list)",
        );
        check_rejected(
            "{}",
            "this is JSON but not a Jupyter notebook (no \"cells\" list)",
        );
        check_rejected(
            "{\"cells\": {}}",
            "this is JSON but not a Jupyter notebook (\"cells\" is not a list)",
        );
        check_rejected(
            "{\"cells\": [], \"metadata\": []}",
            "this is JSON but not a Jupyter notebook (its \"metadata\" is not a JSON object)",
        );
        check_rejected(
            "{\"cells\": [], \"nbformat\": \"4\"}",
            "this is JSON but not a Jupyter notebook (its \"nbformat\" is not a version number)",
        );
        check_rejected(
            "{\"cells\": [], \"nbformat\": 0}",
            "this is JSON but not a Jupyter notebook (its \"nbformat\" is not a version number)",
        );
        check_rejected(
            r#"{"metadata": {"name": ""}, "nbformat": 3, "nbformat_minor": 0,
                "worksheets": [{"cells": [], "metadata": {}}]}"#,
            "this notebook is nbformat 3; open it in Jupyter and save it as nbformat 4 first",
        );
        check_rejected(
            "{\"cells\": [], \"nbformat\": 5, \"nbformat_minor\": 0}",
            "nbformat 5 is not supported yet (this workbench reads 4.0–4.5)",
        );
    }

    #[test]
    fn refuses_a_file_over_the_size_limit_before_parsing_it() {
        check_rejected(
            &" ".repeat(54_840_524),
            "this file is 52.3 MB; notebooks up to 25 MB can be opened",
        );
        let just_fits = format!("{}{}", " ".repeat(MAX_NOTEBOOK_BYTES - 2), "{}");
        check_rejected(
            &just_fits,
            "this is JSON but not a Jupyter notebook (no \"cells\" list)",
        );
        let one_more = format!(" {just_fits}");
        check_rejected(
            &one_more,
            "this file is 25.1 MB; notebooks up to 25 MB can be opened",
        );
    }

    #[test]
    fn tells_which_cell_is_wrong_and_how() {
        let file = file_with(json!([
            {"cell_type": "code", "source": ""},
            {"cell_type": "markdown", "source": ""},
            {"cell_type": "raw", "source": ""},
            {"cell_type": "foo", "source": ""}
        ]));
        check_rejected(&file, "cell 4 has the unknown type \"foo\"");
        cell_error(
            json!({"cell_type": "x".repeat(1000)}),
            &format!("cell 2 has the unknown type \"{}…\"", "x".repeat(40)),
        );
        cell_error(
            json!({"cell_type": "heading", "level": 1}),
            "cell 2 has the unknown type \"heading\"",
        );
        cell_error(json!(1), "cell 2 is not a JSON object");
        cell_error(json!(["code"]), "cell 2 is not a JSON object");
        cell_error(json!({"source": "x"}), "cell 2 has no \"cell_type\"");
        cell_error(
            json!({"cell_type": 3}),
            "cell 2 has a \"cell_type\" that is not text",
        );
        cell_error(
            json!({"cell_type": "code", "source": 3}),
            "cell 2 has a \"source\" that is not text",
        );
        cell_error(
            json!({"cell_type": "code", "source": ["a", 3]}),
            "cell 2 has a \"source\" that is not text",
        );
        cell_error(
            json!({"cell_type": "code", "source": {"a": "b"}}),
            "cell 2 has a \"source\" that is not text",
        );
        cell_error(
            json!({"cell_type": "markdown", "metadata": []}),
            "cell 2 has a \"metadata\" that is not a JSON object",
        );
        cell_error(
            json!({"cell_type": "code", "outputs": {}}),
            "cell 2 has \"outputs\" that are not a list",
        );
        cell_error(
            json!({"cell_type": "markdown", "attachments": []}),
            "cell 2 has \"attachments\" that are not a JSON object",
        );
    }

    #[test]
    fn tells_which_output_is_wrong_and_how() {
        output_error(
            json!({"output_type": "widget"}),
            "cell 2, output 2 has the unknown type \"widget\"",
        );
        output_error(
            json!("stream"),
            "cell 2, output 2 is not a valid output (it is not a JSON object)",
        );
        output_error(
            json!({"name": "stdout"}),
            "cell 2, output 2 is not a valid output (it has no \"output_type\")",
        );
        output_error(
            json!({"output_type": 1}),
            "cell 2, output 2 is not a valid output (its \"output_type\" is not text)",
        );
        output_error(
            json!({"output_type": "stream", "name": "stdin", "text": ""}),
            "cell 2, output 2 is not a valid output (unknown variant `stdin`, expected `stdout` or `stderr`)",
        );
        output_error(
            json!({"output_type": "stream", "name": "stdout", "text": 5}),
            "cell 2, output 2 is not a valid output (expected text (a string or a list of strings))",
        );
        output_error(
            json!({"output_type": "error", "ename": "E"}),
            "cell 2, output 2 is not a valid output (missing field `evalue`)",
        );
        output_error(
            json!({"output_type": "error", "ename": "E", "evalue": "x".repeat(1000), "traceback": "not a list"}),
            "cell 2, output 2 is not a valid output (invalid type: string \"not a list\", expected a sequence)",
        );
        output_error(
            json!({"output_type": "display_data", "data": "x".repeat(1000)}),
            &format!(
                "cell 2, output 2 is not a valid output (invalid type: string \"{}…)",
                "x".repeat(200 - "invalid type: string \"".len())
            ),
        );
    }

    #[test]
    fn repairs_what_is_merely_odd() {
        let notebook = opened(&json!({
            "cells": [
                {"cell_type": "code"},
                {"cell_type": "markdown", "source": null, "metadata": null, "outputs": [1], "execution_count": 3},
                {"cell_type": "code", "execution_count": -1, "outputs": null},
                {"cell_type": "code", "execution_count": "3"},
                {"cell_type": "code", "execution_count": 4294967296_u64},
                {"cell_type": "raw", "attachments": {
                    "a.png": {"text/plain": ["a\n", "b"], "application/json": ["x"], "image/png": 5},
                    "b.png": "not a bundle"
                }},
                {"cell_type": "code", "attachments": {"a.png": {}}},
            ]
        }).to_string());
        assert_eq!(notebook.cells.len(), 7);
        for cell in &notebook.cells {
            assert_eq!(
                (
                    cell.source.as_str(),
                    cell.execution_count,
                    cell.outputs.len()
                ),
                ("", None, 0)
            );
            assert!(cell.metadata.is_empty());
        }
        assert_eq!(
            notebook.cells[5].attachments,
            Some(json!({"a.png": {"text/plain": "a\nb", "application/json": ["x"]}}))
        );
        assert_eq!(
            notebook.cells[6].attachments, None,
            "code cells have no attachments"
        );
        assert_eq!(
            notebook.metadata["kernelspec"],
            crate::notebook::default_kernelspec()
        );
    }

    #[test]
    fn gives_new_ids_to_cells_with_missing_invalid_or_repeated_ones() {
        let notebook = opened(&file_with(json!([
            {"cell_type": "code", "id": "first"},
            {"cell_type": "code", "id": "first"},
            {"cell_type": "code", "id": "has space"},
            {"cell_type": "code", "id": 7},
            {"cell_type": "code", "id": "x".repeat(65)},
            {"cell_type": "code", "id": ""},
            {"cell_type": "code"},
            {"cell_type": "code", "id": "kept_too-1"},
        ])));
        let ids: Vec<&str> = notebook.cells.iter().map(|cell| cell.id.as_str()).collect();
        assert_eq!((ids[0], ids[7]), ("first", "kept_too-1"));
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            ids.len(),
            "{ids:?}"
        );
        assert!(ids[1..7].iter().all(|id| id.len() == 8), "{ids:?}");
        // A classic file may carry ids too (an invalid one for 4.4, but harmless): kept.
        let classic = json!({"cells": [{"cell_type": "code", "id": "old"}], "nbformat": 4, "nbformat_minor": 2});
        assert_eq!(opened(&classic.to_string()).cells[0].id.as_str(), "old");
    }

    #[test]
    fn reads_every_nbformat_4_minor_and_files_that_leave_the_version_out() {
        for minor in [
            json!(0),
            json!(1),
            json!(4),
            json!(5),
            json!(6),
            json!(null),
        ] {
            let file = json!({"cells": [{"cell_type": "markdown", "source": "# Hi"}], "nbformat": 4, "nbformat_minor": minor});
            assert_eq!(opened(&file.to_string()).cells[0].source, "# Hi");
        }
        assert_eq!(opened("{\"cells\": []}").cells.len(), 1, "never empty");
        assert_eq!(
            opened("\u{feff}{\"cells\": []}").cells.len(),
            1,
            "a byte order mark is skipped"
        );
    }

    #[test]
    fn drops_transient_metadata_and_keeps_the_rest() {
        let notebook = opened(&json!({
            "cells": [{"cell_type": "code", "metadata": {"trusted": true, "scrolled": "auto", "execution": {"iopub.status.busy": "2026-11-29T10:00:00.000Z"}}}],
            "metadata": {"signature": "sha256:ab", "orig_nbformat": 3, "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}, "title": "T"},
            "nbformat": 4, "nbformat_minor": 5
        }).to_string());
        assert_eq!(
            Value::Object(notebook.cells[0].metadata.clone()),
            json!({"scrolled": "auto", "execution": {"iopub.status.busy": "2026-11-29T10:00:00.000Z"}})
        );
        let mut keys: Vec<&str> = notebook.metadata.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["kernelspec", "language_info", "title", "widgets"]);
    }

    #[test]
    fn replaces_an_output_too_large_to_keep_and_opens_the_rest() {
        let huge_image = "A".repeat(20 * 1024 * 1024);
        let file = file_with(json!([
            {"cell_type": "code", "execution_count": 1, "source": "plot()", "outputs": [
                {"output_type": "stream", "name": "stdout", "text": ["drawing\n"]},
                {"output_type": "display_data", "metadata": {}, "data": {"image/png": huge_image}},
            ]},
            {"cell_type": "markdown", "source": "# After"},
        ]));
        let notebook = opened(&file);
        let mut note = MimeBundle::new();
        note.insert_text(
            "text/plain",
            "[an image/png output of 20.0 MB was too large to keep; the limit is 5 MB]",
        );
        assert_eq!(
            notebook.cells[0].outputs,
            [
                Output::stream(StreamName::Stdout, "drawing\n"),
                Output::display_data(note)
            ]
        );
        assert_eq!(
            (
                notebook.cells[0].execution_count,
                notebook.cells[1].source.as_str()
            ),
            (Some(1), "# After")
        );
        let at_the_limit = file_with(json!([{"cell_type": "code", "outputs": [
            {"output_type": "stream", "name": "stderr", "text": ["x".repeat(MAX_OUTPUT_BYTES - 1), "\n".to_owned()]}
        ]}]));
        assert_eq!(
            opened(&at_the_limit).cells[0].outputs[0].data_bytes(),
            MAX_OUTPUT_BYTES
        );
    }

    /// Odd shapes a hostile or broken file may have: each is refused or opened, never a
    /// panic, and whatever opens writes a file that opens to the same notebook.
    #[test]
    fn no_shape_of_file_makes_it_panic() {
        let shapes = [
            json!(null),
            json!(0),
            json!(-1),
            json!(1e308),
            json!("x"),
            json!([]),
            json!([[]]),
            json!({}),
            json!({"cells": null}),
            json!({"cells": [null]}),
            json!({"cells": [[]]}),
            json!({"cells": [{}]}),
            json!({"cells": [{"cell_type": null}]}),
            json!({"cells": [{"cell_type": ["code"]}]}),
            json!({"cells": [{"cell_type": "code", "outputs": [null]}]}),
            json!({"cells": [{"cell_type": "code", "outputs": [[]]}]}),
            json!({"cells": [{"cell_type": "code", "outputs": [{"output_type": null}]}]}),
            json!({"cells": [{"cell_type": "code", "outputs": [{"output_type": "stream"}]}]}),
            json!({"cells": [{"cell_type": "code", "outputs": [{"output_type": "display_data", "data": null}]}]}),
            json!({"cells": [{"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {"text/plain": [[["deep"]]]}}]}]}),
            json!({"cells": [{"cell_type": "code", "outputs": [{"output_type": "execute_result", "execution_count": 1.5, "data": {}}]}]}),
            json!({"cells": [{"cell_type": "code", "outputs": [{"output_type": "error", "ename": 1, "evalue": 2, "traceback": [3]}]}]}),
            json!({"cells": [{"cell_type": "markdown", "attachments": {"a": 1, "b": [], "c": {"image/png": 5}}}]}),
            json!({"cells": [{"cell_type": "code", "id": null, "metadata": {"a": {"b": {"c": {"d": [1, 2, {"e": null}]}}}}}]}),
            json!({"cells": [], "nbformat": -4}),
            json!({"cells": [], "nbformat": 4.5}),
            json!({"cells": [], "nbformat": 18446744073709551615_u64}),
            json!({"cells": [], "nbformat": 4, "nbformat_minor": "five"}),
            json!({"cells": [], "metadata": {"kernelspec": null, "language_info": 3}}),
        ];
        for shape in shapes {
            round_trips_if_it_opens(&shape.to_string());
        }
        let deepest_allowed = format!(
            "{{\"cells\": [], \"metadata\": {{\"deep\": {}{}}}}}",
            "[".repeat(120),
            "]".repeat(120)
        );
        round_trips_if_it_opens(&deepest_allowed);
        for end in 0..JUPYTERLAB_V4_5.trim_end().len() {
            if JUPYTERLAB_V4_5.is_char_boundary(end) {
                assert!(
                    open(&JUPYTERLAB_V4_5[..end]).is_err(),
                    "a file cut at {end} opened"
                );
            }
        }
    }

    fn round_trips_if_it_opens(text: &str) {
        if let Ok(notebook) = open(text) {
            let written = notebook.to_ipynb();
            let again = open(&written).unwrap_or_else(|error| {
                panic!("{text:.200} wrote a file that does not open: {error}")
            });
            assert_eq!(again, notebook, "{text:.200}");
            assert_eq!(again.to_ipynb(), written, "{text:.200}");
        }
    }

    /// A small random number generator for the mutations below (SplitMix64).
    struct Dice(u64);

    impl Dice {
        fn below(&mut self, bound: usize) -> usize {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut mixed = self.0;
            mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((mixed ^ (mixed >> 31)) % bound as u64) as usize
        }
    }

    /// Replaces, removes or duplicates one random part of `value`.
    fn mutate(value: &mut Value, dice: &mut Dice) {
        let replacements = [
            json!(null),
            json!(true),
            json!(0),
            json!(-1),
            json!(1.5),
            json!(4294967296_u64),
            json!(""),
            json!("x"),
            json!("stdout"),
            json!("code"),
            json!("markdown"),
            json!("foo"),
            json!([]),
            json!({}),
            json!(["a\n", 1]),
            json!({"output_type": "stream"}),
            json!([[[[[]]]]]),
            json!("a b"),
        ];
        let descend = dice.below(3) != 0;
        match value {
            Value::Array(items) if !items.is_empty() && descend => {
                let index = dice.below(items.len());
                mutate(&mut items[index], dice);
            }
            Value::Object(entries) if !entries.is_empty() && descend => {
                let index = dice.below(entries.len());
                if let Some((_, entry)) = entries.iter_mut().nth(index) {
                    mutate(entry, dice);
                }
            }
            Value::Array(items) if !items.is_empty() && dice.below(2) == 0 => {
                let index = dice.below(items.len());
                if dice.below(2) == 0 {
                    items.remove(index);
                } else {
                    let copy = items[index].clone();
                    items.push(copy);
                }
            }
            Value::Object(entries) if !entries.is_empty() && dice.below(2) == 0 => {
                let index = dice.below(entries.len());
                if let Some(key) = entries.keys().nth(index).cloned() {
                    entries.remove(&key);
                }
            }
            other => *other = replacements[dice.below(replacements.len())].clone(),
        }
    }

    #[test]
    fn randomly_damaged_notebooks_never_panic_and_round_trip_when_they_open() {
        let mut dice = Dice(2026);
        let mut opened_count = 0;
        for fixture in [JUPYTERLAB_V4_5, CLASSIC_V4_4] {
            let original: Value = serde_json::from_str(fixture).expect("JSON");
            for _ in 0..400 {
                let mut damaged = original.clone();
                for _ in 0..=dice.below(3) {
                    mutate(&mut damaged, &mut dice);
                }
                let text = damaged.to_string();
                if open(&text).is_ok() {
                    opened_count += 1;
                }
                round_trips_if_it_opens(&text);
            }
        }
        // Both outcomes are exercised: many damaged files still open, many do not.
        assert!(
            (100..700).contains(&opened_count),
            "{opened_count} of 800 opened"
        );
    }
}
