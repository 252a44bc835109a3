//! The merged model: the latest report of every connected probe.
//!
//! Ingest replaces a probe's report with a snapshot or brings it forward with
//! a delta; render reads it. Every change bumps the generation and names the
//! probe it touched, so render redoes only that probe's share.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use periscope_report::{apply, ApplyError, Container, ContainerId, Delta, HostId, ProbeId, Process, ProcessId, Report};

#[derive(Debug, Default)]
pub struct Model {
    reports: BTreeMap<ProbeId, Report>,
    /// Which probe reports a host; the last one to send a snapshot wins.
    host_probes: HashMap<HostId, ProbeId>,
    generation: u64,
    /// Probes changed since render last looked.
    changed: BTreeSet<ProbeId>,
}

impl Model {
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn reports(&self) -> impl Iterator<Item = &Report> {
        self.reports.values()
    }

    pub fn report(&self, probe: &ProbeId) -> Option<&Report> {
        self.reports.get(probe)
    }

    pub fn host_report(&self, host: &HostId) -> Option<&Report> {
        self.host_probes.get(host).and_then(|probe| self.reports.get(probe))
    }

    pub fn process(&self, id: &ProcessId) -> Option<&Process> {
        self.host_report(&id.host)?.processes.get(id)
    }

    /// A container by ID, searched in every report (render keeps an index for hot paths).
    pub fn container(&self, id: &ContainerId) -> Option<(&Report, &Container)> {
        self.reports.values().find_map(|report| report.containers.get(id).map(|container| (report, container)))
    }

    pub fn len(&self) -> usize {
        self.reports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }

    /// Replaces the probe's report with a full one.
    pub fn insert_snapshot(&mut self, report: Report) {
        let probe = report.probe.clone();
        if let Some(previous) = self.reports.get(&probe) {
            if previous.host.id != report.host.id {
                self.host_probes.remove(&previous.host.id);
            }
        }
        self.host_probes.insert(report.host.id.clone(), probe.clone());
        self.reports.insert(probe.clone(), report);
        self.touch(probe);
    }

    /// Brings a probe's report forward. `Ok(false)` when the app holds no report of that probe.
    pub fn apply_delta(&mut self, delta: Delta) -> Result<bool, ApplyError> {
        let probe = delta.probe.clone();
        let Some(report) = self.reports.get_mut(&probe) else { return Ok(false) };
        let old_host = report.host.id.clone();
        apply(report, delta)?;
        if report.host.id != old_host {
            self.host_probes.remove(&old_host);
            self.host_probes.insert(report.host.id.clone(), probe.clone());
        }
        self.touch(probe);
        Ok(true)
    }

    /// Files a probe's report under another host ID (see [`crate::registry::HostAlias`]).
    pub fn rekey_host(&mut self, probe: &ProbeId, host: &HostId) {
        let Some(report) = self.reports.get_mut(probe) else { return };
        if self.host_probes.get(&report.host.id) == Some(probe) {
            self.host_probes.remove(&report.host.id);
        }
        report.rekey_host(host);
        self.host_probes.insert(host.clone(), probe.clone());
        self.touch(probe.clone());
    }

    /// Drops a probe's report and with it every node it contributed.
    pub fn remove(&mut self, probe: &ProbeId) -> Option<Report> {
        let report = self.reports.remove(probe)?;
        if self.host_probes.get(&report.host.id) == Some(probe) {
            self.host_probes.remove(&report.host.id);
        }
        self.touch(probe.clone());
        Some(report)
    }

    /// The probes changed since the last call.
    pub fn take_changed(&mut self) -> BTreeSet<ProbeId> {
        std::mem::take(&mut self.changed)
    }

    fn touch(&mut self, probe: ProbeId) {
        self.generation += 1;
        self.changed.insert(probe);
    }
}
