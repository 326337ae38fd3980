//! What the workbench keeps between visits, in IndexedDB, as JSON values by key: the run
//! history, the packages installed. Each owner names its key and its type; this module only
//! stores. The editor keeps its code itself, in localStorage (`editor.js`; `index.html` puts
//! it back before the first paint). Nothing here leaves the browser.

use std::cell::RefCell;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::idb::KeyValueStore;

const DATABASE: &str = "pyodide-workbench-state";
const STORE: &str = "state";
const PACKAGES_KEY: &str = "installed-packages";

thread_local! {
    /// Opened on first use; `None` until then or if IndexedDB is unavailable.
    static STATE: RefCell<Option<KeyValueStore>> = const { RefCell::new(None) };
}

async fn store() -> Option<KeyValueStore> {
    if let Some(store) = STATE.with_borrow(Clone::clone) {
        return Some(store);
    }
    match KeyValueStore::open(DATABASE, STORE).await {
        Ok(store) => {
            STATE.with_borrow_mut(|state| *state = Some(store.clone()));
            Some(store)
        }
        Err(error) => {
            leptos::logging::warn!("the workbench cannot keep its state: {error}");
            None
        }
    }
}

/// The value kept under `key`, or its default when there is none (or it cannot be read).
pub async fn load<T: DeserializeOwned + Default>(key: &str) -> T {
    let Some(store) = store().await else {
        return T::default();
    };
    store
        .get(key)
        .await
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// Keeps `value` under `key`; `what` names it in the warning if that fails.
pub fn save<T: Serialize>(key: &'static str, value: &T, what: &'static str) {
    let Ok(json) = serde_json::to_string(value) else {
        return;
    };
    leptos::task::spawn_local(async move {
        if let Some(store) = store().await
            && let Err(error) = store.put(key, &json)
        {
            leptos::logging::warn!("could not keep {what}: {error}");
        }
    });
}

/// The packages the user installed, to install again on the next visit.
pub async fn load_installed() -> Vec<String> {
    load(PACKAGES_KEY).await
}

/// Adds a package to those installed again on the next visit.
pub fn remember_installed(package: String) {
    leptos::task::spawn_local(async move {
        let mut installed = load_installed().await;
        if installed.contains(&package) {
            return;
        }
        installed.push(package);
        save(PACKAGES_KEY, &installed, "the installed packages");
    });
}

/// Adds packages to those installed again on the next visit (a restored backup's).
pub async fn remember_all_installed(packages: Vec<String>) {
    let mut installed = load_installed().await;
    for package in packages {
        if !installed.contains(&package) {
            installed.push(package);
        }
    }
    save(PACKAGES_KEY, &installed, "the installed packages");
}
