//! The editor's questions about a cell's code — completions, the signatures of the call
//! around the cursor, the docs of a name, syntax errors — answered in the worker by
//! `assist.py` (jedi over the user's live namespace, and CPython's own parser).
//!
//! A question never holds up a run, and never waits for one:
//! - none is asked while a run, an install or a file load waits or runs, nor before Python
//!   is ready: the answer is [`AssistError::Busy`] (or `NotReady`) at once, and the editor
//!   shows nothing;
//! - the worker has at most one question at a time; a newer question of the same kind
//!   replaces one still waiting here ([`AssistError::Superseded`]), so the worker's queue
//!   never fills with questions whose answers nobody reads, in front of a run; the very same
//!   question asked again while it waits shares its answer instead;
//! - each has a time limit, counted from when the worker starts on it (`Started`, sent once
//!   jedi is loaded): past [`crate::ASSIST_TIME_LIMIT_MS`] it is interrupted and answers
//!   nothing, and if it is still stuck [`crate::ASSIST_STUCK_GRACE_MS`] later the worker is
//!   replaced (see `watchdog.rs`).

use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use futures_channel::oneshot;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::watchdog::watch_assist;
use super::{Inner, Runtime};
use crate::LoaderError;
use crate::message::{
    AssistRequest, Completions, Docs, DocsAnswer, Problem, SignatureHelp, SyntaxCheck, TablePage,
    TableQuery, ToWorker, VariablesAnswer,
};

/// Why a question has no answer; the editor shows nothing in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssistError {
    #[error("Python is running code; the editor does not ask meanwhile")]
    Busy,
    #[error("Python is not ready yet")]
    NotReady,
    #[error("a newer question of the same kind replaced this one")]
    Superseded,
    #[error(transparent)]
    Loader(#[from] LoaderError),
}

/// The question the worker has, and those waiting for it (at most one of each kind).
#[derive(Debug, Default)]
pub(crate) struct AssistQueue {
    in_flight: Option<u64>,
    waiting: VecDeque<Waiting>,
}

/// A question waiting for the worker, and everyone who asked it: the same question asked
/// again while it waits (the Variables panel and a script, say) shares its answer.
#[derive(Debug)]
struct Waiting {
    request: AssistRequest,
    replies: Vec<oneshot::Sender<Result<Value, AssistError>>>,
}

impl Waiting {
    fn answer(self, answer: &Result<Value, AssistError>) {
        for reply in self.replies {
            let _ = reply.send(answer.clone());
        }
    }
}

impl Runtime {
    /// Completions at `cursor` (UTF-16 code units into `code`) from the running namespace.
    pub async fn complete(&self, code: &str, cursor: u32) -> Result<Completions, AssistError> {
        self.ask(AssistRequest::Complete {
            code: code.to_owned(),
            cursor,
        })
        .await
    }

    /// The signatures of the call the cursor is in, with the parameter it is at.
    pub async fn signatures(&self, code: &str, cursor: u32) -> Result<SignatureHelp, AssistError> {
        self.ask(AssistRequest::Signatures {
            code: code.to_owned(),
            cursor,
        })
        .await
    }

    /// The docs of the name at the cursor (or of the call it is in), if it has any.
    pub async fn inspect(&self, code: &str, cursor: u32) -> Result<Option<Docs>, AssistError> {
        let answer: DocsAnswer = self
            .ask(AssistRequest::Inspect {
                code: code.to_owned(),
                cursor,
            })
            .await?;
        Ok(answer.docs)
    }

    /// The cell's syntax error (and syntax warnings), as Python would report them on a run.
    pub async fn check(&self, code: &str) -> Result<Vec<Problem>, AssistError> {
        let answer: SyntaxCheck = self
            .ask(AssistRequest::Check {
                code: code.to_owned(),
            })
            .await?;
        Ok(answer.problems)
    }

    /// The user's names for the Variables panel (between runs, within the same time limit).
    pub async fn variables(&self) -> Result<VariablesAnswer, AssistError> {
        self.ask(AssistRequest::Variables).await
    }

    /// Rows of a DataFrame, Series or array for the data viewer (between runs; see
    /// [`TableQuery`]). A newer page asked while one waits replaces it.
    pub async fn table(&self, query: TableQuery) -> Result<TablePage, AssistError> {
        self.ask(AssistRequest::Table { query }).await
    }

    async fn ask<T: DeserializeOwned>(&self, request: AssistRequest) -> Result<T, AssistError> {
        self.inner.assist_allowed()?;
        let (reply, answer) = oneshot::channel();
        let superseded = {
            let mut queue = self.inner.assist.borrow_mut();
            if let Some(same) = queue
                .waiting
                .iter_mut()
                .find(|waiting| waiting.request == request)
            {
                same.replies.push(reply);
                None
            } else {
                let older = queue
                    .waiting
                    .iter()
                    .position(|waiting| waiting.request.same_kind(&request))
                    .and_then(|at| queue.waiting.remove(at));
                queue.waiting.push_back(Waiting {
                    request,
                    replies: vec![reply],
                });
                older
            }
        };
        if let Some(older) = superseded {
            older.answer(&Err(AssistError::Superseded));
        }
        pump(&self.inner);
        let body = answer
            .await
            .unwrap_or(Err(AssistError::Loader(LoaderError::Restarted)))?;
        serde_json::from_value(body)
            .map_err(|error| AssistError::Loader(LoaderError::Protocol(error.to_string())))
    }
}

impl Inner {
    fn assist_allowed(&self) -> Result<(), AssistError> {
        if !self.shared.is_ready() {
            return Err(AssistError::NotReady);
        }
        if self.shared.is_busy() {
            return Err(AssistError::Busy);
        }
        Ok(())
    }
}

/// Hands the worker the next waiting question, unless it has one; a question whose turn comes
/// while a run has been sent meanwhile is not asked.
fn pump(inner: &Rc<Inner>) {
    loop {
        let waiting = {
            let mut queue = inner.assist.borrow_mut();
            if queue.in_flight.is_some() {
                return;
            }
            match queue.waiting.pop_front() {
                Some(waiting) => waiting,
                None => return,
            }
        };
        if let Err(error) = inner.assist_allowed() {
            waiting.answer(&Err(error));
            continue;
        }
        let request = waiting.request.clone();
        let time_limit_ms = request.time_limit_ms();
        let (id, answer) = match inner.request(|id| ToWorker::Assist { id, request }, None, None) {
            Ok(sent) => sent,
            Err(error) => {
                waiting.answer(&Err(error.into()));
                continue;
            }
        };
        inner.assist.borrow_mut().in_flight = Some(id);
        let on_start = inner.shared.on_start(id);
        let watched = Rc::downgrade(inner);
        wasm_bindgen_futures::spawn_local(async move {
            if on_start.await.is_ok() {
                watch_assist(watched, id, time_limit_ms).await;
            }
        });
        let next: Weak<Inner> = Rc::downgrade(inner);
        wasm_bindgen_futures::spawn_local(async move {
            let answer = answer
                .await
                .unwrap_or(Err(LoaderError::Restarted))
                .map_err(AssistError::from);
            waiting.answer(&answer);
            if let Some(inner) = next.upgrade() {
                inner.assist.borrow_mut().in_flight = None;
                pump(&inner);
            }
        });
        return;
    }
}
