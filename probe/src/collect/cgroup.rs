//! Control groups: which container a process belongs to, and each
//! container's CPU, memory and network I/O read from cgroup files.
//!
//! Reading the files costs about a millisecond for twenty containers where
//! Docker's stats API costs most of a second, so stats come from here, for
//! cgroup v1 (a hierarchy per controller) and v2 (one unified hierarchy)
//! alike. A container's cgroup is found from its main process's
//! /proc/<pid>/cgroup, whatever the cgroup driver named it. procfs parses
//! that file and /proc/self/mountinfo (both read once per process or once
//! at start); the stat files read every tick are held open and parsed here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use periscope_report::{ContainerId, ContainerState, ContainerStats};
use procfs::process::MountInfos;
use procfs::{FromRead, ProcessCGroups};

use crate::collect::{Collector, Pass};
use crate::sys::held::{read_small, Held};
use crate::sys::proc_root::ProcRoot;

/// Where a process sits in each hierarchy, from /proc/<pid>/cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupPaths {
    /// (controllers, path) per v1 hierarchy.
    pub v1: Vec<(Vec<String>, String)>,
    /// The `0::` line: the v2 path.
    pub unified: Option<String>,
}

impl CgroupPaths {
    /// The container this process belongs to, from the first cgroup path naming one.
    pub fn container_id(&self) -> Option<ContainerId> {
        self.unified
            .iter()
            .map(String::as_str)
            .chain(self.v1.iter().map(|(_, path)| path.as_str()))
            .find_map(container_id_in_path)
            .map(ContainerId::new)
    }

    fn v1_path(&self, controller: &str) -> Option<&str> {
        self.v1
            .iter()
            .find(|(controllers, _)| controllers.iter().any(|c| c == controller))
            .map(|(_, path)| path.as_str())
    }
}

impl From<ProcessCGroups> for CgroupPaths {
    fn from(groups: ProcessCGroups) -> CgroupPaths {
        let mut paths = CgroupPaths::default();
        for group in groups {
            if group.controllers.is_empty() {
                paths.unified = Some(group.pathname);
            } else {
                paths.v1.push((group.controllers, group.pathname));
            }
        }
        paths
    }
}

/// /proc/<pid>/cgroup of one process; `None` when it is gone or the file is malformed.
pub fn read_proc_cgroup(path: &Path) -> Option<CgroupPaths> {
    ProcessCGroups::from_file(path).ok().map(CgroupPaths::from)
}

/// The last path component that is a 64-hex container ID, once stripped of
/// the runtime's decorations: `/docker/<id>`, `/system.slice/docker-<id>.scope`,
/// `/kubepods/…/cri-containerd-<id>.scope`, `crio-<id>`, `libpod-<id>`.
pub fn container_id_in_path(path: &str) -> Option<&str> {
    path.split('/').rev().find_map(|component| {
        let component = component.strip_suffix(".scope").unwrap_or(component);
        let id = ["docker-", "cri-containerd-", "crio-", "libpod-"]
            .iter()
            .find_map(|prefix| component.strip_prefix(prefix))
            .unwrap_or(component);
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
    })
}

/// Mount points of the hierarchies, from /proc/self/mountinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMounts {
    /// (super-block options holding the controllers, mount point) per v1 hierarchy.
    pub v1: Vec<(Vec<String>, PathBuf)>,
    pub unified: Option<PathBuf>,
}

impl CgroupMounts {
    fn v1_mount(&self, controller: &str) -> Option<&PathBuf> {
        self.v1.iter().find(|(options, _)| options.iter().any(|o| o == controller)).map(|(_, mount)| mount)
    }
}

impl From<MountInfos> for CgroupMounts {
    fn from(mounts: MountInfos) -> CgroupMounts {
        let mut found = CgroupMounts::default();
        for mount in mounts {
            // procfs leaves the kernel's octal escapes in the mount point.
            let mount_point = PathBuf::from(unescape_mount(&mount.mount_point.to_string_lossy()));
            match mount.fs_type.as_str() {
                "cgroup2" => found.unified = Some(mount_point),
                "cgroup" => found.v1.push((mount.super_options.into_keys().collect(), mount_point)),
                _ => {}
            }
        }
        found
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mount(text: &str) -> String {
    text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// Sum of received and sent bytes over every interface but loopback, from /proc/<pid>/net/dev.
pub fn parse_net_dev(text: &str) -> (u64, u64) {
    let mut totals = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else { continue };
        if name.trim() == "lo" {
            continue;
        }
        let mut counters = counters.split_ascii_whitespace().map(|c| c.parse::<u64>().ok());
        if let (Some(Some(rx)), Some(Some(tx))) = (counters.next(), counters.nth(7)) {
            totals.0 = totals.0.saturating_add(rx);
            totals.1 = totals.1.saturating_add(tx);
        }
    }
    totals
}

/// `usage_usec` from a v2 `cpu.stat`.
pub fn parse_cpu_stat_usage_usec(text: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix("usage_usec ")).and_then(|value| value.trim().parse().ok())
}

/// A memory limit file: `max` (v2) or a value near 2^63 (v1) means none.
pub fn parse_memory_limit(text: &str) -> Option<u64> {
    let value: u64 = text.trim().parse().ok()?;
    (value < 1 << 62).then_some(value)
}

struct CpuSample {
    usage_ns: u64,
    at: Instant,
}

/// Limits change only on `docker update`: read them this often, not every tick.
const LIMIT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Fills `stats` of every running container from its cgroup files.
pub struct CgroupCollector {
    proc: ProcRoot,
    mounts: CgroupMounts,
    last_cpu: HashMap<ContainerId, CpuSample>,
    limits: HashMap<ContainerId, (Option<u64>, Instant)>,
    files: HashMap<ContainerId, ContainerFiles>,
    buffer: Vec<u8>,
}

/// The files read each tick for one container, held open.
#[derive(Default)]
struct ContainerFiles {
    cpu: Held,
    memory: Held,
    net_dev: Held,
}

impl CgroupCollector {
    /// Finds the hierarchies from the probe's own mountinfo under `proc`.
    pub fn new(proc: ProcRoot) -> CgroupCollector {
        let mounts = MountInfos::from_file(proc.file("self/mountinfo")).map(CgroupMounts::from).unwrap_or_default();
        CgroupCollector {
            proc,
            mounts,
            last_cpu: HashMap::new(),
            limits: HashMap::new(),
            files: HashMap::new(),
            buffer: Vec::with_capacity(4096),
        }
    }

    fn read_stats(&mut self, id: &ContainerId, main_pid: u32, paths: &CgroupPaths, now: Instant) -> ContainerStats {
        let files = self.files.entry(id.clone()).or_default();
        let proc = &self.proc;
        let buffer = &mut self.buffer;
        // Paths are built only when a file is not held open yet (the first
        // read, or after it failed): joining them is most of the work otherwise.
        let (usage_ns, memory_bytes, memory_limit_bytes) = match (&self.mounts.unified, &paths.unified) {
            (Some(mount), Some(path)) if self.mounts.v1_mount("memory").is_none() => {
                let dir = || mount.join(path.trim_start_matches('/'));
                let usage = read_parsed(
                    &mut files.cpu,
                    buffer,
                    || Some(dir().join("cpu.stat")),
                    |text| parse_cpu_stat_usage_usec(text).map(|usec| usec.saturating_mul(1000)),
                );
                let memory =
                    read_parsed(&mut files.memory, buffer, || Some(dir().join("memory.current")), parse_number);
                let limit = cached_limit(&mut self.limits, id, now, || {
                    read_small(dir().join("memory.max")).and_then(|t| parse_memory_limit(&t))
                });
                (usage, memory, limit)
            }
            _ => {
                let mounts = &self.mounts;
                let dir = |controller: &str| {
                    let mount = mounts.v1_mount(controller)?;
                    Some(mount.join(paths.v1_path(controller)?.trim_start_matches('/')))
                };
                let usage =
                    read_parsed(&mut files.cpu, buffer, || Some(dir("cpuacct")?.join("cpuacct.usage")), parse_number);
                let memory = read_parsed(
                    &mut files.memory,
                    buffer,
                    || Some(dir("memory")?.join("memory.usage_in_bytes")),
                    parse_number,
                );
                let limit = cached_limit(&mut self.limits, id, now, || {
                    dir("memory")
                        .and_then(|d| read_small(d.join("memory.limit_in_bytes")))
                        .and_then(|text| parse_memory_limit(&text))
                });
                (usage, memory, limit)
            }
        };
        let (network_rx_bytes, network_tx_bytes) = read_parsed(
            &mut files.net_dev,
            buffer,
            || Some(proc.pid_file(main_pid, "net/dev")),
            |text| Some(parse_net_dev(text)),
        )
        .unwrap_or((0, 0));
        let cpu_percent = match (usage_ns, self.last_cpu.get(id)) {
            (Some(usage), Some(last)) if usage >= last.usage_ns => {
                let elapsed = now.duration_since(last.at).as_nanos() as f64;
                if elapsed > 0.0 {
                    (usage - last.usage_ns) as f64 / elapsed * 100.0
                } else {
                    0.0
                }
            }
            _ => 0.0,
        };
        if let Some(usage_ns) = usage_ns {
            self.last_cpu.insert(id.clone(), CpuSample { usage_ns, at: now });
        }
        ContainerStats {
            cpu_percent: round_percent(cpu_percent),
            memory_bytes: memory_bytes.unwrap_or(0),
            memory_limit_bytes,
            network_rx_bytes,
            network_tx_bytes,
        }
    }
}

/// Reads a held file and parses it where it lies; `None` when there is no path, no file or no value.
fn read_parsed<T>(
    held: &mut Held,
    buffer: &mut Vec<u8>,
    path: impl FnOnce() -> Option<PathBuf>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Option<T> {
    parse(held.read_text(|| path().unwrap_or_default(), buffer)?)
}

fn parse_number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

impl Default for CgroupCollector {
    fn default() -> Self {
        CgroupCollector::new(ProcRoot::default())
    }
}

fn cached_limit(
    limits: &mut HashMap<ContainerId, (Option<u64>, Instant)>,
    id: &ContainerId,
    now: Instant,
    read: impl FnOnce() -> Option<u64>,
) -> Option<u64> {
    match limits.get(id) {
        Some((limit, at)) if now.duration_since(*at) < LIMIT_EVERY => *limit,
        _ => {
            let limit = read();
            limits.insert(id.clone(), (limit, now));
            limit
        }
    }
}

/// One decimal is all a person reads, and it keeps deltas small.
pub fn round_percent(percent: f64) -> f64 {
    (percent * 10.0).round() / 10.0
}

impl Collector for CgroupCollector {
    fn name(&self) -> &'static str {
        "cgroup"
    }

    fn collect(&mut self, pass: &mut Pass<'_>) {
        let running: Vec<(ContainerId, u32)> = pass
            .report
            .containers
            .iter()
            .filter(|c| matches!(c.state, ContainerState::Running | ContainerState::Paused))
            .filter_map(|c| Some((c.id.clone(), c.main_pid?)))
            .collect();
        self.last_cpu.retain(|id, _| running.iter().any(|(running, _)| running == id));
        self.limits.retain(|id, _| running.iter().any(|(running, _)| running == id));
        self.files.retain(|id, _| running.iter().any(|(running, _)| running == id));
        for (id, main_pid) in running {
            let Some(paths) = pass.processes.iter().find(|p| p.pid == main_pid).and_then(|p| p.cgroup.clone()) else {
                continue;
            };
            let stats = self.read_stats(&id, main_pid, &paths, pass.now);
            if let Some(container) = pass.report.containers.get_mut(&id) {
                container.stats = Some(stats);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn check_container(path: &str, expected: Option<&str>) {
        assert_eq!(container_id_in_path(path), expected, "{path}");
    }

    #[test]
    fn container_ids_in_paths() {
        let id = "3f2a".repeat(16);
        check_container(&format!("/docker/{id}"), Some(&id));
        check_container(&format!("/system.slice/docker-{id}.scope"), Some(&id));
        check_container(&format!("/kubepods/besteffort/pod1/cri-containerd-{id}.scope"), Some(&id));
        check_container(&format!("/machine.slice/libpod-{id}.scope/container"), Some(&id));
        check_container("/user.slice/user-1000.slice/session-2.scope", None);
        check_container("/", None);
        check_container(&format!("/docker/{}", &id[..63]), None);
    }

    #[test]
    fn proc_cgroup_v1_docker() {
        let paths = CgroupPaths::from(ProcessCGroups::from_read(testdata("proc_cgroup_v1.txt").as_bytes()).unwrap());
        let id = "9d1ee4e7c0b5a0d9a7d86d1c3c5e6bd7b0f5f4a7a9d1f0c4f3b2a19e8d7c6b5a";
        assert_eq!(paths.container_id(), Some(ContainerId::new(id)));
        assert_eq!(paths.v1_path("cpuacct"), Some(format!("/docker/{id}").as_str()));
        assert_eq!(paths.unified.as_deref(), Some("/"));
    }

    #[test]
    fn proc_cgroup_v2_systemd() {
        let paths = CgroupPaths::from(ProcessCGroups::from_read(testdata("proc_cgroup_v2.txt").as_bytes()).unwrap());
        assert!(paths.v1.is_empty());
        assert_eq!(paths.container_id().map(|id| id.to_string()), Some("ab".repeat(32)));
    }

    #[test]
    fn mountinfo_v1_and_v2() {
        let mounts = CgroupMounts::from(MountInfos::from_read(testdata("mountinfo_v1.txt").as_bytes()).unwrap());
        assert_eq!(mounts.v1_mount("cpuacct"), Some(&PathBuf::from("/sys/fs/cgroup/cpuacct")));
        assert_eq!(mounts.v1_mount("memory"), Some(&PathBuf::from("/sys/fs/cgroup/memory")));
        // Hybrid: a v2 hierarchy without controllers beside the v1 ones.
        assert_eq!(mounts.unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        let mounts = CgroupMounts::from(MountInfos::from_read(testdata("mountinfo_v2.txt").as_bytes()).unwrap());
        assert!(mounts.v1.is_empty());
        assert_eq!(mounts.unified, Some(PathBuf::from("/sys/fs/cgroup")));
    }

    #[test]
    fn net_dev_skips_loopback() {
        assert_eq!(parse_net_dev(&testdata("proc_net_dev.txt")), (1_000_000 + 42, 2_000_000 + 7));
    }

    #[test]
    fn v2_files() {
        assert_eq!(parse_cpu_stat_usage_usec("usage_usec 12345\nuser_usec 1\n"), Some(12345));
        assert_eq!(parse_cpu_stat_usage_usec("nothing"), None);
        assert_eq!(parse_memory_limit("max\n"), None);
        assert_eq!(parse_memory_limit("9223372036854771712\n"), None);
        assert_eq!(parse_memory_limit("536870912\n"), Some(536870912));
    }
}
