//! The time range shown: named (`?range=7d`) or explicit (`?from=…&to=…`, unix ms), kept in
//! the address so a view can be bookmarked, and the buttons and form that choose it.

use leptos::prelude::*;
use protocol::stats::{Range, RangeName, RangeQuery};
use wasm_bindgen::JsValue;

/// Reads the range the address asks for, and writes it back.
pub(super) trait InAddress: Sized {
    /// The range the address asks for (the default, 24 hours, if it asks for none or for
    /// one that cannot be read).
    fn from_address() -> Self;
    /// Puts the range in the address without a new history entry.
    fn replace_address(&self);
}

impl InAddress for Range {
    fn from_address() -> Self {
        let search = web_sys::window()
            .and_then(|window| window.location().search().ok())
            .unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
        let get = |name: &str| params.as_ref().and_then(|params| params.get(name));
        RangeQuery {
            range: get("range"),
            from: get("from"),
            to: get("to"),
        }
        .range()
        .unwrap_or_default()
    }

    fn replace_address(&self) {
        if let Some(window) = web_sys::window()
            && let Ok(history) = window.history()
        {
            let _ = history.replace_state_with_url(
                &JsValue::NULL,
                "",
                Some(&format!("/dashboard?{}", self.query())),
            );
        }
    }
}

/// What the range's button says.
fn label(name: RangeName) -> &'static str {
    match name {
        RangeName::LastHour => "Last hour",
        RangeName::LastDay => "24 hours",
        RangeName::LastWeek => "7 days",
        RangeName::LastMonth => "30 days",
        RangeName::AllTime => "All time",
    }
}

#[component]
pub(super) fn RangePicker(range: RwSignal<Range>) -> impl IntoView {
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let apply_custom = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        let parse = |text: String| js_sys::Date::parse(&text);
        let (start, end) = (parse(from.get_untracked()), parse(to.get_untracked()));
        if start.is_finite() && end.is_finite() && start < end {
            range.set(Range::Custom {
                from: start as i64,
                to: end as i64,
            });
        }
    };
    view! {
        <nav class="ranges" aria-label="Time range">
            {RangeName::ALL
                .into_iter()
                .map(|name| {
                    let selected = move || range.get() == Range::Named(name);
                    view! {
                        <button
                            class="range"
                            class:selected=selected
                            aria-pressed=move || selected().to_string()
                            data-testid=format!("range-{}", name.as_str())
                            on:click=move |_| range.set(Range::Named(name))
                        >
                            {label(name)}
                        </button>
                    }
                })
                .collect_view()}
            <form class="custom" on:submit=apply_custom>
                <label>
                    "From "
                    <input type="datetime-local" data-testid="range-from" on:input=move |event| from.set(event_target_value(&event)) />
                </label>
                <label>
                    "to "
                    <input type="datetime-local" data-testid="range-to" on:input=move |event| to.set(event_target_value(&event)) />
                </label>
                <button class="secondary" type="submit" data-testid="range-apply">"Show"</button>
            </form>
        </nav>
    }
}
