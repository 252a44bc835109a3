//! What render hands to the API: view nodes, edges, diffs and node details,
//! shaped exactly as docs/api.md documents them (these cross to the browser,
//! so they alone serialize).

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    Host,
    Container,
    Process,
    Image,
    Hostname,
    ComposeProject,
    ComposeService,
    Pseudo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    Circle,
    Hexagon,
    Heptagon,
    Square,
    Cloud,
}

impl NodeKind {
    pub fn shape(self) -> Shape {
        match self {
            NodeKind::Process => Shape::Circle,
            NodeKind::Container => Shape::Hexagon,
            NodeKind::Image | NodeKind::Hostname | NodeKind::ComposeProject | NodeKind::ComposeService => {
                Shape::Heptagon
            }
            NodeKind::Host => Shape::Square,
            NodeKind::Pseudo => Shape::Cloud,
        }
    }
}

/// A link to a node of some view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct NodeRef {
    pub view: &'static str,
    pub id: String,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NodeMetrics {
    pub cpu: Option<f64>,
    pub memory: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub id: String,
    pub label: String,
    pub minor_label: String,
    pub kind: NodeKind,
    pub shape: Shape,
    pub stack: u32,
    pub rank: String,
    pub pseudo: bool,
    pub metrics: NodeMetrics,
    pub connections: u32,
    pub parents: Vec<NodeRef>,
    pub metadata: BTreeMap<&'static str, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub id: String,
    pub source: String,
    pub target: String,
    pub connections: u32,
    pub ports: Vec<u16>,
    pub rtt_us: Option<u32>,
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    pub retransmits: Option<u32>,
    /// Connections counted by the eBPF tracer since it first saw them (absent without it).
    pub total_connections: Option<u64>,
    /// Over the last minute, from the eBPF tracer (absent without it).
    pub per_minute: Option<Rates>,
    /// Some connection failed in the last minute (refused, unanswered, reset or retransmitted).
    pub failing: bool,
    /// Refused, unanswered, reset and retransmitted connections in the last minute, summed
    /// (absent when nothing counts them: no tracer, and no failure conntrack saw).
    pub failures: Option<u64>,
}

/// Connections and their failures in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Rates {
    pub connections: u64,
    pub refused: u64,
    pub unanswered: u64,
    pub reset: u64,
    pub retransmits: u64,
}

impl Rates {
    pub fn of(counts: &periscope_report::FlowCounts) -> Rates {
        Rates {
            connections: counts.connections,
            refused: counts.refused,
            unanswered: counts.unanswered,
            reset: counts.reset,
            retransmits: counts.retransmits,
        }
    }
}

/// A whole view (`GET /api/topology/{view}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewGraph {
    pub view: &'static str,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// What changed in one view for one client. An update carries the `id` and
/// only the top-level fields that changed (a CPU figure moving sends the
/// metrics, not the whole node): merge it into the held node or edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeSet<T> {
    pub add: Vec<T>,
    pub update: Vec<Patch>,
    pub remove: Vec<String>,
}

/// A JSON object: `id` and the fields that changed.
pub type Patch = serde_json::Map<String, serde_json::Value>;

/// `value` to `digits` significant digits: a user sees "1.12 GB", not the
/// bytes, so a move in the fourth digit is no change worth sending.
pub fn significant(value: f64, digits: i32) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(digits - 1 - value.abs().log10().floor() as i32);
    (value * scale).round() / scale
}

/// [`significant`] for counts that stay integers.
pub fn significant_u64(value: u64, digits: i32) -> u64 {
    significant(value as f64, digits) as u64
}

impl<T> Default for ChangeSet<T> {
    fn default() -> Self {
        ChangeSet { add: Vec::new(), update: Vec::new(), remove: Vec::new() }
    }
}

impl<T> ChangeSet<T> {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.update.is_empty() && self.remove.is_empty()
    }
}

/// The messages of `WS /api/topology/{view}/ws`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ViewMessage {
    Full { view: &'static str, nodes: Vec<Node>, edges: Vec<Edge> },
    Diff { view: &'static str, nodes: ChangeSet<Node>, edges: ChangeSet<Edge> },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetadataRow {
    pub key: &'static str,
    pub label: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    pub t: u64,
    pub v: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSeries {
    pub id: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub value: Option<f64>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Connection {
    pub node: Option<String>,
    pub label: String,
    pub address: String,
    pub port: Option<u16>,
    pub count: u32,
    pub rtt_us: Option<u32>,
    /// From this node's side: for an inbound row, what the server sent and received.
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    pub retransmits: Option<u32>,
    /// Over the last minute, from the eBPF tracer (absent without it).
    pub per_minute: Option<Rates>,
    pub failing: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Connections {
    pub inbound: Vec<Connection>,
    pub outbound: Vec<Connection>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChildGroup {
    pub view: &'static str,
    pub label: &'static str,
    pub nodes: Vec<Node>,
}

/// A control a node offers: `POST /api/control/{probe}/{node}/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Control {
    pub id: &'static str,
    pub label: &'static str,
    /// The probe that runs it.
    pub probe: String,
    /// Opens a pipe (logs, terminal) rather than changing state.
    pub pipe: bool,
}

/// `GET /api/topology/{view}/{node}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeDetails {
    pub node: Node,
    pub metadata: Vec<MetadataRow>,
    pub metrics: Vec<MetricSeries>,
    pub connections: Connections,
    pub children: Vec<ChildGroup>,
    pub parents: Vec<NodeRef>,
    pub controls: Vec<Control>,
}
