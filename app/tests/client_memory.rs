//! Memory a view client costs is given back when it leaves (issue 15: 500
//! idle view WebSockets took the app from 18 to 393 MB, all of it kept after
//! they closed). Its own test binary, so the process's RSS is this test's
//! alone: the app and its clients, in one process, on loopback.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use periscope::config::AppConfig;
use periscope::state::AppState;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

async fn open_clients(url: &str, count: usize) -> Vec<impl Sized> {
    let mut clients = Vec::new();
    for _ in 0..count {
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let (sink, mut stream) = socket.split();
        // Each client reads its full view, as a browser would.
        let _first = stream.next().await.unwrap().unwrap();
        clients.push((sink, stream));
    }
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_returns_near_its_start_after_view_clients_leave() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let state = AppState::new(AppConfig { listen: Some(address), ..AppConfig::default() });
    tokio::spawn(periscope::serve(listener, state.clone()));
    let url = format!("ws://{address}/api/topology/containers/ws");
    let clients = state.config.max_view_clients;

    // A first round warms up what stays (runtime threads, the views, connection pools).
    drop(open_clients(&url, clients).await);
    let wait_for_leaving = async || {
        let deadline = Instant::now() + Duration::from_secs(15);
        while state.metrics.view_clients.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            assert!(Instant::now() < deadline, "view clients still open");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    wait_for_leaving().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = rss_bytes();

    let held = open_clients(&url, clients).await;
    let peak = rss_bytes();
    drop(held);
    wait_for_leaving().await;
    // Given back within a deadline: the trim runs shortly after the last client leaves.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut now = rss_bytes();
    while now > start + (peak.saturating_sub(start)) / 4 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = rss_bytes();
    }
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    eprintln!(
        "RSS with {clients} view clients: {:.1} MiB at start, {:.1} MiB with them ({:.0} KiB a client), {:.1} MiB after they left",
        mib(start),
        mib(peak),
        peak.saturating_sub(start) as f64 / 1024.0 / clients as f64,
        mib(now)
    );
    assert!(
        now <= start + (peak.saturating_sub(start)) / 4 + 8 * 1024 * 1024,
        "RSS {:.1} MiB after the clients left; {:.1} MiB at start, {:.1} MiB with them",
        mib(now),
        mib(start),
        mib(peak)
    );
}
