//! The workbench page: an editor, Run and Stop, a status line and the output, with Python
//! running in a Web Worker through `pyodide-loader`.
//!
//! The page starts the runtime as soon as it mounts, so Python loads while the user types;
//! a Run pressed before Python is ready waits in the worker and runs when it is. The same
//! runtime is offered to page scripts as `window.workbench`.

mod editor;
mod files;
mod history;
mod output;
mod packages;
mod saved_state;
mod session;
mod window_api;

use leptos::prelude::*;
use leptos::task::spawn_local;
use pyodide_loader::{
    ExecResult, ExecuteRequest, Failure, LoadStage, PackageNews, Runtime, RuntimeEvent, Stream,
};

use self::editor::EditorHandle;
use self::files::{Files, FilesPanel};
use self::history::{History, HistoryPanel, Run};
use self::output::{OutputKind, OutputLog, OutputView};
use self::packages::PackagesPanel;
use self::session::Session;
use crate::telemetry;

/// Where the Python runtime is in its life.
#[derive(Debug, Clone, PartialEq)]
enum RuntimeStatus {
    Loading(LoadStep),
    Ready { version: String },
    Failed(String),
}

/// What Python's start is doing, as the page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoadStep {
    StartingWorker,
    Stage(LoadStage),
    Restarting,
}

impl LoadStep {
    fn words(self) -> &'static str {
        match self {
            Self::StartingWorker => "starting the worker",
            Self::Stage(LoadStage::DownloadingRuntime) => "downloading the Python runtime",
            Self::Stage(LoadStage::StartingPython) => "starting Python",
            Self::Restarting => "restarting",
        }
    }

    /// How far the progress bar is at this step.
    fn progress(self) -> f64 {
        match self {
            Self::Stage(LoadStage::DownloadingRuntime) => 0.3,
            Self::Stage(LoadStage::StartingPython) => 0.6,
            Self::StartingWorker | Self::Restarting => 0.2,
        }
    }
}

impl RuntimeStatus {
    fn label(&self) -> String {
        match self {
            Self::Loading(step) => format!("Loading Python: {}…", step.words()),
            Self::Ready { version } => format!("Python ready (Pyodide {version})"),
            Self::Failed(message) => format!("Python failed: {message}"),
        }
    }
}

#[component]
pub fn Workbench() -> impl IntoView {
    let status = RwSignal::new(RuntimeStatus::Loading(LoadStep::StartingWorker));
    let progress = RwSignal::new(0.1);
    let packages = RwSignal::new(String::new());
    let log = OutputLog::new();
    let code = RwSignal::new(String::new());
    let running = RwSignal::new(false);
    // Bumped after anything that may change files or packages (a run, a restart).
    let changed = RwSignal::new(0u64);
    let telemetry = telemetry::start();
    let history = History::load();
    // Packages installed in earlier visits come back once, when Python is first ready.
    let reinstalled = StoredValue::new(false);
    // Set once the runtime has started; its events reach the page only after that.
    let session_cell = StoredValue::new(None::<Session>);

    let runtime = Runtime::start(move |event| match event {
        RuntimeEvent::Progress(stage) => {
            let step = LoadStep::Stage(stage);
            progress.set(step.progress());
            status.set(RuntimeStatus::Loading(step));
        }
        RuntimeEvent::Ready { version } => {
            progress.set(0.8);
            status.set(RuntimeStatus::Ready { version });
            changed.update(|count| *count += 1);
            if !reinstalled.get_value()
                && let Some(session) = session_cell.get_value()
            {
                reinstalled.set_value(true);
                reinstall_kept_packages(session, packages, changed);
            }
        }
        RuntimeEvent::Packages(news) => match news {
            PackageNews::Settled => {
                // Loading finished: the packages (and the preload's progress) changed.
                if progress.get_untracked() >= 0.8 {
                    progress.set(1.0);
                }
                changed.update(|count| *count += 1);
                packages.set(String::new());
            }
            PackageNews::Loading { text } | PackageNews::Problem { text } => packages.set(text),
        },
        RuntimeEvent::Output { stream, text } => {
            let kind = match stream {
                Stream::Stdout => OutputKind::Stdout,
                Stream::Stderr => OutputKind::Stderr,
            };
            log.push_text(kind, text);
        }
        RuntimeEvent::Restarted { reason } => {
            progress.set(LoadStep::Restarting.progress());
            status.set(RuntimeStatus::Loading(LoadStep::Restarting));
            log.push_text(
                OutputKind::Info,
                format!("Python was restarted: {reason}\n"),
            );
            if let Some(session) = session_cell.get_value() {
                session.record_restart();
            }
        }
        RuntimeEvent::Failed(message) => status.set(RuntimeStatus::Failed(message)),
    });
    let session = match runtime {
        Ok(runtime) => {
            let session = Session::new(Some(runtime.clone()), telemetry);
            if let Err(error) = window_api::expose_on_window(session, &runtime) {
                leptos::logging::warn!("window.workbench is unavailable: {error:?}");
            }
            session
        }
        Err(error) => {
            status.set(RuntimeStatus::Failed(error.to_string()));
            Session::new(None, telemetry)
        }
    };
    session_cell.set_value(Some(session));
    let files = Files::new(session);
    files.refresh();

    let run = move || {
        if running.get_untracked() || session.runtime().is_none() {
            return;
        }
        running.set(true);
        log.clear();
        let source = code.get_untracked();
        let request = ExecuteRequest::new(source.clone());
        spawn_local(async move {
            match session.execute(request).await {
                Ok(result) => {
                    history.record(Run {
                        at: js_sys::Date::now(),
                        duration_ms: result.duration_ms,
                        success: result.success,
                        code: source,
                    });
                    show_result(result, log);
                }
                Err(error) => log.push_text(OutputKind::Error, format!("{error}\n")),
            }
            running.set(false);
            files.refresh();
            changed.update(|count| *count += 1);
        });
    };
    let stop = move || {
        if let Some(runtime) = session.runtime() {
            runtime.stop();
        }
    };
    let reset = move |_| {
        if !confirm("Clear all variables? Your code, files and history stay.") {
            return;
        }
        spawn_local(async move {
            match session.reset().await {
                Ok(answer) => log.push_text(
                    OutputKind::Info,
                    format!("Variables cleared ({} removed).\n", answer.removed),
                ),
                Err(error) => log.push_text(OutputKind::Error, format!("{error}\n")),
            }
        });
    };
    let restart = move |_| {
        if !confirm(
            "Restart Python? Variables, imports and installed packages are lost; your code, files and history stay.",
        ) {
            return;
        }
        if let Some(runtime) = session.runtime() {
            runtime.restart();
            files.refresh();
        }
    };

    // The editor: the page's own (see `editor.rs`), moved into its box once that exists. It
    // keeps its code between visits itself.
    let editor_box = NodeRef::<leptos::html::Div>::new();
    let editor = StoredValue::new_local(None::<EditorHandle>);
    Effect::new(move |_| {
        let Some(element) = editor_box.get() else {
            return;
        };
        if editor.with_value(Option::is_some) {
            return;
        }
        let on_change = move |text: String| code.set(text);
        let on_stop = move || {
            let stopping = running.get_untracked();
            if stopping {
                stop();
            }
            stopping
        };
        match editor::adopt(&element, on_change, run, on_stop) {
            Ok(adopted) => {
                code.set(adopted.editor.value());
                editor.set_value(Some(adopted.editor));
                if adopted.run_requested {
                    run();
                }
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
    // Files dropped anywhere on the page are loaded (they never leave the browser).
    let dragging = RwSignal::new(false);
    let on_drag_over = move |event: web_sys::DragEvent| {
        event.prevent_default();
        dragging.set(true);
    };
    let on_drop = move |event: web_sys::DragEvent| {
        event.prevent_default();
        dragging.set(false);
        if let Some(list) = event.data_transfer().and_then(|transfer| transfer.files()) {
            files.add(list);
        }
    };
    // Loading is over (or failed): the progress bar has nothing more to show.
    let loaded = move || progress.get() >= 1.0 || matches!(status.get(), RuntimeStatus::Failed(_));

    view! {
        <main
            class="workbench"
            class:dragging=move || dragging.get()
            on:keydown=on_key
            on:dragover=on_drag_over
            on:dragleave=move |_| dragging.set(false)
            on:drop=on_drop
        >
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
                    // Hidden, not removed, once loading is over: the header keeps its height,
                    // so the editor below does not jump up.
                    <progress
                        class="load-progress"
                        class:done=loaded
                        aria-hidden=move || if loaded() { "true" } else { "false" }
                        data-testid="load-progress"
                        aria-label="Loading Python"
                        max="1"
                        value=move || progress.get()
                    ></progress>
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
            <div class="columns">
                <div class="main-column">
                    <div class="editor-box" node_ref=editor_box data-testid="editor-box"></div>
                    <div class="toolbar" role="toolbar" aria-label="Run controls">
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
                        <button class="secondary" data-testid="clear-output" on:click=move |_| log.clear()>
                            "Clear output"
                        </button>
                        <button class="secondary" data-testid="reset" on:click=reset>
                            "Reset"
                        </button>
                        <button class="secondary" data-testid="restart" on:click=restart>
                            "Restart"
                        </button>
                        <span class="shortcuts">"Ctrl+Enter runs · Escape stops"</span>
                    </div>
                    <OutputView log=log />
                </div>
                <aside class="side-column">
                    <FilesPanel files=files editor=editor />
                    <PackagesPanel session=session changed=changed />
                    <HistoryPanel history=history editor=editor code=code />
                </aside>
            </div>
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
                <Show when=move || telemetry.unreachable.get()>
                    <span class="warning" data-testid="server-unreachable" role="status">
                        "Server unreachable: working offline"
                    </span>
                </Show>
                <Show when=move || { telemetry.dropped.get() > 0 }>
                    <span class="warning" data-testid="telemetry-dropped">
                        {move || format!("{} events dropped: the queue was full", telemetry.dropped.get())}
                    </span>
                </Show>
            </footer>
        </main>
    }
}

/// Installs again, from the cache when offline, the packages installed in earlier visits.
fn reinstall_kept_packages(session: Session, news: RwSignal<String>, changed: RwSignal<u64>) {
    spawn_local(async move {
        let kept = saved_state::load_installed().await;
        for package in kept {
            news.set(format!("Installing {package} again…"));
            if let Ok(answer) = session.reinstall(&package).await
                && !answer.success
            {
                news.set(answer.error.unwrap_or_default());
            }
        }
        news.set(String::new());
        changed.update(|count| *count += 1);
    });
}

/// Asks the user to confirm something that loses work.
fn confirm(question: &str) -> bool {
    web_sys::window()
        .and_then(|window| window.confirm_with_message(question).ok())
        .unwrap_or(false)
}

/// Adds what a finished run adds to the output: its rich results, or its error and traceback.
fn show_result(result: ExecResult, log: OutputLog) {
    if let Some(failure) = result.failure() {
        // A timeout's own message says what happened; otherwise the traceback does.
        let mut message = match failure {
            Failure::TimedOut { .. } => result.error,
            _ => result.traceback.or(result.error),
        }
        .unwrap_or_else(|| "the code failed".to_owned());
        if !message.ends_with('\n') {
            message.push('\n');
        }
        log.push_text(OutputKind::Error, message);
    }
    for output in result.outputs {
        log.push_rich(output);
    }
}
