//! What every socket source shares: a socket as a table lists it, the
//! namespace it is read in, and the [`SocketSource`] trait that sock_diag,
//! /proc/<pid>/net (and eBPF) implement. Sources import this module only,
//! never the collector, so there is no import circle.

use std::io;
use std::net::SocketAddr;

use periscope_report::{Protocol, SocketState, Source, TcpInfo};

/// One socket as a table lists it, before its owner is known.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSocket {
    pub protocol: Protocol,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: SocketState,
    /// 0 for sockets no file refers to (TIME_WAIT, half-open).
    pub inode: u64,
    pub tcp: Option<TcpInfo>,
    /// What sock_diag needs to find this very socket again without a table walk.
    pub diag: Option<DiagKey>,
}

/// sock_diag's handle on one socket: the interface it is bound to (part of
/// the lookup key) and the kernel's cookie for it, which a lookup checks, so
/// a socket closed and replaced by another on the same addresses is a miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagKey {
    pub interface: u32,
    pub cookie: u64,
}

/// A network namespace in use, a live process inside it to read it through,
/// and which tables hold sockets (the others need no read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Netns {
    pub inode: u64,
    pub pid: u32,
    pub kinds: SocketKinds,
}

/// Sockets in use per table, from /proc/<pid>/net/sockstat{,6}: per-namespace
/// counters the kernel keeps anyway, so reading them costs next to nothing.
/// A socket table dump walks the kernel's whole (host-wide) hash table, a
/// millisecond each on a large host even for an empty namespace, so tables
/// with nothing in use are not dumped at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketKinds {
    pub tcp4: u32,
    pub tcp6: u32,
    pub udp4: u32,
    pub udp6: u32,
}

impl SocketKinds {
    pub fn is_empty(&self) -> bool {
        *self == SocketKinds::default()
    }

    /// Whether the (family, protocol) table may hold sockets.
    pub fn has(&self, ipv6: bool, protocol: Protocol) -> bool {
        self.count(ipv6, protocol) > 0
    }

    /// Sockets in use in the (family, protocol) table.
    pub fn count(&self, ipv6: bool, protocol: Protocol) -> u32 {
        match (ipv6, protocol) {
            (false, Protocol::Tcp) => self.tcp4,
            (true, Protocol::Tcp) => self.tcp6,
            (false, Protocol::Udp) => self.udp4,
            (true, Protocol::Udp) => self.udp6,
        }
    }
}

/// What checking a namespace's known sockets found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Each is still there: with equal counters, the table is unchanged.
    Same,
    /// One is gone (or another socket now holds its addresses): read the tables.
    Changed,
    /// This source cannot look sockets up (or not this many): read at [`SLOW_REREAD`] instead.
    Unable,
}

/// A way to list the sockets of one network namespace.
pub trait SocketSource: Send {
    fn source(&self) -> Source;
    fn read(&mut self, netns: &Netns, out: &mut Vec<RawSocket>) -> io::Result<()>;
    /// Finds each of `known` (the namespace's last table) again without walking
    /// the tables, putting their current form in `out`.
    fn check(&mut self, netns: &Netns, known: &[RawSocket], out: &mut Vec<RawSocket>) -> io::Result<Checked> {
        let _ = (netns, known, out);
        Ok(Checked::Unable)
    }
    /// Releases per-namespace resources of namespaces no longer in use.
    fn retain_namespaces(&mut self, live: &dyn Fn(u64) -> bool);
}

/// The kernel's TCP state numbers (include/net/tcp_states.h).
pub fn tcp_state(kernel_state: u8) -> Option<SocketState> {
    Some(match kernel_state {
        1 => SocketState::Established,
        2 => SocketState::SynSent,
        3 => SocketState::SynRecv,
        4 => SocketState::FinWait1,
        5 => SocketState::FinWait2,
        6 => SocketState::TimeWait,
        7 => SocketState::Close,
        8 => SocketState::CloseWait,
        9 => SocketState::LastAck,
        10 => SocketState::Listen,
        11 => SocketState::Closing,
        _ => return None,
    })
}

pub fn udp_state(kernel_state: u8) -> periscope_report::SocketState {
    if kernel_state == 1 {
        periscope_report::SocketState::Established
    } else {
        periscope_report::SocketState::Listen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_states_map() {
        assert_eq!(tcp_state(10), Some(SocketState::Listen));
        assert_eq!(tcp_state(1), Some(SocketState::Established));
        assert_eq!(tcp_state(0), None);
        assert_eq!(tcp_state(12), None);
    }
}
