//! The browser UI's own unit tests (Vitest: search parser, diff application),
//! run from `cargo test` so the README's one test command covers `web/` too.

use std::path::Path;
use std::process::Command;

#[test]
fn web_unit_tests_pass() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    if !web.join("node_modules").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&web)
            .status()
            .expect("running npm ci");
        assert!(status.success(), "npm ci failed in web/");
    }
    let output = Command::new("npm").args(["test", "--silent"]).current_dir(&web).output().expect("running npm test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "vitest failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("passed"), "vitest ran no test:\n{stdout}");
}
