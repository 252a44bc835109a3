//! Deltas between two reports of one probe: upserts and removals by ID.
//!
//! A delta names the sequence number of the report it applies to; applying
//! it to any other base is an error, so a lost frame can never corrupt the
//! app's copy silently: the app asks for a snapshot instead.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::container::{Container, ContainerStats, Image};
use crate::host::Host;
use crate::id::{ContainerId, ProbeId, ProcessId};
use crate::process::{Process, ProcessMetrics};
use crate::report::{ProbeMeta, Report};
use crate::socket::{Connection, Socket, TracedFlow};
use crate::table::{Entity, Table};
use crate::UnixMillis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub probe: ProbeId,
    /// The `seq` of the report this delta applies to.
    pub base_seq: u64,
    /// The `seq` of the report it produces.
    pub seq: u64,
    pub timestamp: UnixMillis,
    /// Present only when changed.
    pub meta: Option<ProbeMeta>,
    pub host: Option<Host>,
    pub processes: TableDelta<Process>,
    pub containers: TableDelta<Container>,
    pub images: TableDelta<Image>,
    pub sockets: TableDelta<Socket>,
    pub connections: TableDelta<Connection>,
    /// Processes whose metrics alone changed: a few bytes each instead of the whole process.
    pub process_metrics: Vec<(ProcessId, ProcessMetrics)>,
    /// Containers whose stats alone changed.
    pub container_stats: Vec<(ContainerId, Option<ContainerStats>)>,
    pub traced: TableDelta<TracedFlow>,
}

impl Delta {
    /// True when applying it would change nothing but the sequence number and time.
    pub fn is_empty(&self) -> bool {
        self.meta.is_none()
            && self.host.is_none()
            && self.processes.is_empty()
            && self.containers.is_empty()
            && self.images.is_empty()
            && self.sockets.is_empty()
            && self.connections.is_empty()
            && self.process_metrics.is_empty()
            && self.container_stats.is_empty()
            && self.traced.is_empty()
    }
}

/// An entity with a part that moves far more often than the rest (CPU,
/// memory): when only that part changed, a delta carries a patch of it.
pub trait Metered: Entity {
    type Metrics: Clone + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned;

    fn metrics(&self) -> Self::Metrics;
    fn set_metrics(&mut self, metrics: Self::Metrics);
}

impl Metered for Process {
    type Metrics = ProcessMetrics;

    fn metrics(&self) -> ProcessMetrics {
        ProcessMetrics {
            threads: self.threads,
            cpu_percent: self.cpu_percent,
            rss_bytes: self.rss_bytes,
            open_fds: self.open_fds,
        }
    }

    fn set_metrics(&mut self, metrics: ProcessMetrics) {
        self.threads = metrics.threads;
        self.cpu_percent = metrics.cpu_percent;
        self.rss_bytes = metrics.rss_bytes;
        self.open_fds = metrics.open_fds;
    }
}

impl Metered for Container {
    type Metrics = Option<ContainerStats>;

    fn metrics(&self) -> Option<ContainerStats> {
        self.stats.clone()
    }

    fn set_metrics(&mut self, stats: Option<ContainerStats>) {
        self.stats = stats;
    }
}

/// Metric patches by entity ID.
pub type Patches<E> = Vec<(<E as Entity>::Id, <E as Metered>::Metrics)>;

/// Upserts and metric patches from `previous` to `next`.
fn metered_between<E: Metered>(previous: &Table<E>, next: &Table<E>) -> (TableDelta<E>, Patches<E>) {
    let mut upserts = Vec::new();
    let mut patches = Vec::new();
    for entity in next.iter() {
        match previous.get(entity.id()) {
            Some(before) if before == entity => {}
            Some(before) => {
                let mut patched = before.clone();
                patched.set_metrics(entity.metrics());
                if patched == *entity {
                    patches.push((entity.id().clone(), entity.metrics()));
                } else {
                    upserts.push(entity.clone());
                }
            }
            None => upserts.push(entity.clone()),
        }
    }
    let removals = previous.ids().filter(|id| !next.contains(id)).cloned().collect();
    (TableDelta { upserts, removals }, patches)
}

fn patch<E: Metered>(table: &mut Table<E>, patches: Patches<E>) {
    for (id, metrics) in patches {
        if let Some(entity) = table.get_mut(&id) {
            entity.set_metrics(metrics);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct TableDelta<E: Entity> {
    pub upserts: Vec<E>,
    pub removals: Vec<E::Id>,
}

impl<E: Entity> TableDelta<E> {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.removals.is_empty()
    }

    fn between(previous: &Table<E>, next: &Table<E>) -> Self {
        TableDelta {
            upserts: next.iter().filter(|entity| previous.get(entity.id()) != Some(*entity)).cloned().collect(),
            removals: previous.ids().filter(|id| !next.contains(id)).cloned().collect(),
        }
    }

    fn apply_to(self, table: &mut Table<E>) {
        let mut reshaped = 0;
        for id in &self.removals {
            reshaped += usize::from(table.remove(id).is_some());
        }
        for entity in self.upserts {
            reshaped += usize::from(table.insert(entity).is_none());
        }
        // Entities come and go (a process a second on a busy host): keep the tree's nodes full.
        // Small tables cost microseconds to rebuild; a big one waits for an eighth of it to change.
        if reshaped > 0 && (table.len() <= COMPACT_ALWAYS_UP_TO || reshaped * 8 >= table.len()) {
            table.compact();
        }
    }
}

/// Tables up to this size are rebuilt after every delta that adds or removes an entity.
const COMPACT_ALWAYS_UP_TO: usize = 4096;

impl<E: Entity> Default for TableDelta<E> {
    fn default() -> Self {
        TableDelta { upserts: Vec::new(), removals: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("delta from probe {delta} applied to the report of probe {state}")]
    WrongProbe { state: ProbeId, delta: ProbeId },
    #[error("delta based on seq {base_seq} applied to a report at seq {state_seq}")]
    WrongBase { state_seq: u64, base_seq: u64 },
    #[error("delta patches the metrics of {0}, which the report does not hold")]
    UnknownEntity(String),
}

/// What changed from `previous` to `next`. Both should come from one probe;
/// the delta carries `next`'s probe, so `apply` rejects it otherwise.
pub fn diff(previous: &Report, next: &Report) -> Delta {
    let (processes, process_metrics) = metered_between(&previous.processes, &next.processes);
    let (containers, container_stats) = metered_between(&previous.containers, &next.containers);
    Delta {
        probe: next.probe.clone(),
        base_seq: previous.seq,
        seq: next.seq,
        timestamp: next.timestamp,
        meta: (previous.meta != next.meta).then(|| next.meta.clone()),
        host: (previous.host != next.host).then(|| next.host.clone()),
        processes,
        containers,
        images: TableDelta::between(&previous.images, &next.images),
        sockets: TableDelta::between(&previous.sockets, &next.sockets),
        connections: TableDelta::between(&previous.connections, &next.connections),
        process_metrics,
        container_stats,
        traced: TableDelta::between(&previous.traced, &next.traced),
    }
}

/// Brings `state` to the report `delta` was made from. On error `state` is untouched.
pub fn apply(state: &mut Report, delta: Delta) -> Result<(), ApplyError> {
    if state.probe != delta.probe {
        return Err(ApplyError::WrongProbe { state: state.probe.clone(), delta: delta.probe });
    }
    if state.seq != delta.base_seq {
        return Err(ApplyError::WrongBase { state_seq: state.seq, base_seq: delta.base_seq });
    }
    // Patches name entities kept from the base: check them all before changing anything.
    if let Some((id, _)) = delta.process_metrics.iter().find(|(id, _)| !state.processes.contains(id)) {
        return Err(ApplyError::UnknownEntity(format!("process {id}")));
    }
    if let Some((id, _)) = delta.container_stats.iter().find(|(id, _)| !state.containers.contains(id)) {
        return Err(ApplyError::UnknownEntity(format!("container {id}")));
    }
    state.seq = delta.seq;
    state.timestamp = delta.timestamp;
    if let Some(meta) = delta.meta {
        state.meta = meta;
    }
    if let Some(host) = delta.host {
        state.host = host;
    }
    delta.processes.apply_to(&mut state.processes);
    delta.containers.apply_to(&mut state.containers);
    delta.images.apply_to(&mut state.images);
    delta.sockets.apply_to(&mut state.sockets);
    delta.connections.apply_to(&mut state.connections);
    delta.traced.apply_to(&mut state.traced);
    patch(&mut state.processes, delta.process_metrics);
    patch(&mut state.containers, delta.container_stats);
    Ok(())
}

impl Delta {
    /// The delta for a report filed under another host ID (see [`Report::rekey_host`]).
    pub fn rekey_host(&mut self, host: &crate::id::HostId) {
        if let Some(changed) = self.host.as_mut() {
            changed.id = host.clone();
        }
        for process in &mut self.processes.upserts {
            process.id.host = host.clone();
        }
        for id in &mut self.processes.removals {
            id.host = host.clone();
        }
        for (id, _) in &mut self.process_metrics {
            id.host = host.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fixtures::{arb_report, ReportBuilder};

    proptest! {
        #[test]
        fn apply_of_diff_gives_next(previous in arb_report(), next in arb_report()) {
            let mut next = next;
            next.probe = previous.probe.clone();
            let mut state = previous.clone();
            apply(&mut state, diff(&previous, &next)).unwrap();
            prop_assert_eq!(state, next);
        }

        #[test]
        fn apply_of_diff_gives_next_when_metrics_move(
            previous in arb_report(),
            moves in prop::collection::vec((any::<prop::sample::Index>(), 0u32..4000, any::<u64>(), any::<bool>()), 0..8),
        ) {
            let mut next = previous.clone();
            next.seq = previous.seq.wrapping_add(1);
            let ids: Vec<_> = next.processes.ids().cloned().collect();
            for (index, tenths, rss, rename) in moves {
                if ids.is_empty() {
                    break;
                }
                let process = next.processes.get_mut(index.get(&ids)).unwrap();
                process.cpu_percent = f64::from(tenths) / 10.0;
                process.rss_bytes = rss;
                if rename {
                    process.name = format!("{}-renamed", process.name).into();
                }
            }
            let mut state = previous.clone();
            apply(&mut state, diff(&previous, &next)).unwrap();
            prop_assert_eq!(state, next);
        }

        #[test]
        fn diff_of_equal_reports_is_empty(report in arb_report()) {
            prop_assert!(diff(&report, &report).is_empty());
        }
    }

    #[test]
    fn wrong_base_is_rejected_and_state_kept() {
        let a = ReportBuilder::new("a").seq(1).process(10, "sh", None).build();
        let b = ReportBuilder::new("a").seq(2).process(11, "sleep", None).build();
        let c = ReportBuilder::new("a").seq(3).build();
        let mut state = a.clone();
        let skipped = diff(&b, &c);
        assert_eq!(apply(&mut state, skipped), Err(ApplyError::WrongBase { state_seq: 1, base_seq: 2 }));
        assert_eq!(state, a);
    }

    #[test]
    fn wrong_probe_is_rejected() {
        let a = ReportBuilder::new("a").seq(1).build();
        let b = ReportBuilder::new("b").seq(2).build();
        let mut state = a.clone();
        assert!(matches!(apply(&mut state, diff(&a, &b)), Err(ApplyError::WrongProbe { .. })));
        assert_eq!(state, a);
    }

    #[test]
    fn a_change_of_metrics_alone_is_a_patch_not_an_upsert() {
        let a = ReportBuilder::new("a")
            .seq(1)
            .process(10, "sh", None)
            .process(11, "nginx", Some("web"))
            .container("web", "web", "nginx", "172.17.0.2")
            .build();
        let mut b = a.clone();
        b.seq = 2;
        let sh = b.processes.iter().find(|p| p.id.pid == 10).unwrap().id.clone();
        b.processes.get_mut(&sh).unwrap().cpu_percent = 42.5;
        let nginx = b.processes.iter().find(|p| p.id.pid == 11).unwrap().id.clone();
        b.processes.get_mut(&nginx).unwrap().name = "nginx: worker".into();
        b.containers.get_mut(&crate::id::ContainerId::new("web")).unwrap().stats = Some(ContainerStats {
            cpu_percent: 3.0,
            memory_bytes: 7,
            memory_limit_bytes: None,
            network_rx_bytes: 1,
            network_tx_bytes: 2,
        });
        let delta = diff(&a, &b);
        assert_eq!(
            delta.process_metrics.iter().map(|(id, m)| (id.pid, m.cpu_percent)).collect::<Vec<_>>(),
            [(10, 42.5)]
        );
        assert_eq!(delta.processes.upserts.iter().map(|p| p.id.pid).collect::<Vec<_>>(), [11]);
        assert_eq!(delta.container_stats.len(), 1);
        assert!(delta.containers.is_empty());
        let mut state = a.clone();
        apply(&mut state, delta.clone()).unwrap();
        assert_eq!(state, b);

        // A patch for something the base lacks is refused, and the state kept.
        let mut other = ReportBuilder::new("a").seq(1).build();
        assert!(matches!(apply(&mut other, delta), Err(ApplyError::UnknownEntity(_))));
        assert_eq!(other, ReportBuilder::new("a").seq(1).build());
    }

    #[test]
    fn delta_names_only_changes() {
        let a = ReportBuilder::new("a").seq(1).process(10, "sh", None).process(11, "sleep", None).build();
        let b = ReportBuilder::new("a").seq(2).process(10, "sh", None).process(12, "wget", None).build();
        let delta = diff(&a, &b);
        assert_eq!(delta.processes.upserts.iter().map(|p| p.id.pid).collect::<Vec<_>>(), [12]);
        assert_eq!(delta.processes.removals.iter().map(|id| id.pid).collect::<Vec<_>>(), [11]);
        assert!(delta.host.is_none() && delta.containers.is_empty());
    }
}
