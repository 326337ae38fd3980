//! The Versions box: the open notebook's revisions, newest first, with when and why each
//! was kept and what changed, and a Restore button (the version it replaces is kept first,
//! so a restore is undone by restoring that one).

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsValue;

use super::documents::Documents;
use super::revisions::Revision;

#[component]
pub fn VersionsBox(documents: Documents, open: RwSignal<bool>) -> impl IntoView {
    let listed = RwSignal::new(None::<Vec<Revision>>);
    let problem = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        documents.revisions_changed.track();
        documents.state.meta.with(|meta| meta.id.len());
        spawn_local(async move {
            listed.set(Some(documents.revision_list().await));
        });
    });
    let restore = move |id: String| {
        spawn_local(async move {
            problem.set(documents.restore(id).await.err());
        });
    };
    view! {
        <div class="versions-box" role="dialog" aria-label="Versions of this notebook" data-testid="versions-box"
            on:keydown=move |event: web_sys::KeyboardEvent| if event.key() == "Escape" { open.set(false) }>
            <div class="share-choices">
                <strong>"Versions of this notebook"</strong>
                <span class="hint">"Kept in this browser before Run all, before large deletions, and every few minutes while you edit."</span>
                <button class="secondary small" data-testid="versions-close" on:click=move |_| open.set(false)>"Close"</button>
            </div>
            {move || problem.get().map(|text| view! { <p class="notice error" role="alert">{text}</p> })}
            {move || match listed.get() {
                None => view! { <p class="hint">"Reading the versions…"</p> }.into_any(),
                Some(list) if list.is_empty() => view! {
                    <p class="hint" data-testid="versions-empty">"No earlier version of this notebook yet."</p>
                }.into_any(),
                Some(list) => view! {
                    <ul class="versions">
                        {list.into_iter().map(|revision| {
                            let id = revision.id.clone();
                            view! {
                                <li data-testid="version">
                                    <span class="version-time">{when(revision.at)}</span>
                                    " "
                                    <span class="version-summary">{revision.summary.clone()}</span>
                                    " "
                                    <button class="secondary small" data-testid="restore-version"
                                        on:click=move |_| restore(id.clone())>"Restore"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
        </div>
    }
}

/// When a version was kept: the time today, the date and time before.
fn when(unix_ms: f64) -> String {
    let then = js_sys::Date::new(&JsValue::from_f64(unix_ms));
    let today = js_sys::Date::new_0().to_date_string() == then.to_date_string();
    let time = String::from(then.to_locale_time_string("default"));
    if today {
        time
    } else {
        format!(
            "{} {time}",
            String::from(then.to_locale_date_string("default", &JsValue::UNDEFINED))
        )
    }
}
