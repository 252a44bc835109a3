//! The store: the merged model, its renderer, metric history, the probe
//! registry and the view subscriptions, changed together on one thread.
//!
//! Everything here is synchronous and takes `now` as an argument; the store
//! thread ([`crate::store_thread`]) runs it, and the async parts (sockets,
//! timers) live in [`crate::state`] and [`crate::api`]. Every view is kept
//! rendered, so a read never renders from scratch and counts are cheap.

use std::sync::Arc;
use std::time::Instant;

use periscope_report::{ApplyError, Delta, HostId, ProbeId, Report, UnixMillis};

use crate::history::History;
use crate::metrics::Metrics;
use crate::model::Model;
use crate::node_id::NodeId;
use crate::registry::Registry;
use crate::render::details::details;
use crate::render::output::{NodeDetails, ViewGraph};
use crate::render::view_state::Changes;
use crate::render::Renderer;
use crate::subscriptions::{ClientId, Outbox, SubscribeError, Subscriptions};
use crate::view::{ViewId, ViewOptions};

/// A view's node and edge counts with some options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub nodes: usize,
    pub edges: usize,
}

#[derive(Debug)]
pub struct Store {
    pub model: Model,
    pub renderer: Renderer,
    pub history: History,
    pub registry: Registry,
    pub subscriptions: Subscriptions,
    metrics: Arc<Metrics>,
    /// The model generation the views were last rendered at.
    rendered: u64,
}

/// What happened to a delta.
#[derive(Debug, PartialEq, Eq)]
pub enum DeltaOutcome {
    Applied,
    /// The app holds no report of this probe: a snapshot is needed.
    Unknown,
    Gap(ApplyError),
}

impl Default for Store {
    fn default() -> Self {
        Store::new(Arc::new(Metrics::default()))
    }
}

impl Store {
    pub fn new(metrics: Arc<Metrics>) -> Store {
        let mut model = Model::default();
        let mut renderer = Renderer::new();
        for view in ViewId::ALL {
            renderer.materialize(view, &mut model);
        }
        renderer.take_deferred_changes();
        Store {
            model,
            renderer,
            history: History::default(),
            registry: Registry::default(),
            subscriptions: Subscriptions::default(),
            metrics,
            rendered: 0,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn insert_snapshot(&mut self, mut report: Report, now: UnixMillis) {
        if let Some(alias) = self.registry.host_alias(&report.probe) {
            report.rekey_host(alias);
        }
        self.history.sample(&report, now);
        self.model.insert_snapshot(report);
    }

    pub fn apply_delta(&mut self, mut delta: Delta, now: UnixMillis) -> DeltaOutcome {
        if let Some(alias) = self.registry.host_alias(&delta.probe) {
            delta.rekey_host(alias);
        }
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

    /// True when the model changed since the views were last rendered.
    pub fn is_dirty(&self) -> bool {
        self.model.generation() != self.rendered
    }

    /// Renders what changed into every view and sends the diffs to subscribers.
    pub fn flush(&mut self) -> Vec<(ViewId, Changes)> {
        if !self.is_dirty() {
            return Vec::new();
        }
        let started = Instant::now();
        let changes = self.renderer.update(&mut self.model);
        self.rendered = self.model.generation();
        self.subscriptions.publish(&self.renderer, &changes, &self.metrics);
        self.metrics.record_render(started.elapsed());
        changes
    }

    /// Subscribes a view client; its outbox gets the full view, then diffs.
    pub fn subscribe(
        &mut self,
        view: ViewId,
        options: ViewOptions,
        outbox: Outbox,
    ) -> Result<ClientId, SubscribeError> {
        self.flush();
        self.subscriptions.subscribe(&self.renderer, view, options, outbox)
    }

    pub fn unsubscribe(&mut self, client: ClientId) {
        self.subscriptions.unsubscribe(client);
    }

    pub fn graph(&mut self, view: ViewId, options: &ViewOptions) -> Option<ViewGraph> {
        self.flush();
        let state = self.renderer.view(view)?;
        let (nodes, edges) = state.full(options);
        Some(ViewGraph { view: view.as_str(), nodes, edges })
    }

    pub fn details(&mut self, view: ViewId, node: &NodeId) -> Option<NodeDetails> {
        self.flush();
        let state = self.renderer.view(view)?;
        details(&self.renderer.ctx(&self.model), state, node, &self.history)
    }

    /// Node and edge counts of a view with these options.
    pub fn counts(&mut self, view: ViewId, options: &ViewOptions) -> Counts {
        self.flush();
        self.counts_now(view, options)
    }

    /// Counts as of the last render, without rendering (for scrapes).
    pub fn counts_now(&self, view: ViewId, options: &ViewOptions) -> Counts {
        let (nodes, edges) = self.renderer.view(view).map(|state| state.counts(options)).unwrap_or_default();
        Counts { nodes, edges }
    }

    /// The probe reporting `host` now, other than `probe`.
    pub fn host_owner(&self, host: &HostId, probe: &ProbeId) -> Option<ProbeId> {
        self.model.reports().find(|report| report.host.id == *host && report.probe != *probe).map(|r| r.probe.clone())
    }
}
