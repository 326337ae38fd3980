//! The last day in memory, minute by minute: the writer adds every event it stores to the
//! summary of the event's minute, so a query over recent time merges summaries instead of
//! reading events — however many arrived this hour.
//!
//! It holds every event received from [`RecentMinutes::covers_from`] on: the start of the
//! hour 25 hours ago (so a 24-hour range lies wholly inside it), or later after a purge. It
//! is rebuilt from the database when the store opens. A minute's top lists are cut to
//! [`MINUTE_TOP`] names once the minute is over, which bounds its size; the price in
//! precision is the one hourly rollups pay (see `summary`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use super::summary::{EventRow, Rollup};
use crate::util::clock::HOUR_MS;

pub use crate::util::clock::MINUTE_MS;
/// Names a finished minute keeps per top list.
pub const MINUTE_TOP: usize = 40;
/// Whole hours kept before the current one.
const HOURS_KEPT: i64 = 25;

/// The recent minutes, shared by the writer (which adds to them) and the readers.
pub type SharedRecent = Arc<RwLock<RecentMinutes>>;

/// One minute's events, summarised.
#[derive(Debug, Clone, Default)]
pub struct MinutePart {
    pub rollup: Rollup,
    /// Events of every kind.
    pub events: u64,
    /// The earliest and latest receive time in it, so a range that starts or ends inside the
    /// minute can still use the summary when no event lies outside the range.
    pub first_at: i64,
    pub last_at: i64,
}

/// Minute summaries of every event received since [`Self::covers_from`].
#[derive(Debug, Default)]
pub struct RecentMinutes {
    covers_from: i64,
    /// Nothing before this is kept (a purge's cut, rounded up to the hour).
    floor: i64,
    /// By minute number (unix ms / 60,000).
    minutes: BTreeMap<i64, Arc<MinutePart>>,
    /// Minutes with new events whose top lists are not cut yet.
    open: BTreeSet<i64>,
}

impl RecentMinutes {
    pub fn new(now: i64) -> Self {
        Self {
            covers_from: window_start(now),
            ..Self::default()
        }
    }

    /// Every event received from this time (unix ms, an hour's start) on is summarised here.
    pub fn covers_from(&self) -> i64 {
        self.covers_from
    }

    /// Counts a stored event, if it falls inside the window.
    pub fn add(&mut self, row: &EventRow) {
        if row.received_at < self.covers_from {
            return;
        }
        let minute = row.received_at.div_euclid(MINUTE_MS);
        let part = Arc::make_mut(self.minutes.entry(minute).or_insert_with(|| {
            Arc::new(MinutePart {
                first_at: row.received_at,
                last_at: row.received_at,
                ..MinutePart::default()
            })
        }));
        part.rollup.add(row);
        part.events += 1;
        part.first_at = part.first_at.min(row.received_at);
        part.last_at = part.last_at.max(row.received_at);
        self.open.insert(minute);
    }

    /// Moves the window on to `now`, forgetting what fell out of it, and cuts the top lists
    /// of the minutes that are over.
    pub fn advance(&mut self, now: i64) {
        self.covers_from = self.covers_from.max(window_start(now)).max(self.floor);
        let first_kept = self.covers_from.div_euclid(MINUTE_MS);
        self.minutes = self.minutes.split_off(&first_kept);
        let current = now.div_euclid(MINUTE_MS);
        let still_open = self.open.split_off(&current);
        for minute in std::mem::replace(&mut self.open, still_open) {
            if let Some(part) = self.minutes.get_mut(&minute) {
                Arc::make_mut(part).rollup.keep_top(MINUTE_TOP);
            }
        }
    }

    /// Forgets everything before `cutoff` (a purge): the window then starts at the next
    /// whole hour, and the cut hour is read from the database.
    pub fn forget_before(&mut self, cutoff: i64, now: i64) {
        let next_hour = cutoff.div_euclid(HOUR_MS) * HOUR_MS
            + if cutoff.rem_euclid(HOUR_MS) == 0 {
                0
            } else {
                HOUR_MS
            };
        self.floor = self.floor.max(next_hour);
        self.advance(now);
    }

    /// The minutes that start in `[from, to)`, oldest first.
    pub fn minutes(&self, from: i64, to: i64) -> Vec<(i64, Arc<MinutePart>)> {
        let first = from.div_euclid(MINUTE_MS) + i64::from(from.rem_euclid(MINUTE_MS) != 0);
        let end = to.div_euclid(MINUTE_MS) + i64::from(to.rem_euclid(MINUTE_MS) != 0);
        if first >= end {
            return Vec::new();
        }
        self.minutes
            .range(first..end)
            .map(|(minute, part)| (*minute, Arc::clone(part)))
            .collect()
    }

    /// The minute `minute`, if it has events.
    pub fn minute(&self, minute: i64) -> Option<Arc<MinutePart>> {
        self.minutes.get(&minute).cloned()
    }
}

/// The start of the hour [`HOURS_KEPT`] hours before the one `now` is in.
fn window_start(now: i64) -> i64 {
    (now.div_euclid(HOUR_MS) - HOURS_KEPT) * HOUR_MS
}

#[cfg(test)]
mod tests {
    use protocol::telemetry::EventKind;

    use super::*;

    fn row(at: i64, code: &str) -> EventRow {
        EventRow {
            kind: EventKind::Execution,
            success: Some(true),
            duration_ms: Some(5.0),
            error_type: None,
            client_addr: "10.0.0.0/24".into(),
            user_agent: None,
            package: None,
            code_key: Some(code.to_owned()),
            visitor_id: "v".into(),
            session_id: "s".into(),
            received_at: at,
        }
    }

    #[test]
    fn events_land_in_their_minute_and_old_ones_fall_out() {
        let now = 1000 * HOUR_MS + 30 * MINUTE_MS;
        let mut recent = RecentMinutes::new(now);
        assert_eq!(recent.covers_from(), 975 * HOUR_MS);
        recent.add(&row(now - 26 * HOUR_MS, "too-old"));
        recent.add(&row(now - 1000, "a"));
        recent.add(&row(now - 500, "a"));
        recent.add(&row(now - MINUTE_MS - 1, "b"));
        let minutes = recent.minutes(now - 2 * MINUTE_MS, now + 1);
        assert_eq!(minutes.len(), 2);
        assert_eq!(minutes[1].1.events, 2);
        assert_eq!(
            (minutes[1].1.first_at, minutes[1].1.last_at),
            (now - 1000, now - 500)
        );
        assert!(recent.minutes(0, now - 26 * HOUR_MS).is_empty());

        recent.advance(now + 25 * HOUR_MS);
        assert_eq!(recent.covers_from(), 1000 * HOUR_MS);
        assert_eq!(recent.minutes(0, i64::MAX).len(), 2, "this hour is kept");
        recent.advance(now + 26 * HOUR_MS);
        assert!(recent.minutes(0, i64::MAX).is_empty());
    }

    #[test]
    fn a_finished_minute_keeps_only_its_top_names() {
        let now = 1000 * HOUR_MS;
        let mut recent = RecentMinutes::new(now);
        for index in 0..(MINUTE_TOP + 10) {
            recent.add(&row(now + 1, &format!("rare-{index}")));
        }
        recent.add(&row(now + 2, "common"));
        recent.add(&row(now + 3, "common"));
        recent.advance(now + 30_000);
        let open = recent.minute(now.div_euclid(MINUTE_MS)).expect("minute");
        assert_eq!(
            open.rollup.summary.code_keys.len(),
            MINUTE_TOP + 11,
            "kept whole while open"
        );
        recent.advance(now + MINUTE_MS);
        let closed = recent.minute(now.div_euclid(MINUTE_MS)).expect("minute");
        assert_eq!(closed.rollup.summary.code_keys.len(), MINUTE_TOP);
        assert_eq!(closed.rollup.summary.code_keys.get("common"), Some(&2));
        assert_eq!(closed.events, MINUTE_TOP as u64 + 12);
    }

    #[test]
    fn a_purge_moves_the_window_to_the_next_hour() {
        let now = 1000 * HOUR_MS;
        let mut recent = RecentMinutes::new(now);
        recent.add(&row(now - 2 * HOUR_MS, "a"));
        recent.add(&row(now - 10, "b"));
        recent.forget_before(now - 90 * MINUTE_MS, now);
        assert_eq!(recent.covers_from(), now - HOUR_MS);
        assert_eq!(recent.minutes(0, i64::MAX).len(), 1);
        recent.advance(now + 1);
        assert_eq!(recent.covers_from(), now - HOUR_MS, "the cut stays");
    }
}
