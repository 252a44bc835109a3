//! The probe channel's protocol against the store, apart from the socket:
//! bind the probe ID to its connection, key apart a host ID another probe
//! already reports, apply the snapshot or delta, and say what to answer (a
//! snapshot request on a gap, a rejection for a taken ID).
//!
//! Runs on the store thread; decoding happened before, off the async workers
//! (see [`crate::api::probe_ws`]).

use periscope_report::{AppMessage, ApplyError, Delta, ProbeId, Report, SnapshotReason, UnixMillis};

use crate::metrics::Metrics;
use crate::registry::ConnectionId;
use crate::store::{DeltaOutcome, Store};

/// A frame of the report chain.
#[derive(Debug)]
pub enum ReportFrame {
    Snapshot(Report),
    Delta(Delta),
}

impl ReportFrame {
    pub fn probe(&self) -> &ProbeId {
        match self {
            ReportFrame::Snapshot(report) => &report.probe,
            ReportFrame::Delta(delta) => &delta.probe,
        }
    }
}

/// What the socket loop should do after a frame.
#[derive(Debug, PartialEq)]
pub enum Reply {
    Nothing,
    Send(AppMessage),
    /// Send this, then close the connection.
    Close(AppMessage),
}

/// The outcome of one frame: the reply, and the probe the connection is bound to afterwards.
#[derive(Debug, PartialEq)]
pub struct Ingested {
    pub reply: Reply,
    pub bound: Option<ProbeId>,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame for probe {got} on the connection of probe {bound}")]
    WrongProbe { bound: ProbeId, got: ProbeId },
    #[error("delta refused: {0}")]
    Invalid(crate::validate::Invalid),
}

impl FrameError {
    /// The refusal counter it goes under, if any.
    pub fn refusal(&self) -> Option<crate::limits::Refusal> {
        match self {
            FrameError::WrongProbe { .. } => None,
            FrameError::Invalid(invalid) => Some(invalid.refusal()),
        }
    }

    /// What the probe is told.
    pub fn reply(&self) -> Reply {
        match self {
            FrameError::WrongProbe { .. } => Reply::Nothing,
            // The probe must start over; its snapshot is checked against the cap again.
            FrameError::Invalid(_) => Reply::Send(AppMessage::RequestSnapshot { reason: SnapshotReason::Unknown }),
        }
    }
}

/// Applies one report frame from `connection`, bound so far to `bound`.
pub fn ingest(
    store: &mut Store,
    connection: ConnectionId,
    bound: Option<ProbeId>,
    frame: ReportFrame,
    now: UnixMillis,
) -> Result<Ingested, FrameError> {
    ingest_capped(store, connection, bound, frame, now, usize::MAX)
}

/// [`ingest`], refusing a delta that would take the probe past `max_entities` (a snapshot was
/// checked on its own, before it reached the store: see [`crate::validate`]).
pub fn ingest_capped(
    store: &mut Store,
    connection: ConnectionId,
    bound: Option<ProbeId>,
    frame: ReportFrame,
    now: UnixMillis,
    max_entities: usize,
) -> Result<Ingested, FrameError> {
    if let Some(bound) = &bound {
        if bound != frame.probe() {
            return Err(FrameError::WrongProbe { bound: bound.clone(), got: frame.probe().clone() });
        }
    }
    if let ReportFrame::Delta(delta) = &frame {
        if let Some(held) = store.model.report(&delta.probe) {
            crate::validate::delta_fits(crate::validate::entities(held), delta, max_entities)
                .map_err(FrameError::Invalid)?;
        }
    }
    match frame {
        ReportFrame::Snapshot(report) => {
            if let Err(taken) = store.registry.claim(&report.probe, connection, now) {
                Metrics::inc(&store.metrics().rejected_connections);
                tracing::warn!(probe = %taken.probe, "probe ID already bound to another connection; refusing");
                return Ok(Ingested { reply: Reply::Close(AppMessage::Rejected { reason: taken.to_string() }), bound });
            }
            if bound.is_none() {
                tracing::info!(probe = %report.probe, host = %report.host.id, "probe registered");
            }
            key_apart_duplicate_host(store, &report);
            let probe = report.probe.clone();
            store.insert_snapshot(report, now);
            Metrics::inc(&store.metrics().snapshots);
            Ok(Ingested { reply: Reply::Nothing, bound: Some(probe) })
        }
        ReportFrame::Delta(delta) => {
            let Some(probe) = bound else {
                // Whatever the probe thinks it sent, this connection has no base yet.
                tracing::info!(probe = %delta.probe, "delta before any snapshot; asking for one");
                let reply = Reply::Send(AppMessage::RequestSnapshot { reason: SnapshotReason::Unknown });
                return Ok(Ingested { reply, bound: None });
            };
            store.registry.touch(&probe, connection, now);
            let reply = match store.apply_delta(delta, now) {
                DeltaOutcome::Applied => {
                    Metrics::inc(&store.metrics().deltas);
                    Reply::Nothing
                }
                DeltaOutcome::Unknown => Reply::Send(AppMessage::RequestSnapshot { reason: SnapshotReason::Unknown }),
                DeltaOutcome::Gap(error) => {
                    Metrics::inc(&store.metrics().sequence_gaps);
                    tracing::info!(%probe, %error, "sequence gap; asking for a snapshot");
                    let (expected, got) = match error {
                        ApplyError::WrongBase { state_seq, base_seq } => (state_seq, base_seq),
                        ApplyError::WrongProbe { .. } | ApplyError::UnknownEntity(_) => (0, 0),
                    };
                    Reply::Send(AppMessage::RequestSnapshot { reason: SnapshotReason::SequenceGap { expected, got } })
                }
            };
            Ok(Ingested { reply, bound: Some(probe) })
        }
    }
}

/// Two probes reporting one host ID (cloned VMs share /etc/machine-id) would
/// overwrite each other's nodes: the second is filed under `{host}~{probe}`
/// until the first leaves, and both are flagged in `/api/probes`.
fn key_apart_duplicate_host(store: &mut Store, report: &Report) {
    if store.registry.alias(&report.probe).is_some_and(|alias| alias.reported == report.host.id) {
        return;
    }
    let Some(owner) = store.host_owner(&report.host.id, &report.probe) else { return };
    let alias = store.registry.alias_host(&report.probe, &report.host.id, &owner);
    Metrics::inc(&store.metrics().duplicate_hosts);
    tracing::warn!(
        probe = %report.probe,
        %owner,
        host = %report.host.id,
        filed_as = %alias,
        "two probes report the same host ID (a cloned machine-id?); keeping them apart"
    );
}

/// The connection closed or fell silent: the probe's nodes go at once
/// (unless another connection holds the ID). True when they went.
pub fn closed(store: &mut Store, probe: &ProbeId, connection: ConnectionId) -> bool {
    if !store.registry.release(probe, connection) {
        return false;
    }
    store.remove_probe(probe);
    // Probes kept apart from this one get their own host ID back.
    if let Some((freed, alias)) = store.registry.free_host_of(probe) {
        tracing::info!(probe = %freed, host = %alias.reported, "host ID free again; no longer keyed apart");
        store.model.rekey_host(&freed, &alias.reported);
    }
    true
}
