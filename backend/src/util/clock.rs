//! Wall-clock time as unix milliseconds, and its UTC calendar forms. (Written out rather
//! than through the `time` crate that `cookie` brings: see ARCHITECTURE.md's decisions.)

use std::time::{SystemTime, UNIX_EPOCH};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The end of the minute `ms` falls in: "up to now" in whole minutes, which is how the
/// statistics' named ranges end (every event received so far is before it, and a range of
/// whole minutes is answered from minute summaries without reading events).
pub fn end_of_minute(ms: i64) -> i64 {
    (ms.div_euclid(MINUTE_MS) + 1) * MINUTE_MS
}

/// `2026-11-27T10:00:00.000Z`
pub fn iso(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / HOUR_MS,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// `2026-11-27`
pub fn date(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(DAY_MS));
    format!("{year:04}-{month:02}-{day:02}")
}

/// Days since 1970-01-01 → (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso(1_795_778_096_789), "2026-11-27T11:14:56.789Z");
        assert_eq!(date(1_795_778_096_789), "2026-11-27");
        assert_eq!(iso(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            iso(end_of_minute(1_795_778_096_789)),
            "2026-11-27T11:15:00.000Z"
        );
        assert_eq!(end_of_minute(120_000), 180_000);
    }
}
