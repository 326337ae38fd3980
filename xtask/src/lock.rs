//! Verification of Pyodide package files against `pyodide-lock.json`, and the trimmed lock
//! that lists only the packages we actually serve.
//!
//! The npm package's lock is the trust root: every package file we copy must have the
//! sha256 it names, and the lock we serve must never name a package whose file (or whose
//! dependency's file) is missing, or `loadPackage` would fail at run time in the browser.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Why a lock or a package file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{file} failed verification: expected sha256 {expected}, got {actual}")]
    Mismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("could not read {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("pyodide-lock.json is malformed: {0}")]
    Malformed(String),
}

/// One package of the lock, with the fields set-up needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    /// The key of the package in the lock's `packages` object, kept as written.
    pub key: String,
    pub file_name: String,
    pub sha256: String,
    /// Dependencies, PEP 503-normalised.
    pub depends: Vec<String>,
}

pub use protocol::normalize_package_name as normalize;

/// The packages of a parsed lock, by normalised name.
pub fn packages(lock: &Value) -> Result<BTreeMap<String, LockedPackage>, LockError> {
    let entries = lock
        .get("packages")
        .and_then(Value::as_object)
        .ok_or_else(|| LockError::Malformed("no \"packages\" object".into()))?;
    let mut packages = BTreeMap::new();
    for (key, entry) in entries {
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| LockError::Malformed(format!("package {key} has no string {name}")))
        };
        let depends = entry
            .get("depends")
            .and_then(Value::as_array)
            .map(|depends| {
                depends
                    .iter()
                    .filter_map(Value::as_str)
                    .map(normalize)
                    .collect()
            })
            .unwrap_or_default();
        packages.insert(
            normalize(key),
            LockedPackage {
                key: key.clone(),
                file_name: field("file_name")?,
                sha256: field("sha256")?,
                depends,
            },
        );
    }
    Ok(packages)
}

/// The sha256 of a file as lowercase hex.
pub fn sha256_of_file(path: &Path) -> Result<String, LockError> {
    let read_error = |source| LockError::Read {
        file: path.display().to_string(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(read_error)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Checks that the file at `path` has the expected sha256; the error names the file and both hashes.
pub fn verify_file(path: &Path, expected_sha256: &str) -> Result<(), LockError> {
    let actual = sha256_of_file(path)?;
    if actual.eq_ignore_ascii_case(expected_sha256) {
        Ok(())
    } else {
        Err(LockError::Mismatch {
            file: path.file_name().map_or_else(
                || path.display().to_string(),
                |name| name.to_string_lossy().into_owned(),
            ),
            expected: expected_sha256.to_owned(),
            actual,
        })
    }
}

/// The result of trimming a lock to the packages present.
#[derive(Debug)]
pub struct Trimmed {
    /// The lock to serve: the original with only the kept packages.
    pub lock: Value,
    /// Normalised names of the packages kept.
    pub kept: BTreeSet<String>,
    /// One line per package left out although its file is present.
    pub warnings: Vec<String>,
}

/// Keeps the packages whose file is present and whose dependencies are all kept, so the
/// served lock is closed over its dependencies. `present` holds normalised names.
pub fn trim(lock: &Value, present: &BTreeSet<String>) -> Result<Trimmed, LockError> {
    let packages = packages(lock)?;
    let mut kept: BTreeSet<String> = present
        .iter()
        .filter(|name| packages.contains_key(*name))
        .cloned()
        .collect();
    let mut warnings = Vec::new();
    // Removing one package can orphan another, so repeat until nothing changes.
    loop {
        let orphaned: Vec<(String, String)> = kept
            .iter()
            .filter_map(|name| {
                packages[name]
                    .depends
                    .iter()
                    .find(|dependency| !kept.contains(*dependency))
                    .map(|missing| (name.clone(), missing.clone()))
            })
            .collect();
        if orphaned.is_empty() {
            break;
        }
        for (name, missing) in orphaned {
            kept.remove(&name);
            warnings.push(format!(
                "left out {name}: it depends on {missing}, which is not present"
            ));
        }
    }
    let mut trimmed = lock.clone();
    if let Some(entries) = trimmed.get_mut("packages").and_then(Value::as_object_mut) {
        entries.retain(|key, _| kept.contains(&normalize(key)));
    }
    Ok(Trimmed {
        lock: trimmed,
        kept,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lock_of(packages: &[(&str, &[&str])]) -> Value {
        let entries: serde_json::Map<String, Value> = packages
            .iter()
            .map(|(name, depends)| {
                (
                    (*name).to_owned(),
                    json!({
                        "name": name,
                        "file_name": format!("{name}-1.0-py3-none-any.whl"),
                        "sha256": "00",
                        "depends": depends,
                    }),
                )
            })
            .collect();
        json!({ "info": { "version": "0.27.7" }, "packages": entries })
    }

    fn names(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn normalize_follows_pep_503() {
        for (input, expected) in [
            ("prompt_toolkit", "prompt-toolkit"),
            ("prompt-toolkit", "prompt-toolkit"),
            ("Prompt.Toolkit", "prompt-toolkit"),
            ("zope__.interface", "zope-interface"),
            ("numpy", "numpy"),
        ] {
            assert_eq!(normalize(input), expected, "normalising {input}");
        }
    }

    #[test]
    fn a_corrupted_file_is_rejected_naming_file_and_both_hashes() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("numpy-2.0.2.whl");
        std::fs::write(&path, b"original bytes").expect("write");
        let expected = sha256_of_file(&path).expect("hash");
        verify_file(&path, &expected).expect("the untouched file verifies");

        std::fs::write(&path, b"tampered bytes").expect("write");
        let error = verify_file(&path, &expected).expect_err("a changed file must be rejected");
        let actual = sha256_of_file(&path).expect("hash");
        assert_eq!(
            error.to_string(),
            format!(
                "numpy-2.0.2.whl failed verification: expected sha256 {expected}, got {actual}"
            )
        );
    }

    #[test]
    fn trimmed_lock_keeps_only_present_packages_with_all_dependencies() {
        let lock = lock_of(&[
            ("numpy", &[]),
            ("pandas", &["numpy", "python_dateutil"]),
            ("python-dateutil", &["six"]),
            ("six", &[]),
            ("ipython", &["prompt_toolkit", "jedi"]),
            ("prompt-toolkit", &[]),
            ("jedi", &["parso"]),
            ("scipy", &[]),
        ]);
        // parso is absent, so jedi must go, and with it ipython; scipy is simply not present.
        let present = names(&[
            "numpy",
            "pandas",
            "python-dateutil",
            "six",
            "ipython",
            "prompt-toolkit",
            "jedi",
        ]);

        let trimmed = trim(&lock, &present).expect("trim");

        assert_eq!(
            trimmed.kept,
            names(&[
                "numpy",
                "pandas",
                "python-dateutil",
                "six",
                "prompt-toolkit"
            ])
        );
        let served: BTreeSet<String> = trimmed.lock["packages"]
            .as_object()
            .expect("packages")
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            served,
            names(&[
                "numpy",
                "pandas",
                "python-dateutil",
                "six",
                "prompt-toolkit"
            ])
        );
        assert_eq!(
            trimmed.warnings,
            vec![
                "left out jedi: it depends on parso, which is not present".to_owned(),
                "left out ipython: it depends on jedi, which is not present".to_owned(),
            ]
        );
        assert_eq!(
            trimmed.lock["info"]["version"], "0.27.7",
            "lock info is kept"
        );
    }

    #[test]
    fn dependencies_spelled_differently_still_count_as_present() {
        let lock = lock_of(&[("ipython", &["Prompt_Toolkit"]), ("prompt-toolkit", &[])]);
        let trimmed = trim(&lock, &names(&["ipython", "prompt-toolkit"])).expect("trim");
        assert_eq!(trimmed.kept, names(&["ipython", "prompt-toolkit"]));
        assert!(trimmed.warnings.is_empty(), "{:?}", trimmed.warnings);
    }
}
