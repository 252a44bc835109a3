//! Three simulated hosts, each in its own network and PID namespace on a
//! private test bridge (10.213.0.0/24), each running its own `periscope-probe`
//! against one app: a client on B talking to a server on C is an edge in the
//! processes and hosts views, and killing C's probe removes C's nodes.
//!
//! Needs root, iproute2 and util-linux's `unshare` (as CI runs). Traffic stays
//! between the namespaces this test makes and the bridge it owns.

mod app_support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app_support::{edges, nodes};
use periscope::config::AppConfig;
use periscope::state::AppState;
use periscope_tests::wait_until;

const SUBNET: &str = "10.213.0";
const BUSYBOX: &str = "/bin/busybox";

fn run(args: &[&str]) -> Result<(), String> {
    let output = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args[0]))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// The `periscope-probe` binary beside this test's own target directory, (re)built so it
/// matches the source: cargo is a no-op when it is current, and a stale binary would test old code.
fn probe_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
    let probe = profile_dir.join("periscope-probe");
    {
        let target_dir = profile_dir.parent().expect("target/<profile>");
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build.args(["build", "-p", "periscope-probe", "--bin", "periscope-probe"]).env("CARGO_TARGET_DIR", target_dir);
        if profile_dir.file_name().is_some_and(|name| name == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build for periscope-probe");
        assert!(status.success(), "building periscope-probe failed");
    }
    probe
}

/// The bridge, namespaces and probe processes of one test; all removed on drop.
struct Lab {
    bridge: String,
    namespaces: Vec<String>,
    links: Vec<String>,
    probes: Vec<(String, Child)>,
}

impl Lab {
    fn new() -> Lab {
        let tag = std::process::id() % 100_000;
        let lab = Lab { bridge: format!("psbr{tag}"), namespaces: Vec::new(), links: Vec::new(), probes: Vec::new() };
        run(&["ip", "link", "add", &lab.bridge, "type", "bridge"]).unwrap();
        run(&["ip", "addr", "add", &format!("{SUBNET}.1/24"), "dev", &lab.bridge]).unwrap();
        run(&["ip", "link", "set", &lab.bridge, "up"]).unwrap();
        lab
    }

    /// A host `name` at `{SUBNET}.{octet}`.
    fn host(&mut self, name: &str, octet: u8) -> String {
        let tag = std::process::id() % 100_000;
        let namespace = format!("ps{tag}{name}");
        let outside = format!("ps{tag}{name}o");
        let inside = format!("ps{tag}{name}i");
        run(&["ip", "netns", "add", &namespace]).unwrap();
        self.namespaces.push(namespace.clone());
        run(&["ip", "link", "add", &outside, "type", "veth", "peer", "name", &inside]).unwrap();
        self.links.push(outside.clone());
        run(&["ip", "link", "set", &inside, "netns", &namespace]).unwrap();
        run(&["ip", "link", "set", &outside, "master", &self.bridge]).unwrap();
        run(&["ip", "link", "set", &outside, "up"]).unwrap();
        let exec = |args: &[&str]| {
            let mut full = vec!["ip", "netns", "exec", &namespace];
            full.extend_from_slice(args);
            run(&full).unwrap();
        };
        exec(&["ip", "link", "set", &inside, "name", "eth0"]);
        exec(&["ip", "addr", "add", &format!("{SUBNET}.{octet}/24"), "dev", "eth0"]);
        exec(&["ip", "link", "set", "eth0", "up"]);
        exec(&["ip", "link", "set", "lo", "up"]);
        namespace
    }

    /// Runs `workload` (a shell snippet, in the background) and the probe as PID 1 of a new
    /// PID namespace inside `namespace`, so the probe sees only this host's processes.
    fn start(&mut self, namespace: &str, host: &str, app: &str, token: &str, workload: &str) {
        let probe = probe_binary();
        // `nc -l` trades its listener for the accepted socket, leaving the namespace's in-use
        // counters equal: the probe finds out when it next looks its known sockets up
        // (--socket-check-secs, 5 s by default; 1 s keeps this test's wait short).
        let script = format!(
            "{workload} & exec {} --app {app} --token {token} --host-id {host} --probe-id probe-{host} --no-docker --tick-ms 500 --socket-check-secs 1",
            probe.display()
        );
        let child = Command::new("ip")
            .args(["netns", "exec", namespace, "unshare", "--pid", "--fork", "--kill-child", "--mount-proc"])
            .args(["sh", "-c", &script])
            .env("PERISCOPE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("starting a namespaced probe");
        self.probes.push((host.to_owned(), child));
    }

    fn kill(&mut self, host: &str) {
        for (name, child) in &mut self.probes {
            if name == host {
                // `--kill-child` takes the namespace's PID 1 (the probe), and so everything in it, along.
                child.kill().expect("killing the probe's unshare");
                child.wait().expect("reaping it");
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, child) in &mut self.probes {
            // Already exited is fine.
            let _ = child.kill();
            let _ = child.wait();
        }
        for link in &self.links {
            // Best effort, as everything here: the pair goes with either end, even while
            // something (a socket) still holds the namespace.
            let _ = run(&["ip", "link", "del", link]);
        }
        for namespace in &self.namespaces {
            let _ = run(&["ip", "netns", "del", namespace]);
        }
        let _ = run(&["ip", "link", "del", &self.bridge]);
    }
}

#[test]
fn a_client_on_one_simulated_host_and_a_server_on_another_are_an_edge() {
    let mut lab = Lab::new();
    let a = lab.host("a", 2);
    let b = lab.host("b", 3);
    let c = lab.host("c", 4);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let token = periscope::random::random_hex(16);
    let state = AppState::new(AppConfig { token: Some(token.clone()), ..AppConfig::default() });
    let listener = runtime.block_on(tokio::net::TcpListener::bind(format!("{SUBNET}.1:0"))).unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(periscope::serve(listener, state.clone()));
    let app_url = format!("ws://{address}/api/probe/ws");
    let get = |path: &str| -> Result<serde_json::Value, String> {
        let body = app_support::http_get(address, path)?;
        serde_json::from_str(&body).map_err(|e| e.to_string())
    };

    lab.start(&a, "host-a", &app_url, &token, "sleep 3600");
    lab.start(&c, "host-c", &app_url, &token, &format!("while true; do sleep 3600 | {BUSYBOX} nc -l -p 8080; done"));
    lab.start(
        &b,
        "host-b",
        &app_url,
        &token,
        &format!("while true; do sleep 3600 | {BUSYBOX} nc {SUBNET}.4 8080; sleep 1; done"),
    );

    wait_until("three probes", Duration::from_secs(60), || {
        let probes = get("/api/probes")?;
        let hosts: Vec<&str> = probes.as_array().unwrap().iter().filter_map(|p| p["host"].as_str()).collect();
        (hosts.len() == 3).then_some(()).ok_or_else(|| format!("{hosts:?}"))
    })
    .unwrap();

    let edge = wait_until("the B → C process edge", Duration::from_secs(60), || {
        let graph = get("/api/topology/processes")?;
        edges(&graph)
            .into_iter()
            .find(|e| {
                e["source"].as_str().is_some_and(|s| s.ends_with("@host-b"))
                    && e["target"].as_str().is_some_and(|t| t.ends_with("@host-c"))
            })
            .cloned()
            .ok_or_else(|| format!("edges: {:?}", edges(&graph).iter().map(|e| &e["id"]).collect::<Vec<_>>()))
    })
    .unwrap();
    assert_eq!(edge["ports"], serde_json::json!([8080]));

    let hosts = get("/api/topology/hosts").unwrap();
    assert!(
        edges(&hosts).iter().any(|e| e["source"] == "host:host-b" && e["target"] == "host:host-c"),
        "hosts view: {hosts}"
    );
    assert_eq!(nodes(&hosts).iter().filter(|n| n["kind"] == "host").count(), 3);

    lab.kill("host-c");
    wait_until("host C's nodes to go", Duration::from_secs(20), || {
        let hosts = get("/api/topology/hosts")?;
        let processes = get("/api/topology/processes")?;
        let c_left = nodes(&hosts).iter().any(|n| n["id"] == "host:host-c")
            || nodes(&processes).iter().any(|n| n["id"].as_str().is_some_and(|id| id.ends_with("@host-c")));
        (!c_left).then_some(()).ok_or_else(|| "host C still shown".to_owned())
    })
    .unwrap();
    let probes = get("/api/probes").unwrap();
    assert_eq!(probes.as_array().unwrap().len(), 2);
    drop(lab);
}
