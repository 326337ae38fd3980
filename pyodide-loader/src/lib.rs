//! A typed Rust handle on Pyodide running in a dedicated Web Worker.
//!
//! [`Runtime::start`] starts the worker (`/pyodide-worker.js`, copied into the build by
//! Trunk), which loads Pyodide from this server and runs the Python harness
//! (`harness.py`, embedded here and sent with the first message). The page never blocks on
//! Python: requests go out as [`message::ToWorker`], answers come back as
//! [`message::FromWorker`], and callers see only typed values — no raw `JsValue` leaves
//! this crate.

pub mod message;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use futures_channel::oneshot;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

pub use crate::message::{ExecResult, ExecuteRequest, Stream};
use crate::message::{FromWorker, ToWorker};

/// The Pyodide version this build serves and expects; `manifest.json` names the same one.
pub const PYODIDE_VERSION: &str = "0.27.7";
/// Where Trunk puts the worker script.
pub const WORKER_URL: &str = "/pyodide-worker.js";
/// The Python side of the worker: runs user code and shapes the answers.
const HARNESS: &str = include_str!("../harness.py");

/// Where the server serves this version's Pyodide files.
pub fn index_url() -> String {
    format!("/pyodide/v{PYODIDE_VERSION}/")
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
    #[error("the Python runtime was stopped before the code finished")]
    Stopped,
}

/// What the runtime reports while it starts and runs code.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeEvent {
    /// A start-up step began.
    Progress(String),
    /// Python is ready.
    Ready { version: String },
    /// Output of the running code, as it is printed.
    Output { stream: Stream, text: String },
    /// The runtime cannot be used any more.
    Failed(String),
}

type Reply = oneshot::Sender<Result<ExecResult, LoaderError>>;

/// A handle on one Python runtime; clones share it. The worker ends when the last clone drops.
#[derive(Clone)]
pub struct Runtime {
    inner: Rc<Inner>,
}

struct Inner {
    worker: Worker,
    shared: Rc<Shared>,
    /// Ids pair each request with its answer.
    next_id: Cell<u64>,
    /// Kept alive as long as the worker: the browser calls them.
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

/// What the worker's callbacks need to reach.
struct Shared {
    /// Executions sent and not yet answered.
    pending: RefCell<HashMap<u64, Reply>>,
    on_event: Box<dyn Fn(RuntimeEvent)>,
}

impl Runtime {
    /// Starts the worker and begins loading Pyodide at once; `on_event` hears progress,
    /// readiness, streamed output and failure. Code sent before Python is ready waits in the
    /// worker and runs as soon as it is.
    pub fn start(on_event: impl Fn(RuntimeEvent) + 'static) -> Result<Self, LoaderError> {
        let worker =
            Worker::new(WORKER_URL).map_err(|error| LoaderError::WorkerStart(describe(&error)))?;
        let shared = Rc::new(Shared {
            pending: RefCell::new(HashMap::new()),
            on_event: Box::new(on_event),
        });

        let on_message = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                shared.receive(event.data().as_string().unwrap_or_default());
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let on_error = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
                shared.fail(format!("the worker script failed: {}", event.message()));
            })
        };
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        let runtime = Self {
            inner: Rc::new(Inner {
                worker,
                shared,
                next_id: Cell::new(1),
                _on_message: on_message,
                _on_error: on_error,
            }),
        };
        runtime.send(&ToWorker::Init {
            index_url: index_url(),
            harness: HARNESS.to_owned(),
        })?;
        Ok(runtime)
    }

    /// Runs code and resolves with the execution result once it has finished.
    pub async fn execute(&self, request: ExecuteRequest) -> Result<ExecResult, LoaderError> {
        let id = self.inner.next_id.get();
        self.inner.next_id.set(id + 1);
        let (reply, answer) = oneshot::channel();
        self.inner.shared.pending.borrow_mut().insert(id, reply);
        if let Err(error) = self.send(&ToWorker::Execute { id, request }) {
            self.inner.shared.pending.borrow_mut().remove(&id);
            return Err(error);
        }
        answer.await.unwrap_or(Err(LoaderError::Stopped))
    }

    fn send(&self, message: &ToWorker) -> Result<(), LoaderError> {
        let json = serde_json::to_string(message)
            .map_err(|error| LoaderError::Protocol(error.to_string()))?;
        self.inner
            .worker
            .post_message(&JsValue::from_str(&json))
            .map_err(|error| LoaderError::RuntimeFailed(describe(&error)))
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Runtime")
            .field("pending", &self.inner.shared.pending.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

impl Shared {
    fn receive(&self, json: String) {
        let message = match serde_json::from_str::<FromWorker>(&json) {
            Ok(message) => message,
            Err(error) => {
                (self.on_event)(RuntimeEvent::Failed(
                    LoaderError::Protocol(error.to_string()).to_string(),
                ));
                return;
            }
        };
        match message {
            FromWorker::Progress { message } => (self.on_event)(RuntimeEvent::Progress(message)),
            FromWorker::Ready { version } => (self.on_event)(RuntimeEvent::Ready { version }),
            FromWorker::Output { stream, text, .. } => {
                (self.on_event)(RuntimeEvent::Output { stream, text })
            }
            FromWorker::Result { id, result } => {
                if let Some(reply) = self.pending.borrow_mut().remove(&id) {
                    // The caller may have stopped waiting; then nobody needs the answer.
                    let _ = reply.send(Ok(result));
                }
            }
            FromWorker::Fatal { message } => self.fail(message),
        }
    }

    /// The runtime is unusable: every waiting execution gets the error, then the page hears it.
    fn fail(&self, message: String) {
        let waiting: Vec<Reply> = self
            .pending
            .borrow_mut()
            .drain()
            .map(|(_, reply)| reply)
            .collect();
        for reply in waiting {
            let _ = reply.send(Err(LoaderError::RuntimeFailed(message.clone())));
        }
        (self.on_event)(RuntimeEvent::Failed(message));
    }
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
    #[test]
    fn the_version_matches_the_asset_manifest() {
        let manifest: serde_json::Value =
            serde_json::from_str(include_str!("../manifest.json")).expect("manifest.json is JSON");
        assert_eq!(manifest["pyodideVersion"], super::PYODIDE_VERSION);
    }
}
