//! The workbench page: notebooks (see `notebook`) beside the files, packages and history
//! panels, with a status line for Python, which runs in a Web Worker through
//! `pyodide-loader`.
//!
//! The page starts the runtime as soon as it mounts, so Python loads while the user types;
//! a run asked for before Python is ready waits in the worker and runs when it is. The same
//! runtime is offered to page scripts as `window.workbench` (and the notebooks as
//! `window.workbench.notebook`).

mod assist;
mod backup;
mod editor;
mod files;
mod folder;
mod history;
mod notebook;
mod packages;
mod saved_state;
mod session;
mod storage;
mod variables;
mod viewer;
mod window_api;

use leptos::prelude::*;
use leptos::task::spawn_local;
use pyodide_loader::{LoadStage, PackageNews, Runtime, RuntimeEvent};
use wasm_bindgen::{JsCast, JsValue};

use self::backup::{Backup, BackupPanel};
use self::files::{Files, FilesPanel};
use self::folder::{Folder, FolderPanel};
use self::history::{History, HistoryPanel, Run};
use self::notebook::panel::NotebooksPanel;
use self::notebook::{NotebookView, Workspace};
use self::packages::PackagesPanel;
use self::session::Session;
use self::storage::{SiteStorage, StoragePanel};
use self::variables::VariablesPanel;
use self::viewer::{DataViewer, OpenInViewer};
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
    // What the page says about Python beside the status line (a restart, and why).
    let notice = RwSignal::new(None::<String>);
    // Bumped after anything that may change files or packages (a run, a restart).
    let changed = RwSignal::new(0u64);
    // The variable open in the data viewer.
    let viewing = RwSignal::new(None::<String>);
    provide_context(OpenInViewer(viewing));
    let telemetry = telemetry::start();
    let history = History::load();
    // Packages installed in earlier visits come back once, when Python is first ready.
    let reinstalled = StoredValue::new(false);
    // Set once the runtime has started; its events reach the page only after that.
    let workspace_cell = StoredValue::new(None::<(Session, Workspace)>);
    let files_cell = StoredValue::new(None::<Files>);
    let folder_cell = StoredValue::new(None::<Folder>);

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
                && let Some((session, _)) = workspace_cell.get_value()
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
        RuntimeEvent::Restarted { reason } => {
            progress.set(LoadStep::Restarting.progress());
            status.set(RuntimeStatus::Loading(LoadStep::Restarting));
            notice.set(Some(format!("Python was restarted: {reason}")));
            if let Some((session, workspace)) = workspace_cell.get_value() {
                session.record_restart();
                workspace.runner.restarted();
            }
            if let Some(files) = files_cell.get_value() {
                files.restarted();
            }
            if let Some(folder) = folder_cell.get_value() {
                folder.restarted();
            }
        }
        RuntimeEvent::Files(news) => {
            if let Some(files) = files_cell.get_value() {
                files.hear(news);
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
    // Charts read data-folder files through it (`notebook::charts`).
    provide_context(session);
    let workspace = Workspace::new(session);
    workspace_cell.set_value(Some((session, workspace)));
    if let Err(error) = notebook::api::expose(workspace) {
        leptos::logging::warn!("window.workbench.notebook is unavailable: {error:?}");
    }
    // The notebook shows once it is read from this browser's storage.
    let opened = workspace.documents.loaded;
    workspace
        .documents
        .start(notebook::documents::first_notebook);
    let files = Files::new(session);
    files_cell.set_value(Some(files));
    let folder = Folder::new(workspace.documents, session);
    folder_cell.set_value(Some(folder));
    files.refresh();
    // After each run the code may have written files or installed packages.
    Effect::new(move |previous: Option<bool>| {
        let running = workspace.runner.running.with(Option::is_some);
        if previous == Some(true) && !running {
            files.refresh();
            changed.update(|count| *count += 1);
        }
        running
    });
    let backup = Backup::new(workspace.documents, files, session);
    // The browser is asked to keep the site's storage once something is worth keeping: the
    // first change to a notebook (an edit or a run) or a kept file.
    let site_storage = SiteStorage::new();
    Effect::new(move |previous: Option<u64>| {
        let change = workspace.state.changed.get();
        if previous.is_some_and(|previous| previous != change) {
            site_storage.worth_keeping();
        }
        change
    });
    Effect::new(move |_| {
        if !files.is_empty() {
            site_storage.worth_keeping();
        }
    });
    // The figures follow saves, runs and files.
    Effect::new(move |_| {
        workspace.documents.entries.track();
        changed.track();
        site_storage.refresh();
    });
    // Each finished cell goes into the run history.
    workspace
        .runner
        .on_finished(move |code, duration_ms, success| {
            history.record(Run {
                at: js_sys::Date::now(),
                duration_ms,
                success,
                code,
            });
        });

    let reset = move |_| {
        if !confirm("Clear all variables? Your notebooks, files and history stay.") {
            return;
        }
        spawn_local(async move {
            match session.reset().await {
                Ok(answer) => {
                    notice.set(Some(format!(
                        "Variables cleared ({} removed).",
                        answer.removed
                    )));
                    changed.update(|count| *count += 1);
                }
                Err(error) => notice.set(Some(error.to_string())),
            }
        });
    };
    let restart = move |_| {
        if !confirm(
            "Restart Python? Variables, imports and installed packages are lost; your notebooks, files and history stay.",
        ) {
            return;
        }
        if let Some(runtime) = session.runtime() {
            workspace.runner.restarted();
            runtime.restart();
            files.refresh();
        }
    };
    let insert_code = Callback::new(move |code: String| {
        let id = workspace.insert_near(true, ::notebook::CellKind::Code);
        workspace.state.set_source(&id, code);
    });

    // Files dropped anywhere on the page are loaded (they never leave the browser); a
    // dropped notebook opens as one.
    let dragging = RwSignal::new(false);
    let on_drag_over = move |event: web_sys::DragEvent| {
        event.prevent_default();
        dragging.set(true);
    };
    let open_notebooks = move |dropped: Vec<(String, web_sys::File)>| {
        // A notebook dropped by itself opens as one; inside a dropped folder it is a file.
        let (notebooks, data): (Vec<_>, Vec<_>) = dropped.into_iter().partition(|(path, _)| {
            !path.contains('/') && path.to_ascii_lowercase().ends_with(".ipynb")
        });
        for (_, file) in notebooks {
            notebook::documents::open_file(workspace.documents, file);
        }
        if !data.is_empty() {
            files.add(data);
        }
    };
    let on_drop = move |event: web_sys::DragEvent| {
        event.prevent_default();
        dragging.set(false);
        let Some(transfer) = event.data_transfer() else {
            return;
        };
        // Folders are walked by index.html's helper (it must take the entries now, during
        // the drop); without it, the plain files.
        let walked = js_sys::Reflect::get(&js_sys::global(), &"workbenchDroppedFiles".into())
            .ok()
            .and_then(|helper| helper.dyn_into::<js_sys::Function>().ok())
            .and_then(|helper| helper.call1(&JsValue::NULL, &transfer).ok())
            .and_then(|promise| promise.dyn_into::<js_sys::Promise>().ok());
        match walked {
            Some(promise) => spawn_local(async move {
                if let Ok(found) = wasm_bindgen_futures::JsFuture::from(promise).await {
                    let found = js_sys::Array::from(&found)
                        .iter()
                        .filter_map(|pair| {
                            let pair = js_sys::Array::from(&pair);
                            let path = pair.get(0).as_string()?;
                            let file = pair.get(1).dyn_into::<web_sys::File>().ok()?;
                            Some((path, file))
                        })
                        .collect();
                    open_notebooks(found);
                }
            }),
            None => {
                if let Some(list) = transfer.files() {
                    open_notebooks(files::picked_files(&list));
                }
            }
        }
    };
    let notebook_picker = NodeRef::<leptos::html::Input>::new();
    let pick_notebook = Callback::new(move |()| {
        if let Some(input) = notebook_picker.get() {
            input.click();
        }
    });
    let picked_notebook = move |event: web_sys::Event| {
        let input = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(input) = input {
            if let Some(list) = input.files() {
                open_notebooks(files::picked_files(&list));
            }
            input.set_value("");
        }
    };
    // Loading is over (or failed): the progress bar has nothing more to show.
    let loaded = move || progress.get() >= 1.0 || matches!(status.get(), RuntimeStatus::Failed(_));

    view! {
        <main
            class="workbench"
            class:dragging=move || dragging.get()
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
                    // so the notebook below does not jump up.
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
                    <Show when=move || opened.get()>
                        <NotebookView workspace=workspace session=session />
                    </Show>
                    <div class="toolbar python-controls" role="toolbar" aria-label="Python">
                        <button class="secondary small" data-testid="reset" on:click=reset>
                            "Reset variables"
                        </button>
                        <button class="secondary small" data-testid="restart" on:click=restart>
                            "Restart Python"
                        </button>
                        {move || notice.get().map(|text| view! { <span class="info" data-testid="python-notice">{text}</span> })}
                    </div>
                </div>
                <aside class="side-column">
                    <NotebooksPanel documents=workspace.documents on_open_file=pick_notebook />
                    <input
                        type="file"
                        accept=".ipynb,application/x-ipynb+json"
                        hidden
                        node_ref=notebook_picker
                        data-testid="notebook-input"
                        on:change=picked_notebook
                    />
                    <VariablesPanel session=session changed=changed viewing=viewing />
                    <FolderPanel folder=folder on_insert=insert_code />
                    <FilesPanel files=files on_insert=insert_code />
                    <PackagesPanel session=session changed=changed />
                    <HistoryPanel history=history on_restore=insert_code />
                    <StoragePanel storage=site_storage />
                    <BackupPanel backup=backup />
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
                        (true, 0) if !telemetry.loaded.get() => "checking for unsent events…".to_owned(),
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
            {move || viewing.get().map(|_| view! { <DataViewer session=session open=viewing changed=changed /> })}
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
pub(crate) fn confirm(question: &str) -> bool {
    web_sys::window()
        .and_then(|window| window.confirm_with_message(question).ok())
        .unwrap_or(false)
}
