//! Fresh numbers as they change: `/api/dashboard/live` (server-sent events) for the range
//! shown, and the state the page shows for it (connecting, live, reconnecting, paused).

use leptos::prelude::*;
use protocol::stats::DashboardStats;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use protocol::stats::Range;

/// The state of the live stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    Connecting,
    Open,
    Paused,
    Reconnecting,
}

/// The live stream for one range; closing it on drop.
pub(super) struct LiveSource {
    source: web_sys::EventSource,
    _on_stats: Closure<dyn Fn(web_sys::MessageEvent)>,
    _on_open: Closure<dyn Fn()>,
    _on_error: Closure<dyn Fn()>,
}

impl LiveSource {
    pub(super) fn open(
        range: &Range,
        stats: RwSignal<Option<DashboardStats>>,
        live: RwSignal<Stream>,
    ) -> Option<Self> {
        live.set(Stream::Connecting);
        let source =
            web_sys::EventSource::new(&format!("/api/dashboard/live?{}", range.query())).ok()?;
        let on_stats =
            Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                if let Some(fresh) = event
                    .data()
                    .as_string()
                    .and_then(|json| serde_json::from_str::<DashboardStats>(&json).ok())
                {
                    stats.set(Some(fresh));
                }
                live.set(Stream::Open);
            });
        let on_open = Closure::<dyn Fn()>::new(move || live.set(Stream::Open));
        // EventSource reconnects by itself; the page only says so.
        let on_error = Closure::<dyn Fn()>::new(move || {
            if live.get_untracked() != Stream::Paused {
                live.set(Stream::Reconnecting);
            }
        });
        source
            .add_event_listener_with_callback("stats", on_stats.as_ref().unchecked_ref())
            .ok()?;
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Some(Self {
            source,
            _on_stats: on_stats,
            _on_open: on_open,
            _on_error: on_error,
        })
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.source.close();
    }
}
