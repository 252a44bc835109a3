//! Sockets from netlink INET_DIAG (sock_diag), with `tcp_info`.
//!
//! A netlink socket answers for the network namespace it was opened in, so
//! each namespace gets its own, opened there through [`netns::run_in`].
//! Sockets are cached per namespace inode and dropped when the namespace is
//! no longer in use.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use periscope_report::{Protocol, SocketState, Source, TcpInfo};

use crate::collect::socket::source::{tcp_state, udp_state, Checked, DiagKey, Netns, RawSocket, SocketSource};
use crate::sys::netlink::{self, read_u16_be, read_u32_ne, read_u64_ne};
use crate::sys::netns;
use crate::sys::proc_root::ProcRoot;

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const INET_DIAG_INFO: u16 = 2;
const INET_DIAG_MSG_LEN: usize = 72;
const TCP_TIME_WAIT: u8 = 6;
const TCP_CLOSE: u8 = 7;
/// Every TCP state but TIME_WAIT and CLOSE: a TIME_WAIT socket has no owner
/// and, under a `wget` loop, there are hundreds of them per client.
const TCP_STATES: u32 = 0xfff & !(1 << TCP_TIME_WAIT) & !(1 << TCP_CLOSE);
const TCP_LISTEN: u8 = 10;
const TCP_LISTENING: u32 = 1 << TCP_LISTEN;
const TCP_CONNECTED: u32 = TCP_STATES & !TCP_LISTENING;
const ALL_STATES: u32 = 0xffff_ffff;
/// A lookup costs about 5 µs here and a full read of a namespace's tables
/// about 4 ms (the walk of the host-wide hashes): past this many sockets a
/// namespace is not checked, and is read at the slower pace instead.
const MAX_LOOKUPS: usize = 128;

/// Reads sockets through INET_DIAG, one netlink socket per network namespace.
pub struct SockDiag {
    proc: ProcRoot,
    sockets: HashMap<u64, OwnedFd>,
    buffer: Vec<u8>,
    seq: u32,
}

impl SockDiag {
    /// Checks that sock_diag works in the probe's own namespace.
    pub fn new(proc: ProcRoot) -> io::Result<SockDiag> {
        let mut probe = SockDiag { proc, sockets: HashMap::new(), buffer: vec![0; 64 * 1024], seq: 1 };
        let fd = netlink::open(rustix::net::netlink::SOCK_DIAG, 0, false)?;
        let mut found = Vec::new();
        probe.dump(fd.as_fd(), libc::AF_INET as u8, Protocol::Tcp, TCP_LISTENING, &mut found)?;
        Ok(probe)
    }

    /// The namespace's socket, taken out of the cache while in use (the caller
    /// puts it back with [`SockDiag::keep`] unless it failed).
    fn take_socket(&mut self, netns: &Netns) -> io::Result<OwnedFd> {
        match self.sockets.remove(&netns.inode) {
            Some(fd) => Ok(fd),
            None => open_in_netns(&self.proc, netns.pid),
        }
    }

    fn keep(&mut self, netns: &Netns, fd: OwnedFd) {
        self.sockets.insert(netns.inode, fd);
    }

    fn dump(
        &mut self,
        fd: BorrowedFd<'_>,
        family: u8,
        protocol: Protocol,
        states: u32,
        out: &mut Vec<RawSocket>,
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let ip_protocol = match protocol {
            Protocol::Tcp => libc::IPPROTO_TCP as u8,
            Protocol::Udp => libc::IPPROTO_UDP as u8,
        };
        let mut body = [0u8; 56];
        body[0] = family;
        body[1] = ip_protocol;
        body[2] = 1 << (INET_DIAG_INFO - 1);
        body[4..8].copy_from_slice(&states.to_ne_bytes());
        let mut request = Vec::with_capacity(80);
        netlink::push_message(
            &mut request,
            SOCK_DIAG_BY_FAMILY,
            netlink::NLM_F_REQUEST | netlink::NLM_F_DUMP,
            seq,
            &body,
        );
        let mut buffer = std::mem::take(&mut self.buffer);
        let result = netlink::dump(fd, &request, seq, &mut buffer, |message| {
            if message.kind == SOCK_DIAG_BY_FAMILY {
                if let Some(socket) = parse_diag_message(message.payload, protocol) {
                    out.push(socket);
                }
            }
        });
        self.buffer = buffer;
        result
    }
}

impl SockDiag {
    /// Looks one known socket up by its exact identity (a hash lookup in the
    /// kernel, no table walk): its current state and `tcp_info`, or `None`
    /// when it is gone or its cookie now names another socket.
    fn lookup(&mut self, fd: BorrowedFd<'_>, socket: &RawSocket) -> io::Result<Option<RawSocket>> {
        let Some(key) = socket.diag else { return Ok(None) };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let protocol = socket.protocol;
        let family = if socket.local.is_ipv4() { libc::AF_INET as u8 } else { libc::AF_INET6 as u8 };
        let mut body = [0u8; 56];
        body[0] = family;
        body[1] = match protocol {
            Protocol::Tcp => libc::IPPROTO_TCP as u8,
            Protocol::Udp => libc::IPPROTO_UDP as u8,
        };
        body[2] = 1 << (INET_DIAG_INFO - 1);
        body[4..8].copy_from_slice(&ALL_STATES.to_ne_bytes());
        // inet_diag_sockid: source and destination (ports big-endian, addresses in
        // network order), then interface and cookie. TCP wants the socket's own
        // address as the source; UDP looks up the socket a datagram from
        // `source` to `destination` would reach, so its ends go the other way.
        let (source, destination) = match protocol {
            Protocol::Tcp => (socket.local, socket.remote),
            Protocol::Udp => (socket.remote, socket.local),
        };
        body[8..10].copy_from_slice(&source.port().to_be_bytes());
        body[10..12].copy_from_slice(&destination.port().to_be_bytes());
        put_address(&mut body[12..28], source.ip());
        put_address(&mut body[28..44], destination.ip());
        body[44..48].copy_from_slice(&key.interface.to_ne_bytes());
        body[48..56].copy_from_slice(&key.cookie.to_ne_bytes());
        let mut request = Vec::with_capacity(80);
        netlink::push_message(&mut request, SOCK_DIAG_BY_FAMILY, netlink::NLM_F_REQUEST, seq, &body);
        let mut buffer = std::mem::take(&mut self.buffer);
        let result = netlink::request(fd, &request, seq, &mut buffer, |message| {
            (message.kind == SOCK_DIAG_BY_FAMILY).then(|| parse_diag_message(message.payload, protocol)).flatten()
        });
        self.buffer = buffer;
        match result {
            Ok(found) => Ok(found),
            // Gone (ENOENT), or the address now belongs to another socket (ESTALE: cookie mismatch).
            Err(error) if matches!(error.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESTALE)) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

fn put_address(out: &mut [u8], address: IpAddr) {
    match address {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out[..16].copy_from_slice(&v6.octets()),
    }
}

impl SocketSource for SockDiag {
    fn source(&self) -> Source {
        Source::SockDiag
    }

    fn read(&mut self, netns: &Netns, out: &mut Vec<RawSocket>) -> io::Result<()> {
        let owned = self.take_socket(netns)?;
        let fd = owned.as_fd();
        let result = (|| {
            for (family, ipv6) in [(libc::AF_INET as u8, false), (libc::AF_INET6 as u8, true)] {
                let in_use = netns.kinds.count(ipv6, Protocol::Tcp);
                if in_use > 0 {
                    // Listeners first: that dump walks only the small listening hash. When they
                    // are all the sockets in use, the costly walk of the established hash
                    // (host-wide, a millisecond or more) is skipped: an idle server's usual case.
                    let before = out.len();
                    self.dump(fd, family, Protocol::Tcp, TCP_LISTENING, out)?;
                    if ((out.len() - before) as u32) < in_use {
                        self.dump(fd, family, Protocol::Tcp, TCP_CONNECTED, out)?;
                    }
                }
                if netns.kinds.has(ipv6, Protocol::Udp) {
                    self.dump(fd, family, Protocol::Udp, ALL_STATES, out)?;
                }
            }
            Ok(())
        })();
        // On failure the socket is dropped, to be reopened next time: the
        // namespace may have gone, or the socket broke.
        if result.is_ok() {
            self.keep(netns, owned);
        }
        result
    }

    fn check(&mut self, netns: &Netns, known: &[RawSocket], out: &mut Vec<RawSocket>) -> io::Result<Checked> {
        if known.len() > MAX_LOOKUPS {
            return Ok(Checked::Unable);
        }
        let owned = self.take_socket(netns)?;
        for socket in known {
            match self.lookup(owned.as_fd(), socket) {
                // A closed TCP socket's TIME_WAIT stand-in keeps its cookie, but reads leave it out.
                Ok(Some(found))
                    if found.protocol == Protocol::Tcp
                        && matches!(found.state, SocketState::TimeWait | SocketState::Close) =>
                {
                    self.keep(netns, owned);
                    return Ok(Checked::Changed);
                }
                Ok(Some(found)) => out.push(found),
                Ok(None) => {
                    self.keep(netns, owned);
                    return Ok(Checked::Changed);
                }
                // The socket is dropped, to be reopened next time.
                Err(error) => return Err(error),
            }
        }
        self.keep(netns, owned);
        Ok(Checked::Same)
    }

    fn retain_namespaces(&mut self, live: &dyn Fn(u64) -> bool) {
        self.sockets.retain(|inode, _| live(*inode));
    }
}

/// Opens a sock_diag socket inside the network namespace of `pid`.
fn open_in_netns(proc: &ProcRoot, pid: u32) -> io::Result<OwnedFd> {
    netns::run_in(proc, pid, || netlink::open(rustix::net::netlink::SOCK_DIAG, 0, false))
}

/// One `inet_diag_msg` plus attributes; `None` when malformed.
pub fn parse_diag_message(payload: &[u8], protocol: Protocol) -> Option<RawSocket> {
    let header = payload.get(..INET_DIAG_MSG_LEN)?;
    let family = header[0];
    let state = header[1];
    let local_port = read_u16_be(header, 4)?;
    let remote_port = read_u16_be(header, 6)?;
    let local = address(family, header.get(8..24)?)?;
    let remote = address(family, header.get(24..40)?)?;
    let inode = read_u32_ne(header, 68)?;
    let diag = DiagKey { interface: read_u32_ne(header, 40)?, cookie: read_u64_ne(header, 44)? };
    let mut tcp = None;
    // A listener's tcp_info is all zeros: leave it out.
    if protocol == Protocol::Tcp && state != TCP_LISTEN {
        for (kind, value) in netlink::attributes(&payload[INET_DIAG_MSG_LEN..]) {
            if kind == INET_DIAG_INFO {
                tcp = parse_tcp_info(value);
            }
        }
    }
    let state = match protocol {
        Protocol::Tcp => tcp_state(state)?,
        // Unconnected UDP sockets are CLOSE to the kernel: they are listeners to us.
        Protocol::Udp => udp_state(state),
    };
    Some(RawSocket {
        protocol,
        local: SocketAddr::new(local, local_port),
        remote: SocketAddr::new(remote, remote_port),
        state,
        inode: u64::from(inode),
        tcp,
        diag: Some(diag),
    })
}

fn address(family: u8, bytes: &[u8]) -> Option<IpAddr> {
    if i32::from(family) == libc::AF_INET {
        let octets: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(octets)))
    } else if i32::from(family) == libc::AF_INET6 {
        let octets: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
        Some(IpAddr::V6(Ipv6Addr::from(octets)))
    } else {
        None
    }
}

/// Offsets into `struct tcp_info` (linux/tcp.h); older kernels send a
/// shorter struct, so each field is read only when present.
fn parse_tcp_info(info: &[u8]) -> Option<TcpInfo> {
    const RTT: usize = 68;
    const TOTAL_RETRANS: usize = 100;
    const BYTES_ACKED: usize = 120;
    const BYTES_RECEIVED: usize = 128;
    const BYTES_SENT: usize = 200;
    let rtt_us = read_u32_ne(info, RTT)?;
    let retransmits = read_u32_ne(info, TOTAL_RETRANS).unwrap_or(0);
    let bytes_received = read_u64_ne(info, BYTES_RECEIVED).unwrap_or(0);
    let bytes_sent = read_u64_ne(info, BYTES_SENT).or_else(|| read_u64_ne(info, BYTES_ACKED)).unwrap_or(0);
    Some(TcpInfo { rtt_us, bytes_sent, bytes_received, retransmits })
}

#[cfg(test)]
mod tests {
    use super::*;
    use periscope_report::SocketState;

    fn message(family: u8, state: u8, local: &[u8], lport: u16, remote: &[u8], rport: u16, inode: u32) -> Vec<u8> {
        let mut payload = vec![0u8; INET_DIAG_MSG_LEN];
        payload[0] = family;
        payload[1] = state;
        payload[4..6].copy_from_slice(&lport.to_be_bytes());
        payload[6..8].copy_from_slice(&rport.to_be_bytes());
        payload[8..8 + local.len()].copy_from_slice(local);
        payload[24..24 + remote.len()].copy_from_slice(remote);
        payload[68..72].copy_from_slice(&inode.to_ne_bytes());
        payload
    }

    #[test]
    fn parses_ipv4_listener_and_ipv6_established_with_tcp_info() {
        let listener = message(libc::AF_INET as u8, 10, &[127, 0, 0, 1], 8080, &[0; 4], 0, 555);
        let socket = parse_diag_message(&listener, Protocol::Tcp).unwrap();
        assert_eq!(socket.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(socket.state, SocketState::Listen);
        assert_eq!(socket.inode, 555);
        assert_eq!(socket.tcp, None);

        let loopback6 = Ipv6Addr::LOCALHOST.octets();
        let mut established = message(libc::AF_INET6 as u8, 1, &loopback6, 40000, &loopback6, 8080, 777);
        let mut info = vec![0u8; 232];
        info[68..72].copy_from_slice(&1234u32.to_ne_bytes());
        info[100..104].copy_from_slice(&3u32.to_ne_bytes());
        info[128..136].copy_from_slice(&99u64.to_ne_bytes());
        info[200..208].copy_from_slice(&42u64.to_ne_bytes());
        established.extend_from_slice(&((info.len() + 4) as u16).to_ne_bytes());
        established.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        established.extend_from_slice(&info);
        let socket = parse_diag_message(&established, Protocol::Tcp).unwrap();
        assert_eq!(socket.remote, "[::1]:8080".parse().unwrap());
        assert_eq!(socket.state, SocketState::Established);
        assert_eq!(socket.tcp, Some(TcpInfo { rtt_us: 1234, bytes_sent: 42, bytes_received: 99, retransmits: 3 }));
    }

    fn own_namespace() -> Netns {
        let link = std::fs::read_link("/proc/self/ns/net").unwrap();
        let inode = crate::collect::process::namespace_inode(&link.to_string_lossy()).unwrap();
        let kinds = crate::collect::socket::SocketKinds { tcp4: 99, tcp6: 99, udp4: 99, udp6: 99 };
        Netns { inode, pid: std::process::id(), kinds }
    }

    fn find(table: &[RawSocket], protocol: Protocol, local: SocketAddr, remote: SocketAddr) -> RawSocket {
        table
            .iter()
            .find(|s| s.protocol == protocol && s.local == local && s.remote == remote)
            .cloned()
            .unwrap_or_else(|| panic!("{protocol:?} {local} -> {remote} not in the dump"))
    }

    /// Against this machine's kernel: every kind of socket the probe reports
    /// is found again by exact lookup, with its current state; a closed one is
    /// a miss, and so is a new socket on the same address (the cookie differs).
    #[test]
    fn known_sockets_are_looked_up_without_a_walk() {
        use std::net::{TcpListener, TcpStream, UdpSocket};
        let listener4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let listener6 = TcpListener::bind("[::1]:0").unwrap();
        let client = TcpStream::connect(listener6.local_addr().unwrap()).unwrap();
        let (server, _) = listener6.accept().unwrap();
        let udp4 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp6 = UdpSocket::bind("[::1]:0").unwrap();
        let peer6 = UdpSocket::bind("[::1]:0").unwrap();
        udp6.connect(peer6.local_addr().unwrap()).unwrap();

        let netns = own_namespace();
        let mut diag = SockDiag::new(ProcRoot::default()).unwrap();
        let mut table = Vec::new();
        diag.read(&netns, &mut table).unwrap();
        let owned = diag.take_socket(&netns).unwrap();
        let fd = owned.as_fd();
        let any4: SocketAddr = "0.0.0.0:0".parse().unwrap();
        let any6: SocketAddr = "[::]:0".parse().unwrap();
        let known = [
            find(&table, Protocol::Tcp, listener4.local_addr().unwrap(), any4),
            find(&table, Protocol::Tcp, listener6.local_addr().unwrap(), any6),
            find(&table, Protocol::Tcp, client.local_addr().unwrap(), client.peer_addr().unwrap()),
            find(&table, Protocol::Udp, udp4.local_addr().unwrap(), any4),
            find(&table, Protocol::Udp, udp6.local_addr().unwrap(), udp6.peer_addr().unwrap()),
        ];
        for socket in &known {
            let found = diag.lookup(fd, socket).unwrap();
            assert_eq!(
                found.as_ref().map(|f| (f.local, f.remote, f.state, f.inode)),
                Some((socket.local, socket.remote, socket.state, socket.inode)),
                "{socket:?}"
            );
        }
        let established = diag.lookup(fd, &known[2]).unwrap().unwrap();
        assert!(established.tcp.is_some(), "a lookup brings fresh tcp_info");

        let mut fresh = Vec::new();
        assert_eq!(diag.check(&netns, &known, &mut fresh).unwrap(), Checked::Same);
        assert_eq!(fresh.len(), known.len());
        // A process another test forks at this moment holds our descriptors until its exec
        // closes them, so a close can take effect a little later: wait for it, with a deadline.
        let until = |done: &mut dyn FnMut() -> bool| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !done() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        };
        // The client closes first, so its socket lingers in TIME_WAIT: gone, as far as a read goes.
        drop(client);
        drop(server);
        let mut check_closed = || diag.check(&netns, &known[2..3], &mut Vec::new()).unwrap();
        until(&mut || check_closed() == Checked::Changed);
        assert_eq!(check_closed(), Checked::Changed);

        let port = listener4.local_addr().unwrap();
        drop(listener4);
        until(&mut || diag.lookup(fd, &known[0]).unwrap().is_none());
        assert_eq!(diag.lookup(fd, &known[0]).unwrap(), None, "a closed listener is a miss");
        let _replacement = TcpListener::bind(port).unwrap();
        assert_eq!(diag.lookup(fd, &known[0]).unwrap(), None, "a new socket on the same address is a miss");
    }

    #[test]
    fn udp_and_malformed() {
        let udp = message(libc::AF_INET as u8, 7, &[0; 4], 53, &[0; 4], 0, 9);
        assert_eq!(parse_diag_message(&udp, Protocol::Udp).unwrap().state, SocketState::Listen);
        assert!(parse_diag_message(&udp[..40], Protocol::Udp).is_none());
        let unknown_family = message(99, 1, &[0; 4], 1, &[0; 4], 2, 3);
        assert!(parse_diag_message(&unknown_family, Protocol::Tcp).is_none());
        // A truncated tcp_info gives no RTT rather than garbage.
        assert_eq!(parse_tcp_info(&[0u8; 40]), None);
    }
}
