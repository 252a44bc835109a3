//! Node details: metadata, metrics with recent samples, connection tables,
//! children and parents of one node of a view.

use std::collections::BTreeMap;

use crate::history::{History, MetricKey};
use crate::node_id::NodeId;
use crate::render::ops::{self, image_name, Ctx};
use crate::render::output::{
    ChildGroup, Connection, Connections, MetadataRow, MetricSeries, Node, NodeDetails, NodeRef, Sample,
};
use crate::render::part::{Members, NodePart, TcpSum};
use crate::render::view_state::{node_of_parts, EdgeKey, ViewState};
use crate::view::{Stopped, ViewId, ViewOptions};

/// Details shows a node whatever the options hide, so links to it keep working.
const EVERYTHING: ViewOptions = ViewOptions { stopped: Stopped::Show, show_system: true, show_unconnected: true };

pub fn details(ctx: &Ctx<'_>, state: &ViewState, id: &NodeId, history: &History) -> Option<NodeDetails> {
    let node = state.node(id, &EVERYTHING)?;
    let metadata = node
        .metadata
        .iter()
        .map(|(key, value)| MetadataRow { key, label: label_of(key), value: value.clone() })
        .collect();
    let members = member_keys(ctx, id);
    let samples = history.summed(&members);
    let metrics = vec![
        MetricSeries {
            id: "cpu",
            label: "CPU",
            unit: "%",
            value: node.metrics.cpu,
            samples: samples.iter().map(|&(t, cpu, _)| Sample { t, v: cpu }).collect(),
        },
        MetricSeries {
            id: "memory",
            label: "Memory",
            unit: "bytes",
            value: node.metrics.memory.map(|m| m as f64),
            samples: samples.iter().map(|&(t, _, memory)| Sample { t, v: memory as f64 }).collect(),
        },
    ];
    Some(NodeDetails {
        parents: node.parents.clone(),
        connections: connections(state, id),
        children: children(ctx, id),
        controls: Vec::new(),
        metadata,
        metrics,
        node,
    })
}

fn connections(state: &ViewState, id: &NodeId) -> Connections {
    let mut tables = Connections::default();
    let mut keys: Vec<&EdgeKey> = state.incident(id).collect();
    keys.sort();
    for key in keys {
        let Some(edge) = state.edge_part(key) else { continue };
        let inbound = key.target == *id;
        let other = if inbound { &key.source } else { &key.target };
        let label = state.node_sum(other).map(|sum| sum.base.label.clone()).unwrap_or_else(|| other.to_string());
        for (&(client_ip, server_ip, port), row) in &edge.rows {
            let connection = Connection {
                node: Some(other.to_string()),
                label: label.clone(),
                address: if inbound { client_ip } else { server_ip }.to_string(),
                port: Some(port),
                count: row.count,
                rtt_us: row.tcp.mean_rtt_us(),
                bytes_sent: row.tcp.known().map(|tcp| tcp.bytes_sent),
                bytes_received: row.tcp.known().map(|tcp| tcp.bytes_received),
                retransmits: row.tcp.known().map(TcpSum::retransmits_u32),
            };
            if inbound {
                tables.inbound.push(connection);
            } else {
                tables.outbound.push(connection);
            }
        }
    }
    tables
}

/// The entities whose samples make up a node's metrics.
pub fn member_keys(ctx: &Ctx<'_>, id: &NodeId) -> Vec<MetricKey> {
    let containers = |keep: &dyn Fn(&periscope_report::Container) -> bool| -> Vec<MetricKey> {
        ctx.model
            .reports()
            .flat_map(|report| report.containers.iter())
            .filter(|container| keep(container))
            .map(|container| MetricKey::Container(container.id.clone()))
            .collect()
    };
    match id {
        NodeId::Host(host) => vec![MetricKey::Host(host.clone())],
        NodeId::Container(container) => vec![MetricKey::Container(container.clone())],
        NodeId::Process(process) => vec![MetricKey::Process(process.clone())],
        NodeId::ProcessName(name) => ctx
            .model
            .reports()
            .flat_map(|report| report.processes.iter())
            .filter(|process| *process.name == **name)
            .map(|process| MetricKey::Process(process.id.clone()))
            .collect(),
        NodeId::Image(name) => containers(&|c| image_name(&c.image_name) == name),
        NodeId::Hostname(name) => containers(&|c| c.hostname == *name),
        NodeId::ComposeProject(project) => containers(&|c| c.compose_project() == Some(project)),
        NodeId::ComposeService { project, service } => {
            containers(&|c| c.compose_project() == Some(project) && c.compose_service() == Some(service))
        }
        NodeId::Uncontained(host) => ctx
            .model
            .host_report(host)
            .map(|report| {
                report
                    .processes
                    .iter()
                    .filter(|p| p.container.is_none())
                    .map(|p| MetricKey::Process(p.id.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        NodeId::Internet | NodeId::Address(_) => Vec::new(),
    }
}

fn children(ctx: &Ctx<'_>, id: &NodeId) -> Vec<ChildGroup> {
    let mut groups = Vec::new();
    let mut container_group = |keep: &dyn Fn(&periscope_report::Container) -> bool| {
        let nodes: Vec<Node> = ctx
            .model
            .reports()
            .flat_map(|report| report.containers.iter().map(move |c| (report, c)))
            .filter(|(_, container)| keep(container))
            .map(|(report, container)| {
                standalone(&NodeId::Container(container.id.clone()), &ops::container_part(report, container))
            })
            .collect();
        if !nodes.is_empty() {
            groups.push(ChildGroup { view: ViewId::Containers.as_str(), label: "Containers", nodes: sorted(nodes) });
        }
    };
    match id {
        NodeId::Host(host) => {
            container_group(&|c| ctx.model.host_report(host).is_some_and(|report| report.containers.contains(&c.id)))
        }
        NodeId::Image(name) => container_group(&|c| image_name(&c.image_name) == name),
        NodeId::Hostname(name) => container_group(&|c| c.hostname == *name),
        NodeId::ComposeProject(project) => container_group(&|c| c.compose_project() == Some(project)),
        NodeId::ComposeService { project, service } => {
            container_group(&|c| c.compose_project() == Some(project) && c.compose_service() == Some(service))
        }
        _ => {}
    }
    let processes: Vec<Node> = match id {
        NodeId::Host(host) => ctx
            .model
            .host_report(host)
            .map(|report| report.processes.iter().map(|p| process_node(report, p)).collect())
            .unwrap_or_default(),
        NodeId::Container(container) => ctx
            .container(container)
            .map(|(report, _)| {
                report
                    .processes
                    .iter()
                    .filter(|p| p.container.as_ref() == Some(container))
                    .map(|p| process_node(report, p))
                    .collect()
            })
            .unwrap_or_default(),
        NodeId::Uncontained(host) => ctx
            .model
            .host_report(host)
            .map(|report| {
                report.processes.iter().filter(|p| p.container.is_none()).map(|p| process_node(report, p)).collect()
            })
            .unwrap_or_default(),
        NodeId::ProcessName(name) => ctx
            .model
            .reports()
            .flat_map(|report| {
                report.processes.iter().filter(|p| *p.name == **name).map(move |p| process_node(report, p))
            })
            .collect(),
        _ => Vec::new(),
    };
    if !processes.is_empty() {
        groups.push(ChildGroup { view: ViewId::Processes.as_str(), label: "Processes", nodes: sorted(processes) });
    }
    groups
}

fn process_node(report: &periscope_report::Report, process: &periscope_report::Process) -> Node {
    standalone(&NodeId::Process(process.id.clone()), &ops::process_part(report, process, &ops::ParentRefs::new(report)))
}

/// A node outside any view's edges (a child listed in details).
fn standalone(id: &NodeId, part: &NodePart) -> Node {
    let mut members = Members::default();
    for class in &part.members {
        members.add(class);
    }
    node_of_parts(id, &part.base, part.parents.iter().map(|p| NodeRef::clone(p)).collect(), members, 0)
}

fn sorted(mut nodes: Vec<Node>) -> Vec<Node> {
    nodes.sort_by(|a, b| a.label.cmp(&b.label).then_with(|| a.id.cmp(&b.id)));
    nodes
}

fn label_of(key: &str) -> &'static str {
    const LABELS: [(&str, &str); 25] = [
        ("id", "ID"),
        ("pid", "PID"),
        ("ppid", "Parent PID"),
        ("command", "Command"),
        ("user", "User"),
        ("threads", "Threads"),
        ("host", "Host"),
        ("container", "Container"),
        ("image", "Image"),
        ("ip", "IP"),
        ("state", "State"),
        ("hostname", "Hostname"),
        ("ports", "Ports"),
        ("restart_count", "Restarts"),
        ("started", "Started"),
        ("health", "Health"),
        ("compose_project", "Compose project"),
        ("compose_service", "Compose service"),
        ("os", "OS"),
        ("kernel", "Kernel"),
        ("cpus", "CPUs"),
        ("uptime_secs", "Uptime (s)"),
        ("load", "Load"),
        ("memory_total", "Memory total"),
        ("ips", "IPs"),
    ];
    let map: BTreeMap<&str, &'static str> = LABELS.into_iter().collect();
    map.get(key).copied().unwrap_or(match key {
        "probe" => "Probe",
        "name" => "Name",
        "project" => "Project",
        "service" => "Service",
        _ => "Other",
    })
}
