//! One host's share of a view node or edge, and their running sums.
//!
//! A node grouping entities from many hosts (an image, a process name) is the
//! sum of each host's part; an edge is the sum of the connections each host
//! resolved. Sums are kept by adding a host's new part and subtracting its
//! old one, so a change costs the same whether 1 or 500 hosts share the node.
//! Members are counted per class (stopped, system) so every combination of
//! view options is answered from one sum. Metrics are fixed-point so that
//! adding and subtracting never drifts.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::render::address::Slot;
use crate::render::output::{NodeKind, NodeRef};
use periscope_report::FlowCounts;

use crate::render::resolve::{TcpFacts, TracedFacts};
use crate::view::{Stopped, ViewOptions};

/// Which members a filter keeps: bit 0 stopped, bit 1 system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Class(pub u8);

impl Class {
    pub const STOPPED: u8 = 1;
    pub const SYSTEM: u8 = 2;

    pub fn new(stopped: bool, system: bool) -> Self {
        Class(u8::from(stopped) * Class::STOPPED + u8::from(system) * Class::SYSTEM)
    }

    pub fn passes(self, options: &ViewOptions) -> bool {
        let stopped = self.0 & Class::STOPPED != 0;
        let system = self.0 & Class::SYSTEM != 0;
        let stopped_ok = match options.stopped {
            Stopped::Hide => !stopped,
            Stopped::Show => true,
            Stopped::Only => stopped,
        };
        stopped_ok && (options.show_system || !system)
    }
}

/// Members of one class: how many, and their summed metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Members {
    pub count: u32,
    /// CPU in thousandths of a percent of one core, over `cpu_known` members.
    cpu_milli: i64,
    cpu_known: u32,
    memory: u64,
    memory_known: u32,
}

impl Members {
    pub fn one(cpu: Option<f64>, memory: Option<u64>) -> Self {
        Members {
            count: 1,
            cpu_milli: cpu.map(|cpu| (cpu * 1000.0).round() as i64).unwrap_or(0),
            cpu_known: u32::from(cpu.is_some()),
            memory: memory.unwrap_or(0),
            memory_known: u32::from(memory.is_some()),
        }
    }

    /// One container, with its cgroup stats when the probe had them.
    pub fn container(container: &periscope_report::Container) -> Self {
        let stats = container.stats.as_ref();
        Members::one(stats.map(|s| s.cpu_percent), stats.map(|s| s.memory_bytes))
    }

    pub fn cpu(&self) -> Option<f64> {
        (self.cpu_known > 0).then(|| self.cpu_milli as f64 / 1000.0)
    }

    pub fn memory(&self) -> Option<u64> {
        (self.memory_known > 0).then_some(self.memory)
    }

    pub fn add(&mut self, other: &Members) {
        self.count += other.count;
        self.cpu_milli += other.cpu_milli;
        self.cpu_known += other.cpu_known;
        self.memory = self.memory.wrapping_add(other.memory);
        self.memory_known += other.memory_known;
    }

    pub fn sub(&mut self, other: &Members) {
        self.count = self.count.saturating_sub(other.count);
        self.cpu_milli -= other.cpu_milli;
        self.cpu_known = self.cpu_known.saturating_sub(other.cpu_known);
        self.memory = self.memory.wrapping_sub(other.memory);
        self.memory_known = self.memory_known.saturating_sub(other.memory_known);
    }
}

/// What a node is called and says about itself; shared (not copied) by a part and the sum it heads.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBase {
    pub kind: NodeKind,
    pub label: String,
    pub minor_label: String,
    pub rank: String,
    /// Sorted by key.
    pub metadata: Vec<(&'static str, String)>,
    /// For group nodes, the noun counted in the minor label ("container" → "3 containers").
    pub group_noun: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodePart {
    pub base: Arc<NodeBase>,
    /// In order of importance: host first. Shared: a host's hundreds of processes name one host.
    pub parents: Vec<Arc<NodeRef>>,
    /// Members per [`Class`]; pseudo nodes made only by edges have none.
    pub members: [Members; 4],
}

impl NodePart {
    pub fn new(kind: NodeKind, label: impl Into<String>, minor_label: impl Into<String>) -> Self {
        NodePart {
            base: Arc::new(NodeBase {
                kind,
                label: label.into(),
                minor_label: minor_label.into(),
                rank: String::new(),
                metadata: Vec::new(),
                group_noun: None,
            }),
            parents: Vec::new(),
            members: [Members::default(); 4],
        }
    }

    pub fn rank(mut self, rank: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.base).rank = rank.into();
        self
    }

    pub fn member(mut self, class: Class, members: Members) -> Self {
        self.members[usize::from(class.0)].add(&members);
        self
    }

    pub fn meta(mut self, key: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        if !value.is_empty() {
            let metadata = &mut Arc::make_mut(&mut self.base).metadata;
            match metadata.binary_search_by_key(&key, |(k, _)| *k) {
                Ok(at) => metadata[at].1 = value,
                Err(at) => metadata.insert(at, (key, value)),
            }
        }
        self
    }

    pub fn parent(mut self, parent: impl Into<Arc<NodeRef>>) -> Self {
        let parent = parent.into();
        if !self.parents.contains(&parent) {
            self.parents.push(parent);
        }
        self
    }

    pub fn group(mut self, noun: &'static str) -> Self {
        Arc::make_mut(&mut self.base).group_noun = Some(noun);
        self
    }

    /// Adds another entity's share of the same node within one host.
    pub fn merge(&mut self, other: &NodePart) {
        for (mine, theirs) in self.members.iter_mut().zip(&other.members) {
            mine.add(theirs);
        }
        for parent in &other.parents {
            if !self.parents.contains(parent) {
                self.parents.push(parent.clone());
            }
        }
    }

    pub fn has_members(&self) -> bool {
        self.members.iter().any(|members| members.count > 0)
    }
}

/// A node summed over every host's part.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSum {
    /// The base of the primary part: the lowest slot with members, else the lowest slot.
    pub base: Arc<NodeBase>,
    pub primary: Slot,
    pub primary_has_members: bool,
    parents: Vec<(Arc<NodeRef>, u32)>,
    pub members: [Members; 4],
}

impl NodeSum {
    pub fn new(slot: Slot, part: &NodePart) -> Self {
        let mut sum = NodeSum {
            base: part.base.clone(),
            primary: slot,
            primary_has_members: part.has_members(),
            parents: Vec::new(),
            members: [Members::default(); 4],
        };
        sum.add(part);
        sum
    }

    pub fn add(&mut self, part: &NodePart) {
        for (mine, theirs) in self.members.iter_mut().zip(&part.members) {
            mine.add(theirs);
        }
        for parent in &part.parents {
            match self.parents.iter_mut().find(|(p, _)| p == parent) {
                Some((_, count)) => *count += 1,
                None => self.parents.push((parent.clone(), 1)),
            }
        }
    }

    pub fn sub(&mut self, part: &NodePart) {
        for (mine, theirs) in self.members.iter_mut().zip(&part.members) {
            mine.sub(theirs);
        }
        for parent in &part.parents {
            if let Some((_, count)) = self.parents.iter_mut().find(|(p, _)| p == parent) {
                *count = count.saturating_sub(1);
            }
        }
        self.parents.retain(|(_, count)| *count > 0);
    }

    pub fn set_primary(&mut self, slot: Slot, part: &NodePart) {
        self.primary = slot;
        self.primary_has_members = part.has_members();
        self.base = part.base.clone();
    }

    pub fn parents(&self) -> Vec<NodeRef> {
        self.parents.iter().map(|(parent, _)| NodeRef::clone(parent)).collect()
    }

    pub fn has_members(&self) -> bool {
        self.members.iter().any(|members| members.count > 0)
    }

    /// The members a filter keeps; `None` when the node has members but none pass.
    pub fn visible_members(&self, options: &ViewOptions) -> Option<Members> {
        if !self.has_members() {
            return Some(Members::default());
        }
        let mut total = Members::default();
        let mut any = false;
        for (class, members) in self.members.iter().enumerate() {
            if members.count > 0 && Class(class as u8).passes(options) {
                total.add(members);
                any = true;
            }
        }
        any.then_some(total)
    }
}

/// Summed TCP facts of several connections; `samples == 0` means none known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpSum {
    pub rtt_us_total: u64,
    pub samples: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub retransmits: u64,
}

impl TcpSum {
    pub fn add_facts(&mut self, facts: &TcpFacts) {
        self.rtt_us_total += u64::from(facts.rtt_us);
        self.samples += 1;
        self.bytes_sent = self.bytes_sent.wrapping_add(facts.bytes_sent);
        self.bytes_received = self.bytes_received.wrapping_add(facts.bytes_received);
        self.retransmits += u64::from(facts.retransmits);
    }

    pub fn add(&mut self, other: &TcpSum) {
        self.rtt_us_total = self.rtt_us_total.wrapping_add(other.rtt_us_total);
        self.samples += other.samples;
        self.bytes_sent = self.bytes_sent.wrapping_add(other.bytes_sent);
        self.bytes_received = self.bytes_received.wrapping_add(other.bytes_received);
        self.retransmits = self.retransmits.wrapping_add(other.retransmits);
    }

    pub fn sub(&mut self, other: &TcpSum) {
        self.rtt_us_total = self.rtt_us_total.wrapping_sub(other.rtt_us_total);
        self.samples = self.samples.saturating_sub(other.samples);
        self.bytes_sent = self.bytes_sent.wrapping_sub(other.bytes_sent);
        self.bytes_received = self.bytes_received.wrapping_sub(other.bytes_received);
        self.retransmits = self.retransmits.wrapping_sub(other.retransmits);
    }

    pub fn known(&self) -> Option<&TcpSum> {
        (self.samples > 0).then_some(self)
    }

    pub fn mean_rtt_us(&self) -> Option<u32> {
        (self.samples > 0).then(|| u32::try_from(self.rtt_us_total / u64::from(self.samples)).unwrap_or(u32::MAX))
    }

    pub fn retransmits_u32(&self) -> u32 {
        u32::try_from(self.retransmits).unwrap_or(u32::MAX)
    }
}

/// Summed counts of traced flows (`flows == 0`: none traced), plus conntrack's failed flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TracedSum {
    pub flows: u32,
    /// Connections since each flow was first seen.
    pub total: u64,
    pub last_minute: FlowCounts,
}

impl TracedSum {
    fn add_facts(&mut self, facts: &TracedFacts) {
        if let Some(total) = facts.total {
            self.flows += 1;
            self.total = self.total.wrapping_add(total);
        }
        apply(&mut self.last_minute, &facts.last_minute, u64::wrapping_add);
    }

    /// The last minute's counts, when anything was counted (traced, or failures from conntrack).
    pub fn rates(&self) -> Option<&FlowCounts> {
        (self.flows > 0 || self.last_minute.has_failures()).then_some(&self.last_minute)
    }

    pub fn add(&mut self, other: &TracedSum) {
        self.flows += other.flows;
        self.total = self.total.wrapping_add(other.total);
        apply(&mut self.last_minute, &other.last_minute, u64::wrapping_add);
    }

    pub fn sub(&mut self, other: &TracedSum) {
        self.flows = self.flows.saturating_sub(other.flows);
        self.total = self.total.wrapping_sub(other.total);
        apply(&mut self.last_minute, &other.last_minute, u64::wrapping_sub);
    }

    pub fn known(&self) -> Option<&TracedSum> {
        (self.flows > 0).then_some(self)
    }
}

fn apply(mine: &mut FlowCounts, theirs: &FlowCounts, op: fn(u64, u64) -> u64) {
    mine.connections = op(mine.connections, theirs.connections);
    mine.refused = op(mine.refused, theirs.refused);
    mine.unanswered = op(mine.unanswered, theirs.unanswered);
    mine.reset = op(mine.reset, theirs.reset);
    mine.retransmits = op(mine.retransmits, theirs.retransmits);
}

/// Connections between one client address and one server address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Row {
    pub count: u32,
    pub tcp: TcpSum,
    pub traced: TracedSum,
}

/// An edge's share from one host, or its sum over all of them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EdgePart {
    pub connections: u32,
    /// Server port → connections to it.
    pub ports: BTreeMap<u16, u32>,
    pub tcp: TcpSum,
    /// (client address, server address, server port) → connections.
    pub rows: BTreeMap<(IpAddr, IpAddr, u16), Row>,
    pub traced: TracedSum,
}

impl EdgePart {
    pub fn add_connection(
        &mut self,
        client_ip: IpAddr,
        server_ip: IpAddr,
        port: u16,
        tcp: Option<&TcpFacts>,
        traced: Option<&TracedFacts>,
    ) {
        self.connections += 1;
        *self.ports.entry(port).or_default() += 1;
        let row = self.rows.entry((client_ip, server_ip, port)).or_default();
        row.count += 1;
        if let Some(facts) = tcp {
            self.tcp.add_facts(facts);
            row.tcp.add_facts(facts);
        }
        if let Some(facts) = traced {
            self.traced.add_facts(facts);
            row.traced.add_facts(facts);
        }
    }

    pub fn add(&mut self, other: &EdgePart) {
        self.connections += other.connections;
        for (port, count) in &other.ports {
            *self.ports.entry(*port).or_default() += count;
        }
        self.tcp.add(&other.tcp);
        self.traced.add(&other.traced);
        for (key, row) in &other.rows {
            let mine = self.rows.entry(*key).or_default();
            mine.count += row.count;
            mine.tcp.add(&row.tcp);
            mine.traced.add(&row.traced);
        }
    }

    pub fn sub(&mut self, other: &EdgePart) {
        self.connections = self.connections.saturating_sub(other.connections);
        for (port, count) in &other.ports {
            if let Some(mine) = self.ports.get_mut(port) {
                *mine = mine.saturating_sub(*count);
                if *mine == 0 {
                    self.ports.remove(port);
                }
            }
        }
        self.tcp.sub(&other.tcp);
        self.traced.sub(&other.traced);
        for (key, row) in &other.rows {
            if let Some(mine) = self.rows.get_mut(key) {
                mine.count = mine.count.saturating_sub(row.count);
                mine.tcp.sub(&row.tcp);
                mine.traced.sub(&row.traced);
                if mine.count == 0 {
                    self.rows.remove(key);
                }
            }
        }
    }
}
