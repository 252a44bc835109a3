//! The host itself: identity, OS, load, CPU, memory and interfaces.
//!
//! The host ID is /etc/machine-id (stable across reboots) unless overridden.
//! Interfaces come from getifaddrs(3) in the probe's own namespace, refreshed
//! every [`INTERFACES_EVERY`]; IPv6 link-local addresses are left out (every
//! container's veth has one and they name no routable network).

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use periscope_report::{Host, HostId, Interface, IpNetwork, Source, SourceState, SourceStatus};

use crate::collect::{read_small, Collector, Held, Pass};

const INTERFACES_EVERY: Duration = Duration::from_secs(10);

/// `PRETTY_NAME` from os-release, unquoted.
pub fn parse_os_release(text: &str) -> Option<String> {
    let value = text.lines().find_map(|line| line.strip_prefix("PRETTY_NAME="))?;
    Some(value.trim().trim_matches('"').trim_matches('\'').to_owned())
}

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
            .map(|kib| kib * 1024)
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

pub fn hostname() -> String {
    read_small("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|| "unknown".into())
}

pub struct HostCollector {
    id: HostId,
    os: String,
    kernel: String,
    cpu_count: u32,
    last_cpu: Option<(u64, u64)>,
    interfaces: Vec<Interface>,
    interfaces_at: Option<Instant>,
    files: [Held; 5],
    buffer: Vec<u8>,
}

/// Read every tick, held open: /proc/stat, meminfo, uptime, loadavg, hostname.
const TICK_FILES: [&str; 5] =
    ["/proc/stat", "/proc/meminfo", "/proc/uptime", "/proc/loadavg", "/proc/sys/kernel/hostname"];

impl HostCollector {
    pub fn new(id: HostId) -> HostCollector {
        HostCollector {
            id,
            os: read_small("/etc/os-release").and_then(|t| parse_os_release(&t)).unwrap_or_else(|| "Linux".into()),
            kernel: read_small("/proc/sys/kernel/osrelease").map(|k| k.trim().to_owned()).unwrap_or_default(),
            cpu_count: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
            last_cpu: None,
            interfaces: Vec::new(),
            interfaces_at: None,
            files: Default::default(),
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Forces the next pass to re-read interfaces (a container started or stopped).
    pub fn refresh_interfaces(&mut self) {
        self.interfaces_at = None;
    }
}

impl Collector for HostCollector {
    fn name(&self) -> &'static str {
        "host"
    }

    fn collect(&mut self, pass: &mut Pass<'_>) {
        let now = pass.now;
        if self.interfaces_at.is_none_or(|at| now.duration_since(at) >= INTERFACES_EVERY) {
            self.interfaces = interfaces();
            self.interfaces_at = Some(now);
        }
        // One buffer for all five files, each parsed where it lies: /proc/stat
        // is kilobytes (a counter per interrupt), and copying it out each tick
        // was a large allocation that made malloc consolidate its free lists.
        let [stat, meminfo, uptime, loadavg, hostname] = &mut self.files;
        let buffer = &mut self.buffer;
        let cpu = stat.read_text(|| TICK_FILES[0].into(), buffer).and_then(parse_cpu_times);
        let meminfo = meminfo.read_text(|| TICK_FILES[1].into(), buffer).and_then(parse_meminfo);
        let uptime = uptime.read_text(|| TICK_FILES[2].into(), buffer).and_then(parse_uptime);
        let loadavg = loadavg.read_text(|| TICK_FILES[3].into(), buffer).and_then(parse_loadavg);
        let hostname =
            hostname.read_text(|| TICK_FILES[4].into(), buffer).map(|text| text.trim().to_owned()).unwrap_or_default();
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
            cpu_percent: crate::collect::cgroup::round_percent(cpu_percent),
            memory_used_bytes,
            memory_total_bytes,
            interfaces: self.interfaces.clone(),
        };
        pass.sources.push(SourceStatus { source: Source::Host, state: SourceState::Active });
    }
}

/// Addresses per interface, from getifaddrs(3); an empty list when it fails.
fn interfaces() -> Vec<Interface> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Vec::new();
    }
    let mut by_name: BTreeMap<String, Vec<IpNetwork>> = BTreeMap::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: `cursor` walks the list getifaddrs returned, which stays valid until freeifaddrs.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(entry.ifa_name) }.to_string_lossy().into_owned();
        // SAFETY: ifa_addr is non-null and points at a sockaddr of the family it names.
        let Some(address) = (unsafe { sockaddr_ip(entry.ifa_addr) }) else { continue };
        // SAFETY: as above, for the netmask (which may be null).
        let prefix_len = unsafe { sockaddr_ip(entry.ifa_netmask) }.map(prefix_of).unwrap_or(0);
        if let IpAddr::V6(v6) = address {
            if v6.segments()[0] & 0xffc0 == 0xfe80 {
                continue;
            }
        }
        by_name.entry(name).or_default().push(IpNetwork { address, prefix_len });
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    by_name.into_iter().map(|(name, addresses)| Interface { name, addresses }).collect()
}

/// # Safety
/// `address` must be null or point at a valid sockaddr of the family it names.
unsafe fn sockaddr_ip(address: *const libc::sockaddr) -> Option<IpAddr> {
    if address.is_null() {
        return None;
    }
    match i32::from((*address).sa_family) {
        libc::AF_INET => {
            let v4 = &*(address as *const libc::sockaddr_in);
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))))
        }
        libc::AF_INET6 => {
            let v6 = &*(address as *const libc::sockaddr_in6);
            Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

fn prefix_of(mask: IpAddr) -> u8 {
    match mask {
        IpAddr::V4(v4) => u32::from(v4).leading_ones() as u8,
        IpAddr::V6(v6) => u128::from(v6).leading_ones() as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files() {
        assert_eq!(
            parse_os_release("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
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

    #[test]
    fn prefixes() {
        assert_eq!(prefix_of("255.255.0.0".parse().unwrap()), 16);
        assert_eq!(prefix_of("ffff:ffff:ffff:ffff::".parse().unwrap()), 64);
        assert_eq!(prefix_of("0.0.0.0".parse().unwrap()), 0);
    }

    #[test]
    fn loopback_interface_is_found() {
        let all = interfaces();
        let lo = all.iter().find(|i| i.name == "lo").expect("a loopback interface");
        assert!(lo.addresses.contains(&IpNetwork { address: "127.0.0.1".parse().unwrap(), prefix_len: 8 }));
    }
}
