//! `WS /api/probe/ws`: the probe channel. Probes authenticate with a bearer
//! token (the shared probe token, or their own from the credentials file,
//! which also binds the probe ID and host they may report), send binary
//! frames (a snapshot, then deltas, control results and pipe output, on one
//! compressed stream), and get snapshot requests, controls, pipe traffic or
//! a rejection back.
//!
//! Each connection decodes its frames on the blocking pool (decompression
//! may be costly) and hands them to the store thread; it pings the probe
//! every [`AppConfig::ping_interval`](crate::config::AppConfig) and drops it
//! after [`AppConfig::probe_timeout`](crate::config::AppConfig) without a
//! word. [`serve_probe`] runs over a `Sink`/`Stream` pair so tests can drive
//! it without a socket.
//!
//! Every connection has budgets (app/src/limits.rs): decoded bytes per
//! second (past it, nothing more is read from the socket until the debt is
//! paid, so a flood of small frames that expand a thousandfold costs a set
//! share of a core, and TCP pushes back on the sender); bad frames (the
//! connection is closed after [`AppConfig::max_bad_frames`](crate::config::AppConfig)
//! in a minute, and they are logged at a bounded rate app-wide); a deadline
//! to register with a snapshot; and reports are checked
//! ([`crate::validate`]: IDs, sequence, entities per probe) before they reach the store.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use periscope_report::{AppMessage, Codec, DecodeError, ProbeId, ProbeMessage, SnapshotReason, StreamDecoder};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use crate::api::error::ApiError;
use crate::api::guard::check_probe_token;
use crate::clock::now;
use crate::credentials::ProbeAuth;
use crate::ingest::{self, Ingested, Reply, ReportFrame};
use crate::limits::{Refusal, TokenBucket};
use crate::metrics::Metrics;
use crate::registry::ConnectionId;
use crate::state::AppState;
use crate::validate;

/// App → probe messages (controls, pipe input) waiting for one probe's socket.
const OUTBOX: usize = 256;
/// A frame that decoded to this much leaves its buffers to be trimmed (see `limits::return_freed_memory`).
const BIG_FRAME: u64 = 8 * 1024 * 1024;
/// Bad frames are counted over this long; `max_bad_frames` within it close the connection.
const BAD_FRAME_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// Frames decoded at once, app-wide: decoding never takes more than these
/// threads (nor their buffers' memory), however many probes send at once.
fn decode_slots() -> &'static Semaphore {
    static SLOTS: std::sync::OnceLock<Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Semaphore::new(cores.clamp(1, 4))
    })
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/probe/ws", get(upgrade))
}

/// What the socket loop needs to know about an incoming message.
#[derive(Debug)]
pub enum Incoming {
    Frame(Vec<u8>),
    /// Pongs, pings and text: not data, but proof the probe is alive.
    Other,
    Close,
}

/// What the socket loop sends.
#[derive(Debug, PartialEq)]
pub enum Outbound {
    Frame(Vec<u8>),
    Ping,
}

async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    // Host and Origin were checked by the guard (api/guard.rs); the probe token is checked here.
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
        let sink = sink.with(|outbound: Outbound| async move {
            Ok::<_, axum::Error>(match outbound {
                Outbound::Frame(frame) => Message::Binary(frame.into()),
                Outbound::Ping => Message::Ping(Default::default()),
            })
        });
        let stream = stream.map(|message| match message {
            Ok(Message::Binary(bytes)) => Incoming::Frame(bytes.to_vec()),
            Ok(Message::Close(_)) | Err(_) => Incoming::Close,
            Ok(_) => Incoming::Other,
        });
        serve_probe_as(state, auth, Box::pin(sink), Box::pin(stream)).await;
    }))
}

/// Why a connection's loop ended.
#[derive(Debug)]
enum End {
    Closed,
    Silent,
    Rejected,
    StreamBroken,
    StoreGone,
    /// Too many bad frames within [`BAD_FRAME_WINDOW`].
    BadFrames,
    /// No snapshot within the registration deadline.
    Unregistered,
}

/// Serves one probe that needed no token (tests, a tokenless loopback app).
pub async fn serve_probe<S, R>(state: AppState, sink: S, incoming: R)
where
    S: Sink<Outbound> + Unpin,
    R: Stream<Item = Incoming> + Unpin,
{
    serve_probe_as(state, ProbeAuth::Open, sink, incoming).await
}

/// Serves one probe until its channel closes or it falls silent; then its
/// nodes are removed, its pending controls fail and its pipes close.
pub async fn serve_probe_as<S, R>(state: AppState, auth: ProbeAuth, mut sink: S, mut incoming: R)
where
    S: Sink<Outbound> + Unpin,
    R: Stream<Item = Incoming> + Unpin,
{
    let mut connection = Connection::new(state.clone(), auth);
    let (outbox, mut outgoing) = mpsc::channel::<AppMessage>(OUTBOX);
    let mut ping = tokio::time::interval(state.config.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heard = Instant::now();
    let register_by = Instant::now() + state.config.probe_register_timeout;
    // While the decode budget is in debt, nothing is read from the probe.
    let mut throttled_until: Option<Instant> = None;
    let end = loop {
        tokio::select! {
            () = tokio::time::sleep_until(throttled_until.unwrap_or_else(Instant::now)), if throttled_until.is_some() => {
                throttled_until = None;
                // Not read while held back: its silence is ours.
                heard = Instant::now();
            }
            message = incoming.next(), if throttled_until.is_none() => {
                heard = Instant::now();
                let frame = match message {
                    Some(Incoming::Frame(frame)) => frame,
                    Some(Incoming::Other) => continue,
                    Some(Incoming::Close) | None => break End::Closed,
                };
                match connection.frame(frame, &outbox).await {
                    Ok(Reply::Nothing) => {}
                    Ok(Reply::Send(message)) => {
                        if send(&mut sink, &message).await.is_err() {
                            break End::Closed;
                        }
                    }
                    Ok(Reply::Close(message)) => {
                        let _ = send(&mut sink, &message).await;
                        break End::Rejected;
                    }
                    Err(end) => break end,
                }
                // Time spent on the frame (a busy store) is not the probe's silence.
                heard = Instant::now();
                if let Some(wait) = connection.budget_wait() {
                    state.metrics.refused.inc(Refusal::DecodeThrottled);
                    throttled_until = Some(Instant::now() + wait);
                }
            }
            Some(message) = outgoing.recv() => {
                if send(&mut sink, &message).await.is_err() {
                    break End::Closed;
                }
            }
            _ = ping.tick() => {
                if connection.probe.is_none() && Instant::now() >= register_by {
                    break End::Unregistered;
                }
                if throttled_until.is_none() && heard.elapsed() >= state.config.probe_timeout {
                    break End::Silent;
                }
                if sink.send(Outbound::Ping).await.is_err() {
                    break End::Closed;
                }
            }
        }
    };
    match end {
        End::Silent => {
            Metrics::inc(&state.metrics.probes_timed_out);
            let timeout = state.config.probe_timeout;
            connection.span.in_scope(|| tracing::warn!(?timeout, "probe silent; closing its channel"));
        }
        End::Unregistered => {
            state.metrics.refused.inc(Refusal::Unregistered);
            let deadline = state.config.probe_register_timeout;
            connection
                .span
                .in_scope(|| tracing::info!(?deadline, "probe connection sent no snapshot in time; closing it"));
        }
        End::BadFrames => {
            state.metrics.refused.inc(Refusal::BadFrames);
            let max = state.config.max_bad_frames;
            connection.span.in_scope(|| tracing::warn!(max, "too many bad frames from a probe; closing its channel"));
        }
        _ => tracing::debug!(probe = ?connection.probe, ?end, "probe channel ended"),
    }
    connection.closed().await;
    // Best effort: the peer may already be gone.
    let _ = sink.close().await;
}

async fn send<S: Sink<Outbound> + Unpin>(sink: &mut S, message: &AppMessage) -> Result<(), ()> {
    let frame = Codec::default().encode(message).map_err(|_| ())?;
    sink.send(Outbound::Frame(frame)).await.map_err(|_| ())
}

/// One probe connection's state between frames.
struct Connection {
    state: AppState,
    id: ConnectionId,
    /// Taken while a frame decodes on the blocking pool.
    decoder: Option<StreamDecoder>,
    probe: Option<ProbeId>,
    /// The credential the probe presented: which probe IDs and hosts it may report.
    auth: ProbeAuth,
    span: tracing::Span,
    /// Decoded bytes this connection may still send before it is held back.
    budget: TokenBucket,
    /// The decoder's count of decoded bytes when last charged to the budget.
    charged: u64,
    /// Bad frames in the window that started at `bad_since`.
    bad_frames: u32,
    bad_since: Instant,
}

impl Connection {
    fn new(state: AppState, auth: ProbeAuth) -> Connection {
        let codec = Codec::with_limit(state.config.max_decoded_bytes);
        let id = state.next_connection();
        let decoder = StreamDecoder::new(codec).ok();
        let span = tracing::info_span!("probe_connection", connection = id.0, probe = tracing::field::Empty);
        let rate = state.config.probe_decoded_bytes_per_sec;
        // The burst lets one snapshot of the largest size through at once.
        let burst = (state.config.max_decoded_bytes as u64).max(rate);
        let budget = TokenBucket::new(rate, burst, std::time::Instant::now());
        let bad_since = Instant::now();
        Connection { state, id, decoder, probe: None, auth, span, budget, charged: 0, bad_frames: 0, bad_since }
    }

    /// Charges what the last frames cost to decode; how long to hold the connection back, if in debt.
    fn budget_wait(&mut self) -> Option<std::time::Duration> {
        let decoded = self.decoder.as_ref().map_or(self.charged, StreamDecoder::decoded_bytes);
        let cost = decoded.saturating_sub(self.charged);
        self.charged = decoded;
        if cost >= BIG_FRAME {
            // The buffers of a frame this big went back to the allocator: give them back to the kernel.
            self.state.budgets.trim.request();
        }
        self.budget.spend(cost, std::time::Instant::now())
    }

    /// Counts a bad frame and logs it (at a bounded rate, app-wide); the
    /// connection ends when there were too many within the window.
    fn bad_frame(&mut self, what: &str, error: &dyn std::fmt::Display, bytes: usize) -> Result<(), End> {
        Metrics::inc(&self.state.metrics.bad_frames);
        if self.bad_since.elapsed() >= BAD_FRAME_WINDOW {
            self.bad_since = Instant::now();
            self.bad_frames = 0;
        }
        self.bad_frames += 1;
        if let Some(suppressed) = self.state.budgets.bad_frame_log.allow(std::time::Instant::now()) {
            self.span.in_scope(|| tracing::warn!(%error, bytes, suppressed, "{what}"));
        }
        if self.bad_frames >= self.state.config.max_bad_frames.max(1) {
            return Err(End::BadFrames);
        }
        Ok(())
    }

    /// Decodes and applies one frame. Bad frames are logged and counted, and
    /// the connection keeps serving, unless its compressed stream broke.
    async fn frame(&mut self, frame: Vec<u8>, outbox: &mpsc::Sender<AppMessage>) -> Result<Reply, End> {
        let metrics = self.state.metrics.clone();
        Metrics::inc(&metrics.frames_in);
        Metrics::add(&metrics.bytes_in, frame.len() as u64);
        let bytes = frame.len();
        let message = match self.decode(frame).await {
            Ok(message) => message,
            Err(error) => {
                self.bad_frame("bad probe frame", &error, bytes)?;
                return if self.decoder.as_ref().is_none_or(StreamDecoder::is_broken) {
                    Err(End::StreamBroken)
                } else {
                    Ok(Reply::Nothing)
                };
            }
        };
        let cap = self.state.config.max_entities_per_probe;
        let report = match message {
            ProbeMessage::Snapshot(report) => {
                if let Err(refused) = self.state.config.credentials.check(&self.auth, &report.probe, &report.host.id) {
                    Metrics::inc(&metrics.rejected_connections);
                    let (probe, host) = (&report.probe, &report.host.id);
                    self.span.in_scope(|| tracing::warn!(%probe, %host, %refused, "probe identity refused"));
                    return Ok(Reply::Close(AppMessage::Rejected { reason: refused.to_string() }));
                }
                if let Err(invalid) = validate::report(&report, cap) {
                    // Refused whole, before the store: a report the app cannot take is not rendered in part.
                    self.state.metrics.refused.inc(invalid.refusal());
                    Metrics::inc(&metrics.rejected_connections);
                    let probe = &report.probe;
                    self.span.in_scope(|| tracing::warn!(%probe, %invalid, "probe snapshot refused"));
                    drop(report);
                    self.state.budgets.trim.request();
                    return Ok(Reply::Close(AppMessage::Rejected { reason: format!("snapshot refused: {invalid}") }));
                }
                ReportFrame::Snapshot(report)
            }
            ProbeMessage::Delta(delta) => {
                if let Err(invalid) = validate::delta(&delta, cap) {
                    self.state.metrics.refused.inc(invalid.refusal());
                    self.bad_frame("probe delta refused", &invalid, bytes)?;
                    // The app's copy no longer follows the probe's: start over from a snapshot.
                    let reason = SnapshotReason::Unknown;
                    return Ok(Reply::Send(AppMessage::RequestSnapshot { reason }));
                }
                ReportFrame::Delta(delta)
            }
            other => {
                match &self.probe {
                    Some(probe) => self.state.relay.deliver(probe, other, &metrics),
                    // Not held against the connection: a reconnecting probe may flush pipe output
                    // queued for its last connection before its new snapshot is ready.
                    None => Metrics::inc(&metrics.bad_frames),
                }
                return Ok(Reply::Nothing);
            }
        };
        let (connection, bound, now) = (self.id, self.probe.clone(), now());
        let outcome = self
            .state
            .with_store(move |store| ingest::ingest_capped(store, connection, bound, report, now, cap))
            .await
            .map_err(|_| End::StoreGone)?;
        match outcome {
            Ok(Ingested { reply, bound }) => {
                if self.probe.is_none() {
                    if let Some(probe) = &bound {
                        // Recorded once: a span field recorded again is appended, not replaced.
                        self.span.record("probe", tracing::field::display(probe));
                        self.state.register_probe_outbox(probe.clone(), self.id, outbox.clone());
                    }
                }
                self.probe = bound;
                Ok(reply)
            }
            Err(error) => {
                if let Some(refusal) = error.refusal() {
                    self.state.metrics.refused.inc(refusal);
                }
                self.bad_frame("probe frame refused", &error, bytes)?;
                Ok(error.reply())
            }
        }
    }

    /// Decodes on the blocking pool: a small frame can expand to the decoded-size limit.
    async fn decode(&mut self, frame: Vec<u8>) -> Result<ProbeMessage, DecodeError> {
        let broken = || DecodeError::Decompress(std::io::Error::other("no decoder for this connection"));
        // Closed only if the app is going away; then the frame is dropped with the connection.
        let _slot = decode_slots().acquire().await.map_err(|_| broken())?;
        let mut decoder = self.decoder.take().ok_or_else(broken)?;
        let (decoder, result) = tokio::task::spawn_blocking(move || {
            let result = decoder.decode::<ProbeMessage>(&frame);
            (decoder, result)
        })
        .await
        .map_err(|_| broken())?;
        self.decoder = Some(decoder);
        result
    }

    /// The channel closed: the probe's nodes go at once (unless another connection holds the ID).
    async fn closed(&mut self) {
        let Some(probe) = self.probe.take() else { return };
        self.state.unregister_probe_outbox(&probe, self.id);
        let connection = self.id;
        let removed = self
            .state
            .with_store(move |store| {
                let removed = ingest::closed(store, &probe, connection);
                (removed, probe)
            })
            .await;
        if let Ok((true, probe)) = removed {
            self.span.in_scope(|| tracing::info!(%probe, "probe disconnected; its nodes are removed"));
            // What its report and views held goes back to the kernel, not only to the allocator.
            self.state.budgets.trim.request();
        }
    }
}

impl Drop for Connection {
    /// A task cancelled mid-frame (shutdown) never reached `closed`: do it without waiting.
    fn drop(&mut self) {
        let Some(probe) = self.probe.take() else { return };
        self.state.unregister_probe_outbox(&probe, self.id);
        let connection = self.id;
        self.state.post_to_store(move |store| {
            ingest::closed(store, &probe, connection);
        });
    }
}
