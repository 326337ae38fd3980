//! Running cells: one at a time, in the order they were asked for, in the one Python
//! namespace. A cell that fails ends the batch (the rest stay unrun, as in Jupyter); Stop
//! interrupts the running cell and cancels the queued ones, which say they were not run.
//! Output shows as it is made (gathered for [`FLUSH_EVERY`]) and the run's answer then
//! gives the complete, ordered list.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use futures_channel::oneshot;
use leptos::prelude::*;
use leptos::task::spawn_local;
use notebook::{CellId, CellKind, Output, StreamName};
use pyodide_loader::message::LiveOutput;
use pyodide_loader::{ExecResult, ExecuteRequest, Failure, InputAnswer, Stream};
use serde::Serialize;

use super::super::session::Session;
use super::state::{NotebookState, RunState};

/// Streamed text is gathered this long before it is shown, so a loop that prints a great
/// deal does not re-render the cell for every line.
const FLUSH_EVERY: Duration = Duration::from_millis(30);
/// A notebook cell runs until it ends or the user stops it, as in Jupyter; this only keeps
/// a forgotten run from holding the runtime for ever.
const CELL_TIMEOUT_MS: u64 = 24 * 60 * 60 * 1000;

/// How one cell of a batch ended, for `window.workbench.notebook.runAll`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOutcome {
    pub index: usize,
    pub success: bool,
    pub execution_count: Option<u32>,
}

/// The queue of cells to run; a cheap copyable handle.
#[derive(Debug, Clone, Copy)]
pub struct Runner {
    session: Session,
    state: NotebookState,
    queue: StoredValue<VecDeque<CellId>>,
    pub running: RwSignal<Option<CellId>>,
    /// The execution count of the last run since Python (re)started.
    count: StoredValue<u32>,
    /// How the cells of the current batch ended, in order.
    outcomes: StoredValue<Vec<(CellId, bool, Option<u32>)>>,
    /// Where each cell of the current batch was in its notebook when it was queued.
    places: StoredValue<HashMap<CellId, usize>>,
    waiters: StoredValue<Vec<oneshot::Sender<Vec<RunOutcome>>>, LocalStorage>,
    /// Live output waiting to be shown.
    pending: StoredValue<Vec<Output>>,
    flush_scheduled: StoredValue<bool>,
    /// Hears each finished run: its code, how long it ran, whether it succeeded.
    finished_run: StoredValue<Option<RunListener>, LocalStorage>,
}

/// Hears each finished run: its code, how long it ran, whether it succeeded.
type RunListener = Rc<dyn Fn(String, f64, bool)>;

impl Runner {
    pub fn new(session: Session, state: NotebookState) -> Self {
        Self {
            session,
            state,
            queue: StoredValue::new(VecDeque::new()),
            running: RwSignal::new(None),
            count: StoredValue::new(0),
            outcomes: StoredValue::new(Vec::new()),
            places: StoredValue::new(HashMap::new()),
            waiters: StoredValue::new_local(Vec::new()),
            pending: StoredValue::new(Vec::new()),
            flush_scheduled: StoredValue::new(false),
            finished_run: StoredValue::new_local(None),
        }
    }

    /// `listener` hears each finished run (the run history keeps them).
    pub fn on_finished(self, listener: impl Fn(String, f64, bool) + 'static) {
        self.finished_run.set_value(Some(Rc::new(listener)));
    }

    /// The session the cells run in.
    pub fn session(self) -> Session {
        self.session
    }

    /// Whether a cell runs or waits to.
    pub fn busy(self) -> bool {
        self.running.get_untracked().is_some() || self.queue.with_value(|queue| !queue.is_empty())
    }

    /// Queues these cells (code cells only; Markdown cells are shown rendered instead).
    pub fn run(self, ids: Vec<CellId>) {
        for id in ids {
            match self.state.kind(&id) {
                Some(CellKind::Code) => {
                    let queued = self.queue.with_value(|queue| queue.contains(&id));
                    if !queued && self.running.get_untracked().as_ref() != Some(&id) {
                        if let Some(place) = self.state.index_of(&id) {
                            self.places.update_value(|places| {
                                places.insert(id.clone(), place);
                            });
                        }
                        self.state.set_run_state(&id, RunState::Queued);
                        self.queue.update_value(|queue| queue.push_back(id));
                    }
                }
                Some(CellKind::Markdown) => {
                    if let Some(view) = self.state.view(&id) {
                        view.rendered.set(true);
                    }
                }
                _ => {}
            }
        }
        if self.running.get_untracked().is_none() && !self.send_next() {
            self.finish_batch();
        }
    }

    /// Resolves when the queue has run out (or was stopped), with how each cell ended.
    pub fn finished(self) -> oneshot::Receiver<Vec<RunOutcome>> {
        let (done, finished) = oneshot::channel();
        if self.busy() {
            self.waiters.update_value(|waiters| waiters.push(done));
        } else {
            let _ = done.send(self.take_outcomes());
        }
        finished
    }

    /// Interrupts the running cell and cancels the queued ones.
    pub fn stop(self) {
        self.cancel_queue("the run was stopped");
        if let Some(id) = self.running.get_untracked()
            && let Some(view) = self.state.view(&id)
        {
            view.asking.set(None);
        }
        if self.running.get_untracked().is_some()
            && let Some(runtime) = self.session.runtime()
        {
            runtime.stop();
        }
    }

    /// Python restarted: counts start again at 1; nothing queued runs in the new runtime.
    pub fn restarted(self) {
        self.cancel_queue("Python was restarted");
        self.count.set_value(0);
    }

    fn cancel_queue(self, reason: &'static str) {
        let cancelled: Vec<CellId> = self
            .queue
            .try_update_value(std::mem::take)
            .unwrap_or_default()
            .into();
        for id in cancelled {
            self.state.set_run_state(&id, RunState::NotRun(reason));
            self.outcomes
                .update_value(|outcomes| outcomes.push((id, false, None)));
        }
        if self.running.get_untracked().is_none() {
            self.finish_batch();
        }
    }

    /// Sends the next queued cell to Python; `false` when the queue is empty.
    fn send_next(self) -> bool {
        let Some(id) = self.queue.try_update_value(VecDeque::pop_front).flatten() else {
            return false;
        };
        // Its notebook was closed since it was queued: it is not run (never as empty code in
        // another notebook).
        if self.state.kind(&id).is_none() {
            self.outcomes
                .update_value(|outcomes| outcomes.push((id, false, None)));
            return self.send_next();
        }
        let count = self.count.get_value() + 1;
        self.count.set_value(count);
        self.running.set(Some(id.clone()));
        self.state.start_run(&id, count);
        let code = self.state.source(&id);
        let mut request = ExecuteRequest::new(code.clone());
        request.label = Some(count);
        request.timeout = Some(CELL_TIMEOUT_MS);
        spawn_local(async move {
            let answer = self
                .session
                .execute_interactive(request, move |output| self.live(output))
                .await;
            self.flush();
            // How long it ran, if Python answered (the history keeps such runs).
            let mut ran_ms = None;
            let (outputs, success) = match answer {
                Ok(result) => {
                    let success = result.success;
                    ran_ms = Some(result.duration_ms);
                    let stopped = matches!(result.failure(), Some(Failure::Interrupted));
                    let outputs = cell_outputs(result);
                    if stopped {
                        self.cancel_queue("the run was stopped");
                    } else if !success {
                        self.cancel_queue("an earlier cell failed");
                    }
                    (outputs, success)
                }
                Err(error) => {
                    self.cancel_queue("Python could not run it");
                    let message = error.to_string();
                    (
                        vec![Output::error("Error", message.clone(), vec![message])],
                        false,
                    )
                }
            };
            self.outcomes
                .update_value(|outcomes| outcomes.push((id.clone(), success, Some(count))));
            // Python starts on the next cell while this one's outputs are shown.
            self.running.set(None);
            if let Some(view) = self.state.view(&id) {
                view.asking.set(None);
            }
            let sent = self.send_next();
            self.state.finish_run(&id, outputs);
            if let (Some(listener), Some(ran_ms)) = (self.finished_run.get_value(), ran_ms) {
                listener(code, ran_ms, success);
            }
            if !sent {
                self.finish_batch();
            }
        });
        true
    }

    /// Answers the running cell's `input()`; its box goes.
    pub fn answer_input(self, answer: InputAnswer) {
        if let Some(id) = self.running.get_untracked()
            && let Some(view) = self.state.view(&id)
        {
            view.asking.set(None);
        }
        if let Some(runtime) = self.session.runtime() {
            runtime.answer_input(&answer);
        }
    }

    fn live(self, output: LiveOutput) {
        let output = match output {
            LiveOutput::Input(ask) => {
                // What was printed before the question shows before its box.
                self.flush();
                if let Some(id) = self.running.get_untracked()
                    && let Some(view) = self.state.view(&id)
                {
                    view.asking.set(Some(ask));
                }
                return;
            }
            LiveOutput::Stream { stream, text } => Output::stream(
                match stream {
                    Stream::Stdout => StreamName::Stdout,
                    Stream::Stderr => StreamName::Stderr,
                },
                text,
            ),
            LiveOutput::Display(output) => output,
        };
        self.pending.update_value(|pending| pending.push(output));
        if !self.flush_scheduled.get_value() {
            self.flush_scheduled.set_value(true);
            set_timeout(move || self.flush(), FLUSH_EVERY);
        }
    }

    fn flush(self) {
        self.flush_scheduled.set_value(false);
        let pending = self
            .pending
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        if let (false, Some(id)) = (pending.is_empty(), self.running.get_untracked()) {
            self.state.add_live_outputs(&id, pending);
        }
    }

    fn finish_batch(self) {
        if self.running.get_untracked().is_some()
            || self.queue.with_value(|queue| !queue.is_empty())
        {
            return;
        }
        let waiters = self
            .waiters
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        if waiters.is_empty() {
            self.outcomes.set_value(Vec::new());
            self.places.set_value(HashMap::new());
            return;
        }
        let outcomes = self.take_outcomes();
        for waiter in waiters {
            let _ = waiter.send(outcomes.clone());
        }
    }

    fn take_outcomes(self) -> Vec<RunOutcome> {
        let outcomes = self
            .outcomes
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        let places = self
            .places
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        let mut outcomes: Vec<RunOutcome> = outcomes
            .into_iter()
            .map(|(id, success, execution_count)| RunOutcome {
                index: places.get(&id).copied().unwrap_or_default(),
                success,
                execution_count,
            })
            .collect();
        // In the notebook's order (a failure cancels the rest before its own outcome is in).
        outcomes.sort_by_key(|outcome| outcome.index);
        outcomes
    }
}

/// The cell's outputs from a run's answer: the ordered list the harness made, or — for a run
/// the harness could not answer (Python restarted under it) — what is known.
fn cell_outputs(result: ExecResult) -> Vec<Output> {
    if !result.cell_outputs.is_empty() || result.success {
        return result.cell_outputs;
    }
    let mut outputs = Vec::new();
    if !result.stdout.is_empty() {
        outputs.push(Output::stream(StreamName::Stdout, result.stdout));
    }
    if !result.stderr.is_empty() {
        outputs.push(Output::stream(StreamName::Stderr, result.stderr));
    }
    let ename = result.error_type.unwrap_or_else(|| "Error".to_owned());
    let message = result.error.unwrap_or_else(|| "the code failed".to_owned());
    outputs.push(Output::error(ename, message.clone(), vec![message]));
    outputs
}
