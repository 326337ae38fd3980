//! Timed, named set-up steps and a small wrapper around child processes whose failures
//! say what was run and what it printed, instead of a raw error.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Runs one named step, printing what it does and how long it took.
pub fn step<T>(name: &str, action: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("==> {name}");
    let started = Instant::now();
    let value = action().with_context(|| format!("step \"{name}\" failed"))?;
    println!(
        "    {name}: done in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(value)
}

/// A child process to run to completion.
#[derive(Debug)]
pub struct Command {
    inner: std::process::Command,
    display: String,
    quiet: bool,
}

impl Command {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let program = program.as_ref();
        Self {
            inner: std::process::Command::new(program),
            display: program.to_string_lossy().into_owned(),
            quiet: false,
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            let arg = arg.as_ref();
            self.display.push(' ');
            self.display.push_str(&arg.to_string_lossy());
            self.inner.arg(arg);
        }
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.inner.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.inner.current_dir(dir);
        self
    }

    /// Captures the output and shows it only if the command fails.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Runs the command; a non-zero exit is an error naming the command (and, when quiet,
    /// the tail of what it printed).
    pub fn run(mut self) -> Result<()> {
        if self.quiet {
            let output = self
                .inner
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("could not start `{}`", self.display))?;
            if !output.status.success() {
                bail!(
                    "`{}` failed ({}):\n{}{}",
                    self.display,
                    output.status,
                    tail(&output.stdout),
                    tail(&output.stderr)
                );
            }
        } else {
            let status = self
                .inner
                .status()
                .with_context(|| format!("could not start `{}`", self.display))?;
            if !status.success() {
                bail!("`{}` failed ({status})", self.display);
            }
        }
        Ok(())
    }

    /// Runs the command and returns its standard output, or `None` if it could not run or failed.
    pub fn output_if_ok(mut self) -> Option<String> {
        let output = self
            .inner
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The last lines of a command's output, enough to see why it failed.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(25);
    lines[start..]
        .iter()
        .map(|line| format!("    {line}\n"))
        .collect()
}

/// `PATH` with the given folders in front.
pub fn path_with(folders: &[std::path::PathBuf]) -> OsString {
    let existing = std::env::var_os("PATH").unwrap_or_default();
    let mut all: Vec<std::path::PathBuf> = folders.to_vec();
    all.extend(std::env::split_paths(&existing));
    std::env::join_paths(all).unwrap_or(existing)
}
