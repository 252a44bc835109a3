//! Address indexes over every probe's report, kept up to date one probe at a time.
//!
//! A [`HostIndex`] is built from one report alone: who owns which address,
//! listening sockets, published ports, conntrack flows. The [`GlobalIndex`]
//! merges the cross-host parts (address owners and socket 4-tuples) and, when
//! one host's index is replaced, names the addresses whose meaning changed, so
//! only the hosts that looked those addresses up are resolved again.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use periscope_report::{ContainerId, Direction, HostId, IpNetwork, Protocol, Report, SocketId, SocketState};

use crate::render::address::{canonical, canonical_ip, is_loopback, Scope, ScopedIp, Slot};
use crate::render::sorted_map::push_tight;

/// Interfaces whose networks stay on the host: Docker's and other local bridges.
const BRIDGE_PREFIXES: [&str; 6] = ["docker", "br-", "cni", "virbr", "podman", "cbr"];

/// Who answers at an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub slot: Slot,
    /// The network namespace holding the address, when known.
    pub netns: Option<u64>,
    pub container: Option<ContainerId>,
}

/// A connected socket's identity as seen from anywhere the scope reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TupleKey {
    pub protocol: Protocol,
    pub scope: Scope,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// A socket and the process holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockRef {
    pub id: SocketId,
    pub pid: Option<u32>,
}

/// One published port: traffic to `host_ip:host_port` goes to `container:container_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub host_ip: IpAddr,
    pub container: ContainerId,
    pub container_port: u16,
}

/// Everything render needs to know about one host's addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct HostIndex {
    pub host: HostId,
    pub host_netns: Option<u64>,
    /// Processes that own at least one socket: pid → start time (the host is this index's).
    pub socket_owners: HashMap<u32, u64>,
    /// Pids of Docker's userland proxy: their sockets stand for the container behind a published port.
    pub proxy_pids: HashSet<u32>,
    pub netns_container: HashMap<u64, ContainerId>,
    pub container_netns: HashMap<ContainerId, u64>,
    bridge_networks: Vec<IpNetwork>,
    container_ips: HashSet<IpAddr>,
    /// Listeners bound to one address: (protocol, netns, ip, port).
    pub listeners: HashMap<(Protocol, u64, IpAddr, u16), SockRef>,
    /// Listeners bound to every address of a netns: (protocol, netns, port).
    pub wildcard_listeners: HashMap<(Protocol, u64, u16), SockRef>,
    pub published: HashMap<(Protocol, u16), Vec<Published>>,
    /// Conntrack flows: (protocol, source, destination) → reply source, i.e. the real server.
    pub flows: HashMap<(Protocol, SocketAddr, SocketAddr), SocketAddr>,
    pub owners: HashMap<ScopedIp, Owner>,
    pub tuples: HashMap<TupleKey, SockRef>,
    /// Connected sockets without their local port: conntrack flows may come with the client port zeroed.
    pub client_pairs: HashSet<(Protocol, IpAddr, SocketAddr)>,
    /// Connected sockets without their remote port, for the server side of such flows.
    pub server_pairs: HashSet<(Protocol, SocketAddr, IpAddr)>,
    pub containers: HashSet<ContainerId>,
}

impl Default for HostIndex {
    fn default() -> Self {
        HostIndex {
            host: HostId::new("-"),
            host_netns: None,
            socket_owners: HashMap::new(),
            proxy_pids: HashSet::new(),
            netns_container: HashMap::new(),
            container_netns: HashMap::new(),
            bridge_networks: Vec::new(),
            container_ips: HashSet::new(),
            listeners: HashMap::new(),
            wildcard_listeners: HashMap::new(),
            published: HashMap::new(),
            flows: HashMap::new(),
            owners: HashMap::new(),
            tuples: HashMap::new(),
            client_pairs: HashSet::new(),
            server_pairs: HashSet::new(),
            containers: HashSet::new(),
        }
    }
}

impl HostIndex {
    pub fn build(slot: Slot, report: &Report) -> HostIndex {
        let mut index = HostIndex { host: report.host.id.clone(), ..HostIndex::default() };
        let processes_by_pid: HashMap<u32, &periscope_report::Process> =
            report.processes.iter().map(|process| (process.id.pid, process)).collect();

        // The host's own netns: the one most host processes' sockets live in.
        let mut host_netns_votes: HashMap<u64, usize> = HashMap::new();
        for socket in &report.sockets {
            let Some(process) = socket.pid.and_then(|pid| processes_by_pid.get(&pid)) else { continue };
            index.socket_owners.insert(process.id.pid, process.id.start_time);
            if &*process.name == "docker-proxy" {
                index.proxy_pids.insert(process.id.pid);
            }
            match &process.container {
                None => *host_netns_votes.entry(socket.id.netns).or_default() += 1,
                Some(container) => {
                    let has_addresses = report
                        .containers
                        .get(container)
                        .is_some_and(|c| c.networks.iter().any(|network| !network.addresses.is_empty()));
                    // Host-network containers have no addresses of their own and share the host's netns.
                    if has_addresses {
                        index.netns_container.insert(socket.id.netns, container.clone());
                        index.container_netns.insert(container.clone(), socket.id.netns);
                    }
                }
            }
        }
        index.host_netns = host_netns_votes.into_iter().max_by_key(|&(netns, votes)| (votes, netns)).map(|(n, _)| n);

        for interface in &report.host.interfaces {
            if BRIDGE_PREFIXES.iter().any(|prefix| interface.name.starts_with(prefix)) {
                index.bridge_networks.extend(interface.addresses.iter().copied());
            }
        }
        for container in &report.containers {
            index.containers.insert(container.id.clone());
            // Only bridge addresses are host-local; overlay, macvlan and ipvlan ones are reached
            // from other hosts, so they stay global and a peer elsewhere resolves them.
            let local = container.networks.iter().filter(|network| network.is_host_local());
            for address in local.flat_map(|network| &network.addresses) {
                index.container_ips.insert(canonical_ip(*address));
            }
            for port in &container.ports {
                index.published.entry((port.protocol, port.host_port)).or_default().push(Published {
                    host_ip: canonical_ip(port.host_ip),
                    container: container.id.clone(),
                    container_port: port.container_port,
                });
            }
        }

        for interface in &report.host.interfaces {
            for network in &interface.addresses {
                let ip = canonical_ip(network.address);
                if is_loopback(ip) {
                    continue;
                }
                let scope = index.scope_of(slot, ip, index.host_netns.unwrap_or(0));
                index.owners.insert(ScopedIp { scope, ip }, Owner { slot, netns: index.host_netns, container: None });
            }
        }
        for container in &report.containers {
            for address in container.networks.iter().flat_map(|network| &network.addresses) {
                let ip = canonical_ip(*address);
                let scope = index.scope_of(slot, ip, 0);
                let owner = Owner {
                    slot,
                    netns: index.container_netns.get(&container.id).copied(),
                    container: Some(container.id.clone()),
                };
                // A running container wins an address over a stopped one that still lists it.
                let running = !container.state.is_stopped();
                let key = ScopedIp { scope, ip };
                if running || !index.owners.contains_key(&key) {
                    index.owners.insert(key, owner);
                }
            }
        }

        for socket in &report.sockets {
            let id = socket.id;
            let sock = SockRef { id, pid: socket.pid };
            let local = canonical(id.local);
            if is_listening(socket.state, id) {
                if local.ip().is_unspecified() {
                    index.wildcard_listeners.insert((id.protocol, id.netns, local.port()), sock);
                } else {
                    index.listeners.insert((id.protocol, id.netns, local.ip(), local.port()), sock);
                }
            } else if socket.state != SocketState::Close && id.remote.port() != 0 {
                let scope = index.scope_of(slot, local.ip(), id.netns);
                let remote = canonical(id.remote);
                let key = TupleKey { protocol: id.protocol, scope, local, remote };
                index.tuples.insert(key, sock);
                index.client_pairs.insert((id.protocol, local.ip(), remote));
                index.server_pairs.insert((id.protocol, local, remote.ip()));
            }
        }
        // Traced flows are connections seen from one side, like connected sockets without ports.
        for flow in &report.traced {
            let (local, remote) = (canonical(flow.id.local), canonical(flow.id.remote));
            match flow.id.direction {
                Direction::Outbound => index.client_pairs.insert((Protocol::Tcp, local.ip(), remote)),
                Direction::Inbound => index.server_pairs.insert((Protocol::Tcp, local, remote.ip())),
            };
        }
        for connection in &report.connections {
            let id = connection.id;
            index.flows.insert(
                (id.protocol, canonical(id.source), canonical(id.destination)),
                canonical(connection.reply_source),
            );
        }
        index.shrink();
        index
    }

    /// The scope of `ip` as a socket in `netns` on this host sees it.
    pub fn scope_of(&self, slot: Slot, ip: IpAddr, netns: u64) -> Scope {
        let ip = canonical_ip(ip);
        if is_loopback(ip) {
            return Scope::Netns(slot, netns);
        }
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
        if link_local || self.container_ips.contains(&ip) || self.bridge_networks.iter().any(|net| net.contains(ip)) {
            Scope::Host(slot)
        } else {
            Scope::Global
        }
    }

    /// The listener that accepts `ip:port` in `netns`: bound to that address, or to all of them.
    pub fn listener(&self, protocol: Protocol, netns: u64, ip: IpAddr, port: u16) -> Option<SockRef> {
        self.listeners
            .get(&(protocol, netns, ip, port))
            .or_else(|| self.wildcard_listeners.get(&(protocol, netns, port)))
            .copied()
    }

    /// Every address whose meaning is carried by this index.
    fn owned_ips(&self) -> impl Iterator<Item = ScopedIp> + '_ {
        self.owners.keys().copied()
    }

    /// Parts that change what other hosts resolve at any of this host's addresses.
    fn resolution_facts_equal(&self, other: &HostIndex) -> bool {
        self.listeners == other.listeners
            && self.wildcard_listeners == other.wildcard_listeners
            && self.published == other.published
            && self.flows == other.flows
            && self.socket_owners == other.socket_owners
            && self.proxy_pids == other.proxy_pids
            && self.netns_container == other.netns_container
            && self.host_netns == other.host_netns
    }
}

impl HostIndex {
    /// Frees the room building left in its maps: one index per host is kept
    /// until the host changes (at 1,000 hosts, 107,000 sockets' entries).
    fn shrink(&mut self) {
        self.socket_owners.shrink_to_fit();
        self.proxy_pids.shrink_to_fit();
        self.netns_container.shrink_to_fit();
        self.container_netns.shrink_to_fit();
        self.container_ips.shrink_to_fit();
        self.listeners.shrink_to_fit();
        self.wildcard_listeners.shrink_to_fit();
        self.published.shrink_to_fit();
        self.flows.shrink_to_fit();
        self.owners.shrink_to_fit();
        self.tuples.shrink_to_fit();
        self.client_pairs.shrink_to_fit();
        self.server_pairs.shrink_to_fit();
        self.containers.shrink_to_fit();
    }
}

/// Listening TCP sockets, and UDP sockets bound without a peer.
fn is_listening(state: SocketState, id: SocketId) -> bool {
    state == SocketState::Listen || (id.protocol == Protocol::Udp && id.remote.port() == 0)
}

/// The cross-host parts of every host's index.
#[derive(Debug, Default)]
pub struct GlobalIndex {
    hosts: HashMap<Slot, HostIndex>,
    owners: HashMap<ScopedIp, Vec<Owner>>,
    tuples: HashMap<TupleKey, Vec<(Slot, SockRef)>>,
    containers: HashMap<ContainerId, Slot>,
}

impl GlobalIndex {
    pub fn host(&self, slot: Slot) -> Option<&HostIndex> {
        self.hosts.get(&slot)
    }

    /// Whether any host has a connected socket `local_ip:* → remote` (the client of a port-less flow).
    pub fn client_pair_seen(&self, protocol: Protocol, local: ScopedIp, remote: SocketAddr) -> bool {
        self.owner(local)
            .and_then(|owner| self.hosts.get(&owner.slot))
            .is_some_and(|host| host.client_pairs.contains(&(protocol, local.ip, remote)))
    }

    /// Whether any host has a connected socket `local → remote_ip:*` (the server of a port-less flow).
    pub fn server_pair_seen(
        &self,
        protocol: Protocol,
        local: SocketAddr,
        local_scope: ScopedIp,
        remote: IpAddr,
    ) -> bool {
        self.owner(local_scope)
            .and_then(|owner| self.hosts.get(&owner.slot))
            .is_some_and(|host| host.server_pairs.contains(&(protocol, local, remote)))
    }

    pub fn owner(&self, ip: ScopedIp) -> Option<&Owner> {
        self.owners.get(&ip).and_then(|owners| owners.first())
    }

    pub fn socket(&self, key: &TupleKey) -> Option<(Slot, SockRef)> {
        self.tuples.get(key).and_then(|sockets| sockets.first()).copied()
    }

    pub fn container_slot(&self, container: &ContainerId) -> Option<Slot> {
        self.containers.get(container).copied()
    }

    /// Installs (or, with `None`, removes) a host's index and returns the
    /// addresses whose owner, listeners or sockets changed.
    pub fn replace(&mut self, slot: Slot, new: Option<HostIndex>) -> HashSet<ScopedIp> {
        let empty = HostIndex::default();
        let old = self.hosts.remove(&slot);
        let old_ref = old.as_ref().unwrap_or(&empty);
        let new_ref = new.as_ref().unwrap_or(&empty);
        let mut changed = HashSet::new();

        if !old_ref.resolution_facts_equal(new_ref) {
            changed.extend(old_ref.owned_ips());
            changed.extend(new_ref.owned_ips());
        }
        for (ip, owner) in &old_ref.owners {
            if new_ref.owners.get(ip) != Some(owner) {
                changed.insert(*ip);
                if let Some(owners) = self.owners.get_mut(ip) {
                    owners.retain(|o| o.slot != slot);
                    if owners.is_empty() {
                        self.owners.remove(ip);
                    }
                }
            }
        }
        for (ip, owner) in &new_ref.owners {
            if old_ref.owners.get(ip) != Some(owner) {
                changed.insert(*ip);
                let owners = self.owners.entry(*ip).or_default();
                push_tight(owners, owner.clone());
                owners.sort_by_key(|o| o.slot);
            }
        }
        for (key, socket) in &old_ref.tuples {
            if new_ref.tuples.get(key) != Some(socket) {
                changed.insert(ScopedIp { scope: key.scope, ip: key.local.ip() });
                if let Some(sockets) = self.tuples.get_mut(key) {
                    sockets.retain(|(s, _)| *s != slot);
                    if sockets.is_empty() {
                        self.tuples.remove(key);
                    }
                }
            }
        }
        for (key, socket) in &new_ref.tuples {
            if old_ref.tuples.get(key) != Some(socket) {
                changed.insert(ScopedIp { scope: key.scope, ip: key.local.ip() });
                let sockets = self.tuples.entry(*key).or_default();
                push_tight(sockets, (slot, *socket));
                sockets.sort_by_key(|(s, _)| *s);
            }
        }
        // A client side appearing or going decides whether servers elsewhere draw the edge.
        for (_, ip, _) in old_ref.client_pairs.symmetric_difference(&new_ref.client_pairs) {
            changed.insert(ScopedIp { scope: new_ref.scope_of(slot, *ip, 0), ip: *ip });
        }
        for container in &old_ref.containers {
            if !new_ref.containers.contains(container) && self.containers.get(container) == Some(&slot) {
                self.containers.remove(container);
            }
        }
        for container in &new_ref.containers {
            self.containers.insert(container.clone(), slot);
        }
        match new {
            Some(new) => {
                self.hosts.insert(slot, new);
            }
            // A host that left may have been huge: give back what its entries sized.
            None => {
                shrink_if_sparse(&mut self.owners);
                shrink_if_sparse(&mut self.tuples);
                shrink_if_sparse(&mut self.containers);
            }
        }
        changed
    }
}

/// Shrinks a map whose capacity is far beyond what it holds (a hash map
/// keeps its capacity, so no allocator trim could return it).
pub fn shrink_if_sparse<K: Eq + std::hash::Hash, V, S: std::hash::BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > 4 * map.len() + 1024 {
        map.shrink_to_fit();
    }
}
