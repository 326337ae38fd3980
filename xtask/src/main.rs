//! `cargo xtask`: the workbench's set-up, build, run and test commands.
//!
//! Every command first runs the idempotent set-up (tools, Pyodide assets, wheelhouse), so a
//! newcomer needs only `cargo xtask run` or `cargo xtask test`. Slow things are cached under
//! one folder (`WORKBENCH_CACHE_DIR`, default `~/.cache/pyodide-workbench`) and skipped when
//! already right, so a second run makes no network requests.

mod assets;
#[cfg(test)]
mod cycles;
mod lock;
mod manifest;
// The backend's own search for PostgreSQL's programs, shared as a file (std only).
#[path = "../../backend/src/testing/postgres_bin.rs"]
mod postgres_bin;
mod pure_wheel;
mod step;
mod tools;
mod wheelhouse;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::step::{Command, step};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Set up, build, run and test the Pyodide Workbench"
)]
struct Cli {
    /// Where downloads and built tools are cached between runs.
    #[arg(long, env = "WORKBENCH_CACHE_DIR", global = true)]
    cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install the tools and fetch, verify and lay out the Pyodide assets and wheelhouse.
    Setup,
    /// Set up, then build the frontend with Trunk into `dist/`.
    Build,
    /// Set up, build, and serve the workbench (extra arguments go to the server). `%pip
    /// install` reaches the public Python package index through the server's upstream
    /// mirror unless `--no-upstream` (or the server's own `--upstream-index`) says otherwise.
    Run {
        /// Serve only the wheelhouse: no upstream index (the server binary's own default).
        #[arg(long)]
        no_upstream: bool,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        server_args: Vec<String>,
    },
    /// Benchmark the server: ingest throughput and latency next to `/health`, and, over a
    /// seeded store, the statistics at 1 and 16 clients while ingest runs and ingest with
    /// live dashboards open (release build; figures in `target/release/server-bench.json`).
    BenchServer {
        /// Seconds of load for each of `/health` and ingest.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Events to seed over 30 days, plus a tenth as many in the current hour, for the
        /// statistics under load (0 skips it).
        #[arg(long, default_value_t = 1_000_000)]
        seed_events: usize,
    },
    /// Benchmark the workbench against plain Pyodide in headless Chromium, and the server;
    /// writes `BENCHMARKS.md` and `benchmarks.json` (release build).
    Bench {
        /// Alternating runs of each page (each a cold and a warm visit).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Set up (including Chromium), check formatting and lints, build, and run every test.
    Test {
        /// Extra arguments for `cargo test` (for example a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_test_args: Vec<String>,
    },
}

/// The upstream index `cargo xtask run` mirrors by default: the public Python package index.
const PUBLIC_INDEX: &str = "https://pypi.org/simple";

/// The server's arguments for `cargo xtask run`: `--upstream-index` [`PUBLIC_INDEX`] added
/// when `mirror` and the arguments do not name an upstream already.
fn with_upstream(mut server_args: Vec<String>, mirror: bool) -> Vec<String> {
    let named = server_args
        .iter()
        .any(|arg| arg == "--upstream-index" || arg.starts_with("--upstream-index="));
    if mirror && !named {
        server_args.extend(["--upstream-index".to_owned(), PUBLIC_INDEX.to_owned()]);
    }
    server_args
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nerror: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let root = workspace_root();
    let cache = match cli.cache_dir {
        Some(cache) => cache,
        None => default_cache_dir()?,
    };
    let started = std::time::Instant::now();
    match cli.command {
        Task::Setup => {
            setup(&root, &cache)?;
        }
        Task::Build => {
            let tools = setup(&root, &cache)?;
            build_frontend(&root, &tools)?;
        }
        Task::Run {
            no_upstream,
            server_args,
        } => {
            let tools = setup(&root, &cache)?;
            build_frontend(&root, &tools)?;
            let upstream_set = std::env::var_os("WORKBENCH_UPSTREAM_INDEX").is_some();
            let server_args = with_upstream(server_args, !no_upstream && !upstream_set);
            println!("==> starting the server (Ctrl-C stops it)");
            Command::new("cargo")
                .args(["run", "--quiet", "--release", "--package", "backend", "--"])
                .args(server_args)
                .current_dir(&root)
                .run()?;
        }
        Task::BenchServer {
            seconds,
            seed_events,
        } => {
            step("build the server and the benchmark (release)", || {
                Command::new("cargo")
                    .args([
                        "build",
                        "--release",
                        "--package",
                        "backend",
                        "--bin",
                        "backend",
                        "--example",
                        "bench",
                    ])
                    .current_dir(&root)
                    .run()
            })?;
            let release = root.join("target").join("release");
            let server_json = release.join("server-bench.json");
            step("benchmark", || {
                Command::new(release.join("examples").join("bench"))
                    .args([release.join("backend").as_os_str()])
                    .args([seconds.to_string(), seed_events.to_string()])
                    .args([server_json.as_os_str()])
                    .current_dir(&root)
                    .run()
            })?;
            println!("figures: {}", server_json.display());
        }
        Task::Bench { runs } => {
            let tools = setup(&root, &cache)?;
            step(
                "Chromium and ChromeDriver from Debian",
                tools::ensure_chromium,
            )?;
            build_frontend(&root, &tools)?;
            step(
                "build the server, its benchmark and the browser benchmark (release)",
                || {
                    Command::new("cargo")
                        .args([
                            "build",
                            "--release",
                            "-p",
                            "backend",
                            "--bin",
                            "backend",
                            "--example",
                            "bench",
                        ])
                        .args(["-p", "tests", "--example", "browser_bench"])
                        .current_dir(&root)
                        .run()
                },
            )?;
            let release = root.join("target").join("release");
            let server_json = release.join("server-bench.json");
            step("server benchmark", || {
                Command::new(release.join("examples").join("bench"))
                    .args([release.join("backend").as_os_str()])
                    .args(["5", "1000000"])
                    .args([server_json.as_os_str()])
                    .current_dir(&root)
                    .run()
            })?;
            step("browser benchmark", || {
                Command::new(release.join("examples").join("browser_bench"))
                    .args([runs.to_string()])
                    .args([server_json.as_os_str()])
                    .current_dir(&root)
                    .run()
            })?;
        }
        Task::Test { cargo_test_args } => {
            let tools = setup(&root, &cache)?;
            step(
                "Chromium and ChromeDriver from Debian",
                tools::ensure_chromium,
            )?;
            step("pytest (PyPI)", tools::ensure_pytest)?;
            step(
                "PostgreSQL from Debian (the storage and replica tests)",
                tools::ensure_postgres,
            )?;
            step("cargo fmt --check", || {
                Command::new("cargo")
                    .args(["fmt", "--all", "--check"])
                    .current_dir(&root)
                    .run()
            })?;
            step("cargo clippy", || {
                Command::new("cargo")
                    .args([
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ])
                    .current_dir(&root)
                    .run()
            })?;
            step("pytest: the Python harness", || {
                Command::new("python3")
                    .args([
                        "-m",
                        "pytest",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        "pyodide-loader/python/tests",
                    ])
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .current_dir(&root)
                    .run()
            })?;
            build_frontend(&root, &tools)?;
            step("cargo test", || {
                Command::new("cargo")
                    .args(["test", "--workspace"])
                    .args(&cargo_test_args)
                    .current_dir(&root)
                    .run()
            })?;
        }
    }
    println!("==> all done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Everything the other commands need: tools on PATH and the assets in `public/`.
fn setup(root: &Path, cache: &Path) -> Result<tools::Tools> {
    let manifest = manifest::Manifest::load(root)?;
    println!("==> set-up (cache: {})", cache.display());
    let tools = tools::ensure_all(root, cache)?;
    assets::ensure_pyodide(root, cache, &manifest)?;
    assets::ensure_precompiled(root, &manifest)?;
    wheelhouse::ensure_wheelhouse(root, cache, &manifest)?;
    assets::ensure_npm_files(root, cache, "duckdb", "SQL engine", &manifest.sql_engine)?;
    for (folder, files) in &manifest.chart_renderers {
        assets::ensure_npm_files(root, cache, folder, "chart renderer", files)?;
    }
    assets::ensure_editor(root)?;
    assets::join_worker(root)?;
    Ok(tools)
}

fn build_frontend(root: &Path, tools: &tools::Tools) -> Result<()> {
    // Trunk runs cargo offline (Trunk.toml), so fetch the crates first on a fresh machine.
    step("cargo fetch", || {
        Command::new("cargo")
            .args(["fetch", "--locked"])
            .current_dir(root)
            .quiet()
            .run()
    })?;
    step("trunk build --release", || {
        Command::new(tools.trunk())
            .args(["build", "--release"])
            .env("PATH", tools.path_env())
            .current_dir(root)
            .run()
    })
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn default_cache_dir() -> Result<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(xdg).join("pyodide-workbench"));
    }
    let home = std::env::var_os("HOME")
        .context("neither WORKBENCH_CACHE_DIR, XDG_CACHE_HOME nor HOME is set: pass --cache-dir")?;
    Ok(PathBuf::from(home).join(".cache").join("pyodide-workbench"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn run_mirrors_the_public_index_unless_told_otherwise() {
        assert_eq!(
            with_upstream(args(&["--addr", "0.0.0.0:9000"]), true),
            args(&["--addr", "0.0.0.0:9000", "--upstream-index", PUBLIC_INDEX])
        );
        // --no-upstream (or the variable already set): the server's own default, none.
        assert_eq!(with_upstream(Vec::new(), false), Vec::<String>::new());
        // An upstream named on the command line wins.
        let own = args(&["--upstream-index=http://127.0.0.1:9/simple"]);
        assert_eq!(with_upstream(own.clone(), true), own);
        let cli = Cli::try_parse_from(["cargo xtask", "run", "--no-upstream", "--", "--addr", "x"])
            .expect("the flag parses");
        assert!(matches!(
            cli.command,
            Task::Run { no_upstream: true, ref server_args } if server_args == &args(&["--addr", "x"])
        ));
    }
}
