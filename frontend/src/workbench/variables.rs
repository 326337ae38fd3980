//! The Variables panel: the user's names after each run — name, type (and dtype), shape or
//! length, size in memory, and plain values themselves. One question to the worker after a
//! run ends (the editor's questions' path: never during a run, within the same time limit),
//! so a running cell pays nothing; an object that will not say what it is shows "?". A
//! DataFrame's, Series' or array's name opens it in the data viewer (`viewer.rs`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use pyodide_loader::{AssistError, Variable, VariablesAnswer};

use super::session::Session;
use crate::format::format_bytes;

#[component]
pub fn VariablesPanel(
    session: Session,
    /// Bumped after a run, a reset or a restart.
    changed: RwSignal<u64>,
    /// Set to a name to open it in the data viewer.
    viewing: RwSignal<Option<String>>,
) -> impl IntoView {
    let listed = RwSignal::new(VariablesAnswer::default());
    // Which change the panel asks for: a newer one replaces a question not asked yet.
    let asking = StoredValue::new(0_u64);
    Effect::new(move |_| {
        changed.track();
        // Every run and reset, a script's (`window.workbench`) as much as a cell's.
        session.names_changed();
        let change = asking.get_value() + 1;
        asking.set_value(change);
        ask_later(session, asking, change, listed, SETTLE);
    });
    view! {
        <section class="panel" aria-labelledby="variables-title" data-testid="variables-panel">
            <h2 id="variables-title">"Variables"</h2>
            <Show
                when=move || listed.with(|listed| !listed.variables.is_empty())
                fallback=|| view! { <p class="hint">"The names your code makes show here after each run."</p> }
            >
                <table class="variables" data-testid="variables">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Type"</th>
                            <th scope="col" title="The value, or its shape or length">"Value"</th>
                            <th scope="col" class="number">"Size"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || listed.get().variables
                            key=|variable| variable.clone()
                            let:variable
                        >
                            <VariableRow variable viewing />
                        </For>
                    </tbody>
                </table>
                {move || {
                    let more = listed.with(|listed| listed.more);
                    (more > 0).then(|| view! { <p class="hint">{format!("and {more} more")}</p> })
                }}
            </Show>
        </section>
    }
}

/// Asks for the list once change `change` has settled for `after`: runs in a row (Run all,
/// a script's loop of `execute` calls) ask once, after the last, and never hold up the next
/// run. Python busy (a run, an install, a file still being copied in) or not ready: asked
/// again a second later, unless a newer change asks instead — an update is never missed for
/// want of a later run.
fn ask_later(
    session: Session,
    asking: StoredValue<u64>,
    change: u64,
    listed: RwSignal<VariablesAnswer>,
    after: std::time::Duration,
) {
    set_timeout(
        move || {
            if asking.get_value() != change {
                return;
            }
            let Some(runtime) = session.runtime() else {
                return ask_later(session, asking, change, listed, ASK_AGAIN_AFTER);
            };
            spawn_local(async move {
                match runtime.variables().await {
                    Ok(answer) => listed.set(answer),
                    Err(AssistError::Busy | AssistError::NotReady | AssistError::Superseded) => {
                        ask_later(session, asking, change, listed, ASK_AGAIN_AFTER);
                    }
                    Err(error) => leptos::logging::warn!("could not list the variables: {error}"),
                }
            });
        },
        after,
    );
}

/// How long the names must stay unchanged before the panel asks.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(200);
/// How long the panel waits before asking again when Python could not answer.
const ASK_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

#[component]
fn VariableRow(variable: Variable, viewing: RwSignal<Option<String>>) -> impl IntoView {
    let unknown = || "?".to_owned();
    let kind = match &variable.dtype {
        Some(dtype) => format!("{} ({dtype})", variable.type_name),
        None => variable.type_name.clone(),
    };
    let shown = if variable.unknown {
        unknown()
    } else {
        variable
            .preview
            .clone()
            .or_else(|| variable.shape.clone())
            .unwrap_or_default()
    };
    let size = match (variable.unknown, variable.bytes) {
        (true, _) => unknown(),
        (false, Some(bytes)) => format_bytes(bytes),
        (false, None) => String::new(),
    };
    view! {
        <tr data-testid="variable">
            <td class="name" data-testid="variable-name">
                {if variable.viewable {
                    let name = variable.name.clone();
                    view! {
                        <button class="link" data-testid="variable-view" title="Open in the data viewer"
                            on:click=move |_| viewing.set(Some(name.clone()))>{variable.name.clone()}</button>
                    }
                    .into_any()
                } else {
                    variable.name.clone().into_any()
                }}
            </td>
            <td class="type" data-testid="variable-type" title=kind.clone()>{kind.clone()}</td>
            <td class="value" data-testid="variable-shape" title=shown.clone()>{shown.clone()}</td>
            <td class="number" data-testid="variable-size">{size}</td>
        </tr>
    }
}
