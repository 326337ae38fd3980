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
        Value::Number(number) => out.push_str(&number.to_string()),
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
