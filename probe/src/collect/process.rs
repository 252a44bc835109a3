//! Processes from /proc: every live user-space process, its CPU share from
//! jiffy deltas, and its container from its cgroup.
//!
//! A process that started after the first scan is reported from its second
//! scan on, i.e. once it has lived through a tick: a `wget` or `sleep 0.2` in a client loop would otherwise
//! be an upsert in one delta and a removal in the next, every tick, telling
//! the operator nothing (its connection still shows, through conntrack).
//! An exited process is gone from the next report, so nothing piles up.
//!
//! The pids come from a listing of /proc each tick, or, with the eBPF tracer,
//! from its process events ([`pids`](crate::collect::pids)). Each tick reads
//! /proc/<pid>/stat only; the command line, owner, cgroup and
//! network namespace are read once per process (a process is a pid plus its
//! start time) and again only when its name changes (an `exec`). Kernel
//! threads are left out: they own no sockets and belong to no container.
//! Any file may vanish mid-scan with its process; that process is skipped.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use periscope_report::{ContainerId, HostId, Process, ProcessId, Source, SourceState, SourceStatus};

use crate::collect::cgroup::{read_proc_cgroup, CgroupPaths};
use crate::collect::pids::{PidEvents, Pids};
use crate::collect::{Collector, Pass, ScannedProcess};
use crate::sys::held::{read_small, Held};
use crate::sys::proc_root::ProcRoot;

const PF_KTHREAD: u32 = 0x0020_0000;

/// The fields of /proc/<pid>/stat the probe uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: u32,
    pub comm: String,
    pub ppid: u32,
    pub flags: u32,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    pub threads: u32,
    /// Clock ticks since boot.
    pub start_time: u64,
    pub rss_pages: u64,
}

/// Parses /proc/<pid>/stat. The name sits in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text.get(..open)?.trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_owned();
    // fields[0] is field 3 (state) of proc(5); the last one used is field 24 (rss).
    let mut fields = [""; 22];
    let mut rest = text.get(close + 1..)?.split_ascii_whitespace();
    for slot in fields.iter_mut() {
        *slot = rest.next()?;
    }
    let field = |n: usize| fields.get(n - 3).copied();
    let number = |n: usize| field(n).and_then(|f| f.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        comm,
        ppid: field(4)?.parse().ok()?,
        flags: field(9)?.parse().ok()?,
        cpu_ticks: number(14)?.saturating_add(number(15)?),
        threads: field(20)?.parse().ok()?,
        start_time: number(22)?,
        // A negative rss is impossible but the field is signed: treat it as 0.
        rss_pages: field(24)?.parse::<i64>().ok()?.max(0) as u64,
    })
}

/// NUL-separated arguments; a trailing NUL does not make an empty argument.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes.split(|b| *b == 0).map(|arg| String::from_utf8_lossy(arg).into_owned()).collect()
}

/// uid → name from /etc/passwd.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

/// The kernel keeps at most this many bytes of a process name (TASK_COMM_LEN - 1).
const COMM_MAX: usize = 15;

/// The name to report: /proc/<pid>/stat's name, unless the kernel cut it at
/// 15 bytes ("containerd-shim" for containerd-shim-runc-v2), then the
/// basename of argv[0] that it is the start of. Not argv[0] always: programs
/// rewrite it ("nginx: worker process", "-bash"), while the kernel's name
/// stays the executable's.
pub fn process_name<'a>(comm: &'a str, cmdline: &'a [String]) -> &'a str {
    if comm.len() < COMM_MAX {
        return comm;
    }
    let Some(argv0) = cmdline.first() else { return comm };
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    if base.len() > comm.len() && base.starts_with(comm) {
        base
    } else {
        comm
    }
}

/// What is read once per process, and what the last read found.
struct Known {
    start_time: u64,
    /// The kernel's name, to notice an `exec`.
    comm: Arc<str>,
    /// The name reported (see [`process_name`]).
    name: Arc<str>,
    cmdline: Arc<[String]>,
    user: Arc<str>,
    cgroup: Option<Arc<CgroupPaths>>,
    container: Option<ContainerId>,
    netns: Option<u64>,
    cpu_ticks: u64,
    read_at: Instant,
    /// Consecutive reads that found no CPU used.
    idle_reads: u32,
    last: Option<Process>,
    stat: Held,
}

/// A process idle for this many reads in a row is read only every [`IDLE_EVERY`]:
/// most processes on a host sleep, and their stat files are most of a scan's cost.
const IDLE_AFTER: u32 = 3;
const IDLE_EVERY: Duration = Duration::from_secs(10);
/// A new process is reported once it has been seen this long: a `sleep 1` or
/// a `wget` of a client loop never is (its connections still show, through
/// conntrack), so its command line is not sent for a process already gone.
pub const REPORT_AFTER: Duration = Duration::from_millis(1_500);

pub struct ProcessCollector {
    host: HostId,
    proc: ProcRoot,
    omit_cmd_args: bool,
    clock_ticks_per_sec: f64,
    page_size: u64,
    /// uid → name, shared by every process of that user.
    users: HashMap<u32, Arc<str>>,
    users_loaded: Option<Instant>,
    known: HashMap<u32, Known>,
    /// Seen once, not reported yet: pid → (start time, CPU ticks, when, its stat file).
    pending: HashMap<u32, (u64, u64, Instant, Held)>,
    /// Kernel threads seen: pid → (when its stat was read, its stat file). They
    /// are never reported, and a host has dozens, so their stat is read again
    /// only every [`IDLE_EVERY`] (a failed read means the pid now names
    /// another process, which is then read as new).
    kernel: HashMap<u32, (Instant, Held)>,
    /// Where each scan's pids come from.
    pids: Pids,
    /// The first scan reports every process: there is no earlier scan to have missed them.
    scanned: bool,
    stat_buffer: Vec<u8>,
}

impl ProcessCollector {
    /// Reads processes under `proc` (the host's /proc, or a captured tree in a test).
    pub fn new(host: HostId, omit_cmd_args: bool, proc: ProcRoot) -> ProcessCollector {
        ProcessCollector {
            host,
            pids: Pids::new(proc.clone()),
            proc,
            omit_cmd_args,
            clock_ticks_per_sec: rustix::param::clock_ticks_per_second().max(1) as f64,
            page_size: rustix::param::page_size() as u64,
            users: HashMap::new(),
            users_loaded: None,
            known: HashMap::new(),
            pending: HashMap::new(),
            kernel: HashMap::new(),
            scanned: false,
            stat_buffer: Vec::with_capacity(1024),
        }
    }

    /// Keeps the list of pids from the tracer's process events between listings of /proc
    /// ([`Pids`]); their pids must be the ones this /proc shows.
    pub fn follow(&mut self, events: Box<dyn PidEvents>) {
        self.pids.follow(events);
    }

    /// Whether the last scan listed /proc (rather than follow process events).
    pub fn listed_proc(&self) -> bool {
        self.pids.listed
    }

    fn user_name(&mut self, uid: u32, now: Instant) -> Arc<str> {
        let stale = self.users_loaded.is_none_or(|at| now.duration_since(at) > Duration::from_secs(60));
        if !self.users.contains_key(&uid) && stale {
            self.users = read_small("/etc/passwd")
                .map(|text| parse_passwd(&text).into_iter().map(|(uid, name)| (uid, Arc::from(name))).collect())
                .unwrap_or_default();
            self.users_loaded = Some(now);
        }
        self.users.get(&uid).cloned().unwrap_or_else(|| uid.to_string().into())
    }

    fn read_stat(&mut self, pid: u32, file: &mut Held) -> Option<ProcStat> {
        let proc = &self.proc;
        parse_stat(file.read_text(|| proc.pid_file(pid, "stat"), &mut self.stat_buffer)?)
    }

    fn learn(&mut self, stat: &ProcStat, now: Instant) -> Option<Known> {
        let pid = stat.pid;
        let uid = std::fs::metadata(self.proc.pid_dir(pid)).ok()?.uid();
        let mut cmdline =
            std::fs::read(self.proc.pid_file(pid, "cmdline")).map(|b| parse_cmdline(&b)).unwrap_or_default();
        if self.omit_cmd_args {
            cmdline.truncate(1);
        }
        crate::collect::redact::redact_args(&mut cmdline);
        let cgroup = read_proc_cgroup(&self.proc.pid_file(pid, "cgroup")).map(Arc::new);
        let netns = std::fs::read_link(self.proc.pid_file(pid, "ns/net"))
            .ok()
            .and_then(|link| namespace_inode(&link.to_string_lossy()));
        Some(Known {
            start_time: stat.start_time,
            comm: stat.comm.as_str().into(),
            name: process_name(&stat.comm, &cmdline).into(),
            cmdline: cmdline.into(),
            user: self.user_name(uid, now),
            container: cgroup.as_ref().and_then(|paths| paths.container_id()),
            cgroup,
            netns,
            cpu_ticks: stat.cpu_ticks,
            read_at: now,
            idle_reads: 0,
            last: None,
            stat: Held::new(),
        })
    }
}

/// `net:[4026531840]` → 4026531840.
pub fn namespace_inode(link: &str) -> Option<u64> {
    link.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

impl Collector for ProcessCollector {
    fn name(&self) -> &'static str {
        "process"
    }

    fn collect(&mut self, pass: &mut Pass<'_>) {
        let now = pass.now;
        let (pids, exec) = match self.pids.current(now) {
            Ok(scan) => (scan.pids.to_vec(), scan.exec.to_vec()),
            Err(error) => {
                pass.sources.push(SourceStatus {
                    source: Source::Proc,
                    state: SourceState::Unavailable { reason: format!("{}: {error}", self.proc.path().display()) },
                });
                return;
            }
        };
        pass.pids.clone_from(&pids);
        let mut seen: HashMap<u32, Known> = HashMap::with_capacity(pids.len());
        let mut pending: HashMap<u32, (u64, u64, Instant, Held)> = HashMap::new();
        let mut kernel: HashMap<u32, (Instant, Held)> = HashMap::with_capacity(self.kernel.len());
        // Listed, but their stat could not be read: gone since (sorted, as `pids` is).
        let mut gone = Vec::new();
        for pid in pids {
            if let Some((read_at, held)) = self.kernel.remove(&pid) {
                if now.duration_since(read_at) < IDLE_EVERY {
                    kernel.insert(pid, (read_at, held));
                    continue;
                }
                self.kernel.insert(pid, (read_at, held));
            }
            if let Some(mut known) = self.known.remove(&pid) {
                let resting = known.idle_reads >= IDLE_AFTER
                    && now.duration_since(known.read_at) < IDLE_EVERY
                    && exec.binary_search(&pid).is_err();
                if let (true, Some(process)) = (resting, known.last.clone()) {
                    pass.processes.push(ScannedProcess {
                        pid,
                        start_time: known.start_time,
                        netns: known.netns,
                        cpu_ticks_delta: 0,
                        cgroup: known.cgroup.clone(),
                    });
                    pass.report.processes.insert(process);
                    seen.insert(pid, known);
                    continue;
                }
                // Not resting: put it back for the read below.
                known.idle_reads = known.idle_reads.min(IDLE_AFTER);
                self.known.insert(pid, known);
            }
            // The stat file travels with the process: known, then pending, else a fresh one.
            let mut file = match (self.known.get_mut(&pid), self.pending.get_mut(&pid), self.kernel.remove(&pid)) {
                (Some(known), ..) => std::mem::take(&mut known.stat),
                (None, Some(entry), _) => std::mem::take(&mut entry.3),
                (None, None, Some((_, held))) => held,
                (None, None, None) => Held::new(),
            };
            let Some(stat) = self.read_stat(pid, &mut file) else {
                gone.push(pid);
                continue;
            };
            if stat.flags & PF_KTHREAD != 0 {
                kernel.insert(pid, (now, file));
                continue;
            }
            let previous = self.known.remove(&pid).filter(|known| known.start_time == stat.start_time);
            if previous.is_none() && self.scanned {
                // New: report it once it has lived [`REPORT_AFTER`], if it is still there.
                match self.pending.get(&pid) {
                    Some((start_time, _, first_seen, _))
                        if *start_time == stat.start_time && now.duration_since(*first_seen) >= REPORT_AFTER => {}
                    Some((start_time, cpu_ticks, first_seen, _)) if *start_time == stat.start_time => {
                        pending.insert(pid, (*start_time, *cpu_ticks, *first_seen, file));
                        continue;
                    }
                    _ => {
                        pending.insert(pid, (stat.start_time, stat.cpu_ticks, now, file));
                        continue;
                    }
                }
            }
            let mut known = match previous {
                // An exec keeps pid and start time but changes the name: read the rest again.
                Some(known) if *known.comm == *stat.comm => known,
                Some(previous) => match self.learn(&stat, now) {
                    Some(known) => Known { cpu_ticks: previous.cpu_ticks, read_at: previous.read_at, ..known },
                    None => continue,
                },
                None => match self.learn(&stat, now) {
                    // Count CPU from the first sight, so the first report has a real share.
                    Some(known) => match self.pending.get(&pid) {
                        Some((_, cpu_ticks, at, _)) => Known { cpu_ticks: *cpu_ticks, read_at: *at, ..known },
                        None => known,
                    },
                    None => continue,
                },
            };
            let cpu_ticks_delta = stat.cpu_ticks.saturating_sub(known.cpu_ticks);
            let elapsed = now.duration_since(known.read_at).as_secs_f64();
            let cpu_percent =
                if elapsed > 0.0 { cpu_ticks_delta as f64 / self.clock_ticks_per_sec / elapsed * 100.0 } else { 0.0 };
            known.stat = file;
            known.cpu_ticks = stat.cpu_ticks;
            known.read_at = now;
            known.idle_reads = if cpu_ticks_delta == 0 { known.idle_reads + 1 } else { 0 };
            pass.processes.push(ScannedProcess {
                pid,
                start_time: stat.start_time,
                netns: known.netns,
                cpu_ticks_delta,
                cgroup: known.cgroup.clone(),
            });
            let process = Process {
                id: ProcessId { host: self.host.clone(), pid, start_time: stat.start_time },
                ppid: stat.ppid,
                name: known.name.clone(),
                cmdline: known.cmdline.clone(),
                user: known.user.clone(),
                threads: stat.threads,
                cpu_percent: crate::collect::cgroup::round_percent(cpu_percent),
                rss_bytes: stat.rss_pages.saturating_mul(self.page_size),
                open_fds: 0,
                container: known.container.clone(),
            };
            known.last = Some(process.clone());
            pass.report.processes.insert(process);
            seen.insert(pid, known);
        }
        // Whatever was not seen has exited: forget it, so nothing piles up.
        self.pids.forget(&gone);
        self.known = seen;
        self.pending = pending;
        self.kernel = kernel;
        self.scanned = true;
        pass.sources.push(SourceStatus { source: Source::Proc, state: SourceState::Active });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(collector: &mut ProcessCollector, now: Instant) -> periscope_report::Report {
        let mut report = periscope_report::fixtures::ReportBuilder::new("test").build();
        let mut pass = Pass { now, report: &mut report, processes: Vec::new(), pids: Vec::new(), sources: Vec::new() };
        collector.collect(&mut pass);
        report
    }

    /// A captured /proc tree the test writes and changes between scans: what
    /// the process state machine does is checked on known input, not on
    /// whatever this machine runs.
    struct Tree {
        root: std::path::PathBuf,
    }

    impl Tree {
        fn new(name: &str) -> Tree {
            let root = std::env::temp_dir().join(format!("periscope-proc-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root).unwrap();
            Tree { root }
        }

        /// Writes /proc/<pid>/{stat,cmdline,cgroup,ns/net} in the kernel's formats.
        /// `stat` is (comm, flags, CPU ticks, start time).
        fn process(&self, pid: u32, stat: (&str, u32, u64, u64), cmdline: &str, cgroup: &str) {
            let dir = self.root.join(pid.to_string());
            std::fs::create_dir_all(dir.join("ns")).unwrap();
            self.stat(pid, stat.0, stat.1, stat.2, stat.3);
            std::fs::write(dir.join("cmdline"), cmdline.replace(' ', "\0") + "\0").unwrap();
            std::fs::write(dir.join("cgroup"), cgroup).unwrap();
            let netns = dir.join("ns/net");
            if netns.symlink_metadata().is_err() {
                std::os::unix::fs::symlink(format!("net:[{}]", 4026531840 + u64::from(pid)), netns).unwrap();
            }
        }

        /// Rewrites the stat file in place (a held file reads the new content, as /proc's would).
        fn stat(&self, pid: u32, comm: &str, flags: u32, cpu_ticks: u64, start_time: u64) {
            let text = format!(
                "{pid} ({comm}) S 1 {pid} {pid} 0 -1 {flags} 0 0 0 0 {cpu_ticks} 0 0 0 20 0 1 0 {start_time} 1000 25 \
                 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
            );
            std::fs::write(self.root.join(pid.to_string()).join("stat"), text).unwrap();
        }

        /// The process exits: its held stat file reads empty (as a dead pid's fails), and the pid is gone.
        fn exit(&self, pid: u32) {
            let dir = self.root.join(pid.to_string());
            std::fs::write(dir.join("stat"), "").unwrap();
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            // Best effort: a leftover temp directory is harmless.
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    fn scan_tree(collector: &mut ProcessCollector, now: Instant) -> (periscope_report::Report, Vec<ScannedProcess>) {
        let mut report = periscope_report::fixtures::ReportBuilder::new("test").build();
        let mut pass = Pass { now, report: &mut report, processes: Vec::new(), pids: Vec::new(), sources: Vec::new() };
        collector.collect(&mut pass);
        let processes = pass.processes;
        (report, processes)
    }

    fn reported(report: &periscope_report::Report, pid: u32) -> Option<&Process> {
        report.processes.iter().find(|p| p.id.pid == pid)
    }

    /// The state machine on a captured tree: the first scan reports every user
    /// process (kernel threads never), with its container and namespace; a new
    /// process waits [`REPORT_AFTER`]; an exec is read again; CPU is the jiffy
    /// delta over the time passed; an exited process is gone at once.
    #[test]
    fn process_lifecycle_on_a_captured_tree() {
        let tree = Tree::new("lifecycle");
        let id = "ab".repeat(32);
        tree.process(1, ("init", 0x400100, 500, 10), "/sbin/init", "0::/init.scope\n");
        tree.process(2, ("kthreadd", 0x208040, 0, 11), "", "0::/\n");
        tree.process(
            100,
            ("httpd", 0x400100, 20, 5000),
            "httpd -f -p 80",
            &format!("0::/system.slice/docker-{id}.scope\n"),
        );
        let mut collector = ProcessCollector::new(HostId::new("test"), false, ProcRoot::new(&tree.root));
        let start = Instant::now();
        let at = |millis: u64| start + Duration::from_millis(millis);

        let (report, scanned) = scan_tree(&mut collector, at(0));
        assert_eq!(report.processes.len(), 2, "init and httpd, not kthreadd: {:?}", report.processes);
        let httpd = reported(&report, 100).unwrap();
        assert_eq!(httpd.container.as_ref().map(|c| c.to_string()), Some(id.clone()));
        assert_eq!(*httpd.cmdline, ["httpd", "-f", "-p", "80"].map(String::from));
        assert_eq!(scanned.iter().find(|p| p.pid == 100).and_then(|p| p.netns), Some(4026531840 + 100));

        // A second: init used 100 ticks (a whole core at 100 Hz); a wget starts.
        tree.stat(1, "init", 0x400100, 600, 10);
        tree.process(200, ("wget", 0x400000, 0, 6000), "wget -q http://172.17.0.2/", "0::/\n");
        let (report, _) = scan_tree(&mut collector, at(1000));
        let ticks = collector.clock_ticks_per_sec;
        assert_eq!(reported(&report, 1).unwrap().cpu_percent, (100.0 / ticks * 100.0 * 10.0).round() / 10.0);
        assert!(reported(&report, 200).is_none(), "a new process is not reported at first sight");
        let (report, _) = scan_tree(&mut collector, at(2000));
        assert!(reported(&report, 200).is_none(), "nor before it has lived {REPORT_AFTER:?}");
        let (report, _) = scan_tree(&mut collector, at(2600));
        assert_eq!(reported(&report, 200).map(|p| &*p.name), Some("wget"), "reported once it lived long enough");

        // httpd execs nginx: same pid and start time, a new name and command line.
        tree.process(
            100,
            ("nginx", 0x400100, 20, 5000),
            "nginx -g daemon",
            &format!("0::/system.slice/docker-{id}.scope\n"),
        );
        // It has used no CPU for three reads, so it rests: read again only after IDLE_EVERY.
        let (report, _) = scan_tree(&mut collector, at(3600));
        assert_eq!(&*reported(&report, 100).unwrap().name, "httpd", "an idle process is not re-read every tick");
        let later = 2600 + IDLE_EVERY.as_millis() as u64;
        let (report, _) = scan_tree(&mut collector, at(later));
        let nginx = reported(&report, 100).unwrap();
        assert_eq!((&*nginx.name, nginx.cmdline.len()), ("nginx", 3), "read again within {IDLE_EVERY:?}");

        // wget exits, and its pid is reused by another process: a new one, waiting its turn.
        tree.exit(200);
        let (report, _) = scan_tree(&mut collector, at(later + 1000));
        assert!(reported(&report, 200).is_none(), "an exited process is gone from the next report");
        tree.process(200, ("sleep", 0x400000, 0, 9000), "sleep 5", "0::/\n");
        let (report, _) = scan_tree(&mut collector, at(later + 2000));
        assert!(reported(&report, 200).is_none(), "a reused pid is a new process");
        assert_eq!(report.processes.len(), 2);
    }

    /// Against the real /proc: kernel threads are never reported, and once
    /// seen they are not read again every tick (a host has dozens of them),
    /// while user processes, this one included, are reported on every scan.
    #[test]
    fn kernel_threads_are_remembered_not_reported() {
        let mut collector = ProcessCollector::new(HostId::new("test"), false, ProcRoot::default());
        let start = Instant::now();
        let own = std::process::id();
        for tick in 0..3 {
            let report = scan(&mut collector, start + Duration::from_secs(tick));
            assert!(report.processes.iter().any(|p| p.id.pid == own), "this process is reported on scan {tick}");
            assert!(!collector.kernel.is_empty(), "the host's kernel threads are found (kthreadd at least)");
            assert!(
                report.processes.iter().all(|p| !collector.kernel.contains_key(&p.id.pid)),
                "no kernel thread is reported"
            );
            // Kernel workers come and go; those from the first scan are not read again.
            let first_seen = collector.kernel.values().filter(|(read_at, _)| *read_at == start).count();
            assert!(first_seen > 0, "kernel threads from the first scan are not re-read within {IDLE_EVERY:?}");
        }
        let later = start + IDLE_EVERY + Duration::from_secs(1);
        scan(&mut collector, later);
        assert!(collector.kernel.values().all(|(read_at, _)| *read_at == later), "re-read after {IDLE_EVERY:?}");
    }

    #[test]
    fn stat_with_odd_name() {
        let text = "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 99 0 0 0 150 50 0 0 20 0 3 0 54363 3133440 359 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let stat = parse_stat(text).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                pid: 4242,
                comm: "my (odd) proc".into(),
                ppid: 1,
                flags: 4194560,
                cpu_ticks: 200,
                threads: 3,
                start_time: 54363,
                rss_pages: 359,
            }
        );
    }

    #[test]
    fn stat_captured_from_this_machine() {
        let text =
            std::fs::read_to_string(format!("{}/testdata/proc_stat_kthread.txt", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let stat = parse_stat(&text).unwrap();
        assert_eq!(stat.comm, "kthreadd");
        assert_ne!(stat.flags & PF_KTHREAD, 0);
    }

    #[test]
    fn truncated_stat_is_none() {
        assert_eq!(parse_stat("12 (sh) S 1 2"), None);
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("x (sh) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22"), None);
    }

    #[test]
    fn cmdlines() {
        assert_eq!(parse_cmdline(b"httpd\0-f\0-p\080\0"), vec!["httpd", "-f", "-p", "80"]);
        assert_eq!(parse_cmdline(b""), Vec::<String>::new());
        assert_eq!(parse_cmdline(b"kworker"), vec!["kworker"]);
        assert_eq!(parse_cmdline(b"a\0\0b\0"), vec!["a", "", "b"]);
    }

    /// Following events, a pid whose stat cannot be read (its process was reaped, its free
    /// not yet seen, or never to be) is read once, not every tick until /proc is listed again.
    #[test]
    fn a_pid_found_gone_leaves_the_event_list() {
        let tree = Tree::new("gone");
        tree.process(1, ("init", 0x400100, 500, 10), "/sbin/init", "0::/init.scope\n");
        let mut collector = ProcessCollector::new(HostId::new("test"), false, ProcRoot::new(&tree.root));
        let events = crate::collect::pids::script::Script::default();
        collector.follow(Box::new(events.clone()));
        let start = Instant::now();
        let pids = |collector: &mut ProcessCollector, secs: u64| {
            let mut report = periscope_report::fixtures::ReportBuilder::new("test").build();
            let mut pass = Pass {
                now: start + Duration::from_secs(secs),
                report: &mut report,
                processes: Vec::new(),
                pids: Vec::new(),
                sources: Vec::new(),
            };
            collector.collect(&mut pass);
            pass.pids
        };
        assert_eq!(pids(&mut collector, 0), vec![1]);
        events.push([crate::collect::pids::PidEvent::Born(200, crate::collect::pids::Started(1))]);
        assert_eq!(pids(&mut collector, 1), vec![1, 200], "born, as far as the events go");
        assert_eq!(pids(&mut collector, 2), vec![1], "its stat could not be read: gone");
        assert!(!collector.listed_proc(), "without listing /proc");
    }

    #[test]
    fn names_cut_by_the_kernel_come_whole_from_argv0() {
        let cmd = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let shim = cmd(&["/usr/bin/containerd-shim-runc-v2", "-namespace", "moby"]);
        assert_eq!(process_name("containerd-shim", &shim), "containerd-shim-runc-v2");
        // Short names are whole already; a rewritten argv[0] is not a name.
        assert_eq!(process_name("nginx", &cmd(&["nginx: worker process"])), "nginx");
        assert_eq!(process_name("kube-controller", &cmd(&["something-else"])), "kube-controller");
        assert_eq!(process_name("kube-controller", &[]), "kube-controller");
    }

    #[test]
    fn passwd_and_namespaces() {
        let users = parse_passwd("root:x:0:0:root:/root:/bin/sh\nbroken\nnobody:x:65534:65534::/:/bin/false\n");
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&65534).map(String::as_str), Some("nobody"));
        assert_eq!(users.len(), 2);
        assert_eq!(namespace_inode("net:[4026531840]"), Some(4026531840));
        assert_eq!(namespace_inode("net:4026531840"), None);
    }

    #[cfg(periscope_ebpf)]
    mod kernel_tests {
        use std::io::Write;
        use std::process::{Command, Stdio};

        use super::*;
        use crate::collect::ebpf::tracer::Tracer;

        /// The real kernel and /proc: with the tracer's events the scan lists /proc once, then
        /// finds a new process, its exec while it rests, and its end from the events alone.
        #[test]
        fn the_scan_follows_the_tracers_process_events() {
            let mut tracer = Tracer::start().expect("the tracer loads and attaches (run as root)");
            let mut collector = ProcessCollector::new(HostId::new("test"), false, ProcRoot::default());
            collector.follow(Box::new(tracer.take_process_events().unwrap()));
            let start = Instant::now();
            let at = |secs: u64| start + Duration::from_secs(secs);
            scan(&mut collector, at(0));
            assert!(collector.listed_proc(), "the first scan lists /proc");

            let mut child =
                Command::new("sh").args(["-c", "read line; exec sleep 60"]).stdin(Stdio::piped()).spawn().unwrap();
            let pid = child.id();
            let name = |report: &periscope_report::Report| {
                report.processes.iter().find(|p| p.id.pid == pid).map(|p| p.name.to_string())
            };
            // Reported once it lived REPORT_AFTER; idle for three reads, it then rests.
            let mut names = Vec::new();
            for tick in 1..=8 {
                names.push(name(&scan(&mut collector, at(tick))));
                assert!(!collector.listed_proc(), "scan {tick} followed the events");
            }
            assert_eq!(names.last(), Some(&Some("sh".to_owned())), "{names:?}");
            assert!(collector.known[&pid].idle_reads >= IDLE_AFTER, "it rests: not read again for {IDLE_EVERY:?}");

            child.stdin.take().unwrap().write_all(b"go\n").unwrap();
            let comm = format!("/proc/{pid}/comm");
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::fs::read_to_string(&comm).map(|c| c.trim() != "sleep").unwrap_or(true) {
                assert!(std::time::Instant::now() < deadline, "the child did not exec");
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(name(&scan(&mut collector, at(9))).as_deref(), Some("sleep"), "read at once despite resting");

            child.kill().unwrap();
            child.wait().unwrap();
            // Its leader is freed an RCU grace period after it is reaped.
            // (Scan times step 10 ms, so none reaches RELIST_EVERY and lists /proc.)
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            let mut now = at(10);
            while name(&scan(&mut collector, now)).is_some() {
                assert!(!collector.listed_proc());
                assert!(std::time::Instant::now() < deadline, "the ended child stayed in the scan");
                std::thread::sleep(Duration::from_millis(10));
                now += Duration::from_millis(10);
            }
        }
    }
}
