//! Cell ids: the validated newtype nbformat 4.5 asks for, and where new ones come from.
//!
//! The crate makes no randomness of its own (it is compiled to wasm, where that would pull
//! in `getrandom`): whoever creates cells hands in an [`IdSource`], usually a
//! [`SeededIds`] seeded from the browser's `Math.random`.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// nbformat 4.5 allows cell ids of this many characters at most.
pub const MAX_CELL_ID_LEN: usize = 64;

/// A cell's id: 1 to 64 characters of `[a-zA-Z0-9-_]`, as nbformat 4.5's schema says.
/// Unique within a notebook; the notebook keeps it so.
///
/// On the wire it is a plain JSON string; reading one checks it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CellId(String);

/// A text that is not a valid cell id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cell id is 1 to 64 letters, digits, '-' or '_'")]
pub struct InvalidCellId;

impl CellId {
    /// Checks `text` against nbformat's rule for cell ids.
    pub fn parse(text: impl Into<String>) -> Result<Self, InvalidCellId> {
        let text = text.into();
        let valid = !text.is_empty()
            && text.len() <= MAX_CELL_ID_LEN
            && text
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if valid {
            Ok(Self(text))
        } else {
            Err(InvalidCellId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CellId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl FromStr for CellId {
    type Err = InvalidCellId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for CellId {
    type Error = InvalidCellId;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(text)
    }
}

impl From<CellId> for String {
    fn from(id: CellId) -> Self {
        id.0
    }
}

/// Where new cell ids come from. The notebook asks again when an id is already taken, so
/// a source only needs to make collisions unlikely, not impossible.
pub trait IdSource {
    fn next_id(&mut self) -> CellId;
}

/// Ids of 8 lowercase hex digits, like those nbformat makes (`uuid4().hex[:8]`), from a
/// SplitMix64 sequence: the same seed gives the same ids, which tests rely on; the page
/// seeds it from `Math.random`.
#[derive(Debug, Clone)]
pub struct SeededIds {
    /// SplitMix64's state: advanced by a fixed odd constant per id.
    state: u64,
}

impl SeededIds {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }
}

impl IdSource for SeededIds {
    fn next_id(&mut self) -> CellId {
        // Eight hex digits are always a valid id.
        CellId(format!("{:08x}", self.next_u64() >> 32))
    }
}

/// How many times the caller's source is asked before falling back to counting.
const ATTEMPTS_BEFORE_FALLBACK: usize = 64;

/// An id from `ids` that is not in `taken`. A source that keeps repeating itself (a
/// constant one in a test, say) cannot make this loop forever: after a few tries the ids
/// `cell-0`, `cell-1`, … are tried in turn, and one of the first `taken.len() + 1` is free.
pub(crate) fn fresh_id(ids: &mut impl IdSource, taken: &HashSet<CellId>) -> CellId {
    for _ in 0..ATTEMPTS_BEFORE_FALLBACK {
        let candidate = ids.next_id();
        if !taken.contains(&candidate) {
            return candidate;
        }
    }
    (0..=taken.len())
        .map(|counter| CellId(format!("cell-{counter}")))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| CellId(format!("cell-{}", taken.len() + 1)))
}

/// A 64-bit seed from a text (FNV-1a), for seeding a [`SeededIds`] from an id.
pub(crate) fn seed_from(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_the_ids_nbformat_allows() {
        let longest = "a".repeat(MAX_CELL_ID_LEN);
        for valid in [
            "a",
            "Z9",
            "cell-1_x",
            "5a3c1f2e-8b7d-4e2a-9c1b-3f4e5d6a7b8c",
            &longest,
        ] {
            assert_eq!(
                CellId::parse(valid).map(|id| id.to_string()),
                Ok(valid.to_owned())
            );
        }
        let too_long = "a".repeat(MAX_CELL_ID_LEN + 1);
        for invalid in ["", " ", "a b", "a.b", "é", "a/b", "\n", &too_long] {
            assert_eq!(CellId::parse(invalid), Err(InvalidCellId), "{invalid:?}");
        }
    }

    #[test]
    fn reads_and_writes_ids_as_plain_json_strings() {
        let id: CellId = serde_json::from_str("\"abc-1\"").expect("valid id");
        assert_eq!(id.as_str(), "abc-1");
        assert_eq!(serde_json::to_string(&id).expect("serialize"), "\"abc-1\"");
        assert!(serde_json::from_str::<CellId>("\"a b\"").is_err());
        assert!(serde_json::from_str::<CellId>("3").is_err());
    }

    #[test]
    fn seeded_ids_are_reproducible_eight_hex_digits() {
        let first: Vec<CellId> = {
            let mut ids = SeededIds::new(42);
            (0..100).map(|_| ids.next_id()).collect()
        };
        let again: Vec<CellId> = {
            let mut ids = SeededIds::new(42);
            (0..100).map(|_| ids.next_id()).collect()
        };
        assert_eq!(first, again);
        assert!(
            first.iter().all(|id| id.as_str().len() == 8
                && id.as_str().bytes().all(|byte| byte.is_ascii_hexdigit()))
        );
        let distinct: HashSet<&CellId> = first.iter().collect();
        assert_eq!(distinct.len(), first.len());
        assert_ne!(SeededIds::new(1).next_id(), SeededIds::new(2).next_id());
    }

    /// An id source that always answers the same id.
    struct Stuck;

    impl IdSource for Stuck {
        fn next_id(&mut self) -> CellId {
            CellId("same".to_owned())
        }
    }

    #[test]
    fn a_source_that_repeats_itself_still_yields_a_free_id() {
        let mut taken = HashSet::new();
        for _ in 0..5 {
            let id = fresh_id(&mut Stuck, &taken);
            assert!(!taken.contains(&id));
            taken.insert(id);
        }
        let names: Vec<&str> = {
            let mut names: Vec<&str> = taken.iter().map(CellId::as_str).collect();
            names.sort_unstable();
            names
        };
        assert_eq!(names, ["cell-0", "cell-1", "cell-2", "cell-3", "same"]);
    }
}
