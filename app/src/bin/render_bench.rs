//! `periscope-render-bench`: the app's render against synthetic probes.
//!
//! Builds H hosts × C containers × P processes (default 500 × 20 × 10) with
//! realistic connections: each container calls a neighbour over the bridge,
//! a container on another host through a published port (and that server
//! sees the accepted socket), some call The Internet, and host agents talk
//! across hosts. Then it times a full render of every view, and, for a
//! sample of hosts, one host's delta (CPU moves, a few connections replaced,
//! a container's process restarted): applying it, updating all seven views,
//! and diffing for a client of the containers and processes views. Prints
//! a Markdown table and the app's RSS.
//!
//! Usage: `periscope-render-bench [HOSTS] [CONTAINERS] [PROCESSES]`;
//! `periscope-render-bench --history [HOSTS]` measures history instead (see `render_bench/history.rs`);
//! `periscope-render-bench --serve [HOSTS]` the whole app under load (see `render_bench/serve.rs`).

#[path = "render_bench/history.rs"]
mod history;
#[path = "render_bench/serve.rs"]
mod serve;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use periscope::model::Model;
use periscope::render::sent::SentView;
use periscope::render::Renderer;
use periscope::view::{ViewId, ViewOptions};
use periscope_report::{
    diff, Container, ContainerId, ContainerNetwork, ContainerState, ContainerStats, Host, HostId, ImageId, Interface,
    IpNetwork, PortMapping, ProbeId, ProbeMeta, Process, ProcessId, Protocol, Report, Socket, SocketId, SocketState,
    Table, TcpInfo, UnixMillis,
};

const HOST_NETNS: u64 = 4026531840;

struct Shape {
    hosts: u32,
    containers: u32,
    processes: u32,
}

fn host_ip(host: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, (host / 250) as u8, (host % 250 + 1) as u8)
}

fn container_ip(container: u32) -> Ipv4Addr {
    Ipv4Addr::new(172, 17, (container / 250) as u8, (container % 250 + 2) as u8)
}

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), port)
}

fn unspecified() -> SocketAddr {
    addr(Ipv4Addr::UNSPECIFIED, 0)
}

fn tcp(netns: u64, pid: u32, local: SocketAddr, remote: Option<SocketAddr>, seed: u32) -> Socket {
    let remote = remote.unwrap_or_else(unspecified);
    let listening = remote.port() == 0;
    Socket {
        id: SocketId { protocol: Protocol::Tcp, netns, local, remote },
        state: if listening { SocketState::Listen } else { SocketState::Established },
        pid: Some(pid),
        tcp: (!listening).then_some(TcpInfo {
            rtt_us: 100 + seed % 900,
            bytes_sent: u64::from(seed) * 1000,
            bytes_received: u64::from(seed) * 3000,
            retransmits: seed % 3,
        }),
    }
}

/// Host `h` as its probe would report it at `seq`; `variant` shifts ephemeral ports and CPU.
fn report(shape: &Shape, h: u32, seq: u64, variant: u32) -> Report {
    let host_id = HostId::new(format!("host-{h:04}"));
    let pid_of = |c: u32, p: u32| 1000 + c * 100 + p;
    let process_id = |pid: u32| ProcessId { host: host_id.clone(), pid, start_time: u64::from(pid) * 7 };
    let mut processes = Table::new();
    let mut containers = Table::new();
    let mut sockets = Table::new();
    let next_host = (h + 1) % shape.hosts;

    for c in 0..shape.containers {
        let id = ContainerId::new(format!("{h:04}{c:04}{}", "0".repeat(56)));
        let netns = 5_000_000 + u64::from(c);
        let mut labels = BTreeMap::new();
        labels.insert("com.docker.compose.project".to_owned(), format!("app{}", h % 5));
        labels.insert("com.docker.compose.service".to_owned(), format!("svc{}", c % 10));
        containers.insert(Container {
            id: id.clone(),
            name: format!("app{}-svc{}-{h}-{c}", h % 5, c % 10),
            image: ImageId::new(format!("sha256:svc{}", c % 10)),
            image_name: format!("registry.local/svc{}:1.{}", c % 10, c % 3),
            command: "/srv/run".into(),
            hostname: format!("svc{}-{c}", c % 10),
            labels,
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
                addresses: vec![IpAddr::V4(container_ip(c))],
                driver: "bridge".into(),
            }],
            ports: vec![PortMapping {
                protocol: Protocol::Tcp,
                host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                host_port: 9000 + c as u16,
                container_port: 8000,
            }],
            main_pid: Some(pid_of(c, 0)),
            stats: Some(ContainerStats {
                cpu_percent: f64::from((c + variant) % 50),
                memory_bytes: 50 << 20,
                memory_limit_bytes: None,
                network_rx_bytes: 1,
                network_tx_bytes: 1,
            }),
        });
        for p in 0..shape.processes {
            // A restarted worker in the variant: same pid, new start time.
            let pid = pid_of(c, p);
            let mut process = process_id(pid);
            if variant > 0 && c == 0 && p == 1 {
                process.start_time += u64::from(variant);
            }
            processes.insert(Process {
                id: process,
                ppid: pid_of(c, 0),
                name: if p == 0 { format!("svc{}", c % 10) } else { format!("worker{}", p % 3) }.into(),
                cmdline: vec!["/srv/run".into(), format!("--worker={p}")].into(),
                user: "app".into(),
                threads: 4,
                cpu_percent: f64::from((p + c + variant) % 20) / 2.0,
                rss_bytes: (20 + u64::from(p)) << 20,
                open_fds: 20,
                container: Some(id.clone()),
            });
        }
        let server = pid_of(c, 0);
        let client = pid_of(c, 1);
        let ip = container_ip(c);
        sockets.insert(tcp(netns, server, addr(Ipv4Addr::UNSPECIFIED, 8000), None, 0));
        // Over the bridge to the next container on this host (and the accepted end there).
        let next = (c + 1) % shape.containers;
        let port = 40_000 + (c * 7 + variant) as u16;
        sockets.insert(tcp(netns, client, addr(ip, port), Some(addr(container_ip(next), 8000)), c));
        sockets.insert(tcp(
            5_000_000 + u64::from(next),
            pid_of(next, 0),
            addr(container_ip(next), 8000),
            Some(addr(ip, port)),
            c,
        ));
        // Through the next host's published port; the client's host address after masquerade.
        let port = 50_000 + (c * 3 + variant) as u16;
        sockets.insert(tcp(
            netns,
            pid_of(c, 2 % shape.processes),
            addr(ip, port),
            Some(addr(host_ip(next_host), 9000 + ((c + 3) % shape.containers) as u16)),
            c,
        ));
        // The accepted end of the previous host's call into this host's published port.
        let previous = (h + shape.hosts - 1) % shape.hosts;
        let caller = (c + shape.containers - 3) % shape.containers;
        let port = 50_000 + (caller * 3 + variant) as u16;
        sockets.insert(tcp(netns, server, addr(ip, 8000), Some(addr(host_ip(previous), port)), c));
        if c % 5 == 0 {
            sockets.insert(tcp(
                netns,
                pid_of(c, 3 % shape.processes),
                addr(ip, 45_000 + variant as u16),
                Some(addr(Ipv4Addr::new(93, 184, 216, 34), 443)),
                c,
            ));
        }
    }
    // Host agents: one listens, one calls the agent of a host seven further on.
    let agent = 100;
    let kubelet = 101;
    for (pid, name) in [(agent, "agent"), (kubelet, "kubelet"), (102, "sshd"), (103, "dockerd")] {
        processes.insert(Process {
            id: process_id(pid),
            ppid: 1,
            name: name.into(),
            cmdline: vec![name.into()].into(),
            user: "root".into(),
            threads: 8,
            cpu_percent: f64::from(variant % 7),
            rss_bytes: 64 << 20,
            open_fds: 50,
            container: None,
        });
    }
    sockets.insert(tcp(HOST_NETNS, kubelet, addr(Ipv4Addr::UNSPECIFIED, 10250), None, 0));
    let target = (h + 7) % shape.hosts;
    sockets.insert(tcp(HOST_NETNS, agent, addr(host_ip(h), 33_000), Some(addr(host_ip(target), 10250)), h));
    let source = (h + shape.hosts - 7) % shape.hosts;
    sockets.insert(tcp(HOST_NETNS, kubelet, addr(host_ip(h), 10250), Some(addr(host_ip(source), 33_000)), h));
    // As the app holds a decoded report: tables built whole, not one insert at a time.
    processes.compact();
    containers.compact();
    sockets.compact();

    Report {
        probe: ProbeId::new(format!("probe-{h:04}")),
        seq,
        timestamp: UnixMillis(1_700_000_000_000 + seq * 1000),
        meta: ProbeMeta { version: "bench".into(), sources: Vec::new(), dropped_frames: 0, traced_overflow: 0 },
        host: Host {
            id: host_id.clone(),
            hostname: format!("node-{h:04}"),
            os: "Debian GNU/Linux 12".into(),
            kernel: "6.1.0".into(),
            uptime_secs: 1000,
            load: [0.5, 0.4, 0.3],
            cpu_count: 16,
            cpu_model: String::new(),
            cpu_percent: f64::from(10 + variant % 40),
            memory_used_bytes: 30 << 30,
            memory_total_bytes: 64 << 30,
            interfaces: vec![
                Interface {
                    name: "eth0".into(),
                    addresses: vec![IpNetwork { address: IpAddr::V4(host_ip(h)), prefix_len: 16 }],
                },
                Interface {
                    name: "docker0".into(),
                    addresses: vec![IpNetwork { address: IpAddr::V4(Ipv4Addr::new(172, 17, 0, 1)), prefix_len: 16 }],
                },
            ],
        },
        processes,
        containers,
        images: Table::new(),
        sockets,
        connections: Table::new(),
        traced: Table::new(),
    }
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let argv: Vec<String> = std::env::args().collect();
    if let Some(dir) = argv.iter().position(|a| a == "--history-stats").and_then(|i| argv.get(i + 1)) {
        return history::stats(std::path::Path::new(dir));
    }
    if let Some(app) = argv.iter().position(|a| a == "--serve-clients").and_then(|i| argv.get(i + 1)) {
        return serve::clients(app.parse().expect("--serve-clients ADDRESS"));
    }
    if std::env::args().any(|a| a == "--serve") {
        let shape = Shape { hosts: args.first().copied().unwrap_or(1000), containers: 20, processes: 10 };
        return serve::run(&shape);
    }
    if std::env::args().any(|a| a == "--history") {
        let shape = Shape { hosts: args.first().copied().unwrap_or(100), containers: 20, processes: 10 };
        return history::run(&shape);
    }
    let shape = Shape {
        hosts: args.first().copied().unwrap_or(500),
        containers: args.get(1).copied().unwrap_or(20),
        processes: args.get(2).copied().unwrap_or(10),
    };
    println!(
        "Synthetic model: {} hosts × {} containers × {} processes ({} processes in all)",
        shape.hosts,
        shape.containers,
        shape.processes,
        shape.hosts * (shape.containers * shape.processes + 4)
    );
    // The bench keeps no copy of the reports (it makes a host's report again
    // when it needs it), so the RSS below is what the app holds.
    let mut model = Model::default();
    let mut sockets = 0;
    for h in 0..shape.hosts {
        let report = report(&shape, h, 1, 0);
        sockets += report.sockets.len();
        model.insert_snapshot(report);
    }
    println!("Sockets: {sockets}");
    // Each host's (seq, variant): its report can be made again for the next delta's base.
    let mut made: Vec<(u64, u32)> = vec![(1, 0); shape.hosts as usize];
    let mut renderer = Renderer::new();
    let rss_model = rss_mib();
    println!("RSS with the model loaded: {rss_model:.0} MiB");
    println!("\n| step | time | nodes | edges | RSS after |\n| --- | --- | --- | --- | --- |");
    let mut full_total = Duration::ZERO;
    // Hosts first: its render is small, so its row shows what the shared indexes and edge resolution cost.
    let mut order = ViewId::ALL.to_vec();
    order.rotate_right(1);
    for view in order {
        let started = Instant::now();
        renderer.materialize(view, &mut model);
        let took = started.elapsed();
        full_total += took;
        let (nodes, edges) = renderer.view(view).map(|s| s.counts(&ViewOptions::default())).unwrap_or_default();
        let first = if view == ViewId::Hosts { " (indexes and edge resolution included)" } else { "" };
        println!("| full render: {view}{first} | {} | {nodes} | {edges} | {:.0} MiB |", ms(took), rss_mib());
    }
    println!("| full render: all seven views | {} | | | |", ms(full_total));
    // For heap profilers (heaptrack, built with `--no-default-features --features probe`): exiting
    // here leaves what the model and views hold as the heap live at exit.
    if std::env::var_os("PERISCOPE_BENCH_EXIT_AFTER_VIEWS").is_some() {
        std::process::exit(0);
    }
    let rss_full = rss_mib();
    // What the views hold, without the building's scratch that glibc keeps (the app trims after heavy passes too).
    periscope::limits::return_freed_memory();
    let rss_full_trimmed = rss_mib();
    for view in [ViewId::Containers, ViewId::Processes] {
        let state = renderer.view(view).expect("materialized");
        let started = Instant::now();
        let (nodes, edges) = state.full(&ViewOptions::default());
        let json = serde_json::to_vec(&periscope::render::output::ViewGraph { view: view.as_str(), nodes, edges });
        println!(
            "| {view} view as JSON (GET /api/topology/{view}) | {} | {:.1} MiB | | |",
            ms(started.elapsed()),
            json.map(|j| j.len()).unwrap_or(0) as f64 / (1 << 20) as f64
        );
    }

    // Clients of two views, to time the per-client diff.
    let options = ViewOptions::default();
    let mut clients: Vec<(ViewId, SentView)> = [ViewId::Containers, ViewId::Processes]
        .into_iter()
        .map(|view| (view, renderer.view(view).expect("materialized").snapshot(&options).2))
        .collect();

    let samples = 20.min(shape.hosts);
    let mut applies = Vec::new();
    let mut updates = Vec::new();
    let mut diffs = Vec::new();
    let mut totals = Vec::new();
    let mut changed = 0usize;
    for sample in 0..samples {
        let h = sample * (shape.hosts / samples).max(1);
        let (seq, variant) = made[h as usize];
        let previous = report(&shape, h, seq, variant);
        let next = report(&shape, h, seq + 1, sample + 1);
        let delta = diff(&previous, &next);
        let started = Instant::now();
        model.apply_delta(delta).expect("delta applies");
        let applied = started.elapsed();
        let changes = renderer.update(&mut model);
        let updated = started.elapsed();
        for (view, sent) in &mut clients {
            if let Some((_, change)) = changes.iter().find(|(v, _)| v == view) {
                let (nodes, edges) = renderer.view(*view).expect("kept").diff(&options, sent, change);
                changed +=
                    nodes.add.len() + nodes.update.len() + nodes.remove.len() + edges.add.len() + edges.update.len();
            }
        }
        let total = started.elapsed();
        applies.push(applied);
        updates.push(updated - applied);
        diffs.push(total - updated);
        totals.push(total);
        made[h as usize] = (seq + 1, sample + 1);
    }
    let stat = |mut values: Vec<Duration>| {
        values.sort();
        format!("{} (median) / {} (max)", ms(values[values.len() / 2]), ms(*values.last().expect("samples")))
    };
    println!("\n| one host's delta, {samples} hosts sampled | time |\n| --- | --- |");
    println!("| apply the delta to the model | {} |", stat(applies));
    println!("| update all seven views (index, resolve, reshare) | {} |", stat(updates));
    println!("| diff for a containers and a processes client | {} |", stat(diffs));
    println!("| total: delta in → diffs out | {} |", stat(totals));
    println!("\nNodes and edges sent per delta (both clients): {:.0} on average", changed as f64 / f64::from(samples));
    println!(
        "RSS: model {rss_model:.0} MiB; with all seven views kept \
         {rss_full:.0} MiB ({rss_full_trimmed:.0} MiB once freed memory is given back); at the end (after JSON responses and 20 deltas) {:.0} MiB",
        rss_mib()
    );
    history_held(&model);
}

/// What the store's recent metric history holds once full: every entity
/// sampled every 10 s for its 16 minutes, figures steady (most processes idle).
fn history_held(model: &Model) {
    periscope::limits::return_freed_memory();
    let before = rss_mib();
    let mut history = periscope::history::History::default();
    let rounds = periscope::history::RETENTION_MS / periscope::history::SAMPLE_INTERVAL_MS + 1;
    for round in 0..rounds {
        for report in model.reports() {
            history.sample(report, UnixMillis(1_700_000_000_000 + round * periscope::history::SAMPLE_INTERVAL_MS));
        }
    }
    periscope::limits::return_freed_memory();
    println!(
        "History of {} entities, {rounds} samples each (16 minutes, steady figures): {:.0} MiB",
        history.len(),
        rss_mib() - before
    );
}
