//! A view as it was: the model rebuilt at a past moment, rendered by its own
//! `Renderer` exactly as the live views are, and played forward on demand.
//! Blocking (it reads the store): callers run it off the async workers.

use periscope_report::{ProbeId, UnixMillis};

use crate::archive::replay::apply_change;
use crate::archive::{Archive, ArchiveError};
use crate::history::{History, MetricKey};
use crate::model::Model;
use crate::node_id::NodeId;
use crate::render::details::{details, member_keys};
use crate::render::output::{NodeDetails, ViewGraph};
use crate::render::sent::SentView;
use crate::render::view_state::{Changes, ViewState};
use crate::render::Renderer;
use crate::view::{ViewId, ViewOptions};

/// How far back details' samples go by default: what the live details show.
pub const DETAILS_SPAN_MS: u64 = 15 * 60 * 1000;

pub struct PastView {
    pub view: ViewId,
    pub at: UnixMillis,
    model: Model,
    renderer: Renderer,
}

impl PastView {
    /// The view as it was at `at`.
    pub fn build(archive: &Archive, view: ViewId, at: UnixMillis) -> Result<PastView, ArchiveError> {
        let mut model = archive.model_at(at)?;
        let mut renderer = Renderer::new();
        renderer.materialize(view, &mut model);
        Ok(PastView { view, at, model, renderer })
    }

    fn state(&self) -> &ViewState {
        self.renderer.view(self.view).expect("materialized in build and never forgotten")
    }

    pub fn graph(&self, options: &ViewOptions) -> ViewGraph {
        let (nodes, edges) = self.state().full(options);
        ViewGraph { view: self.view.as_str(), nodes, edges }
    }

    pub fn snapshot(&self, options: &ViewOptions) -> (ViewGraph, SentView) {
        let (nodes, edges, sent) = self.state().snapshot(options);
        (ViewGraph { view: self.view.as_str(), nodes, edges }, sent)
    }

    pub fn diff(
        &self,
        options: &ViewOptions,
        sent: &mut SentView,
        changes: &Changes,
    ) -> (
        crate::render::output::ChangeSet<crate::render::output::Node>,
        crate::render::output::ChangeSet<crate::render::output::Edge>,
    ) {
        self.state().diff(options, sent, changes)
    }

    /// The node's details, with samples from `from` to the view's moment.
    pub fn details(
        &self,
        archive: &Archive,
        node: &NodeId,
        from: UnixMillis,
    ) -> Result<Option<NodeDetails>, ArchiveError> {
        let ctx = self.renderer.ctx(&self.model);
        let probes = probes_of(&self.model, &member_keys(&ctx, node), node);
        let history: History = archive.samples(&probes, from, self.at)?;
        let options = crate::view::ViewOptions::defaults_for(self.state().view);
        Ok(details(&ctx, self.state(), node, &options, &history))
    }

    /// Plays the view forward to `to`; returns what changed, for clients' diffs.
    pub fn advance(&mut self, archive: &Archive, to: UnixMillis) -> Result<Changes, ArchiveError> {
        let mut changes = Changes::default();
        if to <= self.at {
            return Ok(changes);
        }
        for change in archive.changes_between(self.at, to)? {
            apply_change(&mut self.model, change);
        }
        self.at = to;
        for (_, more) in self.renderer.update(&mut self.model) {
            changes.extend(more);
        }
        Ok(changes)
    }
}

/// The probes that report the entities behind a node's metrics.
fn probes_of(model: &Model, keys: &[MetricKey], node: &NodeId) -> Vec<ProbeId> {
    let mut probes: Vec<ProbeId> = keys
        .iter()
        .filter_map(|key| match key {
            MetricKey::Host(host) => model.host_report(host),
            MetricKey::Container(container) => model.container(container).map(|(report, _)| report),
            MetricKey::Process(process) => model.host_report(&process.host),
        })
        .map(|report| report.probe.clone())
        .collect();
    if let NodeId::Host(host) = node {
        probes.extend(model.host_report(host).map(|r| r.probe.clone()));
    }
    probes.sort();
    probes.dedup();
    probes
}
