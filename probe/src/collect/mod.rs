//! Collectors: each reads one source of the host into the report being built.
//!
//! A collection pass runs the collectors in order over one [`Pass`], the
//! blackboard they share: the report under construction plus facts a later
//! collector needs from an earlier one (each process's network namespace and
//! cgroup, found by `process`, are what `socket` and `cgroup` work from).
//! Collectors are blocking and cheap; the Docker and conntrack sources are
//! fed by async followers ([`docker::follow`], [`conntrack::follow`]) into
//! shared tables that their collectors copy from.
//!
//! Order: host, docker, process, cgroup (needs containers and processes),
//! socket (needs processes), ebpf (needs processes and listeners), conntrack.

pub mod capabilities;
pub mod cgroup;
pub mod conntrack;
pub mod docker;
pub mod ebpf;
pub mod host;
pub mod pids;
pub mod process;
pub mod redact;
pub mod socket;
pub mod steady;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use periscope_report::{HostId, ProbeId, ProbeMeta, Report, Source, SourceState, SourceStatus, Table, UnixMillis};
use tracing::{debug, instrument, warn};

use crate::collect::capabilities::{Access, Capabilities};
use crate::collect::cgroup::{CgroupCollector, CgroupPaths};
use crate::collect::conntrack::{Conntrack, ConntrackCollector};
use crate::collect::docker::{DockerCollector, DockerView};
use crate::collect::ebpf::EbpfCollector;
use crate::collect::host::HostCollector;
use crate::collect::process::ProcessCollector;
use crate::collect::socket::SocketCollector;
use crate::collect::steady::Steady;
use crate::sys::proc_root::ProcRoot;
use crate::Config;

/// One source of the report: a name (for logs and spans) and a collect step.
pub trait Collector: Send {
    fn name(&self) -> &'static str;
    /// Adds what this source sees to `pass.report`, and its status to `pass.sources`.
    fn collect(&mut self, pass: &mut Pass<'_>);
}

/// What one collection pass shares between collectors.
pub struct Pass<'a> {
    pub now: Instant,
    pub report: &'a mut Report,
    pub processes: Vec<ScannedProcess>,
    /// Every pid in /proc at the process scan (listed or not, kernel threads too), sorted.
    pub pids: Vec<u32>,
    pub sources: Vec<SourceStatus>,
}

/// Per-process facts the model does not carry but other collectors need.
#[derive(Debug, Clone)]
pub struct ScannedProcess {
    pub pid: u32,
    pub start_time: u64,
    /// Inode of /proc/<pid>/ns/net.
    pub netns: Option<u64>,
    /// CPU clock ticks used since the previous pass: busy processes are searched first for new sockets.
    pub cpu_ticks_delta: u64,
    pub cgroup: Option<Arc<CgroupPaths>>,
}

/// Network namespaces in use, each with one pid to read it through (the lowest, usually its init).
pub fn namespaces_in_use(processes: &[ScannedProcess]) -> BTreeMap<u64, u32> {
    let mut namespaces: BTreeMap<u64, u32> = BTreeMap::new();
    for process in processes {
        if let Some(netns) = process.netns {
            let pid = namespaces.entry(netns).or_insert(process.pid);
            *pid = (*pid).min(process.pid);
        }
    }
    namespaces
}

pub fn unix_millis() -> UnixMillis {
    UnixMillis(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0))
}

/// The state shared with the async followers.
#[derive(Clone)]
pub struct Shared {
    pub docker: Option<Arc<Mutex<DockerView>>>,
    pub conntrack: Option<Arc<Mutex<Conntrack>>>,
    /// What the probe may do here, checked once at start.
    pub capabilities: Arc<Capabilities>,
}

impl Shared {
    pub fn new(config: &Config) -> Shared {
        let proc = ProcRoot::new(&config.proc_root);
        let capabilities = Arc::new(Capabilities::check(&proc));
        for access in [&capabilities.foreign_processes, &capabilities.setns] {
            if let Access::Denied(reason) = access {
                warn!(euid = capabilities.euid, "{reason}");
            }
        }
        let docker = (!config.no_docker)
            .then(|| Arc::new(Mutex::new(DockerView::new(SourceState::Unavailable { reason: "connecting".into() }))));
        let conntrack = (!config.no_conntrack).then(|| {
            let netns = std::fs::read_link(proc.file("self/ns/net"))
                .ok()
                .and_then(|link| process::namespace_inode(&link.to_string_lossy()))
                .unwrap_or(0);
            Arc::new(Mutex::new(Conntrack::new(netns, Duration::from_secs(config.connection_linger_secs))))
        });
        Shared { docker, conntrack, capabilities }
    }
}

/// All collectors and the state they keep between passes.
pub struct Probe {
    probe_id: ProbeId,
    host: HostCollector,
    docker: Option<DockerCollector>,
    processes: ProcessCollector,
    cgroup: CgroupCollector,
    pub sockets: SocketCollector,
    ebpf: Option<EbpfCollector>,
    /// The tracer's status when it is not running (off, or unavailable here).
    ebpf_unavailable: Option<SourceStatus>,
    conntrack: Option<ConntrackCollector>,
    capabilities: Arc<Capabilities>,
    steady: Steady,
    previous: Option<Report>,
    no_docker: bool,
    no_conntrack: bool,
    no_controls: bool,
    host_shell: bool,
    /// Hold metrics within their deadband (off for one-off reports).
    pub settle: bool,
}

impl Probe {
    /// Fails only when `--ebpf on` and the tracer cannot start.
    pub fn new(config: &Config, shared: &Shared) -> anyhow::Result<Probe> {
        let proc = ProcRoot::new(&config.proc_root);
        let host_id = HostId::new(
            config
                .host_id
                .clone()
                .filter(|id| !id.is_empty())
                .or_else(host::machine_id)
                .unwrap_or_else(|| host::hostname(&proc)),
        );
        let probe_id =
            ProbeId::new(config.probe_id.clone().filter(|id| !id.is_empty()).unwrap_or_else(|| {
                format!("{}-{:08x}", host::hostname(&proc), crate::sys::random::random_u64() as u32)
            }));
        let (mut ebpf, ebpf_state) = ebpf::start(config.ebpf, config.tick(), &proc)
            .map_err(|error| anyhow::anyhow!("--ebpf on, but the eBPF connection tracer cannot start: {error}"))?;
        let ebpf_unavailable = ebpf.is_none().then_some(SourceStatus { source: Source::Ebpf, state: ebpf_state });
        let mut sockets =
            SocketCollector::new(config.proc_net_only, Duration::from_secs(config.socket_check_secs), proc.clone());
        // The tracer counts each namespace's TCP sockets as they come and go: a namespace whose
        // count has not moved needs no sockstat read.
        if let Some(counts) = ebpf.as_mut().and_then(EbpfCollector::take_netns_tcp) {
            sockets.use_hashed_counts(Box::new(counts));
        }
        // It also sees processes come and go: the process scan need not list /proc every tick.
        let mut processes = ProcessCollector::new(host_id.clone(), config.omit_cmd_args, proc.clone());
        if let Some(events) = ebpf.as_mut().and_then(EbpfCollector::take_process_events) {
            processes.follow(Box::new(events));
        }
        Ok(Probe {
            probe_id,
            host: HostCollector::new(host_id.clone(), proc.clone()),
            docker: shared.docker.clone().map(|view| {
                // As long as the flows a stopped container made are shown: conntrack's linger, or the
                // tracer's minute of counts.
                let linger = Duration::from_secs(config.connection_linger_secs).max(ebpf::fold::WINDOW);
                DockerCollector::new(view, linger)
            }),
            processes,
            cgroup: CgroupCollector::new(proc.clone()),
            sockets,
            ebpf,
            ebpf_unavailable,
            conntrack: shared.conntrack.clone().map(ConntrackCollector::new),
            capabilities: shared.capabilities.clone(),
            steady: Steady::new(Duration::from_secs(config.metrics_refresh_secs)),
            previous: None,
            no_docker: config.no_docker,
            no_conntrack: config.no_conntrack,
            no_controls: config.no_controls,
            host_shell: config.host_shell && !config.no_controls,
            settle: true,
        })
    }

    pub fn probe_id(&self) -> &ProbeId {
        &self.probe_id
    }

    /// The conntrack flows worth reading: with the tracer counting TCP, only those it does not.
    pub fn conntrack_wanted(&self) -> conntrack::Wanted {
        if self.ebpf.is_some() {
            conntrack::Wanted::Untraced
        } else {
            conntrack::Wanted::All
        }
    }

    /// Forces a re-read of what is otherwise cached for a while (interfaces).
    pub fn on_docker_change(&mut self) {
        self.host.refresh_interfaces();
    }

    /// One full pass. `seq` and `meta.dropped_frames` are the publisher's to set.
    #[instrument(skip_all, name = "collect")]
    pub fn collect(&mut self) -> Report {
        let started = Instant::now();
        let mut report = empty_report(self.probe_id.clone(), self.previous.as_ref());
        let mut pass =
            Pass { now: started, report: &mut report, processes: Vec::new(), pids: Vec::new(), sources: Vec::new() };
        let mut collectors: Vec<&mut dyn Collector> = vec![&mut self.host];
        if let Some(docker) = self.docker.as_mut() {
            collectors.push(docker);
        }
        collectors.push(&mut self.processes);
        collectors.push(&mut self.cgroup);
        collectors.push(&mut self.sockets);
        if let Some(ebpf) = self.ebpf.as_mut() {
            collectors.push(ebpf);
        }
        if let Some(conntrack) = self.conntrack.as_mut() {
            collectors.push(conntrack);
        }
        for collector in collectors {
            let span = tracing::debug_span!("collector", name = collector.name());
            let _entered = span.enter();
            collector.collect(&mut pass);
        }
        let mut sources = std::mem::take(&mut pass.sources);
        if self.no_docker {
            sources.push(unavailable(Source::Docker, "disabled by --no-docker"));
        }
        if self.no_conntrack {
            sources.push(unavailable(Source::Conntrack, "disabled by --no-conntrack"));
        }
        sources.extend(self.ebpf_unavailable.clone());
        sources.push(if self.no_controls {
            unavailable(Source::Controls, "disabled by --no-controls")
        } else {
            SourceStatus { source: Source::Controls, state: SourceState::Active }
        });
        sources.push(if self.host_shell {
            SourceStatus { source: Source::HostShell, state: SourceState::Active }
        } else {
            unavailable(Source::HostShell, "off (enable with --host-shell)")
        });
        self.reflect_capabilities(&mut sources);
        sources.sort_by_key(|status| status.source);
        report.meta.sources = sources;
        report.timestamp = unix_millis();
        if let Some(previous) = self.previous.as_ref().filter(|_| self.settle) {
            self.steady.settle(previous, &mut report, started);
        }
        debug!(
            processes = report.processes.len(),
            sockets = report.sockets.len(),
            connections = report.connections.len(),
            traced = report.traced.len(),
            containers = report.containers.len(),
            listed_proc = self.processes.listed_proc(),
            walks = self.sockets.last_stats.walks,
            sockstat_reads = self.sockets.last_stats.sockstat_reads,
            netns_read = self.sockets.last_stats.read_namespaces,
            netns_checked = self.sockets.last_stats.checked_namespaces,
            elapsed_us = started.elapsed().as_micros() as u64,
            "collected"
        );
        self.previous = Some(report.clone());
        report
    }

    /// A quick pass after a Docker event: containers and images as Docker now
    /// has them, everything else as the last full pass left it, so a started
    /// or stopped container reaches the app in milliseconds, not after a /proc
    /// scan. Running containers keep their last stats; the next tick brings
    /// the rest. `None` before the first full pass.
    pub fn collect_docker(&mut self) -> Option<Report> {
        let previous = self.previous.as_ref()?;
        let docker = self.docker.as_mut()?;
        let mut report = previous.clone();
        report.containers = Default::default();
        report.images = Default::default();
        let mut pass = Pass {
            now: Instant::now(),
            report: &mut report,
            processes: Vec::new(),
            pids: Vec::new(),
            sources: Vec::new(),
        };
        docker.collect(&mut pass);
        let docker_sources = std::mem::take(&mut pass.sources);
        let ids: Vec<_> = report.containers.ids().cloned().collect();
        for id in ids {
            let Some(container) = report.containers.get_mut(&id) else { continue };
            if container.state == periscope_report::ContainerState::Running {
                container.stats = previous.containers.get(&id).and_then(|old| old.stats.clone());
            }
        }
        for status in docker_sources {
            match report.meta.sources.iter_mut().find(|s| s.source == status.source) {
                Some(slot) => *slot = status,
                None => report.meta.sources.push(status),
            }
        }
        report.timestamp = unix_millis();
        self.previous = Some(report.clone());
        Some(report)
    }
}

impl Probe {
    /// What the start-up checks found, in the sources they limit: socket owners
    /// (other users' fds), and sock_diag when it cannot enter other namespaces.
    fn reflect_capabilities(&self, sources: &mut Vec<SourceStatus>) {
        let denied = self.sockets.last_stats.denied_processes;
        let owners = match &self.capabilities.foreign_processes {
            Access::Denied(reason) => SourceState::Degraded { reason: reason.clone() },
            // No count in the text: it moves as processes come and go, and each
            // change of the meta would be a delta.
            Access::Allowed if denied > 0 => SourceState::Degraded {
                reason: "sockets of some processes have no owner: reading their /proc/<pid>/fd was denied".into(),
            },
            Access::Allowed => SourceState::Active,
        };
        sources.push(SourceStatus { source: Source::SocketOwners, state: owners });
        if let Access::Denied(reason) = &self.capabilities.setns {
            for status in sources.iter_mut().filter(|s| s.source == Source::SockDiag) {
                if status.state == SourceState::Active {
                    status.state = SourceState::Degraded { reason: reason.clone() };
                }
            }
        }
    }
}

fn unavailable(source: Source, reason: &str) -> SourceStatus {
    SourceStatus { source, state: SourceState::Unavailable { reason: reason.to_owned() } }
}

/// A report with nothing collected yet (the host kept from `previous`, if any).
pub fn empty_report(probe: ProbeId, previous: Option<&Report>) -> Report {
    Report {
        probe,
        seq: 0,
        timestamp: UnixMillis(0),
        meta: ProbeMeta {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            sources: Vec::new(),
            dropped_frames: 0,
            traced_overflow: 0,
        },
        host: match previous {
            Some(previous) => previous.host.clone(),
            None => periscope_report::Host {
                id: HostId::new("unknown"),
                hostname: String::new(),
                os: String::new(),
                kernel: String::new(),
                uptime_secs: 0,
                load: [0.0; 3],
                cpu_count: 0,
                cpu_model: String::new(),
                cpu_percent: 0.0,
                memory_used_bytes: 0,
                memory_total_bytes: 0,
                interfaces: Vec::new(),
            },
        },
        processes: Table::new(),
        containers: Table::new(),
        images: Table::new(),
        sockets: Table::new(),
        connections: Table::new(),
        traced: Table::new(),
    }
}

/// One report without an app: a Docker listing and a conntrack dump instead
/// of their followers, and two passes half a second apart so CPU shares mean
/// something.
pub async fn collect_once(config: &Config) -> anyhow::Result<Report> {
    let shared = Shared::new(config);
    if let Some(view) = &shared.docker {
        let status = match docker::snapshot(&config.docker_socket).await {
            Ok(snapshot) => {
                let mut guard = view.lock().map_err(|_| anyhow::anyhow!("docker view lock poisoned"))?;
                *guard = snapshot;
                SourceState::Active
            }
            Err(error) => shared.capabilities.docker_socket_state(&config.docker_socket, &error),
        };
        if let Ok(mut guard) = view.lock() {
            guard.status = status;
        }
    }
    if let Some(state) = &shared.conntrack {
        // A one-off report has no tracer history: every flow the dump has.
        let flows = tokio::task::spawn_blocking(|| conntrack::dump(conntrack::Wanted::All)).await?;
        if let Ok(mut state) = state.lock() {
            let table = &mut state.host;
            match flows {
                Ok(flows) => {
                    table.reset(&flows, Instant::now());
                    table.set_status(SourceState::Active);
                }
                Err(error) => table.set_status(shared.capabilities.state_for_error(
                    "conntrack dump",
                    &error,
                    Some(capabilities::Cap::NetAdmin),
                )),
            }
        }
    }
    let config = config.clone();
    let report = tokio::task::spawn_blocking(move || {
        let mut probe = Probe::new(&config, &shared)?;
        probe.settle = false;
        probe.collect();
        std::thread::sleep(Duration::from_millis(500));
        anyhow::Ok(probe.collect())
    })
    .await??;
    Ok(report)
}
