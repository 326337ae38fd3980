//! The worker itself: started here or adopted from `index.html`, which starts it in its first
//! lines so Pyodide loads beside the app's own download; and the one way messages are posted
//! to it (JSON, with bytes beside when a message carries them).

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use crate::message::ToWorker;
use crate::{LoaderError, WORKER_URL};

/// Bytes that go with a message.
pub(crate) enum Payload {
    /// Shared with the worker (the interrupt buffer).
    Shared(JsValue),
    /// Moved to the worker without a copy (a file's contents).
    Transfer(js_sys::ArrayBuffer),
    /// Posted as is: a `File` or `Blob` is handed over by reference, its bytes not read.
    Clone(JsValue),
}

/// The worker `index.html` started, if it is still unclaimed, or a new one; either way with
/// this runtime's handlers.
pub(crate) fn spawn_worker(
    on_message: &Closure<dyn FnMut(MessageEvent)>,
    on_error: &Closure<dyn FnMut(ErrorEvent)>,
) -> Result<Worker, LoaderError> {
    let worker = match adopt_early_worker() {
        Some(worker) => worker,
        None => {
            Worker::new(WORKER_URL).map_err(|error| LoaderError::WorkerStart(describe(&error)))?
        }
    };
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Ok(worker)
}

/// The worker `index.html` started before the app loaded (`window.workbenchEarlyWorker`),
/// once: it is already loading Pyodide.
fn adopt_early_worker() -> Option<Worker> {
    let global = js_sys::global();
    let key = JsValue::from_str("workbenchEarlyWorker");
    let worker = Reflect::get(&global, &key)
        .ok()?
        .dyn_into::<Worker>()
        .ok()?;
    let _ = Reflect::delete_property(&global.unchecked_into::<Object>(), &key);
    Some(worker)
}

/// A message from the worker: its JSON text and the bytes that came beside it, if any.
pub(crate) fn read_message(event: &MessageEvent) -> (String, Option<JsValue>) {
    let data = event.data();
    match data.as_string() {
        Some(json) => (json, None),
        None => {
            let field = |name: &str| Reflect::get(&data, &name.into()).ok();
            let json = field("json")
                .and_then(|json| json.as_string())
                .unwrap_or_default();
            (json, field("payload"))
        }
    }
}

pub(crate) fn post(
    worker: &Worker,
    message: &ToWorker,
    payload: Option<Payload>,
) -> Result<(), LoaderError> {
    let json =
        serde_json::to_string(message).map_err(|error| LoaderError::Protocol(error.to_string()))?;
    let posted = match payload {
        None => worker.post_message(&JsValue::from_str(&json)),
        Some(payload) => {
            let envelope = Object::new();
            let (value, transfer) = match payload {
                Payload::Shared(buffer) => (buffer, Array::new()),
                Payload::Transfer(buffer) => (buffer.clone().into(), Array::of1(&buffer)),
                Payload::Clone(value) => (value, Array::new()),
            };
            Reflect::set(&envelope, &"json".into(), &JsValue::from_str(&json))
                .and_then(|_| Reflect::set(&envelope, &"payload".into(), &value))
                .and_then(|_| worker.post_message_with_transfer(&envelope, &transfer))
        }
    };
    posted.map_err(|error| LoaderError::RuntimeFailed(describe(&error)))
}

/// `performance.mark("workbench-python-ready", {detail: {startedEarly}})`, for `cargo xtask
/// bench` and the tests: when Python became usable, and whether the early start worked.
pub(crate) fn mark_python_ready(started_early: bool) {
    let global = js_sys::global();
    let Some((performance, mark)) =
        Reflect::get(&global, &"performance".into())
            .ok()
            .and_then(|performance| {
                let mark = Reflect::get(&performance, &"mark".into()).ok()?;
                Some((performance, mark.dyn_into::<js_sys::Function>().ok()?))
            })
    else {
        return;
    };
    let detail = Object::new();
    let options = Object::new();
    let _ = Reflect::set(&detail, &"startedEarly".into(), &started_early.into());
    let _ = Reflect::set(&options, &"detail".into(), &detail);
    let _ = mark.call2(&performance, &"workbench-python-ready".into(), &options);
}

/// A thrown JavaScript value in words.
pub(crate) fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|error| String::from(error.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}
