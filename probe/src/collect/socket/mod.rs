//! Sockets in every network namespace in use, each mapped to its owner.
//!
//! The socket tables come from a [`SocketSource`] (netlink sock_diag first,
//! /proc/<pid>/net as the fallback; eBPF can be a third), read through one
//! process per namespace. Two costs dominate, and both are kept down:
//!
//! - A table dump walks the kernel's host-wide hash table, about a
//!   millisecond even for an empty namespace. So a namespace's tables are
//!   dumped only when its per-namespace in-use counters (sockstat) moved and
//!   held for a second pass (or kept moving for [`CHURN_REREAD`]); tables
//!   with nothing in use are never dumped, and when every TCP socket in use
//!   is a listener only the listening hash is walked. While the counters stay
//!   equal, the namespace's known sockets are looked up one by one every
//!   [`NETNS_CHECK`] (`--socket-check-secs`): a hash lookup each, which also
//!   refreshes `tcp_info`. If each is still there (the kernel's cookie
//!   proves it is the same socket) and the counters equal the table's size,
//!   nothing else can have appeared; a miss means a read. A namespace that
//!   cannot be checked (/proc/<pid>/net has no lookup; past 128 sockets a
//!   read is cheaper) is read every [`SLOW_REREAD`] instead. With the eBPF
//!   tracer, which counts each namespace's TCP sockets as they come and go
//!   ([`hashed`]), a namespace whose count has not moved and has nothing
//!   pending skips even the sockstat read, until the next check.
//! - Tables give inodes, not pids, and the owner comes from walking
//!   /proc/<pid>/fd. An inode → owner cache keeps walks rare: a new process
//!   in a namespace with sockets is walked once; an inode still unknown
//!   makes the probe walk that namespace's processes (never-walked, then
//!   busiest first) and stop when found; an inode nobody holds is not
//!   searched for again for a while; and a few processes are re-walked each
//!   tick so every process is refreshed (open fd count, handed-over sockets)
//!   within [`REWALK_AFTER`].

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use periscope_report::{Protocol, Socket, SocketId, Source, SourceState, SourceStatus};
use tracing::{debug, warn};

use crate::collect::capabilities::is_permission_denied;
pub mod hashed;
pub mod proc_net;
pub mod sock_diag;
pub mod source;

use crate::collect::socket::hashed::HashedCounts;
use crate::collect::socket::proc_net::ProcNet;
use crate::collect::socket::sock_diag::SockDiag;
use crate::collect::socket::source::{Checked, Netns, RawSocket, SocketKinds, SocketSource};
use crate::collect::{namespaces_in_use, Collector, Pass, ScannedProcess};
use crate::sys::held::Held;
use crate::sys::proc_root::ProcRoot;

/// Every process is re-walked at least this often.
pub const REWALK_AFTER: Duration = Duration::from_secs(60);
/// An inode nobody was found holding is searched for again after this.
const ORPHAN_RETRY: Duration = Duration::from_secs(60);

/// `TCP: inuse 3 …` / `UDP: inuse 1 …` (sockstat) or `TCP6: inuse 1` / `UDP6: inuse 0` (sockstat6).
pub fn parse_sockstat(text: &str, kinds: &mut SocketKinds) {
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else { continue };
        let mut fields = rest.split_ascii_whitespace();
        let inuse = match (fields.next(), fields.next()) {
            (Some("inuse"), Some(value)) => value.parse().unwrap_or(0),
            _ => continue,
        };
        match name {
            "TCP" => kinds.tcp4 = inuse,
            "TCP6" => kinds.tcp6 = inuse,
            "UDP" => kinds.udp4 = inuse,
            "UDP6" => kinds.udp6 = inuse,
            _ => {}
        }
    }
}

/// A namespace's sockstat files, held open, read through `pid`.
struct SockstatFiles {
    proc: ProcRoot,
    pid: u32,
    v4: Held,
    v6: Held,
    /// The namespace's TCP count ([`HashedCounts`]) when last read, what was read, and when.
    last: Option<(i64, SocketKinds, Instant)>,
}

impl SockstatFiles {
    fn new(proc: ProcRoot, pid: u32) -> SockstatFiles {
        SockstatFiles { proc, pid, v4: Held::new(), v6: Held::new(), last: None }
    }
}

/// `None` when the reader pid is gone; a kernel without IPv6 has no sockstat6.
fn read_sockstat(files: &mut SockstatFiles, buffer: &mut Vec<u8>) -> Option<SocketKinds> {
    let (pid, proc) = (files.pid, &files.proc);
    let mut kinds = SocketKinds::default();
    parse_sockstat(files.v4.read_text(|| proc.pid_file(pid, "net/sockstat"), buffer)?, &mut kinds);
    if let Some(text) = files.v6.read_text(|| proc.pid_file(pid, "net/sockstat6"), buffer) {
        parse_sockstat(text, &mut kinds);
    }
    Some(kinds)
}

/// A namespace's sockets as last read or checked, and how its counters have moved since.
struct NetnsSeen {
    /// In-use counters when `table` was last read.
    kinds: SocketKinds,
    table: Vec<RawSocket>,
    /// Whether `table` held as many sockets as the counters said: only then
    /// does finding each of them again prove nothing else appeared.
    complete: bool,
    read_at: Instant,
    checked_at: Instant,
    /// Counters seen last pass that differ from `kinds`, waiting to hold for one more pass.
    changed_to: Option<SocketKinds>,
    /// Since when the counters have differed from `kinds` on every pass.
    differs_since: Option<Instant>,
}

impl NetnsSeen {
    fn read(kinds: SocketKinds, table: Vec<RawSocket>, now: Instant) -> NetnsSeen {
        let complete = [(false, Protocol::Tcp), (true, Protocol::Tcp), (false, Protocol::Udp), (true, Protocol::Udp)]
            .into_iter()
            .all(|(ipv6, protocol)| {
                let found = table.iter().filter(|s| s.protocol == protocol && s.local.is_ipv6() == ipv6).count();
                found == kinds.count(ipv6, protocol) as usize
            });
        NetnsSeen { kinds, table, complete, read_at: now, checked_at: now, changed_to: None, differs_since: None }
    }

    /// Takes a check's outcome (`fresh`: the sockets found again); true when the tables must be read now.
    fn after_check(&mut self, checked: Checked, fresh: Vec<RawSocket>, now: Instant) -> bool {
        match checked {
            Checked::Same => {
                self.table = fresh;
                self.checked_at = now;
                false
            }
            Checked::Changed => true,
            Checked::Unable if now.duration_since(self.read_at) >= SLOW_REREAD => true,
            Checked::Unable => {
                self.checked_at = now;
                false
            }
        }
    }
}

/// What to do with one namespace this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Its last table still stands.
    Keep,
    /// Look its known sockets up one by one: no table walk, fresh `tcp_info`.
    Check,
    /// Dump its tables.
    Read,
}

/// A namespace whose counters did not move is checked this often (`--socket-check-secs`):
/// a socket may close while another opens, leaving the counts equal.
pub const NETNS_CHECK: Duration = Duration::from_secs(5);
/// A namespace whose counters keep differing from its last read is read at least this often.
const CHURN_REREAD: Duration = Duration::from_secs(3);
/// A namespace that cannot be checked is read this often while its counters stay equal.
pub const SLOW_REREAD: Duration = Duration::from_secs(30);
/// Checks stand in for reads, but a namespace's tables are dumped at least this often regardless.
const FULL_REREAD: Duration = Duration::from_secs(300);

/// The decision for a namespace with `kinds` in use now, given what was seen before.
fn plan(seen: Option<&mut NetnsSeen>, kinds: SocketKinds, now: Instant, check_every: Duration) -> Plan {
    let Some(seen) = seen else { return Plan::Read };
    if seen.kinds == kinds {
        seen.changed_to = None;
        seen.differs_since = None;
        return if now.duration_since(seen.read_at) >= FULL_REREAD {
            Plan::Read
        } else if now.duration_since(seen.checked_at) < check_every {
            Plan::Keep
        } else if seen.complete {
            Plan::Check
        } else {
            Plan::Read
        };
    }
    // Counters moved: read once they hold for a second pass, so a socket that comes and goes
    // within a tick (each `wget` of a client loop, each request a server forks for) is never
    // dumped for; its flow still shows through conntrack. Counters that keep differing from
    // the last read without ever holding (a busy host) are read every CHURN_REREAD.
    let settled = seen.changed_to == Some(kinds);
    seen.changed_to = Some(kinds);
    let differs_since = *seen.differs_since.get_or_insert(now);
    if settled || now.duration_since(differs_since) >= CHURN_REREAD {
        Plan::Read
    } else {
        Plan::Keep
    }
}

type Owner = (u32, u64);

struct Walked {
    inodes: Vec<u64>,
    open_fds: u32,
    at: Instant,
    /// Its /proc/<pid>/fd was not the probe's to read (permission denied).
    denied: bool,
}

/// Counters of the last pass, for logs and the benchmark.
#[derive(Debug, Default, Clone, Copy)]
pub struct SocketPassStats {
    pub namespaces: usize,
    pub sockets: usize,
    /// Namespaces whose tables were read this pass (the rest had no sockets or had not changed).
    pub read_namespaces: usize,
    /// Namespaces whose known sockets were looked up one by one this pass.
    pub checked_namespaces: usize,
    pub walks: usize,
    /// Namespaces whose sockstat was read this pass (the others' TCP count had not moved).
    pub sockstat_reads: usize,
    /// Live processes whose /proc/<pid>/fd could not be read at their last walk: permission denied.
    pub denied_processes: usize,
    pub failed_namespaces: usize,
}

pub struct SocketCollector {
    proc: ProcRoot,
    primary: Box<dyn SocketSource>,
    fallback: Option<ProcNet>,
    primary_unavailable: Option<SourceState>,
    owners: HashMap<u64, Owner>,
    walked: HashMap<Owner, Walked>,
    orphans: HashMap<u64, Instant>,
    namespaces: HashMap<u64, NetnsSeen>,
    sockstat: HashMap<u64, SockstatFiles>,
    /// Per-namespace TCP counts from the eBPF tracer, when it runs.
    hashed: Option<Box<dyn HashedCounts>>,
    hashed_now: HashMap<u64, i64>,
    /// The counts again after this pass's sockstat reads.
    hashed_after: HashMap<u64, i64>,
    buffer: Vec<u8>,
    check_every: Duration,
    pub last_stats: SocketPassStats,
}

impl SocketCollector {
    /// sock_diag when it works here (unless `proc_net_only`), else /proc/<pid>/net.
    /// `check_every`: how often a namespace whose counters did not move is checked anyway.
    pub fn new(proc_net_only: bool, check_every: Duration, proc: ProcRoot) -> SocketCollector {
        let (primary, fallback, primary_unavailable): (Box<dyn SocketSource>, _, _) = if proc_net_only {
            (
                Box::new(ProcNet::new(proc.clone())),
                None,
                Some(SourceState::Unavailable { reason: "disabled by --proc-net-only".to_owned() }),
            )
        } else {
            match SockDiag::new(proc.clone()) {
                Ok(diag) => (Box::new(diag), Some(ProcNet::new(proc.clone())), None),
                Err(error) => {
                    warn!(%error, "netlink sock_diag unavailable, reading /proc/<pid>/net instead");
                    let reason = format!("sock_diag: {error}");
                    let state = if is_permission_denied(&error) {
                        SourceState::Denied { reason }
                    } else {
                        SourceState::Unavailable { reason }
                    };
                    (Box::new(ProcNet::new(proc.clone())), None, Some(state))
                }
            }
        };
        SocketCollector {
            proc,
            primary,
            fallback,
            primary_unavailable,
            owners: HashMap::new(),
            walked: HashMap::new(),
            orphans: HashMap::new(),
            namespaces: HashMap::new(),
            sockstat: HashMap::new(),
            hashed: None,
            hashed_now: HashMap::new(),
            hashed_after: HashMap::new(),
            buffer: Vec::with_capacity(4096),
            check_every,
            last_stats: SocketPassStats::default(),
        }
    }

    /// Lets `counts` say which namespaces' sockstat need no read this pass ([`hashed`]).
    pub fn use_hashed_counts(&mut self, counts: Box<dyn HashedCounts>) {
        self.hashed = Some(counts);
    }

    /// This pass's per-namespace TCP counts, when there are some to trust.
    fn read_hashed(&mut self, in_use: &std::collections::BTreeMap<u64, u32>) -> bool {
        let Some(hashed) = self.hashed.as_mut() else { return false };
        self.hashed_now.clear();
        let trusted = hashed.read(&mut self.hashed_now);
        if self.hashed_now.len() > hashed::FORGET_ABOVE {
            let unused: Vec<u64> =
                self.hashed_now.keys().filter(|netns| !in_use.contains_key(netns)).copied().collect();
            hashed.forget(&unused);
        }
        trusted
    }

    /// Keeps the count of each namespace whose sockstat was read this pass only where the count
    /// did not move while the reads ran; the others are read again next pass.
    fn settle_counts(&mut self, read: &[(u64, i64)]) {
        let Some(hashed) = self.hashed.as_mut() else { return };
        self.hashed_after.clear();
        let trusted = hashed.read(&mut self.hashed_after);
        for (inode, before) in read {
            let after = self.hashed_after.get(inode).copied().unwrap_or(0);
            if !trusted || after != *before {
                if let Some(files) = self.sockstat.get_mut(inode) {
                    files.last = None;
                }
            }
        }
    }

    fn walk(&mut self, owner: Owner, now: Instant) {
        let (found, denied) = match walk_fds(&self.proc, owner.0) {
            Ok(found) => (found, false),
            // Not ours to read: remembered as walked with nothing found, so it is
            // tried again only at the rolling refresh, and counted, so the report
            // says sockets lack owners for want of permission, not by chance.
            Err(error) if is_permission_denied(&error) => (FdWalk { inodes: Vec::new(), open_fds: 0 }, true),
            // The process vanished mid-pass: its entry goes with it next pass.
            Err(_) => return,
        };
        if let Some(previous) = self.walked.get(&owner) {
            for inode in &previous.inodes {
                if self.owners.get(inode) == Some(&owner) {
                    self.owners.remove(inode);
                }
            }
        }
        for &inode in &found.inodes {
            // A socket shared by parent and children keeps its first-found owner while that lives.
            self.owners.entry(inode).or_insert(owner);
            self.orphans.remove(&inode);
        }
        self.walked.insert(owner, Walked { inodes: found.inodes, open_fds: found.open_fds, at: now, denied });
        self.last_stats.walks += 1;
    }
}

struct FdWalk {
    inodes: Vec<u64>,
    open_fds: u32,
}

/// Lists the socket inodes among `/proc/<pid>/fd`: an error when the process
/// is gone, or when its files are not the probe's to read (permission denied).
fn walk_fds(proc: &ProcRoot, pid: u32) -> std::io::Result<FdWalk> {
    let directory = std::fs::read_dir(proc.pid_file(pid, "fd"))?;
    let mut walk = FdWalk { inodes: Vec::new(), open_fds: 0 };
    for entry in directory.flatten() {
        walk.open_fds += 1;
        // Each readlink may race with close(): a vanished fd is simply skipped.
        match std::fs::read_link(entry.path()) {
            Ok(target) => {
                if let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes()) {
                    walk.inodes.push(inode);
                }
            }
            // A listable directory with unreadable links: no ptrace access to the process.
            Err(error) if is_permission_denied(&error) => return Err(error),
            Err(_) => {}
        }
    }
    Ok(walk)
}

/// A dual-stack socket shows IPv4 peers as `::ffff:a.b.c.d`: report them as the
/// IPv4 addresses they are, so both ends of a connection name the same address.
pub fn canonical(address: SocketAddr) -> SocketAddr {
    SocketAddr::new(address.ip().to_canonical(), address.port())
}

/// `socket:[12345]` → 12345.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl Collector for SocketCollector {
    fn name(&self) -> &'static str {
        "socket"
    }

    fn collect(&mut self, pass: &mut Pass<'_>) {
        let now = pass.now;
        self.last_stats = SocketPassStats::default();
        let live: HashSet<Owner> = pass.processes.iter().map(|p| (p.pid, p.start_time)).collect();
        self.walked.retain(|owner, _| live.contains(owner));
        self.owners.retain(|_, owner| live.contains(owner));
        self.orphans.retain(|_, seen| now.duration_since(*seen) < ORPHAN_RETRY);

        let namespaces = namespaces_in_use(&pass.processes);
        self.primary.retain_namespaces(&|inode| namespaces.contains_key(&inode));
        self.namespaces.retain(|inode, _| namespaces.contains_key(inode));

        // Decide per namespace: keep its last table, check it, or read it.
        let mut to_read: Vec<Netns> = Vec::new();
        let mut to_check: Vec<Netns> = Vec::new();
        self.sockstat.retain(|inode, _| namespaces.contains_key(inode));
        // Counted before and after the sockstat reads: a read stands for its count only when no
        // socket came or went in between (else one that came and went since would seem to stay).
        let counted = self.read_hashed(&namespaces);
        let mut read_with_count: Vec<(u64, i64)> = Vec::new();
        for (&inode, &pid) in &namespaces {
            let files = self.sockstat.entry(inode).or_insert_with(|| SockstatFiles::new(self.proc.clone(), pid));
            if files.pid != pid {
                *files = SockstatFiles::new(self.proc.clone(), pid);
            }
            let count = counted.then(|| self.hashed_now.get(&inode).copied().unwrap_or(0));
            // Only with nothing pending: counters that moved are read again to see that they held
            // (the count says nothing of UDP, nor of a socket that came and went by then).
            let settled = |kinds: &SocketKinds| self.namespaces.get(&inode).is_some_and(|seen| seen.kinds == *kinds);
            let kinds = match files.last {
                Some((at_read, kinds, read_at))
                    if settled(&kinds)
                        && hashed::unchanged(count, at_read, now.duration_since(read_at), self.check_every) =>
                {
                    kinds
                }
                _ => {
                    let Some(kinds) = read_sockstat(files, &mut self.buffer) else {
                        // The reader exited mid-pass: keep last tick's view of this namespace.
                        continue;
                    };
                    self.last_stats.sockstat_reads += 1;
                    files.last = count.map(|count| (count, kinds, now));
                    read_with_count.extend(count.map(|count| (inode, count)));
                    kinds
                }
            };
            if kinds.is_empty() {
                // Nothing in use: an empty table, known without a dump.
                self.namespaces.insert(inode, NetnsSeen::read(kinds, Vec::new(), now));
                continue;
            }
            match plan(self.namespaces.get_mut(&inode), kinds, now, self.check_every) {
                Plan::Keep => {}
                Plan::Check => to_check.push(Netns { inode, pid, kinds }),
                Plan::Read => to_read.push(Netns { inode, pid, kinds }),
            }
        }
        if !read_with_count.is_empty() {
            self.settle_counts(&read_with_count);
        }
        for netns in to_check {
            let Some(seen) = self.namespaces.get_mut(&netns.inode) else { continue };
            let mut fresh = Vec::with_capacity(seen.table.len());
            match self.primary.check(&netns, &seen.table, &mut fresh) {
                Ok(checked) => {
                    if checked == Checked::Same {
                        self.last_stats.checked_namespaces += 1;
                    }
                    if seen.after_check(checked, fresh, now) {
                        to_read.push(netns);
                    }
                }
                Err(error) => {
                    debug!(netns = netns.inode, pid = netns.pid, %error, "checking sockets failed; reading the tables");
                    to_read.push(netns);
                }
            }
        }

        // New processes in namespaces that have sockets are walked first: they likely own new ones.
        let busy: HashSet<u64> = to_read.iter().map(|n| n.inode).collect();
        let new: Vec<Owner> = pass
            .processes
            .iter()
            .filter(|p| p.netns.is_some_and(|n| busy.contains(&n)))
            .map(|p| (p.pid, p.start_time))
            .filter(|owner| !self.walked.contains_key(owner))
            .collect();
        for owner in new {
            self.walk(owner, now);
        }

        let mut read: Vec<u64> = Vec::with_capacity(to_read.len());
        let mut used_fallback = false;
        for netns in to_read {
            let mut raw = Vec::new();
            let mut result = self.primary.read(&netns, &mut raw);
            if let (Err(error), Some(fallback)) = (&result, self.fallback.as_mut()) {
                debug!(netns = netns.inode, pid = netns.pid, %error, "sock_diag failed for a namespace, trying /proc/<pid>/net");
                raw.clear();
                result = fallback.read(&netns, &mut raw);
                used_fallback |= result.is_ok();
            }
            match result {
                Ok(()) => {
                    self.namespaces.insert(netns.inode, NetnsSeen::read(netns.kinds, raw, now));
                    read.push(netns.inode);
                }
                Err(error) => {
                    // Keep the last table; the counters still differ, so the next pass tries again.
                    debug!(netns = netns.inode, pid = netns.pid, %error, "reading sockets failed");
                    self.last_stats.failed_namespaces += 1;
                }
            }
        }
        self.last_stats.namespaces = namespaces.len();
        self.last_stats.read_namespaces = read.len();

        // Resolve unknown inodes: walk the namespace's processes, busiest first, until found.
        for netns in &read {
            let Some(seen) = self.namespaces.get(netns) else { continue };
            let mut unknown: HashSet<u64> = seen
                .table
                .iter()
                .map(|s| s.inode)
                .filter(|inode| *inode != 0 && !self.owners.contains_key(inode) && !self.orphans.contains_key(inode))
                .collect();
            if unknown.is_empty() {
                continue;
            }
            let mut candidates: Vec<&ScannedProcess> = pass
                .processes
                .iter()
                .filter(|p| p.netns == Some(*netns))
                .filter(|p| self.walked.get(&(p.pid, p.start_time)).is_none_or(|w| w.at != now))
                .collect();
            // Never walked first, then the busiest.
            candidates.sort_by_key(|p| {
                (self.walked.contains_key(&(p.pid, p.start_time)), std::cmp::Reverse(p.cpu_ticks_delta))
            });
            for process in candidates {
                self.walk((process.pid, process.start_time), now);
                unknown.retain(|inode| !self.owners.contains_key(inode));
                if unknown.is_empty() {
                    break;
                }
            }
            for inode in unknown {
                self.orphans.insert(inode, now);
            }
        }

        // Rolling refresh, spread over REWALK_AFTER: never-walked processes first
        // (those in namespaces without sockets), then the longest unwalked.
        let budget = pass.processes.len().div_ceil(REWALK_AFTER.as_secs().max(1) as usize).max(1);
        let mut stale: Vec<(Option<Instant>, Owner)> = pass
            .processes
            .iter()
            .map(|p| ((p.pid, p.start_time), self.walked.get(&(p.pid, p.start_time)).map(|w| w.at)))
            .filter(|(_, at)| at.is_none_or(|at| now.duration_since(at) >= REWALK_AFTER))
            .map(|(owner, at)| (at, owner))
            .collect();
        stale.sort();
        for (_, owner) in stale.into_iter().take(budget) {
            self.walk(owner, now);
        }

        let sockets = &mut pass.report.sockets;
        for (&netns, seen) in self.namespaces.iter() {
            for socket in &seen.table {
                let owner = if socket.inode == 0 { None } else { self.owners.get(&socket.inode).map(|o| o.0) };
                let id = SocketId {
                    protocol: socket.protocol,
                    netns,
                    local: canonical(socket.local),
                    remote: canonical(socket.remote),
                };
                // Two sockets may share an ID (SO_REUSEPORT): keep the lowest owning pid, deterministically.
                if let Some(existing) = sockets.get(&id) {
                    if existing.pid.is_some() && (owner.is_none() || existing.pid <= owner) {
                        continue;
                    }
                }
                sockets.insert(Socket { id, state: socket.state, pid: owner, tcp: socket.tcp });
            }
        }
        self.last_stats.sockets = sockets.len();
        self.last_stats.denied_processes = self.walked.values().filter(|walked| walked.denied).count();

        let ids: Vec<_> = pass.report.processes.ids().cloned().collect();
        for id in ids {
            if let (Some(walked), Some(process)) =
                (self.walked.get(&(id.pid, id.start_time)), pass.report.processes.get_mut(&id))
            {
                process.open_fds = walked.open_fds;
            }
        }

        let state = |active: bool, reason: &str| {
            if active {
                SourceState::Active
            } else {
                SourceState::Unavailable { reason: reason.to_owned() }
            }
        };
        match &self.primary_unavailable {
            None => {
                pass.sources.push(SourceStatus { source: Source::SockDiag, state: SourceState::Active });
                pass.sources.push(SourceStatus {
                    source: Source::ProcNet,
                    state: state(used_fallback, "not needed: sock_diag works"),
                });
            }
            Some(unavailable) => {
                pass.sources.push(SourceStatus { source: Source::SockDiag, state: unavailable.clone() });
                pass.sources.push(SourceStatus { source: Source::ProcNet, state: SourceState::Active });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use periscope_report::SocketState;

    use super::*;

    /// Per-namespace counts that move as the test says, one map per read.
    struct Scripted(Vec<HashMap<u64, i64>>);

    impl HashedCounts for Scripted {
        fn read(&mut self, out: &mut HashMap<u64, i64>) -> bool {
            out.extend(self.0.remove(0));
            true
        }

        fn forget(&mut self, _namespaces: &[u64]) {}
    }

    #[test]
    fn a_sockstat_read_stands_for_its_count_only_if_the_count_held_while_reading() {
        let proc = ProcRoot::new("/nonexistent");
        let mut collector = SocketCollector::new(true, NETNS_CHECK, proc.clone());
        // After the reads: namespace 1 still at 5; in namespace 2 a socket came (6 -> 7).
        collector.use_hashed_counts(Box::new(Scripted(vec![HashMap::from([(1, 5), (2, 7)])])));
        for (inode, count) in [(1, 5), (2, 6)] {
            let mut files = SockstatFiles::new(proc.clone(), 10);
            files.last = Some((count, SocketKinds { tcp4: 1, ..SocketKinds::default() }, Instant::now()));
            collector.sockstat.insert(inode, files);
        }
        collector.settle_counts(&[(1, 5), (2, 6)]);
        assert!(collector.sockstat[&1].last.is_some(), "held: next pass may skip the read");
        assert!(collector.sockstat[&2].last.is_none(), "moved while reading: read again next pass");
    }

    fn listener(port: u16) -> RawSocket {
        RawSocket {
            protocol: Protocol::Tcp,
            local: SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 0], port)),
            remote: SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 0], 0)),
            state: SocketState::Listen,
            inode: u64::from(port),
            tcp: None,
            diag: None,
        }
    }

    fn tcp6(count: u32) -> SocketKinds {
        SocketKinds { tcp6: count, ..SocketKinds::default() }
    }

    #[test]
    fn a_blip_in_the_counters_never_causes_a_read() {
        let start = Instant::now();
        let second = |n: u64| start + Duration::from_secs(n);
        let mut seen = NetnsSeen::read(tcp6(1), vec![listener(80)], start);
        assert!(seen.complete);
        // A server forks for a request now and then: 1, 2, 1, 2, 1 … over many seconds.
        for tick in 1..=4 {
            let kinds = if tick % 2 == 1 { tcp6(2) } else { tcp6(1) };
            assert_eq!(plan(Some(&mut seen), kinds, second(tick), NETNS_CHECK), Plan::Keep, "tick {tick}");
        }
        // Equal counters: checked once NETNS_CHECK has passed since the read.
        assert_eq!(plan(Some(&mut seen), tcp6(1), second(5), NETNS_CHECK), Plan::Check);
        assert_eq!(plan(Some(&mut seen), tcp6(2), second(7), NETNS_CHECK), Plan::Keep);
    }

    #[test]
    fn counters_that_hold_or_keep_moving_cause_a_read() {
        let start = Instant::now();
        let second = |n: u64| start + Duration::from_secs(n);
        let mut seen = NetnsSeen::read(tcp6(1), vec![listener(80)], start);
        assert_eq!(plan(Some(&mut seen), tcp6(2), second(1), NETNS_CHECK), Plan::Keep);
        assert_eq!(plan(Some(&mut seen), tcp6(2), second(2), NETNS_CHECK), Plan::Read, "held for a second pass");

        let mut busy = NetnsSeen::read(tcp6(1), vec![listener(80)], start);
        for (tick, count) in [(1, 2), (2, 3), (3, 4)] {
            assert_eq!(plan(Some(&mut busy), tcp6(count), second(tick), NETNS_CHECK), Plan::Keep);
        }
        assert_eq!(plan(Some(&mut busy), tcp6(5), second(4), NETNS_CHECK), Plan::Read, "kept moving for 3 s");

        assert_eq!(plan(None, tcp6(1), start, NETNS_CHECK), Plan::Read, "never read");
    }

    #[test]
    fn an_incomplete_or_old_table_is_read_not_checked() {
        let start = Instant::now();
        // Two in use, one listed (the other appeared between the counters and the dump).
        let mut partial = NetnsSeen::read(tcp6(2), vec![listener(80)], start);
        assert!(!partial.complete);
        assert_eq!(plan(Some(&mut partial), tcp6(2), start + NETNS_CHECK, NETNS_CHECK), Plan::Read);

        let mut old = NetnsSeen::read(tcp6(1), vec![listener(80)], start);
        old.checked_at = start + FULL_REREAD;
        assert_eq!(plan(Some(&mut old), tcp6(1), start + FULL_REREAD, NETNS_CHECK), Plan::Read);
    }

    #[test]
    fn check_outcomes() {
        let start = Instant::now();
        let mut seen = NetnsSeen::read(tcp6(1), vec![listener(80)], start);
        let mut refreshed = listener(80);
        refreshed.state = SocketState::Close;
        assert!(!seen.after_check(Checked::Same, vec![refreshed.clone()], start + NETNS_CHECK));
        assert_eq!(
            (seen.table.clone(), seen.checked_at),
            (vec![refreshed], start + NETNS_CHECK),
            "the table is refreshed"
        );
        assert!(seen.after_check(Checked::Changed, Vec::new(), start + NETNS_CHECK), "a miss means a read");
        // A source without lookups (or a table too big for them) is read at the slow pace.
        assert!(!seen.after_check(Checked::Unable, Vec::new(), start + 2 * NETNS_CHECK));
        assert_eq!(seen.checked_at, start + 2 * NETNS_CHECK, "not asked again before the next check");
        assert!(seen.after_check(Checked::Unable, Vec::new(), start + SLOW_REREAD));
    }

    #[test]
    fn socket_inode_parses_only_sockets() {
        assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
        assert_eq!(socket_inode(b"pipe:[12345]"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
    }

    #[test]
    fn sockstat_counts() {
        let mut kinds = SocketKinds::default();
        parse_sockstat(
            "sockets: used 3\nTCP: inuse 2 orphan 0 tw 257 alloc 17 mem 0\nUDP: inuse 1 mem 0\nUDPLITE: inuse 0\n",
            &mut kinds,
        );
        parse_sockstat("TCP6: inuse 1\nUDP6: inuse 0\nRAW6: inuse 5\n", &mut kinds);
        assert_eq!(kinds, SocketKinds { tcp4: 2, tcp6: 1, udp4: 1, udp6: 0 });
        assert!(kinds.has(true, Protocol::Tcp) && !kinds.has(true, Protocol::Udp));
        let mut empty = SocketKinds::default();
        parse_sockstat("garbage\nTCP: nothing\n", &mut empty);
        assert!(empty.is_empty());
    }

    #[test]
    fn v4_mapped_addresses_become_ipv4() {
        assert_eq!(canonical("[::ffff:172.17.0.5]:9000".parse().unwrap()), "172.17.0.5:9000".parse().unwrap());
        assert_eq!(canonical("[::1]:80".parse().unwrap()), "[::1]:80".parse().unwrap());
        assert_eq!(canonical("[::]:80".parse().unwrap()), "[::]:80".parse().unwrap());
    }
}
