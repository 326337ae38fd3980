//! A small key–value store over IndexedDB: one object store of JSON strings by key. The
//! telemetry queue keeps its events here, so they survive reloads, browser restarts and
//! offline periods.

use js_sys::{Function, Promise};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbObjectStore, IdbRequest, IdbTransactionMode};

/// One object store in one database.
#[derive(Debug, Clone)]
pub struct KeyValueStore {
    database: IdbDatabase,
    store: &'static str,
}

impl KeyValueStore {
    /// Opens (creating if needed) `database` with the object store `store`.
    pub async fn open(database: &str, store: &'static str) -> Result<Self, String> {
        let factory = web_sys::window()
            .ok_or("no window")?
            .indexed_db()
            .map_err(describe)?
            .ok_or("this browser has no IndexedDB")?;
        let request = factory.open_with_u32(database, 1).map_err(describe)?;
        let upgrade = Closure::once_into_js(move |event: web_sys::Event| {
            let database = event
                .target()
                .and_then(|target| target.dyn_into::<IdbRequest>().ok())
                .and_then(|request| request.result().ok())
                .and_then(|result| result.dyn_into::<IdbDatabase>().ok());
            if let Some(database) = database
                && !database.object_store_names().contains(store)
            {
                let _ = database.create_object_store(store);
            }
        });
        request.set_onupgradeneeded(Some(upgrade.unchecked_ref()));
        let database = settle(&request)
            .await?
            .dyn_into::<IdbDatabase>()
            .map_err(describe)?;
        Ok(Self { database, store })
    }

    /// The value under `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<String>, String> {
        let request = self
            .object_store(IdbTransactionMode::Readonly)?
            .get(&JsValue::from_str(key))
            .map_err(describe)?;
        Ok(settle(&request).await?.as_string())
    }

    /// The value under `key` as stored (a structured clone, such as a file handle).
    pub async fn get_value(&self, key: &str) -> Result<Option<JsValue>, String> {
        let request = self
            .object_store(IdbTransactionMode::Readonly)?
            .get(&JsValue::from_str(key))
            .map_err(describe)?;
        let value = settle(&request).await?;
        Ok((!value.is_undefined()).then_some(value))
    }

    /// Stores `value` (any structured-cloneable value) under `key`.
    pub fn put_value(&self, key: &str, value: &JsValue) -> Result<(), String> {
        self.object_store(IdbTransactionMode::Readwrite)?
            .put_with_key(value, &JsValue::from_str(key))
            .map(drop)
            .map_err(describe)
    }

    /// Every value, in key order.
    pub async fn values(&self) -> Result<Vec<String>, String> {
        let request = self
            .object_store(IdbTransactionMode::Readonly)?
            .get_all()
            .map_err(describe)?;
        let values = settle(&request).await?;
        Ok(js_sys::Array::from(&values)
            .iter()
            .filter_map(|value| value.as_string())
            .collect())
    }

    /// Every value that reads as a `T` (JSON); the others are skipped.
    pub async fn values_of<T: serde::de::DeserializeOwned>(&self) -> Vec<T> {
        self.values()
            .await
            .unwrap_or_default()
            .iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect()
    }

    /// Stores `value` under `key`; the browser finishes the write even if nobody waits.
    pub fn put(&self, key: &str, value: &str) -> Result<(), String> {
        self.object_store(IdbTransactionMode::Readwrite)?
            .put_with_key(&JsValue::from_str(value), &JsValue::from_str(key))
            .map(drop)
            .map_err(describe)
    }

    /// Stores each `(key, value)`, all in one transaction (a transaction costs far more than
    /// a write). The writes start now (a page going away cannot wait); the future resolves
    /// once the transaction has committed, or with why it did not.
    pub fn put_all<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> impl Future<Output = Result<(), String>> + 'static {
        let started = (|| {
            let transaction = self
                .database
                .transaction_with_str_and_mode(self.store, IdbTransactionMode::Readwrite)
                .map_err(describe)?;
            let store = transaction.object_store(self.store).map_err(describe)?;
            for (key, value) in entries {
                store
                    .put_with_key(&JsValue::from_str(value), &JsValue::from_str(key))
                    .map_err(describe)?;
            }
            Ok::<_, String>(committed(&transaction))
        })();
        async move { started?.await.map(drop).map_err(describe) }
    }

    /// Deletes these keys, all in one transaction.
    pub fn delete_all<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
        let store = self.object_store(IdbTransactionMode::Readwrite)?;
        for key in keys {
            store.delete(&JsValue::from_str(key)).map_err(describe)?;
        }
        Ok(())
    }

    pub fn clear(&self) -> Result<(), String> {
        self.object_store(IdbTransactionMode::Readwrite)?
            .clear()
            .map(drop)
            .map_err(describe)
    }

    fn object_store(&self, mode: IdbTransactionMode) -> Result<IdbObjectStore, String> {
        self.database
            .transaction_with_str_and_mode(self.store, mode)
            .and_then(|transaction| transaction.object_store(self.store))
            .map_err(describe)
    }
}

/// Resolves when a transaction commits; rejects when it is aborted (a write failed, the disk
/// is full, the page went away first).
fn committed(transaction: &web_sys::IdbTransaction) -> JsFuture {
    JsFuture::from(Promise::new(&mut |resolve: Function, reject: Function| {
        let done = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call0(&JsValue::NULL);
        });
        let failed = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = reject.call1(
                &JsValue::NULL,
                &JsValue::from_str("an IndexedDB write failed or was aborted"),
            );
        });
        transaction.set_oncomplete(Some(done.unchecked_ref()));
        transaction.set_onabort(Some(failed.unchecked_ref()));
    }))
}

/// Waits for an IndexedDB request to succeed or fail.
async fn settle(request: &IdbRequest) -> Result<JsValue, String> {
    let request = request.clone();
    let promise = Promise::new(&mut |resolve: Function, reject: Function| {
        let succeeded = request.clone();
        let on_success = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call1(
                &JsValue::NULL,
                &succeeded.result().unwrap_or(JsValue::UNDEFINED),
            );
        });
        let on_error = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = reject.call1(
                &JsValue::NULL,
                &JsValue::from_str("an IndexedDB request failed"),
            );
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
    });
    JsFuture::from(promise).await.map_err(describe)
}

/// The message of a thrown JavaScript value.
pub(crate) fn describe(error: JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|error| String::from(error.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}
