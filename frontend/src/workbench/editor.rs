//! The code editor: CodeMirror 6, bundled by set-up into `/editor.js`. The page's code box
//! (`index.html`) is usable from the first paint; `editor.js` turns it into the editor before
//! the app starts, keeps its code in localStorage, and `window.WorkbenchEditor.adopt` hands it to
//! the app. This module is the only place that talks to it.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// A live editor.
    #[derive(Debug, Clone)]
    pub type EditorHandle;

    #[wasm_bindgen(catch, js_namespace = WorkbenchEditor, js_name = adopt)]
    fn adopt_editor(parent: &web_sys::HtmlElement, callbacks: &JsValue)
    -> Result<JsValue, JsValue>;

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

/// The editor, taken over by the app.
#[derive(Debug)]
pub struct Adopted {
    pub editor: EditorHandle,
    /// Ctrl/Cmd+Enter was pressed before the app was there.
    pub run_requested: bool,
}

/// Moves the page's editor into `parent` and removes the page's shell (`#boot`) around it.
/// `on_change` hears every edit; `on_run` is Ctrl/Cmd+Enter; `on_stop` is Escape and says
/// whether it stopped something (if not, Escape keeps its usual meaning in the editor).
pub fn adopt(
    parent: &web_sys::HtmlElement,
    on_change: impl Fn(String) + 'static,
    on_run: impl Fn() + 'static,
    on_stop: impl Fn() -> bool + 'static,
) -> Result<Adopted, String> {
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
    let adopted = adopt_editor(parent, &callbacks).map_err(|error| {
        // `adopt` removes the shell itself; without an editor it goes too, so that the page
        // shows why.
        if let Some(shell) = web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| document.get_element_by_id("boot"))
        {
            shell.remove();
        }
        format!(
            "the code editor did not load ({}); reload the page",
            error
                .as_string()
                .or_else(|| error
                    .dyn_ref::<js_sys::Error>()
                    .map(|error| error.message().into()))
                .unwrap_or_else(|| "window.WorkbenchEditor is missing".to_owned())
        )
    })?;
    let field = |name: &str| js_sys::Reflect::get(&adopted, &name.into()).unwrap_or_default();
    Ok(Adopted {
        editor: field("editor").unchecked_into(),
        run_requested: field("runRequested").is_truthy(),
    })
}
