//! The probe channel's protocol, apart from the socket: decode a frame, bind
//! the probe ID to this connection, apply the snapshot or delta, and say what
//! to answer (a snapshot request on a gap, a rejection for a taken ID).

use periscope_report::{AppMessage, Codec, ProbeId, ProbeMessage, SnapshotReason, UnixMillis};

use crate::metrics::Metrics;
use crate::registry::ConnectionId;
use crate::state::AppState;
use crate::store::DeltaOutcome;

/// What the socket loop should do after a frame.
#[derive(Debug, PartialEq)]
pub enum Reply {
    Nothing,
    Send(AppMessage),
    /// Send this, then close the connection.
    Close(AppMessage),
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("undecodable frame: {0}")]
    Decode(#[from] periscope_report::DecodeError),
    #[error("frame for probe {got} on the connection of probe {bound}")]
    WrongProbe { bound: ProbeId, got: ProbeId },
}

/// One probe connection's state.
pub struct ProbeSession {
    state: AppState,
    connection: ConnectionId,
    codec: Codec,
    probe: Option<ProbeId>,
}

impl ProbeSession {
    pub fn new(state: AppState) -> Self {
        let codec = Codec::with_limit(state.config.max_decoded_bytes);
        let connection = state.next_connection();
        ProbeSession { state, connection, codec, probe: None }
    }

    pub fn probe(&self) -> Option<&ProbeId> {
        self.probe.as_ref()
    }

    /// Handles one binary frame. Bad frames are logged and counted, and the connection keeps serving.
    pub fn frame(&mut self, frame: &[u8], now: UnixMillis) -> Reply {
        let state = self.state.clone();
        let metrics = &state.metrics;
        Metrics::inc(&metrics.frames_in);
        Metrics::add(&metrics.bytes_in, frame.len() as u64);
        match self.handle(frame, now) {
            Ok(reply) => reply,
            Err(error) => {
                Metrics::inc(&metrics.bad_frames);
                tracing::warn!(probe = ?self.probe, %error, bytes = frame.len(), "bad probe frame");
                Reply::Nothing
            }
        }
    }

    fn handle(&mut self, frame: &[u8], now: UnixMillis) -> Result<Reply, FrameError> {
        let message: ProbeMessage = self.codec.decode(frame)?;
        match message {
            ProbeMessage::Snapshot(report) => {
                if let Some(bound) = &self.probe {
                    if *bound != report.probe {
                        return Err(FrameError::WrongProbe { bound: bound.clone(), got: report.probe });
                    }
                }
                let mut store = self.state.store();
                if let Err(taken) = store.registry.claim(&report.probe, self.connection, now) {
                    drop(store);
                    Metrics::inc(&self.state.metrics.rejected_connections);
                    tracing::warn!(probe = %taken.probe, "probe ID already bound to another connection; refusing");
                    return Ok(Reply::Close(AppMessage::Rejected { reason: taken.to_string() }));
                }
                if self.probe.is_none() {
                    tracing::info!(probe = %report.probe, host = %report.host.id, "probe registered");
                }
                self.probe = Some(report.probe.clone());
                store.insert_snapshot(report, now);
                drop(store);
                Metrics::inc(&self.state.metrics.snapshots);
                self.state.model_changed();
                Ok(Reply::Nothing)
            }
            ProbeMessage::Delta(delta) => {
                let Some(bound) = &self.probe else {
                    // Whatever the probe thinks it sent, this connection has no base yet.
                    tracing::info!(probe = %delta.probe, "delta before any snapshot; asking for one");
                    return Ok(Reply::Send(AppMessage::RequestSnapshot { reason: SnapshotReason::Unknown }));
                };
                if *bound != delta.probe {
                    return Err(FrameError::WrongProbe { bound: bound.clone(), got: delta.probe });
                }
                let mut store = self.state.store();
                if !store.registry.is_bound(bound, self.connection) {
                    // Dropped for silence meanwhile: bind again if nobody else took the ID.
                    if let Err(taken) = store.registry.claim(bound, self.connection, now) {
                        drop(store);
                        Metrics::inc(&self.state.metrics.rejected_connections);
                        return Ok(Reply::Close(AppMessage::Rejected { reason: taken.to_string() }));
                    }
                }
                store.registry.touch(bound, self.connection, now);
                let outcome = store.apply_delta(delta, now);
                drop(store);
                match outcome {
                    DeltaOutcome::Applied => {
                        Metrics::inc(&self.state.metrics.deltas);
                        self.state.model_changed();
                        Ok(Reply::Nothing)
                    }
                    DeltaOutcome::Unknown => {
                        Ok(Reply::Send(AppMessage::RequestSnapshot { reason: SnapshotReason::Unknown }))
                    }
                    DeltaOutcome::Gap(error) => {
                        Metrics::inc(&self.state.metrics.sequence_gaps);
                        tracing::info!(probe = %bound, %error, "sequence gap; asking for a snapshot");
                        let (expected, got) = match error {
                            periscope_report::ApplyError::WrongBase { state_seq, base_seq } => (state_seq, base_seq),
                            periscope_report::ApplyError::WrongProbe { .. } => (0, 0),
                        };
                        Ok(Reply::Send(AppMessage::RequestSnapshot {
                            reason: SnapshotReason::SequenceGap { expected, got },
                        }))
                    }
                }
            }
            ProbeMessage::ControlResult { .. } | ProbeMessage::PipeOutput { .. } | ProbeMessage::PipeClosed { .. } => {
                // Controls and pipes are not routed by this app version; the probe only answers requests we never send.
                if let Some(probe) = &self.probe {
                    self.state.store().registry.touch(probe, self.connection, now);
                }
                Ok(Reply::Nothing)
            }
        }
    }

    /// The channel closed: the probe's nodes go at once (unless another connection holds the ID).
    pub fn closed(&mut self) {
        let Some(probe) = self.probe.take() else { return };
        let mut store = self.state.store();
        if store.registry.release(&probe, self.connection) {
            store.remove_probe(&probe, crate::state::now());
            drop(store);
            tracing::info!(%probe, "probe disconnected; its nodes are removed");
            self.state.model_changed();
        }
    }
}

impl Drop for ProbeSession {
    fn drop(&mut self) {
        self.closed();
    }
}
