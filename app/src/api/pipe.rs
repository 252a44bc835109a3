//! `WS /api/pipe/{id}`: one pipe (logs or a terminal) between a browser and
//! the probe that runs it, relayed over the probe's channel.
//!
//! Binary frames carry the bytes both ways (output down, keystrokes up);
//! text frames carry JSON: `{"type":"resize","cols":…,"rows":…}` up,
//! `{"type":"closed","reason":"…"}` down before the app closes the socket.
//! Each output frame sent is acknowledged to the probe, which keeps at most
//! its credit window in flight: a slow browser slows its own pipe only. A
//! pipe idle both ways for `pipe_idle` is closed. [`relay_pipe`] runs over a
//! `Sink`/`Stream` pair so tests can drive it without a socket.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use periscope_report::AppMessage;
use serde::Deserialize;

use crate::api::error::ApiError;
use crate::api::guard::ClientAddr;
use crate::audit::{AuditEntry, AuditKind};
use crate::clock::now;
use crate::relay::{OpenPipe, PipeFrame};
use crate::state::AppState;

/// Keystrokes and resizes are small; a paste may be larger, but not this large.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/pipe/{id}", get(upgrade))
}

/// What a pipe client sends.
#[derive(Debug)]
pub enum ClientFrame {
    Input(Vec<u8>),
    Text(String),
    Close,
}

/// What a pipe client is sent.
#[derive(Debug, PartialEq)]
pub enum PipeMessage {
    Output(Vec<u8>),
    Closed(String),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Command {
    Resize { cols: u16, rows: u16 },
}

async fn upgrade(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Extension(client): Extension<ClientAddr>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if state.config.read_only {
        return Err(ApiError::ReadOnly);
    }
    let open = state.relay.attach(&id).ok_or_else(|| ApiError::UnknownPipe(id.clone()))?;
    if open.owner.client != client.ip() {
        // Not this client's pipe: refused, and the pipe closed rather than left for a guesser.
        state.relay.pipe_done(&open.owner);
        let _ = state.send_to_probe(&open.owner.probe, AppMessage::PipeClose { pipe: open.owner.pipe });
        return Err(ApiError::NotYourPipe);
    }
    Ok(ws.max_message_size(MAX_CLIENT_MESSAGE).on_upgrade(move |socket: WebSocket| async move {
        let (sink, stream) = socket.split();
        let sink = sink.with(|message: PipeMessage| async move {
            Ok::<_, axum::Error>(match message {
                PipeMessage::Output(data) => Message::Binary(data.into()),
                PipeMessage::Closed(reason) => {
                    Message::Text(serde_json::json!({ "type": "closed", "reason": reason }).to_string().into())
                }
            })
        });
        let stream = stream.filter_map(|message| async move {
            match message {
                Ok(Message::Binary(data)) => Some(ClientFrame::Input(data.to_vec())),
                Ok(Message::Text(text)) => Some(ClientFrame::Text(text.to_string())),
                Ok(Message::Close(_)) | Err(_) => Some(ClientFrame::Close),
                Ok(_) => None,
            }
        });
        relay_pipe(state, open, Box::pin(sink), Box::pin(stream)).await;
    }))
}

/// Relays one pipe until either side closes or it idles out; then tells the
/// probe (if it was the client's side that ended) and records it.
pub async fn relay_pipe<S, R>(state: AppState, mut open: OpenPipe, mut sink: S, mut incoming: R)
where
    S: Sink<PipeMessage> + Unpin,
    R: Stream<Item = ClientFrame> + Unpin,
{
    let owner = open.owner.clone();
    let idle = state.config.pipe_idle;
    let reason = loop {
        tokio::select! {
            frame = open.output.recv() => match frame {
                Some(PipeFrame::Output(data)) => {
                    let bytes = u32::try_from(data.len()).unwrap_or(u32::MAX);
                    if sink.send(PipeMessage::Output(data)).await.is_err() {
                        break close_at_probe(&state, &owner, "the client went away");
                    }
                    // Sent on: the probe may send that much more.
                    let _ = state.send_to_probe(&owner.probe, AppMessage::PipeAck { pipe: owner.pipe, bytes });
                }
                Some(PipeFrame::Closed(reason)) => {
                    let _ = sink.send(PipeMessage::Closed(reason.clone())).await;
                    break reason;
                }
                None => {
                    let reason = "the pipe was dropped".to_owned();
                    let _ = sink.send(PipeMessage::Closed(reason.clone())).await;
                    break reason;
                }
            },
            frame = incoming.next() => match frame {
                Some(ClientFrame::Input(data)) => {
                    if state.send_to_probe(&owner.probe, AppMessage::PipeInput { pipe: owner.pipe, data }).is_err() {
                        let reason = "the probe is unavailable".to_owned();
                        let _ = sink.send(PipeMessage::Closed(reason.clone())).await;
                        break reason;
                    }
                }
                Some(ClientFrame::Text(text)) => match serde_json::from_str::<Command>(&text) {
                    Ok(Command::Resize { cols, rows }) => {
                        let _ = state.send_to_probe(&owner.probe, AppMessage::PipeResize { pipe: owner.pipe, cols, rows });
                    }
                    Err(error) => tracing::debug!(%error, "unknown pipe command; ignored"),
                },
                Some(ClientFrame::Close) | None => break close_at_probe(&state, &owner, "closed by the client"),
            },
            () = tokio::time::sleep(idle) => {
                let reason = format!("idle for {idle:?}");
                let _ = sink.send(PipeMessage::Closed(reason.clone())).await;
                break close_at_probe(&state, &owner, &reason);
            }
        }
    };
    state.relay.pipe_done(&owner);
    // Best effort: the client may be gone already.
    let _ = sink.close().await;
    state.audit.record(AuditEntry {
        time: now(),
        client: owner.client.to_string(),
        probe: owner.probe.to_string(),
        node: owner.node.clone(),
        action: open.action.to_owned(),
        kind: AuditKind::PipeClosed,
        outcome: format!("closed: {reason}"),
    });
}

fn close_at_probe(state: &AppState, owner: &crate::relay::PipeOwner, reason: &str) -> String {
    // The probe may be gone already; then the pipe went with it.
    let _ = state.send_to_probe(&owner.probe, AppMessage::PipeClose { pipe: owner.pipe });
    reason.to_owned()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use futures::channel::mpsc as channel;
    use periscope_report::{PipeId, ProbeId, ProbeMessage, RequestId};
    use tokio::sync::mpsc;

    use super::*;
    use crate::config::AppConfig;
    use crate::metrics::Metrics;
    use crate::relay::PipeOwner;

    /// An app with one connected probe whose outbox the test reads, and a pipe opened on it.
    fn pipe(idle: Duration) -> (AppState, mpsc::Receiver<AppMessage>, OpenPipe) {
        let state = AppState::new(AppConfig { pipe_idle: idle, ..AppConfig::default() });
        let probe = ProbeId::new("p");
        let (outbox, to_probe) = mpsc::channel(64);
        state.register_probe_outbox(probe.clone(), state.next_connection(), outbox);
        let (request, mut answer) = state.relay.begin(&probe);
        let opened = ProbeMessage::ControlResult { request, result: Ok(Some(PipeId(7))) };
        state.relay.deliver(&probe, opened, &Metrics::default());
        assert_eq!(request, RequestId(1));
        let (pipe, output) = answer.try_recv().unwrap().unwrap().unwrap();
        let owner = PipeOwner { probe, pipe, client: "127.0.0.1".parse().unwrap(), node: "container:c".into() };
        let public = state.relay.open_pipe(owner, output, "exec", 4, Instant::now()).unwrap();
        let open = state.relay.attach(&public).unwrap();
        (state, to_probe, open)
    }

    async fn next<T>(receiver: &mut (impl futures_util::Stream<Item = T> + Unpin)) -> T {
        tokio::time::timeout(Duration::from_secs(5), receiver.next()).await.expect("in time").expect("open")
    }

    #[tokio::test]
    async fn input_resizes_output_acks_and_the_probe_closing_reach_their_side() {
        let (state, mut to_probe, open) = pipe(Duration::from_secs(60));
        let (sink, mut to_client) = channel::channel::<PipeMessage>(8);
        let (mut client, incoming) = channel::channel::<ClientFrame>(8);
        let task = tokio::spawn(relay_pipe(state.clone(), open, sink, incoming));

        client.send(ClientFrame::Input(b"ls\n".to_vec())).await.unwrap();
        assert_eq!(to_probe.recv().await, Some(AppMessage::PipeInput { pipe: PipeId(7), data: b"ls\n".to_vec() }));
        client.send(ClientFrame::Text(r#"{"type":"resize","cols":120,"rows":40}"#.into())).await.unwrap();
        assert_eq!(to_probe.recv().await, Some(AppMessage::PipeResize { pipe: PipeId(7), cols: 120, rows: 40 }));

        let probe = ProbeId::new("p");
        state.relay.deliver(
            &probe,
            ProbeMessage::PipeOutput { pipe: PipeId(7), data: b"out".to_vec() },
            &Metrics::default(),
        );
        assert_eq!(next(&mut to_client).await, PipeMessage::Output(b"out".to_vec()));
        assert_eq!(to_probe.recv().await, Some(AppMessage::PipeAck { pipe: PipeId(7), bytes: 3 }));

        let closed = ProbeMessage::PipeClosed { pipe: PipeId(7), reason: Some("the shell exited (code 0)".into()) };
        state.relay.deliver(&probe, closed, &Metrics::default());
        assert_eq!(next(&mut to_client).await, PipeMessage::Closed("the shell exited (code 0)".into()));
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
        let audit = state.audit.entries();
        assert_eq!(audit.last().map(|e| e.outcome.as_str()), Some("closed: the shell exited (code 0)"));
    }

    #[tokio::test]
    async fn an_idle_pipe_is_closed_on_both_sides() {
        let (state, mut to_probe, open) = pipe(Duration::from_millis(100));
        let (sink, mut to_client) = channel::channel::<PipeMessage>(8);
        let (_client, incoming) = channel::channel::<ClientFrame>(8);
        relay_pipe(state.clone(), open, sink, incoming).await;
        assert!(matches!(next(&mut to_client).await, PipeMessage::Closed(reason) if reason.starts_with("idle")));
        assert_eq!(to_probe.recv().await, Some(AppMessage::PipeClose { pipe: PipeId(7) }));
        assert_eq!(state.relay.pipes_of("127.0.0.1".parse().unwrap()), 0, "the client's pipe count is freed");
    }

    #[tokio::test]
    async fn the_client_going_away_closes_the_pipe_at_the_probe() {
        let (state, mut to_probe, open) = pipe(Duration::from_secs(60));
        let (sink, _to_client) = channel::channel::<PipeMessage>(8);
        let (mut client, incoming) = channel::channel::<ClientFrame>(8);
        client.send(ClientFrame::Close).await.unwrap();
        relay_pipe(state, open, sink, incoming).await;
        assert_eq!(to_probe.recv().await, Some(AppMessage::PipeClose { pipe: PipeId(7) }));
    }
}
