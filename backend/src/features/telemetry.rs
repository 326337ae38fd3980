//! `POST /api/telemetry`: batches of hashed events from the browser.
//!
//! Each event is validated on its own (one bad event does not sink the batch), the server
//! adds receive time, client address and user agent, and the answer — 202 with one outcome
//! per event — is sent only after the accepted events are on disk.

use axum::Json;
use axum::extract::State;
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use protocol::stats::ImportedEvent;
use protocol::telemetry::{
    EventOutcome, EventStatus, IngestResponse, MAX_BATCH_EVENTS, TelemetryEvent,
};
use serde_json::Value;

use crate::AppState;
use crate::features::admin::Admin;
use crate::http::client::{ClientKey, Peer, client_ip};
use crate::http::error::AppError;
use crate::http::extract::Body;
use crate::storage::NewEvent;
use crate::util::clock;
use crate::util::counters::Counters;
use crate::util::privacy;

/// User agents are stored at most this long.
pub const MAX_USER_AGENT_LEN: usize = 300;

/// `POST /api/telemetry`
pub async fn ingest(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<IngestResponse>), AppError> {
    let config = state.config();
    let client = client_ip(peer, &headers, &config.trusted_proxy);
    if let Err(retry_after) = state.limiter().check(ClientKey::of(client)) {
        Counters::add(&state.counters().rate_limited, 1);
        return Err(AppError::TooManyRequests { retry_after });
    }

    let events = batch_events(&body)?;

    let received_at = clock::now_ms();
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| agent.chars().take(MAX_USER_AGENT_LEN).collect::<String>());
    let client_addr = privacy::stored_address(client, config.store_full_ip);
    let visitor_id = state
        .salt()
        .visitor_id(
            &client.to_string(),
            user_agent.as_deref().unwrap_or(""),
            received_at,
        )
        .await?;

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
        state.store().insert(to_store).await?
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
    let mut parsed = Vec::with_capacity(events.len());
    for raw in &events {
        let event_id = raw
            .pointer("/event/eventId")
            .and_then(Value::as_str)
            .map(short_id);
        let new = match parse_imported(raw, latest) {
            Ok(imported) => {
                let visitor_id = state
                    .salt()
                    .visitor_id(
                        &imported.client_addr,
                        imported.user_agent.as_deref().unwrap_or(""),
                        imported.received_at,
                    )
                    .await?;
                Ok(NewEvent {
                    visitor_id,
                    code_key: imported
                        .event
                        .code_sha256
                        .as_deref()
                        .map(|hash| state.keyer().key(hash)),
                    event: imported.event,
                    received_at: imported.received_at,
                    client_addr: imported.client_addr,
                    user_agent: imported.user_agent,
                })
            }
            Err(reason) => Err(reason),
        };
        parsed.push((event_id, new));
    }
    let response = store_and_answer(&state, parsed).await?;
    Ok((StatusCode::ACCEPTED, Json(response)))
}

/// An imported event, validated, with its origin as it will be stored.
struct Imported {
    event: TelemetryEvent,
    received_at: i64,
    client_addr: String,
    user_agent: Option<String>,
}

/// One imported event, typed and validated; `latest` is the latest receive time allowed.
fn parse_imported(raw: &Value, latest: i64) -> Result<Imported, String> {
    let imported = parse::<ImportedEvent>(raw)?;
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
    for (field, text) in [
        ("clientAddr", &imported.client_addr),
        ("userAgent", &imported.user_agent),
    ] {
        if let Some(text) = text {
            protocol::telemetry::check_plain_text(field, text)
                .map_err(|error| error.to_string())?;
        }
    }
    Ok(Imported {
        event: imported.event,
        received_at: imported.received_at,
        client_addr: imported
            .client_addr
            .unwrap_or_else(|| "imported".to_owned()),
        user_agent: imported
            .user_agent
            .map(|agent| agent.chars().take(MAX_USER_AGENT_LEN).collect::<String>()),
    })
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
    fn wrong_types_name_the_field() {
        let raw = serde_json::json!({"eventId": "a", "sessionId": "b", "kind": "reset", "durationMs": "fast"});
        let error = parse_event(&raw).expect_err("a string is not a duration");
        assert!(error.starts_with("durationMs: invalid type"), "{error}");
    }
}
