//! What the workbench keeps between visits, in IndexedDB: the editor's code (and, as the
//! page grows, its run history). Nothing here leaves the browser.

use std::cell::RefCell;

use crate::idb::KeyValueStore;

const DATABASE: &str = "pyodide-workbench-state";
const STORE: &str = "state";
const CODE_KEY: &str = "code";

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

/// The code the editor held last time, if any.
pub async fn load_code() -> Option<String> {
    store().await?.get(CODE_KEY).await.ok().flatten()
}

/// Keeps the editor's code for the next visit.
pub fn save_code(code: &str) {
    let code = code.to_owned();
    leptos::task::spawn_local(async move {
        if let Some(store) = store().await
            && let Err(error) = store.put(CODE_KEY, &code)
        {
            leptos::logging::warn!("could not keep the code: {error}");
        }
    });
}
