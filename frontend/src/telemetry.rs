//! The telemetry client: after each run, install, file load, reset and restart, one event
//! with the SHA-256 of the code — never the code, never file names or contents — goes into a
//! queue that survives reloads and offline periods (IndexedDB) and is sent in batches.
//! Recording stays off the run's path: new events reach IndexedDB together a tenth of a
//! second later, and those still waiting when the page goes away are kept in localStorage
//! until the next visit puts them in the queue.
//!
//! Batches go out every second or when [`BATCH_SIZE`] events wait, and on `pagehide`
//! with `navigator.sendBeacon`. Failures retry with exponential backoff and jitter (at once
//! when the browser says it is online again); the server deduplicates by `eventId`, so
//! sending twice is harmless. Nothing is let go before it is safe elsewhere: an event leaves
//! the queue only when the server answered for it (stored, a duplicate, or refused as
//! invalid), leaves the list of unsaved events only when IndexedDB has committed it, and
//! leaves localStorage only once it is in IndexedDB or sent. The queue is bounded; if it
//! ever overflows, the page says how many events were dropped.

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::telemetry::{EventKind, IngestResponse, TelemetryBatch, TelemetryEvent};
use pyodide_loader::PYODIDE_VERSION;
use sha2::{Digest, Sha256};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::idb::KeyValueStore;

const ENDPOINT: &str = "/api/telemetry";
const DATABASE: &str = "pyodide-workbench-telemetry";
const QUEUE_STORE: &str = "queue";
const ENABLED_KEY: &str = "workbench.telemetry.enabled";
const SESSION_KEY: &str = "workbench.telemetry.session";
/// Events not yet in IndexedDB when the page went away, kept in localStorage (see
/// [`journal_unsaved`]).
const JOURNAL_KEY: &str = "workbench.telemetry.unsaved";
/// A batch goes out when this many events wait.
pub const BATCH_SIZE: usize = 20;
/// Otherwise waiting events go out this often: often enough that a live dashboard shows a
/// run within about a second, rarely enough that bursts still share a request.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// The queue never holds more; beyond it the oldest events are dropped, visibly.
const MAX_QUEUE: usize = 1000;
const MAX_BACKOFF_MS: f64 = 60_000.0;
/// A send that has not answered by then is abandoned and retried.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// New events are written to IndexedDB this long after they are recorded, together: one
/// transaction per event cost each run about half a millisecond. An event sent before its
/// write is never written; on `pagehide` the rest go to localStorage.
const SAVE_AFTER: Duration = Duration::from_millis(100);

/// A finished operation, for usage statistics. The code is here so the page can hash it;
/// it must never leave the browser.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Activity {
    pub kind: ActivityKind,
    pub code: Option<String>,
    pub duration_ms: Option<f64>,
    pub success: Option<bool>,
    /// The Python exception class, `TimeoutError`, or `Interrupted` for Stop.
    pub error_type: Option<String>,
    pub stdout_bytes: Option<u64>,
    pub stderr_bytes: Option<u64>,
    pub package: Option<String>,
    pub version: Option<String>,
    /// The loaded file's extension, lowercased (never its name).
    pub file_ext: Option<String>,
    pub file_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActivityKind {
    #[default]
    Execution,
    Install,
    FileLoad,
    Reset,
    Restart,
}

/// What the page shows about telemetry.
#[derive(Debug, Clone, Copy)]
pub struct TelemetryStatus {
    pub enabled: RwSignal<bool>,
    /// Events waiting to be sent.
    pub pending: RwSignal<usize>,
    /// Events dropped because the queue was full.
    pub dropped: RwSignal<u64>,
    /// Whether the last attempt to reach the server failed (offline, or the server is down).
    pub unreachable: RwSignal<bool>,
    /// Whether the events kept by earlier visits have been read (until then `pending` does
    /// not count them).
    pub loaded: RwSignal<bool>,
}

#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<TelemetryEvent>,
    /// Where the queue is kept; `None` until it is open (or if IndexedDB is unavailable,
    /// when the queue lives in memory only).
    store: Option<KeyValueStore>,
    /// Events in `events` not yet committed to `store`.
    unsaved: HashSet<String>,
    save_scheduled: bool,
    session_id: String,
    sending: bool,
    failures: u32,
    /// `Date.now()` before which no retry is made.
    retry_at: f64,
}

thread_local! {
    static QUEUE: RefCell<Queue> = RefCell::new(Queue::default());
}

/// Loads the queue left by earlier visits and starts sending.
pub fn start() -> TelemetryStatus {
    let enabled = local_storage()
        .and_then(|storage| storage.get_item(ENABLED_KEY).ok().flatten())
        .is_none_or(|value| value != "off");
    let status = TelemetryStatus {
        enabled: RwSignal::new(enabled),
        pending: RwSignal::new(0),
        dropped: RwSignal::new(0),
        unreachable: RwSignal::new(false),
        loaded: RwSignal::new(false),
    };
    QUEUE.with_borrow_mut(|queue| {
        queue.session_id = session_id();
        for event in read_journal() {
            queue.unsaved.insert(event.event_id.clone());
            queue.events.push_back(event);
        }
    });
    update_pending(status);
    spawn_local(open_queue(status));
    let _ = set_interval_with_handle(move || flush(status, false), FLUSH_EVERY);
    // Back online: the waiting events go now, not after the backoff.
    let on_online = Closure::<dyn Fn()>::new(move || {
        QUEUE.with_borrow_mut(|queue| {
            queue.failures = 0;
            queue.retry_at = 0.0;
        });
        flush(status, false);
    });
    let on_pagehide = Closure::<dyn Fn()>::new(move || {
        journal_unsaved();
        save_unsaved();
        send_beacon(status);
    });
    if let Some(window) = web_sys::window() {
        let _ = window
            .add_event_listener_with_callback("pagehide", on_pagehide.as_ref().unchecked_ref());
        let _ =
            window.add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref());
    }
    on_pagehide.forget();
    on_online.forget();
    status
}

/// Opens the stored queue: events left by earlier visits go first, and events recorded while
/// it opened are stored too.
async fn open_queue(status: TelemetryStatus) {
    let store = match KeyValueStore::open(DATABASE, QUEUE_STORE).await {
        Ok(store) => store,
        Err(error) => {
            // The events stay in memory, and in localStorage when the page goes away.
            leptos::logging::warn!("the telemetry queue is kept in memory only: {error}");
            status.loaded.set(true);
            return;
        }
    };
    let stored: Vec<TelemetryEvent> = store.values_of().await;
    QUEUE.with_borrow_mut(|queue| {
        let recorded: HashSet<String> = queue
            .events
            .iter()
            .map(|event| event.event_id.clone())
            .collect();
        let mut events: VecDeque<TelemetryEvent> = stored
            .into_iter()
            .filter(|event| !recorded.contains(&event.event_id))
            .collect();
        events.extend(queue.events.drain(..));
        queue.events = events;
        queue.store = Some(store);
    });
    // Events recorded while it opened, and those the last page left in localStorage.
    save_unsaved();
    status.loaded.set(true);
    update_pending(status);
}

/// Keeps the events not yet in IndexedDB in localStorage, which takes them at once: an
/// IndexedDB write started while the page goes away may never finish. The next visit moves
/// them into the queue.
fn journal_unsaved() {
    let mut journal = read_journal();
    let journalled: HashSet<String> = journal.iter().map(|event| event.event_id.clone()).collect();
    let unsaved: Vec<TelemetryEvent> = QUEUE.with_borrow(|queue| {
        queue
            .events
            .iter()
            .filter(|event| queue.unsaved.contains(&event.event_id))
            .filter(|event| !journalled.contains(&event.event_id))
            .cloned()
            .collect()
    });
    if unsaved.is_empty() {
        return;
    }
    journal.extend(unsaved);
    write_journal(&journal);
}

/// The events earlier pages left in localStorage. They stay there until they are in
/// IndexedDB or sent ([`forget_journalled`]).
fn read_journal() -> Vec<TelemetryEvent> {
    local_storage()
        .and_then(|storage| storage.get_item(JOURNAL_KEY).ok().flatten())
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default()
}

fn write_journal(journal: &[TelemetryEvent]) {
    let Some(storage) = local_storage() else {
        return;
    };
    if journal.is_empty() {
        let _ = storage.remove_item(JOURNAL_KEY);
    } else if let Ok(json) = serde_json::to_string(journal) {
        let _ = storage.set_item(JOURNAL_KEY, &json);
    }
}

/// Removes these events from localStorage: they are in IndexedDB, or sent.
fn forget_journalled(ids: &HashSet<String>) {
    let journal = read_journal();
    if journal.iter().any(|event| ids.contains(&event.event_id)) {
        let kept: Vec<TelemetryEvent> = journal
            .into_iter()
            .filter(|event| !ids.contains(&event.event_id))
            .collect();
        write_journal(&kept);
    }
}

/// Writes the recorded events [`SAVE_AFTER`] from now, unless a write is already due.
fn save_soon() {
    let due = QUEUE.with_borrow_mut(|queue| !std::mem::replace(&mut queue.save_scheduled, true));
    if due {
        set_timeout(save_unsaved, SAVE_AFTER);
    }
}

/// Writes the events not yet in the store, in one transaction; they count as saved once it
/// commits. (Before the store is open they wait; opening writes them.)
fn save_unsaved() {
    let write = QUEUE.with_borrow_mut(|queue| {
        queue.save_scheduled = false;
        let store = queue.store.clone()?;
        let rows: Vec<(String, String)> = queue
            .events
            .iter()
            .filter(|event| queue.unsaved.contains(&event.event_id))
            .filter_map(|event| Some((event.event_id.clone(), serde_json::to_string(event).ok()?)))
            .collect();
        (!rows.is_empty()).then_some((store, rows))
    });
    let Some((store, rows)) = write else {
        return;
    };
    let written = store.put_all(rows.iter().map(|(id, json)| (id.as_str(), json.as_str())));
    spawn_local(async move {
        match written.await {
            Ok(()) => {
                let ids: HashSet<String> = rows.into_iter().map(|(id, _)| id).collect();
                QUEUE.with_borrow_mut(|queue| queue.unsaved.retain(|id| !ids.contains(id)));
                forget_journalled(&ids);
            }
            // They stay unsaved: the next save, or localStorage at pagehide, keeps them.
            Err(error) => leptos::logging::warn!("could not keep telemetry events: {error}"),
        }
    });
}

/// Turns telemetry on or off; off also empties the queue.
pub fn set_enabled(status: TelemetryStatus, enabled: bool) {
    status.enabled.set(enabled);
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(ENABLED_KEY, if enabled { "on" } else { "off" });
    }
    if !enabled {
        QUEUE.with_borrow_mut(|queue| {
            queue.events.clear();
            queue.unsaved.clear();
            write_journal(&[]);
            if let Some(store) = &queue.store {
                let _ = store.clear();
            }
        });
        update_pending(status);
    }
}

/// Queues the event for one finished activity.
pub fn record(status: TelemetryStatus, activity: Activity) {
    if !status.enabled.get_untracked() {
        return;
    }
    let full = QUEUE.with_borrow_mut(|queue| {
        let event = event_for(activity, &queue.session_id);
        queue.unsaved.insert(event.event_id.clone());
        queue.events.push_back(event);
        let mut dropped = 0;
        let mut written = Vec::new();
        while queue.events.len() > MAX_QUEUE {
            if let Some(oldest) = queue.events.pop_front()
                && !queue.unsaved.remove(&oldest.event_id)
            {
                written.push(oldest.event_id);
            }
            dropped += 1;
        }
        if let (false, Some(store)) = (written.is_empty(), &queue.store) {
            let _ = store.delete_all(written.iter().map(String::as_str));
        }
        if dropped > 0 {
            status.dropped.update(|total| *total += dropped);
        }
        queue.events.len() >= BATCH_SIZE
    });
    save_soon();
    update_pending(status);
    if full {
        flush(status, true);
    }
}

fn event_for(activity: Activity, session_id: &str) -> TelemetryEvent {
    let code_sha256 = activity.code.as_deref().map(sha256_hex);
    let code_bytes = activity.code.as_ref().map(|code| code.len() as u64);
    TelemetryEvent {
        event_id: random_id(),
        session_id: session_id.to_owned(),
        kind: match activity.kind {
            ActivityKind::Execution => EventKind::Execution,
            ActivityKind::Install => EventKind::Install,
            ActivityKind::FileLoad => EventKind::FileLoad,
            ActivityKind::Reset => EventKind::Reset,
            ActivityKind::Restart => EventKind::Restart,
        },
        code_sha256,
        code_bytes,
        duration_ms: activity
            .duration_ms
            .map(|duration| duration.clamp(0.0, protocol::telemetry::MAX_DURATION_MS)),
        success: activity.success,
        error_type: activity.error_type.map(|text| truncate(&text)),
        stdout_bytes: activity.stdout_bytes,
        stderr_bytes: activity.stderr_bytes,
        package: activity.package.map(|text| truncate(&text)),
        version: activity.version.map(|text| truncate(&text)),
        file_ext: activity.file_ext,
        file_bytes: activity.file_bytes,
        pyodide_version: Some(PYODIDE_VERSION.to_owned()),
        client_time: Some(String::from(js_sys::Date::new_0().to_iso_string())),
    }
}

/// Sends the oldest waiting events, unless a send is running or a retry is not yet due.
fn flush(status: TelemetryStatus, only_if_full: bool) {
    let batch: Vec<TelemetryEvent> = QUEUE.with_borrow_mut(|queue| {
        let due = js_sys::Date::now() >= queue.retry_at;
        let wanted = !only_if_full || queue.events.len() >= BATCH_SIZE;
        if queue.sending || !due || !wanted || queue.events.is_empty() {
            return Vec::new();
        }
        queue.sending = true;
        queue.events.iter().take(BATCH_SIZE).cloned().collect()
    });
    if batch.is_empty() {
        return;
    }
    spawn_local(async move {
        let sent: HashSet<String> = batch.iter().map(|event| event.event_id.clone()).collect();
        let outcome = post(TelemetryBatch { events: batch }).await;
        let delivered = outcome.is_ok();
        QUEUE.with_borrow_mut(|queue| {
            queue.sending = false;
            match outcome {
                // Every event got an answer (stored, duplicate, or refused for good).
                Ok(()) => {
                    status.unreachable.set(false);
                    queue.events.retain(|event| !sent.contains(&event.event_id));
                    queue.unsaved.retain(|id| !sent.contains(id));
                    // Deleted even if a write of them is still under way: IndexedDB orders
                    // the delete after it.
                    if let Some(store) = &queue.store {
                        let _ = store.delete_all(sent.iter().map(String::as_str));
                    }
                    queue.failures = 0;
                    queue.retry_at = 0.0;
                }
                Err(reason) => {
                    status.unreachable.set(true);
                    queue.failures += 1;
                    let backoff =
                        (1000.0 * 2f64.powi(queue.failures.min(16) as i32)).min(MAX_BACKOFF_MS);
                    let jitter = 0.5 + js_sys::Math::random() * 0.5;
                    queue.retry_at = js_sys::Date::now() + backoff * jitter;
                    leptos::logging::warn!("telemetry will be retried: {reason}");
                }
            }
        });
        if delivered {
            forget_journalled(&sent);
        }
        update_pending(status);
    });
}

/// POSTs a batch; `Ok` when the server answered for every event: stored, duplicates, or
/// refused as they are (resending the same events cannot help). Anything else — no answer
/// within [`SEND_TIMEOUT`], a timeout, rate limiting, the server failing or being replaced,
/// a proxy's error page — is retried.
async fn post(batch: TelemetryBatch) -> Result<(), String> {
    let controller = web_sys::AbortController::new().map_err(crate::idb::describe)?;
    let abort = controller.clone();
    let timer = set_timeout_with_handle(move || abort.abort(), SEND_TIMEOUT).ok();
    let answer = async {
        let response = gloo_net::http::Request::post(ENDPOINT)
            .abort_signal(Some(&controller.signal()))
            .json(&batch)
            .map_err(|error| error.to_string())?
            .send()
            .await
            .map_err(|error| error.to_string())?;
        match response.status() {
            202 => {
                let answer: IngestResponse =
                    response.json().await.map_err(|error| error.to_string())?;
                if answer.rejected > 0 {
                    leptos::logging::warn!("{} telemetry events were refused", answer.rejected);
                }
                Ok(())
            }
            400 | 413 | 422 => {
                leptos::logging::warn!("telemetry batch refused with status {}", response.status());
                Ok(())
            }
            status => Err(format!("the server answered {status}")),
        }
    }
    .await;
    if let Some(timer) = timer {
        timer.clear();
    }
    answer
}

/// On `pagehide`, hands the waiting events to the browser, which sends them even as the page
/// goes away. They stay queued: if the beacon was lost, the next visit sends them again.
fn send_beacon(status: TelemetryStatus) {
    if !status.enabled.get_untracked() {
        return;
    }
    let events: Vec<TelemetryEvent> =
        QUEUE.with_borrow(|queue| queue.events.iter().take(BATCH_SIZE).cloned().collect());
    if events.is_empty() {
        return;
    }
    let Ok(body) = serde_json::to_string(&TelemetryBatch { events }) else {
        return;
    };
    if let Some(window) = web_sys::window() {
        let _ = window
            .navigator()
            .send_beacon_with_opt_str(ENDPOINT, Some(&body));
    }
}

fn update_pending(status: TelemetryStatus) {
    status
        .pending
        .set(QUEUE.with_borrow(|queue| queue.events.len()));
}

fn session_id() -> String {
    let storage = web_sys::window().and_then(|window| window.session_storage().ok().flatten());
    if let Some(existing) = storage
        .as_ref()
        .and_then(|storage| storage.get_item(SESSION_KEY).ok().flatten())
    {
        return existing;
    }
    let fresh = random_id();
    if let Some(storage) = storage {
        let _ = storage.set_item(SESSION_KEY, &fresh);
    }
    fresh
}

fn random_id() -> String {
    web_sys::window()
        .and_then(|window| window.crypto().ok())
        .map(|crypto| crypto.random_uuid())
        .unwrap_or_else(|| {
            format!(
                "{:x}-{:x}",
                js_sys::Date::now() as u64,
                (js_sys::Math::random() * 1e15) as u64
            )
        })
}

fn sha256_hex(code: &str) -> String {
    format!("{:x}", Sha256::digest(code.as_bytes()))
}

fn truncate(text: &str) -> String {
    text.chars()
        .take(protocol::telemetry::MAX_TEXT_LEN)
        .collect()
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|window| window.local_storage().ok().flatten())
}
