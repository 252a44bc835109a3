//! Time travel and the change timeline: `GET /api/history` (what range is
//! held), `GET /api/events` (what changed), the `at` (and `from`) parameters
//! of the view and details routes, and playback on the view WebSocket
//! (`at=` starts it in the past; the client sends `pause`, `play`, `seek`).
//!
//! Rebuilding a past moment reads the store and renders: it runs on the
//! blocking pool, never on the async workers or the live store's lock.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use periscope_report::UnixMillis;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::api::error::ApiError;
use crate::api::view_socket::{text_frames, ViewSocket, ViewSocketUpgrade};
use crate::archive::event::Event;
use crate::archive::past::{PastView, DETAILS_SPAN_MS};
use crate::archive::replay::EventQuery;
use crate::archive::{Archive, ArchiveError, KEYFRAME_INTERVAL_MS};
use crate::clock::now;
use crate::metrics::Metrics;
use crate::node_id::NodeId;
use crate::render::output::{NodeDetails, ViewGraph, ViewMessage};
use crate::state::AppState;
use crate::view::{ViewId, ViewOptions};

/// The default span of `GET /api/events` when `from` is not given.
const EVENTS_DEFAULT_SPAN_MS: u64 = 3_600_000;
const EVENTS_DEFAULT_LIMIT: usize = 1_000;
const EVENTS_MAX_LIMIT: usize = 10_000;
/// Playback advances this often, by `speed` times as much history.
const PLAYBACK_STEP: Duration = Duration::from_secs(1);
const MAX_SPEED: f64 = 3_600.0;
/// While paused, a clock message every this many steps keeps the client's silence watchdog quiet.
const HEARTBEAT_TICKS: u32 = 5;
/// Browsers send small control messages; anything big is refused.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/history", get(info)).route("/api/events", get(events))
}

#[derive(Serialize)]
struct HistoryInfo {
    enabled: bool,
    /// First and last moments held (Unix ms); `null` when nothing is held yet.
    from: Option<u64>,
    to: Option<u64>,
    path: Option<String>,
    file_bytes: u64,
    max_bytes: Option<u64>,
    max_age_ms: Option<u64>,
    keyframe_interval_ms: u64,
    events: u64,
    /// Records the store could not hand to the writer (its channel was full).
    dropped_records: u64,
    write_errors: u64,
    /// Set while history is stopped by a write error (a full disk); the live view goes on.
    error: Option<String>,
}

async fn info(State(state): State<AppState>) -> Json<HistoryInfo> {
    let Some(archive) = &state.archive else {
        return Json(HistoryInfo {
            enabled: false,
            from: None,
            to: None,
            path: None,
            file_bytes: 0,
            max_bytes: None,
            max_age_ms: None,
            keyframe_interval_ms: KEYFRAME_INTERVAL_MS,
            events: 0,
            dropped_records: 0,
            write_errors: 0,
            error: None,
        });
    };
    let status = archive.status();
    let range = archive.range();
    let file_bytes = std::fs::metadata(archive.path()).map(|m| m.len()).unwrap_or(0);
    Json(HistoryInfo {
        enabled: true,
        from: range.map(|r| r.0 .0),
        to: range.map(|r| r.1 .0),
        path: Some(archive.path().display().to_string()),
        file_bytes,
        max_bytes: Some(archive.config().max_bytes),
        max_age_ms: Some(u64::try_from(archive.config().max_age.as_millis()).unwrap_or(u64::MAX)),
        keyframe_interval_ms: KEYFRAME_INTERVAL_MS,
        events: status.events.load(Ordering::Relaxed),
        dropped_records: status.dropped.load(Ordering::Relaxed),
        write_errors: status.write_errors.load(Ordering::Relaxed),
        error: status.failure.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    })
}

#[derive(Serialize)]
struct EventList {
    from: u64,
    to: u64,
    /// True when `limit` cut the list short: ask again from the last event's time.
    truncated: bool,
    events: Vec<Event>,
}

async fn events(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<EventList>, ApiError> {
    let archive = archive(&state)?.clone();
    let to = time_param(&query, "to")?.unwrap_or_else(now);
    let from = time_param(&query, "from")?.unwrap_or(UnixMillis(to.0.saturating_sub(EVENTS_DEFAULT_SPAN_MS)));
    if from > to {
        return Err(ApiError::BadParameter { name: "from", reason: "must not be after `to`".into() });
    }
    let limit = match param(&query, "limit") {
        None => EVENTS_DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=EVENTS_MAX_LIMIT).contains(&limit) => limit,
            _ => {
                return Err(ApiError::BadParameter {
                    name: "limit",
                    reason: format!("{text:?} is not a count from 1 to {EVENTS_MAX_LIMIT}"),
                })
            }
        },
    };
    let node = match param(&query, "node") {
        // Parsed only to refuse typos early; events keep the text form.
        Some(text) => Some(text.parse::<NodeId>().map(|id| id.to_string())?),
        None => None,
    };
    // One more than asked tells whether the list was cut.
    let query = EventQuery { from, to, node, limit: limit + 1 };
    let mut events = blocking(move || archive.events(&query)).await?;
    let truncated = events.len() > limit;
    events.truncate(limit);
    Ok(Json(EventList { from: from.0, to: to.0, truncated, events }))
}

/// The value of a query parameter, if given.
pub fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

/// A Unix-milliseconds query parameter.
pub fn time_param(query: &[(String, String)], name: &'static str) -> Result<Option<UnixMillis>, ApiError> {
    match param(query, name) {
        None => Ok(None),
        Some(text) => text.parse::<u64>().map(|ms| Some(UnixMillis(ms))).map_err(|_| ApiError::BadParameter {
            name,
            reason: format!("{text:?} is not a time in Unix milliseconds"),
        }),
    }
}

fn archive(state: &AppState) -> Result<&Archive, ApiError> {
    state.archive.as_ref().ok_or(ApiError::HistoryOff)
}

/// The archive, if it holds the moment `at`.
pub fn archive_at(state: &AppState, at: UnixMillis) -> Result<Archive, ApiError> {
    let archive = archive(state)?;
    match archive.range() {
        Some((from, to)) if from <= at && at <= to => Ok(archive.clone()),
        range => Err(ApiError::NoHistoryAt { at: at.0, range: range.map(|(f, t)| (f.0, t.0)) }),
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ArchiveError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(ApiError::History(error.to_string())),
        Err(_) => Err(ApiError::Internal),
    }
}

/// `GET /api/topology/{view}?at=`: the view as it was.
pub async fn past_graph(
    state: &AppState,
    view: ViewId,
    options: ViewOptions,
    at: UnixMillis,
) -> Result<ViewGraph, ApiError> {
    let archive = archive_at(state, at)?;
    blocking(move || PastView::build(&archive, view, at).map(|past| past.graph(&options))).await
}

/// `GET /api/topology/{view}/{node}?at=&from=`: details as they were at `at`
/// (default: the latest moment held), with samples from `from` (default 15 minutes before).
pub async fn past_details(
    state: &AppState,
    view: ViewId,
    node: NodeId,
    at: Option<UnixMillis>,
    from: Option<UnixMillis>,
) -> Result<Option<NodeDetails>, ApiError> {
    let at = match at {
        Some(at) => at,
        None => archive(state)?.range().map(|(_, to)| to).ok_or(ApiError::NoHistoryAt { at: now().0, range: None })?,
    };
    let archive = archive_at(state, at)?;
    let from = from.unwrap_or(UnixMillis(at.0.saturating_sub(DETAILS_SPAN_MS)));
    if from > at {
        return Err(ApiError::BadParameter { name: "from", reason: "must not be after `at`".into() });
    }
    blocking(move || {
        let past = PastView::build(&archive, view, at)?;
        past.details(&archive, &node, from)
    })
    .await
}

/// What a playback client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Command {
    Pause,
    Play { speed: Option<f64> },
    Seek { at: u64 },
}

/// What playback sends besides the view's `full` and `diff` messages.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PlaybackMessage {
    /// Where playback is: sent after every step, seek, pause or play.
    Clock {
        at: u64,
        playing: bool,
        speed: f64,
    },
    Error {
        error: String,
    },
}

/// How a playback starts: `speed` (history seconds per second, default 1) and `paused`.
pub fn playback_from_query(query: &[(String, String)]) -> Result<(f64, bool), ApiError> {
    let speed = match param(query, "speed") {
        None => 1.0,
        Some(text) => text.parse::<f64>().ok().filter(|s| *s > 0.0 && *s <= MAX_SPEED).ok_or_else(|| {
            ApiError::BadParameter { name: "speed", reason: format!("{text:?} is not a speed from 0 to {MAX_SPEED}") }
        })?,
    };
    let paused = matches!(param(query, "paused"), Some("true" | "1"));
    Ok((speed, paused))
}

/// Upgrades to a playback stream starting at `at`; the client holds `slot` under the view-client cap.
#[allow(clippy::too_many_arguments)]
pub fn upgrade_past(
    ws: ViewSocketUpgrade,
    state: AppState,
    archive: Archive,
    view: ViewId,
    options: ViewOptions,
    at: UnixMillis,
    (speed, paused): (f64, bool),
    slot: crate::api::view_socket::ClientSlot,
) -> Response {
    ws.on_upgrade(crate::api::view_socket::config(MAX_CLIENT_MESSAGE), move |socket: ViewSocket| async move {
        let _slot = slot;
        let (sink, stream) = socket.split();
        let sink = sink.with_flat_map(|text: String| futures_util::stream::iter(text_frames(text).into_iter().map(Ok)));
        let stream = stream
            .take_while(|message| std::future::ready(matches!(message, Ok(m) if !matches!(m, Message::Close(_)))))
            .filter_map(|message| {
                std::future::ready(match message {
                    Ok(Message::Text(text)) => Some(text.to_string()),
                    _ => None,
                })
            });
        stream_past(state, archive, view, options, at, speed, paused, Box::pin(sink), Box::pin(stream)).await;
    })
}

/// Sends the view as it was at `at`, then plays it forward (diffs and clock
/// messages each step) until paused; follows `pause`, `play` and `seek`.
/// Ends when the client goes away or a send fails.
#[allow(clippy::too_many_arguments)]
pub async fn stream_past<S, R>(
    state: AppState,
    archive: Archive,
    view: ViewId,
    options: ViewOptions,
    at: UnixMillis,
    mut speed: f64,
    paused: bool,
    mut sink: S,
    mut incoming: R,
) where
    S: Sink<String> + Unpin,
    R: Stream<Item = String> + Unpin,
{
    let mut playing = !paused;
    let Some(mut past) = build(&archive, view, at).await else {
        let _ = send(&mut sink, &PlaybackMessage::Error { error: "history unreadable at this moment".into() }).await;
        return;
    };
    let mut sent = match send_full(&mut sink, &past, &options).await {
        Some(sent) => sent,
        None => return,
    };
    let mut clock = at;
    if send(&mut sink, &PlaybackMessage::Clock { at: clock.0, playing, speed }).await.is_err() {
        return;
    }
    let mut ticks = tokio::time::interval(PLAYBACK_STEP);
    let mut idle_ticks = 0u32;
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if !playing {
                    // Paused: a clock now and then is the heartbeat that tells the client the link is alive.
                    idle_ticks += 1;
                    if idle_ticks.is_multiple_of(HEARTBEAT_TICKS)
                        && send(&mut sink, &PlaybackMessage::Clock { at: clock.0, playing, speed }).await.is_err()
                    {
                        break;
                    }
                    continue;
                }
                let end = archive.range().map(|(_, to)| to).unwrap_or(clock);
                let target = UnixMillis((clock.0 + (speed * PLAYBACK_STEP.as_millis() as f64) as u64).min(end.0.max(clock.0)));
                if target > clock {
                    let (moved, changes) = {
                        let past = past.clone();
                        let archive = archive.clone();
                        match tokio::task::spawn_blocking(move || {
                            let mut past = past.lock().unwrap_or_else(|p| p.into_inner());
                            past.advance(&archive, target)
                        })
                        .await
                        {
                            Ok(Ok(changes)) => (true, changes),
                            _ => (false, Default::default()),
                        }
                    };
                    if !moved {
                        let _ = send(&mut sink, &PlaybackMessage::Error { error: "history unreadable; playback paused".into() }).await;
                        playing = false;
                    } else {
                        clock = target;
                        let (nodes, edges) = past.lock().unwrap_or_else(|p| p.into_inner()).diff(&options, &mut sent, &changes);
                        if !nodes.is_empty() || !edges.is_empty() {
                            let diff = ViewMessage::Diff { view: view.as_str(), nodes, edges };
                            match send(&mut sink, &diff).await {
                                Ok(bytes) => {
                                    Metrics::inc(&state.metrics.diffs_sent);
                                    Metrics::add(&state.metrics.diff_bytes_sent, bytes as u64);
                                }
                                Err(()) => break,
                            }
                        }
                    }
                }
                if send(&mut sink, &PlaybackMessage::Clock { at: clock.0, playing, speed }).await.is_err() {
                    break;
                }
            }
            message = incoming.next() => {
                let Some(text) = message else { break };
                let reply = match serde_json::from_str::<Command>(&text) {
                    Ok(Command::Pause) => {
                        playing = false;
                        None
                    }
                    Ok(Command::Play { speed: new_speed }) => match new_speed {
                        Some(s) if !(s > 0.0 && s <= MAX_SPEED) => Some(format!("speed {s} is not from 0 to {MAX_SPEED}")),
                        _ => {
                            speed = new_speed.unwrap_or(speed);
                            playing = true;
                            None
                        }
                    },
                    Ok(Command::Seek { at }) => {
                        let at = UnixMillis(at);
                        match archive.range() {
                            Some((from, to)) if from <= at && at <= to => match build(&archive, view, at).await {
                                Some(fresh) => {
                                    past = fresh;
                                    clock = at;
                                    match send_full(&mut sink, &past, &options).await {
                                        Some(fresh_sent) => sent = fresh_sent,
                                        None => break,
                                    }
                                    None
                                }
                                None => Some("history unreadable at this moment".to_owned()),
                            },
                            _ => Some(format!("no history at {}", at.0)),
                        }
                    }
                    Err(error) => Some(format!("unknown command: {error}")),
                };
                let sent_ok = match reply {
                    Some(error) => send(&mut sink, &PlaybackMessage::Error { error }).await.is_ok(),
                    None => send(&mut sink, &PlaybackMessage::Clock { at: clock.0, playing, speed }).await.is_ok(),
                };
                if !sent_ok {
                    break;
                }
            }
        }
    }
}

type Shared = Arc<Mutex<PastView>>;

async fn build(archive: &Archive, view: ViewId, at: UnixMillis) -> Option<Shared> {
    let archive = archive.clone();
    match tokio::task::spawn_blocking(move || PastView::build(&archive, view, at)).await {
        Ok(Ok(past)) => Some(Arc::new(Mutex::new(past))),
        Ok(Err(error)) => {
            tracing::warn!(%error, at = at.0, "history: rebuilding a past view failed");
            None
        }
        Err(_) => None,
    }
}

async fn send_full<S: Sink<String> + Unpin>(
    sink: &mut S,
    past: &Shared,
    options: &ViewOptions,
) -> Option<crate::render::sent::SentView> {
    let (graph, sent) = past.lock().unwrap_or_else(|p| p.into_inner()).snapshot(options);
    let full = ViewMessage::Full { view: graph.view, nodes: graph.nodes, edges: graph.edges };
    send(sink, &full).await.ok().map(|_| sent)
}

async fn send<S: Sink<String> + Unpin, M: Serialize>(sink: &mut S, message: &M) -> Result<usize, ()> {
    let text = serde_json::to_string(message).map_err(|_| ())?;
    let bytes = text.len();
    sink.send(text).await.map_err(|_| ())?;
    Ok(bytes)
}
