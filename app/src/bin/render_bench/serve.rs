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
//! - the app's RSS.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use periscope::config::AppConfig;
use periscope::state::{now, AppState};
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
    let mut reports: Vec<periscope_report::Report> = (0..shape.hosts).map(|h| report(shape, h, 1, 0)).collect();
    for chunk in reports.chunks(50) {
        let chunk = chunk.to_vec();
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
    println!("Loaded and rendered every view in {:.1} s; RSS {:.0} MiB", started.elapsed().as_secs_f64(), rss_mib());

    let received = Arc::new(AtomicU64::new(0));
    let mut clients = 0;
    for (view, query, count) in VIEWS {
        for _ in 0..count {
            tokio::spawn(watch(address, view, query, received.clone()));
            clients += 1;
        }
    }
    // Every client's first message is its full view: wait for them before measuring.
    let first = Instant::now();
    while received.load(Ordering::Relaxed) == 0 || first.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("{clients} view clients connected; RSS {:.0} MiB", rss_mib());

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let health = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(probe_health(address, health.clone(), stop.clone()));
    let polls = Arc::new(AtomicU64::new(0));
    tokio::spawn(poll_topology(address, polls.clone(), stop.clone()));

    let mut on_thread = Vec::new();
    let mut end_to_end = Vec::new();
    let window = Instant::now();
    let mut tick = tokio::time::interval(DELTA_EVERY);
    let mut sample = 0u32;
    let bytes_before = received.load(Ordering::Relaxed);
    while window.elapsed() < WINDOW {
        tick.tick().await;
        let h = (sample * 37) % shape.hosts;
        sample += 1;
        let previous = &reports[h as usize];
        let next = report(shape, h, previous.seq + 1, sample);
        let delta = diff(previous, &next);
        reports[h as usize] = next;
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
    println!(
        "\nTopology list polls: {}; view bytes received: {:.0} KB/s over all clients; RSS at the end {:.0} MiB",
        polls.load(Ordering::Relaxed),
        (received.load(Ordering::Relaxed) - bytes_before) as f64 / elapsed / 1000.0,
        rss_mib()
    );
}

fn quantiles(mut values: Vec<Duration>) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    values.sort();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99), at(1.0))
}

async fn watch(app: SocketAddr, view: &str, query: &str, received: Arc<AtomicU64>) {
    let url = format!("ws://{app}/api/topology/{view}/ws{query}");
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
        eprintln!("cannot open {url}");
        return;
    };
    while let Some(Ok(message)) = socket.next().await {
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            received.fetch_add(text.len() as u64, Ordering::Relaxed);
        }
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
