//! `wire-bench`: probe → app → browser under the probe bench's workload, as
//! issue 13 measured Weave Scope: bytes counted on the TCP sockets, and
//! latencies as a client sees them.
//!
//! For each container count N it starts N/2 busybox `httpd` servers, N/2
//! `wget` clients (every 0.2 s and every 1 s, in turn) and one container of
//! 200 idle processes; runs the release `periscope` app (`--no-probe`) and
//! `periscope-probe`, the probe reaching the app through a counting TCP
//! relay; opens a containers-view WebSocket as a browser would, through a
//! counting stream. After a warm-up it reports, over the window:
//! - probe → app bytes/s and browser (containers view) bytes/s, as read off the sockets;
//! - `docker run` returning → the container in `GET /api/topology/containers`
//!   (median, p95), and → its `add` on the view WebSocket;
//! - probe stopped with SIGSTOP → its nodes gone from the REST view.
//!
//! Every container is named `periscope-test-wire-…` and removed afterwards;
//! traffic goes only to loopback and to these containers.
//!
//! Run: `cargo build --release -p periscope -p periscope-probe -p periscope-tests --bins &&
//! target/release/wire-bench --counts 20,100`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use periscope_tests::docker::{docker, ensure_image, IMAGE};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const PREFIX: &str = "periscope-test-wire-";
const TOKEN: &str = "wire-bench-token-0123456789";

struct Args {
    counts: Vec<usize>,
    seconds: u64,
    warmup: u64,
    runs: usize,
    bin: PathBuf,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        counts: vec![20, 100],
        seconds: 60,
        warmup: 20,
        runs: 20,
        bin: std::env::current_exe()?.parent().context("the bench's folder")?.to_path_buf(),
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--counts" => args.counts = value()?.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "--runs" => args.runs = value()?.parse()?,
            "--bin" => args.bin = value()?.into(),
            other => bail!("unknown flag {other} (--counts 20,100 --seconds 60 --warmup 20 --runs 20 --bin DIR)"),
        }
    }
    Ok(args)
}

/// Kills a child process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes the bench's containers when dropped.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(ids) = docker(&["ps", "-aq", "--filter", &format!("name={PREFIX}")]) {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = docker(&args);
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    ensure_image()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    println!("| containers | probe → app (bytes/s) | containers view (bytes/s) | docker run → REST, median / p95 (ms) | → view WebSocket, median / p95 (ms) | SIGSTOP → nodes gone (s) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for &count in &args.counts {
        let _cleanup = Cleanup;
        let row = runtime.block_on(measure(&args, count))?;
        println!(
            "| {count} + 1 idle | {:.0} | {:.0} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} |",
            row.probe_bytes_per_sec,
            row.view_bytes_per_sec,
            row.rest.0,
            row.rest.1,
            row.view.0,
            row.view.1,
            row.stop_detected_secs
        );
    }
    Ok(())
}

struct Row {
    probe_bytes_per_sec: f64,
    view_bytes_per_sec: f64,
    rest: (f64, f64),
    view: (f64, f64),
    stop_detected_secs: f64,
}

async fn measure(args: &Args, count: usize) -> anyhow::Result<Row> {
    eprintln!("== {count} containers: starting");
    let servers = count / 2;
    let mut server_ips = Vec::new();
    for index in 0..servers {
        let name = format!("{PREFIX}httpd-{index}");
        docker(&["run", "-d", "--name", &name, IMAGE, "httpd", "-f", "-p", "80", "-h", "/www"])?;
        server_ips.push(docker(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", &name])?);
    }
    for index in 0..count - servers {
        let ip = &server_ips[index % servers.max(1)];
        let pause = if index % 2 == 0 { "0.2" } else { "1" };
        let script = format!("while true; do wget -q -O /dev/null http://{ip}/; sleep {pause}; done");
        docker(&["run", "-d", "--name", &format!("{PREFIX}wget-{index}"), IMAGE, "sh", "-c", &script])?;
    }
    let idle = "for i in $(seq 200); do sleep 86400 & done; wait";
    docker(&["run", "-d", "--name", &format!("{PREFIX}idle"), IMAGE, "sh", "-c", idle])?;

    let app_address = free_port()?;
    let _app = Running(
        Command::new(args.bin.join("periscope"))
            .args(["--no-probe", "--listen", &app_address.to_string(), "--token", TOKEN])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the app (build it with --release)")?,
    );
    wait_for("the app", Duration::from_secs(30), || http_get(app_address, "/healthz").ok()).await?;

    let probe_bytes = Arc::new(AtomicU64::new(0));
    let relay = TcpListener::bind("127.0.0.1:0").await?;
    let relay_address = relay.local_addr()?;
    tokio::spawn(relay_to(relay, app_address, probe_bytes.clone()));
    let probe = Running(
        Command::new(args.bin.join("periscope-probe"))
            .args(["--app", &format!("ws://{relay_address}/api/probe/ws"), "--token", TOKEN])
            .env("PERISCOPE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the probe (build it with --release)")?,
    );
    let wanted = format!("{PREFIX}idle");
    wait_for("the workload in the view", Duration::from_secs(60), || {
        http_get(app_address, "/api/topology/containers").ok().filter(|body| body.contains(&wanted))
    })
    .await?;

    let view_bytes = Arc::new(AtomicU64::new(0));
    let adds = Arc::new(std::sync::Mutex::new(Vec::<(String, Instant)>::new()));
    tokio::spawn(watch_view(app_address, view_bytes.clone(), adds.clone()));
    eprintln!("   warming up for {} s", args.warmup);
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;

    eprintln!("   measuring bytes for {} s", args.seconds);
    let (probe_start, view_start, started) =
        (probe_bytes.load(Ordering::Relaxed), view_bytes.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let probe_bytes_per_sec = (probe_bytes.load(Ordering::Relaxed) - probe_start) as f64 / elapsed;
    let view_bytes_per_sec = (view_bytes.load(Ordering::Relaxed) - view_start) as f64 / elapsed;

    eprintln!("   {} new containers, one at a time", args.runs);
    let (mut rest, mut view) = (Vec::new(), Vec::new());
    for run in 0..args.runs {
        let name = format!("{PREFIX}new-{run}");
        let id = tokio::task::spawn_blocking({
            let name = name.clone();
            move || docker(&["run", "-d", "--name", &name, IMAGE, "sleep", "3600"])
        })
        .await??;
        let returned = Instant::now();
        let node = format!("container:{id}");
        loop {
            if http_get(app_address, "/api/topology/containers").is_ok_and(|body| body.contains(&node)) {
                rest.push(returned.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if returned.elapsed() > Duration::from_secs(10) {
                bail!("{name} never appeared in the REST view");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let seen = wait_for("the add on the view WebSocket", Duration::from_secs(10), || {
            adds.lock().ok()?.iter().find(|(id, _)| *id == node).map(|(_, at)| *at)
        })
        .await?;
        view.push(seen.saturating_duration_since(returned).as_secs_f64() * 1000.0);
    }

    eprintln!("   stopping the probe with SIGSTOP");
    let pid = probe.0.id().to_string();
    Command::new("kill").args(["-STOP", &pid]).status()?;
    let stopped = Instant::now();
    wait_for("the probe's nodes to go", Duration::from_secs(60), || {
        http_get(app_address, "/api/probes").ok().filter(|body| body.trim() == "[]")
    })
    .await?;
    let stop_detected_secs = stopped.elapsed().as_secs_f64();
    Command::new("kill").args(["-CONT", &pid]).status()?;

    Ok(Row {
        probe_bytes_per_sec,
        view_bytes_per_sec,
        rest: median_p95(&mut rest),
        view: median_p95(&mut view),
        stop_detected_secs,
    })
}

fn median_p95(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values.get(((values.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    (at(0.5), at(0.95))
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Polls `check` every 10 ms until it returns `Some`, or fails after `timeout`.
async fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> anyhow::Result<T> {
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

/// A minimal blocking HTTP/1.0 GET with the bench's bearer token; the body on 200.
fn http_get(address: SocketAddr, path: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").context("no header end")?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("{head}");
    }
    Ok(body.to_owned())
}

/// Relays every connection to `target`, counting the bytes the client sends.
async fn relay_to(listener: TcpListener, target: SocketAddr, sent: Arc<AtomicU64>) {
    while let Ok((client, _)) = listener.accept().await {
        let sent = sent.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(target).await else { return };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let upstream = async {
                let mut buffer = vec![0u8; 64 * 1024];
                loop {
                    let read = match tokio::io::AsyncReadExt::read(&mut client_read, &mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(read) => read,
                    };
                    sent.fetch_add(read as u64, Ordering::Relaxed);
                    if server_write.write_all(&buffer[..read]).await.is_err() {
                        break;
                    }
                }
                let _ = server_write.shutdown().await;
            };
            let downstream = async {
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                let _ = client_write.shutdown().await;
            };
            tokio::join!(upstream, downstream);
        });
    }
}

/// Watches the containers view like a browser, counting the bytes read off
/// the socket and noting when each node was first added.
async fn watch_view(
    app: SocketAddr,
    received: Arc<AtomicU64>,
    adds: Arc<std::sync::Mutex<Vec<(String, Instant)>>>,
) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let stream = TcpStream::connect(app).await?;
    let counted = Counted { inner: stream, read: received };
    let mut request = format!("ws://{app}/api/topology/containers/ws").into_client_request()?;
    request.headers_mut().insert("origin", format!("http://{app}").parse()?);
    request.headers_mut().insert("authorization", format!("Bearer {TOKEN}").parse()?);
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
    Ok(())
}

/// A TCP stream that counts the bytes read from it.
struct Counted {
    inner: TcpStream,
    read: Arc<AtomicU64>,
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
