//! Connections as the eBPF tracer sees them, against the real Docker engine:
//! short-lived `wget` runs as one process-level edge, failures (refused,
//! unanswered) as red edges, the fallback without eBPF, conntrack read inside
//! a container's own network namespace, and no unknown-address node after a
//! client container is killed.

mod app_support;

use std::time::{Duration, Instant};

use app_support::{edges, nodes, App};
use periscope_probe::collect::ebpf::EbpfMode;
use periscope_tests::docker::{docker, TestContainer, TestNetwork};
use periscope_tests::wait_until;
use serde_json::Value;

fn httpd(label: &str) -> TestContainer {
    TestContainer::run(label, &[], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap()
}

/// A client container running `command` (a shell loop) in a loop every `pause` seconds.
fn looping(label: &str, command: &str, pause: &str) -> TestContainer {
    let script = format!("while true; do {command}; sleep {pause}; done");
    TestContainer::run(label, &[], &["sh", "-c", &script]).unwrap()
}

/// The first edge of `view` from `source` to `target` (exact node IDs, or a prefix for the source).
fn find_edge(graph: &Value, source_prefix: &str, target: &str) -> Option<Value> {
    edges(graph)
        .into_iter()
        .find(|edge| edge["source"].as_str().is_some_and(|s| s.starts_with(source_prefix)) && edge["target"] == target)
        .cloned()
}

fn describe_edges(graph: &Value) -> String {
    format!("{:?}", edges(graph).iter().map(|e| (&e["id"], &e["per_minute"], &e["failing"])).collect::<Vec<_>>())
}

#[test]
fn a_wget_loop_is_one_process_edge_to_httpd_with_a_growing_count_rtt_and_bytes() {
    let app = App::standalone_with(|probe| probe.ebpf = EbpfMode::On);
    let probe = app.wait_for_probe();
    assert_eq!(probe["connections"], "ebpf", "{probe}");
    let server = httpd("ebpf-httpd");
    let ip = server.ip().unwrap();
    let client = looping("ebpf-wget", &format!("wget -q -O /dev/null http://{ip}/"), "0.2");
    let source = format!("command:{}:wget@", client.id);

    let find = || {
        let graph = app.get_json("/api/topology/processes")?;
        let httpd: Vec<String> = nodes(&graph)
            .iter()
            .filter(|node| node["metadata"]["container"] == server.name.as_str() && node["label"] == "httpd")
            .map(|node| node["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        httpd
            .iter()
            .find_map(|target| find_edge(&graph, &source, target))
            .ok_or_else(|| format!("httpd nodes {httpd:?}; edges {}", describe_edges(&graph)))
    };
    let first = wait_until("the wget → httpd process edge", Duration::from_secs(60), find).unwrap();
    assert_eq!(first["ports"], serde_json::json!([80]), "{first}");
    let total = |edge: &Value| edge["total_connections"].as_u64().unwrap_or(0);
    let grown = wait_until("the edge's count to grow", Duration::from_secs(60), || {
        let edge = find()?;
        (total(&edge) > total(&first)).then_some(edge.clone()).ok_or_else(|| format!("still {edge}"))
    })
    .unwrap();
    assert!(grown["rtt_us"].as_u64().is_some(), "{grown}");
    assert!(grown["bytes_received"].as_u64().unwrap_or(0) > 0, "the page came back: {grown}");
    assert!(grown["per_minute"]["connections"].as_u64().unwrap_or(0) > 0, "{grown}");
    assert_eq!(grown["failing"], false, "{grown}");

    // One node stands for every run: the command, labelled as short-lived.
    let graph = app.get_json("/api/topology/processes").unwrap();
    let wget_nodes: Vec<&Value> = nodes(&graph)
        .into_iter()
        .filter(|node| node["id"].as_str().is_some_and(|id| id.starts_with(&source)))
        .collect();
    assert_eq!(wget_nodes.len(), 1, "{wget_nodes:?}");
    assert_eq!(wget_nodes[0]["metadata"]["container"], client.name.as_str());

    // The server's details list the client from the server's side: it sent the pages.
    let target = grown["target"].as_str().unwrap();
    let details = app.get_json(&format!("/api/topology/processes/{target}")).unwrap();
    let inbound = details["connections"]["inbound"].as_array().unwrap();
    let row = inbound.iter().find(|row| row["node"] == grown["source"]).expect("an inbound row from wget");
    assert!(
        row["bytes_sent"].as_u64().unwrap_or(0) > row["bytes_received"].as_u64().unwrap_or(0),
        "httpd sent more than it received: {row}"
    );
}

#[test]
fn without_ebpf_the_wget_loop_is_still_a_container_edge() {
    let app = App::standalone_with(|probe| probe.ebpf = EbpfMode::Off);
    let probe = app.wait_for_probe();
    assert_eq!(probe["connections"], "sockets", "{probe}");
    assert_eq!(probe["ebpf_unavailable"], "disabled by --ebpf off", "{probe}");
    let server = httpd("noebpf-httpd");
    let ip = server.ip().unwrap();
    let client = looping("noebpf-wget", &format!("wget -q -O /dev/null http://{ip}/"), "0.2");
    let (source, target) = (format!("container:{}", client.id), format!("container:{}", server.id));
    let edge = wait_until("the wget → httpd container edge", Duration::from_secs(60), || {
        let graph = app.get_json("/api/topology/containers")?;
        find_edge(&graph, &source, &target).ok_or_else(|| describe_edges(&graph))
    })
    .unwrap();
    assert_eq!(edge["ports"], serde_json::json!([80]));
    assert!(edge["per_minute"].is_null(), "no per-minute counts without the tracer: {edge}");
}

#[test]
fn a_client_looping_against_a_closed_port_gives_a_red_edge_with_refused_counts() {
    let app = App::standalone_with(|probe| probe.ebpf = EbpfMode::On);
    app.wait_for_probe();
    let server = httpd("refused-httpd");
    let ip = server.ip().unwrap();
    let (target, server_id) = (format!("container:{}", server.id), server.id.clone());
    wait_until("the server container in the view", Duration::from_secs(30), || {
        let graph = app.get_json("/api/topology/containers?unconnected=show")?;
        nodes(&graph).iter().any(|n| n["id"] == target.as_str()).then_some(()).ok_or_else(|| server_id.clone())
    })
    .unwrap();
    let started = Instant::now();
    let client = looping("refused-wget", &format!("wget -q -O /dev/null http://{ip}:81/"), "0.2");
    let source = format!("container:{}", client.id);
    let red = |traced: bool| {
        let graph = app.get_json("/api/topology/containers")?;
        let edge = find_edge(&graph, &source, &target).ok_or_else(|| describe_edges(&graph))?;
        let refused = edge["per_minute"]["refused"].as_u64().unwrap_or(0);
        let counted = !traced || edge["total_connections"].as_u64().is_some();
        (edge["failing"] == true && refused > 0 && counted).then_some(edge.clone()).ok_or_else(|| edge.to_string())
    };
    // Conntrack may turn it red first (it drops a reset flow at once); the tracer's counts follow
    // once the short-lived `wget` runs are known not to be listed processes.
    let edge = wait_until("a red edge with refused counts", Duration::from_secs(30), || red(false)).unwrap();
    eprintln!("red edge with refused counts {:.1} s after the client started: {edge}", started.elapsed().as_secs_f64());
    let edge = wait_until("the tracer's refused counts", Duration::from_secs(30), || red(true)).unwrap();
    eprintln!("the tracer's counts {:.1} s after the client started: {edge}", started.elapsed().as_secs_f64());
    assert_eq!(edge["ports"], serde_json::json!([81]));
    assert_eq!(edge["per_minute"]["connections"], edge["per_minute"]["refused"], "none succeeded: {edge}");
}

#[test]
fn a_server_dropping_packets_gives_unanswered_counts() {
    let app = App::standalone_with(|probe| probe.ebpf = EbpfMode::On);
    app.wait_for_probe();
    let server = httpd("drop-httpd");
    let ip = server.ip().unwrap();
    let pid = server.pid().unwrap().to_string();
    // The host's iptables, run inside the server container's own network namespace (gone with it).
    let status = std::process::Command::new("nsenter")
        .args(["-t", &pid, "-n", "iptables", "-I", "INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP"])
        .status()
        .unwrap();
    assert!(status.success(), "iptables in the container's namespace: {status}");
    // Each run gives up after a second without an answer (busybox's `wget -T` crashes; `nc -w` works).
    let client = looping("drop-nc", &format!("nc -w 1 {ip} 80 </dev/null"), "0.2");
    let (source, target) = (format!("container:{}", client.id), format!("container:{}", server.id));
    let edge = wait_until("unanswered counts", Duration::from_secs(60), || {
        let graph = app.get_json("/api/topology/containers")?;
        let edge = find_edge(&graph, &source, &target).ok_or_else(|| describe_edges(&graph))?;
        let unanswered = edge["per_minute"]["unanswered"].as_u64().unwrap_or(0);
        (edge["failing"] == true && unanswered > 0).then_some(edge.clone()).ok_or_else(|| edge.to_string())
    })
    .unwrap();
    assert_eq!(edge["per_minute"]["refused"], 0, "{edge}");
}

#[test]
fn killing_a_client_container_leaves_no_unknown_address_node() {
    let app = App::standalone();
    app.wait_for_probe();
    let server = httpd("kill-httpd");
    let ip = server.ip().unwrap();
    let client = looping("kill-wget", &format!("wget -q -O /dev/null http://{ip}/"), "0.2");
    let client_ip = client.ip().unwrap();
    let (source, target) = (format!("container:{}", client.id), format!("container:{}", server.id));
    wait_until("the wget → httpd container edge", Duration::from_secs(60), || {
        let graph = app.get_json("/api/topology/containers")?;
        find_edge(&graph, &source, &target).map(drop).ok_or_else(|| describe_edges(&graph))
    })
    .unwrap();

    docker(&["kill", &client.id]).unwrap();
    let address = format!("address:{client_ip}");
    let report_seq = || -> Result<u64, String> {
        let report = app.get_json("/api/report")?;
        report
            .as_object()
            .and_then(|probes| probes.values().next())
            .and_then(|r| r["seq"].as_u64())
            .ok_or("no report".into())
    };
    let killed_at = report_seq().unwrap();
    // Watch every view the address could show in for 5 reports after the kill (the bug showed
    // its node within half a second and kept it for a minute), failing at once if it appears.
    wait_until("5 reports after the kill", Duration::from_secs(90), || {
        for view in ["containers", "containers?stopped=show", "processes", "hosts"] {
            let graph = app.get_json(&format!("/api/topology/{view}"))?;
            let unknown = nodes(&graph).into_iter().find(|node| node["id"] == address.as_str());
            assert!(unknown.is_none(), "{view} shows {address} after the kill: {unknown:?}");
        }
        let seq = report_seq()?;
        (seq >= killed_at + 5).then_some(()).ok_or_else(|| format!("seq {seq}"))
    })
    .unwrap();
}

/// A shell loop on the host itself, stopped when dropped.
struct HostLoop(std::process::Child);

impl Drop for HostLoop {
    fn drop(&mut self) {
        // Already gone is fine; the loop's current wget ends on its own within milliseconds.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_host_process_reaching_a_published_port_is_drawn_from_that_process() {
    let app = App::standalone_with(|probe| probe.ebpf = EbpfMode::On);
    app.wait_for_probe();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let publish = format!("127.0.0.1:{port}:80");
    let server =
        TestContainer::run("pub-httpd", &["-p", &publish], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap();
    let script = format!("while true; do busybox wget -q -O /dev/null http://127.0.0.1:{port}/; sleep 0.2; done");
    let _client = HostLoop(std::process::Command::new("sh").args(["-c", &script]).spawn().unwrap());
    let edge = wait_until("the host wget → httpd process edge", Duration::from_secs(60), || {
        let graph = app.get_json("/api/topology/processes")?;
        let httpd: Vec<&Value> = nodes(&graph)
            .into_iter()
            .filter(|node| node["metadata"]["container"] == server.name.as_str() && node["label"] == "httpd")
            .collect();
        edges(&graph)
            .into_iter()
            .find(|edge| {
                // Short-lived host processes fold into one node outside any container: `command:-:{name}@{host}`.
                edge["source"].as_str().is_some_and(|s| s.starts_with("command:-:busybox@"))
                    && httpd.iter().any(|node| node["id"] == edge["target"])
            })
            .cloned()
            .ok_or_else(|| describe_edges(&graph))
    })
    .unwrap();
    assert_eq!(edge["ports"], serde_json::json!([port]), "{edge}");
}

#[test]
fn without_ebpf_refused_connects_still_turn_the_edge_red_from_conntrack() {
    let app = App::standalone_with(|probe| probe.ebpf = EbpfMode::Off);
    app.wait_for_probe();
    let server = httpd("ct-refused-httpd");
    let ip = server.ip().unwrap();
    let client = looping("ct-refused-wget", &format!("wget -q -O /dev/null http://{ip}:81/"), "0.5");
    let (source, target) = (format!("container:{}", client.id), format!("container:{}", server.id));
    // Conntrack reports a flow refused by a reset when it destroys it, about 10 s later.
    let edge = wait_until("a red edge with refused counts from conntrack", Duration::from_secs(60), || {
        let graph = app.get_json("/api/topology/containers")?;
        let edge = find_edge(&graph, &source, &target).ok_or_else(|| describe_edges(&graph))?;
        let refused = edge["per_minute"]["refused"].as_u64().unwrap_or(0);
        (edge["failing"] == true && refused > 0).then_some(edge.clone()).ok_or_else(|| edge.to_string())
    })
    .unwrap();
    assert!(edge["total_connections"].is_null(), "conntrack counts failures, not connections: {edge}");
}

#[test]
fn conntrack_in_a_containers_own_namespace_shows_flows_the_host_never_sees() {
    let app = App::standalone_with(|probe| probe.ebpf = EbpfMode::Off);
    app.wait_for_probe();
    // Over macvlan, client and server talk through the driver: the host's netfilter (and
    // so its conntrack table) never sees the flow. Only the client's namespace tracks it,
    // since a rule of its own asks for conntrack there.
    let network = TestNetwork::macvlan("ct-netns", &TestNetwork::subnet(231)).unwrap();
    let on = format!("--network={}", network.name);
    let server = TestContainer::run("ct-netns-httpd", &[&on], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap();
    let ip = server.ip_on(&network).unwrap();
    let script = format!("while true; do wget -q -O /dev/null http://{ip}:81/; sleep 0.5; done");
    let client = TestContainer::run("ct-netns-wget", &[&on], &["sh", "-c", &script]).unwrap();
    client.in_netns(&["iptables", "-I", "OUTPUT", "-m", "conntrack", "--ctstate", "NEW", "-j", "ACCEPT"]).unwrap();
    let namespaces = [client.netns().unwrap(), server.netns().unwrap()];
    let destination = format!("{ip}:81");

    // The probe's report: refused flows, from the client's or the server's namespace (any
    // container on a user-defined network tracks: Docker's DNS rules turn conntrack on), once.
    let flows = wait_until("refused flows from a container's namespace", Duration::from_secs(60), || {
        let report = app.get_json("/api/report")?;
        let probe = report.as_object().and_then(|probes| probes.values().next()).ok_or("no report")?;
        let flows: Vec<Value> = probe["connections"]
            .as_array()
            .ok_or("no connections")?
            .iter()
            .filter(|flow| flow["id"]["destination"] == destination.as_str())
            .cloned()
            .collect();
        flows
            .iter()
            .any(|flow| flow["refused"].as_u64().unwrap_or(0) > 0)
            .then(|| flows.clone())
            .ok_or_else(|| format!("{flows:?}"))
    })
    .unwrap();
    assert_eq!(flows.len(), 1, "one record, not one per namespace: {flows:?}");
    let netns = flows[0]["id"]["netns"].as_u64();
    assert!(netns.is_some_and(|netns| namespaces.contains(&netns)), "not the host's: {flows:?} {namespaces:?}");

    // The view: the client's container → the server's, red, with refused counts.
    let (source, target) = (format!("container:{}", client.id), format!("container:{}", server.id));
    let edge = wait_until("a red edge with refused counts", Duration::from_secs(30), || {
        let graph = app.get_json("/api/topology/containers")?;
        let edge = find_edge(&graph, &source, &target).ok_or_else(|| describe_edges(&graph))?;
        let refused = edge["per_minute"]["refused"].as_u64().unwrap_or(0);
        (edge["failing"] == true && refused > 0).then_some(edge.clone()).ok_or_else(|| edge.to_string())
    })
    .unwrap();
    assert_eq!(edge["ports"], serde_json::json!([81]), "{edge}");
    drop((client, server));
}
