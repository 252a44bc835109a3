//! The app with its built-in probe against the real Docker engine: container
//! and process edges from real traffic (on the default bridge and on
//! user-defined networks), and live diffs on a view WebSocket.

mod app_support;

use std::time::{Duration, Instant};

use app_support::{edges, nodes, App};
use periscope_tests::docker::{TestContainer, TestNetwork};
use periscope_tests::wait_until;

#[test]
fn http_client_container_to_server_container_is_an_edge_in_the_containers_view() {
    let app = App::standalone();
    let server = TestContainer::run("app-httpd", &[], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap();
    let ip = server.ip().unwrap();
    let script = format!("while true; do wget -q -O /dev/null http://{ip}/; sleep 0.5; done");
    let client = TestContainer::run("app-wget", &[], &["sh", "-c", &script]).unwrap();
    let (source, target) = (format!("container:{}", client.id), format!("container:{}", server.id));

    let edge = wait_until("the wget → httpd edge", Duration::from_secs(60), || {
        let graph = app.get_json("/api/topology/containers")?;
        edges(&graph)
            .into_iter()
            .find(|edge| edge["source"] == source.as_str() && edge["target"] == target.as_str())
            .cloned()
            .ok_or_else(|| format!("edges: {:?}", edges(&graph).iter().map(|e| &e["id"]).collect::<Vec<_>>()))
    })
    .unwrap();
    assert_eq!(edge["ports"], serde_json::json!([80]));

    // The server's details list the client as inbound.
    let details = app.get_json(&format!("/api/topology/containers/{target}")).unwrap();
    assert!(
        details["connections"]["inbound"].as_array().unwrap().iter().any(|c| c["node"] == source.as_str()),
        "{details}"
    );
    assert_eq!(details["node"]["metadata"]["ip"], ip.as_str());
}

#[test]
fn a_long_lived_nc_connection_is_a_process_edge() {
    let app = App::standalone();
    // nc quits when its stdin ends, so both ends read from a sleeping pipe.
    let server =
        TestContainer::run("app-nc-server", &[], &["sh", "-c", "while true; do sleep 3600 | nc -l -p 9000; done"])
            .unwrap();
    let ip = server.ip().unwrap();
    let script = format!("while true; do sleep 3600 | nc {ip} 9000; sleep 1; done");
    let client = TestContainer::run("app-nc-client", &[], &["sh", "-c", &script]).unwrap();

    let edge = wait_until("the nc → nc process edge", Duration::from_secs(60), || {
        let graph = app.get_json("/api/topology/processes")?;
        let in_container = |id: &serde_json::Value, name: &str| {
            nodes(&graph).iter().any(|node| node["id"] == *id && node["metadata"]["container"] == name)
        };
        edges(&graph)
            .into_iter()
            .find(|edge| in_container(&edge["source"], &client.name) && in_container(&edge["target"], &server.name))
            .cloned()
            .ok_or_else(|| format!("{} edges, none client → server", edges(&graph).len()))
    })
    .unwrap();
    assert_eq!(edge["ports"], serde_json::json!([9000]));
    assert!(edge["source"].as_str().unwrap().starts_with("process:"));
}

#[test]
fn a_view_websocket_gets_an_add_for_a_new_container_and_a_remove_when_it_stops() {
    let app = App::standalone();
    // The probe's first snapshot arrives before we subscribe, so the new container is a true change.
    app.wait_for_probe();
    let mut view = app.watch("containers");
    let full = view.next(&app.runtime, Duration::from_secs(10)).expect("the full view");
    assert_eq!(full["type"], "full");

    let container = TestContainer::run("app-ws", &[], &["sleep", "300"]).unwrap();
    let id = format!("container:{}", container.id);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut added = false;
    while !added && Instant::now() < deadline {
        let Some(message) = view.next(&app.runtime, Duration::from_secs(5)) else { continue };
        added = message["nodes"]["add"].as_array().is_some_and(|add| add.iter().any(|n| n["id"] == id.as_str()));
    }
    assert!(added, "no add for {id}");

    container.stop().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut gone = false;
    while !gone && Instant::now() < deadline {
        let Some(message) = view.next(&app.runtime, Duration::from_secs(5)) else { continue };
        let removed = message["nodes"]["remove"].as_array().is_some_and(|r| r.iter().any(|n| n == id.as_str()));
        let stopped = message["nodes"]["update"]
            .as_array()
            .is_some_and(|u| u.iter().any(|n| n["id"] == id.as_str() && n["metadata"]["state"] != "running"));
        gone = removed || stopped;
    }
    assert!(gone, "no remove or stopped update for {id}");
}

#[test]
fn each_user_defined_network_resolves_its_edges_to_its_own_containers() {
    // Without the tracer, edges come from sockets and conntrack, which on a user-defined
    // network holds each flow three times: the host's table (the bridge) and both
    // containers' own (Docker's DNS rules turn conntrack on in them).
    let app = App::standalone_with(|probe| probe.ebpf = periscope_probe::collect::ebpf::EbpfMode::Off);
    // Docker refuses two networks with overlapping subnets on one host, so the same address
    // cannot be on two of them here; two networks side by side must still not mix.
    let networks = [
        TestNetwork::bridge("net-a", &TestNetwork::subnet(232)).unwrap(),
        TestNetwork::bridge("net-b", &TestNetwork::subnet(233)).unwrap(),
    ];
    let mut pairs = Vec::new();
    for network in &networks {
        let on = format!("--network={}", network.name);
        let server = TestContainer::run("net-httpd", &[&on], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap();
        let ip = server.ip_on(network).unwrap();
        let script = format!("while true; do wget -q -O /dev/null http://{ip}/; sleep 0.5; done");
        let client = TestContainer::run("net-wget", &[&on], &["sh", "-c", &script]).unwrap();
        let client_ip = client.ip_on(network).unwrap();
        pairs.push((client, client_ip, server, ip));
    }
    let id = |container: &TestContainer| format!("container:{}", container.id);
    let graph = wait_until("an edge per network", Duration::from_secs(60), || {
        let graph = app.get_json("/api/topology/containers")?;
        let joined = |client: &TestContainer, server: &TestContainer| {
            edges(&graph)
                .iter()
                .any(|edge| edge["source"] == id(client).as_str() && edge["target"] == id(server).as_str())
        };
        pairs
            .iter()
            .all(|(client, _, server, _)| joined(client, server))
            .then(|| graph.clone())
            .ok_or_else(|| format!("edges: {:?}", edges(&graph).iter().map(|e| &e["id"]).collect::<Vec<_>>()))
    })
    .unwrap();
    // Nothing joins a client to the other network's server, or to an address node.
    for (client, _, server, _) in &pairs {
        let from: Vec<&str> = edges(&graph)
            .into_iter()
            .filter(|edge| edge["source"] == id(client).as_str())
            .filter_map(|edge| edge["target"].as_str())
            .collect();
        assert_eq!(from, [id(server).as_str()], "{} reaches only its own server", client.name);
    }
    // Each flow is reported once, whichever tables hold it: watched for 5 reports, time for
    // the containers' tables to be opened and dumped.
    let report = || -> Result<(u64, serde_json::Value), String> {
        let report = app.get_json("/api/report")?;
        let probe = report.as_object().and_then(|probes| probes.values().next()).ok_or("no report")?;
        Ok((probe["seq"].as_u64().unwrap_or(0), probe["connections"].clone()))
    };
    let records = |connections: &serde_json::Value, client_ip: &str, server_ip: &str| -> Vec<serde_json::Value> {
        let (source, destination) = (format!("{client_ip}:0"), format!("{server_ip}:80"));
        let all = connections.as_array().map(Vec::as_slice).unwrap_or_default();
        all.iter()
            .filter(|flow| flow["id"]["source"] == source.as_str() && flow["id"]["destination"] == destination.as_str())
            .cloned()
            .collect()
    };
    let first = report().unwrap().0;
    wait_until("5 reports", Duration::from_secs(30), || {
        let (seq, connections) = report()?;
        for (_, client_ip, _, server_ip) in &pairs {
            let found = records(&connections, client_ip, server_ip);
            assert!(found.len() <= 1, "one record per flow, not one per table: {found:?}");
        }
        (seq >= first + 5).then_some(()).ok_or_else(|| format!("seq {seq}"))
    })
    .unwrap();
    let (_, connections) = report().unwrap();
    for (_, client_ip, _, server_ip) in &pairs {
        assert_eq!(records(&connections, client_ip, server_ip).len(), 1, "{client_ip} → {server_ip}: {connections}");
    }
}
