//! The [`Runtime`] handle: each request gets an id, goes to the worker, and resolves when the
//! worker's `Reply { id }` (or `Failed { id }`) comes back. The worker handles requests
//! strictly in order, so code sent while Pyodide loads runs as soon as it is ready.
//!
//! `assist` holds the editor's questions, `watchdog` Stop's repeats and the timeouts.

pub(crate) mod assist;
mod watchdog;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::rc::{Rc, Weak};

use futures_channel::oneshot;
use js_sys::ArrayBuffer;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use self::assist::AssistQueue;
use self::watchdog::watch;
use crate::interrupt::{INPUT_AT, InterruptBuffer, mark_timed_out};
use crate::message::{
    DataFile, DeleteResult, ExecResult, ExecuteRequest, FileLoad, FromWorker, InputAnswer,
    InstallResult, LinkedFolder, LiveOutput, Package, ResetResult, Status, Stream, ToWorker,
};
use crate::worker::{Payload, mark_python_ready, post, read_message, spawn_worker};
use crate::{
    ASSIST, DEFAULT_TIMEOUT_MS, HARNESS, LoaderError, PACKAGE_INDEX_URL, PRELOAD, PYODIDE_VERSION,
    RuntimeEvent, index_url, installable_imports, validate_data_path,
};

type Reply = oneshot::Sender<Result<Value, LoaderError>>;

/// Where a file given to [`Runtime::load_file`] comes from.
#[derive(Debug, Clone)]
pub enum FileSource {
    /// Bytes (text, or a buffer a script made): written into the folder.
    Bytes(ArrayBuffer),
    /// A picked or dropped `File`, or any `Blob`: kept in place, never read whole.
    Kept(web_sys::Blob),
}

/// A handle on one Python runtime; clones share it. The worker ends when the last clone drops.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Rc<Inner>,
}

pub(crate) struct Inner {
    /// Replaced when a stuck run forces a restart.
    worker: RefCell<Worker>,
    pub(crate) shared: Rc<Shared>,
    /// Ids pair each request with its answer.
    next_id: Cell<u64>,
    /// `None` when the page is not cross-origin isolated, and Stop then has to restart the
    /// worker.
    pub(crate) interrupt: Option<InterruptBuffer>,
    /// The editor's questions: the one with the worker, and the newest of each kind waiting.
    pub(crate) assist: RefCell<AssistQueue>,
    /// Data-folder paths being deleted, announced to the worker through the interrupt buffer.
    deleting: RefCell<Vec<String>>,
    /// Called by the browser for every worker message; reused by replacement workers.
    on_message: Closure<dyn FnMut(MessageEvent)>,
    on_error: Closure<dyn FnMut(ErrorEvent)>,
}

/// What the worker's callbacks need to reach.
pub(crate) struct Shared {
    /// Requests sent and not yet answered.
    pending: RefCell<HashMap<u64, Pending>>,
    /// Executions the watchdog interrupted for running past their timeout.
    pub(crate) timed_out: RefCell<HashSet<u64>>,
    /// The Pyodide version once Python is ready; `None` while loading.
    ready_version: RefCell<Option<String>>,
    /// Bytes that came beside a reply (a file read), by request id.
    payloads: RefCell<HashMap<u64, JsValue>>,
    on_event: Box<dyn Fn(RuntimeEvent)>,
    /// The runtime these callbacks serve, to replace its worker when Python breaks.
    runtime: RefCell<Weak<Inner>>,
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
    /// For executions: hears the output as it is made.
    on_output: Option<Rc<dyn Fn(LiveOutput)>>,
    /// A request the worker may take seconds over (see `ToWorker::is_long`).
    long: bool,
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
            runtime: RefCell::new(Weak::new()),
        });
        let on_message = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let (json, payload) = read_message(&event);
                shared.receive(json, payload);
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
            interrupt: InterruptBuffer::new(),
            assist: RefCell::new(AssistQueue::default()),
            deleting: RefCell::new(Vec::new()),
            on_message,
            on_error,
        };
        inner.send_init()?;
        let inner = Rc::new(inner);
        *inner.shared.runtime.borrow_mut() = Rc::downgrade(&inner);
        Ok(Self { inner })
    }

    /// Runs code and resolves with the execution result once it has finished, failed, been
    /// stopped or timed out.
    pub async fn execute(&self, request: ExecuteRequest) -> Result<ExecResult, LoaderError> {
        self.run(request, None, false).await
    }

    /// [`Runtime::execute`] for a person at the page: `on_output` hears the output as the
    /// code makes it, and an `input()` the request's lines do not answer as
    /// [`LiveOutput::Input`]; the code waits until [`Runtime::answer_input`] (or Stop).
    pub async fn execute_interactive(
        &self,
        request: ExecuteRequest,
        on_output: impl Fn(LiveOutput) + 'static,
    ) -> Result<ExecResult, LoaderError> {
        let interactive = self.inner.interrupt.is_some();
        self.run(request, Some(Rc::new(on_output)), interactive)
            .await
    }

    /// Answers the `input()` the running code waits in (see [`LiveOutput::Input`]).
    pub fn answer_input(&self, answer: &InputAnswer) {
        if let Some(interrupt) = &self.inner.interrupt {
            interrupt.answer_input(answer);
        }
    }

    async fn run(
        &self,
        request: ExecuteRequest,
        on_output: Option<Rc<dyn Fn(LiveOutput)>>,
        ask_input: bool,
    ) -> Result<ExecResult, LoaderError> {
        let timeout_ms = request.timeout.unwrap_or(DEFAULT_TIMEOUT_MS);
        if let Some(interrupt) = &self.inner.interrupt {
            interrupt.clear();
        }
        let (id, answer) = self.inner.request(
            |id| ToWorker::Execute {
                id,
                request,
                ask_input,
            },
            None,
            Some(timeout_ms),
        )?;
        let on_start = self.inner.shared.on_start(id);
        if let Some(pending) = self.inner.shared.pending.borrow_mut().get_mut(&id) {
            pending.on_output = on_output;
        }
        let watchdog = Rc::downgrade(&self.inner);
        wasm_bindgen_futures::spawn_local(async move {
            // The clock starts when the code does; if the run ends first, there is nothing to watch.
            if on_start.await.is_ok() {
                watch(watchdog, id, timeout_ms).await;
            }
        });
        let mut result: ExecResult = answer_of(answer).await?;
        let timed_out = self.inner.shared.timed_out.borrow_mut().remove(&id);
        if timed_out && result.state_lost.is_none() {
            mark_timed_out(&mut result, timeout_ms, false);
        }
        Ok(result)
    }

    /// Puts a file at `name` (a path inside [`crate::DATA_DIR`], replacing a file there) and
    /// describes it (CSV and Parquet: shape, columns, sample, read from the file's start or
    /// footer only). A [`FileSource::Kept`] file is handed over by reference and read in
    /// place; its bytes are copied into the browser's storage in the background
    /// ([`crate::RuntimeEvent::Files`]). [`FileSource::Bytes`] moves to the worker without a
    /// copy: the buffer is empty afterwards.
    pub async fn load_file(&self, name: &str, source: FileSource) -> Result<FileLoad, LoaderError> {
        validate_data_path(name).map_err(LoaderError::BadFileName)?;
        let name = name.to_owned();
        let payload = match source {
            FileSource::Bytes(bytes) => Payload::Transfer(bytes),
            FileSource::Kept(blob) => Payload::Clone(blob.into()),
        };
        let (_, answer) =
            self.inner
                .request(|id| ToWorker::LoadFile { id, name }, Some(payload), None)?;
        answer_of(answer).await
    }

    /// Installs a package with micropip: from the Pyodide lock, or the server's index.
    pub async fn install(&self, package: &str) -> Result<InstallResult, LoaderError> {
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
        answer_of(answer).await
    }

    /// Removes the user's variables; the runtime and its loaded packages stay.
    pub async fn reset(&self) -> Result<ResetResult, LoaderError> {
        let (_, answer) = self
            .inner
            .request(|id| ToWorker::Reset { id }, None, None)?;
        answer_of(answer).await
    }

    /// The files in [`crate::DATA_DIR`]: loaded ones and those the code wrote.
    pub async fn list_files(&self) -> Result<Vec<DataFile>, LoaderError> {
        let (_, answer) = self
            .inner
            .request(|id| ToWorker::ListFiles { id }, None, None)?;
        answer_of(answer).await
    }

    /// Deletes a file from [`crate::DATA_DIR`] (and the folders it leaves empty). A run that
    /// reads the file meanwhile gets an `OSError` at its next read, rather than holding the
    /// deletion up until it ends.
    pub async fn delete_file(&self, name: &str) -> Result<DeleteResult, LoaderError> {
        validate_data_path(name).map_err(LoaderError::BadFileName)?;
        self.announce_deletion(name, true);
        let request = name.to_owned();
        let answer =
            match self
                .inner
                .request(|id| ToWorker::DeleteFile { id, name: request }, None, None)
            {
                Ok((_, answer)) => answer_of(answer).await,
                Err(error) => Err(error),
            };
        self.announce_deletion(name, false);
        answer
    }

    fn announce_deletion(&self, name: &str, deleting: bool) {
        let Some(interrupt) = &self.inner.interrupt else {
            return;
        };
        let mut deleting_now = self.inner.deleting.borrow_mut();
        if deleting {
            deleting_now.push(name.to_owned());
        } else if let Some(index) = deleting_now.iter().position(|path| path == name) {
            deleting_now.remove(index);
        }
        interrupt.announce_deletions(&deleting_now);
    }

    /// Renames (or moves) a file inside [`crate::DATA_DIR`]; an existing file is not replaced.
    pub async fn rename_file(&self, from: &str, to: &str) -> Result<DeleteResult, LoaderError> {
        validate_data_path(from).map_err(LoaderError::BadFileName)?;
        validate_data_path(to).map_err(LoaderError::BadFileName)?;
        let (from, to) = (from.to_owned(), to.to_owned());
        let (_, answer) =
            self.inner
                .request(|id| ToWorker::RenameFile { id, from, to }, None, None)?;
        answer_of(answer).await
    }

    /// A file's preview, as [`Runtime::load_file`] answers it.
    pub async fn describe_file(&self, name: &str) -> Result<FileLoad, LoaderError> {
        validate_data_path(name).map_err(LoaderError::BadFileName)?;
        let name = name.to_owned();
        let (_, answer) =
            self.inner
                .request(|id| ToWorker::DescribeFile { id, name }, None, None)?;
        answer_of(answer).await
    }

    /// A file of [`crate::DATA_DIR`] as a `Blob`: the kept file itself, read only when the
    /// caller reads it (a download streams it from disk).
    pub async fn read_file(&self, name: &str) -> Result<web_sys::Blob, LoaderError> {
        validate_data_path(name).map_err(LoaderError::BadFileName)?;
        let name = name.to_owned();
        let (id, answer) = self
            .inner
            .request(|id| ToWorker::ReadFile { id, name }, None, None)?;
        answer.await.unwrap_or(Err(LoaderError::Restarted))?;
        self.inner
            .shared
            .payloads
            .borrow_mut()
            .remove(&id)
            .and_then(|blob| blob.dyn_into::<web_sys::Blob>().ok())
            .ok_or_else(|| LoaderError::Protocol("the file did not arrive".into()))
    }

    /// Shows `files` (each a path inside the folder and its `File`, handed over by
    /// reference) at [`crate::FOLDER_DIR`], read-only and read in place, replacing what was
    /// shown there; code then runs in `work_in` (a path inside the folder), or in
    /// [`crate::DATA_DIR`]. Answers how many files are shown.
    pub async fn link_folder(
        &self,
        files: &[(String, web_sys::File)],
        work_in: Option<&str>,
    ) -> Result<LinkedFolder, LoaderError> {
        for path in files.iter().map(|(path, _)| path.as_str()).chain(work_in) {
            if !path.is_empty() {
                validate_data_path(path).map_err(LoaderError::BadFileName)?;
            }
        }
        let handed = js_sys::Array::new();
        for (_, file) in files {
            handed.push(file);
        }
        let paths = files.iter().map(|(path, _)| path.clone()).collect();
        let root = crate::FOLDER_DIR.to_owned();
        let work_in = work_in.map(|dir| {
            if dir.is_empty() {
                root.clone()
            } else {
                format!("{root}/{dir}")
            }
        });
        let (_, answer) = self.inner.request(
            |id| ToWorker::LinkFolder {
                id,
                root,
                paths,
                work_in,
            },
            Some(Payload::Clone(handed.into())),
            None,
        )?;
        answer_of(answer).await
    }

    /// The installed packages, by name.
    pub async fn list_packages(&self) -> Result<Vec<Package>, LoaderError> {
        let (_, answer) = self
            .inner
            .request(|id| ToWorker::ListPackages { id }, None, None)?;
        answer_of(answer).await
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

impl fmt::Debug for Runtime {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Runtime")
            .field("pending", &self.inner.shared.pending.borrow().len())
            .field("ready", &self.inner.shared.ready_version.borrow())
            .finish_non_exhaustive()
    }
}

/// The answer to a request, decoded into the type its caller expects.
async fn answer_of<T: DeserializeOwned>(
    answer: oneshot::Receiver<Result<Value, LoaderError>>,
) -> Result<T, LoaderError> {
    let body = answer.await.unwrap_or(Err(LoaderError::Restarted))?;
    serde_json::from_value(body).map_err(|error| LoaderError::Protocol(error.to_string()))
}

impl Inner {
    fn send_init(&self) -> Result<(), LoaderError> {
        let init = ToWorker::Init {
            index_url: index_url(),
            harness: HARNESS
                .iter()
                .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
                .collect(),
            package_index_url: PACKAGE_INDEX_URL.to_owned(),
            preload: PRELOAD
                .iter()
                .map(|stage| stage.iter().map(|name| (*name).to_owned()).collect())
                .collect(),
            assist: ASSIST.to_owned(),
            installable: installable_imports(),
            sql_engine_url: crate::sql_engine_url(),
            input_at: INPUT_AT,
        };
        let payload = self
            .interrupt
            .as_ref()
            .map(|interrupt| Payload::Shared(interrupt.shared()));
        post(&self.worker.borrow(), &init, payload)
    }

    pub(crate) fn request(
        &self,
        make: impl FnOnce(u64) -> ToWorker,
        payload: Option<Payload>,
        timeout_ms: Option<u64>,
    ) -> Result<(u64, oneshot::Receiver<Result<Value, LoaderError>>), LoaderError> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let message = make(id);
        let (reply, answer) = oneshot::channel();
        self.shared.pending.borrow_mut().insert(
            id,
            Pending {
                reply,
                timeout_ms,
                stdout: String::new(),
                stderr: String::new(),
                started: None,
                on_output: None,
                long: message.is_long(),
            },
        );
        if let Err(error) = post(&self.worker.borrow(), &message, payload) {
            self.shared.pending.borrow_mut().remove(&id);
            return Err(error);
        }
        Ok((id, answer))
    }

    pub(crate) fn interrupt_or_replace(&self, reason: &str) {
        match &self.interrupt {
            Some(interrupt) => {
                interrupt.raise();
                let runtime = self.shared.runtime.borrow().clone();
                wasm_bindgen_futures::spawn_local(watchdog::keep_interrupting(runtime));
            }
            None => self.replace_worker(reason),
        }
    }

    /// Ends the current worker and starts a fresh one. Requests in flight are answered: a
    /// timed-out execution with a `TimeoutError` result that says state was lost, the rest
    /// with [`LoaderError::Restarted`].
    pub(crate) fn replace_worker(&self, reason: &str) {
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
            FromWorker::Progress { stage } => (self.on_event)(RuntimeEvent::Progress(stage)),
            FromWorker::Ready {
                version,
                started_early,
            } => {
                mark_python_ready(started_early);
                *self.ready_version.borrow_mut() = Some(version.clone());
                (self.on_event)(RuntimeEvent::Ready { version });
            }
            FromWorker::Packages { news } => (self.on_event)(RuntimeEvent::Packages(news)),
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
                let listener = self.pending.borrow_mut().get_mut(&id).and_then(|pending| {
                    match stream {
                        Stream::Stdout => pending.stdout.push_str(&text),
                        Stream::Stderr => pending.stderr.push_str(&text),
                    }
                    pending.on_output.clone()
                });
                // Called with nothing borrowed: it may do anything, a new request included.
                if let Some(listener) = listener {
                    listener(LiveOutput::Stream { stream, text });
                }
            }
            FromWorker::Display { id, output } => self.tell(id, LiveOutput::Display(output)),
            FromWorker::Input { id, ask } => self.tell(id, LiveOutput::Input(ask)),
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
            FromWorker::Files { news } => (self.on_event)(RuntimeEvent::Files(news)),
            FromWorker::Broken { message } => {
                // Python itself failed (WebAssembly out of memory, say): a new worker, with
                // the files still kept, and the page told why.
                let runtime = self.runtime.borrow().clone();
                wasm_bindgen_futures::spawn_local(async move {
                    if let Some(inner) = runtime.upgrade() {
                        inner.replace_worker(&format!(
                            "Python failed and could not go on ({message}); variables and imports were lost, your files are kept"
                        ));
                    }
                });
            }
        }
    }

    /// Hands live output to whoever runs request `id`, with nothing borrowed (the listener
    /// may do anything, a new request included).
    fn tell(&self, id: u64, output: LiveOutput) {
        let listener = self
            .pending
            .borrow()
            .get(&id)
            .and_then(|pending| pending.on_output.clone());
        if let Some(listener) = listener {
            listener(output);
        }
    }

    pub(crate) fn is_pending(&self, id: u64) -> bool {
        self.pending.borrow().contains_key(&id)
    }

    /// Resolves when the worker says request `id` began (`Started`); dropped unresolved if
    /// it is answered first.
    pub(crate) fn on_start(&self, id: u64) -> oneshot::Receiver<()> {
        let (started, on_start) = oneshot::channel();
        if let Some(pending) = self.pending.borrow_mut().get_mut(&id) {
            pending.started = Some(started);
        }
        on_start
    }

    /// Whether Python is loaded and answers requests.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready_version.borrow().is_some()
    }

    /// Whether a run, an install or a file load is waiting or running.
    pub(crate) fn is_busy(&self) -> bool {
        self.pending.borrow().values().any(|pending| pending.long)
    }

    /// Whether an execution is waiting or running.
    pub(crate) fn is_running(&self) -> bool {
        self.pending
            .borrow()
            .values()
            .any(|pending| pending.timeout_ms.is_some())
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
            cell_outputs: Vec::new(),
        }
    }
}
