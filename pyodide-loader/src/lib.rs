//! A typed Rust handle on Pyodide running in a dedicated Web Worker.
//!
//! [`Runtime::start`] starts the worker (`/pyodide-worker.js`, joined from
//! `worker/pyodide-worker/` by set-up and copied into the build by Trunk), which loads
//! Pyodide from this server and imports the Python harness (the package
//! `python/workbench_harness/`, embedded here and sent with the first message). The page never blocks on Python:
//! requests go out as [`message::ToWorker`], answers come back as [`message::FromWorker`],
//! and callers see only typed values — no raw `JsValue` leaves this crate.
//!
//! The crate is the runtime only: what the page records about runs (usage statistics) and
//! what it offers page scripts (`window.workbench`) live in the frontend.
//!
//! - `runtime`: the [`Runtime`] handle, its requests and their answers;
//! - `worker`: starting (or adopting) the worker and posting to it;
//! - `interrupt`: Stop and timeouts, through a `SharedArrayBuffer` Pyodide watches;
//! - `assist`: the editor's questions (completions, signatures, docs, syntax errors),
//!   answered by `python/assist.py` within a time limit, one at a time, newest first;
//! - `sql`: the SQL engine's vocabulary (DuckDB-Wasm in a worker Python's worker starts).

mod interrupt;
pub mod message;
mod runtime;
pub mod sql;
#[cfg(test)]
mod vocabulary;
mod worker;

pub use crate::message::{
    AssistRequest, ColumnSummary, CompletionItem, CompletionKind, Completions, DataFile,
    DeleteResult, Docs, ExecResult, ExecuteRequest, Failure, FileKind, FileLoad, FileNews,
    InputAnswer, InputAsk, InstallResult, LinkedFolder, LiveOutput, LoadStage, Package,
    PackageNews, Problem, ResetResult, RichOutput, Severity, Signature, SignatureHelp,
    SignatureParam, Status, Stream, TableColumn, TablePage, TableQuery, Variable, VariablesAnswer,
};
pub use crate::runtime::assist::AssistError;
pub use crate::runtime::{FileSource, Runtime};
pub use crate::sql::{SQL_ENGINE_VERSION, sql_engine_url};

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
/// Where a folder on disk the user opened shows inside Python (read-only, read in place).
pub const FOLDER_DIR: &str = "/home/pyodide/folder";
/// Packages loaded (and imported) in the background once Python is ready, the original
/// service's preloads, in stages: a run that needs only the first stage waits for that. The
/// last is the editor's: jedi, for completion (a completion asked for earlier loads it
/// itself).
pub const PRELOAD: &[&[&str]] = &[&["numpy", "pandas"], &["matplotlib", "micropip"], &["jedi"]];
/// How long the editor's question may take once the worker starts on it: then it is
/// interrupted and answers nothing (a hostile `__dir__` must not hold Python).
pub const ASSIST_TIME_LIMIT_MS: u64 = 1_000;
/// The data viewer's limit: sorting or filtering ten million rows once takes seconds (the
/// order is kept, so scrolling after it asks only for rows).
pub const TABLE_TIME_LIMIT_MS: u64 = 10_000;
/// How long an interrupted question may take to stop before the worker is replaced: long,
/// since only code that ignores interrupts (C code looping) gets there.
pub const ASSIST_STUCK_GRACE_MS: u64 = 10_000;
/// The Python side of the worker, which runs user code and shapes the answers: the package
/// `python/workbench_harness/`, each file's name and source. They travel in the start
/// message (embedded here at build time), so start-up makes no request for them.
const HARNESS: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../python/workbench_harness/__init__.py"),
    ),
    (
        "capture.py",
        include_str!("../python/workbench_harness/capture.py"),
    ),
    (
        "display.py",
        include_str!("../python/workbench_harness/display.py"),
    ),
    (
        "magics.py",
        include_str!("../python/workbench_harness/magics.py"),
    ),
    (
        "operations.py",
        include_str!("../python/workbench_harness/operations.py"),
    ),
    (
        "rewrite.py",
        include_str!("../python/workbench_harness/rewrite.py"),
    ),
    (
        "runs.py",
        include_str!("../python/workbench_harness/runs.py"),
    ),
    (
        "runtime.py",
        include_str!("../python/workbench_harness/runtime.py"),
    ),
    (
        "scan.py",
        include_str!("../python/workbench_harness/scan.py"),
    ),
    ("sql.py", include_str!("../python/workbench_harness/sql.py")),
    (
        "state.py",
        include_str!("../python/workbench_harness/state.py"),
    ),
    (
        "stdin.py",
        include_str!("../python/workbench_harness/stdin.py"),
    ),
    (
        "table.py",
        include_str!("../python/workbench_harness/table.py"),
    ),
    (
        "tracebacks.py",
        include_str!("../python/workbench_harness/tracebacks.py"),
    ),
];
/// The Python that answers the editor's questions.
const ASSIST: &str = include_str!("../python/assist.py");
/// Set-up's pins, of which the wheelhouse's wheels are what our package index serves.
const MANIFEST: &str = include_str!("../manifest.json");

/// The import names of the wheels our package index serves (`manifest.json`'s wheelhouse),
/// which completion offers after `import` though they are not installed yet: a wheel's
/// import name is taken to be its project name with `-` as `_`, which holds for all of them.
pub fn installable_imports() -> Vec<String> {
    let manifest: serde_json::Value = serde_json::from_str(MANIFEST).unwrap_or_default();
    manifest["wheelhouse"]["wheels"]
        .as_array()
        .map(|wheels| {
            wheels
                .iter()
                .filter_map(|wheel| wheel["name"].as_str())
                .map(|name| name.to_lowercase().replace(['-', '.'], "_"))
                .collect()
        })
        .unwrap_or_default()
}

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
    #[error("{0}")]
    BadFileName(String),
}

/// What the runtime reports while it starts and runs code.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeEvent {
    /// A start-up step began.
    Progress(LoadStage),
    /// Python is ready.
    Ready { version: String },
    /// News about packages loading (preloads, or imports of the code being run).
    Packages(PackageNews),
    /// News about files being kept in the browser's storage.
    Files(FileNews),
    /// The worker was replaced by a fresh one (variables and imports are gone).
    Restarted { reason: String },
    /// The runtime cannot be used any more.
    Failed(String),
}

/// How deep and long a path inside [`DATA_DIR`] may be: folders dropped on the page keep
/// their sub-folders.
pub const MAX_DATA_PATH_BYTES: usize = 1024;

/// A file's path inside [`DATA_DIR`]: names (1 to 255 bytes, no `\\`, NUL or other control
/// characters, not `.` or `..`) joined by `/`, e.g. `trips/2024/january.csv`. Anything that
/// could lead outside the folder, or that a file system would store differently from how it
/// shows, is refused with a message that says why.
pub fn validate_data_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("a file needs a name".to_owned());
    }
    if path.len() > MAX_DATA_PATH_BYTES {
        return Err(format!(
            "a file's path can have at most {MAX_DATA_PATH_BYTES} bytes; this one has {}",
            path.len()
        ));
    }
    for name in path.split('/') {
        if name.is_empty() || name == "." || name == ".." {
            return Err(format!("{path:?} is not a path inside the data folder"));
        }
        if name.len() > 255 {
            return Err(format!(
                "a file name can have at most 255 bytes; {}… has {}",
                name.chars().take(20).collect::<String>(),
                name.len()
            ));
        }
        if name.contains('\\') || name.chars().any(char::is_control) {
            return Err(format!(
                "{path:?} has a character a file name cannot have (a backslash or a control character)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
    fn the_wheelhouse_wheels_are_offered_by_their_import_names() {
        let names = installable_imports();
        for expected in [
            "seaborn",
            "requests",
            "typing_extensions",
            "charset_normalizer",
        ] {
            assert!(names.iter().any(|name| name == expected), "{names:?}");
        }
    }

    #[test]
    fn data_paths_stay_inside_the_folder() {
        for good in [
            "sales.csv",
            "my data (1).json",
            "ünïcode.txt",
            ".hidden.py",
            "trips/2024/january.csv",
        ] {
            assert_eq!(validate_data_path(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/../../b.csv",
            "/etc/passwd",
            "a//b.csv",
            "a/",
            "a\\b.csv",
            "nul\0.csv",
            "tab\there.csv",
            "line\nbreak.csv",
        ] {
            assert!(validate_data_path(bad).is_err(), "{bad:?} must be refused");
        }
        let long = "x".repeat(300);
        let refused = validate_data_path(&long).expect_err("300 characters");
        assert!(refused.contains("255"), "{refused}");
        assert!(validate_data_path(&format!("{}/a.csv", "d/".repeat(600))).is_err());
    }

    #[test]
    fn the_harness_data_folder_matches_the_documented_one() {
        let (_, state) = HARNESS
            .iter()
            .find(|(name, _)| *name == "state.py")
            .expect("the harness's state module");
        assert!(state.contains(&format!("DATA_DIR = \"{DATA_DIR}\"")));
    }

    #[test]
    fn every_module_of_the_harness_package_is_sent_to_the_worker() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/python/workbench_harness");
        let mut on_disk: Vec<String> = std::fs::read_dir(folder)
            .expect("the harness package")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".py"))
            .collect();
        on_disk.sort();
        let sent: Vec<&str> = HARNESS.iter().map(|(name, _)| *name).collect();
        assert_eq!(sent, on_disk, "lib.rs's HARNESS lists every module, sorted");
    }
}
