//! Hand-built and arbitrary reports for tests (feature `test-fixtures`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

use crate::container::{Container, ContainerNetwork, ContainerState, ContainerStats, Health, Image, PortMapping};
use crate::host::{Host, Interface, IpNetwork};
use crate::id::{ConnectionId, ContainerId, HostId, ImageId, ProbeId, ProcessId, SocketId};
use crate::process::Process;
use crate::report::{ProbeMeta, Report, Source, SourceState, SourceStatus};
use crate::socket::{
    Connection, Direction, FlowCounts, FlowOwner, Protocol, Socket, SocketState, TcpInfo, TracedFlow, TracedFlowId,
};
use crate::table::Table;
use crate::UnixMillis;

/// The host namespace's netns inode in fixtures.
pub const HOST_NETNS: u64 = 4026531840;

/// Builds a report for host `name` from probe `probe-{name}`, one entity at a time.
pub struct ReportBuilder {
    report: Report,
}

impl ReportBuilder {
    pub fn new(name: &str) -> Self {
        ReportBuilder {
            report: Report {
                probe: ProbeId::new(format!("probe-{name}")),
                seq: 1,
                timestamp: UnixMillis(1_700_000_000_000),
                meta: ProbeMeta { version: "test".into(), sources: Vec::new(), dropped_frames: 0, traced_overflow: 0 },
                host: Host {
                    id: HostId::new(name),
                    hostname: name.to_owned(),
                    os: "Debian GNU/Linux 12".into(),
                    kernel: "6.1.0".into(),
                    uptime_secs: 1000,
                    load: [0.1, 0.2, 0.3],
                    cpu_count: 2,
                    cpu_model: String::new(),
                    cpu_percent: 5.0,
                    memory_used_bytes: 1 << 30,
                    memory_total_bytes: 8 << 30,
                    interfaces: Vec::new(),
                },
                processes: Table::new(),
                containers: Table::new(),
                images: Table::new(),
                sockets: Table::new(),
                connections: Table::new(),
                traced: Table::new(),
            },
        }
    }

    pub fn seq(mut self, seq: u64) -> Self {
        self.report.seq = seq;
        self
    }

    /// Adds a source's state to the report's meta.
    pub fn source(mut self, source: Source, state: SourceState) -> Self {
        self.report.meta.sources.push(SourceStatus { source, state });
        self
    }

    /// Adds an interface address such as `"10.0.0.2/24"`.
    pub fn interface(mut self, name: &str, network: &str) -> Self {
        let (address, prefix) = network.split_once('/').expect("fixture network is addr/prefix");
        let address = IpNetwork {
            address: address.parse().expect("fixture ip"),
            prefix_len: prefix.parse().expect("fixture prefix"),
        };
        self.report.host.interfaces.push(Interface { name: name.into(), addresses: vec![address] });
        self
    }

    pub fn process_id(&self, pid: u32) -> ProcessId {
        ProcessId { host: self.report.host.id.clone(), pid, start_time: u64::from(pid) * 100 }
    }

    /// A process with start time `pid * 100`, optionally inside a container.
    pub fn process(mut self, pid: u32, name: &str, container: Option<&str>) -> Self {
        let id = self.process_id(pid);
        self.report.processes.insert(Process {
            id,
            ppid: 1,
            name: name.into(),
            cmdline: [name.to_owned()].into(),
            user: "root".into(),
            threads: 1,
            cpu_percent: 1.0,
            rss_bytes: 1 << 20,
            open_fds: 4,
            container: container.map(ContainerId::new),
        });
        self
    }

    /// A running container with one IP on the `bridge` network.
    pub fn container(mut self, id: &str, name: &str, image: &str, ip: &str) -> Self {
        self.report.containers.insert(Container {
            id: ContainerId::new(id),
            name: name.into(),
            image: ImageId::new(format!("sha256:{image}")),
            image_name: image.into(),
            command: "sh".into(),
            hostname: id.chars().take(12).collect(),
            labels: BTreeMap::new(),
            state: ContainerState::Running,
            health: None,
            created: UnixMillis(1_700_000_000_000),
            started: Some(UnixMillis(1_700_000_000_000)),
            restart_count: 0,
            exit_code: None,
            oom_killed: false,
            finished: None,
            networks: vec![ContainerNetwork {
                name: "bridge".into(),
                addresses: vec![ip.parse().expect("fixture ip")],
                driver: "bridge".into(),
            }],
            ports: Vec::new(),
            main_pid: None,
            stats: None,
        });
        self
    }

    /// Edits the container added last with this ID (labels, ports, state…).
    pub fn edit_container(mut self, id: &str, edit: impl FnOnce(&mut Container)) -> Self {
        let container = self.report.containers.get_mut(&ContainerId::new(id)).expect("fixture container exists");
        edit(container);
        self
    }

    /// A TCP socket of `pid` in `netns`; `remote` is `None` for a listener.
    pub fn tcp(mut self, netns: u64, pid: Option<u32>, local: &str, remote: Option<&str>) -> Self {
        let local: SocketAddr = local.parse().expect("fixture local addr");
        let unspecified =
            SocketAddr::new(if local.is_ipv4() { IpAddr::from([0u8; 4]) } else { IpAddr::from([0u16; 8]) }, 0);
        let remote = remote.map(|r| r.parse().expect("fixture remote addr")).unwrap_or(unspecified);
        let state = if remote.port() == 0 { SocketState::Listen } else { SocketState::Established };
        self.report.sockets.insert(Socket {
            id: SocketId { protocol: Protocol::Tcp, netns, local, remote },
            state,
            pid,
            tcp: None,
        });
        self
    }

    /// A conntrack flow `source → destination`, answered from `reply_source`, in the host's table.
    pub fn conntrack(self, source: &str, destination: &str, reply_source: &str) -> Self {
        self.conntrack_in(HOST_NETNS, source, destination, reply_source)
    }

    /// A conntrack flow as the table of namespace `netns` (a container's own) holds it.
    pub fn conntrack_in(mut self, netns: u64, source: &str, destination: &str, reply_source: &str) -> Self {
        let source: SocketAddr = source.parse().expect("fixture addr");
        self.report.connections.insert(Connection {
            id: ConnectionId {
                protocol: Protocol::Tcp,
                netns,
                source,
                destination: destination.parse().expect("fixture addr"),
            },
            reply_source: reply_source.parse().expect("fixture addr"),
            reply_destination: source,
            closed: false,
            refused: 0,
            unanswered: 0,
        });
        self
    }

    /// A traced flow in `netns`: `connections` made in the last minute (and in total), `refused`
    /// of them refused; outbound from `local` (port 0) to `remote`, or inbound at `local` from
    /// `remote` (port 0).
    #[allow(clippy::too_many_arguments)]
    pub fn traced(
        mut self,
        netns: u64,
        direction: Direction,
        owner: FlowOwner,
        local: &str,
        remote: &str,
        connections: u64,
        refused: u64,
    ) -> Self {
        let counts = FlowCounts { connections, refused, ..FlowCounts::default() };
        let established = connections - refused;
        let (command, container) = match &owner {
            FlowOwner::Process(id) => {
                let process = self.report.processes.get(id);
                (
                    process.map(|p| p.name.clone()).unwrap_or_else(|| "gone".into()),
                    process.and_then(|p| p.container.clone()),
                )
            }
            FlowOwner::Command { container, name } => (name.clone(), container.clone()),
            FlowOwner::Unknown => ("".into(), None),
        };
        self.report.traced.insert(TracedFlow {
            command,
            container,
            id: TracedFlowId {
                direction,
                netns,
                local: local.parse().expect("fixture addr"),
                remote: remote.parse().expect("fixture addr"),
                owner,
            },
            processes: 1,
            open: 0,
            total: counts,
            last_minute: counts,
            tcp: (established > 0).then_some(TcpInfo {
                rtt_us: 100,
                bytes_sent: 100 * established,
                bytes_received: 1000 * established,
                retransmits: 0,
            }),
        });
        self
    }

    pub fn build(self) -> Report {
        self.report
    }
}

fn arb_name() -> impl Strategy<Value = String> {
    "[a-z0-9_.-]{0,10}"
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u16; 8]>().prop_map(IpAddr::from)]
}

fn arb_addr() -> impl Strategy<Value = SocketAddr> {
    (arb_ip(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

/// Shares travel as tenths of a percent (see `tenths`): arbitrary ones are too.
fn arb_percent() -> impl Strategy<Value = f64> {
    (0u32..4000).prop_map(|tenths| f64::from(tenths) / 10.0)
}

fn arb_protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)]
}

fn arb_host(host: HostId) -> impl Strategy<Value = Host> {
    (
        arb_name(),
        any::<u64>(),
        arb_percent(),
        any::<u64>(),
        prop::collection::vec((arb_name(), arb_ip(), 0u8..=128), 0..3),
    )
        .prop_map(move |(hostname, uptime_secs, cpu_percent, memory, interfaces)| Host {
            id: host.clone(),
            hostname,
            os: "Linux".into(),
            kernel: "6.1".into(),
            uptime_secs,
            load: [cpu_percent, 0.5, 0.25],
            cpu_count: 2,
            cpu_model: String::new(),
            cpu_percent,
            memory_used_bytes: memory / 2,
            memory_total_bytes: memory,
            interfaces: interfaces
                .into_iter()
                .map(|(name, address, prefix_len)| Interface {
                    name,
                    addresses: vec![IpNetwork { address, prefix_len }],
                })
                .collect(),
        })
}

fn arb_process(host: HostId) -> impl Strategy<Value = Process> {
    (0u32..64, 0u64..4, arb_name(), arb_percent(), any::<u32>(), prop::option::of("[a-f0-9]{4}")).prop_map(
        move |(pid, start_time, name, cpu_percent, rss, container)| Process {
            id: ProcessId { host: host.clone(), pid, start_time },
            ppid: pid / 2,
            cmdline: [name.clone(), "--flag".into()].into(),
            name: name.into(),
            user: "root".into(),
            threads: 1,
            cpu_percent,
            rss_bytes: u64::from(rss),
            open_fds: 3,
            container: container.map(ContainerId::new),
        },
    )
}

fn arb_container() -> impl Strategy<Value = Container> {
    let state = prop_oneof![Just(ContainerState::Running), Just(ContainerState::Exited), Just(ContainerState::Paused)];
    let health = prop::option::of(prop_oneof![Just(Health::Healthy), Just(Health::Unhealthy), Just(Health::Starting)]);
    let labels = prop::collection::btree_map(arb_name(), arb_name(), 0..3);
    let ports = prop::collection::vec((arb_protocol(), arb_ip(), any::<u16>(), any::<u16>()), 0..2);
    let stats = prop::option::of((arb_percent(), any::<u32>()));
    (
        "[a-f0-9]{4}",
        arb_name(),
        state,
        health,
        labels,
        prop::collection::vec(arb_ip(), 0..3),
        ports,
        stats,
        prop::option::of(0u32..64),
    )
        .prop_map(|(id, name, state, health, labels, addresses, ports, stats, main_pid)| Container {
            id: ContainerId::new(id.clone()),
            image: ImageId::new(format!("sha256:{name}")),
            image_name: format!("{name}:latest"),
            command: "sh -c true".into(),
            hostname: id,
            name,
            labels,
            state,
            health,
            created: UnixMillis(1),
            started: main_pid.map(|_| UnixMillis(2)),
            restart_count: 0,
            exit_code: None,
            oom_killed: false,
            finished: None,
            networks: vec![ContainerNetwork { name: "bridge".into(), addresses, driver: "bridge".into() }],
            ports: ports
                .into_iter()
                .map(|(protocol, host_ip, host_port, container_port)| PortMapping {
                    protocol,
                    host_ip,
                    host_port,
                    container_port,
                })
                .collect(),
            main_pid,
            stats: stats.map(|(cpu_percent, memory)| ContainerStats {
                cpu_percent,
                memory_bytes: u64::from(memory),
                memory_limit_bytes: None,
                network_rx_bytes: 10,
                network_tx_bytes: 20,
            }),
        })
}

fn arb_socket() -> impl Strategy<Value = Socket> {
    let state = prop_oneof![Just(SocketState::Listen), Just(SocketState::Established), Just(SocketState::TimeWait)];
    let tcp = prop::option::of((any::<u32>(), any::<u64>(), any::<u64>(), any::<u32>()));
    (arb_protocol(), 0u64..3, arb_addr(), arb_addr(), state, prop::option::of(0u32..64), tcp).prop_map(
        |(protocol, netns, local, remote, state, pid, tcp)| Socket {
            id: SocketId { protocol, netns, local, remote },
            state,
            pid,
            tcp: tcp.map(|(rtt_us, bytes_sent, bytes_received, retransmits)| TcpInfo {
                rtt_us,
                bytes_sent,
                bytes_received,
                retransmits,
            }),
        },
    )
}

fn arb_traced(host: HostId) -> impl Strategy<Value = TracedFlow> {
    let owner = prop_oneof![
        (0u32..64).prop_map(move |pid| FlowOwner::Process(ProcessId { host: host.clone(), pid, start_time: 1 })),
        (prop::option::of("[a-f0-9]{4}"), arb_name()).prop_map(|(container, name)| FlowOwner::Command {
            container: container.map(ContainerId::new),
            name: name.into()
        }),
        Just(FlowOwner::Unknown),
    ];
    let direction = prop_oneof![Just(Direction::Outbound), Just(Direction::Inbound)];
    (direction, owner, arb_addr(), arb_addr(), any::<[u32; 4]>(), any::<u32>()).prop_map(
        |(direction, owner, local, remote, [connections, refused, unanswered, open], processes)| {
            let counts = FlowCounts {
                connections: u64::from(connections),
                refused: u64::from(refused),
                unanswered: u64::from(unanswered),
                reset: 0,
                retransmits: 1,
            };
            TracedFlow {
                command: "wget".into(),
                container: None,
                id: TracedFlowId { direction, netns: HOST_NETNS, local, remote, owner },
                processes,
                open,
                total: counts,
                last_minute: FlowCounts { connections: 1, ..counts },
                tcp: (open % 2 == 0).then_some(TcpInfo { rtt_us: 1, bytes_sent: 2, bytes_received: 3, retransmits: 1 }),
            }
        },
    )
}

fn arb_connection() -> impl Strategy<Value = Connection> {
    (arb_protocol(), arb_addr(), arb_addr(), arb_addr(), any::<bool>()).prop_map(
        |(protocol, source, destination, reply_source, closed)| Connection {
            id: ConnectionId { protocol, netns: HOST_NETNS, source, destination },
            reply_source,
            reply_destination: source,
            closed,
            refused: u32::from(closed),
            unanswered: 0,
        },
    )
}

/// Arbitrary reports from one of two probes, small enough to run hundreds of cases.
pub fn arb_report() -> impl Strategy<Value = Report> {
    let host = HostId::new("host-a");
    let sources = prop::collection::vec(
        prop_oneof![
            Just(SourceStatus { source: Source::SockDiag, state: SourceState::Active }),
            Just(SourceStatus {
                source: Source::Docker,
                state: SourceState::Unavailable { reason: "no socket".into() }
            }),
            Just(SourceStatus {
                source: Source::SocketOwners,
                state: SourceState::Degraded { reason: "lacks CAP_SYS_PTRACE".into() }
            }),
            Just(SourceStatus { source: Source::Conntrack, state: SourceState::Denied { reason: "EPERM".into() } }),
        ],
        0..2,
    );
    (
        prop_oneof![Just("probe-a"), Just("probe-b")],
        any::<u64>(),
        any::<u64>(),
        sources,
        arb_host(host.clone()),
        prop::collection::vec(arb_process(host.clone()), 0..8),
        prop::collection::vec(arb_container(), 0..4),
        prop::collection::vec(arb_socket(), 0..8),
        prop::collection::vec(arb_connection(), 0..4),
        prop::collection::vec(arb_traced(host), 0..4),
    )
        .prop_map(|(probe, seq, time, sources, host, processes, containers, sockets, connections, traced)| {
            Report {
                probe: ProbeId::new(probe),
                seq,
                timestamp: UnixMillis(time),
                meta: ProbeMeta { version: "0.1.0".into(), sources, dropped_frames: seq % 3, traced_overflow: seq % 2 },
                host,
                images: containers
                    .iter()
                    .map(|c| Image { id: c.image.clone(), tags: vec![c.image_name.clone()], size_bytes: 1 << 20 })
                    .collect(),
                processes: processes.into_iter().collect(),
                containers: containers.into_iter().collect(),
                sockets: sockets.into_iter().collect(),
                connections: connections.into_iter().collect(),
                traced: traced.into_iter().collect(),
            }
        })
}
