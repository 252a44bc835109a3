//! Sockets from /proc/<pid>/net/{tcp,tcp6,udp,udp6}: the fallback source.
//!
//! These files show the network namespace of the process they are read
//! through, so one pid per namespace is enough and no `setns` is needed.
//! They carry no `tcp_info`, and the kernel prints every socket, TIME_WAIT
//! ones included (which are dropped here). procfs parses them; a table it
//! cannot parse is an error for that namespace (the last table stands).

use std::io::{self, Read};

use periscope_report::{Protocol, SocketState, Source};
use procfs::net::{TcpNetEntries, UdpNetEntries};
use procfs::FromReadSI;

use crate::collect::socket::source::{tcp_state, udp_state, Netns, RawSocket, SocketSource};
use crate::sys::proc_root::ProcRoot;

/// Reads /proc/<pid>/net tables.
pub struct ProcNet {
    proc: ProcRoot,
    buffer: Vec<u8>,
}

impl ProcNet {
    pub fn new(proc: ProcRoot) -> ProcNet {
        ProcNet { proc, buffer: Vec::with_capacity(64 * 1024) }
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
            let path = self.proc.pid_file(netns.pid, &format!("net/{file}"));
            match std::fs::File::open(&path).and_then(|mut f| f.read_to_end(&mut self.buffer)) {
                Ok(_) => {}
                // A kernel without IPv6 has no tcp6; other files may vanish with the pid.
                Err(error) if error.kind() == io::ErrorKind::NotFound && file.ends_with('6') => continue,
                Err(error) => return Err(error),
            }
            parse_table(&self.buffer, protocol, out)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {error}", path.display())))?;
        }
        Ok(())
    }

    fn retain_namespaces(&mut self, _live: &dyn Fn(u64) -> bool) {}
}

/// Parses one table, leaving out TIME_WAIT sockets (and states the model has no name for).
pub fn parse_table(bytes: &[u8], protocol: Protocol, out: &mut Vec<RawSocket>) -> procfs::ProcResult<()> {
    let system = procfs::current_system_info();
    let sockets: Vec<(std::net::SocketAddr, std::net::SocketAddr, Option<SocketState>, u64)> = match protocol {
        Protocol::Tcp => TcpNetEntries::from_read(bytes, system)?
            .0
            .into_iter()
            .map(|e| (e.local_address, e.remote_address, tcp_state(e.state.to_u8()), e.inode))
            .collect(),
        Protocol::Udp => UdpNetEntries::from_read(bytes, system)?
            .0
            .into_iter()
            .map(|e| (e.local_address, e.remote_address, Some(udp_state(e.state as u8)), e.inode))
            .collect(),
    };
    for (local, remote, state, inode) in sockets {
        match state {
            Some(SocketState::TimeWait) | None => {}
            Some(state) => out.push(RawSocket { protocol, local, remote, state, inode, tcp: None, diag: None }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(file: &str, protocol: Protocol, expected: &[(&str, &str, SocketState, u64)]) {
        let text = std::fs::read(format!("{}/testdata/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut sockets = Vec::new();
        parse_table(&text, protocol, &mut sockets).unwrap();
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
    fn a_garbled_table_is_an_error_not_a_partial_one() {
        let mut sockets = Vec::new();
        let garbled = b"header\nnot a socket line\n 0: 0100007F:zz 00000000:0000 0A x x x x x 5\n";
        assert!(parse_table(garbled, Protocol::Tcp, &mut sockets).is_err());
        assert!(sockets.is_empty());
    }
}
