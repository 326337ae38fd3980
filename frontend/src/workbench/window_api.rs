//! `window.workbench`: the runtime's operations for page scripts, embedding, automation and
//! tests. Each function returns a Promise of the same JSON the original service answered
//! with: `execute(code | {code, context?, timeout?})`, `loadFile(name, bytes | text)`,
//! `install(name)`, `reset()`, `status()`, plus `stop()` and `variables()`. They go through the page's
//! [`Session`], so they count in usage statistics like the page's own buttons.

use pyodide_loader::{ExecuteRequest, FileSource, Runtime};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::session::Session;

/// Puts `window.workbench` on the page, bound to the session's runtime.
pub fn expose_on_window(session: Session, runtime: &Runtime) -> Result<(), JsValue> {
    let api = js_sys::Object::new();
    let set = |name: &str, function: JsValue| js_sys::Reflect::set(&api, &name.into(), &function);

    set(
        "execute",
        Closure::<dyn Fn(JsValue) -> js_sys::Promise>::new(move |input: JsValue| {
            future_to_promise(async move {
                let request = match input.as_string() {
                    Some(code) => ExecuteRequest::new(code),
                    None => from_js(&input)?,
                };
                to_js(&session.execute(request).await.map_err(error)?)
            })
        })
        .into_js_value(),
    )?;

    set(
        "loadFile",
        Closure::<dyn Fn(JsValue, JsValue) -> js_sys::Promise>::new(move |name: JsValue, data: JsValue| {
            future_to_promise(async move {
                let name = name.as_string().ok_or_else(|| error("loadFile needs a file name"))?;
                // A `File` or `Blob` is kept in place (never read whole); bytes are copied
                // for the worker to take, so the caller's own buffer stays as it was.
                let source = match data.as_string() {
                    Some(text) => FileSource::Bytes(js_sys::Uint8Array::from(text.as_bytes()).buffer()),
                    None if data.is_instance_of::<web_sys::Blob>() => {
                        FileSource::Kept(data.unchecked_into::<web_sys::Blob>())
                    }
                    None if data.is_instance_of::<js_sys::ArrayBuffer>() => {
                        FileSource::Bytes(data.unchecked_into::<js_sys::ArrayBuffer>().slice(0))
                    }
                    None if data.is_instance_of::<js_sys::Uint8Array>() => FileSource::Bytes(
                        js_sys::Uint8Array::new(&data.unchecked_into::<js_sys::Uint8Array>()).buffer(),
                    ),
                    None => {
                        return Err(error(
                            "loadFile needs the contents as a File, Blob, string, ArrayBuffer or Uint8Array",
                        ));
                    }
                };
                to_js(&session.load_file(&name, source).await.map_err(error)?)
            })
        })
        .into_js_value(),
    )?;

    set(
        "install",
        Closure::<dyn Fn(JsValue) -> js_sys::Promise>::new(move |package: JsValue| {
            future_to_promise(async move {
                let package = package.as_string().unwrap_or_default();
                to_js(&session.install(&package).await.map_err(error)?)
            })
        })
        .into_js_value(),
    )?;

    set(
        "reset",
        Closure::<dyn Fn() -> js_sys::Promise>::new(move || {
            future_to_promise(async move { to_js(&session.reset().await.map_err(error)?) })
        })
        .into_js_value(),
    )?;

    let status = runtime.clone();
    set(
        "status",
        Closure::<dyn Fn() -> js_sys::Promise>::new(move || match to_js(&status.status()) {
            Ok(value) => js_sys::Promise::resolve(&value),
            Err(error) => js_sys::Promise::reject(&error),
        })
        .into_js_value(),
    )?;

    // The Variables panel's list, between runs (rejects while code runs).
    let variables = runtime.clone();
    set(
        "variables",
        Closure::<dyn Fn() -> js_sys::Promise>::new(move || {
            let variables = variables.clone();
            future_to_promise(async move { to_js(&variables.variables().await.map_err(error)?) })
        })
        .into_js_value(),
    )?;

    let stop = runtime.clone();
    set(
        "stop",
        Closure::<dyn Fn()>::new(move || stop.stop()).into_js_value(),
    )?;

    js_sys::Reflect::set(&js_sys::global(), &"workbench".into(), &api)?;
    Ok(())
}

fn to_js(value: &impl Serialize) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value).map_err(error)?;
    js_sys::JSON::parse(&json)
}

fn from_js<T: DeserializeOwned>(value: &JsValue) -> Result<T, JsValue> {
    let json: String = js_sys::JSON::stringify(value)?.into();
    serde_json::from_str(&json).map_err(|problem| error(format!("invalid request: {problem}")))
}

fn error(message: impl ToString) -> JsValue {
    js_sys::Error::new(&message.to_string()).into()
}
