//! `WS /api/probe/ws`: the probe channel. Probes authenticate with a bearer
//! token, send binary frames (a snapshot, then deltas), and get snapshot
//! requests or a rejection back. [`serve_probe`] runs over a `Sink`/`Stream`
//! pair so tests can drive it without a socket.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use periscope_report::{AppMessage, Codec};

use crate::api::error::ApiError;
use crate::api::guard::{check_origin, check_token};
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
    if let Err(error) = check_token(&headers, &state.config).and_then(|()| check_origin(&headers, &state.config)) {
        Metrics::inc(&state.metrics.rejected_connections);
        tracing::warn!(%error, "probe connection refused");
        return Err(error);
    }
    let limit = state.config.max_frame_bytes;
    Ok(ws.max_message_size(limit).max_frame_size(limit).on_upgrade(move |socket: WebSocket| async move {
        let (sink, stream) = socket.split();
        let sink = sink.with(|frame: Vec<u8>| async move { Ok::<_, axum::Error>(Message::Binary(frame.into())) });
        let stream = stream.map(|message| match message {
            Ok(Message::Binary(bytes)) => Incoming::Frame(bytes.to_vec()),
            Ok(Message::Close(_)) | Err(_) => Incoming::Close,
            Ok(_) => Incoming::Other,
        });
        serve_probe(state, Box::pin(sink), Box::pin(stream)).await;
    }))
}

/// Serves one probe until its channel closes or it falls silent; then its nodes are removed.
pub async fn serve_probe<S, R>(state: AppState, mut sink: S, mut incoming: R)
where
    S: Sink<Vec<u8>> + Unpin,
    R: Stream<Item = Incoming> + Unpin,
{
    let timeout = state.config.probe_timeout;
    let mut session = ProbeSession::new(state);
    let span = tracing::info_span!("probe_connection", probe = tracing::field::Empty);
    let codec = Codec::default();
    loop {
        let message = match tokio::time::timeout(timeout, incoming.next()).await {
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
            span.record("probe", tracing::field::display(probe));
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
    // Best effort: the peer may already be gone.
    let _ = sink.close().await;
}

async fn send<S: Sink<Vec<u8>> + Unpin>(sink: &mut S, codec: &Codec, message: &AppMessage) -> Result<(), ()> {
    let frame = codec.encode(message).map_err(|_| ())?;
    sink.send(frame).await.map_err(|_| ())
}
