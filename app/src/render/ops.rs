//! Steps the views are composed of: how an entity becomes a node part, and
//! how a connection end maps to a container, host or pseudo node.

use std::collections::HashMap;
use std::sync::Arc;

use periscope_report::{Container, ContainerId, HostId, ProbeId, Process, ProcessId, Report};

use crate::model::Model;
use crate::node_id::NodeId;
use crate::render::address::Slot;
use crate::render::edge_key::EdgeKey;
use crate::render::index::GlobalIndex;
use crate::render::output::{NodeKind, NodeRef};
use crate::render::part::{empty_text, Class, EdgePart, Members, NodePart, ProcessFacts};
use crate::render::resolve::{Endpoint, EntityEdge};
use crate::render::view_state::HostShare;
use crate::view::ViewId;

/// What render reads: the reports and the address index over them.
pub struct Ctx<'a> {
    pub model: &'a Model,
    pub global: &'a GlobalIndex,
    pub slot_probes: &'a HashMap<Slot, ProbeId>,
}

impl<'a> Ctx<'a> {
    pub fn container(&self, id: &ContainerId) -> Option<(&'a Report, &'a Container)> {
        let slot = self.global.container_slot(id)?;
        let report = self.model.report(self.slot_probes.get(&slot)?)?;
        Some((report, report.containers.get(id)?))
    }

    pub fn process(&self, id: &ProcessId) -> Option<&'a Process> {
        self.model.process(id)
    }

    pub fn hostname(&self, host: &HostId) -> String {
        self.model.host_report(host).map(|report| report.host.hostname.clone()).unwrap_or_else(|| host.to_string())
    }
}

/// Where a connection end lands in a container view.
pub enum ContainerEnd<'a> {
    Container(&'a Report, &'a Container),
    Uncontained(HostId),
    Pseudo(NodeId),
}

/// Maps a connection end to its container, its host's Uncontained node, or a pseudo node.
pub fn container_end<'a>(ctx: &Ctx<'a>, endpoint: &Endpoint) -> Option<ContainerEnd<'a>> {
    match endpoint {
        Endpoint::Process(id) => {
            let process = ctx.process(id)?;
            match process.container.as_ref().and_then(|c| ctx.container(c)) {
                Some((report, container)) => Some(ContainerEnd::Container(report, container)),
                None => Some(ContainerEnd::Uncontained(id.host.clone())),
            }
        }
        Endpoint::Container(id) => {
            ctx.container(id).map(|(report, container)| ContainerEnd::Container(report, container))
        }
        Endpoint::Host(host) => Some(ContainerEnd::Uncontained(host.clone())),
        Endpoint::Command { host, container: None, .. } => Some(ContainerEnd::Uncontained(host.clone())),
        Endpoint::Command { container: Some(id), .. } => {
            ctx.container(id).map(|(report, container)| ContainerEnd::Container(report, container))
        }
        Endpoint::Internet | Endpoint::Address(_) => pseudo_node(endpoint).map(ContainerEnd::Pseudo),
    }
}

/// Maps a container-view end through `group` (image, hostname, …); pseudo ends pass through.
pub fn container_group_node(
    ctx: &Ctx<'_>,
    endpoint: &Endpoint,
    group: impl Fn(&Container) -> NodeId,
) -> Option<NodeId> {
    Some(match container_end(ctx, endpoint)? {
        ContainerEnd::Container(_, container) => group(container),
        ContainerEnd::Uncontained(host) => NodeId::Uncontained(host),
        ContainerEnd::Pseudo(id) => id,
    })
}

pub fn pseudo_node(endpoint: &Endpoint) -> Option<NodeId> {
    match endpoint {
        Endpoint::Internet => Some(NodeId::Internet),
        Endpoint::Address(ip) => Some(NodeId::Address(*ip)),
        _ => None,
    }
}

/// A host's share of a view: its entities' nodes, then its connections mapped to nodes.
pub fn share(
    ctx: &Ctx<'_>,
    report: &Report,
    edges: &[EntityEdge],
    nodes: impl Fn(&Ctx<'_>, &Report, &mut HashMap<NodeId, NodePart>),
    endpoint: impl Fn(&Ctx<'_>, &Endpoint) -> Option<NodeId>,
) -> HostShare {
    let mut share_nodes = HashMap::new();
    let mut share_edges: HashMap<EdgeKey, EdgePart> = HashMap::new();
    nodes(ctx, report, &mut share_nodes);
    for edge in edges {
        let (Some(source), Some(target)) = (endpoint(ctx, &edge.client), endpoint(ctx, &edge.server)) else {
            continue;
        };
        if source == target {
            continue;
        }
        for end in [&source, &target] {
            if !share_nodes.contains_key(end) {
                if let Some(part) = edge_made_part(ctx, end) {
                    share_nodes.insert(end.clone(), part);
                }
            }
        }
        share_edges.entry(EdgeKey { source, target }).or_default().add_connection(
            edge.client_ip,
            edge.server_ip,
            edge.port,
            edge.tcp.as_ref(),
            edge.traced.as_ref(),
        );
    }
    HostShare::from_built(share_nodes, share_edges)
}

/// Adds a part, merging with one already there under the same ID.
pub fn add_part(nodes: &mut HashMap<NodeId, NodePart>, id: NodeId, part: NodePart) {
    match nodes.get_mut(&id) {
        Some(existing) => existing.merge(&part),
        None => {
            nodes.insert(id, part);
        }
    }
}

/// Nodes that exist only because an edge names them: pseudo nodes, folded commands, and a process
/// name whose processes were all too short-lived to be listed.
fn edge_made_part(ctx: &Ctx<'_>, id: &NodeId) -> Option<NodePart> {
    match id {
        NodeId::Command(command) => Some(command_part(ctx, &command.host, command.container.as_ref(), &command.name)),
        NodeId::ProcessName(name) => Some(
            NodePart::new(NodeKind::Process, name.clone(), "short-lived").rank(name.clone()).meta("name", name.clone()),
        ),
        id if id.is_pseudo() => Some(pseudo_part(ctx, id)),
        _ => None,
    }
}

/// Short-lived runs of one command, in a container or on a host, as one node.
fn command_part(ctx: &Ctx<'_>, host: &HostId, container: Option<&ContainerId>, name: &str) -> NodePart {
    let hostname = ctx.hostname(host);
    let host_link =
        NodeRef { view: ViewId::Hosts.as_str(), id: NodeId::Host(host.clone()).to_string(), label: hostname.clone() };
    let mut part = NodePart::new(NodeKind::Process, name, format!("short-lived, {hostname}"))
        .rank(hostname.clone())
        .meta("command", name)
        .meta("host", hostname)
        .parent(host_link);
    if let Some((_, container)) = container.and_then(|id| ctx.container(id)) {
        part = part
            .rank(container.name.clone())
            .meta("container", container.name.clone())
            .parent(container_ref(container));
    }
    part
}

pub fn pseudo_part(ctx: &Ctx<'_>, id: &NodeId) -> NodePart {
    match id {
        NodeId::Internet => NodePart::new(NodeKind::Pseudo, "The Internet", "public addresses").rank("internet"),
        NodeId::Address(ip) => NodePart::new(NodeKind::Pseudo, ip.to_string(), "unknown address").rank("address"),
        NodeId::Uncontained(host) => uncontained_base(host, &ctx.hostname(host)),
        other => NodePart::new(NodeKind::Pseudo, other.to_string(), ""),
    }
}

fn uncontained_base(host: &HostId, hostname: &str) -> NodePart {
    NodePart::new(NodeKind::Pseudo, "Uncontained", hostname).rank(hostname).parent(NodeRef {
        view: ViewId::Hosts.as_str(),
        id: NodeId::Host(host.clone()).to_string(),
        label: hostname.into(),
    })
}

/// The Uncontained node's share for one host process.
pub fn uncontained_part(report: &Report, process: &Process) -> NodePart {
    uncontained_base(&report.host.id, &report.host.hostname)
        .member(Class::default(), Members::one(Some(process.cpu_percent), Some(process.rss_bytes)))
}

pub fn host_ref(report: &Report) -> NodeRef {
    NodeRef {
        view: ViewId::Hosts.as_str(),
        id: NodeId::Host(report.host.id.clone()).to_string(),
        label: report.host.hostname.clone(),
    }
}

pub fn container_ref(container: &Container) -> NodeRef {
    NodeRef {
        view: ViewId::Containers.as_str(),
        id: NodeId::Container(container.id.clone()).to_string(),
        label: container.name.clone(),
    }
}

/// Containers that make up the platform rather than the application (hidden unless asked for).
pub fn is_system(container: &Container) -> bool {
    let label = |key: &str| container.labels.get(key).map(String::as_str);
    label("io.periscope.role") == Some("system")
        || label("works.weave.role") == Some("system")
        || label("io.kubernetes.docker.type") == Some("podsandbox")
        || container.name.starts_with("k8s_POD")
        || image_name(&container.image_name).ends_with("/pause")
        || image_name(&container.image_name) == "pause"
}

pub fn container_class(container: &Container) -> Class {
    Class::new(container.state.is_stopped(), is_system(container))
}

/// An image's name without tag or digest: `registry:5000/team/app:1.2` → `registry:5000/team/app`.
pub fn image_name(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(colon) if !image[colon..].contains('/') => &image[..colon],
        _ => image,
    }
}

pub fn process_class(report: &Report, process: &Process) -> Class {
    process.container.as_ref().and_then(|id| report.containers.get(id)).map(container_class).unwrap_or_default()
}

/// A report's host and container links, made once and shared by every process part.
pub struct ParentRefs {
    host: Arc<NodeRef>,
    containers: HashMap<ContainerId, Arc<NodeRef>>,
    /// Text every process of the host repeats, made once per host.
    hostname: Arc<str>,
    container_names: HashMap<ContainerId, Arc<str>>,
}

impl ParentRefs {
    pub fn new(report: &Report) -> Self {
        ParentRefs {
            host: Arc::new(host_ref(report)),
            containers: report.containers.iter().map(|c| (c.id.clone(), Arc::new(container_ref(c)))).collect(),
            hostname: report.host.hostname.as_str().into(),
            container_names: report.containers.iter().map(|c| (c.id.clone(), Arc::from(c.name.as_str()))).collect(),
        }
    }
}

pub fn process_part(report: &Report, process: &Process, refs: &ParentRefs) -> NodePart {
    let container = process.container.as_ref().and_then(|id| report.containers.get(id));
    let container_name = container.and_then(|c| refs.container_names.get(&c.id)).cloned();
    let mut part = NodePart::new(NodeKind::Process, process.name.clone(), empty_text())
        .rank(container_name.clone().unwrap_or_else(|| refs.hostname.clone()))
        .parent(refs.host.clone())
        .member(process_class(report, process), Members::one(Some(process.cpu_percent), Some(process.rss_bytes)));
    let mut facts = ProcessFacts {
        pid: process.id.pid,
        ppid: process.ppid,
        threads: process.threads,
        command: process.cmdline.clone(),
        user: process.user.clone(),
        host: refs.hostname.clone(),
        container: None,
    };
    if let Some(container) = container {
        let link = refs.containers.get(&container.id).cloned().unwrap_or_else(|| Arc::new(container_ref(container)));
        facts.container = Some(container_name.unwrap_or_else(|| container.name.as_str().into()));
        part = part.parent(link);
    }
    part.process_facts(facts)
}

/// Unix milliseconds as `2024-11-28T18:06:12Z` (UTC, whole seconds), for people.
pub fn iso_time(time: periscope_report::UnixMillis) -> String {
    let seconds = time.0 / 1000;
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

pub fn container_part(report: &Report, container: &Container) -> NodePart {
    let ip = container.networks.iter().flat_map(|network| &network.addresses).next();
    let ports: Vec<String> = container
        .ports
        .iter()
        .map(|p| format!("{}:{}->{}/{}", p.host_ip, p.host_port, p.container_port, p.protocol))
        .collect();
    let state = serde_json::to_value(container.state).ok().and_then(|v| v.as_str().map(str::to_owned));
    let mut part = NodePart::new(NodeKind::Container, container.name.clone(), report.host.hostname.clone())
        .rank(container.image_name.clone())
        .meta("id", container.id.to_string())
        .meta("image", container.image_name.clone())
        .meta("ip", ip.map(|ip| ip.to_string()).unwrap_or_default())
        .meta("state", state.unwrap_or_default())
        .meta("command", container.command.clone())
        .meta("hostname", container.hostname.clone())
        .meta("host", report.host.hostname.clone())
        .meta("ports", ports.join(", "))
        .meta("restart_count", container.restart_count.to_string())
        .meta("started", container.started.map(iso_time).unwrap_or_default())
        .parent(host_ref(report))
        .parent(NodeRef {
            view: ViewId::ContainersByImage.as_str(),
            id: NodeId::Image(image_name(&container.image_name).into()).to_string(),
            label: image_name(&container.image_name).to_owned(),
        })
        .member(container_class(container), Members::container(container));
    if let Some(health) = container.health {
        let health = serde_json::to_value(health).ok().and_then(|v| v.as_str().map(str::to_owned));
        part = part.meta("health", health.unwrap_or_default());
    }
    if let (Some(project), Some(service)) = (container.compose_project(), container.compose_service()) {
        part = part.meta("compose_project", project).meta("compose_service", service).parent(NodeRef {
            view: ViewId::Compose.as_str(),
            id: NodeId::ComposeService { project: project.into(), service: service.into() }.to_string(),
            label: service.to_owned(),
        });
    }
    part
}

pub fn host_part(report: &Report) -> NodePart {
    let host = &report.host;
    let ips: Vec<String> = host
        .interfaces
        .iter()
        .flat_map(|interface| &interface.addresses)
        .filter(|network| !network.address.is_loopback())
        .map(|network| format!("{}/{}", network.address, network.prefix_len))
        .collect();
    NodePart::new(NodeKind::Host, host.hostname.clone(), host.os.clone())
        .rank(host.hostname.clone())
        .meta("id", host.id.to_string())
        .meta("os", host.os.clone())
        .meta("kernel", host.kernel.clone())
        .meta("cpus", host.cpu_count.to_string())
        .meta("uptime_secs", host.uptime_secs.to_string())
        .meta("load", format!("{:.2} {:.2} {:.2}", host.load[0], host.load[1], host.load[2]))
        .meta("memory_total", host.memory_total_bytes.to_string())
        .meta("ips", ips.join(", "))
        .meta("probe", report.probe.to_string())
        .member(
            Class::default(),
            // The host reports busy share of all CPUs; nodes speak percent of one core.
            Members::one(Some(host.cpu_percent * f64::from(host.cpu_count.max(1))), Some(host.memory_used_bytes)),
        )
}

/// Adds this host's Uncontained node (its processes outside containers) to a container view.
pub fn uncontained_nodes(report: &Report, nodes: &mut HashMap<NodeId, NodePart>) {
    for process in report.processes.iter().filter(|p| p.container.is_none()) {
        add_part(nodes, NodeId::Uncontained(report.host.id.clone()), uncontained_part(report, process));
    }
}

#[cfg(test)]
mod tests {
    use periscope_report::UnixMillis;

    use super::iso_time;

    #[test]
    fn times_for_people() {
        assert_eq!(iso_time(UnixMillis(0)), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(UnixMillis(1_732_817_172_123)), "2024-11-28T18:06:12Z");
        assert_eq!(iso_time(UnixMillis(951_782_400_000)), "2000-02-29T00:00:00Z");
    }
}
