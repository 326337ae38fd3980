//! Telemetry events: what the browser records after each execution, install, file load,
//! reset and restart, and the server's per-event answer.
//!
//! The code itself never travels: only its SHA-256. File names and contents never travel:
//! only the extension and size. Limits are constants here, and validation messages say
//! what to change.

use serde::{Deserialize, Serialize};

/// At most this many events in one batch.
pub const MAX_BATCH_EVENTS: usize = 100;
/// At most this many bytes in one batch's body.
pub const MAX_BATCH_BYTES: usize = 64 * 1024;
/// Identifiers (event and session ids) are at most this long.
pub const MAX_ID_LEN: usize = 64;
/// Free-text fields (error type, package, version, …) are at most this long.
pub const MAX_TEXT_LEN: usize = 200;
/// File extensions are at most this long.
pub const MAX_EXTENSION_LEN: usize = 16;
/// Durations are at most one day.
pub const MAX_DURATION_MS: f64 = 86_400_000.0;
/// Sizes are at most 16 GiB.
pub const MAX_BYTES: u64 = 16 << 30;

/// What happened in the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Execution,
    Install,
    FileLoad,
    Reset,
    Restart,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        Self::Execution,
        Self::Install,
        Self::FileLoad,
        Self::Reset,
        Self::Restart,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Execution => "execution",
            Self::Install => "install",
            Self::FileLoad => "file_load",
            Self::Reset => "reset",
            Self::Restart => "restart",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One event, as the browser sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TelemetryEvent {
    /// Random UUID made in the browser; the same id twice is stored once.
    pub event_id: String,
    /// Random per browser tab.
    pub session_id: String,
    pub kind: EventKind,
    /// SHA-256 of the code, 64 lowercase hex digits; required for executions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// The Python exception class, or `TimeoutError` / `Interrupted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_bytes: Option<u64>,
    /// For installs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// For file loads: the extension only (e.g. `csv`), never the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_ext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pyodide_version: Option<String>,
    /// The browser's clock when the event happened (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_time: Option<String>,
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("{field} must be 1 to {max} characters of letters, digits and '-'")]
    BadId { field: &'static str, max: usize },
    #[error("codeSha256 must be 64 lowercase hex digits (the SHA-256 of the code)")]
    BadHash,
    #[error("codeSha256 is required for executions")]
    MissingHash,
    #[error("{field} must be at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    /// NUL and the other control characters: PostgreSQL cannot store a NUL in text, and
    /// none belongs in a name, a version or a time.
    #[error("{field} must not contain control characters")]
    ControlCharacter { field: &'static str },
    #[error("{field} must be a number from 0 to {max}")]
    OutOfRange { field: &'static str, max: String },
    #[error("fileExt must be letters and digits only, at most {MAX_EXTENSION_LEN}")]
    BadExtension,
}

impl TelemetryEvent {
    /// Checks every limit; the message names the field and what it must be.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_id("eventId", &self.event_id)?;
        check_id("sessionId", &self.session_id)?;
        match &self.code_sha256 {
            Some(hash) if !is_sha256_hex(hash) => return Err(ValidationError::BadHash),
            None if self.kind == EventKind::Execution => return Err(ValidationError::MissingHash),
            _ => {}
        }
        if let Some(duration) = self.duration_ms
            && !(duration.is_finite() && (0.0..=MAX_DURATION_MS).contains(&duration))
        {
            return Err(ValidationError::OutOfRange {
                field: "durationMs",
                max: MAX_DURATION_MS.to_string(),
            });
        }
        for (field, size) in [
            ("codeBytes", self.code_bytes),
            ("stdoutBytes", self.stdout_bytes),
            ("stderrBytes", self.stderr_bytes),
            ("fileBytes", self.file_bytes),
        ] {
            if size.is_some_and(|size| size > MAX_BYTES) {
                return Err(ValidationError::OutOfRange {
                    field,
                    max: MAX_BYTES.to_string(),
                });
            }
        }
        for (field, text) in [
            ("errorType", &self.error_type),
            ("package", &self.package),
            ("version", &self.version),
            ("pyodideVersion", &self.pyodide_version),
            ("clientTime", &self.client_time),
        ] {
            let Some(text) = text else { continue };
            if text.chars().count() > MAX_TEXT_LEN {
                return Err(ValidationError::TooLong {
                    field,
                    max: MAX_TEXT_LEN,
                });
            }
            check_plain_text(field, text)?;
        }
        if let Some(extension) = &self.file_ext
            && (extension.len() > MAX_EXTENSION_LEN
                || !extension.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(ValidationError::BadExtension);
        }
        Ok(())
    }
}

/// Text without control characters (see [`ValidationError::ControlCharacter`]).
pub fn check_plain_text(field: &'static str, text: &str) -> Result<(), ValidationError> {
    if text.chars().any(char::is_control) {
        Err(ValidationError::ControlCharacter { field })
    } else {
        Ok(())
    }
}

fn check_id(field: &'static str, id: &str) -> Result<(), ValidationError> {
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ValidationError::BadId {
            field,
            max: MAX_ID_LEN,
        })
    }
}

/// 64 lowercase hex digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A batch of events: `POST /api/telemetry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryBatch {
    pub events: Vec<TelemetryEvent>,
}

/// What happened to one event of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Accepted,
    Duplicate,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventOutcome {
    /// The event's id when it had a readable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub status: EventStatus,
    /// Why a rejected event was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer to `POST /api/telemetry` (status 202): one outcome per event, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestResponse {
    pub success: bool,
    pub accepted: u32,
    pub duplicates: u32,
    pub rejected: u32,
    pub results: Vec<EventOutcome>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution() -> TelemetryEvent {
        TelemetryEvent {
            event_id: "2f1d6c1e-8d2a-4b7e-9a55-0c1c4f3f9b10".into(),
            session_id: "s-1".into(),
            kind: EventKind::Execution,
            code_sha256: Some("a".repeat(64)),
            code_bytes: Some(12),
            duration_ms: Some(3.5),
            success: Some(true),
            error_type: None,
            stdout_bytes: Some(2),
            stderr_bytes: Some(0),
            package: None,
            version: None,
            file_ext: None,
            file_bytes: None,
            pyodide_version: Some("0.27.7".into()),
            client_time: Some("2026-11-27T10:00:00.000Z".into()),
        }
    }

    #[test]
    fn a_complete_execution_event_is_valid() {
        assert_eq!(execution().validate(), Ok(()));
    }

    /// Breaks one rule of a valid event.
    type Breakage = fn(&mut TelemetryEvent);

    #[test]
    fn each_rule_rejects_with_a_message_naming_the_field() {
        let cases: Vec<(Breakage, &str)> = vec![
            (
                |e| e.code_sha256 = Some("A".repeat(64)),
                "codeSha256 must be 64 lowercase hex digits",
            ),
            (
                |e| e.code_sha256 = Some("ab".into()),
                "codeSha256 must be 64 lowercase hex digits",
            ),
            (
                |e| e.code_sha256 = None,
                "codeSha256 is required for executions",
            ),
            (
                |e| e.duration_ms = Some(-1.0),
                "durationMs must be a number from 0",
            ),
            (
                |e| e.duration_ms = Some(f64::NAN),
                "durationMs must be a number from 0",
            ),
            (
                |e| e.stdout_bytes = Some(u64::MAX),
                "stdoutBytes must be a number from 0",
            ),
            (|e| e.event_id = String::new(), "eventId must be 1 to 64"),
            (|e| e.event_id = "x".repeat(65), "eventId must be 1 to 64"),
            (|e| e.session_id = "a b".into(), "sessionId must be 1 to 64"),
            (
                |e| e.error_type = Some("E".repeat(201)),
                "errorType must be at most 200",
            ),
            (
                |e| e.file_ext = Some("../csv".into()),
                "fileExt must be letters and digits",
            ),
            (
                |e| e.error_type = Some("Value\u{0}Error".into()),
                "errorType must not contain control characters",
            ),
            (
                |e| e.package = Some("numpy\n".into()),
                "package must not contain control characters",
            ),
        ];
        for (break_it, message) in cases {
            let mut event = execution();
            break_it(&mut event);
            let error = event.validate().expect_err(message).to_string();
            assert!(
                error.starts_with(message),
                "{error:?} should start with {message:?}"
            );
        }
    }

    #[test]
    fn only_executions_need_a_hash() {
        let mut reset = execution();
        reset.kind = EventKind::Reset;
        reset.code_sha256 = None;
        assert_eq!(reset.validate(), Ok(()));
    }

    #[test]
    fn unknown_kinds_and_fields_do_not_parse() {
        let unknown_kind = r#"{"eventId": "a", "sessionId": "b", "kind": "format_disk"}"#;
        assert!(serde_json::from_str::<TelemetryEvent>(unknown_kind).is_err());
        let code_text =
            r#"{"eventId": "a", "sessionId": "b", "kind": "reset", "code": "print(1)"}"#;
        assert!(serde_json::from_str::<TelemetryEvent>(code_text).is_err());
    }
}
