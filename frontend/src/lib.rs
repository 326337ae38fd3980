//! The browser app: the workbench at `/`, the admin dashboard at `/dashboard` and its login
//! at `/login`. [`mount`] picks the page from the path, so the dashboard never starts Python
//! and the workbench never loads dashboard data.

mod dashboard;
mod format;
mod http;
mod idb;
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
    relay_files_to_keep(container);
}

/// Python's worker lists the files it used on the `workbench-files` channel (`{keep: [...]}`);
/// the service worker must hear it even when it was idle (a channel does not wake it, a
/// message does), so the page passes the list on to it once it is active.
fn relay_files_to_keep(container: web_sys::ServiceWorkerContainer) {
    let Ok(channel) = web_sys::BroadcastChannel::new("workbench-files") else {
        return;
    };
    let relay =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let list = event.data();
            let Ok(ready) = container.ready() else {
                return;
            };
            leptos::task::spawn_local(async move {
                if let Ok(registration) = wasm_bindgen_futures::JsFuture::from(ready).await
                    && let Some(active) = registration
                        .unchecked_into::<web_sys::ServiceWorkerRegistration>()
                        .active()
                {
                    let _ = active.post_message(&list);
                }
            });
        });
    channel.set_onmessage(Some(relay.as_ref().unchecked_ref()));
    relay.forget();
    // The channel lives as long as the page.
    std::mem::forget(channel);
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
