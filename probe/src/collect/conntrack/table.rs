//! One conntrack table folded into connection records: the ctnetlink
//! message parser, the dump, and the table events feed.
//!
//! Flows are folded into one [`Connection`] per client address → server
//! endpoint: the client's ephemeral port (and its NATed twin in the reply
//! direction) is reported as 0. A `wget` every 0.2 s thus keeps one steady
//! record instead of five new ones a second, which is what the app draws
//! (an edge) and what keeps deltas small. A record whose flows have all
//! ended stays, `closed`, for the linger time, so the app sees it.
//!
//! A TCP flow destroyed without ever seeing a reply (conntrack's
//! `[UNREPLIED]`) was refused when conntrack dropped it at once (a reset as
//! the only reply makes it do so), unanswered when it timed out (2 minutes
//! after the SYN by default, so those count late).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use periscope_report::{Connection, ConnectionId, Protocol, SourceState};

use crate::collect::conntrack::filter::Wanted;
use crate::sys::netlink::{self, read_u16_be, read_u32_be};

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
/// Multicast groups NFNLGRP_CONNTRACK_NEW (1) and NFNLGRP_CONNTRACK_DESTROY (3), as a bind(2) bitmask.
pub const GROUPS_NEW_AND_DESTROY: u32 = 0b001 | 0b100;
const NFGENMSG_LEN: usize = 4;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_STATUS: u16 = 3;
/// Conntrack status bits (include/uapi/linux/netfilter/nf_conntrack_common.h).
const IPS_SEEN_REPLY: u32 = 1 << 1;
/// An unreplied flow destroyed sooner than this after it began was reset, not timed out.
const REFUSED_WITHIN: Duration = Duration::from_secs(5);
/// Flows whose start is remembered at most (to time their end); more are not timed.
const MAX_STARTED: usize = 262_144;
/// Failures count over this window.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
/// A full re-dump now and then heals counts skewed by events that raced the first dump.
pub const RESYNC_EVERY: Duration = Duration::from_secs(600);

/// One direction of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub protocol: Protocol,
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

/// A conntrack entry: the original direction (as the client sent it) and the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub original: Tuple,
    pub reply: Tuple,
    /// Conntrack's status bits (`IPS_*`), when the message carried them.
    pub status: Option<u32>,
}

/// How a destroyed flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Normal,
    Refused,
    Unanswered,
}

impl Flow {
    /// How a destroyed TCP flow ended, given how long it lived (when known).
    fn ending(&self, lived: Option<Duration>) -> Ending {
        let Some(status) = self.status.filter(|_| self.original.protocol == Protocol::Tcp) else {
            return Ending::Normal;
        };
        if status & IPS_SEEN_REPLY != 0 {
            return Ending::Normal;
        }
        match lived {
            Some(lived) if lived < REFUSED_WITHIN => Ending::Refused,
            _ => Ending::Unanswered,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    New(Flow),
    Destroy(Flow),
}

/// Parses one ctnetlink message (after the netlink header). Flows of other
/// protocols than TCP and UDP are `None`.
pub fn parse_message(kind: u16, payload: &[u8]) -> Option<Event> {
    if kind >> 8 != NFNL_SUBSYS_CTNETLINK {
        return None;
    }
    let attributes = payload.get(NFGENMSG_LEN..)?;
    let mut original = None;
    let mut reply = None;
    let mut status = None;
    for (attribute, value) in netlink::attributes(attributes) {
        match attribute {
            CTA_TUPLE_ORIG => original = parse_tuple(value),
            CTA_TUPLE_REPLY => reply = parse_tuple(value),
            CTA_STATUS => status = read_u32_be(value, 0),
            _ => {}
        }
    }
    let flow = Flow { original: original?, reply: reply?, status };
    match kind & 0xff {
        IPCTNL_MSG_CT_NEW => Some(Event::New(flow)),
        IPCTNL_MSG_CT_DELETE => Some(Event::Destroy(flow)),
        _ => None,
    }
}

fn parse_tuple(value: &[u8]) -> Option<Tuple> {
    let (mut source, mut destination) = (None, None);
    let (mut protocol, mut source_port, mut destination_port) = (None, None, None);
    for (attribute, inner) in netlink::attributes(value) {
        match attribute {
            CTA_TUPLE_IP => {
                for (kind, address) in netlink::attributes(inner) {
                    match kind {
                        CTA_IP_V4_SRC => source = ipv4(address),
                        CTA_IP_V4_DST => destination = ipv4(address),
                        CTA_IP_V6_SRC => source = ipv6(address),
                        CTA_IP_V6_DST => destination = ipv6(address),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (kind, field) in netlink::attributes(inner) {
                    match kind {
                        CTA_PROTO_NUM => protocol = field.first().copied(),
                        CTA_PROTO_SRC_PORT => source_port = read_u16_be(field, 0),
                        CTA_PROTO_DST_PORT => destination_port = read_u16_be(field, 0),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let protocol = match i32::from(protocol?) {
        libc::IPPROTO_TCP => Protocol::Tcp,
        libc::IPPROTO_UDP => Protocol::Udp,
        _ => return None,
    };
    Some(Tuple {
        protocol,
        source: SocketAddr::new(source?, source_port?),
        destination: SocketAddr::new(destination?, destination_port?),
    })
}

fn ipv4(bytes: &[u8]) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::from(read_u32_be(bytes, 0)?)))
}

fn ipv6(bytes: &[u8]) -> Option<IpAddr> {
    let octets: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(octets)))
}

/// A folded record: one client address → one server endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    id: ConnectionId,
    reply_source: SocketAddr,
    reply_destination: SocketAddr,
}

#[derive(Debug, Clone, Default)]
struct Group {
    live: u32,
    /// When the last live flow ended.
    closed_at: Option<Instant>,
    /// When flows of the group were refused or went unanswered, within the last minute.
    refused: Vec<Instant>,
    unanswered: Vec<Instant>,
}

/// The folded conntrack state, fed by events, read by each pass.
#[derive(Debug)]
pub struct ConntrackTable {
    netns: u64,
    linger: Duration,
    groups: HashMap<Key, Group>,
    /// When each live TCP flow began (by its original tuple), to tell a reset from a timeout.
    started: HashMap<Tuple, Instant>,
    status: SourceState,
    pub events: u64,
}

impl ConntrackTable {
    pub fn new(netns: u64, linger: Duration) -> ConntrackTable {
        ConntrackTable {
            netns,
            linger,
            groups: HashMap::new(),
            started: HashMap::new(),
            status: SourceState::Unavailable { reason: "starting".into() },
            events: 0,
        }
    }

    fn key(&self, flow: &Flow) -> Key {
        let without_port = |address: SocketAddr| SocketAddr::new(address.ip(), 0);
        Key {
            id: ConnectionId {
                protocol: flow.original.protocol,
                netns: self.netns,
                source: without_port(flow.original.source),
                destination: flow.original.destination,
            },
            reply_source: flow.reply.source,
            reply_destination: without_port(flow.reply.destination),
        }
    }

    pub fn apply(&mut self, event: Event, now: Instant) {
        self.events += 1;
        match event {
            Event::New(flow) => {
                if flow.original.protocol == Protocol::Tcp && self.started.len() < MAX_STARTED {
                    self.started.insert(flow.original, now);
                }
                let group = self.groups.entry(self.key(&flow)).or_default();
                group.live += 1;
                group.closed_at = None;
            }
            Event::Destroy(flow) => {
                // A flow whose start we missed still tells of an edge: record it closed.
                let group = self.groups.entry(self.key(&flow)).or_default();
                group.live = group.live.saturating_sub(1);
                if group.live == 0 {
                    group.closed_at = Some(now);
                }
                let lived = self.started.remove(&flow.original).map(|at| now.duration_since(at));
                match flow.ending(lived) {
                    Ending::Refused => group.refused.push(now),
                    Ending::Unanswered => group.unanswered.push(now),
                    Ending::Normal => {}
                }
            }
        }
    }

    /// Replaces the live counts with a fresh dump; groups absent from it are closed now.
    pub fn reset(&mut self, flows: &[Flow], now: Instant) {
        let live_tuples: std::collections::HashSet<Tuple> = flows.iter().map(|flow| flow.original).collect();
        self.started.retain(|tuple, _| live_tuples.contains(tuple));
        let mut live: HashMap<Key, u32> = HashMap::new();
        for flow in flows {
            *live.entry(self.key(flow)).or_default() += 1;
        }
        for (key, group) in self.groups.iter_mut() {
            if !live.contains_key(key) && group.live > 0 {
                group.live = 0;
                group.closed_at = Some(now);
            }
        }
        for (key, count) in live {
            let group = self.groups.entry(key).or_default();
            group.live = count;
            group.closed_at = None;
        }
    }

    /// Drops records closed for longer than the linger time (and failures older than a minute).
    pub fn expire(&mut self, now: Instant) {
        let linger = self.linger;
        let recent = |at: &Instant| now.duration_since(*at) < FAILURE_WINDOW;
        self.groups.retain(|_, group| {
            group.refused.retain(recent);
            group.unanswered.retain(recent);
            let failed_lately = !group.refused.is_empty() || !group.unanswered.is_empty();
            failed_lately || group.closed_at.is_none_or(|at| now.duration_since(at) < linger)
        });
    }

    pub fn connections(&self) -> impl Iterator<Item = Connection> + '_ {
        self.groups.iter().map(|(key, group)| Connection {
            id: key.id,
            reply_source: key.reply_source,
            reply_destination: key.reply_destination,
            closed: group.live == 0,
            refused: group.refused.len() as u32,
            unanswered: group.unanswered.len() as u32,
        })
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub fn status(&self) -> &SourceState {
        &self.status
    }

    pub fn set_status(&mut self, status: SourceState) {
        self.status = status;
    }
}

/// A socket subscribed to new and destroyed flows, with `buffer` bytes to queue them in, and
/// a filter in the kernel for the flows `wanted` leaves out.
pub fn events_socket(wanted: Wanted, buffer: usize) -> io::Result<std::os::fd::OwnedFd> {
    let events = netlink::open(rustix::net::netlink::NETFILTER, GROUPS_NEW_AND_DESTROY, true)?;
    netlink::set_receive_buffer(events.as_fd(), buffer);
    if let Some(program) = wanted.program() {
        // Not fatal: the events are filtered again as they are read (`apply_messages`).
        if let Err(error) = netlink::attach_filter(events.as_fd(), &program) {
            tracing::debug!(%error, "conntrack event filter not attached; filtering in the probe");
        }
    }
    Ok(events)
}

/// Dumps the current namespace's conntrack table (blocking): every flow `wanted` keeps.
pub fn dump(wanted: Wanted) -> io::Result<Vec<Flow>> {
    let fd = netlink::open(rustix::net::netlink::NETFILTER, 0, false)?;
    let mut request = Vec::new();
    let seq = 1;
    netlink::push_message(
        &mut request,
        (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET,
        netlink::NLM_F_REQUEST | netlink::NLM_F_DUMP,
        seq,
        &[libc::AF_UNSPEC as u8, 0, 0, 0],
    );
    let mut buffer = vec![0u8; 256 * 1024];
    let mut flows = Vec::new();
    netlink::dump(fd.as_fd(), &request, seq, &mut buffer, |message| {
        if let Some(Event::New(flow)) = parse_message(message.kind, message.payload) {
            if wanted.keeps(flow.original.protocol, flow.status) {
                flows.push(flow);
            }
        }
    })?;
    Ok(flows)
}

/// Applies every conntrack event of one datagram that `wanted` keeps to `table`.
pub fn apply_messages(table: &mut ConntrackTable, datagram: &[u8], now: Instant, wanted: Wanted) {
    for message in netlink::messages(datagram) {
        match parse_message(message.kind, message.payload) {
            Some(event @ (Event::New(flow) | Event::Destroy(flow)))
                if wanted.keeps(flow.original.protocol, flow.status) =>
            {
                table.apply(event, now)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::process::Command;

    use super::*;

    /// Builds a ctnetlink message the way the kernel does: nested tuples.
    fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((value.len() + 4) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(netlink::align4(out.len()), 0);
        out
    }

    fn tuple(source: [u8; 4], source_port: u16, destination: [u8; 4], destination_port: u16, protocol: u8) -> Vec<u8> {
        let ip = [attribute(CTA_IP_V4_SRC, &source), attribute(CTA_IP_V4_DST, &destination)].concat();
        let proto = [
            attribute(CTA_PROTO_NUM, &[protocol]),
            attribute(CTA_PROTO_SRC_PORT, &source_port.to_be_bytes()),
            attribute(CTA_PROTO_DST_PORT, &destination_port.to_be_bytes()),
        ]
        .concat();
        [attribute(CTA_TUPLE_IP | 0x8000, &ip), attribute(CTA_TUPLE_PROTO | 0x8000, &proto)].concat()
    }

    fn message(kind: u16, client_port: u16, protocol: u8) -> Vec<u8> {
        message_with_status(kind, client_port, protocol, None)
    }

    fn message_with_status(kind: u16, client_port: u16, protocol: u8, status: Option<u32>) -> Vec<u8> {
        let mut payload = vec![libc::AF_INET as u8, 0, 0, 0];
        payload.extend(attribute(
            CTA_TUPLE_ORIG | 0x8000,
            &tuple([172, 17, 0, 3], client_port, [172, 17, 0, 2], 80, protocol),
        ));
        payload.extend(attribute(
            CTA_TUPLE_REPLY | 0x8000,
            &tuple([172, 17, 0, 2], 80, [172, 17, 0, 3], client_port, protocol),
        ));
        if let Some(status) = status {
            payload.extend(attribute(CTA_STATUS, &status.to_be_bytes()));
        }
        let mut datagram = Vec::new();
        netlink::push_message(&mut datagram, (NFNL_SUBSYS_CTNETLINK << 8) | kind, 0, 0, &payload);
        datagram
    }

    fn parse(datagram: &[u8]) -> Option<Event> {
        let message = netlink::messages(datagram).next()?;
        parse_message(message.kind, message.payload)
    }

    #[test]
    fn parses_new_and_destroy() {
        let Some(Event::New(flow)) = parse(&message(IPCTNL_MSG_CT_NEW, 40000, 6)) else { panic!("not a new event") };
        assert_eq!(flow.original.source, "172.17.0.3:40000".parse().unwrap());
        assert_eq!(flow.original.destination, "172.17.0.2:80".parse().unwrap());
        assert_eq!(flow.reply.source, "172.17.0.2:80".parse().unwrap());
        assert_eq!(flow.original.protocol, Protocol::Tcp);
        assert!(matches!(parse(&message(IPCTNL_MSG_CT_DELETE, 40000, 17)), Some(Event::Destroy(_))));
        // ICMP flows are not connections we report.
        assert_eq!(parse(&message(IPCTNL_MSG_CT_NEW, 40000, 1)), None);
    }

    #[test]
    fn destroyed_flows_that_never_completed_count_as_refused_or_unanswered() {
        let start = Instant::now();
        let mut table = ConntrackTable::new(1, Duration::from_secs(30));
        let event = |kind, port, status| match parse(&message_with_status(kind, port, 6, Some(status))) {
            Some(event) => event,
            None => panic!("unparsed"),
        };
        for port in 40000..40003 {
            table.apply(event(IPCTNL_MSG_CT_NEW, port, 0), start);
        }
        // Reset at once: conntrack drops a flow whose only reply is a reset, unreplied.
        table.apply(event(IPCTNL_MSG_CT_DELETE, 40000, 0), start + Duration::from_millis(1));
        // No answer: the SYN_SENT timeout ends it, unreplied.
        table.apply(event(IPCTNL_MSG_CT_DELETE, 40001, 0), start + Duration::from_secs(120));
        // A normal connection saw its reply.
        table.apply(event(IPCTNL_MSG_CT_DELETE, 40002, IPS_SEEN_REPLY | 1 << 2), start + Duration::from_secs(120));
        let start = start + Duration::from_secs(120);
        let connection = table.connections().next().unwrap();
        assert_eq!((connection.refused, connection.unanswered), (1, 1));
        table.expire(start + Duration::from_secs(45));
        assert_eq!(table.len(), 1, "failures keep the record past the linger time");
        table.expire(start + Duration::from_secs(61));
        assert!(table.is_empty());
    }

    #[test]
    fn captured_dump_parses() {
        // `conntrack`'s netlink reply captured on this machine: a TCP flow to a container.
        let datagram = std::fs::read(format!("{}/testdata/conntrack_new.bin", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let events: Vec<_> = netlink::messages(&datagram).filter_map(|m| parse_message(m.kind, m.payload)).collect();
        assert!(!events.is_empty());
        assert!(events.iter().all(|e| matches!(e, Event::New(_))));
    }

    #[test]
    fn truncations_never_panic() {
        let datagram = message(IPCTNL_MSG_CT_NEW, 40000, 6);
        for cut in 0..datagram.len() {
            for message in netlink::messages(&datagram[..cut]) {
                let _outcome = parse_message(message.kind, message.payload);
            }
        }
    }

    #[test]
    fn flows_fold_per_client_address_and_linger_after_close() {
        let start = Instant::now();
        let mut table = ConntrackTable::new(1, Duration::from_secs(30));
        let flow = |port| match parse(&message(IPCTNL_MSG_CT_NEW, port, 6)) {
            Some(Event::New(flow)) => flow,
            other => panic!("{other:?}"),
        };
        for port in 40000..40010 {
            table.apply(Event::New(flow(port)), start);
        }
        assert_eq!(table.len(), 1);
        let connection = table.connections().next().unwrap();
        assert_eq!(connection.id.source, "172.17.0.3:0".parse().unwrap());
        assert_eq!(connection.id.destination, "172.17.0.2:80".parse().unwrap());
        assert!(!connection.closed && !connection.is_dnat());
        for port in 40000..40010 {
            table.apply(Event::Destroy(flow(port)), start);
        }
        assert!(table.connections().all(|c| c.closed));
        table.expire(start + Duration::from_secs(29));
        assert_eq!(table.len(), 1);
        table.expire(start + Duration::from_secs(31));
        assert!(table.is_empty());

        // A dump resets counts; groups missing from it close.
        table.apply(Event::New(flow(1)), start);
        table.reset(&[], start);
        assert!(table.connections().all(|c| c.closed));
        table.reset(&[flow(2), flow(3)], start);
        assert!(table.connections().all(|c| !c.closed));
    }

    /// The flows that reached `socket` (read raw: no filtering in the probe).
    fn received(socket: std::os::fd::BorrowedFd<'_>, into: &mut Vec<Flow>) {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(len @ 1..) = netlink::receive(socket, &mut buffer) {
            for message in netlink::messages(&buffer[..len]) {
                if let Some(Event::New(flow)) = parse_message(message.kind, message.payload) {
                    into.push(flow);
                }
            }
        }
    }

    /// The real kernel, in a network namespace of its own (run as root): the filter drops a
    /// TCP flow without NAT before it reaches the socket, and lets a NATed TCP flow and a UDP
    /// one through, which an unfiltered socket beside it sees all three of.
    #[test]
    fn the_kernel_drops_tcp_flows_without_nat() {
        let outcome = std::thread::spawn(|| {
            // SAFETY: only this thread's network namespace changes; it shares no file table or
            // memory layout with anything the unshare could affect.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
                .expect("a network namespace of its own");
            let run = |program: &str, args: &str| {
                let status = Command::new(program).args(args.split(' ')).status();
                assert!(status.is_ok_and(|status| status.success()), "{program} {args}");
            };
            run("ip", "link set lo up");
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            // A published port, as Docker makes one; the nat table also turns conntrack on here.
            let published = 18080;
            run(
                "iptables",
                &format!("-t nat -A OUTPUT -p tcp -d 127.0.0.1 --dport {published} -j DNAT --to-destination 127.0.0.1:{port}"),
            );
            let all = events_socket(Wanted::All, 1 << 20).unwrap();
            let untraced = events_socket(Wanted::Untraced, 1 << 20).unwrap();
            for target in [port, published] {
                let client = TcpStream::connect(("127.0.0.1", target)).unwrap();
                drop(listener.accept().unwrap());
                drop(client);
            }
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            udp.send_to(b"x", ("127.0.0.1", 9)).unwrap();

            let (mut seen_all, mut seen_untraced) = (Vec::new(), Vec::new());
            let deadline = Instant::now() + Duration::from_secs(10);
            while seen_all.len() < 3 && Instant::now() < deadline {
                received(all.as_fd(), &mut seen_all);
                std::thread::sleep(Duration::from_millis(10));
            }
            received(untraced.as_fd(), &mut seen_untraced);
            let summary = |flows: &[Flow]| {
                let mut kinds: Vec<(Protocol, u16)> =
                    flows.iter().map(|f| (f.original.protocol, f.original.destination.port())).collect();
                kinds.sort_unstable_by_key(|&(protocol, port)| (protocol as u8, port));
                kinds
            };
            (summary(&seen_all), summary(&seen_untraced), port, published)
        })
        .join()
        .unwrap();
        let (all, untraced, port, published) = outcome;
        let mut expected_all = vec![(Protocol::Tcp, port), (Protocol::Tcp, published), (Protocol::Udp, 9)];
        expected_all.sort_unstable_by_key(|&(protocol, port)| (protocol as u8, port));
        assert_eq!(all, expected_all, "the unfiltered socket sees every flow");
        let mut expected = vec![(Protocol::Tcp, published), (Protocol::Udp, 9)];
        expected.sort_unstable_by_key(|&(protocol, port)| (protocol as u8, port));
        assert_eq!(untraced, expected, "the filtered socket: the NATed flow and UDP only");
    }
}
