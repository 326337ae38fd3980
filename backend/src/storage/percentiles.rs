//! Percentiles that merge: durations counted in log-spaced buckets (100 per decade of
//! milliseconds, each 2.3 % wide), so hourly summaries add up and a percentile read from the
//! buckets is within 1.2 % of the exact one; and the exact nearest-rank percentile for
//! ranges made of raw events only.

use std::collections::BTreeMap;

/// Percentile buckets per decade of milliseconds: each is 2.3 % wide.
const BUCKETS_PER_DECADE: f64 = 100.0;

/// The percentile bucket of a duration: `floor(100 · log10(ms))`, and one bucket for zero.
pub fn bucket_of(duration: f64) -> i32 {
    if duration > 0.0 {
        (duration.log10() * BUCKETS_PER_DECADE).floor() as i32
    } else {
        i32::MIN
    }
}

/// The geometric middle of a bucket: within 1.2 % of every duration in it.
pub fn bucket_value(bucket: i32) -> f64 {
    if bucket == i32::MIN {
        0.0
    } else {
        10f64.powf((f64::from(bucket) + 0.5) / BUCKETS_PER_DECADE)
    }
}

/// The nearest-rank percentile of sorted values: the smallest value with at least
/// `fraction` of the values at or below it (0 when there are none).
pub fn nearest_rank(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The nearest-rank percentile from bucket counts: the middle of the bucket holding it.
pub fn bucketed_rank(buckets: &BTreeMap<i32, u64>, total: u64, fraction: f64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let rank = ((fraction * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (bucket, count) in buckets {
        seen += count;
        if seen >= rank {
            return bucket_value(*bucket);
        }
    }
    buckets
        .keys()
        .next_back()
        .map_or(0.0, |last| bucket_value(*last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_durations_within_its_width() {
        for duration in [0.3, 1.0, 42.0, 999.9, 12_345.6, 86_400_000.0] {
            let middle = bucket_value(bucket_of(duration));
            assert!(
                (middle - duration).abs() <= duration * 0.012,
                "{duration} ms is read as {middle} ms"
            );
        }
        assert_eq!(bucket_value(bucket_of(0.0)), 0.0);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(nearest_rank(&sorted, 0.5), 20.0);
        assert_eq!(nearest_rank(&sorted, 0.99), 40.0);
        assert_eq!(nearest_rank(&[], 0.5), 0.0);
        let buckets: BTreeMap<i32, u64> = sorted.iter().map(|ms| (bucket_of(*ms), 1)).collect();
        let median = bucketed_rank(&buckets, 4, 0.5);
        assert!((median - 20.0).abs() <= 20.0 * 0.012, "{median}");
        assert_eq!(bucketed_rank(&BTreeMap::new(), 0, 0.5), 0.0);
    }
}
