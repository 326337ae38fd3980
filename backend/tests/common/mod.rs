//! Helpers for the server's integration tests: `spawn_app()` starts the real server on a free
//! port with its own temporary data directory, and `Client` speaks plain HTTP/1.1 to it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;

use backend::{Application, Config};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "integration-admin-token";

/// A running server; it stops when dropped.
pub struct TestApp {
    pub address: SocketAddr,
    pub data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub fn client(&self) -> Client {
        Client {
            address: self.address,
        }
    }

    /// Stops the server and waits until it has shut down; the data directory stays.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("joins").expect("shuts down cleanly");
        }
        let data = tempfile::tempdir().expect("dir");
        std::mem::replace(&mut self.data, data)
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(tempfile::tempdir().expect("a data directory"), |_| {}).await
}

/// Starts the server on `data`, after `adjust` has changed the configuration.
pub async fn spawn_app_with(data: tempfile::TempDir, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = config_for(data.path());
    adjust(&mut config);
    let application = Application::build(config).await.expect("the server starts");
    let address = application.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async {
        stopped.await.ok();
    }));
    TestApp {
        address,
        data,
        stop: Some(stop),
        server: Some(server),
    }
}

pub fn config_for(data: &Path) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().expect("address"),
        dist_dir: data.join("no-dist"),
        public_dir: data.join("no-public"),
        data_dir: data.to_path_buf(),
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        ingest_rate: 10_000.0,
        ingest_burst: 10_000.0,
        ..Config::with_defaults()
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Plain HTTP/1.1, one connection per request.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub address: SocketAddr,
}

impl Client {
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut stream = tokio::net::TcpStream::connect(self.address)
            .await
            .expect("connects");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("sends the head");
        stream.write_all(body).await.expect("sends the body");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .expect("reads the answer");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, &[], b"").await
    }

    pub async fn get_as_admin(&self, path: &str) -> Answer {
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        self.send("GET", path, &[("Authorization", &bearer)], b"")
            .await
    }

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

/// A valid execution event with a fresh id.
pub fn execution(session: &str, code_sha256: &str, success: bool, duration_ms: f64) -> Value {
    serde_json::json!({
        "eventId": fresh_id(),
        "sessionId": session,
        "kind": "execution",
        "codeSha256": code_sha256,
        "codeBytes": 10,
        "durationMs": duration_ms,
        "success": success,
        "errorType": if success { Value::Null } else { "ZeroDivisionError".into() },
        "stdoutBytes": 2,
        "stderrBytes": 0,
        "pyodideVersion": "0.27.7",
        "clientTime": "2026-11-27T10:00:00.000Z",
    })
}

pub fn fresh_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let next = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("e-{}-{next}", std::process::id())
}

pub fn sha(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
