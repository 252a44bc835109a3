//! A report: the full state of one host as one probe saw it.

use serde::{Deserialize, Serialize};

use crate::container::{Container, Image};
use crate::host::Host;
use crate::id::{HostId, ProbeId, ProcessId};
use crate::process::Process;
use crate::socket::{Connection, Socket, TracedFlow};
use crate::table::Table;
use crate::UnixMillis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub probe: ProbeId,
    /// Increases by one with every report or delta a probe produces.
    pub seq: u64,
    pub timestamp: UnixMillis,
    pub meta: ProbeMeta,
    /// `host.id` is the report's host ID.
    pub host: Host,
    pub processes: Table<Process>,
    pub containers: Table<Container>,
    pub images: Table<Image>,
    pub sockets: Table<Socket>,
    pub connections: Table<Connection>,
    /// Connections the eBPF tracer counted per process and peer (empty without it).
    pub traced: Table<TracedFlow>,
}

impl Report {
    pub fn host_id(&self) -> &HostId {
        &self.host.id
    }
}

/// What the probe is and which of its sources work: the app shows it, so an
/// operator can tell "no edges" from "conntrack unavailable".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeMeta {
    pub version: String,
    pub sources: Vec<SourceStatus>,
    /// Frames dropped from the probe's bounded send queue while the app was away.
    pub dropped_frames: u64,
    /// Connection events the eBPF tracer could not count because its maps were full.
    pub traced_overflow: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub source: Source,
    pub state: SourceState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Host,
    Proc,
    /// Netlink INET_DIAG, with tcp_info.
    SockDiag,
    /// /proc/<pid>/net/{tcp,tcp6,udp,udp6}: the fallback.
    ProcNet,
    Conntrack,
    Docker,
    Ebpf,
    /// Not a data source: the probe accepts container controls, logs and exec pipes (no `--no-controls`).
    Controls,
    /// Not a data source: the probe opens a shell on its host when asked (`--host-shell`).
    HostShell,
    /// The walk of /proc/<pid>/fd that finds which process owns each socket.
    SocketOwners,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    Active,
    /// Absent, disabled or not needed: the reason says which.
    Unavailable {
        reason: String,
    },
    /// Working, but seeing less than it could; the reason says what is missing and why.
    Degraded {
        reason: String,
    },
    /// Refused by the host (permission denied): never reported as absent.
    Denied {
        reason: String,
    },
}

impl SourceState {
    /// The reason a source is not fully active, if it is not.
    pub fn reason(&self) -> Option<&str> {
        match self {
            SourceState::Active => None,
            SourceState::Unavailable { reason } | SourceState::Degraded { reason } | SourceState::Denied { reason } => {
                Some(reason)
            }
        }
    }
}

impl Report {
    /// Files the report under another host ID (the app keys apart two probes
    /// that report the same one, e.g. cloned VMs sharing /etc/machine-id).
    pub fn rekey_host(&mut self, host: &HostId) {
        if self.host.id == *host {
            return;
        }
        self.host.id = host.clone();
        self.processes = std::mem::take(&mut self.processes)
            .iter()
            .map(|process| Process { id: ProcessId { host: host.clone(), ..process.id.clone() }, ..process.clone() })
            .collect();
    }
}
