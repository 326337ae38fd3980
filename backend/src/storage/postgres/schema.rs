//! The schema, as numbered migrations applied at start. Replicas that start together take
//! turns under a session advisory lock on a connection of their own, so each migration runs
//! once: the first replica applies it, the others find it recorded in `schema_migrations`.

use super::tls::Target;
use super::{MIGRATION_LOCK, classify};
use crate::storage::StoreError;

/// Schema migrations, applied in order; `schema_migrations` records which ran.
pub(super) const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE events (
        id BIGSERIAL PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        session_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        code_key TEXT,
        code_bytes BIGINT,
        duration_ms DOUBLE PRECISION,
        success BOOLEAN,
        error_type TEXT,
        stdout_bytes BIGINT,
        stderr_bytes BIGINT,
        package TEXT,
        version TEXT,
        file_ext TEXT,
        file_bytes BIGINT,
        pyodide_version TEXT,
        client_time TEXT,
        received_at BIGINT NOT NULL,
        client_addr TEXT NOT NULL,
        visitor_id TEXT NOT NULL,
        user_agent TEXT
    );
    CREATE INDEX events_by_time ON events (received_at);
    CREATE INDEX events_by_code ON events (code_key, received_at);

    -- One row per summarised hour (unix milliseconds / 3,600,000).
    CREATE TABLE hourly_rollups (
        hour BIGINT PRIMARY KEY,
        summary TEXT NOT NULL,      -- JSON of `Summary`
        visitors BYTEA NOT NULL,    -- HyperLogLog registers
        sessions BYTEA NOT NULL
    );
    -- Finished hours that got events after they were summarised (an import).
    CREATE TABLE pending_hours (hour BIGINT PRIMARY KEY);
    -- Every hour before `finished_until` has been looked at by the summariser.
    CREATE TABLE rollup_progress (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        finished_until BIGINT NOT NULL
    );
    INSERT INTO rollup_progress (finished_until) VALUES (0);

    -- The salt of visitor ids, one per UTC day (days since the epoch); yesterday's goes.
    CREATE TABLE daily_salts (day BIGINT PRIMARY KEY, salt BYTEA NOT NULL);
    -- Secrets made once per deployment (the code-hash key).
    CREATE TABLE deployment_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- Open admin sessions: the SHA-256 of the cookie's id, and when it expires (unix ms).
    CREATE TABLE admin_sessions (id_sha256 BYTEA PRIMARY KEY, expires_at BIGINT NOT NULL);
    -- The audit log: one JSON line per stored event, written in the event's transaction.
    CREATE TABLE audit_log (
        id BIGSERIAL PRIMARY KEY,
        logged_at BIGINT NOT NULL,
        line JSONB NOT NULL
    );
    CREATE INDEX audit_log_by_time ON audit_log (logged_at);
    ",
    // Readers keep decoded rollups by hour and version; a rollup stored again gets a new one.
    "
    CREATE SEQUENCE hourly_rollup_versions;
    ALTER TABLE hourly_rollups
        ADD COLUMN version BIGINT NOT NULL DEFAULT nextval('hourly_rollup_versions');
    ",
    // When a replica last ran the hourly retention purge (unix ms), so one a hour does.
    "
    ALTER TABLE rollup_progress ADD COLUMN last_purge_at BIGINT;
    ",
    // One row per summarised minute (unix ms / 60,000) of the hours not yet summarised, so
    // a range over the current hour reads only its last minute or two raw.
    "
    CREATE SEQUENCE minute_rollup_versions;
    CREATE TABLE minute_rollups (
        minute BIGINT PRIMARY KEY,
        version BIGINT NOT NULL DEFAULT nextval('minute_rollup_versions'),
        events BIGINT NOT NULL,     -- how many, of every kind
        summary TEXT NOT NULL,      -- JSON of `Summary`
        visitors BYTEA NOT NULL,    -- HyperLogLog registers
        sessions BYTEA NOT NULL
    );
    ",
];

/// Applies the migrations this database lacks, under the migration lock. Returns how many
/// this call applied.
pub(super) async fn migrate(target: &Target) -> Result<usize, StoreError> {
    let (mut client, connection) = target.connect().await.map_err(classify)?;
    // The lock is the session's: it goes with this connection, whatever happens below.
    let driver = tokio::spawn(connection);
    let applied = async {
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version INTEGER PRIMARY KEY,
                     applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                 )",
            )
            .await?;
        let done: i32 = client
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        let mut applied = 0;
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
            if version <= done {
                continue;
            }
            let transaction = client.transaction().await?;
            transaction.batch_execute(migration).await?;
            transaction
                .execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[&version],
                )
                .await?;
            transaction.commit().await?;
            applied += 1;
        }
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        Ok::<usize, tokio_postgres::Error>(applied)
    }
    .await
    .map_err(classify);
    drop(client);
    let _ = driver.await;
    applied
}
