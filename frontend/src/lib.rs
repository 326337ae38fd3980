//! The browser app: the workbench at `/`, the admin dashboard at `/dashboard` and its login
//! at `/login`. [`mount`] picks the page from the path, so the dashboard never starts Python
//! and the workbench never loads dashboard data.

mod dashboard;
mod editor;
mod files;
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

/// Mounts the page the address asks for.
pub fn mount() {
    register_service_worker();
    let path = web_sys::window()
        .and_then(|window| window.location().pathname().ok())
        .unwrap_or_default();
    match path.trim_end_matches('/') {
        "/dashboard" => leptos::mount::mount_to_body(Dashboard),
        "/login" => leptos::mount::mount_to_body(Login),
        _ => leptos::mount::mount_to_body(Workbench),
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
