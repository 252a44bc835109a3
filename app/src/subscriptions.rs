//! View clients, grouped by what they see.
//!
//! Clients of one view with the same options were sent the same thing, so a
//! group keeps one copy of it ([`SentView`]) and serializes each diff once
//! for all its members: fifty browsers on the containers view cost one diff.
//! A member whose outbox is full (a slow client) is dropped from its group;
//! its stream ends and it subscribes again, starting from a full view.
//!
//! Synchronous and owned by the [`crate::store::Store`], so diffs are made on
//! the store thread in the same pass that rendered the changes.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::render::output::ViewMessage;
use crate::render::sent::SentView;
use crate::render::view_state::Changes;
use crate::render::Renderer;
use crate::view::{ViewId, ViewOptions};

/// Messages a view client may fall behind by before it is started over.
pub const OUTBOX_CAPACITY: usize = 64;

/// One view client, numbered by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

/// What a view client is sent.
#[derive(Debug)]
pub enum Outgoing {
    /// The whole view: serialized by the client's own task, since it can be large.
    Full(Box<ViewMessage>),
    /// A diff, serialized once for the whole group.
    Diff(Arc<str>),
}

pub type Outbox = mpsc::Sender<Outgoing>;

struct Member {
    client: ClientId,
    outbox: Outbox,
}

struct Group {
    sent: SentView,
    members: Vec<Member>,
}

#[derive(Default)]
pub struct Subscriptions {
    groups: HashMap<(ViewId, ViewOptions), Group>,
    next_client: u64,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions").field("groups", &self.groups.len()).field("clients", &self.len()).finish()
    }
}

/// Why a subscription could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error("view {0} is not rendered")]
    NotRendered(ViewId),
    #[error("the client went away before its first message")]
    Gone,
}

impl Subscriptions {
    /// Adds a client and queues the full view as its first message. The
    /// renderer must be current: the group's copy is what it holds now.
    pub fn subscribe(
        &mut self,
        renderer: &Renderer,
        view: ViewId,
        options: ViewOptions,
        outbox: Outbox,
    ) -> Result<ClientId, SubscribeError> {
        let state = renderer.view(view).ok_or(SubscribeError::NotRendered(view))?;
        let (nodes, edges) = match self.groups.get(&(view, options)) {
            // The group's copy is the present view: no second copy is needed.
            Some(_) => state.full(&options),
            None => {
                let (nodes, edges, sent) = state.snapshot(&options);
                self.groups.insert((view, options), Group { sent, members: Vec::new() });
                (nodes, edges)
            }
        };
        let first = Outgoing::Full(Box::new(ViewMessage::Full { view: view.as_str(), nodes, edges }));
        if outbox.try_send(first).is_err() {
            self.drop_empty();
            return Err(SubscribeError::Gone);
        }
        self.next_client += 1;
        let client = ClientId(self.next_client);
        let group = self.groups.get_mut(&(view, options)).expect("inserted above");
        group.members.push(Member { client, outbox });
        Ok(client)
    }

    pub fn unsubscribe(&mut self, client: ClientId) {
        for group in self.groups.values_mut() {
            group.members.retain(|member| member.client != client);
        }
        self.drop_empty();
    }

    /// Sends each group the diff for `changes`.
    pub fn publish(&mut self, renderer: &Renderer, changes: &[(ViewId, Changes)], metrics: &Metrics) {
        if self.groups.is_empty() {
            return;
        }
        for ((view, options), group) in &mut self.groups {
            let Some(state) = renderer.view(*view) else { continue };
            // The view is already at the end of all these changes: diff once against their union.
            let mut union = Changes::default();
            for (_, change) in changes.iter().filter(|(changed, _)| changed == view) {
                union.extend(change.clone());
            }
            if union.is_empty() {
                continue;
            }
            let (nodes, edges) = state.diff(options, &mut group.sent, &union);
            if nodes.is_empty() && edges.is_empty() {
                continue;
            }
            let message = ViewMessage::Diff { view: view.as_str(), nodes, edges };
            let text: Arc<str> = match serde_json::to_string(&message) {
                Ok(text) => text.into(),
                Err(error) => {
                    tracing::error!(%error, view = view.as_str(), "cannot serialize a view diff");
                    continue;
                }
            };
            group.members.retain(|member| match member.outbox.try_send(Outgoing::Diff(text.clone())) {
                Ok(()) => {
                    Metrics::inc(&metrics.diffs_sent);
                    Metrics::add(&metrics.diff_bytes_sent, text.len() as u64);
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    Metrics::inc(&metrics.view_clients_lagged);
                    tracing::info!(view = view.as_str(), "a view client fell behind; it starts over");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        }
        self.drop_empty();
    }

    /// A watched view's (nodes, edges) as its clients hold them: after a
    /// publish this is the view with these options, at no cost.
    pub fn counts(&self, view: ViewId, options: &ViewOptions) -> Option<(usize, usize)> {
        self.groups.get(&(view, *options)).map(|group| (group.sent.node_count(), group.sent.edge_count()))
    }

    /// Clients subscribed now.
    pub fn len(&self) -> usize {
        self.groups.values().map(|group| group.members.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Groups (distinct view and options) with at least one client.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    fn drop_empty(&mut self) {
        self.groups.retain(|_, group| !group.members.is_empty());
    }
}
