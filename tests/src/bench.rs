//! Pieces the end-to-end benches share: child processes killed on drop,
//! prefixed containers removed on drop, a tiny HTTP client, a view client
//! that counts the bytes read off its socket, and RSS from /proc.

use std::net::SocketAddr;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use tokio::net::TcpStream;

use crate::docker::docker;

/// A child process, killed when dropped.
pub struct Running(Child);

impl Running {
    pub fn spawn(command: &mut Command) -> anyhow::Result<Running> {
        Ok(Running(command.spawn()?))
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Asks the child to stop (SIGTERM) and gives it `grace` to exit before
    /// the kill: for children that clean up after themselves (the browser
    /// watcher closes its Chromium).
    pub fn stop(mut self, grace: Duration) {
        if let Some(pid) = i32::try_from(self.0.id()).ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !matches!(self.0.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes every container whose name starts with the prefix when dropped (and when made).
pub struct Cleanup(&'static str);

impl Cleanup {
    pub fn new(prefix: &'static str) -> Cleanup {
        remove_prefixed(prefix);
        Cleanup(prefix)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_prefixed(self.0);
    }
}

/// Containers removed by one `docker rm`: Docker 20.10 removing a hundred at once once
/// deadlocked in its network code (every removal waiting on the same lock, for good).
const REMOVE_AT_ONCE: usize = 10;

/// Removes every container whose name starts with `prefix` (best effort).
pub fn remove_prefixed(prefix: &str) {
    if let Ok(ids) = docker(&["ps", "-aq", "--filter", &format!("name={prefix}")]) {
        let ids: Vec<&str> = ids.split_whitespace().collect();
        for batch in ids.chunks(REMOVE_AT_ONCE) {
            let mut args = vec!["rm", "-f"];
            args.extend(batch);
            let _ = docker(&args);
        }
    }
}

pub fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Polls `check` every 10 ms until it returns `Some`, or fails after `timeout`.
pub async fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A minimal blocking HTTP/1.0 GET with a bearer token; the body on 200.
pub fn http_get(address: SocketAddr, path: &str, token: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("no header end")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("{head}");
    }
    Ok(body.to_owned())
}

/// VmRSS of a process, in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .context("no VmRSS")
}

/// Watches a view like a browser: counts the bytes read off the socket into
/// `received` and notes when each node was first added (`adds`).
pub async fn watch_view(
    app: SocketAddr,
    view: &'static str,
    token: &'static str,
    received: Arc<AtomicU64>,
    adds: Arc<Mutex<Vec<(String, Instant)>>>,
    quiet: bool,
) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let stream = TcpStream::connect(app).await?;
    let counted = Counted { inner: stream, read: received };
    let mut request = format!("ws://{app}/api/topology/{view}/ws").into_client_request()?;
    request.headers_mut().insert("origin", format!("http://{app}").parse()?);
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse()?);
    let (mut socket, _) = tokio_tungstenite::client_async(request, counted).await?;
    while let Some(message) = socket.next().await {
        let tokio_tungstenite::tungstenite::Message::Text(text) = message? else { continue };
        let at = Instant::now();
        let value: serde_json::Value = serde_json::from_str(&text)?;
        let added = match value["type"].as_str() {
            Some("full") => value["nodes"].as_array().cloned().unwrap_or_default(),
            Some("diff") => value["nodes"]["add"].as_array().cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        if let Ok(mut adds) = adds.lock() {
            adds.extend(added.iter().filter_map(|node| node["id"].as_str()).map(|id| (id.to_owned(), at)));
        }
    }
    if !quiet {
        eprintln!("   the {view} view's stream ended");
    }
    Ok(())
}

/// A TCP stream that counts the bytes read from it.
pub struct Counted {
    pub inner: TcpStream,
    pub read: Arc<AtomicU64>,
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        self.read.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        poll
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The probe bench's workload, named `{prefix}…`: `count / 2` busybox `httpd`
/// servers, as many `wget` clients looping against them (client `i` pausing
/// `pause(i)`, e.g. "0.2" or "1" seconds), and one `{prefix}idle` container of
/// 200 sleeping processes. Returns the containers' names.
pub fn start_workload(
    prefix: &str,
    count: usize,
    pause: impl Fn(usize) -> &'static str,
) -> anyhow::Result<Vec<String>> {
    let servers = (count / 2).max(1);
    let mut names = Vec::new();
    let mut server_ips = Vec::new();
    for index in 0..servers {
        let name = format!("{prefix}httpd-{index}");
        docker(&["run", "-d", "--name", &name, crate::docker::IMAGE, "httpd", "-f", "-p", "80", "-h", "/www"])?;
        server_ips.push(docker(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", &name])?);
        names.push(name);
    }
    for index in 0..count.saturating_sub(servers) {
        let ip = &server_ips[index % servers];
        let script = format!("while true; do wget -q -O /dev/null http://{ip}/; sleep {}; done", pause(index));
        let name = format!("{prefix}wget-{index}");
        docker(&["run", "-d", "--name", &name, crate::docker::IMAGE, "sh", "-c", &script])?;
        names.push(name);
    }
    let idle = "for i in $(seq 200); do sleep 86400 & done; wait";
    let name = format!("{prefix}idle");
    docker(&["run", "-d", "--name", &name, crate::docker::IMAGE, "sh", "-c", idle])?;
    names.push(name);
    Ok(names)
}
