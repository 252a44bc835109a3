//! History against the real Docker engine: a container's life in the past
//! view and the timeline, the same answers after the app restarts on the
//! same store, an OOM kill, and a `kill -9` of the real `periscope` binary
//! in the middle of a burst of changes.

mod app_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use app_support::{edges, http_get, nodes, App};
use periscope_tests::docker::{docker, TestContainer};
use periscope_tests::wait_until;
use serde_json::Value;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A fresh directory for one test's store, removed on drop.
struct DataDir(PathBuf);

impl DataDir {
    fn new(label: &str) -> DataDir {
        let dir = std::env::temp_dir().join(format!("periscope-test-history-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        DataDir(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until history holds `moment` (the writer commits every second).
fn wait_for_history(get: impl Fn(&str) -> Result<Value, String>, moment: u64) {
    wait_until("history to reach the moment", Duration::from_secs(20), || {
        let info = get("/api/history")?;
        info["to"].as_u64().filter(|to| *to >= moment).map(drop).ok_or_else(|| info.to_string())
    })
    .unwrap();
}

fn events_of(get: impl Fn(&str) -> Result<Value, String>, from: u64, node: &str) -> Result<Vec<Value>, String> {
    let list = get(&format!("/api/events?from={from}&node={node}"))?;
    Ok(list["events"].as_array().cloned().unwrap_or_default())
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap_or("?")).collect()
}

/// A view's nodes and edges sorted by ID, so two renders compare equal whatever their order.
fn sorted(graph: &Value) -> (Vec<Value>, Vec<Value>) {
    let mut nodes: Vec<Value> = nodes(graph).into_iter().cloned().collect();
    let mut edges: Vec<Value> = edges(graph).into_iter().cloned().collect();
    nodes.sort_by_key(|n| n["id"].to_string());
    edges.sort_by_key(|e| e["id"].to_string());
    (nodes, edges)
}

#[test]
fn a_container_started_stopped_and_removed_is_in_the_past_view_and_the_timeline_across_a_restart() {
    let data = DataDir::new("life");
    let started = now_ms();
    let app = App::with_history(&data.0);
    // Started after the probe's first snapshot, so the client's start is an event, not the starting state.
    app.wait_for_probe();
    let server = TestContainer::run("hist-httpd", &[], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap();
    let ip = server.ip().unwrap();
    let script = format!("while true; do wget -q -O /dev/null http://{ip}/; sleep 0.5; done");
    let client = TestContainer::run("hist-wget", &[], &["sh", "-c", &script]).unwrap();
    let (source, target) = (format!("container:{}", client.id), format!("container:{}", server.id));
    let get = |path: &str| app.get_json(path);

    wait_until("the wget → httpd edge, live", Duration::from_secs(60), || {
        let graph = get("/api/topology/containers")?;
        edges(&graph)
            .iter()
            .any(|e| e["source"] == source.as_str() && e["target"] == target.as_str())
            .then_some(())
            .ok_or_else(|| format!("{} edges", edges(&graph).len()))
    })
    .unwrap();
    let running_at = now_ms();
    wait_for_history(get, running_at);

    client.stop().unwrap();
    let exit_code: i64 = docker(&["inspect", "--format", "{{.State.ExitCode}}", &client.id]).unwrap().parse().unwrap();
    wait_until("the death in the timeline", Duration::from_secs(30), || {
        let events = events_of(get, started, &source)?;
        kinds(&events).contains(&"container_died").then_some(()).ok_or_else(|| format!("{:?}", kinds(&events)))
    })
    .unwrap();
    docker(&["rm", &client.id]).unwrap();
    let events = wait_until("the removal in the timeline", Duration::from_secs(30), || {
        let events = events_of(get, started, &source)?;
        kinds(&events)
            .contains(&"container_removed")
            .then_some(events.clone())
            .ok_or_else(|| format!("{:?}", kinds(&events)))
    })
    .unwrap();

    // The timeline: started, died with Docker's exit code, removed, in that order, each linking to the node.
    let position = |kind: &str| {
        kinds(&events).iter().position(|k| *k == kind).unwrap_or_else(|| panic!("no {kind} in {:?}", kinds(&events)))
    };
    let (start, death, removal) =
        (position("container_started"), position("container_died"), position("container_removed"));
    assert!(start < death && death < removal, "{:?}", kinds(&events));
    assert_eq!(events[death]["exit_code"].as_i64(), Some(exit_code), "{}", events[death]);
    assert!(events.iter().all(|e| e["node"]["id"] == source.as_str() || e["peer"]["id"] == source.as_str()));
    assert!(events.windows(2).all(|w| w[0]["at"].as_u64() <= w[1]["at"].as_u64()));

    // The containers view while it ran shows it with its edge; the live one no longer does.
    let past_path = format!("/api/topology/containers?at={running_at}");
    let past = get(&past_path).unwrap();
    assert!(nodes(&past).iter().any(|n| n["id"] == source.as_str()), "{past}");
    assert!(edges(&past).iter().any(|e| e["source"] == source.as_str() && e["target"] == target.as_str()), "{past}");
    let live = get("/api/topology/containers").unwrap();
    assert!(nodes(&live).iter().all(|n| n["id"] != source.as_str()));
    let details_path = format!("/api/topology/containers/{source}?at={running_at}");
    let details = get(&details_path).unwrap();
    assert_eq!(details["node"]["id"], source.as_str());
    let events_path = format!("/api/events?from={started}&to={}&node={source}", now_ms());

    // A new app on the same store gives the same answers.
    let events_before = get(&events_path).unwrap();
    app.stop();
    let app = App::with_history(&data.0);
    let get = |path: &str| app.get_json(path);
    assert_eq!(sorted(&get(&past_path).unwrap()), sorted(&past));
    assert_eq!(get(&details_path).unwrap()["node"], details["node"]);
    assert_eq!(get(&events_path).unwrap(), events_before);
    app.stop();
}

#[test]
fn a_container_killed_for_memory_has_an_oom_event() {
    let data = DataDir::new("oom");
    let started = now_ms();
    let app = App::with_history(&data.0);
    let get = |path: &str| app.get_json(path);
    // The probe's first snapshot first, so the container is a change, not part of the starting state.
    app.wait_for_probe();
    // sh doubles a string until the 16 MB cgroup limit (no swap) has the kernel kill it. It
    // waits first: containerd's shim registers for the cgroup's OOM notices only after the
    // task has started, and an OOM in those first milliseconds (seen on a loaded machine) is
    // never told to Docker, which then reports neither the `oom` event nor OOMKilled.
    let hog = TestContainer::run(
        "hist-oom",
        &["--memory", "16m", "--memory-swap", "16m"],
        &["sh", "-c", "sleep 2; x=0123456789abcdef; while true; do x=$x$x; done"],
    )
    .unwrap();
    let node = format!("container:{}", hog.id);
    // Both events, whichever comes first: Docker's OOM notice can reach the probe a tick before its exit.
    let events = wait_until("an OOM kill and the death in the timeline", Duration::from_secs(60), || {
        let events = events_of(get, started, &node)?;
        let seen = kinds(&events);
        (seen.contains(&"container_oom_killed") && seen.contains(&"container_died"))
            .then_some(events.clone())
            .ok_or_else(|| {
                // Whether Docker itself knew, so a failure says whose it is.
                let docker_says = docker(&["inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", &hog.id]);
                format!("{:?}; Docker's OOMKilled and exit code: {docker_says:?}", kinds(&events))
            })
    })
    .unwrap();
    // The death is SIGKILL's 137. Docker's OOM notice and its exit notice race, so the OOM-kill
    // event may come just before the death (from Docker's `oom` event) or with or after it
    // (from State.OOMKilled): it comes either way, close to the death.
    let death = events.iter().find(|e| e["kind"] == "container_died").expect("a death with the OOM kill");
    assert_eq!(death["exit_code"], 137, "{death}");
    let death_at = death["at"].as_u64().unwrap();
    let oom = events.iter().find(|e| e["kind"] == "container_oom_killed").unwrap();
    assert!(oom["at"].as_u64().unwrap().abs_diff(death_at) < 10_000, "{events:?}");
    assert_eq!(docker(&["inspect", "--format", "{{.State.OOMKilled}}", &hog.id]).unwrap(), "true");
    app.stop();
}

/// The `periscope` binary beside this test's target directory, (re)built so it matches the source.
fn app_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
    let target_dir = profile_dir.parent().expect("target/<profile>");
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "-p", "periscope", "--bin", "periscope"]).env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|name| name == "release") {
        build.arg("--release");
    }
    assert!(build.status().expect("running cargo build for periscope").success(), "building periscope failed");
    profile_dir.join("periscope")
}

/// A `periscope` process (app + built-in probe) on a free loopback port, killed with SIGKILL on drop.
struct AppProcess {
    child: Child,
    address: SocketAddr,
}

impl AppProcess {
    fn start(binary: &Path, data: &Path) -> AppProcess {
        let address = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let child = Command::new(binary)
            .args(["--listen", &address.to_string(), "--data-dir"])
            .arg(data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting periscope");
        let process = AppProcess { child, address };
        wait_until("the app to answer", Duration::from_secs(30), || http_get(address, "/healthz").map(drop)).unwrap();
        process
    }

    fn get_json(&self, path: &str) -> Result<Value, String> {
        let body = http_get(self.address, path)?;
        serde_json::from_str(&body).map_err(|e| format!("{path}: {e}: {body}"))
    }

    fn kill_9(&mut self) {
        // Child::kill sends SIGKILL: no flush, no cleanup, as a crash or the OOM killer would.
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping the app");
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        // Already dead when the test killed it; nothing else to do.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn after_a_kill_9_mid_burst_the_store_opens_and_earlier_history_is_there() {
    let binary = app_binary();
    let data = DataDir::new("kill9");
    let started = now_ms();
    let mut first = AppProcess::start(&binary, &data.0);
    let before = TestContainer::run("hist-before", &[], &["sleep", "300"]).unwrap();
    let node = format!("container:{}", before.id);
    wait_until("the container, live", Duration::from_secs(30), || {
        let graph = first.get_json("/api/topology/containers")?;
        nodes(&graph).iter().any(|n| n["id"] == node.as_str()).then_some(()).ok_or_else(|| "not yet".to_owned())
    })
    .unwrap();
    let seen_at = now_ms();
    wait_for_history(|p| first.get_json(p), seen_at);

    // A burst of changes, and the app killed in its middle.
    let mut burst = Vec::new();
    for round in 0..6 {
        burst.push(TestContainer::run("hist-burst", &[], &["sleep", "300"]).unwrap());
        if round == 2 {
            first.kill_9();
        }
    }

    let second = AppProcess::start(&binary, &data.0);
    let info = second.get_json("/api/history").unwrap();
    assert!(info["from"].as_u64().is_some_and(|from| from <= seen_at), "{info}");
    assert_eq!(info["error"], Value::Null, "{info}");
    let past = second.get_json(&format!("/api/topology/containers?at={seen_at}")).unwrap();
    assert!(nodes(&past).iter().any(|n| n["id"] == node.as_str()), "the container before the kill: {past}");
    let events = events_of(|p| second.get_json(p), started, &node).unwrap();
    assert!(kinds(&events).contains(&"container_started"), "{:?}", kinds(&events));
    // The new app records again: history goes on past the restart.
    let restarted_at = now_ms();
    wait_for_history(|p| second.get_json(p), restarted_at);
    drop(burst);
}

/// A tmpfs of a fixed size (a disk that fills), unmounted on drop. Needs root, as the probe does.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn new(label: &str, size: &str) -> SmallDisk {
        let dir = std::env::temp_dir().join(format!("periscope-test-disk-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&dir).status();
        assert!(status.is_ok_and(|s| s.success()), "mounting a tmpfs at {} (needs root)", dir.display());
        SmallDisk(dir)
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status();
        assert!(status.is_ok_and(|s| s.success()), "growing the tmpfs");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Best effort: a test that failed may leave the store open a moment longer; lazy unmount then.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A host report with `bytes` of incompressible text in one container's command line.
fn bulky_report(seq: u64, hostname: &str, bytes: usize) -> periscope_report::Report {
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let noise: String = (0..bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    let mut report = periscope_report::fixtures::ReportBuilder::new("filler")
        .seq(seq)
        .container("bulk", "bulk", "busybox:latest", "172.31.0.2")
        .edit_container("bulk", |c| c.command = noise)
        .build();
    report.host.hostname = hostname.to_owned();
    report
}

#[test]
fn a_full_disk_stops_history_with_an_error_never_the_live_view() {
    let disk = SmallDisk::new("full", "3m");
    let app = App::with_history(&disk.0);
    let get = |path: &str| app.get_json(path);
    let mut seq = 1;
    let error = wait_until("history to stop on the full disk", Duration::from_secs(60), || {
        seq += 1;
        let report = bulky_report(seq, "filling", 400_000);
        app.state.with_store_blocking(move |store| store.insert_snapshot(report, periscope::clock::now())).unwrap();
        let info = get("/api/history")?;
        info["error"].as_str().map(str::to_owned).ok_or_else(|| format!("no error yet: {info}"))
    })
    .unwrap();
    assert!(!error.is_empty());
    // The live view goes on: a change after the failure shows at once.
    let report = bulky_report(seq + 1, "still-live", 10);
    app.state.with_store_blocking(move |store| store.insert_snapshot(report, periscope::clock::now())).unwrap();
    wait_until("the live view to show the newest report", Duration::from_secs(10), || {
        let hosts = get("/api/topology/hosts")?;
        nodes(&hosts).iter().any(|n| n["label"] == "still-live").then_some(()).ok_or_else(|| hosts.to_string())
    })
    .unwrap();
    assert_eq!(http_get(app.address, "/healthz").unwrap(), "ok");

    // Room again: history resumes by itself (retried every 30 s).
    disk.resize("64m");
    wait_until("history to resume", Duration::from_secs(90), || {
        let info = get("/api/history")?;
        info["error"].is_null().then_some(()).ok_or_else(|| info.to_string())
    })
    .unwrap();
    app.stop();
}
