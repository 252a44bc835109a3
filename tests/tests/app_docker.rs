//! The app with its built-in probe against the real Docker engine: container
//! and process edges from real traffic, and live diffs on a view WebSocket.

mod app_support;

use std::time::{Duration, Instant};

use app_support::{edges, nodes, App};
use periscope_tests::docker::TestContainer;
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
    wait_until("the probe to register", Duration::from_secs(30), || {
        let probes = app.get_json("/api/probes")?;
        (!probes.as_array().unwrap().is_empty()).then_some(()).ok_or_else(|| "no probe yet".to_owned())
    })
    .unwrap();
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
