//! `GET /api/probes`: the connected probes.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use periscope_report::{Source, SourceState, SourceStatus};
use serde::Serialize;

use crate::api::error::ApiError;
use crate::state::AppState;
use crate::store::Store;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/probes", get(list))
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ProbeInfo {
    id: String,
    host: String,
    hostname: String,
    version: String,
    last_seen: u64,
    /// The active sources.
    sources: Vec<Source>,
    /// Every source the probe reported, with its state and, unless active, why.
    source_states: Vec<SourceInfo>,
    docker: &'static str,
    /// How connections are seen: `ebpf` (the tracer) or `sockets` (/proc, sock_diag and conntrack alone).
    connections: &'static str,
    /// Why the eBPF tracer is not in use, when it is not.
    ebpf_unavailable: Option<String>,
    /// Connection events the tracer could not count (its maps were full).
    traced_overflow: u64,
    dropped_frames: u64,
    /// Set when another probe reported this probe's host ID first: `host` is then `{reported}~{probe}`.
    host_conflict: Option<HostConflict>,
}

/// One source's state, flat for JSON readers: `{ "source", "state", "reason" }`.
#[derive(Debug, Serialize, PartialEq)]
pub struct SourceInfo {
    source: Source,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl From<&SourceStatus> for SourceInfo {
    fn from(status: &SourceStatus) -> SourceInfo {
        let state = match status.state {
            SourceState::Active => "active",
            SourceState::Unavailable { .. } => "unavailable",
            SourceState::Degraded { .. } => "degraded",
            SourceState::Denied { .. } => "denied",
        };
        SourceInfo { source: status.source, state, reason: status.state.reason().map(str::to_owned) }
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct HostConflict {
    /// The host ID this probe reports.
    reported_host: String,
    /// The probe that reported it first.
    with_probe: String,
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<ProbeInfo>>, ApiError> {
    let probes = state.with_store(|store| probe_infos(store)).await.map_err(|_| ApiError::Unavailable)?;
    Ok(Json(probes))
}

fn probe_infos(store: &Store) -> Vec<ProbeInfo> {
    store
        .model
        .reports()
        .map(|report| {
            let active = |source: Source| {
                report.meta.sources.iter().any(|s| s.source == source && s.state == SourceState::Active)
            };
            ProbeInfo {
                id: report.probe.to_string(),
                host: report.host.id.to_string(),
                hostname: report.host.hostname.clone(),
                version: report.meta.version.clone(),
                last_seen: store.registry.get(&report.probe).map(|e| e.last_seen.0).unwrap_or(report.timestamp.0),
                sources: report
                    .meta
                    .sources
                    .iter()
                    .filter(|s| s.state == SourceState::Active)
                    .map(|s| s.source)
                    .collect(),
                source_states: report.meta.sources.iter().map(SourceInfo::from).collect(),
                docker: if active(Source::Docker) { "connected" } else { "unavailable" },
                connections: if active(Source::Ebpf) { "ebpf" } else { "sockets" },
                ebpf_unavailable: report.meta.sources.iter().find_map(|s| match (&s.source, &s.state) {
                    (Source::Ebpf, SourceState::Unavailable { reason }) => Some(reason.clone()),
                    _ => None,
                }),
                traced_overflow: report.meta.traced_overflow,
                dropped_frames: report.meta.dropped_frames,
                host_conflict: store.registry.alias(&report.probe).map(|alias| HostConflict {
                    reported_host: alias.reported.to_string(),
                    with_probe: alias.conflicts_with.to_string(),
                }),
            }
        })
        .collect()
}
