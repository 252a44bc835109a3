//! The probe against the real Docker engine and the real /proc: containers,
//! their processes, listening and long-lived sockets in container network
//! namespaces, short-lived connections through conntrack, and Docker events
//! sent at once.

mod probe_support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use periscope_report::{ContainerState, ProbeMessage, Protocol, Report, SocketState, Source, SourceState};
use periscope_tests::docker::{TestContainer, IMAGE};
use probe_support::{config, runtime, spawn_probe, wait_for_report, FakeApp};

fn netns_of(pid: u32) -> u64 {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let text = link.to_string_lossy();
    text.trim_start_matches("net:[").trim_end_matches(']').parse().unwrap()
}

fn container_ip(container: &TestContainer) -> IpAddr {
    container.ip().unwrap().parse().unwrap()
}

#[test]
fn containers_processes_sockets_and_short_lived_connections() {
    let server = TestContainer::run(
        "probe-httpd",
        &["-l", "com.docker.compose.project=periscope-test", "-l", "com.docker.compose.service=web"],
        &["httpd", "-f", "-p", "80", "-h", "/www"],
    )
    .unwrap();
    let server_ip = container_ip(&server);
    let client_loop = format!("while true; do wget -q -O /dev/null http://{server_ip}/; sleep 0.2; done");
    let client = TestContainer::run("probe-wget", &["-l", "role=client"], &["sh", "-c", &client_loop]).unwrap();
    let client_ip = container_ip(&client);
    // A long-lived connection: nc client holding a connection to an nc listener.
    // `-i` keeps stdin open, else nc sees EOF and hangs up; the client retries until the listener listens.
    let listener = TestContainer::run("probe-nc-server", &["-i"], &["nc", "-l", "-p", "9000"]).unwrap();
    let listener_ip = container_ip(&listener);
    let holder_command = format!("until nc {listener_ip} 9000; do sleep 0.2; done");
    let holder = TestContainer::run("probe-nc-client", &["-i"], &["sh", "-c", &holder_command]).unwrap();
    let holder_ip = container_ip(&holder);

    let runtime = runtime();
    let app = FakeApp::start(&runtime, "127.0.0.1:0");
    // Without the tracer: the wget flows below come from conntrack (with it, from the tracer).
    spawn_probe(
        &runtime,
        periscope_probe::Config {
            ebpf: periscope_probe::collect::ebpf::EbpfMode::Off,
            ..config(&app.url(), Duration::from_millis(500))
        },
    );

    let report = wait_for_report(&app, "both containers with their IPs", Duration::from_secs(30), |report| {
        for (container, ip) in [(&server, server_ip), (&client, client_ip)] {
            let found = report
                .containers
                .iter()
                .find(|c| c.id.as_str() == container.id)
                .ok_or_else(|| format!("container {} missing", container.name))?;
            if found.state != ContainerState::Running || !found.networks.iter().any(|n| n.addresses.contains(&ip)) {
                return Err(format!("container {} not running with {ip}: {found:?}", container.name));
            }
        }
        Ok(report.clone())
    })
    .unwrap();
    let server_container = report.containers.iter().find(|c| c.id.as_str() == server.id).unwrap();
    assert_eq!(server_container.name, server.name);
    assert_eq!(server_container.image_name, IMAGE);
    assert!(server_container.image.as_str().starts_with("sha256:"));
    assert_eq!(server_container.compose_project(), Some("periscope-test"));
    assert_eq!(server_container.compose_service(), Some("web"));
    assert_eq!(server_container.main_pid, Some(server.pid().unwrap()));
    let client_container = report.containers.iter().find(|c| c.id.as_str() == client.id).unwrap();
    assert_eq!(client_container.labels.get("role").map(String::as_str), Some("client"));
    assert!(report
        .images
        .iter()
        .any(|image| image.id == server_container.image && image.tags.iter().any(|t| t == IMAGE)));
    assert_eq!(source_state(&report, Source::Docker), Some(SourceState::Active));
    assert_eq!(source_state(&report, Source::Conntrack), Some(SourceState::Active));
    assert_eq!(source_state(&report, Source::SockDiag), Some(SourceState::Active));

    // Processes belong to their container (from their cgroup).
    let server_pid = server.pid().unwrap();
    let client_pid = client.pid().unwrap();
    wait_for_report(&app, "processes attributed to containers", Duration::from_secs(20), |report| {
        let httpd = report.processes.iter().find(|p| p.id.pid == server_pid).ok_or("httpd process missing")?;
        let shell = report.processes.iter().find(|p| p.id.pid == client_pid).ok_or("client shell missing")?;
        if &*httpd.name != "httpd" || httpd.container.as_ref().map(|c| c.as_str()) != Some(server.id.as_str()) {
            return Err(format!("httpd: {httpd:?}"));
        }
        if &*shell.name != "sh" || shell.container.as_ref().map(|c| c.as_str()) != Some(client.id.as_str()) {
            return Err(format!("client shell: {shell:?}"));
        }
        if *httpd.cmdline != ["httpd", "-f", "-p", "80", "-h", "/www"] {
            return Err(format!("httpd cmdline {:?}", httpd.cmdline));
        }
        Ok(())
    })
    .unwrap();

    // The server's listening socket, in its own namespace, owned by httpd.
    let server_netns = netns_of(server_pid);
    wait_for_report(&app, "the server's listening socket", Duration::from_secs(20), |report| {
        report
            .sockets
            .iter()
            .find(|s| {
                s.id.netns == server_netns
                    && s.id.protocol == Protocol::Tcp
                    && s.id.local.port() == 80
                    && s.state == SocketState::Listen
                    && s.pid == Some(server_pid)
            })
            .map(|_| ())
            .ok_or_else(|| format!("sockets in {server_netns}: {:?}", sockets_in(report, server_netns)))
    })
    .unwrap();

    // Each wget lives milliseconds; conntrack still shows client → server.
    let connection = wait_for_report(&app, "the client → server connection", Duration::from_secs(20), |report| {
        report
            .connections
            .iter()
            .find(|c| {
                c.id.protocol == Protocol::Tcp
                    && c.id.source.ip() == client_ip
                    && c.id.destination == SocketAddr::new(server_ip, 80)
            })
            .cloned()
            .ok_or_else(|| format!("{} connections, none from {client_ip}", report.connections.len()))
    })
    .unwrap();
    assert_eq!(connection.reply_source, SocketAddr::new(server_ip, 80));
    assert!(!connection.is_dnat());

    // The long-lived nc connection at process level, both ends with their pids.
    let listener_pid = listener.pid().unwrap();
    let (listener_netns, holder_netns) = (netns_of(listener_pid), netns_of(holder.pid().unwrap()));
    let server_end = SocketAddr::new(listener_ip, 9000);
    wait_for_report(&app, "both ends of the nc connection", Duration::from_secs(20), |report| {
        let client_end = report
            .sockets
            .iter()
            .find(|s| s.id.netns == holder_netns && s.id.remote == server_end && s.state == SocketState::Established)
            .ok_or_else(|| format!("client end missing: {:?}", sockets_in(report, holder_netns)))?;
        let client_pid = client_end.pid.ok_or("client end has no pid")?;
        let client_process =
            report.processes.iter().find(|p| p.id.pid == client_pid).ok_or("client pid not a process")?;
        if &*client_process.name != "nc"
            || client_process.container.as_ref().map(|c| c.as_str()) != Some(holder.id.as_str())
        {
            return Err(format!("client end owned by {client_process:?}"));
        }
        if client_end.id.local.ip() != holder_ip {
            return Err(format!("client end local {}", client_end.id.local));
        }
        let server_side = report
            .sockets
            .iter()
            .find(|s| s.id.netns == listener_netns && s.id.local == server_end && s.id.remote == client_end.id.local)
            .ok_or_else(|| format!("server end missing: {:?}", sockets_in(report, listener_netns)))?;
        if server_side.pid != Some(listener_pid) || server_side.state != SocketState::Established {
            return Err(format!("server end {server_side:?}"));
        }
        if client_end.tcp.is_none() {
            return Err("no tcp_info on an established socket".into());
        }
        Ok(())
    })
    .unwrap();

    let errors = app.with(|state| state.errors.clone());
    assert!(errors.is_empty(), "the fake app could not replay the probe's frames: {errors:?}");
}

#[test]
fn stopping_a_container_is_sent_at_once_not_at_the_next_tick() {
    let server = TestContainer::run("probe-stop", &[], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap();
    let runtime = runtime();
    let app = FakeApp::start(&runtime, "127.0.0.1:0");
    // A 30 s tick: anything that arrives sooner came from a Docker event.
    let tick = Duration::from_secs(30);
    spawn_probe(&runtime, config(&app.url(), tick));
    wait_for_report(&app, "the container running", Duration::from_secs(20), |report| {
        running_state(report, &server.id).filter(|s| *s == ContainerState::Running).ok_or("not running yet".into())
    })
    .unwrap();

    let stopped_at = Instant::now();
    server.stop().unwrap();
    let state = wait_for_report(&app, "the container stopped", Duration::from_secs(15), |report| {
        running_state(report, &server.id).filter(|s| s.is_stopped()).ok_or("still running".into())
    })
    .unwrap();
    assert_eq!(state, ContainerState::Exited);
    let elapsed = stopped_at.elapsed();
    assert!(elapsed < tick / 2, "the stop took {elapsed:?} to arrive, about a tick");
    let delta_carries_it = app.with(|state| {
        state.deltas().any(|frame| match &frame.message {
            ProbeMessage::Delta(delta) => delta
                .containers
                .upserts
                .iter()
                .any(|c| c.id.as_str() == server.id && c.state == ContainerState::Exited && c.main_pid.is_none()),
            _ => false,
        })
    });
    assert!(delta_carries_it, "no delta carried the exited container");
    let errors = app.with(|state| state.errors.clone());
    assert!(errors.is_empty(), "{errors:?}");
}

fn running_state(report: &Report, id: &str) -> Option<ContainerState> {
    report.containers.iter().find(|c| c.id.as_str() == id).map(|c| c.state)
}

fn source_state(report: &Report, source: Source) -> Option<SourceState> {
    report.meta.sources.iter().find(|s| s.source == source).map(|s| s.state.clone())
}

fn sockets_in(report: &Report, netns: u64) -> Vec<String> {
    report
        .sockets
        .iter()
        .filter(|s| s.id.netns == netns)
        .map(|s| format!("{} {:?} pid {:?}", s.id, s.state, s.pid))
        .collect()
}
