//! The real Docker engine, through the `docker` CLI.
//!
//! The CLI keeps this crate free of an async runtime and shows in test logs
//! exactly what ran.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use anyhow::{bail, Context};

/// Every container a test starts carries this prefix, so a stale one is easy to find and remove.
pub const PREFIX: &str = "periscope-test-";

/// Built from Debian's busybox-static: sh, httpd, wget, nc, sleep and friends.
pub const IMAGE: &str = "periscope-test-busybox:latest";

const BUSYBOX: &str = "/bin/busybox";

/// Runs `docker` with `args`, returning trimmed stdout or an error with stderr.
pub fn docker(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("docker").args(args).output().context("running the docker CLI")?;
    if !output.status.success() {
        bail!("docker {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Imports the busybox test image unless it exists; once per process, and
/// harmless when two test processes race (both import the same tag).
pub fn ensure_image() -> anyhow::Result<()> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT.get_or_init(|| build_image().map_err(|error| format!("{error:#}"))).clone().map_err(anyhow::Error::msg)
}

fn build_image() -> anyhow::Result<()> {
    if docker(&["image", "inspect", "--format", "{{.Id}}", IMAGE]).is_ok() {
        return Ok(());
    }
    if !Path::new(BUSYBOX).exists() {
        bail!("{BUSYBOX} is missing: install Debian's busybox-static");
    }
    let root = std::env::temp_dir().join(format!("periscope-busybox-rootfs-{}", std::process::id()));
    let result = import_rootfs(&root);
    // Best effort: a leftover temp dir is harmless and the import result matters more.
    let _ = std::fs::remove_dir_all(&root);
    result
}

fn import_rootfs(root: &Path) -> anyhow::Result<()> {
    for dir in ["bin", "etc", "tmp", "proc", "sys", "dev", "www", "root"] {
        std::fs::create_dir_all(root.join(dir)).with_context(|| format!("creating {}", root.join(dir).display()))?;
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).context("copying busybox")?;
    let applets = Command::new(BUSYBOX).arg("--list").output().context("listing busybox applets")?;
    for applet in String::from_utf8_lossy(&applets.stdout).lines().filter(|a| !a.is_empty() && *a != "busybox") {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
            .with_context(|| format!("linking applet {applet}"))?;
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    std::fs::write(root.join("www/index.html"), "periscope test page\n")?;
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C '{}' -c . | docker import --change 'ENV PATH=/bin' --change 'CMD [\"/bin/sh\"]' - {IMAGE} >/dev/null",
            root.display()
        ))
        .status()
        .context("running tar | docker import")?;
    if !status.success() {
        bail!("docker import of the busybox rootfs failed ({status})");
    }
    Ok(())
}

/// A running test container, removed (with `docker rm -f`) when dropped.
#[derive(Debug)]
pub struct TestContainer {
    pub name: String,
    pub id: String,
}

impl TestContainer {
    /// Starts `IMAGE` detached as `periscope-test-{label}-{pid}-{n}` with
    /// extra `docker run` options, then the command.
    pub fn run(label: &str, options: &[&str], command: &[&str]) -> anyhow::Result<TestContainer> {
        ensure_image()?;
        let name = unique_name(label);
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(options);
        args.push(IMAGE);
        args.extend_from_slice(command);
        let id = docker(&args)?;
        Ok(TestContainer { name, id })
    }

    /// The container's address on the default bridge.
    pub fn ip(&self) -> anyhow::Result<String> {
        let ip = docker(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", &self.id])?;
        if ip.is_empty() {
            bail!("container {} has no bridge IP", self.name);
        }
        Ok(ip)
    }

    /// The container's main process as the host sees it.
    pub fn pid(&self) -> anyhow::Result<u32> {
        let pid = docker(&["inspect", "--format", "{{.State.Pid}}", &self.id])?;
        pid.parse().with_context(|| format!("parsing pid {pid:?} of {}", self.name))
    }

    pub fn stop(&self) -> anyhow::Result<()> {
        docker(&["stop", "-t", "1", &self.id]).map(drop)
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        // Nothing useful to do if removal fails while a test is already unwinding.
        let _ = docker(&["rm", "-f", "-v", &self.id]);
    }
}

/// `periscope-test-{label}-{pid}-{n}`: unique across test processes and within one.
pub fn unique_name(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("{PREFIX}{label}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}
