//! The data viewer: a DataFrame, Series or array of the user's, opened from the Variables
//! panel, as a grid over the live object. Only the rows on screen are asked for, a page of
//! [`PAGE_ROWS`] at a time (Python keeps the sorted, filtered order, so scrolling asks only
//! for rows), and only the cells on screen are drawn: ten million rows scroll like ten.
//! A column header sorts (ascending, descending, as it was); the filter box takes a
//! condition on a column (`price > 10`) or text to look for; each column's count, missing
//! values, min/max/mean or most frequent values show under its name. The questions go the
//! editor's way (`Runtime::table`): never during a run; after one, the rows are asked again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use pyodide_loader::{AssistError, ColumnSummary, TableColumn, TablePage, TableQuery};

use super::session::Session;
use crate::format::thousands;

/// Rows asked for at a time.
const PAGE_ROWS: u64 = 100;
const ROW_PX: f64 = 26.0;
const COLUMN_PX: f64 = 150.0;
const INDEX_PX: f64 = 100.0;
/// The column headers: name and dtype, and the summary.
const HEADER_PX: f64 = 2.0 * ROW_PX;
/// Browsers cap an element's height (≈ 33 M px in Chromium); past this the scroll range is
/// scaled, so that 10 M rows still reach their last one.
const MAX_SCROLL_PX: f64 = 8_000_000.0;
/// How long the viewer waits before asking again when Python is busy.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(1);
/// The filter applies once typing pauses this long.
const FILTER_AFTER: Duration = Duration::from_millis(300);

/// What the grid knows of the object: from the last answer.
#[derive(Debug, Clone, Default, PartialEq)]
struct Shape {
    type_name: String,
    total_rows: u64,
    rows: u64,
    columns: Vec<TableColumn>,
    filtered_as: Option<String>,
}

/// One page of rows: each row's index label and cells.
type Rows = Arc<Vec<(String, Vec<String>)>>;

/// Opens the data viewer on a name, for what shows tables outside the Variables panel: a
/// table output's "Open in viewer" (the harness names the frame in its table: the user's
/// name for it, or `Out[N]` for a cell's last value no name holds).
#[derive(Debug, Clone, Copy)]
pub struct OpenInViewer(pub RwSignal<Option<String>>);

#[component]
pub fn DataViewer(
    session: Session,
    /// The variable shown; `None` closes the viewer.
    open: RwSignal<Option<String>>,
    /// Bumped after a run, a reset or a restart: the rows are asked again.
    changed: RwSignal<u64>,
) -> impl IntoView {
    let name = open.get_untracked().unwrap_or_default();
    let shape = RwSignal::new(None::<Shape>);
    let summaries = RwSignal::new(None::<Vec<Option<ColumnSummary>>>);
    let problem = RwSignal::new(None::<String>);
    // Sorted by the column at `.0`, descending if `.1`.
    let sort = RwSignal::new(None::<(u32, bool)>);
    let typed = RwSignal::new(String::new());
    let filter = RwSignal::new(String::new());
    // Pages by number, for the current sort and filter (`generation`).
    let pages = StoredValue::new(HashMap::<u64, Rows>::new());
    let generation = StoredValue::new(0_u64);
    let asking = StoredValue::new(false);
    // Bumped when a page arrives or the question may be asked again.
    let arrived = RwSignal::new(0_u64);
    let scroll = RwSignal::new((0.0_f64, 0.0_f64));
    let viewport = RwSignal::new((600.0_f64, 800.0_f64));
    let grid = NodeRef::<html::Div>::new();

    let close = move || open.set(None);
    let measure = move || {
        if let Some(element) = grid.get_untracked() {
            scroll.set((
                f64::from(element.scroll_top()),
                f64::from(element.scroll_left()),
            ));
            viewport.set((
                f64::from(element.client_height()),
                f64::from(element.client_width()),
            ));
        }
    };
    // A new sort, filter or run: the pages are gone; a new sort or filter also takes the
    // grid back to the top, while after a run (or packages loading in the background) the
    // rows where the person is are asked again.
    let start_again = move |to_top: bool| {
        generation.update_value(|generation| *generation += 1);
        pages.update_value(HashMap::clear);
        if to_top && let Some(element) = grid.get_untracked() {
            element.set_scroll_top(0);
        }
        arrived.update(|count| *count += 1);
    };
    Effect::new(move |previous: Option<()>| {
        sort.track();
        filter.track();
        if previous.is_some() {
            start_again(true);
        }
    });
    Effect::new(move |previous: Option<()>| {
        changed.track();
        if previous.is_some() {
            start_again(false);
        }
    });
    // The summaries describe the whole object: only a run asks for them again, not a new
    // sort or filter.
    Effect::new(move |previous: Option<()>| {
        changed.track();
        if previous.is_some() {
            summaries.set(None);
        }
    });
    // The grid takes the focus (arrows and Page Down scroll it) and its size.
    Effect::new(move |_| {
        if let Some(element) = grid.get() {
            let _ = element.focus();
            measure();
        }
    });

    // Which rows are on screen: the scroll range is scaled past `MAX_SCROLL_PX`.
    let fitting_rows = move || ((viewport.get().0 - HEADER_PX) / ROW_PX).floor().max(1.0) as u64;
    let first_row = move || {
        let Some(rows) = shape.with(|shape| shape.as_ref().map(|shape| shape.rows)) else {
            return 0;
        };
        let (top, _) = scroll.get();
        let space = scroll_height(rows) + HEADER_PX - viewport.get().0;
        let last_first = rows.saturating_sub(fitting_rows());
        if space <= 0.0 {
            return 0;
        }
        ((top / space).clamp(0.0, 1.0) * last_first as f64).round() as u64
    };
    let visible_columns = move || {
        let count = shape.with(|shape| shape.as_ref().map_or(0, |shape| shape.columns.len()));
        let (_, left) = scroll.get();
        let width = viewport.get().1;
        let first = ((left / COLUMN_PX).floor().max(0.0) as usize).min(count);
        let last = (first + (width / COLUMN_PX).ceil() as usize + 1).min(count);
        first..last
    };

    // Asks for the first page on screen that is missing, one question at a time; then, once
    // every page on screen is there, for the columns' summaries.
    let asked_name = name.clone();
    let ask = move || {
        if asking.get_value() {
            return;
        }
        let Some(runtime) = session.runtime() else {
            return;
        };
        let on_screen = first_row()..first_row() + fitting_rows() + 1;
        let rows = shape.with_untracked(|shape| shape.as_ref().map(|shape| shape.rows));
        let missing = on_screen.map(|row| row / PAGE_ROWS).find(|page| {
            rows.is_none_or(|rows| page * PAGE_ROWS < rows.max(1))
                && pages.with_value(|pages| !pages.contains_key(page))
        });
        let summarize = missing.is_none() && summaries.with_untracked(Option::is_none);
        if missing.is_none() && !summarize {
            return;
        }
        let (column, descending) = sort
            .get_untracked()
            .map_or((None, false), |(column, descending)| {
                (Some(column), descending)
            });
        let page = missing.unwrap_or(0);
        let query = TableQuery {
            name: asked_name.clone(),
            offset: page * PAGE_ROWS,
            limit: if summarize { 0 } else { PAGE_ROWS as u32 },
            sort: column,
            descending,
            filter: filter.get_untracked(),
            summarize,
        };
        let asked_in = generation.get_value();
        asking.set_value(true);
        spawn_local(async move {
            let answer = runtime.table(query).await;
            asking.set_value(false);
            if generation.get_value() != asked_in {
                arrived.update(|count| *count += 1);
                return;
            }
            match answer {
                Ok(TablePage {
                    error: Some(error), ..
                }) => problem.set(Some(error)),
                Ok(answer) => {
                    problem.set(None);
                    let known = Shape {
                        type_name: answer.type_name,
                        total_rows: answer.total_rows,
                        rows: answer.rows,
                        columns: answer.columns,
                        filtered_as: answer.filtered_as,
                    };
                    if shape.with_untracked(|shape| shape.as_ref() != Some(&known)) {
                        shape.set(Some(known));
                    }
                    if summarize {
                        summaries.set(Some(answer.summaries.unwrap_or_default()));
                    } else {
                        let rows: Vec<(String, Vec<String>)> =
                            answer.index.into_iter().zip(answer.cells).collect();
                        pages.update_value(|pages| {
                            pages.insert(page, Arc::new(rows));
                        });
                    }
                    arrived.update(|count| *count += 1);
                }
                // Asked again a second later (a run's end asks at once).
                Err(AssistError::Busy) => {
                    problem.set(Some(
                        "Python is busy (running a cell, installing or taking in a file): the rows come when it is done."
                            .to_owned(),
                    ));
                    set_timeout(move || arrived.update(|count| *count += 1), ASK_AGAIN_AFTER);
                }
                Err(AssistError::NotReady) => {
                    problem.set(Some("Python is not ready yet.".to_owned()));
                    set_timeout(move || arrived.update(|count| *count += 1), ASK_AGAIN_AFTER);
                }
                Err(AssistError::Superseded) => arrived.update(|count| *count += 1),
                Err(AssistError::Loader(error)) => {
                    problem.set(Some(format!("Python could not answer: {error}")));
                }
            }
        });
    };
    Effect::new(move |_| {
        arrived.track();
        scroll.track();
        viewport.track();
        ask();
    });

    let typed_filter = move |event: leptos::ev::Event| {
        let text = event_target_value(&event);
        typed.set(text.clone());
        set_timeout(
            move || {
                if typed.get_untracked() == text && filter.get_untracked() != text {
                    filter.set(text);
                }
            },
            FILTER_AFTER,
        );
    };
    let sort_by = move |column: u32| {
        sort.update(|sort| {
            *sort = match *sort {
                Some((sorted, false)) if sorted == column => Some((column, true)),
                Some((sorted, true)) if sorted == column => None,
                _ => Some((column, false)),
            };
        });
    };

    let title = {
        let name = name.clone();
        move || {
            let described = shape.with(|shape| {
                shape.as_ref().map(|shape| {
                    let mut text = format!(
                        "{} · {} rows × {} columns",
                        shape.type_name,
                        thousands(shape.total_rows),
                        thousands(shape.columns.len() as u64)
                    );
                    if let Some(filtered) = &shape.filtered_as {
                        text.push_str(&format!(" · {} rows {filtered}", thousands(shape.rows)));
                    }
                    text
                })
            });
            (name.clone(), described.unwrap_or_default())
        }
    };
    let width = move || {
        let columns = shape.with(|shape| shape.as_ref().map_or(0, |shape| shape.columns.len()));
        INDEX_PX + columns as f64 * COLUMN_PX
    };
    let height = move || {
        let rows = shape.with(|shape| shape.as_ref().map_or(0, |shape| shape.rows));
        scroll_height(rows)
    };

    let header = move || {
        let columns = visible_columns();
        let skipped = columns.start as f64 * COLUMN_PX;
        let known = shape.with(|shape| shape.as_ref().map(|shape| shape.columns.clone()));
        let sorted = sort.get();
        let summaries = summaries.get();
        known.map(|all| {
            let cells = columns
                .map(|at| {
                    let column = all[at].clone();
                    let at = at as u32;
                    let order = match sorted {
                        Some((by, false)) if by == at => "ascending",
                        Some((by, true)) if by == at => "descending",
                        _ => "none",
                    };
                    let arrow = match order {
                        "ascending" => " ▲",
                        "descending" => " ▼",
                        _ => "",
                    };
                    let about = summaries
                        .as_ref()
                        .and_then(|summaries| summaries.get(at as usize).cloned())
                        .map(|summary| summary.map_or_else(|| "—".to_owned(), |summary| described(&summary)));
                    view! {
                        <div class="viewer-head" role="columnheader" aria-sort=order data-testid="viewer-column">
                            <button class="viewer-sort" data-testid="viewer-sort" title=format!("Sort by {}", column.name)
                                on:click=move |_| sort_by(at)>
                                <span class="viewer-column-name">{column.name.clone()}</span>
                                {arrow}
                            </button>
                            <span class="viewer-dtype">{column.dtype.clone()}</span>
                            {about.map(|about| view! {
                                <span class="viewer-summary" data-testid="viewer-summary" title=about.clone()>{about.clone()}</span>
                            })}
                        </div>
                    }
                })
                .collect_view();
            view! {
                <div class="viewer-row viewer-header" role="row">
                    <div class="viewer-index" role="columnheader">"#"</div>
                    <div class="viewer-skip" style=format!("width: {skipped}px")></div>
                    {cells}
                </div>
            }
        })
    };
    let body = move || {
        arrived.track();
        let rows = shape.with(|shape| shape.as_ref().map_or(0, |shape| shape.rows));
        let first = first_row();
        let last = (first + fitting_rows() + 1).min(rows);
        let columns = visible_columns();
        let skipped = columns.start as f64 * COLUMN_PX;
        (first..last)
            .map(|row| {
                let page = pages.with_value(|pages| pages.get(&(row / PAGE_ROWS)).cloned());
                let within = (row % PAGE_ROWS) as usize;
                match page.as_ref().and_then(|page| page.get(within)) {
                    Some((index, cells)) => {
                        let shown = columns
                            .clone()
                            .map(|at| {
                                let text = cells.get(at).cloned().unwrap_or_default();
                                let title = text.clone();
                                view! { <div class="viewer-cell" role="gridcell" title=title>{text}</div> }
                            })
                            .collect_view();
                        view! {
                            <div class="viewer-row" role="row" data-testid="viewer-row">
                                <div class="viewer-index" role="rowheader">{index.clone()}</div>
                                <div class="viewer-skip" style=format!("width: {skipped}px")></div>
                                {shown}
                            </div>
                        }
                        .into_any()
                    }
                    None => view! {
                        <div class="viewer-row viewer-waiting" role="row">
                            <div class="viewer-index" role="rowheader">"…"</div>
                        </div>
                    }
                    .into_any(),
                }
            })
            .collect_view()
    };

    view! {
        <div class="viewer-backdrop" on:click=move |_| close()>
            <div class="viewer" role="dialog" aria-modal="true" aria-labelledby="viewer-title" data-testid="data-viewer"
                on:click=|event| event.stop_propagation()
                on:keydown=move |event: web_sys::KeyboardEvent| if event.key() == "Escape" {
                    event.prevent_default();
                    event.stop_propagation();
                    close();
                }>
                <div class="viewer-top">
                    <h2 id="viewer-title">
                        {let title = title.clone(); move || title().0}
                        <span class="viewer-about" data-testid="viewer-about">{move || title().1}</span>
                    </h2>
                    <input type="search" class="viewer-filter" data-testid="viewer-filter"
                        placeholder="Filter: price > 10, city = Paris, or text"
                        aria-label="Filter rows" prop:value=move || typed.get() on:input=typed_filter />
                    <button class="secondary small" data-testid="viewer-close" on:click=move |_| close()>"Close"</button>
                </div>
                {move || problem.get().map(|text| view! { <p class="error" data-testid="viewer-problem">{text}</p> })}
                <div class="viewer-grid" role="grid" tabindex="0" node_ref=grid data-testid="viewer-grid"
                    aria-rowcount=move || shape.with(|shape| shape.as_ref().map_or(0, |shape| shape.rows)).to_string()
                    on:scroll=move |_| measure()>
                    <div class="viewer-space" style=move || format!("height: {}px; width: {}px", height() + HEADER_PX, width())>
                        <div class="viewer-window" style=move || format!("height: {}px", viewport.get().0)>
                            {header}
                            {body}
                        </div>
                    </div>
                </div>
            </div>
        </div>
    }
}

/// The scroll range for `rows`, capped at [`MAX_SCROLL_PX`].
fn scroll_height(rows: u64) -> f64 {
    (rows as f64 * ROW_PX).min(MAX_SCROLL_PX)
}

/// A column's summary in a line: `1,000 values, 3 missing · 0 – 999, mean 499.5`.
fn described(summary: &ColumnSummary) -> String {
    let mut text = format!("{} values", thousands(summary.count));
    if summary.nulls > 0 {
        text.push_str(&format!(", {} missing", thousands(summary.nulls)));
    }
    if let (Some(min), Some(max)) = (&summary.min, &summary.max) {
        text.push_str(&format!(" · {min} – {max}"));
    }
    if let Some(mean) = &summary.mean {
        text.push_str(&format!(", mean {mean}"));
    }
    if let Some(distinct) = summary.distinct {
        text.push_str(&format!(" · {} distinct", thousands(distinct)));
    }
    if !summary.top.is_empty() {
        let top: Vec<String> = summary
            .top
            .iter()
            .map(|(value, times)| format!("{value} ({})", thousands(*times)))
            .collect();
        text.push_str(&format!(": {}", top.join(", ")));
    }
    text
}
