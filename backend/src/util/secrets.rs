//! The server's secrets (the admin token, the key for code hashes): random, made once and
//! kept in the data directory readable by the owner only, and compared in constant time.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::util::private_files;

/// The data directory's file of the admin token the server made (without `--admin-token`).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// The data directory's file of the key code hashes are stored under (SQLite store).
pub const CODE_KEY_FILE: &str = "code-key.secret";

/// The secret in `path`, or a new random one written there with owner-only permissions.
/// Returns the secret and whether it was just made.
pub fn read_or_create(path: &Path) -> Result<(String, bool)> {
    if let Ok(existing) = fs::read_to_string(path) {
        let existing = existing.trim().to_owned();
        if !existing.is_empty() {
            return Ok((existing, false));
        }
    }
    if let Some(parent) = path.parent() {
        private_files::create_dir(parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
    }
    let secret = hex::encode(random_bytes()?);
    let mut file = private_files::options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok((secret, true))
}

pub fn random_bytes() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| anyhow::anyhow!("no randomness available: {error}"))?;
    Ok(bytes)
}

/// Equal-time comparison of two secrets (their SHA-256, so lengths do not leak either).
pub fn secrets_match(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given
        .iter()
        .zip(expected.iter())
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match("token", "token"));
        assert!(!secrets_match("token", "tokem"));
        assert!(!secrets_match("", "token"));
    }
}
