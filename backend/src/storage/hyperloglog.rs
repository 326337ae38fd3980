//! A HyperLogLog sketch: how many distinct visitors or sessions an hour had, in 2 KB that
//! merge with other hours' sketches.
//!
//! Ours, not a crate's: the registers are stored in `hourly_rollups`, so the hash and the
//! register layout are a storage format that must never change; a dependency's update
//! could change either silently. A test pins the stored bytes.

/// A HyperLogLog sketch of distinct strings: 2,048 one-byte registers, ~2.3 % standard error,
/// exact-looking for small counts (linear counting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HyperLogLog {
    registers: Vec<u8>,
}

impl HyperLogLog {
    const INDEX_BITS: u32 = 11;
    const REGISTERS: usize = 1 << Self::INDEX_BITS;

    pub fn new() -> Self {
        Self {
            registers: vec![0; Self::REGISTERS],
        }
    }

    /// A stored sketch; anything of the wrong size reads as empty.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        if bytes.len() == Self::REGISTERS {
            Self { registers: bytes }
        } else {
            Self::new()
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.registers
    }

    pub fn insert(&mut self, value: &str) {
        let hash = hash64(value.as_bytes());
        let index = (hash >> (64 - Self::INDEX_BITS)) as usize;
        let rest = hash << Self::INDEX_BITS;
        let rank = rest.leading_zeros().min(64 - Self::INDEX_BITS) + 1;
        let register = &mut self.registers[index];
        *register = (*register).max(rank as u8);
    }

    pub fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.registers.iter_mut().zip(&other.registers) {
            *mine = (*mine).max(*theirs);
        }
    }

    pub fn estimate(&self) -> u64 {
        let m = Self::REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let sum: f64 = self
            .registers
            .iter()
            .map(|register| 2f64.powi(-i32::from(*register)))
            .sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|r| **r == 0).count();
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

impl Default for HyperLogLog {
    fn default() -> Self {
        Self::new()
    }
}

/// FNV-1a, then SplitMix64's finaliser to spread the bits: stable across versions and
/// restarts, which stored sketches need.
fn hash64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::*;

    #[test]
    fn sketches_count_distinct_values_and_survive_storage() {
        for true_count in [0_u64, 1, 7, 1000, 100_000] {
            let mut sketch = HyperLogLog::new();
            for index in 0..true_count {
                sketch.insert(&format!("visitor-{index}"));
                sketch.insert(&format!("visitor-{index}"));
            }
            let stored = HyperLogLog::from_bytes(sketch.as_bytes().to_vec());
            let estimate = stored.estimate();
            assert!(
                estimate.abs_diff(true_count) <= true_count / 20,
                "{estimate} for {true_count}"
            );
        }
        assert_eq!(HyperLogLog::from_bytes(vec![1, 2, 3]), HyperLogLog::new());
    }

    /// Stored rollups hold the registers as they are: the hash, the register layout and the
    /// ranks must never change, or sketches stored by an older server would merge wrongly.
    #[test]
    fn the_stored_sketch_format_does_not_change() {
        let mut sketch = HyperLogLog::new();
        for index in 0..10_000 {
            sketch.insert(&format!("visitor-{index}"));
        }
        let bytes = sketch.as_bytes();
        assert_eq!(bytes.len(), 2048);
        assert_eq!(
            hex::encode(sha2::Sha256::digest(bytes)),
            "c4c2642f1e56218af99d8d279a393172a016d2d4bcb0eab27af9e2f0e17edfcf"
        );
        assert_eq!(bytes[..8], [4, 2, 6, 3, 4, 5, 3, 2]);
    }
}
