//! TCP sockets per network namespace as another source counts them (the
//! eBPF tracer, which sees every TCP state change): sockets that entered the
//! kernel's socket hash tables less those that left them. That is what a
//! namespace's sockstat "TCP inuse" counters move by, so while a namespace's
//! count stays where it was at the last sockstat read, every TCP socket
//! since has come and gone, and the read can wait. UDP sockets are not
//! counted: a namespace's sockstat is still read every `--socket-check-secs`.

use std::collections::HashMap;
use std::time::Duration;

/// A source of per-namespace TCP socket counts.
pub trait HashedCounts: Send {
    /// Every namespace's count into `out` (netns inode → count, from any start); false when
    /// the counts are incomplete (some went uncounted) or unreadable: then none is trusted.
    fn read(&mut self, out: &mut HashMap<u64, i64>) -> bool;
    /// Forgets these namespaces (no longer in use).
    fn forget(&mut self, namespaces: &[u64]);
}

/// Counts kept at most before those of namespaces not in use are forgotten (the
/// tracer's map holds 4,096).
pub const FORGET_ABOVE: usize = 2048;

/// Whether a namespace's sockstat read can wait: its count stands where it stood at the
/// last read (`at_read`), and that read is younger than `check_every`.
pub fn unchanged(now: Option<i64>, at_read: i64, read_age: Duration, check_every: Duration) -> bool {
    now == Some(at_read) && read_age < check_every
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_waits_only_while_the_count_stands_and_the_read_is_young() {
        let every = Duration::from_secs(5);
        assert!(unchanged(Some(3), 3, Duration::from_secs(1), every));
        assert!(!unchanged(Some(4), 3, Duration::from_secs(1), every), "a socket came (or went) and stayed");
        assert!(!unchanged(Some(3), 3, every, every), "read anyway every check (UDP is not counted)");
        assert!(!unchanged(None, 3, Duration::ZERO, every), "counts not trusted this pass");
    }
}
