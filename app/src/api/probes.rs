//! `GET /api/probes`: the connected probes.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use periscope_report::{Source, SourceState};
use serde::Serialize;

use crate::state::AppState;

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
    sources: Vec<Source>,
    docker: &'static str,
    /// How connections are seen: `ebpf` (the tracer) or `sockets` (/proc, sock_diag and conntrack alone).
    connections: &'static str,
    /// Why the eBPF tracer is not in use, when it is not.
    ebpf_unavailable: Option<String>,
    /// Connection events the tracer could not count (its maps were full).
    traced_overflow: u64,
    dropped_frames: u64,
}

async fn list(State(state): State<AppState>) -> Json<Vec<ProbeInfo>> {
    let store = state.store();
    let probes = store
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
                docker: if active(Source::Docker) { "connected" } else { "unavailable" },
                connections: if active(Source::Ebpf) { "ebpf" } else { "sockets" },
                ebpf_unavailable: report.meta.sources.iter().find_map(|s| match (&s.source, &s.state) {
                    (Source::Ebpf, SourceState::Unavailable { reason }) => Some(reason.clone()),
                    _ => None,
                }),
                traced_overflow: report.meta.traced_overflow,
                dropped_frames: report.meta.dropped_frames,
            }
        })
        .collect();
    Json(probes)
}
