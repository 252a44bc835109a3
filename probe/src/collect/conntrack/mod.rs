//! Connections from conntrack: an initial dump, then new/destroy events over
//! netlink, so a client that connects and closes between two ticks (a
//! `wget` in a loop) still yields its client → server edge, and NAT to
//! published ports shows in the reply tuple.
//!
//! Flows are folded per client address → server endpoint (`table.rs`).
//!
//! The events come from the host's network namespace, where Docker's bridge
//! (with `br_netfilter`) tracks container-to-container traffic too, and from
//! every other namespace in use (`netns.rs`): flows that never
//! cross the host's netfilter are tracked only there. Each record carries its
//! namespace, so the app resolves its addresses (loopback above all) there.
//!
//! Without the eBPF tracer this is also where failed connects show: a TCP
//! flow destroyed without ever seeing a reply, refused or unanswered. With
//! it, TCP flows it counts are left out, in the kernel (`filter.rs`): what
//! remains is UDP and NATed TCP.
//!
//! The state (`tables.rs`) is the host's table and one per other namespace
//! (`netns.rs` reads those); nothing here imports back from them.

mod filter;
mod netns;
mod table;
mod tables;

use std::io;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use periscope_report::{Source, SourceState, SourceStatus};
use tracing::{debug, info, warn};

pub use self::filter::Wanted;
pub use self::table::{dump, parse_message, Event, Flow, Tuple};
pub use self::tables::Conntrack;
use crate::collect::capabilities::{Cap, Capabilities};
use crate::collect::conntrack::netns::Readers;
use crate::collect::conntrack::table::{apply_messages, events_socket, RESYNC_EVERY};
use crate::collect::{namespaces_in_use, Collector, Pass};
use crate::sys::netlink;
use crate::sys::proc_root::ProcRoot;

/// Events are read in batches this far apart.
const BATCH_EVERY: Duration = Duration::from_millis(500);

/// Copies the folded tables into the report, and tells the follower which namespaces are in use.
pub struct ConntrackCollector {
    state: Arc<Mutex<Conntrack>>,
}

impl ConntrackCollector {
    pub fn new(state: Arc<Mutex<Conntrack>>) -> ConntrackCollector {
        ConntrackCollector { state }
    }
}

impl Collector for ConntrackCollector {
    fn name(&self) -> &'static str {
        "conntrack"
    }

    fn collect(&mut self, pass: &mut Pass<'_>) {
        let in_use = namespaces_in_use(&pass.processes);
        let Ok(mut state) = self.state.lock() else { return };
        let Conntrack { host, netns } = &mut *state;
        netns.want(&in_use);
        host.expire(pass.now);
        netns.expire(pass.now);
        for connection in host.connections().chain(netns.connections(host)) {
            pass.report.connections.insert(connection);
        }
        pass.sources.push(SourceStatus { source: Source::Conntrack, state: netns.state(host.status()) });
    }
}

/// Follows conntrack events into `state` until dropped: the host's, and
/// those of the other namespaces the collector finds in use; marks the
/// source unavailable (once, with the reason) when conntrack cannot be used.
/// `wanted`: every flow, or (with the eBPF tracer) those it does not count.
pub async fn follow(state: Arc<Mutex<Conntrack>>, capabilities: Arc<Capabilities>, proc: ProcRoot, wanted: Wanted) {
    let set_status = |status: SourceState| {
        if let Ok(mut state) = state.lock() {
            state.host.set_status(status);
        }
    };
    let events = match events_socket(wanted, 8 * 1024 * 1024) {
        Ok(fd) => fd,
        Err(error) => {
            warn!(%error, "conntrack events unavailable; short-lived connections will be missed");
            set_status(capabilities.state_for_error("conntrack events", &error, Some(Cap::NetAdmin)));
            return;
        }
    };
    // Subscribe first, then dump, so no flow falls between the two.
    if let Err(error) = resync(&state, wanted).await {
        warn!(%error, "conntrack dump failed; following events only");
    }
    set_status(SourceState::Active);
    info!(?wanted, "following conntrack events");
    let mut buffer = vec![0u8; 256 * 1024];
    let mut last_resync = Instant::now();
    let mut readers = Readers::new(proc.clone(), capabilities.clone(), wanted);
    loop {
        // The sockets are drained on a timer and deliberately not registered with the
        // runtime's epoll: there, every datagram (hundreds a second on a busy host)
        // would wake the runtime even while this task sleeps. Events wait in the
        // sockets' buffers meanwhile; the report goes out once a tick anyway.
        tokio::time::sleep(BATCH_EVERY).await;
        let mut overflowed = false;
        loop {
            match netlink::receive(events.as_fd(), &mut buffer) {
                Ok(0) => break,
                Ok(len) => apply_datagram(&state, &buffer[..len], wanted),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => overflowed = true,
                Err(error) => {
                    warn!(%error, "conntrack event socket failed");
                    set_status(SourceState::Unavailable { reason: format!("conntrack events: {error}") });
                    return;
                }
            }
        }
        if overflowed || last_resync.elapsed() >= RESYNC_EVERY {
            if overflowed {
                debug!("conntrack events overflowed the socket buffer; re-dumping");
            }
            if let Err(error) = resync(&state, wanted).await {
                debug!(%error, "conntrack re-dump failed");
            }
            last_resync = Instant::now();
        }
        readers = follow_namespaces(readers, &state, &mut buffer)
            .await
            .unwrap_or_else(|| Readers::new(proc.clone(), capabilities.clone(), wanted));
    }
}

/// One batch of the other namespaces: their events drained here (non-blocking
/// reads), readers opened, closed and re-dumped on the blocking pool when needed.
/// `None` when the readers were lost (a panic): they start afresh.
async fn follow_namespaces(mut readers: Readers, state: &Arc<Mutex<Conntrack>>, buffer: &mut [u8]) -> Option<Readers> {
    let due = readers.drain(buffer, state);
    let changes = match state.lock() {
        Ok(state) => state.netns.changes(&readers.open()),
        Err(_) => return Some(readers),
    };
    if changes.open.is_empty() && changes.close.is_empty() && due.is_empty() {
        return Some(readers);
    }
    let state = state.clone();
    let blocking = tokio::task::spawn_blocking(move || {
        readers.apply(changes, &state);
        readers.resync(&due, &state);
        readers
    });
    match blocking.await {
        Ok(readers) => Some(readers),
        Err(error) => {
            warn!(%error, "conntrack namespace readers failed; reopening them");
            None
        }
    }
}

fn apply_datagram(state: &Mutex<Conntrack>, datagram: &[u8], wanted: Wanted) {
    let Ok(mut state) = state.lock() else { return };
    apply_messages(&mut state.host, datagram, Instant::now(), wanted);
}

async fn resync(state: &Arc<Mutex<Conntrack>>, wanted: Wanted) -> io::Result<()> {
    let flows = tokio::task::spawn_blocking(move || dump(wanted)).await.map_err(io::Error::other)??;
    if let Ok(mut state) = state.lock() {
        state.host.reset(&flows, Instant::now());
    }
    Ok(())
}
