//! The audit trail: every control and pipe (who asked, from where, what,
//! and how it ended) goes to the log and to a bounded in-memory list served
//! at `GET /api/audit`.

use std::collections::VecDeque;
use std::sync::Mutex;

use periscope_report::UnixMillis;
use serde::Serialize;

/// Entries kept for `GET /api/audit`; older ones remain in the log only.
pub const AUDIT_KEPT: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub time: UnixMillis,
    /// The caller's address as the app saw it.
    pub client: String,
    pub probe: String,
    pub node: String,
    /// `stop`, `restart`, `logs`, `exec`, …
    pub action: String,
    pub kind: AuditKind,
    /// `ok`, `refused: …`, `failed: …`, `closed: …`.
    pub outcome: String,
}

/// A control request, or the end of a pipe it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Control,
    PipeClosed,
}

#[derive(Debug, Default)]
pub struct Audit {
    entries: Mutex<VecDeque<AuditEntry>>,
}

impl Audit {
    pub fn record(&self, entry: AuditEntry) {
        tracing::info!(
            target: "periscope::audit",
            client = %entry.client,
            probe = %entry.probe,
            node = %entry.node,
            action = %entry.action,
            kind = ?entry.kind,
            outcome = %entry.outcome,
            "audit"
        );
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() == AUDIT_KEPT {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// Oldest first.
    pub fn entries(&self) -> Vec<AuditEntry> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().cloned().collect()
    }
}
