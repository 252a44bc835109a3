//! Embeds the web UI: uses web/dist when it is built and newer than the UI's
//! sources; otherwise tries `npm ci` (if needed) and `npm run build` in web/;
//! if that cannot work, embeds a small page saying how to build the UI (or
//! the stale build, if there is one). Never fails the build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let web = manifest.join("../web");
    let dist = web.join("dist");

    for watched in ["src", "dist", "index.html", "package.json", "package-lock.json", "vite.config.ts"] {
        println!("cargo:rerun-if-changed={}", web.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=PERISCOPE_SKIP_UI_BUILD");

    let stale = match modified(&dist.join("index.html")) {
        None => true,
        Some(built) => newest(&web, &["src", "index.html", "package.json", "package-lock.json", "vite.config.ts"])
            .is_some_and(|source| source > built),
    };
    if stale && std::env::var_os("PERISCOPE_SKIP_UI_BUILD").is_none() {
        if let Err(reason) = build_ui(&web) {
            println!("cargo:warning=web UI not built ({reason}); embedding a placeholder page");
        }
    }

    let folder = if dist.join("index.html").exists() {
        dist
    } else {
        let placeholder = out.join("ui-placeholder");
        std::fs::create_dir_all(&placeholder).expect("OUT_DIR is writable");
        std::fs::write(placeholder.join("index.html"), PLACEHOLDER).expect("OUT_DIR is writable");
        placeholder
    };
    println!("cargo:rustc-env=PERISCOPE_UI_DIR={}", folder.display());
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|metadata| metadata.modified()).ok()
}

/// The newest modification time under these entries of `root` (files and folders, recursively).
fn newest(root: &Path, entries: &[&str]) -> Option<std::time::SystemTime> {
    fn walk(path: &Path, newest: &mut Option<std::time::SystemTime>) {
        if let Some(time) = modified(path) {
            *newest = (*newest).max(Some(time));
        }
        if let Ok(children) = std::fs::read_dir(path) {
            for child in children.flatten() {
                walk(&child.path(), newest);
            }
        }
    }
    let mut found = None;
    for entry in entries {
        walk(&root.join(entry), &mut found);
    }
    found
}

fn build_ui(web: &Path) -> Result<(), String> {
    if !web.join("package.json").exists() || !web.join("index.html").exists() {
        return Err("web/ has no package.json or index.html".into());
    }
    let npm_works = Command::new("npm").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    if !npm_works {
        return Err("npm is not installed".into());
    }
    if !web.join("node_modules").exists() {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(web))?;
    }
    run(Command::new("npm").args(["run", "build"]).current_dir(web))
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|error| format!("{command:?}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
        Err(format!("{command:?} failed: {last}"))
    }
}

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Periscope</title></head>
<body id="periscope-ui-placeholder" style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Periscope</h1>
<p>The app is running, but its web UI was not built into this binary.</p>
<p>Build it with <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>, then rebuild the app
(<code>cargo build --release</code>): the UI in <code>web/dist</code> is embedded at build time.</p>
<p>The API works meanwhile: <a href="api/topology">/api/topology</a>,
<a href="api/openapi.json">/api/openapi.json</a>, <a href="metrics">/metrics</a>.</p>
</body></html>
"#;
