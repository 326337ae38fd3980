//! The server's configuration: every setting is a `--flag` with a `WORKBENCH_*` environment
//! variable and a default that works on a laptop.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Clone, Parser)]
#[command(name = "backend", about = "Serves the Pyodide Workbench", version)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "WORKBENCH_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The Trunk build of the frontend (`cargo xtask build` makes it).
    #[arg(long, env = "WORKBENCH_DIST_DIR", default_value = "dist")]
    pub dist_dir: PathBuf,
    /// Static assets made by set-up: `pyodide/` and `wheelhouse/` are served from here.
    #[arg(long, env = "WORKBENCH_PUBLIC_DIR", default_value = "public")]
    pub public_dir: PathBuf,
    /// Where events, secrets and the audit log are kept (with `--database-url`: only the
    /// admin token and the package cache).
    #[arg(long, env = "WORKBENCH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Keep events, rollups, the daily salt, the code-hash key, admin sessions and the audit
    /// log in PostgreSQL 14+ (`postgres://user:password@host:5432/workbench`) instead of the
    /// embedded SQLite, so several replicas can serve one deployment.
    #[arg(long, env = "WORKBENCH_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The admin token; without one, a token is made on first start and kept in the data
    /// directory (`admin-token`, readable only by its owner).
    #[arg(long, env = "WORKBENCH_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Keep full client addresses (an audit trail) instead of /24 and /48 prefixes.
    #[arg(long, env = "WORKBENCH_STORE_FULL_IP")]
    pub store_full_ip: bool,
    /// The address browsers reach the server at (`https://workbench.example.org`): wheel URLs
    /// in the package index are built on it, and cookie-signed admin requests must come from
    /// it. Without it, a trusted proxy's `X-Forwarded-Host`/`-Proto` or `Host` say it, and a
    /// direct client's `Host` only when it names this server.
    #[arg(long, env = "WORKBENCH_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<url::Url>,
    /// Proxies whose `X-Forwarded-For` is believed (comma-separated addresses).
    #[arg(long, env = "WORKBENCH_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<IpAddr>,
    /// Events older than this many days are deleted.
    #[arg(long, env = "WORKBENCH_RETENTION_DAYS", default_value_t = 90)]
    pub retention_days: u32,
    /// A PEP 691 JSON index (such as `https://pypi.org/simple`) asked for packages the
    /// wheelhouse lacks; wheels fetched from it are verified and kept in the data directory.
    #[arg(long, env = "WORKBENCH_UPSTREAM_INDEX")]
    pub upstream_index: Option<String>,
    /// Telemetry requests per second each client may send, on average.
    #[arg(long, env = "WORKBENCH_INGEST_RATE", default_value_t = 5.0)]
    pub ingest_rate: f64,
    /// Telemetry requests a client may send at once before the rate applies.
    #[arg(long, env = "WORKBENCH_INGEST_BURST", default_value_t = 50.0)]
    pub ingest_burst: f64,
    /// Open connections at most; when full, the oldest connection not in the middle of a
    /// request is closed to make room. Lowered at start to fit the process's file limit.
    #[arg(long, env = "WORKBENCH_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers; also how long a kept-alive
    /// connection may sit idle between requests.
    #[arg(long, env = "WORKBENCH_HEADER_TIMEOUT", default_value = "10", value_parser = seconds)]
    pub header_timeout: Duration,
    /// Seconds a client has to send a request's body once its headers are in.
    #[arg(long, env = "WORKBENCH_BODY_TIMEOUT", default_value = "15", value_parser = seconds)]
    pub body_timeout: Duration,
}

/// An http(s) origin, optionally with a trailing `/`: no path, query or user.
fn public_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|error| format!("{text:?} is not a URL: {error}"))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.path() != "/"
        || url.query().is_some()
        || !url.username().is_empty()
    {
        return Err(format!(
            "{text:?} must be http(s)://host[:port], without a path (the workbench is served at the root)"
        ));
    }
    Ok(url)
}

/// A positive number of seconds (fractions allowed), for the timeouts.
fn seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!("{text} s is not between 0 and a day"))
    }
}

impl Config {
    /// The defaults, for tests and embedding: as if started with no flags and no environment.
    pub fn with_defaults() -> Self {
        Self::parse_from(["backend"])
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Config")
            .field("addr", &self.addr)
            .field("dist_dir", &self.dist_dir)
            .field("public_dir", &self.public_dir)
            .field("data_dir", &self.data_dir)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "(set)"))
            .field("database_url", &self.database_url.as_ref().map(|_| "(set)"))
            .field("store_full_ip", &self.store_full_ip)
            .field(
                "public_url",
                &self.public_url.as_ref().map(url::Url::as_str),
            )
            .field("trusted_proxy", &self.trusted_proxy)
            .field("retention_days", &self.retention_days)
            .field("upstream_index", &self.upstream_index)
            .field("ingest_rate", &self.ingest_rate)
            .field("ingest_burst", &self.ingest_burst)
            .field("max_connections", &self.max_connections)
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .finish()
    }
}
