//! `POST /api/control/{probe}/{node}/{control}`: run a control on the probe
//! that owns the node, and `GET /api/audit`: every control and pipe so far.
//!
//! A lifecycle control answers `{ "ok": true }` once the probe has done it
//! (the node's new state follows on the view streams as a delta); `logs`
//! and `exec` answer `{ "pipe": id, "url": "/api/pipe/{id}" }`, to attach
//! a WebSocket to within 30 s.

use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use periscope_report::{AppMessage, ProbeId};
use serde::{Deserialize, Serialize};

use crate::api::error::ApiError;
use crate::api::guard::ClientAddr;
use crate::audit::{AuditEntry, AuditKind};
use crate::clock::now;
use crate::control::{plan, ControlName, PipeParams};
use crate::node_id::NodeId;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/control/{probe}/{node}/{control}", post(control)).route("/api/audit", get(audit))
}

#[derive(Debug, Default, Deserialize)]
pub struct ControlQuery {
    /// Log lines of history before live output.
    tail: Option<u32>,
    /// Terminal size.
    cols: Option<u16>,
    rows: Option<u16>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ControlReply {
    Done { ok: bool },
    Pipe { pipe: String, url: String },
}

async fn control(
    State(state): State<AppState>,
    Path((probe, node, control)): Path<(String, String, String)>,
    Query(query): Query<ControlQuery>,
    Extension(client): Extension<ClientAddr>,
) -> Result<Json<ControlReply>, ApiError> {
    let record = |outcome: String| {
        state.audit.record(AuditEntry {
            time: now(),
            client: client.0.to_string(),
            probe: probe.clone(),
            node: node.clone(),
            action: control.clone(),
            kind: AuditKind::Control,
            outcome,
        })
    };
    let result = run(&state, &probe, &node, &control, &query, client).await;
    match &result {
        Ok(ControlReply::Done { .. }) => record("ok".to_owned()),
        Ok(ControlReply::Pipe { pipe, .. }) => record(format!("ok: pipe {pipe}")),
        Err(error) => record(format!("refused: {error}")),
    }
    result.map(Json)
}

async fn run(
    state: &AppState,
    probe: &str,
    node: &str,
    control: &str,
    query: &ControlQuery,
    client: ClientAddr,
) -> Result<ControlReply, ApiError> {
    if state.config.read_only {
        return Err(ApiError::ReadOnly);
    }
    let name: ControlName = control.parse()?;
    let node_id: NodeId = node.parse()?;
    let probe_id = ProbeId::new(probe);
    let defaults = PipeParams::default();
    let params = PipeParams {
        tail: query.tail.unwrap_or(defaults.tail),
        cols: query.cols.unwrap_or(defaults.cols),
        rows: query.rows.unwrap_or(defaults.rows),
    };
    if name.opens_pipe() && state.relay.pipes_of(client.ip()) >= state.config.max_pipes_per_client {
        return Err(crate::relay::TooManyPipes(state.config.max_pipes_per_client).into());
    }
    let planned = probe_id.clone();
    let (target, action) = state
        .with_store(move |store| plan(&store.model, &planned, &node_id, name, params))
        .await
        .map_err(|_| ApiError::Unavailable)??;
    let (request, reply) = state.relay.begin(&probe_id);
    if let Err(error) = state.send_to_probe(&probe_id, AppMessage::Control { request, target, action }) {
        state.relay.cancel(request);
        return Err(error.into());
    }
    let timeout = state.config.control_timeout;
    let answer = match tokio::time::timeout(timeout, reply).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_gone)) => return Err(ApiError::ProbeVanished(probe.to_owned())),
        Err(_elapsed) => {
            state.relay.cancel(request);
            return Err(ApiError::ControlTimeout(timeout.as_secs()));
        }
    };
    match answer {
        Err(text) => Err(ApiError::ProbeFailed(text)),
        Ok(None) => Ok(ControlReply::Done { ok: true }),
        Ok(Some((pipe, output))) => {
            let opened = state.relay.open_pipe(
                crate::relay::PipeOwner { probe: probe_id.clone(), pipe, client: client.ip(), node: node.to_owned() },
                output,
                name.as_str(),
                state.config.max_pipes_per_client,
                Instant::now(),
            );
            match opened {
                Ok(public) => Ok(ControlReply::Pipe { url: format!("/api/pipe/{public}"), pipe: public }),
                Err(too_many) => {
                    // Raced with another open from this client: the probe's pipe is not wanted.
                    let _ = state.send_to_probe(&probe_id, AppMessage::PipeClose { pipe });
                    Err(too_many.into())
                }
            }
        }
    }
}

async fn audit(State(state): State<AppState>) -> Json<Vec<AuditEntry>> {
    Json(state.audit.entries())
}
