//! Docker coming and going under a running probe: the probe starts against a
//! socket path with no daemon behind it, finds the real engine once a proxy
//! appears there (as after a daemon start or restart), and reports Docker
//! unavailable again, still streaming host and processes, when it vanishes.
//! The proxy stands in for a restart because the engine is shared by every
//! test running at the same time.

mod probe_support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use periscope_report::{Report, Source, SourceState};
use periscope_tests::docker::TestContainer;
use probe_support::{config, runtime, spawn_probe, wait_for_report, FakeApp};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

const ENGINE: &str = "/var/run/docker.sock";

fn docker_state(report: &Report) -> Option<SourceState> {
    report.meta.sources.iter().find(|s| s.source == Source::Docker).map(|s| s.state.clone())
}

/// Forwards every connection on `path` to the real engine until `stop`.
struct Proxy {
    path: PathBuf,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    fn start(runtime: &tokio::runtime::Runtime, path: PathBuf) -> Proxy {
        let listener = runtime.block_on(async { UnixListener::bind(&path) }).expect("binding the proxy socket");
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept_tasks = tasks.clone();
        let accept = runtime.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let forward = tokio::spawn(async move {
                    if let Ok(mut engine) = UnixStream::connect(ENGINE).await {
                        // Either side closing ends the forward; nothing to report.
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                    }
                });
                accept_tasks.lock().unwrap().push(forward);
            }
        });
        tasks.lock().unwrap().push(accept);
        Proxy { path, tasks }
    }

    /// Like a daemon going away: no new connections, and open ones cut.
    fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn the_probe_finds_docker_when_it_appears_and_survives_when_it_goes() {
    let container = TestContainer::run("reconnect", &[], &["sleep", "300"]).unwrap();
    let path = std::env::temp_dir().join(format!("periscope-docker-proxy-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);

    let runtime = runtime();
    let app = FakeApp::start(&runtime, "127.0.0.1:0");
    spawn_probe(
        &runtime,
        periscope_probe::Config { docker_socket: path.clone(), ..config(&app.url(), Duration::from_millis(300)) },
    );
    wait_for_report(&app, "Docker reported unavailable", Duration::from_secs(20), |report| {
        match docker_state(report) {
            Some(SourceState::Unavailable { .. }) if !report.processes.is_empty() => Ok(()),
            other => Err(format!("docker {other:?}, {} processes", report.processes.len())),
        }
    })
    .unwrap();

    let proxy = Proxy::start(&runtime, path);
    wait_for_report(&app, "Docker found, with our container", Duration::from_secs(60), |report| {
        let active = docker_state(report) == Some(SourceState::Active);
        let ours = report.containers.iter().any(|c| c.id.as_str() == container.id);
        (active && ours).then_some(()).ok_or_else(|| format!("active {active}, our container {ours}"))
    })
    .unwrap();

    proxy.stop();
    let seq_when_gone = app.report().map(|r| r.seq).unwrap_or(0);
    wait_for_report(&app, "Docker unavailable again while reports flow", Duration::from_secs(60), |report| {
        let down = matches!(docker_state(report), Some(SourceState::Unavailable { .. }));
        let flowing = report.seq > seq_when_gone + 2 && !report.processes.is_empty();
        (down && flowing).then_some(()).ok_or_else(|| format!("down {down}, seq {}", report.seq))
    })
    .unwrap();
}
