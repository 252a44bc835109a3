//! The host itself: identity, OS, load, CPU, memory and interfaces.
//!
//! The host ID is /etc/machine-id (stable across reboots) unless overridden.
//! Facts that rarely change come from sysinfo: the OS, kernel and CPU model
//! once at start, and the interfaces (the probe's own network namespace)
//! every [`INTERFACES_EVERY`] or when Docker reports a change (at most every
//! [`INTERFACES_AT_MOST`]: sysinfo reads each interface's statistics too,
//! milliseconds with dozens of veths, and a busy engine sends many events); IPv6
//! link-local addresses are left out (every container's veth has one and they
//! name no routable network). What moves every tick (CPU share, memory,
//! load, uptime) is read from files held open and parsed in place: sysinfo
//! re-opens and re-reads more per refresh, and BENCHMARKS.md ("Host facts:
//! sysinfo or held files") has the measurement that keeps this path here.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use periscope_report::{Host, HostId, Interface, IpNetwork, Source, SourceState, SourceStatus};

use sysinfo::{CpuRefreshKind, Networks, System};

use crate::collect::{Collector, Pass};
use crate::sys::held::{read_small, Held};
use crate::sys::proc_root::ProcRoot;

const INTERFACES_EVERY: Duration = Duration::from_secs(10);
const INTERFACES_AT_MOST: Duration = Duration::from_secs(2);

pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_ascii_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

pub fn parse_uptime(text: &str) -> Option<u64> {
    let seconds: f64 = text.split_ascii_whitespace().next()?.parse().ok()?;
    Some(seconds as u64)
}

/// (busy, total) jiffies from the `cpu` line of /proc/stat.
pub fn parse_cpu_times(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|line| line.starts_with("cpu "))?;
    let values: Vec<u64> = line.split_ascii_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    // Saturating: a corrupt or hostile line must not overflow (found by fuzzing, fuzz/regressions/proc_parsers).
    let total = values.iter().take(8).fold(0u64, |sum, value| sum.saturating_add(*value));
    let idle = values.get(3)?.saturating_add(values.get(4).copied().unwrap_or(0));
    Some((total.saturating_sub(idle), total))
}

/// (used, total) bytes: used is total minus MemAvailable.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib.saturating_mul(1024))
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:").or_else(|| field("MemFree:"))?;
    Some((total.saturating_sub(available), total))
}

/// The machine ID, or `None` when neither file exists.
pub fn machine_id() -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .filter_map(read_small)
        .map(|text| text.trim().to_owned())
        .find(|id| !id.is_empty())
}

pub fn hostname(proc: &ProcRoot) -> String {
    read_small(proc.file("sys/kernel/hostname")).map(|h| h.trim().to_owned()).unwrap_or_else(|| "unknown".into())
}

pub struct HostCollector {
    id: HostId,
    proc: ProcRoot,
    os: String,
    kernel: String,
    cpu_count: u32,
    cpu_model: String,
    last_cpu: Option<(u64, u64)>,
    interfaces: Vec<Interface>,
    interfaces_at: Option<Instant>,
    /// Docker reported a change: read the interfaces again as soon as [`INTERFACES_AT_MOST`] allows.
    interfaces_stale: bool,
    files: [Held; 5],
    buffer: Vec<u8>,
}

/// Read every tick under the proc root, held open: stat, meminfo, uptime, loadavg, hostname.
const TICK_FILES: [&str; 5] = ["stat", "meminfo", "uptime", "loadavg", "sys/kernel/hostname"];

impl HostCollector {
    pub fn new(id: HostId, proc: ProcRoot) -> HostCollector {
        let facts = StaticFacts::read();
        HostCollector {
            id,
            proc,
            os: facts.os,
            kernel: facts.kernel,
            cpu_count: facts.cpu_count,
            cpu_model: facts.cpu_model,
            last_cpu: None,
            interfaces: Vec::new(),
            interfaces_at: None,
            interfaces_stale: false,
            files: Default::default(),
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Forces the next pass to re-read interfaces (a container started or stopped).
    pub fn refresh_interfaces(&mut self) {
        self.interfaces_stale = true;
    }
}

impl Collector for HostCollector {
    fn name(&self) -> &'static str {
        "host"
    }

    fn collect(&mut self, pass: &mut Pass<'_>) {
        let now = pass.now;
        let due = |at: Instant| {
            let since = now.duration_since(at);
            since >= INTERFACES_EVERY || (self.interfaces_stale && since >= INTERFACES_AT_MOST)
        };
        if self.interfaces_at.is_none_or(due) {
            self.interfaces_stale = false;
            self.interfaces = interfaces();
            self.interfaces_at = Some(now);
        }
        // One buffer for all five files, each parsed where it lies: /proc/stat
        // is kilobytes (a counter per interrupt), and copying it out each tick
        // was a large allocation that made malloc consolidate its free lists.
        let [stat, meminfo, uptime, loadavg, hostname] = &mut self.files;
        let buffer = &mut self.buffer;
        let proc = &self.proc;
        let cpu = stat.read_text(|| proc.file(TICK_FILES[0]), buffer).and_then(parse_cpu_times);
        let meminfo = meminfo.read_text(|| proc.file(TICK_FILES[1]), buffer).and_then(parse_meminfo);
        let uptime = uptime.read_text(|| proc.file(TICK_FILES[2]), buffer).and_then(parse_uptime);
        let loadavg = loadavg.read_text(|| proc.file(TICK_FILES[3]), buffer).and_then(parse_loadavg);
        let hostname = hostname
            .read_text(|| proc.file(TICK_FILES[4]), buffer)
            .map(|text| text.trim().to_owned())
            .unwrap_or_default();
        let cpu_percent = match (cpu, self.last_cpu) {
            (Some((busy, total)), Some((last_busy, last_total))) if total > last_total => {
                busy.saturating_sub(last_busy) as f64 / (total - last_total) as f64 * 100.0
            }
            _ => 0.0,
        };
        if cpu.is_some() {
            self.last_cpu = cpu;
        }
        let (memory_used_bytes, memory_total_bytes) = meminfo.unwrap_or((0, 0));
        pass.report.host = Host {
            id: self.id.clone(),
            hostname: if hostname.is_empty() { "unknown".into() } else { hostname },
            os: self.os.clone(),
            kernel: self.kernel.clone(),
            uptime_secs: uptime.unwrap_or(0),
            load: loadavg.unwrap_or([0.0; 3]),
            cpu_count: self.cpu_count,
            cpu_model: self.cpu_model.clone(),
            cpu_percent: crate::collect::cgroup::round_percent(cpu_percent),
            memory_used_bytes,
            memory_total_bytes,
            interfaces: self.interfaces.clone(),
        };
        pass.sources.push(SourceStatus { source: Source::Host, state: SourceState::Active });
    }
}

/// What is read once, at start.
struct StaticFacts {
    os: String,
    kernel: String,
    cpu_count: u32,
    cpu_model: String,
}

impl StaticFacts {
    fn read() -> StaticFacts {
        let os = match (System::name(), System::os_version()) {
            (Ok(name), Ok(version)) => format!("{name} {version}"),
            (Ok(name), Err(_)) => name,
            _ => "Linux".to_owned(),
        };
        let mut system = System::new().ok();
        if let Some(system) = system.as_mut() {
            system.refresh_cpu_list(CpuRefreshKind::nothing());
        }
        let cpus = system.as_ref().map(|system| system.cpus()).unwrap_or_default();
        StaticFacts {
            os,
            kernel: System::kernel_version().unwrap_or_default(),
            cpu_count: if cpus.is_empty() {
                std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
            } else {
                cpus.len() as u32
            },
            cpu_model: cpus.first().map(|cpu| cpu.brand().trim().to_owned()).unwrap_or_default(),
        }
    }
}

/// Addresses per interface, sorted by name; an empty list when they cannot be read.
fn interfaces() -> Vec<Interface> {
    let Ok(networks) = Networks::new_with_refreshed_list() else { return Vec::new() };
    let mut interfaces: Vec<Interface> = networks
        .iter()
        .map(|(name, data)| Interface {
            name: name.to_string_lossy().into_owned(),
            addresses: data
                .ip_networks()
                .iter()
                .filter(|network| !is_link_local(network.addr))
                .map(|network| IpNetwork { address: network.addr, prefix_len: network.prefix })
                .collect(),
        })
        // sysinfo keeps addresses in a hash set: sort them, or every refresh would be a change.
        .map(|mut interface| {
            interface.addresses.sort();
            interface
        })
        .filter(|interface| !interface.addresses.is_empty())
        .collect();
    interfaces.sort_by(|a, b| a.name.cmp(&b.name));
    interfaces
}

fn is_link_local(address: IpAddr) -> bool {
    matches!(address, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files() {
        assert_eq!(parse_loadavg("1.63 0.99 0.49 5/129 12366\n"), Some([1.63, 0.99, 0.49]));
        assert_eq!(parse_loadavg("1.63"), None);
        assert_eq!(parse_uptime("543.71 611.52\n"), Some(543));
        assert_eq!(parse_cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n"), Some((150, 1000)));
        assert_eq!(parse_cpu_times("intr 1 2"), None);
        assert_eq!(
            parse_meminfo("MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n"),
            Some((600 * 1024, 1000 * 1024))
        );
        assert_eq!(parse_meminfo("garbage"), None);
    }

    /// Against this machine: the facts read at start agree with the kernel's own files.
    #[test]
    fn static_facts_from_sysinfo() {
        let facts = StaticFacts::read();
        let osrelease = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(facts.kernel, osrelease.trim());
        assert_eq!(facts.cpu_count as usize, std::thread::available_parallelism().unwrap().get());
        assert!(!facts.cpu_model.is_empty(), "a CPU model from /proc/cpuinfo");
        assert!(!facts.os.is_empty());
    }

    #[test]
    fn loopback_interface_is_found() {
        let all = interfaces();
        let lo = all.iter().find(|i| i.name == "lo").expect("a loopback interface");
        assert!(lo.addresses.contains(&IpNetwork { address: "127.0.0.1".parse().unwrap(), prefix_len: 8 }));
    }
}
