//! Sockets (from sock_diag or /proc/net), conntrack connections, and the
//! connections the eBPF tracer counted per process and peer.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::id::Protocol;
use crate::id::{ConnectionId, ContainerId, ParseIdError, ProcessId, SocketId};

/// The kernel's TCP states; UDP sockets are `Listen` when unconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Socket {
    pub id: SocketId,
    pub state: SocketState,
    /// The owning process; `None` when no live process holds the inode
    /// (TIME_WAIT sockets have inode 0).
    pub pid: Option<u32>,
    pub tcp: Option<TcpInfo>,
}

/// What `tcp_info` gives through INET_DIAG; absent from /proc/net/tcp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpInfo {
    pub rtt_us: u32,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub retransmits: u32,
}

/// A flow from conntrack: it outlives the sockets of short-lived clients and
/// shows NAT (the reply's source differs from the original destination).
/// The probe folds repeated flows from one client address to one server
/// endpoint into one record whose client port is 0, meaning "many ports".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    /// Reply direction as the server sent it: its source is the real server
    /// behind any DNAT (a published port).
    pub reply_source: std::net::SocketAddr,
    pub reply_destination: std::net::SocketAddr,
    /// Seen ending (a destroy event) but kept for a while (the probe's
    /// `--connection-linger-secs`) so the app learns of short-lived flows.
    pub closed: bool,
    /// TCP flows of this record that conntrack destroyed in the last minute without a reply
    /// (`[UNREPLIED]`), or after a reply that never completed the handshake (a refusal).
    pub refused: u32,
    pub unanswered: u32,
}

impl Connection {
    /// True when the flow was destination-NATed, e.g. to a published port.
    pub fn is_dnat(&self) -> bool {
        self.reply_source != self.id.destination
    }
}

/// Which end of its connections a traced flow counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Connections this host's process opened: the client's side.
    Outbound,
    /// Connections accepted here: the server's side.
    Inbound,
}

/// Who opened (or accepted) the connections of a traced flow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowOwner {
    /// A process of the report (it may have exited since; the flow keeps it until it ages out).
    Process(ProcessId),
    /// Processes too short-lived to be listed (each `wget` of a loop), folded by command name
    /// (`comm`) and container, or the host when `container` is `None`.
    Command { container: Option<ContainerId>, name: Arc<str> },
    /// Accepted connections whose listener has no known owner.
    Unknown,
}

/// Text form: `process:{process id}`, `command:{container or -}:{name}`, or `unknown`.
impl fmt::Display for FlowOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowOwner::Process(id) => write!(f, "process:{id}"),
            FlowOwner::Command { container: Some(container), name } => write!(f, "command:{container}:{name}"),
            FlowOwner::Command { container: None, name } => write!(f, "command:-:{name}"),
            FlowOwner::Unknown => f.write_str("unknown"),
        }
    }
}

impl FromStr for FlowOwner {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseIdError { kind: "flow owner", text: text.to_owned(), reason };
        if text == "unknown" {
            return Ok(FlowOwner::Unknown);
        }
        if let Some(process) = text.strip_prefix("process:") {
            return Ok(FlowOwner::Process(process.parse()?));
        }
        let rest = text.strip_prefix("command:").ok_or_else(|| err("expected process:, command: or unknown"))?;
        // Container IDs hold no ':', so the first one ends it; the name is the rest, whatever it holds.
        let (container, name) = rest.split_once(':').ok_or_else(|| err("expected command:{container}:{name}"))?;
        let container = match container {
            "-" => None,
            id => Some(id.parse().map_err(|_| err("empty container"))?),
        };
        Ok(FlowOwner::Command { container, name: Arc::from(name) })
    }
}

/// A traced flow: one owner's TCP connections between one local address and
/// one peer. Client ports are folded (0): outbound, `local` is the client's
/// address and `remote` the server's endpoint; inbound, `local` is the
/// listening endpoint and `remote` the client's address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TracedFlowId {
    pub direction: Direction,
    pub netns: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub owner: FlowOwner,
}

/// Text form: `{out|in}/{netns}/{local}/{remote}/{owner}` (the owner last, since it may hold '/').
impl fmt::Display for TracedFlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let direction = match self.direction {
            Direction::Outbound => "out",
            Direction::Inbound => "in",
        };
        write!(f, "{direction}/{}/{}/{}/{}", self.netns, self.local, self.remote, self.owner)
    }
}

impl FromStr for TracedFlowId {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseIdError { kind: "traced flow", text: text.to_owned(), reason };
        let mut parts = text.splitn(5, '/');
        let mut next = || parts.next().ok_or_else(|| err("expected direction/netns/local/remote/owner"));
        let direction = match next()? {
            "out" => Direction::Outbound,
            "in" => Direction::Inbound,
            _ => return Err(err("direction is neither out nor in")),
        };
        Ok(TracedFlowId {
            direction,
            netns: next()?.parse().map_err(|_| err("netns is not a number"))?,
            local: next()?.parse().map_err(|_| err("bad local address"))?,
            remote: next()?.parse().map_err(|_| err("bad remote address"))?,
            owner: next()?.parse()?,
        })
    }
}

/// Connections and their failures, over some span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowCounts {
    /// Connects started (outbound) or connections accepted (inbound).
    pub connections: u64,
    /// Connects answered by a reset or an ICMP error.
    pub refused: u64,
    /// Connects that got no answer (timed out, or given up by the process).
    pub unanswered: u64,
    /// Established connections ended by a reset, either way.
    pub reset: u64,
    pub retransmits: u64,
}

impl FlowCounts {
    /// Any failure at all: refused, unanswered, reset or retransmitted.
    pub fn has_failures(&self) -> bool {
        self.refused + self.unanswered + self.reset + self.retransmits > 0
    }
}

/// What the eBPF tracer counted for one [`TracedFlowId`]: every connection,
/// however short, and how each failed. The record stays while it has open
/// connections or anything counted in the last minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracedFlow {
    pub id: TracedFlowId,
    /// The owner's command name (`comm`) and container, so a flow whose process has exited
    /// (and left the report) still lands on the right node until it ages out.
    pub command: Arc<str>,
    pub container: Option<ContainerId>,
    /// Processes folded into a `Command` owner since the record appeared (1 for a process owner).
    pub processes: u32,
    /// Connections open now.
    pub open: u32,
    /// Since the record appeared.
    pub total: FlowCounts,
    /// Over the last 60 seconds.
    pub last_minute: FlowCounts,
    /// Of the connections closed: bytes this side sent and received (totals), mean smoothed RTT
    /// (over the last minute's), retransmits (totals). `None` until one closed after being established.
    pub tcp: Option<TcpInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::HostId;

    fn round_trip(id: TracedFlowId) {
        let text = id.to_string();
        assert_eq!(text.parse::<TracedFlowId>(), Ok(id), "text form {text:?}");
    }

    #[test]
    fn traced_flow_ids_round_trip() {
        let flow = |direction, owner| TracedFlowId {
            direction,
            netns: 4026531840,
            local: "172.17.0.3:0".parse().unwrap(),
            remote: "[fd00::1]:80".parse().unwrap(),
            owner,
        };
        round_trip(flow(
            Direction::Outbound,
            FlowOwner::Process(ProcessId { host: HostId::new("h@st/1"), pid: 7, start_time: 9 }),
        ));
        round_trip(flow(
            Direction::Inbound,
            FlowOwner::Command { container: Some(ContainerId::new("ab".repeat(32))), name: "a:b/c@d".into() },
        ));
        round_trip(flow(Direction::Outbound, FlowOwner::Command { container: None, name: "".into() }));
        round_trip(flow(Direction::Inbound, FlowOwner::Unknown));
    }

    #[test]
    fn bad_traced_flow_ids_are_errors() {
        for text in [
            "",
            "up/1/1.2.3.4:0/1.2.3.4:80/unknown",
            "out/1/1.2.3.4:0/1.2.3.4:80",
            "out/1/x/1.2.3.4:80/unknown",
            "out/1/1.2.3.4:0/1.2.3.4:80/someone",
            "out/1/1.2.3.4:0/1.2.3.4:80/command:abc",
        ] {
            assert!(text.parse::<TracedFlowId>().is_err(), "{text:?} should not parse");
        }
    }
}
