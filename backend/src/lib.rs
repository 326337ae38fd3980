//! The workbench server. It serves the frontend build and the Pyodide files with the headers
//! a cross-origin isolated page needs, answers `/health`, and will hold the telemetry and
//! statistics API. It never runs Python: Python runs in the visitor's browser.
//!
//! `Application::build` binds the listener (port 0 picks a free one, for tests), and
//! [`app`] builds the router so tests can also call it in-process.

mod config;
mod error;
pub mod package_index;
mod static_files;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::routing::{any, get};
use axum::{Json, Router};
use tokio::net::TcpListener;

pub use crate::config::Config;
use crate::error::AppError;
use crate::package_index::PackageIndex;

/// State shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// When the server started, for the uptime in `/health` (and later `/api/stats`).
    started: Instant,
    /// The configuration, for the folders the static routes serve.
    config: Config,
    /// The wheelhouse as micropip's package index; read once at start.
    index: PackageIndex,
}

impl AppState {
    /// Reads what the server serves from disk (the wheelhouse index) once.
    pub fn new(config: Config) -> Result<Self> {
        let index = PackageIndex::load(&config.public_dir)?;
        Ok(Self {
            inner: Arc::new(Shared {
                started: Instant::now(),
                config,
                index,
            }),
        })
    }

    fn index(&self) -> &PackageIndex {
        &self.inner.index
    }

    fn listen_addr(&self) -> SocketAddr {
        self.inner.config.addr
    }
}

/// The whole HTTP surface of the server.
pub fn app(state: AppState) -> Router {
    let config = &state.inner.config;
    let api = Router::new()
        .route("/health", get(health))
        .route("/pypi/simple/{name}/", get(package_index::project))
        .route("/pypi/simple/{name}", get(package_index::project))
        .route("/api/{*rest}", any(api_not_found))
        .route("/pypi/{*rest}", any(api_not_found))
        .with_state(state.clone());
    static_files::wrap(static_files::routes(config).merge(api))
}

async fn health(State(state): State<AppState>) -> Json<protocol::Health> {
    Json(protocol::Health {
        status: "ok".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: state.inner.started.elapsed().as_secs(),
    })
}

async fn api_not_found(uri: axum::http::Uri) -> AppError {
    AppError::NotFound(format!("nothing at {}", uri.path()))
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    /// Binds the configured address and builds the router.
    pub async fn build(config: Config) -> Result<Self> {
        if !config.dist_dir.join("index.html").exists() {
            tracing::warn!(
                "{} has no index.html: build the frontend with `cargo xtask build`",
                config.dist_dir.display()
            );
        }
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("could not listen on {}", config.addr))?;
        let state = AppState::new(config)?;
        tracing::info!(
            "package index: {} projects from the wheelhouse",
            state.index().len()
        );
        let router = app(state);
        Ok(Self { listener, router })
    }

    /// The address actually bound (useful when the configured port was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("the server failed")
    }
}
