//! The workbench server binary: parse the configuration, bind, serve until Ctrl-C.

use std::process::ExitCode;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use backend::storage::CodeKeyAdopted;
use backend::storage::moving::{self, Moved, Progress};
use backend::{Application, Config};
use clap::{Parser, Subcommand};

/// The server's flags, or a one-off task.
#[derive(Parser)]
#[command(
    name = "backend",
    about = "Serves the Pyodide Workbench",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Subcommand)]
enum Task {
    /// Copy a single server's history from its SQLite store into PostgreSQL.
    ///
    /// Every event with its original time, address prefix and keyed code hash, the audit
    /// log, the code-hash key, and the admin token if the database has none. Safe to run
    /// again (each event is kept once) and while replicas serve the database.
    MoveStore {
        /// The SQLite store: `data/events.sqlite3`, or the data directory that holds it (its
        /// `code-key.secret` and `admin-token` are read from there too).
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database, as replicas' `--database-url` (libpq's TLS parameters
        /// work here too).
        #[arg(long, env = "WORKBENCH_DATABASE_URL", hide_env_values = true)]
        to: String,
    },
}

/// A failure to start (a bad flag's value, a port taken, a database refusing) is one line on
/// stderr with its causes, and a non-zero exit.
#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let done = match cli.task {
        None => serve(cli.config).await,
        Some(Task::MoveStore { from, to }) => move_store(&from, &to).await,
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs at `default_filter` unless `RUST_LOG` says otherwise.
fn log(
    default_filter: &str,
) -> tracing_subscriber::fmt::SubscriberBuilder<
    tracing_subscriber::fmt::format::DefaultFields,
    tracing_subscriber::fmt::format::Format,
    tracing_subscriber::EnvFilter,
> {
    tracing_subscriber::fmt().with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| default_filter.into()),
    )
}

async fn serve(config: Config) -> Result<()> {
    log("info,tower_http=warn").init();
    let application = Application::build(config).await?;
    println!(
        "Pyodide Workbench is serving on http://{}/",
        application.local_addr()
    );
    application.run_until(shutdown_signal()).await?;
    tracing::info!("server stopped");
    Ok(())
}

/// `backend move-store`: a progress line at most every two seconds on stderr, and what was
/// done on stdout.
async fn move_store(from: &std::path::Path, to: &str) -> Result<()> {
    // Its stdout is the report: warnings go to stderr with the progress.
    log("warn").with_writer(std::io::stderr).init();
    eprintln!(
        "moving {} into PostgreSQL …",
        moving::source_file(from)?.display()
    );
    let mut last_line = Instant::now();
    let moved = moving::move_store(from, to, |progress| {
        if last_line.elapsed() >= Duration::from_secs(2) {
            last_line = Instant::now();
            eprintln!("{}", progress_line(progress));
        }
    })
    .await?;
    eprintln!("{}", progress_line(&moved.progress));
    println!("{}", summary(&moved));
    Ok(())
}

fn progress_line(progress: &Progress) -> String {
    let percent = if progress.total == 0 {
        100.0
    } else {
        progress.read as f64 * 100.0 / progress.total as f64
    };
    format!(
        "  {} of {} events ({percent:.0}%), {} new, {} events/s",
        thousands(progress.read),
        thousands(progress.total),
        thousands(progress.new),
        thousands(progress.per_second() as u64),
    )
}

fn summary(moved: &Moved) -> String {
    let progress = &moved.progress;
    let (code_key_file, code_key) = &moved.code_key;
    let code_key = match code_key {
        Some(CodeKeyAdopted::AsTheKey) => "copied: it is the database's key now".to_owned(),
        Some(CodeKeyAdopted::AlreadyTheKey) => "the database already has it".to_owned(),
        Some(CodeKeyAdopted::AsAFormerKey) => "kept beside the database's own key (look-ups \
            ask with both; the dashboard lists a code under each)"
            .to_owned(),
        None => format!(
            "none at {}: look-ups of the moved code will find nothing",
            code_key_file.display()
        ),
    };
    let (admin_token_file, admin_token) = &moved.admin_token;
    let admin_token = match admin_token {
        Some(true) => format!(
            "copied from {}: replicas started without --admin-token accept it",
            admin_token_file.display()
        ),
        Some(false) => "the database has one already, kept".to_owned(),
        None => format!(
            "none at {} (the server was given --admin-token): give replicas theirs",
            admin_token_file.display()
        ),
    };
    format!(
        "moved {} events from {} in {:.1} s ({} events/s)\n  \
         new: {} (each with its audit log row); already in the database: {}\n  \
         finished hours with new events, summarised again: {}\n  \
         code-hash key: {code_key}\n  \
         admin token: {admin_token}",
        thousands(progress.read),
        moved.source.display(),
        progress.elapsed.as_secs_f64(),
        thousands(progress.per_second() as u64),
        thousands(progress.new),
        thousands(progress.read - progress.new),
        moved.hours_summarised,
    )
}

/// `1234567` as `1,234,567`.
fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Resolves on Ctrl-C or SIGTERM, so the server finishes the requests in flight and exits cleanly.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!("could not listen for Ctrl-C: {error}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!("could not listen for SIGTERM: {error}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
