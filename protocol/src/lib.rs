//! The JSON contract between the browser and the server: every type that crosses the
//! network is defined here, once, and both sides use it.
//!
//! Field names are camelCase on the wire, as the original service's clients expect.

pub mod admin;
pub mod stats;
pub mod telemetry;

use serde::{Deserialize, Serialize};

/// PEP 503 normalisation of a package name: lowercase, and every run of `-`, `_` and `.`
/// becomes one `-`. The Pyodide lock mixes spellings (`prompt-toolkit` is a key,
/// `prompt_toolkit` a dependency), and so do wheel file names and what users type.
pub fn normalize_package_name(name: &str) -> String {
    let mut normalized = String::with_capacity(name.len());
    let mut in_separators = false;
    for character in name.chars() {
        if matches!(character, '-' | '_' | '.') {
            if !in_separators {
                normalized.push('-');
            }
            in_separators = true;
        } else {
            normalized.extend(character.to_lowercase());
            in_separators = false;
        }
    }
    normalized
}

/// The answer of `GET /health`: the server is up and serving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Always `ok` when the server answers at all.
    pub status: HealthStatus,
    /// The server's version (its crate version).
    pub version: String,
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// Whether the server's database answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseHealth>,
}

/// [`Health::status`]: the only value is `ok` (a server that is not fine does not answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

/// [`Health::database`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseHealth {
    Reachable,
    Unreachable,
}

/// The error body every API endpoint answers with when a request fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// Always `false`, so old clients that check `success` keep working.
    pub success: bool,
    /// What went wrong, in words a person can act on.
    pub error: String,
    /// A stable machine-readable code.
    pub code: ErrorCode,
}

/// [`ApiError::code`]: what kind of refusal or failure, stable across versions (`not_found`,
/// `rate_limited`, …). Each has one HTTP status ([`ErrorCode::status`]); a status alone maps
/// back to its usual code ([`ErrorCode::for_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    /// The request's body did not arrive in time.
    Timeout,
    PayloadTooLarge,
    UriTooLong,
    RangeNotSatisfiable,
    /// Too many requests from this client; the answer says when to try again.
    RateLimited,
    /// A live dashboard over the per-client or total cap.
    TooManyStreams,
    HeadersTooLarge,
    Internal,
    /// An upstream package index failed or sent something refused.
    Upstream,
    /// The database cannot be reached for now; the answer says when to try again.
    Unavailable,
}

impl ErrorCode {
    /// Every code, each status's usual code before the others with that status.
    pub const ALL: [Self; 15] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Timeout,
        Self::PayloadTooLarge,
        Self::UriTooLong,
        Self::RangeNotSatisfiable,
        Self::RateLimited,
        Self::TooManyStreams,
        Self::HeadersTooLarge,
        Self::Internal,
        Self::Upstream,
        Self::Unavailable,
    ];

    /// The HTTP status answered with this code.
    pub const fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Timeout => 408,
            Self::PayloadTooLarge => 413,
            Self::UriTooLong => 414,
            Self::RangeNotSatisfiable => 416,
            Self::RateLimited | Self::TooManyStreams => 429,
            Self::HeadersTooLarge => 431,
            Self::Internal => 500,
            Self::Upstream => 502,
            Self::Unavailable => 503,
        }
    }

    /// The usual code of an error status: the first of [`ErrorCode::ALL`] with it, else
    /// `internal` for a server error and `bad_request` for any other.
    pub fn for_status(status: u16) -> Self {
        Self::ALL
            .into_iter()
            .find(|code| code.status() == status)
            .unwrap_or(if status >= 500 {
                Self::Internal
            } else {
                Self::BadRequest
            })
    }
}

/// A project page of the package index, in PEP 691's JSON form
/// (`application/vnd.pypi.simple.v1+json`), as micropip reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleProject {
    pub meta: SimpleMeta,
    /// The project's normalised name.
    pub name: String,
    /// Every version with a file here (PEP 700).
    pub versions: Vec<String>,
    pub files: Vec<SimpleFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleMeta {
    #[serde(rename = "api-version")]
    pub api_version: String,
}

/// The package index's answer (404) for a project it has no wheel of: the usual error body
/// and why, typed, so the page can say what would help.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectMissing {
    pub success: bool,
    pub error: String,
    pub code: ErrorCode,
    pub missing: MissingBecause,
}

/// Why the package index has no wheel of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MissingBecause {
    /// Pyodide's distribution provides it (micropip installs it from there).
    Distribution,
    /// Not in the wheelhouse, and no upstream index is configured.
    NoUpstream,
    /// Neither the wheelhouse nor the upstream index has it.
    NotUpstream,
    /// The upstream index has it, but no wheel Pyodide can install (pure Python, or built
    /// for this Pyodide): only wheels for other platforms, or only source.
    NoPureWheel,
    /// Not in the wheelhouse, and the upstream index could not be asked.
    UpstreamUnreachable,
}

/// One wheel of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleFile {
    pub filename: String,
    /// Absolute: micropip does not resolve relative wheel URLs from a JSON index.
    pub url: String,
    /// `{"sha256": "…"}`; micropip checks the download against it.
    pub hashes: std::collections::BTreeMap<String, String>,
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_uses_camel_case_on_the_wire() {
        let health = Health {
            status: HealthStatus::Ok,
            version: "0.1.0".into(),
            uptime_seconds: 7,
            database: Some(DatabaseHealth::Unreachable),
        };
        let json = serde_json::to_value(&health).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({"status": "ok", "version": "0.1.0", "uptimeSeconds": 7, "database": "unreachable"})
        );
    }

    #[test]
    fn error_codes_keep_their_wire_names_and_statuses() {
        let wire: Vec<(String, u16)> = ErrorCode::ALL
            .into_iter()
            .map(|code| {
                let name = serde_json::to_value(code).expect("serialize");
                (name.as_str().expect("a string").to_owned(), code.status())
            })
            .collect();
        let expected = [
            ("bad_request", 400),
            ("unauthorized", 401),
            ("forbidden", 403),
            ("not_found", 404),
            ("method_not_allowed", 405),
            ("timeout", 408),
            ("payload_too_large", 413),
            ("uri_too_long", 414),
            ("range_not_satisfiable", 416),
            ("rate_limited", 429),
            ("too_many_streams", 429),
            ("headers_too_large", 431),
            ("internal", 500),
            ("upstream", 502),
            ("unavailable", 503),
        ];
        let expected: Vec<(String, u16)> = expected
            .into_iter()
            .map(|(name, status)| (name.to_owned(), status))
            .collect();
        assert_eq!(wire, expected, "old clients match on these names");
    }

    #[test]
    fn a_status_maps_to_its_usual_code() {
        assert_eq!(ErrorCode::for_status(429), ErrorCode::RateLimited);
        assert_eq!(ErrorCode::for_status(404), ErrorCode::NotFound);
        assert_eq!(ErrorCode::for_status(418), ErrorCode::BadRequest);
        assert_eq!(ErrorCode::for_status(504), ErrorCode::Internal);
        // Each status's usual code is the one answered for it; only these share a status
        // with an earlier, usual one.
        let secondary = [ErrorCode::TooManyStreams];
        for code in ErrorCode::ALL {
            if !secondary.contains(&code) {
                assert_eq!(ErrorCode::for_status(code.status()), code, "{code:?}");
            }
        }
    }
}
