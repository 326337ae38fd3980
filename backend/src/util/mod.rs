//! Small parts the features share: the clock and its UTC forms (`clock`), the counters
//! `/metrics` shows (`counters`), address truncation and keyed code hashes (`privacy`),
//! owner-only files (`private_files`), token buckets (`rate_limit`) and secrets
//! (`secrets`).

pub mod clock;
pub mod counters;
pub mod privacy;
pub mod private_files;
pub mod rate_limit;
pub mod secrets;
