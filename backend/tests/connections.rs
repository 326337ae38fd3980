//! The server under hostile connections, over real sockets: silent, slow and idle
//! connections are closed within the timeouts, and `/health` keeps answering while a flood
//! of idle connections fills the connection cap of a server whose file limit is low.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend::testing::{spawn_app_with, until_ok};
use protocol::ErrorCode;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// What the server sent before it closed the connection, or a panic if it is still open
/// after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration, what: &str) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut received)).await;
    assert!(
        read.is_ok(),
        "{what}: still open after {} s",
        limit.as_secs_f64()
    );
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn silent_slow_and_idle_connections_are_closed_within_the_timeouts() {
    let app = spawn_app_with(|config| {
        config.header_timeout = Duration::from_millis(800);
        config.body_timeout = Duration::from_millis(800);
    })
    .await;
    // Closed within the timeout, with room for a slow test machine.
    let limit = Duration::from_secs(5);

    let mut silent = TcpStream::connect(app.address).await.expect("connects");

    let mut slow_headers = TcpStream::connect(app.address).await.expect("connects");
    slow_headers
        .write_all(b"GET /health HTTP/1.1\r\nHo")
        .await
        .expect("sends");
    let (mut slow_read, mut slow_write) = slow_headers.into_split();
    let trickle = tokio::spawn(async move {
        // A byte every 200 ms: never a whole header, never silent for long.
        while slow_write.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });

    let mut kept_alive = TcpStream::connect(app.address).await.expect("connects");
    kept_alive
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("sends");

    let mut stalled_body = TcpStream::connect(app.address).await.expect("connects");
    stalled_body
        .write_all(
            b"POST /api/telemetry HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"events\":",
        )
        .await
        .expect("sends");

    let started = Instant::now();
    assert_eq!(
        closed_within(&mut silent, limit, "a silent connection").await,
        ""
    );
    let mut nothing = Vec::new();
    let slow = tokio::time::timeout(limit, slow_read.read_to_end(&mut nothing)).await;
    assert!(
        slow.is_ok(),
        "a connection trickling its headers stays open"
    );
    trickle
        .await
        .expect("the trickle ends when the server closes");

    let answer = closed_within(&mut kept_alive, limit, "an idle kept-alive connection").await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the request was answered before the idle connection was closed: {answer}"
    );

    let answer = closed_within(&mut stalled_body, limit, "a stalled body").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let error: serde_json::Value = serde_json::from_str(body).expect("a JSON error");
    assert_eq!(error["code"], serde_json::json!(ErrorCode::Timeout));
    assert!(
        started.elapsed() < limit,
        "all four closed within {limit:?}"
    );
}

/// Starts the server binary with its soft limit on open files lowered to `files`, and
/// collects what it prints.
async fn start_with_file_limit(
    files: u32,
    data: &std::path::Path,
) -> (tokio::process::Child, SocketAddr, Arc<Mutex<Vec<String>>>) {
    let mut server = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_backend"))
        .args(["--addr", "127.0.0.1:0", "--header-timeout", "30"])
        .arg("--data-dir")
        .arg(data)
        .env("WORKBENCH_ADMIN_TOKEN", backend::testing::ADMIN_TOKEN)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let log = Arc::new(Mutex::new(Vec::new()));
    let address = loop {
        let line = lines
            .next_line()
            .await
            .expect("reads")
            .expect("the server says where it listens");
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.trim_end_matches('/').parse().expect("an address");
        }
        log.lock().expect("log").push(line);
    };
    let collected = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            collected.lock().expect("log").push(line);
        }
    });
    (server, address, log)
}

async fn health(address: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|error| format!("connect: {error}"))?;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|error| format!("send: {error}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .map_err(|error| format!("read: {error}"))?;
    if answer.starts_with("HTTP/1.1 200") && answer.contains("\"status\":\"ok\"") {
        Ok(())
    } else {
        Err(format!("answered {answer:?}"))
    }
}

#[tokio::test]
async fn health_answers_while_idle_connections_flood_a_server_with_few_files() {
    // 256 files: the server keeps 64 for itself, so its cap becomes 192 connections; the
    // flood holds 800 idle ones (the server's header timeout is 30 s, longer than the test).
    let data = tempfile::tempdir().expect("dir");
    let (mut server, address, log) = start_with_file_limit(256, data.path()).await;
    let flood = tokio::spawn(async move {
        let mut idle = std::collections::VecDeque::new();
        let mut opened = 0_usize;
        loop {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    opened += 1;
                    idle.push_back(stream);
                    if idle.len() > 800 {
                        idle.pop_front();
                    }
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
            if opened.is_multiple_of(50) {
                tokio::task::yield_now().await;
            }
        }
    });
    // Let the flood fill the cap first.
    until_ok(
        "the flood filling the cap",
        Duration::from_secs(30),
        async || {
            let lines = log.lock().expect("log");
            if lines
                .iter()
                .any(|line| line.contains("the connection cap (192) is reached"))
            {
                Ok(())
            } else {
                Err(lines.to_vec())
            }
        },
    )
    .await;
    let mut answered = 0;
    for attempt in 0..20 {
        match tokio::time::timeout(Duration::from_secs(5), health(address)).await {
            Ok(Ok(())) => answered += 1,
            Ok(Err(error)) => panic!("/health attempt {attempt} failed: {error}"),
            Err(_) => panic!("/health attempt {attempt} got no answer within 5 s"),
        }
    }
    flood.abort();
    assert_eq!(answered, 20);
    let log = log.lock().expect("log").join("\n");
    assert!(
        log.contains("at most 192 connections, not 4096"),
        "the cap was fitted to the file limit:\n{log}"
    );
    assert!(
        log.contains("closing the oldest idle connections to make room"),
        "{log}"
    );
    server.kill().await.expect("stops");
}
