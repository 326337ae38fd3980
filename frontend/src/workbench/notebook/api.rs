//! `window.workbench.notebook`, for embedding and automation (and the tests): `open(ipynbText)`,
//! `runAll(id?)`, `cells()`, `export()`, `list()`, `select(id)`,
//! `shareLink({outputs, maxLength})`, `revisions()`, `restore(id)`. Documented in the README.
//!
//! Every call answers a Promise that first waits for the first load of the notebooks kept
//! in this browser, so a call made the moment Python is ready acts on the notebook it
//! names — never on one the load then replaces.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{RunRange, Workspace};

/// A cell as `cells()` gives it: outputs in nbformat's form.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CellSummary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    source: &'a str,
    execution_count: Option<u32>,
    outputs: &'a [notebook::Output],
}

#[derive(Serialize)]
struct Opened {
    id: String,
    cells: usize,
}

/// `shareLink`'s options: outputs (if they fit) unless `outputs: false`; at most
/// `maxLength` characters (8,000 unless given).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ShareOptions {
    outputs: Option<bool>,
    max_length: Option<usize>,
}

/// A version as `revisions()` gives it.
#[derive(Serialize)]
struct Version {
    id: String,
    at: f64,
    summary: String,
}

#[derive(Serialize)]
struct Listed<'a> {
    id: &'a str,
    title: &'a str,
    modified: f64,
}

/// Adds `notebook` to `window.workbench` (which `window_api` made).
pub fn expose(workspace: Workspace) -> Result<(), JsValue> {
    let api = js_sys::Object::new();
    let set = |name: &str, function: JsValue| js_sys::Reflect::set(&api, &name.into(), &function);
    let documents = workspace.documents;
    let state = workspace.state;

    set(
        "open",
        Closure::<dyn Fn(JsValue) -> js_sys::Promise>::new(move |text: JsValue| {
            future_to_promise(async move {
                let text = text
                    .as_string()
                    .ok_or_else(|| error("open needs the notebook's .ipynb text"))?;
                documents.first_load().await;
                let (id, cells) = documents.import(&text, None).map_err(error)?;
                to_js(&Opened { id, cells })
            })
        })
        .into_js_value(),
    )?;
    set(
        "runAll",
        Closure::<dyn Fn(JsValue) -> js_sys::Promise>::new(move |id: JsValue| {
            future_to_promise(async move {
                documents.first_load().await;
                if let Some(id) = id.as_string()
                    && state.meta.with_untracked(|meta| meta.id != id)
                {
                    documents.open_stored_now(id).await.map_err(error)?;
                }
                // Queued and waited for in one step: nothing opens another notebook between.
                workspace.run_range(RunRange::All);
                let finished = workspace.runner.finished();
                let outcomes = finished.await.map_err(|_| error("the run was abandoned"))?;
                to_js(&outcomes)
            })
        })
        .into_js_value(),
    )?;
    set(
        "cells",
        Closure::<dyn Fn() -> js_sys::Promise>::new(move || {
            future_to_promise(async move {
                documents.first_load().await;
                state.with(|model| {
                    let cells: Vec<CellSummary> = model
                        .cells
                        .iter()
                        .map(|cell| CellSummary {
                            kind: cell.kind.as_str(),
                            source: &cell.source,
                            execution_count: cell.execution_count,
                            outputs: &cell.outputs,
                        })
                        .collect();
                    to_js(&cells)
                })
            })
        })
        .into_js_value(),
    )?;
    set(
        "export",
        Closure::<dyn Fn() -> js_sys::Promise>::new(move || {
            future_to_promise(async move {
                documents.first_load().await;
                Ok(state.with(notebook::Notebook::to_ipynb).into())
            })
        })
        .into_js_value(),
    )?;
    set(
        "list",
        Closure::<dyn Fn() -> js_sys::Promise>::new(move || {
            future_to_promise(async move {
                documents.first_load().await;
                documents.entries.with_untracked(|entries| {
                    let listed: Vec<Listed> = entries
                        .iter()
                        .map(|entry| Listed {
                            id: &entry.id,
                            title: &entry.title,
                            modified: entry.modified,
                        })
                        .collect();
                    to_js(&listed)
                })
            })
        })
        .into_js_value(),
    )?;
    set(
        "select",
        Closure::<dyn Fn(JsValue) -> js_sys::Promise>::new(move |id: JsValue| {
            future_to_promise(async move {
                let id = id
                    .as_string()
                    .ok_or_else(|| error("select needs a notebook id"))?;
                documents.first_load().await;
                documents.open_stored_now(id).await.map_err(error)?;
                Ok(JsValue::UNDEFINED)
            })
        })
        .into_js_value(),
    )?;

    set(
        "shareLink",
        Closure::<dyn Fn(JsValue) -> js_sys::Promise>::new(move |options: JsValue| {
            future_to_promise(async move {
                let options: ShareOptions = if options.is_undefined() || options.is_null() {
                    ShareOptions::default()
                } else {
                    let json = js_sys::JSON::stringify(&options)
                        .ok()
                        .and_then(|json| json.as_string())
                        .unwrap_or_default();
                    serde_json::from_str(&json).map_err(|problem| {
                        error(format!(
                            "shareLink takes {{outputs: boolean, maxLength: number}}: {problem}"
                        ))
                    })?
                };
                documents.first_load().await;
                let link = super::share::link(
                    state,
                    options.outputs.unwrap_or(true),
                    options.max_length.unwrap_or(notebook::DEFAULT_LINK_LIMIT),
                )
                .map_err(error)?;
                Ok(link.url.into())
            })
        })
        .into_js_value(),
    )?;

    set(
        "revisions",
        Closure::<dyn Fn() -> js_sys::Promise>::new(move || {
            future_to_promise(async move {
                documents.first_load().await;
                let listed: Vec<Version> = documents
                    .revision_list()
                    .await
                    .into_iter()
                    .map(|revision| Version {
                        id: revision.id,
                        at: revision.at,
                        summary: revision.summary,
                    })
                    .collect();
                to_js(&listed)
            })
        })
        .into_js_value(),
    )?;
    set(
        "restore",
        Closure::<dyn Fn(JsValue) -> js_sys::Promise>::new(move |id: JsValue| {
            future_to_promise(async move {
                let id = id
                    .as_string()
                    .ok_or_else(|| error("restore needs a version id from revisions()"))?;
                documents.first_load().await;
                documents.restore(id).await.map_err(error)?;
                Ok(JsValue::UNDEFINED)
            })
        })
        .into_js_value(),
    )?;

    let workbench = js_sys::Reflect::get(&js_sys::global(), &"workbench".into())?;
    if workbench.is_object() {
        js_sys::Reflect::set(&workbench, &"notebook".into(), &api)?;
    }
    Ok(())
}

fn to_js(value: &impl Serialize) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value).map_err(error)?;
    js_sys::JSON::parse(&json)
}

fn error(message: impl ToString) -> JsValue {
    js_sys::Error::new(&message.to_string()).into()
}
