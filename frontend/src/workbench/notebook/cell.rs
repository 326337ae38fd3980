//! One cell: its prompt (`[n]`, `[*]` while queued or running), its editor — made when the
//! cell nears the screen or gets the focus, a plain copy of its text until then, so a
//! 200-cell notebook opens at once — or, for Markdown, its rendered text, and its outputs.

use leptos::prelude::*;
use notebook::{CellId, CellKind, Direction};
use pyodide_loader::{InputAnswer, InputAsk};

use super::Workspace;
use super::outputs::{CellOutputs, markdown_view};
use super::state::{Mode, RunState};
use crate::workbench::editor::{self, RunHow};

/// The data attribute that names a cell's editor host (for the observer that makes editors).
pub const HOST_ATTRIBUTE: &str = "data-cell-host";

#[component]
pub fn CellRow(id: CellId, workspace: Workspace) -> impl IntoView {
    let state = workspace.state;
    let Some(view) = state.view(&id) else {
        return ().into_any();
    };
    let selected = {
        let id = id.clone();
        Memo::new(move |_| {
            state
                .selected
                .with(|selected| selected.as_ref() == Some(&id))
        })
    };
    let prompt = move || match (view.kind.get(), view.state.get(), view.count.get()) {
        (CellKind::Code, RunState::Queued | RunState::Running, _) => "[*]".to_owned(),
        (CellKind::Code, _, Some(count)) => format!("[{count}]"),
        (CellKind::Code, _, None) => "[ ]".to_owned(),
        _ => String::new(),
    };
    let host = NodeRef::<leptos::html::Div>::new();
    {
        let id = id.clone();
        Effect::new(move |_| {
            if let Some(element) = host.get() {
                let element: web_sys::HtmlElement = element.into();
                workspace.host_mounted(&id, element);
            }
        });
    }
    let select = {
        let id = id.clone();
        move |_| {
            if !selected.get_untracked() {
                state.selected.set(Some(id.clone()));
            }
        }
    };
    let edit_markdown = {
        let id = id.clone();
        move |_| workspace.edit(&id, editor::Place::End)
    };
    let preview = {
        let id = id.clone();
        move || {
            view.source_changed.track();
            state.source(&id)
        }
    };
    let rendered_markdown = {
        let id = id.clone();
        move || {
            view.source_changed.track();
            let source = state.source(&id);
            if source.trim().is_empty() {
                view! { <p class="hint">"Empty Markdown cell — double-click to write"</p> }
                    .into_any()
            } else {
                markdown_view(&source, "markdown").into_any()
            }
        }
    };
    let show_editor = move || view.kind.get() != CellKind::Markdown || !view.rendered.get();
    let tools_id = id.clone();
    view! {
        <div
            class="cell"
            class:selected=move || selected.get()
            class:command=move || selected.get() && state.mode.get() == Mode::Command
            class:markdown-cell=move || view.kind.get() == CellKind::Markdown
            class:raw-cell=move || view.kind.get() == CellKind::Raw
            data-testid="cell"
            data-cell-id=id.to_string()
            on:mousedown=select
        >
            <div class="prompt" data-testid="cell-count" aria-hidden="true">{prompt}</div>
            <div class="cell-body">
                <Show when=move || !show_editor()>
                    <div class="rendered" data-testid="rendered-markdown" on:dblclick=edit_markdown.clone()>
                        {rendered_markdown.clone()}
                    </div>
                </Show>
                <div
                    class="cell-editor"
                    hidden=move || !show_editor()
                    node_ref=host
                    data-cell-host=id.to_string()
                >
                    <Show when=move || !view.has_editor.get()>
                        <pre class="cell-preview" data-testid="cell-preview">{preview.clone()}</pre>
                    </Show>
                </div>
                {move || match view.state.get() {
                    RunState::NotRun(reason) => Some(view! { <p class="not-run hint" data-testid="not-run">{format!("Not run: {reason}")}</p> }),
                    _ => None,
                }}
                <Show when=move || view.kind.get() == CellKind::Code && view.outputs.with(|outputs| !outputs.is_empty())>
                    <CellOutputs outputs=view.outputs collapsed=view.collapsed />
                </Show>
                {move || view.asking.get().map(|ask| view! { <InputBox ask workspace /> })}
            </div>
            <Show when=move || selected.get()>
                <CellTools id=tools_id.clone() workspace=workspace />
            </Show>
        </div>
    }
    .into_any()
}

/// The box the running code's `input()` (or `getpass`, or pdb) waits on: the prompt and a
/// focused text field; Enter sends the line, Ctrl+D on an empty field ends the input, Escape
/// stops the run.
#[component]
fn InputBox(ask: InputAsk, workspace: Workspace) -> impl IntoView {
    let field = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        if let Some(field) = field.get() {
            let _ = field.focus();
        }
    });
    let on_key = move |event: web_sys::KeyboardEvent| {
        let Some(field) = field.get_untracked() else {
            return;
        };
        let answer = match event.key().as_str() {
            "Enter" if !event.is_composing() => InputAnswer::Line(field.value()),
            "d" if event.ctrl_key() && field.value().is_empty() => InputAnswer::End,
            // As everywhere in the notebook while cells run: Escape stops them.
            "Escape" => {
                event.prevent_default();
                workspace.runner.stop();
                return;
            }
            _ => return,
        };
        event.prevent_default();
        workspace.runner.answer_input(answer);
    };
    let label = if ask.password {
        "Password (not shown)"
    } else {
        "Input for the running code"
    };
    view! {
        <div class="stdin" data-testid="stdin">
            <label>
                <span class="stdin-prompt" data-testid="stdin-prompt">{ask.prompt}</span>
                <input
                    node_ref=field
                    type=if ask.password { "password" } else { "text" }
                    aria-label=label
                    autocomplete="off"
                    spellcheck="false"
                    data-testid="stdin-field"
                    on:keydown=on_key
                />
            </label>
            <span class="hint">"Enter sends · Ctrl+D ends the input · Esc stops"</span>
        </div>
    }
}

/// The selected cell's buttons: run, move, change kind, clear or hide its output, delete.
#[component]
fn CellTools(id: CellId, workspace: Workspace) -> impl IntoView {
    let state = workspace.state;
    let view = state.view(&id);
    // Every button acts on this cell: one copyable handle on its id.
    let id = StoredValue::new(id);
    let is_code = move || view.is_some_and(|view| view.kind.get() == CellKind::Code);
    view! {
        <div class="cell-tools" role="toolbar" aria-label="Cell">
            <button class="secondary small" title="Run (Shift+Enter)" data-testid="cell-run" on:click=move |_| workspace.run_cell(&id.get_value(), RunHow::Stay)>"▶"</button>
            <button class="secondary small" title="Move up" data-testid="cell-up" on:click=move |_| state.move_cell(&id.get_value(), Direction::Up)>"↑"</button>
            <button class="secondary small" title="Move down" data-testid="cell-down" on:click=move |_| state.move_cell(&id.get_value(), Direction::Down)>"↓"</button>
            <select
                class="small"
                aria-label="Cell type"
                data-testid="cell-kind"
                prop:value=move || view.map(|view| view.kind.get().as_str()).unwrap_or("code")
                on:change=move |event| {
                    if let Some(new_kind) = CellKind::parse(&event_target_value(&event)) {
                        workspace.set_kind(&id.get_value(), new_kind);
                    }
                }
            >
                <option value="code">"Code"</option>
                <option value="markdown">"Markdown"</option>
                <option value="raw">"Raw"</option>
            </select>
            <Show when=is_code>
                <button class="secondary small" title="Clear output" data-testid="cell-clear" on:click=move |_| state.clear_outputs(&id.get_value())>"Clear"</button>
                <button
                    class="secondary small"
                    title="Hide or show the output"
                    data-testid="cell-collapse"
                    on:click=move |_| {
                        let hidden = view.is_some_and(|view| view.collapsed.get_untracked());
                        state.set_collapsed(&id.get_value(), !hidden);
                    }
                >
                    {move || if view.is_some_and(|view| view.collapsed.get()) { "Show output" } else { "Hide output" }}
                </button>
            </Show>
            <button class="secondary small" title="Delete (D D)" data-testid="cell-delete" on:click=move |_| state.delete(&id.get_value())>"Delete"</button>
        </div>
    }
}
