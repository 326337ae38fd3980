//! The asset manifest (`pyodide-loader/manifest.json`): which Pyodide version we serve,
//! where its files come from, and the sha256 of each download. Set-up reads it; the
//! browser side keeps the same version as a constant, checked by a test in `pyodide-loader`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub pyodide_version: String,
    pub core: Core,
    pub packages: Packages,
    pub wheelhouse: Wheelhouse,
    /// The manifest text itself: a change to it invalidates what set-up laid out before.
    #[serde(skip)]
    pub text: String,
}

/// The core runtime, from the npm registry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Core {
    pub npm_package: String,
    pub tarball: String,
    pub sha256: String,
    /// Files copied from the tarball's `package/` folder (the lock is handled separately).
    pub files: Vec<String>,
}

/// The official binary package files, carried by a wheel on PyPI.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Packages {
    pub pypi_requirement: String,
    pub wheel: String,
    pub sha256: String,
    /// The folder inside the wheel that holds the package files.
    pub folder: String,
}

/// Pure-Python wheels from PyPI for what the lock lacks.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wheelhouse {
    pub with_dependencies: Vec<String>,
    pub without_dependencies: Vec<String>,
}

impl Manifest {
    pub const PATH: &'static str = "pyodide-loader/manifest.json";

    pub fn load(root: &Path) -> Result<Self> {
        let path = root.join(Self::PATH);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let mut manifest: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid manifest", path.display()))?;
        manifest.text = text;
        Ok(manifest)
    }
}
