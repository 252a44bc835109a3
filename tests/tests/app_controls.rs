//! Controls, logs and terminals through the app's API against the real
//! Docker engine: each control changes the container's real state (checked
//! with the Docker CLI) and the topology shows it; pipes carry real output;
//! read-only mode and invalid requests are refused with clear errors.

mod app_support;

use std::time::{Duration, Instant};

use app_support::{nodes, App, Socket};
use futures_util::{SinkExt, StreamExt};
use periscope_tests::docker::{docker, TestContainer};
use periscope_tests::wait_until;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A container that stops at once on SIGTERM (a bare `sleep` as PID 1 ignores it).
const SLEEPER: &[&str] = &["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"];

fn state_of(container: &TestContainer) -> String {
    docker(&["inspect", "--format", "{{.State.Status}}", &container.id]).unwrap_or_else(|error| format!("{error}"))
}

fn started_at(container: &TestContainer) -> String {
    docker(&["inspect", "--format", "{{.State.StartedAt}}", &container.id]).unwrap()
}

/// The container's node in the containers view (stopped shown), once the app has it.
fn topology_state(app: &App, node: &str) -> Result<String, String> {
    let graph = app.get_json("/api/topology/containers?stopped=show")?;
    nodes(&graph)
        .into_iter()
        .find(|n| n["id"] == node)
        .map(|n| n["metadata"]["state"].as_str().unwrap_or("").to_owned())
        .ok_or_else(|| format!("no node {node}"))
}

fn control(app: &App, node: &str, action: &str) -> app_support::Response {
    let path = format!("/api/control/{}/{}/{action}", app.probe_id(), encode(node));
    app.request("POST", &path, &[], "")
}

fn encode(node: &str) -> String {
    node.replace(':', "%3A")
}

fn wait_for_node(app: &App, node: &str, state: &str) {
    wait_until(&format!("{node} {state} in the topology"), Duration::from_secs(30), || {
        let shown = topology_state(app, node)?;
        (shown == state).then_some(()).ok_or(shown)
    })
    .unwrap();
}

#[test]
fn each_control_changes_the_real_container_and_the_topology_shows_it() {
    let app = App::standalone();
    let container = TestContainer::run("ctl-life", &[], SLEEPER).unwrap();
    let node = format!("container:{}", container.id);
    wait_for_node(&app, &node, "running");

    let details = app.get_json(&format!("/api/topology/containers/{}", encode(&node))).unwrap();
    let offered: Vec<&str> =
        details["controls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(offered, ["stop", "restart", "pause", "remove", "logs", "exec"], "{details}");
    assert_eq!(details["controls"][0]["probe"], app.probe_id().as_str());

    // A control not valid for the state: a clear JSON error at once, nothing changed.
    let refused = control(&app, &node, "start");
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.json()["error"].as_str().unwrap().contains("running"), "{}", refused.body);

    let answer = control(&app, &node, "pause");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["ok"], true);
    assert_eq!(state_of(&container), "paused");
    let event_seen = Instant::now();
    wait_for_node(&app, &node, "paused");
    eprintln!("pause reached the topology {:?} after the control returned", event_seen.elapsed());

    let answer = control(&app, &node, "unpause");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(state_of(&container), "running");
    wait_for_node(&app, &node, "running");

    let before = started_at(&container);
    let answer = control(&app, &node, "restart");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(state_of(&container), "running");
    assert_ne!(started_at(&container), before, "restart gives a new start time");
    wait_until("the new start time in the details", Duration::from_secs(30), || {
        let details = app.get_json(&format!("/api/topology/containers/{}", encode(&node)))?;
        let state = details["node"]["metadata"]["state"].as_str().unwrap_or("").to_owned();
        let offered = details["controls"].as_array().map(Vec::len).unwrap_or(0);
        (state == "running" && offered == 6).then_some(()).ok_or(format!("{state}, {offered} controls"))
    })
    .unwrap();

    assert_eq!(control(&app, &node, "stop").status, 200);
    assert_eq!(state_of(&container), "exited");
    wait_for_node(&app, &node, "exited");

    assert_eq!(control(&app, &node, "start").status, 200);
    assert_eq!(state_of(&container), "running");
    wait_for_node(&app, &node, "running");

    assert_eq!(control(&app, &node, "remove").status, 200);
    assert!(docker(&["inspect", &container.id]).is_err(), "the container is gone from Docker");
    wait_until("the node to leave the topology", Duration::from_secs(30), || match topology_state(&app, &node) {
        Err(_) => Ok(()),
        Ok(state) => Err(state),
    })
    .unwrap();

    // Unknown node, unknown probe, unknown control: 404 with an error.
    for path in [
        format!("/api/control/{}/container%3Anope/stop", app.probe_id()),
        format!("/api/control/no-such-probe/{}/stop", encode(&node)),
        format!("/api/control/{}/{}/explode", app.probe_id(), encode(&node)),
    ] {
        let answer = app.request("POST", &path, &[], "");
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        assert!(answer.json()["error"].is_string());
    }

    // Every control is audited, refusals too.
    let audit = app.get_json("/api/audit").unwrap();
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"] == node.as_str())
        .map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert!(actions.contains(&("pause", "ok")) && actions.contains(&("remove", "ok")), "{actions:?}");
    assert!(actions.iter().any(|(a, o)| *a == "start" && o.starts_with("refused")), "{actions:?}");
    assert!(audit[0]["client"].as_str().unwrap().starts_with("127.0.0.1:"), "{audit}");
}

/// Reads pipe frames until `text` has appeared in the output, or a deadline; returns what came.
fn read_until(app: &App, socket: &mut Socket, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while !seen.contains(text) && Instant::now() < deadline {
        let message = app.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), socket.next()).await });
        match message {
            Ok(Some(Ok(Message::Binary(data)))) => seen.push_str(&String::from_utf8_lossy(&data)),
            Ok(Some(Ok(Message::Text(text)))) => seen.push_str(&format!("\n[text]{text}")),
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(_))) | Ok(None) => break,
        }
    }
    assert!(seen.contains(text), "{text:?} never came; got {seen:?}");
    seen
}

fn send(app: &App, socket: &mut Socket, message: Message) {
    app.runtime.block_on(socket.send(message)).unwrap();
}

/// Opens a pipe (`logs` or `exec`) and attaches to it.
fn open_pipe(app: &App, node: &str, action: &str, query: &str) -> Socket {
    let path = format!("/api/control/{}/{}/{action}{query}", app.probe_id(), encode(node));
    let answer = app.request("POST", &path, &[], "");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let url = answer.json()["url"].as_str().unwrap().to_owned();
    app.websocket(&url, &[]).expect("pipe websocket")
}

#[test]
fn exec_and_log_pipes_carry_real_output_resize_reaches_the_tty_and_exits_close_them() {
    let app = App::standalone();
    let script = "echo started-up; while true; do if [ -f /tmp/go ]; then echo marker-$(cat /tmp/go); rm /tmp/go; fi; sleep 0.2; done";
    let container = TestContainer::run("ctl-pipes", &[], &["sh", "-c", script]).unwrap();
    let node = format!("container:{}", container.id);
    wait_for_node(&app, &node, "running");

    // Logs: history first, then a line printed after the pipe opened.
    let mut logs = open_pipe(&app, &node, "logs", "?tail=50");
    read_until(&app, &mut logs, "started-up");
    docker(&["exec", &container.id, "sh", "-c", "echo 4242 > /tmp/go"]).unwrap();
    read_until(&app, &mut logs, "marker-4242");

    // A terminal: a command's output, the TTY's size, a resize.
    let mut terminal = open_pipe(&app, &node, "exec", "?cols=100&rows=30");
    send(&app, &mut terminal, Message::Binary(b"echo hello-$((6*7))\n".to_vec().into()));
    read_until(&app, &mut terminal, "hello-42");
    send(&app, &mut terminal, Message::Binary(b"stty size\n".to_vec().into()));
    read_until(&app, &mut terminal, "30 100");
    send(&app, &mut terminal, Message::Text(r#"{"type":"resize","cols":120,"rows":40}"#.into()));
    send(&app, &mut terminal, Message::Binary(b"stty size\n".to_vec().into()));
    read_until(&app, &mut terminal, "40 120");
    send(&app, &mut terminal, Message::Binary(b"exit 3\n".to_vec().into()));
    let closing = read_until(&app, &mut terminal, "\"type\":\"closed\"");
    assert!(closing.contains("code 3"), "{closing}");

    // The container exits under an open log pipe: it closes with the reason.
    container.stop().unwrap();
    let closing = read_until(&app, &mut logs, "\"type\":\"closed\"");
    assert!(closing.contains("exited"), "{closing}");

    // A terminal into an exited container: refused at once, as JSON.
    wait_for_node(&app, &node, "exited");
    let refused = control(&app, &node, "exec");
    assert_eq!(refused.status, 409, "{}", refused.body);

    let audit = app.get_json("/api/audit").unwrap();
    assert!(audit.as_array().unwrap().iter().any(|e| e["kind"] == "pipe_closed" && e["action"] == "exec"), "{audit}");
    // An unknown (or already attached) pipe ID.
    assert_eq!(app.websocket("/api/pipe/0123456789abcdef", &[]).err(), Some(404));
}

#[test]
fn read_only_refuses_every_control_and_pipe_and_offers_none() {
    let app = App::with(|config| config.read_only = true, |_| {});
    let container = TestContainer::run("ctl-ro", &[], SLEEPER).unwrap();
    let node = format!("container:{}", container.id);
    wait_for_node(&app, &node, "running");
    let details = app.get_json(&format!("/api/topology/containers/{}", encode(&node))).unwrap();
    assert_eq!(details["controls"], Value::Array(Vec::new()), "no buttons in read-only mode");
    for action in ["stop", "remove", "logs", "exec"] {
        let answer = control(&app, &node, action);
        assert_eq!(answer.status, 403, "{action}: {}", answer.body);
        assert!(answer.json()["error"].as_str().unwrap().contains("read-only"));
    }
    assert_eq!(app.websocket("/api/pipe/anything", &[]).err(), Some(403));
    assert_eq!(state_of(&container), "running", "the container is unchanged");
}

#[test]
fn a_probe_with_no_controls_offers_none_and_refuses_them() {
    let app = App::with(|_| {}, |probe| probe.no_controls = true);
    let container = TestContainer::run("ctl-noctl", &[], SLEEPER).unwrap();
    let node = format!("container:{}", container.id);
    wait_for_node(&app, &node, "running");
    let details = app.get_json(&format!("/api/topology/containers/{}", encode(&node))).unwrap();
    assert_eq!(details["controls"], Value::Array(Vec::new()));
    let answer = control(&app, &node, "stop");
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.json()["error"].as_str().unwrap().contains("--no-controls"), "{}", answer.body);
    assert_eq!(state_of(&container), "running");
}

#[test]
fn a_host_shell_exists_only_with_the_probes_flag() {
    let app = App::with(|_| {}, |probe| probe.host_shell = true);
    let host = wait_until("the probe's host", Duration::from_secs(30), || {
        let probes = app.get_json("/api/probes")?;
        probes[0]["host"].as_str().map(str::to_owned).ok_or_else(|| "no probe yet".to_owned())
    })
    .unwrap();
    let node = format!("host:{host}");
    let details = wait_until("the host's details", Duration::from_secs(30), || {
        app.get_json(&format!("/api/topology/hosts/{}", encode(&node)))
    })
    .unwrap();
    let offered: Vec<&str> =
        details["controls"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(offered, ["exec"], "{details}");
    let mut shell = open_pipe(&app, &node, "exec", "?cols=90&rows=20");
    send(&app, &mut shell, Message::Binary(b"echo host-$((6*7)); stty size\n".to_vec().into()));
    let seen = read_until(&app, &mut shell, "host-42");
    if !seen.contains("20 90") {
        read_until(&app, &mut shell, "20 90");
    }
    // A resize reaches the host's terminal, and the shell's exit closes the pipe, saying its code.
    send(&app, &mut shell, Message::Text(r#"{"type":"resize","cols":120,"rows":40}"#.into()));
    send(&app, &mut shell, Message::Binary(b"echo resized-$(stty size | tr ' ' x)\n".to_vec().into()));
    read_until(&app, &mut shell, "resized-40x120");
    send(&app, &mut shell, Message::Binary(b"exit 3\n".to_vec().into()));
    let closing = read_until(&app, &mut shell, "\"type\":\"closed\"");
    assert!(closing.contains("the shell exited (code 3)"), "{closing}");

    // Without the flag, the host offers nothing and a request is refused.
    let plain = App::standalone();
    let plain_host = wait_until("the other probe", Duration::from_secs(30), || {
        let probes = plain.get_json("/api/probes")?;
        probes[0]["host"].as_str().map(str::to_owned).ok_or_else(|| "no probe yet".to_owned())
    })
    .unwrap();
    let path = format!("/api/control/{}/{}/exec", plain.probe_id(), encode(&format!("host:{plain_host}")));
    let refused = plain.request("POST", &path, &[], "");
    assert_eq!(refused.status, 409, "{}", refused.body);
}
