//! The app's shared state: its settings and counters, the handle to the store
//! thread, the outboxes of connected probes, and the relay for control
//! replies and pipes. Cheap to clone; what every handler and task holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use periscope_report::{AppMessage, ProbeId};
use tokio::sync::mpsc;

use crate::archive::Archive;
use crate::audit::Audit;
use crate::config::AppConfig;
use crate::metrics::{Gauges, Metrics};
use crate::random::random_hex;
use crate::registry::ConnectionId;
use crate::relay::Relay;
use crate::sessions::Sessions;
use crate::store::Store;
use crate::store_thread::{StoreGone, StoreThread};
use crate::view::{ViewId, ViewOptions};

pub struct Shared {
    pub config: AppConfig,
    pub app_id: String,
    pub metrics: Arc<Metrics>,
    pub relay: Relay,
    /// Every control and pipe, for the log and `GET /api/audit`.
    pub audit: Audit,
    /// Browser sessions started on the login page.
    pub sessions: Sessions,
    /// History, when on: read by the time-travel and events routes, fed by the store's recorder.
    pub archive: Option<Archive>,
    /// What the input budgets share: the bad-frame log limiter, the memory trim.
    pub budgets: crate::limits::Budgets,
    store: StoreThread,
    probe_outboxes: Mutex<HashMap<ProbeId, ProbeOutbox>>,
    next_connection: AtomicU64,
}

/// A connected probe's queue of app → probe messages.
struct ProbeOutbox {
    connection: ConnectionId,
    sender: mpsc::Sender<AppMessage>,
}

/// Why a message could not be queued for a probe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeUnavailable {
    #[error("probe {0} is not connected")]
    NotConnected(ProbeId),
    #[error("probe {0} is not keeping up; its queue is full")]
    Busy(ProbeId),
}

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Starts the store thread; it stops when the last clone of the state is dropped.
    pub fn new(config: AppConfig) -> AppState {
        AppState::with_archive(config, None)
    }

    /// The state with history kept in `archive` (see `Archive::open`).
    pub fn with_archive(config: AppConfig, archive: Option<Archive>) -> AppState {
        let metrics = Arc::new(Metrics::default());
        let mut store = Store::new(metrics.clone());
        store.recorder = archive.as_ref().map(Archive::recorder);
        let store = StoreThread::start(store, config.coalesce);
        AppState(Arc::new(Shared {
            config,
            app_id: random_hex(16),
            metrics,
            relay: Relay::default(),
            audit: Audit::default(),
            sessions: Sessions::default(),
            archive,
            budgets: crate::limits::Budgets::default(),
            store,
            probe_outboxes: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
        }))
    }

    /// Runs `job` on the store thread. Keep jobs short and free of I/O;
    /// serialize big answers after, outside the job.
    pub async fn with_store<T, F>(&self, job: F) -> Result<T, StoreGone>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        self.store.call(job).await
    }

    /// [`AppState::with_store`] from outside the async runtime (tests, benches).
    pub fn with_store_blocking<T, F>(&self, job: F) -> Result<T, StoreGone>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        self.store.call_blocking(job)
    }

    /// Queues a job on the store thread without waiting (dropped if the queue is full).
    pub fn post_to_store<F: FnOnce(&mut Store) + Send + 'static>(&self, job: F) -> bool {
        self.store.post(job)
    }

    /// Resolves when the store thread has stopped, with the reason.
    pub async fn store_stopped(&self) -> String {
        self.store.stopped().await
    }

    pub fn next_connection(&self) -> ConnectionId {
        ConnectionId(self.next_connection.fetch_add(1, Ordering::Relaxed))
    }

    /// Queues a message on a probe's channel (controls, pipe input).
    pub fn send_to_probe(&self, probe: &ProbeId, message: AppMessage) -> Result<(), ProbeUnavailable> {
        let outboxes = self.probe_outboxes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outbox = outboxes.get(probe).ok_or_else(|| ProbeUnavailable::NotConnected(probe.clone()))?;
        outbox.sender.try_send(message).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => ProbeUnavailable::Busy(probe.clone()),
            mpsc::error::TrySendError::Closed(_) => ProbeUnavailable::NotConnected(probe.clone()),
        })
    }

    /// The probe channel `connection` now speaks for `probe`.
    pub fn register_probe_outbox(&self, probe: ProbeId, connection: ConnectionId, sender: mpsc::Sender<AppMessage>) {
        let mut outboxes = self.probe_outboxes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        outboxes.insert(probe, ProbeOutbox { connection, sender });
    }

    /// The channel closed: its pending controls fail and its pipes close.
    pub fn unregister_probe_outbox(&self, probe: &ProbeId, connection: ConnectionId) {
        let mut outboxes = self.probe_outboxes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if outboxes.get(probe).is_some_and(|outbox| outbox.connection == connection) {
            outboxes.remove(probe);
            drop(outboxes);
            self.relay.probe_gone(probe);
        }
    }

    /// Runs until dropped: closes pipes nobody attached to in time.
    pub async fn expire_pipes(self) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            for (probe, pipe) in self.relay.expire_unattached(Instant::now()) {
                tracing::info!(%probe, ?pipe, "pipe never attached; closing it");
                // The probe may be gone already; then the pipe went with it.
                let _ = self.send_to_probe(&probe, AppMessage::PipeClose { pipe });
            }
        }
    }

    /// Scrape-time gauges, read from the last render (a scrape never renders).
    pub async fn gauges(&self) -> Result<Gauges, StoreGone> {
        self.with_store(|store| {
            let views = ViewId::ALL
                .into_iter()
                .map(|view| {
                    let counts = store.counts_now(view, &ViewOptions::default());
                    (view.as_str(), counts.nodes, counts.edges)
                })
                .collect();
            Gauges {
                probes: store.registry.len(),
                views,
                metric_series: store.history.len(),
                view_groups: store.subscriptions.groups(),
            }
        })
        .await
    }
}
