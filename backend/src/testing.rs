//! Test support (feature `test-support`), shared by this crate's integration tests and the
//! end-to-end tests in `tests/`: [`spawn_app`] starts the real server on a free port with
//! its own temporary data directory, and [`Client`] speaks HTTP/1.1 to it through hyper's
//! client (keep-alive, chunked bodies and streams included).

pub mod postgres;
pub mod postgres_bin;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Application, Config};

/// The admin token a test server accepts.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A running server; it stops when this is dropped.
#[derive(Debug)]
pub struct TestApp {
    /// Where it listens; [`TestApp::start_again`] comes back at the same address.
    pub address: SocketAddr,
    /// The server's data directory (events, secrets, audit log), removed when dropped.
    pub data: tempfile::TempDir,
    /// What the server was started with, for [`TestApp::start_again`].
    config: Config,
    /// Dropping or sending it shuts the server down.
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// A client for this server.
    pub fn client(&self) -> Client {
        Client::new(self.address)
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Stops the server (as if it went away) and waits until it has; the data stays.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("the server stops within 10 s");
            stopped
                .expect("the server task ends")
                .expect("the server shuts down cleanly");
        }
    }

    /// Starts the server again on the same address and data directory.
    pub async fn start_again(&mut self) {
        let (_, shutdown, server) = serve(self.config.clone(), axum::Router::new()).await;
        self.shutdown = Some(shutdown);
        self.server = Some(server);
    }
}

/// The configuration of a test server keeping its data in `data`: a free port, the admin
/// token [`ADMIN_TOKEN`], no frontend build or Pyodide files (folders that do not exist),
/// and an ingest rate no test reaches unless it lowers it.
pub fn config_for(data: &Path) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().expect("a socket address"),
        dist_dir: data.join("no-dist"),
        public_dir: data.join("no-public"),
        data_dir: data.to_path_buf(),
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        ingest_rate: 10_000.0,
        ingest_burst: 10_000.0,
        ..Config::with_defaults()
    }
}

/// Starts the server with [`config_for`] a new temporary data directory.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`], after `adjust` has changed the configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with_routes(adjust, axum::Router::new()).await
}

/// [`spawn_app_with`], serving `routes` beside the product's (a handler that panics, say).
pub async fn spawn_app_with_routes(
    adjust: impl FnOnce(&mut Config),
    routes: axum::Router<crate::AppState>,
) -> TestApp {
    let data = tempfile::tempdir().expect("a temporary data directory");
    let mut config = config_for(data.path());
    adjust(&mut config);
    let (address, shutdown, server) = serve(config.clone(), routes).await;
    // The port is fixed from now on, so a stopped server comes back at the same address.
    config.addr = address;
    TestApp {
        address,
        data,
        config,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

async fn serve(
    config: Config,
    routes: axum::Router<crate::AppState>,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<anyhow::Result<()>>,
) {
    let application = Application::build(config)
        .await
        .expect("the server starts")
        .with_routes(routes);
    let address = application.local_addr();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async {
        stopped.await.ok();
    }));
    (address, shutdown, server)
}

/// An HTTP client for one server.
#[derive(Debug, Clone)]
pub struct Client {
    address: SocketAddr,
    http: HyperClient<HttpConnector, Full<Bytes>>,
}

impl Client {
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let answer = self.open(method, path, headers, body).await;
        let body = answer
            .body
            .collect()
            .await
            .expect("reads the answer's body")
            .to_bytes();
        Answer {
            status: answer.status,
            headers: answer.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// Sends a request and returns as soon as the answer's head is there, for answers that
    /// stream (server-sent events).
    pub async fn open(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Streaming {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("an HTTP method"))
            .uri(format!("http://{}{path}", self.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .expect("a valid request");
        let response = self
            .http
            .request(request)
            .await
            .unwrap_or_else(|error| panic!("{method} {path} got no answer: {error}"));
        let (head, body) = response.into_parts();
        Streaming {
            status: head.status.as_u16(),
            headers: head.headers,
            body: Body::new(body),
            seen: String::new(),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], b"").await
    }

    /// A GET with the admin token as a bearer token.
    pub async fn get_as_admin(&self, path: &str) -> Answer {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        self.send("GET", path, &[("Authorization", &bearer)], b"")
            .await
    }

    /// A streaming GET (server-sent events) with the admin token as a bearer token.
    pub async fn open_as_admin(&self, path: &str) -> Streaming {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        self.open("GET", path, &[("Authorization", &bearer)], b"")
            .await
    }

    /// A POST of JSON with the admin token as a bearer token.
    pub async fn post_as_admin(&self, path: &str, body: &Value) -> Answer {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        self.send(
            "POST",
            path,
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
        .await
    }

    /// A sample without labels from `/metrics` (`workbench_…_total`); panics if it is missing.
    pub async fn metric(&self, name: &str) -> u64 {
        let metrics = self.get("/metrics").await;
        metrics
            .body
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{}", metrics.body))
    }

    /// A POST of JSON, as a browser with the user agent `test-agent/1.0` sends it.
    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.send(
            "POST",
            path,
            &[
                ("Content-Type", "application/json"),
                ("User-Agent", "test-agent/1.0"),
            ],
            body.to_string().as_bytes(),
        )
        .await
    }
}

/// A whole HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
}

impl Answer {
    /// The body as JSON; panics, showing the body, if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }

    /// The body as the API's error; panics, showing the body, if it is not one.
    pub fn error(&self) -> protocol::ApiError {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// An answer whose body is still arriving.
#[derive(Debug)]
pub struct Streaming {
    pub status: u16,
    pub headers: HeaderMap,
    body: Body,
    /// The body so far, as text.
    seen: String,
}

impl Streaming {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Reads until the body so far contains `needle`; panics if the body ends first.
    pub async fn read_until(&mut self, needle: &str) {
        while !self.seen.contains(needle) {
            let frame = self
                .body
                .frame()
                .await
                .unwrap_or_else(|| panic!("the stream ended before {needle:?}: {}", self.seen))
                .expect("reads the stream");
            if let Ok(data) = frame.into_data() {
                self.seen.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }

    /// The body so far.
    pub fn seen(&self) -> &str {
        &self.seen
    }
}

/// A valid execution event as a browser sends it, with this id (one session, one code hash).
pub fn execution_event(event_id: &str) -> Value {
    serde_json::json!({
        "eventId": event_id,
        "sessionId": "session",
        "kind": "execution",
        "codeSha256": "a".repeat(64),
        "codeBytes": 10,
        "durationMs": 3.5,
        "success": true,
    })
}

/// The last hour's live dashboard of the server `client` talks to, once it has sent its first
/// figures (none stored yet).
pub async fn live_dashboard(client: &Client) -> Streaming {
    let mut live = client.open_as_admin("/api/dashboard/live?range=1h").await;
    tokio::time::timeout(
        Duration::from_secs(10),
        live.read_until("\"totalExecutions\":0"),
    )
    .await
    .unwrap_or_else(|_| panic!("the live stream sends its first figures: {}", live.seen()));
    live
}

/// The `index`th of a varied set of executions, stored at `received_at`: every fifth fails,
/// 40 sessions, 25 visitors, three networks, four code keys, durations 1-300 ms.
pub fn sample_event(index: usize, received_at: i64) -> crate::NewEvent {
    use protocol::telemetry::{EventKind, TelemetryEvent};
    let failed = index.is_multiple_of(5);
    crate::NewEvent {
        event: TelemetryEvent {
            event_id: format!("event-{index}"),
            session_id: format!("session-{}", index % 40),
            kind: EventKind::Execution,
            code_sha256: None,
            code_bytes: Some(10),
            duration_ms: Some(1.0 + (index % 300) as f64),
            success: Some(!failed),
            error_type: failed.then(|| "ValueError".to_owned()),
            stdout_bytes: None,
            stderr_bytes: None,
            package: None,
            version: None,
            file_ext: None,
            file_bytes: None,
            pyodide_version: None,
            client_time: None,
        },
        received_at,
        client_addr: format!("10.0.{}.0/24", index % 3),
        visitor_id: format!("visitor-{}", index % 25),
        user_agent: Some("Agent/1".into()),
        code_key: Some(format!("key-{}", index % 4)),
    }
}

/// How often [`until`] and [`until_ok`] look again.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Waits until `check` holds, looking every 100 ms; fails after `timeout`, saying what did not
/// happen. The one wait on a condition the tests have (the end-to-end tests' `tests::until` is
/// this one).
pub async fn until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    until_ok(what, timeout, async || {
        if check().await { Ok(()) } else { Err(false) }
    })
    .await;
}

/// Waits until `check` gives `Ok`, looking every 100 ms, and returns its value; fails after
/// `timeout`, saying what did not happen and what `check` saw last (its `Err`).
pub async fn until_ok<T, Seen: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Result<T, Seen>,
) -> T {
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                started.elapsed() < timeout,
                "{what} did not happen within {timeout:?}; last seen: {seen:#?}"
            ),
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
