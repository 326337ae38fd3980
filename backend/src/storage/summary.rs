//! Mergeable summaries of events: everything the statistics need from a span of time, small
//! enough to keep one per hour. A month's dashboard then reads ~720 hourly summaries plus
//! the raw events of the partial hours at its edges, instead of every event.
//!
//! What merging costs in precision, and only when a range includes stored hours:
//! - percentiles come from log-spaced buckets (100 per decade), within 1.2 % of the exact value;
//! - unique visitors and sessions come from HyperLogLog sketches (2,048 registers, ~2.3 %);
//! - top lists are merged from each hour's top [`HOURLY_TOP`], so a name that never makes an
//!   hour's top list is undercounted.
//!
//! Counts, sums, means, the trend and the duration histogram stay exact. A range made only of
//! raw events (the last hour, a fresh server) is exact in every figure.

use std::collections::{BTreeMap, HashMap, HashSet};

use protocol::stats::Entry;
use protocol::telemetry::EventKind;
use serde::{Deserialize, Serialize};

use super::hyperloglog::HyperLogLog;
use super::percentiles::{bucket_of, bucketed_rank, nearest_rank};
use super::{Aggregates, DURATION_BUCKETS};
use crate::util::clock::HOUR_MS;

/// Names each hourly summary keeps per top list.
pub const HOURLY_TOP: usize = 100;
/// Names a top list in the statistics shows.
const TOP: usize = 20;
const MINUTE_MS: i64 = 60_000;

/// One stored event, as the statistics read it.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub kind: EventKind,
    pub success: Option<bool>,
    pub duration_ms: Option<f64>,
    pub error_type: Option<String>,
    pub client_addr: String,
    pub user_agent: Option<String>,
    pub package: Option<String>,
    pub code_key: Option<String>,
    pub visitor_id: String,
    pub session_id: String,
    pub received_at: i64,
}

impl EventRow {
    /// An event being stored, as the statistics read it.
    pub fn of(new: &super::NewEvent) -> Self {
        let event = &new.event;
        Self {
            kind: event.kind,
            success: event.success,
            duration_ms: event.duration_ms,
            error_type: event.error_type.clone(),
            client_addr: new.client_addr.clone(),
            user_agent: new.user_agent.clone(),
            package: event.package.clone(),
            code_key: new.code_key.clone(),
            visitor_id: new.visitor_id.clone(),
            session_id: event.session_id.clone(),
            received_at: new.received_at,
        }
    }
}

/// The additive part of the statistics for a span of events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub executions: u64,
    pub successes: u64,
    pub failures: u64,
    pub duration_count: u64,
    pub duration_sum: f64,
    pub last_execution_at: Option<i64>,
    pub installs: u64,
    pub file_loads: u64,
    /// Executions per [`DURATION_BUCKETS`] entry.
    pub histogram: Vec<u64>,
    /// Executions per percentile bucket (see [`bucket_of`]).
    pub durations: BTreeMap<i32, u64>,
    pub error_types: HashMap<String, u64>,
    pub client_addrs: HashMap<String, u64>,
    pub user_agents: HashMap<String, u64>,
    pub packages: HashMap<String, u64>,
    pub code_keys: HashMap<String, u64>,
    /// Executions by minute of the hour: (successes, executions), for the trend chart. Only
    /// meaningful in one hour's summary; merging leaves it alone.
    pub minutes: BTreeMap<i64, (u64, u64)>,
}

impl Summary {
    /// Counts one event, with the same rules the statistics have always used.
    fn add(&mut self, row: &EventRow) {
        match row.kind {
            EventKind::Execution => {
                self.executions += 1;
                match row.success {
                    Some(true) => self.successes += 1,
                    Some(false) => {
                        self.failures += 1;
                        count(&mut self.error_types, row.error_type.as_deref());
                    }
                    None => {}
                }
                self.last_execution_at = self.last_execution_at.max(Some(row.received_at));
                if let Some(duration) = row.duration_ms {
                    self.duration_count += 1;
                    self.duration_sum += duration;
                    self.histogram_mut()[histogram_slot(duration)] += 1;
                    *self.durations.entry(bucket_of(duration)).or_default() += 1;
                }
                count(&mut self.client_addrs, Some(&row.client_addr));
                count(&mut self.user_agents, row.user_agent.as_deref());
                count(&mut self.code_keys, row.code_key.as_deref());
                let minute = self
                    .minutes
                    .entry(row.received_at.rem_euclid(HOUR_MS) / MINUTE_MS)
                    .or_default();
                minute.0 += u64::from(row.success == Some(true));
                minute.1 += 1;
            }
            // A failed install installed nothing.
            EventKind::Install => {
                if row.success != Some(false) {
                    self.installs += 1;
                    count(&mut self.packages, row.package.as_deref());
                }
            }
            EventKind::FileLoad => self.file_loads += 1,
            EventKind::Reset | EventKind::Restart => {}
        }
    }

    /// Adds another summary's counts and sums, but not its lists or buckets.
    fn merge_counts(&mut self, other: &Self) {
        self.executions += other.executions;
        self.successes += other.successes;
        self.failures += other.failures;
        self.duration_count += other.duration_count;
        self.duration_sum += other.duration_sum;
        self.last_execution_at = self.last_execution_at.max(other.last_execution_at);
        self.installs += other.installs;
        self.file_loads += other.file_loads;
    }

    fn merge(&mut self, other: &Self) {
        self.merge_counts(other);
        for (slot, count) in self.histogram_mut().iter_mut().zip(&other.histogram) {
            *slot += count;
        }
        for (bucket, count) in &other.durations {
            *self.durations.entry(*bucket).or_default() += count;
        }
        for (mine, theirs) in [
            (&mut self.error_types, &other.error_types),
            (&mut self.client_addrs, &other.client_addrs),
            (&mut self.user_agents, &other.user_agents),
            (&mut self.packages, &other.packages),
            (&mut self.code_keys, &other.code_keys),
        ] {
            for (name, count) in theirs {
                match mine.get_mut(name) {
                    Some(slot) => *slot += count,
                    None => {
                        mine.insert(name.clone(), *count);
                    }
                }
            }
        }
    }

    /// Keeps only the `limit` most frequent names of each top list.
    fn keep_top(&mut self, limit: usize) {
        for counts in [
            &mut self.error_types,
            &mut self.client_addrs,
            &mut self.user_agents,
            &mut self.packages,
            &mut self.code_keys,
        ] {
            if counts.len() > limit {
                *counts = top(counts, limit)
                    .into_iter()
                    .map(|entry| (entry.name, entry.count))
                    .collect();
            }
        }
    }

    fn histogram_mut(&mut self) -> &mut Vec<u64> {
        self.histogram.resize(DURATION_BUCKETS.len(), 0);
        &mut self.histogram
    }
}

fn count(counts: &mut HashMap<String, u64>, name: Option<&str>) {
    if let Some(name) = name {
        match counts.get_mut(name) {
            Some(slot) => *slot += 1,
            None => {
                counts.insert(name.to_owned(), 1);
            }
        }
    }
}

/// The most frequent names first, ties by name; at most `limit`. Linear in the number of
/// names, so a list with many rare names costs no sort of them all.
fn top(counts: &HashMap<String, u64>, limit: usize) -> Vec<Entry> {
    let order = |a: &(&String, u64), b: &(&String, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
    let mut entries: Vec<(&String, u64)> = counts.iter().map(|(name, n)| (name, *n)).collect();
    if entries.len() > limit && limit > 0 {
        entries.select_nth_unstable_by(limit - 1, order);
    }
    entries.truncate(limit);
    entries.sort_unstable_by(order);
    entries
        .into_iter()
        .map(|(name, count)| Entry {
            name: name.clone(),
            count,
        })
        .collect()
}

fn histogram_slot(duration: f64) -> usize {
    DURATION_BUCKETS
        .iter()
        .position(|(_, below)| duration < *below)
        .unwrap_or(DURATION_BUCKETS.len() - 1)
}

/// A summarised span of events: an hour as stored in `hourly_rollups`, or a minute kept in
/// memory (`recent`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollup {
    pub summary: Summary,
    pub visitors: HyperLogLog,
    pub sessions: HyperLogLog,
}

impl Rollup {
    /// Counts one more event.
    pub fn add(&mut self, row: &EventRow) {
        self.summary.add(row);
        self.visitors.insert(&row.visitor_id);
        self.sessions.insert(&row.session_id);
    }

    /// Keeps only the `limit` most frequent names of each top list, as a stored hour does.
    pub fn keep_top(&mut self, limit: usize) {
        self.summary.keep_top(limit);
    }
}

/// The statistics of `[from, to)`, built from raw events and whole stored hours.
#[derive(Debug)]
pub struct RangeStats {
    from: i64,
    to: i64,
    summary: Summary,
    /// Durations of the raw events, for exact percentiles while no stored hour is merged.
    durations: Vec<f64>,
    visitors: HashSet<String>,
    sessions: HashSet<String>,
    visitor_sketch: HyperLogLog,
    session_sketch: HyperLogLog,
    merged_hours: bool,
    /// Only counts, means and the trends are wanted: summaries' lists, buckets and sketches
    /// are not merged.
    counts_only: bool,
    trend: Vec<(u64, u64)>,
    hour_of_day: Vec<u64>,
}

impl RangeStats {
    pub fn new(from: i64, to: i64) -> Self {
        Self {
            from,
            to,
            summary: Summary::default(),
            durations: Vec::new(),
            visitors: HashSet::new(),
            sessions: HashSet::new(),
            visitor_sketch: HyperLogLog::new(),
            session_sketch: HyperLogLog::new(),
            merged_hours: false,
            counts_only: false,
            trend: vec![(0, 0); 24],
            hour_of_day: vec![0; 24],
        }
    }

    /// Statistics of `[from, to)` that keep only the counts, the mean and the trends (the
    /// lists, percentiles and unique counts stay empty): much cheaper over summarised time.
    pub fn counts_only(from: i64, to: i64) -> Self {
        Self {
            counts_only: true,
            ..Self::new(from, to)
        }
    }

    /// The range `[from, to)` these statistics are for.
    pub fn range(&self) -> (i64, i64) {
        (self.from, self.to)
    }

    pub fn add_event(&mut self, row: &EventRow) {
        self.summary.add(row);
        if !self.visitors.contains(&row.visitor_id) {
            self.visitors.insert(row.visitor_id.clone());
        }
        if !self.sessions.contains(&row.session_id) {
            self.sessions.insert(row.session_id.clone());
        }
        if row.kind == EventKind::Execution {
            if let Some(duration) = row.duration_ms {
                self.durations.push(duration);
            }
            self.place(row.received_at, u64::from(row.success == Some(true)), 1);
        }
    }

    /// Merges a summarised span (a stored hour, a minute in memory) that lies wholly inside
    /// the range; `hour` is the hour it falls in.
    pub fn add_rollup(&mut self, hour: i64, rollup: &Rollup) {
        self.merged_hours = true;
        for (minute, (successes, executions)) in &rollup.summary.minutes {
            self.place(hour * HOUR_MS + minute * MINUTE_MS, *successes, *executions);
        }
        if self.counts_only {
            self.summary.merge_counts(&rollup.summary);
            return;
        }
        self.summary.merge(&rollup.summary);
        self.visitor_sketch.merge(&rollup.visitors);
        self.session_sketch.merge(&rollup.sessions);
    }

    fn place(&mut self, at: i64, successes: u64, executions: u64) {
        if self.to > self.from {
            let bucket = (at.max(self.from) - self.from) * 24 / (self.to - self.from);
            if let Some(slot) = usize::try_from(bucket)
                .ok()
                .and_then(|bucket| self.trend.get_mut(bucket))
            {
                slot.0 += successes;
                slot.1 += executions - successes;
            }
        }
        let hour = at.div_euclid(HOUR_MS).rem_euclid(24) as usize;
        self.hour_of_day[hour] += executions;
    }

    /// What to store for an hour whose raw events were all added.
    pub fn into_rollup(self) -> Rollup {
        let mut summary = self.summary;
        summary.keep_top(HOURLY_TOP);
        let mut visitors = HyperLogLog::new();
        self.visitors.iter().for_each(|id| visitors.insert(id));
        let mut sessions = HyperLogLog::new();
        self.sessions.iter().for_each(|id| sessions.insert(id));
        Rollup {
            summary,
            visitors,
            sessions,
        }
    }

    pub fn finish(mut self) -> Aggregates {
        if !self.merged_hours {
            self.durations.sort_unstable_by(f64::total_cmp);
        }
        let summary = &self.summary;
        let (unique_visitors, sessions) = if self.merged_hours {
            self.visitors
                .iter()
                .for_each(|id| self.visitor_sketch.insert(id));
            self.sessions
                .iter()
                .for_each(|id| self.session_sketch.insert(id));
            (
                self.visitor_sketch.estimate(),
                self.session_sketch.estimate(),
            )
        } else {
            (self.visitors.len() as u64, self.sessions.len() as u64)
        };
        let percentile = |fraction: f64| -> f64 {
            if self.merged_hours {
                bucketed_rank(&summary.durations, summary.duration_count, fraction)
            } else {
                nearest_rank(&self.durations, fraction)
            }
        };
        let mut histogram = summary.histogram.clone();
        histogram.resize(DURATION_BUCKETS.len(), 0);
        Aggregates {
            executions: summary.executions,
            successes: summary.successes,
            failures: summary.failures,
            mean_duration_ms: if summary.duration_count == 0 {
                0.0
            } else {
                summary.duration_sum / summary.duration_count as f64
            },
            p50_duration_ms: percentile(0.50),
            p95_duration_ms: percentile(0.95),
            p99_duration_ms: percentile(0.99),
            last_execution_at: summary.last_execution_at,
            unique_visitors,
            sessions,
            installs: summary.installs,
            file_loads: summary.file_loads,
            error_types: top(&summary.error_types, TOP),
            client_addrs: top(&summary.client_addrs, TOP),
            user_agents: top(&summary.user_agents, TOP),
            packages: top(&summary.packages, TOP),
            code_keys: top(&summary.code_keys, TOP),
            trend: self.trend.clone(),
            hour_of_day: self.hour_of_day.clone(),
            duration_histogram: histogram,
        }
    }
}

/// Asserts that the figures rollups keep exact are the same in `merged` as in `exact`:
/// counts, the mean, the last execution, the trend, the hours of day, the histogram and the
/// top lists.
#[cfg(test)]
pub(in crate::storage) fn assert_exact_figures_match(merged: &Aggregates, exact: &Aggregates) {
    assert_eq!(
        (merged.executions, merged.successes, merged.failures),
        (exact.executions, exact.successes, exact.failures)
    );
    assert!((merged.mean_duration_ms - exact.mean_duration_ms).abs() < 1e-9);
    assert_eq!(merged.last_execution_at, exact.last_execution_at);
    assert_eq!(merged.trend, exact.trend);
    assert_eq!(merged.hour_of_day, exact.hour_of_day);
    assert_eq!(merged.duration_histogram, exact.duration_histogram);
    assert_eq!(merged.error_types, exact.error_types);
    assert_eq!(merged.client_addrs, exact.client_addrs);
    assert_eq!(merged.code_keys, exact.code_keys);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(index: usize, at: i64) -> EventRow {
        let failed = index.is_multiple_of(7);
        EventRow {
            kind: EventKind::Execution,
            success: Some(!failed),
            duration_ms: Some((index % 997) as f64 * 1.7),
            error_type: failed.then(|| format!("Error{}", index % 3)),
            client_addr: format!("10.0.{}.0/24", index % 30),
            user_agent: Some(format!("Agent/{}", index % 5)),
            package: None,
            code_key: Some(format!("code-{}", index % 40)),
            visitor_id: format!("visitor-{}", index % 300),
            session_id: format!("session-{}", index % 500),
            received_at: at,
        }
    }

    /// Events over ten hours, summed once event by event and once from hourly rollups. (The
    /// trend is exact when its buckets start on whole minutes, as these do.)
    #[test]
    fn hourly_rollups_merge_to_the_same_statistics() {
        let (from, to) = (100 * HOUR_MS, 110 * HOUR_MS);
        let rows: Vec<EventRow> = (0..5000)
            .map(|index| execution(index, from + (index as i64 * 7_211) % (to - from)))
            .collect();
        let mut exact = RangeStats::new(from, to);
        rows.iter().for_each(|row| exact.add_event(row));
        let exact = exact.finish();

        let mut merged = RangeStats::new(from, to);
        for hour in 100..110 {
            let mut one = RangeStats::new(hour * HOUR_MS, (hour + 1) * HOUR_MS);
            rows.iter()
                .filter(|row| row.received_at.div_euclid(HOUR_MS) == hour)
                .for_each(|row| one.add_event(row));
            merged.add_rollup(hour, &one.into_rollup());
        }
        let merged = merged.finish();

        assert_eq!(merged.executions, 5000);
        assert_exact_figures_match(&merged, &exact);
        for (approximate, true_value) in [
            (merged.p50_duration_ms, exact.p50_duration_ms),
            (merged.p95_duration_ms, exact.p95_duration_ms),
            (merged.p99_duration_ms, exact.p99_duration_ms),
        ] {
            assert!(
                (approximate - true_value).abs() <= true_value * 0.012,
                "{approximate} vs {true_value}"
            );
        }
        assert_eq!((exact.unique_visitors, exact.sessions), (300, 500));
        for (approximate, true_value) in [(merged.unique_visitors, 300), (merged.sessions, 500)] {
            assert!(
                approximate.abs_diff(true_value) <= true_value / 20,
                "{approximate} vs {true_value}"
            );
        }
    }

    #[test]
    fn a_stored_hour_keeps_only_its_top_names() {
        let mut hour = RangeStats::new(0, HOUR_MS);
        for index in 0..(HOURLY_TOP + 50) {
            let mut row = execution(1, 5);
            row.code_key = Some(format!("rare-{index}"));
            hour.add_event(&row);
        }
        let mut row = execution(1, 5);
        row.code_key = Some("common".into());
        hour.add_event(&row);
        hour.add_event(&row);
        let rollup = hour.into_rollup();
        assert_eq!(rollup.summary.code_keys.len(), HOURLY_TOP);
        assert_eq!(rollup.summary.code_keys.get("common"), Some(&2));
        assert_eq!(rollup.summary.executions, HOURLY_TOP as u64 + 52);
    }

    #[test]
    fn summaries_round_trip_through_json() {
        let mut stats = RangeStats::new(0, HOUR_MS);
        (0..50).for_each(|index| stats.add_event(&execution(index, 1000)));
        let rollup = stats.into_rollup();
        let text = serde_json::to_string(&rollup.summary).expect("serialises");
        let back: Summary = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, rollup.summary);
    }
}
