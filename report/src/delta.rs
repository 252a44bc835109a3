//! Deltas between two reports of one probe: upserts and removals by ID.
//!
//! A delta names the sequence number of the report it applies to; applying
//! it to any other base is an error, so a lost frame can never corrupt the
//! app's copy silently: the app asks for a snapshot instead.

use serde::{Deserialize, Serialize};

use crate::container::{Container, Image};
use crate::host::Host;
use crate::id::ProbeId;
use crate::process::Process;
use crate::report::{ProbeMeta, Report};
use crate::socket::{Connection, Socket};
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
        for id in &self.removals {
            table.remove(id);
        }
        for entity in self.upserts {
            table.insert(entity);
        }
    }
}

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
}

/// What changed from `previous` to `next`. Both should come from one probe;
/// the delta carries `next`'s probe, so `apply` rejects it otherwise.
pub fn diff(previous: &Report, next: &Report) -> Delta {
    Delta {
        probe: next.probe.clone(),
        base_seq: previous.seq,
        seq: next.seq,
        timestamp: next.timestamp,
        meta: (previous.meta != next.meta).then(|| next.meta.clone()),
        host: (previous.host != next.host).then(|| next.host.clone()),
        processes: TableDelta::between(&previous.processes, &next.processes),
        containers: TableDelta::between(&previous.containers, &next.containers),
        images: TableDelta::between(&previous.images, &next.images),
        sockets: TableDelta::between(&previous.sockets, &next.sockets),
        connections: TableDelta::between(&previous.connections, &next.connections),
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
    fn delta_names_only_changes() {
        let a = ReportBuilder::new("a").seq(1).process(10, "sh", None).process(11, "sleep", None).build();
        let b = ReportBuilder::new("a").seq(2).process(10, "sh", None).process(12, "wget", None).build();
        let delta = diff(&a, &b);
        assert_eq!(delta.processes.upserts.iter().map(|p| p.id.pid).collect::<Vec<_>>(), [12]);
        assert_eq!(delta.processes.removals.iter().map(|id| id.pid).collect::<Vec<_>>(), [11]);
        assert!(delta.host.is_none() && delta.containers.is_empty());
    }
}
