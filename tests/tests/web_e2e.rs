//! The browser UI against the real app, its probe and real containers:
//! starts both in-process on a free loopback port, a busybox httpd server and
//! a wget client, then runs `npm run e2e` (playwright-core driving Debian's
//! headless Chromium; see web/e2e/topology.test.mjs for the steps).
//! Screenshots go to target/screenshots/, never over the tracked ones in
//! web/e2e/screenshots/ (the README's, refreshed by copying deliberately).

use std::path::Path;
use std::process::Command;

use periscope::config::AppConfig;
use periscope::state::AppState;
use periscope_tests::docker::{unique_name, TestContainer};

const TOKEN: &str = "web-e2e-token";

#[test]
fn browser_shows_live_topology_details_search_and_table() {
    let server = TestContainer::run("web-server", &[], &["httpd", "-f", "-p", "80", "-h", "/www"]).unwrap();
    let server_ip = server.ip().unwrap();
    let client_loop = format!("while true; do wget -q -O /dev/null http://{server_ip}/; sleep 0.2; done");
    let client = TestContainer::run("web-client", &[], &["sh", "-c", &client_loop]).unwrap();
    let late = unique_name("web-late");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    let state = AppState::new(AppConfig { token: Some(TOKEN.into()), ..AppConfig::default() });
    runtime.spawn(periscope::serve(listener, state));
    let probe = periscope_probe::Config {
        app: format!("ws://{address}/api/probe/ws"),
        token: Some(TOKEN.into()),
        ..periscope_probe::Config::default()
    };
    runtime.spawn(periscope_probe::run(probe));

    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let output = Command::new("npm")
        .args(["run", "e2e", "--silent"])
        .current_dir(&web)
        .env("PERISCOPE_URL", format!("http://{address}/"))
        .env("PERISCOPE_E2E_SERVER", &server.name)
        .env("PERISCOPE_E2E_CLIENT", &client.name)
        .env("PERISCOPE_E2E_LATE", &late)
        .env("PERISCOPE_E2E_SCREENSHOTS", &screenshots)
        .output()
        .expect("running npm run e2e");
    // The script removes the late container itself; this covers a failure before it could.
    let _ = periscope_tests::docker::docker(&["rm", "-f", &late]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("# pass") && stdout.contains("# fail 0"), "browser test ran nothing:\n{stdout}");
    runtime.shutdown_background();
}
