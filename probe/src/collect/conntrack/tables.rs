//! Every conntrack table the probe follows: the host's, and one per other
//! network namespace in use, with the bookkeeping of which namespaces are
//! wanted, open or refused. The collector reads them; the follower and the
//! namespace readers (`netns.rs`) feed them.
//!
//! A flow crossing both the host's netfilter and a container's is in both
//! tables, and one between two containers whose namespaces both track (any
//! container on a user-defined network: Docker's DNS rules turn conntrack on
//! there) is in both of theirs. Each flow is reported once (same client and
//! server, or same reply): the host's copy, else the first namespace's by
//! inode, so no edge counts it twice. Loopback flows are each namespace's own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use periscope_report::{Connection, Protocol, SourceState};

use crate::collect::conntrack::table::{ConntrackTable, Flow};

/// Every conntrack table the probe follows: the host's (its own namespace's) and the others'.
#[derive(Debug)]
pub struct Conntrack {
    pub host: ConntrackTable,
    pub netns: NetnsTables,
}

impl Conntrack {
    /// `own`: the probe's network namespace.
    pub fn new(own: u64, linger: Duration) -> Conntrack {
        Conntrack { host: ConntrackTable::new(own, linger), netns: NetnsTables::new(own, linger) }
    }
}

/// Why a namespace has no reader; each is logged once.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    /// The pid it was tried through: another pid in the namespace is worth a new try.
    pid: u32,
    /// The host refused it (no privilege), with the reason shown in the source's state.
    denied: Option<String>,
}

/// What the follower must change: readers to open (netns, pid) and to close.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub open: Vec<(u64, u32)>,
    pub close: Vec<u64>,
}

/// The per-namespace tables and their bookkeeping, shared by the collector
/// (which says which namespaces are in use) and the follower (which feeds them).
#[derive(Debug)]
pub struct NetnsTables {
    /// The probe's own namespace: the host table covers it.
    own: u64,
    linger: Duration,
    /// Namespaces in use but the probe's own, each with a pid to enter it by, as of the last pass.
    wanted: BTreeMap<u64, u32>,
    /// By inode, so which namespace keeps a flow two of them hold does not change between passes.
    tables: BTreeMap<u64, ConntrackTable>,
    failed: HashMap<u64, Failure>,
}

impl NetnsTables {
    pub fn new(own: u64, linger: Duration) -> NetnsTables {
        NetnsTables { own, linger, wanted: BTreeMap::new(), tables: BTreeMap::new(), failed: HashMap::new() }
    }

    /// Takes the namespaces in use from a pass (inode → reader pid).
    pub fn want(&mut self, in_use: &BTreeMap<u64, u32>) {
        self.wanted.clear();
        self.wanted.extend(in_use.iter().filter(|(inode, _)| **inode != self.own).map(|(i, p)| (*i, *p)));
        self.failed.retain(|inode, _| in_use.contains_key(inode));
    }

    /// Readers to open (in use, none open, not failed through the same pid) and to close.
    pub fn changes(&self, open: &HashSet<u64>) -> Changes {
        let tried = |inode: &u64, pid: &u32| self.failed.get(inode).is_some_and(|failure| failure.pid == *pid);
        Changes {
            open: self
                .wanted
                .iter()
                .filter(|(inode, pid)| !open.contains(inode) && !tried(inode, pid))
                .map(|(inode, pid)| (*inode, *pid))
                .collect(),
            close: open.iter().filter(|inode| !self.wanted.contains_key(inode)).copied().collect(),
        }
    }

    /// A reader opened: its table starts from `flows`, the namespace's dump.
    pub fn opened(&mut self, netns: u64, flows: &[Flow], now: Instant) {
        self.failed.remove(&netns);
        let linger = self.linger;
        let table = self.tables.entry(netns).or_insert_with(|| ConntrackTable::new(netns, linger));
        table.reset(flows, now);
        table.set_status(SourceState::Active);
    }

    /// A reader could not be opened (or failed): returns whether this is news, to log once.
    pub fn failed(&mut self, netns: u64, pid: u32, denied: Option<String>) -> bool {
        self.failed.insert(netns, Failure { pid, denied }).is_none()
    }

    /// A reader closed (its namespace is gone): its records close and linger like any others.
    pub fn closed(&mut self, netns: u64, now: Instant) {
        if let Some(table) = self.tables.get_mut(&netns) {
            table.reset(&[], now);
        }
    }

    pub fn table(&mut self, netns: u64) -> Option<&mut ConntrackTable> {
        self.tables.get_mut(&netns)
    }

    /// Drops expired records, and the tables of namespaces gone once they are empty.
    pub fn expire(&mut self, now: Instant) {
        let wanted = &self.wanted;
        self.tables.retain(|inode, table| {
            table.expire(now);
            wanted.contains_key(inode) || !table.is_empty()
        });
    }

    /// Every namespace's records, each flow once: one the host's table holds
    /// is the host's, and one two namespaces hold (a client's and a server's)
    /// is the first's by inode.
    pub fn connections(&self, host: &ConntrackTable) -> Vec<Connection> {
        if self.tables.values().all(ConntrackTable::is_empty) {
            return Vec::new();
        }
        let mut seen: HashSet<FlowKey> = HashSet::new();
        host.connections().for_each(|connection| remember(&mut seen, &connection));
        let mut kept = Vec::new();
        for table in self.tables.values() {
            let first = kept.len();
            kept.extend(table.connections().filter(|connection| !seen_before(&seen, connection)));
            // Remembered after the whole table: two records of one namespace are never one flow.
            kept[first..].iter().for_each(|connection| remember(&mut seen, connection));
        }
        kept
    }

    /// The conntrack source's state given the host table's: degraded while a
    /// namespace's conntrack is refused to the probe.
    pub fn state(&self, host: &SourceState) -> SourceState {
        match (host, self.failed.values().find_map(|failure| failure.denied.clone())) {
            (SourceState::Active, Some(reason)) => SourceState::Degraded { reason },
            _ => host.clone(),
        }
    }

    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

/// One direction of a folded flow, as both the host's and a container's table would key it.
type FlowKey = (bool, Protocol, SocketAddr, SocketAddr);

/// A record's original and reply keys: another table's record matching
/// either is the same flow (the host may NAT either direction).
fn remember(seen: &mut HashSet<FlowKey>, c: &Connection) {
    seen.insert((true, c.id.protocol, c.id.source, c.id.destination));
    seen.insert((false, c.id.protocol, c.reply_source, c.reply_destination));
}

/// Loopback flows are never the same across namespaces.
fn seen_before(seen: &HashSet<FlowKey>, connection: &Connection) -> bool {
    let id = connection.id;
    !id.source.ip().is_loopback()
        && (seen.contains(&(true, id.protocol, id.source, id.destination))
            || seen.contains(&(false, id.protocol, connection.reply_source, connection.reply_destination)))
}

#[cfg(test)]
mod tests {
    use periscope_report::ConnectionId;

    use super::*;
    use crate::collect::conntrack::table::{Event, Tuple};

    const OWN: u64 = 1;

    fn in_use(namespaces: &[(u64, u32)]) -> BTreeMap<u64, u32> {
        namespaces.iter().copied().collect()
    }

    fn flow(client: &str, server: &str, reply_source: &str) -> Flow {
        let (client, server, reply_source): (SocketAddr, SocketAddr, SocketAddr) =
            (client.parse().unwrap(), server.parse().unwrap(), reply_source.parse().unwrap());
        Flow {
            original: Tuple { protocol: Protocol::Tcp, source: client, destination: server },
            reply: Tuple { protocol: Protocol::Tcp, source: reply_source, destination: client },
            status: None,
        }
    }

    #[test]
    fn readers_open_for_namespaces_in_use_and_close_when_they_go() {
        let mut tables = NetnsTables::new(OWN, Duration::from_secs(30));
        tables.want(&in_use(&[(OWN, 1), (10, 100), (20, 200)]));
        let changes = tables.changes(&HashSet::new());
        assert_eq!(changes, Changes { open: vec![(10, 100), (20, 200)], close: vec![] }, "never the probe's own");

        // 20 went away; 30 appeared.
        tables.want(&in_use(&[(OWN, 1), (10, 100), (30, 300)]));
        let changes = tables.changes(&HashSet::from([10, 20]));
        assert_eq!(changes, Changes { open: vec![(30, 300)], close: vec![20] });
    }

    #[test]
    fn a_failed_namespace_is_tried_again_only_through_another_pid() {
        let mut tables = NetnsTables::new(OWN, Duration::from_secs(30));
        tables.want(&in_use(&[(10, 100)]));
        assert!(tables.failed(10, 100, Some("denied".into())), "news the first time");
        assert!(!tables.failed(10, 100, Some("denied".into())), "logged once");
        assert!(tables.changes(&HashSet::new()).open.is_empty());
        assert_eq!(
            tables.state(&SourceState::Active),
            SourceState::Degraded { reason: "denied".into() },
            "a refused namespace degrades the source"
        );
        assert_eq!(
            tables.state(&SourceState::Unavailable { reason: "x".into() }),
            SourceState::Unavailable { reason: "x".into() }
        );

        tables.want(&in_use(&[(10, 101)]));
        assert_eq!(tables.changes(&HashSet::new()).open, vec![(10, 101)], "its reader pid changed");

        // Gone and back (an inode reused): forgotten, so tried afresh.
        tables.want(&in_use(&[]));
        assert_eq!(tables.state(&SourceState::Active), SourceState::Active);
        tables.want(&in_use(&[(10, 101)]));
        assert_eq!(tables.changes(&HashSet::new()).open, vec![(10, 101)]);
    }

    #[test]
    fn a_gone_namespace_keeps_its_records_for_the_linger_time() {
        let start = Instant::now();
        let mut tables = NetnsTables::new(OWN, Duration::from_secs(30));
        tables.want(&in_use(&[(10, 100)]));
        tables.opened(10, &[flow("10.232.0.3:40000", "10.232.0.2:81", "10.232.0.2:81")], start);
        assert_eq!(tables.len(), 1);
        tables.want(&in_use(&[]));
        tables.closed(10, start);
        tables.expire(start + Duration::from_secs(29));
        let host = ConntrackTable::new(OWN, Duration::from_secs(30));
        let records = tables.connections(&host);
        assert_eq!(records.len(), 1);
        assert!(records[0].closed);
        assert_eq!(records[0].id.netns, 10, "attributed to its namespace");
        tables.expire(start + Duration::from_secs(31));
        assert!(tables.is_empty());
    }

    #[test]
    fn a_flow_the_host_holds_too_is_reported_once() {
        let now = Instant::now();
        let mut host = ConntrackTable::new(OWN, Duration::from_secs(30));
        // Across Docker's bridge: the host tracks it as the client's namespace does.
        host.apply(Event::New(flow("172.17.0.3:40000", "172.17.0.2:80", "172.17.0.2:80")), now);
        // To a published port: the host NATs it; the server's namespace sees it after.
        host.apply(Event::New(flow("172.17.0.1:41000", "192.168.1.5:8080", "172.17.0.4:80")), now);
        let mut tables = NetnsTables::new(OWN, Duration::from_secs(30));
        tables.want(&in_use(&[(10, 100), (20, 200), (30, 300)]));
        tables.opened(10, &[flow("172.17.0.3:40000", "172.17.0.2:80", "172.17.0.2:80")], now);
        tables.opened(20, &[flow("172.17.0.1:41000", "172.17.0.4:80", "172.17.0.4:80")], now);
        // Not on the host: a macvlan peer (in the client's and the server's namespace), and
        // loopback in two namespaces, two flows.
        let macvlan = flow("10.232.0.3:40000", "10.232.0.2:81", "10.232.0.2:81");
        let loopback = flow("127.0.0.1:5000", "127.0.0.1:80", "127.0.0.1:80");
        tables.opened(30, &[macvlan, loopback], now);
        tables.opened(5, &[macvlan, loopback], now);
        let mut kept: Vec<ConnectionId> = tables.connections(&host).iter().map(|c| c.id).collect();
        kept.sort_by_key(|id| (id.destination, id.netns));
        let destinations: Vec<String> = kept.iter().map(|id| format!("{} {}", id.netns, id.destination)).collect();
        assert_eq!(destinations, ["5 10.232.0.2:81", "5 127.0.0.1:80", "30 127.0.0.1:80"]);
    }
}
