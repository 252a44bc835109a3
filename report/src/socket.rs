//! Sockets (from sock_diag or /proc/net) and conntrack connections.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::{ConnectionId, SocketId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

impl FromStr for Protocol {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            _ => Err(()),
        }
    }
}

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
}

impl Connection {
    /// True when the flow was destination-NATed, e.g. to a published port.
    pub fn is_dnat(&self) -> bool {
        self.reply_source != self.id.destination
    }
}
