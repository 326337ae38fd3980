//! Live dashboards (`/api/dashboard/live`): every open stream of the same range shares one
//! computation per change. A task per range waits for new events (bursts merged over a
//! quarter second), computes the statistics once, and every stream of that range sends the
//! result; the task ends with the range's last stream. Streams are capped per client and in
//! total, and a stream over a cap is refused with a 429 that says which cap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::stats::Range;
use tokio::sync::{Notify, broadcast, watch};

use crate::AppState;
use crate::http::client::ClientKey;
use crate::http::error::AppError;
use crate::util::counters::Counters;

/// Open streams one client may have (a few dashboard tabs).
pub const MAX_STREAMS_PER_CLIENT: usize = 4;
/// Open streams in all.
pub const MAX_STREAMS: usize = 32;
/// Bursts of new events within this time cause one computation.
const MERGE_BURSTS: Duration = Duration::from_millis(250);
/// A stream joining a range whose latest statistics are older than this asks for fresh
/// ones (named ranges move with the clock even without new events).
const FRESH_FOR: Duration = Duration::from_secs(5);

/// One computation's result, as every stream of its range sends it.
#[derive(Debug)]
pub struct Frame {
    /// The server-sent event's name (`stats`, or `error`).
    pub event: &'static str,
    /// Its data: the statistics as JSON, or what went wrong.
    pub data: String,
    computed: Instant,
}

/// The live ranges and the open streams.
#[derive(Debug, Default)]
pub struct LiveHub {
    /// The shared computation of each range being watched.
    ranges: Mutex<HashMap<Range, Watched>>,
    /// Open streams, by client and in all.
    streams: Mutex<StreamCount>,
}

#[derive(Debug, Clone)]
struct Watched {
    frames: watch::Sender<Option<Arc<Frame>>>,
    /// Asks the range's task for a fresh computation.
    refresh: Arc<Notify>,
}

#[derive(Debug, Default)]
struct StreamCount {
    total: usize,
    by_client: HashMap<ClientKey, usize>,
}

/// An open stream: its place under the caps, and its range's frames.
#[derive(Debug)]
pub struct Subscription {
    frames: watch::Receiver<Option<Arc<Frame>>>,
    first: bool,
    _slot: StreamSlot,
}

impl Subscription {
    /// The next frame to send: the latest one at first, then each new one.
    pub async fn next(&mut self) -> Option<Arc<Frame>> {
        if std::mem::take(&mut self.first)
            && let Some(frame) = self.frames.borrow_and_update().clone()
        {
            return Some(frame);
        }
        loop {
            self.frames.changed().await.ok()?;
            if let Some(frame) = self.frames.borrow_and_update().clone() {
                return Some(frame);
            }
        }
    }
}

/// A stream's place under the caps, given back when the stream is dropped.
#[derive(Debug)]
struct StreamSlot {
    state: AppState,
    client: ClientKey,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self.state.live().lock_streams();
        streams.total = streams.total.saturating_sub(1);
        if let Some(count) = streams.by_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                streams.by_client.remove(&self.client);
            }
        }
    }
}

impl LiveHub {
    /// Opens a stream of `range` for `client`, within the caps.
    pub fn subscribe(
        &self,
        state: &AppState,
        client: ClientKey,
        range: Range,
    ) -> Result<Subscription, AppError> {
        {
            let mut streams = self.lock_streams();
            let mine = streams.by_client.get(&client).copied().unwrap_or(0);
            if mine >= MAX_STREAMS_PER_CLIENT {
                return Err(AppError::TooManyStreams(format!(
                    "at most {MAX_STREAMS_PER_CLIENT} live dashboards per client: close another dashboard tab"
                )));
            }
            if streams.total >= MAX_STREAMS {
                return Err(AppError::TooManyStreams(format!(
                    "the server has {MAX_STREAMS} live dashboards open already: try again later"
                )));
            }
            streams.total += 1;
            *streams.by_client.entry(client).or_default() += 1;
        }
        let slot = StreamSlot {
            state: state.clone(),
            client,
        };
        let mut ranges = self.lock_ranges();
        let watched = ranges.entry(range).or_insert_with(|| {
            let (frames, _) = watch::channel(None);
            let watched = Watched {
                frames,
                refresh: Arc::new(Notify::new()),
            };
            tokio::spawn(compute_range(
                state.clone(),
                range,
                watched.clone(),
                state.subscribe(),
            ));
            watched
        });
        let frames = watched.frames.subscribe();
        if frames
            .borrow()
            .as_ref()
            .is_some_and(|frame| frame.computed.elapsed() > FRESH_FOR)
        {
            watched.refresh.notify_one();
        }
        Ok(Subscription {
            frames,
            first: true,
            _slot: slot,
        })
    }

    fn lock_streams(&self) -> std::sync::MutexGuard<'_, StreamCount> {
        self.streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_ranges(&self) -> std::sync::MutexGuard<'_, HashMap<Range, Watched>> {
        self.ranges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A range's task: compute, publish, wait for a change; until the range has no streams.
async fn compute_range(
    state: AppState,
    range: Range,
    watched: Watched,
    mut changes: broadcast::Receiver<()>,
) {
    loop {
        let (event, data) = match crate::features::stats::dashboard_stats(&state, range).await {
            Ok(stats) => match serde_json::to_string(&stats) {
                Ok(json) => ("stats", json),
                Err(error) => ("error", error.to_string()),
            },
            Err(error) => ("error", error.to_string()),
        };
        Counters::add(&state.counters().live_computations, 1);
        watched.frames.send_replace(Some(Arc::new(Frame {
            event,
            data,
            computed: Instant::now(),
        })));
        loop {
            tokio::select! {
                () = watched.frames.closed() => {
                    // The last stream left, unless one joined meanwhile.
                    let mut ranges = state.live().lock_ranges();
                    if watched.frames.receiver_count() == 0 {
                        ranges.remove(&range);
                        return;
                    }
                    continue;
                }
                changed = changes.recv() => match changed {
                    Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = watched.refresh.notified() => {}
            }
            break;
        }
        tokio::time::sleep(MERGE_BURSTS).await;
        while changes.try_recv().is_ok() {}
    }
}

/// For `/metrics`: the open streams.
pub fn open_streams(hub: &LiveHub) -> usize {
    hub.lock_streams().total
}
