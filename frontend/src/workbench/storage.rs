//! The browser's storage for this site, where notebooks and files live: the page asks the
//! browser to keep it (`navigator.storage.persist()`) the first time something worth keeping
//! exists — a notebook changed or a file kept — and the Storage panel shows how much is used,
//! how much is still available, and whether the browser promised to keep it.
//!
//! Without that promise a browser may clear a site's storage when the disk runs low (and
//! Safari clears it after seven days without a visit); the panel says so and suggests a
//! backup. Firefox asks the user, so the page asks at most once a week, not at every visit.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::format;

/// When the page last asked (localStorage, Unix milliseconds).
const ASKED_KEY: &str = "workbench.storage.asked";
/// How long a refusal stands before the page asks again.
const ASK_AGAIN_AFTER_MS: f64 = 7.0 * 24.0 * 3600.0 * 1000.0;

/// What the browser says about this site's storage; a cheap copyable handle.
#[derive(Debug, Clone, Copy)]
pub struct SiteStorage {
    /// Bytes used and the most the site may use, from `navigator.storage.estimate()`.
    pub usage: RwSignal<Option<(f64, f64)>>,
    /// Whether the browser promised to keep it; `None` until it said.
    pub persisted: RwSignal<Option<bool>>,
    /// Whether this page asked (or found it already kept).
    asked: RwSignal<bool>,
}

impl SiteStorage {
    pub fn new() -> Self {
        let storage = Self {
            usage: RwSignal::new(None),
            persisted: RwSignal::new(None),
            asked: RwSignal::new(false),
        };
        storage.refresh();
        storage
    }

    /// Reads the figures and the promise again.
    pub fn refresh(self) {
        let Some(manager) = manager() else {
            return;
        };
        spawn_local(async move {
            if let Some(kept) = call(&manager, "persisted").await {
                self.persisted.set(Some(kept.is_truthy()));
            }
            if let Some(estimate) = call(&manager, "estimate").await {
                let field = |name: &str| {
                    js_sys::Reflect::get(&estimate, &name.into())
                        .ok()
                        .and_then(|value| value.as_f64())
                };
                if let (Some(usage), Some(quota)) = (field("usage"), field("quota")) {
                    self.usage.set(Some((usage, quota)));
                }
            }
        });
    }

    /// Something worth keeping exists: asks the browser to keep the site's storage, once a
    /// page (and at most once a week after a refusal), unless it already does.
    pub fn worth_keeping(self) {
        if self.asked.get_untracked() {
            return;
        }
        self.asked.set(true);
        let Some(manager) = manager() else {
            return;
        };
        spawn_local(async move {
            let already = call(&manager, "persisted")
                .await
                .is_some_and(|kept| kept.is_truthy());
            let recently =
                asked_at().is_some_and(|at| js_sys::Date::now() - at < ASK_AGAIN_AFTER_MS);
            if !already && !recently {
                set_asked_at(js_sys::Date::now());
                let _ = call(&manager, "persist").await;
            }
            self.refresh();
        });
    }
}

/// The bytes this site may still use, if the browser says.
pub async fn available() -> Option<f64> {
    let estimate = call(&manager()?, "estimate").await?;
    let field = |name: &str| {
        js_sys::Reflect::get(&estimate, &name.into())
            .ok()
            .and_then(|value| value.as_f64())
    };
    Some((field("quota")? - field("usage")?).max(0.0))
}

fn manager() -> Option<JsValue> {
    let navigator = web_sys::window()?.navigator();
    js_sys::Reflect::get(&navigator, &"storage".into())
        .ok()
        .filter(|manager| manager.is_object())
}

/// `manager.<name>()`, awaited; `None` if the browser lacks it or it failed.
async fn call(manager: &JsValue, name: &str) -> Option<JsValue> {
    let method = js_sys::Reflect::get(manager, &name.into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let promise = method
        .call0(manager)
        .ok()?
        .dyn_into::<js_sys::Promise>()
        .ok()?;
    JsFuture::from(promise).await.ok()
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn asked_at() -> Option<f64> {
    local_storage()?
        .get_item(ASKED_KEY)
        .ok()
        .flatten()?
        .parse()
        .ok()
}

fn set_asked_at(at: f64) {
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(ASKED_KEY, &at.to_string());
    }
}

/// The Storage panel: used, available, and whether the browser keeps it.
#[component]
pub fn StoragePanel(storage: SiteStorage) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="storage-title" data-testid="storage-panel">
            <h2 id="storage-title">"Storage"</h2>
            <p class="hint" data-testid="storage-usage">
                {move || match storage.usage.get() {
                    Some((usage, quota)) => format!(
                        "{} used, {} available",
                        format::format_bytes(usage as u64),
                        format::format_bytes((quota - usage).max(0.0) as u64)
                    ),
                    None => "This browser does not say how much storage is used.".to_owned(),
                }}
            </p>
            <p class="hint" data-testid="storage-persisted">
                {move || match storage.persisted.get() {
                    Some(true) => "Kept: the browser will not clear it to make room.",
                    Some(false) => "Not promised: the browser may clear it when the disk runs low.",
                    None => "",
                }}
            </p>
            <Show when=move || storage.persisted.get() == Some(false) && storage.asked.get()>
                <p class="notice" data-testid="storage-advice">
                    "Your notebooks and files live only in this browser. Without the browser's promise to keep them, it may clear them when space runs low (Safari clears a site's data after seven days without a visit). Keep a copy with “Download everything” in the Backup panel."
                </p>
            </Show>
        </section>
    }
}
