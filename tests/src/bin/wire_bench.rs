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
//!   (median, p95), → its `add` on the view WebSocket, and → its row drawn in
//!   the containers table in headless Chromium (`web/bench/latency.mjs`);
//! - probe stopped with SIGSTOP → its nodes gone from the REST view.
//!
//! Every container is named `periscope-test-wire-…` and removed afterwards;
//! traffic goes only to loopback and to these containers.
//!
//! Run: `cargo build --release -p periscope -p periscope-probe -p periscope-tests --bins &&
//! target/release/wire-bench --counts 20,100`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use periscope_tests::bench::{free_port, http_get, start_workload, wait_for, watch_view, Cleanup, Running};
use periscope_tests::docker::{docker, ensure_image, IMAGE};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const PREFIX: &str = "periscope-test-wire-";
const TOKEN: &str = "wire-bench-token-0123456789";
const PROBE_TOKEN: &str = "wire-bench-probe-token-0123456789";

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

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    ensure_image()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    println!("| containers | probe → app (bytes/s) | containers view (bytes/s) | docker run → REST, median / p95 (ms) | → view WebSocket, median / p95 (ms) | → row drawn in Chromium, median / p95 (ms) | SIGSTOP → nodes gone (s) |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for &count in &args.counts {
        let _cleanup = Cleanup::new(PREFIX);
        let row = runtime.block_on(measure(&args, count))?;
        println!(
            "| {count} + 1 idle | {:.0} | {:.0} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} |",
            row.probe_bytes_per_sec,
            row.view_bytes_per_sec,
            row.rest.0,
            row.rest.1,
            row.view.0,
            row.view.1,
            row.browser.0,
            row.browser.1,
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
    browser: (f64, f64),
    stop_detected_secs: f64,
}

async fn measure(args: &Args, count: usize) -> anyhow::Result<Row> {
    eprintln!("== {count} containers: starting");
    start_workload(PREFIX, count, |index| if index % 2 == 0 { "0.2" } else { "1" })?;

    let app_address = free_port()?;
    let _app = Running::spawn(
        Command::new(args.bin.join("periscope"))
            .args(["--no-probe", "--no-history", "--listen", &app_address.to_string()])
            // No UI token: on loopback the UI is open, so the browser needs no login.
            .env_remove("PERISCOPE_TOKEN")
            .env("PERISCOPE_PROBE_TOKEN", PROBE_TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .context("starting the app (build it with --release)")?;
    wait_for("the app", Duration::from_secs(30), || http_get(app_address, "/healthz", TOKEN).ok()).await?;

    let probe_bytes = Arc::new(AtomicU64::new(0));
    let relay = TcpListener::bind("127.0.0.1:0").await?;
    let relay_address = relay.local_addr()?;
    tokio::spawn(relay_to(relay, app_address, probe_bytes.clone()));
    let probe = Running::spawn(
        Command::new(args.bin.join("periscope-probe"))
            .args(["--app", &format!("ws://{relay_address}/api/probe/ws")])
            .env("PERISCOPE_PROBE_TOKEN", PROBE_TOKEN)
            .env("PERISCOPE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .context("starting the probe (build it with --release)")?;
    let wanted = format!("{PREFIX}idle");
    wait_for("the workload in the view", Duration::from_secs(60), || {
        http_get(app_address, "/api/topology/containers", TOKEN).ok().filter(|body| body.contains(&wanted))
    })
    .await?;

    let view_bytes = Arc::new(AtomicU64::new(0));
    let adds = Arc::new(std::sync::Mutex::new(Vec::<(String, Instant)>::new()));
    tokio::spawn(watch_view(app_address, "containers", TOKEN, view_bytes.clone(), adds.clone(), true));
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
            if http_get(app_address, "/api/topology/containers", TOKEN).is_ok_and(|body| body.contains(&node)) {
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

    eprintln!("   {} new containers, seen in Chromium", args.runs);
    let browser = browser_latency(app_address, args.runs).await?;

    eprintln!("   stopping the probe with SIGSTOP");
    let pid = probe.pid().to_string();
    Command::new("kill").args(["-STOP", &pid]).status()?;
    let stopped = Instant::now();
    wait_for("the probe's nodes to go", Duration::from_secs(60), || {
        http_get(app_address, "/api/probes", TOKEN).ok().filter(|body| body.trim() == "[]")
    })
    .await?;
    let stop_detected_secs = stopped.elapsed().as_secs_f64();
    Command::new("kill").args(["-CONT", &pid]).status()?;

    Ok(Row {
        probe_bytes_per_sec,
        view_bytes_per_sec,
        rest: median_p95(&mut rest),
        view: median_p95(&mut view),
        browser,
        stop_detected_secs,
    })
}

/// Runs web/bench/latency.mjs (Chromium, the containers table) against the app: (median, p95) in ms.
async fn browser_latency(app: SocketAddr, runs: usize) -> anyhow::Result<(f64, f64)> {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let output = tokio::process::Command::new("node")
        .arg("bench/latency.mjs")
        .current_dir(&web)
        .env("PERISCOPE_URL", format!("http://{app}/"))
        .env("PERISCOPE_LATENCY_RUNS", runs.to_string())
        .output()
        .await
        .context("running node bench/latency.mjs in web/ (npm ci first)")?;
    if !output.status.success() {
        bail!("the browser latency run failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).context("latency.mjs prints JSON")?;
    Ok((result["median_ms"].as_f64().unwrap_or(f64::NAN), result["p95_ms"].as_f64().unwrap_or(f64::NAN)))
}

fn median_p95(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values.get(((values.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    (at(0.5), at(0.95))
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
