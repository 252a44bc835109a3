//! The containers view: one node per container, plus each host's Uncontained processes.

use std::collections::HashMap;

use periscope_report::Report;

use crate::node_id::NodeId;
use crate::render::ops::{add_part, container_group_node, container_part, uncontained_nodes, Ctx};
use crate::render::part::NodePart;
use crate::render::resolve::Endpoint;

pub fn nodes(_ctx: &Ctx<'_>, report: &Report, nodes: &mut HashMap<NodeId, NodePart>) {
    for container in &report.containers {
        add_part(nodes, NodeId::Container(container.id.clone()), container_part(report, container));
    }
    uncontained_nodes(report, nodes);
}

pub fn endpoint(ctx: &Ctx<'_>, endpoint: &Endpoint) -> Option<NodeId> {
    container_group_node(ctx, endpoint, |container| NodeId::Container(container.id.clone()))
}
