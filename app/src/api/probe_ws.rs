//! `WS /api/probe/ws`: the probe channel. Probes authenticate with a bearer
//! token (the shared probe token, or their own from the credentials file),
//! send binary frames (a snapshot, then deltas, control replies and pipe
//! output), and get snapshot requests, controls, pipe input or a rejection
//! back. [`serve_probe`] runs over a `Sink`/`Stream` pair so tests can drive
//! it without a socket.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use periscope_report::{AppMessage, Codec};
use tokio::sync::mpsc;

use crate::api::error::ApiError;
use crate::api::guard::check_probe_token;
use crate::credentials::ProbeAuth;
use crate::ingest::{ProbeSession, Reply};
use crate::metrics::Metrics;
use crate::state::{now, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/probe/ws", get(upgrade))
}

/// What the socket loop needs to know about an incoming message.
#[derive(Debug)]
pub enum Incoming {
    Frame(Vec<u8>),
    /// Pings, pongs and text: ignored.
    Other,
    Close,
}

async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let auth = match check_probe_token(&headers, &state.config) {
        Ok(auth) => auth,
        Err(error) => {
            Metrics::inc(&state.metrics.rejected_connections);
            tracing::warn!(%error, "probe connection refused");
            return Err(error);
        }
    };
    let limit = state.config.max_frame_bytes;
    Ok(ws.max_message_size(limit).max_frame_size(limit).on_upgrade(move |socket: WebSocket| async move {
        let (sink, stream) = socket.split();
        let sink = sink.with(|frame: Vec<u8>| async move { Ok::<_, axum::Error>(Message::Binary(frame.into())) });
        let stream = stream.map(|message| match message {
            Ok(Message::Binary(bytes)) => Incoming::Frame(bytes.to_vec()),
            Ok(Message::Close(_)) | Err(_) => Incoming::Close,
            Ok(_) => Incoming::Other,
        });
        serve_probe_as(state, auth, Box::pin(sink), Box::pin(stream)).await;
    }))
}

/// Serves one probe that needed no token (tests, a tokenless loopback app).
pub async fn serve_probe<S, R>(state: AppState, sink: S, incoming: R)
where
    S: Sink<Vec<u8>> + Unpin,
    R: Stream<Item = Incoming> + Unpin,
{
    serve_probe_as(state, ProbeAuth::Open, sink, incoming).await
}

/// Serves one probe until its channel closes or it falls silent; then its
/// nodes are removed, its pending controls fail and its pipes close.
pub async fn serve_probe_as<S, R>(state: AppState, auth: ProbeAuth, mut sink: S, mut incoming: R)
where
    S: Sink<Vec<u8>> + Unpin,
    R: Stream<Item = Incoming> + Unpin,
{
    let timeout = state.config.probe_timeout;
    let mut session = ProbeSession::new(state.clone(), auth);
    let span = tracing::info_span!("probe_connection", probe = tracing::field::Empty);
    let codec = Codec::default();
    let (outgoing_sender, mut outgoing) = mpsc::channel::<AppMessage>(crate::state::PROBE_LINK_QUEUE);
    let mut linked = None;
    loop {
        let next = tokio::select! {
            message = tokio::time::timeout(timeout, incoming.next()) => message,
            Some(message) = outgoing.recv() => {
                if send(&mut sink, &codec, &message).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let message = match next {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(_) => {
                span.in_scope(|| tracing::warn!(probe = ?session.probe(), "probe silent; closing its channel"));
                break;
            }
        };
        let frame = match message {
            Incoming::Frame(frame) => frame,
            Incoming::Other => continue,
            Incoming::Close => break,
        };
        let reply = session.frame(&frame, now());
        if let Some(probe) = session.probe() {
            if linked.as_ref() != Some(probe) {
                span.record("probe", tracing::field::display(probe));
                state.link_probe(probe, session.connection(), outgoing_sender.clone());
                linked = Some(probe.clone());
            }
        }
        let (message, close) = match reply {
            Reply::Nothing => continue,
            Reply::Send(message) => (message, false),
            Reply::Close(message) => (message, true),
        };
        if send(&mut sink, &codec, &message).await.is_err() || close {
            break;
        }
    }
    session.closed();
    if let Some(probe) = linked {
        state.unlink_probe(&probe, session.connection());
    }
    // Best effort: the peer may already be gone.
    let _ = sink.close().await;
}

async fn send<S: Sink<Vec<u8>> + Unpin>(sink: &mut S, codec: &Codec, message: &AppMessage) -> Result<(), ()> {
    let frame = codec.encode(message).map_err(|_| ())?;
    sink.send(frame).await.map_err(|_| ())
}
