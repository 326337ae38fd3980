//! The time range shown: named (`?range=7d`) or explicit (`?from=…&to=…`, unix ms), kept in
//! the address so a view can be bookmarked, and the buttons and form that choose it.

use leptos::prelude::*;
use protocol::stats::RangeName;
use wasm_bindgen::JsValue;

/// Which time range is shown: a named one, or `from`/`to` in unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Range {
    Named(RangeName),
    Custom { from: i64, to: i64 },
}

impl Range {
    /// The range the address asks for (the default, 24 hours, if it asks for none).
    pub(super) fn from_address() -> Self {
        let search = web_sys::window()
            .and_then(|window| window.location().search().ok())
            .unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
        let get = |name: &str| params.as_ref().and_then(|params| params.get(name));
        let number = |name: &str| get(name).and_then(|value| value.parse::<i64>().ok());
        if let (Some(from), Some(to)) = (number("from"), number("to")) {
            return Self::Custom { from, to };
        }
        Self::Named(
            get("range")
                .and_then(|name| RangeName::parse(&name))
                .unwrap_or_default(),
        )
    }

    pub(super) fn query(&self) -> String {
        match self {
            Self::Named(name) => format!("range={}", name.as_str()),
            Self::Custom { from, to } => format!("from={from}&to={to}"),
        }
    }

    /// Puts the range in the address without a new history entry.
    pub(super) fn replace_address(&self) {
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
