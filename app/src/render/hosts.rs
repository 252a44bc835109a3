//! The hosts view: one node per probed host.

use std::collections::HashMap;

use periscope_report::Report;

use crate::node_id::NodeId;
use crate::render::ops::{add_part, host_part, pseudo_node, Ctx};
use crate::render::part::NodePart;
use crate::render::resolve::Endpoint;

pub fn nodes(_ctx: &Ctx<'_>, report: &Report, nodes: &mut HashMap<NodeId, NodePart>) {
    add_part(nodes, NodeId::Host(report.host.id.clone()), host_part(report));
}

pub fn endpoint(ctx: &Ctx<'_>, endpoint: &Endpoint) -> Option<NodeId> {
    match endpoint {
        Endpoint::Process(id) => Some(NodeId::Host(id.host.clone())),
        Endpoint::Container(id) => ctx.container(id).map(|(report, _)| NodeId::Host(report.host.id.clone())),
        Endpoint::Host(host) | Endpoint::Command { host, .. } => Some(NodeId::Host(host.clone())),
        other => pseudo_node(other),
    }
}
