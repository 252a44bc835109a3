//! `periscope-render-bench --serve [HOSTS]`: the whole app under load, as
//! issue 13's scale target asks. The app serves on loopback with every view
//! kept; the synthetic hosts are loaded; 50 view clients watch (containers,
//! processes, hosts, by image, compose, some with other options); the
//! topology list is polled as 50 UIs poll it (one GET every 5 s each); and
//! one host's delta arrives every 100 ms. It reports, over the window:
//! - delta in → diffs out: applying the delta, rendering it into every view
//!   and queueing each group's serialized diff, as timed on the store thread,
//!   and as timed by the sender (waiting behind other work included);
//! - `GET /healthz` latency, probed every 20 ms;
//! - the app's RSS. The view clients run in a child process (this binary
//!   with `--serve-clients ADDRESS`), so their buffers are not counted: a
//!   client of the processes view reads 126 MiB messages.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use periscope::clock::now;
use periscope::config::AppConfig;
use periscope::state::AppState;
use periscope_report::diff;

use super::{report, rss_mib, Shape};

const WINDOW: Duration = Duration::from_secs(60);
const DELTA_EVERY: Duration = Duration::from_millis(100);
const VIEWS: [(&str, &str, usize); 7] = [
    ("containers", "", 20),
    ("processes", "", 10),
    ("hosts", "", 6),
    ("containers-by-image", "", 5),
    ("compose", "", 4),
    ("containers", "?stopped=show", 3),
    ("processes-by-name", "", 2),
];

pub fn run(shape: &Shape) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(serve(shape));
}

async fn serve(shape: &Shape) {
    let state = AppState::new(AppConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let address = listener.local_addr().expect("bound");
    tokio::spawn(periscope::serve(listener, state.clone()));

    println!(
        "Serving {} hosts × {} containers × {} processes on {address}",
        shape.hosts, shape.containers, shape.processes
    );
    let started = Instant::now();
    // The bench keeps no copy of the reports (it makes a host's report again for
    // the next delta's base), so the RSS is the app's and its clients'.
    for first in (0..shape.hosts).step_by(50) {
        let chunk: Vec<_> = (first..(first + 50).min(shape.hosts)).map(|h| report(shape, h, 1, 0)).collect();
        state
            .with_store(move |store| {
                for report in chunk {
                    store.insert_snapshot(report, now());
                }
                store.flush();
            })
            .await
            .expect("store");
    }
    let mut made: Vec<(u64, u32)> = vec![(1, 0); shape.hosts as usize];
    println!("Loaded and rendered every view in {:.1} s; RSS {:.0} MiB", started.elapsed().as_secs_f64(), rss_mib());

    let received = Arc::new(AtomicU64::new(0));
    let opened = Arc::new(AtomicU64::new(0));
    let clients: u64 = VIEWS.iter().map(|(_, _, count)| *count as u64).sum();
    let connecting = Instant::now();
    let _clients = ClientProcess::start(address, received.clone(), opened.clone());
    // Every client's first message is its full view: wait for all of them before measuring.
    while opened.load(Ordering::Relaxed) < clients {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connected_rss = rss_mib();
    periscope::limits::return_freed_memory();
    println!(
        "{clients} view clients connected and sent their full views in {:.1} s; RSS {connected_rss:.0} MiB, \
         {:.0} MiB once freed memory is given back",
        connecting.elapsed().as_secs_f64(),
        rss_mib()
    );

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let health = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(probe_health(address, health.clone(), stop.clone()));
    let polls = Arc::new(AtomicU64::new(0));
    tokio::spawn(poll_topology(address, polls.clone(), stop.clone()));

    let mut on_thread = Vec::new();
    let mut end_to_end = Vec::new();
    let mut rss = Vec::new();
    let window = Instant::now();
    let mut tick = tokio::time::interval(DELTA_EVERY);
    let mut sample = 0u32;
    let bytes_before = received.load(Ordering::Relaxed);
    // PERISCOPE_BENCH_SECONDS: a longer window, to see where the RSS settles.
    let length =
        std::env::var("PERISCOPE_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).map_or(WINDOW, Duration::from_secs);
    while window.elapsed() < length {
        tick.tick().await;
        let h = (sample * 37) % shape.hosts;
        sample += 1;
        let (seq, variant) = made[h as usize];
        let delta = diff(&report(shape, h, seq, variant), &report(shape, h, seq + 1, sample));
        made[h as usize] = (seq + 1, sample);
        let sent = Instant::now();
        let took = state
            .with_store(move |store| {
                let started = Instant::now();
                store.apply_delta(delta, now());
                store.flush();
                started.elapsed()
            })
            .await
            .expect("store");
        end_to_end.push(sent.elapsed());
        on_thread.push(took);
        rss.push(rss_mib());
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = window.elapsed().as_secs_f64();
    let health = health.lock().map(|h| h.clone()).unwrap_or_default();
    println!(
        "\n| {} hosts, {} deltas at {:.0}/s, {clients} view clients | median | p99 | max |",
        shape.hosts,
        on_thread.len(),
        on_thread.len() as f64 / elapsed
    );
    println!("| --- | --- | --- | --- |");
    for (what, values) in [
        ("delta in → diffs out, on the store thread", on_thread),
        ("delta in → diffs out, as the sender waited", end_to_end),
        ("GET /healthz", health),
    ] {
        let (median, p99, max) = quantiles(values);
        println!("| {what} | {median:.1} ms | {p99:.1} ms | {max:.1} ms |");
    }
    let trajectory: Vec<String> = rss.iter().step_by(100).map(|mib| format!("{mib:.0}")).collect();
    rss.sort_by(f64::total_cmp);
    println!(
        "\nTopology list polls: {}; view bytes received: {:.0} KB/s over all clients; \
         RSS at each delta: median {:.0} MiB, max {:.0} MiB; at the end {:.0} MiB; every 10 s: {} MiB",
        polls.load(Ordering::Relaxed),
        (received.load(Ordering::Relaxed) - bytes_before) as f64 / elapsed / 1000.0,
        rss.get(rss.len() / 2).copied().unwrap_or(0.0),
        rss.last().copied().unwrap_or(0.0),
        rss_mib(),
        trajectory.join(", ")
    );
}

/// The view clients' process, killed when dropped; its progress lines
/// (`opened N received BYTES`) feed the counters.
struct ClientProcess(std::process::Child);

impl ClientProcess {
    fn start(app: SocketAddr, received: Arc<AtomicU64>, opened: Arc<AtomicU64>) -> ClientProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe().expect("this binary"))
            .args(["--serve-clients", &app.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting the clients' process");
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if let ["opened", count, "received", bytes] = fields.as_slice() {
                    opened.store(count.parse().unwrap_or(0), Ordering::Relaxed);
                    received.store(bytes.parse().unwrap_or(0), Ordering::Relaxed);
                }
            }
        });
        ClientProcess(child)
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `--serve-clients ADDRESS`: the 50 view clients, reporting every 100 ms until killed.
pub fn clients(app: SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let received = Arc::new(AtomicU64::new(0));
        let opened = Arc::new(AtomicU64::new(0));
        for (view, query, count) in VIEWS {
            for _ in 0..count {
                tokio::spawn(watch(app, view, query, received.clone(), opened.clone()));
            }
        }
        loop {
            println!("opened {} received {}", opened.load(Ordering::Relaxed), received.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

fn quantiles(mut values: Vec<Duration>) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    values.sort();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99), at(1.0))
}

async fn watch(app: SocketAddr, view: &str, query: &str, received: Arc<AtomicU64>, opened: Arc<AtomicU64>) {
    let url = format!("ws://{app}/api/topology/{view}/ws{query}");
    // The processes view of 1,000 hosts is ~126 MiB of JSON: past tungstenite's 64 MiB default.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(1 << 30))
        .max_frame_size(Some(1 << 30));
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false).await
    else {
        eprintln!("cannot open {url}");
        opened.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut first = true;
    loop {
        let message = match socket.next().await {
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                eprintln!("{url}: {error}");
                break;
            }
            None => break,
        };
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            received.fetch_add(text.len() as u64, Ordering::Relaxed);
            if first {
                first = false;
                opened.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if first {
        // Never got its first view: counted anyway, so the bench does not wait forever.
        opened.fetch_add(1, Ordering::Relaxed);
    }
}

async fn get(app: SocketAddr, path: &str) -> Option<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(app).await.ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {app}\r\n\r\n").as_bytes()).await.ok()?;
    let mut body = Vec::new();
    stream.read_to_end(&mut body).await.ok()?;
    body.starts_with(b"HTTP/1.0 200")
        .then(|| started.elapsed())
        .or_else(|| body.starts_with(b"HTTP/1.1 200").then(|| started.elapsed()))
}

async fn probe_health(app: SocketAddr, latencies: Arc<Mutex<Vec<Duration>>>, stop: Arc<std::sync::atomic::AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let (Some(took), Ok(mut latencies)) = (get(app, "/healthz").await, latencies.lock()) {
            latencies.push(took);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Fifty UIs polling every 5 s: one GET every 100 ms.
async fn poll_topology(app: SocketAddr, polls: Arc<AtomicU64>, stop: Arc<std::sync::atomic::AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if get(app, "/api/topology").await.is_some() {
            polls.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
