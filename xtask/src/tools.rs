//! The build tools: the wasm32 target, Trunk, wasm-bindgen-cli (at exactly the Cargo.lock
//! version, as Trunk demands) and a working wasm-opt. Each is installed once into the cache
//! folder and skipped when the right version is already there; building Trunk and
//! wasm-bindgen-cli from source takes ~25 minutes on two cores and must not be paid twice.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::postgres_bin;
use crate::step::{Command, path_with, step};

const TRUNK_VERSION: &str = "0.21.14";
/// Debian's binaryen 108 silently breaks wasm-bindgen's output; the npm build of 132 works.
const BINARYEN_VERSION: &str = "132";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Where the installed tools are.
#[derive(Debug)]
pub struct Tools {
    bin_dirs: Vec<PathBuf>,
    trunk: PathBuf,
}

impl Tools {
    pub fn trunk(&self) -> &Path {
        &self.trunk
    }

    /// `PATH` with the tools first: Trunk finds wasm-bindgen and wasm-opt on PATH only.
    pub fn path_env(&self) -> OsString {
        path_with(&self.bin_dirs)
    }
}

pub fn ensure_all(root: &Path, cache: &Path) -> Result<Tools> {
    let tools = cache.join("tools");
    step("wasm32 target", ensure_wasm_target)?;
    let trunk_bin = step(&format!("Trunk {TRUNK_VERSION}"), || {
        ensure_cargo_tool(&tools, "trunk", "trunk", TRUNK_VERSION, true)
    })?;
    let bindgen_version = wasm_bindgen_version(root)?;
    let bindgen_bin = step(&format!("wasm-bindgen-cli {bindgen_version}"), || {
        // Without --locked: the CLI's own lockfile pins a crate version this registry lacks.
        ensure_cargo_tool(
            &tools,
            "wasm-bindgen-cli",
            "wasm-bindgen",
            &bindgen_version,
            false,
        )
    })?;
    let wasm_opt_bin = step(&format!("wasm-opt (binaryen {BINARYEN_VERSION})"), || {
        ensure_wasm_opt(&tools)
    })?;
    Ok(Tools {
        trunk: trunk_bin.join("trunk"),
        bin_dirs: vec![trunk_bin, bindgen_bin, wasm_opt_bin],
    })
}

fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output_if_ok()
        .context("rustup is needed to add the wasm32 target, and it could not be run")?;
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        println!("    already installed");
        return Ok(());
    }
    Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .run()
        .context(
            "could not add the wasm32-unknown-unknown target (rustup needs network access once)",
        )
}

/// Installs `crate_name` at `version` with `cargo install` into its own folder under `tools`
/// and returns the folder holding its binaries.
fn ensure_cargo_tool(
    tools: &Path,
    crate_name: &str,
    binary: &str,
    version: &str,
    locked: bool,
) -> Result<PathBuf> {
    let install_root = tools.join(format!("{crate_name}-{version}"));
    let bin_dir = install_root.join("bin");
    if reports_version(&bin_dir.join(binary), version) {
        println!("    already installed in {}", install_root.display());
        return Ok(bin_dir);
    }
    println!(
        "    building {crate_name} {version} from crates.io into {} (once; ~10-20 minutes on 2 cores)",
        install_root.display()
    );
    let mut args = vec![
        "install".to_owned(),
        crate_name.to_owned(),
        "--version".to_owned(),
        version.to_owned(),
        "--root".to_owned(),
        install_root.display().to_string(),
        "--force".to_owned(),
    ];
    if locked {
        args.push("--locked".to_owned());
    }
    Command::new("cargo").args(&args).run().with_context(|| {
        format!("could not build {crate_name} {version}: it needs network access to the crates.io registry once")
    })?;
    if !reports_version(&bin_dir.join(binary), version) {
        bail!(
            "{crate_name} {version} was installed but `{binary} --version` does not report {version}"
        );
    }
    Ok(bin_dir)
}

fn ensure_wasm_opt(tools: &Path) -> Result<PathBuf> {
    let prefix = tools.join(format!("binaryen-{BINARYEN_VERSION}"));
    let bin_dir = prefix.join("node_modules").join("binaryen").join("bin");
    if reports_version(&bin_dir.join("wasm-opt"), BINARYEN_VERSION) {
        println!("    already installed in {}", prefix.display());
        return Ok(bin_dir);
    }
    std::fs::create_dir_all(&prefix)
        .with_context(|| format!("could not create {}", prefix.display()))?;
    Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .args([prefix.as_os_str()])
        .args([format!("binaryen@{BINARYEN_VERSION}")])
        .quiet()
        .run()
        .context("could not install binaryen from the npm registry (needs Node.js with npm and network access to the npm registry once)")?;
    if !reports_version(&bin_dir.join("wasm-opt"), BINARYEN_VERSION) {
        bail!("binaryen was installed but its wasm-opt does not report version {BINARYEN_VERSION}");
    }
    Ok(bin_dir)
}

/// pytest for the harness's pure-Python tests, nbformat (Jupyter's own validator, which
/// the notebook tests hold exported files to), and jedi and parso at the versions Pyodide
/// ships (the editor's completion, `assist.py`, is tested with them), from PyPI into the
/// machine's python3.
pub fn ensure_pytest() -> Result<()> {
    let installed = Command::new("python3")
        .args([
            "-c",
            &format!(
                "import importlib.metadata as m; assert [m.version(name) for name in ('pytest', 'nbformat', 'jedi', 'parso')] == ['{}', '{}', '{}', '{}']",
                version_of(PYTEST),
                version_of(NBFORMAT),
                version_of(JEDI),
                version_of(PARSO)
            ),
        ])
        .output_if_ok()
        .is_some();
    if installed {
        println!("    already installed");
        return Ok(());
    }
    Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            PYTEST,
            NBFORMAT,
            JEDI,
            PARSO,
        ])
        .quiet()
        .run()
        .context(
            "could not install pytest, nbformat, jedi and parso (needs python3 with pip and network access to PyPI once)",
        )
}

const PYTEST: &str = "pytest==9.2.0";
const NBFORMAT: &str = "nbformat==5.10.4";
/// The versions in Pyodide 0.27.7's lock (`pyodide-lock.json`), which the worker loads.
const JEDI: &str = "jedi==0.19.1";
const PARSO: &str = "parso==0.8.4";

fn version_of(requirement: &str) -> &str {
    requirement
        .split_once("==")
        .map_or(requirement, |(_, version)| version)
}

/// Debian's Chromium and ChromeDriver, which the end-to-end tests drive.
pub fn ensure_chromium() -> Result<()> {
    let wanted = ["/usr/bin/chromium", "/usr/bin/chromedriver"];
    if wanted.iter().all(|path| Path::new(path).exists()) {
        println!("    already installed");
        return Ok(());
    }
    apt_install(
        &["chromium", "chromium-driver"],
        "the browser tests need Debian's Chromium",
    )
}

/// PostgreSQL's server programs (`initdb`, `pg_ctl`), with which the backend's tests start
/// throwaway clusters: on PATH, or where Debian's `postgresql` package puts them
/// (`/usr/lib/postgresql/<version>/bin`); installed from Debian's packages when missing.
pub fn ensure_postgres() -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(bin) = postgres_bin::find(Path::new(postgres_bin::DEBIAN_LIB), &path) {
        println!("    already installed ({})", bin.display());
        return Ok(());
    }
    apt_install(&["postgresql"], "the storage tests need PostgreSQL 14+")?;
    postgres_bin::find(Path::new(postgres_bin::DEBIAN_LIB), &path)
        .map(|_| ())
        .context("postgresql was installed, but initdb and pg_ctl are still not found")
}

/// Installs Debian `packages` with apt (as root; otherwise says `why` and the command).
fn apt_install(packages: &[&str], why: &str) -> Result<()> {
    let is_root = Command::new("id")
        .args(["-u"])
        .output_if_ok()
        .is_some_and(|uid| uid.trim() == "0");
    let names = packages.join(" ");
    if !is_root {
        bail!("{why}: run `sudo apt-get update && sudo apt-get install -y {names}`");
    }
    Command::new("apt-get")
        .args(["update"])
        .quiet()
        .run()
        .context("apt-get update failed (needs network access to Debian's package mirror)")?;
    Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .quiet()
        .run()
        .with_context(|| format!("could not install {names} from Debian's packages"))
}

/// The wasm-bindgen version in Cargo.lock, which the CLI must match exactly.
fn wasm_bindgen_version(root: &Path) -> Result<String> {
    let lock_path = root.join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("could not read {}", lock_path.display()))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(version) = lines
                .next()
                .and_then(|next| next.trim().strip_prefix("version = \""))
                .and_then(|rest| rest.strip_suffix('"'))
        {
            return Ok(version.to_owned());
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}

fn reports_version(binary: &Path, version: &str) -> bool {
    binary.exists()
        && Command::new(binary)
            .args(["--version"])
            .output_if_ok()
            .is_some_and(|output| output.split_whitespace().any(|word| word == version))
}
