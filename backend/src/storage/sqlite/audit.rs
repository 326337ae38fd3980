//! The audit log, the structured successor of the original `security.log`: a file per UTC
//! day, owner-only, deleted with the events once the day is past the retention.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use crate::storage::{NewEvent, audit_line};
use crate::util::clock;
use crate::util::private_files;

/// The structured successor of the original `security.log`: one JSON line per stored event,
/// with the server's fields, in a file per UTC day.
#[derive(Debug)]
pub(super) struct AuditLog {
    folder: PathBuf,
}

impl AuditLog {
    pub(super) fn new(folder: PathBuf) -> Self {
        Self { folder }
    }

    pub(super) fn record(&mut self, events: &[NewEvent], inserted: &[bool]) {
        let mut lines = String::new();
        for (new, _) in events
            .iter()
            .zip(inserted)
            .filter(|(_, inserted)| **inserted)
        {
            let line = audit_line(new);
            lines.push_str(&line.to_string());
            lines.push('\n');
        }
        if lines.is_empty() {
            return;
        }
        let path = self
            .folder
            .join(format!("audit-{}.jsonl", clock::date(clock::now_ms())));
        let written = private_files::create_dir(&self.folder)
            .and_then(|()| private_files::append(&path)?.write_all(lines.as_bytes()));
        if let Err(error) = written {
            tracing::error!("could not write the audit log {}: {error}", path.display());
        }
    }

    /// Deletes the files of the days wholly before `cutoff`: every event written on such a
    /// day was received before the cutoff too, so it is purged from the database as well.
    /// Returns how many files went.
    pub(super) fn forget_before(&self, cutoff: i64) -> usize {
        let cut_day = clock::date(cutoff);
        let Ok(entries) = fs::read_dir(&self.folder) else {
            return 0;
        };
        let mut deleted = 0;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(day) = name
                .to_str()
                .and_then(|name| name.strip_prefix("audit-"))
                .and_then(|rest| rest.strip_suffix(".jsonl"))
            else {
                continue;
            };
            // `YYYY-MM-DD` sorts as the days do.
            if day.len() == cut_day.len() && day < cut_day.as_str() {
                match fs::remove_file(entry.path()) {
                    Ok(()) => deleted += 1,
                    Err(error) => tracing::error!(
                        "could not delete the old audit log {}: {error}",
                        entry.path().display()
                    ),
                }
            }
        }
        deleted
    }
}
