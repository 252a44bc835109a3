//! The probe's container image, built as README.md ("Run on your hosts")
//! says: a static musl `periscope-probe` (profile `image`) copied onto
//! `scratch` by `deploy/probe.Dockerfile`, so nothing is pulled.
//!
//! Built once per test process, always from the current source (cargo
//! makes that a no-op when nothing changed); the tag carries the test
//! prefix so it is never mistaken for a deployed image.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context};

use crate::docker::docker;

/// The tag the tests give the probe image.
pub const PROBE_IMAGE: &str = "periscope-test-probe:latest";

/// The musl target the images are built for.
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// The workspace root (where the Dockerfiles' paths start).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds the probe binary and image unless done already in this process; the image's tag.
pub fn ensure_probe_image() -> anyhow::Result<&'static str> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build_probe_image().map_err(|error| format!("{error:#}")))
        .clone()
        .map_err(anyhow::Error::msg)?;
    Ok(PROBE_IMAGE)
}

fn build_probe_image() -> anyhow::Result<()> {
    let root = workspace_root();
    // Cargo sets CARGO for the tests it runs; a plain `cargo` otherwise.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--profile",
            "image",
            "--target",
            MUSL_TARGET,
            "-p",
            "periscope-probe",
            "--bin",
            "periscope-probe",
        ])
        .current_dir(&root)
        .status()
        .context("running cargo build for the musl probe")?;
    if !status.success() {
        bail!(
            "cargo build --target {MUSL_TARGET} failed ({status}): it needs `rustup target add {MUSL_TARGET}` and musl-tools"
        );
    }
    let dockerfile = root.join("deploy/probe.Dockerfile");
    let root_text = root.to_string_lossy();
    docker(&["build", "-q", "-f", &dockerfile.to_string_lossy(), "-t", PROBE_IMAGE, &root_text])
        .context("building the probe image")?;
    Ok(())
}

/// The image's size in bytes, as `docker image inspect` gives it.
pub fn image_size(tag: &str) -> anyhow::Result<u64> {
    let size = docker(&["image", "inspect", "--format", "{{.Size}}", tag])?;
    size.parse().with_context(|| format!("parsing the size {size:?} of {tag}"))
}
