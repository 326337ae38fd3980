//! The notebook: an ordered list of code and Markdown cells, each with its own editor and
//! outputs, run one at a time in the one Python namespace, kept in this browser, and read
//! from and written to Jupyter's `.ipynb` (the model is the `notebook` crate; this module
//! shows it and sends it commands).
//!
//! - `state`: the open notebook and the signals its view follows;
//! - `cell`, `outputs`: how a cell and its outputs look;
//! - `runner`: the queue of cells to run, Stop, Restart;
//! - `keys`: Jupyter's command mode;
//! - `documents`, `store`: the notebooks kept in IndexedDB, autosave, other tabs, the first
//!   notebook made from what earlier versions kept, `.ipynb` files opened;
//! - `panel`: the side panel that lists them;
//! - `revisions`: each notebook's history of versions (the Versions box is `versions`);
//! - `sanitize`: HTML outputs made safe to show;
//! - `share`: the link that carries the notebook (the Share box; `documents` opens one);
//! - `api`: `window.workbench.notebook`.

pub mod api;
mod cell;
mod charts;
pub mod disk;
pub mod documents;
mod keys;
mod outputs;
pub mod panel;
mod revisions;
pub mod runner;
mod sanitize;
mod share;
pub mod state;
pub mod store;
mod versions;

use leptos::prelude::*;
use notebook::{CellId, CellKind, Direction, Notebook};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use self::cell::{CellRow, HOST_ATTRIBUTE};
use self::disk::DiskTrouble;
use self::documents::Documents;
use self::runner::Runner;
use self::state::{Mode, NotebookState};
use super::assist::Assist;
use super::editor::{self, Adopted, EditorCallbacks, Leave, Place, RunHow};
use super::session::Session;

/// How long one task may spend making editors (about one editor: a key pressed meanwhile
/// waits at most this long).
const EDITOR_SLICE_MS: f64 = 4.0;

/// The cell `index.html`'s shell names for a share link (it shows an empty cell then).
const SHARED_LINK_SHELL_CELL: &str = "-shared-link-";

/// Everything a cell's view and the keys act on; a cheap copyable handle.
#[derive(Debug, Clone, Copy)]
pub struct Workspace {
    pub state: NotebookState,
    pub runner: Runner,
    pub documents: Documents,
    /// Whether the page's shell still holds an editor for the first cell to take over.
    shell_waiting: StoredValue<bool>,
    /// Makes editors for the cells that come near the screen.
    observer: StoredValue<Option<web_sys::IntersectionObserver>, LocalStorage>,
    /// Cells near the screen waiting for their editor, nearest first, and whether their
    /// making is scheduled: a few are made at a time, after the frame that shows the cells.
    waiting_editors: StoredValue<Vec<(f64, CellId)>>,
    making_editors: StoredValue<bool>,
    /// The help overlay with the keys.
    pub help: RwSignal<bool>,
}

impl Workspace {
    /// Everything for `session`'s runtime; the notebook itself comes from
    /// [`Documents::start`].
    pub fn new(session: Session) -> Self {
        let placeholder = Notebook::new(&mut notebook::SeededIds::new(0));
        let state = NotebookState::new(
            placeholder,
            state::DocMeta {
                id: String::new(),
                title: String::new(),
                modified: 0.0,
                revision: 0,
                disk: None,
            },
        );
        let workspace = Self {
            state,
            runner: Runner::new(session, state),
            documents: Documents::new(state),
            shell_waiting: StoredValue::new(shell_present()),
            observer: StoredValue::new_local(None),
            waiting_editors: StoredValue::new(Vec::new()),
            making_editors: StoredValue::new(false),
            help: RwSignal::new(false),
        };
        workspace.observe();
        workspace
    }

    /// A cell's editor host is on the page: the shell's editor moves in (first cell), or the
    /// host is watched until it nears the screen.
    fn host_mounted(self, id: &CellId, host: web_sys::HtmlElement) {
        if self.state.index_of(id) == Some(0) && self.shell_waiting.get_value() {
            self.take_shell_editor(id, &host);
            return;
        }
        if let Some(observer) = self.observer.get_value() {
            observer.observe(&host);
        } else {
            self.ensure_editor(id);
        }
    }

    /// The first cell takes the editor the page's shell showed (typed into, maybe, before
    /// the app was there), and the shell goes.
    fn take_shell_editor(self, id: &CellId, host: &web_sys::HtmlElement) {
        self.shell_waiting.set_value(false);
        let adopted = match editor::adopt(host, self.callbacks(id.clone())) {
            Ok(adopted) => adopted,
            Err(_) => {
                editor::remove_shell();
                self.ensure_editor(id);
                return;
            }
        };
        let Adopted {
            editor: shell_editor,
            cell,
            edited,
            run_requested,
            ..
        } = adopted;
        let source = self.state.source(id);
        let typed = shell_editor.value();
        let same_cell = cell.is_none() || cell.as_deref() == Some(id.as_str());
        shell_editor.set_python(self.state.kind(id) == Some(CellKind::Code));
        if let Some(view) = self.state.view(id) {
            view.editor.set_value(Some(shell_editor.clone()));
            view.has_editor.set(true);
        }
        // The shell keeps the first cell's code at every keystroke, the notebook a moment
        // later: for the same cell, the shell's is the newer.
        if typed != source && (edited || cell.as_deref() == Some(id.as_str())) {
            if same_cell {
                self.state.set_source_from_editor(id, typed);
            } else {
                // The shell showed another notebook's cell: what was typed there is kept in
                // a new first cell, and this one keeps its own code.
                shell_editor.set_value(&source);
                let kept = self.state.insert(0, CellKind::Code);
                self.state.set_source(&kept, typed);
                if run_requested {
                    self.runner.run(vec![kept]);
                }
                return;
            }
        } else if typed != source {
            shell_editor.set_value(&source);
        }
        // A Run pressed in the empty cell the shell shows for a share link must not run a
        // stranger's first cell, which the user has not seen.
        let unseen = cell.as_deref() == Some(SHARED_LINK_SHELL_CELL) && !edited;
        if run_requested && !unseen {
            self.runner.run(vec![id.clone()]);
        }
    }

    fn observe(self) {
        let callback = Closure::<dyn Fn(js_sys::Array)>::new(move |entries: js_sys::Array| {
            let screen = web_sys::window()
                .and_then(|window| window.inner_height().ok())
                .and_then(|height| height.as_f64())
                .unwrap_or(800.0);
            for entry in entries.iter() {
                let entry: web_sys::IntersectionObserverEntry = entry.unchecked_into();
                if !entry.is_intersecting() {
                    continue;
                }
                let target = entry.target();
                if let Some(id) = target
                    .get_attribute(HOST_ATTRIBUTE)
                    .and_then(|id| CellId::parse(id).ok())
                {
                    // How far from the screen: the cells on it get their editors first.
                    let rect = entry.bounding_client_rect();
                    let distance = if rect.bottom() < 0.0 {
                        -rect.bottom()
                    } else {
                        (rect.top() - screen).max(0.0)
                    };
                    self.waiting_editors
                        .update_value(|waiting| waiting.push((distance, id)));
                }
                if let Some(observer) = self.observer.get_value() {
                    observer.unobserve(&target);
                }
            }
            self.make_waiting_editors_soon();
        });
        let options = web_sys::IntersectionObserverInit::new();
        // Made a screen ahead, so scrolling finds them ready.
        options.set_root_margin("100% 0px");
        let observer = web_sys::IntersectionObserver::new_with_options(
            callback.as_ref().unchecked_ref(),
            &options,
        )
        .ok();
        callback.forget();
        self.observer.set_value(observer);
    }

    /// Makes the waiting editors in tasks of their own, a few milliseconds' worth each: the
    /// frame that shows a notebook's cells (their text as plain copies) is not held up by
    /// making a screenful of editors, nor is a click or key meanwhile.
    fn make_waiting_editors_soon(self) {
        if self.making_editors.get_value() {
            return;
        }
        self.making_editors.set_value(true);
        set_timeout(
            move || {
                self.making_editors.set_value(false);
                self.waiting_editors.update_value(|waiting| {
                    // Nearest last, as they are taken from the end.
                    waiting.sort_by(|a, b| b.0.total_cmp(&a.0));
                });
                let started = js_sys::Date::now();
                while js_sys::Date::now() - started < EDITOR_SLICE_MS {
                    let Some((_, id)) = self.waiting_editors.try_update_value(Vec::pop).flatten()
                    else {
                        return;
                    };
                    self.ensure_editor(&id);
                }
                self.make_waiting_editors_soon();
            },
            std::time::Duration::ZERO,
        );
    }

    /// The cell's editor, made now if it has none yet.
    fn ensure_editor(self, id: &CellId) -> Option<editor::EditorHandle> {
        let view = self.state.view(id)?;
        if let Some(editor) = view.editor.get_value() {
            return Some(editor);
        }
        let host = web_sys::window()?
            .document()?
            .query_selector(&format!("[{HOST_ATTRIBUTE}=\"{id}\"]"))
            .ok()??
            .dyn_into::<web_sys::HtmlElement>()
            .ok()?;
        let python = self.state.kind(id) == Some(CellKind::Code);
        let editor = editor::create(
            &host,
            &self.state.source(id),
            python,
            self.callbacks(id.clone()),
        )
        .ok()?;
        view.editor.set_value(Some(editor.clone()));
        view.has_editor.set(true);
        Some(editor)
    }

    fn callbacks(self, id: CellId) -> EditorCallbacks {
        let (change, run, leave, focus) = (id.clone(), id.clone(), id.clone(), id);
        EditorCallbacks {
            change: Box::new(move |text| self.state.set_source_from_editor(&change, text)),
            run: Box::new(move |how| self.run_cell(&run, how)),
            escape: Box::new(move || {
                if self.runner.busy() {
                    self.runner.stop();
                } else {
                    self.command_mode();
                }
                true
            }),
            leave: Box::new(move |direction| {
                let direction = match direction {
                    Leave::Up => Direction::Up,
                    Leave::Down => Direction::Down,
                };
                match self.state.neighbour(&leave, direction) {
                    Some(next) => {
                        let place = if direction == Direction::Up {
                            Place::End
                        } else {
                            Place::Start
                        };
                        self.edit(&next, place);
                        true
                    }
                    None => false,
                }
            }),
            focus: Box::new(move || {
                self.state.selected.set(Some(focus.clone()));
                self.state.mode.set(Mode::Edit);
            }),
            assist: {
                let runner = self.runner;
                Assist::new(move || {
                    if runner.busy() {
                        None
                    } else {
                        runner.session().runtime()
                    }
                })
            },
        }
    }

    /// Edit mode on a cell: its editor (made now if needed) takes the focus; a rendered
    /// Markdown cell shows its source.
    pub fn edit(self, id: &CellId, place: Place) {
        let Some(view) = self.state.view(id) else {
            return;
        };
        self.state.selected.set(Some(id.clone()));
        view.rendered.set(false);
        if let Some(editor) = self.ensure_editor(id) {
            editor.focus(place);
            self.state.mode.set(Mode::Edit);
        }
        scroll_into_view(id);
    }

    /// Command mode: the editor lets go of the keyboard, the notebook takes it.
    pub fn command_mode(self) {
        if let Some(id) = self.state.selected.get_untracked()
            && let Some(editor) = self
                .state
                .view(&id)
                .and_then(|view| view.editor.get_value())
        {
            editor.blur();
        }
        self.state.mode.set(Mode::Command);
        if let Some(notebook) = web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| {
                document
                    .query_selector("[data-testid=\"notebook\"]")
                    .ok()
                    .flatten()
            })
            .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = notebook.focus();
        }
    }

    /// Selects a cell (command mode) and shows it.
    pub fn select(self, id: &CellId) {
        self.state.selected.set(Some(id.clone()));
        scroll_into_view(id);
    }

    /// Runs a cell as the key asked: in place, then the next cell, or then a new one below.
    pub fn run_cell(self, id: &CellId, how: RunHow) {
        self.runner.run(vec![id.clone()]);
        match how {
            RunHow::Stay => {}
            RunHow::Advance => match self.state.neighbour(id, Direction::Down) {
                Some(next) => self.follow(&next),
                None => {
                    let index = self.state.len();
                    let next = self.state.insert(index, CellKind::Code);
                    self.follow(&next);
                }
            },
            RunHow::Insert => {
                let index = self.state.index_of(id).map_or(0, |index| index + 1);
                let next = self.state.insert(index, CellKind::Code);
                self.follow(&next);
            }
        }
    }

    /// After a run key, the next cell: edited if the run key was pressed in an editor.
    fn follow(self, next: &CellId) {
        if self.state.mode.get_untracked() == Mode::Edit {
            // The new cell's host is on the page in the next frame.
            let next = next.clone();
            request_animation_frame(move || self.edit(&next, Place::Start));
        } else {
            self.select(next);
        }
    }

    pub fn set_kind(self, id: &CellId, kind: CellKind) {
        self.state.set_kind(id, kind);
    }

    /// Every code cell from the first (`Some(index)`: only those above it, or from it down).
    pub fn run_range(self, range: RunRange) {
        let selected = self
            .state
            .selected
            .get_untracked()
            .and_then(|id| self.state.index_of(&id))
            .unwrap_or(0);
        let order = self.state.order.get_untracked();
        let ids: Vec<CellId> = match range {
            RunRange::All => order,
            RunRange::Above => order.into_iter().take(selected).collect(),
            RunRange::Below => order.into_iter().skip(selected).collect(),
        };
        let code: Vec<CellId> = ids
            .into_iter()
            .filter(|id| self.state.kind(id) == Some(CellKind::Code))
            .collect();
        if range == RunRange::All {
            // The notebook as it was before the run replaces its outputs.
            leptos::task::spawn_local(
                self.documents
                    .keep_revision(revisions::Reason::BeforeRunAll),
            );
        }
        self.runner.run(code);
    }

    /// Restarts Python and runs every cell from the top.
    pub fn restart_and_run_all(self, session: Session) {
        self.runner.restarted();
        if let Some(runtime) = session.runtime() {
            runtime.restart();
        }
        self.run_range(RunRange::All);
    }

    /// Inserts a cell above or below the selected one and selects it.
    pub fn insert_near(self, below: bool, kind: CellKind) -> CellId {
        let at = self
            .state
            .selected
            .get_untracked()
            .and_then(|id| self.state.index_of(&id))
            .map_or(
                self.state.len(),
                |index| if below { index + 1 } else { index },
            );
        let id = self.state.insert(at, kind);
        self.select(&id);
        id
    }
}

/// Which cells "run" runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunRange {
    All,
    Above,
    Below,
}

fn scroll_into_view(id: &CellId) {
    let id = id.clone();
    request_animation_frame(move || {
        if let Some(element) = web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| {
                document
                    .query_selector(&format!("[data-cell-id=\"{id}\"]"))
                    .ok()
                    .flatten()
            })
        {
            let options = web_sys::ScrollIntoViewOptions::new();
            options.set_block(web_sys::ScrollLogicalPosition::Nearest);
            element.scroll_into_view_with_scroll_into_view_options(&options);
        }
    });
}

/// The notebook: its title, toolbar, the cells, and the help overlay.
#[component]
pub fn NotebookView(workspace: Workspace, session: Session) -> impl IntoView {
    let state = workspace.state;
    let runner = workspace.runner;
    let documents = workspace.documents;
    let busy = move || runner.running.get().is_some();
    let download = move |python: bool| {
        let meta = state.meta.get_untracked();
        let (text, extension, mime) = if python {
            (state.with(Notebook::to_percent_py), "py", "text/x-python")
        } else {
            (
                state.with(Notebook::to_ipynb),
                "ipynb",
                "application/x-ipynb+json",
            )
        };
        super::files::save_text_as(
            &format!("{}.{extension}", file_stem(&meta.title)),
            &text,
            mime,
        );
    };
    let sharing = RwSignal::new(false);
    let versions = RwSignal::new(false);
    let confirm_restart = move |_| {
        if super::confirm(
            "Restart Python and run every cell from the top? Variables and imports are lost; the notebook stays.",
        ) {
            workspace.restart_and_run_all(session);
        }
    };
    view! {
        <section class="notebook-area" aria-label="Notebook">
            <div class="notebook-head">
                <h2 class="notebook-name" data-testid="notebook-name">{move || state.meta.with(|meta| meta.title.clone())}</h2>
                <span class="hint" data-testid="save-state">
                    {move || if documents.shared.get() {
                        "Shared — not saved yet"
                    } else if documents.conflict.get() {
                        "not saved"
                    } else if documents.disk_trouble.with(Option::is_some) {
                        "saved in this browser, not in its file"
                    } else if let Some(link) = state.meta.with(|meta| meta.disk.clone()) {
                        return format!("saved to {} in “{}”", link.path, link.folder);
                    } else {
                        "saved in this browser"
                    }.to_owned()}
                </span>
            </div>
            <Show when=move || documents.shared.get()>
                <div class="notice ok shared" role="status" data-testid="shared">
                    "This notebook came in a link. It is kept in this browser when you change or run it, or now: "
                    <button class="small" data-testid="keep-shared" on:click=move |_| documents.keep_shared()>"Keep a copy"</button>
                </div>
            </Show>
            <Show when=move || documents.conflict.get()>
                <div class="notice error conflict" role="alert" data-testid="conflict">
                    "This notebook was changed in another tab. "
                    <button class="small" data-testid="conflict-reload" on:click=move |_| documents.reload_from_store()>"Load that version"</button>
                    " "
                    <button class="secondary small" data-testid="conflict-keep" on:click=move |_| documents.keep_mine()>"Keep this one"</button>
                </div>
            </Show>
            {move || documents.disk_trouble.get().map(|trouble| {
                let file = state.meta.with_untracked(|meta| meta.disk.as_ref().map(|link| link.path.clone()).unwrap_or_default());
                let (text, first, second) = match trouble {
                    DiskTrouble::Changed => (
                        format!("{file} was changed on disk (by another program or tab) since it was opened here. Your changes are kept in this browser and were not written over it. "),
                        Some(("Load the version on disk", "disk-reload")),
                        Some(("Overwrite it with this one", "disk-overwrite")),
                    ),
                    DiskTrouble::Gone => (
                        format!("{file} is no longer in the folder (deleted or moved). This notebook is kept in this browser. "),
                        Some(("Save it there again", "disk-overwrite")),
                        Some(("Keep it in this browser only", "disk-forget")),
                    ),
                    DiskTrouble::NoAccess(reason) => (
                        format!("Changes are kept in this browser, not written to {file}: {reason}. Reopen the folder (Folder on disk) to write them. "),
                        None,
                        Some(("Keep it in this browser only", "disk-forget")),
                    ),
                };
                let act = move |testid: &'static str| move |_| match testid {
                    "disk-reload" => documents.disk_reload(),
                    "disk-overwrite" => documents.disk_overwrite(),
                    _ => documents.disk_forget(),
                };
                view! {
                    <div class="notice error conflict" role="alert" data-testid="disk-trouble">
                        {text}
                        {first.map(|(label, testid)| view! { <button class="small" data-testid=testid on:click=act(testid)>{label}</button> " " })}
                        {second.map(|(label, testid)| view! { <button class="secondary small" data-testid=testid on:click=act(testid)>{label}</button> })}
                    </div>
                }
            })}
            <div class="toolbar notebook-toolbar" role="toolbar" aria-label="Notebook">
                <button
                    data-testid="run"
                    title="Run the selected cell and go to the next (Shift+Enter)"
                    on:click=move |_| {
                        if let Some(id) = state.selected.get_untracked() {
                            workspace.run_cell(&id, RunHow::Advance);
                        }
                    }
                >
                    {move || if busy() { "Running…" } else { "Run" }}
                </button>
                <button class="secondary" data-testid="run-all" on:click=move |_| workspace.run_range(RunRange::All)>"Run all"</button>
                <button class="secondary" data-testid="run-above" on:click=move |_| workspace.run_range(RunRange::Above)>"Run above"</button>
                <button class="secondary" data-testid="run-below" on:click=move |_| workspace.run_range(RunRange::Below)>"Run from here"</button>
                <button class="secondary" data-testid="stop" on:click=move |_| runner.stop() disabled=move || !busy()>"Stop"</button>
                <button class="secondary" data-testid="restart-run-all" on:click=confirm_restart>"Restart & run all"</button>
                <button class="secondary" data-testid="clear-output" on:click=move |_| state.clear_all_outputs()>"Clear outputs"</button>
                <Show when=move || { state.undoable.get() > 0 }>
                    <button
                        class="secondary"
                        data-testid="undo-delete"
                        title="Bring back the last deleted cell (Z)"
                        on:click=move |_| {
                            if state.undo_delete()
                                && let Some(id) = state.selected.get_untracked()
                            {
                                workspace.select(&id);
                            }
                        }
                    >
                        "Undo delete"
                    </button>
                </Show>
                <button class="secondary" data-testid="add-code" on:click=move |_| { workspace.insert_near(true, CellKind::Code); }>"+ Code"</button>
                <button class="secondary" data-testid="add-markdown" on:click=move |_| { workspace.insert_near(true, CellKind::Markdown); }>"+ Markdown"</button>
                <button class="secondary" data-testid="download-ipynb" on:click=move |_| download(false)>"Download .ipynb"</button>
                <button class="secondary" data-testid="download-py" on:click=move |_| download(true)>"Download .py"</button>
                <button class="secondary" data-testid="share" aria-expanded=move || sharing.get().to_string() on:click=move |_| sharing.update(|open| *open = !*open)>"Share"</button>
                <button class="secondary" data-testid="versions" aria-expanded=move || versions.get().to_string() on:click=move |_| versions.update(|open| *open = !*open)>"Versions"</button>
                <button class="secondary" data-testid="show-keys" aria-expanded=move || workspace.help.get().to_string() on:click=move |_| workspace.help.update(|shown| *shown = !*shown)>"Keys (?)"</button>
            </div>
            <Show when=move || versions.get()>
                <versions::VersionsBox documents=documents open=versions />
            </Show>
            <Show when=move || sharing.get()>
                <share::ShareBox state=state open=sharing on_download=Callback::new(move |()| download(false)) />
            </Show>
            <div
                class="notebook"
                data-testid="notebook"
                tabindex="-1"
                on:keydown=move |event| keys::on_key(workspace, event)
                on:focusin=move |event| keys::on_focus(workspace, event)
            >
                <For each=move || state.order.get() key=move |id| (id.clone(), state.generation.get_value()) let:id>
                    <CellRow id=id workspace=workspace />
                </For>
            </div>
            <Show when=move || workspace.help.get()>
                <keys::HelpOverlay help=workspace.help />
            </Show>
        </section>
    }
}

/// Whether the page's shell (`index.html`) is there with its editor for the first cell.
fn shell_present() -> bool {
    web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.get_element_by_id("boot"))
        .is_some()
}

/// A title as a file name: what a file system takes.
pub(crate) fn file_stem(title: &str) -> String {
    let stem: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = stem.trim().trim_matches('.');
    if stem.is_empty() {
        "notebook".to_owned()
    } else {
        stem.to_owned()
    }
}
