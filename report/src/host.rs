//! The host a probe runs on.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::id::HostId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub id: HostId,
    pub hostname: String,
    /// Distribution name and version from /etc/os-release, e.g. `Debian GNU/Linux 12`.
    pub os: String,
    pub kernel: String,
    pub uptime_secs: u64,
    /// 1, 5 and 15 minute load averages.
    pub load: [f64; 3],
    pub cpu_count: u32,
    /// The CPU's brand string from /proc/cpuinfo, e.g. `AMD EPYC 7B13`; empty when unknown.
    pub cpu_model: String,
    /// Busy share of all CPUs since the last tick, 0–100.
    #[serde(with = "crate::tenths")]
    pub cpu_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub interfaces: Vec<Interface>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub addresses: Vec<IpNetwork>,
}

/// An address with its prefix: together they name the local network it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IpNetwork {
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl IpNetwork {
    /// Whether `other` lies in this network.
    pub fn contains(&self, other: IpAddr) -> bool {
        match (self.address, other) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let bits = u32::from(self.prefix_len.min(32));
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let bits = u32::from(self.prefix_len.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(network: &str, prefix_len: u8, ip: &str, expected: bool) {
        let network = IpNetwork { address: network.parse().unwrap(), prefix_len };
        assert_eq!(network.contains(ip.parse().unwrap()), expected, "{network:?} ∋ {ip}");
    }

    #[test]
    fn contains() {
        check("172.17.0.1", 16, "172.17.5.9", true);
        check("172.17.0.1", 16, "172.18.0.1", false);
        check("10.0.0.1", 0, "8.8.8.8", true);
        check("10.0.0.1", 32, "10.0.0.1", true);
        check("fd00::1", 64, "fd00::abcd", true);
        check("fd00::1", 64, "fd01::1", false);
        check("fd00::1", 64, "10.0.0.1", false);
    }
}
