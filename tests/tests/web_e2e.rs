//! The browser UI against the real app, its probe and real containers:
//! starts both in-process on a free loopback port, a busybox httpd server, a
//! wget client and a stopped container, then runs `npm run e2e`
//! (playwright-core driving Debian's headless Chromium; see
//! web/e2e/topology.test.mjs for the steps).
//!
//! The app runs on a runtime of its own so the browser test can have it
//! killed (the runtime shut down: every socket closed, all state gone) and
//! started again on the same port, and can have six more clients started,
//! through a line-based control channel on loopback (`PERISCOPE_E2E_CONTROL`).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use periscope::config::AppConfig;
use periscope::state::AppState;
use periscope_tests::docker::{unique_name, TestContainer};

const TOKEN: &str = "web-e2e-token";
/// Clients started at once by the `burst` command.
const BURST: usize = 6;

/// The app on its own runtime, so that dropping the runtime kills it for real.
struct RunningApp {
    runtime: Option<tokio::runtime::Runtime>,
}

impl RunningApp {
    fn start(address: SocketAddr) -> RunningApp {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        // The port was ours a moment ago; a restart may have to wait for the old socket to let go.
        let deadline = Instant::now() + Duration::from_secs(20);
        let listener = loop {
            match runtime.block_on(tokio::net::TcpListener::bind(address)) {
                Ok(listener) => break listener,
                Err(error) if Instant::now() < deadline => {
                    eprintln!("rebinding {address}: {error}; trying again");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(error) => panic!("cannot bind {address}: {error}"),
            }
        };
        let state = AppState::new(AppConfig { token: Some(TOKEN.into()), ..AppConfig::default() });
        runtime.spawn(periscope::serve(listener, state));
        RunningApp { runtime: Some(runtime) }
    }

    fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// What the control channel can do, shared with its thread.
struct Control {
    address: SocketAddr,
    app: Mutex<RunningApp>,
    server_ip: String,
    burst: Mutex<Vec<TestContainer>>,
}

impl Control {
    fn handle(&self, command: &str) -> String {
        match command {
            "stop-app" => {
                self.app.lock().unwrap().stop();
                "ok".into()
            }
            "start-app" => {
                let mut app = self.app.lock().unwrap();
                app.stop();
                *app = RunningApp::start(self.address);
                "ok".into()
            }
            "burst" => {
                let client_loop =
                    format!("while true; do wget -q -O /dev/null http://{}/; sleep 0.3; done", self.server_ip);
                let mut names = Vec::new();
                let mut burst = self.burst.lock().unwrap();
                for _ in 0..BURST {
                    match TestContainer::run("web-burst", &[], &["sh", "-c", &client_loop]) {
                        Ok(container) => {
                            names.push(container.name.clone());
                            burst.push(container);
                        }
                        Err(error) => return format!("error {error:#}"),
                    }
                }
                format!("ok {}", names.join(" "))
            }
            other => format!("error unknown command {other:?}"),
        }
    }
}

fn serve_control(control: Arc<Control>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let control = control.clone();
            std::thread::spawn(move || {
                let mut writer = match stream.try_clone() {
                    Ok(writer) => writer,
                    Err(_) => return,
                };
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let reply = control.handle(line.trim());
                    if writeln!(writer, "{reply}").is_err() {
                        break;
                    }
                }
            });
        }
    });
    address
}

#[test]
fn browser_shows_live_topology_details_search_and_table() {
    let server = TestContainer::run("web-server", &[], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap();
    let server_ip = server.ip().unwrap();
    let client_loop = format!("while true; do wget -q -O /dev/null http://{server_ip}/; sleep 0.2; done");
    let client = TestContainer::run("web-client", &[], &["sh", "-c", &client_loop]).unwrap();
    let stopped = TestContainer::run("web-stopped", &[], &["sleep", "300"]).unwrap();
    stopped.stop().unwrap();
    let late = unique_name("web-late");

    let address = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let control = Arc::new(Control {
        address,
        app: Mutex::new(RunningApp::start(address)),
        server_ip: server_ip.clone(),
        burst: Mutex::new(Vec::new()),
    });
    let control_address = serve_control(control.clone());
    let probe_runtime = tokio::runtime::Runtime::new().unwrap();
    let probe = periscope_probe::Config {
        app: format!("ws://{address}/api/probe/ws"),
        token: Some(TOKEN.into()),
        ..periscope_probe::Config::default()
    };
    probe_runtime.spawn(periscope_probe::run(probe));

    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/web-e2e");
    let output = Command::new("npm")
        .args(["run", "e2e", "--silent"])
        .current_dir(&web)
        .env("PERISCOPE_URL", format!("http://{address}/"))
        .env("PERISCOPE_E2E_SERVER", &server.name)
        .env("PERISCOPE_E2E_CLIENT", &client.name)
        .env("PERISCOPE_E2E_STOPPED", &stopped.name)
        .env("PERISCOPE_E2E_LATE", &late)
        .env("PERISCOPE_E2E_CONTROL", control_address.to_string())
        .env("PERISCOPE_E2E_SCREENSHOTS", &screenshots)
        .output()
        .expect("running npm run e2e");
    // The script removes the late container itself; this covers a failure before it could.
    let _ = periscope_tests::docker::docker(&["rm", "-f", &late]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    control.burst.lock().unwrap().clear();
    control.app.lock().unwrap().stop();
    probe_runtime.shutdown_background();
    assert!(output.status.success(), "browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("# pass") && stdout.contains("# fail 0"), "browser test ran nothing:\n{stdout}");
}
