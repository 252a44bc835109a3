//! The compose view: one node per Docker Compose service (grouped under its
//! project); containers not started by Compose stay single container nodes.

use std::collections::HashMap;

use periscope_report::{Container, Report};

use crate::node_id::NodeId;
use crate::render::ops::{add_part, container_class, container_group_node, container_part, uncontained_nodes, Ctx};
use crate::render::output::{NodeKind, NodeRef};
use crate::render::part::{Members, NodePart};
use crate::render::resolve::Endpoint;
use crate::view::ViewId;

pub fn node_id(container: &Container) -> NodeId {
    match (container.compose_project(), container.compose_service()) {
        (Some(project), Some(service)) => NodeId::ComposeService { project: project.into(), service: service.into() },
        _ => NodeId::Container(container.id.clone()),
    }
}

pub fn nodes(_ctx: &Ctx<'_>, report: &Report, nodes: &mut HashMap<NodeId, NodePart>) {
    for container in &report.containers {
        let id = node_id(container);
        let part = match &id {
            NodeId::ComposeService { project, service } => {
                NodePart::new(NodeKind::ComposeService, service.clone(), project.clone())
                    .rank(project.clone())
                    .meta("project", project)
                    .meta("service", service)
                    .parent(NodeRef {
                        view: ViewId::Compose.as_str(),
                        id: NodeId::ComposeProject(project.clone()).to_string(),
                        label: project.to_string(),
                    })
                    .member(container_class(container), Members::container(container))
            }
            _ => container_part(report, container),
        };
        add_part(nodes, id, part);
    }
    uncontained_nodes(report, nodes);
}

pub fn endpoint(ctx: &Ctx<'_>, endpoint: &Endpoint) -> Option<NodeId> {
    container_group_node(ctx, endpoint, node_id)
}
