//! The hostile-input benchmark (issue 15): attacks the release `periscope`
//! app (and `periscope-probe`) as separate processes over loopback and
//! prints what each attack cost them: CPU seconds and `/healthz` latency
//! under a decompression flood, RSS per view client and after they leave,
//! descriptors held by slowloris connections, a 100,000-container report
//! refused (and, with the cap raised, accepted, then its memory after the
//! probe leaves), and a probe's CPU under a snapshot-request storm.
//!
//! ```text
//! cargo build --release -p periscope -p periscope-probe --bins
//! target/release/periscope-hostile-bench [SECONDS]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use periscope_report::{AppMessage, Codec, PipeId, ProbeMessage, Report, SnapshotReason, StreamDecoder, StreamEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        // Gone already is fine.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        // SAFETY: sysconf reads a constant of the system.
        (ticks(11) + ticks(12)) as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let kib = status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<f64>().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|dir| dir.count()).unwrap_or(0)
    }
}

fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.parent().context("the bench's directory")?.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} is missing: cargo build --release -p periscope -p periscope-probe --bins",
        path.display()
    );
    Ok(path)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn start_app(extra: &[&str]) -> anyhow::Result<(Process, SocketAddr)> {
    let address: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let child = Command::new(binary("periscope")?)
        .args(["--no-probe", "--no-history", "--listen", &address.to_string()])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let app = Process(child);
    let started = Instant::now();
    while health(address).await.is_err() {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the app did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((app, address))
}

async fn health(address: SocketAddr) -> anyhow::Result<Duration> {
    let asked = Instant::now();
    let mut stream = TcpStream::connect(address).await?;
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    anyhow::ensure!(answer.starts_with(b"HTTP/1.1 200"), "healthz answered {:?}", String::from_utf8_lossy(&answer));
    Ok(asked.elapsed())
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples.get(((samples.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

/// A probe connection sending frames on one stream; answers pings by reading.
struct Probe {
    sink: futures_util::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
        Message,
    >,
    encoder: StreamEncoder,
    rejected: tokio::sync::watch::Receiver<Option<String>>,
}

impl Probe {
    async fn connect(address: SocketAddr) -> anyhow::Result<Probe> {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/api/probe/ws")).await?;
        let (sink, mut stream) = socket.split();
        let (rejected_sender, rejected) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if let Message::Binary(bytes) = message {
                    if let Ok(AppMessage::Rejected { reason }) = Codec::default().decode::<AppMessage>(&bytes) {
                        let _ = rejected_sender.send(Some(reason));
                    }
                }
            }
        });
        Ok(Probe { sink, encoder: StreamEncoder::new()?, rejected })
    }

    async fn send(&mut self, message: &ProbeMessage) -> anyhow::Result<()> {
        let frame = self.encoder.encode(&Codec::default(), message)?;
        self.sink.send(Message::Binary(frame.into())).await?;
        Ok(())
    }
}

/// A report of host `name` with `containers` running busybox containers.
fn host_report(name: &str, containers: usize, seq: u64) -> Report {
    use periscope_report::{
        Container, ContainerId, ContainerNetwork, ContainerState, Host, HostId, ImageId, ProbeId, ProbeMeta, UnixMillis,
    };
    let mut report = Report {
        probe: ProbeId::new(format!("probe-{name}")),
        seq,
        timestamp: UnixMillis(1_700_000_000_000),
        meta: ProbeMeta { version: "bench".into(), sources: Vec::new(), dropped_frames: 0, traced_overflow: 0 },
        host: Host {
            id: HostId::new(name),
            hostname: name.to_owned(),
            os: "Debian GNU/Linux 12".into(),
            kernel: "6.1.0".into(),
            uptime_secs: 1000,
            load: [0.1, 0.2, 0.3],
            cpu_count: 2,
            cpu_model: String::new(),
            cpu_percent: 5.0,
            memory_used_bytes: 1 << 30,
            memory_total_bytes: 8 << 30,
            interfaces: Vec::new(),
        },
        processes: Default::default(),
        containers: Default::default(),
        images: Default::default(),
        sockets: Default::default(),
        connections: Default::default(),
        traced: Default::default(),
    };
    for i in 0..containers {
        let id = format!("{i:064x}");
        report.containers.insert(Container {
            hostname: id[52..].to_owned(),
            id: ContainerId::new(id),
            name: format!("c{i}"),
            image: ImageId::new("sha256:busybox"),
            image_name: "busybox".into(),
            command: "sh".into(),
            labels: Default::default(),
            state: ContainerState::Running,
            health: None,
            created: UnixMillis(1_700_000_000_000),
            started: Some(UnixMillis(1_700_000_000_000)),
            restart_count: 0,
            exit_code: None,
            oom_killed: false,
            finished: None,
            networks: vec![ContainerNetwork {
                name: "bridge".into(),
                addresses: vec![[172, 17, 0, 2].into()],
                driver: "bridge".into(),
            }],
            ports: Vec::new(),
            main_pid: None,
            stats: None,
        });
    }
    report
}

async fn flood(seconds: u64) -> anyhow::Result<()> {
    let (app, address) = start_app(&[]).await?;
    let mut real = Probe::connect(address).await?;
    let mut last = host_report("real", 20, 1);
    real.send(&ProbeMessage::Snapshot(last.clone())).await?;
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(health(address).await?);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (rss_before, cpu_before) = (app.rss_mib(), app.cpu_seconds());
    // 60 MiB of NULs in a pipe-closed reason: a few kilobytes on the wire, expanding a thousandfold.
    let bomb = Codec::default()
        .encode(&ProbeMessage::PipeClosed { pipe: PipeId(1), reason: Some("\0".repeat(60 * 1024 * 1024)) })?;
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut flooders = Vec::new();
    for i in 0..4 {
        let mut probe = Probe::connect(address).await?;
        probe.send(&ProbeMessage::Snapshot(host_report(&format!("flood-{i}"), 1, 1))).await?;
        let bomb = bomb.clone();
        flooders.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while let Ok(Ok(())) =
                tokio::time::timeout_at(end.into(), probe.sink.send(Message::Binary(bomb.clone().into()))).await
            {
                sent += 1;
            }
            sent
        }));
    }
    let (mut latencies, mut failures, mut peak_rss, mut seq) = (Vec::new(), 0, rss_before, 1);
    let mut next_delta = Instant::now();
    while Instant::now() < end {
        if Instant::now() >= next_delta {
            seq += 1;
            let mut next = host_report("real", 20, seq);
            next.host.load = [seq as f64, 0.0, 0.0];
            real.send(&ProbeMessage::Delta(periscope_report::diff(&last, &next))).await?;
            last = next;
            next_delta += Duration::from_millis(100);
        }
        match tokio::time::timeout(Duration::from_secs(5), health(address)).await {
            Ok(Ok(took)) => latencies.push(took),
            _ => failures += 1,
        }
        peak_rss = peak_rss.max(app.rss_mib());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu = app.cpu_seconds() - cpu_before;
    let mut sent = 0;
    for flooder in flooders {
        sent += flooder.await?;
    }
    let still_connected = real.rejected.borrow().is_none()
        && real.send(&ProbeMessage::Delta(periscope_report::diff(&last, &last))).await.is_ok();
    println!("## decompression flood: 4 connections x {seconds} s of {}-byte frames expanding to 60 MiB", bomb.len());
    println!("frames written by the flooders: {sent} (TCP pushes back once the app stops reading)");
    println!("app CPU: {cpu:.2} s over {seconds} s ({:.0} % of a core)", cpu / seconds as f64 * 100.0);
    println!(
        "/healthz idle: p50 {:?}, max {:?}; under flood: p50 {:?}, p99 {:?}, max {:?}, {failures} failed of {}",
        percentile(&mut idle, 0.5),
        percentile(&mut idle, 1.0),
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
        percentile(&mut latencies, 1.0),
        latencies.len() + failures
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "app RSS: {rss_before:.1} MiB before, {peak_rss:.1} MiB peak, {:.1} MiB 3 s after; the real probe still connected: {still_connected}",
        app.rss_mib()
    );
    Ok(())
}

async fn view_clients() -> anyhow::Result<()> {
    let (app, address) = start_app(&[]).await?;
    let url = format!("ws://{address}/api/topology/containers/ws");
    let before = app.rss_mib();
    let mut clients = Vec::new();
    let mut refused = 0;
    for _ in 0..500 {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((socket, _)) => {
                let (sink, mut stream) = socket.split();
                let _full = stream.next().await;
                clients.push((sink, stream));
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status() == 503 => refused += 1,
            Err(error) => anyhow::bail!("client: {error}"),
        }
    }
    let with = app.rss_mib();
    let held = clients.len();
    drop(clients);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = app.rss_mib();
    println!("## view clients: 500 idle view WebSockets on the containers view");
    println!("accepted {held}, refused {refused} (503, --max-view-clients)");
    println!(
        "app RSS: {before:.1} MiB before, {with:.1} MiB with them ({:.0} KiB a client), {after:.1} MiB 3 s after they left",
        (with - before) * 1024.0 / held.max(1) as f64
    );
    Ok(())
}

async fn slowloris() -> anyhow::Result<()> {
    let (app, address) = start_app(&[]).await?;
    let fds_before = app.fds();
    let mut streams = Vec::new();
    for i in 0..1000u32 {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(format!("127.0.0.{}:0", 1 + i % 2).parse()?)?;
        let mut stream = socket.connect(address).await?;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await?;
        streams.push(stream);
    }
    let started = Instant::now();
    let mut peak = app.fds();
    let mut open = streams.len();
    while open > 0 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak = peak.max(app.fds());
        open = 0;
        for stream in &mut streams {
            // A header byte a second: fails once the app has closed the connection.
            if stream.write_all(b"X").await.is_ok() {
                let mut buffer = [0u8; 256];
                if !matches!(
                    tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buffer)).await,
                    Ok(Ok(0)) | Ok(Err(_))
                ) {
                    open += 1;
                }
            }
        }
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("## slowloris: 1,000 connections sending a header byte a second (from two loopback addresses)");
    println!(
        "app descriptors: {fds_before} before, {peak} peak, {} after; all closed by the header-read timeout after {took:.1?} ({open} left open)",
        app.fds()
    );
    Ok(())
}

async fn big_report(cap: Option<&str>) -> anyhow::Result<()> {
    let args: Vec<&str> = cap.map(|cap| vec!["--max-entities-per-probe", cap]).unwrap_or_default();
    let (app, address) = start_app(&args).await?;
    let before = app.rss_mib();
    let report = tokio::task::spawn_blocking(|| host_report("huge", 100_000, 1)).await?;
    let mut probe = Probe::connect(address).await?;
    let cpu_before = app.cpu_seconds();
    let started = Instant::now();
    probe.send(&ProbeMessage::Snapshot(report)).await?;
    let (mut latencies, mut peak) = (Vec::new(), before);
    let mut settled = None;
    while started.elapsed() < Duration::from_secs(30) {
        latencies.push(tokio::time::timeout(Duration::from_secs(10), health(address)).await??);
        peak = peak.max(app.rss_mib());
        if probe.rejected.borrow().is_some() && settled.is_none() {
            settled = Some(started.elapsed());
            break;
        }
        if cap.is_some() {
            // Accepted: wait until the containers are in the view.
            let mut stream = TcpStream::connect(address).await?;
            stream
                .write_all(
                    format!("GET /api/topology HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
                )
                .await?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await?;
            if answer.contains("\"nodes\":100") {
                settled = Some(started.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu = app.cpu_seconds() - cpu_before;
    let with = app.rss_mib();
    // The probe leaves: a close frame, then the socket goes.
    let _ = probe.sink.close().await;
    drop(probe);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = app.rss_mib();
    // Past the app's periodic trim (limits::TRIM_EVERY).
    tokio::time::sleep(periscope::limits::TRIM_EVERY).await;
    let later = app.rss_mib();
    match cap {
        None => println!("## a 100,000-container snapshot, default cap (50,000 entities)"),
        Some(cap) => println!("## a 100,000-container snapshot, cap raised to {cap}"),
    }
    println!(
        "outcome: {} after {:?}; app CPU {cpu:.2} s; /healthz max {:?} meanwhile",
        if cap.is_some() { "rendered" } else { "refused" },
        settled,
        percentile(&mut latencies, 1.0)
    );
    println!(
        "app RSS: {before:.1} MiB before, {peak:.1} MiB peak, {with:.1} MiB at the end, {after:.1} MiB 3 s after \
         the probe left, {later:.1} MiB {} s after",
        3 + periscope::limits::TRIM_EVERY.as_secs()
    );
    Ok(())
}

async fn snapshot_storm(seconds: u64) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let probe = Process(
        Command::new(binary("periscope-probe")?)
            .args([
                "--app",
                &format!("ws://{address}/api/probe/ws"),
                "--no-docker",
                "--no-conntrack",
                "--probe-id",
                "storm-bench",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let (stream, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept()).await??;
    let (mut sink, mut frames) = tokio_tungstenite::accept_async(stream).await?.split();
    let (snapshots, counter) = tokio::sync::watch::channel(0u64);
    tokio::spawn(async move {
        let mut decoder = StreamDecoder::new(Codec::default()).expect("a zstd context");
        let mut count = 0;
        while let Some(Ok(message)) = frames.next().await {
            if let Message::Binary(bytes) = message {
                if let Ok(ProbeMessage::Snapshot(_)) = decoder.decode::<ProbeMessage>(&bytes) {
                    count += 1;
                    let _ = snapshots.send(count);
                }
            }
        }
    });
    // The probe reconnects after 15 s without a word from the app: ping it every second.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        sink.send(Message::Ping(Default::default())).await?;
    }
    let (quiet_cpu, quiet_started) = (probe.cpu_seconds(), Instant::now());
    for _ in 0..seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        sink.send(Message::Ping(Default::default())).await?;
    }
    let quiet = (probe.cpu_seconds() - quiet_cpu) / quiet_started.elapsed().as_secs_f64();
    let request = Codec::default().encode(&AppMessage::RequestSnapshot { reason: SnapshotReason::Unknown })?;
    let (cpu_before, snapshots_before, started) = (probe.cpu_seconds(), *counter.borrow(), Instant::now());
    let end = started + Duration::from_secs(seconds);
    let mut sent = 0u64;
    while let Ok(Ok(())) = tokio::time::timeout_at(end.into(), sink.send(Message::Binary(request.clone().into()))).await
    {
        sent += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let storm = (probe.cpu_seconds() - cpu_before) / elapsed;
    println!("## snapshot-request storm against periscope-probe (1 s tick, no Docker, no conntrack)");
    println!(
        "{sent} requests in {elapsed:.1} s; {} snapshots sent; probe CPU {:.1} % of a core (quiet: {:.1} %)",
        *counter.borrow() - snapshots_before,
        storm * 100.0,
        quiet * 100.0
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(10u64);
    flood(seconds).await?;
    view_clients().await?;
    slowloris().await?;
    big_report(None).await?;
    big_report(Some("200000")).await?;
    snapshot_storm(seconds).await?;
    Ok(())
}
