//! `WS /api/topology/{view}/ws`: the full view first, then diffs of only what
//! changed, as soon as the model changes (coalesced by the store thread,
//! which serializes each diff once for every client with the same options).
//!
//! Liveness both ways: the app pings (a client that answers nothing for
//! [`AppConfig::client_timeout`](crate::config::AppConfig) is closed) and sends
//! a `heartbeat` message when it has had nothing to say for
//! [`HEARTBEAT`], so a browser can tell a quiet view from a dead connection.
//!
//! [`stream_view`] is written over a `Sink`/`Stream` pair so tests drive it
//! with channels instead of a socket.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::api::error::ApiError;
use crate::api::view_params::parse;
use crate::api::view_socket::{text_frames, ClientSlot, ViewSocket, ViewSocketUpgrade};
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::subscriptions::{Outgoing, OUTBOX_CAPACITY};
use crate::view::{ViewId, ViewOptions};

/// Browsers send nothing but pongs and close frames; anything big is refused.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// A quiet view still sends this often, so the UI can notice a dead link.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
const HEARTBEAT_MESSAGE: &str = r#"{"type":"heartbeat"}"#;

/// What the socket loop sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    Text(String),
    Ping,
}

/// What the socket loop needs to know about a client message.
#[derive(Debug)]
pub enum ClientEvent {
    /// A pong or anything else: the client is alive.
    Alive,
    Close,
}

pub async fn upgrade(
    State(state): State<AppState>,
    Path(view): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    ws: ViewSocketUpgrade,
) -> Result<Response, ApiError> {
    // Host, Origin and the token were checked by the guard (api/guard.rs).
    let (view, options) = parse(&view, &query)?;
    let slot = ClientSlot::take(&state)?;
    if let Some(at) = crate::api::history::time_param(&query, "at")? {
        let archive = crate::api::history::archive_at(&state, at)?;
        let playback = crate::api::history::playback_from_query(&query)?;
        return Ok(crate::api::history::upgrade_past(ws, state, archive, view, options, at, playback, slot));
    }
    Ok(ws.on_upgrade(crate::api::view_socket::config(MAX_CLIENT_MESSAGE), move |socket: ViewSocket| async move {
        let _slot = slot;
        let (sink, stream) = socket.split();
        let sink = sink.with_flat_map(|frame: ClientFrame| {
            let messages = match frame {
                ClientFrame::Text(text) => text_frames(text),
                ClientFrame::Ping => vec![Message::Ping(Default::default())],
            };
            futures_util::stream::iter(messages.into_iter().map(Ok))
        });
        let stream = stream.map(|message| match message {
            Ok(Message::Close(_)) | Err(_) => ClientEvent::Close,
            Ok(_) => ClientEvent::Alive,
        });
        stream_view(state, view, options, Box::pin(sink), Box::pin(stream)).await;
    }))
}

/// Sends the view, then its diffs, until the client goes away, a send
/// fails, or the client stops answering pings.
pub async fn stream_view<S, R>(state: AppState, view: ViewId, options: ViewOptions, mut sink: S, mut incoming: R)
where
    S: Sink<ClientFrame> + Unpin,
    R: Stream<Item = ClientEvent> + Unpin,
{
    let mut ping = tokio::time::interval(state.config.ping_interval.max(Duration::from_secs(1)) * 5);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard = Instant::now();
    'subscription: loop {
        // A fresh outbox each time: a client that fell behind starts over from a full view.
        let (outbox, mut messages) = mpsc::channel(OUTBOX_CAPACITY);
        let Ok(Ok(client)) = state.with_store(move |store| store.subscribe(view, options, outbox)).await else {
            return;
        };
        let _subscribed = Unsubscribe { state: state.clone(), client };
        let mut quiet = Box::pin(tokio::time::sleep(HEARTBEAT));
        loop {
            let frame = tokio::select! {
                message = messages.recv() => match message {
                    Some(Outgoing::Full(message)) => {
                        let text = tokio::task::spawn_blocking(move || serde_json::to_string(&message)).await;
                        match text {
                            Ok(Ok(text)) => ClientFrame::Text(text),
                            _ => return,
                        }
                    }
                    Some(Outgoing::Diff(text)) => ClientFrame::Text(text.to_string()),
                    // Dropped by the store: too far behind to patch.
                    None => continue 'subscription,
                },
                event = incoming.next() => match event {
                    Some(ClientEvent::Alive) => {
                        heard = Instant::now();
                        continue;
                    }
                    Some(ClientEvent::Close) | None => return,
                },
                _ = ping.tick() => {
                    if heard.elapsed() >= state.config.client_timeout {
                        tracing::info!(view = view.as_str(), "a view client stopped answering pings; closing it");
                        return;
                    }
                    ClientFrame::Ping
                }
                () = &mut quiet => ClientFrame::Text(HEARTBEAT_MESSAGE.to_owned()),
            };
            if let ClientFrame::Text(text) = &frame {
                Metrics::add(&state.metrics.view_bytes_sent, text.len() as u64);
                quiet.as_mut().reset(Instant::now() + HEARTBEAT);
            }
            let big = matches!(&frame, ClientFrame::Text(text) if text.len() >= BIG_FRAME);
            if sink.send(frame).await.is_err() {
                return;
            }
            if big {
                // A big full view's buffers (its nodes, then its JSON) are freed now; glibc keeps them unless asked.
                state.budgets.trim.request();
            }
        }
    }
}

/// A frame this big (a full view of some 10,000 nodes) is followed by a trim.
const BIG_FRAME: usize = 4 << 20;

/// Leaves the store's subscriptions when the stream ends, however it ends.
struct Unsubscribe {
    state: AppState,
    client: crate::subscriptions::ClientId,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let client = self.client;
        self.state.post_to_store(move |store| store.unsubscribe(client));
    }
}
