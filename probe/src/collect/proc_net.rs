//! Sockets from /proc/<pid>/net/{tcp,tcp6,udp,udp6}: the fallback source.
//!
//! These files show the network namespace of the process they are read
//! through, so one pid per namespace is enough and no `setns` is needed.
//! They carry no `tcp_info`, and the kernel prints every socket, TIME_WAIT
//! ones included (which are dropped here).

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use periscope_report::{Protocol, SocketState, Source};

use crate::collect::sock_diag::udp_state;
use crate::collect::socket::{tcp_state, Netns, RawSocket, SocketSource};

/// Reads /proc/<pid>/net tables.
pub struct ProcNet {
    buffer: Vec<u8>,
}

impl ProcNet {
    pub fn new() -> ProcNet {
        ProcNet { buffer: Vec::with_capacity(64 * 1024) }
    }
}

impl Default for ProcNet {
    fn default() -> Self {
        ProcNet::new()
    }
}

impl SocketSource for ProcNet {
    fn source(&self) -> Source {
        Source::ProcNet
    }

    fn read(&mut self, netns: &Netns, out: &mut Vec<RawSocket>) -> io::Result<()> {
        for (file, protocol) in
            [("tcp", Protocol::Tcp), ("tcp6", Protocol::Tcp), ("udp", Protocol::Udp), ("udp6", Protocol::Udp)]
        {
            if !netns.kinds.has(file.ends_with('6'), protocol) {
                continue;
            }
            self.buffer.clear();
            let path = format!("/proc/{}/net/{file}", netns.pid);
            match std::fs::File::open(&path).and_then(|mut f| f.read_to_end(&mut self.buffer)) {
                Ok(_) => {}
                // A kernel without IPv6 has no tcp6; other files may vanish with the pid.
                Err(error) if error.kind() == io::ErrorKind::NotFound && file.ends_with('6') => continue,
                Err(error) => return Err(error),
            }
            parse_table(&String::from_utf8_lossy(&self.buffer), protocol, out);
        }
        Ok(())
    }

    fn retain_namespaces(&mut self, _live: &dyn Fn(u64) -> bool) {}
}

/// Parses one table, skipping the header, malformed lines and TIME_WAIT sockets.
pub fn parse_table(text: &str, protocol: Protocol, out: &mut Vec<RawSocket>) {
    for line in text.lines().skip(1) {
        if let Some(socket) = parse_line(line, protocol) {
            if socket.state != SocketState::TimeWait {
                out.push(socket);
            }
        }
    }
}

fn parse_line(line: &str, protocol: Protocol) -> Option<RawSocket> {
    let mut fields = line.split_ascii_whitespace();
    let _slot = fields.next()?;
    let local = parse_endpoint(fields.next()?)?;
    let remote = parse_endpoint(fields.next()?)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    // tx:rx queue, tr:when, retrnsmt, uid, timeout, then the inode.
    let inode = fields.nth(5)?.parse().ok()?;
    let state = match protocol {
        Protocol::Tcp => tcp_state(state)?,
        Protocol::Udp => udp_state(state),
    };
    Some(RawSocket { protocol, local, remote, state, inode, tcp: None, diag: None })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits (IPv6), each 32-bit group in host byte order.
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match address.len() {
        8 => IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(address, 16).ok()?.to_ne_bytes())),
        32 => {
            let mut octets = [0u8; 16];
            for (group, chunk) in octets.chunks_exact_mut(4).enumerate() {
                let hex = address.get(group * 8..group * 8 + 8)?;
                chunk.copy_from_slice(&u32::from_str_radix(hex, 16).ok()?.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(file: &str, protocol: Protocol, expected: &[(&str, &str, SocketState, u64)]) {
        let text = std::fs::read_to_string(format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut sockets = Vec::new();
        parse_table(&text, protocol, &mut sockets);
        let got: Vec<_> =
            sockets.iter().map(|s| (s.local.to_string(), s.remote.to_string(), s.state, s.inode)).collect();
        let expected: Vec<_> = expected.iter().map(|(l, r, s, i)| (l.to_string(), r.to_string(), *s, *i)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn tcp4_listeners_established_and_time_wait_skipped() {
        check(
            "proc_net_tcp.txt",
            Protocol::Tcp,
            &[
                ("0.0.0.0:2024", "0.0.0.0:0", SocketState::Listen, 1574),
                ("127.0.0.1:40000", "127.0.0.1:2024", SocketState::Established, 11909),
            ],
        );
    }

    #[test]
    fn tcp6_loopback() {
        check(
            "proc_net_tcp6.txt",
            Protocol::Tcp,
            &[
                ("[::]:80", "[::]:0", SocketState::Listen, 20001),
                ("[::1]:45678", "[::1]:80", SocketState::Established, 20002),
                ("[::ffff:172.17.0.2]:80", "[::ffff:172.17.0.3]:51234", SocketState::Established, 20003),
            ],
        );
    }

    #[test]
    fn udp_unconnected_is_listen() {
        check("proc_net_udp.txt", Protocol::Udp, &[("0.0.0.0:68", "0.0.0.0:0", SocketState::Listen, 3001)]);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let mut sockets = Vec::new();
        parse_table(
            "header\nnot a socket line\n 0: 0100007F:zz 00000000:0000 0A x x x x x 5\n",
            Protocol::Tcp,
            &mut sockets,
        );
        assert!(sockets.is_empty());
    }
}
