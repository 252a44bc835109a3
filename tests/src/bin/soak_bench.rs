//! `soak-bench`: nothing may grow. Runs the release app (`--no-probe`) and
//! `periscope-probe` for a long while under container churn, with view
//! clients watching, and samples both processes' RSS.
//!
//! Workload: `--servers` busybox `httpd` servers stay up; every `--churn-secs`
//! a new `wget` client container (looping every 0.2 s against a server) is
//! started and the oldest client removed, keeping `--clients` of them. View
//! clients watch the containers and processes views (a WebSocket each, as
//! the browser uses), `GET /api/topology` is polled every 5 s as the UI
//! does, and a headless Chromium keeps the real UI open on the containers
//! view (`web/bench/watch.mjs`, which reports the page's JS heap; `--no-browser`
//! leaves it out). After the warm-up, RSS of the app and of the probe is
//! sampled every 10 s; the bench prints the samples' range and the growth
//! from the first to the last tenth of the window, and the same for the
//! page's heap. Every container is named
//! `periscope-test-soak-…` and removed afterwards; traffic stays on loopback
//! and the bench's containers.
//!
//! Run: `cargo build --release -p periscope -p periscope-probe -p periscope-tests --bins &&
//! target/release/soak-bench --minutes 30`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use periscope_tests::bench::{free_port, http_get, rss_kib, wait_for, watch_view, Cleanup, Running};
use periscope_tests::docker::{docker, ensure_image, IMAGE};

const PREFIX: &str = "periscope-test-soak-";
const TOKEN: &str = "soak-bench-token-0123456789ab";

struct Args {
    minutes: u64,
    warmup_minutes: u64,
    servers: usize,
    clients: usize,
    churn_secs: u64,
    bin: PathBuf,
    browser: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        minutes: 30,
        warmup_minutes: 5,
        servers: 5,
        clients: 10,
        churn_secs: 5,
        bin: std::env::current_exe()?.parent().context("the bench's folder")?.to_path_buf(),
        browser: true,
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--minutes" => args.minutes = value()?.parse()?,
            "--warmup-minutes" => args.warmup_minutes = value()?.parse()?,
            "--servers" => args.servers = value()?.parse()?,
            "--clients" => args.clients = value()?.parse()?,
            "--churn-secs" => args.churn_secs = value()?.parse()?,
            "--bin" => args.bin = value()?.into(),
            "--no-browser" => args.browser = false,
            other => bail!(
                "unknown flag {other} (--minutes 30 --warmup-minutes 5 --servers 5 --clients 10 --churn-secs 5 --bin DIR --no-browser)"
            ),
        }
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    ensure_image()?;
    let _cleanup = Cleanup::new(PREFIX);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    let mut servers = Vec::new();
    for index in 0..args.servers {
        let name = format!("{PREFIX}httpd-{index}");
        docker(&["run", "-d", "--name", &name, IMAGE, "httpd", "-f", "-p", "80", "-h", "/www"])?;
        servers.push(docker(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", &name])?);
    }

    let app_address = free_port()?;
    let app = Running::spawn(
        Command::new(args.bin.join("periscope"))
            .args(["--no-probe", "--no-history", "--listen", &app_address.to_string()])
            .env("PERISCOPE_TOKEN", TOKEN)
            .env("PERISCOPE_PROBE_TOKEN", format!("{TOKEN}-probe"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .context("starting the app (build it with --release)")?;
    runtime.block_on(wait_for("the app", Duration::from_secs(30), || http_get(app_address, "/healthz", TOKEN).ok()))?;
    let probe = Running::spawn(
        Command::new(args.bin.join("periscope-probe"))
            .args(["--app", &format!("ws://{app_address}/api/probe/ws")])
            .env("PERISCOPE_PROBE_TOKEN", format!("{TOKEN}-probe"))
            .env("PERISCOPE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .context("starting the probe (build it with --release)")?;

    let received = Arc::new(AtomicU64::new(0));
    for view in ["containers", "processes"] {
        let adds = Arc::new(std::sync::Mutex::new(Vec::new()));
        runtime.spawn(watch_view(app_address, view, TOKEN, received.clone(), adds, false));
    }
    runtime.spawn(poll_topology(app_address));
    let browser_log = std::env::temp_dir().join(format!("periscope-soak-browser-{}.log", std::process::id()));
    let browser = if args.browser {
        let web = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web");
        let log = std::fs::File::create(&browser_log).context("the browser's log file")?;
        Some(
            Running::spawn(
                Command::new("node")
                    .arg("bench/watch.mjs")
                    .current_dir(web)
                    .env("PERISCOPE_URL", format!("http://{app_address}/"))
                    .env("PERISCOPE_TOKEN", TOKEN)
                    .stdout(log)
                    .stderr(Stdio::null()),
            )
            .context("starting the watching browser (node, playwright-core, chromium; or --no-browser)")?,
        )
    } else {
        None
    };

    let started = Instant::now();
    let warmup = Duration::from_secs(args.warmup_minutes * 60);
    let total = warmup + Duration::from_secs(args.minutes * 60);
    let mut clients = std::collections::VecDeque::new();
    let mut next_client = 0usize;
    let mut samples: Vec<(f64, u64, u64)> = Vec::new();
    let mut next_sample = started + warmup;
    eprintln!(
        "== soak: {} min warm-up, then {} min measured; {} servers, {} clients churned every {} s",
        args.warmup_minutes, args.minutes, args.servers, args.clients, args.churn_secs
    );
    while started.elapsed() < total {
        let server = &servers[next_client % servers.len()];
        let name = format!("{PREFIX}wget-{next_client}");
        let script = format!("while true; do wget -q -O /dev/null http://{server}/; sleep 0.2; done");
        docker(&["run", "-d", "--name", &name, IMAGE, "sh", "-c", &script])?;
        clients.push_back(name);
        next_client += 1;
        while clients.len() > args.clients {
            if let Some(oldest) = clients.pop_front() {
                docker(&["rm", "-f", &oldest])?;
            }
        }
        let until = Instant::now() + Duration::from_secs(args.churn_secs);
        while Instant::now() < until {
            if Instant::now() >= next_sample {
                let app_rss = rss_kib(app.pid())?;
                let probe_rss = rss_kib(probe.pid())?;
                let minute = started.elapsed().as_secs_f64() / 60.0;
                eprintln!("   {minute:5.1} min: app {} KiB, probe {} KiB", app_rss, probe_rss);
                samples.push((minute, app_rss, probe_rss));
                next_sample += Duration::from_secs(10);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    if samples.len() < 10 {
        bail!("too few samples ({}) for a verdict: run longer", samples.len());
    }
    let tenth = samples.len() / 10;
    let mean = |part: &[(f64, u64, u64)], pick: fn(&(f64, u64, u64)) -> u64| {
        part.iter().map(pick).sum::<u64>() as f64 / part.len() as f64
    };
    println!("| process | RSS min / max (MiB) | first tenth → last tenth, mean (MiB) | growth | view bytes received |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, pick) in [("app", (|s: &(f64, u64, u64)| s.1) as fn(&_) -> u64), ("probe", |s| s.2)] {
        let (first, last) = (mean(&samples[..tenth], pick), mean(&samples[samples.len() - tenth..], pick));
        let min = samples.iter().map(pick).min().unwrap_or(0);
        let max = samples.iter().map(pick).max().unwrap_or(0);
        println!(
            "| {name} | {:.1} / {:.1} | {:.1} → {:.1} | {:+.1} % | {} |",
            min as f64 / 1024.0,
            max as f64 / 1024.0,
            first / 1024.0,
            last / 1024.0,
            (last - first) / first * 100.0,
            received.load(Ordering::Relaxed)
        );
    }
    if let Some(browser) = browser {
        browser.stop(Duration::from_secs(10));
        browser_row(&std::fs::read_to_string(&browser_log).unwrap_or_default(), warmup.as_secs_f64());
        let _ = std::fs::remove_file(&browser_log);
    }
    println!("\n{} containers started and removed over {:.0} min", next_client, started.elapsed().as_secs_f64() / 60.0);
    drop(probe);
    drop(app);
    Ok(())
}

/// Polls the topology list every 5 s, as the UI's view buttons do.
async fn poll_topology(app: SocketAddr) {
    loop {
        let _ = tokio::task::spawn_blocking(move || http_get(app, "/api/topology", TOKEN)).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// The watching page's JS heap over the measured window, as `watch.mjs` printed it
/// (`sample <s> <heap bytes> <DOM elements> <nodes shown>`).
fn browser_row(log: &str, warmup_secs: f64) {
    let samples: Vec<(f64, f64, u64)> = log
        .lines()
        .filter_map(|line| {
            let mut fields = line.strip_prefix("sample ")?.split_whitespace();
            let at: f64 = fields.next()?.parse().ok()?;
            let heap: f64 = fields.next()?.parse().ok()?;
            let dom: u64 = fields.next()?.parse().ok()?;
            Some((at, heap / (1024.0 * 1024.0), dom))
        })
        .filter(|(at, _, _)| *at >= warmup_secs)
        .collect();
    if samples.len() < 10 {
        println!("| browser (JS heap) | too few samples ({}); did the page open? | | | |", samples.len());
        return;
    }
    let tenth = samples.len() / 10;
    let mean = |part: &[(f64, f64, u64)]| part.iter().map(|s| s.1).sum::<f64>() / part.len() as f64;
    let (first, last) = (mean(&samples[..tenth]), mean(&samples[samples.len() - tenth..]));
    let min = samples.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
    let max = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    let dom = samples.iter().map(|s| s.2).max().unwrap_or(0);
    println!(
        "| browser (JS heap, {} samples, at most {dom} DOM elements) | {min:.1} / {max:.1} | {first:.1} → {last:.1} | {:+.1} % | |",
        samples.len(),
        (last - first) / first * 100.0
    );
}
