//! The store's own thread: every read and write of the [`Store`] runs here,
//! one job at a time, fed by a bounded channel, so applying reports and
//! rendering never occupy the async workers that answer sockets and
//! `/healthz`. Changes are coalesced for a moment, then rendered and sent to
//! view subscribers in one pass.
//!
//! A job that panics stops the thread: the store may be half-changed, and
//! serving stale data quietly would be worse than stopping. [`StoreThread::stopped`]
//! says so, and [`crate::serve`] ends with that error.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::store::Store;

/// Jobs waiting for the store thread before senders wait.
const QUEUE: usize = 1024;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the store thread has stopped")]
pub struct StoreGone;

/// A handle to the store thread; cheap to clone.
#[derive(Clone)]
pub struct StoreThread {
    jobs: mpsc::Sender<Job>,
    stopped: watch::Receiver<Option<String>>,
}

impl StoreThread {
    /// Moves `store` onto a new thread. Model changes are rendered and
    /// published `coalesce` after the first of them.
    pub fn start(store: Store, coalesce: Duration) -> StoreThread {
        let (jobs, receiver) = mpsc::channel(QUEUE);
        let (stop_sender, stopped) = watch::channel(None);
        std::thread::Builder::new()
            .name("periscope-store".into())
            .spawn(move || {
                let reason = match std::panic::catch_unwind(AssertUnwindSafe(|| run(store, receiver, coalesce))) {
                    Ok(()) => "every handle was dropped".to_owned(),
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a panic".to_owned());
                        tracing::error!(%message, "the store thread panicked; the app stops");
                        format!("panicked: {message}")
                    }
                };
                let _ = stop_sender.send(Some(reason));
            })
            .expect("spawning the store thread");
        StoreThread { jobs, stopped }
    }

    /// Runs `job` on the store thread and returns its result.
    pub async fn call<T, F>(&self, job: F) -> Result<T, StoreGone>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            // The caller may have gone (a closed request); the job still ran.
            let _ = reply.send(job(store));
        });
        self.jobs.send(job).await.map_err(|_| StoreGone)?;
        result.await.map_err(|_| StoreGone)
    }

    /// [`StoreThread::call`] from a thread that is not an async worker (tests, benches).
    pub fn call_blocking<T, F>(&self, job: F) -> Result<T, StoreGone>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = reply.send(job(store));
        });
        self.jobs.blocking_send(job).map_err(|_| StoreGone)?;
        result.blocking_recv().map_err(|_| StoreGone)
    }

    /// Queues `job` without waiting for it (or for room: it is dropped, with
    /// false, when the queue is full). For clean-ups that must not block.
    pub fn post<F>(&self, job: F) -> bool
    where
        F: FnOnce(&mut Store) + Send + 'static,
    {
        self.jobs.try_send(Box::new(job)).is_ok()
    }

    /// Resolves when the thread has stopped, with the reason.
    pub async fn stopped(&self) -> String {
        let mut stopped = self.stopped.clone();
        let reason = match stopped.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => "the store thread is gone".to_owned(),
        };
        reason
    }
}

fn run(mut store: Store, mut jobs: mpsc::Receiver<Job>, coalesce: Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a timer runtime");
    runtime.block_on(async move {
        let mut deadline: Option<Instant> = None;
        loop {
            let job = match deadline {
                Some(at) => tokio::select! {
                    job = jobs.recv() => job,
                    () = tokio::time::sleep_until(at) => {
                        deadline = None;
                        store.flush();
                        continue;
                    }
                },
                None => jobs.recv().await,
            };
            let Some(job) = job else { return };
            job(&mut store);
            // Gather whatever else arrives shortly, so clients get one diff, not dozens.
            if store.is_dirty() && deadline.is_none() {
                deadline = Some(Instant::now() + coalesce);
            }
        }
    });
}
