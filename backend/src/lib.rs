//! The workbench server. It serves the frontend build and the Pyodide files with the headers
//! a cross-origin isolated page needs, micropip's package index, and the telemetry pipeline:
//! hashed events in, durable storage, statistics out, admin-only details. It never runs
//! Python: Python runs in the visitor's browser.
//!
//! `Application::build` binds the listener (port 0 picks a free one, for tests), and
//! [`app`] builds the router so tests can also call it in-process.

mod config;
mod features;
mod http;
pub mod storage;
#[cfg(feature = "test-support")]
pub mod testing;
mod util;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
pub use anyhow::Result;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

pub use crate::config::Config;
use crate::features::admin::AdminAuth;
use crate::features::package_index::PackageIndex;
/// The public figures are computed at most this often.
pub use crate::features::snapshot::AT_MOST_EVERY as PUBLIC_FIGURES_AT_MOST_EVERY;
use crate::features::{admin, live, metrics, package_index, snapshot, stats, telemetry, upstream};
use crate::http::error::AppError;
use crate::http::{connections, static_files};
pub use crate::storage::{EventStore, NewEvent, PgStore, ROLLUP_QUIET, Secret, SqliteStore};
pub use crate::util::clock::now_ms;
use crate::util::privacy::{CodeKeyer, DailySalt};
use crate::util::rate_limit::RateLimiter;
use crate::util::{clock, counters, secrets};

/// State shared by all handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    /// When the server started, for the uptime in `/health` and the statistics.
    started: Instant,
    /// The configuration, for the folders served and the privacy settings.
    config: Config,
    /// The wheelhouses as micropip's package index, with the optional upstream.
    index: PackageIndex,
    /// Whether a Pyodide distribution is laid out to serve (the legacy `pyodideReady`).
    serves_pyodide: bool,
    /// Where events are kept.
    store: Arc<dyn EventStore>,
    /// Keys code hashes, so a leaked database cannot be matched against known snippets.
    keyer: CodeKeyer,
    /// Gives visitor ids that cannot be linked across days.
    salt: DailySalt,
    /// Per-client limit on telemetry requests.
    limiter: RateLimiter,
    /// The admin token, the open admin sessions and the login limits.
    admin: AdminAuth,
    /// Tells live dashboards that new events arrived (through this replica, or with
    /// PostgreSQL through any).
    changes: broadcast::Sender<()>,
    /// Counts for `/metrics`.
    counters: counters::Counters,
    /// The public figures, computed at most once a second.
    public: snapshot::PublicSnapshot,
    /// Live dashboards: one computation per range and change, shared by its streams.
    live: live::LiveHub,
}

impl AppState {
    /// Opens the embedded store and reads what the server serves from disk, once. Returns
    /// the state and, when the admin token was just made, that token (to be shown once).
    /// A configured database URL is ignored here: [`AppState::open`] connects to it.
    pub fn new(config: Config) -> Result<(Self, Option<String>)> {
        let store = SqliteStore::open(&config.data_dir).with_context(|| {
            format!(
                "could not open the event store in {}",
                config.data_dir.display()
            )
        })?;
        let keyer = CodeKeyer::load_or_create(&config.data_dir)?;
        let (changes, _) = broadcast::channel(16);
        let admin = match &config.admin_token {
            Some(token) if !token.trim().is_empty() => {
                (AdminAuth::new(token, "WORKBENCH_ADMIN_TOKEN")?, None)
            }
            _ => {
                let path = config.data_dir.join(secrets::ADMIN_TOKEN_FILE);
                let (token, created) = secrets::read_or_create(&path)?;
                let admin = AdminAuth::new(&token, &path.display().to_string())?;
                (admin, created.then_some(token))
            }
        };
        Self::assemble(config, Arc::new(store), keyer, admin, None, changes)
    }

    /// [`AppState::new`], or with `--database-url` the PostgreSQL store, whose database
    /// holds everything replicas share.
    pub async fn open(config: Config) -> Result<(Self, Option<String>)> {
        let Some(url) = config.database_url.clone() else {
            return Self::new(config);
        };
        let (changes, _) = broadcast::channel(16);
        let store = PgStore::connect(&url, changes.clone())
            .await
            .context("could not open the PostgreSQL event store")?;
        let (secret, _) = store
            .deployment_secret(Secret::CodeKey)
            .await
            .context("could not read the code-hash key from PostgreSQL")?;
        let keyer = CodeKeyer::from_secret(&secret);
        // Every replica must accept the same token: without a configured one, the first
        // replica makes it and keeps it in the database.
        let admin = match &config.admin_token {
            Some(token) if !token.trim().is_empty() => {
                (AdminAuth::new(token, "WORKBENCH_ADMIN_TOKEN")?, None)
            }
            _ => {
                let (token, created) = store
                    .deployment_secret(Secret::AdminToken)
                    .await
                    .context("could not read the admin token from PostgreSQL")?;
                let admin = AdminAuth::new(&token, "the database (deployment_secrets)")?;
                (admin, created.then_some(token))
            }
        };
        Self::assemble(
            config,
            Arc::new(store.clone()),
            keyer,
            admin,
            Some(store),
            changes,
        )
    }

    fn assemble(
        config: Config,
        store: Arc<dyn EventStore>,
        keyer: CodeKeyer,
        (admin, new_token): (AdminAuth, Option<String>),
        shared: Option<PgStore>,
        changes: broadcast::Sender<()>,
    ) -> Result<(Self, Option<String>)> {
        let upstream = config
            .upstream_index
            .as_deref()
            .map(upstream::Upstream::new)
            .transpose()?;
        let index = PackageIndex::load(&config.public_dir, &config.data_dir, upstream)?;
        let (admin, salt) = match shared {
            Some(store) => (admin.shared_in(store.clone()), DailySalt::shared(store)?),
            None => (admin, DailySalt::new()?),
        };
        let serves_pyodide = serves_pyodide(&config.public_dir);
        let limiter = RateLimiter::new(config.ingest_rate, config.ingest_burst);
        let state = Self {
            inner: Arc::new(Shared {
                started: Instant::now(),
                index,
                serves_pyodide,
                store,
                keyer,
                salt,
                limiter,
                admin,
                changes,
                counters: counters::Counters::default(),
                public: snapshot::PublicSnapshot::default(),
                live: live::LiveHub::default(),
                config,
            }),
        };
        Ok((state, new_token))
    }

    fn config(&self) -> &Config {
        &self.inner.config
    }

    fn index(&self) -> &PackageIndex {
        &self.inner.index
    }

    fn store(&self) -> &Arc<dyn EventStore> {
        &self.inner.store
    }

    fn keyer(&self) -> &CodeKeyer {
        &self.inner.keyer
    }

    fn salt(&self) -> &DailySalt {
        &self.inner.salt
    }

    fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    fn serves_pyodide(&self) -> bool {
        self.inner.serves_pyodide
    }

    fn counters(&self) -> &counters::Counters {
        &self.inner.counters
    }

    fn admin(&self) -> &AdminAuth {
        &self.inner.admin
    }

    fn public(&self) -> &snapshot::PublicSnapshot {
        &self.inner.public
    }

    fn live(&self) -> &live::LiveHub {
        &self.inner.live
    }

    fn subscribe(&self) -> broadcast::Receiver<()> {
        self.inner.changes.subscribe()
    }

    fn notify_change(&self) {
        // Nobody listening is fine.
        let _ = self.inner.changes.send(());
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The whole HTTP surface of the server.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// [`app`] with `extra` routes beside the API's, under the same layers (JSON errors, panics
/// caught): for tests that need a handler the product does not have.
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    let config = &state.inner.config;
    let api = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/api/telemetry",
            post(telemetry::ingest)
                .layer(DefaultBodyLimit::max(protocol::telemetry::MAX_BATCH_BYTES)),
        )
        .route("/api/stats", get(stats::legacy))
        .route("/api/dashboard/stats", get(stats::dashboard))
        .route("/api/dashboard/lookup", post(stats::lookup))
        .route("/api/dashboard/live", get(stats::live))
        .route("/api/dashboard/export", get(stats::export))
        .route(
            "/api/dashboard/import",
            post(telemetry::import)
                .layer(DefaultBodyLimit::max(protocol::telemetry::MAX_BATCH_BYTES)),
        )
        .route("/api/admin/login", post(admin::login))
        .route("/api/admin/logout", post(admin::logout))
        .route("/pypi/simple/{name}/", get(package_index::project))
        .route("/pypi/simple/{name}", get(package_index::project))
        .route("/api/{*rest}", any(not_found))
        .route("/pypi/{*rest}", any(not_found))
        .route("/wheelhouse/{*filename}", get(package_index::wheel))
        // The folders themselves are no pages of the app either.
        .route("/api", any(not_found))
        .route("/api/", any(not_found))
        .route("/pypi", any(not_found))
        .route("/pypi/", any(not_found))
        .route("/wheelhouse", any(not_found))
        .route("/wheelhouse/", any(not_found))
        .route("/sw.js", get(static_files::service_worker))
        .merge(extra)
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state.clone());
    static_files::wrap(static_files::routes(config).merge(api))
}

/// `GET /health`: 200 whenever the server answers, with whether its database does. (A
/// database that is down stays a 200: every replica shares it, and a load balancer that took
/// them all out would take the page down too, which keeps working without it.)
async fn health(State(state): State<AppState>) -> Json<protocol::Health> {
    let reachable = state.store().reachable().await;
    Json(protocol::Health {
        status: protocol::HealthStatus::Ok,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_seconds: state.uptime().as_secs(),
        database: Some(if reachable {
            protocol::DatabaseHealth::Reachable
        } else {
            protocol::DatabaseHealth::Unreachable
        }),
    })
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::NotFound(format!("nothing at {}", uri.path()))
}

fn serves_pyodide(public_dir: &Path) -> bool {
    std::fs::read_dir(public_dir.join("pyodide")).is_ok_and(|versions| {
        versions
            .filter_map(Result::ok)
            .any(|version| version.path().join("pyodide.js").exists())
    })
}

/// A bound server, ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// Routes added by [`Application::with_routes`].
    extra: Router<AppState>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Application")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds the configured address, opens the store and builds the router.
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
        let kept_in = if config.database_url.is_some() {
            "the database's deployment_secrets table".to_owned()
        } else {
            config
                .data_dir
                .join(secrets::ADMIN_TOKEN_FILE)
                .display()
                .to_string()
        };
        let (state, new_token) = AppState::open(config).await?;
        if let Some(token) = new_token {
            println!("Admin token (shown once; kept in {kept_in}): {token}");
        }
        tracing::info!(
            "package index: {} projects from the wheelhouse",
            state.index().len()
        );
        Ok(Self {
            listener,
            state,
            extra: Router::new(),
        })
    }

    /// Serves `routes` too, as [`app_with`] does (for tests).
    pub fn with_routes(mut self, routes: Router<AppState>) -> Self {
        self.extra = self.extra.merge(routes);
        self
    }

    /// The address actually bound (useful when the configured port was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight. Old events
    /// are purged at start and every hour.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let retention = tokio::spawn(purge_old_events(self.state.clone()));
        let config = self.state.config();
        let limits = connections::Limits {
            max_connections: config.max_connections,
            header_timeout: config.header_timeout,
            body_timeout: config.body_timeout,
        };
        let router = app_with(self.state, self.extra);
        connections::serve(self.listener, router, limits, shutdown).await;
        retention.abort();
        Ok(())
    }
}

async fn purge_old_events(state: AppState) {
    let keep = i64::from(state.config().retention_days) * clock::DAY_MS;
    let mut every_hour = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        match state.store().purge_hourly(now_ms() - keep).await {
            Ok(None | Some(0)) => {}
            Ok(Some(purged)) => tracing::info!(
                "purged {purged} events older than {} days",
                state.config().retention_days
            ),
            Err(error) => tracing::error!("could not purge old events: {error}"),
        }
    }
}
