//! The admin dashboard (`/dashboard`) and its login (`/login`).
//!
//! The numbers come from `/api/dashboard/stats` for the range in the address (`?range=7d`,
//! or `?from=…&to=…`), so a view can be bookmarked; `/api/dashboard/live` pushes fresh
//! numbers after every change. Every string that came from a client (user agents, error
//! types, package names) is rendered as text by Leptos, never as HTML.
//!
//! `login` is the login page; `range` the range in the address and its picker; `overview`
//! the cards, charts and tables of one answer; `lookup` the code look-up; `live` the
//! stream of fresh numbers; `charts` the SVG charts.

mod charts;
mod live;
mod login;
mod lookup;
mod overview;
mod range;

pub use self::login::Login;

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::admin::SessionAnswer;
use protocol::stats::{DashboardStats, Range};

use self::live::{LiveSource, Stream};
use self::lookup::CodeLookup;
use self::overview::StatsView;
use self::range::{InAddress, RangePicker};
use crate::http::{self, HttpError};

#[component]
pub fn Dashboard() -> impl IntoView {
    let range = RwSignal::new(Range::from_address());
    let stats = RwSignal::new(None::<DashboardStats>);
    let problem = RwSignal::new(None::<String>);
    let live = RwSignal::new(Stream::Connecting);
    let source = StoredValue::new_local(None::<LiveSource>);

    // Load once per range, then follow the live stream for it.
    Effect::new(move |_| {
        let range = range.get();
        range.replace_address();
        let query = range.query();
        spawn_local(async move {
            match http::get_json::<DashboardStats>(&format!("/api/dashboard/stats?{query}")).await {
                Ok(fresh) => {
                    stats.set(Some(fresh));
                    problem.set(None);
                }
                Err(HttpError::Unauthorized(_)) => {
                    go_to(&format!("/login?next={}", current_page()))
                }
                Err(error) => problem.set(Some(error.to_string())),
            }
        });
        if live.get_untracked() != Stream::Paused {
            source.set_value(LiveSource::open(&range, stats, live));
        }
    });

    let toggle_live = move |_| {
        if live.get_untracked() == Stream::Paused {
            source.set_value(LiveSource::open(&range.get_untracked(), stats, live));
        } else {
            source.set_value(None);
            live.set(Stream::Paused);
        }
    };
    let logout = move |_| {
        spawn_local(async move {
            let _: Result<SessionAnswer, HttpError> =
                http::post_json("/api/admin/logout", &serde_json::json!({})).await;
            go_to("/login");
        });
    };

    view! {
        <main class="dashboard">
            <header>
                <h1>"Workbench statistics"</h1>
                <div class="toolbar">
                    <span
                        class="live"
                        class:on=move || live.get() == Stream::Open
                        data-testid="live-status"
                        role="status"
                    >
                        {move || match live.get() {
                            Stream::Connecting => "connecting…",
                            Stream::Open => "● live",
                            Stream::Paused => "paused",
                            Stream::Reconnecting => "reconnecting…",
                        }}
                    </span>
                    <button class="secondary" data-testid="live-toggle" on:click=toggle_live>
                        {move || if live.get() == Stream::Paused { "Resume" } else { "Pause" }}
                    </button>
                    <a
                        class="button secondary"
                        data-testid="export-csv"
                        href=move || format!("/api/dashboard/export?format=csv&{}", range.get().query())
                        download
                    >
                        "Export CSV"
                    </a>
                    <a
                        class="button secondary"
                        data-testid="export-json"
                        href=move || format!("/api/dashboard/export?format=json&{}", range.get().query())
                        download
                    >
                        "Export JSON"
                    </a>
                    <button class="secondary" data-testid="logout" on:click=logout>
                        "Log out"
                    </button>
                </div>
            </header>
            <RangePicker range=range />
            <Show when=move || problem.get().is_some()>
                <p class="error" role="alert" data-testid="dashboard-error">
                    {move || problem.get().unwrap_or_default()}
                </p>
            </Show>
            {move || match stats.get() {
                None => view! { <p class="empty">"Loading…"</p> }.into_any(),
                Some(stats) => view! { <StatsView stats=stats /> }.into_any(),
            }}
            <CodeLookup />
        </main>
    }
}

fn current_page() -> String {
    web_sys::window()
        .and_then(|window| {
            let location = window.location();
            Some(format!(
                "{}{}",
                location.pathname().ok()?,
                location.search().ok()?
            ))
        })
        .map(|page| String::from(js_sys::encode_uri_component(&page)))
        .unwrap_or_else(|| "%2Fdashboard".to_owned())
}

pub(super) fn go_to(page: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(page);
    }
}
