//! Where an address is meaningful: loopback per (host, netns), host-local
//! bridge addresses per host, everything else globally.
//!
//! Two hosts may both run a container at 172.17.0.2; scoping keeps them apart.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A probe's slot in render's tables: a small copyable stand-in for its ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    /// Only reachable from within one host (a Docker bridge, its containers).
    Host(Slot),
    /// Loopback: only within one network namespace of one host.
    Netns(Slot, u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScopedIp {
    pub scope: Scope,
    pub ip: IpAddr,
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, from dual-stack sockets) become plain IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

pub fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(canonical_ip(addr.ip()), addr.port())
}

/// Public addresses render as The Internet; the rest as one node per address.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => !is_private_v4(v4),
        IpAddr::V6(v6) => !is_private_v6(v6),
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        // Carrier-grade NAT, 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7 and link-local fe80::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

pub fn is_loopback(ip: IpAddr) -> bool {
    canonical_ip(ip).is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_private() {
        for (ip, public) in [
            ("8.8.8.8", true),
            ("10.1.2.3", false),
            ("172.17.0.2", false),
            ("192.168.1.1", false),
            ("100.64.0.1", false),
            ("127.0.0.1", false),
            ("2001:db8::1", true),
            ("fd00::1", false),
            ("fe80::1", false),
            ("::1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:1.1.1.1", true),
        ] {
            assert_eq!(is_public(ip.parse().unwrap()), public, "{ip}");
        }
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        assert_eq!(canonical_ip("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(canonical_ip("fd00::1".parse().unwrap()), "fd00::1".parse::<IpAddr>().unwrap());
    }
}
