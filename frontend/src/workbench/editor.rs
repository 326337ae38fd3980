//! The cell editors: CodeMirror 6, bundled by set-up into `/editor.js`. The page's shell
//! (`index.html`) shows the first cell's code from the first paint; `editor.js` turns it into
//! an editor before the app starts, and `window.WorkbenchEditor.adopt` hands that one to the
//! app; `create` makes the others. This module is the only place that talks to them.

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::assist::Assist;

#[wasm_bindgen]
extern "C" {
    /// A live editor.
    #[derive(Debug, Clone)]
    pub type EditorHandle;

    #[wasm_bindgen(catch, js_namespace = WorkbenchEditor, js_name = adopt)]
    fn adopt_editor(parent: &web_sys::HtmlElement, callbacks: &JsValue)
    -> Result<JsValue, JsValue>;

    #[wasm_bindgen(catch, js_namespace = WorkbenchEditor, js_name = create)]
    fn create_editor(
        parent: &web_sys::HtmlElement,
        doc: &str,
        callbacks: &JsValue,
        python: bool,
    ) -> Result<EditorHandle, JsValue>;

    #[wasm_bindgen(catch, js_namespace = WorkbenchEditor, js_name = keepShell)]
    fn keep_shell_js(shell: &JsValue) -> Result<(), JsValue>;

    #[wasm_bindgen(method, js_name = getValue)]
    pub fn value(this: &EditorHandle) -> String;

    #[wasm_bindgen(method, js_name = setValue)]
    pub fn set_value(this: &EditorHandle, text: &str);

    #[wasm_bindgen(method, js_name = focus)]
    fn focus_at(this: &EditorHandle, place: &str);

    #[wasm_bindgen(method)]
    pub fn blur(this: &EditorHandle);

    #[wasm_bindgen(method, js_name = hasFocus)]
    pub fn has_focus(this: &EditorHandle) -> bool;

    /// Python (highlighting and Python's help) for a code cell, plain text for the others.
    #[wasm_bindgen(method, js_name = setPython)]
    pub fn set_python(this: &EditorHandle, python: bool);

    #[wasm_bindgen(method)]
    pub fn destroy(this: &EditorHandle);
}

/// Where the cursor goes when an editor takes the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Start,
    End,
    /// Where it was.
    Keep,
}

impl EditorHandle {
    pub fn focus(&self, place: Place) {
        self.focus_at(match place {
            Place::Start => "start",
            Place::End => "end",
            Place::Keep => "keep",
        });
    }
}

/// Which run key was pressed in an editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunHow {
    /// Shift+Enter: run, then the next cell (a new one at the end).
    Advance,
    /// Ctrl/Cmd+Enter: run in place.
    Stay,
    /// Alt+Enter: run, then a new cell below.
    Insert,
}

/// Which way ArrowUp on the first line or ArrowDown on the last leaves an editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    Up,
    Down,
}

/// What an editor tells the app, and asks it.
pub struct EditorCallbacks {
    pub change: Box<dyn Fn(String)>,
    pub run: Box<dyn Fn(RunHow)>,
    /// Escape; returns whether it was handled.
    pub escape: Box<dyn Fn() -> bool>,
    /// Returns whether there was a cell to go to.
    pub leave: Box<dyn Fn(Leave) -> bool>,
    pub focus: Box<dyn Fn()>,
    /// Python's answers about the code (completions, signatures, docs, syntax errors).
    pub assist: Assist,
}

impl std::fmt::Debug for EditorCallbacks {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("EditorCallbacks")
    }
}

impl EditorCallbacks {
    fn into_js(self) -> Result<JsValue, JsValue> {
        let callbacks = js_sys::Object::new();
        let set = |name: &str, function: JsValue| {
            js_sys::Reflect::set(&callbacks, &name.into(), &function).map(|_| ())
        };
        let Self {
            change,
            run,
            escape,
            leave,
            focus,
            assist,
        } = self;
        set(
            "change",
            Closure::<dyn Fn(String)>::new(change).into_js_value(),
        )?;
        set(
            "run",
            Closure::<dyn Fn(String)>::new(move |how: String| {
                run(match how.as_str() {
                    "advance" => RunHow::Advance,
                    "insert" => RunHow::Insert,
                    _ => RunHow::Stay,
                })
            })
            .into_js_value(),
        )?;
        set(
            "escape",
            Closure::<dyn Fn() -> bool>::new(escape).into_js_value(),
        )?;
        set(
            "leave",
            Closure::<dyn Fn(String) -> bool>::new(move |direction: String| {
                leave(if direction == "up" {
                    Leave::Up
                } else {
                    Leave::Down
                })
            })
            .into_js_value(),
        )?;
        set("focus", Closure::<dyn Fn()>::new(focus).into_js_value())?;
        // Each answer goes to editor.js as JSON (null: nothing to show).
        set(
            "complete",
            Closure::<dyn Fn(String, u32) -> js_sys::Promise>::new(move |code, cursor| {
                future_to_promise(async move { Ok(as_json(assist.complete(code, cursor).await)) })
            })
            .into_js_value(),
        )?;
        set(
            "signatures",
            Closure::<dyn Fn(String, u32) -> js_sys::Promise>::new(move |code, cursor| {
                future_to_promise(async move { Ok(as_json(assist.signatures(code, cursor).await)) })
            })
            .into_js_value(),
        )?;
        set(
            "inspect",
            Closure::<dyn Fn(String, u32) -> js_sys::Promise>::new(move |code, cursor| {
                future_to_promise(async move {
                    let docs = assist.inspect(code, cursor).await;
                    Ok(as_json(Some(pyodide_loader::message::DocsAnswer { docs })))
                })
            })
            .into_js_value(),
        )?;
        set(
            "check",
            Closure::<dyn Fn(String) -> js_sys::Promise>::new(move |code| {
                future_to_promise(async move {
                    let problems = assist.check(code).await;
                    Ok(as_json(problems.map(|problems| {
                        pyodide_loader::message::SyntaxCheck { problems }
                    })))
                })
            })
            .into_js_value(),
        )?;
        Ok(callbacks.into())
    }
}

/// An answer as the JSON editor.js reads, or `null`.
fn as_json(answer: Option<impl Serialize>) -> JsValue {
    answer
        .and_then(|answer| serde_json::to_string(&answer).ok())
        .map_or(JsValue::NULL, |json| JsValue::from_str(&json))
}

/// Makes an editor holding `doc` in `parent`: Python, or plain text (Markdown, raw cells).
pub fn create(
    parent: &web_sys::HtmlElement,
    doc: &str,
    python: bool,
    callbacks: EditorCallbacks,
) -> Result<EditorHandle, String> {
    let callbacks = callbacks
        .into_js()
        .map_err(|_| "could not set up the editor".to_owned())?;
    create_editor(parent, doc, &callbacks, python).map_err(|error| describe(&error))
}

/// The shell's editor, taken over by the app.
#[derive(Debug)]
pub struct Adopted {
    pub editor: EditorHandle,
    /// The cell the shell showed (`None` before the first notebook existed).
    pub cell: Option<String>,
    /// Whether its code was edited before the app was there.
    pub edited: bool,
    /// Ctrl/Cmd+Enter or Shift+Enter was pressed before the app was there.
    pub run_requested: bool,
}

/// Moves the shell's editor into `parent` and removes the page's shell (`#boot`) around it.
pub fn adopt(parent: &web_sys::HtmlElement, callbacks: EditorCallbacks) -> Result<Adopted, String> {
    let callbacks = callbacks
        .into_js()
        .map_err(|_| "could not set up the editor".to_owned())?;
    let adopted = adopt_editor(parent, &callbacks).map_err(|error| describe(&error))?;
    let field = |name: &str| js_sys::Reflect::get(&adopted, &name.into()).unwrap_or_default();
    Ok(Adopted {
        editor: field("editor").unchecked_into(),
        cell: field("cell").as_string(),
        edited: field("edited").is_truthy(),
        run_requested: field("runRequested").is_truthy(),
    })
}

/// The page's shell is gone without an editor to adopt (`editor.js` did not load): it goes,
/// so the app's own page shows.
pub fn remove_shell() {
    if let Some(shell) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.get_element_by_id("boot"))
    {
        shell.remove();
    }
}

/// The code the page's shell showed: the first cell of the notebook open last, or what the
/// single editor of versions before notebooks kept.
pub fn shell_source() -> Option<String> {
    let storage = web_sys::window()?.local_storage().ok()??;
    let shell = storage
        .get_item("workbench.shell")
        .ok()
        .flatten()
        .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
        .and_then(|shell| shell.get("source")?.as_str().map(str::to_owned));
    shell.or_else(|| storage.get_item("workbench.code").ok().flatten())
}

/// What the shell shows on the next visit: the first cell of the notebook open now.
pub fn keep_shell(notebook: &str, title: &str, cell: &str, source: &str) {
    let shell = js_sys::Object::new();
    for (key, value) in [
        ("notebook", notebook),
        ("title", title),
        ("cell", cell),
        ("source", source),
    ] {
        let _ = js_sys::Reflect::set(&shell, &key.into(), &value.into());
    }
    let _ = keep_shell_js(&shell);
}

fn describe(error: &JsValue) -> String {
    format!(
        "the code editor did not load ({}); reload the page",
        error
            .as_string()
            .or_else(|| error
                .dyn_ref::<js_sys::Error>()
                .map(|error| error.message().into()))
            .unwrap_or_else(|| "window.WorkbenchEditor is missing".to_owned())
    )
}
