//! A process on a host.

use serde::{Deserialize, Serialize};

use crate::id::{ContainerId, ProcessId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub id: ProcessId,
    pub ppid: u32,
    /// `comm`: the kernel's short name.
    pub name: String,
    /// Arguments, or only argv[0] when the probe runs with `--omit-cmd-args`.
    pub cmdline: Vec<String>,
    pub user: String,
    pub threads: u32,
    /// Percent of one core since the last tick.
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub open_fds: u32,
    /// From the process's cgroup, not from walking parents.
    pub container: Option<ContainerId>,
}
