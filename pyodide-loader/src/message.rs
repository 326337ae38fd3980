//! The messages between the page and the Pyodide worker (`pyodide-worker.js`), as JSON
//! strings. This is the seam later features plug into: a new capability is a new variant
//! on both enums here and a new case in the worker.

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
    /// Load Pyodide from `index_url` and run the harness source.
    Init { index_url: String, harness: String },
    /// Run code; the worker answers with `Output` messages and one `Result`.
    Execute { id: u64, request: ExecuteRequest },
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
    Progress { message: String },
    /// Python is ready to run code.
    Ready { version: String },
    /// Text the running code printed, as it is printed.
    Output {
        id: u64,
        stream: Stream,
        text: String,
    },
    /// An execution finished.
    Result { id: u64, result: ExecResult },
    /// The worker cannot go on (for example Pyodide failed to load).
    Fatal { message: String },
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
    /// Milliseconds the code may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

impl ExecuteRequest {
    pub fn new(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            context: None,
            timeout: None,
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
    /// On failure: the Python exception class, e.g. `ZeroDivisionError`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// On failure: the traceback through the user's own code only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_use_the_names_the_worker_reads() {
        let init = ToWorker::Init {
            index_url: "/pyodide/v0.27.7/".into(),
            harness: "pass".into(),
        };
        assert_eq!(
            serde_json::to_value(init).expect("serialize"),
            json!({"type": "init", "indexUrl": "/pyodide/v0.27.7/", "harness": "pass"})
        );
        let execute = ToWorker::Execute {
            id: 3,
            request: ExecuteRequest::new("1+1"),
        };
        assert_eq!(
            serde_json::to_value(execute).expect("serialize"),
            json!({"type": "execute", "id": 3, "request": {"code": "1+1"}})
        );
    }

    #[test]
    fn a_failed_result_from_the_worker_parses_with_its_error_fields() {
        let message = r#"{"type": "result", "id": 7, "result": {
            "success": false, "result": null, "stdout": "a\n", "stderr": "",
            "error": "ZeroDivisionError: division by zero", "timestamp": "2026-11-27T10:00:00Z",
            "durationMs": 1.5, "errorType": "ZeroDivisionError",
            "traceback": "Traceback (most recent call last):\n  File \"<cell>\", line 2\n"}}"#;
        let FromWorker::Result { id, result } = serde_json::from_str(message).expect("parse")
        else {
            panic!("expected a result message");
        };
        assert_eq!(id, 7);
        assert!(!result.success);
        assert_eq!(result.stdout, "a\n");
        assert_eq!(result.error_type.as_deref(), Some("ZeroDivisionError"));
    }
}
