//! One answer of the statistics, shown: the overview cards, the charts, and the tables of
//! addresses, browsers and code.

use std::collections::BTreeMap;

use leptos::prelude::*;
use protocol::stats::{DashboardStats, Entry};

use super::charts::{BarChart, TrendChart, local_time};
use crate::format::{browser_family, duration, thousands};

#[component]
pub(super) fn StatsView(stats: DashboardStats) -> impl IntoView {
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
