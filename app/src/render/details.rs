//! Node details: metadata, metrics with recent samples, connection tables,
//! children and parents of one node of a view.

use std::collections::BTreeMap;

use crate::history::{History, MetricKey};
use crate::node_id::NodeId;
use crate::render::edge_key::EdgeKey;
use crate::render::ops::{self, image_name, Ctx};
use crate::render::output::NodeKind;
use crate::render::output::{
    ChildGroup, Connection, Connections, MetadataRow, MetricSeries, Node, NodeDetails, NodeRef, Rates, Sample,
};
use crate::render::part::{Members, NodeBase, NodePart, TcpSum, TracedSum};
use crate::render::view_state::{node_of_parts, ViewState};
use crate::view::{Stopped, ViewId, ViewOptions};

/// A node the options hide is still shown (with everything counted), so links to it keep working.
const EVERYTHING: ViewOptions = ViewOptions { stopped: Stopped::Show, show_system: true, show_unconnected: true };

/// Details of a node as a client with `options` sees it: a group counts the members the graph shows.
pub fn details(
    ctx: &Ctx<'_>,
    state: &ViewState,
    id: &NodeId,
    options: &ViewOptions,
    history: &History,
) -> Option<NodeDetails> {
    let (node, options) = match state.node(id, options).or_else(|| project_node(state, id, options)) {
        Some(node) => (node, *options),
        None => (state.node(id, &EVERYTHING)?, EVERYTHING),
    };
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
        children: children(ctx, id, &options),
        controls: Vec::new(),
        metadata,
        metrics,
        node,
    })
}

/// The edges of a node, or of a compose project's services (leaving out traffic inside the project).
fn incident_keys<'a>(state: &'a ViewState, id: &NodeId) -> Vec<&'a EdgeKey> {
    let in_project =
        |node: &NodeId, project: &str| matches!(node, NodeId::ComposeService { project: p, .. } if **p == *project);
    let mut keys: Vec<&EdgeKey> = match id {
        NodeId::ComposeProject(project) if state.node_sum(id).is_none() => state
            .node_ids()
            .filter(|node| in_project(node, project))
            .flat_map(|node| state.incident(node))
            .filter(|key| !(in_project(&key.source, project) && in_project(&key.target, project)))
            .collect(),
        _ => state.incident(id).collect(),
    };
    keys.sort();
    keys.dedup();
    keys
}

/// One row per other node and port: a group's members (a compose service's
/// containers) each have their own address, but a person reads "web → db:5432, 3
/// connections", not three rows that look the same.
fn connections(state: &ViewState, id: &NodeId) -> Connections {
    let mut inbound: BTreeMap<(String, u16), Merged> = BTreeMap::new();
    let mut outbound: BTreeMap<(String, u16), Merged> = BTreeMap::new();
    for key in incident_keys(state, id) {
        if state.edge_part(key).is_none() {
            continue;
        }
        let inbound_edge = key.target == *id || is_member_end(id, &key.target);
        let other = if inbound_edge { &key.source } else { &key.target };
        let label = state.node_sum(other).map(|sum| sum.base.label.to_string()).unwrap_or_else(|| other.to_string());
        let table = if inbound_edge { &mut inbound } else { &mut outbound };
        for (&(client_ip, server_ip, port), row) in state.edge_rows(key) {
            let address = if inbound_edge { client_ip } else { server_ip }.to_string();
            let merged = table.entry((other.to_string(), port)).or_insert_with(|| Merged {
                node: other.to_string(),
                label: label.clone(),
                port,
                count: 0,
                tcp: TcpSum::default(),
                traced: TracedSum::default(),
                inbound: inbound_edge,
                addresses: Vec::new(),
            });
            merged.count += row.count;
            merged.tcp.add(&row.tcp);
            merged.traced.add(&row.traced);
            if !merged.addresses.contains(&address) {
                merged.addresses.push(address);
            }
        }
    }
    let finish = |table: BTreeMap<(String, u16), Merged>| -> Vec<Connection> {
        table.into_values().map(Merged::into_connection).collect()
    };
    Connections { inbound: finish(inbound), outbound: finish(outbound) }
}

/// Rows to one other node and port, summed.
struct Merged {
    node: String,
    label: String,
    port: u16,
    count: u32,
    tcp: TcpSum,
    traced: TracedSum,
    /// A row of the server's: edges carry the client's byte counts, so they are swapped.
    inbound: bool,
    addresses: Vec<String>,
}

impl Merged {
    fn into_connection(mut self) -> Connection {
        self.addresses.sort();
        let address = match self.addresses.len() {
            0..=3 => self.addresses.join(", "),
            more => format!("{} and {} more", self.addresses[..2].join(", "), more - 2),
        };
        Connection {
            node: Some(self.node),
            label: self.label,
            address,
            port: Some(self.port),
            count: self.count,
            rtt_us: self.tcp.mean_rtt_us(),
            // What the client sent is what this (server) node received, and the other way round.
            bytes_sent: self.tcp.known().map(|tcp| if self.inbound { tcp.bytes_received } else { tcp.bytes_sent }),
            bytes_received: self.tcp.known().map(|tcp| if self.inbound { tcp.bytes_sent } else { tcp.bytes_received }),
            retransmits: self.tcp.known().map(TcpSum::retransmits_u32),
            per_minute: self.traced.rates().map(Rates::of),
            failing: self.traced.last_minute.has_failures(),
        }
    }
}

/// For a compose project's details: whether `end` is one of its services.
fn is_member_end(id: &NodeId, end: &NodeId) -> bool {
    matches!((id, end), (NodeId::ComposeProject(project), NodeId::ComposeService { project: p, .. }) if p == project)
}

/// A compose project is not a node of the compose view (its services are), yet
/// services name it as their parent: its details are its services summed.
fn project_node(state: &ViewState, id: &NodeId, options: &ViewOptions) -> Option<Node> {
    let NodeId::ComposeProject(project) = id else { return None };
    let mut members = Members::default();
    let mut services = 0;
    for node in state.node_ids() {
        if !matches!(node, NodeId::ComposeService { project: p, .. } if p == project) {
            continue;
        }
        let Some(sum) = state.node_sum(node) else { continue };
        let Some(visible) = sum.visible_members(options) else { continue };
        members.add(&visible);
        services += 1;
    }
    if services == 0 {
        return None;
    }
    let base = NodeBase {
        kind: NodeKind::ComposeProject,
        label: project.clone(),
        minor_label: format!("{services} service{}", if services == 1 { "" } else { "s" }).into(),
        rank: project.clone(),
        metadata: crate::render::part::Metadata::List(vec![("project", project.clone().into())]),
        group_noun: None,
    };
    let connections = incident_keys(state, id).len() as u32;
    Some(node_of_parts(id, &base, Vec::new(), members, connections))
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
        NodeId::Image(name) => containers(&|c| image_name(&c.image_name) == &**name),
        NodeId::Hostname(name) => containers(&|c| *c.hostname == **name),
        NodeId::ComposeProject(project) => containers(&|c| c.compose_project() == Some(&**project)),
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
        NodeId::Internet | NodeId::Address(_) | NodeId::Command { .. } => Vec::new(),
    }
}

fn children(ctx: &Ctx<'_>, id: &NodeId, options: &ViewOptions) -> Vec<ChildGroup> {
    let mut groups = Vec::new();
    // Child containers the graph hides (stopped, system) are not listed either.
    let shown = |container: &periscope_report::Container| ops::container_class(container).passes(options);
    let mut container_group = |keep: &dyn Fn(&periscope_report::Container) -> bool| {
        let nodes: Vec<Node> = ctx
            .model
            .reports()
            .flat_map(|report| report.containers.iter().map(move |c| (report, c)))
            .filter(|(_, container)| keep(container) && shown(container))
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
        NodeId::Image(name) => container_group(&|c| image_name(&c.image_name) == &**name),
        NodeId::Hostname(name) => container_group(&|c| *c.hostname == **name),
        NodeId::ComposeProject(project) => container_group(&|c| c.compose_project() == Some(&**project)),
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
    let members = part.members.total();
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

#[cfg(test)]
mod tests {
    use periscope_report::fixtures::ReportBuilder;
    use periscope_report::{ContainerState, Report};

    use crate::history::History;
    use crate::model::Model;
    use crate::node_id::NodeId;
    use crate::render::output::NodeDetails;
    use crate::render::Renderer;
    use crate::view::{ViewId, ViewOptions};

    /// One host: compose project "shop" with two `web` containers calling one `db`, and a stopped `web`.
    fn shop() -> Report {
        let compose = |service: &'static str| {
            move |c: &mut periscope_report::Container| {
                c.labels.insert("com.docker.compose.project".into(), "shop".into());
                c.labels.insert("com.docker.compose.service".into(), service.into());
            }
        };
        ReportBuilder::new("a")
            .interface("eth0", "10.0.0.1/24")
            .interface("docker0", "172.17.0.1/16")
            .container("web1", "shop-web-1", "shop/web:1", "172.17.0.2")
            .container("web2", "shop-web-2", "shop/web:1", "172.17.0.3")
            .container("web3", "shop-web-3", "shop/web:1", "172.17.0.5")
            .container("db", "shop-db-1", "postgres:16", "172.17.0.4")
            .edit_container("web1", compose("web"))
            .edit_container("web2", compose("web"))
            .edit_container("web3", compose("web"))
            .edit_container("web3", |c| c.state = ContainerState::Exited)
            .edit_container("db", compose("db"))
            .process(100, "web", Some("web1"))
            .process(200, "web", Some("web2"))
            .process(300, "postgres", Some("db"))
            .tcp(3003, Some(300), "0.0.0.0:5432", None)
            .tcp(1001, Some(100), "172.17.0.2:43000", Some("172.17.0.4:5432"))
            .tcp(1002, Some(200), "172.17.0.3:43001", Some("172.17.0.4:5432"))
            .build()
    }

    fn details_of(view: ViewId, node: &str, options: ViewOptions) -> Option<NodeDetails> {
        let mut model = Model::default();
        model.insert_snapshot(shop());
        let mut renderer = Renderer::new();
        renderer.materialize(view, &mut model);
        let state = renderer.view(view).expect("materialized");
        let id: NodeId = node.parse().expect("node id");
        super::details(&renderer.ctx(&model), state, &id, &options, &History::default())
    }

    #[test]
    fn a_compose_service_lists_each_connection_once_not_once_per_container() {
        let db = details_of(ViewId::Compose, "compose-service:shop/db", ViewOptions::default()).unwrap();
        let rows: Vec<String> = db
            .connections
            .inbound
            .iter()
            .map(|c| format!("{} {} :{} x{}", c.label, c.address, c.port.unwrap_or(0), c.count))
            .collect();
        assert_eq!(rows, ["web 172.17.0.2, 172.17.0.3 :5432 x2"]);
    }

    #[test]
    fn a_compose_project_named_as_parent_has_details() {
        let web = details_of(ViewId::Compose, "compose-service:shop/web", ViewOptions::default()).unwrap();
        let parent = web.parents.iter().find(|p| p.id.starts_with("compose-project:")).expect("project parent");
        let project = details_of(ViewId::Compose, &parent.id, ViewOptions::default()).expect("project details");
        assert_eq!(project.node.label, "shop");
        assert_eq!(project.node.minor_label, "2 services");
        // Traffic inside the project is not a connection of the project.
        assert!(project.connections.inbound.is_empty() && project.connections.outbound.is_empty());
        // The stopped web container is hidden by default, in the graph and here.
        let containers = project.children.iter().find(|g| g.label == "Containers").expect("containers");
        assert_eq!(containers.nodes.len(), 3);
        assert_eq!(project.node.stack, 3);
    }

    #[test]
    fn group_details_count_only_what_the_options_show() {
        let image = details_of(ViewId::ContainersByImage, "image:shop/web", ViewOptions::default()).unwrap();
        assert_eq!(image.node.minor_label, "2 containers");
        let containers = image.children.iter().find(|g| g.label == "Containers").expect("containers");
        assert_eq!(containers.nodes.iter().map(|n| n.label.as_str()).collect::<Vec<_>>(), ["shop-web-1", "shop-web-2"]);
        let all = ViewOptions { stopped: crate::view::Stopped::Show, ..ViewOptions::default() };
        let image = details_of(ViewId::ContainersByImage, "image:shop/web", all).unwrap();
        assert_eq!(image.node.minor_label, "3 containers");
    }

    #[test]
    fn a_process_name_group_says_processes() {
        let web = details_of(ViewId::ProcessesByName, "process-name:web", ViewOptions::default()).unwrap();
        assert_eq!(web.node.minor_label, "2 processes");
    }
}
