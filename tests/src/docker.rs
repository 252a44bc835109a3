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

    /// The container's address on `network` (a user-defined one).
    pub fn ip_on(&self, network: &TestNetwork) -> anyhow::Result<String> {
        let format = format!("{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}", network.name);
        let ip = docker(&["inspect", "--format", &format, &self.id])?;
        if ip.is_empty() {
            bail!("container {} has no address on {}", self.name, network.name);
        }
        Ok(ip)
    }

    /// The inode of the container's network namespace (`net:[inode]`), as the probe tags it.
    pub fn netns(&self) -> anyhow::Result<u64> {
        let link = std::fs::read_link(format!("/proc/{}/ns/net", self.pid()?))?;
        let text = link.to_string_lossy();
        text.strip_prefix("net:[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|inode| inode.parse().ok())
            .with_context(|| format!("parsing the netns link {text}"))
    }

    /// Runs `command` inside the container's network namespace with the host's tools
    /// (`ip`, `iptables`): busybox has neither. Its effects go with the namespace.
    pub fn in_netns(&self, command: &[&str]) -> anyhow::Result<()> {
        let pid = self.pid()?.to_string();
        let output = Command::new("nsenter").args(["-t", &pid, "-n"]).args(command).output().context("nsenter")?;
        if !output.status.success() {
            bail!("{} in {}: {}", command.join(" "), self.name, String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
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

/// A user-defined Docker network `periscope-test-{label}-{pid}-{n}`, removed when dropped
/// (after the containers on it, which must be dropped first).
#[derive(Debug)]
pub struct TestNetwork {
    pub name: String,
    /// The host's veth pair a macvlan network hangs from, deleted after the network.
    parent: Option<String>,
}

impl TestNetwork {
    /// A /24 for this test process in `10.{second}.x.0`: Docker refuses overlapping subnets,
    /// and test processes run in parallel.
    pub fn subnet(second: u8) -> String {
        format!("10.{second}.{}.0/24", std::process::id() % 250)
    }

    /// A bridge network on `subnet` (distinct per test: Docker refuses overlaps).
    pub fn bridge(label: &str, subnet: &str) -> anyhow::Result<TestNetwork> {
        let name = unique_name(label);
        docker(&["network", "create", "--driver", "bridge", "--subnet", subnet, &name])?;
        Ok(TestNetwork { name, parent: None })
    }

    /// A macvlan network on `subnet`, its parent a fresh veth pair on the host: containers
    /// on it talk through the macvlan driver, never through the host's netfilter.
    pub fn macvlan(label: &str, subnet: &str) -> anyhow::Result<TestNetwork> {
        // Interface names hold 15 bytes: `ptmv` + the test process + a counter.
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let parent = format!("ptmv{}x{}", std::process::id() % 1_000_000, COUNTER.fetch_add(1, Ordering::Relaxed));
        let peer = format!("{parent}p");
        let ip = |args: &[&str]| -> anyhow::Result<()> {
            let status = Command::new("ip").args(args).status().context("running ip")?;
            if !status.success() {
                bail!("ip {} failed: {status}", args.join(" "));
            }
            Ok(())
        };
        ip(&["link", "add", &parent, "type", "veth", "peer", "name", &peer])?;
        let mut network = TestNetwork { name: String::new(), parent: Some(parent.clone()) };
        ip(&["link", "set", &parent, "up"])?;
        ip(&["link", "set", &peer, "up"])?;
        let name = unique_name(label);
        let option = format!("parent={parent}");
        docker(&["network", "create", "--driver", "macvlan", "--subnet", subnet, "-o", &option, &name])?;
        network.name = name;
        Ok(network)
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        // Nothing useful to do if removal fails while a test is already unwinding.
        if !self.name.is_empty() {
            let _ = docker(&["network", "rm", &self.name]);
        }
        if let Some(parent) = &self.parent {
            let _ = Command::new("ip").args(["link", "del", parent]).status();
        }
    }
}
