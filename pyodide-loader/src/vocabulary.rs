//! The page↔worker vocabulary checked against the other languages that spell it: every
//! variant of every message enum is serialised (or parsed) here, and the worker's JavaScript
//! tables (`pyodide-worker.js`, `sql-worker.js`), the editor's (`python-assist.js`) and
//! Python's (`assist.py`) must hold exactly those names. A variant added on one side only
//! fails here; so does a new variant not added to the lists below (their `match`es are
//! exhaustive).

use std::path::Path;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::json;

use crate::message::{
    AssistRequest, CompletionKind, ExecuteRequest, FileNews, FromWorker, LoadStage, PackageNews,
    TableQuery, ToWorker,
};

/// The Pyodide worker's script as set-up joins it: its parts (`worker/pyodide-worker/`) in
/// name order (xtask's `join_worker`, which also puts a comment line naming each before it).
pub(crate) static PYTHON_WORKER: LazyLock<String> = LazyLock::new(|| {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("worker/pyodide-worker");
    let mut parts: Vec<_> = std::fs::read_dir(&folder)
        .expect("the worker's parts")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "js"))
        .collect();
    parts.sort();
    let parts: Vec<String> = parts
        .iter()
        .map(|part| std::fs::read_to_string(part).expect("a part"))
        .collect();
    parts.join("\n")
});
pub(crate) const SQL_WORKER: &str = include_str!("../worker/sql-worker.js");
const DATA_FOLDER: &str = include_str!("../worker/data-folder.js");
const ASSIST_PY: &str = include_str!("../python/assist.py");
const OPERATIONS_PY: &str = include_str!("../python/workbench_harness/operations.py");
const EDITOR_ASSIST: &str = include_str!("../../frontend/editor/python-assist.js");

/// The `key: value` entries of the object literal assigned to `name` in JavaScript
/// (`const Name = Object.freeze({ … })` or `const NAME = { … }`) or Python (`NAME = { … }`),
/// in order, quotes removed.
pub(crate) fn table(source: &str, name: &str) -> Vec<(String, String)> {
    let start = [
        format!("const {name} = Object.freeze({{"),
        format!("const {name} = {{"),
        format!("\n{name} = {{"),
    ]
    .iter()
    .find_map(|opening| source.find(opening.as_str()))
    .unwrap_or_else(|| panic!("no {name} table"));
    let rest = &source[start..];
    // Whole-line comments dropped; then split at the top level's commas, up to its closing
    // brace, nested values and strings kept whole.
    let body: String = rest[rest.find('{').expect("{") + 1..]
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !line.starts_with("//") && !line.starts_with('#')
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut entries = Vec::new();
    let (mut depth, mut quote, mut entry) = (0_i32, None, String::new());
    for character in body.chars() {
        match (quote, character) {
            (Some(open), _) if character == open => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(character),
            (None, '{' | '[' | '(') => depth += 1,
            (None, '}') if depth == 0 => break,
            (None, '}' | ']' | ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                entries.push(std::mem::take(&mut entry));
                continue;
            }
            _ => {}
        }
        entry.push(character);
    }
    entries.push(entry);
    entries
        .iter()
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (key, value) = entry.split_once(':').expect("key: value");
            let unquote = |text: &str| text.trim().trim_matches('"').to_owned();
            (unquote(key), unquote(value))
        })
        .collect()
}

fn keys(entries: &[(String, String)]) -> Vec<String> {
    entries.iter().map(|(key, _)| key.clone()).collect()
}

/// The wire name of a unit variant, or of a tagged variant's tag.
fn name_of(value: impl Serialize, tag: &str) -> String {
    let value = serde_json::to_value(value).expect("serialize");
    let name = if tag.is_empty() { &value } else { &value[tag] };
    name.as_str().expect("a name").to_owned()
}

/// Every question the page asks the worker.
fn every_ask() -> Vec<ToWorker> {
    let id = 1;
    let name = String::new;
    let asks = vec![
        ToWorker::Init {
            index_url: name(),
            harness: Default::default(),
            package_index_url: name(),
            preload: Vec::new(),
            assist: name(),
            installable: Vec::new(),
            sql_engine_url: name(),
            input_at: 0,
        },
        ToWorker::Execute {
            id,
            request: ExecuteRequest::new(""),
            ask_input: false,
        },
        ToWorker::LoadFile { id, name: name() },
        ToWorker::Install {
            id,
            package: name(),
        },
        ToWorker::Reset { id },
        ToWorker::ListFiles { id },
        ToWorker::DeleteFile { id, name: name() },
        ToWorker::ReadFile { id, name: name() },
        ToWorker::RenameFile {
            id,
            from: name(),
            to: name(),
        },
        ToWorker::DescribeFile { id, name: name() },
        ToWorker::ListPackages { id },
        ToWorker::Assist {
            id,
            request: AssistRequest::Check { code: name() },
        },
        ToWorker::LinkFolder {
            id,
            root: name(),
            paths: Vec::new(),
            work_in: None,
        },
    ];
    // A new variant must be added above: this match is exhaustive.
    for ask in &asks {
        match ask {
            ToWorker::Init { .. }
            | ToWorker::Execute { .. }
            | ToWorker::LoadFile { .. }
            | ToWorker::Install { .. }
            | ToWorker::Reset { .. }
            | ToWorker::ListFiles { .. }
            | ToWorker::DeleteFile { .. }
            | ToWorker::ReadFile { .. }
            | ToWorker::RenameFile { .. }
            | ToWorker::DescribeFile { .. }
            | ToWorker::ListPackages { .. }
            | ToWorker::Assist { .. }
            | ToWorker::LinkFolder { .. } => {}
        }
    }
    asks
}

/// Every kind of message the worker sends, as the worker writes it, with the variant it must
/// parse into (named by an exhaustive match).
fn every_news() -> Vec<(&'static str, serde_json::Value)> {
    let samples = vec![
        ("progress", json!({"stage": "startingPython"})),
        ("ready", json!({"version": "0.27.7"})),
        ("packages", json!({"news": {"kind": "settled"}})),
        ("started", json!({"id": 1})),
        ("output", json!({"id": 1, "stream": "stdout", "text": ""})),
        (
            "display",
            json!({"id": 1, "output": {"output_type": "stream", "name": "stdout", "text": ""}}),
        ),
        ("reply", json!({"id": 1, "body": null})),
        ("failed", json!({"id": 1, "message": ""})),
        ("fatal", json!({"message": ""})),
        ("files", json!({"news": {"kind": "changed"}})),
        ("broken", json!({"message": ""})),
        (
            "input",
            json!({"id": 1, "ask": {"prompt": "name? ", "password": false}}),
        ),
    ];
    for (kind, fields) in &samples {
        let mut message = fields.clone();
        message["type"] = json!(kind);
        let parsed: FromWorker = serde_json::from_value(message).expect(kind);
        let variant = match parsed {
            FromWorker::Progress { .. } => "progress",
            FromWorker::Ready { .. } => "ready",
            FromWorker::Packages { .. } => "packages",
            FromWorker::Started { .. } => "started",
            FromWorker::Output { .. } => "output",
            FromWorker::Display { .. } => "display",
            FromWorker::Reply { .. } => "reply",
            FromWorker::Failed { .. } => "failed",
            FromWorker::Fatal { .. } => "fatal",
            FromWorker::Files { .. } => "files",
            FromWorker::Broken { .. } => "broken",
            FromWorker::Input { .. } => "input",
        };
        assert_eq!(&variant, kind, "{kind} parses into its own variant");
    }
    samples
}

#[test]
fn the_worker_asks_and_tells_exactly_what_rust_sends_and_reads() {
    let asks: Vec<(String, String)> = every_ask()
        .iter()
        .map(|ask| name_of(ask, "type"))
        .map(|name| (name.clone(), name))
        .collect();
    assert_eq!(
        table(&PYTHON_WORKER, "Ask"),
        asks,
        "pyodide-worker.js's Ask"
    );
    let kinds: Vec<(String, String)> = every_news()
        .into_iter()
        .map(|(kind, _)| (kind.to_owned(), kind.to_owned()))
        .collect();
    assert_eq!(
        table(&PYTHON_WORKER, "Kind"),
        kinds,
        "pyodide-worker.js's Kind"
    );
}

#[test]
fn the_worker_reads_input_answers_as_the_page_writes_them() {
    use crate::interrupt::{INPUT_END, INPUT_LINE, INPUT_WAITING};
    let states: Vec<(String, String)> = [
        ("waiting", INPUT_WAITING),
        ("line", INPUT_LINE),
        ("end", INPUT_END),
    ]
    .iter()
    .map(|(name, value)| ((*name).to_owned(), value.to_string()))
    .collect();
    assert_eq!(
        table(&PYTHON_WORKER, "InputState"),
        states,
        "pyodide-worker.js's InputState"
    );
}

#[test]
fn the_harness_has_words_for_every_reason_the_package_index_gives() {
    use protocol::MissingBecause;
    let reasons: Vec<String> = [
        MissingBecause::Distribution,
        MissingBecause::NoUpstream,
        MissingBecause::NotUpstream,
        MissingBecause::NoPureWheel,
        MissingBecause::UpstreamUnreachable,
    ]
    .into_iter()
    .inspect(|reason| match reason {
        MissingBecause::Distribution
        | MissingBecause::NoUpstream
        | MissingBecause::NotUpstream
        | MissingBecause::NoPureWheel
        | MissingBecause::UpstreamUnreachable => {}
    })
    .map(|reason| name_of(reason, ""))
    .collect();
    assert_eq!(
        keys(&table(OPERATIONS_PY, "MISSING_ADVICE")),
        reasons,
        "operations.py's MISSING_ADVICE"
    );
}

#[test]
fn start_stages_and_package_news_are_spelled_as_rust_does() {
    let stages: Vec<(String, String)> = [LoadStage::DownloadingRuntime, LoadStage::StartingPython]
        .into_iter()
        .inspect(|stage| match stage {
            LoadStage::DownloadingRuntime | LoadStage::StartingPython => {}
        })
        .map(|stage| (name_of(stage, ""), name_of(stage, "")))
        .collect();
    assert_eq!(
        table(&PYTHON_WORKER, "Stage"),
        stages,
        "pyodide-worker.js's Stage"
    );
    let text = String::new;
    let news: Vec<(String, String)> = [
        PackageNews::Loading { text: text() },
        PackageNews::Settled,
        PackageNews::Problem { text: text() },
    ]
    .iter()
    .inspect(|news| match news {
        PackageNews::Loading { .. } | PackageNews::Settled | PackageNews::Problem { .. } => {}
    })
    .map(|news| (name_of(news, "kind"), name_of(news, "kind")))
    .collect();
    assert_eq!(
        table(&PYTHON_WORKER, "News"),
        news,
        "pyodide-worker.js's News"
    );
}

#[test]
fn file_news_is_sent_by_the_data_folder_in_rust_spelling_only() {
    let name = String::new;
    let every: Vec<String> = [
        FileNews::Keeping {
            name: name(),
            done: 0,
            total: 0,
        },
        FileNews::Kept { name: name() },
        FileNews::NotKept {
            name: name(),
            text: name(),
        },
        FileNews::Unavailable { text: name() },
        FileNews::Changed,
    ]
    .iter()
    .inspect(|news| match news {
        FileNews::Keeping { .. }
        | FileNews::Kept { .. }
        | FileNews::NotKept { .. }
        | FileNews::Unavailable { .. }
        | FileNews::Changed => {}
    })
    .map(|news| name_of(news, "kind"))
    .collect();
    // What the scripts send: every `kind: "…"` of the data folder, and the worker's news.
    let sent = |source: &str| -> Vec<String> {
        source
            .match_indices("kind: \"")
            .map(|(at, opening)| {
                let rest = &source[at + opening.len()..];
                rest[..rest.find('"').expect("a closing quote")].to_owned()
            })
            .collect()
    };
    for kind in sent(DATA_FOLDER) {
        assert!(every.contains(&kind), "data-folder.js sends {kind}");
    }
    for kind in &every {
        assert!(
            sent(DATA_FOLDER).contains(kind),
            "data-folder.js never sends {kind}"
        );
    }
    for kind in sent(&PYTHON_WORKER) {
        assert!(every.contains(&kind), "pyodide-worker.js sends {kind}");
    }
}

#[test]
fn assist_py_answers_exactly_the_questions_and_names_the_kinds_the_editor_shows() {
    let code = String::new;
    let questions: Vec<String> = [
        AssistRequest::Complete {
            code: code(),
            cursor: 0,
        },
        AssistRequest::Signatures {
            code: code(),
            cursor: 0,
        },
        AssistRequest::Inspect {
            code: code(),
            cursor: 0,
        },
        AssistRequest::Check { code: code() },
        AssistRequest::Variables,
        AssistRequest::Table {
            query: TableQuery::default(),
        },
    ]
    .iter()
    .inspect(|question| match question {
        AssistRequest::Complete { .. }
        | AssistRequest::Signatures { .. }
        | AssistRequest::Inspect { .. }
        | AssistRequest::Check { .. }
        | AssistRequest::Variables
        | AssistRequest::Table { .. } => {}
    })
    .map(|question| name_of(question, "kind"))
    .collect();
    assert_eq!(
        keys(&table(ASSIST_PY, "HANDLERS")),
        questions,
        "assist.py's HANDLERS"
    );
    assert_eq!(
        keys(&table(ASSIST_PY, "EMPTY")),
        questions,
        "assist.py's EMPTY"
    );

    let kinds: Vec<String> = [
        CompletionKind::Module,
        CompletionKind::Class,
        CompletionKind::Function,
        CompletionKind::Variable,
        CompletionKind::Argument,
        CompletionKind::File,
        CompletionKind::Keyword,
        CompletionKind::Property,
        CompletionKind::Column,
    ]
    .into_iter()
    .inspect(|kind| match kind {
        CompletionKind::Module
        | CompletionKind::Class
        | CompletionKind::Function
        | CompletionKind::Variable
        | CompletionKind::Argument
        | CompletionKind::File
        | CompletionKind::Keyword
        | CompletionKind::Property
        | CompletionKind::Column
        | CompletionKind::Other => {}
    })
    .map(|kind| name_of(kind, ""))
    .collect();
    assert_eq!(
        keys(&table(EDITOR_ASSIST, "ICONS")),
        kinds,
        "python-assist.js's ICONS"
    );
    for (jedi, ours) in table(ASSIST_PY, "KINDS") {
        assert!(
            kinds.contains(&ours),
            "assist.py's KINDS maps {jedi} to {ours}"
        );
    }
}
