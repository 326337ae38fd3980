//! The audit log, the structured successor of the original `security.log`.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use crate::clock;
use crate::storage::NewEvent;

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
            let mut line = serde_json::to_value(&new.event).unwrap_or_default();
            if let Some(fields) = line.as_object_mut() {
                fields.remove("codeSha256");
                fields.insert("receivedAt".into(), clock::iso(new.received_at).into());
                fields.insert("clientAddr".into(), new.client_addr.clone().into());
                fields.insert("visitorId".into(), new.visitor_id.clone().into());
                fields.insert("userAgent".into(), new.user_agent.clone().into());
                fields.insert("codeKey".into(), new.code_key.clone().into());
            }
            lines.push_str(&line.to_string());
            lines.push('\n');
        }
        if lines.is_empty() {
            return;
        }
        let path = self
            .folder
            .join(format!("audit-{}.jsonl", clock::date(clock::now_ms())));
        let written = fs::create_dir_all(&self.folder).and_then(|()| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?
                .write_all(lines.as_bytes())
        });
        if let Err(error) = written {
            tracing::error!("could not write the audit log {}: {error}", path.display());
        }
    }
}
