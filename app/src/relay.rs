//! The relay between API callers and probes for controls and pipes.
//!
//! A control is a request to one probe, answered once ([`Relay::begin`]
//! hands out the [`RequestId`] and a receiver for the answer). A pipe
//! (logs, a terminal) is opened by a control and then carries output from
//! the probe to one WebSocket client and input back; the app names it with
//! a random public ID, which the client attaches to within
//! [`ATTACH_WITHIN`]. Probe → app messages that are not reports reach
//! [`Relay::deliver`]; a probe that goes away fails its pending requests and
//! closes its pipes ([`Relay::probe_gone`]), so no caller waits forever.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use periscope_report::{PipeId, ProbeId, ProbeMessage, RequestId};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

/// A pipe opened by a control must be attached (its WebSocket opened) within this.
pub const ATTACH_WITHIN: Duration = Duration::from_secs(30);
/// Output frames queued for one pipe client. The probe sends at most its
/// credit window unacknowledged (16 frames of 16 KiB), so this is never full
/// unless a probe ignores its window; then output is dropped, not the channel stalled.
pub const PIPE_QUEUE: usize = 64;

/// The probe's answer to a control: a pipe (with its output, routed from the
/// moment the answer arrived, so nothing the probe sends right after is
/// lost), nothing (done), or its error text.
pub type ControlReply = Result<Option<(PipeId, mpsc::Receiver<PipeFrame>)>, String>;

/// What a pipe's client receives.
#[derive(Debug, PartialEq)]
pub enum PipeFrame {
    Output(Vec<u8>),
    /// The probe closed the pipe (the shell exited, the container stopped, the probe went away).
    Closed(String),
}

/// Whose a pipe is: the probe's pipe, opened for a client on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeOwner {
    pub probe: ProbeId,
    pub pipe: PipeId,
    pub client: IpAddr,
    pub node: String,
}

/// A pipe opened, waiting for (or held by) its client.
#[derive(Debug)]
pub struct OpenPipe {
    pub owner: PipeOwner,
    pub action: &'static str,
    pub output: mpsc::Receiver<PipeFrame>,
    opened: Instant,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("this client has {0} pipes open already; close one first")]
pub struct TooManyPipes(pub usize);

#[derive(Debug, Default)]
pub struct Relay {
    next_request: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    pending: HashMap<RequestId, (ProbeId, oneshot::Sender<ControlReply>)>,
    routes: HashMap<(ProbeId, PipeId), mpsc::Sender<PipeFrame>>,
    /// Pipes opened for a caller who gave up waiting: to be closed at their probe.
    orphans: Vec<(ProbeId, PipeId)>,
    unattached: HashMap<String, OpenPipe>,
    per_client: HashMap<IpAddr, usize>,
    dropped_output: u64,
}

impl Relay {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new request to `probe`; its answer arrives on the receiver (or it is dropped if the probe goes).
    pub fn begin(&self, probe: &ProbeId) -> (RequestId, oneshot::Receiver<ControlReply>) {
        let request = RequestId(self.next_request.fetch_add(1, Ordering::Relaxed) + 1);
        let (sender, receiver) = oneshot::channel();
        self.lock().pending.insert(request, (probe.clone(), sender));
        (request, receiver)
    }

    /// The caller gave up (timeout): a late answer is ignored.
    pub fn cancel(&self, request: RequestId) {
        self.lock().pending.remove(&request);
    }

    /// A probe's message about controls or pipes. Answers from a probe that
    /// was not asked, and output for pipes it does not own, are ignored.
    pub fn deliver(&self, probe: &ProbeId, message: ProbeMessage, metrics: &Metrics) {
        let mut inner = self.lock();
        match message {
            ProbeMessage::ControlResult { request, result } => {
                if inner.pending.get(&request).is_some_and(|(asked, _)| asked == probe) {
                    if let Some((_, reply)) = inner.pending.remove(&request) {
                        let result = result.map(|opened| {
                            opened.map(|pipe| {
                                let (sender, output) = mpsc::channel(PIPE_QUEUE);
                                inner.routes.insert((probe.clone(), pipe), sender);
                                (pipe, output)
                            })
                        });
                        if let Err(Ok(Some((pipe, _)))) = reply.send(result) {
                            // The caller timed out meanwhile: nobody will read this pipe.
                            inner.routes.remove(&(probe.clone(), pipe));
                            inner.orphans.push((probe.clone(), pipe));
                        }
                    }
                } else {
                    Metrics::inc(&metrics.unrouted_replies);
                    tracing::debug!(%probe, ?request, "answer to a request this probe was not sent; ignored");
                }
            }
            ProbeMessage::PipeOutput { pipe, data } => {
                let Some(route) = inner.routes.get(&(probe.clone(), pipe)) else {
                    Metrics::inc(&metrics.unrouted_replies);
                    return;
                };
                if route.try_send(PipeFrame::Output(data)).is_err() {
                    inner.dropped_output += 1;
                }
            }
            ProbeMessage::PipeClosed { pipe, reason } => {
                if let Some(route) = inner.routes.remove(&(probe.clone(), pipe)) {
                    let reason = reason.unwrap_or_else(|| "closed by the probe".to_owned());
                    // A full queue means the client is gone or stuck; its own loop ends either way.
                    let _ = route.try_send(PipeFrame::Closed(reason));
                }
            }
            ProbeMessage::Snapshot(_) | ProbeMessage::Delta(_) => {}
        }
    }

    /// The probe's channel closed: its pending requests fail and its pipes close.
    pub fn probe_gone(&self, probe: &ProbeId) {
        let mut inner = self.lock();
        inner.pending.retain(|_, (asked, _)| asked != probe);
        let gone: Vec<(ProbeId, PipeId)> = inner.routes.keys().filter(|(p, _)| p == probe).cloned().collect();
        for key in gone {
            if let Some(route) = inner.routes.remove(&key) {
                let _ = route.try_send(PipeFrame::Closed("the probe disconnected".to_owned()));
            }
        }
    }

    /// Registers a pipe the probe opened for `client` (its output from the
    /// control's answer); returns its public ID.
    pub fn open_pipe(
        &self,
        owner: PipeOwner,
        output: mpsc::Receiver<PipeFrame>,
        action: &'static str,
        max_per_client: usize,
        now: Instant,
    ) -> Result<String, TooManyPipes> {
        let mut inner = self.lock();
        let count = inner.per_client.entry(owner.client).or_default();
        if *count >= max_per_client {
            inner.routes.remove(&(owner.probe.clone(), owner.pipe));
            return Err(TooManyPipes(max_per_client));
        }
        *count += 1;
        let public = crate::random::random_hex(16);
        inner.unattached.insert(public.clone(), OpenPipe { owner, action, output, opened: now });
        Ok(public)
    }

    /// Whether `client` could open one more pipe now.
    pub fn pipes_of(&self, client: IpAddr) -> usize {
        self.lock().per_client.get(&client).copied().unwrap_or(0)
    }

    /// Hands the pipe to its WebSocket; once only.
    pub fn attach(&self, public: &str) -> Option<OpenPipe> {
        self.lock().unattached.remove(public)
    }

    /// The client's side of a pipe ended.
    pub fn pipe_done(&self, owner: &PipeOwner) {
        let mut inner = self.lock();
        inner.routes.remove(&(owner.probe.clone(), owner.pipe));
        let client = owner.client;
        if let Some(count) = inner.per_client.get_mut(&client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                inner.per_client.remove(&client);
            }
        }
    }

    /// Pipes nobody attached to in time (or whose caller gave up): forgotten
    /// here; the caller tells their probes to close them.
    pub fn expire_unattached(&self, now: Instant) -> Vec<(ProbeId, PipeId)> {
        let mut inner = self.lock();
        let orphans = std::mem::take(&mut inner.orphans);
        let stale: Vec<String> = inner
            .unattached
            .iter()
            .filter(|(_, open)| now.duration_since(open.opened) > ATTACH_WITHIN)
            .map(|(public, _)| public.clone())
            .collect();
        let mut expired = orphans;
        for public in stale {
            if let Some(open) = inner.unattached.remove(&public) {
                let owner = open.owner;
                inner.routes.remove(&(owner.probe.clone(), owner.pipe));
                if let Some(count) = inner.per_client.get_mut(&owner.client) {
                    *count = count.saturating_sub(1);
                }
                expired.push((owner.probe, owner.pipe));
            }
        }
        expired
    }

    /// Output frames dropped because a pipe's client queue was full.
    pub fn dropped_output(&self) -> u64 {
        self.lock().dropped_output
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_reach_their_caller_only_from_the_probe_asked() {
        let relay = Relay::default();
        let (probe, other) = (ProbeId::new("p"), ProbeId::new("q"));
        let (request, mut reply) = relay.begin(&probe);
        relay.deliver(&other, ProbeMessage::ControlResult { request, result: Ok(None) }, &Metrics::default());
        assert!(reply.try_recv().is_err(), "another probe cannot answer");
        relay.deliver(
            &probe,
            ProbeMessage::ControlResult { request, result: Err("no such container".into()) },
            &Metrics::default(),
        );
        assert_eq!(reply.try_recv().unwrap().err(), Some("no such container".to_owned()));
    }

    #[test]
    fn a_probe_going_away_fails_its_requests_and_closes_its_pipes() {
        let relay = Relay::default();
        let probe = ProbeId::new("p");
        let (_, mut reply) = relay.begin(&probe);
        let client: IpAddr = "127.0.0.1".parse().unwrap();
        let (request, mut opened) = relay.begin(&probe);
        let answer = ProbeMessage::ControlResult { request, result: Ok(Some(PipeId(1))) };
        relay.deliver(&probe, answer, &Metrics::default());
        // Output right after the answer, before the caller registered the pipe: kept.
        relay.deliver(&probe, ProbeMessage::PipeOutput { pipe: PipeId(1), data: b"hi".to_vec() }, &Metrics::default());
        let (pipe, output) = opened.try_recv().unwrap().unwrap().unwrap();
        let owner = PipeOwner { probe: probe.clone(), pipe, client, node: "n".into() };
        let public = relay.open_pipe(owner, output, "logs", 4, Instant::now()).unwrap();
        let mut open = relay.attach(&public).unwrap();
        assert!(relay.attach(&public).is_none(), "attached once only");
        relay.probe_gone(&probe);
        assert!(matches!(reply.try_recv(), Err(oneshot::error::TryRecvError::Closed)));
        assert_eq!(open.output.try_recv().unwrap(), PipeFrame::Output(b"hi".to_vec()));
        assert_eq!(open.output.try_recv().unwrap(), PipeFrame::Closed("the probe disconnected".into()));
    }

    #[test]
    fn pipes_per_client_are_bounded_and_unattached_ones_expire() {
        let relay = Relay::default();
        let probe = ProbeId::new("p");
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        let owner = |pipe| PipeOwner { probe: probe.clone(), pipe: PipeId(pipe), client, node: "n".into() };
        let output = || mpsc::channel(1).1;
        relay.open_pipe(owner(1), output(), "logs", 2, now).unwrap();
        relay.open_pipe(owner(2), output(), "exec", 2, now).unwrap();
        assert_eq!(relay.open_pipe(owner(3), output(), "exec", 2, now), Err(TooManyPipes(2)));
        let expired = relay.expire_unattached(now + ATTACH_WITHIN + Duration::from_secs(1));
        assert_eq!(expired.len(), 2);
        assert_eq!(relay.pipes_of(client), 0);
    }
}
