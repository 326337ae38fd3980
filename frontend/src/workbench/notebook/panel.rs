//! The side panel of notebooks: every notebook kept in this browser, the open one marked, and
//! what can be done with them (new, open a `.ipynb`, rename, duplicate, delete with undo).

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::JsValue;

use super::documents::Documents;

/// The side panel: every notebook, the open one marked, and what can be done with them.
#[component]
pub fn NotebooksPanel(documents: Documents, on_open_file: Callback<()>) -> impl IntoView {
    let open_id = move || documents.state.meta.with(|meta| meta.id.clone());
    let rename = move |_| {
        let current = documents.state.meta.get_untracked().title;
        if let Some(title) = web_sys::window()
            .and_then(|window| {
                window
                    .prompt_with_message_and_default("Rename the notebook", &current)
                    .ok()
            })
            .flatten()
        {
            documents.rename(title);
        }
    };
    let delete = move |_| {
        let title = documents.state.meta.get_untracked().title;
        let confirmed = web_sys::window()
            .and_then(|window| {
                window
                    .confirm_with_message(&format!(
                        "Delete “{title}”? You can undo this for a while."
                    ))
                    .ok()
            })
            .unwrap_or(false);
        if confirmed {
            let id = documents.state.meta.get_untracked().id;
            documents.delete_open();
            set_timeout(
                move || documents.forget_deleted(id),
                Duration::from_secs(30),
            );
        }
    };
    view! {
        <section class="panel" aria-labelledby="notebooks-title" data-testid="notebooks-panel">
            <h2 id="notebooks-title">"Notebooks"</h2>
            <div class="panel-actions">
                <button class="secondary small" data-testid="new-notebook" disabled=move || !documents.loaded.get() on:click=move |_| { documents.create(); }>
                    "New"
                </button>
                <button class="secondary small" data-testid="open-notebook" on:click=move |_| on_open_file.run(())>
                    "Open .ipynb…"
                </button>
            </div>
            <ul class="notebook-list">
                <For each=move || documents.entries.get() key=|entry| (entry.id.clone(), entry.title.clone(), entry.modified as u64) let:entry>
                    {
                        let id = entry.id.clone();
                        let is_open = {
                            let id = id.clone();
                            move || open_id() == id
                        };
                        let (open_class, open_aria) = (is_open.clone(), is_open.clone());
                        view! {
                            <li class="notebook-entry" class:open=open_class data-testid="notebook-entry">
                                <button
                                    class="link"
                                    aria-current=move || if open_aria() { "true" } else { "false" }
                                    on:click=move |_| {
                                        if !is_open() {
                                            documents.open_stored(id.clone());
                                        }
                                    }
                                >
                                    <span class="notebook-title" data-testid="notebook-title">{entry.title.clone()}</span>
                                    <small class="hint">
                                        {entry.disk.as_ref().map(|disk| format!("{} · ", disk.folder))}
                                        {last_change(entry.modified)}
                                    </small>
                                </button>
                            </li>
                        }
                    }
                </For>
            </ul>
            <div class="panel-actions">
                <button class="secondary small" data-testid="rename-notebook" disabled=move || !documents.loaded.get() on:click=rename>"Rename"</button>
                <button class="secondary small" data-testid="duplicate-notebook" disabled=move || !documents.loaded.get() on:click=move |_| documents.duplicate()>"Duplicate"</button>
                <button class="secondary small" data-testid="delete-notebook" disabled=move || !documents.loaded.get() || documents.shared.get() on:click=delete>"Delete"</button>
            </div>
            {move || documents.deleted.get().map(|document| view! {
                <p class="notice ok" role="status">
                    {format!("“{}” deleted. ", document.entry.title)}
                    <button class="link" data-testid="undo-delete-notebook" on:click=move |_| documents.undo_delete()>"Undo"</button>
                </p>
            })}
            {move || documents.notice.get().map(|(ok, text)| view! {
                <p class=if ok { "notice ok" } else { "notice error" } role="status" data-testid="notebooks-notice">{text}</p>
            })}
        </section>
    }
}

/// When a notebook last changed: the time today, the date before.
fn last_change(unix_ms: f64) -> String {
    let then = js_sys::Date::new(&JsValue::from_f64(unix_ms));
    let today = js_sys::Date::new_0().to_date_string() == then.to_date_string();
    String::from(if today {
        then.to_locale_time_string("default")
    } else {
        then.to_locale_date_string("default", &JsValue::UNDEFINED)
    })
}
