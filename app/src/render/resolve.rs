//! Edges between entities: each traced flow, connected socket or conntrack
//! flow of one host resolved to a client and a server.
//!
//! Traced flows (the eBPF tracer's) come first: they name the process of
//! every connection, however short, and how connections failed, so a socket
//! or conntrack flow they already cover is not counted again. An inbound
//! traced flow (the server's count) makes an edge only when no probe traced
//! or saw the client's side.
//!
//! The server end is found in this order: the exact reverse socket on any
//! host; a listening socket at the remote address; a published port; a
//! conntrack record (whose reply source is the real server behind DNAT); the
//! host or container owning the address; else a pseudo node (The Internet for
//! public addresses, one node per other address). The side with the listening
//! port is the server. A connection seen from both ends is counted once, from
//! the client's side.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use periscope_report::{
    ContainerId, Direction, FlowCounts, FlowOwner, HostId, ProcessId, Protocol, Report, SocketState, TcpInfo,
    TracedFlow,
};

use crate::render::address::{canonical, is_public, Scope, ScopedIp, Slot};
use crate::render::index::{GlobalIndex, SockRef, TupleKey};

/// One end of a connection, as precise as the reports allow.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Process(ProcessId),
    /// Short-lived processes of one command, folded by the probe (or a traced process that has
    /// exited since): in a container, or outside any on `host`.
    Command {
        host: HostId,
        container: Option<ContainerId>,
        name: Arc<str>,
    },
    /// A container whose process is unknown (a TIME_WAIT socket, a conntrack flow).
    Container(ContainerId),
    /// A host whose process is unknown.
    Host(HostId),
    Internet,
    Address(IpAddr),
}

/// TCP facts from the client's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFacts {
    pub rtt_us: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub retransmits: u32,
}

impl TcpFacts {
    fn from_client(info: TcpInfo) -> Self {
        TcpFacts {
            rtt_us: info.rtt_us,
            bytes_sent: info.bytes_sent,
            bytes_received: info.bytes_received,
            retransmits: info.retransmits,
        }
    }

    fn from_server(info: TcpInfo) -> Self {
        TcpFacts { bytes_sent: info.bytes_received, bytes_received: info.bytes_sent, ..TcpFacts::from_client(info) }
    }
}

/// What the eBPF tracer counted for a flow: every connection and its failures. Conntrack's
/// failed flows (without the tracer) give failures only: no `total`, no connection count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TracedFacts {
    /// Connections since the flow was first seen (the tracer's only).
    pub total: Option<u64>,
    pub last_minute: FlowCounts,
}

/// One connection between two entities, client → server.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityEdge {
    pub client: Endpoint,
    pub server: Endpoint,
    /// The server port the client dialled.
    pub port: u16,
    pub client_ip: IpAddr,
    pub server_ip: IpAddr,
    pub tcp: Option<TcpFacts>,
    pub traced: Option<TracedFacts>,
}

/// A host's connections, and the addresses looked up to resolve them (so a
/// change at one of those addresses elsewhere resolves this host again).
#[derive(Debug, Default)]
pub struct Resolved {
    pub edges: Vec<EntityEdge>,
    pub lookups: HashSet<ScopedIp>,
}

/// Resolves every connection the host at `slot` reported.
pub fn resolve_host(slot: Slot, report: &Report, global: &GlobalIndex) -> Resolved {
    let mut resolved = Resolved::default();
    let Some(own) = global.host(slot) else { return resolved };
    let mut resolver = Resolver { slot, global, lookups: &mut resolved.lookups };

    // What traced flows cover: (netns, client ip, server) and (netns, server, client ip).
    let mut traced_clients: HashSet<(u64, IpAddr, SocketAddr)> = HashSet::new();
    let mut traced_servers: HashSet<(u64, SocketAddr, IpAddr)> = HashSet::new();
    for flow in &report.traced {
        let (local, remote) = (canonical(flow.id.local), canonical(flow.id.remote));
        match flow.id.direction {
            Direction::Outbound => traced_clients.insert((flow.id.netns, local.ip(), remote)),
            Direction::Inbound => traced_servers.insert((flow.id.netns, local, remote.ip())),
        };
    }
    // The server a covered client socket reaches (its exact reverse socket names the process even
    // when the server stopped listening after accepting, like `nc -l`), for its traced flow.
    let mut socket_servers: HashMap<(u64, IpAddr, SocketAddr), Endpoint> = HashMap::new();

    for socket in &report.sockets {
        let id = socket.id;
        let listening = socket.state == SocketState::Listen || id.remote.port() == 0;
        if listening || socket.state == SocketState::Close {
            continue;
        }
        let local = canonical(id.local);
        let remote = canonical(id.remote);
        let remote_scope = own.scope_of(slot, remote.ip(), id.netns);
        let remote_ip = ScopedIp { scope: remote_scope, ip: remote.ip() };
        resolver.lookups.insert(remote_ip);
        let reverse =
            global.socket(&TupleKey { protocol: id.protocol, scope: remote_scope, local: remote, remote: local });
        let is_server = if own.listener(id.protocol, id.netns, local.ip(), local.port()).is_some() {
            true
        } else {
            // No listener here: the other end may have one; if neither does (a server
            // that stopped listening after accepting, like `nc -l`), the lower port serves.
            let remote_listens = match reverse {
                Some((slot, sock)) => global
                    .host(slot)
                    .and_then(|host| host.listener(id.protocol, sock.id.netns, remote.ip(), remote.port()))
                    .is_some(),
                None => resolver.listens_at(id.protocol, remote_ip, remote.port()),
            };
            !remote_listens && (local.port(), local.ip()) < (remote.port(), remote.ip())
        };
        let this = SockRef { id, pid: socket.pid };

        let edge = if is_server {
            if reverse.is_some()
                || traced_servers.contains(&(id.netns, local, remote.ip()))
                || resolver.client_seen(id.protocol, remote_ip, local)
            {
                // The client's own socket or traced flow makes this edge, or this side's traced flow does.
                continue;
            }
            let server = match socket.pid.filter(|pid| own.proxy_pids.contains(pid)) {
                Some(_) => {
                    resolver.published(slot, id.protocol, local).unwrap_or_else(|| resolver.local_end(slot, this))
                }
                None => resolver.local_end(slot, this),
            };
            EntityEdge {
                client: resolver.address_end(remote_ip),
                server,
                port: local.port(),
                client_ip: remote.ip(),
                server_ip: local.ip(),
                tcp: socket.tcp.map(TcpFacts::from_server),
                traced: None,
            }
        } else {
            if socket.pid.is_some_and(|pid| own.proxy_pids.contains(&pid)) {
                // Docker's proxy forwarding to its container: the client's edge already names the container.
                continue;
            }
            if traced_clients.contains(&(id.netns, local.ip(), remote)) {
                // Counted by the traced flow of the same process and peer, which takes its server.
                let server = resolver.server(id.protocol, local, remote_ip, remote.port(), reverse);
                let known = socket_servers.get(&(id.netns, local.ip(), remote));
                if known.is_none_or(|known| !matches!(known, Endpoint::Process(_))) {
                    socket_servers.insert((id.netns, local.ip(), remote), server);
                }
                continue;
            }
            EntityEdge {
                client: resolver.local_end(slot, this),
                server: resolver.server(id.protocol, local, remote_ip, remote.port(), reverse),
                port: remote.port(),
                client_ip: local.ip(),
                server_ip: remote.ip(),
                tcp: socket.tcp.map(TcpFacts::from_client),
                traced: None,
            }
        };
        resolved.edges.push(edge);
    }

    // Traced flows: every connection with its process, and its failures.
    for flow in &report.traced {
        let id = &flow.id;
        let (local, remote) = (canonical(id.local), canonical(id.remote));
        let facts = TracedFacts { total: Some(flow.total.connections), last_minute: flow.last_minute };
        match id.direction {
            Direction::Outbound => {
                let remote_ip = ScopedIp { scope: own.scope_of(slot, remote.ip(), id.netns), ip: remote.ip() };
                resolver.lookups.insert(remote_ip);
                let server = match socket_servers.remove(&(id.netns, local.ip(), remote)) {
                    Some(server) => server,
                    None => resolver.traced_server(id.netns, local, remote_ip, remote.port()),
                };
                resolved.edges.push(EntityEdge {
                    client: traced_owner(report, flow),
                    server,
                    port: remote.port(),
                    client_ip: local.ip(),
                    server_ip: remote.ip(),
                    tcp: flow.tcp.map(TcpFacts::from_client),
                    traced: Some(facts),
                });
            }
            Direction::Inbound => {
                let client_ip = ScopedIp { scope: own.scope_of(slot, remote.ip(), id.netns), ip: remote.ip() };
                resolver.lookups.insert(client_ip);
                if resolver.client_seen(Protocol::Tcp, client_ip, local) {
                    // The client's side makes this edge, named by its own process.
                    continue;
                }
                resolved.edges.push(EntityEdge {
                    client: resolver.address_end(client_ip),
                    server: traced_owner(report, flow),
                    port: local.port(),
                    client_ip: remote.ip(),
                    server_ip: local.ip(),
                    tcp: flow.tcp.map(TcpFacts::from_server),
                    traced: Some(facts),
                });
            }
        }
    }

    // Conntrack flows whose sockets no probe saw (short-lived clients, NAT).
    for connection in &report.connections {
        let id = connection.id;
        let source = canonical(id.source);
        let destination = canonical(id.destination);
        let reply_source = canonical(connection.reply_source);
        let reply_destination = canonical(connection.reply_destination);
        // Each record comes from one namespace's table (the host's or a container's own);
        // 0 is a probe that could not tell its own.
        let netns = if id.netns == 0 { own.host_netns.unwrap_or(0) } else { id.netns };
        let source_scope = own.scope_of(slot, source.ip(), netns);
        let server_scope = own.scope_of(slot, reply_source.ip(), netns);
        let source_ip = ScopedIp { scope: source_scope, ip: source.ip() };
        let server_ip = ScopedIp { scope: server_scope, ip: reply_source.ip() };
        // Probes may zero the client port to fold many short connections into one flow.
        let client_seen = if source.port() == 0 {
            global.client_pair_seen(id.protocol, source_ip, destination)
        } else {
            global
                .socket(&TupleKey { protocol: id.protocol, scope: source_scope, local: source, remote: destination })
                .is_some()
        };
        let server_seen = if reply_destination.port() == 0 {
            global.server_pair_seen(id.protocol, reply_source, server_ip, reply_destination.ip())
        } else {
            global
                .socket(&TupleKey {
                    protocol: id.protocol,
                    scope: server_scope,
                    local: reply_source,
                    remote: reply_destination,
                })
                .is_some()
        };
        if client_seen || server_seen || destination.port() == 0 {
            continue;
        }
        resolver.lookups.insert(source_ip);
        resolver.lookups.insert(server_ip);
        resolver.lookups.insert(ScopedIp { scope: own.scope_of(slot, destination.ip(), netns), ip: destination.ip() });
        let server = resolver
            .listener_at(id.protocol, server_ip, reply_source.port())
            .unwrap_or_else(|| resolver.address_end(server_ip));
        resolved.edges.push(EntityEdge {
            client: resolver.address_end(source_ip),
            server,
            port: destination.port(),
            client_ip: source.ip(),
            server_ip: destination.ip(),
            tcp: None,
            traced: (connection.refused + connection.unanswered > 0).then_some(TracedFacts {
                total: None,
                last_minute: FlowCounts {
                    refused: u64::from(connection.refused),
                    unanswered: u64::from(connection.unanswered),
                    ..FlowCounts::default()
                },
            }),
        });
    }
    // Kept until the host changes: give back what pushing left over.
    resolved.edges.shrink_to_fit();
    resolved.lookups.shrink_to_fit();
    resolved
}

/// The entity a traced flow belongs to: its process while the report lists it; then (or for
/// short-lived processes) its command in its container.
fn traced_owner(report: &Report, flow: &TracedFlow) -> Endpoint {
    let host = report.host.id.clone();
    let fallback = || match (&flow.container, flow.command.is_empty()) {
        (container, false) => {
            Endpoint::Command { host: host.clone(), container: container.clone(), name: flow.command.clone() }
        }
        (Some(container), true) => Endpoint::Container(container.clone()),
        (None, true) => Endpoint::Host(host.clone()),
    };
    match &flow.id.owner {
        FlowOwner::Process(id) if report.processes.contains(id) => Endpoint::Process(id.clone()),
        FlowOwner::Process(_) | FlowOwner::Unknown => fallback(),
        FlowOwner::Command { container, name } => {
            Endpoint::Command { host: host.clone(), container: container.clone(), name: name.clone() }
        }
    }
}

struct Resolver<'a> {
    slot: Slot,
    global: &'a GlobalIndex,
    lookups: &'a mut HashSet<ScopedIp>,
}

impl Resolver<'_> {
    /// Whether the client side of connections `client → server` is seen on any host: a connected
    /// socket or a traced flow (so the server's side need not make the edge).
    fn client_seen(&self, protocol: Protocol, client: ScopedIp, server: SocketAddr) -> bool {
        let here =
            self.global.host(self.slot).is_some_and(|host| host.client_pairs.contains(&(protocol, client.ip, server)));
        here || self.global.client_pair_seen(protocol, client, server)
    }

    /// The server a traced client reached by dialling `remote:port` from `local` in `netns`.
    /// Loopback and this host's own addresses are looked up here first: a listener in the
    /// client's namespace (Docker's proxy standing for its container), or a published port
    /// that NAT forwards without the proxy.
    fn traced_server(&mut self, netns: u64, local: SocketAddr, remote: ScopedIp, port: u16) -> Endpoint {
        let own_address = match remote.scope {
            Scope::Netns(..) => true,
            _ => self.global.owner(remote).is_some_and(|owner| owner.slot == self.slot && owner.container.is_none()),
        };
        if own_address {
            if let Some(host) = self.global.host(self.slot) {
                if let Some(listener) = host.listener(Protocol::Tcp, netns, remote.ip, port) {
                    let is_proxy = listener.pid.is_some_and(|pid| host.proxy_pids.contains(&pid));
                    if !is_proxy {
                        return self.local_end(self.slot, listener);
                    }
                }
            }
            if let Some(server) = self.published(self.slot, Protocol::Tcp, SocketAddr::new(remote.ip, port)) {
                return server;
            }
        }
        self.server(Protocol::Tcp, local, remote, port, None)
    }

    /// The server a client socket at `local` reached by dialling `remote:port`.
    fn server(
        &mut self,
        protocol: Protocol,
        local: SocketAddr,
        remote: ScopedIp,
        port: u16,
        reverse: Option<(Slot, SockRef)>,
    ) -> Endpoint {
        let remote_addr = SocketAddr::new(remote.ip, port);
        if let Some((slot, sock)) = reverse {
            let is_proxy = self.global.host(slot).is_some_and(|h| sock.pid.is_some_and(|p| h.proxy_pids.contains(&p)));
            if !is_proxy {
                return self.local_end(slot, sock);
            }
            if let Some(server) = self.published(slot, protocol, remote_addr) {
                return server;
            }
        }
        if let Some(server) = self.listener_at(protocol, remote, port) {
            return server;
        }
        let owner = self.global.owner(remote).cloned();
        if let Some(owner) = owner.as_ref().filter(|owner| owner.container.is_none()) {
            if let Some(server) = self.published(owner.slot, protocol, remote_addr) {
                return server;
            }
        }
        // Conntrack on this host, then on the host owning the address: the reply source is the real server.
        let flow_hosts = [Some(self.slot), owner.as_ref().map(|owner| owner.slot)];
        for slot in flow_hosts.into_iter().flatten() {
            let Some(host) = self.global.host(slot) else { continue };
            let Some(&real) = host.flows.get(&(protocol, local, remote_addr)) else { continue };
            if real == remote_addr {
                continue;
            }
            let real_ip =
                ScopedIp { scope: host.scope_of(slot, real.ip(), host.host_netns.unwrap_or(0)), ip: real.ip() };
            self.lookups.insert(real_ip);
            if let Some(server) = self.listener_at(protocol, real_ip, real.port()) {
                return server;
            }
            if self.global.owner(real_ip).is_some() {
                return self.address_end(real_ip);
            }
        }
        self.address_end(remote)
    }

    /// Whether something listens at an owned address.
    fn listens_at(&self, protocol: Protocol, ip: ScopedIp, port: u16) -> bool {
        self.global
            .owner(ip)
            .and_then(|owner| Some((self.global.host(owner.slot)?, owner.netns?)))
            .is_some_and(|(host, netns)| host.listener(protocol, netns, ip.ip, port).is_some())
    }

    /// The process listening at an owned address, when any.
    fn listener_at(&mut self, protocol: Protocol, ip: ScopedIp, port: u16) -> Option<Endpoint> {
        let owner = self.global.owner(ip)?;
        let host = self.global.host(owner.slot)?;
        let netns = owner.netns?;
        let listener = host.listener(protocol, netns, ip.ip, port)?;
        let slot = owner.slot;
        if listener.pid.is_some_and(|pid| host.proxy_pids.contains(&pid)) {
            if let Some(server) = self.published(slot, protocol, SocketAddr::new(ip.ip, port)) {
                return Some(server);
            }
        }
        Some(self.local_end(slot, listener))
    }

    /// The container behind a published port of the host at `slot`.
    fn published(&mut self, slot: Slot, protocol: Protocol, address: SocketAddr) -> Option<Endpoint> {
        let host = self.global.host(slot)?;
        let published = host
            .published
            .get(&(protocol, address.port()))?
            .iter()
            .find(|p| p.host_ip.is_unspecified() || p.host_ip == address.ip())?;
        let listener = host
            .container_netns
            .get(&published.container)
            .and_then(|netns| host.wildcard_listeners.get(&(protocol, *netns, published.container_port)));
        Some(match listener {
            Some(listener) => self.local_end(slot, *listener),
            None => Endpoint::Container(published.container.clone()),
        })
    }

    /// The entity holding a socket on the host at `slot`.
    fn local_end(&self, slot: Slot, sock: SockRef) -> Endpoint {
        let Some(host) = self.global.host(slot) else { return Endpoint::Address(sock.id.local.ip()) };
        if let Some((pid, start_time)) = sock.pid.and_then(|pid| Some((pid, *host.socket_owners.get(&pid)?))) {
            return Endpoint::Process(ProcessId { host: host.host.clone(), pid, start_time });
        }
        if let Some(container) = host.netns_container.get(&sock.id.netns) {
            return Endpoint::Container(container.clone());
        }
        let local = canonical(sock.id.local);
        let scope = host.scope_of(slot, local.ip(), sock.id.netns);
        match self.global.owner(ScopedIp { scope, ip: local.ip() }).and_then(|owner| owner.container.clone()) {
            Some(container) => Endpoint::Container(container),
            None => Endpoint::Host(host.host.clone()),
        }
    }

    /// Whoever owns an address, without knowing the process: a container, a host, or a pseudo node.
    fn address_end(&self, ip: ScopedIp) -> Endpoint {
        if let Some(owner) = self.global.owner(ip) {
            if let Some(container) = &owner.container {
                return Endpoint::Container(container.clone());
            }
            if let Some(host) = self.global.host(owner.slot) {
                return Endpoint::Host(host.host.clone());
            }
        }
        if let crate::render::address::Scope::Netns(slot, netns) = ip.scope {
            // Loopback with nothing listening: still the container of that namespace, or this host.
            if let Some(host) = self.global.host(slot) {
                return match host.netns_container.get(&netns) {
                    Some(container) => Endpoint::Container(container.clone()),
                    None => Endpoint::Host(host.host.clone()),
                };
            }
        }
        if is_public(ip.ip) {
            Endpoint::Internet
        } else {
            Endpoint::Address(ip.ip)
        }
    }
}

#[cfg(test)]
mod tests {
    use periscope_report::fixtures::{ReportBuilder, HOST_NETNS};
    use periscope_report::ContainerId;

    use super::*;
    use crate::render::index::HostIndex;

    #[test]
    fn a_conntrack_record_resolves_in_its_own_namespace() {
        const WEB_NETNS: u64 = 1001;
        // 127.0.0.1:9000 is a host agent in the host's namespace. The web container's own
        // table holds a flow to 127.0.0.1:9000 in its namespace, where nothing listens.
        let report = ReportBuilder::new("a")
            .interface("eth0", "10.0.0.1/24")
            .container("web", "web", "httpd:2", "172.17.0.2")
            .process(100, "httpd", Some("web"))
            .process(10, "agent", None)
            .tcp(WEB_NETNS, Some(100), "0.0.0.0:80", None)
            .tcp(HOST_NETNS, Some(10), "127.0.0.1:9000", None)
            .conntrack_in(WEB_NETNS, "127.0.0.1:0", "127.0.0.1:9000", "127.0.0.1:9000")
            .build();
        let mut global = GlobalIndex::default();
        global.replace(Slot(0), Some(HostIndex::build(Slot(0), &report)));
        let resolved = resolve_host(Slot(0), &report, &global);
        let web = Endpoint::Container(ContainerId::new("web"));
        let ends: Vec<(&Endpoint, &Endpoint)> = resolved.edges.iter().map(|e| (&e.client, &e.server)).collect();
        assert_eq!(ends, [(&web, &web)], "neither the host nor its agent");
    }
}
