//! A typed Rust handle on Pyodide running in a dedicated Web Worker.
//!
//! [`Runtime::start`] starts the worker (`/pyodide-worker.js`, copied into the build by
//! Trunk), which loads Pyodide from this server and runs the Python harness (`harness.py`,
//! embedded here and sent with the first message). The page never blocks on Python:
//! requests go out as [`message::ToWorker`], answers come back as [`message::FromWorker`],
//! and callers see only typed values — no raw `JsValue` leaves this crate.
//!
//! Stop writes SIGINT into a `SharedArrayBuffer` the worker handed to Pyodide, which raises
//! `KeyboardInterrupt` in the running code within milliseconds. A run that passes its
//! timeout is interrupted the same way; if it still has not stopped after a grace period
//! (stuck in C code, or swallowing `KeyboardInterrupt`), the worker is replaced.

pub mod message;
mod window_api;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::{Rc, Weak};

use futures_channel::oneshot;
use js_sys::{Array, Object, Reflect, Uint8Array};
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

pub use crate::message::{
    DataFile, DeleteResult, ExecResult, ExecuteRequest, FileLoad, InstallResult, Package,
    ResetResult, RichOutput, Status, Stream,
};
use crate::message::{FromWorker, ToWorker};
pub use crate::window_api::expose_on_window;

/// The Pyodide version this build serves and expects; `manifest.json` names the same one.
pub const PYODIDE_VERSION: &str = "0.27.7";
/// Where Trunk puts the worker script.
pub const WORKER_URL: &str = "/pyodide-worker.js";
/// The server's package index for micropip (over the wheelhouse).
pub const PACKAGE_INDEX_URL: &str = "/pypi/simple/{package_name}/";
/// How long code may run when the request names no timeout, as in the original service.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// How long an interrupted run may take to stop before its worker is replaced.
pub const STUCK_GRACE_MS: u64 = 2_000;
/// Where loaded files live inside Python (the harness's `DATA_DIR`).
pub const DATA_DIR: &str = "/home/pyodide/data";
/// Packages loaded (and imported) in the background once Python is ready, the original
/// service's preloads, in stages: a run that needs only the first stage waits for that.
pub const PRELOAD: &[&[&str]] = &[&["numpy", "pandas"], &["matplotlib", "micropip"]];
/// The Python side of the worker: runs user code and shapes the answers.
const HARNESS: &str = include_str!("../harness.py");

/// Where the server serves this version's Pyodide files, precompiled to bytecode by set-up
/// (imports skip parsing: `cargo xtask bench` measured the first pandas result ~3× sooner).
pub fn index_url() -> String {
    format!("/pyodide/v{PYODIDE_VERSION}-pyc/")
}

/// What went wrong talking to the worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoaderError {
    #[error("could not start the Python worker: {0}")]
    WorkerStart(String),
    #[error("the Python runtime failed: {0}")]
    RuntimeFailed(String),
    #[error("the Python worker sent a message this page does not understand: {0}")]
    Protocol(String),
    #[error("the request failed inside the Python worker: {0}")]
    Request(String),
    #[error("the Python runtime was restarted before this finished")]
    Restarted,
}

/// What the runtime reports while it starts and runs code.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeEvent {
    /// A start-up step began.
    Progress(String),
    /// Python is ready.
    Ready { version: String },
    /// News about packages loading (preloads, or imports of the code being run).
    Packages(String),
    /// Output of the running code, as it is printed.
    Output { stream: Stream, text: String },
    /// The worker was replaced by a fresh one (variables and imports are gone).
    Restarted { reason: String },
    /// The runtime cannot be used any more.
    Failed(String),
    /// Something finished that usage statistics count (the telemetry client listens).
    Activity(Activity),
}

/// A finished operation, for usage statistics. The code is here so the page can hash it;
/// it must never leave the browser.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Activity {
    pub kind: ActivityKind,
    pub code: Option<String>,
    pub duration_ms: Option<f64>,
    pub success: Option<bool>,
    /// The Python exception class, `TimeoutError`, or `Interrupted` for Stop.
    pub error_type: Option<String>,
    pub stdout_bytes: Option<u64>,
    pub stderr_bytes: Option<u64>,
    pub package: Option<String>,
    pub version: Option<String>,
    /// The loaded file's extension, lowercased (never its name).
    pub file_ext: Option<String>,
    pub file_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActivityKind {
    #[default]
    Execution,
    Install,
    FileLoad,
    Reset,
    Restart,
}

type Reply = oneshot::Sender<Result<Value, LoaderError>>;

/// A handle on one Python runtime; clones share it. The worker ends when the last clone drops.
#[derive(Clone)]
pub struct Runtime {
    inner: Rc<Inner>,
}

struct Inner {
    /// Replaced when a stuck run forces a restart.
    worker: RefCell<Worker>,
    shared: Rc<Shared>,
    /// Ids pair each request with its answer.
    next_id: Cell<u64>,
    /// The interrupt buffer (a `SharedArrayBuffer`) and a view on it; `None` when the page is
    /// not cross-origin isolated, and Stop then has to restart the worker.
    interrupt: Option<(JsValue, Uint8Array)>,
    /// Called by the browser for every worker message; reused by replacement workers.
    on_message: Closure<dyn FnMut(MessageEvent)>,
    on_error: Closure<dyn FnMut(ErrorEvent)>,
}

/// What the worker's callbacks need to reach.
struct Shared {
    /// Requests sent and not yet answered.
    pending: RefCell<HashMap<u64, Pending>>,
    /// Executions the watchdog interrupted for running past their timeout.
    timed_out: RefCell<HashSet<u64>>,
    /// The Pyodide version once Python is ready; `None` while loading.
    ready_version: RefCell<Option<String>>,
    /// Bytes that came beside a reply (a file read), by request id.
    payloads: RefCell<HashMap<u64, JsValue>>,
    on_event: Box<dyn Fn(RuntimeEvent)>,
}

/// A request in flight.
struct Pending {
    reply: Reply,
    /// For executions: the timeout, and the output so far, so a run whose worker had to be
    /// replaced still answers with what it printed.
    timeout_ms: Option<u64>,
    stdout: String,
    stderr: String,
    /// For executions: told when the code starts running, which starts the timeout.
    started: Option<oneshot::Sender<()>>,
}

/// Bytes that go with a message.
enum Payload {
    /// Shared with the worker (the interrupt buffer).
    Shared(JsValue),
    /// Moved to the worker without a copy (a file's contents).
    Transfer(js_sys::ArrayBuffer),
}

impl Runtime {
    /// Starts the worker and begins loading Pyodide at once; `on_event` hears progress,
    /// readiness, streamed output and failure. Requests sent before Python is ready wait in
    /// the worker and run as soon as it is.
    pub fn start(on_event: impl Fn(RuntimeEvent) + 'static) -> Result<Self, LoaderError> {
        let shared = Rc::new(Shared {
            pending: RefCell::new(HashMap::new()),
            timed_out: RefCell::new(HashSet::new()),
            ready_version: RefCell::new(None),
            payloads: RefCell::new(HashMap::new()),
            on_event: Box::new(on_event),
        });
        let on_message = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event.data();
                match data.as_string() {
                    Some(json) => shared.receive(json, None),
                    None => {
                        let field = |name: &str| Reflect::get(&data, &name.into()).ok();
                        let json = field("json")
                            .and_then(|json| json.as_string())
                            .unwrap_or_default();
                        shared.receive(json, field("payload"));
                    }
                }
            })
        };
        let on_error = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
                shared.fail(format!("the worker script failed: {}", event.message()));
            })
        };
        let worker = spawn_worker(&on_message, &on_error)?;
        let inner = Inner {
            worker: RefCell::new(worker),
            shared,
            next_id: Cell::new(1),
            interrupt: interrupt_buffer(),
            on_message,
            on_error,
        };
        inner.send_init()?;
        Ok(Self {
            inner: Rc::new(inner),
        })
    }

    /// Runs code and resolves with the execution result once it has finished, failed, been
    /// stopped or timed out.
    pub async fn execute(&self, request: ExecuteRequest) -> Result<ExecResult, LoaderError> {
        let timeout_ms = request.timeout.unwrap_or(DEFAULT_TIMEOUT_MS);
        let code = request.code.clone();
        // A Stop pressed while nothing ran must not stop this run.
        if let Some((_, view)) = &self.inner.interrupt {
            view.fill(0, 0, INTERRUPT_BUFFER_LEN);
        }
        let (id, answer) = self.inner.request(
            |id| ToWorker::Execute { id, request },
            None,
            Some(timeout_ms),
        )?;
        let (started, on_start) = oneshot::channel();
        if let Some(pending) = self.inner.shared.pending.borrow_mut().get_mut(&id) {
            pending.started = Some(started);
        }
        let watchdog = Rc::downgrade(&self.inner);
        wasm_bindgen_futures::spawn_local(async move {
            // The clock starts when the code does; if the run ends first, there is nothing to watch.
            if on_start.await.is_ok() {
                watch(watchdog, id, timeout_ms).await;
            }
        });
        let body = answer.await.unwrap_or(Err(LoaderError::Restarted))?;
        let mut result: ExecResult = decode(body)?;
        let timed_out = self.inner.shared.timed_out.borrow_mut().remove(&id);
        if timed_out && result.state_lost.is_none() {
            mark_timed_out(&mut result, timeout_ms, false);
        }
        self.inner.shared.record(Activity {
            kind: ActivityKind::Execution,
            code: Some(code),
            duration_ms: Some(result.duration_ms),
            success: Some(result.success),
            error_type: result
                .error_type
                .as_deref()
                .map(|error_type| match error_type {
                    "KeyboardInterrupt" => "Interrupted".to_owned(),
                    other => other.to_owned(),
                }),
            stdout_bytes: Some(result.stdout.len() as u64),
            stderr_bytes: Some(result.stderr.len() as u64),
            ..Activity::default()
        });
        Ok(result)
    }

    /// Writes a file into [`DATA_DIR`] and describes it (for CSV: shape, columns, sample).
    pub async fn load_file(&self, name: &str, bytes: &[u8]) -> Result<FileLoad, LoaderError> {
        if let Err(reason) = validate_file_name(name) {
            return Ok(FileLoad::refused(name, reason));
        }
        let buffer = Uint8Array::from(bytes).buffer();
        let file_ext = name
            .rsplit_once('.')
            .map(|(_, extension)| extension.to_ascii_lowercase())
            .filter(|extension| {
                !extension.is_empty()
                    && extension.len() <= 16
                    && extension.chars().all(|c| c.is_ascii_alphanumeric())
            });
        let name = name.to_owned();
        let (_, answer) = self.inner.request(
            |id| ToWorker::LoadFile { id, name },
            Some(Payload::Transfer(buffer)),
            None,
        )?;
        let answer: FileLoad = decode(answer.await.unwrap_or(Err(LoaderError::Restarted))?)?;
        self.inner.shared.record(Activity {
            kind: ActivityKind::FileLoad,
            success: Some(answer.success),
            file_ext,
            file_bytes: Some(bytes.len() as u64),
            ..Activity::default()
        });
        Ok(answer)
    }

    /// Installs a package with micropip: from the Pyodide lock, or the server's index.
    pub async fn install(&self, package: &str) -> Result<InstallResult, LoaderError> {
        let started = js_sys::Date::now();
        let answer = self.install_package(package).await?;
        self.inner.shared.record(Activity {
            kind: ActivityKind::Install,
            success: Some(answer.success),
            duration_ms: Some(js_sys::Date::now() - started),
            package: Some(answer.package.clone()),
            version: answer.version.clone(),
            ..Activity::default()
        });
        Ok(answer)
    }

    /// Installs again a package the user installed in an earlier visit. It is not a new
    /// install, so usage statistics do not count it.
    pub async fn reinstall(&self, package: &str) -> Result<InstallResult, LoaderError> {
        self.install_package(package).await
    }

    async fn install_package(&self, package: &str) -> Result<InstallResult, LoaderError> {
        let package = package.trim().to_owned();
        if package.is_empty() || package.len() > 200 || package.chars().any(char::is_control) {
            return Ok(InstallResult {
                success: false,
                error: Some(
                    "give a package name (at most 200 characters), e.g. seaborn".to_owned(),
                ),
                package,
                version: None,
            });
        }
        let (_, answer) = self
            .inner
            .request(|id| ToWorker::Install { id, package }, None, None)?;
        decode(answer.await.unwrap_or(Err(LoaderError::Restarted))?)
    }

    /// Removes the user's variables; the runtime and its loaded packages stay.
    pub async fn reset(&self) -> Result<ResetResult, LoaderError> {
        let (_, answer) = self
            .inner
            .request(|id| ToWorker::Reset { id }, None, None)?;
        let answer: ResetResult = decode(answer.await.unwrap_or(Err(LoaderError::Restarted))?)?;
        self.inner.shared.record(Activity {
            kind: ActivityKind::Reset,
            success: Some(answer.success),
            ..Activity::default()
        });
        Ok(answer)
    }

    /// The files in [`DATA_DIR`]: loaded ones and those the code wrote.
    pub async fn list_files(&self) -> Result<Vec<DataFile>, LoaderError> {
        let (_, answer) = self
            .inner
            .request(|id| ToWorker::ListFiles { id }, None, None)?;
        decode(answer.await.unwrap_or(Err(LoaderError::Restarted))?)
    }

    /// Deletes a file from [`DATA_DIR`].
    pub async fn delete_file(&self, name: &str) -> Result<DeleteResult, LoaderError> {
        let name = name.to_owned();
        let (_, answer) = self
            .inner
            .request(|id| ToWorker::DeleteFile { id, name }, None, None)?;
        decode(answer.await.unwrap_or(Err(LoaderError::Restarted))?)
    }

    /// The bytes of a file in [`DATA_DIR`].
    pub async fn read_file(&self, name: &str) -> Result<Vec<u8>, LoaderError> {
        validate_file_name(name).map_err(LoaderError::Request)?;
        let name = name.to_owned();
        let (id, answer) = self
            .inner
            .request(|id| ToWorker::ReadFile { id, name }, None, None)?;
        answer.await.unwrap_or(Err(LoaderError::Restarted))?;
        let bytes = self
            .inner
            .shared
            .payloads
            .borrow_mut()
            .remove(&id)
            .ok_or_else(|| LoaderError::Protocol("the file's bytes did not arrive".into()))?;
        Ok(Uint8Array::new(&bytes).to_vec())
    }

    /// The installed packages, by name.
    pub async fn list_packages(&self) -> Result<Vec<Package>, LoaderError> {
        let (_, answer) = self
            .inner
            .request(|id| ToWorker::ListPackages { id }, None, None)?;
        decode(answer.await.unwrap_or(Err(LoaderError::Restarted))?)
    }

    /// The original service's status.
    pub fn status(&self) -> Status {
        let ready = self.inner.shared.ready_version.borrow().clone();
        Status {
            is_ready: ready.is_some(),
            initialized: ready.is_some(),
            execution_timeout: DEFAULT_TIMEOUT_MS,
            version: ready.unwrap_or_else(|| PYODIDE_VERSION.to_owned()),
            timestamp: String::from(js_sys::Date::new_0().to_iso_string()),
        }
    }

    /// Stops the running code with `KeyboardInterrupt`; variables stay. Without cross-origin
    /// isolation there is no interrupt buffer, and the worker is restarted instead.
    pub fn stop(&self) {
        self.inner.interrupt_or_replace(
            "stopped (this page cannot interrupt Python, so it restarted it)",
        );
    }

    /// Replaces the runtime with a fresh one: variables, imports and installs are gone.
    pub fn restart(&self) {
        self.inner.replace_worker("restarted on request");
    }
}

/// The signal number Pyodide reads from the interrupt buffer's first byte.
const SIGINT: u8 = 2;
/// Byte 0 is Pyodide's (it clears it when it raises); byte 1 is ours and stays set until the
/// next run is sent, so a Stop that Pyodide spent while loading the run's packages still
/// stops the run.
const INTERRUPT_BUFFER_LEN: u32 = 2;

impl fmt::Debug for Runtime {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Runtime")
            .field("pending", &self.inner.shared.pending.borrow().len())
            .field("ready", &self.inner.shared.ready_version.borrow())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn send_init(&self) -> Result<(), LoaderError> {
        let init = ToWorker::Init {
            index_url: index_url(),
            harness: HARNESS.to_owned(),
            package_index_url: PACKAGE_INDEX_URL.to_owned(),
            preload: PRELOAD
                .iter()
                .map(|stage| stage.iter().map(|name| (*name).to_owned()).collect())
                .collect(),
        };
        let payload = self
            .interrupt
            .as_ref()
            .map(|(buffer, _)| Payload::Shared(buffer.clone()));
        post(&self.worker.borrow(), &init, payload)
    }

    fn request(
        &self,
        make: impl FnOnce(u64) -> ToWorker,
        payload: Option<Payload>,
        timeout_ms: Option<u64>,
    ) -> Result<(u64, oneshot::Receiver<Result<Value, LoaderError>>), LoaderError> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (reply, answer) = oneshot::channel();
        self.shared.pending.borrow_mut().insert(
            id,
            Pending {
                reply,
                timeout_ms,
                stdout: String::new(),
                stderr: String::new(),
                started: None,
            },
        );
        if let Err(error) = post(&self.worker.borrow(), &make(id), payload) {
            self.shared.pending.borrow_mut().remove(&id);
            return Err(error);
        }
        Ok((id, answer))
    }

    fn interrupt_or_replace(&self, reason: &str) {
        match &self.interrupt {
            Some((_, view)) => {
                view.set_index(1, 1);
                view.set_index(0, SIGINT);
                wasm_bindgen_futures::spawn_local(keep_interrupting(
                    Rc::downgrade(&self.shared),
                    view.clone(),
                ));
            }
            None => self.replace_worker(reason),
        }
    }

    /// Ends the current worker and starts a fresh one. Requests in flight are answered: a
    /// timed-out execution with a `TimeoutError` result that says state was lost, the rest
    /// with [`LoaderError::Restarted`].
    fn replace_worker(&self, reason: &str) {
        {
            let old = self.worker.borrow();
            old.set_onmessage(None);
            old.set_onerror(None);
            old.terminate();
        }
        *self.shared.ready_version.borrow_mut() = None;
        let in_flight: Vec<(u64, Pending)> = self.shared.pending.borrow_mut().drain().collect();
        for (id, pending) in in_flight {
            let timed_out = self.shared.timed_out.borrow_mut().remove(&id);
            let answer = match pending.timeout_ms {
                Some(timeout_ms) if timed_out => {
                    let mut result = ExecResult::lost(pending.stdout, pending.stderr);
                    mark_timed_out(&mut result, timeout_ms, true);
                    serde_json::to_value(result)
                        .map_err(|error| LoaderError::Protocol(error.to_string()))
                }
                _ => Err(LoaderError::Restarted),
            };
            // The caller may have stopped waiting; then nobody needs the answer.
            let _ = pending.reply.send(answer);
        }
        (self.shared.on_event)(RuntimeEvent::Restarted {
            reason: reason.to_owned(),
        });
        self.shared.record(Activity {
            kind: ActivityKind::Restart,
            ..Activity::default()
        });
        match spawn_worker(&self.on_message, &self.on_error) {
            Ok(worker) => {
                *self.worker.borrow_mut() = worker;
                if let Err(error) = self.send_init() {
                    self.shared.fail(error.to_string());
                }
            }
            Err(error) => self.shared.fail(error.to_string()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.worker.borrow().terminate();
    }
}

impl Shared {
    fn receive(&self, json: String, payload: Option<JsValue>) {
        let message = match serde_json::from_str::<FromWorker>(&json) {
            Ok(message) => message,
            Err(error) => {
                let error = LoaderError::Protocol(error.to_string());
                (self.on_event)(RuntimeEvent::Failed(error.to_string()));
                return;
            }
        };
        match message {
            FromWorker::Progress { message } => (self.on_event)(RuntimeEvent::Progress(message)),
            FromWorker::Ready {
                version,
                started_early,
            } => {
                // For `cargo xtask bench` and the tests: when Python became usable, and whether
                // the early start worked.
                mark_python_ready(started_early);
                *self.ready_version.borrow_mut() = Some(version.clone());
                (self.on_event)(RuntimeEvent::Ready { version });
            }
            FromWorker::Packages { message } => (self.on_event)(RuntimeEvent::Packages(message)),
            FromWorker::Started { id } => {
                let started = self
                    .pending
                    .borrow_mut()
                    .get_mut(&id)
                    .and_then(|pending| pending.started.take());
                if let Some(started) = started {
                    let _ = started.send(());
                }
            }
            FromWorker::Output { id, stream, text } => {
                if let Some(pending) = self.pending.borrow_mut().get_mut(&id) {
                    match stream {
                        Stream::Stdout => pending.stdout.push_str(&text),
                        Stream::Stderr => pending.stderr.push_str(&text),
                    }
                }
                (self.on_event)(RuntimeEvent::Output { stream, text });
            }
            FromWorker::Reply { id, body } => {
                if let Some(payload) = payload {
                    self.payloads.borrow_mut().insert(id, payload);
                }
                self.answer(id, Ok(body));
            }
            FromWorker::Failed { id, message } => {
                self.answer(id, Err(LoaderError::Request(message)))
            }
            FromWorker::Fatal { message } => self.fail(message),
        }
    }

    fn record(&self, activity: Activity) {
        (self.on_event)(RuntimeEvent::Activity(activity));
    }

    fn answer(&self, id: u64, answer: Result<Value, LoaderError>) {
        let pending = self.pending.borrow_mut().remove(&id);
        if let Some(pending) = pending {
            let _ = pending.reply.send(answer);
        }
    }

    /// The runtime is unusable: every waiting request gets the error, then the page hears it.
    fn fail(&self, message: String) {
        *self.ready_version.borrow_mut() = None;
        let waiting: Vec<Pending> = self
            .pending
            .borrow_mut()
            .drain()
            .map(|(_, pending)| pending)
            .collect();
        for pending in waiting {
            let _ = pending
                .reply
                .send(Err(LoaderError::RuntimeFailed(message.clone())));
        }
        (self.on_event)(RuntimeEvent::Failed(message));
    }
}

/// Interrupts a run that passes its timeout, and replaces the worker if it does not stop.
async fn watch(inner: Weak<Inner>, id: u64, timeout_ms: u64) {
    sleep(timeout_ms).await;
    {
        let Some(inner) = inner.upgrade() else { return };
        if !inner.shared.pending.borrow().contains_key(&id) {
            return;
        }
        inner.shared.timed_out.borrow_mut().insert(id);
        inner.interrupt_or_replace("the code ran past its timeout");
    }
    sleep(STUCK_GRACE_MS).await;
    let Some(inner) = inner.upgrade() else { return };
    if inner.shared.pending.borrow().contains_key(&id) {
        inner.replace_worker("the code ran past its timeout and did not stop when interrupted");
    }
}

/// Python watches the interrupt buffer only while a run runs, and takes the signal the first
/// time it looks; so while Stop stands (byte 1) and a run is waiting or running, the signal is
/// raised again every tenth of a second — a Stop never depends on when Python looked.
async fn keep_interrupting(shared: Weak<Shared>, view: Uint8Array) {
    for _ in 0..100 {
        sleep(100).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let running = shared
            .pending
            .borrow()
            .values()
            .any(|pending| pending.timeout_ms.is_some());
        if !running || view.get_index(1) == 0 {
            return;
        }
        view.set_index(0, SIGINT);
    }
}

fn mark_timed_out(result: &mut ExecResult, timeout_ms: u64, state_lost: bool) {
    result.success = false;
    result.error_type = Some("TimeoutError".to_owned());
    result.error = Some(if state_lost {
        format!(
            "TimeoutError: the code ran longer than {timeout_ms} ms and did not stop when interrupted, \
             so Python was restarted: variables and imports were lost"
        )
    } else {
        format!("TimeoutError: the code ran longer than {timeout_ms} ms and was stopped")
    });
    result.state_lost = Some(state_lost);
}

impl ExecResult {
    /// The answer for a run whose worker was replaced before it could answer.
    fn lost(stdout: String, stderr: String) -> Self {
        Self {
            success: false,
            result: Value::Null,
            stdout,
            stderr,
            error: None,
            timestamp: String::from(js_sys::Date::new_0().to_iso_string()),
            duration_ms: 0.0,
            error_type: None,
            traceback: None,
            outputs: Vec::new(),
            state_lost: None,
        }
    }
}

impl FileLoad {
    fn refused(name: &str, reason: String) -> Self {
        Self {
            success: false,
            filename: name.to_owned(),
            path: None,
            bytes: None,
            shape: None,
            columns: None,
            dtypes: None,
            sample: None,
            error: Some(reason),
        }
    }
}

/// A loaded file keeps its own name inside [`DATA_DIR`], so the name must be a plain file name.
pub fn validate_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("a file name must have 1 to 255 bytes".to_owned());
    }
    if name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(format!("{name:?} is not a plain file name"));
    }
    Ok(())
}

fn spawn_worker(
    on_message: &Closure<dyn FnMut(MessageEvent)>,
    on_error: &Closure<dyn FnMut(ErrorEvent)>,
) -> Result<Worker, LoaderError> {
    let worker = match adopt_early_worker() {
        Some(worker) => worker,
        None => {
            Worker::new(WORKER_URL).map_err(|error| LoaderError::WorkerStart(describe(&error)))?
        }
    };
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Ok(worker)
}

/// The worker `index.html` started before the app loaded (`window.workbenchEarlyWorker`),
/// once: it is already loading Pyodide.
fn adopt_early_worker() -> Option<Worker> {
    let global = js_sys::global();
    let key = JsValue::from_str("workbenchEarlyWorker");
    let worker = Reflect::get(&global, &key)
        .ok()?
        .dyn_into::<Worker>()
        .ok()?;
    let _ = Reflect::delete_property(&global.unchecked_into::<Object>(), &key);
    Some(worker)
}

/// `performance.mark("workbench-python-ready", {detail: {startedEarly}})`.
fn mark_python_ready(started_early: bool) {
    let global = js_sys::global();
    let Some((performance, mark)) =
        Reflect::get(&global, &"performance".into())
            .ok()
            .and_then(|performance| {
                let mark = Reflect::get(&performance, &"mark".into()).ok()?;
                Some((performance, mark.dyn_into::<js_sys::Function>().ok()?))
            })
    else {
        return;
    };
    let detail = Object::new();
    let options = Object::new();
    let _ = Reflect::set(&detail, &"startedEarly".into(), &started_early.into());
    let _ = Reflect::set(&options, &"detail".into(), &detail);
    let _ = mark.call2(&performance, &"workbench-python-ready".into(), &options);
}

fn post(worker: &Worker, message: &ToWorker, payload: Option<Payload>) -> Result<(), LoaderError> {
    let json =
        serde_json::to_string(message).map_err(|error| LoaderError::Protocol(error.to_string()))?;
    let posted = match payload {
        None => worker.post_message(&JsValue::from_str(&json)),
        Some(payload) => {
            let envelope = Object::new();
            let (value, transfer) = match payload {
                Payload::Shared(buffer) => (buffer, Array::new()),
                Payload::Transfer(buffer) => (buffer.clone().into(), Array::of1(&buffer)),
            };
            Reflect::set(&envelope, &"json".into(), &JsValue::from_str(&json))
                .and_then(|_| Reflect::set(&envelope, &"payload".into(), &value))
                .and_then(|_| worker.post_message_with_transfer(&envelope, &transfer))
        }
    };
    posted.map_err(|error| LoaderError::RuntimeFailed(describe(&error)))
}

/// The interrupt buffer, if this page may have a `SharedArrayBuffer` (cross-origin isolated).
fn interrupt_buffer() -> Option<(JsValue, Uint8Array)> {
    let isolated = Reflect::get(&js_sys::global(), &"crossOriginIsolated".into())
        .ok()?
        .as_bool()
        .unwrap_or(false);
    if !isolated {
        return None;
    }
    let buffer = js_sys::SharedArrayBuffer::new(INTERRUPT_BUFFER_LEN);
    let view = Uint8Array::new(&buffer);
    Some((buffer.into(), view))
}

async fn sleep(milliseconds: u64) {
    let milliseconds = i32::try_from(milliseconds).unwrap_or(i32::MAX);
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, milliseconds);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

fn decode<T: DeserializeOwned>(body: Value) -> Result<T, LoaderError> {
    serde_json::from_value(body).map_err(|error| LoaderError::Protocol(error.to_string()))
}

fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|error| String::from(error.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_matches_the_asset_manifest() {
        let manifest: Value =
            serde_json::from_str(include_str!("../manifest.json")).expect("manifest.json is JSON");
        assert_eq!(manifest["pyodideVersion"], PYODIDE_VERSION);
    }

    #[test]
    fn the_page_starts_the_worker_early_on_the_same_folder_and_packages() {
        let page = include_str!("../../frontend/index.html");
        assert!(
            page.contains(&format!("\"&fetch={}\"", PRELOAD[0].join(","))),
            "frontend/index.html must fetch the first preload stage, {:?}",
            PRELOAD[0]
        );
        assert!(
            page.contains(&format!("new Worker(\"{WORKER_URL}\", {{ name }})"))
                && page.contains(&format!("const folder = \"{}\";", index_url()))
                && page.contains("\"start=\" + folder"),
            "frontend/index.html must start the worker on {}",
            index_url()
        );
    }

    #[test]
    fn file_names_must_be_plain_names() {
        for good in ["sales.csv", "my data (1).json", "ünïcode.txt", ".hidden.py"] {
            assert_eq!(validate_file_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b.csv",
            "a\\b.csv",
            "nul\0.csv",
        ] {
            assert!(validate_file_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(validate_file_name(&"x".repeat(256)).is_err());
    }

    #[test]
    fn the_harness_data_folder_matches_the_documented_one() {
        assert!(HARNESS.contains(&format!("DATA_DIR = \"{DATA_DIR}\"")));
    }
}
