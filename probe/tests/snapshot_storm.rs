//! An impostor app asking the real `periscope-probe` binary for snapshots
//! as fast as the socket takes them (issue 15: a fake app drove a probe to
//! 67 % of a core, 2,922 snapshots and 2.3 MB of logs in 15 s). The probe's
//! budget serves at most one snapshot a tick plus one at once every
//! `SNAPSHOT_REQUEST_INTERVAL`, so its CPU stays under its share and its log
//! stays short. The CPU bound is generous (a debug build on a shared
//! machine); BENCHMARKS.md has the release figures.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use periscope_probe::publish::SNAPSHOT_REQUEST_INTERVAL;
use periscope_report::{AppMessage, Codec, ProbeMessage, SnapshotReason, StreamDecoder};
use tokio_tungstenite::tungstenite::Message;

/// CPU seconds (user + system) of a process so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the probe's /proc/<pid>/stat");
    let fields: Vec<&str> = stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = rustix::param::clock_ticks_per_second() as f64;
    ticks as f64 / per_second
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Already gone is fine.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_request_storm_leaves_the_probe_within_its_budget() {
    const TICK: Duration = Duration::from_secs(1);
    const STORM: Duration = Duration::from_secs(8);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut probe = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_periscope-probe"))
            .args(["--app", &format!("ws://{address}/api/probe/ws"), "--no-docker", "--no-conntrack"])
            .args(["--tick-ms", &TICK.as_millis().to_string(), "--probe-id", "storm-test"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start periscope-probe"),
    );
    let pid = probe.0.id();
    let lines = Arc::new(AtomicU64::new(0));
    let stderr = probe.0.stderr.take().unwrap();
    let counted = lines.clone();
    std::thread::spawn(move || {
        for _ in std::io::BufReader::new(stderr).lines() {
            counted.fetch_add(1, Ordering::Relaxed);
        }
    });

    let (stream, _) = tokio::time::timeout(Duration::from_secs(60), listener.accept()).await.unwrap().unwrap();
    let socket = tokio_tungstenite::accept_async(stream).await.unwrap();
    let (mut sink, mut frames) = socket.split();
    let snapshots = Arc::new(AtomicU64::new(0));
    let counted = snapshots.clone();
    tokio::spawn(async move {
        let mut decoder = StreamDecoder::new(Codec::default()).unwrap();
        while let Some(Ok(message)) = frames.next().await {
            if let Message::Binary(bytes) = message {
                if let Ok(ProbeMessage::Snapshot(_)) = decoder.decode::<ProbeMessage>(&bytes) {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    // The first snapshot: the probe is up and collecting.
    let started = Instant::now();
    while snapshots.load(Ordering::Relaxed) == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "no first snapshot in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let request = Codec::default().encode(&AppMessage::RequestSnapshot { reason: SnapshotReason::Unknown }).unwrap();
    let (snapshots_before, lines_before, cpu_before) =
        (snapshots.load(Ordering::Relaxed), lines.load(Ordering::Relaxed), cpu_seconds(pid));
    let storm_started = Instant::now();
    let mut sent = 0u64;
    // Sends block once the probe stops reading (its socket pushes back): the storm ends on time all the same.
    while let Some(left) = STORM.checked_sub(storm_started.elapsed()) {
        match tokio::time::timeout(left, sink.send(Message::Binary(request.clone().into()))).await {
            Ok(sent_one) => sent_one.expect("the probe stays connected"),
            Err(_) => break,
        }
        sent += 1;
    }
    let elapsed = storm_started.elapsed().as_secs_f64();
    let cpu = (cpu_seconds(pid) - cpu_before) / elapsed;
    let served = snapshots.load(Ordering::Relaxed) - snapshots_before;
    let logged = lines.load(Ordering::Relaxed) - lines_before;
    eprintln!(
        "{sent} snapshot requests in {elapsed:.1} s: {served} snapshots sent, {logged} log lines, probe CPU {:.1} % of a core",
        cpu * 100.0
    );
    assert!(sent > 1000, "the storm was a storm: {sent} requests");
    let most = elapsed / TICK.as_secs_f64() + elapsed / SNAPSHOT_REQUEST_INTERVAL.as_secs_f64() + 3.0;
    assert!((served as f64) <= most, "{served} snapshots for {sent} requests in {elapsed:.1} s (at most {most:.0})");
    assert!(logged < 100, "{logged} log lines during the storm");
    assert!(cpu < 0.25, "the probe used {:.0} % of a core during the storm", cpu * 100.0);
    assert!(probe.0.try_wait().unwrap().is_none(), "the probe is still running");
}
