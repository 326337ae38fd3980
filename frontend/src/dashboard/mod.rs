//! The admin dashboard (`/dashboard`) and its login (`/login`).
//!
//! The numbers come from `/api/dashboard/stats` for the range in the address (`?range=7d`,
//! or `?from=…&to=…`), so a view can be bookmarked; `/api/dashboard/live` pushes fresh
//! numbers after every change. Every string that came from a client (user agents, error
//! types, package names) is rendered as text by Leptos, never as HTML.

mod charts;

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::stats::{DashboardStats, Entry};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use self::charts::{BarChart, TrendChart, local_time};
use crate::format::{browser_family, duration, thousands};
use crate::http::{self, HttpError};

const RANGES: [(&str, &str); 5] = [
    ("1h", "Last hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("all", "All time"),
];

/// Which time range is shown: a named one, or `from`/`to` in unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Range {
    Named(String),
    Custom { from: i64, to: i64 },
}

impl Range {
    /// The range the address asks for (`24h` if it asks for none).
    fn from_address() -> Self {
        let search = web_sys::window()
            .and_then(|window| window.location().search().ok())
            .unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
        let get = |name: &str| params.as_ref().and_then(|params| params.get(name));
        let number = |name: &str| get(name).and_then(|value| value.parse::<i64>().ok());
        if let (Some(from), Some(to)) = (number("from"), number("to")) {
            return Self::Custom { from, to };
        }
        match get("range") {
            Some(name) if RANGES.iter().any(|(known, _)| *known == name) => Self::Named(name),
            _ => Self::Named("24h".into()),
        }
    }

    fn query(&self) -> String {
        match self {
            Self::Named(name) => format!("range={name}"),
            Self::Custom { from, to } => format!("from={from}&to={to}"),
        }
    }
}

/// The state of the live stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Connecting,
    Open,
    Paused,
    Reconnecting,
}

#[component]
pub fn Login() -> impl IntoView {
    let token = RwSignal::new(String::new());
    let message = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let submit = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        busy.set(true);
        message.set(None);
        spawn_local(async move {
            #[derive(Serialize)]
            struct Credentials {
                token: String,
            }
            #[derive(Deserialize)]
            struct Done {}
            let answer: Result<Done, HttpError> = http::post_json(
                "/api/admin/login",
                &Credentials {
                    token: token.get_untracked(),
                },
            )
            .await;
            busy.set(false);
            match answer {
                Ok(_) => go_to(&next_page()),
                Err(error) => message.set(Some(error.to_string())),
            }
        });
    };
    view! {
        <main class="login">
            <form on:submit=submit aria-labelledby="login-title">
                <h1 id="login-title">"Pyodide Workbench · Admin"</h1>
                <label for="admin-token">"Admin token"</label>
                <input
                    id="admin-token"
                    type="password"
                    data-testid="admin-token"
                    autocomplete="current-password"
                    required
                    prop:value=move || token.get()
                    on:input=move |event| token.set(event_target_value(&event))
                />
                <button type="submit" data-testid="login" disabled=move || busy.get()>
                    "Log in"
                </button>
                <p class="error" role="alert" data-testid="login-error">
                    {move || message.get().unwrap_or_default()}
                </p>
                <p class="hint">
                    "The token is in the server's data directory (admin-token) unless it was set with WORKBENCH_ADMIN_TOKEN."
                </p>
            </form>
        </main>
    }
}

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
        replace_address(&range);
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
            let _: Result<serde_json::Value, HttpError> =
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

#[component]
fn RangePicker(range: RwSignal<Range>) -> impl IntoView {
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
            {RANGES
                .iter()
                .map(|(name, label)| {
                    let name = (*name).to_owned();
                    let selected = {
                        let name = name.clone();
                        move || range.get() == Range::Named(name.clone())
                    };
                    let choose = {
                        let name = name.clone();
                        move |_| range.set(Range::Named(name.clone()))
                    };
                    view! {
                        <button
                            class="range"
                            class:selected=selected.clone()
                            aria-pressed=move || selected().to_string()
                            data-testid=format!("range-{name}")
                            on:click=choose
                        >
                            {*label}
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

#[component]
fn StatsView(stats: DashboardStats) -> impl IntoView {
    let numbers = stats.stats;
    let overview = numbers.overview;
    let nothing_yet = overview.total_executions == 0
        && numbers.recent.packages_installed == 0
        && numbers.recent.files_uploaded == 0;
    let cards = vec![
        (
            "executions",
            "Executions",
            thousands(overview.total_executions),
        ),
        (
            "success-rate",
            "Success rate",
            format!("{} %", overview.success_rate),
        ),
        (
            "average-duration",
            "Average duration",
            duration(overview.average_execution_time as f64),
        ),
        (
            "p95-duration",
            "95th percentile",
            duration(overview.p95_duration_ms),
        ),
        (
            "visitors",
            "Unique visitors",
            thousands(overview.unique_visitors),
        ),
        ("sessions", "Sessions", thousands(overview.sessions)),
        (
            "packages-installed",
            "Packages installed",
            thousands(numbers.recent.packages_installed),
        ),
        (
            "files-loaded",
            "Files loaded",
            thousands(numbers.recent.files_uploaded),
        ),
        ("uptime", "Server uptime", overview.uptime_human.clone()),
        (
            "last-execution",
            "Last execution",
            overview
                .last_execution_time
                .as_deref()
                .map(|iso| local_time(js_sys::Date::parse(iso) as i64))
                .unwrap_or_else(|| "—".to_owned()),
        ),
    ];
    view! {
        <section class="cards" aria-label="Overview">
            {cards
                .into_iter()
                .map(|(id, label, value)| {
                    view! {
                        <div class="card" data-testid=format!("card-{id}")>
                            <span class="card-label">{label}</span>
                            <span class="card-value" data-testid=format!("value-{id}")>{value}</span>
                        </div>
                    }
                })
                .collect_view()}
        </section>
        {if nothing_yet {
            view! {
                <p class="empty" data-testid="empty-state">
                    "No data yet for this range. Runs appear here as people use the workbench."
                </p>
            }
                .into_any()
        } else {
            view! {
                <section class="charts">
                    <TrendChart buckets=numbers.trend caption="Executions over time" />
                    <BarChart
                        entries=numbers.duration_histogram
                        caption="How long runs took"
                        test_id="duration-chart"
                        empty="No timed runs."
                    />
                    <BarChart
                        entries=numbers.top_errors.clone()
                        caption="Errors by type"
                        test_id="errors-chart"
                        empty="No errors in this range."
                    />
                    <BarChart
                        entries=numbers.packages
                        caption="Packages installed"
                        test_id="packages-chart"
                        empty="No packages installed in this range."
                    />
                </section>
                <section class="tables">
                    <CountTable
                        title="Top client addresses"
                        test_id="top-ips"
                        entries=numbers.top_ips
                        first_column="Address"
                    />
                    <UserAgents entries=numbers.user_agents />
                    <CountTable
                        title="Top code (keyed hashes)"
                        test_id="top-code"
                        entries=numbers
                            .top_code_hashes
                            .into_iter()
                            .map(|entry| Entry {
                                name: format!("{}…", entry.name.chars().take(16).collect::<String>()),
                                count: entry.count,
                            })
                            .collect()
                        first_column="Code"
                    />
                </section>
            }
                .into_any()
        }}
    }
}

#[component]
fn CountTable(
    #[prop(into)] title: String,
    #[prop(into)] test_id: String,
    entries: Vec<Entry>,
    #[prop(into)] first_column: String,
) -> impl IntoView {
    view! {
        <section class="table-card" data-testid=test_id>
            <h2>{title}</h2>
            <table>
                <thead>
                    <tr>
                        <th scope="col">{first_column}</th>
                        <th scope="col">"Executions"</th>
                    </tr>
                </thead>
                <tbody>
                    {entries
                        .into_iter()
                        .map(|entry| {
                            view! {
                                <tr>
                                    <td>{entry.name}</td>
                                    <td>{thousands(entry.count)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// User agents grouped by browser family, with the raw strings on demand.
#[component]
fn UserAgents(entries: Vec<Entry>) -> impl IntoView {
    let mut families: BTreeMap<&'static str, (u64, Vec<Entry>)> = BTreeMap::new();
    for entry in entries {
        let family = families.entry(browser_family(&entry.name)).or_default();
        family.0 += entry.count;
        family.1.push(entry);
    }
    let mut families: Vec<_> = families.into_iter().collect();
    families.sort_by_key(|family| std::cmp::Reverse(family.1.0));
    view! {
        <section class="table-card" data-testid="user-agents">
            <h2>"Browsers"</h2>
            {families
                .into_iter()
                .map(|(family, (count, agents))| {
                    view! {
                        <details>
                            <summary>{format!("{family} · {}", thousands(count))}</summary>
                            <ul class="agents">
                                {agents
                                    .into_iter()
                                    .map(|agent| {
                                        view! {
                                            <li data-testid="user-agent">
                                                <code>{agent.name}</code>
                                                {format!(" · {}", thousands(agent.count))}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                        </details>
                    }
                })
                .collect_view()}
        </section>
    }
}

/// "How often did this code run?": paste code or its SHA-256.
#[component]
fn CodeLookup() -> impl IntoView {
    #[derive(Debug, Clone, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        sha256: String,
        executions: u64,
        first_seen: Option<String>,
        last_seen: Option<String>,
    }
    let input = RwSignal::new(String::new());
    let answer = RwSignal::new(None::<Result<Answer, String>>);
    let look_up = move |event: web_sys::SubmitEvent| {
        event.prevent_default();
        let text = input.get_untracked();
        let trimmed = text.trim().to_ascii_lowercase();
        let body = if trimmed.len() == 64 && trimmed.chars().all(|c| c.is_ascii_hexdigit()) {
            serde_json::json!({ "sha256": trimmed })
        } else {
            serde_json::json!({ "code": text })
        };
        spawn_local(async move {
            let found = http::post_json::<Answer>("/api/dashboard/lookup", &body).await;
            answer.set(Some(found.map_err(|error| error.to_string())));
        });
    };
    view! {
        <section class="lookup">
            <h2>"Look up code"</h2>
            <form on:submit=look_up>
                <label for="lookup-code">"Code, or its SHA-256"</label>
                <textarea
                    id="lookup-code"
                    data-testid="lookup-input"
                    spellcheck="false"
                    prop:value=move || input.get()
                    on:input=move |event| input.set(event_target_value(&event))
                ></textarea>
                <button type="submit" data-testid="lookup-submit">"Look up"</button>
            </form>
            <p data-testid="lookup-answer" aria-live="polite">
                {move || match answer.get() {
                    None => String::new(),
                    Some(Err(error)) => error,
                    Some(Ok(found)) if found.executions == 0 => {
                        format!("Code {}… never ran in the stored period.", &found.sha256[..12])
                    }
                    Some(Ok(found)) => format!(
                        "Code {}… ran {} times, first {}, last {}.",
                        &found.sha256[..12],
                        thousands(found.executions),
                        found.first_seen.as_deref().map(iso_local).unwrap_or_default(),
                        found.last_seen.as_deref().map(iso_local).unwrap_or_default()
                    ),
                }}
            </p>
        </section>
    }
}

fn iso_local(iso: &str) -> String {
    local_time(js_sys::Date::parse(iso) as i64)
}

/// The live stream for one range; closing it on drop.
struct LiveSource {
    source: web_sys::EventSource,
    _on_stats: Closure<dyn Fn(web_sys::MessageEvent)>,
    _on_open: Closure<dyn Fn()>,
    _on_error: Closure<dyn Fn()>,
}

impl LiveSource {
    fn open(
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

/// Where the login goes afterwards: `?next=` if it is a local page, else the dashboard.
fn next_page() -> String {
    let search = web_sys::window()
        .and_then(|window| window.location().search().ok())
        .unwrap_or_default();
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()
        .and_then(|params| params.get("next"))
        .filter(|next| next.starts_with('/') && !next.starts_with("//"))
        .unwrap_or_else(|| "/dashboard".to_owned())
}

fn replace_address(range: &Range) {
    if let Some(window) = web_sys::window()
        && let Ok(history) = window.history()
    {
        let _ = history.replace_state_with_url(
            &JsValue::NULL,
            "",
            Some(&format!("/dashboard?{}", range.query())),
        );
    }
}

fn go_to(page: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(page);
    }
}
