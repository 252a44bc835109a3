//! Support for the app's end-to-end tests: the app and its built-in probe
//! running in-process (as `periscope` standalone does), a tiny HTTP client for
//! the JSON API, and a WebSocket client for view streams.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use futures_util::StreamExt;
use periscope::config::AppConfig;
use periscope::state::AppState;
use serde_json::Value;

/// The app on a free loopback port with a probe of this host publishing to it.
pub struct App {
    pub runtime: tokio::runtime::Runtime,
    pub address: SocketAddr,
    pub state: AppState,
}

impl App {
    pub fn standalone() -> App {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let token = periscope::state::random_hex(16);
        let state = AppState::new(AppConfig { token: Some(token.clone()), ..AppConfig::default() });
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        runtime.spawn(periscope::serve(listener, state.clone()));
        let probe = periscope_probe::Config {
            app: format!("ws://{address}/api/probe/ws"),
            token: Some(token),
            probe_id: Some(format!("app-e2e-{}", address.port())),
            ..periscope_probe::Config::default()
        };
        runtime.spawn(async move {
            if let Err(error) = periscope_probe::run(probe).await {
                eprintln!("built-in probe stopped: {error:#}");
            }
        });
        App { runtime, address, state }
    }

    /// The app alone on a free loopback port, for probes that run elsewhere
    /// (a container, another user) and present `token`.
    pub fn alone(token: &str) -> App {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let state = AppState::new(AppConfig { token: Some(token.to_owned()), ..AppConfig::default() });
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        runtime.spawn(periscope::serve(listener, state.clone()));
        App { runtime, address, state }
    }

    /// `GET path` as JSON; errors are strings for `wait_until`.
    pub fn get_json(&self, path: &str) -> Result<Value, String> {
        let body = http_get(self.address, path)?;
        serde_json::from_str(&body).map_err(|error| format!("{path}: {error}: {body}"))
    }

    /// Opens a view's WebSocket.
    pub fn watch(&self, view: &str) -> ViewClient {
        let url = format!("ws://{}/api/topology/{view}/ws", self.address);
        let (socket, _) =
            self.runtime.block_on(tokio_tungstenite::connect_async(url.as_str())).expect("view websocket");
        ViewClient { socket }
    }
}

pub fn http_get(address: SocketAddr, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("{path}: {}", head.lines().next().unwrap_or_default()));
    }
    Ok(body.to_owned())
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct ViewClient {
    socket: Socket,
}

impl ViewClient {
    /// The next message, or `None` after `timeout`.
    pub fn next(&mut self, runtime: &tokio::runtime::Runtime, timeout: Duration) -> Option<Value> {
        runtime.block_on(async {
            let message = tokio::time::timeout(timeout, self.socket.next()).await.ok()??.ok()?;
            serde_json::from_str(message.to_text().ok()?).ok()
        })
    }
}

/// Nodes of a view as (id, node) pairs.
pub fn nodes(graph: &Value) -> Vec<&Value> {
    graph["nodes"].as_array().map(|nodes| nodes.iter().collect()).unwrap_or_default()
}

pub fn edges(graph: &Value) -> Vec<&Value> {
    graph["edges"].as_array().map(|edges| edges.iter().collect()).unwrap_or_default()
}
