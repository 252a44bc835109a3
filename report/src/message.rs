//! The messages of the probe ↔ app channel, both directions.
//!
//! One WebSocket carries everything: reports up, snapshot requests, controls
//! and pipe traffic down, pipe output up.

use serde::{Deserialize, Serialize};

use crate::delta::Delta;
use crate::id::{ContainerId, HostId, ProcessId};
use crate::report::Report;

/// Probe → app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ProbeMessage {
    /// The full state: sent on connect and whenever the app asks.
    Snapshot(Report),
    Delta(Delta),
    ControlResult {
        request: RequestId,
        result: Result<Option<PipeId>, String>,
    },
    PipeOutput {
        pipe: PipeId,
        data: Vec<u8>,
    },
    PipeClosed {
        pipe: PipeId,
        reason: Option<String>,
    },
}

/// App → probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppMessage {
    RequestSnapshot {
        reason: SnapshotReason,
    },
    Control {
        request: RequestId,
        target: ControlTarget,
        action: ControlAction,
    },
    PipeInput {
        pipe: PipeId,
        data: Vec<u8>,
    },
    PipeResize {
        pipe: PipeId,
        cols: u16,
        rows: u16,
    },
    PipeClose {
        pipe: PipeId,
    },
    /// The app refuses this connection (bad token, probe ID taken); it closes next.
    Rejected {
        reason: String,
    },
    /// The app forwarded `bytes` of a pipe's output to its client: the probe
    /// may send that much more (a credit window, so a fast pipe never fills
    /// the channel that reports share).
    PipeAck {
        pipe: PipeId,
        bytes: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotReason {
    /// A delta's base did not match the app's copy.
    SequenceGap { expected: u64, got: u64 },
    /// The app has no state for this probe (e.g. it restarted).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PipeId(pub u64);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlTarget {
    Container(ContainerId),
    Process(ProcessId),
    /// The probe's own host: only [`ControlAction::Exec`], and only when the probe allows a host shell.
    Host(HostId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlAction {
    Start,
    Stop,
    Restart,
    Pause,
    Unpause,
    Remove,
    /// Opens a pipe streaming the container's logs: the last `tail` lines, then live.
    Logs {
        tail: u32,
    },
    /// Opens a pipe to an interactive shell (a TTY of `cols` × `rows`) in the container.
    Exec {
        cols: u16,
        rows: u16,
    },
    /// Sends SIGTERM to a process.
    Kill,
}
