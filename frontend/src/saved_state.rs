//! What the workbench keeps between visits, in IndexedDB: the run history and the packages
//! installed. The editor keeps its code itself, in localStorage (`editor.js`;
//! `index.html` puts it back before the first paint). Nothing here leaves the browser.

use std::cell::RefCell;

use crate::history::Run;
use crate::idb::KeyValueStore;

const DATABASE: &str = "pyodide-workbench-state";
const STORE: &str = "state";
const HISTORY_KEY: &str = "history";
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

/// The runs kept from earlier visits, oldest first.
pub async fn load_history() -> Vec<Run> {
    let Some(store) = store().await else {
        return Vec::new();
    };
    store
        .get(HISTORY_KEY)
        .await
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

pub fn save_history(runs: &[Run]) {
    let Ok(json) = serde_json::to_string(runs) else {
        return;
    };
    leptos::task::spawn_local(async move {
        if let Some(store) = store().await
            && let Err(error) = store.put(HISTORY_KEY, &json)
        {
            leptos::logging::warn!("could not keep the history: {error}");
        }
    });
}

/// The packages the user installed, to install again on the next visit.
pub async fn load_installed() -> Vec<String> {
    let Some(store) = store().await else {
        return Vec::new();
    };
    store
        .get(PACKAGES_KEY)
        .await
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

/// Adds a package to those installed again on the next visit.
pub fn remember_installed(package: String) {
    leptos::task::spawn_local(async move {
        let mut installed = load_installed().await;
        if installed.contains(&package) {
            return;
        }
        installed.push(package);
        if let (Some(store), Ok(json)) = (store().await, serde_json::to_string(&installed))
            && let Err(error) = store.put(PACKAGES_KEY, &json)
        {
            leptos::logging::warn!("could not keep the installed packages: {error}");
        }
    });
}
