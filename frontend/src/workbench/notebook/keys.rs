//! Jupyter's command mode: with no editor focused, keys act on the selected cell. Escape leaves
//! an editor for command mode (or, while cells run, stops them); Enter goes back in.

use std::time::Duration;

use leptos::prelude::*;
use notebook::{CellKind, Direction};

use super::super::editor::{Place, RunHow};
use super::Workspace;
use super::state::Mode;

/// Two presses of D within this time delete the cell, as in Jupyter.
const DOUBLE_PRESS: Duration = Duration::from_millis(800);

/// The keys the help overlay lists: (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    (
        "Shift+Enter",
        "run the cell and go to the next one (a new one at the end)",
    ),
    ("Ctrl/Cmd+Enter", "run the cell"),
    ("Alt+Enter", "run the cell and insert one below"),
    (
        "Escape",
        "leave the editor (command mode); while cells run, stop them",
    ),
    ("Enter", "edit the selected cell"),
    ("↑ / K, ↓ / J", "select the cell above / below"),
    ("A / B", "insert a cell above / below"),
    ("D D", "delete the cell"),
    ("Z", "undo the last delete"),
    ("M / Y", "make the cell Markdown / code"),
    ("?", "show or hide these keys"),
    (
        "Tab, Ctrl+Space",
        "in an editor: complete the code (Tab indents at the start of a line)",
    ),
    (
        "Shift+Tab",
        "in an editor: the docs of the name at the cursor",
    ),
    ("Ctrl/Cmd+Shift+M", "in an editor: list its syntax errors"),
];

thread_local! {
    static LAST_D: std::cell::Cell<f64> = const { std::cell::Cell::new(f64::NEG_INFINITY) };
}

pub fn on_key(workspace: Workspace, event: web_sys::KeyboardEvent) {
    if event.default_prevented() || in_editor(&event) {
        return;
    }
    let state = workspace.state;
    let key = event.key();
    let modified = event.ctrl_key() || event.meta_key();
    if key == "Escape" {
        if workspace.runner.busy() {
            workspace.runner.stop();
        } else {
            workspace.help.set(false);
        }
        event.prevent_default();
        return;
    }
    if key == "?" {
        workspace.help.update(|shown| *shown = !*shown);
        event.prevent_default();
        return;
    }
    let Some(selected) = state.selected.get_untracked() else {
        return;
    };
    state.mode.set(Mode::Command);
    let handled = match (key.as_str(), modified, event.shift_key(), event.alt_key()) {
        ("Enter", false, true, false) => {
            workspace.run_cell(&selected, RunHow::Advance);
            true
        }
        ("Enter", true, _, _) => {
            workspace.run_cell(&selected, RunHow::Stay);
            true
        }
        ("Enter", false, false, true) => {
            workspace.run_cell(&selected, RunHow::Insert);
            true
        }
        ("Enter", false, false, false) => {
            workspace.edit(&selected, Place::End);
            true
        }
        (_, true, _, _) => false,
        ("ArrowUp" | "k" | "K", ..) => {
            if let Some(above) = state.neighbour(&selected, Direction::Up) {
                workspace.select(&above);
            }
            true
        }
        ("ArrowDown" | "j" | "J", ..) => {
            if let Some(below) = state.neighbour(&selected, Direction::Down) {
                workspace.select(&below);
            }
            true
        }
        ("a" | "A", ..) => {
            workspace.insert_near(false, CellKind::Code);
            true
        }
        ("b" | "B", ..) => {
            workspace.insert_near(true, CellKind::Code);
            true
        }
        ("d" | "D", ..) => {
            let now = js_sys::Date::now();
            let last = LAST_D.with(|last| last.replace(now));
            if now - last < DOUBLE_PRESS.as_millis() as f64 {
                LAST_D.with(|last| last.set(f64::NEG_INFINITY));
                state.delete(&selected);
            }
            true
        }
        ("z" | "Z", ..) => {
            if state.undo_delete()
                && let Some(id) = state.selected.get_untracked()
            {
                workspace.select(&id);
            }
            true
        }
        ("m" | "M", ..) => {
            workspace.set_kind(&selected, CellKind::Markdown);
            true
        }
        ("y" | "Y", ..) => {
            workspace.set_kind(&selected, CellKind::Code);
            true
        }
        _ => false,
    };
    if handled {
        event.prevent_default();
    }
}

/// Whatever takes the focus in the notebook says the mode: a cell's editor is edit mode (and
/// its cell is selected), the notebook itself command mode.
pub fn on_focus(workspace: Workspace, event: web_sys::FocusEvent) {
    use wasm_bindgen::JsCast;
    let Some(target) = event
        .target()
        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    let in_cell_editor = target.closest(".cm-editor").ok().flatten().is_some();
    if let Some(id) = target
        .closest("[data-cell-id]")
        .ok()
        .flatten()
        .and_then(|cell| cell.get_attribute("data-cell-id"))
        .and_then(|id| notebook::CellId::parse(id).ok())
        && in_cell_editor
    {
        workspace.state.selected.set(Some(id));
    }
    workspace.state.mode.set(if in_cell_editor {
        Mode::Edit
    } else {
        Mode::Command
    });
}

/// Keys typed into an editor, a field or a button are theirs, not command mode's.
fn in_editor(event: &web_sys::KeyboardEvent) -> bool {
    use wasm_bindgen::JsCast;
    event
        .target()
        .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|element| {
            element
                .closest(".cm-editor, input, textarea, select, button")
                .ok()
                .flatten()
                .is_some()
        })
}

/// The keys, listed.
#[component]
pub fn HelpOverlay(help: RwSignal<bool>) -> impl IntoView {
    view! {
        <div class="help-overlay" role="dialog" aria-label="Keyboard shortcuts" data-testid="keys-help">
            <div class="help-box">
                <h2>"Keys"</h2>
                <p class="hint">"In a cell's editor, the run keys work too; Escape leaves it."</p>
                <table>
                    <tbody>
                        {KEYS
                            .iter()
                            .map(|(keys, what)| view! { <tr><th scope="row"><kbd>{*keys}</kbd></th><td>{*what}</td></tr> })
                            .collect_view()}
                    </tbody>
                </table>
                <button on:click=move |_| help.set(false) data-testid="close-keys">"Close"</button>
            </div>
        </div>
    }
}
