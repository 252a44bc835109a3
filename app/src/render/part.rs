//! One host's share of a view node or edge, and their running sums.
//!
//! A node grouping entities from many hosts (an image, a process name) is the
//! sum of each host's part; an edge is the sum of the connections each host
//! resolved. Sums are kept by adding a host's new part and subtracting its
//! old one, so a change costs the same whether 1 or 500 hosts share the node.
//! Members are counted per class (stopped, system) so every combination of
//! view options is answered from one sum. Metrics are fixed-point so that
//! adding and subtracting never drifts.

use std::net::IpAddr;
use std::sync::Arc;

use crate::render::address::Slot;
use crate::render::output::{NodeKind, NodeRef};
use crate::render::sorted_map::SortedMap;
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

/// Members by [`Class`]. Nearly every part (a process, a container) has one
/// class; keeping the four side by side cost 128 bytes in every part and sum
/// of a 200,000-process view.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum MemberSet {
    #[default]
    Empty,
    One(Class, Members),
    Many(Box<[Members; 4]>),
}

impl MemberSet {
    pub fn add(&mut self, class: Class, members: &Members) {
        match self {
            MemberSet::Empty => *self = MemberSet::One(class, *members),
            MemberSet::One(held, mine) if *held == class => mine.add(members),
            MemberSet::One(held, mine) => {
                let mut many = Box::new([Members::default(); 4]);
                many[usize::from(held.0)] = *mine;
                many[usize::from(class.0)].add(members);
                *self = MemberSet::Many(many);
            }
            MemberSet::Many(many) => many[usize::from(class.0)].add(members),
        }
    }

    pub fn sub(&mut self, class: Class, members: &Members) {
        match self {
            MemberSet::Empty => {}
            MemberSet::One(held, mine) if *held == class => mine.sub(members),
            MemberSet::One(..) => {}
            MemberSet::Many(many) => many[usize::from(class.0)].sub(members),
        }
    }

    pub fn add_set(&mut self, other: &MemberSet) {
        for (class, members) in other.iter() {
            self.add(class, members);
        }
    }

    pub fn sub_set(&mut self, other: &MemberSet) {
        for (class, members) in other.iter() {
            self.sub(class, members);
        }
    }

    /// Each class held, with its members (which may have dropped to none).
    pub fn iter(&self) -> impl Iterator<Item = (Class, &Members)> {
        let (one, many) = match self {
            MemberSet::Empty => (None, None),
            MemberSet::One(class, members) => (Some((*class, members)), None),
            MemberSet::Many(many) => (None, Some(many.iter().enumerate().map(|(i, m)| (Class(i as u8), m)))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    pub fn has_members(&self) -> bool {
        self.iter().any(|(_, members)| members.count > 0)
    }

    /// Every class together.
    pub fn total(&self) -> Members {
        let mut total = Members::default();
        for (_, members) in self.iter() {
            total.add(members);
        }
        total
    }
}

/// What a node is called and says about itself; shared (not copied) by a
/// part and the sum it heads. Text is `Arc<str>` and shares the report's own
/// strings where it can (a process's name and user, a host's name for its
/// hundreds of processes): a view of 200,000 processes keeps one copy of each.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBase {
    pub kind: NodeKind,
    pub label: Arc<str>,
    /// Empty for a process: "host (pid N)" is made from its facts when read
    /// (see [`NodeBase::minor_label`]), not kept for each of 200,000.
    pub minor_label: Arc<str>,
    pub rank: Arc<str>,
    pub metadata: Metadata,
    /// For group nodes, the noun counted in the minor label ("container" → "3 containers").
    pub group_noun: Option<&'static str>,
}

/// One shared empty text: `Arc::from("")` allocates its counts for every node.
pub fn empty_text() -> Arc<str> {
    static EMPTY: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));
    EMPTY.clone()
}

impl NodeBase {
    pub fn minor_label(&self) -> String {
        match &self.metadata {
            Metadata::Process(facts) if self.minor_label.is_empty() => format!("{} (pid {})", facts.host, facts.pid),
            _ => self.minor_label.to_string(),
        }
    }
}

/// A node's metadata, read in key order.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Metadata {
    /// Sorted by key.
    #[default]
    Empty,
    List(Vec<(&'static str, MetaValue)>),
    /// A process's, kept as its facts: at 1,000 hosts a view has 204,000
    /// processes, and seven keyed entries cost 288 bytes each where these 96 do.
    Process(Box<ProcessFacts>),
}

/// What a process node says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessFacts {
    pub pid: u32,
    pub ppid: u32,
    pub threads: u32,
    pub command: Arc<[String]>,
    pub user: Arc<str>,
    pub host: Arc<str>,
    pub container: Option<Arc<str>>,
}

impl ProcessFacts {
    /// The entries, in key order, empty ones left out (as [`NodePart::meta`] leaves them).
    fn entries(&self) -> Vec<(&'static str, MetaValue)> {
        let entries = [
            ("command", MetaValue::Words(self.command.clone())),
            ("container", MetaValue::Text(self.container.clone().unwrap_or_else(|| "".into()))),
            ("host", MetaValue::Text(self.host.clone())),
            ("pid", MetaValue::Number(self.pid.into())),
            ("ppid", MetaValue::Number(self.ppid.into())),
            ("threads", MetaValue::Number(self.threads.into())),
            ("user", MetaValue::Text(self.user.clone())),
        ];
        entries.into_iter().filter(|(_, value)| !value.is_empty()).collect()
    }
}

impl Metadata {
    /// The entries in key order.
    pub fn entries(&self) -> std::borrow::Cow<'_, [(&'static str, MetaValue)]> {
        match self {
            Metadata::Empty => std::borrow::Cow::Borrowed(&[]),
            Metadata::List(list) => std::borrow::Cow::Borrowed(list),
            Metadata::Process(facts) => std::borrow::Cow::Owned(facts.entries()),
        }
    }

    fn set(&mut self, key: &'static str, value: MetaValue) {
        let list = match self {
            Metadata::List(list) => list,
            other => {
                *other = Metadata::List(other.entries().into_owned());
                let Metadata::List(list) = other else { unreachable!("just made a list") };
                list
            }
        };
        match list.binary_search_by_key(&key, |(k, _)| *k) {
            Ok(at) => list[at].1 = value,
            Err(at) => list.insert(at, (key, value)),
        }
    }

    fn shrink_to_fit(&mut self) {
        if let Metadata::List(list) = self {
            list.shrink_to_fit();
        }
    }
}

/// A metadata value, kept as it came and written out as text only when a
/// client reads it: numbers need no string, shared text no copy.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Text(Arc<str>),
    Number(u64),
    /// A command line, joined by spaces when shown.
    Words(Arc<[String]>),
}

impl MetaValue {
    pub fn is_empty(&self) -> bool {
        match self {
            MetaValue::Text(text) => text.is_empty(),
            MetaValue::Number(_) => false,
            MetaValue::Words(words) => words.iter().all(String::is_empty),
        }
    }
}

impl std::fmt::Display for MetaValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaValue::Text(text) => f.write_str(text),
            MetaValue::Number(number) => write!(f, "{number}"),
            MetaValue::Words(words) => f.write_str(&words.join(" ")),
        }
    }
}

impl From<Arc<str>> for MetaValue {
    fn from(text: Arc<str>) -> Self {
        MetaValue::Text(text)
    }
}

impl From<&Arc<str>> for MetaValue {
    fn from(text: &Arc<str>) -> Self {
        MetaValue::Text(text.clone())
    }
}

impl From<String> for MetaValue {
    fn from(text: String) -> Self {
        MetaValue::Text(text.into())
    }
}

impl From<&str> for MetaValue {
    fn from(text: &str) -> Self {
        MetaValue::Text(text.into())
    }
}

impl From<&String> for MetaValue {
    fn from(text: &String) -> Self {
        MetaValue::Text(text.as_str().into())
    }
}

impl From<u64> for MetaValue {
    fn from(number: u64) -> Self {
        MetaValue::Number(number)
    }
}

impl From<u32> for MetaValue {
    fn from(number: u32) -> Self {
        MetaValue::Number(u64::from(number))
    }
}

impl From<Arc<[String]>> for MetaValue {
    fn from(words: Arc<[String]>) -> Self {
        MetaValue::Words(words)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodePart {
    pub base: Arc<NodeBase>,
    /// In order of importance: host first. Shared: a host's hundreds of processes name one host.
    pub parents: Vec<Arc<NodeRef>>,
    /// Members per [`Class`]; pseudo nodes made only by edges have none.
    pub members: MemberSet,
}

impl NodePart {
    pub fn new(kind: NodeKind, label: impl Into<Arc<str>>, minor_label: impl Into<Arc<str>>) -> Self {
        NodePart {
            base: Arc::new(NodeBase {
                kind,
                label: label.into(),
                minor_label: minor_label.into(),
                rank: empty_text(),
                metadata: Metadata::Empty,
                group_noun: None,
            }),
            parents: Vec::new(),
            members: MemberSet::Empty,
        }
    }

    pub fn rank(mut self, rank: impl Into<Arc<str>>) -> Self {
        Arc::make_mut(&mut self.base).rank = rank.into();
        self
    }

    pub fn member(mut self, class: Class, members: Members) -> Self {
        self.members.add(class, &members);
        self
    }

    pub fn meta(mut self, key: &'static str, value: impl Into<MetaValue>) -> Self {
        let value = value.into();
        if !value.is_empty() {
            Arc::make_mut(&mut self.base).metadata.set(key, value);
        }
        self
    }

    /// A process's metadata, all at once (see [`Metadata::Process`]).
    pub fn process_facts(mut self, facts: ProcessFacts) -> Self {
        Arc::make_mut(&mut self.base).metadata = Metadata::Process(Box::new(facts));
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
        self.members.add_set(&other.members);
        for parent in &other.parents {
            if !self.parents.contains(parent) {
                self.parents.push(parent.clone());
            }
        }
    }

    /// Frees the room left by building: a view keeps hundreds of thousands
    /// of parts, and a vector grown by pushes holds up to twice its entries.
    pub fn shrink(&mut self) {
        self.parents.shrink_to_fit();
        if let Some(base) = Arc::get_mut(&mut self.base) {
            base.metadata.shrink_to_fit();
        }
    }

    pub fn has_members(&self) -> bool {
        self.members.has_members()
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
    pub members: MemberSet,
}

impl NodeSum {
    pub fn new(slot: Slot, part: &NodePart) -> Self {
        let mut sum = NodeSum {
            base: part.base.clone(),
            primary: slot,
            primary_has_members: part.has_members(),
            parents: Vec::new(),
            members: MemberSet::Empty,
        };
        sum.add(part);
        sum
    }

    pub fn add(&mut self, part: &NodePart) {
        self.members.add_set(&part.members);
        for parent in &part.parents {
            match self.parents.iter_mut().find(|(p, _)| p == parent) {
                Some((_, count)) => *count += 1,
                None => crate::render::sorted_map::push_tight(&mut self.parents, (parent.clone(), 1)),
            }
        }
    }

    pub fn sub(&mut self, part: &NodePart) {
        self.members.sub_set(&part.members);
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
        self.members.has_members()
    }

    /// The members a filter keeps; `None` when the node has members but none pass.
    pub fn visible_members(&self, options: &ViewOptions) -> Option<Members> {
        if !self.has_members() {
            return Some(Members::default());
        }
        let mut total = Members::default();
        let mut any = false;
        for (class, members) in self.members.iter() {
            if members.count > 0 && class.passes(options) {
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
    pub ports: SortedMap<u16, u32>,
    pub tcp: TcpSum,
    /// (client address, server address, server port) → connections.
    pub rows: SortedMap<(IpAddr, IpAddr, u16), Row>,
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
        *self.ports.entry_or_default(port) += 1;
        let row = self.rows.entry_or_default((client_ip, server_ip, port));
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

    /// Frees the room left by building (see [`NodePart::shrink`]).
    pub fn shrink(&mut self) {
        self.ports.shrink_to_fit();
        self.rows.shrink_to_fit();
    }

    /// A part as an edge's sum starts: its totals, no rows (see [`EdgePart::add_totals`]).
    pub fn totals(&self) -> EdgePart {
        EdgePart { rows: SortedMap::default(), ..self.clone() }
    }

    /// Adds a host's part into an edge's sum: totals only. A view's sums keep
    /// no rows; the details read them from the hosts' parts, which hold them
    /// anyway (every view kept a second copy of every connection's row: ~60 MiB
    /// at 1,000 hosts).
    pub fn add_totals(&mut self, other: &EdgePart) {
        self.connections += other.connections;
        for (port, count) in &other.ports {
            *self.ports.entry_or_default(*port) += count;
        }
        self.tcp.add(&other.tcp);
        self.traced.add(&other.traced);
    }

    pub fn sub_totals(&mut self, other: &EdgePart) {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(container: Option<&str>, user: &str) -> ProcessFacts {
        ProcessFacts {
            pid: 42,
            ppid: 1,
            threads: 3,
            command: Arc::from(vec!["httpd".to_owned(), "-f".to_owned()]),
            user: user.into(),
            host: "h1".into(),
            container: container.map(Arc::from),
        }
    }

    /// A process's facts read as the keyed entries `meta` would have made, empty ones left out.
    #[test]
    fn process_facts_read_as_keyed_metadata() {
        for (container, user) in [(Some("web"), "www"), (None, "")] {
            let facts = facts(container, user);
            let mut keyed = NodePart::new(NodeKind::Process, "httpd", "h1")
                .meta("pid", facts.pid)
                .meta("ppid", facts.ppid)
                .meta("command", facts.command.clone())
                .meta("user", facts.user.clone())
                .meta("threads", facts.threads)
                .meta("host", facts.host.clone());
            if let Some(name) = &facts.container {
                keyed = keyed.meta("container", name.clone());
            }
            let compact = NodePart::new(NodeKind::Process, "httpd", empty_text()).process_facts(facts);
            assert_eq!(compact.base.metadata.entries(), keyed.base.metadata.entries());
            assert_eq!(compact.base.minor_label(), "h1 (pid 42)", "made from the facts");
            assert_eq!(keyed.base.minor_label(), "h1", "kept when given");
            // A key set afterwards joins them.
            let more = compact.meta("zone", "a");
            let keys: Vec<&str> = more.base.metadata.entries().iter().map(|(k, _)| *k).collect();
            assert!(keys.windows(2).all(|pair| pair[0] < pair[1]) && keys.contains(&"zone"), "{keys:?}");
        }
    }
}
