//! The code editor: CodeMirror 6, bundled by set-up into `/editor.js`, which puts
//! `window.WorkbenchEditor` on the page before the app starts. This module is the only
//! place that talks to it.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// A live editor.
    #[derive(Debug, Clone)]
    pub type EditorHandle;

    #[wasm_bindgen(catch, js_namespace = WorkbenchEditor, js_name = createEditor)]
    fn create_editor(
        parent: &web_sys::HtmlElement,
        doc: &str,
        callbacks: &JsValue,
    ) -> Result<EditorHandle, JsValue>;

    #[wasm_bindgen(method, js_name = getValue)]
    pub fn value(this: &EditorHandle) -> String;

    #[wasm_bindgen(method, js_name = setValue)]
    pub fn set_value(this: &EditorHandle, text: &str);

    /// Appends a line at the end and puts the cursor there.
    #[wasm_bindgen(method, js_name = insertLine)]
    pub fn insert_line(this: &EditorHandle, text: &str);

    #[wasm_bindgen(method)]
    pub fn focus(this: &EditorHandle);
}

/// Creates the editor inside `parent`. `on_change` hears every edit; `on_run` is
/// Ctrl/Cmd+Enter; `on_stop` is Escape and says whether it stopped something (if not,
/// Escape keeps its usual meaning in the editor).
pub fn mount(
    parent: &web_sys::HtmlElement,
    doc: &str,
    on_change: impl Fn(String) + 'static,
    on_run: impl Fn() + 'static,
    on_stop: impl Fn() -> bool + 'static,
) -> Result<EditorHandle, String> {
    let callbacks = js_sys::Object::new();
    let set =
        |name: &str, function: JsValue| js_sys::Reflect::set(&callbacks, &name.into(), &function);
    set(
        "change",
        Closure::<dyn Fn(String)>::new(on_change).into_js_value(),
    )
    .and_then(|_| set("run", Closure::<dyn Fn()>::new(on_run).into_js_value()))
    .and_then(|_| {
        set(
            "stop",
            Closure::<dyn Fn() -> bool>::new(on_stop).into_js_value(),
        )
    })
    .map_err(|_| "could not set up the editor".to_owned())?;
    create_editor(parent, doc, &callbacks).map_err(|error| {
        format!(
            "the code editor did not load ({}); reload the page",
            error
                .as_string()
                .unwrap_or_else(|| "window.WorkbenchEditor is missing".to_owned())
        )
    })
}
