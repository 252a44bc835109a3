//! Support for the probe tests: a stand-in for the app's probe WebSocket,
//! and the probe running in-process.
//!
//! [`FakeApp`] listens on 127.0.0.1, accepts probe connections, decodes every
//! frame with the real codec and replays snapshots and deltas with the real
//! `apply`, recording what arrived and when; tests read its state from the
//! test thread with `wait_until`. The probe and the fake app run on a tokio
//! runtime owned by the test, dropped (so stopped) at the end.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use periscope_report::{apply, AppMessage, Codec, ProbeMessage, Report, StreamDecoder};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// One frame as the fake app received it.
#[derive(Debug, Clone)]
pub struct Frame {
    pub at: Instant,
    pub connection: u32,
    pub bytes: usize,
    pub message: ProbeMessage,
}

#[derive(Debug, Default)]
pub struct AppState {
    /// The probe's state as replayed from its frames.
    pub report: Option<Report>,
    pub frames: Vec<Frame>,
    pub connections: u32,
    pub authorization: Vec<Option<String>>,
    /// Deltas that did not apply, decode failures: a correct probe leaves this empty.
    pub errors: Vec<String>,
}

impl AppState {
    pub fn snapshots(&self) -> impl Iterator<Item = &Frame> {
        self.frames.iter().filter(|f| matches!(f.message, ProbeMessage::Snapshot(_)))
    }

    pub fn deltas(&self) -> impl Iterator<Item = &Frame> {
        self.frames.iter().filter(|f| matches!(f.message, ProbeMessage::Delta(_)))
    }
}

enum Command {
    Send(AppMessage),
    Close,
}

pub struct FakeApp {
    pub address: SocketAddr,
    pub state: Arc<Mutex<AppState>>,
    current: Arc<Mutex<Option<mpsc::Sender<Command>>>>,
}

impl FakeApp {
    /// Listens on `address` (port 0 for any) on `runtime`.
    pub fn start(runtime: &tokio::runtime::Runtime, address: &str) -> FakeApp {
        let listener = runtime.block_on(TcpListener::bind(address)).expect("bind the fake app");
        let address = listener.local_addr().expect("fake app address");
        let state = Arc::new(Mutex::new(AppState::default()));
        let current = Arc::new(Mutex::new(None));
        let (state_for_task, current_for_task) = (state.clone(), current.clone());
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state_for_task.clone();
                let (sender, receiver) = mpsc::channel(16);
                *current_for_task.lock().unwrap() = Some(sender);
                tokio::spawn(serve(stream, state, receiver));
            }
        });
        FakeApp { address, state, current }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/api/probe/ws", self.address)
    }

    pub fn send(&self, message: AppMessage) {
        let sender = self.current.lock().unwrap().clone().expect("a probe is connected");
        sender.try_send(Command::Send(message)).expect("queue a message to the probe");
    }

    /// Closes the current probe connection from the app's side.
    pub fn close_connection(&self) {
        if let Some(sender) = self.current.lock().unwrap().take() {
            let _ = sender.try_send(Command::Close);
        }
    }

    /// Reads the state under the lock.
    pub fn with<T>(&self, read: impl FnOnce(&AppState) -> T) -> T {
        read(&self.state.lock().unwrap())
    }

    /// The replayed report, once a snapshot has arrived.
    pub fn report(&self) -> Option<Report> {
        self.with(|state| state.report.clone())
    }
}

// tungstenite fixes the callback's signature, and with it its large error type.
#[allow(clippy::result_large_err)]
async fn serve(stream: tokio::net::TcpStream, state: Arc<Mutex<AppState>>, mut commands: mpsc::Receiver<Command>) {
    let mut authorization = None;
    let callback = |request: &Request, response: Response| {
        authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(response)
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
    let connection = {
        let mut state = state.lock().unwrap();
        state.connections += 1;
        state.authorization.push(authorization);
        // A new connection starts from nothing: the probe owes a snapshot.
        state.report = None;
        state.connections
    };
    let codec = Codec::default();
    // Each connection's frames are one compressed stream.
    let mut decoder = StreamDecoder::new(codec).expect("a zstd context");
    // Like the app, ping every second: a probe that hears nothing for long reconnects.
    let mut ping = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            command = commands.recv() => match command {
                Some(Command::Send(message)) => {
                    let frame = codec.encode(&message).expect("encode an app message");
                    if socket.send(Message::Binary(frame.into())).await.is_err() {
                        return;
                    }
                }
                Some(Command::Close) | None => {
                    let _ = socket.close(None).await;
                    return;
                }
            },
            message = socket.next() => match message {
                Some(Ok(Message::Binary(bytes))) => receive(&state, connection, &mut decoder, &bytes),
                Some(Ok(_)) => {}
                _ => return,
            },
        }
    }
}

fn receive(state: &Mutex<AppState>, connection: u32, decoder: &mut StreamDecoder, bytes: &[u8]) {
    let mut state = state.lock().unwrap();
    let message = match decoder.decode::<ProbeMessage>(bytes) {
        Ok(message) => message,
        Err(error) => {
            state.errors.push(format!("decode: {error}"));
            return;
        }
    };
    match &message {
        ProbeMessage::Snapshot(report) => state.report = Some(report.clone()),
        ProbeMessage::Delta(delta) => match state.report.as_mut() {
            Some(report) => {
                if let Err(error) = apply(report, delta.clone()) {
                    state.errors.push(format!("apply: {error}"));
                }
            }
            None => state.errors.push("a delta before any snapshot".into()),
        },
        _ => {}
    }
    state.frames.push(Frame { at: Instant::now(), connection, bytes: bytes.len(), message });
}

/// A multi-threaded runtime for the probe and the fake app.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime")
}

/// A probe configuration for tests: the given app, fast ticks, no host-wide surprises.
pub fn config(app: &str, tick: Duration) -> periscope_probe::Config {
    periscope_probe::Config {
        app: app.to_owned(),
        tick_ms: tick.as_millis() as u64,
        probe_id: Some(format!("test-probe-{}", std::process::id())),
        ..Default::default()
    }
}

/// Runs the probe on `runtime` until the runtime is dropped.
pub fn spawn_probe(runtime: &tokio::runtime::Runtime, config: periscope_probe::Config) {
    runtime.spawn(async move {
        if let Err(error) = periscope_probe::run(config).await {
            eprintln!("probe stopped: {error:#}");
        }
    });
}

/// Waits until the replayed report satisfies `check` (which explains what is missing).
pub fn wait_for_report<T>(
    app: &FakeApp,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut(&Report) -> Result<T, String>,
) -> anyhow::Result<T> {
    periscope_tests::wait_until(what, timeout, || match app.report() {
        Some(report) => check(&report),
        None => Err("no snapshot yet".into()),
    })
}
