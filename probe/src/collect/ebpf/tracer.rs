//! The loaded tracer: the compiled `probe/bpf/connections.bpf.c` attached to
//! the BTF tracepoint `inet_sock_set_state`, and reads of its maps.
//!
//! Loading needs CAP_BPF and CAP_PERFMON (or root) and a kernel with BTF
//! (`/sys/kernel/btf/vmlinux`); BTF tracepoints attach without tracefs or
//! kprobes. The object is built by `probe/build.rs`; a probe built without
//! clang has none and [`Tracer::start`] says so.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kernel's `struct flow_key` (keep in step with the C source).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    #[error("attaching to inet_sock_set_state: {0}")]
    Attach(String),
    #[error("reading the tracer's maps: {0}")]
    Map(String),
}

#[cfg(periscope_ebpf)]
mod loaded {
    use std::os::fd::{AsFd, AsRawFd};

    use aya::maps::{Array, Map, MapData};
    use aya::programs::tp_btf::BtfTracePointLink;
    use aya::programs::BtfTracePoint;
    use aya::{Btf, EbpfLoader, Pod};

    use super::{FlowKey, FlowValue, Overflow, TracerError, OVERFLOW_FLOWS, OVERFLOW_SOCKETS};

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

    // SAFETY: both are repr(C) plain old data with explicit padding fields, valid for any bytes.
    unsafe impl Pod for FlowKey {}
    // SAFETY: as above.
    unsafe impl Pod for FlowValue {}

    static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/connections.bpf.o"));

    /// The attached program and its maps; detached and unloaded when dropped.
    pub struct Tracer {
        // Held for the attachment: dropping the link detaches the program. The loader's parsed
        // object (`Ebpf`) is dropped once the maps are taken: the kernel keeps the program alive
        // through the link, and the probe keeps megabytes less.
        _link: BtfTracePointLink,
        /// Read and pruned with batch commands: one `bpf(2)` per 512 entries, not two per entry.
        flows: MapData,
        overflow: Array<MapData, u64>,
        keys: Vec<FlowKey>,
        values: Vec<FlowValue>,
    }

    impl Tracer {
        pub fn start() -> Result<Tracer, TracerError> {
            let btf = Btf::from_sys_fs().map_err(|error| TracerError::Btf(error.to_string()))?;
            let mut ebpf =
                EbpfLoader::new().btf(Some(&btf)).load(OBJECT).map_err(|error| TracerError::Load(error.to_string()))?;
            let program: &mut BtfTracePoint = ebpf
                .program_mut("on_state_change")
                .ok_or_else(|| TracerError::Load("program on_state_change missing".into()))?
                .try_into()
                .map_err(|error: aya::programs::ProgramError| TracerError::Load(error.to_string()))?;
            program.load("inet_sock_set_state", &btf).map_err(|error| TracerError::Load(format!("{error:#}")))?;
            let link_id = program.attach().map_err(|error| TracerError::Attach(error.to_string()))?;
            let link = program.take_link(link_id).map_err(|error| TracerError::Attach(error.to_string()))?;
            let mut map =
                |name: &str| ebpf.take_map(name).ok_or_else(|| TracerError::Load(format!("map {name} missing")));
            let Map::HashMap(flows) = map("flows")? else {
                return Err(TracerError::Map("flows is not a hash map".into()));
            };
            let overflow = Array::try_from(map("overflow")?).map_err(|error| TracerError::Map(error.to_string()))?;
            drop(ebpf);
            let mut tracer = Tracer { _link: link, flows, overflow, keys: Vec::new(), values: Vec::new() };
            // Batch commands came with Linux 5.6; check now rather than fail every tick.
            tracer.lookup_batch(&mut Vec::new()).map_err(|error| TracerError::Map(format!("batch lookup: {error}")))?;
            Ok(tracer)
        }

        fn map_fd(&self) -> u32 {
            self.flows.fd().as_fd().as_raw_fd() as u32
        }

        fn lookup_batch(&mut self, out: &mut Vec<(FlowKey, FlowValue)>) -> Result<(), std::io::Error> {
            let zero = FlowKey {
                start_time: 0,
                tgid: 0,
                netns: 0,
                local: [0; 16],
                remote: [0; 16],
                port: 0,
                family: 0,
                inbound: 0,
                pad: 0,
            };
            self.keys.resize(BATCH, zero);
            self.values.resize(BATCH, FlowValue::default());
            let map_fd = self.map_fd();
            let mut token: u32 = 0;
            let mut first = true;
            loop {
                let mut next: u32 = 0;
                let mut attr = BatchAttr {
                    in_batch: if first { 0 } else { &token as *const u32 as u64 },
                    out_batch: &mut next as *mut u32 as u64,
                    keys: self.keys.as_mut_ptr() as u64,
                    values: self.values.as_mut_ptr() as u64,
                    count: BATCH as u32,
                    map_fd,
                    ..BatchAttr::default()
                };
                let result = batch(BPF_MAP_LOOKUP_BATCH, &mut attr);
                let count = (attr.count as usize).min(BATCH);
                out.extend(self.keys[..count].iter().copied().zip(self.values[..count].iter().copied()));
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
            let map_fd = self.map_fd();
            let mut rest = keys;
            while !rest.is_empty() {
                let chunk = &rest[..rest.len().min(BATCH)];
                self.keys.clear();
                self.keys.extend_from_slice(chunk);
                let mut attr = BatchAttr {
                    keys: self.keys.as_mut_ptr() as u64,
                    count: chunk.len() as u32,
                    map_fd,
                    ..BatchAttr::default()
                };
                match batch(BPF_MAP_DELETE_BATCH, &mut attr) {
                    Ok(_) => rest = &rest[chunk.len()..],
                    // The kernel stops at a key already gone (nothing but us removes any): skip it.
                    Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {
                        rest = &rest[(attr.count as usize + 1).min(rest.len())..];
                    }
                    Err(error) => {
                        tracing::debug!(%error, "pruning the tracer's flows failed");
                        return;
                    }
                }
            }
        }

        pub fn overflow(&self) -> Overflow {
            let get = |index| self.overflow.get(&index, 0).unwrap_or(0);
            Overflow { flows: get(OVERFLOW_FLOWS), sockets: get(OVERFLOW_SOCKETS) }
        }
    }
}

#[cfg(not(periscope_ebpf))]
mod loaded {
    use super::{FlowKey, FlowValue, Overflow, TracerError};

    /// Stands in for the tracer in a probe built without clang: it never starts.
    pub struct Tracer(());

    impl Tracer {
        pub fn start() -> Result<Tracer, TracerError> {
            Err(TracerError::NotBuilt)
        }

        pub fn read(&mut self, out: &mut Vec<(FlowKey, FlowValue)>) {
            out.clear();
        }

        pub fn remove(&mut self, _keys: &[FlowKey]) {}

        pub fn overflow(&self) -> Overflow {
            Overflow::default()
        }
    }
}

pub use loaded::Tracer;

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
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// The real kernel: a connection over loopback is counted under this process,
    /// and a connect to a closed port as refused.
    #[test]
    fn counts_a_loopback_connection_and_a_refused_one() {
        let mut tracer = Tracer::start().expect("the tracer loads and attaches (run as root)");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (server, _) = listener.accept().unwrap();
        drop(client);
        drop(server);
        assert!(TcpStream::connect(("127.0.0.1", closed_port)).is_err());

        let me = std::process::id();
        let mut entries = Vec::new();
        tracer.read(&mut entries);
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
}
