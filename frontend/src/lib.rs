//! The workbench page: an editor, a Run button, a status line and the output, with Python
//! running in a Web Worker through `pyodide-loader`.
//!
//! The page starts the runtime as soon as it mounts, so Python loads while the user types;
//! a Run pressed before Python is ready waits in the worker and runs when it is.

use leptos::prelude::*;
use leptos::task::spawn_local;
use pyodide_loader::{ExecResult, ExecuteRequest, Runtime, RuntimeEvent, Stream};

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

/// One piece of the output area, styled by where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputKind {
    Stdout,
    Stderr,
    Result,
    Error,
}

impl OutputKind {
    fn class(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::Result => "result",
            Self::Error => "error",
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    let status = RwSignal::new(RuntimeStatus::Loading("starting the worker".to_owned()));
    let output = RwSignal::new(Vec::<(OutputKind, String)>::new());
    let code = RwSignal::new(STARTER_CODE.to_owned());
    let running = RwSignal::new(false);

    let append =
        move |kind: OutputKind, text: String| output.update(|pieces| pieces.push((kind, text)));
    let runtime = Runtime::start(move |event| match event {
        RuntimeEvent::Progress(step) => status.set(RuntimeStatus::Loading(step)),
        RuntimeEvent::Ready { version } => status.set(RuntimeStatus::Ready { version }),
        RuntimeEvent::Output { stream, text } => {
            let kind = match stream {
                Stream::Stdout => OutputKind::Stdout,
                Stream::Stderr => OutputKind::Stderr,
            };
            append(kind, text);
        }
        RuntimeEvent::Failed(message) => status.set(RuntimeStatus::Failed(message)),
    });
    let runtime = match runtime {
        Ok(runtime) => Some(runtime),
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
        output.set(Vec::new());
        let request = ExecuteRequest::new(code.get_untracked());
        spawn_local(async move {
            match runtime.execute(request).await {
                Ok(result) => show_result(result, append),
                Err(error) => append(OutputKind::Error, format!("{error}\n")),
            }
            running.set(false);
        });
    };

    let on_key = move |event: web_sys::KeyboardEvent| {
        if event.key() == "Enter" && (event.ctrl_key() || event.meta_key()) {
            event.prevent_default();
            run();
        }
    };

    view! {
        <main class="workbench">
            <header>
                <h1>"Pyodide Workbench"</h1>
                <p
                    class="status"
                    class:failed=move || matches!(status.get(), RuntimeStatus::Failed(_))
                    data-testid="status"
                    role="status"
                    aria-live="polite"
                >
                    {move || status.get().label()}
                </p>
            </header>
            <textarea
                data-testid="editor"
                aria-label="Python code"
                spellcheck="false"
                prop:value=move || code.get()
                on:input=move |event| code.set(event_target_value(&event))
                on:keydown=on_key
            ></textarea>
            <div class="toolbar">
                <button data-testid="run" on:click=move |_| run() disabled=move || running.get()>
                    {move || if running.get() { "Running…" } else { "Run" }}
                </button>
                <span>"Ctrl+Enter runs"</span>
            </div>
            <pre class="output" data-testid="output" aria-label="Output" aria-live="polite">
                {move || {
                    output
                        .get()
                        .into_iter()
                        .map(|(kind, text)| view! { <span class=kind.class()>{text}</span> })
                        .collect_view()
                }}
            </pre>
        </main>
    }
}

/// Adds what a finished run adds to the output: its value, or its error and traceback.
fn show_result(result: ExecResult, append: impl Fn(OutputKind, String)) {
    if result.success {
        if !result.result.is_null() {
            append(OutputKind::Result, format!("→ {}\n", result.result));
        }
    } else {
        let message = result
            .traceback
            .or(result.error)
            .unwrap_or_else(|| "the code failed".to_owned());
        append(OutputKind::Error, message);
    }
}
