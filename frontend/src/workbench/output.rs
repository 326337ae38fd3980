//! The output area: streamed text (stdout, stderr, notices), then rich results — tables for
//! DataFrames, images for figures.
//!
//! Streamed text is gathered and added at most every [`FLUSH_EVERY`], as new pieces only, so
//! a run that prints a great deal does not re-render the whole log for every line.

use std::time::Duration;

use leptos::prelude::*;
use pyodide_loader::RichOutput;
use serde_json::Value;

const FLUSH_EVERY: Duration = Duration::from_millis(30);

/// Where a piece of text came from, which decides how it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Stdout,
    Stderr,
    Error,
    Info,
}

impl OutputKind {
    fn class(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::Error => "error",
            Self::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Body {
    Text(OutputKind, String),
    Rich(RichOutput),
}

#[derive(Debug, Clone, PartialEq)]
struct Piece {
    id: usize,
    body: Body,
}

/// The output log; a cheap copyable handle.
#[derive(Debug, Clone, Copy)]
pub struct OutputLog {
    pieces: RwSignal<Vec<Piece>>,
    /// Text received since the last flush.
    pending: StoredValue<Vec<(OutputKind, String)>>,
    flush_scheduled: StoredValue<bool>,
    next_id: StoredValue<usize>,
}

impl OutputLog {
    pub fn new() -> Self {
        Self {
            pieces: RwSignal::new(Vec::new()),
            pending: StoredValue::new(Vec::new()),
            flush_scheduled: StoredValue::new(false),
            next_id: StoredValue::new(0),
        }
    }

    pub fn push_text(self, kind: OutputKind, text: String) {
        self.pending
            .update_value(|pending| match pending.last_mut() {
                Some((last_kind, last_text)) if *last_kind == kind => last_text.push_str(&text),
                _ => pending.push((kind, text)),
            });
        if !self.flush_scheduled.get_value() {
            self.flush_scheduled.set_value(true);
            set_timeout(move || self.flush(), FLUSH_EVERY);
        }
    }

    pub fn push_rich(self, output: RichOutput) {
        self.flush();
        let id = self.take_id();
        self.pieces.update(|pieces| {
            pieces.push(Piece {
                id,
                body: Body::Rich(output),
            })
        });
    }

    pub fn clear(self) {
        self.pending.set_value(Vec::new());
        self.pieces.set(Vec::new());
    }

    fn flush(self) {
        self.flush_scheduled.set_value(false);
        let pending = std::mem::take(&mut *self.pending.write_value());
        if pending.is_empty() {
            return;
        }
        let new_pieces: Vec<Piece> = pending
            .into_iter()
            .map(|(kind, text)| Piece {
                id: self.take_id(),
                body: Body::Text(kind, text),
            })
            .collect();
        self.pieces.update(|pieces| pieces.extend(new_pieces));
    }

    fn take_id(self) -> usize {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        id
    }
}

impl Default for OutputLog {
    fn default() -> Self {
        Self::new()
    }
}

#[component]
pub fn OutputView(log: OutputLog) -> impl IntoView {
    view! {
        <div class="output" data-testid="output" role="log" aria-label="Output" aria-live="polite">
            <For each=move || log.pieces.get() key=|piece| piece.id let:piece>
                {piece_view(piece.body)}
            </For>
        </div>
    }
}

fn piece_view(body: Body) -> AnyView {
    match body {
        Body::Text(kind, text) => view! { <span class=kind.class()>{text}</span> }.into_any(),
        Body::Rich(RichOutput::Text { text }) => {
            view! { <span class="result" data-testid="result">{format!("{text}\n")}</span> }
                .into_any()
        }
        Body::Rich(RichOutput::Image { mime, data }) => view! {
            <img
                class="figure"
                data-testid="figure"
                src=format!("data:{mime};base64,{data}")
                alt="A figure drawn by the code"
            />
        }
        .into_any(),
        Body::Rich(RichOutput::Table {
            columns,
            dtypes,
            index,
            rows,
            total_rows,
            truncated,
        }) => {
            let caption = format!(
                "{total_rows} rows × {} columns{}",
                columns.len(),
                if truncated {
                    format!(", first {} shown", rows.len())
                } else {
                    String::new()
                }
            );
            view! {
                <figure class="table" data-testid="table">
                    <div class="table-scroll">
                        <table>
                            <thead>
                                <tr>
                                    <th></th>
                                    {columns
                                        .into_iter()
                                        .zip(dtypes)
                                        .map(|(column, dtype)| {
                                            view! {
                                                <th scope="col">
                                                    {column} <small>{dtype}</small>
                                                </th>
                                            }
                                        })
                                        .collect_view()}
                                </tr>
                            </thead>
                            <tbody>
                                {index
                                    .into_iter()
                                    .zip(rows)
                                    .map(|(label, row)| {
                                        view! {
                                            <tr>
                                                <th scope="row">{cell_text(&label)}</th>
                                                {row
                                                    .iter()
                                                    .map(|cell| view! { <td>{cell_text(cell)}</td> })
                                                    .collect_view()}
                                            </tr>
                                        }
                                    })
                                    .collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <figcaption>{caption}</figcaption>
                </figure>
            }
            .into_any()
        }
    }
}

/// A table cell as pandas would print it: strings bare, missing values as NaN.
fn cell_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "NaN".to_owned(),
        other => other.to_string(),
    }
}
