//! The probe as people run it: its image (built from the musl binary by
//! `periscope_tests::image`), started with the very `docker run` command
//! README.md documents, next to an app in this test process. It must see
//! this host's containers, processes and connections; and run as an
//! unprivileged user it must name each source it lost, with the reason.

mod app_support;

use std::process::Command;
use std::time::Duration;

use app_support::{edges, nodes, App};
use periscope_tests::docker::{unique_name, TestContainer};
use periscope_tests::image::{ensure_probe_image, image_size, workspace_root};
use periscope_tests::wait_until;
use serde_json::Value;

const TOKEN: &str = "probe-image-test-token";

/// The probe command from README.md's "Run on your hosts", between its marker and the end of the block.
fn documented_probe_command() -> String {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let (_, after) = readme.split_once("<!-- probe-docker-run").expect("README.md marks the probe command");
    let (_, block) = after.split_once("```sh\n").expect("a sh block after the marker");
    let (command, _) = block.split_once("```").expect("the block ends");
    command.to_owned()
}

/// Replaces `from` (which must be there: the README changed otherwise) with `to`.
fn substitute(command: &str, from: &str, to: &str) -> String {
    assert!(command.contains(from), "the documented command no longer has {from:?}:\n{command}");
    command.replacen(from, to, 1)
}

/// The documented command, aimed at this test's app and image under a test container name.
fn command_for(app: &App, name: &str, image: &str) -> String {
    let command = documented_probe_command();
    let command = substitute(&command, "--name periscope-probe ", &format!("--name {name} "));
    let command = substitute(&command, "ws://APP_HOST:4040/", &format!("ws://{}/", app.address));
    substitute(&command, "\n  periscope-probe\n", &format!("\n  {image}\n"))
}

/// Runs a `docker run -d …` command line through sh, with `$TOKEN` set; the container is removed on drop.
fn start(command: &str, name: &str) -> TestContainer {
    let output = Command::new("sh").arg("-c").arg(command).env("TOKEN", TOKEN).output().expect("running sh");
    assert!(
        output.status.success(),
        "the probe container did not start:\n{command}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    TestContainer { name: name.to_owned(), id: String::from_utf8_lossy(&output.stdout).trim().to_owned() }
}

/// The first probe's state of `source`, as (state, reason).
fn source_state(probes: &Value, source: &str) -> Option<(String, String)> {
    let states = probes.get(0)?["source_states"].as_array()?;
    let status = states.iter().find(|s| s["source"] == source)?;
    Some((status["state"].as_str()?.to_owned(), status["reason"].as_str().unwrap_or_default().to_owned()))
}

fn container_logs(container: &TestContainer) -> String {
    periscope_tests::docker::docker(&["logs", "--tail", "20", &container.id]).unwrap_or_default()
}

#[test]
fn the_documented_probe_container_sees_this_hosts_containers_processes_and_connections() {
    let image = ensure_probe_image().unwrap();
    let size = image_size(image).unwrap();
    assert!(size < 20 * 1024 * 1024, "the probe image is {size} bytes, over 20 MB");

    let server = TestContainer::run("image-httpd", &[], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap();
    let ip = server.ip().unwrap();
    let script = format!("while true; do wget -q -O /dev/null http://{ip}/; sleep 0.5; done");
    let client = TestContainer::run("image-wget", &[], &["sh", "-c", &script]).unwrap();

    let app = App::alone(TOKEN);
    let name = unique_name("probe-image");
    let probe = start(&command_for(&app, &name, image), &name);

    // The probe reports this host (its machine ID, mounted as documented) with every source working.
    let machine_id = std::fs::read_to_string("/etc/machine-id").unwrap().trim().to_owned();
    let probes = wait_until("the containerised probe to register with Docker active", Duration::from_secs(60), || {
        let probes = app.get_json("/api/probes")?;
        match source_state(&probes, "docker") {
            Some((state, _)) if state == "active" => Ok(probes),
            other => Err(format!("docker: {other:?}; logs: {}", container_logs(&probe))),
        }
    })
    .unwrap();
    assert_eq!(probes[0]["host"], machine_id.as_str(), "{probes}");
    for source in ["host", "proc", "sock_diag", "conntrack"] {
        assert_eq!(source_state(&probes, source).map(|s| s.0).as_deref(), Some("active"), "{source}: {probes}");
    }
    // Every capability the README asks for is there: nothing is missing for want of one.
    let (_, owners_reason) = source_state(&probes, "socket_owners").unwrap();
    assert!(!owners_reason.contains("lacks"), "socket owners: {owners_reason}");

    // Containers and their connection: the wget client → httpd server edge.
    let (source, target) = (format!("container:{}", client.id), format!("container:{}", server.id));
    wait_until("the wget → httpd container edge", Duration::from_secs(60), || {
        let graph = app.get_json("/api/topology/containers")?;
        edges(&graph)
            .into_iter()
            .find(|edge| edge["source"] == source.as_str() && edge["target"] == target.as_str())
            .map(drop)
            .ok_or_else(|| format!("edges: {:?}", edges(&graph).iter().map(|e| &e["id"]).collect::<Vec<_>>()))
    })
    .unwrap();

    // Processes: this test's own (a host process) and the server's httpd in its container.
    let own = format!("process:{}.", std::process::id());
    wait_until("this test process and the container's httpd in the processes view", Duration::from_secs(60), || {
        let graph = app.get_json("/api/topology/processes")?;
        let has_own = nodes(&graph).iter().any(|node| node["id"].as_str().is_some_and(|id| id.starts_with(&own)));
        let has_httpd = nodes(&graph)
            .iter()
            .any(|node| node["label"] == "httpd" && node["metadata"]["container"] == server.name.as_str());
        (has_own && has_httpd).then_some(()).ok_or_else(|| format!("own: {has_own}, httpd: {has_httpd}"))
    })
    .unwrap();

    // The server's stats come from the host's cgroup hierarchy, mounted as documented.
    wait_until("a memory figure for the server container", Duration::from_secs(30), || {
        let graph = app.get_json("/api/topology/containers")?;
        let node = nodes(&graph).into_iter().find(|node| node["id"] == target.as_str()).cloned();
        let memory = node.as_ref().and_then(|node| node["metrics"]["memory"].as_f64()).unwrap_or(0.0);
        (memory > 0.0).then_some(()).ok_or_else(|| format!("{node:?}"))
    })
    .unwrap();
}

#[test]
fn an_unprivileged_probe_names_each_degraded_source_with_its_reason() {
    let image = ensure_probe_image().unwrap();
    let app = App::alone(TOKEN);
    let name = unique_name("probe-nobody");
    // The documented command, as a user who skipped the capabilities and runs as nobody.
    let mut command = command_for(&app, &name, image);
    for cap in ["SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN", "NET_ADMIN"] {
        command = substitute(&command, &format!(" --cap-add {cap}"), "");
    }
    let command = substitute(&command, "--cap-drop ALL", "--cap-drop ALL --user 65534:65534");
    let probe = start(&command, &name);

    let expected = [
        ("socket_owners", "degraded", "lacks CAP_SYS_PTRACE"),
        ("sock_diag", "degraded", "lacks CAP_SYS_ADMIN"),
        ("conntrack", "denied", "lacks CAP_NET_ADMIN"),
        ("docker", "denied", "permission denied on the Docker socket"),
    ];
    let probes = wait_until("each lost source named with its reason", Duration::from_secs(60), || {
        let probes = app.get_json("/api/probes")?;
        let found: Vec<_> = expected.iter().map(|(source, ..)| source_state(&probes, source)).collect();
        let all = expected.iter().zip(&found).all(|((_, state, reason), found)| {
            found.as_ref().is_some_and(|(got_state, got_reason)| got_state == state && got_reason.contains(reason))
        });
        all.then_some(probes.clone()).ok_or_else(|| format!("{found:?}; logs: {}", container_logs(&probe)))
    })
    .unwrap();
    for (source, ..) in expected {
        let (_, reason) = source_state(&probes, source).unwrap();
        assert!(reason.contains("uid 65534"), "{source}'s reason names the user it runs as: {reason}");
    }
    // What it can still do, it does.
    let active = probes[0]["sources"].as_array().unwrap();
    for source in ["host", "proc"] {
        assert!(active.iter().any(|s| s == source), "{source} stays active: {probes}");
    }
}
