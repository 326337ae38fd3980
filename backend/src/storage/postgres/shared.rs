//! State every replica must agree on, kept in the database: the daily visitor salt,
//! deployment secrets and admin sessions.

use sha2::{Digest, Sha256};

use super::{PgStore, classify, unavailable};
use crate::storage::StoreError;
use crate::util::secrets::random_bytes;

/// A secret made once per deployment and shared by its replicas (`deployment_secrets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The key code hashes are stored under.
    CodeKey,
    /// The admin token, when replicas are not given one.
    AdminToken,
}

impl Secret {
    fn name(self) -> &'static str {
        match self {
            Self::CodeKey => "code-key",
            Self::AdminToken => "admin-token",
        }
    }
}

/// How a moved store's code-hash key was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKeyAdopted {
    /// The deployment had none: it is the deployment's key now.
    AsTheKey,
    /// The deployment's key is the same one.
    AlreadyTheKey,
    /// The deployment has another key: this one is kept beside it, for look-ups.
    AsAFormerKey,
}

/// The prefix of the former code-hash keys' names; the rest is the start of the key's
/// SHA-256, so moving the same store again keeps it once.
const FORMER_CODE_KEY: &str = "former-code-key-";

impl PgStore {
    /// The visitor salt of UTC day `day` (days since the epoch). The first replica that needs
    /// it makes it; the others read that one. Kept in memory for the rest of the day, and
    /// the salts of earlier days are deleted when a new one is made.
    pub async fn daily_salt(&self, day: i64) -> Result<[u8; 32], StoreError> {
        if let Some((cached_day, salt)) = *self.salt_cache()
            && cached_day == day
        {
            return Ok(salt);
        }
        let fresh = random_bytes().map_err(|error| StoreError::Database(error.to_string()))?;
        let client = self.inner.pool.get().await.map_err(unavailable)?;
        client
            .execute(
                "INSERT INTO daily_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
                &[&day, &fresh.as_slice()],
            )
            .await
            .map_err(classify)?;
        let stored: Vec<u8> = client
            .query_one("SELECT salt FROM daily_salts WHERE day = $1", &[&day])
            .await
            .map_err(classify)?
            .get(0);
        client
            .execute("DELETE FROM daily_salts WHERE day < $1", &[&day])
            .await
            .map_err(classify)?;
        let salt: [u8; 32] = stored
            .try_into()
            .map_err(|_| StoreError::Database("a stored salt is not 32 bytes".into()))?;
        *self.salt_cache() = Some((day, salt));
        Ok(salt)
    }

    /// The deployment's `secret`, made by the first replica that asks; `true` if this call
    /// made it.
    pub async fn deployment_secret(&self, secret: Secret) -> Result<(String, bool), StoreError> {
        let fresh =
            hex::encode(random_bytes().map_err(|error| StoreError::Database(error.to_string()))?);
        if self.adopt_secret(secret.name(), &fresh).await? {
            return Ok((fresh, true));
        }
        let client = self.inner.pool.get().await.map_err(unavailable)?;
        let row = client
            .query_one(
                "SELECT value FROM deployment_secrets WHERE name = $1",
                &[&secret.name()],
            )
            .await
            .map_err(classify)?;
        Ok((row.get(0), false))
    }

    /// Keeps `value` as the secret called `name` unless the deployment has one by that name;
    /// `true` if it was kept.
    async fn adopt_secret(&self, name: &str, value: &str) -> Result<bool, StoreError> {
        let client = self.inner.pool.get().await.map_err(unavailable)?;
        let stored = client
            .execute(
                "INSERT INTO deployment_secrets (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &value],
            )
            .await
            .map_err(classify)?;
        Ok(stored == 1)
    }

    /// Gives the deployment the admin token of a store moved in, unless it has one.
    pub async fn adopt_admin_token(&self, token: &str) -> Result<bool, StoreError> {
        self.adopt_secret(Secret::AdminToken.name(), token).await
    }

    /// Gives the deployment the code-hash key of a store moved in: as its key if it has none;
    /// else, if the keys differ, as a former key, which look-ups also ask with (the moved
    /// events keep the hashes it made). Safe to repeat.
    pub async fn adopt_code_key(&self, secret: &str) -> Result<CodeKeyAdopted, StoreError> {
        if self.adopt_secret(Secret::CodeKey.name(), secret).await? {
            return Ok(CodeKeyAdopted::AsTheKey);
        }
        let (current, _) = self.deployment_secret(Secret::CodeKey).await?;
        if current == secret {
            return Ok(CodeKeyAdopted::AlreadyTheKey);
        }
        let name = format!(
            "{FORMER_CODE_KEY}{}",
            &hex::encode(Sha256::digest(secret.as_bytes()))[..16]
        );
        self.adopt_secret(&name, secret).await?;
        Ok(CodeKeyAdopted::AsAFormerKey)
    }

    /// The former code-hash keys (see [`PgStore::adopt_code_key`]).
    pub(super) async fn former_code_keys(&self) -> Result<Vec<String>, StoreError> {
        let client = self.inner.pool.get().await.map_err(unavailable)?;
        let rows = client
            .query(
                "SELECT value FROM deployment_secrets WHERE starts_with(name, $1) ORDER BY name",
                &[&FORMER_CODE_KEY],
            )
            .await
            .map_err(classify)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Stores an admin session (the SHA-256 of its id) until `expires_at` (unix ms), keeping
    /// at most `keep` sessions (those closest to expiring go first).
    pub async fn start_session(
        &self,
        id_sha256: &[u8; 32],
        expires_at: i64,
        now: i64,
        keep: usize,
    ) -> Result<(), StoreError> {
        let mut client = self.inner.pool.get().await.map_err(unavailable)?;
        let transaction = client.transaction().await.map_err(classify)?;
        transaction
            .execute("DELETE FROM admin_sessions WHERE expires_at <= $1", &[&now])
            .await
            .map_err(classify)?;
        transaction
            .execute(
                "INSERT INTO admin_sessions (id_sha256, expires_at) VALUES ($1, $2)",
                &[&id_sha256.as_slice(), &expires_at],
            )
            .await
            .map_err(classify)?;
        transaction
            .execute(
                "DELETE FROM admin_sessions WHERE id_sha256 IN (
                     SELECT id_sha256 FROM admin_sessions ORDER BY expires_at DESC OFFSET $1)",
                &[&i64::try_from(keep).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(classify)?;
        transaction.commit().await.map_err(classify)
    }

    /// Whether a session with this id hash is open at `now`.
    pub async fn session_is_open(
        &self,
        id_sha256: &[u8; 32],
        now: i64,
    ) -> Result<bool, StoreError> {
        let client = self.inner.pool.get().await.map_err(unavailable)?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM admin_sessions WHERE id_sha256 = $1 AND expires_at > $2",
                &[&id_sha256.as_slice(), &now],
            )
            .await
            .map_err(classify)?
            .is_some())
    }

    /// Ends a session.
    pub async fn end_session(&self, id_sha256: &[u8; 32]) -> Result<(), StoreError> {
        let client = self.inner.pool.get().await.map_err(unavailable)?;
        client
            .execute(
                "DELETE FROM admin_sessions WHERE id_sha256 = $1",
                &[&id_sha256.as_slice()],
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    fn salt_cache(&self) -> std::sync::MutexGuard<'_, Option<(i64, [u8; 32])>> {
        self.inner
            .salt
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
