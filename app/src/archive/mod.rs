//! History: what the probes sent, kept in an embedded store (redb) so any
//! view can be rendered as it was at a past moment, and a timeline of
//! changes listed.
//!
//! The live path never waits on it. The store hands every snapshot, delta and
//! probe removal it applied to a [`Recorder`], which passes them to the
//! writer thread ([`writer`]) through a bounded channel: when the channel is
//! full the record is dropped and counted, and that probe's next delta is
//! sent as a whole report instead, so its history resumes complete.
//!
//! Per probe, history is a chain of [`segment`]s: a keyframe (the full
//! report) every [`KEYFRAME_INTERVAL_MS`] or on a snapshot, then the deltas
//! after it. The model at a past moment is rebuilt ([`replay`]) by
//! `report::apply` of each probe's deltas onto its latest keyframe before
//! that moment, then rendered by the same `Renderer` as the live views.
//! Events ([`event`]) are derived by the writer while it follows the probes.
//! [`tables`] holds the redb layout and drops the oldest data first, by age
//! and by size.
//!
//! `crate::history` is a different thing and stays: the last 15 minutes of
//! CPU and memory samples in RAM, for live details at no I/O cost; past
//! details build the same structure from this store.

pub mod edges;
pub mod event;
pub mod past;
pub mod replay;
pub mod segment;
pub mod tables;
pub mod writer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use periscope_report::{Delta, ProbeId, Report, UnixMillis};
use redb::Database;

/// A new keyframe per probe at least this often: a past moment is rebuilt
/// from the keyframe before it plus at most this much of deltas.
pub const KEYFRAME_INTERVAL_MS: u64 = 60_000;
/// A segment's keyframe (and deltas) are compressed against the keyframe of
/// its probe's last self-contained segment (its anchor) if that is younger
/// than this: consecutive keyframes differ little, so most cost a fraction
/// of their size. Reading one then also decompresses its anchor.
pub const ANCHOR_INTERVAL_MS: u64 = 10 * 60_000;
/// How often the writer commits: at most this much is lost to a `kill -9`.
pub const FLUSH_INTERVAL_MS: u64 = 1_000;
/// The longest a segment can span (it rolls at the first flush after the interval).
pub const MAX_SEGMENT_SPAN_MS: u64 = KEYFRAME_INTERVAL_MS + 2 * FLUSH_INTERVAL_MS;
/// Records waiting for the writer; beyond this they are dropped and counted.
const CHANNEL_CAPACITY: usize = 4096;

/// Where and how much history to keep.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub dir: PathBuf,
    pub max_age: Duration,
    pub max_bytes: u64,
}

impl HistoryConfig {
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
    pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024 * 1024;

    pub fn new(dir: impl Into<PathBuf>) -> HistoryConfig {
        HistoryConfig { dir: dir.into(), max_age: Self::DEFAULT_MAX_AGE, max_bytes: Self::DEFAULT_MAX_BYTES }
    }

    /// `$XDG_DATA_HOME/periscope`, else `~/.local/share/periscope`: per user, as
    /// the XDG base directory spec has it. `None` without either variable.
    pub fn default_dir() -> Option<PathBuf> {
        let xdg = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = || std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/share"));
        xdg.filter(|p| p.is_absolute()).or_else(home).map(|base| base.join("periscope"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("history directory {path} is not writable: {source} (pass --data-dir elsewhere, or --no-history)")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("opening the history store {path}: {source}")]
    Open { path: PathBuf, source: redb::Error },
    #[error("history store: {0}")]
    Store(#[from] redb::Error),
    #[error("history store holds an unreadable record")]
    Corrupt,
    #[error("history store is being reopened after a write error")]
    Reopening,
    #[error("{0}")]
    Segment(#[from] segment::SegmentError),
}

macro_rules! redb_errors {
    ($($kind:ty),*) => {
        $(impl From<$kind> for ArchiveError {
            fn from(error: $kind) -> Self {
                ArchiveError::Store(error.into())
            }
        })*
    };
}
redb_errors!(redb::DatabaseError, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// What the store hands the writer.
#[derive(Debug)]
pub enum Record {
    Snapshot {
        at: UnixMillis,
        report: Box<Report>,
    },
    Delta {
        at: UnixMillis,
        delta: Box<Delta>,
    },
    Removed {
        at: UnixMillis,
        probe: ProbeId,
    },
    /// Flush everything and stop; answered when done.
    Close(mpsc::Sender<()>),
}

/// Counters and state shared by the writer, the recorder and readers.
#[derive(Debug, Default)]
pub struct Status {
    pub dropped: AtomicU64,
    pub written_bytes: AtomicU64,
    pub write_errors: AtomicU64,
    pub events: AtomicU64,
    /// First and last moments held (0 = none); kept by the writer, read by `GET /api/history`.
    pub from: AtomicU64,
    pub to: AtomicU64,
    pub file_bytes: AtomicU64,
    /// The last write error while history is stopped by it.
    pub failure: Mutex<Option<String>>,
}

/// The open database, shared by the writer and readers. After a failed write
/// redb refuses everything until the file is reopened, so the writer can swap it.
pub struct DbSlot {
    dir: PathBuf,
    db: RwLock<Option<Arc<Database>>>,
}

impl DbSlot {
    fn new(dir: PathBuf, db: Database) -> DbSlot {
        DbSlot { dir, db: RwLock::new(Some(Arc::new(db))) }
    }

    /// The database, unless it is being reopened.
    pub fn get(&self) -> Result<Arc<Database>, ArchiveError> {
        self.db.read().unwrap_or_else(|p| p.into_inner()).clone().ok_or(ArchiveError::Reopening)
    }

    /// Closes and opens the file again; fails (to be retried) while a reader still holds the old one.
    pub fn reopen(&self) -> Result<(), ArchiveError> {
        let mut slot = self.db.write().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.take() {
            drop(old);
        }
        *slot = Some(Arc::new(tables::open(&self.dir)?));
        Ok(())
    }
}

struct Inner {
    db: Arc<DbSlot>,
    path: PathBuf,
    config: HistoryConfig,
    status: Arc<Status>,
    sender: SyncSender<Record>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The history: a handle for readers, and the source of the store's [`Recorder`]. Cheap to clone.
#[derive(Clone)]
pub struct Archive(Arc<Inner>);

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("path", &self.0.path).finish()
    }
}

impl Archive {
    /// Opens (or creates) the store and starts its writer thread.
    pub fn open(config: HistoryConfig) -> Result<Archive, ArchiveError> {
        let (archive, writer, receiver) = Archive::open_parts(config)?;
        let handle = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || {
                lower_priority();
                writer.run(receiver)
            })
            .map_err(|source| ArchiveError::Io { path: archive.0.config.dir.clone(), source })?;
        *archive.0.writer.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        let config = &archive.0.config;
        tracing::info!(path = %archive.0.path.display(), max_age_s = config.max_age.as_secs(), max_bytes = config.max_bytes, "history on");
        Ok(archive)
    }

    /// Opens the store with a writer the caller drives (`Writer::handle`, `Writer::tick`),
    /// at whatever pace and clock it likes: for tests and benchmarks. Recorders of this archive go nowhere.
    pub fn open_driven(config: HistoryConfig) -> Result<(Archive, writer::Writer), ArchiveError> {
        let (archive, writer, _) = Archive::open_parts(config)?;
        Ok((archive, writer))
    }

    fn open_parts(config: HistoryConfig) -> Result<(Archive, writer::Writer, mpsc::Receiver<Record>), ArchiveError> {
        let db = Arc::new(DbSlot::new(config.dir.clone(), tables::open(&config.dir)?));
        let path = tables::file(&config.dir);
        let status = Arc::new(Status::default());
        let (sender, receiver) = mpsc::sync_channel(CHANNEL_CAPACITY);
        let writer = writer::Writer::new(db.clone(), path.clone(), config.clone(), status.clone());
        writer.refresh_extent();
        let inner = Inner { db, path, config, status, sender, writer: Mutex::new(None) };
        Ok((Archive(Arc::new(inner)), writer, receiver))
    }

    pub fn recorder(&self) -> Recorder {
        Recorder { sender: self.0.sender.clone(), status: self.0.status.clone(), broken: HashSet::new() }
    }

    pub fn config(&self) -> &HistoryConfig {
        &self.0.config
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    pub fn status(&self) -> &Status {
        &self.0.status
    }

    pub(crate) fn db(&self) -> Result<Arc<Database>, ArchiveError> {
        self.0.db.get()
    }

    /// Bytes of data stored (keys and values) and of pages in use; the file may be larger.
    pub fn stored_bytes(&self) -> Result<(u64, u64), ArchiveError> {
        let write = self.0.db.get()?.begin_write()?;
        let stats = write.stats()?;
        let used = stats.allocated_pages() * stats.page_size() as u64;
        let stored = stats.stored_bytes();
        write.abort()?;
        Ok((stored, used))
    }

    /// The moments history covers, if any.
    pub fn range(&self) -> Option<(UnixMillis, UnixMillis)> {
        let from = self.0.status.from.load(Ordering::Relaxed);
        let to = self.0.status.to.load(Ordering::Relaxed);
        (from > 0 && to >= from).then_some((UnixMillis(from), UnixMillis(to)))
    }

    /// Flushes what the writer holds and stops it; the store closes when the last handle goes.
    /// Records sent after this are dropped.
    pub fn close(&self) {
        let (done, wait) = mpsc::channel();
        if self.0.sender.send(Record::Close(done)).is_ok() {
            // The writer answers once flushed; an error means it is gone already.
            let _ = wait.recv();
        }
        if let Some(handle) = self.0.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            if handle.join().is_err() {
                tracing::error!("history writer panicked");
            }
        }
    }
}

/// Nices the calling thread: on a busy machine the writer's compression and
/// edge scans wait for the store thread and the async workers, not the other
/// way round (Linux keeps a nice value per thread).
fn lower_priority() {
    const WRITER_NICE: libc::c_int = 10;
    // SAFETY: setpriority only reads its integer arguments; `who` 0 is the calling thread on Linux.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, WRITER_NICE) };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "history writer keeps its priority");
    }
}

/// The store's end of the channel: never blocks.
#[derive(Debug)]
pub struct Recorder {
    sender: SyncSender<Record>,
    status: Arc<Status>,
    /// Probes whose last record was dropped: their next one goes as a whole report.
    broken: HashSet<ProbeId>,
}

impl Recorder {
    pub fn snapshot(&mut self, at: UnixMillis, report: &Report) {
        let probe = report.probe.clone();
        if self.send(Record::Snapshot { at, report: Box::new(report.clone()) }) {
            self.broken.remove(&probe);
        } else {
            self.broken.insert(probe);
        }
    }

    /// `delta` was applied and gave `report`.
    pub fn delta(&mut self, at: UnixMillis, delta: Delta, report: &Report) {
        if self.broken.contains(&delta.probe) {
            self.snapshot(at, report);
        } else if !self.send(Record::Delta { at, delta: Box::new(delta) }) {
            self.broken.insert(report.probe.clone());
        }
    }

    pub fn removed(&mut self, at: UnixMillis, probe: &ProbeId) {
        self.broken.remove(probe);
        // If this is dropped, the writer ends the probe itself once it has been silent too long.
        self.send(Record::Removed { at, probe: probe.clone() });
    }

    fn send(&self, record: Record) -> bool {
        match self.sender.try_send(record) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.status.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
