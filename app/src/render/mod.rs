//! Render: from the merged model to views, incrementally and without I/O.
//!
//! [`Renderer`] keeps, per probe, an address index ([`index`]) and the
//! probe's connections resolved to entity edges ([`resolve`]), and for each
//! materialized view a [`view_state::ViewState`] holding every host's share
//! of nodes and edges. When probes change, only they (and the hosts whose
//! connections pointed at addresses that changed meaning) are redone, and
//! each view reports which nodes and edges changed, which is what clients are
//! sent. Views nobody watches are not kept up to date at all.
//!
//! One module per view (`processes`, `containers_by_image`, …) says which
//! nodes a host contributes and where a connection end lands; [`ops`] holds
//! the steps they share. Nothing here awaits, locks or reads the clock.

pub mod address;
pub mod compose;
pub mod containers;
pub mod containers_by_hostname;
pub mod containers_by_image;
pub mod details;
pub mod edge_key;
pub mod hosts;
pub mod index;
pub mod ops;
pub mod output;
pub mod part;
pub mod processes;
pub mod processes_by_name;
pub mod resolve;
pub mod sent;
pub mod sorted_map;
pub mod view_state;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use periscope_report::{ProbeId, Report};

use crate::model::Model;
use crate::render::address::{ScopedIp, Slot};
use crate::render::index::{GlobalIndex, HostIndex};
use crate::render::ops::Ctx;
use crate::render::resolve::{resolve_host, EntityEdge, Resolved};
use crate::render::view_state::{Changes, HostShare, ViewState};
use crate::view::ViewId;

#[derive(Debug, Default)]
pub struct Renderer {
    slots: HashMap<ProbeId, Slot>,
    slot_probes: HashMap<Slot, ProbeId>,
    next_slot: u32,
    global: GlobalIndex,
    resolved: HashMap<Slot, Resolved>,
    dependents: HashMap<ScopedIp, HashSet<Slot>>,
    /// Probes changed in the model and not yet indexed.
    pending: BTreeSet<ProbeId>,
    /// False while no view is kept: then nothing is resolved until one is asked for.
    resolved_current: bool,
    views: BTreeMap<ViewId, ViewState>,
    /// Probes whose reports are gone: their slots are freed once every view dropped their shares.
    gone: Vec<ProbeId>,
    deferred_changes: Vec<(ViewId, Changes)>,
}

impl Renderer {
    pub fn new() -> Self {
        Renderer::default()
    }

    pub fn is_materialized(&self, view: ViewId) -> bool {
        self.views.contains_key(&view)
    }

    pub fn materialized(&self) -> impl Iterator<Item = ViewId> + '_ {
        self.views.keys().copied()
    }

    pub fn view(&self, view: ViewId) -> Option<&ViewState> {
        self.views.get(&view)
    }

    pub fn ctx<'a>(&'a self, model: &'a Model) -> Ctx<'a> {
        Ctx { model, global: &self.global, slot_probes: &self.slot_probes }
    }

    /// Every resolved connection of one probe (for details and debugging).
    pub fn edges_of(&self, probe: &ProbeId) -> &[EntityEdge] {
        self.slots.get(probe).and_then(|slot| self.resolved.get(slot)).map(|r| r.edges.as_slice()).unwrap_or(&[])
    }

    pub fn all_edges(&self) -> impl Iterator<Item = &EntityEdge> {
        self.resolved.values().flat_map(|resolved| &resolved.edges)
    }

    /// Takes in the probes the model changed and brings every kept view up to date.
    pub fn update(&mut self, model: &mut Model) -> Vec<(ViewId, Changes)> {
        self.pending.extend(model.take_changed());
        if self.views.is_empty() {
            self.resolved_current = false;
            return Vec::new();
        }
        let dirty = self.flush(model);
        self.reshare(model, &dirty, None)
    }

    /// Keeps `view` up to date from now on, building it if needed.
    pub fn materialize(&mut self, view: ViewId, model: &mut Model) {
        self.pending.extend(model.take_changed());
        if self.views.contains_key(&view) {
            return;
        }
        // Other kept views must see the pending changes too, before this one starts from the present.
        let dirty = self.flush(model);
        let changes = self.reshare(model, &dirty, None);
        self.deferred_changes.extend(changes);
        let mut state = ViewState::new(view);
        let slots: Vec<Slot> = self.slot_probes.keys().copied().collect();
        for slot in slots {
            let share = self.share(model, view, slot);
            state.replace_host(slot, share);
        }
        self.views.insert(view, state);
    }

    /// Changes produced while materializing another view, for the caller to publish.
    pub fn take_deferred_changes(&mut self) -> Vec<(ViewId, Changes)> {
        std::mem::take(&mut self.deferred_changes)
    }

    pub fn forget(&mut self, view: ViewId) {
        self.views.remove(&view);
    }

    /// Indexes pending probes and resolves what they affect; returns the hosts to reshare.
    fn flush(&mut self, model: &Model) -> HashSet<Slot> {
        let mut dirty = HashSet::new();
        let mut gone = Vec::new();
        for probe in std::mem::take(&mut self.pending) {
            let report = model.report(&probe);
            let slot = match (self.slots.get(&probe), report) {
                (Some(slot), _) => *slot,
                (None, Some(_)) => self.allocate(&probe),
                (None, None) => continue,
            };
            let index = report.map(|report| HostIndex::build(slot, report));
            if index.is_none() {
                gone.push(probe.clone());
            }
            for ip in self.global.replace(slot, index) {
                if let Some(hosts) = self.dependents.get(&ip) {
                    dirty.extend(hosts.iter().copied());
                }
            }
            dirty.insert(slot);
        }
        if !self.resolved_current {
            dirty.extend(self.slot_probes.keys().copied());
            self.resolved_current = true;
        }
        for &slot in &dirty {
            if let Some(old) = self.resolved.remove(&slot) {
                for ip in &old.lookups {
                    if let Some(hosts) = self.dependents.get_mut(ip) {
                        hosts.remove(&slot);
                        if hosts.is_empty() {
                            self.dependents.remove(ip);
                        }
                    }
                }
            }
            let Some(report) = self.slot_probes.get(&slot).and_then(|probe| model.report(probe)) else { continue };
            let resolved = resolve_host(slot, report, &self.global);
            for ip in &resolved.lookups {
                self.dependents.entry(*ip).or_default().insert(slot);
            }
            self.resolved.insert(slot, resolved);
        }
        self.gone.extend(gone);
        dirty
    }

    /// Recomputes the shares of `dirty` hosts in every kept view (or only `only`).
    fn reshare(&mut self, model: &Model, dirty: &HashSet<Slot>, only: Option<ViewId>) -> Vec<(ViewId, Changes)> {
        let views: Vec<ViewId> = self.views.keys().copied().filter(|v| only.is_none_or(|o| o == *v)).collect();
        let mut all = Vec::new();
        for view in views {
            let mut changes = Changes::default();
            for &slot in dirty {
                let share = self.share(model, view, slot);
                if let Some(state) = self.views.get_mut(&view) {
                    changes.extend(state.replace_host(slot, share));
                }
            }
            if !changes.is_empty() {
                all.push((view, changes));
            }
        }
        for probe in std::mem::take(&mut self.gone) {
            if let Some(slot) = self.slots.remove(&probe) {
                self.slot_probes.remove(&slot);
            }
        }
        all
    }

    fn share(&self, model: &Model, view: ViewId, slot: Slot) -> HostShare {
        let Some(report) = self.slot_probes.get(&slot).and_then(|probe| model.report(probe)) else {
            return HostShare::default();
        };
        let edges = self.resolved.get(&slot).map(|r| r.edges.as_slice()).unwrap_or(&[]);
        let ctx = self.ctx(model);
        view_share(&ctx, view, report, edges)
    }

    fn allocate(&mut self, probe: &ProbeId) -> Slot {
        let slot = Slot(self.next_slot);
        self.next_slot += 1;
        self.slots.insert(probe.clone(), slot);
        self.slot_probes.insert(slot, probe.clone());
        slot
    }
}

/// One host's share of one view.
pub fn view_share(ctx: &Ctx<'_>, view: ViewId, report: &Report, edges: &[EntityEdge]) -> HostShare {
    match view {
        ViewId::Processes => ops::share(ctx, report, edges, processes::nodes, processes::endpoint),
        ViewId::ProcessesByName => {
            ops::share(ctx, report, edges, processes_by_name::nodes, processes_by_name::endpoint)
        }
        ViewId::Containers => ops::share(ctx, report, edges, containers::nodes, containers::endpoint),
        ViewId::ContainersByImage => {
            ops::share(ctx, report, edges, containers_by_image::nodes, containers_by_image::endpoint)
        }
        ViewId::ContainersByHostname => {
            ops::share(ctx, report, edges, containers_by_hostname::nodes, containers_by_hostname::endpoint)
        }
        ViewId::Compose => ops::share(ctx, report, edges, compose::nodes, compose::endpoint),
        ViewId::Hosts => ops::share(ctx, report, edges, hosts::nodes, hosts::endpoint),
    }
}

#[cfg(test)]
mod tests;
