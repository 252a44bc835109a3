//! The one WebSocket to the app, kept up with capped exponential backoff
//! and jitter.
//!
//! The link sends the frames the publish loop queues and hands every app
//! message back to it; it knows nothing of reports. Its state is an
//! explicit [`LinkEvent`] stream: `Connected(generation)` after each
//! successful upgrade, `App(message)`, `Disconnected`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use periscope_report::{AppMessage, Codec, StreamEncoder};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::queue::SendQueue;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection that lasted this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// App → probe messages are small: controls and pipe input.
const MAX_APP_MESSAGE: usize = 4 * 1024 * 1024;
/// The app pings every second; this long without a word from it means the
/// connection is dead (a half-open TCP connection never errors by itself).
const APP_SILENT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub enum LinkEvent {
    Connected(u64),
    App(AppMessage),
    Disconnected,
}

/// Capped exponential backoff with "equal jitter": half the step fixed, half random.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max, step: min }
    }

    pub fn reset(&mut self) {
        self.step = self.min;
    }

    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let jitter = crate::sys::random::random_u64() % (half.as_millis() as u64 + 1);
        half + Duration::from_millis(jitter)
    }
}

/// Connects, pumps and reconnects until dropped.
pub async fn maintain(url: String, token: Option<String>, queue: Arc<SendQueue>, events: mpsc::Sender<LinkEvent>) {
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    let mut failures = 0u32;
    loop {
        match connect(&url, token.as_deref()).await {
            Ok(socket) => {
                let generation = queue.start_generation();
                if failures > 0 {
                    info!(app = %url, after_failures = failures, "connected to the app");
                } else {
                    info!(app = %url, "connected to the app");
                }
                failures = 0;
                if events.send(LinkEvent::Connected(generation)).await.is_err() {
                    return;
                }
                let started = tokio::time::Instant::now();
                let outcome = pump(socket, generation, &queue, &events)
                    .instrument(info_span!("app_connection", app = %url, generation))
                    .await;
                queue.start_generation();
                if events.send(LinkEvent::Disconnected).await.is_err() {
                    return;
                }
                match outcome {
                    Ok(()) => info!(app = %url, "the app closed the connection"),
                    Err(error) => warn!(app = %url, %error, "lost the connection to the app"),
                }
                if started.elapsed() >= STABLE_AFTER {
                    backoff.reset();
                }
            }
            Err(error) => {
                if failures == 0 {
                    warn!(app = %url, %error, "cannot reach the app; collecting meanwhile and retrying with backoff");
                } else {
                    debug!(app = %url, %error, failures, "still cannot reach the app");
                }
                failures += 1;
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, token: Option<&str>) -> anyhow::Result<Socket> {
    let mut request = url.into_client_request()?;
    if let Some(token) = token {
        request.headers_mut().insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}"))?);
    }
    let (socket, _response) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .map_err(|_| anyhow::anyhow!("connecting timed out after {CONNECT_TIMEOUT:?}"))??;
    Ok(socket)
}

async fn pump(
    socket: Socket,
    generation: u64,
    queue: &SendQueue,
    events: &mpsc::Sender<LinkEvent>,
) -> anyhow::Result<()> {
    let (mut sink, mut stream) = socket.split();
    let codec = Codec::with_limit(MAX_APP_MESSAGE);
    // Queued frames are serialized bodies; each is compressed here, in send
    // order, on this connection's stream (the queue may drop, the stream may not).
    let mut encoder = StreamEncoder::new()?;
    let silence = tokio::time::sleep(APP_SILENT);
    tokio::pin!(silence);
    loop {
        tokio::select! {
            body = queue.pop(generation) => {
                let frame = encoder.frame(&body)?;
                sink.send(Message::Binary(frame.into())).await?;
            }
            () = &mut silence => anyhow::bail!("the app sent nothing for {APP_SILENT:?}"),
            message = stream.next() => {
                silence.as_mut().reset(tokio::time::Instant::now() + APP_SILENT);
                match message {
                Some(Ok(Message::Binary(bytes))) => match codec.decode::<AppMessage>(&bytes) {
                    Ok(AppMessage::Rejected { reason }) => {
                        anyhow::bail!("the app rejected this probe: {reason}");
                    }
                    Ok(message) => {
                        if events.send(LinkEvent::App(message)).await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(error) => warn!(%error, "undecodable message from the app; ignored"),
                },
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                // Pings are answered by tungstenite itself; text frames are not part of the protocol.
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..8).map(|_| backoff.next_delay()).collect();
        for (delay, step) in delays.iter().zip([100u64, 200, 400, 800, 1000, 1000, 1000, 1000]) {
            assert!(
                *delay >= Duration::from_millis(step / 2) && *delay <= Duration::from_millis(step),
                "{delay:?} for {step}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
