//! The processes view: one node per process, on every host.

use std::collections::HashMap;

use periscope_report::Report;

use crate::node_id::NodeId;
use crate::render::ops::{add_part, process_part, pseudo_node, Ctx, ParentRefs};
use crate::render::part::NodePart;
use crate::render::resolve::Endpoint;

pub fn nodes(_ctx: &Ctx<'_>, report: &Report, nodes: &mut HashMap<NodeId, NodePart>) {
    let refs = ParentRefs::new(report);
    for process in &report.processes {
        add_part(nodes, NodeId::Process(process.id.clone()), process_part(report, process, &refs));
    }
}

/// Ends known only as a container or host have no process node and are left out; short-lived
/// processes of one command are one node.
pub fn endpoint(ctx: &Ctx<'_>, endpoint: &Endpoint) -> Option<NodeId> {
    match endpoint {
        Endpoint::Process(id) => ctx.process(id).map(|_| NodeId::Process(id.clone())),
        Endpoint::Command { host, container, name } => {
            Some(NodeId::Command { host: host.clone(), container: container.clone(), name: name.to_string() })
        }
        other => pseudo_node(other),
    }
}
