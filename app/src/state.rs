//! The app's shared state and its background work: the store behind a lock,
//! change notification, fan-out of view changes to clients, and the timers
//! that coalesce changes and drop silent probes and idle views.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use periscope_report::UnixMillis;
use tokio::sync::{broadcast, Notify};

use crate::archive::Archive;
use crate::config::AppConfig;
use crate::metrics::{Gauges, Metrics};
use crate::registry::ConnectionId;
use crate::render::view_state::Changes;
use crate::store::Store;
use crate::view::ViewId;

/// How many change batches a slow client may fall behind before it is sent the full view again.
const CHANGE_BACKLOG: usize = 64;

pub struct Shared {
    pub config: AppConfig,
    pub app_id: String,
    pub metrics: Metrics,
    /// History, when on: read by the time-travel and events routes, fed by the store's recorder.
    pub archive: Option<Archive>,
    store: Mutex<Store>,
    changes: HashMap<ViewId, broadcast::Sender<Arc<Changes>>>,
    model_changed: Notify,
    next_connection: AtomicU64,
}

/// Cheap to clone; what every handler and task holds.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub fn now() -> UnixMillis {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    UnixMillis(u64::try_from(millis).unwrap_or(u64::MAX))
}

impl AppState {
    pub fn new(config: AppConfig) -> AppState {
        AppState::with_archive(config, None)
    }

    /// The state with history kept in `archive` (see `Archive::open`).
    pub fn with_archive(config: AppConfig, archive: Option<Archive>) -> AppState {
        let mut store = Store::default();
        store.recorder = archive.as_ref().map(Archive::recorder);
        let changes = ViewId::ALL.into_iter().map(|view| (view, broadcast::channel(CHANGE_BACKLOG).0)).collect();
        AppState(Arc::new(Shared {
            config,
            app_id: random_hex(16),
            metrics: Metrics::default(),
            archive,
            store: Mutex::new(store),
            changes,
            model_changed: Notify::new(),
            next_connection: AtomicU64::new(1),
        }))
    }

    /// The store, locked. Never hold it across an `.await`.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock leaves the store as the panicking code left it; keep serving.
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn next_connection(&self) -> ConnectionId {
        ConnectionId(self.next_connection.fetch_add(1, Ordering::Relaxed))
    }

    /// Tells the publisher the model changed.
    pub fn model_changed(&self) {
        self.model_changed.notify_one();
    }

    pub fn subscribe(&self, view: ViewId) -> broadcast::Receiver<Arc<Changes>> {
        self.changes[&view].subscribe()
    }

    pub fn watched(&self, view: ViewId) -> bool {
        self.changes[&view].receiver_count() > 0
    }

    /// Sends view changes to their clients.
    pub fn publish(&self, changes: Vec<(ViewId, Changes)>) {
        for (view, changes) in changes {
            // No receiver is fine: nobody watches that view right now.
            let _ = self.changes[&view].send(Arc::new(changes));
        }
    }

    /// Renders pending model changes into kept views and publishes the diffs.
    pub fn refresh(&self) {
        let started = Instant::now();
        let changes = self.store().update();
        self.metrics.record_render(started.elapsed());
        self.publish(changes);
    }

    /// Scrape-time gauges; view counts only where known without rendering (a scrape never renders).
    pub fn gauges(&self) -> Gauges {
        let store = self.store();
        let views = ViewId::ALL
            .into_iter()
            .filter_map(|view| store.counts_if_known(view).map(|c| (view.as_str(), c.nodes, c.edges)))
            .collect();
        Gauges { probes: store.registry.len(), views, metric_series: store.history.len() }
    }

    /// Runs until the runtime stops: coalesces model changes into diffs, drops silent probes and idle views.
    pub async fn run_background(self) {
        let publisher = tokio::spawn(self.clone().publish_loop());
        let reaper = tokio::spawn(self.clone().reap_loop());
        // Either ends only if it panicked; the other keeps going until shutdown.
        let _ = tokio::join!(publisher, reaper);
    }

    async fn publish_loop(self) {
        loop {
            self.model_changed.notified().await;
            // Gather whatever else arrives shortly, so clients get one diff, not dozens.
            tokio::time::sleep(self.config.coalesce).await;
            self.refresh();
        }
    }

    async fn reap_loop(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            self.reap(now());
        }
    }

    /// Drops probes silent for the timeout, and views idle for `view_idle`.
    pub fn reap(&self, now: UnixMillis) {
        let timeout = u64::try_from(self.config.probe_timeout.as_millis()).unwrap_or(u64::MAX);
        let idle = u64::try_from(self.config.view_idle.as_millis()).unwrap_or(u64::MAX);
        let mut store = self.store();
        let silent = store.registry.expire(UnixMillis(now.0.saturating_sub(timeout)));
        for probe in &silent {
            tracing::warn!(%probe, "probe silent for too long; removing its nodes");
            Metrics::inc(&self.metrics.probes_timed_out);
            store.remove_probe(probe, now);
        }
        store.forget_idle(UnixMillis(now.0.saturating_sub(idle)), |view| self.watched(view));
        drop(store);
        if !silent.is_empty() {
            self.model_changed();
        }
    }
}

/// Random hex from the kernel's generator; for IDs and generated tokens.
pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buffer = vec![0u8; bytes];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut file| file.read_exact(&mut buffer));
    if filled.is_err() {
        // No /dev/urandom (a strange sandbox): fall back to the hasher's per-process random keys.
        use std::hash::{BuildHasher, Hasher};
        for chunk in buffer.chunks_mut(8) {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(Instant::now().elapsed().as_nanos());
            chunk.copy_from_slice(&hasher.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    buffer.iter().map(|byte| format!("{byte:02x}")).collect()
}
