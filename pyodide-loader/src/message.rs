//! The messages between the page and the Pyodide worker (`pyodide-worker.js`), and the
//! answers the runtime gives its callers.
//!
//! Messages travel as JSON strings; a message that carries bytes (the interrupt buffer, a
//! file's contents) travels as `{json, payload}`. A new capability is a new variant on both
//! enums here and a new case in the worker.

use std::collections::BTreeMap;

use notebook::Output;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the page asks of the worker.
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ToWorker {
    /// Load Pyodide from `index_url`, import the harness (and run the editor's Python,
    /// `assist`), then load and import `preload` in the background, stage after stage. The
    /// payload, if any, is the interrupt buffer.
    Init {
        index_url: String,
        /// The harness package's files (`python/workbench_harness/`): file name → source.
        harness: BTreeMap<String, String>,
        package_index_url: String,
        preload: Vec<Vec<String>>,
        /// The Python that answers [`ToWorker::Assist`] (`assist.py`).
        assist: String,
        /// Import names our package index can install (completed after `import`).
        installable: Vec<String>,
        /// Where the SQL engine's files are ([`crate::sql_engine_url`]).
        sql_engine_url: String,
        /// Where `input()`'s answers are, in the interrupt buffer (`crate::interrupt`).
        input_at: u32,
    },
    /// Run code; the worker answers with `Output` messages and one `Reply`. With
    /// `ask_input`, an `input()` the request's own lines do not answer is asked of the page
    /// ([`FromWorker::Input`]); without, it raises `EOFError`.
    Execute {
        id: u64,
        request: ExecuteRequest,
        ask_input: bool,
    },
    /// Put a file into the data folder and describe it. The payload is a `File`/`Blob`,
    /// kept in place (readable at once, copied into the browser's storage in the
    /// background: [`FileNews`]), or an `ArrayBuffer` of bytes, written. `name` is a path
    /// inside the folder ([`crate::validate_data_path`]).
    LoadFile { id: u64, name: String },
    /// Install a package with micropip.
    Install { id: u64, package: String },
    /// Remove the user's variables.
    Reset { id: u64 },
    /// List the files in the data folder.
    ListFiles { id: u64 },
    /// Delete a file from the data folder.
    DeleteFile { id: u64, name: String },
    /// A file of the data folder as a `Blob` (the kept file itself, not a copy), beside the
    /// reply.
    ReadFile { id: u64, name: String },
    /// Rename (or move) a file inside the data folder.
    RenameFile { id: u64, from: String, to: String },
    /// Describe a file of the data folder as `LoadFile` does (its preview), reading only its
    /// start or footer.
    DescribeFile { id: u64, name: String },
    /// List the installed packages.
    ListPackages { id: u64 },
    /// A question the editor asks about a cell's code; answered within a time limit (see
    /// `assist.rs`), and never asked while a run runs.
    Assist { id: u64, request: AssistRequest },
    /// Show a folder on disk at `root`, read-only and read in place: the payload is an
    /// array of `File`s, one per path of `paths` (relative to `root`), handed over by
    /// reference. It replaces the folder shown before (none: `paths` empty). Code then runs
    /// in `work_in` (a folder notebook's own folder), or in the data folder.
    LinkFolder {
        id: u64,
        root: String,
        paths: Vec<String>,
        work_in: Option<String>,
    },
}

impl ToWorker {
    /// Whether the worker may take seconds over it (a run, an install, a file load): the
    /// editor's questions are not asked while one is waiting or running, rather than wait.
    pub(crate) fn is_long(&self) -> bool {
        matches!(
            self,
            Self::Execute { .. }
                | Self::Install { .. }
                | Self::LoadFile { .. }
                | Self::DescribeFile { .. }
        )
    }
}

/// What the editor asks about a cell's code. `cursor` counts UTF-16 code units, as the
/// editor does; so does every position in the answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum AssistRequest {
    /// Completions at the cursor: answered with [`Completions`].
    Complete { code: String, cursor: u32 },
    /// The signatures of the call the cursor is in: [`SignatureHelp`].
    Signatures { code: String, cursor: u32 },
    /// The docs of the name at the cursor: [`DocsAnswer`].
    Inspect { code: String, cursor: u32 },
    /// The cell's syntax error and warnings: [`SyntaxCheck`].
    Check { code: String },
    /// The user's names, for the Variables panel: [`VariablesAnswer`].
    Variables,
    /// Rows of a DataFrame, Series or array, for the data viewer: [`TablePage`].
    Table { query: TableQuery },
}

impl AssistRequest {
    /// Which question it is: a newer question of the same kind supersedes a waiting one.
    pub(crate) fn same_kind(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    /// How long the worker may take to answer, from when it starts on the question.
    pub(crate) fn time_limit_ms(&self) -> u64 {
        match self {
            Self::Table { .. } => crate::TABLE_TIME_LIMIT_MS,
            _ => crate::ASSIST_TIME_LIMIT_MS,
        }
    }
}

/// The data viewer's question: rows `offset..offset + limit` (at most 500) of the variable
/// `name`, after `filter` (a condition on one column, `price > 10`, or text to look for)
/// and sorted by the column at `sort`; with every column's summary if `summarize`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TableQuery {
    pub name: String,
    pub offset: u64,
    pub limit: u32,
    pub sort: Option<u32>,
    pub descending: bool,
    pub filter: String,
    pub summarize: bool,
}

/// Rows for the data viewer, as text; or `error` (the name is gone, the filter does not
/// fit the column, Python took too long) and nothing else.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TablePage {
    pub error: Option<String>,
    #[serde(rename = "type")]
    pub type_name: String,
    /// Rows of the object, and of them the ones the filter keeps.
    pub total_rows: u64,
    pub rows: u64,
    pub offset: u64,
    pub columns: Vec<TableColumn>,
    /// Each row's index label, and its cells.
    pub index: Vec<String>,
    pub cells: Vec<Vec<String>>,
    /// How the filter was read: `price > 10`, or `containing Paris`.
    pub filtered_as: Option<String>,
    /// With `summarize`: each column's, `None` where Python ran out of time for it.
    pub summaries: Option<Vec<Option<ColumnSummary>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct TableColumn {
    pub name: String,
    pub dtype: String,
}

/// A column's values at a glance: numbers and dates with min, max (and mean); other values
/// with how many distinct ones there are and the most frequent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ColumnSummary {
    pub count: u64,
    pub nulls: u64,
    pub min: Option<String>,
    pub max: Option<String>,
    pub mean: Option<String>,
    pub distinct: Option<u64>,
    pub top: Vec<(String, u64)>,
}

/// Completions: replace `from..to` with an item's label.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Completions {
    pub from: u32,
    pub to: u32,
    /// In jedi's order (parameters first, then names, private ones last).
    pub items: Vec<CompletionItem>,
    /// Nothing yet: Python, or its editor help (jedi, after the preloads), is not ready;
    /// the editor asks again once it may be, if the text and cursor have not changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub later: bool,
}

impl Completions {
    /// The answer to a question asked before Python could answer it.
    pub fn later(cursor: u32) -> Self {
        Self {
            from: cursor,
            to: cursor,
            items: Vec::new(),
            later: true,
        }
    }
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionItem {
    pub label: String,
    pub kind: CompletionKind,
    /// A word shown beside it, e.g. how a module not installed yet can be had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What a completion (or a documented name) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CompletionKind {
    Module,
    Class,
    Function,
    Variable,
    /// A keyword argument of the call the cursor is in (`sep=`).
    Argument,
    /// A file in the data folder, inside a string passed to a call.
    File,
    Keyword,
    Property,
    /// A column of a pandas DataFrame.
    Column,
    #[serde(other)]
    Other,
}

/// The signatures of the call around the cursor (several for overloads).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SignatureHelp {
    pub signatures: Vec<Signature>,
}

/// One signature: `label` is `name(a, b=1) -> T`, compact (parameters without their
/// annotations, long defaults cut).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub label: String,
    pub params: Vec<SignatureParam>,
    /// The parameter the cursor is at, if it is at one.
    pub active: Option<u32>,
    /// The first paragraph of the docstring.
    pub doc: String,
}

/// A parameter of a [`Signature`]: where it is in the label, `from..to`, and its annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureParam {
    pub from: u32,
    pub to: u32,
    pub annotation: Option<String>,
}

/// The docs of a name, or none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DocsAnswer {
    pub docs: Option<Docs>,
}

/// What Shift+Tab (or hovering) shows about a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Docs {
    /// The full name, e.g. `pandas.read_csv`.
    pub name: String,
    pub kind: CompletionKind,
    pub signatures: Vec<String>,
    /// The first part of the docstring.
    pub doc: String,
}

/// The user's names (not hidden ones, not modules), sorted; past 500, only counted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VariablesAnswer {
    pub variables: Vec<Variable>,
    /// How many more names there are.
    #[serde(default)]
    pub more: u64,
}

/// One name: what it is, as far as the object tells cheaply (`unknown` when its own code
/// raised or took too long; then only its type is known).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    /// `1,000 × 5` for arrays and frames, the length of containers and strings.
    #[serde(default)]
    pub shape: Option<String>,
    #[serde(default)]
    pub dtype: Option<String>,
    /// Its size in memory (a frame's or array's data; `sys.getsizeof` otherwise).
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Plain values (numbers, strings, None) as `repr` shows them, cut at 80 characters.
    #[serde(default)]
    pub preview: Option<String>,
    #[serde(default)]
    pub unknown: bool,
    /// A DataFrame, Series or array the data viewer shows ([`AssistRequest::Table`]).
    #[serde(default)]
    pub viewable: bool,
}

/// The problems Python finds in a cell before running it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyntaxCheck {
    pub problems: Vec<Problem>,
}

/// A syntax error (or warning), where it is in the cell and CPython's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub from: u32,
    pub to: u32,
    pub message: String,
    pub severity: Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Error,
    Warning,
}

/// What the worker tells the page.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FromWorker {
    /// A start-up step began.
    Progress { stage: LoadStage },
    /// Python is ready to run code; `started_early` when the worker began loading it before
    /// the app asked (started by `index.html`).
    Ready {
        version: String,
        #[serde(default)]
        started_early: bool,
    },
    /// Package loading news (preloads, imports that load packages).
    Packages { news: PackageNews },
    /// Execution `id`'s code began to run (its packages are loaded).
    Started { id: u64 },
    /// Text the running code printed, as it is printed.
    Output {
        id: u64,
        stream: Stream,
        text: String,
    },
    /// Something the running code showed (`display()`, `plt.show()`), when it showed it.
    Display { id: u64, output: Output },
    /// The running code waits for a line of input (`input()`, `getpass`, pdb): the page
    /// answers through the interrupt buffer ([`crate::Runtime::answer_input`]).
    Input { id: u64, ask: InputAsk },
    /// The answer to request `id`; its shape depends on the request.
    Reply { id: u64, body: Value },
    /// Request `id` could not be answered (the harness itself failed).
    Failed { id: u64, message: String },
    /// The worker cannot go on (for example Pyodide failed to load).
    Fatal { message: String },
    /// News about files being kept in the browser's storage.
    Files { news: FileNews },
    /// Python itself failed and cannot run anything more (Pyodide's fatal error): the page
    /// starts a new worker.
    Broken { message: String },
}

/// What happened to a file added to the data folder after its `LoadFile` was answered: its
/// bytes are copied into the browser's storage in the background.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FileNews {
    /// `done` of `total` bytes copied so far.
    Keeping { name: String, done: u64, total: u64 },
    /// The file is kept: a reload or a browser restart keeps it.
    Kept { name: String },
    /// The file could not be kept (no space, or it changed on disk); it is gone from the
    /// folder. `text` says why, to show.
    NotKept { name: String, text: String },
    /// The browser's storage cannot be used: files last only for this visit.
    Unavailable { text: String },
    /// Files or folders were added, removed or renamed (a run wrote one, say).
    Changed,
}

/// What a file in the data folder is, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FileKind {
    Csv,
    Tsv,
    Parquet,
    Json,
    Python,
    Text,
    #[default]
    Other,
}

impl FileKind {
    /// The kind of a file named `name`.
    pub fn of(name: &str) -> Self {
        let extension = name
            .rsplit_once('.')
            .map(|(_, extension)| extension.to_ascii_lowercase());
        match extension.as_deref() {
            Some("csv") => Self::Csv,
            Some("tsv") => Self::Tsv,
            Some("parquet") => Self::Parquet,
            Some("json") => Self::Json,
            Some("py") => Self::Python,
            Some("txt") => Self::Text,
            _ => Self::Other,
        }
    }

    /// The word the Files panel shows.
    pub fn label(self) -> &'static str {
        match self {
            Self::Csv => "CSV",
            Self::Tsv => "TSV",
            Self::Parquet => "Parquet",
            Self::Json => "JSON",
            Self::Python => "Python",
            Self::Text => "text",
            Self::Other => "file",
        }
    }
}

/// The steps of Python's start that the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LoadStage {
    /// The worker fetches Pyodide's script (it was not started early).
    DownloadingRuntime,
    /// Pyodide's WebAssembly and Python's standard library are being set up.
    StartingPython,
}

/// What happened to packages: preloads in the background, or the packages a run imports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum PackageNews {
    /// Pyodide's own words about what it loads (e.g. "Loading numpy, pandas"), to show.
    Loading { text: String },
    /// A load ended: the installed packages changed; nothing is loading now.
    Settled,
    /// Something could not be loaded, in words to show.
    Problem { text: String },
}

/// Which output stream a piece of text went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The execution input of the original service: `{code, context?, timeout?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    pub code: String,
    /// Each key becomes a Python global before the code runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    /// Milliseconds the code may run (default [`crate::DEFAULT_TIMEOUT_MS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// A notebook cell's execution count: tracebacks then say "Cell [n], line 2".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<u32>,
    /// The lines `input()` reads, in order; one more call raises `EOFError`. Without it, a
    /// notebook cell asks the user and any other run raises `EOFError` at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Vec<String>>,
}

/// What the running code waits for: a line, asked with `prompt`; `password` when what is
/// typed must not show (`getpass`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputAsk {
    pub prompt: String,
    #[serde(default)]
    pub password: bool,
}

/// The page's answer to an [`InputAsk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputAnswer {
    /// A line, without its newline.
    Line(String),
    /// The end of input (Ctrl+D): `input()` raises `EOFError`, `sys.stdin` reads `""`.
    End,
}

/// How a run failed, read once from the result's Python exception class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The code raised this exception (its class name).
    Exception(String),
    /// Stop (or an interrupt) ended it: `KeyboardInterrupt`.
    Interrupted,
    /// It ran past its timeout; `state_lost` when Python had to be restarted.
    TimedOut { state_lost: bool },
}

/// The exception class a stopped run reports.
pub const INTERRUPTED_ERROR: &str = "KeyboardInterrupt";
/// The exception class a run past its timeout reports (with `stateLost` set).
pub const TIMEOUT_ERROR: &str = "TimeoutError";

impl ExecResult {
    /// Why the run failed, or `None` when it succeeded.
    pub fn failure(&self) -> Option<Failure> {
        if self.success {
            return None;
        }
        let class = self.error_type.as_deref().unwrap_or_default();
        Some(match (class, self.state_lost) {
            (TIMEOUT_ERROR, Some(state_lost)) => Failure::TimedOut { state_lost },
            (INTERRUPTED_ERROR, _) => Failure::Interrupted,
            (class, _) => Failure::Exception(class.to_owned()),
        })
    }
}

impl ExecuteRequest {
    pub fn new(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            context: None,
            timeout: None,
            label: None,
            input: None,
        }
    }
}

/// The execution result of the original service, `{success, result, stdout, stderr, error?,
/// timestamp}`, plus fields added since (never renamed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecResult {
    pub success: bool,
    /// The value of the last expression, made JSON-safe (`null` if there is none).
    pub result: Value,
    pub stdout: String,
    pub stderr: String,
    /// On failure: the Python exception type and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// ISO 8601 time the execution finished.
    pub timestamp: String,
    /// How long the code ran, in milliseconds.
    pub duration_ms: f64,
    /// On failure: the Python exception class, e.g. `ZeroDivisionError`, or `TimeoutError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// On failure: the traceback through the user's own code only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    /// Rich results: the value as text or a table, and figures the run drew.
    #[serde(default)]
    pub outputs: Vec<RichOutput>,
    /// After a timeout: whether the runtime had to be replaced, losing variables and imports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_lost: Option<bool>,
    /// Everything the run showed, in nbformat's form and in the order it was made: streams,
    /// displays and figures, the last expression's value, the error.
    #[serde(default)]
    pub cell_outputs: Vec<Output>,
}

/// Output of a run as it is made, for whoever runs it (a notebook cell shows it at once).
#[derive(Debug, Clone, PartialEq)]
pub enum LiveOutput {
    Stream {
        stream: Stream,
        text: String,
    },
    Display(Output),
    /// The code waits for a line: only runs made with [`crate::Runtime::execute_interactive`]
    /// hear this, and must answer.
    Input(InputAsk),
}

/// One rich result of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum RichOutput {
    /// The `repr` of the result value.
    Text { text: String },
    /// A pandas DataFrame or Series, at most the first rows.
    Table {
        columns: Vec<String>,
        dtypes: Vec<String>,
        index: Vec<Value>,
        rows: Vec<Vec<Value>>,
        total_rows: u64,
        truncated: bool,
    },
    /// A figure, base64-encoded.
    Image { mime: String, data: String },
}

/// The answer to loading a file: the original `{success, filename, shape, columns, sample}`
/// plus where the file is and, for CSV, the column types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileLoad {
    pub success: bool,
    pub filename: String,
    /// The file's path inside Python, e.g. `/home/pyodide/data/sales.csv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FileKind>,
    /// CSV and Parquet: `[rows, columns]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<u64>>,
    /// A CSV over 8 MB: the row count is estimated from its first megabyte (counting rows
    /// would read the whole file).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shape_estimated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtypes: Option<Vec<String>>,
    /// CSV only: the first three rows as records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FileLoad {
    /// The answer for a file that was not loaded, saying why.
    pub fn refused(name: &str, reason: String) -> Self {
        Self {
            success: false,
            filename: name.to_owned(),
            path: None,
            bytes: None,
            kind: None,
            shape: None,
            shape_estimated: false,
            columns: None,
            dtypes: None,
            sample: None,
            error: Some(reason),
        }
    }
}

/// The answer to a package install.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallResult {
    pub success: bool,
    pub package: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A file in the data folder; `name` is its path inside the folder (`trips/2024.csv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    pub name: String,
    pub path: String,
    pub bytes: u64,
    #[serde(default)]
    pub kind: FileKind,
}

/// An installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
}

/// The answer to showing a folder on disk ([`ToWorker::LinkFolder`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedFolder {
    /// How many files are shown.
    pub files: u64,
    /// Where code runs now.
    pub work_in: String,
}

/// The answer to deleting a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteResult {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer to a reset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetResult {
    pub success: bool,
    /// How many variables were removed.
    pub removed: u64,
}

/// The original service's status: `{isReady, initialized, executionTimeout, version, timestamp}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub is_ready: bool,
    pub initialized: bool,
    pub execution_timeout: u64,
    pub version: String,
    pub timestamp: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_use_the_names_the_worker_reads() {
        let init = ToWorker::Init {
            index_url: "/pyodide/v0.27.7/".into(),
            harness: BTreeMap::from([("__init__.py".into(), "pass".into())]),
            package_index_url: "/pypi/simple/{package_name}/".into(),
            preload: vec![vec!["numpy".into()]],
            assist: "pass".into(),
            installable: vec!["seaborn".into()],
            sql_engine_url: "/duckdb/v1.32.0/".into(),
            input_at: 4108,
        };
        assert_eq!(
            serde_json::to_value(init).expect("serialize"),
            json!({"type": "init", "indexUrl": "/pyodide/v0.27.7/", "harness": {"__init__.py": "pass"},
                   "packageIndexUrl": "/pypi/simple/{package_name}/", "preload": [["numpy"]],
                   "assist": "pass", "installable": ["seaborn"],
                   "sqlEngineUrl": "/duckdb/v1.32.0/", "inputAt": 4108})
        );
        let execute = ToWorker::Execute {
            id: 3,
            request: ExecuteRequest::new("1+1"),
            ask_input: true,
        };
        assert_eq!(
            serde_json::to_value(execute).expect("serialize"),
            json!({"type": "execute", "id": 3, "request": {"code": "1+1"}, "askInput": true})
        );
        let fed: ExecuteRequest =
            serde_json::from_value(json!({"code": "input()", "input": ["a", "b"]}))
                .expect("an API request with input lines");
        assert_eq!(fed.input, Some(vec!["a".to_owned(), "b".to_owned()]));
        let load = ToWorker::LoadFile {
            id: 4,
            name: "a.csv".into(),
        };
        assert_eq!(
            serde_json::to_value(load).expect("serialize"),
            json!({"type": "loadFile", "id": 4, "name": "a.csv"})
        );
    }

    #[test]
    fn the_editors_questions_carry_their_kind_and_the_answers_parse() {
        let ask = ToWorker::Assist {
            id: 9,
            request: AssistRequest::Complete {
                code: "df.".into(),
                cursor: 3,
            },
        };
        assert_eq!(
            serde_json::to_value(ask).expect("serialize"),
            json!({"type": "assist", "id": 9, "request": {"kind": "complete", "code": "df.", "cursor": 3}})
        );
        let check = AssistRequest::Check { code: "x".into() };
        assert_eq!(
            serde_json::to_value(&check).expect("serialize"),
            json!({"kind": "check", "code": "x"})
        );
        assert!(!check.same_kind(&AssistRequest::Inspect {
            code: "x".into(),
            cursor: 0
        }));
        // As assist.py answers.
        let completions: Completions =
            serde_json::from_value(json!({"from": 3, "to": 3, "items": [
            {"label": "price", "kind": "column"},
            {"label": "seaborn", "kind": "module", "detail": "%pip install"},
            {"label": "x", "kind": "somethingNew"}]}))
            .expect("completions");
        assert_eq!(completions.items[0].kind, CompletionKind::Column);
        assert_eq!(completions.items[1].detail.as_deref(), Some("%pip install"));
        assert_eq!(completions.items[2].kind, CompletionKind::Other);
        let help: SignatureHelp = serde_json::from_value(json!({"signatures": [
            {"label": "f(a, b)", "params": [{"from": 2, "to": 3, "annotation": "int"},
             {"from": 5, "to": 6, "annotation": null}], "active": null, "doc": ""}]}))
        .expect("signatures");
        assert_eq!(help.signatures[0].params[1].from, 5);
        assert_eq!(
            help.signatures[0].params[0].annotation.as_deref(),
            Some("int")
        );
        let docs: DocsAnswer = serde_json::from_value(json!({"docs": null})).expect("docs");
        assert_eq!(docs.docs, None);
        let check: SyntaxCheck = serde_json::from_value(json!({"problems": [
            {"from": 4, "to": 5, "message": "'(' was never closed", "severity": "error"}]}))
        .expect("problems");
        assert_eq!(check.problems[0].severity, Severity::Error);
    }

    #[test]
    fn file_kinds_are_the_names_the_harness_uses() {
        let harness = include_str!("../python/workbench_harness/operations.py");
        for kind in [
            FileKind::Csv,
            FileKind::Tsv,
            FileKind::Parquet,
            FileKind::Json,
            FileKind::Python,
            FileKind::Text,
            FileKind::Other,
        ] {
            let name = serde_json::to_value(kind).expect("serialize");
            let name = name.as_str().expect("a name");
            assert!(
                harness.contains(&format!("\"{name}\"")),
                "the harness's file_kind names {name}"
            );
        }
        assert_eq!(FileKind::of("trips/2024.PARQUET"), FileKind::Parquet);
        assert_eq!(FileKind::of("README"), FileKind::Other);
        let news: FromWorker = serde_json::from_str(
            r#"{"type": "files", "news": {"kind": "notKept", "name": "a.csv", "text": "no space"}}"#,
        )
        .expect("parse");
        assert!(
            matches!(news, FromWorker::Files { news: FileNews::NotKept { name, .. } } if name == "a.csv")
        );
        assert!(matches!(
            serde_json::from_str(r#"{"type": "broken", "message": "out of memory"}"#),
            Ok(FromWorker::Broken { message }) if message == "out of memory"
        ));
    }

    #[test]
    fn a_failed_result_from_the_worker_parses_with_its_error_fields() {
        let message = r#"{"type": "reply", "id": 7, "body": {
            "success": false, "result": null, "stdout": "a\n", "stderr": "",
            "error": "ZeroDivisionError: division by zero", "timestamp": "2026-11-27T10:00:00Z",
            "durationMs": 1.5, "errorType": "ZeroDivisionError", "outputs": [],
            "traceback": "Traceback (most recent call last):\n  File \"<cell>\", line 2\n"}}"#;
        let FromWorker::Reply { id, body } = serde_json::from_str(message).expect("parse") else {
            panic!("expected a reply");
        };
        assert_eq!(id, 7);
        let result: ExecResult = serde_json::from_value(body).expect("an execution result");
        assert!(!result.success);
        assert_eq!(result.stdout, "a\n");
        assert_eq!(result.error_type.as_deref(), Some("ZeroDivisionError"));
    }

    #[test]
    fn start_steps_and_package_news_are_typed_values() {
        let parse = |json: &str| serde_json::from_str::<FromWorker>(json).expect(json);
        assert!(matches!(
            parse(r#"{"type": "progress", "stage": "startingPython"}"#),
            FromWorker::Progress {
                stage: LoadStage::StartingPython
            }
        ));
        assert!(matches!(
            parse(r#"{"type": "packages", "news": {"kind": "settled"}}"#),
            FromWorker::Packages {
                news: PackageNews::Settled
            }
        ));
        assert!(matches!(
            parse(r#"{"type": "packages", "news": {"kind": "loading", "text": "Loading numpy"}}"#),
            FromWorker::Packages { news: PackageNews::Loading { text } } if text == "Loading numpy"
        ));
    }

    #[test]
    fn a_failure_is_read_once_from_the_exception_class() {
        let result =
            |success: bool, error_type: Option<&str>, state_lost: Option<bool>| ExecResult {
                success,
                result: Value::Null,
                stdout: String::new(),
                stderr: String::new(),
                error: None,
                timestamp: String::new(),
                duration_ms: 0.0,
                error_type: error_type.map(str::to_owned),
                traceback: None,
                outputs: Vec::new(),
                state_lost,
                cell_outputs: Vec::new(),
            };
        assert_eq!(result(true, None, None).failure(), None);
        assert_eq!(
            result(false, Some("KeyboardInterrupt"), None).failure(),
            Some(Failure::Interrupted)
        );
        assert_eq!(
            result(false, Some("TimeoutError"), Some(true)).failure(),
            Some(Failure::TimedOut { state_lost: true })
        );
        // The user's own TimeoutError is an exception like any other.
        assert_eq!(
            result(false, Some("TimeoutError"), None).failure(),
            Some(Failure::Exception("TimeoutError".into()))
        );
    }

    #[test]
    fn rich_outputs_are_tagged_by_type() {
        let outputs: Vec<RichOutput> = serde_json::from_value(json!([
            {"type": "text", "text": "{1, 2}"},
            {"type": "image", "mime": "image/png", "data": "iVBORw0KGgo="},
            {"type": "table", "columns": ["a"], "dtypes": ["int64"], "index": [0],
             "rows": [[1]], "totalRows": 1, "truncated": false},
        ]))
        .expect("parse");
        assert_eq!(
            outputs[0],
            RichOutput::Text {
                text: "{1, 2}".into()
            }
        );
        assert!(matches!(&outputs[1], RichOutput::Image { mime, .. } if mime == "image/png"));
        assert!(matches!(
            &outputs[2],
            RichOutput::Table { total_rows: 1, .. }
        ));
    }
}
