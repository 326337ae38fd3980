//! The browser app: the workbench at `/`, the admin dashboard at `/dashboard` and its login
//! at `/login`. [`mount`] picks the page from the path, so the dashboard never starts Python
//! and the workbench never loads dashboard data.

mod dashboard;
mod editor;
mod files;
mod format;
mod history;
mod http;
mod idb;
mod output;
mod packages;
mod saved_state;
mod telemetry;
mod workbench;

pub use crate::dashboard::{Dashboard, Login};
pub use crate::workbench::Workbench;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Mounts the page the address asks for.
pub fn mount() {
    register_service_worker();
    mount_to_body(UpdateNotice);
    let path = web_sys::window()
        .and_then(|window| window.location().pathname().ok())
        .unwrap_or_default();
    match path.trim_end_matches('/') {
        "/dashboard" => mount_to_body(Dashboard),
        "/login" => mount_to_body(Login),
        _ => mount_to_body(Workbench),
    }
}

/// The service worker (`/sw.js`) keeps the page and the Pyodide files, so the workbench
/// works offline after one visit.
fn register_service_worker() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let container = window.navigator().service_worker();
    // A browser without service workers (or a private mode that refuses them) just stays online-only.
    let _ = container.register("/sw.js");
}

/// Offers a reload when a new build's service worker took over this page (`index.html`
/// notices it from the start). The page keeps working as it is, so nothing is lost by
/// finishing first.
#[component]
fn UpdateNotice() -> impl IntoView {
    let (updated, set_updated) = signal(false);
    if let Some(window) = web_sys::window() {
        let already = js_sys::Reflect::get(&window, &"workbenchUpdated".into())
            .is_ok_and(|flag| flag.is_truthy());
        set_updated.set(already);
        let listener = Closure::<dyn Fn()>::new(move || set_updated.set(true));
        let _ = window.add_event_listener_with_callback(
            "workbench-updated",
            listener.as_ref().unchecked_ref(),
        );
        listener.forget();
    }
    let reload = |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    };
    view! {
        <Show when=move || updated.get()>
            <div class="update-notice" role="status" data-testid="update-notice">
                <span>"The workbench was updated."</span>
                <button type="button" on:click=reload data-testid="update-reload">
                    "Reload"
                </button>
            </div>
        </Show>
    }
}
