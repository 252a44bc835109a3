//! From the kernel's counters to traced flows: owners, deltas, the last minute.
//!
//! The kernel keeps cumulative counters per (process, peer); each tick the
//! probe reads them all, credits what moved since the last read to a
//! [`TracedFlow`] record, and tells the tracer which entries it may drop
//! (idle, nothing open), so the map holds what is live, not history.
//!
//! Owners are decided here, once per kernel entry. A connecting process
//! the report lists is the owner. One it does not list yet is waited for
//! as long as the process collector takes to list a new process (plus a
//! tick); one that is still not listed then was too short-lived to be (each
//! `wget` of a loop),
//! and its connections fold into a `Command` owner: its name in its
//! container, found from its parent or else its network namespace. That
//! keeps one record (one node, one edge) per command and peer however many
//! runs there are. Accepted connections belong to the listener's owner.
//!
//! A connecting process that has already exited (its pid is missing from
//! /proc at the pass's scan, where /proc numbers processes as the kernel
//! does) is not waited for, and its entry is dropped from the kernel's map
//! as soon as it is credited with nothing open: no more counters can come to
//! it. Each `wget` run of a loop thus holds an entry for one read, not three,
//! and the map the probe reads every [`READ_EVERY`] is that much smaller.
//!
//! [`READ_EVERY`]: crate::collect::ebpf::READ_EVERY

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use periscope_report::{ContainerId, Direction, FlowCounts, FlowOwner, ProcessId, TcpInfo, TracedFlow, TracedFlowId};

use crate::collect::ebpf::tracer::{FlowKey, FlowValue};

/// Counts are shown over this window; a record with nothing in it (and nothing open) is dropped.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What the rest of the pass knows about processes and listeners.
pub trait Lookup {
    /// The report's process with this pid and start time (clock ticks since boot), if listed.
    fn listed(&self, pid: u32, start_time: u64) -> Option<ProcessId>;
    /// Whether no process with this pid was in /proc at this pass's scan: it has exited, so it
    /// opens no more connections (`false` when unknown).
    fn gone(&self, pid: u32) -> bool;
    /// The container of a listed process with this pid.
    fn container_of_pid(&self, pid: u32) -> Option<ContainerId>;
    /// The command name of a listed process with this pid.
    fn name_of_pid(&self, pid: u32) -> Option<Arc<str>>;
    /// The container whose processes live in this network namespace.
    fn container_of_netns(&self, netns: u64) -> Option<ContainerId>;
    /// Whether some process this probe sees lives in `netns`.
    fn sees_netns(&self, netns: u64) -> bool;
    /// The owner of the socket listening at `ip:port` in `netns` (or at every address there).
    fn listener_owner(&self, netns: u64, ip: IpAddr, port: u16) -> Option<ProcessId>;
}

/// What one kernel entry contributed so far.
struct Seen {
    /// Counters already credited.
    credited: FlowValue,
    /// The record it feeds (its slot), once its owner is known.
    record: Option<usize>,
    first_seen: Instant,
    /// The last read that listed it: one it missed was dropped from the kernel's map.
    read: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slice {
    counts: FlowCounts,
    closed: u64,
    rtt_us_sum: u64,
}

#[derive(Default)]
struct Record {
    command: Arc<str>,
    container: Option<ContainerId>,
    total: FlowCounts,
    window: VecDeque<(Instant, Slice)>,
    bytes_sent: u64,
    bytes_received: u64,
    closed: u64,
    last_rtt_us: Option<u32>,
    open: u64,
    processes: u32,
    /// Kernel entries feeding it now: while any does, it stays.
    entries: u32,
}

/// The fold's state between passes.
pub struct Fold {
    nanos_per_tick: u64,
    /// How long an unlisted owner (process or listener) is waited for.
    wait: Duration,
    seen: HashMap<FlowKey, Seen, BuildKeyHasher>,
    records: Records,
    /// Reads so far.
    reads: u64,
}

impl Fold {
    /// `ticks_per_sec`: the clock ticks /proc counts start times in (`_SC_CLK_TCK`); `wait`: how
    /// long a connecting process that the report does not list yet is waited for.
    pub fn new(ticks_per_sec: u64, wait: Duration) -> Fold {
        Fold {
            nanos_per_tick: 1_000_000_000 / ticks_per_sec.max(1),
            wait,
            seen: HashMap::default(),
            records: Records::default(),
            reads: 0,
        }
    }

    /// Credits one read of the kernel's entries; returns the entries the tracer may drop.
    ///
    /// Runs every tick over every entry (hundreds under a `wget` loop: each run is a
    /// process, so an entry), so it builds no per-read set: entries carry the read that
    /// last listed them, and records count the entries feeding them.
    pub fn update(&mut self, entries: &[(FlowKey, FlowValue)], lookup: &dyn Lookup, now: Instant) -> Vec<FlowKey> {
        self.reads += 1;
        let read = self.reads;
        for (_, record) in self.records.iter_mut() {
            record.open = 0;
        }
        let mut idle = Vec::new();
        for (key, value) in entries {
            let seen = self.seen.entry(*key).or_insert_with(|| Seen {
                credited: FlowValue::default(),
                record: None,
                first_seen: now,
                read,
            });
            seen.read = read;
            // A connecting process that has exited: nothing to wait for, and once nothing of
            // its entry is open, nothing more can come to it.
            let gone = key.inbound == 0 && lookup.gone(key.tgid);
            if seen.record.is_none() {
                let waited = gone || now.duration_since(seen.first_seen) >= self.wait;
                if !lookup.sees_netns(u64::from(key.netns)) {
                    // The tracer sees the whole kernel; a probe in its own PID namespace (a
                    // simulated host) reports only the network namespaces of processes it sees.
                    // Given time for a new container's processes to be scanned, others are dropped.
                    if waited && value.open() == 0 {
                        idle.push(*key);
                    }
                    continue;
                }
                let Some(id) = resolve(key, value, lookup, waited, self.nanos_per_tick) else { continue };
                let slot = self.records.slot(&id);
                let Some(record) = self.records.get_mut(slot) else { continue };
                if record.processes == 0 {
                    (record.command, record.container) = describe(&id, key, value, lookup);
                }
                record.processes += 1;
                record.entries += 1;
                seen.record = Some(slot);
            }
            let Some(record) = seen.record.and_then(|slot| self.records.get_mut(slot)) else { continue };
            let moved = credit(record, &seen.credited, value, now);
            seen.credited = *value;
            record.open += value.open();
            if value.open() == 0 && (!moved || gone) {
                idle.push(*key);
            }
        }
        // Entries gone from the kernel (dropped after being idle) are forgotten here too.
        let records = &mut self.records;
        let mut forget = |seen: &Seen| {
            if let Some(record) = seen.record.and_then(|slot| records.get_mut(slot)) {
                record.entries = record.entries.saturating_sub(1);
            }
        };
        self.seen.retain(|_, seen| {
            let listed = seen.read == read;
            if !listed {
                forget(seen);
            }
            listed
        });
        for key in &idle {
            if let Some(seen) = self.seen.remove(key) {
                forget(&seen);
            }
        }
        self.records.retain(|record| {
            while record.window.front().is_some_and(|(at, _)| now.duration_since(*at) >= WINDOW) {
                record.window.pop_front();
            }
            record.open > 0 || !record.window.is_empty() || record.entries > 0
        });
        idle
    }

    /// The records as the report carries them.
    pub fn flows(&self) -> impl Iterator<Item = TracedFlow> + '_ {
        self.records.iter().map(|(id, record)| {
            let mut last_minute = FlowCounts::default();
            let (mut closed, mut rtt_us_sum) = (0, 0);
            for (_, slice) in &record.window {
                add_counts(&mut last_minute, &slice.counts);
                closed += slice.closed;
                rtt_us_sum += slice.rtt_us_sum;
            }
            let rtt_us = rtt_us_sum.checked_div(closed).map(|rtt| rtt as u32).or(record.last_rtt_us);
            TracedFlow {
                id: id.clone(),
                command: record.command.clone(),
                container: record.container.clone(),
                processes: record.processes,
                open: u32::try_from(record.open).unwrap_or(u32::MAX),
                total: record.total,
                last_minute,
                tcp: (record.closed > 0).then(|| TcpInfo {
                    rtt_us: rtt_us.unwrap_or(0),
                    bytes_sent: record.bytes_sent,
                    bytes_received: record.bytes_received,
                    retransmits: u32::try_from(record.total.retransmits).unwrap_or(u32::MAX),
                }),
            }
        })
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// The records, each in a slot that stays its own while it lives, so a kernel
/// entry finds its record each tick by index rather than by hashing its ID.
#[derive(Default)]
struct Records {
    slots: Vec<Option<(TracedFlowId, Record)>>,
    by_id: HashMap<TracedFlowId, usize>,
    free: Vec<usize>,
}

impl Records {
    /// The slot of the record `id`, made empty if there is none.
    fn slot(&mut self, id: &TracedFlowId) -> usize {
        if let Some(&slot) = self.by_id.get(id) {
            return slot;
        }
        let entry = Some((id.clone(), Record::default()));
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = entry;
                slot
            }
            None => {
                self.slots.push(entry);
                self.slots.len() - 1
            }
        };
        self.by_id.insert(id.clone(), slot);
        slot
    }

    /// The record in a slot [`Records::slot`] gave (`None` once freed: never while an entry feeds it).
    fn get_mut(&mut self, slot: usize) -> Option<&mut Record> {
        self.slots.get_mut(slot).and_then(|entry| entry.as_mut()).map(|(_, record)| record)
    }

    fn iter(&self) -> impl Iterator<Item = (&TracedFlowId, &Record)> {
        self.slots.iter().flatten().map(|(id, record)| (id, record))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = (&TracedFlowId, &mut Record)> {
        self.slots.iter_mut().flatten().map(|(id, record)| (&*id, record))
    }

    fn retain(&mut self, mut keep: impl FnMut(&mut Record) -> bool) {
        for (slot, entry) in self.slots.iter_mut().enumerate() {
            if entry.as_mut().is_some_and(|(_, record)| !keep(record)) {
                if let Some((id, _)) = entry.take() {
                    self.by_id.remove(&id);
                }
                self.free.push(slot);
            }
        }
    }

    fn len(&self) -> usize {
        self.by_id.len()
    }

    fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// Hashes a [`FlowKey`] (plain bytes, from the kernel) with FxHash's multiply-rotate
/// instead of SipHash: the fold hashes every entry of the kernel's map each tick, and
/// these keys come from the probe's own kernel, not from a peer that could pick collisions.
#[derive(Default, Clone, Copy)]
struct BuildKeyHasher;

impl std::hash::BuildHasher for BuildKeyHasher {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_ne_bytes(word));
        }
        for &byte in chunks.remainder() {
            self.add(u64::from(byte));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u16(&mut self, value: u16) {
        self.add(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The record a kernel entry feeds, or `None` while its owner is not decided yet.
fn resolve(
    key: &FlowKey,
    value: &FlowValue,
    lookup: &dyn Lookup,
    waited: bool,
    nanos_per_tick: u64,
) -> Option<TracedFlowId> {
    let local_ip = canonical(key.local_ip());
    let remote_ip = canonical(key.remote_ip());
    let netns = u64::from(key.netns);
    if key.inbound != 0 {
        let owner = match lookup.listener_owner(netns, local_ip, key.port) {
            Some(process) => FlowOwner::Process(process),
            None if !waited => return None,
            None => FlowOwner::Unknown,
        };
        return Some(TracedFlowId {
            direction: Direction::Inbound,
            netns,
            local: SocketAddr::new(local_ip, key.port),
            remote: SocketAddr::new(remote_ip, 0),
            owner,
        });
    }
    let owner = match lookup.listed(key.tgid, key.start_time / nanos_per_tick) {
        Some(process) => FlowOwner::Process(process),
        None if !waited => return None,
        None => FlowOwner::Command {
            container: lookup.container_of_pid(value.ppid).or_else(|| lookup.container_of_netns(netns)),
            name: Arc::from(value.command()),
        },
    };
    Some(TracedFlowId {
        direction: Direction::Outbound,
        netns,
        local: SocketAddr::new(local_ip, 0),
        remote: SocketAddr::new(remote_ip, key.port),
        owner,
    })
}

/// The command name and container a record keeps for when its owner has left the report.
fn describe(
    id: &TracedFlowId,
    key: &FlowKey,
    value: &FlowValue,
    lookup: &dyn Lookup,
) -> (Arc<str>, Option<ContainerId>) {
    let netns = u64::from(key.netns);
    match &id.owner {
        FlowOwner::Command { container, name } => (name.clone(), container.clone()),
        FlowOwner::Process(process) if id.direction == Direction::Outbound => (
            Arc::from(value.command()),
            lookup.container_of_pid(process.pid).or_else(|| lookup.container_of_netns(netns)),
        ),
        FlowOwner::Process(process) => (
            lookup.name_of_pid(process.pid).unwrap_or_else(|| Arc::from("")),
            lookup.container_of_pid(process.pid).or_else(|| lookup.container_of_netns(netns)),
        ),
        FlowOwner::Unknown => (Arc::from(""), lookup.container_of_netns(netns)),
    }
}

/// Adds what moved from `before` to `after` to the record; false when nothing did.
fn credit(record: &mut Record, before: &FlowValue, after: &FlowValue, now: Instant) -> bool {
    let moved = |pick: fn(&FlowValue) -> u64| pick(after).saturating_sub(pick(before));
    let counts = FlowCounts {
        connections: moved(|v| v.attempts),
        refused: moved(|v| v.refused),
        unanswered: moved(|v| v.unanswered),
        reset: moved(|v| v.reset),
        retransmits: moved(|v| v.retransmits),
    };
    let closed = moved(|v| v.closed);
    let rtt_us_sum = moved(|v| v.rtt_us_sum);
    let bytes_sent = moved(|v| v.bytes_sent);
    let bytes_received = moved(|v| v.bytes_received);
    let established = moved(|v| v.established);
    if counts == FlowCounts::default() && closed == 0 && established == 0 && bytes_sent == 0 && bytes_received == 0 {
        return false;
    }
    add_counts(&mut record.total, &counts);
    record.closed += closed;
    record.bytes_sent += bytes_sent;
    record.bytes_received += bytes_received;
    if let Some(rtt) = rtt_us_sum.checked_div(closed) {
        record.last_rtt_us = Some(rtt as u32);
    }
    let slice = Slice { counts, closed, rtt_us_sum };
    match record.window.back_mut() {
        Some((at, last)) if *at == now => {
            add_counts(&mut last.counts, &slice.counts);
            last.closed += closed;
            last.rtt_us_sum += rtt_us_sum;
        }
        _ => record.window.push_back((now, slice)),
    }
    true
}

fn add_counts(total: &mut FlowCounts, more: &FlowCounts) {
    total.connections += more.connections;
    total.refused += more.refused;
    total.unanswered += more.unanswered;
    total.reset += more.reset;
    total.retransmits += more.retransmits;
}

/// IPv4-mapped IPv6 addresses (dual-stack sockets) become plain IPv4, as everywhere on the wire.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use periscope_report::HostId;

    use super::*;

    const NETNS: u32 = 4026532000;

    struct Fixture {
        listed: Vec<(u32, u64)>,
        listener: Option<u32>,
        /// Pids missing from /proc.
        gone: Vec<u32>,
    }

    fn process(pid: u32, start_time: u64) -> ProcessId {
        ProcessId { host: HostId::new("h"), pid, start_time }
    }

    impl Lookup for Fixture {
        fn listed(&self, pid: u32, start_time: u64) -> Option<ProcessId> {
            self.listed.contains(&(pid, start_time)).then(|| process(pid, start_time))
        }
        fn gone(&self, pid: u32) -> bool {
            self.gone.contains(&pid)
        }
        fn container_of_pid(&self, pid: u32) -> Option<ContainerId> {
            (pid == 10).then(|| ContainerId::new("client"))
        }
        fn name_of_pid(&self, pid: u32) -> Option<Arc<str>> {
            (pid == 7).then(|| Arc::from("httpd"))
        }
        fn container_of_netns(&self, netns: u64) -> Option<ContainerId> {
            (netns == u64::from(NETNS)).then(|| ContainerId::new("by-netns"))
        }
        fn sees_netns(&self, netns: u64) -> bool {
            netns == u64::from(NETNS)
        }
        fn listener_owner(&self, _netns: u64, _ip: IpAddr, port: u16) -> Option<ProcessId> {
            self.listener.filter(|_| port == 80).map(|pid| process(pid, 1))
        }
    }

    fn key(tgid: u32, start_ns: u64, inbound: bool) -> FlowKey {
        let mut key = FlowKey {
            start_time: start_ns,
            tgid,
            netns: NETNS,
            local: [0; 16],
            remote: [0; 16],
            port: 80,
            family: 4,
            inbound: u8::from(inbound),
            pad: 0,
        };
        key.local[..4].copy_from_slice(&[172, 17, 0, 3]);
        key.remote[..4].copy_from_slice(&[172, 17, 0, 2]);
        key
    }

    fn value(attempts: u64, closed: u64, refused: u64) -> FlowValue {
        let mut value = FlowValue {
            attempts,
            established: closed,
            closed,
            refused,
            bytes_sent: 100 * closed,
            bytes_received: 500 * closed,
            rtt_us_sum: 50 * closed,
            ppid: 10,
            ..FlowValue::default()
        };
        value.comm[..4].copy_from_slice(b"wget");
        value
    }

    #[test]
    fn short_lived_runs_fold_into_one_command_record() {
        let lookup = Fixture { listed: vec![], listener: Some(7), gone: vec![] };
        let mut fold = Fold::new(100, Duration::from_secs(2));
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        // Two wget runs, one connection each, the second refused.
        let runs = [(key(100, 1_000_000_000, false), value(1, 1, 0)), (key(101, 1_200_000_000, false), value(1, 0, 1))];
        assert!(fold.update(&runs, &lookup, at(0)).is_empty());
        assert!(fold.is_empty(), "unlisted processes are waited for");
        fold.update(&runs, &lookup, at(1));
        assert!(fold.is_empty());
        let idle = fold.update(&runs, &lookup, at(2));
        let flows: Vec<TracedFlow> = fold.flows().collect();
        assert_eq!(flows.len(), 1, "{flows:?}");
        let flow = &flows[0];
        assert_eq!(
            flow.id.owner,
            FlowOwner::Command { container: Some(ContainerId::new("client")), name: "wget".into() }
        );
        assert_eq!(
            (flow.id.local, flow.id.remote),
            ("172.17.0.3:0".parse().unwrap(), "172.17.0.2:80".parse().unwrap())
        );
        assert_eq!((flow.processes, flow.open, flow.total.connections, flow.total.refused), (2, 0, 2, 1));
        assert_eq!(flow.last_minute, flow.total);
        assert_eq!(flow.tcp.map(|t| (t.rtt_us, t.bytes_sent, t.bytes_received)), Some((50, 100, 500)));
        assert!(idle.is_empty(), "credited this pass: not idle yet");

        // Next pass nothing moved: both entries may go; the record stays for the window.
        let idle = fold.update(&runs, &lookup, at(3));
        assert_eq!(idle.len(), 2);
        let left: Vec<(FlowKey, FlowValue)> = Vec::new();
        fold.update(&left, &lookup, at(30));
        assert_eq!(fold.len(), 1);
        fold.update(&left, &lookup, at(63));
        assert!(fold.is_empty(), "nothing in the last minute, nothing open: dropped");
    }

    #[test]
    fn an_exited_process_is_not_waited_for_and_its_finished_entry_goes_at_once() {
        let lookup = Fixture { listed: vec![], listener: Some(7), gone: vec![100, 101] };
        let mut fold = Fold::new(100, Duration::from_secs(2));
        let now = Instant::now();
        // Both runs have exited; the first is done, the second's connection is still closing.
        let done = (key(100, 1_000_000_000, false), value(1, 1, 0));
        let closing = (key(101, 1_200_000_000, false), value(1, 0, 0));
        let idle = fold.update(&[done, closing], &lookup, now);
        let flow = fold.flows().next().expect("credited on first sight");
        assert_eq!(
            flow.id.owner,
            FlowOwner::Command { container: Some(ContainerId::new("client")), name: "wget".into() }
        );
        assert_eq!((flow.processes, flow.open, flow.total.connections), (2, 1, 2));
        assert_eq!(idle, vec![done.0], "the finished entry of an exited process goes now; the open one stays");
        // The closing connection ends; its entry goes on the read that credits it.
        let closed = (closing.0, value(1, 1, 0));
        let idle = fold.update(&[closed], &lookup, now + Duration::from_secs(2));
        assert_eq!(idle, vec![closing.0]);
        let flow = fold.flows().next().unwrap();
        assert_eq!((flow.open, flow.total.connections, flow.tcp.map(|t| t.bytes_sent)), (0, 2, Some(200)));

        // A live process's finished entry waits for a read where nothing moved, as before.
        let lookup = Fixture { listed: vec![(55, 200)], listener: None, gone: vec![] };
        let live = (key(55, 2_000_000_000, false), value(1, 1, 0));
        assert!(fold.update(&[live], &lookup, now + Duration::from_secs(4)).is_empty());
        // Accepted connections (no pid) are never taken for an exited process's.
        let lookup = Fixture { listed: vec![], listener: Some(7), gone: vec![0] };
        let accepted = (key(0, 0, true), FlowValue { attempts: 1, established: 1, closed: 1, ..FlowValue::default() });
        assert!(fold.update(&[accepted], &lookup, now + Duration::from_secs(6)).is_empty());
    }

    #[test]
    fn a_listed_process_owns_its_flow_and_counts_grow() {
        // start_time 2 s since boot = 200 ticks at 100 Hz.
        let lookup = Fixture { listed: vec![(55, 200)], listener: None, gone: vec![] };
        let mut fold = Fold::new(100, Duration::from_secs(2));
        let start = Instant::now();
        let k = key(55, 2_000_000_000, false);
        fold.update(&[(k, value(3, 2, 0))], &lookup, start);
        let flow = fold.flows().next().unwrap();
        assert_eq!(flow.id.owner, FlowOwner::Process(process(55, 200)));
        assert_eq!((flow.open, flow.total.connections), (1, 3));
        fold.update(&[(k, value(10, 9, 0))], &lookup, start + Duration::from_secs(1));
        let flow = fold.flows().next().unwrap();
        assert_eq!((flow.open, flow.total.connections, flow.last_minute.connections), (1, 10, 10));
        // A minute later the early connections leave the window but not the total.
        fold.update(&[(k, value(11, 10, 0))], &lookup, start + Duration::from_millis(60_500));
        let flow = fold.flows().next().unwrap();
        assert_eq!((flow.total.connections, flow.last_minute.connections), (11, 8));
    }

    #[test]
    fn accepted_connections_belong_to_the_listener_owner() {
        let mut fold = Fold::new(100, Duration::from_secs(2));
        let now = Instant::now();
        let k = key(0, 0, true);
        let accepted = FlowValue { attempts: 4, established: 4, closed: 4, ..FlowValue::default() };
        fold.update(&[(k, accepted)], &Fixture { listed: vec![], listener: Some(7), gone: vec![] }, now);
        let flow = fold.flows().next().unwrap();
        assert_eq!(flow.id.direction, Direction::Inbound);
        assert_eq!(flow.id.owner, FlowOwner::Process(process(7, 1)));
        assert_eq!((&*flow.command, flow.container.as_ref().map(ContainerId::as_str)), ("httpd", Some("by-netns")));
        assert_eq!(
            (flow.id.local, flow.id.remote),
            ("172.17.0.3:80".parse().unwrap(), "172.17.0.2:0".parse().unwrap())
        );

        // No listener known: waited for, then owned by nobody in particular.
        let mut fold = Fold::new(100, Duration::from_secs(2));
        let lookup = Fixture { listed: vec![], listener: None, gone: vec![] };
        for pass in 0..3 {
            fold.update(&[(k, accepted)], &lookup, now + Duration::from_secs(pass));
        }
        assert_eq!(fold.flows().next().unwrap().id.owner, FlowOwner::Unknown);
    }

    #[test]
    fn namespaces_the_probe_does_not_see_are_not_its_to_report() {
        let lookup = Fixture { listed: vec![(55, 200)], listener: None, gone: vec![] };
        let mut fold = Fold::new(100, Duration::from_secs(2));
        let now = Instant::now();
        let mut elsewhere = key(55, 2_000_000_000, false);
        elsewhere.netns = 1;
        assert!(fold.update(&[(elsewhere, value(1, 1, 0))], &lookup, now).is_empty(), "waited for");
        let idle = fold.update(&[(elsewhere, value(1, 1, 0))], &lookup, now + Duration::from_secs(2));
        assert_eq!(idle, vec![elsewhere], "then dropped from the kernel's map");
        assert!(fold.is_empty());
    }

    #[test]
    fn an_entry_recreated_after_removal_counts_from_zero() {
        let lookup = Fixture { listed: vec![(55, 200)], listener: None, gone: vec![] };
        let mut fold = Fold::new(100, Duration::from_secs(2));
        let now = Instant::now();
        let k = key(55, 2_000_000_000, false);
        fold.update(&[(k, value(1, 1, 0))], &lookup, now);
        let idle = fold.update(&[(k, value(1, 1, 0))], &lookup, now + Duration::from_secs(1));
        assert_eq!(idle, vec![k]);
        // The tracer dropped it; the process connects again and the kernel starts over.
        fold.update(&[(k, value(1, 1, 0))], &lookup, now + Duration::from_secs(2));
        assert_eq!(fold.flows().next().unwrap().total.connections, 2);
    }

    #[test]
    fn record_slots_are_found_by_id_and_reused_once_freed() {
        let id = |pid| TracedFlowId {
            direction: Direction::Outbound,
            netns: 1,
            local: "10.0.0.1:0".parse().unwrap(),
            remote: "10.0.0.2:80".parse().unwrap(),
            owner: FlowOwner::Process(process(pid, 1)),
        };
        let mut records = Records::default();
        let (a, b) = (records.slot(&id(1)), records.slot(&id(2)));
        assert_ne!(a, b);
        assert_eq!(records.slot(&id(1)), a, "found again by its ID");
        records.get_mut(a).unwrap().entries = 1;
        records.retain(|record| record.entries > 0);
        assert_eq!(records.len(), 1);
        assert!(records.get_mut(b).is_none(), "freed");
        assert_eq!(records.slot(&id(3)), b, "a freed slot is reused");
        assert_eq!(records.slot(&id(1)), a);
        assert_eq!(records.iter().count(), 2);
    }
}
