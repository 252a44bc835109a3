//! `periscope-pipe-bench`: a terminal pipe streaming tens of megabytes
//! through the app, against the real Docker engine, while the probe keeps
//! reporting. Prints how late the probe's reports reached the app (collect
//! time to applied) before and during the stream, the pipe's throughput,
//! and the process's RSS (app and its probe, in-process) over time.
//!
//! The busybox test image must exist (the Docker tests build it:
//! `cargo test -p periscope-tests --test docker_support`).
//!
//! Usage: `periscope-pipe-bench [MEGABYTES] [PIPE_BYTES_PER_SEC]` (default
//! 50, and the probe's default cap of 4 MiB/s).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use periscope::config::AppConfig;
use periscope::state::AppState;
use periscope_report::ProbeId;
use tokio_tungstenite::tungstenite::Message;

const IMAGE: &str = "periscope-test-busybox:latest";
const PROBE: &str = "pipe-bench";

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

fn docker(args: &[&str]) -> anyhow::Result<String> {
    let output = std::process::Command::new("docker").args(args).output()?;
    anyhow::ensure!(output.status.success(), "docker {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Removes the bench's container however the bench ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        // Nothing to do about a failed removal at exit.
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

/// Samples how late each new report reached the app: now minus the report's collect timestamp.
async fn report_lateness(state: &AppState, until: Instant) -> Vec<Duration> {
    let probe = ProbeId::new(PROBE);
    let mut last = 0u64;
    let mut lateness = Vec::new();
    while Instant::now() < until {
        let probe = probe.clone();
        let timestamp = state.with_store(move |store| store.model.report(&probe).map(|r| r.timestamp.0)).await;
        if let Ok(Some(timestamp)) = timestamp {
            if timestamp != last {
                last = timestamp;
                let now = periscope::clock::now().0;
                lateness.push(Duration::from_millis(now.saturating_sub(timestamp)));
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    lateness
}

fn summary(label: &str, lateness: &[Duration]) {
    let mut sorted = lateness.to_vec();
    sorted.sort();
    let at = |q: f64| sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default();
    println!(
        "| {label} | {} | {} ms | {} ms | {} ms |",
        sorted.len(),
        at(0.5).as_millis(),
        at(0.95).as_millis(),
        sorted.last().copied().unwrap_or_default().as_millis()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let megabytes: u64 = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(50);
    docker(&["image", "inspect", IMAGE])
        .map_err(|_| anyhow::anyhow!("{IMAGE} is missing: run the Docker tests once to build it"))?;
    let name = format!("periscope-test-pipe-bench-{}", std::process::id());
    let id =
        docker(&["run", "-d", "--name", &name, IMAGE, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"])?;
    let _container = Container(id.clone());

    let token = periscope::random::random_hex(16);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let state = AppState::new(AppConfig { token: Some(token.clone()), listen: Some(address), ..AppConfig::default() });
    tokio::spawn(periscope::serve(listener, state.clone()));
    let probe = periscope_probe::Config {
        app: format!("ws://{address}/api/probe/ws"),
        token: Some(token),
        probe_id: Some(PROBE.into()),
        pipe_bytes_per_sec: std::env::args()
            .nth(2)
            .and_then(|arg| arg.parse().ok())
            .unwrap_or(periscope_probe::Config::default().pipe_bytes_per_sec),
        ..periscope_probe::Config::default()
    };
    let cap = probe.pipe_bytes_per_sec;
    let tick = probe.tick();
    tokio::spawn(periscope_probe::run(probe));

    // Wait for the container in the model, then a quiet baseline.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let container = periscope_report::ContainerId::new(id.clone());
        let known = state.with_store(move |store| store.model.container(&container).is_some()).await.unwrap_or(false);
        if known {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the container never reached the app");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "Pipe bench: {megabytes} MB through an exec pipe; probe tick {} ms, pipe cap {:.1} MiB/s\n",
        tick.as_millis(),
        cap as f64 / 1048576.0
    );
    let baseline = report_lateness(&state, Instant::now() + Duration::from_secs(10)).await;
    let rss_before = rss_mib();

    // Open a terminal and make it print `megabytes` of base64 (random, so incompressible-ish).
    let client =
        reqwest_like_post(address, &format!("/api/control/{PROBE}/container%3A{id}/exec?cols=200&rows=50")).await?;
    let url: String = serde_json::from_str::<serde_json::Value>(&client)?["url"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no pipe in {client}"))?
        .to_owned();
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}{url}")).await?;
    let raw_bytes = megabytes * 1_000_000 * 3 / 4;
    let command = format!("head -c {raw_bytes} /dev/urandom | base64; exit\n");
    socket.send(Message::Binary(command.into_bytes().into())).await?;

    let started = Instant::now();
    let mut received = 0u64;
    let mut last_poll = Instant::now();
    let mut rss_peak = rss_before;
    let mut rss_samples = Vec::new();
    let mut last_rss = Instant::now();
    let probe_id = ProbeId::new(PROBE);
    let mut last_timestamp = 0u64;
    let mut during = Vec::new();
    let mut closed = String::new();
    loop {
        let next = tokio::time::timeout(Duration::from_millis(5), socket.next()).await;
        match next {
            Ok(Some(Ok(Message::Binary(data)))) => received += data.len() as u64,
            Ok(Some(Ok(Message::Text(text)))) => {
                closed = text.to_string();
                break;
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(_))) | Ok(None) => break,
        }
        if last_poll.elapsed() >= Duration::from_millis(5) {
            last_poll = Instant::now();
            let probe = probe_id.clone();
            if let Ok(Some(timestamp)) =
                state.with_store(move |store| store.model.report(&probe).map(|r| r.timestamp.0)).await
            {
                if timestamp != last_timestamp {
                    last_timestamp = timestamp;
                    during.push(Duration::from_millis(periscope::clock::now().0.saturating_sub(timestamp)));
                }
            }
        }
        if last_rss.elapsed() >= Duration::from_millis(500) {
            last_rss = Instant::now();
            let rss = rss_mib();
            rss_peak = rss_peak.max(rss);
            rss_samples.push(rss);
        }
    }
    let took = started.elapsed();
    let rss_after = rss_mib();
    println!("| reports | count | median lateness | p95 | max |");
    println!("| --- | --- | --- | --- | --- |");
    summary("before the pipe (10 s)", &baseline);
    summary("while the pipe streams", &during);
    println!();
    println!(
        "Pipe: {:.1} MB received in {:.1} s ({:.2} MB/s); closed with {closed}",
        received as f64 / 1e6,
        took.as_secs_f64(),
        received as f64 / 1e6 / took.as_secs_f64()
    );
    let shown: Vec<String> =
        rss_samples.iter().step_by((rss_samples.len() / 12).max(1)).map(|r| format!("{r:.0}")).collect();
    println!(
        "RSS (app + probe, in-process): {rss_before:.0} MiB before, peak {rss_peak:.0} MiB, {rss_after:.0} MiB after; samples: {}",
        shown.join(" ")
    );
    Ok(())
}

/// A bare HTTP/1.1 POST on loopback, without a client crate.
async fn reqwest_like_post(address: std::net::SocketAddr, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = format!("POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    Ok(body.to_owned())
}
