//! The telemetry pipeline against the real server and a real SQLite file: one test binary,
//! a module per subject. `ingest`: acceptance, deduplication, validation, rate limits;
//! `admin`: the token and the session cookie; `durability`: restarts, a kill under load,
//! retention; `statistics`: what the numbers show (public statistics, metrics, the
//! dashboard API: stats, live updates, export, import); `cost`: what the statistics cost
//! under load, as work done.

mod admin;
mod cost;
mod durability;
mod ingest;
mod statistics;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A telemetry batch as the browser sends it.
fn batch(events: Vec<Value>) -> Value {
    json!({ "events": events })
}

/// A valid execution event with a fresh id.
fn execution(session: &str, code_sha256: &str, success: bool, duration_ms: f64) -> Value {
    json!({
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

fn fresh_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let next = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("e-{}-{next}", std::process::id())
}

/// The SHA-256 of code, as the browser sends it.
fn sha(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}
