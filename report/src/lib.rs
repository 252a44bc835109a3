//! Periscope's wire model, shared by probe and app.
//!
//! A probe describes its host as a [`Report`]: a [`Host`] and tables of
//! [`Process`], [`Container`], [`Image`], [`Socket`], [`Connection`] and
//! [`TracedFlow`], each
//! keyed by a typed ID from [`id`]. It sends a full report on connect, then
//! [`Delta`]s made by [`diff`] and replayed by [`apply`], all framed by the
//! [`Codec`] inside [`ProbeMessage`]s; the app answers with [`AppMessage`]s.
//!
//! ```
//! use periscope_report::{AppMessage, Codec, SnapshotReason};
//!
//! let codec = Codec::default();
//! let message = AppMessage::RequestSnapshot { reason: SnapshotReason::SequenceGap { expected: 7, got: 9 } };
//! let frame = codec.encode(&message).unwrap();
//! assert_eq!(codec.decode::<AppMessage>(&frame).unwrap(), message);
//! assert!(codec.decode::<AppMessage>(&frame[..3]).is_err());
//! ```
//!
//! This crate does no I/O and needs no async runtime.

pub mod codec;
pub mod container;
pub mod delta;
pub mod host;
pub mod id;
pub mod message;
pub mod process;
pub mod report;
pub mod socket;
pub mod table;
pub mod tenths;

#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures;

use serde::{Deserialize, Serialize};

pub use crate::codec::{Codec, DecodeError, EncodeError, StreamDecoder, StreamEncoder, WIRE_VERSION};
pub use crate::container::{Container, ContainerNetwork, ContainerState, ContainerStats, Health, Image, PortMapping};
pub use crate::delta::{apply, diff, ApplyError, Delta, Metered, TableDelta};
pub use crate::host::{Host, Interface, IpNetwork};
pub use crate::id::{ConnectionId, ContainerId, HostId, ImageId, ParseIdError, ProbeId, ProcessId, SocketId};
pub use crate::message::{AppMessage, ControlAction, ControlTarget, PipeId, ProbeMessage, RequestId, SnapshotReason};
pub use crate::process::{Process, ProcessMetrics};
pub use crate::report::{ProbeMeta, Report, Source, SourceState, SourceStatus};
pub use crate::socket::{
    Connection, Direction, FlowCounts, FlowOwner, Protocol, Socket, SocketState, TcpInfo, TracedFlow, TracedFlowId,
};
pub use crate::table::{Entity, Table};

/// Milliseconds since the Unix epoch: the one clock on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMillis(pub u64);
