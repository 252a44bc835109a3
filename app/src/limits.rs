//! Budgets for every input, so that no frame, client or probe can starve
//! the others: a token bucket (decoded bytes per probe connection), a log
//! limiter (bad input is logged, but not at the attacker's pace), the caps
//! on open connections, and the counters of everything refused.
//!
//! Plain data and a clock passed in, so each budget is tested without
//! sockets; [`crate::api::server`] and [`crate::api::probe_ws`] apply them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A budget refilled at `rate` per second up to `burst`. A spend may take
/// it into debt (the cost of a frame is known only once it is decoded); the
/// spender then waits until the debt is paid.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    level: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate_per_second: u64, burst: u64, now: Instant) -> TokenBucket {
        let burst = burst.max(1) as f64;
        TokenBucket { rate: rate_per_second.max(1) as f64, burst, level: burst, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.level = (self.level + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Spends `amount`; returns how long to wait before the next spend, if the budget is in debt.
    pub fn spend(&mut self, amount: u64, now: Instant) -> Option<Duration> {
        self.refill(now);
        self.level -= amount as f64;
        self.wait(now)
    }

    /// How long until the budget is out of debt (None when it is not in debt).
    pub fn wait(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        (self.level < 0.0).then(|| Duration::from_secs_f64(-self.level / self.rate))
    }

    /// Spends `amount` only if the budget holds it.
    pub fn try_spend(&mut self, amount: u64, now: Instant) -> bool {
        self.refill(now);
        if self.level >= amount as f64 {
            self.level -= amount as f64;
            true
        } else {
            false
        }
    }
}

/// Lets through at most `per_window` log lines per `window`; the first line
/// after a quiet spell says how many were held back.
#[derive(Debug)]
pub struct LogLimiter {
    window: Duration,
    per_window: u32,
    state: Mutex<LogWindow>,
}

#[derive(Debug)]
struct LogWindow {
    started: Option<Instant>,
    emitted: u32,
    suppressed: u64,
}

impl LogLimiter {
    pub fn new(per_window: u32, window: Duration) -> LogLimiter {
        LogLimiter { window, per_window, state: Mutex::new(LogWindow { started: None, emitted: 0, suppressed: 0 }) }
    }

    /// `Some(suppressed)` when a line may be written now (with the count held back before it).
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.started.is_none_or(|started| now.saturating_duration_since(started) >= self.window) {
            state.started = Some(now);
            state.emitted = 0;
        }
        if state.emitted < self.per_window {
            state.emitted += 1;
            Some(std::mem::take(&mut state.suppressed))
        } else {
            state.suppressed += 1;
            None
        }
    }
}

/// What the app refused, and why: one counter each, on `/metrics` as
/// `periscope_refused_total{reason="…"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A connection past `--max-connections`.
    TooManyConnections,
    /// A connection past `--max-connections-per-address` from one address.
    TooManyFromAddress,
    /// A connection that did not send its request headers within `--header-read-timeout`.
    HeaderTimeout,
    /// A view WebSocket past `--max-view-clients`.
    TooManyViewClients,
    /// A probe connection closed after repeated bad frames.
    BadFrames,
    /// A probe connection made to wait: it sent more decoded bytes than its budget.
    DecodeThrottled,
    /// A probe connection that sent no snapshot within the registration deadline.
    Unregistered,
    /// A report or delta that would take a probe past `--max-entities-per-probe`.
    TooManyEntities,
    /// A delta whose sequence number does not move forward.
    SequenceBackwards,
    /// A report with an empty or malformed ID.
    InvalidId,
}

impl Refusal {
    pub const ALL: [Refusal; 10] = [
        Refusal::TooManyConnections,
        Refusal::TooManyFromAddress,
        Refusal::HeaderTimeout,
        Refusal::TooManyViewClients,
        Refusal::BadFrames,
        Refusal::DecodeThrottled,
        Refusal::Unregistered,
        Refusal::TooManyEntities,
        Refusal::SequenceBackwards,
        Refusal::InvalidId,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::TooManyConnections => "max_connections",
            Refusal::TooManyFromAddress => "max_connections_per_address",
            Refusal::HeaderTimeout => "header_read_timeout",
            Refusal::TooManyViewClients => "max_view_clients",
            Refusal::BadFrames => "bad_frames",
            Refusal::DecodeThrottled => "decode_budget",
            Refusal::Unregistered => "registration_deadline",
            Refusal::TooManyEntities => "max_entities_per_probe",
            Refusal::SequenceBackwards => "sequence_backwards",
            Refusal::InvalidId => "invalid_id",
        }
    }
}

/// The counters of [`Refusal`]s.
#[derive(Debug, Default)]
pub struct Refused([AtomicU64; Refusal::ALL.len()]);

impl Refused {
    pub fn inc(&self, refusal: Refusal) {
        self.0[refusal as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, refusal: Refusal) -> u64 {
        self.0[refusal as usize].load(Ordering::Relaxed)
    }

    /// The Prometheus text of the counters.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP periscope_refused_total Input refused or held back by a budget or cap, by reason.\n# TYPE periscope_refused_total counter"
        );
        for refusal in Refusal::ALL {
            let _ = writeln!(out, "periscope_refused_total{{reason=\"{}\"}} {}", refusal.as_str(), self.get(refusal));
        }
    }
}

/// Caps on connections open at once: in all, and per client address.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_address: usize,
    total: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection's place under the caps; given back when dropped.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    address: IpAddr,
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits {
            max_total: max_total.max(1),
            max_per_address: max_per_address.max(1),
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection from `address`, or which cap refused it.
    pub fn try_acquire(self: &Arc<Self>, address: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let mut per_address = self.per_address.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.total.load(Ordering::Relaxed) >= self.max_total {
            return Err(Refusal::TooManyConnections);
        }
        let count = per_address.entry(address).or_insert(0);
        if *count >= self.max_per_address {
            return Err(Refusal::TooManyFromAddress);
        }
        *count += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionPermit { limits: self.clone(), address })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut per_address = self.limits.per_address.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = per_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                per_address.remove(&self.address);
            }
        }
        self.limits.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The shared parts of the budgets, held by the app state.
#[derive(Debug)]
pub struct Budgets {
    /// One trim of freed memory after clients or probes leave.
    pub trim: Arc<TrimSoon>,
    /// Bad probe frames are logged at most this often, app-wide.
    pub bad_frame_log: LogLimiter,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets { trim: Arc::default(), bad_frame_log: LogLimiter::new(10, Duration::from_secs(10)) }
    }
}

/// Gives memory freed by C code back to the kernel. Rust's allocations go
/// to jemalloc, which returns empty pages at once ([`crate::allocator`]);
/// the C parts (zstd's contexts, a probe connection's decompression window)
/// allocate through glibc, which keeps what it freed until `malloc_trim`.
/// Costs a walk of glibc's free lists: call it after something big went
/// away, on a blocking thread, never on a hot path.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages; it takes the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How often freed memory goes back to the kernel in any case.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Returns memory freed by C code every `every`, on the blocking pool (see
/// [`return_freed_memory`]; a trim of a small heap takes well under 1 ms).
pub async fn trim_periodically(every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let _ = tokio::task::spawn_blocking(return_freed_memory).await;
    }
}

/// Asks for [`return_freed_memory`] soon, once: many leaving clients or
/// probes in a burst cost one trim, made on the blocking pool after a short quiet.
#[derive(Debug, Default)]
pub struct TrimSoon {
    pending: std::sync::atomic::AtomicBool,
}

impl TrimSoon {
    /// Must be called within a Tokio runtime; does nothing elsewhere.
    pub fn request(self: &Arc<Self>) {
        if self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.pending.store(false, Ordering::Release);
            return;
        };
        let this = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            this.pending.store(false, Ordering::Release);
            // The trim runs off the async workers; a failed spawn only means no trim this time.
            let _ = tokio::task::spawn_blocking(return_freed_memory).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_goes_into_debt_and_says_how_long_to_wait() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1000, 2000, start);
        assert_eq!(bucket.spend(1500, start), None);
        // 500 left: spending 2500 leaves a debt of 2000, two seconds at 1000/s.
        assert_eq!(bucket.spend(2500, start), Some(Duration::from_secs(2)));
        assert_eq!(bucket.wait(start + Duration::from_secs(1)), Some(Duration::from_secs(1)));
        assert_eq!(bucket.wait(start + Duration::from_secs(2)), None);
        // Refills stop at the burst.
        assert!(!bucket.try_spend(2001, start + Duration::from_secs(60)));
        assert!(bucket.try_spend(2000, start + Duration::from_secs(60)));
    }

    #[test]
    fn logs_are_limited_per_window_and_say_what_was_held_back() {
        let limiter = LogLimiter::new(2, Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(limiter.allow(start), Some(0));
        assert_eq!(limiter.allow(start), Some(0));
        assert_eq!(limiter.allow(start), None);
        assert_eq!(limiter.allow(start + Duration::from_secs(5)), None);
        assert_eq!(limiter.allow(start + Duration::from_secs(10)), Some(2));
    }

    #[test]
    fn connection_caps_count_in_all_and_per_address_and_give_places_back() {
        let limits = ConnectionLimits::new(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = limits.try_acquire(a).unwrap();
        let _second = limits.try_acquire(a).unwrap();
        assert_eq!(limits.try_acquire(a).unwrap_err(), Refusal::TooManyFromAddress);
        let _third = limits.try_acquire(b).unwrap();
        assert_eq!(limits.try_acquire(b).unwrap_err(), Refusal::TooManyConnections);
        drop(first);
        assert_eq!(limits.open(), 2);
        assert!(limits.try_acquire(a).is_ok());
    }
}
