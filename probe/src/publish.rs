//! The publish loop: collect each tick (and at once on Docker events), and
//! send a snapshot on connect or request, deltas otherwise.
//!
//! Sequence numbers count frames sent on the report chain: a snapshot or a
//! delta each take the next one, and a delta's `base_seq` is the frame
//! before it, so the app can check continuity. A delta that would change
//! nothing is skipped, except as a heartbeat every [`HEARTBEAT`]. The loop
//! keeps collecting while the app is away (it only stops queueing frames),
//! and everything it spawns is aborted when its future is dropped.
//!
//! What the app asks is budgeted ([`AppBudget`]), so an app (or an impostor
//! holding the token) cannot make the probe spend more than a set share of
//! a core: a snapshot request collects at once at most every
//! [`SNAPSHOT_REQUEST_INTERVAL`] (others wait for the next tick, one snapshot
//! for all of them), controls are rate-limited and answered "too many" past
//! it, other messages past their budget are dropped, and none of it is
//! logged at the sender's pace.

use std::sync::Arc;
use std::time::Duration;

use periscope_report::{diff, AppMessage, Codec, ProbeMessage, Report};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, error, info, warn};

use crate::collect::{conntrack, docker, Probe, Shared};
use crate::control::{Controls, Outbox};
use crate::link::{self, LinkEvent};
use crate::queue::SendQueue;
use crate::Config;

const HEARTBEAT: Duration = Duration::from_secs(5);
/// Docker events come in bursts (create, network connect, start): gather what
/// arrives together, without holding up a lone one.
const EVENT_DEBOUNCE: Duration = Duration::from_millis(5);
/// A snapshot request collects at once at most this often; others are served at the next tick.
pub const SNAPSHOT_REQUEST_INTERVAL: Duration = Duration::from_secs(2);
/// Controls per second the app may ask for (a burst of twice that).
pub const CONTROLS_PER_SEC: f64 = 10.0;
/// Other app messages (pipe input, resizes, acknowledgements) per second (a burst of twice that).
pub const APP_MESSAGES_PER_SEC: f64 = 2000.0;
/// App messages of any kind read per second: past it the probe stops reading
/// the link for a moment, so the socket pushes back on the sender instead of
/// the probe spending a core on decoding what it would refuse.
pub const READ_MESSAGES_PER_SEC: f64 = 2500.0;
/// How often a budget's refusals are summed up in the log.
const BUDGET_LOG_EVERY: Duration = Duration::from_secs(10);

/// A token bucket: `rate` a second, up to a burst of twice that.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    level: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Bucket {
        Bucket { rate, level: rate * 2.0, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.level = (self.level + elapsed * self.rate).min(self.rate * 2.0);
        self.last = now;
    }

    fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.level >= 1.0 {
            self.level -= 1.0;
            true
        } else {
            false
        }
    }
}

/// What the app may make the probe do, per second.
#[derive(Debug)]
pub struct AppBudget {
    last_snapshot: Option<Instant>,
    controls: Bucket,
    others: Bucket,
    read: Bucket,
    /// Requests and messages held back or refused since the last log line.
    held: u64,
    logged: Instant,
}

/// What to do with one app message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A snapshot request: collect and send one now.
    SnapshotNow,
    /// A snapshot request within the interval: the next tick sends a snapshot.
    SnapshotAtNextTick,
    /// Handle it (a control or pipe message).
    Handle,
    /// A control past its budget: answer "too many".
    RefuseControl,
    /// Past the budget: dropped.
    Drop,
}

impl AppBudget {
    pub fn new(now: Instant) -> AppBudget {
        AppBudget {
            last_snapshot: None,
            controls: Bucket::new(CONTROLS_PER_SEC, now),
            others: Bucket::new(APP_MESSAGES_PER_SEC, now),
            read: Bucket::new(READ_MESSAGES_PER_SEC, now),
            held: 0,
            logged: now,
        }
    }

    pub fn judge(&mut self, message: &AppMessage, now: Instant) -> Verdict {
        // Spent even when empty: `pause` then says how long the debt takes to pay.
        self.read.take(now);
        let verdict = match message {
            AppMessage::RequestSnapshot { .. } => {
                if self
                    .last_snapshot
                    .is_none_or(|last| now.saturating_duration_since(last) >= SNAPSHOT_REQUEST_INTERVAL)
                {
                    self.last_snapshot = Some(now);
                    Verdict::SnapshotNow
                } else {
                    Verdict::SnapshotAtNextTick
                }
            }
            AppMessage::Control { .. } if self.controls.take(now) => Verdict::Handle,
            AppMessage::Control { .. } => Verdict::RefuseControl,
            _ if self.others.take(now) => Verdict::Handle,
            _ => Verdict::Drop,
        };
        if !matches!(verdict, Verdict::SnapshotNow | Verdict::Handle) {
            self.held += 1;
        }
        verdict
    }

    /// How long to stop reading app messages, when they came faster than [`READ_MESSAGES_PER_SEC`].
    pub fn pause(&mut self, now: Instant) -> Option<Duration> {
        self.read.refill(now);
        (self.read.level < 1.0).then(|| Duration::from_secs_f64((1.0 - self.read.level) / self.read.rate))
    }

    /// Requests held back or refused since the last call, when a log line is due.
    fn due_log(&mut self, now: Instant) -> Option<u64> {
        if self.held == 0 || now.saturating_duration_since(self.logged) < BUDGET_LOG_EVERY {
            return None;
        }
        self.logged = now;
        Some(std::mem::take(&mut self.held))
    }
}

/// Where the chain of frames stands on the current connection.
struct Chain {
    generation: Option<u64>,
    last_sent: Option<Report>,
    seq: u64,
    need_snapshot: bool,
    last_frame_at: Instant,
    bytes_sent: u64,
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let tls = match (&config.pinned_cert, config.app.starts_with("wss://")) {
        (_, false) => None,
        (Some(pinned), true) => Some(link::pinned_tls_config(pinned)?),
        (None, true) => Some(link::tls_config(config.ca_file.as_deref())?),
    };
    let shared = Shared::new(&config);
    let mut tasks = JoinSet::new();
    let (changed_sender, mut changed) = mpsc::channel::<()>(1);
    if let Some(view) = shared.docker.clone() {
        let socket = config.docker_socket.clone();
        let capabilities = shared.capabilities.clone();
        tasks.spawn(async move { docker::follow(&socket, view, changed_sender, capabilities).await });
    }
    let probe_config = config.clone();
    let probe_shared = shared.clone();
    let mut probe = Some(tokio::task::spawn_blocking(move || Probe::new(&probe_config, &probe_shared)).await??);
    // Once the probe knows whether its tracer runs: then conntrack need not repeat its TCP flows.
    if let (Some(table), Some(probe)) = (shared.conntrack.clone(), probe.as_ref()) {
        let proc = crate::sys::proc_root::ProcRoot::new(&config.proc_root);
        tasks.spawn(conntrack::follow(table, shared.capabilities.clone(), proc, probe.conntrack_wanted()));
    }
    info!(probe = %probe.as_ref().map(|p| p.probe_id().to_string()).unwrap_or_default(), app = %config.app, tick_ms = config.tick_ms, "probe started");

    let queue = Arc::new(SendQueue::new(config.send_queue as usize));
    let (link_sender, mut link_events) = mpsc::channel::<LinkEvent>(16);
    let (outbox, side) = Outbox::new();
    let mut controls = Controls::new(&config, outbox);
    let mut budget = AppBudget::new(Instant::now());
    let target = link::Target { url: config.app.clone(), token: config.resolved_token()?, tls };
    tasks.spawn(link::maintain(target, queue.clone(), side, link_sender));

    let codec = Codec::default();
    let mut chain = Chain {
        generation: None,
        last_sent: None,
        seq: 0,
        need_snapshot: true,
        last_frame_at: Instant::now(),
        bytes_sent: 0,
    };
    // While the app sends faster than the probe reads, the link waits (and its socket with it).
    let mut paused_until: Option<Instant> = None;
    let mut ticker = tokio::time::interval(config.tick());
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let mut docker_changed = false;
        tokio::select! {
            _ = ticker.tick() => {}
            () = tokio::time::sleep_until(paused_until.unwrap_or_else(Instant::now)), if paused_until.is_some() => {
                paused_until = None;
                continue;
            }
            Some(()) = changed.recv() => {
                tokio::time::sleep(EVENT_DEBOUNCE).await;
                while changed.try_recv().is_ok() {}
                docker_changed = true;
            }
            event = link_events.recv(), if paused_until.is_none() => match event {
                Some(LinkEvent::Connected(generation)) => {
                    chain.generation = Some(generation);
                    chain.need_snapshot = true;
                }
                Some(LinkEvent::Disconnected) => {
                    chain.generation = None;
                    chain.last_sent = None;
                    controls.close_all();
                    continue;
                }
                Some(LinkEvent::App(message)) => {
                    let collect = handle_app_message(message, &mut chain, &mut controls, &mut budget);
                    paused_until = budget.pause(Instant::now()).map(|pause| Instant::now() + pause);
                    if !collect {
                        continue;
                    }
                }
                None => anyhow::bail!("the app link stopped"),
            },
        }
        let mut taken = probe.take().ok_or_else(|| anyhow::anyhow!("probe state lost"))?;
        let (returned, report) = tokio::task::spawn_blocking(move || {
            let report = if docker_changed {
                taken.on_docker_change();
                // Only Docker changed: send that now; the next tick does the full pass.
                taken.collect_docker().unwrap_or_else(|| taken.collect())
            } else {
                taken.collect()
            };
            (taken, report)
        })
        .await?;
        probe = Some(returned);
        publish(report, &mut chain, &queue, &codec);
    }
}

/// Returns true when the message calls for a collection and a frame now.
/// Controls and pipes go to [`Controls`]; their replies travel outside the
/// report chain (no sequence number).
fn handle_app_message(message: AppMessage, chain: &mut Chain, controls: &mut Controls, budget: &mut AppBudget) -> bool {
    let now = Instant::now();
    let verdict = budget.judge(&message, now);
    if let Some(held) = budget.due_log(now) {
        warn!(held, every = ?BUDGET_LOG_EVERY, "the app asks more than the probe's budget; requests held back or refused");
    }
    match (verdict, message) {
        (Verdict::SnapshotNow, AppMessage::RequestSnapshot { reason }) => {
            info!(?reason, "the app asked for a snapshot");
            chain.need_snapshot = true;
            true
        }
        (Verdict::SnapshotAtNextTick, _) => {
            chain.need_snapshot = true;
            false
        }
        (Verdict::RefuseControl, AppMessage::Control { request, .. }) => {
            controls
                .refuse(request, format!("too many controls: this probe takes at most {CONTROLS_PER_SEC} a second"));
            false
        }
        (Verdict::Handle, other) => {
            controls.handle(other);
            false
        }
        _ => false,
    }
}

fn publish(mut report: Report, chain: &mut Chain, queue: &SendQueue, codec: &Codec) {
    let Some(generation) = chain.generation else { return };
    report.meta.dropped_frames = queue.dropped();
    let snapshot = chain.need_snapshot || chain.last_sent.is_none();
    let message = if snapshot {
        report.seq = chain.seq + 1;
        ProbeMessage::Snapshot(report.clone())
    } else {
        let Some(last_sent) = chain.last_sent.as_ref() else { return };
        report.seq = last_sent.seq + 1;
        let delta = diff(last_sent, &report);
        if delta.is_empty() && chain.last_frame_at.elapsed() < HEARTBEAT {
            return;
        }
        ProbeMessage::Delta(delta)
    };
    // Serialized only: the link compresses at send time, on the connection's stream.
    let frame = match codec.serialize(&message) {
        Ok(frame) => frame,
        Err(error) => {
            error!(%error, "cannot encode a report frame; skipping it");
            return;
        }
    };
    let size = frame.len();
    let accepted = if snapshot {
        queue.replace(generation, frame)
    } else {
        match queue.push(generation, frame) {
            Ok(dropped) => {
                if dropped {
                    warn!(
                        dropped_total = queue.dropped(),
                        "the app is slow: dropped the oldest queued frame; a snapshot follows"
                    );
                    chain.need_snapshot = true;
                }
                true
            }
            Err(_) => false,
        }
    };
    if !accepted {
        // The connection this frame was for has gone; a Disconnected event follows.
        return;
    }
    chain.seq = report.seq;
    chain.bytes_sent += size as u64;
    chain.last_frame_at = Instant::now();
    if snapshot {
        chain.need_snapshot = false;
        info!(seq = report.seq, bytes = size, processes = report.processes.len(), "sent snapshot");
    } else {
        debug!(seq = report.seq, bytes = size, "sent delta");
    }
    chain.last_sent = Some(report);
}

#[cfg(test)]
mod tests {
    use periscope_report::{ContainerId, ControlAction, ControlTarget, PipeId, RequestId, SnapshotReason};

    use super::*;

    fn snapshot_request() -> AppMessage {
        AppMessage::RequestSnapshot { reason: SnapshotReason::Unknown }
    }

    #[test]
    fn snapshot_requests_collect_at_once_at_most_every_interval() {
        let start = Instant::now();
        let mut budget = AppBudget::new(start);
        assert_eq!(budget.judge(&snapshot_request(), start), Verdict::SnapshotNow);
        for i in 1..1000 {
            let at = start + Duration::from_micros(i);
            assert_eq!(budget.judge(&snapshot_request(), at), Verdict::SnapshotAtNextTick);
        }
        assert_eq!(budget.judge(&snapshot_request(), start + SNAPSHOT_REQUEST_INTERVAL), Verdict::SnapshotNow);
        assert_eq!(budget.due_log(start + BUDGET_LOG_EVERY), Some(999));
        assert_eq!(budget.due_log(start + BUDGET_LOG_EVERY), None);
    }

    #[test]
    fn controls_and_other_messages_have_their_own_budgets() {
        let start = Instant::now();
        let mut budget = AppBudget::new(start);
        let control = AppMessage::Control {
            request: RequestId(1),
            target: ControlTarget::Container(ContainerId::new("c")),
            action: ControlAction::Stop,
        };
        let burst = (CONTROLS_PER_SEC * 2.0) as usize;
        let handled = (0..burst * 3).filter(|_| budget.judge(&control, start) == Verdict::Handle).count();
        assert_eq!(handled, burst);
        assert_eq!(budget.judge(&control, start), Verdict::RefuseControl);
        // A second later, a second's worth again.
        let later = start + Duration::from_secs(1);
        let handled = (0..burst).filter(|_| budget.judge(&control, later) == Verdict::Handle).count();
        assert_eq!(handled, CONTROLS_PER_SEC as usize);

        let ack = AppMessage::PipeAck { pipe: PipeId(1), bytes: 1 };
        let burst = (APP_MESSAGES_PER_SEC * 2.0) as usize;
        let handled = (0..burst * 2).filter(|_| budget.judge(&ack, start) == Verdict::Handle).count();
        assert_eq!(handled, burst);
        assert_eq!(budget.judge(&ack, start), Verdict::Drop);
    }

    #[test]
    fn reading_pauses_when_messages_come_faster_than_the_read_budget() {
        let start = Instant::now();
        let mut budget = AppBudget::new(start);
        let burst = (READ_MESSAGES_PER_SEC * 2.0) as usize;
        for _ in 0..burst - 1 {
            budget.judge(&snapshot_request(), start);
        }
        assert_eq!(budget.pause(start), None);
        budget.judge(&snapshot_request(), start);
        budget.judge(&snapshot_request(), start);
        let pause = budget.pause(start).expect("in debt");
        assert!(pause <= Duration::from_millis(2), "{pause:?}");
        assert_eq!(budget.pause(start + pause), None);
    }
}
