//! Conntrack in the other network namespaces in use (containers' own).
//!
//! Conntrack tables are per network namespace. The host's table sees what
//! crosses the host's netfilter (Docker's bridge included), but a container
//! whose namespace has netfilter state of its own (its own iptables rules, a
//! macvlan or directly wired network that never crosses the host) has flows
//! only its own table holds. So each namespace in use gets a reader: an
//! event socket opened inside it (through [`netns::run_in_netns`]) and drained
//! with the host's each batch, plus a dump when it opens and at resyncs.
//!
//! The cost is kept to next to nothing for a namespace whose conntrack is
//! idle (most containers: the kernel tracks nothing there until a rule asks):
//! one `recv` that finds nothing per batch, and a dump only when the
//! namespace's own entry counter (`/proc/<pid>/net/stat/nf_conntrack`) is
//! not zero.
//!

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use periscope_report::SourceState;
use rustix::buffer::spare_capacity;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::Timespec;
use tracing::debug;

use crate::collect::capabilities::{is_permission_denied, Cap, Capabilities};
use crate::collect::conntrack::filter::Wanted;
use crate::collect::conntrack::table::{self, RESYNC_EVERY};
use crate::collect::conntrack::tables::{Changes, Conntrack, NetnsTables};
use crate::sys::netlink;
use crate::sys::netns;
use crate::sys::proc_root::ProcRoot;

/// Receive buffer of a namespace's event socket: a container's bursts are smaller than a host's.
const NETNS_RECEIVE_BUFFER: usize = 2 * 1024 * 1024;
/// Entries in the namespace's conntrack table, from the first row of
/// `stat/nf_conntrack` (each row repeats the namespace-wide count).
pub fn parse_entries(text: &str) -> Option<u32> {
    let row = text.lines().nth(1)?;
    u32::from_str_radix(row.split_ascii_whitespace().next()?, 16).ok()
}

/// Whether the namespace of `pid` tracks anything; `true` when unknown (no procfs stats), so it is dumped.
fn has_entries(proc: &ProcRoot, pid: u32) -> bool {
    std::fs::read_to_string(proc.pid_file(pid, "net/stat/nf_conntrack"))
        .ok()
        .and_then(|text| parse_entries(&text))
        .is_none_or(|entries| entries > 0)
}

/// A namespace's open event socket (in the readers' epoll set while it lives).
struct Reader {
    events: OwnedFd,
    pid: u32,
    resynced: Instant,
}

/// The readers of the other namespaces, owned by the conntrack follower.
pub struct Readers {
    proc: ProcRoot,
    wanted: Wanted,
    capabilities: Arc<Capabilities>,
    readers: HashMap<u64, Reader>,
    /// Every reader's socket, keyed by namespace; `None` where epoll failed (then each is read).
    epoll: Option<OwnedFd>,
}

impl Readers {
    pub fn new(proc: ProcRoot, capabilities: Arc<Capabilities>, wanted: Wanted) -> Readers {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)
            .inspect_err(|error| debug!(%error, "no epoll for conntrack namespace readers; reading each"))
            .ok();
        Readers { proc, wanted, capabilities, readers: HashMap::new(), epoll }
    }

    pub fn open(&self) -> HashSet<u64> {
        self.readers.keys().copied().collect()
    }

    /// Opens and closes readers as `changes` says (blocking: a `setns` thread and a dump per new namespace).
    pub fn apply(&mut self, changes: Changes, tables: &Mutex<Conntrack>) {
        let now = Instant::now();
        for netns in changes.close {
            self.readers.remove(&netns);
            if let Ok(mut state) = tables.lock() {
                state.netns.closed(netns, now);
            }
        }
        for (netns, pid) in changes.open {
            let (proc, wanted) = (self.proc.clone(), self.wanted);
            let opened = netns::run_in_netns(&self.proc, pid, netns, move || {
                let events = table::events_socket(wanted, NETNS_RECEIVE_BUFFER)?;
                // Subscribed first, then counted and dumped, so no flow falls between the two.
                let flows = if has_entries(&proc, pid) { table::dump(wanted)? } else { Vec::new() };
                Ok((events, flows))
            });
            let Ok(mut state) = tables.lock() else { return };
            match opened {
                Ok((events, flows)) => {
                    state.netns.opened(netns, &flows, now);
                    if let Some(epoll) = &self.epoll {
                        if let Err(error) = epoll::add(epoll, &events, EventData::new_u64(netns), EventFlags::IN) {
                            debug!(%error, "epoll over conntrack namespace readers failed; reading each");
                            self.epoll = None;
                        }
                    }
                    self.readers.insert(netns, Reader { events, pid, resynced: now });
                }
                Err(error) => self.failure(&mut state.netns, netns, pid, &error),
            }
        }
    }

    fn failure(&self, tables: &mut NetnsTables, netns: u64, pid: u32, error: &io::Error) {
        let denied = is_permission_denied(error).then(|| {
            let state = self.capabilities.state_for_error(
                "conntrack of other network namespaces is not read",
                error,
                Some(Cap::SysAdmin),
            );
            match state {
                SourceState::Denied { reason } => reason,
                other => format!("{other:?}"),
            }
        });
        if tables.failed(netns, pid, denied) {
            debug!(netns, pid, %error, "conntrack unavailable in a network namespace");
        }
    }

    /// Drains the events of every reader that has some into its table.
    /// Returns the namespaces to re-dump: those that overflowed, or are due.
    pub fn drain(&mut self, buffer: &mut [u8], tables: &Mutex<Conntrack>) -> Vec<u64> {
        let mut resync = Vec::new();
        let mut broken = Vec::new();
        for netns in self.ready() {
            let Some(reader) = self.readers.get(&netns) else { continue };
            let mut overflowed = false;
            loop {
                match netlink::receive(reader.events.as_fd(), buffer) {
                    Ok(0) => break,
                    Ok(len) => {
                        let Ok(mut state) = tables.lock() else { return resync };
                        if let Some(table) = state.netns.table(netns) {
                            table::apply_messages(table, &buffer[..len], Instant::now(), self.wanted);
                        }
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => overflowed = true,
                    Err(error) => {
                        broken.push((netns, reader.pid, error));
                        break;
                    }
                }
            }
            if overflowed {
                resync.push(netns);
            }
        }
        let now = Instant::now();
        for (netns, reader) in &self.readers {
            if now.duration_since(reader.resynced) >= RESYNC_EVERY && !resync.contains(netns) {
                resync.push(*netns);
            }
        }
        for (netns, pid, error) in broken {
            self.readers.remove(&netns);
            if let Ok(mut state) = tables.lock() {
                state.netns.closed(netns, now);
                self.failure(&mut state.netns, netns, pid, &error);
            }
        }
        resync
    }

    /// The namespaces whose event sockets hold something: one `epoll_wait` for them all,
    /// so a hundred idle namespaces cost one system call a batch, not a hundred.
    fn ready(&mut self) -> Vec<u64> {
        let Some(epoll) = &self.epoll else { return self.readers.keys().copied().collect() };
        let mut events: Vec<epoll::Event> = Vec::with_capacity(self.readers.len().max(1));
        match epoll::wait(epoll, spare_capacity(&mut events), Some(&Timespec { tv_sec: 0, tv_nsec: 0 })) {
            Ok(_) => events.iter().map(|event| event.data.u64()).collect(),
            Err(error) => {
                debug!(%error, "epoll over conntrack namespace readers failed; reading each");
                self.epoll = None;
                self.readers.keys().copied().collect()
            }
        }
    }

    /// Re-dumps `namespaces` (blocking), skipping the dump where nothing is tracked.
    pub fn resync(&mut self, namespaces: &[u64], tables: &Mutex<Conntrack>) {
        for netns in namespaces {
            let Some(reader) = self.readers.get_mut(netns) else { continue };
            reader.resynced = Instant::now();
            let flows = if has_entries(&self.proc, reader.pid) {
                let wanted = self.wanted;
                match netns::run_in_netns(&self.proc, reader.pid, *netns, move || table::dump(wanted)) {
                    Ok(flows) => flows,
                    Err(error) => {
                        debug!(netns, %error, "conntrack re-dump in a network namespace failed");
                        continue;
                    }
                }
            } else {
                Vec::new()
            };
            if let Ok(mut state) = tables.lock() {
                if let Some(table) = state.netns.table(*netns) {
                    table.reset(&flows, Instant::now());
                }
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_from_the_namespace_stats() {
        let text =
            "entries  clashres found new\n00000017  00000000 00000000 00000000\n00000017  00000000 00000000 00000000\n";
        assert_eq!(parse_entries(text), Some(0x17));
        assert_eq!(parse_entries("entries\n"), None);
        assert_eq!(parse_entries(""), None);
        assert_eq!(parse_entries("entries\nzz\n"), None);
    }
}
