//! The UI's controls, logs, terminal and login page in headless Chromium
//! against the real app (with a UI token), its probe and a real container:
//! starts them in-process on a free loopback port, then runs `npm run
//! e2e:controls` (see web/e2e/controls.test.mjs for the steps).

use std::path::Path;
use std::process::Command;

use periscope::config::AppConfig;
use periscope::state::AppState;
use periscope_tests::docker::TestContainer;

const UI_TOKEN: &str = "web-controls-ui-token-0123";
const PROBE_TOKEN: &str = "web-controls-probe-token-0123";

#[test]
fn browser_restarts_a_container_reads_its_logs_opens_a_terminal_and_logs_in() {
    let script = "trap 'exit 0' TERM; i=0; while true; do echo log-line-$i; i=$((i+1)); sleep 0.5; done";
    let container = TestContainer::run("web-controls", &[], &["sh", "-c", script]).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    let state = AppState::new(AppConfig {
        token: Some(PROBE_TOKEN.into()),
        ui_token: Some(UI_TOKEN.into()),
        listen: Some(address),
        ..AppConfig::default()
    });
    runtime.spawn(periscope::serve(listener, state));
    let probe = periscope_probe::Config {
        app: format!("ws://{address}/api/probe/ws"),
        token: Some(PROBE_TOKEN.into()),
        ..periscope_probe::Config::default()
    };
    runtime.spawn(periscope_probe::run(probe));

    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let output = Command::new("npm")
        .args(["run", "e2e:controls", "--silent"])
        .current_dir(&web)
        .env("PERISCOPE_URL", format!("http://{address}/"))
        .env("PERISCOPE_TOKEN", UI_TOKEN)
        .env("PERISCOPE_E2E_NODE", format!("container:{}", container.id))
        .output()
        .expect("running npm run e2e:controls");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("# pass 4") && stdout.contains("# fail 0"), "browser test ran too little:\n{stdout}");
    runtime.shutdown_background();
}
