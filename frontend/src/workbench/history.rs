//! The run history: recent runs (time, duration, outcome, first line), kept in IndexedDB;
//! clicking one puts its code back, in a new cell.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::saved_state;
use crate::format::duration;

/// At most this many runs are kept.
pub const MAX_RUNS: usize = 50;
/// Runs closer together than this are kept together.
const SAVE_AFTER: std::time::Duration = std::time::Duration::from_millis(500);
/// Where the history is kept (`saved_state`).
const HISTORY_KEY: &str = "history";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// Unix milliseconds the run finished.
    pub at: f64,
    pub duration_ms: f64,
    pub success: bool,
    pub code: String,
}

impl Run {
    fn first_line(&self) -> String {
        let line = self
            .code
            .lines()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("(empty)");
        line.chars().take(60).collect()
    }
}

/// The runs kept from earlier visits, oldest first.
pub async fn kept_runs() -> Vec<Run> {
    saved_state::load(HISTORY_KEY).await
}

/// The history; a cheap copyable handle.
#[derive(Debug, Clone, Copy)]
pub struct History {
    runs: RwSignal<Vec<Run>>,
    save_scheduled: StoredValue<bool>,
    /// When it was last kept (`Date.now()`).
    saved_at: StoredValue<f64>,
}

impl History {
    /// Starts empty and fills from what the last visit kept.
    pub fn load() -> Self {
        let runs = RwSignal::new(Vec::new());
        leptos::task::spawn_local(async move {
            let kept = saved_state::load::<Vec<Run>>(HISTORY_KEY).await;
            runs.update(|runs| {
                let recorded = std::mem::take(runs);
                *runs = kept.into_iter().chain(recorded).collect();
                trim(runs);
            });
        });
        Self {
            runs,
            save_scheduled: StoredValue::new(false),
            saved_at: StoredValue::new(0.0),
        }
    }

    pub fn record(self, run: Run) {
        self.runs.update(|runs| {
            runs.push(run);
            trim(runs);
        });
        // Kept at once, but a burst of runs (a notebook's run all) only once more at its end.
        if self.save_scheduled.get_value() {
            return;
        }
        if js_sys::Date::now() - self.saved_at.get_value() >= SAVE_AFTER.as_millis() as f64 {
            self.save();
        } else {
            self.save_scheduled.set_value(true);
            set_timeout(
                move || {
                    self.save_scheduled.set_value(false);
                    self.save();
                },
                SAVE_AFTER,
            );
        }
    }

    fn save(self) {
        self.saved_at.set_value(js_sys::Date::now());
        saved_state::save(HISTORY_KEY, &self.runs.get_untracked(), "the history");
    }
}

fn trim(runs: &mut Vec<Run>) {
    let excess = runs.len().saturating_sub(MAX_RUNS);
    runs.drain(..excess);
}

#[component]
pub fn HistoryPanel(
    history: History,
    /// Puts a run's code back (in a new cell).
    on_restore: Callback<String>,
) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="history-title" data-testid="history-panel">
            <h2 id="history-title">"History"</h2>
            <Show
                when=move || history.runs.with(|runs| !runs.is_empty())
                fallback=|| view! { <p class="hint">"Runs will be listed here."</p> }
            >
                <ol class="history" reversed>
                    // Newest first, each entry made once: a run adds one, not the whole list.
                    <For
                        each=move || history.runs.get().into_iter().rev()
                        key=|run| (run.at.to_bits(), run.duration_ms.to_bits(), run.code.len())
                        let:run
                    >
                        <HistoryEntry run=run on_restore=on_restore />
                    </For>
                </ol>
            </Show>
        </section>
    }
}

#[component]
fn HistoryEntry(run: Run, on_restore: Callback<String>) -> impl IntoView {
    let when = String::from(
        js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(run.at))
            .to_locale_time_string("default"),
    );
    let label = format!(
        "{when} · {} · {} · {}",
        duration(run.duration_ms),
        if run.success { "ok" } else { "failed" },
        run.first_line()
    );
    let restore = run.code.clone();
    view! {
        <li>
            <button
                class="history-entry"
                class:failed=!run.success
                data-testid="history-entry"
                title="Put this code back, in a new cell"
                on:click=move |_| on_restore.run(restore.clone())
            >
                {label}
            </button>
        </li>
    }
}
