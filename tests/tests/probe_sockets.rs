//! The probe's socket sources on the real kernel: IPv6 on loopback through
//! sock_diag and through the /proc/net fallback, a probe without Docker
//! that still reports host, processes and sockets, and conntrack leaving to
//! the eBPF tracer the TCP flows it counts.

mod probe_support;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use periscope_probe::collect::ebpf::EbpfMode;
use periscope_report::{Direction, Protocol, Report, SocketState, Source, SourceState};
use probe_support::{config, runtime, spawn_probe, wait_for_report, FakeApp};

fn collect_once(config: &periscope_probe::Config) -> Report {
    runtime().block_on(periscope_probe::collect_once(config)).expect("collect once")
}

fn once_config() -> periscope_probe::Config {
    periscope_probe::Config { no_docker: true, no_conntrack: true, ..Default::default() }
}

/// A probe reporting every 200 ms to a fake app, with a Docker socket that is not there; the
/// runtime runs it until dropped.
fn streaming_without_docker(bogus: std::path::PathBuf, ebpf: EbpfMode) -> (tokio::runtime::Runtime, FakeApp) {
    let runtime = runtime();
    let app = FakeApp::start(&runtime, "127.0.0.1:0");
    let config = config(&app.url(), Duration::from_millis(200));
    spawn_probe(&runtime, periscope_probe::Config { docker_socket: bogus, ebpf, ..config });
    (runtime, app)
}

fn source_state(report: &Report, source: Source) -> Option<SourceState> {
    report.meta.sources.iter().find(|s| s.source == source).map(|s| s.state.clone())
}

/// A listener and a connected client on `[::1]`, held open while `check` runs.
fn with_ipv6_connection(check: impl FnOnce(SocketAddr, SocketAddr)) {
    let listener = TcpListener::bind("[::1]:0").expect("an IPv6 loopback listener");
    let server = listener.local_addr().unwrap();
    let client = TcpStream::connect(server).unwrap();
    let (_accepted, _) = listener.accept().unwrap();
    check(server, client.local_addr().unwrap());
}

fn check_ipv6_sockets(report: &Report, server: SocketAddr, client: SocketAddr) {
    let me = std::process::id();
    let find = |local: SocketAddr, remote: Option<SocketAddr>| {
        report
            .sockets
            .iter()
            .find(|s| s.id.protocol == Protocol::Tcp && s.id.local == local && remote.is_none_or(|r| s.id.remote == r))
            .unwrap_or_else(|| panic!("no socket {local} → {remote:?} among {} sockets", report.sockets.len()))
    };
    let listening = find(server, None);
    assert_eq!(listening.state, SocketState::Listen);
    assert!(listening.id.local.is_ipv6());
    assert_eq!(listening.pid, Some(me));
    let outgoing = find(client, Some(server));
    assert_eq!(outgoing.state, SocketState::Established);
    assert_eq!(outgoing.pid, Some(me));
    let incoming = find(server, Some(client));
    assert_eq!(incoming.state, SocketState::Established);
    assert_eq!(incoming.pid, Some(me));
}

#[test]
fn ipv6_loopback_sockets_through_sock_diag() {
    with_ipv6_connection(|server, client| {
        let report = collect_once(&once_config());
        assert_eq!(source_state(&report, Source::SockDiag), Some(SourceState::Active));
        check_ipv6_sockets(&report, server, client);
        let outgoing = report.sockets.iter().find(|s| s.id.local == client).unwrap();
        assert!(outgoing.tcp.is_some(), "sock_diag gives tcp_info");
    });
}

#[test]
fn ipv6_loopback_sockets_through_proc_net() {
    with_ipv6_connection(|server, client| {
        let report = collect_once(&periscope_probe::Config { proc_net_only: true, ..once_config() });
        assert_eq!(source_state(&report, Source::ProcNet), Some(SourceState::Active));
        assert!(matches!(source_state(&report, Source::SockDiag), Some(SourceState::Unavailable { .. })));
        check_ipv6_sockets(&report, server, client);
    });
}

#[test]
fn without_docker_the_probe_still_reports_host_processes_and_sockets() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let bogus = std::env::temp_dir().join(format!("periscope-no-docker-{}.sock", std::process::id()));
    let once = periscope_probe::Config { docker_socket: bogus.clone(), ..Default::default() };

    // Once, as `--once --json` does.
    let report = collect_once(&once);
    assert!(!report.host.hostname.is_empty() && report.host.memory_total_bytes > 0);
    assert!(report.processes.iter().any(|p| p.id.pid == std::process::id()));
    assert!(report.sockets.iter().any(|s| s.id.local == address && s.pid == Some(std::process::id())));
    assert!(report.containers.is_empty());
    assert!(matches!(source_state(&report, Source::Docker), Some(SourceState::Unavailable { .. })));
    assert_eq!(source_state(&report, Source::Proc), Some(SourceState::Active));

    // And streaming: the Docker follower keeps retrying while reports flow. Without the tracer,
    // which would count the TCP connection below in conntrack's place.
    let (_runtime, app) = streaming_without_docker(bogus, EbpfMode::Off);
    wait_for_report(&app, "a report with our listener", Duration::from_secs(20), |report| {
        let ours = report.sockets.iter().any(|s| s.id.local == address);
        let docker_down = matches!(source_state(report, Source::Docker), Some(SourceState::Unavailable { .. }));
        (ours && docker_down).then_some(()).ok_or_else(|| format!("ours {ours}, docker down {docker_down}"))
    })
    .unwrap();
    periscope_tests::wait_until("several deltas", Duration::from_secs(20), || {
        let deltas = app.with(|state| state.deltas().count());
        (deltas >= 2).then_some(()).ok_or(format!("{deltas} deltas"))
    })
    .unwrap();
    // A short-lived local connection shows up through conntrack even without Docker.
    let mut stream = TcpStream::connect(address).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    drop(stream.set_read_timeout(Some(Duration::from_millis(10))));
    let mut buffer = [0u8; 1];
    let _ = stream.read(&mut buffer);
    drop(stream);
    let _ = accepted.read(&mut buffer);
    wait_for_report(&app, "the loopback connection via conntrack", Duration::from_secs(20), |report| {
        report
            .connections
            .iter()
            .any(|c| c.id.destination == address)
            .then_some(())
            .ok_or_else(|| format!("{} connections", report.connections.len()))
    })
    .unwrap();
    assert!(app.with(|state| state.errors.is_empty()));
}

/// With the tracer on, a loopback TCP connection is a traced flow and not a conntrack record
/// (the kernel filters those out of the probe's event socket); UDP, which the tracer does not
/// see, still comes from conntrack. The UDP datagram goes after the connection, through the
/// same event socket, so once it is in a report the TCP flow would be too.
#[test]
fn with_the_tracer_conntrack_leaves_tcp_flows_to_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let bogus = std::env::temp_dir().join(format!("periscope-no-docker-tracer-{}.sock", std::process::id()));
    let (_runtime, app) = streaming_without_docker(bogus, EbpfMode::On);
    wait_for_report(&app, "a report with our listener", Duration::from_secs(20), |report| {
        let ours = report.sockets.iter().any(|s| s.id.local == address);
        let conntrack = source_state(report, Source::Conntrack) == Some(SourceState::Active);
        (ours && conntrack).then_some(()).ok_or_else(|| format!("ours {ours}, conntrack active {conntrack}"))
    })
    .unwrap();
    let stream = TcpStream::connect(address).unwrap();
    drop(listener.accept().unwrap());
    drop(stream);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    udp.send_to(b"x", silent).unwrap();
    let report = wait_for_report(&app, "the traced TCP flow and the UDP flow", Duration::from_secs(20), |report| {
        let traced = report.traced.iter().any(|f| f.id.direction == Direction::Outbound && f.id.remote == address);
        let udp = report.connections.iter().any(|c| c.id.protocol == Protocol::Udp && c.id.destination == silent);
        (traced && udp).then(|| report.clone()).ok_or_else(|| format!("traced {traced}, UDP via conntrack {udp}"))
    })
    .unwrap();
    let repeated: Vec<_> = report.connections.iter().filter(|c| c.id.destination == address).collect();
    assert!(repeated.is_empty(), "conntrack repeated the traced flow: {repeated:?}");
    assert!(app.with(|state| state.errors.is_empty()));
}
