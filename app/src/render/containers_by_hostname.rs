//! The containers-by-hostname view: containers grouped by the hostname they run with.

use std::collections::HashMap;

use periscope_report::{Container, Report};

use crate::node_id::NodeId;
use crate::render::ops::{add_part, container_class, container_group_node, uncontained_nodes, Ctx};
use crate::render::output::NodeKind;
use crate::render::part::{Members, NodePart};
use crate::render::resolve::Endpoint;

fn node_id(container: &Container) -> NodeId {
    NodeId::Hostname(container.hostname.as_str().into())
}

pub fn nodes(_ctx: &Ctx<'_>, report: &Report, nodes: &mut HashMap<NodeId, NodePart>) {
    for container in &report.containers {
        let part = NodePart::new(NodeKind::Hostname, container.hostname.clone(), "")
            .rank(container.hostname.clone())
            .meta("hostname", container.hostname.clone())
            .group("container")
            .member(container_class(container), Members::container(container));
        add_part(nodes, node_id(container), part);
    }
    uncontained_nodes(report, nodes);
}

pub fn endpoint(ctx: &Ctx<'_>, endpoint: &Endpoint) -> Option<NodeId> {
    container_group_node(ctx, endpoint, node_id)
}
