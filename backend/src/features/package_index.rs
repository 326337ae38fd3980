//! The local package index for micropip: a PEP 691 JSON "simple" index at
//! `/pypi/simple/{name}/`, over the wheelhouse set-up made (`public/wheelhouse/`) and the
//! wheels fetched from an upstream index (`data/wheelhouse/`), all served at
//! `/wheelhouse/{file}`.
//!
//! micropip asks this index first for every requirement and falls back to the Pyodide lock
//! only on a 404, so a package the served lock has is answered with 404 here even if the
//! wheelhouse has a wheel of it: Pyodide's own builds must win. Wheel URLs are absolute
//! (micropip does not resolve relative ones from a JSON index) and carry their sha256,
//! which micropip checks; their origin comes from configuration or a trusted proxy, never
//! from what an arbitrary client claims (see [`Site`]).
//!
//! With `--upstream-index`, the page of a project the wheelhouse lacks lists upstream's
//! wheels Pyodide can install (pure-Python, or built for its platform, PEP 783); a project
//! the wheelhouse holds is answered from its pinned wheels alone, without asking upstream; a wheel is downloaded the first time it is asked for, checked against
//! upstream's sha256 (a mismatch is refused with 502 and nothing is kept), stored in
//! `data/wheelhouse/` and served from there ever after, upstream or not.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use axum::extract::{Path as UrlPath, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::{ErrorCode, MissingBecause};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::features::simple_api::{SIMPLE_JSON, normalize, parse_wheel_filename};
use crate::features::upstream::{Upstream, UpstreamFile};
use crate::http::client::Site;
use crate::http::error::AppError;
use crate::util::private_files;

/// Longer names are refused before any lookup.
pub const MAX_NAME_LEN: usize = 100;
const MAX_FILENAME_LEN: usize = 255;

/// The wheels the index serves, by normalised project name.
#[derive(Debug, Default)]
pub struct PackageIndex {
    /// Names the served Pyodide lock provides: always 404 here.
    locked: BTreeSet<String>,
    /// `public/wheelhouse/`, read once.
    builtin: Wheelhouse,
    /// `data/wheelhouse/`: wheels fetched from upstream, now or by an earlier run.
    fetched: RwLock<Wheelhouse>,
    upstream: Option<Arc<Upstream>>,
    /// Wheels upstream listed, by file name: downloaded when first asked for.
    listed: RwLock<HashMap<String, UpstreamFile>>,
    /// One download at a time, so two requests for a new wheel fetch it once.
    downloading: tokio::sync::Mutex<()>,
}

/// Wheels in one folder.
#[derive(Debug, Default)]
struct Wheelhouse {
    folder: PathBuf,
    projects: BTreeMap<String, Vec<Wheel>>,
}

#[derive(Debug, Clone)]
struct Wheel {
    filename: String,
    version: String,
    sha256: String,
    size: u64,
}

impl Wheelhouse {
    /// Reads a folder of wheels (hashing each once), leaving out what the lock provides.
    fn load(folder: PathBuf, locked: &BTreeSet<String>) -> Result<Self> {
        let mut wheelhouse = Self {
            folder,
            projects: BTreeMap::new(),
        };
        let Ok(entries) = fs::read_dir(&wheelhouse.folder) else {
            return Ok(wheelhouse);
        };
        for entry in entries {
            let path = entry?.path();
            let Some(filename) = path.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            let Some((name, _)) = parse_wheel_filename(filename) else {
                continue;
            };
            if locked.contains(&normalize(&name)) {
                tracing::warn!("{filename} is not served: the Pyodide lock provides {name}");
                continue;
            }
            let (sha256, size) = hash_file(&path)?;
            wheelhouse.add(filename, sha256, size);
        }
        Ok(wheelhouse)
    }

    fn add(&mut self, filename: &str, sha256: String, size: u64) {
        if let Some((name, version)) = parse_wheel_filename(filename) {
            let wheels = self.projects.entry(normalize(&name)).or_default();
            wheels.retain(|wheel| wheel.filename != filename);
            wheels.push(Wheel {
                filename: filename.to_owned(),
                version,
                sha256,
                size,
            });
        }
    }

    fn path_of(&self, filename: &str) -> Option<PathBuf> {
        self.projects
            .values()
            .flatten()
            .any(|wheel| wheel.filename == filename)
            .then(|| self.folder.join(filename))
    }
}

impl PackageIndex {
    /// Reads `public/wheelhouse/`, `data/wheelhouse/` and the served Pyodide locks.
    pub fn load(public_dir: &Path, data_dir: &Path, upstream: Option<Upstream>) -> Result<Self> {
        let locked = locked_names(&public_dir.join("pyodide"))?;
        let builtin = Wheelhouse::load(public_dir.join("wheelhouse"), &locked)?;
        if builtin.projects.is_empty() {
            tracing::warn!(
                "{} has no wheels: run `cargo xtask setup`",
                builtin.folder.display()
            );
        }
        let fetched = Wheelhouse::load(data_dir.join("wheelhouse"), &locked)?;
        Ok(Self {
            locked,
            builtin,
            fetched: RwLock::new(fetched),
            upstream: upstream.map(Arc::new),
            listed: RwLock::default(),
            downloading: tokio::sync::Mutex::new(()),
        })
    }

    /// The wheels kept here for a normalised name, with URLs under `base_url`.
    fn kept_files(&self, name: &str, base_url: &str) -> Vec<(String, protocol::SimpleFile)> {
        let fetched = self
            .fetched
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        [&self.builtin, &*fetched]
            .into_iter()
            .filter_map(|wheelhouse| wheelhouse.projects.get(name))
            .flatten()
            .map(|wheel| {
                (
                    wheel.version.clone(),
                    protocol::SimpleFile {
                        filename: wheel.filename.clone(),
                        url: format!("{base_url}/wheelhouse/{}", wheel.filename),
                        hashes: BTreeMap::from([("sha256".to_owned(), wheel.sha256.clone())]),
                        size: wheel.size,
                    },
                )
            })
            .collect()
    }

    /// Where a kept wheel is on disk.
    fn kept_path(&self, filename: &str) -> Option<PathBuf> {
        self.builtin.path_of(filename).or_else(|| {
            self.fetched
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .path_of(filename)
        })
    }

    /// Downloads a wheel upstream listed, checks its hash and keeps it.
    async fn fetch(&self, file: UpstreamFile) -> Result<PathBuf, AppError> {
        let _one_at_a_time = self.downloading.lock().await;
        if let Some(path) = self.kept_path(&file.filename) {
            return Ok(path);
        }
        let upstream = self
            .upstream
            .clone()
            .ok_or_else(|| AppError::NotFound(format!("no wheel named {} here", file.filename)))?;
        let download = file.clone();
        let bytes = tokio::task::spawn_blocking(move || upstream.download(&download))
            .await
            .map_err(|error| AppError::Internal(error.to_string()))?
            .map_err(|reason| {
                AppError::BadGateway(format!(
                    "could not download {} from the upstream index: {reason}",
                    file.filename
                ))
            })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        if sha256 != file.sha256 {
            tracing::warn!(
                "refused {} from {}: sha256 {sha256}, listed as {}",
                file.filename,
                file.url,
                file.sha256
            );
            return Err(AppError::BadGateway(format!(
                "refused {}: the upstream index lists its sha256 as {}, but the file it sent has {sha256}",
                file.filename, file.sha256
            )));
        }
        let mut fetched = self
            .fetched
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let path = fetched.folder.join(&file.filename);
        let partial = fetched.folder.join(format!(".{}.partial", file.filename));
        private_files::create_dir(&fetched.folder)
            .and_then(|()| private_files::write(&partial, &bytes))
            .and_then(|()| fs::rename(&partial, &path))
            .map_err(|error| {
                AppError::Internal(format!("could not keep {}: {error}", path.display()))
            })?;
        fetched.add(&file.filename, sha256, bytes.len() as u64);
        tracing::info!("fetched {} from the upstream index", file.filename);
        Ok(path)
    }

    /// How many projects the wheelhouses hold.
    pub fn len(&self) -> usize {
        let fetched = self
            .fetched
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.builtin
            .projects
            .keys()
            .chain(fetched.projects.keys())
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// `GET /pypi/simple/{name}/`
pub async fn project(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    site: Site,
) -> Result<Response, AppError> {
    let name = validate_name(&name)?;
    let index = state.index();
    if index.locked.contains(&name) {
        return Ok(missing(
            format!("{name} comes from the Pyodide distribution, not from this index"),
            MissingBecause::Distribution,
        ));
    }
    let mut files = index.kept_files(&name, &site.origin);
    let mut upstream_trouble = None;
    let mut upstream_has_it = false;
    // A project the wheelhouse holds is answered from its pinned wheels alone: they were
    // chosen to work together (jsonschema 4.17 for altair, say, where upstream's newest
    // needs a compiled dependency), and they install the same offline or not.
    let pinned_here = index.builtin.projects.contains_key(&name);
    if let Some(upstream) = index.upstream.clone().filter(|_| !pinned_here) {
        let asked = name.clone();
        let answer = tokio::task::spawn_blocking(move || upstream.project_files(&asked))
            .await
            .map_err(|error| AppError::Internal(error.to_string()))?;
        match answer {
            Ok(Some(listed)) => {
                upstream_has_it = true;
                let mut known = index
                    .listed
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                for file in listed {
                    if files.iter().any(|(_, kept)| kept.filename == file.filename) {
                        continue;
                    }
                    let version = parse_wheel_filename(&file.filename)
                        .map(|(_, version)| version)
                        .unwrap_or_default();
                    files.push((
                        version,
                        protocol::SimpleFile {
                            filename: file.filename.clone(),
                            url: format!("{}/wheelhouse/{}", site.origin, file.filename),
                            hashes: BTreeMap::from([("sha256".to_owned(), file.sha256.clone())]),
                            size: file.size.unwrap_or(0),
                        },
                    ));
                    known.insert(file.filename.clone(), file);
                }
            }
            Ok(None) => {}
            Err(reason) => {
                tracing::warn!("the upstream index could not be asked for {name}: {reason}");
                upstream_trouble = Some(reason);
            }
        }
    }
    if files.is_empty() {
        let (error, because) = match (&index.upstream, upstream_trouble) {
            (None, _) => (
                format!("no package named {name} in this server's wheelhouse"),
                MissingBecause::NoUpstream,
            ),
            (Some(_), None) if upstream_has_it => (
                format!(
                    "the upstream index has {name}, but no wheel of it Pyodide can install (pure-Python, or built for this Pyodide)"
                ),
                MissingBecause::NoPureWheel,
            ),
            (Some(_), None) => (
                format!(
                    "no package named {name} in this server's wheelhouse or its upstream index"
                ),
                MissingBecause::NotUpstream,
            ),
            (Some(_), Some(_)) => (
                format!(
                    "no package named {name} in this server's wheelhouse, and the upstream index cannot be reached"
                ),
                MissingBecause::UpstreamUnreachable,
            ),
        };
        return Ok(missing(error, because));
    }
    let versions: BTreeSet<String> = files.iter().map(|(version, _)| version.clone()).collect();
    let page = protocol::SimpleProject {
        meta: protocol::SimpleMeta {
            api_version: "1.1".to_owned(),
        },
        name,
        versions: versions.into_iter().collect(),
        files: files.into_iter().map(|(_, file)| file).collect(),
    };
    let body = serde_json::to_vec(&page).map_err(|error| AppError::Internal(error.to_string()))?;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static(SIMPLE_JSON))],
        body,
    )
        .into_response())
}

/// The 404 for a project without wheels here, saying why (`missing`), which the page turns
/// into words about what would help.
fn missing(error: String, because: MissingBecause) -> Response {
    let body = protocol::ProjectMissing {
        success: false,
        error,
        code: ErrorCode::NotFound,
        missing: because,
    };
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

/// `GET /wheelhouse/{file}`: a kept wheel, or one upstream listed (fetched once).
pub async fn wheel(
    State(state): State<AppState>,
    UrlPath(filename): UrlPath<String>,
) -> Result<Response, AppError> {
    if filename.contains('/') {
        return Err(AppError::NotFound(format!(
            "nothing at /wheelhouse/{filename}"
        )));
    }
    let valid = filename.len() <= MAX_FILENAME_LEN
        && !filename.starts_with('.')
        && filename
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!'));
    if !valid {
        return Err(AppError::BadRequest(format!(
            "{:?} is not a wheel file name",
            filename.chars().take(MAX_FILENAME_LEN).collect::<String>()
        )));
    }
    let index = state.index();
    let path = match index.kept_path(&filename) {
        Some(path) => path,
        None => {
            let listed = index
                .listed
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get(&filename)
                .cloned();
            let listed = listed
                .ok_or_else(|| AppError::NotFound(format!("no wheel named {filename} here")))?;
            index.fetch(listed).await?
        }
    };
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|error| AppError::Internal(format!("{}: {error}", path.display())))?;
    Ok((
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        bytes,
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
    let sha256 = hex::encode(hasher.finalize());
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
}
