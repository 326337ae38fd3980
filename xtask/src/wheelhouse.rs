//! The wheelhouse: pure-Python wheels from PyPI for what the Pyodide lock lacks, laid out
//! in `public/wheelhouse/` for the server's package index.
//!
//! Every wheel is pinned in the manifest by name, version and sha256, dependencies
//! included, so two set-ups on different days serve the same bytes. pip downloads exactly
//! the pinned versions (no dependency resolution) into the cache, each file is checked
//! against its sha256, and a mismatch stops set-up naming the file and both hashes.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use crate::assets::{LAYOUT_VERSION, STAMP, fingerprint, pip_download, stamp_matches};
use crate::lock::{self, LockError};
use crate::manifest::{Manifest, PinnedSource, PinnedWheel};
use crate::pure_wheel;
use crate::step::step;

/// Why the downloaded wheels were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum WheelhouseError {
    #[error("PyPI did not provide {file} for {requirement}")]
    Missing { file: String, requirement: String },
    #[error(transparent)]
    Verification(#[from] LockError),
}

pub fn ensure_wheelhouse(root: &Path, cache: &Path, manifest: &Manifest) -> Result<()> {
    let wheels = &manifest.wheelhouse.wheels;
    let pins: Vec<String> = wheels
        .iter()
        .map(|wheel| format!("{} {}", wheel.file, wheel.sha256))
        .collect();
    let fingerprint = fingerprint(&[LAYOUT_VERSION, &pins.join("\n")]);
    let target = root.join("public").join("wheelhouse");
    if stamp_matches(&target, &fingerprint) {
        println!("==> wheelhouse: up to date in {}", target.display());
        return Ok(());
    }
    let downloads = cache.join("downloads").join("wheelhouse");
    step("download the wheelhouse (PyPI)", || {
        download(&downloads, wheels)
    })?;
    step("lay out the wheelhouse", || {
        if target.exists() {
            fs::remove_dir_all(&target)?;
        }
        fs::create_dir_all(&target)?;
        for wheel in wheels {
            fs::copy(downloads.join(&wheel.file), target.join(&wheel.file))
                .with_context(|| format!("could not copy {}", wheel.file))?;
        }
        let files: Vec<&str> = wheels.iter().map(|wheel| wheel.file.as_str()).collect();
        println!("    {} wheels: {}", files.len(), files.join(", "));
        fs::write(target.join(STAMP), &fingerprint)?;
        Ok(())
    })
}

/// Downloads the pinned wheels the cache folder lacks (or holds with other bytes), then
/// checks every one.
fn download(folder: &Path, wheels: &[PinnedWheel]) -> Result<()> {
    fs::create_dir_all(folder).with_context(|| format!("could not create {}", folder.display()))?;
    let mut wanted = Vec::new();
    for wheel in wheels {
        let path = folder.join(&wheel.file);
        if path.exists() && lock::verify_file(&path, &wheel.sha256).is_err() {
            // pip keeps a file that is already there, whatever its bytes.
            fs::remove_file(&path)?;
        }
        if path.exists() {
            continue;
        }
        match &wheel.source {
            Some(source) => build_from_source(folder, wheel, source)?,
            None => wanted.push(wheel.requirement()),
        }
    }
    if wanted.is_empty() {
        println!("    cached in {}", folder.display());
    } else {
        // Pyodide takes pure-Python wheels for CPython 3.12 on any platform. Every wheel is
        // pinned, dependencies too, so pip resolves nothing.
        let mut args = vec![
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "--implementation",
            "py",
            "--abi",
            "none",
            "--platform",
            "any",
        ];
        args.extend(wanted.iter().map(String::as_str));
        pip_download(folder, &args).with_context(|| {
            format!(
                "could not download {} from PyPI (needs python3 with pip and network access to PyPI once)",
                wanted.join(", ")
            )
        })?;
    }
    verify(folder, wheels)?;
    Ok(())
}

/// Makes a pure-Python wheel from its pinned sdist (downloaded once into `folder`); its
/// sha256 is checked with the others'.
fn build_from_source(folder: &Path, wheel: &PinnedWheel, source: &PinnedSource) -> Result<()> {
    let sdist = folder.join(&source.file);
    if sdist.exists() && lock::verify_file(&sdist, &source.sha256).is_err() {
        fs::remove_file(&sdist)?;
    }
    if !sdist.exists() {
        let requirement = wheel.requirement();
        pip_download(folder, &["--no-deps", "--no-binary=:all:", &requirement]).with_context(
            || {
                format!(
                    "could not download the source of {requirement} from PyPI (needs python3 with pip and network access to PyPI once)"
                )
            },
        )?;
    }
    if !sdist.exists() {
        return Err(WheelhouseError::Missing {
            file: source.file.clone(),
            requirement: wheel.requirement(),
        }
        .into());
    }
    lock::verify_file(&sdist, &source.sha256).map_err(WheelhouseError::from)?;
    println!("    making {} from {}", wheel.file, source.file);
    pure_wheel::build(&sdist, wheel, folder)
}

/// Checks that every pinned wheel is in `folder` with its sha256; a file that does not
/// match is removed, so the next set-up downloads it again.
fn verify(folder: &Path, wheels: &[PinnedWheel]) -> Result<(), WheelhouseError> {
    for wheel in wheels {
        let path = folder.join(&wheel.file);
        if !path.exists() {
            return Err(WheelhouseError::Missing {
                file: wheel.file.clone(),
                requirement: wheel.requirement(),
            });
        }
        if let Err(error) = lock::verify_file(&path, &wheel.sha256) {
            fs::remove_file(&path).ok();
            return Err(error.into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn pinned(file: &str, bytes: &[u8]) -> PinnedWheel {
        PinnedWheel {
            name: "demo".into(),
            version: "1.0".into(),
            file: file.into(),
            sha256: format!("{:x}", Sha256::digest(bytes)),
            source: None,
        }
    }

    #[test]
    fn a_wheel_with_other_bytes_stops_set_up_naming_the_file_and_both_hashes() {
        let folder = tempfile::tempdir().expect("temp dir");
        let file = "demo-1.0-py3-none-any.whl";
        let wheel = pinned(file, b"the pinned bytes");
        fs::write(folder.path().join(file), b"the pinned bytes").expect("write");
        verify(folder.path(), std::slice::from_ref(&wheel)).expect("the pinned bytes pass");

        fs::write(folder.path().join(file), b"a newer upload").expect("write");
        let message = verify(folder.path(), std::slice::from_ref(&wheel))
            .expect_err("other bytes fail")
            .to_string();
        let actual = format!("{:x}", Sha256::digest(b"a newer upload"));
        assert!(message.contains(file), "{message}");
        assert!(message.contains(&wheel.sha256), "{message}");
        assert!(message.contains(&actual), "{message}");
        assert!(
            !folder.path().join(file).exists(),
            "the bad file is not kept for the next set-up"
        );
    }

    #[test]
    fn a_wheel_pip_did_not_fetch_is_named() {
        let folder = tempfile::tempdir().expect("temp dir");
        let wheel = pinned("demo-1.0-py3-none-any.whl", b"x");
        let message = verify(folder.path(), &[wheel])
            .expect_err("missing")
            .to_string();
        assert_eq!(
            message,
            "PyPI did not provide demo-1.0-py3-none-any.whl for demo==1.0"
        );
    }
}
