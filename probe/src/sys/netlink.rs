//! Raw netlink sockets and message framing, shared by sock_diag and conntrack.
//!
//! Only the framing lives here: `nlmsghdr` and `nlattr` walking over byte
//! slices with bounds checks on every field, since every byte comes from the
//! kernel and is treated as untrusted input. Message bodies are parsed by the
//! module that speaks the protocol.

use std::io;
use std::ops::ControlFlow;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{sockopt, AddressFamily, Protocol, RecvFlags, SendFlags, SocketFlags, SocketType};

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_DUMP: u16 = 0x300;
/// Nested attribute flag (and the byte-order flag) carried in `nla_type`.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// One netlink message: its type, flags and payload (after the header).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Iterates the messages in one datagram; stops at the first malformed header.
pub fn messages(buffer: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut rest = buffer;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = read_u32_ne(rest, 0)? as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return None;
        }
        let message = Message {
            kind: read_u16_ne(rest, 4)?,
            flags: read_u16_ne(rest, 6)?,
            seq: read_u32_ne(rest, 8)?,
            payload: &rest[NLMSG_HDRLEN..len],
        };
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some(message)
    })
}

/// Iterates `nlattr`s: (type without flags, payload).
pub fn attributes(buffer: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buffer;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let len = usize::from(read_u16_ne(rest, 0)?);
        let kind = read_u16_ne(rest, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            return None;
        }
        let payload = &rest[4..len];
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

/// The errno carried by an `NLMSG_ERROR` payload (0 is an ACK).
pub fn error_code(payload: &[u8]) -> Option<i32> {
    payload.get(..4).map(|bytes| i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

pub fn align4(len: usize) -> usize {
    (len + 3) & !3
}

pub fn read_u16_ne(bytes: &[u8], at: usize) -> Option<u16> {
    let slice = bytes.get(at..at + 2)?;
    Some(u16::from_ne_bytes([slice[0], slice[1]]))
}

pub fn read_u16_be(bytes: &[u8], at: usize) -> Option<u16> {
    let slice = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([slice[0], slice[1]]))
}

pub fn read_u32_ne(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_ne_bytes([slice[0], slice[1], slice[2], slice[3]]))
}

pub fn read_u32_be(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([slice[0], slice[1], slice[2], slice[3]]))
}

pub fn read_u64_ne(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at + 8)?;
    let mut array = [0u8; 8];
    array.copy_from_slice(slice);
    Some(u64::from_ne_bytes(array))
}

/// Appends a netlink header plus `body` to `out`.
pub fn push_message(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, body: &[u8]) {
    let len = NLMSG_HDRLEN + body.len();
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(body);
    out.resize(align4(out.len()), 0);
}

/// A netlink socket of `protocol` (e.g. `rustix::net::netlink::SOCK_DIAG`),
/// joined to the multicast `groups` bitmask.
pub fn open(protocol: Protocol, groups: u32, nonblocking: bool) -> io::Result<OwnedFd> {
    let mut flags = SocketFlags::CLOEXEC;
    if nonblocking {
        flags |= SocketFlags::NONBLOCK;
    }
    let fd = rustix::net::socket_with(AddressFamily::NETLINK, SocketType::RAW, flags, Some(protocol))?;
    rustix::net::bind(&fd, &SocketAddrNetlink::new(0, groups))?;
    Ok(fd)
}

/// Raises the receive buffer (with CAP_NET_ADMIN, past `rmem_max`), so event
/// bursts do not overflow it. Best effort: a smaller buffer still works, just
/// with more `ENOBUFS` resyncs.
pub fn set_receive_buffer(fd: BorrowedFd<'_>, bytes: usize) {
    if sockopt::set_socket_recv_buffer_size_force(fd, bytes).is_err() {
        // Without the capability the kernel caps the size at rmem_max: still worth asking.
        let _ = sockopt::set_socket_recv_buffer_size(fd, bytes);
    }
}

/// Attaches a classic BPF socket filter: messages it rejects are dropped by the kernel before
/// they are queued on the socket.
pub fn attach_filter(fd: BorrowedFd<'_>, program: &[libc::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let fprog = libc::sock_fprog { len, filter: program.as_ptr().cast_mut() };
    // rustix has no SO_ATTACH_FILTER. SAFETY: `fprog` points at `program`, which outlives the
    // call (the kernel copies the instructions), and the option's length is `fprog`'s.
    let result = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            std::ptr::from_ref(&fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub fn send(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<()> {
    // The kernel is port 0.
    rustix::net::sendto(fd, bytes, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
    Ok(())
}

/// Receives one datagram into `buffer` (which keeps its capacity), returning its length.
pub fn receive(fd: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::net::recv(fd, &mut *buffer, RecvFlags::empty()) {
            Ok((received, _)) => return Ok(received),
            Err(Errno::INTR) => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

/// Sends `request` and feeds each reply message answering it (same `seq`)
/// to `on_reply`, until that breaks with the outcome.
fn exchange<R>(
    fd: BorrowedFd<'_>,
    request: &[u8],
    seq: u32,
    buffer: &mut [u8],
    mut on_reply: impl FnMut(Message<'_>) -> ControlFlow<io::Result<R>>,
) -> io::Result<R> {
    send(fd, request)?;
    loop {
        let len = receive(fd, buffer)?;
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "netlink socket closed"));
        }
        // Messages with another seq are late answers to an earlier, abandoned request.
        for message in messages(&buffer[..len]).filter(|message| message.seq == seq) {
            if let ControlFlow::Break(outcome) = on_reply(message) {
                return outcome;
            }
        }
    }
}

/// An `NLMSG_ERROR` payload as a result: code 0 is an acknowledgement.
fn acknowledged(payload: &[u8]) -> io::Result<()> {
    match error_code(payload) {
        Some(0) => Ok(()),
        Some(code) => Err(io::Error::from_raw_os_error(-code)),
        None => Err(io::Error::new(io::ErrorKind::InvalidData, "short netlink error")),
    }
}

/// Sends a dump request and hands every reply message of type other than
/// DONE/ERROR to `each`, until the kernel says DONE.
pub fn dump(
    fd: BorrowedFd<'_>,
    request: &[u8],
    seq: u32,
    buffer: &mut [u8],
    mut each: impl FnMut(Message<'_>),
) -> io::Result<()> {
    exchange(fd, request, seq, buffer, |message| match message.kind {
        NLMSG_DONE => ControlFlow::Break(Ok(())),
        NLMSG_ERROR => ControlFlow::Break(acknowledged(message.payload)),
        NLMSG_OVERRUN => ControlFlow::Break(Err(io::Error::new(io::ErrorKind::InvalidData, "netlink overrun"))),
        _ => {
            each(message);
            ControlFlow::Continue(())
        }
    })
}

/// Sends a single (non-dump) request and returns what `parse` makes of the
/// one reply; a kernel error reply becomes the matching `io::Error`.
pub fn request<T>(
    fd: BorrowedFd<'_>,
    request: &[u8],
    seq: u32,
    buffer: &mut [u8],
    mut parse: impl FnMut(Message<'_>) -> Option<T>,
) -> io::Result<Option<T>> {
    exchange(fd, request, seq, buffer, |message| {
        ControlFlow::Break(match message.kind {
            NLMSG_ERROR => acknowledged(message.payload).map(|()| None),
            _ => Ok(parse(message)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_attributes_round_trip() {
        let mut body = Vec::new();
        // One attribute of type 3 (with the nested flag) holding 2 bytes, padded to 8.
        body.extend_from_slice(&6u16.to_ne_bytes());
        body.extend_from_slice(&(3u16 | 0x8000).to_ne_bytes());
        body.extend_from_slice(&[0xab, 0xcd, 0, 0]);
        let mut datagram = Vec::new();
        push_message(&mut datagram, 42, NLM_F_REQUEST, 7, &body);
        push_message(&mut datagram, NLMSG_DONE, 0, 7, &[]);
        let all: Vec<_> = messages(&datagram).collect();
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].kind, all[0].seq), (42, 7));
        let attrs: Vec<_> = attributes(all[0].payload).collect();
        assert_eq!(attrs, vec![(3, &[0xab, 0xcd][..])]);
        assert_eq!(all[1].kind, NLMSG_DONE);
    }

    #[test]
    fn truncated_input_stops_iteration() {
        let mut datagram = Vec::new();
        push_message(&mut datagram, 42, 0, 1, &[1, 2, 3, 4]);
        for cut in 0..datagram.len() {
            assert!(messages(&datagram[..cut]).count() <= 1);
        }
        // A length field pointing past the end yields nothing.
        let mut bad = datagram.clone();
        bad[0] = 200;
        assert_eq!(messages(&bad).count(), 0);
        assert_eq!(attributes(&[5, 0, 1]).count(), 0);
        assert_eq!(attributes(&[2, 0, 1, 0]).count(), 0);
    }
}
