//! The local package index for micropip: a PEP 691 JSON "simple" index over the wheelhouse
//! set-up made (`public/wheelhouse/`), at `/pypi/simple/{name}/`.
//!
//! micropip asks this index first for every requirement and falls back to the Pyodide lock
//! only on a 404, so a package the served lock has is answered with 404 here even if the
//! wheelhouse has a wheel of it: Pyodide's own builds must win. Wheel URLs are absolute
//! (micropip does not resolve relative ones from a JSON index) and carry their sha256,
//! which micropip checks.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use axum::extract::{Path as UrlPath, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

pub use protocol::normalize_package_name as normalize;

use crate::AppState;
use crate::error::AppError;

/// The content type micropip needs, exactly (no charset), to read a PEP 691 answer.
pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";
/// Longer names are refused before any lookup.
pub const MAX_NAME_LEN: usize = 100;

/// The wheels the index serves, by normalised project name.
#[derive(Debug, Default)]
pub struct PackageIndex {
    projects: BTreeMap<String, Vec<Wheel>>,
}

#[derive(Debug, Clone)]
struct Wheel {
    filename: String,
    version: String,
    sha256: String,
    size: u64,
}

impl PackageIndex {
    /// Reads `public/wheelhouse/` (hashing each wheel once) and the served Pyodide locks.
    pub fn load(public_dir: &Path) -> Result<Self> {
        let locked = locked_names(&public_dir.join("pyodide"))?;
        let wheelhouse = public_dir.join("wheelhouse");
        let mut projects: BTreeMap<String, Vec<Wheel>> = BTreeMap::new();
        let Ok(entries) = fs::read_dir(&wheelhouse) else {
            tracing::warn!(
                "{} is missing: the package index is empty",
                wheelhouse.display()
            );
            return Ok(Self::default());
        };
        for entry in entries {
            let path = entry?.path();
            let Some(filename) = path.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            let Some((name, version)) = parse_wheel_filename(filename) else {
                continue;
            };
            let name = normalize(&name);
            if locked.contains(&name) {
                tracing::warn!("{filename} is not served: the Pyodide lock provides {name}");
                continue;
            }
            let (sha256, size) = hash_file(&path)?;
            projects.entry(name).or_default().push(Wheel {
                filename: filename.to_owned(),
                version,
                sha256,
                size,
            });
        }
        Ok(Self { projects })
    }

    /// The project page for a normalised name, with wheel URLs under `base_url`.
    fn project(&self, name: &str, base_url: &str) -> Option<protocol::SimpleProject> {
        let wheels = self.projects.get(name)?;
        let versions: BTreeSet<String> = wheels.iter().map(|wheel| wheel.version.clone()).collect();
        Some(protocol::SimpleProject {
            meta: protocol::SimpleMeta {
                api_version: "1.1".to_owned(),
            },
            name: name.to_owned(),
            versions: versions.into_iter().collect(),
            files: wheels
                .iter()
                .map(|wheel| protocol::SimpleFile {
                    filename: wheel.filename.clone(),
                    url: format!("{base_url}/wheelhouse/{}", wheel.filename),
                    hashes: BTreeMap::from([("sha256".to_owned(), wheel.sha256.clone())]),
                    size: wheel.size,
                })
                .collect(),
        })
    }

    /// How many projects the index serves.
    pub fn len(&self) -> usize {
        self.projects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.projects.is_empty()
    }
}

/// `GET /pypi/simple/{name}/`
pub async fn project(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let normalized = validate_name(&name)?;
    let page = state
        .index()
        .project(&normalized, &base_url(&headers, state.listen_addr()))
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "no package named {normalized} in this server's index (it may come from the Pyodide lock)"
            ))
        })?;
    let body = serde_json::to_vec(&page).map_err(|error| AppError::Internal(error.to_string()))?;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static(SIMPLE_JSON))],
        body,
    )
        .into_response())
}

/// Checks a requested project name and returns it PEP 503-normalised.
pub fn validate_name(name: &str) -> Result<String, AppError> {
    let valid_characters = name
        .chars()
        .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.'));
    let alphanumeric_ends = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > MAX_NAME_LEN || !valid_characters || !alphanumeric_ends {
        return Err(AppError::BadRequest(format!(
            "{:?} is not a package name: use 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            name.chars().take(MAX_NAME_LEN).collect::<String>()
        )));
    }
    Ok(normalize(name))
}

/// `name-version(-build)?-python-abi-platform.whl` → `(name, version)`.
fn parse_wheel_filename(filename: &str) -> Option<(String, String)> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 {
        return None;
    }
    Some((parts[0].to_owned(), parts[1].to_owned()))
}

/// The origin wheel URLs are built on: the request's host, over https only when a proxy in
/// front says so.
fn base_url(headers: &HeaderMap, fallback: std::net::SocketAddr) -> String {
    let host = headers
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .map_or_else(|| fallback.to_string(), str::to_owned);
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|proto| proto.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// Normalised names of every package the served Pyodide locks provide.
fn locked_names(pyodide_dir: &Path) -> Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    let Ok(versions) = fs::read_dir(pyodide_dir) else {
        return Ok(names);
    };
    for version in versions {
        let lock_path = version?.path().join("pyodide-lock.json");
        let Ok(text) = fs::read_to_string(&lock_path) else {
            continue;
        };
        let lock: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", lock_path.display()))?;
        if let Some(packages) = lock
            .get("packages")
            .and_then(|packages| packages.as_object())
        {
            names.extend(packages.keys().map(|name| normalize(name)));
        }
    }
    Ok(names)
}

fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut file =
        fs::File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok((sha256, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_and_normalised() {
        for (name, normalized) in [
            ("seaborn", "seaborn"),
            ("Typing_Extensions", "typing-extensions"),
            ("zope.interface", "zope-interface"),
        ] {
            assert_eq!(validate_name(name).expect(name), normalized);
        }
        for bad in [
            "",
            "../etc/passwd",
            "a/b",
            "-leading",
            "trailing.",
            "spa ce",
            "ünï",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(validate_name(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn wheel_file_names_give_name_and_version() {
        assert_eq!(
            parse_wheel_filename("typing_extensions-4.16.0-py3-none-any.whl"),
            Some(("typing_extensions".to_owned(), "4.16.0".to_owned()))
        );
        assert_eq!(parse_wheel_filename("README.txt"), None);
        assert_eq!(parse_wheel_filename("broken-1.0.whl"), None);
    }
}
