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
    /// Always `"ok"` when the server answers at all.
    pub status: String,
    /// The server's version (its crate version).
    pub version: String,
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// Whether the server's database answers: `reachable` or `unreachable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// The error body every API endpoint answers with when a request fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// Always `false`, so old clients that check `success` keep working.
    pub success: bool,
    /// What went wrong, in words a person can act on.
    pub error: String,
    /// A stable machine-readable code, e.g. `not_found`.
    pub code: String,
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
            status: "ok".into(),
            version: "0.1.0".into(),
            uptime_seconds: 7,
            database: None,
        };
        let json = serde_json::to_value(&health).expect("serialize");
        assert_eq!(
            json,
            serde_json::json!({"status": "ok", "version": "0.1.0", "uptimeSeconds": 7})
        );
    }
}
