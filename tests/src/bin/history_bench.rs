//! `history-bench`: what history costs on disk with a real probe. Starts the
//! probe bench's workload (`--containers` busybox containers: half `httpd`
//! servers, half `wget` clients looping every 0.2 s, plus one container of
//! 200 idle processes), runs the release `periscope` (app and built-in
//! probe, history on in a fresh data folder) for `--minutes`, stops it with
//! SIGTERM, and prints what the store holds per hour
//! (`periscope-render-bench --history-stats`). Everything else on the host
//! counts too, as it would for a user: run it on a quiet machine.
//!
//! Every container is named `periscope-test-history-…` and removed
//! afterwards; traffic stays on loopback and the bench's containers.
//!
//! Run: `cargo build --release -p periscope -p periscope-tests --bins &&
//! target/release/history-bench --minutes 12`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use periscope_tests::bench::{free_port, http_get, start_workload, wait_for, Cleanup, Running};
use periscope_tests::docker::ensure_image;

const PREFIX: &str = "periscope-test-history-";

struct Args {
    minutes: u64,
    containers: usize,
    bin: PathBuf,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        minutes: 12,
        containers: 20,
        bin: std::env::current_exe()?.parent().context("the bench's folder")?.to_path_buf(),
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--minutes" => args.minutes = value()?.parse()?,
            "--containers" => args.containers = value()?.parse()?,
            "--bin" => args.bin = value()?.into(),
            other => bail!("unknown flag {other} (--minutes 12 --containers 20 --bin DIR)"),
        }
    }
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    ensure_image()?;
    let _cleanup = Cleanup::new(PREFIX);
    start_workload(PREFIX, args.containers, |_| "0.2")?;
    let data = std::env::temp_dir().join(format!("periscope-history-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;

    let address = free_port()?;
    let app = Running::spawn(
        Command::new(args.bin.join("periscope"))
            .args(["--listen", &address.to_string(), "--data-dir"])
            .arg(&data)
            .env_remove("PERISCOPE_TOKEN")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .context("starting the app (build it with --release)")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let wanted = format!("{PREFIX}idle");
    runtime.block_on(wait_for("the workload in the view", Duration::from_secs(60), || {
        http_get(address, "/api/topology/containers", "").ok().filter(|body| body.contains(&wanted))
    }))?;
    eprintln!(
        "== recording history of {} containers for {} min into {}",
        args.containers,
        args.minutes,
        data.display()
    );
    std::thread::sleep(Duration::from_secs(args.minutes * 60));
    // SIGTERM: the app closes the store as it would on a normal stop.
    app.stop(Duration::from_secs(30));

    let status = Command::new(args.bin.join("periscope-render-bench"))
        .arg("--history-stats")
        .arg(&data)
        .status()
        .context("running periscope-render-bench --history-stats")?;
    let _ = std::fs::remove_dir_all(&data);
    if !status.success() {
        bail!("reading the store failed");
    }
    Ok(())
}
