//! The pids a process scan visits: listed from /proc, or, with the eBPF
//! tracer, kept up to date from its process events.
//!
//! Listing /proc reads a directory entry for every process each tick, and
//! the kernel looks each one up as it lists it: about a tenth of the probe's
//! CPU at 100 containers. The tracer sees every fork, exec and free as it
//! happens (`probe/bpf/connections.bpf.c`), so with it /proc is listed once
//! and the list then follows the events: a process born and gone between two
//! ticks costs two 16-byte records and no system call. /proc is listed again
//! when events were lost (the kernel's ring was full) and every
//! [`RELIST_EVERY`] regardless.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::sys::proc_root::ProcRoot;

/// When a process started, in nanoseconds since boot (the kernel's `start_boottime`): with
/// its pid, which process an event names, since pids are reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started(pub u64);

/// What the tracer says of a process (by its pid, which is its tgid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidEvent {
    /// A new process (fork).
    Born(u32, Started),
    /// A new program in it: its name and command line changed.
    Exec(u32),
    /// Gone from /proc (its leader was reaped and freed).
    Gone(u32, Started),
}

/// A source of process events, in the order they happened.
pub trait PidEvents: Send {
    /// Every event since the last drain into `out`; false when some were lost since, or
    /// cannot be read: the list must be read from /proc again.
    fn drain(&mut self, out: &mut Vec<PidEvent>) -> bool;
}

/// /proc is listed at least this often even while events flow: a safety net, not a step
/// the list depends on.
pub const RELIST_EVERY: Duration = Duration::from_secs(60);

/// This pass's pids.
pub struct Scan<'a> {
    /// Every pid in /proc (processes and kernel threads), sorted.
    pub pids: &'a [u32],
    /// Pids that ran a new program since the last pass, sorted: read even if resting.
    pub exec: &'a [u32],
}

pub struct Pids {
    proc: ProcRoot,
    events: Option<Box<dyn PidEvents>>,
    /// Sorted.
    list: Vec<u32>,
    /// The start of each listed pid whose birth an event told. A free comes 15–40 ms after
    /// the reap, now and then much later; by then the pid may have a new owner, whose birth
    /// came first. The free names the old owner's start, and leaves the new one listed.
    born: HashMap<u32, Started>,
    exec: Vec<u32>,
    listed_at: Option<Instant>,
    drained: Vec<PidEvent>,
    /// Whether the last pass listed /proc (for logs and tests).
    pub listed: bool,
}

impl Pids {
    pub fn new(proc: ProcRoot) -> Pids {
        Pids {
            proc,
            events: None,
            list: Vec::new(),
            born: HashMap::new(),
            exec: Vec::new(),
            listed_at: None,
            drained: Vec::new(),
            listed: false,
        }
    }

    /// Keeps the list from `events` between listings of /proc.
    pub fn follow(&mut self, events: Box<dyn PidEvents>) {
        self.events = Some(events);
        self.listed_at = None;
    }

    /// The pids for a scan at `now`; an error only when /proc cannot be listed.
    pub fn current(&mut self, now: Instant) -> std::io::Result<Scan<'_>> {
        self.drained.clear();
        let complete = self.events.as_mut().is_some_and(|events| events.drain(&mut self.drained));
        self.exec.clear();
        let fresh = complete && self.listed_at.is_some_and(|at| now.duration_since(at) < RELIST_EVERY);
        self.listed = !fresh;
        if fresh {
            apply(&mut self.list, &mut self.born, &self.drained, &mut self.exec);
        } else {
            self.list = list(&self.proc)?;
            self.listed_at = Some(now);
            // The listing stands for births and deaths; an exec still asks for a read, and the
            // starts of births seen are kept for the pids listed.
            apply(&mut Vec::new(), &mut self.born, &self.drained, &mut self.exec);
            let listed = &self.list;
            self.born.retain(|pid, _| listed.binary_search(pid).is_ok());
        }
        self.exec.sort_unstable();
        self.exec.dedup();
        Ok(Scan { pids: &self.list, exec: &self.exec })
    }

    /// Drops pids the scan found gone from /proc (their files could not be opened).
    ///
    /// The kernel frees a process an RCU grace period after it is reaped (15–40 ms here), and
    /// a few never show a free at all: about one exit in 500 at 100 containers had none
    /// within seconds. Without this, each such pid stayed on the list, a failed open every
    /// tick, until the next listing of /proc.
    pub fn forget(&mut self, gone: &[u32]) {
        self.list.retain(|pid| gone.binary_search(pid).is_err());
        self.born.retain(|pid, _| gone.binary_search(pid).is_err());
    }
}

/// Every numeric entry of /proc, sorted.
fn list(proc: &ProcRoot) -> std::io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = std::fs::read_dir(proc.path())?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(|name| name.parse().ok()))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Applies `events`, in order, to the sorted `list` and the starts of pids `born`; pids that
/// exec'd go to `exec`.
fn apply(list: &mut Vec<u32>, born: &mut HashMap<u32, Started>, events: &[PidEvent], exec: &mut Vec<u32>) {
    for event in events {
        let pid = match *event {
            PidEvent::Born(pid, start) => {
                born.insert(pid, start);
                pid
            }
            PidEvent::Exec(pid) => {
                exec.push(pid);
                pid
            }
            PidEvent::Gone(pid, start) => {
                // A late free of the pid's earlier owner: the new one stays.
                if born.get(&pid).is_some_and(|owner| *owner != start) {
                    continue;
                }
                born.remove(&pid);
                if let Ok(at) = list.binary_search(&pid) {
                    list.remove(at);
                }
                continue;
            }
        };
        // An exec names a live process: one whose birth the list missed is added too.
        if let Err(at) = list.binary_search(&pid) {
            list.insert(at, pid);
        }
    }
}

/// A source of process events for tests: what a test hands over, and a loss when it says so.
#[cfg(test)]
pub mod script {
    use std::sync::{Arc, Mutex};

    use super::{PidEvent, PidEvents};

    #[derive(Clone, Default)]
    pub struct Script(Arc<Mutex<(Vec<PidEvent>, bool)>>);

    impl Script {
        /// Events for the next drain, in order.
        pub fn push(&self, events: impl IntoIterator<Item = PidEvent>) {
            self.0.lock().unwrap().0.extend(events);
        }

        /// The next drain says events were lost.
        pub fn lose(&self) {
            self.0.lock().unwrap().1 = true;
        }
    }

    impl PidEvents for Script {
        fn drain(&mut self, out: &mut Vec<PidEvent>) -> bool {
            let mut script = self.0.lock().unwrap();
            out.append(&mut script.0);
            !std::mem::take(&mut script.1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::script::Script;
    use super::*;

    #[test]
    fn events_apply_in_order() {
        let mut list = vec![1, 5, 9];
        let (mut born, mut exec) = (HashMap::new(), Vec::new());
        use PidEvent::*;
        let a = Started(10);
        // 7 is born and gone within the batch; 5 execs; 9 goes; 3 is born; 11 execs unseen.
        let events = [Born(7, a), Exec(5), Gone(7, a), Gone(9, a), Born(3, a), Exec(11), Born(3, a)];
        apply(&mut list, &mut born, &events, &mut exec);
        assert_eq!(list, vec![1, 3, 5, 11]);
        assert_eq!(exec, vec![5, 11]);
        assert_eq!(born, HashMap::from([(3, a)]), "only births still listed are remembered");
    }

    #[test]
    fn a_late_free_of_a_reused_pid_leaves_the_new_process_listed() {
        let mut list = vec![1];
        let (mut born, mut exec) = (HashMap::new(), Vec::new());
        use PidEvent::*;
        let (old, new) = (Started(10), Started(20));
        // 4 is born, reaped, and its pid reused before its free arrives.
        apply(&mut list, &mut born, &[Born(4, old), Born(4, new), Gone(4, old)], &mut exec);
        assert_eq!(list, vec![1, 4], "the new owner of 4 stays");
        apply(&mut list, &mut born, &[Gone(4, new)], &mut exec);
        assert_eq!(list, vec![1], "its own free removes it");
        // A pid listed from /proc (no birth seen) goes at any free, as before.
        apply(&mut list, &mut born, &[Gone(1, old)], &mut exec);
        assert!(list.is_empty() && born.is_empty());
    }

    /// Pids over the real /proc that listed it once and now follow the script's events.
    fn listed_and_following() -> (Script, Pids, Instant) {
        let script = Script::default();
        let mut pids = Pids::new(ProcRoot::new("/proc"));
        pids.follow(Box::new(script.clone()));
        let start = Instant::now();
        pids.current(start).unwrap();
        (script, pids, start)
    }

    /// Against the real /proc: listed first, then kept from events; listed again after a
    /// loss and once RELIST_EVERY has passed.
    #[test]
    fn lists_proc_first_then_follows_events_until_a_loss_or_the_relist() {
        let script = Script::default();
        let mut pids = Pids::new(ProcRoot::new("/proc"));
        pids.follow(Box::new(script.clone()));
        let start = Instant::now();
        let me = std::process::id();
        let first = pids.current(start).unwrap().pids.to_vec();
        assert!(pids.listed && first.contains(&me) && first.is_sorted());

        // A pid no process has (pid_max is at most 2^22).
        let ghost = 1 << 23;
        script.push([PidEvent::Born(ghost, Started(1)), PidEvent::Exec(me)]);
        let scan = pids.current(start + Duration::from_secs(1)).unwrap();
        assert!(scan.pids.contains(&ghost), "taken from the event, not from /proc");
        assert_eq!(scan.exec, &[me]);
        assert!(!pids.listed);

        script.lose();
        let scan = pids.current(start + Duration::from_secs(2)).unwrap();
        assert!(!scan.pids.contains(&ghost), "events were lost: /proc listed again");
        assert!(pids.listed);

        script.push([PidEvent::Born(ghost, Started(1))]);
        assert!(pids.current(start + Duration::from_secs(3)).unwrap().pids.contains(&ghost));
        let later = start + Duration::from_secs(2) + RELIST_EVERY;
        assert!(!pids.current(later).unwrap().pids.contains(&ghost), "listed again after RELIST_EVERY");
        assert!(pids.listed);
    }

    #[test]
    fn forgotten_pids_leave_the_list_until_an_event_brings_them_back() {
        let (script, mut pids, start) = listed_and_following();
        let ghost = 1 << 23;
        script.push([PidEvent::Born(ghost, Started(1))]);
        assert!(pids.current(start + Duration::from_secs(1)).unwrap().pids.contains(&ghost));
        pids.forget(&[ghost]);
        assert!(!pids.current(start + Duration::from_secs(2)).unwrap().pids.contains(&ghost));
        // The pid is reused by a new process.
        script.push([PidEvent::Born(ghost, Started(2))]);
        assert!(pids.current(start + Duration::from_secs(3)).unwrap().pids.contains(&ghost));
        assert!(!pids.listed);
    }

    #[test]
    fn births_seen_outlive_a_listing_for_the_pids_listed() {
        let (script, mut pids, start) = listed_and_following();
        let me = std::process::id();
        script.push([PidEvent::Born(me, Started(2))]);
        pids.current(start + Duration::from_secs(1)).unwrap();
        pids.current(start + RELIST_EVERY + Duration::from_secs(1)).unwrap();
        assert!(pids.listed);
        // A late free of an earlier owner of this pid.
        script.push([PidEvent::Gone(me, Started(1))]);
        assert!(pids.current(start + RELIST_EVERY + Duration::from_secs(2)).unwrap().pids.contains(&me));
    }

    #[test]
    fn without_events_every_pass_lists_proc() {
        let mut pids = Pids::new(ProcRoot::new("/proc"));
        let now = Instant::now();
        assert!(pids.current(now).unwrap().pids.contains(&std::process::id()));
        pids.current(now).unwrap();
        assert!(pids.listed);
    }
}
