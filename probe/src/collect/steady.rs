//! Deadbands for metrics, so a steady host sends small deltas.
//!
//! CPU shares measured in jiffies flicker between 0 and 1 % on idle
//! processes, byte counters and RTTs move on every tick, and uptime always
//! does. Sending each flicker would upsert most entities every tick. So a
//! metric that moved less than its deadband keeps its last published value
//! (the entity is unchanged, and the delta omits it), and is refreshed anyway
//! once it is older than the refresh interval. Each entity's refresh phase is
//! spread by a hash of its ID, so refreshes do not arrive all at once.
//! Anything that is not a metric (names, states, membership) always passes.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use periscope_report::{
    Container, ContainerId, Entity, FlowCounts, Host, Process, ProcessId, Report, Socket, SocketId, Table, TracedFlow,
    TracedFlowId,
};

pub struct Steady {
    refresh: Duration,
    host: Option<Instant>,
    processes: HashMap<ProcessId, Instant>,
    containers: HashMap<ContainerId, Instant>,
    sockets: HashMap<SocketId, Instant>,
    traced: HashMap<TracedFlowId, Instant>,
}

/// Whether `next` differs from `previous` only by metrics within their deadband.
pub trait Metrics: Sized {
    fn within_deadband(previous: &Self, next: &Self) -> bool;
}

/// A CPU share moved less than 2 points, or less than a quarter of itself
/// (a busy process wanders more in absolute terms than an idle one).
fn cpu_within(previous: f64, next: f64) -> bool {
    (next - previous).abs() < (0.25 * previous.max(next)).max(2.0)
}

/// A byte count moved less than 10 % and less than `floor` bytes, whichever allows more
/// (a tiny container's memory doubles when it forks one `wget`).
fn bytes_within(previous: u64, next: u64, floor: u64) -> bool {
    previous.abs_diff(next) < (previous / 10).max(floor)
}

const MIB: u64 = 1024 * 1024;

impl Metrics for Process {
    fn within_deadband(previous: &Self, next: &Self) -> bool {
        let held = Process {
            cpu_percent: previous.cpu_percent,
            rss_bytes: previous.rss_bytes,
            threads: previous.threads,
            open_fds: previous.open_fds,
            ..next.clone()
        };
        held == *previous
            && cpu_within(previous.cpu_percent, next.cpu_percent)
            && bytes_within(previous.rss_bytes, next.rss_bytes, MIB)
    }
}

impl Metrics for Container {
    fn within_deadband(previous: &Self, next: &Self) -> bool {
        let held = Container { stats: previous.stats.clone(), ..next.clone() };
        if held != *previous {
            return false;
        }
        match (&previous.stats, &next.stats) {
            (Some(previous), Some(next)) => {
                cpu_within(previous.cpu_percent, next.cpu_percent)
                    && bytes_within(previous.memory_bytes, next.memory_bytes, 4 * MIB)
                    && previous.memory_limit_bytes == next.memory_limit_bytes
            }
            (None, None) => true,
            _ => false,
        }
    }
}

impl Metrics for Socket {
    fn within_deadband(previous: &Self, next: &Self) -> bool {
        let held = Socket { tcp: previous.tcp, ..next.clone() };
        held == *previous && previous.tcp.is_some() == next.tcp.is_some()
    }
}

/// A count moved less than 10 % (at least 2): a `wget` every 0.2 s moves its totals every tick.
fn count_within(previous: u64, next: u64) -> bool {
    previous.abs_diff(next) < (previous / 10).max(2)
}

/// Counts, bytes and open connections of a traced flow are metrics (a `wget` loop has one open
/// at some ticks and none at others), and its totals only grow, so they ride along with the
/// last minute's counts or the refresh; a kind of failure appearing or going, the first closed
/// connection, or the flow going quiet always pass.
impl Metrics for TracedFlow {
    fn within_deadband(previous: &Self, next: &Self) -> bool {
        let kinds = |c: &FlowCounts| [c.refused > 0, c.unanswered > 0, c.reset > 0, c.retransmits > 0];
        let failures = |c: &FlowCounts| c.refused + c.unanswered + c.reset + c.retransmits;
        let counts_within = |a: &FlowCounts, b: &FlowCounts| {
            count_within(a.connections, b.connections) && count_within(failures(a), failures(b))
        };
        previous.id == next.id
            && kinds(&previous.last_minute) == kinds(&next.last_minute)
            && (previous.last_minute.connections == 0) == (next.last_minute.connections == 0)
            && previous.tcp.is_some() == next.tcp.is_some()
            && counts_within(&previous.last_minute, &next.last_minute)
    }
}

impl Metrics for Host {
    fn within_deadband(previous: &Self, next: &Self) -> bool {
        let held = Host {
            uptime_secs: previous.uptime_secs,
            load: previous.load,
            cpu_percent: previous.cpu_percent,
            memory_used_bytes: previous.memory_used_bytes,
            ..next.clone()
        };
        held == *previous
            && (next.cpu_percent - previous.cpu_percent).abs() < 5.0
            && previous.load.iter().zip(next.load).all(|(a, b)| (a - b).abs() < 0.5)
            && bytes_within(previous.memory_used_bytes, next.memory_used_bytes, 64 * MIB)
    }
}

impl Steady {
    pub fn new(refresh: Duration) -> Steady {
        Steady {
            refresh,
            host: None,
            processes: HashMap::new(),
            containers: HashMap::new(),
            sockets: HashMap::new(),
            traced: HashMap::new(),
        }
    }

    /// Holds metrics of `next` at their values in `previous` where they moved within their deadband.
    pub fn settle(&mut self, previous: &Report, next: &mut Report, now: Instant) {
        let refresh = self.refresh;
        let host_published = *self.host.get_or_insert(now);
        if now.duration_since(host_published) < refresh && Host::within_deadband(&previous.host, &next.host) {
            next.host = previous.host.clone();
        } else {
            self.host = Some(now);
        }
        settle_table(&previous.processes, &mut next.processes, &mut self.processes, now, refresh);
        settle_table(&previous.containers, &mut next.containers, &mut self.containers, now, refresh);
        settle_table(&previous.sockets, &mut next.sockets, &mut self.sockets, now, refresh);
        settle_table(&previous.traced, &mut next.traced, &mut self.traced, now, refresh);
    }
}

fn settle_table<E>(
    previous: &Table<E>,
    next: &mut Table<E>,
    published: &mut HashMap<E::Id, Instant>,
    now: Instant,
    refresh: Duration,
) where
    E: Entity + Metrics,
    E::Id: Hash + Eq,
{
    published.retain(|id, _| next.contains(id));
    let ids: Vec<E::Id> = next.ids().cloned().collect();
    for id in ids {
        let Some(entity) = next.get_mut(&id) else { continue };
        let Some(before) = previous.get(&id) else {
            published.insert(id.clone(), spread(&id, now, refresh));
            continue;
        };
        if before == entity {
            continue;
        }
        let at = *published.entry(id.clone()).or_insert_with(|| spread(&id, now, refresh));
        if now.duration_since(at) < refresh && E::within_deadband(before, entity) {
            *entity = before.clone();
        } else {
            published.insert(id, now);
        }
    }
}

/// A publish time in the last `refresh`, fixed per ID, so refreshes spread out.
fn spread<I: Hash>(id: &I, now: Instant, refresh: Duration) -> Instant {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    let millis = refresh.as_millis().max(1) as u64;
    now.checked_sub(Duration::from_millis(hasher.finish() % millis)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use periscope_report::fixtures::ReportBuilder;

    use super::*;

    fn with_cpu(report: &mut Report, pid: u32, cpu: f64) {
        let id = report.processes.ids().find(|id| id.pid == pid).cloned().unwrap();
        report.processes.get_mut(&id).unwrap().cpu_percent = cpu;
    }

    #[test]
    fn small_moves_are_held_large_ones_and_refreshes_pass() {
        let start = Instant::now();
        let refresh = Duration::from_secs(15);
        let mut steady = Steady::new(refresh);
        let previous = ReportBuilder::new("a").process(10, "sh", None).process(11, "sleep", None).build();
        // First sight of the host and processes.
        let mut next = previous.clone();
        steady.settle(&previous, &mut next, start);

        let mut next = previous.clone();
        with_cpu(&mut next, 10, 1.5); // fixture value is 1.0: within 2 points
        with_cpu(&mut next, 11, 9.0);
        steady.settle(&previous, &mut next, start + Duration::from_millis(100));
        let cpu = |report: &Report, pid| report.processes.iter().find(|p| p.id.pid == pid).unwrap().cpu_percent;
        assert_eq!(cpu(&next, 10), 1.0, "held within the deadband");
        assert_eq!(cpu(&next, 11), 9.0, "large move passes");

        let mut later = next.clone();
        with_cpu(&mut later, 10, 1.5);
        steady.settle(&next, &mut later, start + refresh + Duration::from_secs(1));
        assert_eq!(cpu(&later, 10), 1.5, "refreshed after the interval");
    }

    #[test]
    fn deadbands() {
        assert!(cpu_within(0.0, 1.9) && !cpu_within(0.0, 2.1));
        assert!(cpu_within(40.0, 49.0) && !cpu_within(40.0, 55.0));
        assert!(bytes_within(MIB, 3 * MIB, 4 * MIB) && !bytes_within(MIB, 6 * MIB, 4 * MIB));
        assert!(bytes_within(1000 * MIB, 1090 * MIB, MIB) && !bytes_within(1000 * MIB, 1110 * MIB, MIB));
    }

    #[test]
    fn traced_counts_are_held_a_new_failure_passes() {
        use periscope_report::{Direction, FlowOwner};
        let owner = FlowOwner::Command { container: None, name: "wget".into() };
        let previous = ReportBuilder::new("a")
            .traced(
                periscope_report::fixtures::HOST_NETNS,
                Direction::Outbound,
                owner,
                "10.0.0.1:0",
                "10.0.0.2:80",
                300,
                0,
            )
            .build();
        let id = previous.traced.ids().next().cloned().unwrap();
        let mut steady = Steady::new(Duration::from_secs(15));
        let start = Instant::now();
        let mut first = previous.clone();
        steady.settle(&previous, &mut first, start);
        let mut more = previous.clone();
        more.traced.get_mut(&id).unwrap().total.connections = 305;
        steady.settle(&previous, &mut more, start + Duration::from_secs(1));
        assert_eq!(more.traced.get(&id).unwrap().total.connections, 300, "held");
        let mut refused = previous.clone();
        refused.traced.get_mut(&id).unwrap().last_minute.refused = 1;
        steady.settle(&previous, &mut refused, start + Duration::from_secs(1));
        assert_eq!(refused.traced.get(&id).unwrap().last_minute.refused, 1, "a first refusal passes");
    }

    #[test]
    fn non_metric_changes_always_pass() {
        let previous = ReportBuilder::new("a").process(10, "sh", None).build();
        let mut next = previous.clone();
        let id = next.processes.ids().next().cloned().unwrap();
        next.processes.get_mut(&id).unwrap().name = "wget".into();
        let mut steady = Steady::new(Duration::from_secs(15));
        steady.settle(&previous, &mut next, Instant::now());
        assert_eq!(&*next.processes.get(&id).unwrap().name, "wget");
    }
}
