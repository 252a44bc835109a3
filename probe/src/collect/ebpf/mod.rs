//! The eBPF connection tracer as a probe source: every TCP connection with
//! its process, and how it failed.
//!
//! The /proc, sock_diag and conntrack sources see what exists at a tick (and
//! conntrack, flows without their process); a `wget` that connects and exits
//! between two ticks leaves no socket to find. The tracer ([`tracer`],
//! `probe/bpf/connections.bpf.c`) counts each connection in the kernel as it
//! happens, under the process that made it, so the probe only reads a table
//! of counters each tick ([`fold`] turns them into [`TracedFlow`] records).
//! It is chosen at start-up (`--ebpf auto|on|off`): `auto` uses it where
//! the kernel and privileges allow and otherwise logs why once and goes on
//! with the other sources, which run either way.
//!
//! [`TracedFlow`]: periscope_report::TracedFlow

pub mod fold;
pub mod tracer;

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use periscope_report::{
    ContainerId, Process, ProcessId, Report, SocketState, Source, SourceState, SourceStatus, TracedFlow,
};
use tracing::{info, warn};

use crate::collect::ebpf::fold::{Fold, Lookup};
use crate::collect::ebpf::tracer::{FlowKey, FlowValue, NetnsTcp, Overflow, ProcessEvents, Tracer, TracerError};
use crate::collect::{process, Collector, Pass, ScannedProcess};
use crate::sys::proc_root::ProcRoot;

/// The inode of the initial PID namespace (`PROC_PID_INIT_INO`), the same on every kernel.
const INIT_PID_NAMESPACE: &str = "pid:[4026531836]";

/// Whether to use the tracer (`--ebpf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EbpfMode {
    /// Use it when the kernel and privileges allow, else the other sources alone.
    #[default]
    Auto,
    /// Use it or refuse to start.
    On,
    /// Never load it.
    Off,
}

/// The kernel's map is read at most this often. A read walks every bucket of the map (its
/// 16,384 slots, whatever it holds) and the fold visits every entry; the report holds traced
/// counts within a deadband anyway, so reading every tick would spend that twice as often
/// for counts that mostly wait to be sent.
pub const READ_EVERY: Duration = Duration::from_secs(2);

/// The tracer's collector: reads its counters into `report.traced` every [`READ_EVERY`]
/// (or every pass, with a slower tick); the passes between carry the last read's flows.
pub struct EbpfCollector {
    tracer: Tracer,
    fold: Fold,
    entries: Vec<(FlowKey, FlowValue)>,
    /// The fold's flows as of the last read.
    flows: Vec<TracedFlow>,
    /// The maps' overflow counters as of the last read.
    overflow: Overflow,
    /// Half a tick: a read is due once READ_EVERY, less this, has passed (ticks jitter).
    slack: Duration,
    read_at: Option<std::time::Instant>,
    /// Whether the probe's /proc numbers processes as the kernel does (the initial PID
    /// namespace), so a pid the tracer names that is missing from it has exited.
    host_pids: bool,
}

/// Starts the tracer as `mode` asks: `Ok(None)` when it is off or (in `auto`) unavailable,
/// with the status to report; an error only when `on` and it cannot start. `tick`: the probe's;
/// `proc`: the /proc the process collector scans.
pub fn start(
    mode: EbpfMode,
    tick: Duration,
    proc: &ProcRoot,
) -> Result<(Option<EbpfCollector>, SourceState), TracerError> {
    if mode == EbpfMode::Off {
        return Ok((None, SourceState::Unavailable { reason: "disabled by --ebpf off".into() }));
    }
    match Tracer::start() {
        Ok(tracer) => {
            info!("eBPF tracer attached to inet_sock_set_state and sched_process_fork, _exec and _free");
            // Loading parsed the kernel's whole BTF (megabytes), now freed: hand it back to the
            // system rather than keep it in the heap for the probe's lifetime.
            // glibc's malloc_trim has no safe wrapper (rustix wraps system calls, not the allocator).
            #[cfg(target_env = "gnu")]
            // SAFETY: malloc_trim takes no pointers and only releases free heap memory.
            unsafe {
                libc::malloc_trim(0);
            }
            // What sysconf(_SC_CLK_TCK) answers: the kernel's AT_CLKTCK.
            let ticks = rustix::param::clock_ticks_per_second();
            let collector = EbpfCollector {
                tracer,
                // A new process is listed once it has lived REPORT_AFTER, counted from the first
                // scan that saw it, which may come a tick after its first connection.
                fold: Fold::new(if ticks > 0 { ticks } else { 100 }, process::REPORT_AFTER + tick),
                entries: Vec::new(),
                flows: Vec::new(),
                overflow: Overflow::default(),
                slack: tick / 2,
                read_at: None,
                // `self` in that /proc is this probe, seen from the /proc's PID namespace: it is the
                // initial one when the probe is there (the /proc of a child namespace shows no `self`).
                host_pids: std::fs::read_link(proc.file("self/ns/pid"))
                    .is_ok_and(|link| link.as_os_str() == INIT_PID_NAMESPACE),
            };
            Ok((Some(collector), SourceState::Active))
        }
        Err(error) if mode == EbpfMode::Auto => {
            warn!(%error, "eBPF connection tracer unavailable; using /proc, sock_diag and conntrack alone");
            Ok((None, SourceState::Unavailable { reason: error.to_string() }))
        }
        Err(error) => Err(error),
    }
}

impl EbpfCollector {
    /// The tracer's per-namespace TCP counts, for the socket collector (once).
    pub fn take_netns_tcp(&mut self) -> Option<NetnsTcp> {
        self.tracer.take_netns_tcp()
    }

    /// The tracer's process events, for the process collector (once); `None` when the probe's
    /// /proc numbers processes otherwise than the kernel's initial PID namespace does.
    pub fn take_process_events(&mut self) -> Option<ProcessEvents> {
        if !self.host_pids {
            return None;
        }
        self.tracer.take_process_events()
    }
}

impl Collector for EbpfCollector {
    fn name(&self) -> &'static str {
        "ebpf"
    }

    fn collect(&mut self, pass: &mut Pass<'_>) {
        let due = self.read_at.is_none_or(|at| pass.now.duration_since(at) + self.slack >= READ_EVERY);
        if due {
            self.read_at = Some(pass.now);
            self.tracer.read(&mut self.entries);
            let pids = if self.host_pids { Some(pass.pids.as_slice()) } else { None };
            let lookup = PassLookup::new(pass.report, &pass.processes, pids);
            let idle = self.fold.update(&self.entries, &lookup, pass.now);
            self.tracer.remove(&idle);
            // The fold changes only here: the passes until the next read send the same flows.
            self.flows.clear();
            self.flows.extend(self.fold.flows());
            let overflow = self.tracer.overflow();
            if overflow != self.overflow {
                warn!(
                    flows = overflow.flows,
                    sockets = overflow.sockets,
                    "eBPF tracer maps full: events went uncounted"
                );
                self.overflow = overflow;
            }
        }
        for flow in &self.flows {
            pass.report.traced.insert(flow.clone());
        }
        pass.report.meta.traced_overflow = self.overflow.flows + self.overflow.sockets;
        pass.sources.push(SourceStatus { source: Source::Ebpf, state: SourceState::Active });
    }
}

/// Listening sockets by (netns, port): each bound address with its owner's pid.
type Listeners = HashMap<(u64, u16), Vec<(IpAddr, u32)>>;

/// What the tracer's fold needs to know, taken from the pass (built lazily, once).
struct PassLookup<'a> {
    report: &'a Report,
    processes: &'a [ScannedProcess],
    /// Every pid in /proc, sorted; `None` when /proc's pids are not the kernel's.
    pids: Option<&'a [u32]>,
    by_pid: OnceCell<HashMap<u32, &'a Process>>,
    /// `None` for a namespace shared by several containers or by host processes.
    netns_containers: OnceCell<HashMap<u64, Option<ContainerId>>>,
    /// (netns, port) → (bound address, owner pid).
    listeners: OnceCell<Listeners>,
    /// Network namespaces of the processes this probe sees.
    namespaces: OnceCell<HashSet<u64>>,
}

impl<'a> PassLookup<'a> {
    fn new(report: &'a Report, processes: &'a [ScannedProcess], pids: Option<&'a [u32]>) -> Self {
        PassLookup {
            report,
            processes,
            pids,
            by_pid: OnceCell::new(),
            netns_containers: OnceCell::new(),
            listeners: OnceCell::new(),
            namespaces: OnceCell::new(),
        }
    }

    fn by_pid(&self) -> &HashMap<u32, &'a Process> {
        self.by_pid.get_or_init(|| self.report.processes.iter().map(|p| (p.id.pid, p)).collect())
    }
}

impl Lookup for PassLookup<'_> {
    fn listed(&self, pid: u32, start_time: u64) -> Option<ProcessId> {
        let id = ProcessId { host: self.report.host.id.clone(), pid, start_time };
        self.report.processes.contains(&id).then_some(id)
    }

    fn gone(&self, pid: u32) -> bool {
        self.pids.is_some_and(|pids| pids.binary_search(&pid).is_err())
    }

    fn container_of_pid(&self, pid: u32) -> Option<ContainerId> {
        self.by_pid().get(&pid).and_then(|process| process.container.clone())
    }

    fn name_of_pid(&self, pid: u32) -> Option<Arc<str>> {
        self.by_pid().get(&pid).map(|process| process.name.clone())
    }

    fn container_of_netns(&self, netns: u64) -> Option<ContainerId> {
        let map = self.netns_containers.get_or_init(|| {
            let mut map: HashMap<u64, Option<ContainerId>> = HashMap::new();
            for scanned in self.processes {
                let (Some(netns), Some(process)) = (scanned.netns, self.by_pid().get(&scanned.pid)) else { continue };
                let container = process.container.clone();
                map.entry(netns)
                    .and_modify(|known| {
                        if *known != container {
                            *known = None;
                        }
                    })
                    .or_insert(container);
            }
            map
        });
        map.get(&netns).cloned().flatten()
    }

    fn sees_netns(&self, netns: u64) -> bool {
        let seen = self.namespaces.get_or_init(|| self.processes.iter().filter_map(|p| p.netns).collect());
        seen.contains(&netns)
    }

    fn listener_owner(&self, netns: u64, ip: IpAddr, port: u16) -> Option<ProcessId> {
        let listeners = self.listeners.get_or_init(|| {
            let mut map: Listeners = HashMap::new();
            for socket in &self.report.sockets {
                if socket.state != SocketState::Listen {
                    continue;
                }
                let Some(pid) = socket.pid else { continue };
                map.entry((socket.id.netns, socket.id.local.port())).or_default().push((socket.id.local.ip(), pid));
            }
            map
        });
        let candidates = listeners.get(&(netns, port))?;
        let (_, pid) = candidates
            .iter()
            .find(|(bound, _)| *bound == ip)
            .or_else(|| candidates.iter().find(|(bound, _)| bound.is_unspecified()))?;
        self.by_pid().get(pid).map(|process| process.id.clone())
    }
}
