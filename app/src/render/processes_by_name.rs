//! The processes-by-name view: processes grouped by their command name, across hosts.

use std::collections::HashMap;

use periscope_report::Report;

use crate::node_id::NodeId;
use crate::render::ops::{add_part, process_class, pseudo_node, Ctx};
use crate::render::output::NodeKind;
use crate::render::part::{Members, NodePart};
use crate::render::resolve::Endpoint;

pub fn nodes(_ctx: &Ctx<'_>, report: &Report, nodes: &mut HashMap<NodeId, NodePart>) {
    for process in &report.processes {
        let part = NodePart::new(NodeKind::Process, &*process.name, "")
            .rank(&*process.name)
            .meta("name", &*process.name)
            .group("process")
            .member(process_class(report, process), Members::one(Some(process.cpu_percent), Some(process.rss_bytes)));
        add_part(nodes, NodeId::ProcessName(process.name.to_string()), part);
    }
}

pub fn endpoint(ctx: &Ctx<'_>, endpoint: &Endpoint) -> Option<NodeId> {
    match endpoint {
        Endpoint::Process(id) => ctx.process(id).map(|process| NodeId::ProcessName(process.name.to_string())),
        Endpoint::Command { name, .. } => Some(NodeId::ProcessName(name.to_string())),
        other => pseudo_node(other),
    }
}
