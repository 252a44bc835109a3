//! `probe-bench`: the probe's cost on a busy Docker host.
//!
//! For each container count N it starts N/2 busybox `httpd` servers and N/2
//! clients looping `wget` against them (every 0.2 s and every 1 s, in turn:
//! `--client-sleeps`), plus one container holding 200 idle processes; runs
//! the release `periscope-probe` binary (once per `--ebpf` mode, on the same
//! containers) against a WebSocket sink on 127.0.0.1 that counts (and
//! replays) what it receives; waits for the probe to settle; then measures
//! over a window the probe's CPU (% of one core, from /proc/<pid>/stat's clock
//! ticks, and finer from its threads' run time in nanoseconds; the run time
//! of its eBPF programs, which the kernel counts apart since they run in the
//! context of whatever process connects or forks, comes on top), its
//! RSS, and the bytes per second it sent, counted as read off the TCP socket
//! (WebSocket framing included). At the end it checks the last report against
//! the client → server pairs it set up: how many the report names at process
//! level (the client's `wget`, as a process or a folded command, and the
//! server's `httpd` listening) and at container level. Every container is
//! named `periscope-bench-<pid>-…` and removed afterwards (this run's only).
//! Traffic goes only to loopback and to these containers. The busybox image
//! is the tests' own (`periscope_tests::docker`), so a bench run and a test
//! run never build the same tag two ways.
//!
//! With `--together` the modes' probes run at the same time, each against its
//! own sink, and are measured over one window, so other work on a shared
//! machine weighs on each alike.
//!
//! Run: `cargo build --release -p periscope-probe -p periscope-tests --bins &&
//! target/release/probe-bench --counts 20,100 --seconds 60 --ebpf on,off`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::StreamExt;
use periscope_report::{apply, Codec, Direction, FlowOwner, ProbeMessage, Report, SocketState, StreamDecoder};
use periscope_tests::bench::{remove_prefixed, Counted};
use periscope_tests::docker::{docker, ensure_image, IMAGE};
use tokio::net::TcpListener;

/// `periscope-bench-<pid>-`: this run's containers, and no one else's.
fn prefix() -> String {
    format!("periscope-bench-{}-", std::process::id())
}

#[derive(Debug, Parser)]
struct Args {
    /// Container counts to measure, one run each (servers + clients; the idle-process container comes on top).
    #[arg(long, value_delimiter = ',', default_value = "20,100")]
    counts: Vec<usize>,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds to let the probe settle (first snapshot, first fd walks) before measuring.
    #[arg(long, default_value_t = 15)]
    warmup: u64,
    /// The probe's tick.
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
    /// Seconds each client sleeps between two requests, assigned in turn (issue 13's workload: 0.2 and 1).
    #[arg(long, value_delimiter = ',', default_value = "0.2,1")]
    client_sleeps: Vec<String>,
    /// The probe binary (default: `periscope-probe` beside this one).
    #[arg(long)]
    probe: Option<PathBuf>,
    /// The probe's `--ebpf` modes to measure, one run each on the same containers.
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    ebpf: Vec<String>,
    /// Run the modes' probes at the same time (each with its own sink), measured over one
    /// window: on a shared machine, the other work then weighs on each mode alike.
    #[arg(long)]
    together: bool,
}

#[derive(Default)]
struct Sink {
    /// Bytes read off the TCP sockets: WebSocket frames as on the wire, headers included.
    bytes: Arc<AtomicU64>,
    frames: AtomicU64,
    report: Mutex<Option<Report>>,
    snapshot_bytes: AtomicU64,
    /// Upserts and removals per table (host, processes, containers, images, sockets, connections, traced).
    changes: Mutex<[(u64, u64); 7]>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let probe = match &args.probe {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("periscope-probe"),
    };
    if !probe.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p periscope-probe -p periscope-tests --bins`",
            probe.display()
        );
    }
    ensure_image()?;
    remove_bench_containers();
    // The kernel counts eBPF programs' run time only while someone asks (and holds this fd).
    let bpf_stats = match aya::sys::enable_stats(aya::sys::Stats::RunTime) {
        Ok(fd) => Some(fd),
        Err(error) => {
            eprintln!("   eBPF run-time statistics unavailable ({error}): that column reads n/a");
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let mut rows = Vec::new();
    for &count in &args.counts {
        let outcome = measure(&runtime, &args, &probe, count);
        remove_bench_containers();
        rows.extend(outcome?.into_iter().map(|(mode, mut row)| {
            row.bpf_percent = row.bpf_percent.filter(|_| bpf_stats.is_some());
            (count, mode, row)
        }));
    }
    drop(bpf_stats);
    println!("| containers | --ebpf | probe CPU (% of one core) | CPU from run time (%) | its eBPF programs (%) | run time + eBPF (%) | RSS max / mean (MB) | sent (bytes/s) | snapshot (bytes) | processes / sockets / connections / traced | pairs at process / container level (of expected) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (count, mode, row) in rows {
        let bpf = |value: Option<f64>| value.map_or_else(|| "n/a".to_owned(), |value| format!("{value:.3}"));
        println!(
            "| {count} + 1 idle (200 processes) | {mode} | {:.2} | {:.3} | {} | {} | {:.1} / {:.1} | {:.0} | {} | {} / {} / {} / {} | {} / {} (of {}) |",
            row.cpu_percent,
            row.run_time_percent,
            bpf(row.bpf_percent),
            bpf(row.bpf_percent.map(|bpf| bpf + row.run_time_percent)),
            row.rss_max_mb,
            row.rss_mean_mb,
            row.bytes_per_sec,
            row.snapshot_bytes,
            row.processes,
            row.sockets,
            row.connections,
            row.traced,
            row.pairs.process,
            row.pairs.container,
            row.pairs.expected,
        );
    }
    Ok(())
}

/// A client container and the server container it loops against.
struct Pair {
    client_id: String,
    client_ip: String,
    server_id: String,
    server_ip: String,
}

#[derive(Debug, Clone, Copy, Default)]
struct PairsFound {
    expected: usize,
    process: usize,
    container: usize,
}

/// How many pairs the report names at process and at container level.
fn pairs_found(report: &Report, pairs: &[Pair]) -> PairsFound {
    let container_of = |pid: u32| {
        report.processes.iter().find(|p| p.id.pid == pid).and_then(|p| p.container.as_ref().map(|c| c.to_string()))
    };
    let mut found = PairsFound { expected: pairs.len(), ..PairsFound::default() };
    for pair in pairs {
        let server = format!("{}:80", pair.server_ip);
        let server_listens = report.sockets.iter().any(|s| {
            s.state == SocketState::Listen
                && s.id.local.port() == 80
                && s.pid.and_then(container_of).as_deref() == Some(pair.server_id.as_str())
        });
        let traced: Vec<_> = report
            .traced
            .iter()
            .filter(|flow| {
                flow.id.direction == Direction::Outbound
                    && flow.id.remote.to_string() == server
                    && flow.container.as_ref().map(|c| c.as_str()) == Some(pair.client_id.as_str())
            })
            .collect();
        let traced_process = traced.iter().any(|flow| match &flow.id.owner {
            FlowOwner::Command { name, .. } => name.as_ref() == "wget",
            FlowOwner::Process(id) => report.processes.contains(id),
            FlowOwner::Unknown => false,
        });
        let socket_process = report.sockets.iter().any(|s| {
            s.id.local.ip().to_string() == pair.client_ip
                && s.id.remote.to_string() == server
                && s.pid.and_then(container_of).as_deref() == Some(pair.client_id.as_str())
        });
        let conntrack = report
            .connections
            .iter()
            .any(|c| c.id.source.ip().to_string() == pair.client_ip && c.id.destination.to_string() == server);
        if server_listens && (traced_process || socket_process) {
            found.process += 1;
        }
        if !traced.is_empty() || socket_process || conntrack {
            found.container += 1;
        }
    }
    found
}

struct Row {
    cpu_percent: f64,
    /// From the threads' run time in nanoseconds: finer than the clock ticks of `cpu_percent`.
    run_time_percent: f64,
    /// The run time of the eBPF programs the probe attached (`None` without run-time statistics).
    bpf_percent: Option<f64>,
    rss_max_mb: f64,
    rss_mean_mb: f64,
    bytes_per_sec: f64,
    snapshot_bytes: u64,
    processes: usize,
    sockets: usize,
    connections: usize,
    traced: usize,
    pairs: PairsFound,
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    args: &Args,
    probe: &Path,
    count: usize,
) -> anyhow::Result<Vec<(String, Row)>> {
    eprintln!("== {count} containers: starting");
    let prefix = prefix();
    let servers = count / 2;
    let mut server_containers = Vec::new();
    for index in 0..servers {
        let name = format!("{prefix}httpd-{index}");
        let id = docker(&["run", "-d", "--name", &name, IMAGE, "httpd", "-f", "-p", "80", "-h", "/www"])?;
        server_containers.push((id, docker(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", &name])?));
    }
    let mut pairs = Vec::new();
    for index in 0..count - servers {
        let (server_id, server_ip) = &server_containers[index % servers.max(1)];
        let pause = &args.client_sleeps[index % args.client_sleeps.len().max(1)];
        let script = format!("while true; do wget -q -O /dev/null http://{server_ip}/; sleep {pause}; done");
        let name = format!("{prefix}wget-{index}");
        let client_id = docker(&["run", "-d", "--name", &name, IMAGE, "sh", "-c", &script])?;
        let client_ip = docker(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", &name])?;
        pairs.push(Pair { client_id, client_ip, server_id: server_id.clone(), server_ip: server_ip.clone() });
    }
    let idle = "for i in $(seq 200); do sleep 86400 & done; wait";
    docker(&["run", "-d", "--name", &format!("{prefix}idle"), IMAGE, "sh", "-c", idle])?;
    let groups: Vec<&[String]> =
        if args.together { vec![&args.ebpf[..]] } else { args.ebpf.iter().map(std::slice::from_ref).collect() };
    let mut rows = Vec::new();
    for modes in groups {
        eprintln!("   --ebpf {}", modes.join(" and "));
        let rows_of = measure_probes(runtime, args, probe, count, modes, &pairs)?;
        rows.extend(modes.iter().cloned().zip(rows_of));
    }
    Ok(rows)
}

/// A running probe and the sink it sends to.
struct Running {
    child: Child,
    sink: Arc<Sink>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // The probe is ours: stop it whatever happened.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one probe per mode at once, each against its own sink, and measures them over one window.
fn measure_probes(
    runtime: &tokio::runtime::Runtime,
    args: &Args,
    probe: &Path,
    count: usize,
    modes: &[String],
    pairs: &[Pair],
) -> anyhow::Result<Vec<Row>> {
    let mut running = Vec::new();
    for mode in modes {
        let sink = Arc::new(Sink::default());
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("ws://{}/api/probe/ws", listener.local_addr()?);
        runtime.spawn(serve(listener, sink.clone()));
        let log =
            std::fs::File::create(std::env::temp_dir().join(format!("periscope-bench-probe-{count}-{mode}.log")))?;
        let child = Command::new(probe)
            .args(["--app", &url, "--tick-ms", &args.tick_ms.to_string(), "--ebpf", mode])
            .env("PERISCOPE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", probe.display()))?;
        running.push(Running { child, sink });
    }
    std::thread::sleep(Duration::from_secs(args.warmup));
    for probe in &mut running {
        if let Some(status) = probe.child.try_wait()? {
            bail!("the probe exited during warm-up: {status}");
        }
    }
    eprintln!("   measuring for {} s", args.seconds);
    let starts = running.iter().map(Window::read).collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    let mut rss: Vec<Vec<u64>> = vec![Vec::new(); running.len()];
    while started.elapsed() < Duration::from_secs(args.seconds) {
        std::thread::sleep(Duration::from_secs(1));
        for (probe, samples) in running.iter().zip(rss.iter_mut()) {
            samples.push(rss_bytes(probe.child.id())?);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ends = running.iter().map(Window::read).collect::<anyhow::Result<Vec<_>>>()?;
    running
        .iter()
        .zip(starts.iter().zip(ends.iter()))
        .zip(rss.iter())
        .map(|((probe, (start, end)), rss)| row(&probe.sink, start, end, elapsed, rss, pairs))
        .collect()
}

/// A probe's counters at one end of the measured window.
struct Window {
    cpu_ticks: u64,
    /// Each thread's run time (ns, /proc/<pid>/task/<tid>/schedstat).
    run_ns: HashMap<u32, u64>,
    /// Its eBPF programs by id: name, run time (ns) and runs.
    bpf: HashMap<u32, BpfRuns>,
    bytes: u64,
    changes: [(u64, u64); 7],
}

impl Window {
    fn read(probe: &Running) -> anyhow::Result<Window> {
        Ok(Window {
            cpu_ticks: cpu_ticks(probe.child.id())?,
            run_ns: run_ns(probe.child.id())?,
            bpf: bpf_runs(probe.child.id())?,
            bytes: probe.sink.bytes.load(Ordering::Relaxed),
            changes: *probe.sink.changes.lock().map_err(|_| anyhow::anyhow!("sink lock"))?,
        })
    }
}

fn row(sink: &Sink, start: &Window, end: &Window, elapsed: f64, rss: &[u64], pairs: &[Pair]) -> anyhow::Result<Row> {
    let names = ["host", "processes", "containers", "images", "sockets", "connections", "traced"];
    let per_second: Vec<String> = names
        .iter()
        .zip(start.changes.iter().zip(end.changes.iter()))
        .map(|(name, (start, end))| {
            format!("{name} +{:.1}/-{:.1}", (end.0 - start.0) as f64 / elapsed, (end.1 - start.1) as f64 / elapsed)
        })
        .collect();
    eprintln!("   upserts/removals per second: {}", per_second.join(", "));
    // Each program's share: the figure to work on when the eBPF column moves.
    let mut programs: Vec<String> = end
        .bpf
        .iter()
        .map(|(id, end)| {
            let start = start.bpf.get(id).cloned().unwrap_or_default();
            let runs = end.runs.saturating_sub(start.runs);
            let ns = end.ns.saturating_sub(start.ns);
            format!("{} {:.0}/s at {} ns", end.name, runs as f64 / elapsed, ns.checked_div(runs).unwrap_or(0))
        })
        .collect();
    programs.sort();
    if !programs.is_empty() {
        eprintln!("   eBPF programs: {}", programs.join(", "));
    }
    let report = sink.report.lock().map_err(|_| anyhow::anyhow!("sink lock"))?.clone();
    let mb = |bytes: u64| bytes as f64 / 1_048_576.0;
    Ok(Row {
        cpu_percent: (end.cpu_ticks - start.cpu_ticks) as f64 / clock_ticks() / elapsed * 100.0,
        run_time_percent: end
            .run_ns
            .iter()
            .map(|(tid, ns)| ns.saturating_sub(start.run_ns.get(tid).copied().unwrap_or(0)))
            .sum::<u64>() as f64
            / 1e9
            / elapsed
            * 100.0,
        bpf_percent: Some(
            end.bpf.iter().map(|(id, end)| end.ns.saturating_sub(start.bpf.get(id).map_or(0, |s| s.ns))).sum::<u64>()
                as f64
                / 1e9
                / elapsed
                * 100.0,
        ),
        rss_max_mb: mb(rss.iter().copied().max().unwrap_or(0)),
        rss_mean_mb: mb(rss.iter().sum::<u64>() / rss.len().max(1) as u64),
        bytes_per_sec: (end.bytes - start.bytes) as f64 / elapsed,
        snapshot_bytes: sink.snapshot_bytes.load(Ordering::Relaxed),
        processes: report.as_ref().map_or(0, |r| r.processes.len()),
        sockets: report.as_ref().map_or(0, |r| r.sockets.len()),
        connections: report.as_ref().map_or(0, |r| r.connections.len()),
        traced: report.as_ref().map_or(0, |r| r.traced.len()),
        pairs: report.as_ref().map(|r| pairs_found(r, pairs)).unwrap_or_default(),
    })
}

/// Accepts probe connections, counting the bytes read off the TCP socket (the
/// WebSocket framing included, as on the wire) and replaying the report chain.
async fn serve(listener: TcpListener, sink: Arc<Sink>) {
    while let Ok((stream, _)) = listener.accept().await {
        let counted = Counted { inner: stream, read: sink.bytes.clone() };
        let Ok(socket) = tokio_tungstenite::accept_async(counted).await else { continue };
        // Each connection's frames are one compressed stream.
        let Ok(mut decoder) = StreamDecoder::new(Codec::default()) else { continue };
        let (mut outgoing, mut incoming) = socket.split();
        // Like the app, ping every second: a probe that hears nothing for long reconnects.
        let mut ping = tokio::time::interval(Duration::from_secs(1));
        loop {
            let message = tokio::select! {
                _ = ping.tick() => {
                    let ping = tokio_tungstenite::tungstenite::Message::Ping(Default::default());
                    if futures_util::SinkExt::send(&mut outgoing, ping).await.is_err() {
                        break;
                    }
                    continue;
                }
                message = incoming.next() => match message {
                    Some(Ok(message)) => message,
                    _ => break,
                },
            };
            let tokio_tungstenite::tungstenite::Message::Binary(frame) = message else { continue };
            sink.frames.fetch_add(1, Ordering::Relaxed);
            let Ok(mut report) = sink.report.lock() else { continue };
            let decoded = decoder.decode::<ProbeMessage>(&frame);
            match decoded {
                Ok(ProbeMessage::Snapshot(snapshot)) => {
                    sink.snapshot_bytes.store(frame.len() as u64, Ordering::Relaxed);
                    *report = Some(snapshot);
                }
                Ok(ProbeMessage::Delta(delta)) => {
                    if let Ok(mut changes) = sink.changes.lock() {
                        let tables = [
                            (u64::from(delta.host.is_some()), 0),
                            (
                                (delta.processes.upserts.len() + delta.process_metrics.len()) as u64,
                                delta.processes.removals.len() as u64,
                            ),
                            (
                                (delta.containers.upserts.len() + delta.container_stats.len()) as u64,
                                delta.containers.removals.len() as u64,
                            ),
                            (delta.images.upserts.len() as u64, delta.images.removals.len() as u64),
                            (delta.sockets.upserts.len() as u64, delta.sockets.removals.len() as u64),
                            (delta.connections.upserts.len() as u64, delta.connections.removals.len() as u64),
                            (delta.traced.upserts.len() as u64, delta.traced.removals.len() as u64),
                        ];
                        for (total, (upserts, removals)) in changes.iter_mut().zip(tables) {
                            total.0 += upserts;
                            total.1 += removals;
                        }
                    }
                    if let Some(state) = report.as_mut() {
                        if let Err(error) = apply(state, delta) {
                            eprintln!("   sink: delta did not apply: {error}");
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => eprintln!("   sink: undecodable frame: {error}"),
            }
        }
    }
}

fn clock_ticks() -> f64 {
    rustix::param::clock_ticks_per_second().max(1) as f64
}

fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = text.rsplit_once(')').context("stat format")?.1;
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> { Ok(fields.get(n - 3).context("stat field")?.parse()?) };
    Ok(field(14)? + field(15)?)
}

/// One eBPF program's counters, as the kernel keeps them while statistics are on.
#[derive(Debug, Clone, Default)]
struct BpfRuns {
    name: String,
    ns: u64,
    runs: u64,
}

/// The counters of each eBPF program `pid` holds attached: the programs named by the
/// `prog_id` of its link (or program) descriptors' fdinfo.
fn bpf_runs(pid: u32) -> anyhow::Result<HashMap<u32, BpfRuns>> {
    let mut ids = std::collections::HashSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))? {
        // A descriptor may close between the listing and the read.
        let Ok(text) = std::fs::read_to_string(entry?.path()) else { continue };
        ids.extend(text.lines().filter_map(|line| line.strip_prefix("prog_id:")?.trim().parse::<u32>().ok()));
    }
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(aya::programs::loaded_programs()
        .flatten()
        .filter(|program| ids.contains(&program.id()))
        .map(|program| {
            let name = program.name_as_str().unwrap_or("?").to_owned();
            (program.id(), BpfRuns { name, ns: program.run_time().as_nanos() as u64, runs: program.run_count() })
        })
        .collect())
}

/// Run time per thread, in nanoseconds (the first field of each thread's schedstat). The /proc/<pid>/stat
/// ticks are 10 ms each, a sixtieth of 1 % over a minute: too coarse to tell two probes apart that
/// differ by a few hundredths. A thread that ended within the window is missed (the probe's
/// threads live as long as it, but for the rare one that opens a namespace's conntrack reader).
fn run_ns(pid: u32) -> anyhow::Result<HashMap<u32, u64>> {
    let mut threads = HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|name| name.parse().ok()) else { continue };
        // A thread may end between the listing and the read.
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else { continue };
        let ns = text.split_ascii_whitespace().next().context("schedstat format")?.parse()?;
        threads.insert(tid, ns);
    }
    Ok(threads)
}

fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS")?;
    let kib: u64 = line.split_ascii_whitespace().nth(1).context("VmRSS value")?.parse()?;
    Ok(kib * 1024)
}

fn remove_bench_containers() {
    remove_prefixed(&prefix());
}
