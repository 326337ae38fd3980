//! The store as the source of a move into PostgreSQL (`backend move-store`): opened
//! read-only, so a move never changes it, and read in the order events were received, a
//! batch at a time, so each batch falls in an hour or two and the target summarises each
//! hour about once. A server still writing to it does no harm, but a move while it runs
//! may miss what it commits behind the cursor (an import into the past, or two requests
//! committed in the other order than they arrived): the next move brings those, and the
//! README has the operator run one after the server stopped.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::database;
use super::queries::event_kind;
use crate::storage::{NewEvent, StoreError};
use protocol::telemetry::TelemetryEvent;

/// A read-only cursor over a SQLite store's events, earliest received first.
#[derive(Debug)]
pub struct Source {
    connection: Connection,
    /// The receive time and row id of the last event read.
    after: (i64, i64),
}

impl Source {
    /// Opens the store at `path` (an `events.sqlite3`) read-only.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(database)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(database)?;
        let has_events: bool = connection
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events')",
                [],
                |row| row.get(0),
            )
            .map_err(database)?;
        if !has_events {
            return Err(StoreError::Database(
                "it has no events table: it is not the workbench's event store".into(),
            ));
        }
        Ok(Self {
            connection,
            after: (i64::MIN, 0),
        })
    }

    /// How many events the store holds now.
    pub fn count(&self) -> Result<u64, StoreError> {
        self.connection
            .query_row("SELECT COUNT(*) FROM events", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|count| u64::try_from(count).unwrap_or(0))
            .map_err(database)
    }

    /// The next `limit` events as stored (original receive time, address prefix, visitor id
    /// and keyed code hash); empty once every event has been read.
    pub fn next_batch(&mut self, limit: usize) -> Result<Vec<NewEvent>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT id, event_id, session_id, kind, code_key, code_bytes, duration_ms,
                        success, error_type, stdout_bytes, stderr_bytes, package, version,
                        file_ext, file_bytes, pyodide_version, client_time, received_at,
                        client_addr, visitor_id, user_agent
                 FROM events WHERE (received_at, id) > (?1, ?2)
                 ORDER BY received_at, id LIMIT ?3",
            )
            .map_err(database)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = statement
            .query([self.after.0, self.after.1, limit])
            .map_err(database)?;
        let size = |row: &rusqlite::Row<'_>, index: usize| -> rusqlite::Result<Option<u64>> {
            Ok(row
                .get::<_, Option<i64>>(index)?
                .and_then(|size| u64::try_from(size).ok()))
        };
        // PostgreSQL cannot store a NUL in text: one stored before ingest refused them would
        // stop every move at its batch, so it becomes U+FFFD, as an invalid byte would.
        let text = |row: &rusqlite::Row<'_>, index: usize| -> rusqlite::Result<Option<String>> {
            Ok(row
                .get::<_, Option<String>>(index)?
                .map(|text| text.replace('\0', "\u{FFFD}")))
        };
        let mut batch = Vec::new();
        while let Some(row) = rows.next().map_err(database)? {
            let read = (|| -> rusqlite::Result<(i64, NewEvent)> {
                Ok((
                    row.get(0)?,
                    NewEvent {
                        event: TelemetryEvent {
                            event_id: row.get(1)?,
                            session_id: row.get(2)?,
                            kind: event_kind(row, 3)?,
                            code_sha256: None,
                            code_bytes: size(row, 5)?,
                            duration_ms: row.get(6)?,
                            success: row.get(7)?,
                            error_type: text(row, 8)?,
                            stdout_bytes: size(row, 9)?,
                            stderr_bytes: size(row, 10)?,
                            package: text(row, 11)?,
                            version: text(row, 12)?,
                            file_ext: row.get(13)?,
                            file_bytes: size(row, 14)?,
                            pyodide_version: text(row, 15)?,
                            client_time: text(row, 16)?,
                        },
                        code_key: row.get(4)?,
                        received_at: row.get(17)?,
                        client_addr: text(row, 18)?.unwrap_or_default(),
                        visitor_id: row.get(19)?,
                        user_agent: text(row, 20)?,
                    },
                ))
            })();
            let (id, new) = read.map_err(database)?;
            self.after = (new.received_at, id);
            batch.push(new);
        }
        Ok(batch)
    }
}
