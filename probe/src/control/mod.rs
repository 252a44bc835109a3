//! Controls and pipes: what the app asks the probe to do to this host.
//!
//! The app sends [`AppMessage::Control`] (stop, start, restart, pause,
//! unpause, remove a container; open a logs or exec pipe) and pipe traffic
//! (input, resize, acknowledgements, close); [`Controls`] runs each on its
//! own task so the publish loop never waits for Docker, and sends the
//! outcome — or Docker's own error text — back through the [`Outbox`], a
//! bounded channel beside the report queue that the link drains only after
//! reports (see `link.rs`). A container's new state reaches the app by the
//! Docker event that follows, as a delta, not through the control's reply.
//!
//! `--no-controls` refuses everything here at the source; a shell on the
//! host itself needs `--host-shell`.

pub mod container;
pub mod host_shell;
pub mod pipe;

use std::collections::HashMap;
use std::path::PathBuf;

use periscope_report::{AppMessage, Codec, ControlAction, ControlTarget, PipeId, ProbeMessage, RequestId};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tracing::{info, warn};

use crate::control::pipe::PipeEvent;
use crate::Config;

/// Frames waiting for the link besides reports: control replies and pipe output.
pub const OUTBOX_FRAMES: usize = 64;
/// Pipes one probe keeps open at once; the app bounds them per client too.
pub const MAX_PIPES: usize = 32;

/// Where control replies and pipe output go: serialized bodies for the link.
#[derive(Clone)]
pub struct Outbox {
    sender: mpsc::Sender<Vec<u8>>,
    codec: Codec,
}

impl Outbox {
    pub fn new() -> (Outbox, mpsc::Receiver<Vec<u8>>) {
        let (sender, receiver) = mpsc::channel(OUTBOX_FRAMES);
        (Outbox { sender, codec: Codec::default() }, receiver)
    }

    /// Waits for room (backpressure on pipe output); false once the link is gone.
    /// The link compresses the serialized body on its stream, in send order.
    pub async fn send(&self, message: &ProbeMessage) -> bool {
        match self.codec.serialize(message) {
            Ok(frame) => self.sender.send(frame).await.is_ok(),
            Err(error) => {
                warn!(%error, "cannot encode a control reply; dropped");
                true
            }
        }
    }
}

/// The probe's control handler, owned by the publish loop.
pub struct Controls {
    enabled: bool,
    host_shell: bool,
    docker_socket: Option<PathBuf>,
    bytes_per_sec: u64,
    outbox: Outbox,
    pipes: HashMap<PipeId, (mpsc::Sender<PipeEvent>, AbortHandle)>,
    tasks: JoinSet<()>,
    next_pipe: u64,
}

impl Controls {
    pub fn new(config: &Config, outbox: Outbox) -> Controls {
        Controls {
            enabled: !config.no_controls,
            host_shell: config.host_shell && !config.no_controls,
            docker_socket: (!config.no_docker).then(|| config.docker_socket.clone()),
            bytes_per_sec: config.pipe_bytes_per_sec.max(1024),
            outbox,
            pipes: HashMap::new(),
            tasks: JoinSet::new(),
            next_pipe: 1,
        }
    }

    /// Handles one app message about controls or pipes; others are not ours.
    pub fn handle(&mut self, message: AppMessage) {
        while self.tasks.try_join_next().is_some() {}
        self.pipes.retain(|_, (events, _)| !events.is_closed());
        match message {
            AppMessage::Control { request, target, action } => self.control(request, target, action),
            AppMessage::PipeInput { pipe, data } => self.forward(pipe, PipeEvent::Input(data)),
            AppMessage::PipeResize { pipe, cols, rows } => self.forward(pipe, PipeEvent::Resize { cols, rows }),
            AppMessage::PipeAck { pipe, bytes } => self.forward(pipe, PipeEvent::Ack(bytes)),
            AppMessage::PipeClose { pipe } => {
                if let Some((_, task)) = self.pipes.remove(&pipe) {
                    task.abort();
                    info!(?pipe, "pipe closed by the app");
                }
            }
            AppMessage::RequestSnapshot { .. } | AppMessage::Rejected { .. } => {}
        }
    }

    /// Answers a control with an error without running it (the probe's budget refused it).
    pub fn refuse(&mut self, request: RequestId, reason: String) {
        while self.tasks.try_join_next().is_some() {}
        let outbox = self.outbox.clone();
        self.tasks.spawn(async move {
            outbox.send(&ProbeMessage::ControlResult { request, result: Err(reason) }).await;
        });
    }

    /// The app link dropped: every pipe was for that connection.
    pub fn close_all(&mut self) {
        for (_, (_, task)) in self.pipes.drain() {
            task.abort();
        }
    }

    fn forward(&self, pipe: PipeId, event: PipeEvent) {
        let Some((events, _)) = self.pipes.get(&pipe) else { return };
        // A full event queue means the pipe's consumer is stuck; dropping input is the bounded choice.
        if events.try_send(event).is_err() {
            warn!(?pipe, "pipe input queue full; input dropped");
        }
    }

    fn control(&mut self, request: RequestId, target: ControlTarget, action: ControlAction) {
        info!(?request, ?target, ?action, "control requested");
        let refusal = if !self.enabled {
            Some("controls are disabled on this probe (--no-controls)".to_owned())
        } else {
            match (&target, action) {
                (ControlTarget::Host(_), ControlAction::Exec { .. }) if !self.host_shell => {
                    Some("a shell on the host needs the probe's --host-shell flag".to_owned())
                }
                (ControlTarget::Host(_), ControlAction::Exec { .. }) => None,
                (ControlTarget::Container(_), _) if self.docker_socket.is_none() => {
                    Some("Docker is disabled on this probe (--no-docker)".to_owned())
                }
                (ControlTarget::Container(_), ControlAction::Kill) => {
                    Some("kill applies to processes, not containers".to_owned())
                }
                (ControlTarget::Container(_), _) => None,
                (ControlTarget::Process(_), _) | (ControlTarget::Host(_), _) => {
                    Some(format!("{action:?} is not supported for this target"))
                }
            }
        };
        let outbox = self.outbox.clone();
        if let Some(reason) = refusal {
            info!(?request, %reason, "control refused");
            self.tasks.spawn(async move {
                outbox.send(&ProbeMessage::ControlResult { request, result: Err(reason) }).await;
            });
            return;
        }
        let opens_pipe = matches!(action, ControlAction::Logs { .. } | ControlAction::Exec { .. });
        if opens_pipe && self.pipes.len() >= MAX_PIPES {
            let reason = format!("this probe has {MAX_PIPES} pipes open already");
            self.tasks.spawn(async move {
                outbox.send(&ProbeMessage::ControlResult { request, result: Err(reason) }).await;
            });
            return;
        }
        if !opens_pipe {
            let socket = self.docker_socket.clone().unwrap_or_default();
            let ControlTarget::Container(container) = target else { return };
            self.tasks.spawn(async move {
                let result = container::run(&socket, &container, action).await.map(|()| None);
                match &result {
                    Ok(_) => info!(?request, %container, ?action, "control done"),
                    Err(error) => info!(?request, %container, ?action, %error, "control failed"),
                }
                outbox.send(&ProbeMessage::ControlResult { request, result }).await;
            });
            return;
        }
        let pipe = PipeId(self.next_pipe);
        self.next_pipe += 1;
        let (events, receiver) = mpsc::channel(pipe::EVENT_QUEUE);
        let source = match target {
            ControlTarget::Container(container) => {
                pipe::Source::Container { socket: self.docker_socket.clone().unwrap_or_default(), container, action }
            }
            ControlTarget::Host(_) => pipe::Source::HostShell(action),
            ControlTarget::Process(_) => return,
        };
        let limits = pipe::Limits { bytes_per_sec: self.bytes_per_sec, window: pipe::WINDOW };
        let task = self.tasks.spawn(pipe::run(request, pipe, source, receiver, outbox, limits));
        self.pipes.insert(pipe, (events, task));
    }
}

impl Drop for Controls {
    fn drop(&mut self) {
        self.close_all();
    }
}
