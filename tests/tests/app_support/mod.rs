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
        App::with(|_| {}, |_| {})
    }

    /// As [`App::standalone`], with the built-in probe's settings adjusted first.
    pub fn standalone_with(probe: impl FnOnce(&mut periscope_probe::Config)) -> App {
        App::with(|_| {}, probe)
    }

    /// The app keeping history in `dir` (as the `periscope` binary does by default).
    pub fn with_history(dir: &std::path::Path) -> App {
        let archive = periscope::archive::Archive::open(periscope::archive::HistoryConfig::new(dir)).expect("history");
        App::start(Some(archive), |_| {}, |_| {})
    }

    /// Stops the app and its probe, then history's writer, so another app can open the same store.
    pub fn stop(self) {
        let App { runtime, state, .. } = self;
        drop(runtime);
        let archive = state.archive.clone();
        drop(state);
        if let Some(archive) = archive {
            archive.close();
        }
    }

    /// The app and its probe, each configured further by the caller (after the defaults are set).
    pub fn with(app: impl FnOnce(&mut AppConfig), probe: impl FnOnce(&mut periscope_probe::Config)) -> App {
        App::start(None, app, probe)
    }

    fn start(
        archive: Option<periscope::archive::Archive>,
        app: impl FnOnce(&mut AppConfig),
        probe: impl FnOnce(&mut periscope_probe::Config),
    ) -> App {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let token = periscope::random::random_hex(16);
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        let mut config = AppConfig { token: Some(token.clone()), listen: Some(address), ..AppConfig::default() };
        app(&mut config);
        let state = AppState::with_archive(config, archive);
        runtime.spawn(periscope::serve(listener, state.clone()));
        let mut probe_config = periscope_probe::Config {
            app: format!("ws://{address}/api/probe/ws"),
            token: Some(token),
            probe_id: Some(format!("app-e2e-{}", address.port())),
            ..periscope_probe::Config::default()
        };
        probe(&mut probe_config);
        runtime.spawn(async move {
            if let Err(error) = periscope_probe::run(probe_config).await {
                eprintln!("built-in probe stopped: {error:#}");
            }
        });
        App { runtime, address, state }
    }

    /// The app alone on a free loopback port, for probes that run elsewhere
    /// (a container, another user) and present `token`.
    pub fn alone(token: &str) -> App {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address = listener.local_addr().unwrap();
        let config = AppConfig { token: Some(token.to_owned()), listen: Some(address), ..AppConfig::default() };
        let state = AppState::new(config);
        runtime.spawn(periscope::serve(listener, state.clone()));
        App { runtime, address, state }
    }

    /// The built-in probe's ID.
    pub fn probe_id(&self) -> String {
        format!("app-e2e-{}", self.address.port())
    }

    /// Any HTTP request; `(status, headers, body)`.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
        http(self.address, method, path, headers, body)
    }

    /// Opens a WebSocket at `path` with extra headers; the HTTP status when refused.
    pub fn websocket(&self, path: &str, headers: &[(&str, &str)]) -> Result<Socket, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("ws://{}{path}", self.address);
        let mut request = url.as_str().into_client_request().unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        match self.runtime.block_on(tokio_tungstenite::connect_async(request)) {
            Ok((socket, _)) => Ok(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(error) => panic!("websocket {path}: {error}"),
        }
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

/// An HTTP answer: status, the header block as text, and the body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }

    /// A response header's value (first match, name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// A raw HTTP/1.1 request (Connection: close) with `Host: {address}` unless `headers` names one.
pub fn http(address: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    Response { status, head: head.to_owned(), body }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
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

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct ViewClient {
    socket: Socket,
}

impl ViewClient {
    /// The next message, or `None` after `timeout`.
    /// The next JSON message, skipping pings and pongs (the app pings from the start).
    pub fn next(&mut self, runtime: &tokio::runtime::Runtime, timeout: Duration) -> Option<Value> {
        runtime.block_on(async {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let message = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()??.ok()?;
                if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                    return serde_json::from_str(&text).ok();
                }
            }
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
