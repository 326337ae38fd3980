//! The workbench page: an editor, Run and Stop, a status line and the output, with Python
//! running in a Web Worker through `pyodide-loader`.
//!
//! The page starts the runtime as soon as it mounts, so Python loads while the user types;
//! a Run pressed before Python is ready waits in the worker and runs when it is. The same
//! runtime is offered to page scripts as `window.workbench`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use pyodide_loader::{ExecResult, ExecuteRequest, Runtime, RuntimeEvent, Stream};

use crate::editor::EditorHandle;
use crate::output::{OutputKind, OutputLog, OutputView};
use crate::saved_state;
use crate::telemetry;

const STARTER_CODE: &str = "print(1 + 1)\n";

/// Where the Python runtime is in its life.
#[derive(Debug, Clone, PartialEq)]
enum RuntimeStatus {
    Loading(String),
    Ready { version: String },
    Failed(String),
}

impl RuntimeStatus {
    fn label(&self) -> String {
        match self {
            Self::Loading(step) => format!("Loading Python: {step}…"),
            Self::Ready { version } => format!("Python ready (Pyodide {version})"),
            Self::Failed(message) => format!("Python failed: {message}"),
        }
    }
}

#[component]
pub fn Workbench() -> impl IntoView {
    let status = RwSignal::new(RuntimeStatus::Loading("starting the worker".to_owned()));
    let packages = RwSignal::new(String::new());
    let log = OutputLog::new();
    let code = RwSignal::new(STARTER_CODE.to_owned());
    let running = RwSignal::new(false);
    let telemetry = telemetry::start();

    let runtime = Runtime::start(move |event| match event {
        RuntimeEvent::Progress(step) => status.set(RuntimeStatus::Loading(step)),
        RuntimeEvent::Ready { version } => status.set(RuntimeStatus::Ready { version }),
        RuntimeEvent::Packages(news) => packages.set(news),
        RuntimeEvent::Output { stream, text } => {
            let kind = match stream {
                Stream::Stdout => OutputKind::Stdout,
                Stream::Stderr => OutputKind::Stderr,
            };
            log.push_text(kind, text);
        }
        RuntimeEvent::Restarted { reason } => {
            status.set(RuntimeStatus::Loading("restarting".to_owned()));
            log.push_text(
                OutputKind::Info,
                format!("Python was restarted: {reason}\n"),
            );
        }
        RuntimeEvent::Failed(message) => status.set(RuntimeStatus::Failed(message)),
        RuntimeEvent::Activity(activity) => telemetry::record(telemetry, activity),
    });
    let runtime = match runtime {
        Ok(runtime) => {
            if let Err(error) = pyodide_loader::expose_on_window(&runtime) {
                leptos::logging::warn!("window.workbench is unavailable: {error:?}");
            }
            Some(runtime)
        }
        Err(error) => {
            status.set(RuntimeStatus::Failed(error.to_string()));
            None
        }
    };
    let runtime = StoredValue::new_local(runtime);

    let run = move || {
        if running.get_untracked() {
            return;
        }
        let Some(runtime) = runtime.get_value() else {
            return;
        };
        running.set(true);
        log.clear();
        let request = ExecuteRequest::new(code.get_untracked());
        spawn_local(async move {
            match runtime.execute(request).await {
                Ok(result) => show_result(result, log),
                Err(error) => log.push_text(OutputKind::Error, format!("{error}\n")),
            }
            running.set(false);
        });
    };
    let stop = move || {
        if let Some(runtime) = runtime.get_value() {
            runtime.stop();
        }
    };

    // The editor: mounted once its box exists, then filled with the code kept from the last
    // visit (unless the user already typed).
    let editor_box = NodeRef::<leptos::html::Div>::new();
    let editor = StoredValue::new_local(None::<EditorHandle>);
    let edited = StoredValue::new(false);
    Effect::new(move |_| {
        let Some(element) = editor_box.get() else {
            return;
        };
        if editor.with_value(Option::is_some) {
            return;
        }
        let on_change = move |text: String| {
            edited.set_value(true);
            code.set(text.clone());
            saved_state::save_code(&text);
        };
        let on_stop = move || {
            let stopping = running.get_untracked();
            if stopping {
                stop();
            }
            stopping
        };
        match crate::editor::mount(&element, STARTER_CODE, on_change, run, on_stop) {
            Ok(handle) => {
                handle.focus();
                editor.set_value(Some(handle));
                spawn_local(async move {
                    if let Some(saved) = saved_state::load_code().await
                        && !edited.get_value()
                    {
                        if let Some(handle) = editor.get_value() {
                            handle.set_value(&saved);
                        }
                        code.set(saved);
                    }
                });
            }
            Err(message) => status.set(RuntimeStatus::Failed(message)),
        }
    });

    let on_key = move |event: web_sys::KeyboardEvent| {
        if event.default_prevented() {
            return;
        }
        if event.key() == "Enter" && (event.ctrl_key() || event.meta_key()) {
            event.prevent_default();
            run();
        } else if event.key() == "Escape" && running.get_untracked() {
            event.prevent_default();
            stop();
        }
    };

    view! {
        <main class="workbench" on:keydown=on_key>
            <header>
                <h1>"Pyodide Workbench"</h1>
                <div class="statuses">
                    <p
                        class="status"
                        class:failed=move || matches!(status.get(), RuntimeStatus::Failed(_))
                        data-testid="status"
                        role="status"
                        aria-live="polite"
                    >
                        {move || status.get().label()}
                    </p>
                    <p
                        class="packages"
                        data-testid="packages"
                        aria-live="polite"
                        title=move || packages.get()
                    >
                        {move || packages.get()}
                    </p>
                </div>
            </header>
            <div class="editor-box" node_ref=editor_box data-testid="editor-box"></div>
            <div class="toolbar">
                <button data-testid="run" on:click=move |_| run() disabled=move || running.get()>
                    {move || if running.get() { "Running…" } else { "Run" }}
                </button>
                <button
                    class="secondary"
                    data-testid="stop"
                    on:click=move |_| stop()
                    disabled=move || !running.get()
                >
                    "Stop"
                </button>
                <span>"Ctrl+Enter runs · Escape stops"</span>
            </div>
            <OutputView log=log />
            <footer class="footer">
                <label>
                    <input
                        type="checkbox"
                        data-testid="telemetry-toggle"
                        prop:checked=move || telemetry.enabled.get()
                        on:change=move |event| telemetry::set_enabled(telemetry, event_target_checked(&event))
                    />
                    " Send usage statistics (a hash of the code, never the code itself)"
                </label>
                <span data-testid="telemetry-status" aria-live="polite">
                    {move || match (telemetry.enabled.get(), telemetry.pending.get()) {
                        (false, _) => "telemetry off".to_owned(),
                        (true, 0) => "all sent".to_owned(),
                        (true, waiting) => format!("{waiting} waiting to be sent"),
                    }}
                </span>
                <Show when=move || { telemetry.dropped.get() > 0 }>
                    <span class="warning" data-testid="telemetry-dropped">
                        {move || format!("{} events dropped: the queue was full", telemetry.dropped.get())}
                    </span>
                </Show>
            </footer>
        </main>
    }
}

/// Adds what a finished run adds to the output: its rich results, or its error and traceback.
fn show_result(result: ExecResult, log: OutputLog) {
    if !result.success {
        let mut message = result
            .traceback
            .or(result.error.clone())
            .unwrap_or_else(|| "the code failed".to_owned());
        if result.error_type.as_deref() == Some("TimeoutError")
            && let Some(error) = result.error
        {
            message = error;
        }
        if !message.ends_with('\n') {
            message.push('\n');
        }
        log.push_text(OutputKind::Error, message);
    }
    for output in result.outputs {
        log.push_rich(output);
    }
}
