//! A process on a host.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::id::{ContainerId, ProcessId};

/// The text fields are shared (`Arc`), not owned: a probe clones every
/// process into each tick's report and again to keep it as the base of the
/// next delta, and those fields rarely change. They serialize as plain
/// strings and lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub id: ProcessId,
    pub ppid: u32,
    /// `comm`: the kernel's short name.
    pub name: Arc<str>,
    /// Arguments, or only argv[0] when the probe runs with `--omit-cmd-args`.
    pub cmdline: Arc<[String]>,
    pub user: Arc<str>,
    pub threads: u32,
    /// Percent of one core since the last tick.
    #[serde(with = "crate::tenths")]
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub open_fds: u32,
    /// From the process's cgroup, not from walking parents.
    pub container: Option<ContainerId>,
}

/// The part of a process that moves every few ticks; a delta patches only
/// this when nothing else changed (see [`crate::delta::Metered`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProcessMetrics {
    pub threads: u32,
    #[serde(with = "crate::tenths")]
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub open_fds: u32,
}
