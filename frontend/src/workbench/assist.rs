//! What the cell editors ask Python while the user types — completions, signatures, docs,
//! syntax errors — answered in the worker from the running namespace (see
//! `pyodide_loader::Runtime::complete` and its neighbours).
//!
//! Everything stays in the browser: nothing here is recorded by the usage statistics
//! (`Session` records runs, installs, loads and resets only) and nothing reaches the server.
//! While a cell runs or waits to (the notebook's queue, or any run the runtime knows of),
//! the editors ask nothing and show nothing: a question never waits for a run.

use leptos::prelude::*;
use pyodide_loader::{AssistError, Completions, Docs, Problem, Runtime, SignatureHelp};

/// A cheap copyable handle the editors' callbacks hold.
#[derive(Debug, Clone, Copy)]
pub struct Assist {
    /// The runtime, unless a cell runs or waits to (the notebook's runner knows).
    idle_runtime: Callback<(), Option<Runtime>>,
}

impl Assist {
    /// `idle_runtime` gives the runtime only while no cell runs or waits to.
    pub fn new(idle_runtime: impl Fn() -> Option<Runtime> + Send + Sync + 'static) -> Self {
        Self {
            idle_runtime: Callback::new(move |()| idle_runtime()),
        }
    }

    fn runtime(self) -> Option<Runtime> {
        self.idle_runtime.run(())
    }

    /// Completions at `cursor` (UTF-16 code units), or `None` when there is nothing to show.
    /// Before Python is ready, the answer says to ask again later.
    pub async fn complete(self, code: String, cursor: u32) -> Option<Completions> {
        let answer = match self.runtime()?.complete(&code, cursor).await {
            Ok(answer) => Some(answer),
            Err(AssistError::NotReady) => Some(Completions::later(cursor)),
            Err(_) => None,
        };
        self.still_idle(answer)
    }

    pub async fn signatures(self, code: String, cursor: u32) -> Option<SignatureHelp> {
        let answer = self.runtime()?.signatures(&code, cursor).await.ok();
        self.still_idle(answer)
    }

    pub async fn inspect(self, code: String, cursor: u32) -> Option<Docs> {
        let answer = self.runtime()?.inspect(&code, cursor).await.ok().flatten();
        self.still_idle(answer)
    }

    /// An answer that comes once a cell has started (asked just before the run key, while
    /// jedi loaded, say) is not shown: a popup open while a cell runs would take the Escape
    /// meant to stop it.
    fn still_idle<T>(self, answer: Option<T>) -> Option<T> {
        self.runtime().and(answer)
    }

    /// The cell's syntax problems; `None` means "not checked now" (the editor keeps what it
    /// showed), unlike an empty list.
    pub async fn check(self, code: String) -> Option<Vec<Problem>> {
        self.runtime()?.check(&code).await.ok()
    }
}
