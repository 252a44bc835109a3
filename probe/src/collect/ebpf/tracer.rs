//! The loaded tracer: the compiled `probe/bpf/connections.bpf.c` attached to
//! the BTF tracepoint `inet_sock_set_state`, and reads of its maps.
//!
//! Loading needs CAP_BPF and CAP_PERFMON (or root) and a kernel with BTF
//! (`/sys/kernel/btf/vmlinux`); BTF tracepoints attach without tracefs or
//! kprobes. The object is built by `probe/build.rs`; a probe built without
//! clang has none and [`Tracer::start`] says so.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::collect::pids::{PidEvent, PidEvents, Started};
use crate::collect::socket::hashed::HashedCounts;

/// The kernel's `struct flow_key` (keep in step with the C source).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// The owner's start, in ns since boot (0 inbound).
    pub start_time: u64,
    /// The owner's pid (0 inbound).
    pub tgid: u32,
    pub netns: u32,
    pub local: [u8; 16],
    pub remote: [u8; 16],
    pub port: u16,
    /// 4 or 6.
    pub family: u8,
    pub inbound: u8,
    pub pad: u32,
}

/// The kernel's `struct flow_value`: counters since the entry was created.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowValue {
    pub attempts: u64,
    pub established: u64,
    pub closed: u64,
    pub refused: u64,
    pub unanswered: u64,
    pub reset: u64,
    pub retransmits: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub rtt_us_sum: u64,
    pub ppid: u32,
    pub comm: [u8; 16],
    pub pad: u32,
}

impl FlowKey {
    fn ip(family: u8, bytes: &[u8; 16]) -> IpAddr {
        if family == 4 {
            IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(*bytes))
        }
    }

    pub fn local_ip(&self) -> IpAddr {
        FlowKey::ip(self.family, &self.local)
    }

    pub fn remote_ip(&self) -> IpAddr {
        FlowKey::ip(self.family, &self.remote)
    }
}

impl FlowValue {
    /// Connections started and not yet ended.
    pub fn open(&self) -> u64 {
        self.attempts.saturating_sub(self.refused + self.unanswered + self.closed)
    }

    /// `comm` up to its NUL.
    pub fn command(&self) -> String {
        let end = self.comm.iter().position(|&byte| byte == 0).unwrap_or(self.comm.len());
        String::from_utf8_lossy(&self.comm[..end]).into_owned()
    }
}

/// Indexes of the kernel's `overflow` counters.
pub const OVERFLOW_FLOWS: u32 = 0;
pub const OVERFLOW_SOCKETS: u32 = 1;
pub const OVERFLOW_PROCESS_EVENTS: u32 = 2;

/// The key of `netns_tcp` under which its own overflow is counted (no namespace has inode 0).
pub const NETNS_TCP_OVERFLOW: u32 = 0;

/// The kernel's `struct process_event` kinds (keep in step with the C source).
const PROCESS_BORN: u32 = 1;
const PROCESS_EXEC: u32 = 2;
const PROCESS_GONE: u32 = 3;

/// One `process_events` record as the probe's process scan takes it.
fn process_event(record: &[u8]) -> Option<PidEvent> {
    let pid = u32::from_ne_bytes(record.get(0..4)?.try_into().ok()?);
    let kind = u32::from_ne_bytes(record.get(4..8)?.try_into().ok()?);
    let start = Started(u64::from_ne_bytes(record.get(8..16)?.try_into().ok()?));
    match kind {
        PROCESS_BORN => Some(PidEvent::Born(pid, start)),
        PROCESS_EXEC => Some(PidEvent::Exec(pid)),
        PROCESS_GONE => Some(PidEvent::Gone(pid, start)),
        _ => None,
    }
}

/// What was lost because a map was full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overflow {
    /// Events whose flow had no room.
    pub flows: u64,
    /// Connects or accepts whose socket could not be remembered (their close goes uncounted).
    pub sockets: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TracerError {
    #[error("this probe was built without the eBPF tracer (no clang at build time)")]
    NotBuilt,
    #[error("kernel BTF unavailable: {0}")]
    Btf(String),
    #[error("loading the tracer: {0}")]
    Load(String),
    #[error("attaching to {0}: {1}")]
    Attach(&'static str, String),
    #[error("reading the tracer's maps: {0}")]
    Map(String),
}

#[cfg(periscope_ebpf)]
mod loaded {
    use std::os::fd::{AsFd, AsRawFd};

    use aya::maps::{Array, Map, MapData, RingBuf};
    use aya::programs::tp_btf::BtfTracePointLink;
    use aya::programs::BtfTracePoint;
    use aya::{Btf, EbpfLoader, Pod};

    use std::collections::HashMap;

    use super::{
        process_event, FlowKey, FlowValue, Overflow, PidEvent, TracerError, NETNS_TCP_OVERFLOW, OVERFLOW_FLOWS,
        OVERFLOW_PROCESS_EVENTS, OVERFLOW_SOCKETS,
    };

    const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
    const BPF_MAP_DELETE_BATCH: libc::c_long = 27;
    /// Entries read or removed per `bpf(2)` call.
    const BATCH: usize = 512;

    /// `union bpf_attr`'s `batch` member (include/uapi/linux/bpf.h), padded as the kernel expects.
    #[repr(C)]
    #[derive(Default)]
    struct BatchAttr {
        in_batch: u64,
        out_batch: u64,
        keys: u64,
        values: u64,
        count: u32,
        map_fd: u32,
        elem_flags: u64,
        flags: u64,
        padding: [u64; 8],
    }

    /// One `bpf(2)` batch command; the count it processed, or the error.
    fn batch(command: libc::c_long, attr: &mut BatchAttr) -> Result<u32, std::io::Error> {
        // SAFETY: `attr` is a valid, fully initialized bpf_attr of the size passed; the pointers in
        // it point at buffers the caller sized for `attr.count` keys and values.
        let result = unsafe {
            libc::syscall(libc::SYS_bpf, command, attr as *mut BatchAttr, std::mem::size_of::<BatchAttr>() as u32)
        };
        if result < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(attr.count)
        }
    }

    /// Reads every entry of the hash map `map_fd` into `out` (after what it holds) with batch
    /// lookups, `BATCH` at a time through the `keys` and `values` buffers.
    fn lookup_all<K: Copy + Default, V: Copy + Default>(
        map_fd: u32,
        keys: &mut Vec<K>,
        values: &mut Vec<V>,
        out: &mut Vec<(K, V)>,
    ) -> Result<(), std::io::Error> {
        keys.resize(BATCH, K::default());
        values.resize(BATCH, V::default());
        let mut token: u32 = 0;
        let mut first = true;
        loop {
            let mut next: u32 = 0;
            let mut attr = BatchAttr {
                in_batch: if first { 0 } else { &token as *const u32 as u64 },
                out_batch: &mut next as *mut u32 as u64,
                keys: keys.as_mut_ptr() as u64,
                values: values.as_mut_ptr() as u64,
                count: BATCH as u32,
                map_fd,
                ..BatchAttr::default()
            };
            let result = batch(BPF_MAP_LOOKUP_BATCH, &mut attr);
            let count = (attr.count as usize).min(BATCH);
            out.extend(keys[..count].iter().copied().zip(values[..count].iter().copied()));
            match result {
                Ok(_) => {}
                // The end of the map (with the last entries, if any, in this batch).
                Err(error) if error.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                Err(error) => return Err(error),
            }
            token = next;
            first = false;
        }
    }

    /// Deletes `keys` from the hash map `map_fd` with batch deletes (through the `buffer`);
    /// keys already gone are skipped.
    fn delete_all<K: Copy>(map_fd: u32, keys: &[K], buffer: &mut Vec<K>) -> Result<(), std::io::Error> {
        let mut rest = keys;
        while !rest.is_empty() {
            let chunk = &rest[..rest.len().min(BATCH)];
            buffer.clear();
            buffer.extend_from_slice(chunk);
            let mut attr = BatchAttr {
                keys: buffer.as_mut_ptr() as u64,
                count: chunk.len() as u32,
                map_fd,
                ..BatchAttr::default()
            };
            match batch(BPF_MAP_DELETE_BATCH, &mut attr) {
                Ok(_) => rest = &rest[chunk.len()..],
                // The kernel stops at a key already gone: skip it.
                Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {
                    rest = &rest[(attr.count as usize + 1).min(rest.len())..];
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    // SAFETY: both are repr(C) plain old data with explicit padding fields, valid for any bytes.
    unsafe impl Pod for FlowKey {}
    // SAFETY: as above.
    unsafe impl Pod for FlowValue {}

    static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/connections.bpf.o"));

    /// The attached programs and their maps; detached and unloaded when dropped.
    pub struct Tracer {
        // Held for the attachments: dropping a link detaches its program. The loader's parsed
        // object (`Ebpf`) is dropped once the maps are taken: the kernel keeps the programs alive
        // through the links, and the probe keeps megabytes less.
        _links: Vec<BtfTracePointLink>,
        /// Read and pruned with batch commands: one `bpf(2)` per 512 entries, not two per entry.
        flows: MapData,
        overflow: Array<MapData, u64>,
        keys: Vec<FlowKey>,
        values: Vec<FlowValue>,
        /// Handed to the socket collector once ([`Tracer::take_netns_tcp`]).
        netns_tcp: Option<NetnsTcp>,
        /// Handed to the process collector once ([`Tracer::take_process_events`]).
        process_events: Option<ProcessEvents>,
    }

    /// The kernel's `process_events` ring: processes born, exec'd and gone, in order.
    pub struct ProcessEvents {
        ring: RingBuf<MapData>,
        /// Its overflow counter (a second handle on the tracer's `overflow` map).
        overflow: Array<MapData, u64>,
        lost: u64,
    }

    impl ProcessEvents {
        /// Every record since the last drain into `out`; false when some were lost since (the
        /// ring was full).
        pub fn drain(&mut self, out: &mut Vec<PidEvent>) -> bool {
            while let Some(record) = self.ring.next() {
                out.extend(process_event(&record));
            }
            let lost = self.overflow.get(&OVERFLOW_PROCESS_EVENTS, 0).unwrap_or(u64::MAX);
            let complete = lost == self.lost;
            self.lost = lost;
            complete
        }
    }

    /// The kernel's `netns_tcp` map: per namespace, TCP sockets hashed less those unhashed.
    pub struct NetnsTcp {
        map: MapData,
        keys: Vec<u32>,
        values: Vec<i64>,
        entries: Vec<(u32, i64)>,
    }

    impl NetnsTcp {
        fn map_fd(&self) -> u32 {
            self.map.fd().as_fd().as_raw_fd() as u32
        }

        /// Every namespace's count into `out`; false when the map overflowed (so some
        /// namespaces' sockets go uncounted) or could not be read.
        pub fn read(&mut self, out: &mut HashMap<u64, i64>) -> bool {
            self.entries.clear();
            if let Err(error) = lookup_all(self.map_fd(), &mut self.keys, &mut self.values, &mut self.entries) {
                tracing::debug!(%error, "reading the tracer's namespace counts failed");
                return false;
            }
            let mut overflowed = false;
            for &(netns, count) in &self.entries {
                if netns == NETNS_TCP_OVERFLOW {
                    overflowed = count != 0;
                } else {
                    out.insert(u64::from(netns), count);
                }
            }
            !overflowed
        }

        pub fn forget(&mut self, namespaces: &[u64]) {
            let keys: Vec<u32> = namespaces.iter().filter_map(|&netns| u32::try_from(netns).ok()).collect();
            if let Err(error) = delete_all(self.map_fd(), &keys, &mut self.keys) {
                tracing::debug!(%error, "pruning the tracer's namespace counts failed");
            }
        }
    }

    impl Tracer {
        pub fn start() -> Result<Tracer, TracerError> {
            let btf = Btf::from_sys_fs().map_err(|error| TracerError::Btf(error.to_string()))?;
            let mut ebpf =
                EbpfLoader::new().btf(Some(&btf)).load(OBJECT).map_err(|error| TracerError::Load(error.to_string()))?;
            let mut links = Vec::new();
            for (name, tracepoint) in [
                ("on_state_change", "inet_sock_set_state"),
                ("on_fork", "sched_process_fork"),
                ("on_exec", "sched_process_exec"),
                ("on_free", "sched_process_free"),
            ] {
                let program: &mut BtfTracePoint = ebpf
                    .program_mut(name)
                    .ok_or_else(|| TracerError::Load(format!("program {name} missing")))?
                    .try_into()
                    .map_err(|error: aya::programs::ProgramError| TracerError::Load(error.to_string()))?;
                program.load(tracepoint, &btf).map_err(|error| TracerError::Load(format!("{name}: {error:#}")))?;
                let link_id = program.attach().map_err(|error| TracerError::Attach(tracepoint, error.to_string()))?;
                links.push(
                    program.take_link(link_id).map_err(|error| TracerError::Attach(tracepoint, error.to_string()))?,
                );
            }
            let mut map =
                |name: &str| ebpf.take_map(name).ok_or_else(|| TracerError::Load(format!("map {name} missing")));
            let Map::HashMap(flows) = map("flows")? else {
                return Err(TracerError::Map("flows is not a hash map".into()));
            };
            let overflow_map = map("overflow")?;
            let Map::Array(overflow_data) = &overflow_map else {
                return Err(TracerError::Map("overflow is not an array".into()));
            };
            // A second handle on the same map, for the process events' own counter.
            let overflow_again = overflow_data
                .fd()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|error| TracerError::Map(error.to_string()))
                .and_then(|fd| MapData::from_fd(fd).map_err(|error| TracerError::Map(error.to_string())))?;
            let overflow = Array::try_from(overflow_map).map_err(|error| TracerError::Map(error.to_string()))?;
            let ring =
                RingBuf::try_from(map("process_events")?).map_err(|error| TracerError::Map(error.to_string()))?;
            let events_overflow =
                Array::try_from(Map::Array(overflow_again)).map_err(|error| TracerError::Map(error.to_string()))?;
            let lost = events_overflow.get(&OVERFLOW_PROCESS_EVENTS, 0).unwrap_or(0);
            let process_events = ProcessEvents { ring, overflow: events_overflow, lost };
            let mut netns_tcp = map("netns_tcp")?;
            // Its overflow counter exists from the start, so a full map can still count there.
            aya::maps::HashMap::<&mut MapData, u32, i64>::try_from(&mut netns_tcp)
                .and_then(|mut counts| counts.insert(NETNS_TCP_OVERFLOW, 0, 0))
                .map_err(|error| TracerError::Map(format!("netns_tcp: {error}")))?;
            let Map::HashMap(netns_tcp) = netns_tcp else {
                return Err(TracerError::Map("netns_tcp is not a hash map".into()));
            };
            drop(ebpf);
            let netns_tcp = NetnsTcp { map: netns_tcp, keys: Vec::new(), values: Vec::new(), entries: Vec::new() };
            let mut tracer = Tracer {
                _links: links,
                flows,
                overflow,
                keys: Vec::new(),
                values: Vec::new(),
                netns_tcp: Some(netns_tcp),
                process_events: Some(process_events),
            };
            // Batch commands came with Linux 5.6; check now rather than fail every tick.
            tracer.lookup_batch(&mut Vec::new()).map_err(|error| TracerError::Map(format!("batch lookup: {error}")))?;
            Ok(tracer)
        }

        fn map_fd(&self) -> u32 {
            self.flows.fd().as_fd().as_raw_fd() as u32
        }

        fn lookup_batch(&mut self, out: &mut Vec<(FlowKey, FlowValue)>) -> Result<(), std::io::Error> {
            lookup_all(self.map_fd(), &mut self.keys, &mut self.values, out)
        }

        /// Every flow entry with its counters (a failed read gives what was read before it).
        pub fn read(&mut self, out: &mut Vec<(FlowKey, FlowValue)>) {
            out.clear();
            if let Err(error) = self.lookup_batch(out) {
                tracing::debug!(%error, "reading the tracer's flows failed");
            }
        }

        /// Forgets entries the caller has accounted for. A counter the kernel adds between the
        /// caller's read and this removal is lost, so only idle entries are removed.
        pub fn remove(&mut self, keys: &[FlowKey]) {
            if let Err(error) = delete_all(self.map_fd(), keys, &mut self.keys) {
                tracing::debug!(%error, "pruning the tracer's flows failed");
            }
        }

        /// The namespace counts, for the socket collector (once).
        pub fn take_netns_tcp(&mut self) -> Option<NetnsTcp> {
            self.netns_tcp.take()
        }

        /// The process events, for the process collector (once).
        pub fn take_process_events(&mut self) -> Option<ProcessEvents> {
            self.process_events.take()
        }

        pub fn overflow(&self) -> Overflow {
            let get = |index| self.overflow.get(&index, 0).unwrap_or(0);
            Overflow { flows: get(OVERFLOW_FLOWS), sockets: get(OVERFLOW_SOCKETS) }
        }
    }
}

#[cfg(not(periscope_ebpf))]
mod loaded {
    use std::collections::HashMap;

    use super::{FlowKey, FlowValue, Overflow, PidEvent, TracerError};

    /// Stands in for the tracer in a probe built without clang: it never starts.
    pub struct Tracer(());

    /// Stands in for the namespace counts: there are none.
    pub struct NetnsTcp(());

    /// Stands in for the process events: there are none.
    pub struct ProcessEvents(());

    impl ProcessEvents {
        pub fn drain(&mut self, _out: &mut Vec<PidEvent>) -> bool {
            false
        }
    }

    impl NetnsTcp {
        pub fn read(&mut self, _out: &mut HashMap<u64, i64>) -> bool {
            false
        }

        pub fn forget(&mut self, _namespaces: &[u64]) {}
    }

    impl Tracer {
        pub fn start() -> Result<Tracer, TracerError> {
            Err(TracerError::NotBuilt)
        }

        pub fn read(&mut self, out: &mut Vec<(FlowKey, FlowValue)>) {
            out.clear();
        }

        pub fn remove(&mut self, _keys: &[FlowKey]) {}

        pub fn take_netns_tcp(&mut self) -> Option<NetnsTcp> {
            None
        }

        pub fn take_process_events(&mut self) -> Option<ProcessEvents> {
            None
        }

        pub fn overflow(&self) -> Overflow {
            Overflow::default()
        }
    }
}

pub use loaded::{NetnsTcp, ProcessEvents, Tracer};

impl PidEvents for ProcessEvents {
    fn drain(&mut self, out: &mut Vec<PidEvent>) -> bool {
        ProcessEvents::drain(self, out)
    }
}

impl HashedCounts for NetnsTcp {
    fn read(&mut self, out: &mut HashMap<u64, i64>) -> bool {
        NetnsTcp::read(self, out)
    }

    fn forget(&mut self, namespaces: &[u64]) {
        NetnsTcp::forget(self, namespaces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel_structs() {
        // struct flow_key and struct flow_value as clang lays them out for BPF (x86-64 alignment).
        assert_eq!(std::mem::size_of::<FlowKey>(), 56);
        assert_eq!(std::mem::size_of::<FlowValue>(), 104);
    }

    #[test]
    fn addresses_and_command() {
        let mut key = FlowKey {
            start_time: 1,
            tgid: 2,
            netns: 3,
            local: [0; 16],
            remote: [0; 16],
            port: 80,
            family: 4,
            inbound: 0,
            pad: 0,
        };
        key.local[..4].copy_from_slice(&[172, 17, 0, 3]);
        assert_eq!(key.local_ip(), "172.17.0.3".parse::<IpAddr>().unwrap());
        key.family = 6;
        key.remote = "fd00::1".parse::<Ipv6Addr>().unwrap().octets();
        assert_eq!(key.remote_ip(), "fd00::1".parse::<IpAddr>().unwrap());
        let mut value = FlowValue { attempts: 5, refused: 1, unanswered: 1, closed: 2, ..FlowValue::default() };
        value.comm[..4].copy_from_slice(b"wget");
        assert_eq!((value.open(), value.command().as_str()), (1, "wget"));
    }
}

#[cfg(all(test, periscope_ebpf))]
mod kernel_tests {
    use std::net::{SocketAddr, TcpListener, TcpStream};

    use super::*;

    /// The real kernel: a connection over loopback is counted under this process,
    /// and a connect to a closed port as refused.
    #[test]
    fn counts_a_loopback_connection_and_a_refused_one() {
        let mut tracer = Tracer::start().expect("the tracer loads and attaches (run as root)");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Bound but never listening: the port stays ours and refuses every connect. (A listener
        // closed for the purpose could outlive its close in a process another test forks.)
        let closed =
            rustix::net::socket(rustix::net::AddressFamily::INET, rustix::net::SocketType::STREAM, None).unwrap();
        rustix::net::bind(&closed, &SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        let closed_port = match rustix::net::getsockname(&closed).unwrap().try_into() {
            Ok(SocketAddr::V4(address)) => address.port(),
            other => panic!("an IPv4 address, not {other:?}"),
        };
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server, _) = listener.accept().unwrap();
        drop(client);
        drop(server);
        assert!(TcpStream::connect(("127.0.0.1", closed_port)).is_err());

        let me = std::process::id();
        let mut entries = Vec::new();
        // A child another test forks holds our descriptors until its exec, so the close may be
        // counted a little later: wait for it, with a deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            tracer.read(&mut entries);
            let closed = entries.iter().any(|(k, v)| k.tgid == me && k.port == port && k.inbound == 0 && v.closed > 0);
            if closed || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let outbound = |port: u16| entries.iter().find(|(k, _)| k.tgid == me && k.port == port && k.inbound == 0);
        let (key, value) = outbound(port).expect("the outbound flow");
        assert_eq!((key.family, key.remote_ip()), (4, "127.0.0.1".parse::<IpAddr>().unwrap()));
        assert_eq!((value.attempts, value.established, value.closed), (1, 1, 1), "{value:?}");
        assert!(!value.command().is_empty());
        let inbound = entries.iter().find(|(k, _)| k.inbound == 1 && k.port == port).expect("the accepted side");
        assert_eq!(inbound.1.established, 1);
        let (_, refused) = outbound(closed_port).expect("the refused flow");
        assert_eq!((refused.attempts, refused.refused, refused.established), (1, 1, 0));
        let keys: Vec<FlowKey> = entries.iter().map(|(key, _)| *key).collect();
        tracer.remove(&keys);
        let mut again = Vec::new();
        tracer.read(&mut again);
        assert!(again.iter().all(|(key, _)| !keys.contains(key)), "removed entries stay removed");
        assert_eq!(tracer.overflow(), Overflow::default());
    }

    /// The real kernel: a child's fork, exec and end come as events, in that order, the
    /// birth and the free with the start time /proc gives the child.
    #[test]
    fn process_events_follow_a_child() {
        let mut tracer = Tracer::start().expect("the tracer loads and attaches (run as root)");
        let mut events = tracer.take_process_events().expect("the process events");
        assert!(tracer.take_process_events().is_none(), "handed out once");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Until it is reaped the child stays in /proc, its start time with it.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let start_ticks: u64 = fields[19].parse().unwrap();
        child.wait().unwrap();
        // The leader is freed an RCU grace period after it is reaped.
        let mut seen = Vec::new();
        let gone = |seen: &Vec<PidEvent>| seen.iter().any(|e| matches!(e, PidEvent::Gone(p, _) if *p == pid));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !gone(&seen) && std::time::Instant::now() < deadline {
            let mut drained = Vec::new();
            assert!(events.drain(&mut drained), "nothing lost");
            seen.extend(drained.into_iter().filter(
                |event| matches!(event, PidEvent::Born(p, _) | PidEvent::Exec(p) | PidEvent::Gone(p, _) if *p == pid),
            ));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let [PidEvent::Born(_, born), PidEvent::Exec(_), PidEvent::Gone(_, freed)] = seen[..] else {
            panic!("born, exec'd and gone, in order: {seen:?}");
        };
        assert_eq!(born, freed, "the free names the process born");
        // SAFETY: sysconf reads a constant.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        assert_eq!(born.0 / (1_000_000_000 / ticks_per_second), start_ticks, "/proc's start time, in ns");
    }

    /// The real kernel: in a namespace of its own (nothing else there), the tracer's TCP count
    /// moves as the namespace's sockstat "TCP inuse" does, listeners coming and going.
    #[test]
    fn namespace_counts_follow_sockstat() {
        let mut tracer = Tracer::start().expect("the tracer loads and attaches (run as root)");
        let mut counts = tracer.take_netns_tcp().expect("the namespace counts");
        assert!(tracer.take_netns_tcp().is_none(), "handed out once");
        let outcome = std::thread::spawn(move || {
            // SAFETY: only this thread's network namespace changes; it shares no file table or
            // memory layout with anything the unshare could affect.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
                .expect("a network namespace of its own");
            let netns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
            let netns = crate::collect::process::namespace_inode(&netns.to_string_lossy()).unwrap();
            let inuse = || {
                let text = std::fs::read_to_string("/proc/thread-self/net/sockstat").unwrap();
                let mut kinds = crate::collect::socket::source::SocketKinds::default();
                crate::collect::socket::parse_sockstat(&text, &mut kinds);
                i64::from(kinds.tcp4)
            };
            let count = |counts: &mut NetnsTcp| {
                let mut all = HashMap::new();
                assert!(counts.read(&mut all), "no overflow");
                all.get(&netns).copied().unwrap_or(0)
            };
            let mut seen = vec![(count(&mut counts), inuse())];
            let listeners: Vec<TcpListener> = (0..3).map(|_| TcpListener::bind("0.0.0.0:0").unwrap()).collect();
            seen.push((count(&mut counts), inuse()));
            // A connection: the client's socket and the one the listener accepts.
            let up = std::process::Command::new("ip").args(["link", "set", "lo", "up"]).status();
            assert!(up.is_ok_and(|status| status.success()), "loopback up in the new namespace");
            let port = listeners[0].local_addr().unwrap().port();
            let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (server, _) = listeners[0].accept().unwrap();
            seen.push((count(&mut counts), inuse()));
            drop((client, server));
            drop(listeners);
            // Both ends reach CLOSE once their FINs are acknowledged (on loopback, at once or nearly).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while inuse() != 0 && std::time::Instant::now() < deadline {
                std::thread::yield_now();
            }
            seen.push((count(&mut counts), inuse()));
            counts.forget(&[netns]);
            seen.push((count(&mut counts), inuse()));
            seen
        })
        .join()
        .unwrap();
        assert_eq!(outcome, vec![(0, 0), (3, 3), (5, 5), (0, 0), (0, 0)]);
    }
}
