//! Typed identifiers for every entity on the wire.
//!
//! Each ID has exactly one text form (`Display`/`FromStr`), used in URLs and
//! JSON map keys; everything else passes IDs around as values, never as
//! joined strings.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a text form could not be parsed back into an ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id {text:?}: {reason}")]
pub struct ParseIdError {
    pub kind: &'static str,
    pub text: String,
    pub reason: &'static str,
}

impl ParseIdError {
    fn new(kind: &'static str, text: &str, reason: &'static str) -> Self {
        ParseIdError { kind, text: text.to_owned(), reason }
    }
}

/// IDs are shared, not copied: a report holds a host ID in every process
/// ID and is cloned and diffed every tick, so each clone of a `String` ID was
/// an allocation. The text sits behind an `Arc<str>`, which serializes as a
/// plain string (the wire does not change).
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                $name(Arc::from(id.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                if text.is_empty() {
                    return Err(ParseIdError::new($kind, text, "empty"));
                }
                Ok($name(Arc::from(text)))
            }
        }
    };
}

string_id!(
    /// A host's stable identity: its machine-id unless overridden.
    HostId,
    "host"
);
string_id!(
    /// One probe process; a probe ID is bound to the connection that registered it.
    ProbeId,
    "probe"
);
string_id!(
    /// Docker's full 64-hex container ID.
    ContainerId,
    "container"
);
string_id!(
    /// Docker's image ID (`sha256:…`).
    ImageId,
    "image"
);

/// A process: the pid alone is reused by the kernel, so the start time
/// (in clock ticks since boot, as in /proc/<pid>/stat) makes it unique.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProcessId {
    pub host: HostId,
    pub pid: u32,
    pub start_time: u64,
}

/// Text form: `{pid}.{start_time}@{host}` (the host may contain anything, so it goes last).
impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}@{}", self.pid, self.start_time, self.host)
    }
}

impl FromStr for ProcessId {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseIdError::new("process", text, reason);
        let (local, host) = text.split_once('@').ok_or_else(|| err("missing '@host'"))?;
        let (pid, start_time) = local.split_once('.').ok_or_else(|| err("missing '.start_time'"))?;
        Ok(ProcessId {
            host: host.parse().map_err(|_| err("empty host"))?,
            pid: pid.parse().map_err(|_| err("pid is not a number"))?,
            start_time: start_time.parse().map_err(|_| err("start time is not a number"))?,
        })
    }
}

/// A socket on one host: protocol, network namespace (inode of
/// /proc/<pid>/ns/net) and both ends. Listening sockets have an unspecified remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SocketId {
    pub protocol: Protocol,
    pub netns: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Text form: `{protocol}/{netns}/{local}/{remote}`, e.g. `tcp/4026531840/10.0.0.1:80/[::1]:5000`.
impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/{}", self.protocol, self.netns, self.local, self.remote)
    }
}

impl FromStr for SocketId {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseIdError::new("socket", text, reason);
        let mut parts = text.splitn(4, '/');
        let mut next = || parts.next().ok_or_else(|| err("expected protocol/netns/local/remote"));
        Ok(SocketId {
            protocol: next()?.parse().map_err(|_| err("unknown protocol"))?,
            netns: next()?.parse().map_err(|_| err("netns is not a number"))?,
            local: next()?.parse().map_err(|_| err("bad local address"))?,
            remote: next()?.parse().map_err(|_| err("bad remote address"))?,
        })
    }
}

/// A conntrack flow, named by its original direction (as the client sent it)
/// and the network namespace whose table it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConnectionId {
    pub protocol: Protocol,
    pub netns: u64,
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

/// Text form: `{protocol}/{netns}/{source}/{destination}`.
impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/{}", self.protocol, self.netns, self.source, self.destination)
    }
}

impl FromStr for ConnectionId {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let socket: SocketId = text.parse().map_err(|e: ParseIdError| ParseIdError { kind: "connection", ..e })?;
        Ok(ConnectionId {
            protocol: socket.protocol,
            netns: socket.netns,
            source: socket.local,
            destination: socket.remote,
        })
    }
}

/// A socket's transport: part of a socket's and a connection's identity.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(id: T)
    where
        T: fmt::Display + FromStr<Err = ParseIdError> + PartialEq + fmt::Debug,
    {
        let text = id.to_string();
        assert_eq!(text.parse::<T>().as_ref(), Ok(&id), "text form {text:?}");
    }

    #[test]
    fn text_forms_round_trip() {
        round_trip(HostId::new("4c4c4544-host@odd/name"));
        round_trip(ContainerId::new("3f2a".repeat(16)));
        round_trip(ProcessId { host: HostId::new("h@st"), pid: 42, start_time: 12345 });
        round_trip(SocketId {
            protocol: Protocol::Tcp,
            netns: 4026531840,
            local: "10.0.0.1:80".parse().unwrap(),
            remote: "[::1]:5000".parse().unwrap(),
        });
        round_trip(ConnectionId {
            protocol: Protocol::Udp,
            netns: 1,
            source: "[fe80::1]:53".parse().unwrap(),
            destination: "0.0.0.0:0".parse().unwrap(),
        });
    }

    #[test]
    fn bad_text_forms_are_errors() {
        assert!("".parse::<HostId>().is_err());
        assert!("42@host".parse::<ProcessId>().is_err());
        assert!("x.1@host".parse::<ProcessId>().is_err());
        assert!("1.2@".parse::<ProcessId>().is_err());
        assert!("tcp/1/10.0.0.1:80".parse::<SocketId>().is_err());
        assert!("sctp/1/10.0.0.1:80/10.0.0.2:1".parse::<SocketId>().is_err());
    }
}
