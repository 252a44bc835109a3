//! The containers-by-image view: containers grouped by image name (without tag), across hosts.

use std::collections::HashMap;

use periscope_report::{Container, Report};

use crate::node_id::NodeId;
use crate::render::ops::{add_part, container_class, container_group_node, image_name, uncontained_nodes, Ctx};
use crate::render::output::NodeKind;
use crate::render::part::{Members, NodePart};
use crate::render::resolve::Endpoint;

fn node_id(container: &Container) -> NodeId {
    NodeId::Image(image_name(&container.image_name).into())
}

pub fn nodes(_ctx: &Ctx<'_>, report: &Report, nodes: &mut HashMap<NodeId, NodePart>) {
    for container in &report.containers {
        let name = image_name(&container.image_name);
        let part = NodePart::new(NodeKind::Image, name, "")
            .rank(name)
            .meta("image", name)
            .group("container")
            .member(container_class(container), Members::container(container));
        add_part(nodes, node_id(container), part);
    }
    uncontained_nodes(report, nodes);
}

pub fn endpoint(ctx: &Ctx<'_>, endpoint: &Endpoint) -> Option<NodeId> {
    container_group_node(ctx, endpoint, node_id)
}
