//! The archive driven by hand with a known sequence of reports: past models
//! equal the reports of their moment, views render as they did, events come
//! in order, and all of it survives closing and reopening the store.

use std::time::Duration;

use periscope_report::fixtures::ReportBuilder;
use periscope_report::{
    diff, ContainerId, ContainerState, ContainerStats, Direction, FlowCounts, FlowOwner, ProbeId, Report, TracedFlow,
    UnixMillis,
};

use crate::archive::event::EventKind;
use crate::archive::past::PastView;
use crate::archive::replay::EventQuery;
use crate::archive::writer::{Writer, COALESCE_MS};
use crate::archive::{Archive, HistoryConfig, Record};
use crate::view::{ViewId, ViewOptions};

const WEB_NETNS: u64 = 1001;
const CLIENT_NETNS: u64 = 1002;
/// When the client container exits, and when it is removed (seconds from the start).
const EXIT_AT: u64 = 40;
/// The client's traced `wget` flow to the web container appears, and starts being refused.
const TRACED_FROM: u64 = 22;
const FAILING_FROM: u64 = 33;
const REMOVE_AT: u64 = 100;
const SECONDS: u64 = 150;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("periscope-archive-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The host at second `s`: a web container and a client calling it, CPU moving every second,
/// the client's traced flow counting from [`TRACED_FROM`] and failing from [`FAILING_FROM`],
/// the client exiting at [`EXIT_AT`] and removed at [`REMOVE_AT`].
fn host_at(s: u64) -> Report {
    let mut builder = ReportBuilder::new("a")
        .seq(s + 1)
        .interface("eth0", "10.0.0.1/24")
        .interface("docker0", "172.17.0.1/16")
        .container("web", "web", "httpd:2", "172.17.0.2")
        .edit_container("web", |c| {
            c.stats = Some(ContainerStats {
                cpu_percent: (s % 5) as f64,
                memory_bytes: 1 << 20,
                memory_limit_bytes: None,
                network_rx_bytes: 0,
                network_tx_bytes: 0,
            })
        })
        .process(100, "httpd", Some("web"))
        .tcp(WEB_NETNS, Some(100), "0.0.0.0:80", None);
    if s < REMOVE_AT {
        builder = builder.container("cli", "client", "busybox:latest", "172.17.0.3");
    }
    if s < EXIT_AT {
        builder = builder
            .process(200, "wget", Some("cli"))
            .tcp(WEB_NETNS, Some(100), "172.17.0.2:80", Some("172.17.0.3:40000"))
            .tcp(CLIENT_NETNS, Some(200), "172.17.0.3:40000", Some("172.17.0.2:80"));
        if s >= TRACED_FROM {
            let wget = FlowOwner::Command { container: Some(ContainerId::new("cli")), name: "wget".into() };
            let (connections, refused) = (s - TRACED_FROM + 1, (s + 1).saturating_sub(FAILING_FROM));
            let (local, remote) = ("172.17.0.3:0", "172.17.0.2:80");
            builder = builder.traced(CLIENT_NETNS, Direction::Outbound, wget, local, remote, connections, refused);
        }
    } else if s < REMOVE_AT {
        builder = builder.edit_container("cli", |c| {
            c.state = ContainerState::Exited;
            c.exit_code = Some(3);
            c.finished = Some(UnixMillis(1));
        });
    }
    let mut report = builder.build();
    for process in report.processes.iter().cloned().collect::<Vec<_>>() {
        report.processes.insert(periscope_report::Process { cpu_percent: (s % 7) as f64, ..process });
    }
    report
}

struct Run {
    start: UnixMillis,
    reports: Vec<Report>,
}

impl Run {
    fn at(&self, s: u64) -> UnixMillis {
        UnixMillis(self.start.0 + s * 1000)
    }
}

/// Feeds [`SECONDS`] of the host, one delta a second, ticking as the thread would.
fn record(writer: &mut Writer) -> Run {
    let start = UnixMillis(crate::clock::now().0 - 3_600_000);
    let reports: Vec<Report> = (0..=SECONDS).map(host_at).collect();
    let run = Run { start, reports };
    writer.handle(Record::Snapshot { at: run.at(0), report: Box::new(run.reports[0].clone()) });
    writer.tick(run.at(0));
    for s in 1..=SECONDS {
        let delta = diff(&run.reports[s as usize - 1], &run.reports[s as usize]);
        writer.handle(Record::Delta { at: run.at(s), delta: Box::new(delta) });
        writer.tick(UnixMillis(run.at(s).0 + 500));
    }
    run
}

/// A report with its figures (CPU, memory, stats, traced counts but whether they fail) zeroed:
/// what coalescing never delays.
fn without_figures(report: &Report) -> Report {
    let mut report = report.clone();
    for process in report.processes.iter().cloned().collect::<Vec<_>>() {
        report.processes.insert(periscope_report::Process { cpu_percent: 0.0, rss_bytes: 0, ..process });
    }
    for container in report.containers.iter().cloned().collect::<Vec<_>>() {
        report.containers.insert(periscope_report::Container { stats: None, ..container });
    }
    for flow in report.traced.iter().cloned().collect::<Vec<_>>() {
        let counts = FlowCounts { refused: u64::from(flow.last_minute.has_failures()), ..FlowCounts::default() };
        report.traced.insert(TracedFlow { total: counts, last_minute: counts, open: 0, tcp: None, ..flow });
    }
    report.seq = 0;
    report.timestamp = UnixMillis(0);
    report
}

fn config(dir: &std::path::Path) -> HistoryConfig {
    HistoryConfig::new(dir)
}

fn check_answers(archive: &Archive, run: &Run) {
    let probe = ProbeId::new("probe-a");
    // Every 7 s, and just before and after each change: the model has that second's structure
    // exactly, and is exactly the report of a second at most COALESCE_MS before (figures are
    // stored coalesced; see writer::COALESCE_MS).
    let lag = COALESCE_MS / 1000;
    let changes =
        [TRACED_FROM - 1, TRACED_FROM, FAILING_FROM - 1, FAILING_FROM, EXIT_AT - 1, EXIT_AT, REMOVE_AT - 1, REMOVE_AT];
    for s in (0..SECONDS).step_by(7).chain(changes) {
        let model = archive.model_at(UnixMillis(run.at(s).0 + 300)).unwrap();
        let report = model.report(&probe).unwrap_or_else(|| panic!("no report at second {s}"));
        assert_eq!(without_figures(report), without_figures(&run.reports[s as usize]), "second {s}");
        let first = s.saturating_sub(lag) as usize;
        assert!(run.reports[first..=s as usize].contains(report), "second {s}: not a report of the last {lag} s");
    }
    assert!(archive.model_at(UnixMillis(run.start.0 - 1)).unwrap().is_empty());

    let options = ViewOptions::default();
    let running = PastView::build(archive, ViewId::Containers, run.at(10)).unwrap().graph(&options);
    let edge = running.edges.iter().find(|e| e.source == "container:cli" && e.target == "container:web");
    assert!(edge.is_some(), "{:?}", running.edges);
    let stopped = PastView::build(archive, ViewId::Containers, run.at(EXIT_AT + 5)).unwrap().graph(&options);
    assert!(stopped.nodes.iter().all(|n| n.id != "container:cli"), "stopped containers are hidden by default");
    assert!(stopped.edges.is_empty());

    let query = |node: Option<&str>| EventQuery {
        from: run.start,
        to: run.at(SECONDS + 60),
        node: node.map(str::to_owned),
        limit: 1000,
    };
    let events = archive.events(&query(Some("container:cli"))).unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::EdgeSeen,
            EventKind::EdgeFailing,
            EventKind::ContainerDied,
            EventKind::EdgeGone,
            EventKind::ContainerRemoved
        ]
    );
    assert_eq!(events[2].exit_code, Some(3));
    assert_eq!(events[2].at, run.at(EXIT_AT));
    assert_eq!(events[4].at, run.at(REMOVE_AT));
    let all = archive.events(&query(None)).unwrap();
    assert_eq!(all[0].kind, EventKind::ProbeConnected);
    assert_eq!(all[0].node.id, "host:a");
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn past_models_views_and_events_match_what_happened_and_survive_reopening() {
    let dir = temp_dir("replay");
    let (archive, mut writer) = Archive::open_driven(config(&dir)).unwrap();
    let run = record(&mut writer);
    let (from, to) = archive.range().unwrap();
    assert_eq!(from, run.start);
    assert!(to >= run.at(SECONDS), "{to:?}");
    check_answers(&archive, &run);

    // Played forward from one moment to another, a past view ends where a fresh build at the second moment is.
    let options = ViewOptions::default();
    let mut played = PastView::build(&archive, ViewId::Containers, run.at(5)).unwrap();
    let (_, mut sent) = played.snapshot(&options);
    let changes = played.advance(&archive, run.at(EXIT_AT + 2)).unwrap();
    let (nodes, edges) = played.diff(&options, &mut sent, &changes);
    assert_eq!(nodes.remove, ["container:cli"]);
    assert_eq!(edges.remove.len(), 1);
    let fresh = PastView::build(&archive, ViewId::Containers, run.at(EXIT_AT + 2)).unwrap();
    assert_eq!(played.graph(&options), fresh.graph(&options));

    drop(writer);
    drop(archive);
    let (reopened, _writer) = Archive::open_driven(config(&dir)).unwrap();
    assert_eq!(reopened.range().map(|r| r.0), Some(run.start));
    check_answers(&reopened, &run);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn details_in_the_past_have_samples_of_the_chosen_range() {
    let dir = temp_dir("details");
    let (archive, mut writer) = Archive::open_driven(config(&dir)).unwrap();
    let run = record(&mut writer);
    let view = PastView::build(&archive, ViewId::Containers, run.at(SECONDS)).unwrap();
    let node = "container:web".parse().unwrap();
    let details = view.details(&archive, &node, run.start).unwrap().unwrap();
    let cpu = details.metrics.iter().find(|m| m.id == "cpu").unwrap();
    // One sample per 10 s over the 150 s.
    assert!((14..=17).contains(&cpu.samples.len()), "{} samples", cpu.samples.len());
    // Samples are aligned down to their 10 s interval.
    assert!(cpu.samples.iter().all(|s| s.t + 10_000 > run.start.0 && s.t <= run.at(SECONDS).0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn old_data_goes_first_by_age_and_by_size() {
    let dir = temp_dir("retention");
    let config = HistoryConfig { max_age: Duration::from_secs(60), ..config(&dir) };
    let (archive, mut writer) = Archive::open_driven(config).unwrap();
    let run = record(&mut writer);
    // Two more minutes of heartbeats (empty deltas), past the retention period: the first minutes are gone.
    let mut last = run.reports.last().unwrap().clone();
    for s in (SECONDS + 5..=SECONDS + 120).step_by(5) {
        let next = Report { seq: last.seq + 1, ..last.clone() };
        writer.handle(Record::Delta { at: run.at(s), delta: Box::new(diff(&last, &next)) });
        writer.tick(run.at(s));
        last = next;
    }
    let (from, _) = archive.range().unwrap();
    // Retention runs once a minute, so up to a minute more than the limit may remain.
    assert!(from > run.at(SECONDS), "from {from:?}");
    // Only anchors later segments still need remain from before the cutoff.
    let composition = archive.composition().unwrap();
    assert!(composition.segments <= 3 + 1, "{composition:?}");
    let events = archive.events(&EventQuery { from: run.start, to: run.at(SECONDS), node: None, limit: 100 }).unwrap();
    assert!(events.is_empty(), "{events:?}");
    // What is left still answers: the host as it was last.
    let model = archive.model_at(run.at(SECONDS + 100)).unwrap();
    assert_eq!(model.report(&ProbeId::new("probe-a")).map(|r| &r.processes), run.reports.last().map(|r| &r.processes));
    drop(archive);
    drop(writer);

    let dir = temp_dir("size");
    let config = HistoryConfig { max_bytes: 2 * 1024 * 1024, ..HistoryConfig::new(&dir) };
    let (archive, mut writer) = Archive::open_driven(config).unwrap();
    // Big incompressible reports: each keyframe adds about 200 KB.
    let start = UnixMillis(crate::clock::now().0 - 6 * 3_600_000);
    let mut report = host_at(0);
    for minute in 0..60u64 {
        report.seq = minute + 1;
        let container = report.containers.get(&ContainerId::new("web")).unwrap().clone();
        let mut x = minute * 2_654_435_761 + 1;
        let noise: String = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect();
        report.containers.insert(periscope_report::Container { command: noise, ..container });
        let at = UnixMillis(start.0 + minute * 60_000);
        writer.handle(Record::Snapshot { at, report: Box::new(report.clone()) });
        writer.tick(at);
    }
    let file = std::fs::metadata(archive.path()).unwrap().len();
    assert!(file <= 4 * 1024 * 1024, "file {file} bytes");
    let (from, to) = archive.range().unwrap();
    assert!(from > start, "the oldest went first");
    assert!(archive.model_at(to).unwrap().report(&ProbeId::new("probe-a")).is_some(), "the newest stays");
    let _ = std::fs::remove_dir_all(&dir);
}
