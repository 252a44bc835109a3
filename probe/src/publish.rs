//! The publish loop: collect each tick (and at once on Docker events), and
//! send a snapshot on connect or request, deltas otherwise.
//!
//! Sequence numbers count frames sent on the report chain: a snapshot or a
//! delta each take the next one, and a delta's `base_seq` is the frame
//! before it, so the app can check continuity. A delta that would change
//! nothing is skipped, except as a heartbeat every [`HEARTBEAT`]. The loop
//! keeps collecting while the app is away (it only stops queueing frames),
//! and everything it spawns is aborted when its future is dropped.

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
    if let Some(table) = shared.conntrack.clone() {
        tasks.spawn(conntrack::follow(table, shared.capabilities.clone()));
    }
    let probe_config = config.clone();
    let probe_shared = shared.clone();
    let mut probe = Some(tokio::task::spawn_blocking(move || Probe::new(&probe_config, &probe_shared)).await??);
    info!(probe = %probe.as_ref().map(|p| p.probe_id().to_string()).unwrap_or_default(), app = %config.app, tick_ms = config.tick_ms, "probe started");

    let queue = Arc::new(SendQueue::new(config.send_queue as usize));
    let (link_sender, mut link_events) = mpsc::channel::<LinkEvent>(16);
    let (outbox, side) = Outbox::new();
    let mut controls = Controls::new(&config, outbox);
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
    let mut ticker = tokio::time::interval(config.tick());
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let mut docker_changed = false;
        tokio::select! {
            _ = ticker.tick() => {}
            Some(()) = changed.recv() => {
                tokio::time::sleep(EVENT_DEBOUNCE).await;
                while changed.try_recv().is_ok() {}
                docker_changed = true;
            }
            event = link_events.recv() => match event {
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
                    if !handle_app_message(message, &mut chain, &mut controls) {
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
fn handle_app_message(message: AppMessage, chain: &mut Chain, controls: &mut Controls) -> bool {
    match message {
        AppMessage::RequestSnapshot { reason } => {
            info!(?reason, "the app asked for a snapshot");
            chain.need_snapshot = true;
            true
        }
        other => {
            controls.handle(other);
            false
        }
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
