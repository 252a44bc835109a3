//! The timeline strip in a real browser: the app with history and its probe,
//! a container that starts, dies and is removed, then `node --test
//! web/e2e/timeline.test.mjs` (playwright-core driving Debian's headless
//! Chromium) clicks its markers, checks the past is marked and selected,
//! comes back Live, and compares.

mod app_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use app_support::App;
use periscope_tests::docker::{docker, TestContainer};
use periscope_tests::wait_until;

fn kinds_of(app: &App, node: &str) -> Result<Vec<String>, String> {
    let list = app.get_json(&format!("/api/events?from=0&node={node}"))?;
    Ok(list["events"].as_array().into_iter().flatten().filter_map(|e| e["kind"].as_str().map(str::to_owned)).collect())
}

#[test]
fn the_timeline_opens_the_past_comes_back_live_and_compares() {
    let data = std::env::temp_dir().join(format!("periscope-test-web-timeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let app = App::with_history(&data);
    wait_until("the probe to register", Duration::from_secs(30), || {
        let probes = app.get_json("/api/probes")?;
        (!probes.as_array().unwrap().is_empty()).then_some(()).ok_or_else(|| "no probe yet".to_owned())
    })
    .unwrap();
    let dead = TestContainer::run("web-timeline", &[], &["sleep", "300"]).unwrap();
    let node = format!("container:{}", dead.id);
    let wait_for = |kind: &str| {
        wait_until(kind, Duration::from_secs(30), || {
            let kinds = kinds_of(&app, &node)?;
            kinds.iter().any(|k| k == kind).then_some(()).ok_or_else(|| format!("{kinds:?}"))
        })
        .unwrap()
    };
    wait_for("container_started");
    dead.stop().unwrap();
    wait_for("container_died");
    docker(&["rm", &dead.id]).unwrap();
    wait_for("container_removed");

    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let output = Command::new("node")
        .args(["--test", "--test-concurrency=1", "e2e/timeline.test.mjs"])
        .current_dir(&web)
        .env("PERISCOPE_URL", format!("http://{}/", app.address))
        .env("PERISCOPE_E2E_DEAD", &dead.name)
        .output()
        .expect("running node --test e2e/timeline.test.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("# pass 2") && stdout.contains("# fail 0"), "browser test ran too little:\n{stdout}");
    app.stop();
    let _ = std::fs::remove_dir_all(&data);
}
