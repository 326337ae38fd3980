//! Charts drawn as SVG by our own code: no chart library, no CDN, colours from the page's
//! CSS variables (so both themes work), and every chart followed by a table with its numbers.

use leptos::prelude::*;
use protocol::stats::{Entry, TrendBucket};

use crate::format::thousands;

/// Charts are drawn in a coordinate space about as wide as their card, so text stays legible.
const WIDTH: f64 = 380.0;

/// Executions over time: successes with failures stacked on top, one column per bucket.
#[component]
pub fn TrendChart(buckets: Vec<TrendBucket>, #[prop(into)] caption: String) -> impl IntoView {
    let height = 140.0;
    let tallest = buckets
        .iter()
        .map(|bucket| bucket.successes + bucket.failures)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = WIDTH / buckets.len().max(1) as f64;
    let total: u64 = buckets
        .iter()
        .map(|bucket| bucket.successes + bucket.failures)
        .sum();
    let summary = format!(
        "{caption}: {} executions in {} intervals",
        thousands(total),
        buckets.len()
    );
    let columns = buckets
        .iter()
        .enumerate()
        .map(|(index, bucket)| {
            let x = index as f64 * slot + 1.0;
            let ok_height = bucket.successes as f64 / tallest * height;
            let failed_height = bucket.failures as f64 / tallest * height;
            let label = format!(
                "{}: {} succeeded, {} failed",
                local_time(bucket.start),
                thousands(bucket.successes),
                thousands(bucket.failures)
            );
            view! {
                <g>
                    <title>{label}</title>
                    <rect class="bar-ok" x=x y=height - ok_height width=slot - 2.0 height=ok_height></rect>
                    <rect
                        class="bar-failed"
                        x=x
                        y=height - ok_height - failed_height
                        width=slot - 2.0
                        height=failed_height
                    ></rect>
                </g>
            }
        })
        .collect_view();
    let first = buckets
        .first()
        .map(|bucket| local_time(bucket.start))
        .unwrap_or_default();
    let last = buckets
        .last()
        .map(|bucket| local_time(bucket.start))
        .unwrap_or_default();
    let rows = buckets
        .iter()
        .map(|bucket| {
            view! {
                <tr>
                    <td>{local_time(bucket.start)}</td>
                    <td>{thousands(bucket.successes)}</td>
                    <td>{thousands(bucket.failures)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <figure class="chart" data-testid="trend-chart">
            <figcaption>{caption.clone()}</figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {}", height + 20.0) role="img" aria-label=summary>
                {columns}
                <text class="axis" x="0" y=height + 16.0>{first}</text>
                <text class="axis" x=WIDTH y=height + 16.0 text-anchor="end">{last}</text>
            </svg>
            <p class="legend">
                <span class="swatch ok"></span>
                " succeeded "
                <span class="swatch failed"></span>
                " failed"
            </p>
            <details>
                <summary>"Numbers"</summary>
                <table>
                    <thead>
                        <tr>
                            <th scope="col">"From"</th>
                            <th scope="col">"Succeeded"</th>
                            <th scope="col">"Failed"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        </figure>
    }
}

/// Named counts as horizontal bars, each labelled with its name and number (which are the
/// chart's text alternative).
#[component]
pub fn BarChart(
    entries: Vec<Entry>,
    #[prop(into)] caption: String,
    #[prop(into)] test_id: String,
    #[prop(into)] empty: String,
) -> impl IntoView {
    if entries.iter().all(|entry| entry.count == 0) {
        return view! {
            <figure class="chart" data-testid=test_id>
                <figcaption>{caption}</figcaption>
                <p class="empty">{empty}</p>
            </figure>
        }
        .into_any();
    }
    let row_height = 24.0;
    let label_width = 130.0;
    let largest = entries
        .iter()
        .map(|entry| entry.count)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let height = row_height * entries.len() as f64;
    let bars = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let y = index as f64 * row_height;
            let width = entry.count as f64 / largest * (WIDTH - label_width - 50.0);
            let name: String = entry.name.chars().take(20).collect();
            view! {
                <g>
                    <title>{format!("{}: {}", entry.name, thousands(entry.count))}</title>
                    <text class="label" x=label_width - 8.0 y=y + 17.0 text-anchor="end">{name}</text>
                    <rect class="bar-ok" x=label_width y=y + 4.0 width=width.max(1.0) height=row_height - 8.0></rect>
                    <text class="value" x=label_width + width + 6.0 y=y + 17.0>{thousands(entry.count)}</text>
                </g>
            }
        })
        .collect_view();
    let summary = entries
        .iter()
        .map(|entry| format!("{} {}", entry.name, entry.count))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <figure class="chart" data-testid=test_id>
            <figcaption>{caption.clone()}</figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {height}") role="img" aria-label=format!("{caption}: {summary}")>
                {bars}
            </svg>
        </figure>
    }
    .into_any()
}

/// A time in the viewer's own time zone, short.
pub fn local_time(unix_ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(unix_ms as f64));
    String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}
