//! What the server keeps about a visitor, and how little: truncated addresses, a visitor id
//! from a daily salt (in memory only; with PostgreSQL, the day's row every replica shares,
//! deleted once the day is over), and code hashes keyed with a server secret.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Result;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::storage::{PgStore, StoreError};
use crate::util::clock;
use crate::util::secrets::{CODE_KEY_FILE, random_bytes, read_or_create};

type HmacSha256 = Hmac<Sha256>;

/// The address as stored: `203.0.113.0/24`, `2001:db8:1::/48`, or in full when configured.
pub fn stored_address(address: IpAddr, full: bool) -> String {
    if full {
        return address.to_string();
    }
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => stored_address(IpAddr::V4(v4), false),
            None => {
                let segments = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", segments[0], segments[1], segments[2])
            }
        },
    }
}

/// A random salt that changes every UTC day, so visitor ids from different days cannot be
/// linked, even by someone holding the database. With SQLite it lives only in memory; with
/// PostgreSQL it is one row per day that every replica shares (so a visitor through two
/// replicas is one visitor), deleted once the day is over. It is never logged.
#[derive(Debug)]
pub struct DailySalt {
    current: Mutex<(i64, [u8; 32])>,
    /// Where replicas share the salt, when there are several.
    shared: Option<PgStore>,
}

/// One day's salt.
#[derive(Clone, Copy)]
pub struct Salt([u8; 32]);

impl std::fmt::Debug for Salt {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Salt(hidden)")
    }
}

impl Salt {
    /// A 16-hex-digit id for this address and user agent.
    pub fn visitor_id(&self, address: &str, user_agent: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(address.as_bytes());
        mac.update(b"\n");
        mac.update(user_agent.as_bytes());
        hex::encode(mac.finalize().into_bytes())[..16].to_owned()
    }
}

impl DailySalt {
    /// A salt kept in this process only.
    pub fn new() -> Result<Self> {
        Ok(Self {
            current: Mutex::new((day_of(clock::now_ms()), random_bytes()?)),
            shared: None,
        })
    }

    /// A salt kept in the database and shared by every replica.
    pub fn shared(store: PgStore) -> Result<Self> {
        Ok(Self {
            shared: Some(store),
            ..Self::new()?
        })
    }

    /// The salt of the UTC day `now_ms` falls in.
    pub async fn salt(&self, now_ms: i64) -> Result<Salt, StoreError> {
        if let Some(store) = &self.shared {
            return store.daily_salt(day_of(now_ms)).await.map(Salt);
        }
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.0 != day_of(now_ms) {
            // Without randomness, hash with the old salt rather than fail the request.
            if let Ok(fresh) = random_bytes() {
                *current = (day_of(now_ms), fresh);
            }
        }
        Ok(Salt(current.1))
    }

    /// A 16-hex-digit id for this address and user agent, stable within one UTC day.
    pub async fn visitor_id(
        &self,
        address: &str,
        user_agent: &str,
        now_ms: i64,
    ) -> Result<String, StoreError> {
        Ok(self.salt(now_ms).await?.visitor_id(address, user_agent))
    }
}

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(clock::DAY_MS)
}

/// The server secret that keys code hashes; made once, kept in the data directory (0600).
#[derive(Debug, Clone)]
pub struct CodeKeyer {
    secret: [u8; 32],
}

impl CodeKeyer {
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        let (secret, _) = read_or_create(&data_dir.join(CODE_KEY_FILE))?;
        Ok(Self::from_secret(&secret))
    }

    /// The keyer of a secret kept elsewhere (the database, shared by replicas).
    pub fn from_secret(secret: &str) -> Self {
        Self {
            secret: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    /// HMAC-SHA256 of the browser's SHA-256 (hex) under the server secret, as hex.
    pub fn key(&self, code_sha256: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(code_sha256.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_truncated_unless_full_ones_are_wanted() {
        let v4: IpAddr = "203.0.113.77".parse().expect("ip");
        let v6: IpAddr = "2001:db8:1:2:3::9".parse().expect("ip");
        let mapped: IpAddr = "::ffff:198.51.100.4".parse().expect("ip");
        assert_eq!(stored_address(v4, false), "203.0.113.0/24");
        assert_eq!(stored_address(v6, false), "2001:db8:1::/48");
        assert_eq!(stored_address(mapped, false), "198.51.100.0/24");
        assert_eq!(stored_address(v4, true), "203.0.113.77");
    }

    #[tokio::test]
    async fn visitor_ids_are_stable_within_a_day_and_change_with_the_salt() {
        let salt = DailySalt::new().expect("salt");
        let address = "203.0.113.77";
        let now = clock::now_ms();
        let id =
            async |agent: &str, at: i64| salt.visitor_id(address, agent, at).await.expect("id");
        let first = id("Firefox", now).await;
        assert_eq!(first, id("Firefox", now + 1000).await);
        assert_ne!(first, id("Chrome", now).await);
        let tomorrow = id("Firefox", now + clock::DAY_MS).await;
        assert_ne!(first, tomorrow, "a new day brings a new salt");
    }

    #[test]
    fn code_keys_depend_on_the_server_secret() {
        let folder = tempfile::tempdir().expect("dir");
        let other = tempfile::tempdir().expect("dir");
        let keyer = CodeKeyer::load_or_create(folder.path()).expect("keyer");
        let again = CodeKeyer::load_or_create(folder.path()).expect("keyer");
        let stranger = CodeKeyer::load_or_create(other.path()).expect("keyer");
        let hash = hex::encode(Sha256::digest(b"print(1)"));
        assert_eq!(keyer.key(&hash), again.key(&hash), "the secret is kept");
        assert_ne!(keyer.key(&hash), stranger.key(&hash));
        assert_ne!(keyer.key(&hash), hash);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(folder.path().join("code-key.secret"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
