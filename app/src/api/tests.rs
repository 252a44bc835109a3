//! The API through `router(state).oneshot(..)`, the WebSocket loops over
//! channels, and the upgrades over a real loopback socket.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use periscope_report::fixtures::{ReportBuilder, HOST_NETNS};
use periscope_report::{
    diff, AppMessage, Codec, ContainerStats, ProbeMessage, Report, SnapshotReason, Source, SourceState,
};
use serde_json::Value;
use tower::ServiceExt;

use crate::api::probe_ws::{serve_probe, Incoming, Outbound};
use crate::api::topology_ws::{stream_view, ClientEvent, ClientFrame};
use crate::api::{meta::OPENAPI, router, ROUTES};
use crate::clock::now;
use crate::config::AppConfig;
use crate::state::AppState;
use crate::view::{ViewId, ViewOptions};

fn web_host(seq: u64) -> Report {
    ReportBuilder::new("a")
        .seq(seq)
        .interface("eth0", "10.0.0.1/24")
        .interface("docker0", "172.17.0.1/16")
        .container("web", "web", "nginx:1.25", "172.17.0.2")
        .process(100, "nginx", Some("web"))
        .process(10, "curl", None)
        .tcp(1001, Some(100), "0.0.0.0:80", None)
        .tcp(HOST_NETNS, Some(10), "172.17.0.1:40000", Some("172.17.0.2:80"))
        .build()
}

async fn state_with(reports: &[Report]) -> AppState {
    state_with_config(reports, AppConfig::default()).await
}

async fn state_with_config(reports: &[Report], config: AppConfig) -> AppState {
    let state = AppState::new(config);
    let reports = reports.to_vec();
    state
        .with_store(move |store| {
            for report in reports {
                store.insert_snapshot(report, now());
            }
        })
        .await
        .unwrap();
    state
}

/// Applies a delta on the store thread, as a probe's frame would.
async fn apply(state: &AppState, delta: periscope_report::Delta) {
    state.with_store(move |store| store.apply_delta(delta, now())).await.unwrap();
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, String) {
    let response = router(state.clone())
        .oneshot(Request::builder().uri(uri).header("host", "localhost:4040").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn get_json(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let (status, body) = get(state, uri).await;
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: {e}: {body}")))
}

#[tokio::test]
async fn info_and_health() {
    let state = state_with(&[]).await;
    let (status, info) = get_json(&state, "/api").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["read_only"], false);
    assert!(info["capabilities"].as_array().unwrap().iter().any(|c| c == "ws-diffs"));
    assert_eq!(get(&state, "/healthz").await, (StatusCode::OK, "ok".into()));
}

#[tokio::test]
async fn topology_lists_every_view_with_counts_and_options() {
    let state = state_with(&[web_host(1)]).await;
    let (status, list) = get_json(&state, "/api/topology").await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().unwrap();
    let ids: Vec<&str> = list.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ViewId::ALL.map(ViewId::as_str));
    let containers = &list[2];
    assert_eq!((containers["nodes"].as_u64(), containers["edges"].as_u64()), (Some(2), Some(1)));
    assert_eq!(containers["options"][0]["id"], "stopped");
    assert_eq!(containers["options"][0]["default"], "hide");
    // Counts honour the options asked for: with stopped containers shown, the same here.
    let (_, with_options) = get_json(&state, "/api/topology?stopped=show&unconnected=hide").await;
    assert_eq!(with_options[2]["nodes"], 2);
    let (status, _) = get_json(&state, "/api/topology?stopped=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn view_counts_follow_the_options_and_each_views_defaults() {
    let host = ReportBuilder::new("a")
        .interface("eth0", "10.0.0.1/24")
        .interface("docker0", "172.17.0.1/16")
        .container("web", "web", "nginx:1.25", "172.17.0.2")
        .container("old", "old", "busybox", "172.17.0.3")
        .edit_container("old", |c| c.state = periscope_report::ContainerState::Exited)
        .process(100, "nginx", Some("web"))
        .process(10, "curl", None)
        .process(20, "sleep", None)
        .tcp(1001, Some(100), "0.0.0.0:80", None)
        .tcp(HOST_NETNS, Some(10), "172.17.0.1:40000", Some("172.17.0.2:80"))
        .build();
    let state = state_with(&[host]).await;
    let nodes = |list: &Value, view: &str| {
        list.as_array().unwrap().iter().find(|v| v["id"] == view).map(|v| v["nodes"].as_u64().unwrap())
    };
    let (_, default) = get_json(&state, "/api/topology").await;
    // Processes views hide idle processes unless asked; container views show unconnected containers.
    assert_eq!(nodes(&default, "processes"), Some(2));
    assert_eq!(default[0]["options"][2]["default"], "hide");
    assert_eq!(nodes(&default, "containers"), Some(2));
    let (_, shown) = get_json(&state, "/api/topology?stopped=show&unconnected=show").await;
    assert_eq!(nodes(&shown, "processes"), Some(3));
    assert_eq!(nodes(&shown, "containers"), Some(3));
    let (status, _) = get(&state, "/api/topology?stopped=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_view_has_the_documented_node_and_edge_fields() {
    let state = state_with(&[web_host(1)]).await;
    let (status, graph) = get_json(&state, "/api/topology/containers?stopped=show").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(graph["view"], "containers");
    let web = graph["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "container:web").unwrap();
    for field in [
        "id",
        "label",
        "minor_label",
        "kind",
        "shape",
        "stack",
        "rank",
        "pseudo",
        "metrics",
        "connections",
        "parents",
        "metadata",
    ] {
        assert!(web.get(field).is_some(), "node lacks {field}: {web}");
    }
    assert_eq!(web["kind"], "container");
    assert_eq!(web["shape"], "hexagon");
    assert_eq!(web["connections"], 1);
    assert_eq!(web["metadata"]["ip"], "172.17.0.2");
    assert_eq!(web["parents"][0]["view"], "hosts");
    let edge = &graph["edges"][0];
    assert_eq!(edge["id"], "uncontained:a>container:web");
    assert_eq!(edge["source"], "uncontained:a");
    assert_eq!(edge["ports"], serde_json::json!([80]));
    assert_eq!(edge["connections"], 1);
    assert!(edge.get("rtt_us").is_some());
}

#[tokio::test]
async fn errors_are_json_with_the_right_status() {
    let state = state_with(&[web_host(1)]).await;
    for (uri, status) in [
        ("/api/topology/pods", StatusCode::NOT_FOUND),
        ("/api/topology/containers/container:nope", StatusCode::NOT_FOUND),
        ("/api/topology/containers/not-an-id", StatusCode::NOT_FOUND),
        ("/api/topology/containers?stopped=maybe", StatusCode::BAD_REQUEST),
        ("/api/nothing-here", StatusCode::NOT_FOUND),
    ] {
        let (actual, body) = get_json(&state, uri).await;
        assert_eq!(actual, status, "{uri}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{uri}: {body}");
    }
}

#[tokio::test]
async fn node_details_have_metrics_connections_children_and_parents() {
    let state = state_with(&[web_host(1)]).await;
    let (status, details) = get_json(&state, "/api/topology/containers/container:web").await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert_eq!(details["node"]["id"], "container:web");
    assert!(details["metadata"].as_array().unwrap().iter().any(|row| row["key"] == "image" && row["label"] == "Image"));
    let inbound = &details["connections"]["inbound"][0];
    assert_eq!(inbound["node"], "uncontained:a");
    assert_eq!(inbound["address"], "172.17.0.1");
    assert_eq!(inbound["port"], 80);
    assert_eq!(inbound["count"], 1);
    assert_eq!(details["children"][0]["view"], "processes");
    assert_eq!(details["children"][0]["nodes"][0]["label"], "nginx");
    assert_eq!(details["parents"][0]["id"], "host:a");
    let metrics = details["metrics"].as_array().unwrap();
    assert_eq!(metrics[0]["id"], "cpu");
    assert_eq!(metrics[1]["id"], "memory");

    let (status, process) = get_json(&state, "/api/topology/processes/process:100.10000@a").await;
    assert_eq!(status, StatusCode::OK, "{process}");
    assert_eq!(process["metrics"][0]["samples"].as_array().unwrap().len(), 1);
    assert_eq!(process["metrics"][1]["samples"][0]["v"], 1048576.0);
    let (status, _) = get_json(&state, "/api/topology/processes/process%3A100.10000%40a").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn report_probes_and_metrics() {
    let state = state_with(&[web_host(1)]).await;
    let (status, report) = get_json(&state, "/api/report").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["probe-a"]["host"]["hostname"], "a");
    let (_, probes) = get_json(&state, "/api/probes").await;
    assert_eq!(probes[0]["id"], "probe-a");
    assert_eq!(probes[0]["hostname"], "a");
    assert_eq!(probes[0]["docker"], "unavailable");
    get_json(&state, "/api/topology").await;
    let (status, metrics) = get(&state, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.contains("periscope_probe_frames_total 0"), "{metrics}");
    assert!(metrics.contains("periscope_view_nodes{view=\"containers\"} 2"), "{metrics}");
}

#[tokio::test]
async fn probes_name_each_degraded_or_denied_source_with_its_reason() {
    let report = ReportBuilder::new("a")
        .source(Source::Proc, SourceState::Active)
        .source(Source::SocketOwners, SourceState::Degraded { reason: "lacks CAP_SYS_PTRACE".into() })
        .source(Source::Docker, SourceState::Denied { reason: "permission denied on /var/run/docker.sock".into() })
        .build();
    let state = state_with(&[report]).await;
    let (_, probes) = get_json(&state, "/api/probes").await;
    assert_eq!(probes[0]["sources"], serde_json::json!(["proc"]));
    assert_eq!(
        probes[0]["source_states"],
        serde_json::json!([
            { "source": "proc", "state": "active" },
            { "source": "socket_owners", "state": "degraded", "reason": "lacks CAP_SYS_PTRACE" },
            { "source": "docker", "state": "denied", "reason": "permission denied on /var/run/docker.sock" },
        ])
    );
    assert_eq!(probes[0]["docker"], "unavailable", "denied is not connected");
}

#[tokio::test]
async fn every_route_is_described_in_openapi_and_served() {
    let spec: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in ROUTES {
        assert!(spec["paths"][path][method].is_object(), "{method} {path} missing from openapi.json");
    }
    let documented = spec["paths"].as_object().unwrap().len();
    assert_eq!(documented, ROUTES.iter().map(|(_, p)| p).collect::<std::collections::BTreeSet<_>>().len());
    let state = state_with(&[web_host(1)]).await;
    for (_, path) in ROUTES {
        let uri = path.replace("{view}", "containers").replace("{node}", "container:web");
        let (status, _) = get(&state, &uri).await;
        assert_ne!(status, StatusCode::NOT_FOUND, "{uri} is not routed");
    }
}

#[tokio::test]
async fn the_ui_is_served_at_the_root() {
    let state = state_with(&[]).await;
    let response = router(state)
        .oneshot(Request::builder().uri("/").header("host", "localhost:4040").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
}

/// Collects the next message of a view stream as JSON (skipping pings and heartbeats), with a deadline.
async fn next_json(rx: &mut mpsc::Receiver<ClientFrame>) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), rx.next()).await.expect("a message in time").unwrap();
        let ClientFrame::Text(text) = frame else { continue };
        let value: Value = serde_json::from_str(&text).unwrap();
        if value["type"] != "heartbeat" {
            return value;
        }
    }
}

#[tokio::test]
async fn a_view_stream_sends_the_view_then_only_what_changed() {
    let first = web_host(1);
    let state = state_with(std::slice::from_ref(&first)).await;
    let (sink, mut sent) = mpsc::channel::<ClientFrame>(16);
    let (mut client, incoming) = mpsc::channel::<ClientEvent>(1);
    let task = tokio::spawn(stream_view(state.clone(), ViewId::Containers, ViewOptions::default(), sink, incoming));

    let full = next_json(&mut sent).await;
    assert_eq!(full["type"], "full");
    assert_eq!(full["nodes"].as_array().unwrap().len(), 2);

    // One container's CPU moves: one node update, nothing else.
    let mut second = first.clone();
    second.seq = 2;
    second.containers.get_mut(&periscope_report::ContainerId::new("web")).unwrap().stats = Some(ContainerStats {
        cpu_percent: 42.0,
        memory_bytes: 1 << 20,
        memory_limit_bytes: None,
        network_rx_bytes: 0,
        network_tx_bytes: 0,
    });
    apply(&state, diff(&first, &second)).await;
    let message = next_json(&mut sent).await;
    assert_eq!(message["type"], "diff");
    assert_eq!(message["nodes"]["update"].as_array().unwrap().len(), 1);
    assert_eq!(message["nodes"]["update"][0]["metrics"]["cpu"], 42.0);
    assert!(message["nodes"]["add"].as_array().unwrap().is_empty());
    assert!(message["edges"]["update"].as_array().unwrap().is_empty());

    // A new container: an add; then it stops: a remove (stopped containers are hidden by default).
    let third = ReportBuilder::new("a").seq(3).container("new", "new", "busybox", "172.17.0.5").build();
    let mut third_full = second.clone();
    third_full.seq = 3;
    third_full.containers.insert(third.containers.iter().next().unwrap().clone());
    apply(&state, diff(&second, &third_full)).await;
    let message = next_json(&mut sent).await;
    assert_eq!(message["nodes"]["add"][0]["id"], "container:new");
    let mut fourth = third_full.clone();
    fourth.seq = 4;
    fourth.containers.get_mut(&periscope_report::ContainerId::new("new")).unwrap().state =
        periscope_report::ContainerState::Exited;
    apply(&state, diff(&third_full, &fourth)).await;
    let message = next_json(&mut sent).await;
    assert_eq!(message["nodes"]["remove"], serde_json::json!(["container:new"]));

    // The client goes away: the loop ends and its subscription goes.
    client.close_channel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while state.with_store(|store| store.subscriptions.len()).await.unwrap() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the subscription outlived its client");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn frame(message: &ProbeMessage) -> Incoming {
    Incoming::Frame(Codec::default().encode(message).unwrap())
}

/// The next message the app sends a probe, skipping pings.
async fn next_app_message(rx: &mut mpsc::Receiver<Outbound>) -> Option<AppMessage> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.next()).await.expect("an answer in time")? {
            Outbound::Frame(bytes) => return Some(Codec::default().decode(&bytes).unwrap()),
            Outbound::Ping => continue,
        }
    }
}

async fn model_len(state: &AppState) -> usize {
    state.with_store(|store| store.model.len()).await.unwrap()
}

#[tokio::test]
async fn the_probe_channel_applies_reports_asks_on_gaps_survives_bad_frames_and_binds_ids() {
    let state = state_with(&[]).await;
    let (to_probe, mut from_app) = mpsc::channel::<Outbound>(8);
    let (mut probe, incoming) = mpsc::channel::<Incoming>(8);
    let task = tokio::spawn(serve_probe(state.clone(), to_probe, incoming));

    let first = web_host(1);
    probe.send(frame(&ProbeMessage::Snapshot(first.clone()))).await.unwrap();
    let second = web_host(2);
    probe.send(frame(&ProbeMessage::Delta(diff(&first, &second)))).await.unwrap();
    // Garbage is counted and ignored.
    probe.send(Incoming::Frame(b"PSCP\x01\x00garbage".to_vec())).await.unwrap();
    // A delta that skips seq 3.
    let fourth = web_host(4);
    let third = web_host(3);
    probe.send(frame(&ProbeMessage::Delta(diff(&third, &fourth)))).await.unwrap();
    assert_eq!(
        next_app_message(&mut from_app).await,
        Some(AppMessage::RequestSnapshot { reason: SnapshotReason::SequenceGap { expected: 2, got: 3 } })
    );
    assert_eq!(state.metrics.bad_frames.load(std::sync::atomic::Ordering::Relaxed), 1);
    let probe_id = first.probe.clone();
    let seq = state.with_store(move |store| store.model.report(&probe_id).map(|r| r.seq)).await.unwrap();
    assert_eq!(seq, Some(2));

    // A second connection claiming the same probe ID is refused and closed.
    let (to_other, mut from_app_other) = mpsc::channel::<Outbound>(8);
    let (mut other, other_incoming) = mpsc::channel::<Incoming>(8);
    let other_task = tokio::spawn(serve_probe(state.clone(), to_other, other_incoming));
    other.send(frame(&ProbeMessage::Snapshot(first.clone()))).await.unwrap();
    assert!(matches!(next_app_message(&mut from_app_other).await, Some(AppMessage::Rejected { .. })));
    tokio::time::timeout(Duration::from_secs(5), other_task).await.unwrap().unwrap();
    assert_eq!(model_len(&state).await, 1, "the first connection keeps its probe");

    // The channel closes: the probe's nodes go at once.
    probe.close_channel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
    assert_eq!(model_len(&state).await, 0);
}

/// A probe that stops answering (SIGSTOP, a half-open connection) is
/// dropped after the timeout, counted, and its nodes removed.
#[tokio::test]
async fn a_silent_probe_is_removed_after_the_timeout_and_counted() {
    let config = AppConfig {
        probe_timeout: Duration::from_millis(400),
        ping_interval: Duration::from_millis(100),
        ..AppConfig::default()
    };
    let state = state_with_config(&[], config).await;
    let (to_probe, mut from_app) = mpsc::channel::<Outbound>(64);
    let (mut probe, incoming) = mpsc::channel::<Incoming>(8);
    let task = tokio::spawn(serve_probe(state.clone(), to_probe, incoming));
    probe.send(frame(&ProbeMessage::Snapshot(web_host(1)))).await.unwrap();
    // Pings come while the probe says nothing; it never answers, and keeps its channel open.
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), from_app.next()).await.unwrap(), Some(Outbound::Ping));
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("closed for silence").unwrap();
    assert_eq!(model_len(&state).await, 0);
    assert_eq!(state.metrics.probes_timed_out.load(std::sync::atomic::Ordering::Relaxed), 1);
    drop(probe);
}

/// Answering pings (as a live probe's WebSocket does by itself) keeps a quiet probe connected.
#[tokio::test]
async fn a_quiet_probe_that_answers_pings_stays() {
    let config = AppConfig {
        probe_timeout: Duration::from_millis(400),
        ping_interval: Duration::from_millis(100),
        ..AppConfig::default()
    };
    let state = state_with_config(&[], config).await;
    let (to_probe, mut from_app) = mpsc::channel::<Outbound>(64);
    let (mut probe, incoming) = mpsc::channel::<Incoming>(64);
    let task = tokio::spawn(serve_probe(state.clone(), to_probe, incoming));
    probe.send(frame(&ProbeMessage::Snapshot(web_host(1)))).await.unwrap();
    for _ in 0..12 {
        let ping = tokio::time::timeout(Duration::from_secs(5), from_app.next()).await.unwrap();
        assert_eq!(ping, Some(Outbound::Ping));
        probe.send(Incoming::Other).await.unwrap();
    }
    assert_eq!(model_len(&state).await, 1, "a probe answering pings for 1.2 s outlives a 0.4 s timeout");
    assert_eq!(state.metrics.probes_timed_out.load(std::sync::atomic::Ordering::Relaxed), 0);
    probe.close_channel();
    tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
}

/// The upgrades over a real loopback socket: token and Origin checks, then a live view.
#[tokio::test]
async fn websocket_upgrades_check_token_and_origin() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let state = AppState::new(AppConfig { token: Some("t0ken".into()), ..AppConfig::default() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(crate::serve(listener, state.clone()));

    let probe_url = format!("ws://{address}/api/probe/ws");
    let refused = tokio_tungstenite::connect_async(probe_url.as_str()).await;
    assert!(refused.is_err(), "a probe without the token is refused");
    let mut request = probe_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("authorization", "Bearer t0ken".parse().unwrap());
    let (mut probe, _) = tokio_tungstenite::connect_async(request).await.expect("token accepted");
    let codec = Codec::default();
    probe
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            codec.encode(&ProbeMessage::Snapshot(web_host(1))).unwrap().into(),
        ))
        .await
        .unwrap();

    let view_url = format!("ws://{address}/api/topology/containers/ws");
    let mut request = view_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err(), "a foreign origin is refused");
    let mut request = view_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("origin", format!("http://{address}").parse().unwrap());
    let (mut view, _) = tokio_tungstenite::connect_async(request).await.expect("same origin accepted");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut nodes = 0;
    while nodes == 0 && tokio::time::Instant::now() < deadline {
        let message = tokio::time::timeout(Duration::from_secs(5), view.next()).await.unwrap().unwrap().unwrap();
        let tokio_tungstenite::tungstenite::Message::Text(text) = message else { continue };
        let value: Value = serde_json::from_str(&text).unwrap();
        nodes = match value["type"].as_str() {
            Some("full") => value["nodes"].as_array().unwrap().len(),
            Some("diff") => value["nodes"]["add"].as_array().unwrap().len(),
            _ => 0,
        };
    }
    assert!(nodes > 0, "the view shows the probe's containers");
    server.abort();
}

/// A full view bigger than a frame reaches a real client as one message in
/// fragments: the client refuses frames over [`FRAGMENT`], so a view sent
/// whole (and a server write buffer kept at its size) fails here.
#[tokio::test]
async fn a_big_full_view_arrives_whole_in_fragments() {
    use crate::api::view_socket::FRAGMENT;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

    let mut builder = ReportBuilder::new("a").seq(1).interface("docker0", "172.17.0.1/16");
    for index in 0..1_500u32 {
        let name = format!("service-with-a-long-name-{index:04}");
        let address = format!("172.17.{}.{}", 1 + index / 250, 2 + index % 250);
        builder = builder.container(&name, &name, "registry.example/team/image:1.0", &address);
    }
    let state = state_with(&[builder.build()]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(crate::serve(listener, state.clone()));

    let config = WebSocketConfig::default().max_frame_size(Some(FRAGMENT)).max_message_size(Some(64 << 20));
    let url = format!("ws://{address}/api/topology/containers/ws");
    let (mut view, _) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), false).await.expect("upgraded");
    let text = loop {
        let message = tokio::time::timeout(Duration::from_secs(10), view.next()).await.unwrap().unwrap();
        match message.expect("frames within the client's limit") {
            tokio_tungstenite::tungstenite::Message::Text(text) => break text,
            // The app's first ping may come before the view.
            tokio_tungstenite::tungstenite::Message::Ping(_) => continue,
            other => panic!("a text message first, not {other:?}"),
        }
    };
    assert!(text.len() > 2 * FRAGMENT, "the view spans several fragments: {} bytes", text.len());
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["type"], "full");
    let (_, rest) = get_json(&state, "/api/topology/containers").await;
    assert_eq!(value["nodes"], rest["nodes"], "the message is the whole view");
    server.abort();
}

/// Cloned machines share /etc/machine-id: two probes reporting one host ID
/// both stay visible, the second keyed apart and flagged, until the first leaves.
#[tokio::test]
async fn two_probes_with_one_host_id_are_kept_apart() {
    let state = state_with(&[]).await;
    let original = web_host(1);
    let mut clone = web_host(1);
    clone.probe = periscope_report::ProbeId::new("probe-clone");
    let (to_first, _from_first) = mpsc::channel::<Outbound>(64);
    let (mut first, first_incoming) = mpsc::channel::<Incoming>(8);
    let first_task = tokio::spawn(serve_probe(state.clone(), to_first, first_incoming));
    first.send(frame(&ProbeMessage::Snapshot(original))).await.unwrap();
    // The clone must come second: wait until the first holds the host ID.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, probes) = get_json(&state, "/api/probes").await;
        if probes.as_array().unwrap().len() == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the first probe registered: {probes}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (to_second, _from_second) = mpsc::channel::<Outbound>(64);
    let (mut second, second_incoming) = mpsc::channel::<Incoming>(8);
    let _second_task = tokio::spawn(serve_probe(state.clone(), to_second, second_incoming));
    second.send(frame(&ProbeMessage::Snapshot(clone))).await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let probes = loop {
        let (_, probes) = get_json(&state, "/api/probes").await;
        if probes.as_array().unwrap().len() == 2 {
            break probes;
        }
        assert!(tokio::time::Instant::now() < deadline, "both probes registered: {probes}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let by_id = |id: &str| probes.as_array().unwrap().iter().find(|p| p["id"] == id).unwrap().clone();
    assert_eq!(by_id("probe-a")["host"], "a");
    assert!(by_id("probe-a")["host_conflict"].is_null());
    assert_eq!(by_id("probe-clone")["host"], "a~probe-clone");
    assert_eq!(by_id("probe-clone")["host_conflict"]["with_probe"], "probe-a");
    let (_, hosts) = get_json(&state, "/api/topology/hosts").await;
    let ids: Vec<&str> = hosts["nodes"].as_array().unwrap().iter().filter_map(|n| n["id"].as_str()).collect();
    assert!(ids.contains(&"host:a") && ids.contains(&"host:a~probe-clone"), "{ids:?}");
    let (_, metrics) = get(&state, "/metrics").await;
    assert!(metrics.contains("periscope_probe_duplicate_hosts_total 1"), "{metrics}");

    // The first leaves: the clone gets the host ID back.
    first.close_channel();
    tokio::time::timeout(Duration::from_secs(5), first_task).await.unwrap().unwrap();
    let (_, probes) = get_json(&state, "/api/probes").await;
    assert_eq!(probes[0]["id"], "probe-clone");
    assert_eq!(probes[0]["host"], "a");
    assert!(probes[0]["host_conflict"].is_null());
}

/// A bug that panics on the store thread must not leave the app serving stale data.
#[tokio::test]
async fn a_panic_on_the_store_thread_stops_the_app() {
    let state = state_with(&[web_host(1)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = tokio::spawn(crate::serve(listener, state.clone()));
    assert!(state.post_to_store(|_| panic!("a bug in a store job")));
    let outcome = tokio::time::timeout(Duration::from_secs(5), server).await.expect("serve ends").unwrap();
    let error = outcome.expect_err("serve reports the stop");
    assert!(error.to_string().contains("a bug in a store job"), "{error}");
    assert!(state.with_store(|store| store.model.len()).await.is_err());
    let (status, body) = get_json(&state, "/api/topology/containers").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

/// A log writer the test can read back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every test's logs, from every thread: a subscriber set for one thread
/// misses what the store thread and the blocking pool log, and callsites
/// cache "nobody listens" across threads. Tests pick their lines by a probe ID of their own.
fn captured_logs() -> &'static Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        // Another test binary setup may have set one first; then nothing is captured and the test says so.
        let _ = tracing::subscriber::set_global_default(subscriber);
        captured
    })
}

/// The probe connection's span names the probe once, however many frames
/// came: recording a span field again appends to it, which grew the span by
/// each frame for the life of the connection.
#[tokio::test]
async fn the_probe_span_names_its_probe_once_whatever_the_frames() {
    let logs = captured_logs();
    // Long enough that a loaded machine still applies every frame before the probe counts as silent.
    let config = AppConfig {
        probe_timeout: Duration::from_millis(1_500),
        ping_interval: Duration::from_millis(100),
        ..AppConfig::default()
    };
    let state = state_with_config(&[], config).await;
    let (to_probe, _from_app) = mpsc::channel::<Outbound>(256);
    let (mut probe, incoming) = mpsc::channel::<Incoming>(8);
    let task = tokio::spawn(serve_probe(state.clone(), to_probe, incoming));
    let named = |seq| Report { probe: periscope_report::ProbeId::new("probe-span-check"), ..web_host(seq) };
    let mut previous = named(1);
    probe.send(frame(&ProbeMessage::Snapshot(previous.clone()))).await.unwrap();
    for seq in 2..40 {
        let next = named(seq);
        probe.send(frame(&ProbeMessage::Delta(diff(&previous, &next)))).await.unwrap();
        previous = next;
    }
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("closed for silence").unwrap();
    let log = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let silent = log
        .lines()
        .find(|line| line.contains("probe silent") && line.contains("probe-span-check"))
        .unwrap_or_else(|| panic!("no silence line for probe-span-check in the logs"));
    assert_eq!(silent.matches("probe=").count(), 1, "{silent}");
    drop(probe);
}
