//! House rules checked by `cargo test`, in the manner of rust-analyzer's tidy:
//! every Rust module opens with a `//!` doc, no trailing whitespace, and no
//! `#[ignore]` or `#[should_panic]` to hide a failing test.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && name != "node_modules" && name != "testdata" {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") && name != "build.rs" {
            files.push(path);
        }
    }
}

#[test]
fn rust_sources_follow_house_rules() {
    let root = workspace_root();
    let mut files = Vec::new();
    for crate_dir in ["report", "probe", "app", "tests"] {
        rust_files(&root.join(crate_dir), &mut files);
    }
    assert!(files.len() > 10, "found only {} Rust files under {}", files.len(), root.display());
    // Spelled in two halves so this file does not trip its own check.
    let banned = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let shown = file.strip_prefix(&root).unwrap_or(file).display().to_string();
        if !text.trim_start().starts_with("//!") {
            problems.push(format!("{shown}: does not open with a //! module doc"));
        }
        for (number, line) in text.lines().enumerate() {
            if line.ends_with(' ') || line.ends_with('\t') {
                problems.push(format!("{shown}:{}: trailing whitespace", number + 1));
            }
            if banned.iter().any(|attribute| line.trim_start().starts_with(attribute)) {
                problems.push(format!("{shown}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(problems.is_empty(), "house rules broken:\n{}", problems.join("\n"));
}

/// The README's run command is a bare `cargo run --release` at the root, which
/// only works while the app names its default binary (it has a bench binary too).
#[test]
fn cargo_run_at_the_root_starts_the_app() {
    let root = workspace_root();
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(workspace.contains("default-members = [\"app\"]"), "the root's default member must be app/");
    let app = std::fs::read_to_string(root.join("app/Cargo.toml")).unwrap();
    assert!(app.contains("default-run = \"periscope\""), "app/Cargo.toml needs default-run = \"periscope\"");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let first_lines: Vec<&str> = readme.lines().take(6).collect();
    assert!(first_lines.iter().any(|l| l.ends_with("`cargo run --release`")), "README run command moved");
    assert!(first_lines.iter().any(|l| l.contains("`cargo test --workspace`")), "README test command moved");
}
