//! The Python runtime as the page uses it: the panels, the notebook and `window.workbench`
//! all go through [`Session`], which records every operation that usage statistics count
//! (runs, installs, file loads, resets) — the runtime itself knows nothing of telemetry.

use leptos::prelude::*;
use pyodide_loader::{
    ExecResult, ExecuteRequest, Failure, FileLoad, FileSource, InstallResult, LiveOutput,
    LoaderError, ResetResult, Runtime,
};

use crate::telemetry::{self, Activity, ActivityKind, TelemetryStatus};

/// A cheap copyable handle on the page's runtime (none if the worker could not start).
#[derive(Debug, Clone, Copy)]
pub struct Session {
    runtime: StoredValue<Option<Runtime>, LocalStorage>,
    telemetry: TelemetryStatus,
    /// Bumped after every run and reset, whoever asked for it (a cell, a panel,
    /// `window.workbench`): the user's names may have changed.
    names_changed: RwSignal<u64>,
}

impl Session {
    pub fn new(runtime: Option<Runtime>, telemetry: TelemetryStatus) -> Self {
        Self {
            runtime: StoredValue::new_local(runtime),
            telemetry,
            names_changed: RwSignal::new(0),
        }
    }

    /// Changes after every run and reset (see `names_changed`).
    pub fn names_changed(self) -> u64 {
        self.names_changed.get()
    }

    /// The runtime, for what statistics do not count (listing files and packages, Stop).
    pub fn runtime(self) -> Option<Runtime> {
        self.runtime.get_value()
    }

    fn require(self) -> Result<Runtime, LoaderError> {
        self.runtime
            .get_value()
            .ok_or_else(|| LoaderError::RuntimeFailed("Python is not available".to_owned()))
    }

    /// Runs code, and records the run (its code's hash, never its code).
    pub async fn execute(self, request: ExecuteRequest) -> Result<ExecResult, LoaderError> {
        let code = request.code.clone();
        let result = self.require()?.execute(request).await?;
        self.record_run(code, &result);
        Ok(result)
    }

    /// [`Session::execute`] for a person at the page: `on_output` hears the output as the
    /// code makes it, and its `input()` as [`LiveOutput::Input`], to answer with
    /// [`pyodide_loader::Runtime::answer_input`].
    pub async fn execute_interactive(
        self,
        request: ExecuteRequest,
        on_output: impl Fn(LiveOutput) + 'static,
    ) -> Result<ExecResult, LoaderError> {
        let code = request.code.clone();
        let result = self
            .require()?
            .execute_interactive(request, on_output)
            .await?;
        self.record_run(code, &result);
        Ok(result)
    }

    fn record_run(self, code: String, result: &ExecResult) {
        self.names_changed.update(|count| *count += 1);
        self.record(Activity {
            kind: ActivityKind::Execution,
            code: Some(code),
            duration_ms: Some(result.duration_ms),
            success: Some(result.success),
            error_type: result.failure().map(|failure| match failure {
                Failure::Exception(class) => class,
                Failure::Interrupted => "Interrupted".to_owned(),
                Failure::TimedOut { .. } => pyodide_loader::message::TIMEOUT_ERROR.to_owned(),
            }),
            stdout_bytes: Some(result.stdout.len() as u64),
            stderr_bytes: Some(result.stderr.len() as u64),
            ..Activity::default()
        });
    }

    /// Puts a file into Python's data folder: a `File`/`Blob` is kept in place, bytes move to
    /// the worker. A name that is not a path inside the folder is answered like any refused
    /// file.
    pub async fn load_file(self, name: &str, source: FileSource) -> Result<FileLoad, LoaderError> {
        let size = match &source {
            FileSource::Bytes(bytes) => f64::from(bytes.byte_length()),
            FileSource::Kept(blob) => blob.size(),
        };
        let answer = match self.require()?.load_file(name, source).await {
            Ok(answer) => answer,
            Err(LoaderError::BadFileName(reason)) => FileLoad::refused(name, reason),
            Err(error) => return Err(error),
        };
        self.record(Activity {
            kind: ActivityKind::FileLoad,
            success: Some(answer.success),
            file_ext: file_extension(name),
            file_bytes: Some(size_bucket(size as u64)),
            ..Activity::default()
        });
        Ok(answer)
    }

    /// Installs a package, and records the install.
    pub async fn install(self, package: &str) -> Result<InstallResult, LoaderError> {
        let started = js_sys::Date::now();
        let answer = self.require()?.install(package).await?;
        self.record(Activity {
            kind: ActivityKind::Install,
            success: Some(answer.success),
            duration_ms: Some(js_sys::Date::now() - started),
            package: Some(answer.package.clone()),
            version: answer.version.clone(),
            ..Activity::default()
        });
        Ok(answer)
    }

    /// Installs again a package from an earlier visit: not a new install, so not recorded.
    pub async fn reinstall(self, package: &str) -> Result<InstallResult, LoaderError> {
        self.require()?.install(package).await
    }

    /// Removes the user's variables, and records the reset.
    pub async fn reset(self) -> Result<ResetResult, LoaderError> {
        let answer = self.require()?.reset().await?;
        self.names_changed.update(|count| *count += 1);
        self.record(Activity {
            kind: ActivityKind::Reset,
            success: Some(answer.success),
            ..Activity::default()
        });
        Ok(answer)
    }

    /// Records that Python was restarted (on request, or because a run would not stop).
    pub fn record_restart(self) {
        self.record(Activity {
            kind: ActivityKind::Restart,
            ..Activity::default()
        });
    }

    /// In the next task, after the answer reached whoever waits for it: recording (hash,
    /// IndexedDB write, status line) cost each run about a millisecond before.
    fn record(self, activity: Activity) {
        if activity.kind == ActivityKind::Install
            && activity.success == Some(true)
            && let Some(package) = &activity.package
        {
            super::saved_state::remember_installed(package.clone());
        }
        let telemetry = self.telemetry;
        set_timeout(
            move || telemetry::record(telemetry, activity),
            std::time::Duration::ZERO,
        );
    }
}

/// A file's extension, lowercased, for statistics (never its name); `None` for odd ones.
/// A file's size as usage statistics see it: the power of two at or above it (at least 1 KiB,
/// at most the 16 GiB the server accepts), so a size never identifies a file.
fn size_bucket(bytes: u64) -> u64 {
    bytes
        .max(1024)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX)
        .min(protocol::telemetry::MAX_BYTES)
}

fn file_extension(name: &str) -> Option<String> {
    name.rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .filter(|extension| {
            !extension.is_empty()
                && extension.len() <= 16
                && extension.chars().all(|c| c.is_ascii_alphanumeric())
        })
}
