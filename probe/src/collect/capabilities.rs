//! What this probe may do on this host, checked once at start.
//!
//! A probe run as a normal user, or in a container with few capabilities,
//! still works, but sees less: without CAP_SYS_PTRACE (and a DAC override)
//! other users' /proc/<pid>/fd and ns/net cannot be read, so their sockets
//! have no owner and their network namespaces are not read; without
//! CAP_SYS_ADMIN `setns` fails, so sock_diag reads only the probe's own
//! namespace; without CAP_NET_ADMIN conntrack is refused; a Docker socket
//! may deny its connection. Each of these is tried here (or where the source
//! opens), so the report names what is missing and why, and permission
//! denied is never reported as an absent source.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use periscope_report::SourceState;

use crate::sys::proc_root::ProcRoot;

/// Capability numbers (linux/capability.h) of the ones the probe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    DacOverride = 1,
    DacReadSearch = 2,
    NetAdmin = 12,
    SysPtrace = 19,
    SysAdmin = 21,
}

impl Cap {
    pub fn name(self) -> &'static str {
        match self {
            Cap::DacOverride => "CAP_DAC_OVERRIDE",
            Cap::DacReadSearch => "CAP_DAC_READ_SEARCH",
            Cap::NetAdmin => "CAP_NET_ADMIN",
            Cap::SysPtrace => "CAP_SYS_PTRACE",
            Cap::SysAdmin => "CAP_SYS_ADMIN",
        }
    }
}

/// Whether one thing the probe needs is allowed, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Allowed,
    Denied(String),
}

/// What the start-up checks found.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub euid: u32,
    /// The effective capability set (CapEff of /proc/self/status).
    pub effective: u64,
    /// Reading /proc/<pid>/fd and ns/net of processes that are not the probe's.
    pub foreign_processes: Access,
    /// Entering another network namespace (`setns`), for sock_diag there.
    pub setns: Access,
}

impl Capabilities {
    /// Runs the checks against the live system, reading procfs under `proc`.
    pub fn check(proc: &ProcRoot) -> Capabilities {
        let euid = rustix::process::geteuid().as_raw();
        let effective = procfs::process::Process::new_with_root(proc.file("self"))
            .and_then(|me| me.status())
            .map(|s| s.capeff)
            .unwrap_or(0);
        let mut capabilities =
            Capabilities { euid, effective, foreign_processes: Access::Allowed, setns: Access::Allowed };
        capabilities.foreign_processes = capabilities.check_foreign_processes(proc);
        capabilities.setns = capabilities.check_setns(proc);
        capabilities
    }

    pub fn has(&self, cap: Cap) -> bool {
        self.effective & (1u64 << cap as u32) != 0
    }

    /// "the probe (uid 1000) lacks CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH", or
    /// `None` when it has all of `caps` (`either` pairs count when one is held).
    fn lacking(&self, caps: &[&[Cap]]) -> Option<String> {
        let missing: Vec<&str> =
            caps.iter().filter(|any| !any.iter().any(|cap| self.has(*cap))).map(|any| any[0].name()).collect();
        (!missing.is_empty()).then(|| format!("the probe (uid {}) lacks {}", self.euid, missing.join(" and ")))
    }

    /// Processes not the probe's, read the way the socket collector reads
    /// them: other users' first, then any other. Allowed when one can be
    /// read (a process that still cannot is counted by the socket collector
    /// as it walks).
    fn check_foreign_processes(&self, proc: &ProcRoot) -> Access {
        let needed: &[&[Cap]] = &[&[Cap::SysPtrace], &[Cap::DacReadSearch, Cap::DacOverride]];
        let own = std::fs::read_link(proc.file("self"))
            .ok()
            .and_then(|link| link.to_str()?.parse().ok())
            .unwrap_or_else(std::process::id);
        let candidates = foreign_pids(proc, own, self.euid);
        let mut last_error = None;
        for pid in candidates.iter().take(MAX_TRIES) {
            match try_read_process(proc, *pid) {
                Ok(()) => return Access::Allowed,
                Err(error) if is_permission_denied(&error) => last_error = Some(error),
                // Gone meanwhile: try the next one.
                Err(_) => {}
            }
        }
        let error = match last_error {
            Some(error) => error,
            // Nothing to try: judge by the capabilities alone.
            None if self.euid != 0 && self.lacking(needed).is_some() => {
                io::Error::from(io::ErrorKind::PermissionDenied)
            }
            None => return Access::Allowed,
        };
        let why = self.lacking(needed).unwrap_or_else(|| {
            format!("{error} (a security module, e.g. AppArmor or Yama's ptrace_scope, refuses it)")
        });
        Access::Denied(format!(
            "sockets of other users' processes have no owner and their network namespaces are not read: {why}"
        ))
    }

    /// `setns` into the probe's own network namespace: the kernel checks the
    /// same capability as for any other one, and nothing changes if it works.
    fn check_setns(&self, proc: &ProcRoot) -> Access {
        let result = crate::sys::netns::run_in_file(&proc.file("self/ns/net"), || Ok(()));
        match result {
            Ok(()) => Access::Allowed,
            Err(error) => {
                let why = self.lacking(&[&[Cap::SysAdmin]]).unwrap_or_else(|| format!("setns: {error}"));
                Access::Denied(format!(
                    "other network namespaces are read through /proc/<pid>/net, without RTT or byte counts: {why}"
                ))
            }
        }
    }

    /// The state for a source that failed to open with `error`: denied when
    /// the host refused it, with the capability it lacks where one would do.
    pub fn state_for_error(&self, what: &str, error: &io::Error, needs: Option<Cap>) -> SourceState {
        if is_permission_denied(error) {
            let hint = needs.and_then(|cap| self.lacking(&[&[cap]])).map(|why| format!(": {why}")).unwrap_or_default();
            SourceState::Denied { reason: format!("{what}: {error}{hint}") }
        } else {
            SourceState::Unavailable { reason: format!("{what}: {error}") }
        }
    }

    /// The Docker socket's state when connecting to it failed: absent,
    /// refused (nothing listening) or denied (its mode and group say who may).
    pub fn docker_socket_state(&self, socket: &Path, error: &dyn std::fmt::Display) -> SourceState {
        let shown = socket.display();
        match std::os::unix::net::UnixStream::connect(socket) {
            Err(probe) if is_permission_denied(&probe) => {
                let owner = std::fs::metadata(socket)
                    .map(|m| format!(" (owner uid {}, group gid {}, mode {:o})", m.uid(), m.gid(), m.mode() & 0o777))
                    .unwrap_or_default();
                SourceState::Denied {
                    reason: format!(
                        "permission denied on the Docker socket {shown}{owner}: the probe runs as uid {}; run it as root or in the socket's group",
                        self.euid
                    ),
                }
            }
            Err(probe) if probe.kind() == io::ErrorKind::NotFound => {
                SourceState::Unavailable { reason: format!("no Docker engine: {shown} does not exist") }
            }
            Err(probe) => SourceState::Unavailable { reason: format!("no Docker engine at {shown}: {probe}") },
            // The socket answers, but the API did not: say what the API said.
            Ok(_) => SourceState::Unavailable { reason: format!("Docker at {shown}: {error}") },
        }
    }
}

pub fn is_permission_denied(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::PermissionDenied
}

/// Lists `pid`'s open files and reads one link and its network namespace,
/// as the socket collector does.
fn try_read_process(proc: &ProcRoot, pid: u32) -> io::Result<()> {
    std::fs::read_link(proc.pid_file(pid, "ns/net"))?;
    let mut entries = std::fs::read_dir(proc.pid_file(pid, "fd"))?;
    if let Some(entry) = entries.next() {
        std::fs::read_link(entry?.path())?;
    }
    Ok(())
}

/// How many processes the start-up check tries before concluding.
const MAX_TRIES: usize = 16;

/// Pids other than `own`: those of other users than `euid` first.
fn foreign_pids(proc: &ProcRoot, own: u32, euid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(proc.path()) else { return Vec::new() };
    let mut pids: Vec<(bool, u32)> = entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let uid = entry.metadata().ok()?.uid();
            (pid != own).then_some((uid == euid, pid))
        })
        .collect();
    pids.sort();
    pids.into_iter().map(|(_, pid)| pid).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(effective: &[Cap], euid: u32) -> Capabilities {
        Capabilities {
            euid,
            effective: effective.iter().fold(0, |bits, cap| bits | 1 << *cap as u32),
            foreign_processes: Access::Allowed,
            setns: Access::Allowed,
        }
    }

    #[test]
    fn missing_capabilities_are_named() {
        let none = with(&[], 1000);
        assert_eq!(
            none.lacking(&[&[Cap::SysPtrace], &[Cap::DacReadSearch, Cap::DacOverride]]).as_deref(),
            Some("the probe (uid 1000) lacks CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH")
        );
        let docker_default = with(&[Cap::DacOverride, Cap::NetAdmin], 0);
        assert_eq!(
            docker_default.lacking(&[&[Cap::SysPtrace], &[Cap::DacReadSearch, Cap::DacOverride]]).as_deref(),
            Some("the probe (uid 0) lacks CAP_SYS_PTRACE")
        );
        assert_eq!(with(&[Cap::SysAdmin], 0).lacking(&[&[Cap::SysAdmin]]), None);
    }

    #[test]
    fn permission_denied_is_denied_not_absent() {
        let probe = with(&[], 1000);
        let denied = io::Error::from_raw_os_error(1); // EPERM
        assert_eq!(
            probe.state_for_error("conntrack events", &denied, Some(Cap::NetAdmin)),
            SourceState::Denied {
                reason: format!("conntrack events: {denied}: the probe (uid 1000) lacks CAP_NET_ADMIN")
            }
        );
        let absent = io::Error::from_raw_os_error(93); // EPROTONOSUPPORT
        assert!(matches!(
            probe.state_for_error("conntrack events", &absent, Some(Cap::NetAdmin)),
            SourceState::Unavailable { .. }
        ));
    }

    #[test]
    fn a_missing_docker_socket_is_absent() {
        let probe = with(&[], 1000);
        let state = probe.docker_socket_state(Path::new("/nonexistent/docker.sock"), &"error");
        assert_eq!(
            state,
            SourceState::Unavailable { reason: "no Docker engine: /nonexistent/docker.sock does not exist".into() }
        );
    }

    /// Against this machine: the checks run, and as root with every capability everything is allowed.
    #[test]
    fn checks_run_here() {
        let found = Capabilities::check(&ProcRoot::default());
        assert_eq!(found.euid, rustix::process::geteuid().as_raw());
        if found.euid == 0 && found.has(Cap::SysPtrace) && found.has(Cap::SysAdmin) {
            assert_eq!(found.foreign_processes, Access::Allowed);
            assert_eq!(found.setns, Access::Allowed);
        }
    }
}
