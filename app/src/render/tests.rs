//! Golden tests: hand-built reports in, views out, compared as short text.
//!
//! Each line is `node <id> <label> [stack N]` or `edge <source> -> <target> ports count`.

use periscope_report::fixtures::{ReportBuilder, HOST_NETNS};
use periscope_report::{
    ContainerId, ContainerState, Direction, FlowOwner, PortMapping, Process, ProcessId, Protocol, Report,
};

use crate::model::Model;
use crate::render::Renderer;
use crate::view::{Stopped, ViewId, ViewOptions};

const WEB_NETNS: u64 = 1001;
const CLIENT_NETNS: u64 = 1002;

fn render_with(reports: &[Report], view: ViewId, options: ViewOptions) -> String {
    let mut model = Model::default();
    for report in reports {
        model.insert_snapshot(report.clone());
    }
    let mut renderer = Renderer::new();
    renderer.materialize(view, &mut model);
    let state = renderer.view(view).expect("materialized");
    let (nodes, edges) = state.full(&options);
    let mut lines = Vec::new();
    for node in nodes {
        let stack = if node.stack > 1 { format!(" stack {}", node.stack) } else { String::new() };
        lines.push(format!("node {} {}{stack}", node.id, node.label));
    }
    for edge in edges {
        let ports: Vec<String> = edge.ports.iter().map(u16::to_string).collect();
        lines.push(format!("edge {} -> {} :{} x{}", edge.source, edge.target, ports.join(","), edge.connections));
    }
    lines.join("\n")
}

fn check(reports: &[Report], view: ViewId, expected: &str) {
    check_with(reports, view, ViewOptions::default(), expected);
}

fn check_with(reports: &[Report], view: ViewId, options: ViewOptions, expected: &str) {
    let actual = render_with(reports, view, options);
    let expected: Vec<&str> = expected.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    assert_eq!(actual, expected.join("\n"), "\n--- actual {view} ---\n{actual}\n");
}

/// Edges only, for views where the nodes are not the point.
fn check_edges(reports: &[Report], view: ViewId, expected: &str) {
    let actual = render_with(reports, view, ViewOptions::default());
    let actual: Vec<&str> = actual.lines().filter(|line| line.starts_with("edge")).collect();
    let expected: Vec<&str> = expected.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    assert_eq!(actual, expected, "\n--- actual {view} ---\n{}\n", actual.join("\n"));
}

/// Host `name` at `ip` with an httpd container `web-{name}` (172.17.0.2) and a wget container
/// `client-{name}` (172.17.0.3) that talks to it over the bridge.
fn bridge_host(name: &str, ip: &str) -> Report {
    let web = format!("web{name}");
    let client = format!("cli{name}");
    ReportBuilder::new(name)
        .interface("eth0", &format!("{ip}/24"))
        .interface("docker0", "172.17.0.1/16")
        .container(&web, &format!("web-{name}"), "httpd:2", "172.17.0.2")
        .container(&client, &format!("client-{name}"), "busybox:latest", "172.17.0.3")
        .process(100, "httpd", Some(&web))
        .process(200, "wget", Some(&client))
        .tcp(WEB_NETNS, Some(100), "0.0.0.0:80", None)
        .tcp(WEB_NETNS, Some(100), "172.17.0.2:80", Some("172.17.0.3:40000"))
        .tcp(CLIENT_NETNS, Some(200), "172.17.0.3:40000", Some("172.17.0.2:80"))
        .build()
}

#[test]
fn two_hosts_with_the_same_bridge_ip_are_two_containers() {
    let reports = [bridge_host("a", "10.0.0.1"), bridge_host("b", "10.0.0.2")];
    check(
        &reports,
        ViewId::Containers,
        "node container:clia client-a
         node container:clib client-b
         node container:weba web-a
         node container:webb web-b
         edge container:clia -> container:weba :80 x1
         edge container:clib -> container:webb :80 x1",
    );
    check_edges(&reports, ViewId::ContainersByImage, "edge image:busybox -> image:httpd :80 x2");
}

#[test]
fn cross_host_client_and_server_make_one_edge() {
    let client = ReportBuilder::new("a")
        .interface("eth0", "10.0.0.1/24")
        .process(10, "curl", None)
        .tcp(HOST_NETNS, Some(10), "10.0.0.1:40000", Some("10.0.0.2:8080"))
        .build();
    let server = ReportBuilder::new("b")
        .interface("eth0", "10.0.0.2/24")
        .process(20, "server", None)
        .tcp(HOST_NETNS, Some(20), "0.0.0.0:8080", None)
        .tcp(HOST_NETNS, Some(20), "10.0.0.2:8080", Some("10.0.0.1:40000"))
        .build();
    let reports = [client, server];
    check(
        &reports,
        ViewId::Processes,
        "node process:10.1000@a curl
         node process:20.2000@b server
         edge process:10.1000@a -> process:20.2000@b :8080 x1",
    );
    check(
        &reports,
        ViewId::Hosts,
        "node host:a a
         node host:b b
         edge host:a -> host:b :8080 x1",
    );
    check_edges(&reports, ViewId::ProcessesByName, "edge process-name:curl -> process-name:server :8080 x1");
    check_edges(&reports, ViewId::Containers, "edge uncontained:a -> uncontained:b :8080 x1");
}

#[test]
fn the_server_side_alone_still_names_the_known_client_host() {
    // The client's socket is gone (short-lived); its address belongs to host a.
    let client = ReportBuilder::new("a").interface("eth0", "10.0.0.1/24").process(10, "sh", None).build();
    let server = ReportBuilder::new("b")
        .interface("eth0", "10.0.0.2/24")
        .process(20, "server", None)
        .tcp(HOST_NETNS, Some(20), "0.0.0.0:8080", None)
        .tcp(HOST_NETNS, Some(20), "10.0.0.2:8080", Some("10.0.0.1:40000"))
        .build();
    check_edges(&[client, server], ViewId::Hosts, "edge host:a -> host:b :8080 x1");
}

fn published_web_host() -> ReportBuilder {
    ReportBuilder::new("a")
        .interface("eth0", "10.0.0.1/24")
        .interface("docker0", "172.17.0.1/16")
        .container("web", "web", "nginx:1.25", "172.17.0.2")
        .edit_container("web", |c| {
            c.ports.push(PortMapping {
                protocol: Protocol::Tcp,
                host_ip: "0.0.0.0".parse().unwrap(),
                host_port: 8080,
                container_port: 80,
            })
        })
        .process(100, "nginx", Some("web"))
        .tcp(WEB_NETNS, Some(100), "0.0.0.0:80", None)
}

fn remote_client() -> Report {
    ReportBuilder::new("b")
        .interface("eth0", "10.0.0.2/24")
        .process(20, "curl", None)
        .tcp(HOST_NETNS, Some(20), "10.0.0.2:50000", Some("10.0.0.1:8080"))
        .build()
}

#[test]
fn a_client_reaches_a_container_through_a_published_port() {
    let reports = [published_web_host().build(), remote_client()];
    check_edges(&reports, ViewId::Processes, "edge process:20.2000@b -> process:100.10000@a :8080 x1");
    check_edges(&reports, ViewId::Containers, "edge uncontained:b -> container:web :8080 x1");
}

#[test]
fn conntrack_dnat_reveals_the_container_behind_a_host_port() {
    // No port mapping known (say, a plain iptables DNAT rule): only conntrack's reply source tells.
    let server = published_web_host()
        .edit_container("web", |c| c.ports.clear())
        .conntrack("10.0.0.2:50000", "10.0.0.1:8080", "172.17.0.2:80")
        .build();
    let reports = [server, remote_client()];
    check_edges(&reports, ViewId::Containers, "edge uncontained:b -> container:web :8080 x1");
}

#[test]
fn conntrack_alone_shows_a_short_lived_container_client() {
    // The wget container's socket is gone; the host's conntrack table kept the flow.
    let host = ReportBuilder::new("a")
        .interface("eth0", "10.0.0.1/24")
        .interface("docker0", "172.17.0.1/16")
        .container("web", "web", "httpd:2", "172.17.0.2")
        .container("cli", "client", "busybox", "172.17.0.3")
        .process(100, "httpd", Some("web"))
        .tcp(WEB_NETNS, Some(100), "0.0.0.0:80", None)
        .conntrack("172.17.0.3:41000", "172.17.0.2:80", "172.17.0.2:80")
        .build();
    check_edges(&[host], ViewId::Containers, "edge container:cli -> container:web :80 x1");
}

#[test]
fn public_addresses_are_the_internet_both_ways() {
    let host = ReportBuilder::new("a")
        .interface("eth0", "10.0.0.1/24")
        .process(10, "curl", None)
        .process(20, "sshd", None)
        .tcp(HOST_NETNS, Some(10), "10.0.0.1:40000", Some("93.184.216.34:443"))
        .tcp(HOST_NETNS, Some(20), "0.0.0.0:22", None)
        .tcp(HOST_NETNS, Some(20), "10.0.0.1:22", Some("8.8.8.8:51000"))
        .build();
    check(
        &[host],
        ViewId::Processes,
        "node internet The Internet
         node process:10.1000@a curl
         node process:20.2000@a sshd
         edge internet -> process:20.2000@a :22 x1
         edge process:10.1000@a -> internet :443 x1",
    );
}

#[test]
fn unknown_private_addresses_get_a_node_each() {
    let host = ReportBuilder::new("a")
        .interface("eth0", "10.0.0.1/24")
        .process(10, "psql", None)
        .tcp(HOST_NETNS, Some(10), "10.0.0.1:40000", Some("10.9.9.9:5432"))
        .tcp(HOST_NETNS, Some(10), "10.0.0.1:40001", Some("10.9.9.8:5432"))
        .build();
    check_edges(
        &[host],
        ViewId::Processes,
        "edge process:10.1000@a -> address:10.9.9.8 :5432 x1
         edge process:10.1000@a -> address:10.9.9.9 :5432 x1",
    );
}

#[test]
fn host_processes_are_uncontained() {
    let host = published_web_host()
        .process(10, "curl", None)
        .tcp(HOST_NETNS, Some(10), "172.17.0.1:40000", Some("172.17.0.2:80"))
        .build();
    check(
        &[host],
        ViewId::Containers,
        "node container:web web
         node uncontained:a Uncontained
         edge uncontained:a -> container:web :80 x1",
    );
}

#[test]
fn loopback_is_scoped_to_its_host() {
    let host = |name: &str| {
        ReportBuilder::new(name)
            .process(10, "app", None)
            .process(20, "postgres", None)
            .tcp(HOST_NETNS, Some(20), "127.0.0.1:5432", None)
            .tcp(HOST_NETNS, Some(10), "127.0.0.1:40000", Some("127.0.0.1:5432"))
            .tcp(HOST_NETNS, Some(20), "127.0.0.1:5432", Some("127.0.0.1:40000"))
            .build()
    };
    check_edges(
        &[host("a"), host("b")],
        ViewId::Processes,
        "edge process:10.1000@a -> process:20.2000@a :5432 x1
         edge process:10.1000@b -> process:20.2000@b :5432 x1",
    );
}

#[test]
fn ipv6_pair_across_hosts() {
    let client = ReportBuilder::new("a")
        .interface("eth0", "fd00::1/64")
        .process(10, "curl", None)
        .tcp(HOST_NETNS, Some(10), "[fd00::1]:40000", Some("[fd00::2]:80"))
        .build();
    let server = ReportBuilder::new("b")
        .interface("eth0", "fd00::2/64")
        .process(20, "nginx", None)
        .tcp(HOST_NETNS, Some(20), "[::]:80", None)
        .tcp(HOST_NETNS, Some(20), "[fd00::2]:80", Some("[fd00::1]:40000"))
        .build();
    check_edges(&[client, server], ViewId::Processes, "edge process:10.1000@a -> process:20.2000@b :80 x1");
}

#[test]
fn ipv4_clients_of_a_dual_stack_listener() {
    let client = remote_client();
    let server = ReportBuilder::new("a")
        .interface("eth0", "10.0.0.1/24")
        .process(30, "caddy", None)
        .tcp(HOST_NETNS, Some(30), "[::]:8080", None)
        .build();
    check_edges(&[client, server], ViewId::Processes, "edge process:20.2000@b -> process:30.3000@a :8080 x1");
}

#[test]
fn a_reused_pid_is_a_new_process() {
    let mut model = Model::default();
    let old = ReportBuilder::new("a").process(10, "worker", None).build();
    let mut new = old.clone();
    new.seq = 2;
    let reused = Process {
        id: ProcessId { start_time: 5555, ..old.processes.iter().next().unwrap().id.clone() },
        ..old.processes.iter().next().unwrap().clone()
    };
    new.processes = [reused].into_iter().collect();
    model.insert_snapshot(old.clone());
    let mut renderer = Renderer::new();
    renderer.materialize(ViewId::Processes, &mut model);
    model.apply_delta(periscope_report::diff(&old, &new)).unwrap();
    let changes = renderer.update(&mut model);
    let (_, changes) = changes.into_iter().next().expect("processes view changed");
    let mut changed: Vec<String> = changes.nodes.iter().map(ToString::to_string).collect();
    changed.sort();
    assert_eq!(changed, ["process:10.1000@a", "process:10.5555@a"]);
    let state = renderer.view(ViewId::Processes).unwrap();
    let (nodes, _) = state.full(&ViewOptions::default());
    assert_eq!(nodes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["process:10.5555@a"]);
}

fn compose_host(name: &str, ip: &str) -> Report {
    let labels = |service: &'static str| {
        move |c: &mut periscope_report::Container| {
            c.labels.insert("com.docker.compose.project".into(), "shop".into());
            c.labels.insert("com.docker.compose.service".into(), service.into());
        }
    };
    let web = format!("web{name}");
    let db = format!("db{name}");
    ReportBuilder::new(name)
        .interface("eth0", &format!("{ip}/24"))
        .interface("docker0", "172.17.0.1/16")
        .container(&web, &format!("shop-web-{name}"), "shop/web:1", "172.17.0.2")
        .container(&db, &format!("shop-db-{name}"), "postgres:16", "172.17.0.4")
        .container(&format!("solo{name}"), "solo", "busybox", "172.17.0.9")
        .edit_container(&web, labels("web"))
        .edit_container(&db, labels("db"))
        .process(100, "web", Some(&web))
        .process(300, "postgres", Some(&db))
        .tcp(3003, Some(300), "0.0.0.0:5432", None)
        .tcp(WEB_NETNS, Some(100), "172.17.0.2:43000", Some("172.17.0.4:5432"))
        .build()
}

#[test]
fn compose_groups_services_across_hosts() {
    let reports = [compose_host("a", "10.0.0.1"), compose_host("b", "10.0.0.2")];
    check(
        &reports,
        ViewId::Compose,
        "node compose-service:shop/db db stack 2
         node compose-service:shop/web web stack 2
         node container:soloa solo
         node container:solob solo
         edge compose-service:shop/web -> compose-service:shop/db :5432 x2",
    );
}

#[test]
fn options_choose_stopped_system_and_unconnected_nodes() {
    let host = published_web_host()
        .container("old", "old", "busybox", "172.17.0.8")
        .edit_container("old", |c| c.state = ContainerState::Exited)
        .container("pause", "k8s_POD_x", "k8s.gcr.io/pause:3.9", "172.17.0.7")
        .build();
    let containers = |options| render_with(std::slice::from_ref(&host), ViewId::Containers, options);
    assert_eq!(containers(ViewOptions::default()), "node container:web web");
    let show = ViewOptions { stopped: Stopped::Show, show_system: true, show_unconnected: true };
    assert_eq!(containers(show), "node container:old old\nnode container:pause k8s_POD_x\nnode container:web web");
    let only = ViewOptions { stopped: Stopped::Only, ..ViewOptions::default() };
    assert_eq!(containers(only), "node container:old old");
    let connected = ViewOptions { show_unconnected: false, ..ViewOptions::default() };
    assert_eq!(containers(connected), "");
}

#[test]
fn conntrack_flows_with_the_client_port_folded_away() {
    let host = |with_socket: bool| {
        let mut builder = ReportBuilder::new("a")
            .interface("eth0", "10.0.0.1/24")
            .interface("docker0", "172.17.0.1/16")
            .container("web", "web", "httpd:2", "172.17.0.2")
            .container("cli", "client", "busybox", "172.17.0.3")
            .process(100, "httpd", Some("web"))
            .process(200, "wget", Some("cli"))
            .tcp(WEB_NETNS, Some(100), "[::]:80", None)
            .conntrack("172.17.0.3:0", "172.17.0.2:80", "172.17.0.2:80");
        if with_socket {
            builder = builder.tcp(CLIENT_NETNS, Some(200), "172.17.0.3:41000", Some("172.17.0.2:80"));
        }
        builder.build()
    };
    check_edges(&[host(false)], ViewId::Containers, "edge container:cli -> container:web :80 x1");
    // The live socket already names this connection: the flow adds nothing.
    check_edges(&[host(true)], ViewId::Containers, "edge container:cli -> container:web :80 x1");
    check_edges(&[host(true)], ViewId::Processes, "edge process:200.20000@a -> process:100.10000@a :80 x1");
}

#[test]
fn without_any_listener_the_lower_port_is_the_server() {
    // busybox `nc -l` stops listening once it accepted its one connection.
    let host = ReportBuilder::new("a")
        .interface("docker0", "172.17.0.1/16")
        .container("srv", "server", "busybox", "172.17.0.25")
        .container("cli", "client", "busybox", "172.17.0.26")
        .process(100, "nc", Some("srv"))
        .process(200, "nc", Some("cli"))
        .tcp(WEB_NETNS, Some(100), "172.17.0.25:9000", Some("172.17.0.26:59072"))
        .tcp(CLIENT_NETNS, Some(200), "172.17.0.26:59072", Some("172.17.0.25:9000"))
        .build();
    check_edges(&[host], ViewId::Processes, "edge process:200.20000@a -> process:100.10000@a :9000 x1");
}

#[test]
fn incremental_updates_match_a_fresh_render() {
    let steps: Vec<Vec<Report>> = vec![
        vec![bridge_host("a", "10.0.0.1"), remote_client()],
        vec![bridge_host("a", "10.0.0.1"), remote_client(), published_web_host().seq(2).build()],
        vec![compose_host("a", "10.0.0.1"), compose_host("b", "10.0.0.2")],
        vec![compose_host("b", "10.0.0.2")],
        vec![bridge_host("b", "10.0.0.2"), compose_host("c", "10.0.0.3"), remote_client()],
        vec![],
    ];
    let mut model = Model::default();
    let mut renderer = Renderer::new();
    for view in ViewId::ALL {
        renderer.materialize(view, &mut model);
    }
    let options = ViewOptions { stopped: Stopped::Show, show_system: true, show_unconnected: true };
    for reports in steps {
        let present: Vec<_> = reports.iter().map(|r| r.probe.clone()).collect();
        let gone: Vec<_> = model.reports().map(|r| r.probe.clone()).filter(|p| !present.contains(p)).collect();
        for probe in gone {
            model.remove(&probe);
        }
        for report in &reports {
            model.insert_snapshot(report.clone());
        }
        renderer.update(&mut model);
        for view in ViewId::ALL {
            let incremental = renderer.view(view).unwrap().full(&options);
            let fresh = render_full(&reports, view, &options);
            assert_eq!(incremental, fresh, "{view} differs after an incremental update");
        }
    }
}

fn render_full(
    reports: &[Report],
    view: ViewId,
    options: &ViewOptions,
) -> (Vec<crate::render::output::Node>, Vec<crate::render::output::Edge>) {
    let mut model = Model::default();
    for report in reports {
        model.insert_snapshot(report.clone());
    }
    let mut renderer = Renderer::new();
    renderer.materialize(view, &mut model);
    renderer.view(view).unwrap().full(options)
}

/// Host `a`: an httpd container and a client container whose `wget` runs were too short-lived to
/// be listed; the probe's tracer folded them into one command flow, `refused` of them refused.
fn traced_host(connections: u64, refused: u64) -> Report {
    let wget = FlowOwner::Command { container: Some(ContainerId::new("cli")), name: "wget".into() };
    ReportBuilder::new("a")
        .interface("eth0", "10.0.0.1/24")
        .interface("docker0", "172.17.0.1/16")
        .container("web", "web", "httpd:2", "172.17.0.2")
        .container("cli", "client", "busybox:latest", "172.17.0.3")
        .process(100, "httpd", Some("web"))
        .process(200, "sh", Some("cli"))
        .tcp(WEB_NETNS, Some(100), "0.0.0.0:80", None)
        .traced(CLIENT_NETNS, Direction::Outbound, wget, "172.17.0.3:0", "172.17.0.2:80", connections, refused)
        .build()
}

#[test]
fn short_lived_runs_are_one_command_node_with_an_edge_to_the_server_process() {
    let reports = [traced_host(300, 0)];
    check(
        &reports,
        ViewId::Processes,
        "node command:cli:wget@a wget
         node process:100.10000@a httpd
         node process:200.20000@a sh
         edge command:cli:wget@a -> process:100.10000@a :80 x1",
    );
    check_edges(&reports, ViewId::Containers, "edge container:cli -> container:web :80 x1");
    check_edges(&reports, ViewId::ProcessesByName, "edge process-name:wget -> process-name:httpd :80 x1");
    let (_, edges) = render_full(&reports, ViewId::Processes, &ViewOptions::default());
    assert_eq!((edges[0].total_connections, edges[0].failing), (Some(300), false));
    assert_eq!(edges[0].per_minute.map(|rates| rates.connections), Some(300));
    assert_eq!(edges[0].bytes_received, Some(300_000), "the client's view: it received the pages");
}

#[test]
fn refused_connections_make_a_failing_edge_even_when_none_succeeded() {
    let reports = [traced_host(20, 20)];
    let (_, edges) = render_full(&reports, ViewId::Containers, &ViewOptions::default());
    assert_eq!(edges.len(), 1);
    assert!(edges[0].failing);
    assert_eq!(edges[0].per_minute.map(|rates| (rates.connections, rates.refused)), Some((20, 20)));
}

#[test]
fn a_traced_flow_of_an_exited_process_keeps_its_command_and_container() {
    let gone = ProcessId { host: periscope_report::HostId::new("a"), pid: 999, start_time: 5 };
    let mut report = traced_host(1, 0);
    let mut flow = report.traced.iter().next().unwrap().clone();
    report.traced = Default::default();
    flow.id.owner = FlowOwner::Process(gone);
    report.traced.insert(flow);
    check_edges(&[report.clone()], ViewId::Processes, "edge command:cli:wget@a -> process:100.10000@a :80 x1");
    check_edges(&[report], ViewId::Containers, "edge container:cli -> container:web :80 x1");
}

#[test]
fn the_server_side_traced_flow_draws_an_unseen_client_and_defers_to_a_seen_one() {
    let httpd = FlowOwner::Process(ProcessId { host: periscope_report::HostId::new("a"), pid: 100, start_time: 10000 });
    let server = |report: ReportBuilder| {
        report.traced(WEB_NETNS, Direction::Inbound, httpd.clone(), "172.17.0.2:80", "172.17.0.3:0", 10, 0).build()
    };
    let unseen_client = server(
        ReportBuilder::new("a")
            .interface("docker0", "172.17.0.1/16")
            .container("web", "web", "httpd:2", "172.17.0.2")
            .process(100, "httpd", Some("web"))
            .tcp(WEB_NETNS, Some(100), "0.0.0.0:80", None),
    );
    check_edges(
        std::slice::from_ref(&unseen_client),
        ViewId::Processes,
        "edge address:172.17.0.3 -> process:100.10000@a :80 x1",
    );
    // With the client's own traced flow present, one edge, from the client's command.
    let mut both = traced_host(10, 0);
    for flow in unseen_client.traced.iter() {
        both.traced.insert(flow.clone());
    }
    check_edges(&[both], ViewId::Processes, "edge command:cli:wget@a -> process:100.10000@a :80 x1");
}

#[test]
fn a_host_process_reaching_a_published_port_on_loopback_is_drawn_from_that_process() {
    let wget = FlowOwner::Command { container: None, name: "wget".into() };
    let proxy_host = |with_proxy: bool| {
        let mut report = published_web_host()
            .edit_container("web", |c| c.ports[0].host_ip = "127.0.0.1".parse().unwrap())
            .process(300, "docker-proxy", None)
            .traced(HOST_NETNS, Direction::Outbound, wget.clone(), "127.0.0.1:0", "127.0.0.1:8080", 5, 0);
        if with_proxy {
            report = report.tcp(HOST_NETNS, Some(300), "127.0.0.1:8080", None);
        }
        report.build()
    };
    for with_proxy in [true, false] {
        check_edges(
            &[proxy_host(with_proxy)],
            ViewId::Processes,
            "edge command:-:wget@a -> process:100.10000@a :8080 x1",
        );
    }
}

#[test]
fn without_the_tracer_conntrack_failures_make_a_failing_edge() {
    let mut report = ReportBuilder::new("a")
        .interface("docker0", "172.17.0.1/16")
        .container("web", "web", "httpd:2", "172.17.0.2")
        .container("cli", "client", "busybox", "172.17.0.3")
        .conntrack("172.17.0.3:0", "172.17.0.2:81", "172.17.0.2:81")
        .build();
    let id = *report.connections.ids().next().unwrap();
    report.connections.get_mut(&id).unwrap().refused = 4;
    let (_, edges) = render_full(&[report], ViewId::Containers, &ViewOptions::default());
    assert_eq!(edges.len(), 1);
    assert!(edges[0].failing);
    assert_eq!(edges[0].per_minute.map(|r| (r.connections, r.refused)), Some((0, 4)));
    assert_eq!(edges[0].total_connections, None, "no connection counts without the tracer");
}

#[test]
fn a_traced_connection_to_a_server_that_stopped_listening_names_it_by_its_socket() {
    // `nc -l` accepts one connection and closes its listener: only the exact reverse socket tells.
    let nc = FlowOwner::Process(ProcessId { host: periscope_report::HostId::new("a"), pid: 200, start_time: 20000 });
    let report = ReportBuilder::new("a")
        .interface("docker0", "172.17.0.1/16")
        .container("web", "server", "busybox", "172.17.0.2")
        .container("cli", "client", "busybox", "172.17.0.3")
        .process(100, "nc", Some("web"))
        .process(200, "nc", Some("cli"))
        .tcp(WEB_NETNS, Some(100), "172.17.0.2:9000", Some("172.17.0.3:40000"))
        .tcp(CLIENT_NETNS, Some(200), "172.17.0.3:40000", Some("172.17.0.2:9000"))
        .traced(CLIENT_NETNS, Direction::Outbound, nc, "172.17.0.3:0", "172.17.0.2:9000", 1, 0)
        .build();
    check_edges(&[report], ViewId::Processes, "edge process:200.20000@a -> process:100.10000@a :9000 x1");
}

#[test]
fn overlay_addresses_resolve_across_hosts_bridge_addresses_do_not() {
    let overlay = |report: ReportBuilder, id: &str, ip: &str| {
        report.edit_container(id, |c| {
            c.networks = vec![periscope_report::ContainerNetwork {
                name: "backend".into(),
                addresses: vec![ip.parse().unwrap()],
                driver: "overlay".into(),
            }]
        })
    };
    let client = overlay(
        ReportBuilder::new("a")
            .interface("eth0", "10.0.0.1/24")
            .container("cli", "client", "busybox", "10.0.1.3")
            .process(200, "wget", Some("cli"))
            .tcp(CLIENT_NETNS, Some(200), "10.0.1.3:40000", Some("10.0.1.5:80")),
        "cli",
        "10.0.1.3",
    )
    .build();
    let server = overlay(
        ReportBuilder::new("b")
            .interface("eth0", "10.0.0.2/24")
            .container("web", "web", "httpd", "10.0.1.5")
            .process(100, "httpd", Some("web"))
            .tcp(WEB_NETNS, Some(100), "0.0.0.0:80", None),
        "web",
        "10.0.1.5",
    )
    .build();
    check_edges(&[client, server], ViewId::Containers, "edge container:cli -> container:web :80 x1");
}
