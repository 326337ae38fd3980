//! Writing a [`Notebook`] as a `.ipynb` file, byte for byte as Jupyter writes one.
//!
//! Jupyter (nbformat's `writes`, then `write`) prints the JSON with `indent=1`,
//! `sort_keys=True` and `ensure_ascii=False`, splits multiline text into lists of lines,
//! and ends the file with a newline. Matching that exactly means a notebook that came from
//! Jupyter and went through the workbench unchanged diffs clean in the user's git.

use serde_json::{Map, Value, json};

use crate::cell::{Cell, CellKind};
use crate::multiline::to_lines_value;
use crate::notebook::{
    Notebook, TRANSIENT_CELL_METADATA, TRANSIENT_NOTEBOOK_METADATA, fill_default_metadata,
};
use crate::output::{MimeBundle, Output, is_split_mime};

impl Notebook {
    /// The notebook as a nbformat 4.5 `.ipynb` file.
    pub fn to_ipynb(&self) -> String {
        let mut text = String::new();
        write_value(&mut text, &self.to_ipynb_value(), 0);
        text.push('\n');
        text
    }

    /// The notebook as nbformat 4.5 JSON, text split into lines as in a file.
    pub(crate) fn to_ipynb_value(&self) -> Value {
        let mut metadata = self.metadata.clone();
        for transient in TRANSIENT_NOTEBOOK_METADATA {
            metadata.remove(transient);
        }
        fill_default_metadata(&mut metadata);
        json!({
            "cells": self.cells.iter().map(cell_value).collect::<Vec<_>>(),
            "metadata": metadata,
            "nbformat": 4,
            "nbformat_minor": 5
        })
    }
}

fn cell_value(cell: &Cell) -> Value {
    let mut metadata = cell.metadata.clone();
    for transient in TRANSIENT_CELL_METADATA {
        metadata.remove(transient);
    }
    let mut object = Map::new();
    object.insert("id".to_owned(), json!(cell.id));
    object.insert("cell_type".to_owned(), json!(cell.kind.as_str()));
    object.insert("metadata".to_owned(), Value::Object(metadata));
    object.insert("source".to_owned(), to_lines_value(&cell.source));
    match cell.kind {
        CellKind::Code => {
            object.insert("execution_count".to_owned(), json!(cell.execution_count));
            object.insert(
                "outputs".to_owned(),
                cell.outputs.iter().map(output_value).collect(),
            );
        }
        CellKind::Markdown | CellKind::Raw => {
            if let Some(attachments) = &cell.attachments {
                object.insert("attachments".to_owned(), attachments_value(attachments));
            }
        }
    }
    Value::Object(object)
}

fn output_value(output: &Output) -> Value {
    match output {
        Output::Stream { name, text } => json!({
            "output_type": "stream",
            "name": name.as_str(),
            "text": to_lines_value(text)
        }),
        Output::DisplayData { data, metadata } => json!({
            "output_type": "display_data",
            "data": bundle_value(data),
            "metadata": metadata
        }),
        Output::ExecuteResult {
            execution_count,
            data,
            metadata,
        } => json!({
            "output_type": "execute_result",
            "execution_count": execution_count,
            "data": bundle_value(data),
            "metadata": metadata
        }),
        Output::Error {
            ename,
            evalue,
            traceback,
        } => json!({
            "output_type": "error",
            "ename": ename,
            "evalue": evalue,
            "traceback": traceback
        }),
    }
}

fn bundle_value(bundle: &MimeBundle) -> Value {
    Value::Object(
        bundle
            .iter()
            .map(|(mime, value)| (mime.to_owned(), split_if_text(mime, value)))
            .collect(),
    )
}

fn attachments_value(attachments: &Value) -> Value {
    let Value::Object(attachments) = attachments else {
        return attachments.clone();
    };
    Value::Object(
        attachments
            .iter()
            .map(|(name, bundle)| {
                let bundle = match bundle {
                    Value::Object(bundle) => Value::Object(
                        bundle
                            .iter()
                            .map(|(mime, value)| (mime.clone(), split_if_text(mime, value)))
                            .collect(),
                    ),
                    other => other.clone(),
                };
                (name.clone(), bundle)
            })
            .collect(),
    )
}

/// A bundle value as nbformat writes it: text of the types it splits as a list of lines.
fn split_if_text(mime: &str, value: &Value) -> Value {
    match value {
        Value::String(text) if is_split_mime(mime) => to_lines_value(text),
        other => other.clone(),
    }
}

/// Appends `value` as Python's `json.dumps(value, indent=1, sort_keys=True,
/// ensure_ascii=False)` prints it, `depth` levels in. Written by hand rather than with
/// serde_json's pretty printer so that keys are sorted whatever `serde_json` features
/// another crate turns on (`preserve_order` keeps insertion order).
fn write_value(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => match number.as_f64() {
            Some(float) if number.is_f64() => out.push_str(&python_float_repr(float)),
            _ => out.push_str(&number.to_string()),
        },
        Value::String(text) => write_string(out, text),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                new_line(out, depth + 1);
                write_value(out, item, depth + 1);
            }
            new_line(out, depth);
            out.push(']');
        }
        Value::Object(entries) if entries.is_empty() => out.push_str("{}"),
        Value::Object(entries) => {
            let mut sorted: Vec<(&String, &Value)> = entries.iter().collect();
            // Byte order of UTF-8 is code point order, which is how Python sorts keys.
            sorted.sort_unstable_by_key(|(key, _)| *key);
            out.push('{');
            for (position, (key, item)) in sorted.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                new_line(out, depth + 1);
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item, depth + 1);
            }
            new_line(out, depth);
            out.push('}');
        }
    }
}

/// A float as Python's `repr` writes it: the shortest digits that read back the same (as
/// Rust's own formatting finds them), in fixed notation while the decimal point is within
/// 16 digits of the start and not 4 or more zeros after it, else as `1.5e-07` / `1e+16`.
fn python_float_repr(float: f64) -> String {
    let sign = if float.is_sign_negative() { "-" } else { "" };
    // `{:e}` gives the shortest round-trip digits as `d.ddde<exponent>`.
    let scientific = format!("{:e}", float.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exponent + 1;
    let digit_count = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if !(-4 < point && point <= 16) {
        let sign_of_exponent = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{sign}{mantissa}e{sign_of_exponent}{:02}",
            exponent.unsigned_abs()
        );
    }
    if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        )
    } else if point >= digit_count {
        format!(
            "{sign}{digits}{}.0",
            "0".repeat((point - digit_count).unsigned_abs() as usize)
        )
    } else {
        let (whole, fraction) = digits.split_at(point.unsigned_abs() as usize);
        format!("{sign}{whole}.{fraction}")
    }
}

fn new_line(out: &mut String, depth: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', depth));
}

/// A JSON string as Python writes it with `ensure_ascii=False`: only `"`, `\` and control
/// characters are escaped, the common ones by their short escapes, the rest as `\u00xx`.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            control if u32::from(control) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{CellId, SeededIds};
    use crate::output::StreamName;

    const JUPYTERLAB_V4_5: &str = include_str!("../tests/fixtures/jupyterlab4-v4.5.ipynb");
    const CLASSIC_V4_4: &str = include_str!("../tests/fixtures/classic-v4.4-without-ids.ipynb");

    fn open(text: &str) -> Notebook {
        Notebook::from_ipynb(text, &mut SeededIds::new(1)).expect("the notebook opens")
    }

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).expect("JSON")
    }

    #[test]
    fn a_file_jupyterlab_wrote_comes_back_byte_for_byte() {
        let written = open(JUPYTERLAB_V4_5).to_ipynb();
        assert_eq!(parsed(&written), parsed(JUPYTERLAB_V4_5));
        assert_eq!(written, JUPYTERLAB_V4_5);
    }

    #[test]
    fn a_classic_v4_4_file_is_written_as_v4_5_with_ids() {
        let notebook = open(CLASSIC_V4_4);
        let written = parsed(&notebook.to_ipynb());
        let original = parsed(CLASSIC_V4_4);
        assert_eq!(
            (&written["nbformat"], &written["nbformat_minor"]),
            (&json!(4), &json!(5))
        );
        assert_eq!(
            written["metadata"], original["metadata"],
            "metadata is the file's own"
        );
        let (Some(written_cells), Some(original_cells)) =
            (written["cells"].as_array(), original["cells"].as_array())
        else {
            panic!("both have cells");
        };
        assert_eq!(written_cells.len(), original_cells.len());
        for (index, (written_cell, original_cell)) in
            written_cells.iter().zip(original_cells).enumerate()
        {
            let mut without_id = written_cell.clone();
            let id = without_id
                .as_object_mut()
                .and_then(|cell| cell.remove("id"))
                .expect("every cell has an id");
            assert_eq!(id, json!(notebook.cells[index].id));
            assert_eq!(
                &without_id, original_cell,
                "cell {index} is otherwise unchanged"
            );
        }
        assert_eq!(open(&notebook.to_ipynb()), notebook);
    }

    #[test]
    fn writes_a_new_notebook_exactly_as_jupyter_would() {
        let mut notebook = Notebook::new(&mut SeededIds::new(9));
        notebook.cells[0].id = CellId::parse("1a2b3c4d").expect("valid");
        assert_eq!(
            notebook.to_ipynb(),
            r#"{
 "cells": [
  {
   "cell_type": "code",
   "execution_count": null,
   "id": "1a2b3c4d",
   "metadata": {},
   "outputs": [],
   "source": []
  }
 ],
 "metadata": {
  "kernelspec": {
   "display_name": "Python 3 (Pyodide)",
   "language": "python",
   "name": "python3"
  },
  "language_info": {
   "codemirror_mode": {
    "name": "ipython",
    "version": 3
   },
   "file_extension": ".py",
   "mimetype": "text/x-python",
   "name": "python",
   "nbconvert_exporter": "python",
   "pygments_lexer": "ipython3",
   "version": "3.12"
  }
 },
 "nbformat": 4,
 "nbformat_minor": 5
}
"#
        );
    }

    /// A notebook holding one of everything, with texts that are easy to get wrong.
    fn everything() -> Notebook {
        let mut ids = SeededIds::new(21);
        let mut notebook = Notebook::new(&mut ids);
        let code = notebook.cells[0].id.clone();
        notebook.set_source(&code, "print('a')\r\nx = 1\u{2028}y\n\n".to_owned());
        let mut figure = MimeBundle::new();
        figure.insert_text("image/png", "iVBORw0KGgo=\n");
        figure.insert_text("image/svg+xml", "<svg>\n</svg>\n");
        figure.insert_text("image/jpeg", "/9j/4AAQ\nSkZJRg==\n");
        figure.insert_text("text/markdown", "**bold**\n\n| a |\n|---|");
        figure.insert_text("text/html", "<b>x</b>\n<script>alert(1)</script>");
        figure.insert_text("text/plain", "");
        figure.insert("application/json", json!(["a\n", "b"]));
        figure.insert(
            "application/vnd.custom+json",
            json!({"x": [1.5e-7, 1e16, -0.0]}),
        );
        let cell = notebook.cell_mut(&code).expect("the cell");
        cell.execution_count = Some(7);
        cell.metadata.insert("tags".to_owned(), json!(["keep"]));
        cell.outputs = vec![
            Output::stream(StreamName::Stdout, ""),
            Output::stream(StreamName::Stderr, "warn\rover\n"),
            Output::display_data(figure.clone()),
            Output::execute_result(None, figure),
            Output::error(
                "ValueError",
                "bad \"value\"",
                vec!["\u{1b}[0;31mline\u{1b}[0m\n".to_owned()],
            ),
        ];
        let markdown = notebook.insert_cell(1, CellKind::Markdown, &mut ids);
        notebook.set_source(&markdown, "# Title ✓\n\n![x](attachment:x.png)".to_owned());
        notebook.cell_mut(&markdown).expect("the cell").attachments = Some(json!({
            "x.png": {"image/png": "iVBORw0KGgo=", "text/plain": "a\nb"}
        }));
        let raw = notebook.insert_cell(2, CellKind::Raw, &mut ids);
        notebook.set_source(&raw, "\\begin{x}".to_owned());
        notebook
            .metadata
            .insert("custom".to_owned(), json!({"nested": [null, true, 0.5]}));
        notebook
    }

    #[test]
    fn everything_written_reads_back_equal() {
        let notebook = everything();
        let written = notebook.to_ipynb();
        let again = open(&written);
        assert_eq!(again, notebook);
        assert_eq!(again.to_ipynb(), written);
    }

    #[test]
    fn splits_text_into_lines_where_jupyter_does() {
        let written = parsed(&everything().to_ipynb());
        let code = &written["cells"][0];
        assert_eq!(
            code["source"],
            json!(["print('a')\r\n", "x = 1\u{2028}", "y\n", "\n"])
        );
        assert_eq!(code["outputs"][0]["text"], json!([]));
        assert_eq!(code["outputs"][1]["text"], json!(["warn\r", "over\n"]));
        let data = &code["outputs"][2]["data"];
        assert_eq!(
            data["image/png"],
            json!("iVBORw0KGgo=\n"),
            "base64 stays one string"
        );
        assert_eq!(data["image/svg+xml"], json!(["<svg>\n", "</svg>\n"]));
        assert_eq!(data["image/jpeg"], json!("/9j/4AAQ\nSkZJRg==\n"));
        assert_eq!(
            data["text/markdown"],
            json!(["**bold**\n", "\n", "| a |\n", "|---|"])
        );
        assert_eq!(
            data["text/html"],
            json!(["<b>x</b>\n", "<script>alert(1)</script>"])
        );
        assert_eq!(data["text/plain"], json!([]));
        assert_eq!(data["application/json"], json!(["a\n", "b"]));
        assert_eq!(code["outputs"][3]["execution_count"], json!(null));
        let markdown = &written["cells"][1];
        assert_eq!(
            markdown["attachments"],
            json!({"x.png": {"image/png": "iVBORw0KGgo=", "text/plain": ["a\n", "b"]}})
        );
    }

    #[test]
    fn writes_exactly_the_fields_each_cell_kind_has() {
        let written = parsed(&everything().to_ipynb());
        let keys = |cell: &Value| -> Vec<String> {
            cell.as_object()
                .map(|object| object.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut code_keys = keys(&written["cells"][0]);
        code_keys.sort();
        assert_eq!(
            code_keys,
            [
                "cell_type",
                "execution_count",
                "id",
                "metadata",
                "outputs",
                "source"
            ]
        );
        let mut markdown_keys = keys(&written["cells"][1]);
        markdown_keys.sort();
        assert_eq!(
            markdown_keys,
            ["attachments", "cell_type", "id", "metadata", "source"]
        );
        let mut raw_keys = keys(&written["cells"][2]);
        raw_keys.sort();
        assert_eq!(raw_keys, ["cell_type", "id", "metadata", "source"]);
    }

    #[test]
    fn never_writes_transient_metadata_and_always_writes_the_kernel() {
        let mut notebook = everything();
        notebook.metadata.remove("kernelspec");
        notebook
            .metadata
            .insert("signature".to_owned(), json!("sha256:…"));
        notebook
            .metadata
            .insert("orig_nbformat".to_owned(), json!(3));
        notebook.cells[0]
            .metadata
            .insert("trusted".to_owned(), json!(true));
        let written = parsed(&notebook.to_ipynb());
        assert_eq!(
            written["metadata"]["kernelspec"],
            crate::notebook::default_kernelspec()
        );
        assert_eq!(written["metadata"].get("signature"), None);
        assert_eq!(written["metadata"].get("orig_nbformat"), None);
        assert_eq!(written["cells"][0]["metadata"], json!({"tags": ["keep"]}));
    }

    #[test]
    fn prints_json_as_python_does() {
        let mut out = String::new();
        write_value(
            &mut out,
            &json!({"b": 1, "a": [], "c": {}, "B": [1, {"é": 2, "z": null}], "e": 1.5}),
            0,
        );
        assert_eq!(
            out,
            "{\n \"B\": [\n  1,\n  {\n   \"z\": null,\n   \"é\": 2\n  }\n ],\n \"a\": [],\n \"b\": 1,\n \"c\": {},\n \"e\": 1.5\n}"
        );
        let mut escaped = String::new();
        write_string(
            &mut escaped,
            "a\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é€😀\u{2028}",
        );
        assert_eq!(
            escaped,
            "\"a\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é€😀\u{2028}\""
        );
    }

    #[test]
    fn prints_floats_as_python_repr_does() {
        // Each pair is Python's own `json.dumps(float)`.
        for (float, python) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (120.5, "120.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (-2.5e-10, "-2.5e-10"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (std::f64::consts::PI, "3.141592653589793"),
            (100.0, "100.0"),
            (1234.5678, "1234.5678"),
            (9007199254740992.0, "9007199254740992.0"),
        ] {
            assert_eq!(python_float_repr(float), python, "{float:e}");
        }
        let mut out = String::new();
        write_value(&mut out, &json!([1, -1, 18446744073709551615_u64, 2.5]), 0);
        assert_eq!(out, "[\n 1,\n -1,\n 18446744073709551615,\n 2.5\n]");
    }
}
