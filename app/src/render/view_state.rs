//! A materialized view: every host's share of its nodes and edges, their sums,
//! and what changed since the last update.
//!
//! Replacing one host's shares touches only the nodes and edges that host
//! contributed before or contributes now, so an update costs the size of that
//! host, not of the whole view. Options (stopped, system, unconnected) are
//! applied when a node or edge is read, so one state serves every client.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::node_id::NodeId;
use crate::render::address::Slot;
use crate::render::edge_key::EdgeKey;
use crate::render::output::{significant_u64, ChangeSet, Edge, Node, NodeMetrics, NodeRef, Rates};
use crate::render::part::{EdgePart, Members, NodeBase, NodePart, NodeSum, Row, TcpSum};
use crate::render::sent::SentView;
use crate::render::sorted_map::SortedMap;
use crate::view::{Stopped, ViewId, ViewOptions};

/// Keys whose sums changed in one update.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub nodes: HashSet<NodeId>,
    pub edges: HashSet<EdgeKey>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.edges.is_empty()
    }

    pub fn extend(&mut self, other: Changes) {
        self.nodes.extend(other.nodes);
        self.edges.extend(other.edges);
    }
}

/// One host's shares of a view, kept until the host's next change: sorted
/// vectors of exactly their entries, where a hash map keeps its buckets at a
/// power of two, a third empty on average (~40 MiB at 1,000 hosts).
#[derive(Debug, Default, Clone)]
pub struct HostShare {
    pub nodes: SortedMap<NodeId, NodePart>,
    pub edges: SortedMap<EdgeKey, EdgePart>,
}

impl HostShare {
    /// The share of maps built by merging parts under their keys, without the room building left.
    pub fn from_built(nodes: HashMap<NodeId, NodePart>, edges: HashMap<EdgeKey, EdgePart>) -> Self {
        let mut share = HostShare { nodes: SortedMap::from_distinct(nodes), edges: SortedMap::from_distinct(edges) };
        share.nodes.values_mut().for_each(NodePart::shrink);
        share.edges.values_mut().for_each(EdgePart::shrink);
        share
    }
}

#[derive(Debug)]
pub struct ViewState {
    pub view: ViewId,
    shares: HashMap<Slot, HostShare>,
    nodes: HashMap<NodeId, Summed<NodeSum>>,
    edges: HashMap<EdgeKey, Summed<EdgePart>>,
    adjacency: HashMap<NodeId, EdgeSet>,
}

/// A node's or edge's sum and the hosts it sums: one entry, so a view holds
/// each key once for both (at 1,000 hosts, separate source maps cost ~40 MiB).
#[derive(Debug)]
struct Summed<T> {
    sum: T,
    sources: Sources,
}

/// The edges at one node, sorted. A node has a few edges (a hub some
/// thousands); a hash set allocates room for several at its first.
#[derive(Debug, Default, Clone)]
pub struct EdgeSet(Vec<EdgeKey>);

impl EdgeSet {
    pub fn insert(&mut self, key: EdgeKey) {
        if let Err(at) = self.0.binary_search(&key) {
            // Most nodes have an edge or two: room for four keys would cost 320 bytes.
            crate::render::sorted_map::insert_tight(&mut self.0, at, key);
        }
    }

    pub fn remove(&mut self, key: &EdgeKey) {
        if let Ok(at) = self.0.binary_search(key) {
            self.0.remove(at);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a EdgeSet {
    type Item = &'a EdgeKey;
    type IntoIter = std::slice::Iter<'a, EdgeKey>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl ViewState {
    pub fn new(view: ViewId) -> Self {
        ViewState {
            view,
            shares: HashMap::new(),
            nodes: HashMap::new(),
            edges: HashMap::new(),
            adjacency: HashMap::new(),
        }
    }

    pub fn node_sum(&self, id: &NodeId) -> Option<&NodeSum> {
        self.nodes.get(id).map(|entry| &entry.sum)
    }

    /// An edge's sum over every host: totals, without rows (see [`ViewState::edge_rows`]).
    pub fn edge_part(&self, key: &EdgeKey) -> Option<&EdgePart> {
        self.edges.get(key).map(|entry| &entry.sum)
    }

    /// An edge's connection rows, host by host (a row seen by two hosts comes twice).
    pub fn edge_rows<'a>(&'a self, key: &'a EdgeKey) -> impl Iterator<Item = (&'a (IpAddr, IpAddr, u16), &'a Row)> {
        self.edges
            .get(key)
            .into_iter()
            .flat_map(|entry| &entry.sources)
            .filter_map(move |slot| self.shares.get(slot)?.edges.get(key))
            .flat_map(|part| part.rows.iter())
    }

    /// Edges touching a node.
    pub fn incident(&self, id: &NodeId) -> impl Iterator<Item = &EdgeKey> {
        self.adjacency.get(id).into_iter().flatten()
    }

    /// Replaces the host's shares; returns the keys whose sums changed.
    pub fn replace_host(&mut self, slot: Slot, share: HostShare) -> Changes {
        let old = self.shares.remove(&slot).unwrap_or_default();
        let mut changes = Changes::default();

        let mut touched_nodes: Vec<&NodeId> =
            old.nodes.iter().filter(|(id, part)| share.nodes.get(*id) != Some(*part)).map(|(id, _)| id).collect();
        touched_nodes.extend(share.nodes.keys().filter(|id| !old.nodes.contains_key(*id)));
        for id in touched_nodes {
            let (before, after) = (old.nodes.get(id), share.nodes.get(id));
            let entry = match self.nodes.get_mut(id) {
                Some(entry) => {
                    match (before, after) {
                        (None, Some(_)) => entry.sources.add(slot),
                        (Some(_), None) if entry.sources.remove(slot) => {
                            self.nodes.remove(id);
                            changes.nodes.insert(id.clone());
                            continue;
                        }
                        _ => {}
                    }
                    if let Some(part) = before {
                        entry.sum.sub(part);
                    }
                    if let Some(part) = after {
                        entry.sum.add(part);
                    }
                    entry
                }
                None => {
                    let Some(part) = after else { continue };
                    let entry = Summed { sum: NodeSum::new(slot, part), sources: Sources::One(slot) };
                    self.nodes.entry(id.clone()).or_insert(entry)
                }
            };
            let (sum, sources) = (&mut entry.sum, &entry.sources);
            // The primary part names the node: the lowest slot with members, else the lowest slot.
            let better = |part: &NodePart, than: Slot, than_has: bool| {
                let has = part.has_members();
                (has && !than_has) || (has == than_has && slot < than)
            };
            let rescan =
                sum.primary == slot || after.is_some_and(|part| better(part, sum.primary, sum.primary_has_members));
            if rescan {
                let mut best: Option<(Slot, &NodePart)> = None;
                for &source in sources {
                    let part =
                        if source == slot { after } else { self.shares.get(&source).and_then(|s| s.nodes.get(id)) };
                    let Some(part) = part else { continue };
                    let wins = match best {
                        None => true,
                        Some((best_slot, best_part)) => {
                            let (has, best_has) = (part.has_members(), best_part.has_members());
                            (has && !best_has) || (has == best_has && source < best_slot)
                        }
                    };
                    if wins {
                        best = Some((source, part));
                    }
                }
                if let Some((source, part)) = best {
                    sum.set_primary(source, part);
                }
            }
            changes.nodes.insert(id.clone());
        }

        let mut touched_edges: Vec<&EdgeKey> =
            old.edges.iter().filter(|(key, part)| share.edges.get(*key) != Some(*part)).map(|(key, _)| key).collect();
        touched_edges.extend(share.edges.keys().filter(|key| !old.edges.contains_key(*key)));
        for key in touched_edges {
            let (before, after) = (old.edges.get(key), share.edges.get(key));
            let gone = match self.edges.get_mut(key) {
                Some(entry) => match (before, after) {
                    (None, Some(_)) => {
                        entry.sources.add(slot);
                        false
                    }
                    (Some(_), None) => entry.sources.remove(slot),
                    _ => false,
                },
                None => after.is_none(),
            };
            if gone {
                self.edges.remove(key);
                for end in [&key.source, &key.target] {
                    if let Some(set) = self.adjacency.get_mut(end) {
                        set.remove(key);
                        if set.is_empty() {
                            self.adjacency.remove(end);
                        }
                    }
                }
                changes.edges.insert(key.clone());
                continue;
            }
            match self.edges.get_mut(key) {
                Some(entry) => {
                    if let Some(part) = before {
                        entry.sum.sub_totals(part);
                    }
                    if let Some(part) = after {
                        entry.sum.add_totals(part);
                    }
                }
                None => {
                    let Some(part) = after else { continue };
                    self.edges.insert(key.clone(), Summed { sum: part.totals(), sources: Sources::One(slot) });
                    self.adjacency.entry(key.source.clone()).or_default().insert(key.clone());
                    self.adjacency.entry(key.target.clone()).or_default().insert(key.clone());
                }
            }
            changes.edges.insert(key.clone());
        }
        if !share.nodes.is_empty() || !share.edges.is_empty() {
            self.shares.insert(slot, share);
        } else {
            self.shrink_if_sparse();
        }
        changes
    }

    fn effective(&self, options: &ViewOptions) -> ViewOptions {
        // Only container views know stopped containers; elsewhere the option would hide everything.
        if self.view.shows_containers() {
            *options
        } else {
            ViewOptions { stopped: Stopped::Show, ..*options }
        }
    }

    /// Whether a node passes the stopped/system filter (before counting its edges).
    fn node_passes(&self, id: &NodeId, options: &ViewOptions) -> bool {
        self.nodes.get(id).is_some_and(|entry| entry.sum.visible_members(options).is_some())
    }

    /// After a host leaves: tables sized for a huge host that went are given
    /// back (a hash map keeps its capacity, so no trim could return it).
    fn shrink_if_sparse(&mut self) {
        use crate::render::index::shrink_if_sparse as shrink;
        shrink(&mut self.nodes);
        shrink(&mut self.edges);
        shrink(&mut self.adjacency);
        shrink(&mut self.shares);
    }

    /// Visible edges at a node that passes: only the other end needs a look
    /// (a hub such as The Internet has thousands of edges, and every diff
    /// that touches it counts them again).
    fn visible_degree(&self, id: &NodeId, options: &ViewOptions) -> u32 {
        self.incident(id).filter(|key| self.node_passes(key.other_end(id), options)).count() as u32
    }

    fn edge_visible(&self, key: &EdgeKey, options: &ViewOptions) -> bool {
        self.edges.contains_key(key) && self.node_passes(&key.source, options) && self.node_passes(&key.target, options)
    }

    /// The node as a client with these options sees it, or `None` when hidden.
    pub fn node(&self, id: &NodeId, options: &ViewOptions) -> Option<Node> {
        let options = self.effective(options);
        let part = &self.nodes.get(id)?.sum;
        let members = part.visible_members(&options)?;
        let connections = self.visible_degree(id, &options);
        let pseudo = id.is_pseudo();
        if connections == 0 && (pseudo || !options.show_unconnected) {
            return None;
        }
        Some(node_of_parts(id, &part.base, part.parents(), members, connections))
    }

    pub fn edge(&self, key: &EdgeKey, options: &ViewOptions) -> Option<Edge> {
        let options = self.effective(options);
        if !self.edge_visible(key, &options) {
            return None;
        }
        let part = &self.edges.get(key)?.sum;
        let (source, target) = (key.source.to_string(), key.target.to_string());
        Some(Edge {
            id: key.to_string(),
            source,
            target,
            connections: part.connections,
            ports: part.ports.keys().copied().collect(),
            // As a user reads them: two digits of RTT, three of bytes.
            rtt_us: part.tcp.mean_rtt_us().map(|rtt| significant_u64(u64::from(rtt), 2) as u32),
            bytes_sent: part.tcp.known().map(|tcp| significant_u64(tcp.bytes_sent, 3)),
            bytes_received: part.tcp.known().map(|tcp| significant_u64(tcp.bytes_received, 3)),
            retransmits: part.tcp.known().map(TcpSum::retransmits_u32),
            total_connections: part.traced.known().map(|traced| traced.total),
            per_minute: part.traced.rates().map(Rates::of),
            failing: part.traced.last_minute.has_failures(),
            failures: part
                .traced
                .rates()
                .map(|counts| counts.refused + counts.unanswered + counts.reset + counts.retransmits),
        })
    }

    /// Every visible node and edge, sorted by ID.
    pub fn full(&self, options: &ViewOptions) -> (Vec<Node>, Vec<Edge>) {
        let mut nodes: Vec<Node> = self.nodes.keys().filter_map(|id| self.node(id, options)).collect();
        let mut edges: Vec<Edge> = self.edges.keys().filter_map(|key| self.edge(key, options)).collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        edges.sort_by(|a, b| a.id.cmp(&b.id));
        (nodes, edges)
    }

    /// Node and edge counts with these options, without building the nodes.
    pub fn counts(&self, options: &ViewOptions) -> (usize, usize) {
        let options = self.effective(options);
        // Every key in `edges` and `adjacency` exists: only the ends' filters need a look.
        let edges = self
            .edges
            .keys()
            .filter(|key| self.node_passes(&key.source, &options) && self.node_passes(&key.target, &options))
            .count();
        let nodes = self
            .nodes
            .iter()
            .filter(|(id, part)| {
                part.sum.visible_members(&options).is_some() && {
                    let connected = self.incident(id).any(|key| self.node_passes(key.other_end(id), &options));
                    connected || (options.show_unconnected && !id.is_pseudo())
                }
            })
            .count();
        (nodes, edges)
    }

    /// Brings one client's copy up to date for `changes`, returning the diff.
    pub fn diff(
        &self,
        options: &ViewOptions,
        sent: &mut SentView,
        changes: &Changes,
    ) -> (ChangeSet<Node>, ChangeSet<Edge>) {
        // A node that starts or stops passing the filter moves its edges; an
        // edge moves its ends' connection counts. A node that passed and
        // still passes (a hub whose CPU moved) moves none of its thousands.
        let effective = self.effective(options);
        let mut edges: HashSet<EdgeKey> = changes.edges.iter().cloned().collect();
        for id in &changes.nodes {
            // An edge sent and since removed from the view is in `changes.edges`;
            // every other sent edge is still among the node's incident ones.
            let passes = self.node_passes(id, &effective);
            let was_sent_edges = self.incident(id).any(|key| sent.has_edge(key));
            match (passes, was_sent_edges) {
                // Passed before (it had visible edges) and passes now: edge changes come in `changes.edges`.
                (true, true) => {}
                // May have just started passing: any incident edge may appear.
                (true, false) => edges.extend(self.incident(id).cloned()),
                // Hidden now: what was sent goes.
                (false, true) => edges.extend(self.incident(id).filter(|key| sent.has_edge(key)).cloned()),
                (false, false) => {}
            }
        }
        let mut nodes: HashSet<NodeId> = changes.nodes.iter().cloned().collect();
        for key in &edges {
            nodes.insert(key.source.clone());
            nodes.insert(key.target.clone());
        }
        let mut node_changes = ChangeSet::default();
        for id in &nodes {
            sent.node_now(id, self.node(id, options), &mut node_changes);
        }
        let mut edge_changes = ChangeSet::default();
        for key in edges {
            sent.edge_now(&key, self.edge(&key, options), &mut edge_changes);
        }
        sort_changes(&mut node_changes, |node| &node.id);
        sort_changes(&mut edge_changes, |edge| &edge.id);
        (node_changes, edge_changes)
    }

    /// The full view for a new client, recording what it was sent.
    pub fn snapshot(&self, options: &ViewOptions) -> (Vec<Node>, Vec<Edge>, SentView) {
        let mut sent = SentView::default();
        let mut nodes = Vec::new();
        for id in self.nodes.keys() {
            if let Some(node) = self.node(id, options) {
                sent.sent_node(id, &node);
                nodes.push(node);
            }
        }
        let mut edges = Vec::new();
        for key in self.edges.keys() {
            if let Some(edge) = self.edge(key, options) {
                sent.sent_edge(key, &edge);
                edges.push(edge);
            }
        }
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        edges.sort_by(|a, b| a.id.cmp(&b.id));
        (nodes, edges, sent)
    }

    pub fn node_ids(&self) -> impl Iterator<Item = &NodeId> {
        self.nodes.keys()
    }
}

fn sort_changes<T>(changes: &mut ChangeSet<T>, id: impl Fn(&T) -> &String) {
    changes.add.sort_by(|a, b| id(a).cmp(id(b)));
    changes.update.sort_by(|a, b| a.get("id").and_then(|v| v.as_str()).cmp(&b.get("id").and_then(|v| v.as_str())));
    changes.remove.sort();
}

/// The hosts contributing to a node or edge, in slot order. Most have one
/// (every process, most containers and edges): that one needs no allocation.
#[derive(Debug, Clone)]
enum Sources {
    One(Slot),
    Many(Vec<Slot>),
}

impl Sources {
    fn iter(&self) -> std::slice::Iter<'_, Slot> {
        match self {
            Sources::One(slot) => std::slice::from_ref(slot).iter(),
            Sources::Many(slots) => slots.iter(),
        }
    }

    fn add(&mut self, slot: Slot) {
        match self {
            Sources::One(held) if *held == slot => {}
            Sources::One(held) => {
                let held = *held;
                *self = Sources::Many(if held < slot { vec![held, slot] } else { vec![slot, held] });
            }
            Sources::Many(slots) => {
                if let Err(at) = slots.binary_search(&slot) {
                    slots.insert(at, slot);
                }
            }
        }
    }

    /// Removes a host; true when none is left.
    fn remove(&mut self, slot: Slot) -> bool {
        match self {
            Sources::One(held) => *held == slot,
            Sources::Many(slots) => {
                slots.retain(|s| *s != slot);
                slots.is_empty()
            }
        }
    }
}

impl<'a> IntoIterator for &'a Sources {
    type Item = &'a Slot;
    type IntoIter = std::slice::Iter<'a, Slot>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// "1 container", "2 containers", "9 processes".
fn plural(noun: &str, count: u32) -> String {
    match (count, noun.ends_with('s') || noun.ends_with('x') || noun.ends_with("sh") || noun.ends_with("ch")) {
        (1, _) => noun.to_owned(),
        (_, true) => format!("{noun}es"),
        (_, false) => format!("{noun}s"),
    }
}

/// A node from its base, parents, the members a filter kept and its visible edge count.
pub fn node_of_parts(id: &NodeId, base: &NodeBase, parents: Vec<NodeRef>, members: Members, connections: u32) -> Node {
    let minor_label = match base.group_noun {
        Some(noun) => format!("{} {}", members.count, plural(noun, members.count)),
        None => base.minor_label(),
    };
    Node {
        id: id.to_string(),
        label: base.label.to_string(),
        minor_label,
        kind: base.kind,
        shape: base.kind.shape(),
        stack: members.count.max(1),
        rank: base.rank.to_string(),
        pseudo: id.is_pseudo(),
        // As a user reads them: a tenth of a percent, three digits of bytes.
        metrics: NodeMetrics {
            cpu: members.cpu().map(|cpu| (cpu * 10.0).round() / 10.0),
            memory: members.memory().map(|memory| significant_u64(memory, 3)),
        },
        connections,
        parents,
        metadata: base.metadata.entries().iter().map(|(key, value)| (*key, value.to_string())).collect(),
    }
}
