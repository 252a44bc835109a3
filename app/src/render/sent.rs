//! What a group of view clients was last sent, to diff against.
//!
//! A diff carries only the top-level fields of a node or edge that changed,
//! so the group must know what it sent. It keeps a hash of each field, not
//! the values: at 1,000 hosts a processes view has 204,000 nodes, and seven
//! groups holding whole `Node`s and `Edge`s cost 2.3 GiB where the hashes
//! cost a tenth of that. A changed field is sent from the current value.
//! Keys are held as 64-bit hashes too (a node ID is 40 bytes, an edge key
//! 80): among a view's keys a collision has odds of about 1 in 10⁹.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde::Serialize;

use crate::node_id::NodeId;
use crate::render::edge_key::EdgeKey;
use crate::render::output::{ChangeSet, Edge, Node, NodeMetrics, Patch};

/// What one group of clients holds of a view, by the hash of each key.
#[derive(Debug, Default)]
pub struct SentView {
    nodes: HashMap<u64, <Node as Fielded>::Print>,
    edges: HashMap<u64, <Edge as Fielded>::Print>,
}

impl SentView {
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    pub fn has_edge(&self, key: &EdgeKey) -> bool {
        self.edges.contains_key(&hash(key))
    }

    /// Records a node sent whole (a full view).
    pub fn sent_node(&mut self, id: &NodeId, node: &Node) {
        self.nodes.insert(hash(id), node.print());
    }

    pub fn sent_edge(&mut self, key: &EdgeKey, edge: &Edge) {
        self.edges.insert(hash(key), edge.print());
    }

    /// Records the node as it is now; adds to `changes` what a client must be told.
    pub fn node_now(&mut self, id: &NodeId, now: Option<Node>, changes: &mut ChangeSet<Node>) {
        apply_change(&mut self.nodes, id, now, changes);
    }

    pub fn edge_now(&mut self, key: &EdgeKey, now: Option<Edge>, changes: &mut ChangeSet<Edge>) {
        apply_change(&mut self.edges, key, now, changes);
    }
}

fn apply_change<K, T>(sent: &mut HashMap<u64, T::Print>, key: &K, now: Option<T>, changes: &mut ChangeSet<T>)
where
    K: Hash + std::fmt::Display,
    T: Fielded,
{
    let slot = hash(key);
    match (sent.get_mut(&slot), now) {
        (None, Some(value)) => {
            sent.insert(slot, value.print());
            changes.add.push(value);
        }
        (Some(old), Some(value)) => {
            let print = value.print();
            if *old != print {
                changes.update.push(patch(&key.to_string(), old, &value, &print));
                *old = print;
            }
        }
        (Some(_), None) => {
            sent.remove(&slot);
            changes.remove.push(key.to_string());
        }
        (None, None) => {}
    }
}

/// A value sent to clients as a JSON object, fingerprinted field by field.
pub trait Fielded: Serialize {
    /// One hash per entry of [`Fielded::FIELDS`], in that order.
    type Print: Copy + PartialEq + AsRef<[u64]> + std::fmt::Debug;
    /// The serialized names of the top-level fields, `id` aside.
    const FIELDS: &'static [&'static str];
    fn print(&self) -> Self::Print;
}

/// `id` and the fields of `new` whose hash differs from `old`'s.
fn patch<T: Fielded>(id: &str, old: &T::Print, new: &T, print: &T::Print) -> Patch {
    let mut patch = Patch::new();
    patch.insert("id".into(), serde_json::Value::String(id.to_owned()));
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::to_value(new) else { return patch };
    for ((name, before), after) in T::FIELDS.iter().zip(old.as_ref()).zip(print.as_ref()) {
        if before != after {
            if let Some(value) = fields.remove(*name) {
                patch.insert((*name).to_owned(), value);
            }
        }
    }
    patch
}

fn hash<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

impl Fielded for Node {
    type Print = [u64; 11];
    const FIELDS: &'static [&'static str] = &[
        "label",
        "minor_label",
        "kind",
        "shape",
        "stack",
        "rank",
        "pseudo",
        "metrics",
        "connections",
        "parents",
        "metadata",
    ];

    fn print(&self) -> Self::Print {
        // Destructured without `..`: a new field does not compile until it is fingerprinted.
        let Node {
            id: _,
            label,
            minor_label,
            kind,
            shape,
            stack,
            rank,
            pseudo,
            metrics: NodeMetrics { cpu, memory },
            connections,
            parents,
            metadata,
        } = self;
        [
            hash(label),
            hash(minor_label),
            hash(kind),
            hash(shape),
            hash(stack),
            hash(rank),
            hash(pseudo),
            hash(&(cpu.map(f64::to_bits), memory)),
            hash(connections),
            hash(parents),
            hash(metadata),
        ]
    }
}

impl Fielded for Edge {
    type Print = [u64; 12];
    const FIELDS: &'static [&'static str] = &[
        "source",
        "target",
        "connections",
        "ports",
        "rtt_us",
        "bytes_sent",
        "bytes_received",
        "retransmits",
        "total_connections",
        "per_minute",
        "failing",
        "failures",
    ];

    fn print(&self) -> Self::Print {
        let Edge {
            id: _,
            source,
            target,
            connections,
            ports,
            rtt_us,
            bytes_sent,
            bytes_received,
            retransmits,
            total_connections,
            per_minute,
            failing,
            failures,
        } = self;
        [
            hash(source),
            hash(target),
            hash(connections),
            hash(ports),
            hash(rtt_us),
            hash(bytes_sent),
            hash(bytes_received),
            hash(retransmits),
            hash(total_connections),
            hash(per_minute),
            hash(failing),
            hash(failures),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::render::output::{NodeKind, NodeRef, Rates, Shape};

    fn node() -> Node {
        Node {
            id: "container:h;c".into(),
            label: "web".into(),
            minor_label: "h".into(),
            kind: NodeKind::Container,
            shape: Shape::Hexagon,
            stack: 1,
            rank: "nginx".into(),
            pseudo: false,
            metrics: NodeMetrics { cpu: Some(1.5), memory: Some(1000) },
            connections: 2,
            parents: vec![NodeRef { view: "hosts", id: "host:h".into(), label: "h".into() }],
            metadata: BTreeMap::from([("image", "nginx".to_owned())]),
        }
    }

    fn edge() -> Edge {
        Edge {
            id: "a>b".into(),
            source: "a".into(),
            target: "b".into(),
            connections: 1,
            ports: vec![80],
            rtt_us: Some(100),
            bytes_sent: Some(10),
            bytes_received: Some(20),
            retransmits: Some(0),
            total_connections: Some(5),
            per_minute: Some(Rates { connections: 5, refused: 0, unanswered: 0, reset: 0, retransmits: 0 }),
            failing: false,
            failures: None,
        }
    }

    /// The names cover every serialized field but `id`, once each.
    fn names_match<T: Fielded>(value: &T) {
        let serde_json::Value::Object(object) = serde_json::to_value(value).unwrap() else { panic!("not an object") };
        let mut serialized: Vec<&str> = object.keys().map(String::as_str).filter(|k| *k != "id").collect();
        let mut named = T::FIELDS.to_vec();
        serialized.sort_unstable();
        named.sort_unstable();
        assert_eq!(serialized, named);
    }

    /// Changing one field gives a patch with exactly that field.
    /// A field's name and an edit that changes only it.
    type Edit<T> = (&'static str, fn(&mut T));

    fn each_field_alone<T: Fielded + Clone>(value: &T, edits: Vec<Edit<T>>) {
        assert_eq!(edits.len(), T::FIELDS.len(), "an edit per field");
        for (name, edit) in edits {
            let mut changed = value.clone();
            edit(&mut changed);
            let patch = patch("x", &value.print(), &changed, &changed.print());
            let keys: Vec<&str> = patch.keys().map(String::as_str).filter(|k| *k != "id").collect();
            assert_eq!(keys, vec![name], "editing {name}");
            assert_eq!(patch[name], serde_json::to_value(&changed).unwrap()[name]);
        }
    }

    #[test]
    fn node_fields_are_fingerprinted_one_by_one() {
        names_match(&node());
        each_field_alone(
            &node(),
            vec![
                ("label", |n| n.label.push('x')),
                ("minor_label", |n| n.minor_label.push('x')),
                ("kind", |n| n.kind = NodeKind::Image),
                ("shape", |n| n.shape = Shape::Circle),
                ("stack", |n| n.stack += 1),
                ("rank", |n| n.rank.push('x')),
                ("pseudo", |n| n.pseudo = true),
                ("metrics", |n| n.metrics.cpu = Some(1.6)),
                ("connections", |n| n.connections += 1),
                ("parents", |n| n.parents.clear()),
                ("metadata", |n| {
                    n.metadata.insert("state", "running".into());
                }),
            ],
        );
        let mut memory = node();
        memory.metrics.memory = None;
        assert_ne!(memory.print()[7], node().print()[7]);
    }

    #[test]
    fn edge_fields_are_fingerprinted_one_by_one() {
        names_match(&edge());
        each_field_alone(
            &edge(),
            vec![
                ("source", |e| e.source.push('x')),
                ("target", |e| e.target.push('x')),
                ("connections", |e| e.connections += 1),
                ("ports", |e| e.ports.push(443)),
                ("rtt_us", |e| e.rtt_us = None),
                ("bytes_sent", |e| e.bytes_sent = Some(11)),
                ("bytes_received", |e| e.bytes_received = Some(21)),
                ("retransmits", |e| e.retransmits = Some(1)),
                ("total_connections", |e| e.total_connections = Some(6)),
                ("per_minute", |e| e.per_minute = None),
                ("failing", |e| e.failing = true),
                ("failures", |e| e.failures = Some(1)),
            ],
        );
    }

    #[test]
    fn an_unchanged_value_sends_nothing_and_a_gone_one_its_id() {
        let mut sent = SentView::default();
        let id = NodeId::Internet;
        let mut changes = ChangeSet::default();
        sent.node_now(&id, Some(node()), &mut changes);
        assert_eq!(changes.add.len(), 1);
        let mut changes = ChangeSet::default();
        sent.node_now(&id, Some(node()), &mut changes);
        assert!(changes.is_empty());
        sent.node_now(&id, None, &mut changes);
        assert_eq!(changes.remove, vec![id.to_string()]);
        assert_eq!(sent.node_count(), 0);
    }
}
