//! The database file: connection settings (WAL, `synchronous=FULL`) and the schema, as
//! migrations applied in order.

use std::path::Path;

use rusqlite::Connection;

use super::database;
use crate::storage::StoreError;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        session_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        code_key TEXT,
        code_bytes INTEGER,
        duration_ms REAL,
        success INTEGER,
        error_type TEXT,
        stdout_bytes INTEGER,
        stderr_bytes INTEGER,
        package TEXT,
        version TEXT,
        file_ext TEXT,
        file_bytes INTEGER,
        pyodide_version TEXT,
        client_time TEXT,
        received_at INTEGER NOT NULL,
        client_addr TEXT NOT NULL,
        visitor_id TEXT NOT NULL,
        user_agent TEXT
    );
    CREATE INDEX events_by_kind_and_time ON events (kind, received_at);
    CREATE INDEX events_by_time ON events (received_at);
    CREATE INDEX events_by_code ON events (code_key, received_at);
    ",
    "
    CREATE TABLE hourly_rollups (
        hour INTEGER PRIMARY KEY,   -- unix milliseconds / 3,600,000
        summary TEXT NOT NULL,      -- JSON of `Summary`
        visitors BLOB NOT NULL,     -- HyperLogLog registers
        sessions BLOB NOT NULL
    );
    ",
    // Readers keep decoded rollups by hour and version; a rollup stored again gets a new one.
    "
    ALTER TABLE hourly_rollups ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    ",
];

pub(super) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path).map_err(database)?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 10000;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(database)?;
    Ok(connection)
}

pub(super) fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let applied: usize = connection
        .query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))
        .map_err(database)?
        .try_into()
        .unwrap_or(0);
    for (number, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let transaction = connection.transaction().map_err(database)?;
        transaction.execute_batch(migration).map_err(database)?;
        transaction
            .execute_batch(&format!("PRAGMA user_version = {}", number + 1))
            .map_err(database)?;
        transaction.commit().map_err(database)?;
    }
    Ok(())
}
