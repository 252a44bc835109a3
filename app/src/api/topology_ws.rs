//! `WS /api/topology/{view}/ws`: the full view first, then diffs of only what
//! changed, as soon as the model changes (coalesced by the publisher).
//!
//! [`stream_view`] is written over a `Sink`/`Stream` pair so tests drive it
//! with channels instead of a socket.

use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::api::error::ApiError;
use crate::api::guard::check_origin;
use crate::api::topology::parse;
use crate::metrics::Metrics;
use crate::render::output::ViewMessage;
use crate::state::{now, AppState};
use crate::view::{ViewId, ViewOptions};

/// Browsers send nothing but pings and close frames; anything big is refused.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

pub async fn upgrade(
    State(state): State<AppState>,
    Path(view): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    check_origin(&headers, &state.config)?;
    let (view, options) = parse(&view, &query)?;
    if let Some(at) = crate::api::history::time_param(&query, "at")? {
        let archive = crate::api::history::archive_at(&state, at)?;
        let playback = crate::api::history::playback_from_query(&query)?;
        return Ok(crate::api::history::upgrade_past(ws, state, archive, view, options, at, playback));
    }
    Ok(ws.max_message_size(MAX_CLIENT_MESSAGE).on_upgrade(move |socket: WebSocket| async move {
        let (sink, stream) = socket.split();
        let sink = sink.with(|text: String| async move { Ok::<_, axum::Error>(Message::Text(text.into())) });
        let stream = stream
            .take_while(|message| std::future::ready(matches!(message, Ok(m) if !matches!(m, Message::Close(_)))));
        stream_view(state, view, options, Box::pin(sink), Box::pin(stream)).await;
    }))
}

/// Sends the view, then its diffs, until the client goes away (its stream ends) or a send fails.
pub async fn stream_view<S, R, T>(state: AppState, view: ViewId, options: ViewOptions, mut sink: S, mut incoming: R)
where
    S: Sink<String> + Unpin,
    R: Stream<Item = T> + Unpin,
{
    state.metrics.view_clients.fetch_add(1, Ordering::Relaxed);
    let _gauge = ClientGauge(state.clone());
    let (mut changes, first, mut sent) = {
        let mut store = state.store();
        let pending = store.ready(view, now());
        // Subscribed under the lock: every change after this snapshot reaches us.
        let changes = state.subscribe(view);
        let Some((graph, sent)) = store.snapshot(view, &options) else { return };
        drop(store);
        state.publish(pending);
        (changes, ViewMessage::Full { view: graph.view, nodes: graph.nodes, edges: graph.edges }, sent)
    };
    if send(&mut sink, &first).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            change = changes.recv() => {
                let message = match change {
                    Ok(change) => {
                        let store = state.store();
                        let Some(view_state) = store.renderer.view(view) else { continue };
                        let (nodes, edges) = view_state.diff(&options, &mut sent, &change);
                        drop(store);
                        if nodes.is_empty() && edges.is_empty() {
                            continue;
                        }
                        ViewMessage::Diff { view: view.as_str(), nodes, edges }
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Too far behind to patch: start the client over.
                        let store = state.store();
                        let Some((graph, fresh)) = store.snapshot(view, &options) else { break };
                        drop(store);
                        sent = fresh;
                        ViewMessage::Full { view: graph.view, nodes: graph.nodes, edges: graph.edges }
                    }
                    Err(RecvError::Closed) => break,
                };
                match send(&mut sink, &message).await {
                    Ok(bytes) => {
                        Metrics::inc(&state.metrics.diffs_sent);
                        Metrics::add(&state.metrics.diff_bytes_sent, bytes as u64);
                    }
                    Err(()) => break,
                }
            }
            message = incoming.next() => {
                if message.is_none() {
                    break;
                }
            }
        }
    }
}

async fn send<S: Sink<String> + Unpin>(sink: &mut S, message: &ViewMessage) -> Result<usize, ()> {
    let text = serde_json::to_string(message).map_err(|_| ())?;
    let bytes = text.len();
    sink.send(text).await.map_err(|_| ())?;
    Ok(bytes)
}

struct ClientGauge(AppState);

impl Drop for ClientGauge {
    fn drop(&mut self) {
        self.0.metrics.view_clients.fetch_sub(1, Ordering::Relaxed);
    }
}
