//! The change timeline: what happened to containers, edges and probes, each
//! event linking to the node it concerns.
//!
//! Container events come from comparing a container's record before and
//! after a snapshot or delta ([`container_events`]); edge events from the
//! containers view (see `archive::edges`); probe events from the store's
//! snapshots and removals. Events are an API type, and stored as they are served.

use periscope_report::{Container, ContainerState, Health, HostId, ProbeId, UnixMillis};
use serde::{Deserialize, Serialize};

use crate::node_id::NodeId;
use crate::view::ViewId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    ContainerCreated,
    ContainerStarted,
    /// With `exit_code`, and `oom_killed` when the kernel killed it.
    ContainerDied,
    ContainerOomKilled,
    /// Docker restarted it (its restart count went up).
    ContainerRestarted,
    /// With `health`, the new status.
    ContainerHealth,
    ContainerPaused,
    ContainerUnpaused,
    ContainerRemoved,
    /// A client → server edge of the containers view appeared (`node` the client, `peer` the server).
    EdgeSeen,
    /// It has been gone for a while (`at` is when it vanished).
    EdgeGone,
    ProbeConnected,
    /// The probe disconnected or went silent; its nodes left the views.
    ProbeLost,
    /// Connections of an edge started failing (refused, unanswered, reset or retransmitted in the
    /// last minute; `node` the client, `peer` the server). Last so stored events keep their tags.
    EdgeFailing,
}

/// A link to a node of a view, as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventNode {
    pub view: String,
    pub id: String,
    pub label: String,
}

impl EventNode {
    pub fn new(view: ViewId, id: &NodeId, label: impl Into<String>) -> EventNode {
        EventNode { view: view.as_str().to_owned(), id: id.to_string(), label: label.into() }
    }
}

/// One entry of `GET /api/events`. Postcard stores it too, so no field is ever skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unix milliseconds, when the app applied the change.
    pub at: UnixMillis,
    pub kind: EventKind,
    pub node: EventNode,
    /// The other end of an edge.
    pub peer: Option<EventNode>,
    pub host: Option<String>,
    pub probe: Option<String>,
    pub exit_code: Option<i32>,
    pub oom_killed: Option<bool>,
    pub health: Option<Health>,
    pub restart_count: Option<u32>,
}

impl Event {
    pub fn new(at: UnixMillis, kind: EventKind, node: EventNode) -> Event {
        Event {
            at,
            kind,
            node,
            peer: None,
            host: None,
            probe: None,
            exit_code: None,
            oom_killed: None,
            health: None,
            restart_count: None,
        }
    }

    /// True when the event concerns `node` (either end of an edge counts).
    pub fn concerns(&self, node: &str) -> bool {
        self.node.id == node || self.peer.as_ref().is_some_and(|peer| peer.id == node)
    }

    pub fn probe(at: UnixMillis, kind: EventKind, probe: &ProbeId, host: &HostId) -> Event {
        let node = EventNode::new(ViewId::Hosts, &NodeId::Host(host.clone()), host.to_string());
        Event { host: Some(host.to_string()), probe: Some(probe.to_string()), ..Event::new(at, kind, node) }
    }
}

fn is_up(state: ContainerState) -> bool {
    matches!(state, ContainerState::Running | ContainerState::Paused | ContainerState::Restarting)
}

/// What happened to one container between two records of it: `before` is
/// `None` for a container that just appeared, `after` is `None` for one removed.
pub fn container_events(
    at: UnixMillis,
    host: &HostId,
    before: Option<&Container>,
    after: Option<&Container>,
) -> Vec<Event> {
    let Some(container) = after.or(before) else { return Vec::new() };
    let node = EventNode::new(ViewId::Containers, &NodeId::Container(container.id.clone()), container.name.clone());
    let event = |kind: EventKind| Event { host: Some(host.to_string()), ..Event::new(at, kind, node.clone()) };
    let died = |c: &Container| Event {
        exit_code: c.exit_code,
        oom_killed: Some(c.oom_killed),
        ..event(EventKind::ContainerDied)
    };
    let mut events = Vec::new();
    match (before, after) {
        (None, None) => {}
        (None, Some(new)) => {
            events.push(event(EventKind::ContainerCreated));
            if is_up(new.state) {
                events.push(event(EventKind::ContainerStarted));
            } else if new.finished.is_some() {
                // It ran and stopped before the probe looked (an OOM kill can take a second).
                if new.started.is_some() {
                    events.push(event(EventKind::ContainerStarted));
                }
                events.push(died(new));
                if new.oom_killed {
                    events.push(event(EventKind::ContainerOomKilled));
                }
            }
        }
        (Some(old), None) => {
            if is_up(old.state) {
                events.push(died(old));
            }
            events.push(event(EventKind::ContainerRemoved));
        }
        (Some(old), Some(new)) => {
            let restarted = new.restart_count > old.restart_count;
            let started_again = new.started.is_some() && new.started != old.started;
            // A new finish time is a death whatever states the probe saw in between.
            let died_now =
                (new.finished.is_some() && new.finished != old.finished) || (is_up(old.state) && !is_up(new.state));
            if started_again && !is_up(old.state) && !is_up(new.state) {
                // It started and stopped between two looks: its start comes first.
                events.push(event(EventKind::ContainerStarted));
            }
            if died_now {
                events.push(died(new));
            }
            // Docker may set OOMKilled a moment after the death it caused (its exit and OOM
            // notices race), so a flag turning on later is the OOM kill too.
            if new.oom_killed && (died_now || !old.oom_killed) {
                events.push(event(EventKind::ContainerOomKilled));
            }
            if restarted {
                events.push(Event { restart_count: Some(new.restart_count), ..event(EventKind::ContainerRestarted) });
            }
            if is_up(new.state) && (!is_up(old.state) || (started_again && !restarted)) {
                events.push(event(EventKind::ContainerStarted));
            }
            match (old.state, new.state) {
                (ContainerState::Paused, ContainerState::Paused) => {}
                (_, ContainerState::Paused) => events.push(event(EventKind::ContainerPaused)),
                (ContainerState::Paused, ContainerState::Running) => events.push(event(EventKind::ContainerUnpaused)),
                _ => {}
            }
            if new.health != old.health && new.health.is_some() {
                events.push(Event { health: new.health, ..event(EventKind::ContainerHealth) });
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use periscope_report::fixtures::ReportBuilder;

    use super::*;

    fn container(edit: impl FnOnce(&mut Container)) -> Container {
        let report =
            ReportBuilder::new("a").container("c1", "web", "nginx", "172.17.0.2").edit_container("c1", edit).build();
        let container = report.containers.iter().next().unwrap().clone();
        container
    }

    fn check(before: Option<&Container>, after: Option<&Container>, expected: &[EventKind]) {
        let host = HostId::new("h");
        let kinds: Vec<EventKind> =
            container_events(UnixMillis(5), &host, before, after).iter().map(|e| e.kind).collect();
        assert_eq!(kinds, expected);
    }

    #[test]
    fn lifecycle() {
        let running = container(|_| {});
        let exited = container(|c| {
            c.state = ContainerState::Exited;
            c.exit_code = Some(3);
            c.finished = Some(UnixMillis(9));
        });
        let oom = container(|c| {
            c.state = ContainerState::Exited;
            c.exit_code = Some(137);
            c.oom_killed = true;
            c.finished = Some(UnixMillis(9));
        });
        let created = container(|c| c.state = ContainerState::Created);
        check(None, Some(&running), &[EventKind::ContainerCreated, EventKind::ContainerStarted]);
        check(None, Some(&created), &[EventKind::ContainerCreated]);
        check(
            None,
            Some(&oom),
            &[
                EventKind::ContainerCreated,
                EventKind::ContainerStarted,
                EventKind::ContainerDied,
                EventKind::ContainerOomKilled,
            ],
        );
        // Created, then seen only after it had run and been killed.
        let created_unstarted = container(|c| {
            c.state = ContainerState::Created;
            c.started = None;
        });
        check(
            Some(&created_unstarted),
            Some(&oom),
            &[EventKind::ContainerStarted, EventKind::ContainerDied, EventKind::ContainerOomKilled],
        );
        check(Some(&created), Some(&running), &[EventKind::ContainerStarted]);
        check(Some(&running), Some(&running), &[]);
        check(Some(&running), Some(&exited), &[EventKind::ContainerDied]);
        check(Some(&running), Some(&oom), &[EventKind::ContainerDied, EventKind::ContainerOomKilled]);
        let exited_137 = container(|c| {
            c.state = ContainerState::Exited;
            c.exit_code = Some(137);
            c.finished = Some(UnixMillis(9));
        });
        check(Some(&running), Some(&exited_137), &[EventKind::ContainerDied]);
        check(Some(&exited_137), Some(&oom), &[EventKind::ContainerOomKilled]);
        check(Some(&oom), Some(&oom), &[]);
        check(Some(&exited), None, &[EventKind::ContainerRemoved]);
        check(Some(&running), None, &[EventKind::ContainerDied, EventKind::ContainerRemoved]);
        let died = &container_events(UnixMillis(5), &HostId::new("h"), Some(&running), Some(&exited))[0];
        assert_eq!((died.exit_code, died.oom_killed), (Some(3), Some(false)));
        assert_eq!(died.node.id, format!("container:{}", running.id));
    }

    #[test]
    fn restarts_pauses_and_health() {
        let running = container(|_| {});
        let restarted = container(|c| {
            c.restart_count = 1;
            c.exit_code = Some(1);
            c.finished = Some(UnixMillis(8));
            c.started = Some(UnixMillis(9));
        });
        check(Some(&running), Some(&restarted), &[EventKind::ContainerDied, EventKind::ContainerRestarted]);
        let paused = container(|c| c.state = ContainerState::Paused);
        check(Some(&running), Some(&paused), &[EventKind::ContainerPaused]);
        check(Some(&paused), Some(&running), &[EventKind::ContainerUnpaused]);
        let unhealthy = container(|c| c.health = Some(Health::Unhealthy));
        check(Some(&running), Some(&unhealthy), &[EventKind::ContainerHealth]);
        let started_again = container(|c| c.started = Some(UnixMillis(2_000_000_000_000)));
        check(Some(&running), Some(&started_again), &[EventKind::ContainerStarted]);
    }
}
