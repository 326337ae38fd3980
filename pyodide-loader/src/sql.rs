//! The SQL engine's vocabulary: the messages between Python's worker (`pyodide-worker.js`,
//! section "SQL") and the engine's own worker (`sql-worker.js`, DuckDB-Wasm), and the states
//! of the shared control word Python's worker waits on.
//!
//! The page never sees these messages: Python's worker starts the engine the first time a
//! run's code uses SQL and talks to it directly, so a query neither passes through nor
//! blocks the page. What is defined here is checked against both JavaScript files by the
//! tests below, so the two sides cannot drift apart.

use serde::{Deserialize, Serialize};

/// The DuckDB-Wasm version set-up lays out; `manifest.json`'s `sqlEngine` names the same.
pub const SQL_ENGINE_VERSION: &str = "1.32.0";

/// Where the server serves the SQL engine's files (laid out by `cargo xtask setup`).
pub fn sql_engine_url() -> String {
    format!("/duckdb/v{SQL_ENGINE_VERSION}/")
}

/// What Python's worker asks the engine's worker (`SqlAsk` in both files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SqlAsk {
    /// Load DuckDB from the engine URL; the control buffer and the growable answer buffer
    /// come with it.
    Start,
    /// Run statements over the data folder's files (OPFS handles, `File`s or bytes) and
    /// the DataFrames the query names (Arrow IPC streams); the answer goes into the shared
    /// buffers.
    Query,
}

/// What the engine's worker tells Python's worker as messages (`SqlNews`): only whether it
/// started, since queries are answered in shared memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SqlNews {
    /// Loaded; the message lists the files it fetched, for the service worker to keep.
    Ready,
    /// Could not load (offline before the engine was ever fetched, an old browser).
    Failed,
}

/// The states of the shared control word (word 0; word 1 is the answer's length in bytes,
/// word 2 the index of the statement that failed; the answer itself is in the growable
/// buffer): `SqlState` in both files. Only a query writes them, so an answer is always the
/// answer to the query Python's worker is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[repr(i32)]
pub enum SqlState {
    /// Python's worker is waiting for the engine.
    Waiting = 0,
    /// The answer holds the result: Arrow IPC bytes.
    Result = 1,
    /// The answer holds DuckDB's error message (UTF-8).
    Error = 2,
    /// The result was larger than the query allowed; word 1 holds its size.
    TooLarge = 3,
}

impl SqlState {
    pub const ALL: [SqlState; 4] = [
        SqlState::Waiting,
        SqlState::Result,
        SqlState::Error,
        SqlState::TooLarge,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::vocabulary::{PYTHON_WORKER, SQL_WORKER, table};

    fn name<T: Serialize>(value: T) -> String {
        serde_json::to_value(value)
            .expect("serialize")
            .as_str()
            .expect("a name")
            .to_owned()
    }

    #[test]
    fn both_workers_spell_every_message_as_rust_serializes_it_and_no_other() {
        let asks: Vec<(String, String)> = [SqlAsk::Start, SqlAsk::Query]
            .into_iter()
            .map(|ask| (name(ask), name(ask)))
            .collect();
        let news: Vec<(String, String)> = [SqlNews::Ready, SqlNews::Failed]
            .into_iter()
            .map(|news| (name(news), name(news)))
            .collect();
        for (file, source) in [
            ("pyodide-worker.js", PYTHON_WORKER.as_str()),
            ("sql-worker.js", SQL_WORKER),
        ] {
            assert_eq!(table(source, "SqlAsk"), asks, "{file}'s SqlAsk");
            assert_eq!(table(source, "SqlNews"), news, "{file}'s SqlNews");
        }
    }

    #[test]
    fn both_workers_number_the_control_states_as_rust_does() {
        let states: Vec<(String, String)> = SqlState::ALL
            .into_iter()
            .map(|state| (name(state), (state as i32).to_string()))
            .collect();
        for (file, source) in [
            ("pyodide-worker.js", PYTHON_WORKER.as_str()),
            ("sql-worker.js", SQL_WORKER),
        ] {
            assert_eq!(table(source, "SqlState"), states, "{file}'s SqlState");
        }
    }

    #[test]
    fn the_engine_version_matches_the_asset_manifest() {
        let manifest: serde_json::Value =
            serde_json::from_str(include_str!("../manifest.json")).expect("manifest.json is JSON");
        assert_eq!(manifest["sqlEngine"]["version"], SQL_ENGINE_VERSION);
        assert!(
            manifest["sqlEngine"]["npmPackage"]
                .as_str()
                .is_some_and(|package| package.ends_with(&format!("@{SQL_ENGINE_VERSION}"))),
            "the npm package is pinned at the same version"
        );
        assert_eq!(sql_engine_url(), "/duckdb/v1.32.0/");
    }

    #[test]
    fn the_python_worker_starts_the_engine_from_the_copied_script() {
        let page = include_str!("../../frontend/index.html");
        assert!(
            page.contains("href=\"../pyodide-loader/worker/sql-worker.js\""),
            "Trunk copies sql-worker.js beside pyodide-worker.js"
        );
        assert!(PYTHON_WORKER.contains("new Worker(\"sql-worker.js\""));
    }
}
