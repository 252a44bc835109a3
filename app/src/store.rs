//! The store: the merged model, its renderer, metric history and the probe
//! registry, changed together under one lock.
//!
//! Everything here is synchronous and takes `now` as an argument; the async
//! parts (sockets, timers, fan-out to clients) live in [`crate::state`].

use std::collections::HashMap;

use periscope_report::{ApplyError, Delta, ProbeId, Report, UnixMillis};

use crate::history::History;
use crate::model::Model;
use crate::node_id::NodeId;
use crate::registry::Registry;
use crate::render::details::details;
use crate::render::output::{NodeDetails, ViewGraph};
use crate::render::view_state::{Changes, SentView};
use crate::render::Renderer;
use crate::view::{ViewId, ViewOptions};

/// How long counts of a view nobody keeps may lag a model that keeps changing.
pub const COUNTS_MAX_AGE_MS: u64 = 2_000;

/// A view's node and edge counts with default options, as of a model generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub generation: u64,
    pub at: UnixMillis,
    pub nodes: usize,
    pub edges: usize,
}

#[derive(Debug, Default)]
pub struct Store {
    pub model: Model,
    pub renderer: Renderer,
    pub history: History,
    pub registry: Registry,
    /// When each view was last asked for over REST.
    last_requested: HashMap<ViewId, UnixMillis>,
    counts: HashMap<(ViewId, ViewOptions), Counts>,
}

/// What happened to a delta.
#[derive(Debug, PartialEq, Eq)]
pub enum DeltaOutcome {
    Applied,
    /// The app holds no report of this probe: a snapshot is needed.
    Unknown,
    Gap(ApplyError),
}

impl Store {
    pub fn insert_snapshot(&mut self, report: Report, now: UnixMillis) {
        self.history.sample(&report, now);
        self.model.insert_snapshot(report);
    }

    pub fn apply_delta(&mut self, delta: Delta, now: UnixMillis) -> DeltaOutcome {
        let probe = delta.probe.clone();
        match self.model.apply_delta(delta) {
            Ok(true) => {
                if let Some(report) = self.model.report(&probe) {
                    self.history.sample(report, now);
                }
                DeltaOutcome::Applied
            }
            Ok(false) => DeltaOutcome::Unknown,
            Err(error) => DeltaOutcome::Gap(error),
        }
    }

    pub fn remove_probe(&mut self, probe: &ProbeId) {
        self.model.remove(probe);
        self.history.remove_probe(probe);
    }

    /// Brings kept views up to date; the changes are for their clients.
    pub fn update(&mut self) -> Vec<(ViewId, Changes)> {
        self.renderer.update(&mut self.model)
    }

    /// Makes `view` current and kept; returns changes of other views made on the way.
    pub fn ready(&mut self, view: ViewId, now: UnixMillis) -> Vec<(ViewId, Changes)> {
        self.last_requested.insert(view, now);
        let mut changes = self.renderer.update(&mut self.model);
        self.renderer.materialize(view, &mut self.model);
        changes.extend(self.renderer.take_deferred_changes());
        changes
    }

    pub fn graph(&self, view: ViewId, options: &ViewOptions) -> Option<ViewGraph> {
        let state = self.renderer.view(view)?;
        let (nodes, edges) = state.full(options);
        Some(ViewGraph { view: view.as_str(), nodes, edges })
    }

    pub fn snapshot(&self, view: ViewId, options: &ViewOptions) -> Option<(ViewGraph, SentView)> {
        let state = self.renderer.view(view)?;
        let (nodes, edges, sent) = state.snapshot(options);
        Some((ViewGraph { view: view.as_str(), nodes, edges }, sent))
    }

    pub fn details(&self, view: ViewId, node: &NodeId, options: &ViewOptions) -> Option<NodeDetails> {
        let state = self.renderer.view(view)?;
        details(&self.renderer.ctx(&self.model), state, node, options, &self.history)
    }

    /// Node and edge counts with `options`: from the kept view when there is
    /// one, else from a render cached for this model generation (or, on a busy
    /// model that changes every moment, for up to [`COUNTS_MAX_AGE_MS`]).
    pub fn counts(&mut self, view: ViewId, options: &ViewOptions, now: UnixMillis) -> (Counts, Vec<(ViewId, Changes)>) {
        let generation = self.model.generation();
        if let Some(state) = self.renderer.view(view) {
            let (nodes, edges) = state.counts(options);
            return (Counts { generation, at: now, nodes, edges }, Vec::new());
        }
        let fresh = |c: &&Counts| c.generation == generation || now.0.saturating_sub(c.at.0) < COUNTS_MAX_AGE_MS;
        if let Some(counts) = self.counts.get(&(view, *options)).filter(fresh) {
            return (*counts, Vec::new());
        }
        let mut changes = self.renderer.update(&mut self.model);
        self.renderer.materialize(view, &mut self.model);
        changes.extend(self.renderer.take_deferred_changes());
        let (nodes, edges) = self.renderer.view(view).map(|s| s.counts(options)).unwrap_or_default();
        self.renderer.forget(view);
        let counts = Counts { generation: self.model.generation(), at: now, nodes, edges };
        // Options come from clients: keep one generation's worth, not every combination ever asked.
        self.counts.retain(|_, kept| {
            kept.generation == counts.generation || now.0.saturating_sub(kept.at.0) < COUNTS_MAX_AGE_MS
        });
        self.counts.insert((view, *options), counts);
        (counts, changes)
    }

    /// Counts without rendering: from the kept view, else the last cached render (maybe older).
    pub fn counts_if_known(&self, view: ViewId) -> Option<Counts> {
        let generation = self.model.generation();
        match self.renderer.view(view) {
            Some(state) => {
                let (nodes, edges) = state.counts(&ViewOptions::defaults_for(view));
                Some(Counts { generation, at: UnixMillis(0), nodes, edges })
            }
            None => self.counts.get(&(view, ViewOptions::defaults_for(view))).copied(),
        }
    }

    /// Stops keeping views that nobody watches (`watched`) or asked for since `deadline`.
    pub fn forget_idle(&mut self, deadline: UnixMillis, watched: impl Fn(ViewId) -> bool) {
        let idle: Vec<ViewId> = self
            .renderer
            .materialized()
            .filter(|view| !watched(*view))
            .filter(|view| self.last_requested.get(view).is_none_or(|at| *at < deadline))
            .collect();
        for view in idle {
            self.renderer.forget(view);
        }
    }
}
