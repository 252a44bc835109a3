//! `periscope-render-bench --history [HOSTS]` (default 100 hosts): history's costs.
//!
//! 1. The live path with history on and off: one host's delta → diffs for a
//!    containers and a processes client, as in the main bench, with the store's
//!    recorder step (clone the delta, hand it to the writer thread) and the
//!    writer thread running beside it.
//! 2. Storage: 70 minutes of synthetic time through a driven writer, every
//!    host sending one small delta a second (three processes' CPU and one
//!    container's stats move; a process restarts every minute), as the probe
//!    bench's 20-container hosts do; bytes stored per host per hour.
//! 3. Time travel: the containers view rebuilt at a moment one hour back.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use periscope::archive::past::PastView;
use periscope::archive::{Archive, HistoryConfig, Record};
use periscope::model::Model;
use periscope::render::Renderer;
use periscope::view::{ViewId, ViewOptions};
use periscope_report::{diff, ContainerStats, Process, ProcessId, Report, UnixMillis};

use super::{ms, report, Shape};

const MINUTES: u64 = 70;

fn temp_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("periscope-history-bench-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn stat(mut values: Vec<Duration>) -> String {
    values.sort();
    format!("{} (median) / {} (max)", ms(values[values.len() / 2]), ms(*values.last().expect("samples")))
}

/// The next second of one host: a small delta's worth of change.
fn step(previous: &Report, second: u64, at: UnixMillis) -> Report {
    let mut next = previous.clone();
    next.seq += 1;
    next.timestamp = at;
    let ids: Vec<ProcessId> = next.processes.ids().cloned().collect();
    for k in 0..3 {
        let id = &ids[(second as usize * 3 + k) % ids.len()];
        if let Some(process) = next.processes.get_mut(id) {
            process.cpu_percent = ((second * 7 + k as u64) % 40) as f64 / 4.0;
        }
    }
    let containers: Vec<_> = next.containers.ids().cloned().collect();
    if let Some(container) = next.containers.get_mut(&containers[second as usize % containers.len()]) {
        container.stats = Some(ContainerStats {
            cpu_percent: (second % 13) as f64,
            memory_bytes: (20 + second % 17) << 20,
            memory_limit_bytes: None,
            network_rx_bytes: second * 1500,
            network_tx_bytes: second * 900,
        });
    }
    if second % 60 == 59 {
        // A worker restarts: the same pid, a new process.
        let id = ids[(second / 60) as usize % ids.len()].clone();
        if let Some(old) = next.processes.remove(&id) {
            let fresh = ProcessId { start_time: old.id.start_time + second, ..old.id.clone() };
            next.processes.insert(Process { id: fresh, ..old });
        }
    }
    next
}

/// Delta → diffs for a containers and a processes client, with or without the recorder step.
fn live_path(shape: &Shape, archive: Option<&Archive>) -> (String, u64) {
    let mut reports: Vec<Report> = (0..shape.hosts).map(|h| report(shape, h, 1, 0)).collect();
    let mut recorder = archive.map(Archive::recorder);
    let mut model = Model::default();
    for report in &reports {
        if let Some(recorder) = &mut recorder {
            recorder.snapshot(periscope::clock::now(), report);
        }
        model.insert_snapshot(report.clone());
    }
    let mut renderer = Renderer::new();
    let options = ViewOptions::default();
    let mut clients = Vec::new();
    for view in [ViewId::Containers, ViewId::Processes] {
        renderer.materialize(view, &mut model);
        clients.push((view, renderer.view(view).expect("materialized").snapshot(&options).2));
    }
    let mut totals = Vec::new();
    for sample in 0..40u32 {
        let h = (sample * 7) % shape.hosts;
        let previous = &reports[h as usize];
        let next = report(shape, h, previous.seq + 1, sample + 1);
        let delta = diff(previous, &next);
        let started = Instant::now();
        // What Store::apply_delta does when history is on.
        let copy = recorder.as_ref().map(|_| delta.clone());
        model.apply_delta(delta).expect("delta applies");
        if let (Some(recorder), Some(copy)) = (&mut recorder, copy) {
            recorder.delta(periscope::clock::now(), copy, model.report(&next.probe).expect("applied"));
        }
        let changes = renderer.update(&mut model);
        for (view, sent) in &mut clients {
            if let Some((_, change)) = changes.iter().find(|(v, _)| v == view) {
                let _ = renderer.view(*view).expect("kept").diff(&options, sent, change);
            }
        }
        totals.push(started.elapsed());
        reports[h as usize] = next;
        // About one host's delta every 250 ms, so the writer keeps pace as it would live.
        std::thread::sleep(Duration::from_millis(250));
    }
    let dropped = archive.map(|a| a.status().dropped.load(Ordering::Relaxed)).unwrap_or(0);
    (stat(totals), dropped)
}

/// `--history-stats DIR`: what a store written by a real app holds (run after stopping that app).
pub fn stats(dir: &std::path::Path) {
    let (archive, _writer) = Archive::open_driven(HistoryConfig::new(dir)).expect("opening history");
    let (stored, used) = archive.stored_bytes().expect("stats");
    let file = std::fs::metadata(archive.path()).map(|m| m.len()).unwrap_or(0);
    let Some((from, to)) = archive.range() else {
        println!("empty store");
        return;
    };
    let hours = (to.0 - from.0) as f64 / 3_600_000.0;
    println!("range {:.1} min; probes: {}", hours * 60.0, archive.model_at(to).map(|m| m.len()).unwrap_or(0));
    for (what, bytes) in [("data stored", stored), ("pages in use", used), ("file", file)] {
        println!("{what}: {:.2} MB, {:.2} MB per hour", bytes as f64 / 1e6, bytes as f64 / 1e6 / hours);
    }
    match archive.composition() {
        Ok(c) => println!("{c:#?}"),
        Err(error) => println!("composition: {error}"),
    }
}

pub fn run(shape: &Shape) {
    println!("History bench: {} hosts × {} containers × {} processes", shape.hosts, shape.containers, shape.processes);

    let (off, _) = live_path(shape, None);
    let dir = temp_dir("live");
    let archive = Archive::open(HistoryConfig::new(&dir)).expect("opening history");
    let (on, dropped) = live_path(shape, Some(&archive));
    archive.close();
    drop(archive);
    let _ = std::fs::remove_dir_all(&dir);
    println!("\n| live path: one host's delta → diffs (containers + processes clients) | time |\n| --- | --- |");
    println!("| history off | {off} |");
    println!("| history on (recorder + writer thread) | {on} |");
    println!("Records dropped by the recorder: {dropped}");

    let dir = temp_dir("storage");
    let (archive, mut writer) = Archive::open_driven(HistoryConfig::new(&dir)).expect("opening history");
    let start = UnixMillis(periscope::clock::now().0 - MINUTES * 60_000 - 60_000);
    let mut reports: Vec<Report> = (0..shape.hosts).map(|h| report(shape, h, 1, 0)).collect();
    let started = Instant::now();
    for report in &reports {
        writer.handle(Record::Snapshot { at: start, report: Box::new(report.clone()) });
    }
    let mut handle_time = Duration::ZERO;
    let mut tick_time = Duration::ZERO;
    for second in 1..=MINUTES * 60 {
        let at = UnixMillis(start.0 + second * 1000);
        for (h, previous) in reports.iter_mut().enumerate() {
            let next = step(previous, second + h as u64, at);
            let delta = diff(previous, &next);
            let began = Instant::now();
            writer.handle(Record::Delta { at, delta: Box::new(delta) });
            handle_time += began.elapsed();
            *previous = next;
        }
        let began = Instant::now();
        writer.tick(at);
        tick_time += began.elapsed();
        if second % 600 == 0 {
            eprintln!("  {} min of history written ({:.0} s)", second / 60, started.elapsed().as_secs_f64());
        }
    }
    let end = UnixMillis(start.0 + MINUTES * 60 * 1000);
    writer.tick(UnixMillis(end.0 + 1000));
    let (stored, used) = archive.stored_bytes().expect("stats");
    let file = std::fs::metadata(archive.path()).map(|m| m.len()).unwrap_or(0);
    let hours = MINUTES as f64 / 60.0;
    let per_host_hour = |bytes: u64| bytes as f64 / f64::from(shape.hosts) / hours / 1e6;
    println!("\n| storage, {MINUTES} min × {} hosts | total | per host per hour |\n| --- | --- | --- |", shape.hosts);
    println!(
        "| data stored (compressed segments and events) | {:.1} MB | {:.2} MB |",
        stored as f64 / 1e6,
        per_host_hour(stored)
    );
    println!("| pages in use | {:.1} MB | {:.2} MB |", used as f64 / 1e6, per_host_hour(used));
    println!("| file | {:.1} MB | {:.2} MB |", file as f64 / 1e6, per_host_hour(file));
    let deltas = MINUTES * 60 * u64::from(shape.hosts);
    println!(
        "Writer CPU: {:.1} µs per delta handled, {:.1} ms per tick (flush, keyframes, edge scan); {} events",
        handle_time.as_secs_f64() * 1e6 / deltas as f64,
        tick_time.as_secs_f64() * 1e3 / (MINUTES * 60) as f64,
        archive.status().events.load(Ordering::Relaxed)
    );

    println!("\n| containers view one hour back | time |\n| --- | --- |");
    let options = ViewOptions::default();
    let mut models = Vec::new();
    let mut builds = Vec::new();
    for k in 0..7u64 {
        // Moments spread over a keyframe interval: the replay length varies from none to a minute.
        let at = UnixMillis(end.0 - 3_600_000 + k * 8_500);
        let began = Instant::now();
        let model = archive.model_at(at).expect("model at");
        models.push(began.elapsed());
        let began = Instant::now();
        let past = PastView::build(&archive, ViewId::Containers, at).expect("past view");
        let graph = past.graph(&options);
        builds.push(began.elapsed());
        assert_eq!(model.len(), shape.hosts as usize, "every host alive an hour back");
        assert!(!graph.nodes.is_empty());
    }
    println!("| rebuild the model (read, decompress, keyframe + deltas) | {} |", stat(models));
    println!("| rebuild and render the containers view (`GET ?at=`) | {} |", stat(builds));
    drop(writer);
    drop(archive);
    let _ = std::fs::remove_dir_all(&dir);
}
