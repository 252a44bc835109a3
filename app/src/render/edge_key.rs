//! An edge's identity in a view, shared by the kept views and what their
//! clients were sent.

use crate::node_id::NodeId;

/// An edge's identity: client node → server node. Text form `{source}>{target}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdgeKey {
    pub source: NodeId,
    pub target: NodeId,
}

impl EdgeKey {
    /// The end that is not `id` (`id` itself for an edge to itself).
    pub fn other_end(&self, id: &NodeId) -> &NodeId {
        if self.source == *id {
            &self.target
        } else {
            &self.source
        }
    }
}

impl std::fmt::Display for EdgeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}>{}", self.source, self.target)
    }
}
