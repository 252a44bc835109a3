//! Edge events: the writer's own copy of the model rendered into the
//! containers view, so "edge first seen" and "edge gone" mean exactly what
//! the map shows. An edge that vanishes and comes back within [`GONE_AFTER_MS`]
//! (a connection re-opened between two probe ticks) is no event at all. An
//! edge whose connections start failing (the connection tracing's `failing`)
//! is an event each time it starts.

use std::collections::{HashMap, HashSet};

use periscope_report::UnixMillis;

use crate::archive::event::{Event, EventKind, EventNode};
use crate::model::Model;
use crate::node_id::NodeId;
use crate::render::edge_key::EdgeKey;
use crate::render::view_state::ViewState;
use crate::render::Renderer;
use crate::view::{Stopped, ViewId, ViewOptions};

/// Failures are looked for whatever a client's options hide.
const EVERYTHING: ViewOptions = ViewOptions { stopped: Stopped::Show, show_system: true, show_unconnected: true };

/// How long an edge must stay away before it is reported gone.
pub const GONE_AFTER_MS: u64 = 30_000;

#[derive(Debug)]
pub struct EdgeWatcher {
    renderer: Renderer,
    /// Edges on the map (or vanished less than [`GONE_AFTER_MS`] ago), with their ends' labels.
    present: HashMap<EdgeKey, (String, String)>,
    vanished: HashMap<EdgeKey, UnixMillis>,
    /// Edges whose connections are failing now: a failure is reported when it starts.
    failing: HashSet<EdgeKey>,
}

impl EdgeWatcher {
    pub fn new(model: &mut Model) -> EdgeWatcher {
        let mut renderer = Renderer::new();
        renderer.materialize(ViewId::Containers, model);
        EdgeWatcher { renderer, present: HashMap::new(), vanished: HashMap::new(), failing: HashSet::new() }
    }

    /// Renders what changed in `model` since the last scan; returns the edge events due at `now`.
    pub fn scan(&mut self, model: &mut Model, now: UnixMillis) -> Vec<Event> {
        let changes = self.renderer.update(model);
        let mut events = Vec::new();
        let Some(state) = self.renderer.view(ViewId::Containers) else { return events };
        for (_, changes) in changes {
            for key in changes.edges {
                let failing = state.edge(&key, &EVERYTHING).is_some_and(|edge| edge.failing);
                if !failing {
                    self.failing.remove(&key);
                } else if self.failing.insert(key.clone()) {
                    let labels = (label(state, &key.source), label(state, &key.target));
                    events.push(edge_event(now, EventKind::EdgeFailing, &key, &labels));
                }
                if state.edge_part(&key).is_some() {
                    if self.vanished.remove(&key).is_some() {
                        continue;
                    }
                    if let std::collections::hash_map::Entry::Vacant(slot) = self.present.entry(key) {
                        let key = slot.key();
                        let labels = (label(state, &key.source), label(state, &key.target));
                        events.push(edge_event(now, EventKind::EdgeSeen, key, &labels));
                        slot.insert(labels);
                    }
                } else if self.present.contains_key(&key) {
                    self.vanished.entry(key).or_insert(now);
                }
            }
        }
        let due: Vec<EdgeKey> = self
            .vanished
            .iter()
            .filter(|(_, since)| now.0.saturating_sub(since.0) >= GONE_AFTER_MS)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            let since = self.vanished.remove(&key).unwrap_or(now);
            if let Some(labels) = self.present.remove(&key) {
                events.push(edge_event(since, EventKind::EdgeGone, &key, &labels));
            }
        }
        events
    }
}

fn label(state: &ViewState, id: &NodeId) -> String {
    state.node_sum(id).map(|sum| sum.base.label.to_string()).unwrap_or_else(|| id.to_string())
}

fn edge_event(at: UnixMillis, kind: EventKind, key: &EdgeKey, labels: &(String, String)) -> Event {
    Event {
        peer: Some(EventNode::new(ViewId::Containers, &key.target, labels.1.clone())),
        ..Event::new(at, kind, EventNode::new(ViewId::Containers, &key.source, labels.0.clone()))
    }
}
