//! `POST /api/telemetry`: batches of hashed events from the browser.
//!
//! Each event is validated on its own (one bad event does not sink the batch), the server
//! adds receive time, client address and user agent, and the answer — 202 with one outcome
//! per event — is sent only after the accepted events are on disk.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use protocol::stats::ImportedEvent;
use protocol::telemetry::{
    EventOutcome, EventStatus, IngestResponse, MAX_BATCH_EVENTS, TelemetryEvent,
};
use serde_json::Value;

use crate::AppState;
use crate::admin::Admin;
use crate::clock;
use crate::error::AppError;
use crate::extract::Body;
use crate::metrics::Counters;
use crate::privacy;
use crate::storage::NewEvent;

/// User agents are stored at most this long.
pub const MAX_USER_AGENT_LEN: usize = 300;

/// The TCP peer's address, when the server was started with connection info.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip()),
        ))
    }
}

/// The client's address: the TCP peer, or — only when the peer is a trusted proxy — the
/// nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    let unknown = IpAddr::from([0, 0, 0, 0]);
    let Some(peer) = peer else { return unknown };
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|hop| !trusted_proxies.contains(hop))
        .unwrap_or(peer)
}

/// A token bucket per client address.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second: per_second.max(0.001),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client`, or says how long until one is available.
    pub fn check(&self, client: IpAddr) -> Result<(), AppError> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > 100_000 {
            // Forget clients whose buckets have refilled; they lose nothing by it.
            let refill = Duration::from_secs_f64(self.burst / self.per_second);
            buckets.retain(|_, (_, updated)| now.duration_since(*updated) < refill);
        }
        let (tokens, updated) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*updated).as_secs_f64() * self.per_second)
            .min(self.burst);
        *updated = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(AppError::TooManyRequests {
                retry_after: Duration::from_secs_f64((1.0 - *tokens) / self.per_second),
            })
        }
    }
}

/// `POST /api/telemetry`
pub async fn ingest(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<IngestResponse>), AppError> {
    let config = state.config();
    let client = client_ip(peer, &headers, &config.trusted_proxy);
    if let Err(limited) = state.limiter().check(client) {
        Counters::add(&state.counters().rate_limited, 1);
        return Err(limited);
    }

    let events = batch_events(&body)?;

    let received_at = clock::now_ms();
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(MAX_USER_AGENT_LEN).collect::<String>());
    let client_addr = privacy::stored_address(client, config.store_full_ip);
    let visitor_id = state.salt().visitor_id(
        &client.to_string(),
        user_agent.as_deref().unwrap_or(""),
        received_at,
    );

    let parsed = events
        .iter()
        .map(|raw| {
            let event_id = raw.get("eventId").and_then(Value::as_str).map(short_id);
            let new = parse_event(raw).map(|event| NewEvent {
                code_key: event
                    .code_sha256
                    .as_deref()
                    .map(|hash| state.keyer().key(hash)),
                event,
                received_at,
                client_addr: client_addr.clone(),
                visitor_id: visitor_id.clone(),
                user_agent: user_agent.clone(),
            });
            (event_id, new)
        })
        .collect();
    let response = store_and_answer(&state, parsed).await?;
    Ok((StatusCode::ACCEPTED, Json(response)))
}

/// An event's id as given (capped), and the event ready to store or why it was refused.
type Parsed = (Option<String>, Result<NewEvent, String>);

/// Stores the accepted events, marks the duplicates, counts, and tells live dashboards.
async fn store_and_answer(
    state: &AppState,
    parsed: Vec<Parsed>,
) -> Result<IngestResponse, AppError> {
    let mut results = Vec::with_capacity(parsed.len());
    let mut to_store = Vec::new();
    for (event_id, new) in parsed {
        let (status, reason) = match new {
            Ok(new) => {
                to_store.push(new);
                (EventStatus::Accepted, None)
            }
            Err(reason) => (EventStatus::Rejected, Some(reason)),
        };
        results.push(EventOutcome {
            event_id,
            status,
            reason,
        });
    }
    let inserted = if to_store.is_empty() {
        Vec::new()
    } else {
        state
            .store()
            .insert(to_store)
            .await
            .map_err(|error| AppError::Internal(error.to_string()))?
    };
    let mut inserted = inserted.into_iter();
    for outcome in results
        .iter_mut()
        .filter(|outcome| outcome.status == EventStatus::Accepted)
    {
        if inserted.next() == Some(false) {
            outcome.status = EventStatus::Duplicate;
        }
    }
    let count = |status| {
        results
            .iter()
            .filter(|outcome| outcome.status == status)
            .count() as u32
    };
    let response = IngestResponse {
        success: true,
        accepted: count(EventStatus::Accepted),
        duplicates: count(EventStatus::Duplicate),
        rejected: count(EventStatus::Rejected),
        results,
    };
    let counters = state.counters();
    Counters::add(&counters.accepted, u64::from(response.accepted));
    Counters::add(&counters.duplicates, u64::from(response.duplicates));
    Counters::add(&counters.rejected, u64::from(response.rejected));
    if response.accepted > 0 {
        state.notify_change();
    }
    Ok(response)
}

/// `POST /api/dashboard/import` (admin): events with their original receive time and origin.
pub async fn import(
    _admin: Admin,
    State(state): State<AppState>,
    Body(body): Body,
) -> Result<(StatusCode, Json<IngestResponse>), AppError> {
    let events = batch_events(&body)?;
    let latest = clock::now_ms() + 60_000;
    let parsed = events
        .iter()
        .map(|raw| {
            let event_id = raw
                .pointer("/event/eventId")
                .and_then(Value::as_str)
                .map(short_id);
            let new = parse::<ImportedEvent>(raw).and_then(|imported| {
                imported
                    .event
                    .validate()
                    .map_err(|error| format!("event.{error}"))?;
                if !(0..=latest).contains(&imported.received_at) {
                    return Err("receivedAt must be a past time in unix milliseconds".to_owned());
                }
                if imported
                    .client_addr
                    .as_ref()
                    .is_some_and(|addr| addr.len() > 64)
                {
                    return Err("clientAddr must be at most 64 characters".to_owned());
                }
                let client_addr = imported
                    .client_addr
                    .unwrap_or_else(|| "imported".to_owned());
                let user_agent = imported
                    .user_agent
                    .map(|agent| agent.chars().take(MAX_USER_AGENT_LEN).collect::<String>());
                Ok(NewEvent {
                    visitor_id: state.salt().visitor_id(
                        &client_addr,
                        user_agent.as_deref().unwrap_or(""),
                        imported.received_at,
                    ),
                    code_key: imported
                        .event
                        .code_sha256
                        .as_deref()
                        .map(|hash| state.keyer().key(hash)),
                    event: imported.event,
                    received_at: imported.received_at,
                    client_addr,
                    user_agent,
                })
            });
            (event_id, new)
        })
        .collect();
    let response = store_and_answer(&state, parsed).await?;
    Ok((StatusCode::ACCEPTED, Json(response)))
}

fn short_id(id: &str) -> String {
    id.chars().take(protocol::telemetry::MAX_ID_LEN).collect()
}

/// The `events` array of a batch body, within the batch limits.
fn batch_events(body: &[u8]) -> Result<Vec<Value>, AppError> {
    let mut batch: Value = serde_json::from_slice(body)
        .map_err(|error| AppError::BadRequest(format!("the body is not valid JSON: {error}")))?;
    let Some(Value::Array(events)) = batch.get_mut("events").map(Value::take) else {
        return Err(AppError::BadRequest(
            "the body must be {\"events\": [ ... ]}".into(),
        ));
    };
    if events.len() > MAX_BATCH_EVENTS {
        return Err(AppError::PayloadTooLarge(format!(
            "a batch holds at most {MAX_BATCH_EVENTS} events; this one has {}",
            events.len()
        )));
    }
    Ok(events)
}

/// One event, typed and validated; the message names the field at fault.
fn parse_event(raw: &Value) -> Result<TelemetryEvent, String> {
    let event: TelemetryEvent = parse(raw)?;
    event.validate().map_err(|error| error.to_string())?;
    Ok(event)
}

/// Typed, with errors that name the field (`durationMs: invalid type: …`).
fn parse<T: serde::de::DeserializeOwned>(raw: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize(raw).map_err(|error| {
        let path = error.path().to_string();
        if path == "." {
            format!("{}", error.inner())
        } else {
            format!("{path}: {}", error.inner())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let client: IpAddr = "203.0.113.9".parse().expect("ip");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.9".parse().expect("header"),
        );
        assert_eq!(
            client_ip(Some(client), &headers, &[proxy]),
            client,
            "an untrusted peer is the client"
        );
        assert_eq!(
            client_ip(Some(proxy), &headers, &[proxy]),
            client,
            "the nearest untrusted hop"
        );
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new(), &[proxy]), proxy);
    }

    #[test]
    fn the_rate_limiter_allows_a_burst_then_asks_to_wait() {
        let limiter = RateLimiter::new(1.0, 3.0);
        let client: IpAddr = "203.0.113.9".parse().expect("ip");
        for _ in 0..3 {
            assert!(limiter.check(client).is_ok());
        }
        let error = limiter
            .check(client)
            .expect_err("the fourth request is over the burst");
        assert!(matches!(error, AppError::TooManyRequests { .. }));
        let other: IpAddr = "203.0.113.10".parse().expect("ip");
        assert!(
            limiter.check(other).is_ok(),
            "other clients are not affected"
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        let raw = serde_json::json!({"eventId": "a", "sessionId": "b", "kind": "reset", "durationMs": "fast"});
        let error = parse_event(&raw).expect_err("a string is not a duration");
        assert!(error.starts_with("durationMs: invalid type"), "{error}");
    }
}
