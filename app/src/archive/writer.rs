//! The writer thread: follows the probes from the records the store hands
//! it, keeps each probe's open segment, derives events, and commits to the
//! store every [`FLUSH_INTERVAL_MS`]; every minute it drops what is too old
//! or over the size budget. A failed write (a full disk) stops history with
//! one logged error and is retried every [`RETRY_MS`]; records keep being
//! applied to the writer's model meanwhile, so history resumes complete.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use periscope_report::{diff, Container, ContainerId, Delta, ProbeId, Report, UnixMillis};
use redb::{Database, ReadableTable};

use crate::archive::edges::EdgeWatcher;
use crate::archive::event::{container_events, Event, EventKind};
use crate::archive::segment::{self, SegmentError};
use crate::archive::tables::{self, EVENTS, PARTS, SEGMENTS};
use crate::archive::{
    ArchiveError, DbSlot, HistoryConfig, Record, Status, ANCHOR_INTERVAL_MS, FLUSH_INTERVAL_MS, KEYFRAME_INTERVAL_MS,
    MAX_SEGMENT_SPAN_MS,
};
use crate::model::Model;

/// After a failed write, how long until the next try.
pub const RETRY_MS: u64 = 30_000;
/// How often old data is dropped.
const RETENTION_EVERY_MS: u64 = 60_000;
/// How often edges are looked at (each look re-renders the hosts that changed).
const EDGE_SCAN_MS: u64 = 5_000;
/// Metric-only changes (CPU, memory, byte counts) are stored at most this often, as one
/// delta from the last stored state: a probe sends one a second, and most move
/// nothing but figures. Anything else is stored at the next tick.
pub const COALESCE_MS: u64 = 5_000;
/// A probe with no record this long is ended by the writer (its removal record may have been dropped).
const STALE_MS: u64 = 60_000;
/// A container first seen after its probe connected but created this long before is not new:
/// the probe's first reports can come before its Docker listing does.
const PRE_EXISTING_MS: u64 = 30_000;

/// A self-contained segment's start and keyframe entry, which later segments are compressed against.
type Anchor = (UnixMillis, Arc<[u8]>);

/// Changes applied to the writer's model and not yet stored.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// The time of the latest change: the stored delta carries it.
    last_at: UnixMillis,
    /// Something besides metrics changed (see [`is_structural`]): store at the next tick.
    structural: bool,
}

/// A probe's segment being written.
#[derive(Debug)]
struct Open {
    start: UnixMillis,
    end: UnixMillis,
    raw: Vec<u8>,
    /// Bytes of `raw` already stored as parts.
    flushed: usize,
    parts: u32,
    anchor: Option<Anchor>,
    /// The probe's report as stored so far (the base of the next stored delta), and when.
    written: Report,
    written_at: UnixMillis,
    pending: Option<Pending>,
}

impl Open {
    fn new(at: UnixMillis, report: &Report, anchor: Option<Anchor>) -> Result<Open, SegmentError> {
        let mut raw = Vec::new();
        segment::append_keyframe(&mut raw, at, report)?;
        Ok(Open {
            start: at,
            end: at,
            raw,
            flushed: 0,
            parts: 0,
            anchor,
            written: report.clone(),
            written_at: at,
            pending: None,
        })
    }

    /// Stores what changed since the last stored state as one delta, if anything did.
    fn store_pending(&mut self, current: &Report, now: UnixMillis) -> Result<(), SegmentError> {
        let Some(pending) = self.pending.take() else { return Ok(()) };
        let delta = diff(&self.written, current);
        segment::append_delta(&mut self.raw, pending.last_at, &delta)?;
        self.written = current.clone();
        self.written_at = now;
        Ok(())
    }

    fn dictionary(&self) -> Option<&[u8]> {
        self.anchor.as_ref().map(|(_, bytes)| &bytes[..])
    }

    fn anchor_start(&self) -> u64 {
        self.anchor.as_ref().map_or(0, |(start, _)| start.0)
    }
}

pub struct Writer {
    db: Arc<DbSlot>,
    path: PathBuf,
    config: HistoryConfig,
    status: Arc<Status>,
    model: Model,
    open: BTreeMap<ProbeId, Open>,
    anchors: HashMap<ProbeId, Anchor>,
    closing: Vec<(ProbeId, Open)>,
    last_seen: HashMap<ProbeId, UnixMillis>,
    /// When each followed probe connected (its first snapshot).
    connected: HashMap<ProbeId, UnixMillis>,
    edges: EdgeWatcher,
    events: Vec<Event>,
    next_event: u64,
    failed_until: Option<UnixMillis>,
    last_edge_scan: UnixMillis,
    last_retention: UnixMillis,
}

impl Writer {
    pub fn new(db: Arc<DbSlot>, path: PathBuf, config: HistoryConfig, status: Arc<Status>) -> Writer {
        let mut model = Model::default();
        let edges = EdgeWatcher::new(&mut model);
        let next_event = db.get().ok().and_then(|db| last_event_number(&db)).map(|n| n + 1).unwrap_or(0);
        Writer {
            db,
            path,
            config,
            status,
            model,
            open: BTreeMap::new(),
            anchors: HashMap::new(),
            closing: Vec::new(),
            last_seen: HashMap::new(),
            connected: HashMap::new(),
            edges,
            events: Vec::new(),
            next_event,
            failed_until: None,
            last_edge_scan: UnixMillis(0),
            last_retention: UnixMillis(0),
        }
    }

    /// Runs until [`Record::Close`] or until every sender is gone; flushes before it returns.
    pub fn run(mut self, receiver: Receiver<Record>) {
        let flush_every = Duration::from_millis(FLUSH_INTERVAL_MS);
        let mut next_tick = Instant::now() + flush_every;
        loop {
            match receiver.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
                Ok(Record::Close(done)) => {
                    self.finish(crate::clock::now());
                    // The closer may have given up waiting; nothing else to tell.
                    let _ = done.send(());
                    return;
                }
                Ok(record) => self.handle(record),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish(crate::clock::now());
                    return;
                }
            }
            if Instant::now() >= next_tick {
                self.tick(crate::clock::now());
                next_tick = Instant::now() + flush_every;
            }
        }
    }

    /// Applies one record to the writer's model and open segment.
    pub fn handle(&mut self, record: Record) {
        let result = match record {
            Record::Snapshot { at, report } => self.snapshot(at, *report),
            Record::Delta { at, delta } => self.delta(at, *delta),
            Record::Removed { at, probe } => self.removed(at, &probe),
            Record::Close(_) => Ok(()),
        };
        if let Err(error) = result {
            // Only an unencodable report gets here; that probe's history waits for its next snapshot.
            tracing::warn!(%error, "history: record skipped");
        }
    }

    fn snapshot(&mut self, at: UnixMillis, report: Report) -> Result<(), SegmentError> {
        let probe = report.probe.clone();
        self.last_seen.insert(probe.clone(), at);
        match self.model.report(&probe) {
            None => {
                self.connected.insert(probe.clone(), at);
                self.events.push(Event::probe(at, EventKind::ProbeConnected, &probe, &report.host.id));
            }
            Some(old) => {
                let mut ids: Vec<&ContainerId> = old.containers.ids().chain(report.containers.ids()).collect();
                ids.sort();
                ids.dedup();
                for id in ids {
                    let events =
                        container_events(at, &report.host.id, old.containers.get(id), report.containers.get(id));
                    self.events.extend(events);
                }
            }
        }
        self.store_pending_of(&probe, at);
        if let Some(open) = self.open.remove(&probe) {
            self.close(probe.clone(), open, at);
        }
        if self.failed_until.is_none() {
            let open = self.new_open(&probe, at, &report)?;
            self.open.insert(probe, open);
        }
        self.model.insert_snapshot(report);
        Ok(())
    }

    fn delta(&mut self, at: UnixMillis, delta: periscope_report::Delta) -> Result<(), SegmentError> {
        let probe = delta.probe.clone();
        let Some(report) = self.model.report(&probe) else { return Ok(()) };
        self.last_seen.insert(probe.clone(), at);
        let host = report.host.id.clone();
        let mut touched: Vec<(ContainerId, Option<Container>)> = Vec::new();
        for id in delta.containers.upserts.iter().map(|c| &c.id).chain(&delta.containers.removals) {
            if !touched.iter().any(|(seen, _)| seen == id) {
                touched.push((id.clone(), report.containers.get(id).cloned()));
            }
        }
        let structural = is_structural(report, &delta);
        if structural {
            // Figures gathered so far go first, so this change is stored at its own moment.
            self.store_pending_of(&probe, at);
        }
        if let Err(error) = self.model.apply_delta(delta) {
            // The store applied this very delta, so a record went missing: wait for the whole report the recorder sends.
            tracing::debug!(%probe, %error, "history: delta does not fit; waiting for a whole report");
            if let Some(open) = self.open.remove(&probe) {
                self.close(probe.clone(), open, at);
            }
            self.model.remove(&probe);
            return Ok(());
        }
        if let Some(open) = self.open.get_mut(&probe) {
            let pending = open.pending.get_or_insert(Pending { last_at: at, structural: false });
            pending.last_at = at;
            pending.structural |= structural;
        }
        if structural {
            self.store_pending_of(&probe, at);
        }
        let connected = self.connected.get(&probe).copied().unwrap_or(at);
        if let Some(report) = self.model.report(&probe) {
            for (id, before) in touched {
                let after = report.containers.get(&id);
                let pre_existing = after.is_some_and(|c| c.created.0.saturating_add(PRE_EXISTING_MS) < connected.0);
                if before.is_none() && pre_existing {
                    continue;
                }
                self.events.extend(container_events(at, &host, before.as_ref(), after));
            }
        }
        Ok(())
    }

    fn removed(&mut self, at: UnixMillis, probe: &ProbeId) -> Result<(), SegmentError> {
        self.last_seen.remove(probe);
        self.connected.remove(probe);
        self.anchors.remove(probe);
        let Some(report) = self.model.report(probe) else { return Ok(()) };
        self.events.push(Event::probe(at, EventKind::ProbeLost, probe, &report.host.id));
        self.store_pending_of(probe, at);
        if let Some(mut open) = self.open.remove(probe) {
            segment::append_removed(&mut open.raw, at)?;
            self.close(probe.clone(), open, at);
        }
        self.model.remove(probe);
        Ok(())
    }

    fn close(&mut self, probe: ProbeId, mut open: Open, end: UnixMillis) {
        open.end = end;
        self.closing.push((probe, open));
    }

    /// Stores every pending change, then ticks: what the writer does before it stops.
    pub fn finish(&mut self, now: UnixMillis) {
        self.store_pending(now, true);
        self.tick(now);
    }

    /// Stores pending changes that are structural or old enough (all of them when `force`).
    fn store_pending(&mut self, now: UnixMillis, force: bool) {
        let Writer { open, model, .. } = self;
        for (probe, segment) in open.iter_mut() {
            let Some(pending) = segment.pending else { continue };
            if !(force || pending.structural || now.0.saturating_sub(segment.written_at.0) >= COALESCE_MS) {
                continue;
            }
            let Some(current) = model.report(probe) else { continue };
            if let Err(error) = segment.store_pending(current, now) {
                tracing::warn!(%probe, %error, "history: changes skipped");
            }
        }
    }

    fn store_pending_of(&mut self, probe: &ProbeId, now: UnixMillis) {
        let (Some(segment), Some(current)) = (self.open.get_mut(probe), self.model.report(probe)) else { return };
        if let Err(error) = segment.store_pending(current, now) {
            tracing::warn!(%probe, %error, "history: changes skipped");
        }
    }

    /// Housekeeping at `now`: ends silent probes, rolls old segments, looks at
    /// edges, commits, and now and then drops old data.
    pub fn tick(&mut self, now: UnixMillis) {
        let stale: Vec<ProbeId> = self
            .last_seen
            .iter()
            .filter(|(_, seen)| now.0.saturating_sub(seen.0) > STALE_MS)
            .map(|(probe, _)| probe.clone())
            .collect();
        for probe in stale {
            let seen = self.last_seen.get(&probe).copied().unwrap_or(now);
            // Stale only when the removal record was dropped; its moment is lost, the last one seen stands in.
            let _ = self.removed(seen, &probe);
        }
        if now.0.saturating_sub(self.last_edge_scan.0) >= EDGE_SCAN_MS {
            self.last_edge_scan = now;
            let events = self.edges.scan(&mut self.model, now);
            self.events.extend(events);
        }
        match self.failed_until {
            Some(retry) if now < retry => {
                self.events.clear();
                return;
            }
            Some(_) => {
                // redb refuses everything after a failed write until the file is reopened.
                if let Err(error) = self.db.reopen() {
                    self.fail(now, error);
                    return;
                }
                self.restart_segments(now);
            }
            None => {
                self.store_pending(now, false);
                self.roll(now);
            }
        }
        match self.flush(now) {
            Ok(()) => {
                if self.failed_until.take().is_some() {
                    tracing::info!(path = %self.path.display(), "history writes work again; history resumed");
                    *self.status.failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                self.status.to.fetch_max(now.0, Ordering::Relaxed);
                if now.0.saturating_sub(self.last_retention.0) >= RETENTION_EVERY_MS {
                    self.last_retention = now;
                    if let Err(error) = self.retain(now) {
                        tracing::warn!(%error, "history: dropping old data failed");
                    }
                    self.refresh_extent();
                }
            }
            Err(error) => self.fail(now, error),
        }
    }

    /// Starts a new segment (a keyframe of the current report) for every probe whose segment is old.
    fn roll(&mut self, now: UnixMillis) {
        let due: Vec<ProbeId> = self
            .open
            .iter()
            .filter(|(_, open)| now.0.saturating_sub(open.start.0) >= KEYFRAME_INTERVAL_MS)
            .map(|(probe, _)| probe.clone())
            .collect();
        for probe in due {
            self.store_pending_of(&probe, now);
            if let Some(open) = self.open.remove(&probe) {
                self.close(probe.clone(), open, now);
            }
            self.start_segment(probe, now);
        }
    }

    fn restart_segments(&mut self, now: UnixMillis) {
        self.closing.clear();
        self.open.clear();
        self.anchors.clear();
        let probes: Vec<ProbeId> = self.model.reports().map(|r| r.probe.clone()).collect();
        for probe in probes {
            self.start_segment(probe, now);
        }
    }

    fn start_segment(&mut self, probe: ProbeId, now: UnixMillis) {
        let Some(report) = self.model.report(&probe) else { return };
        let report = report.clone();
        match self.new_open(&probe, now, &report) {
            Ok(open) => {
                self.open.insert(probe, open);
            }
            Err(error) => tracing::warn!(%probe, %error, "history: keyframe skipped"),
        }
    }

    /// A new segment at `at`: compressed against the probe's anchor while that is fresh, else an anchor itself.
    fn new_open(&mut self, probe: &ProbeId, at: UnixMillis, report: &Report) -> Result<Open, SegmentError> {
        let anchor = self.anchors.get(probe).filter(|(start, _)| at.0.saturating_sub(start.0) < ANCHOR_INTERVAL_MS);
        let open = Open::new(at, report, anchor.cloned())?;
        if open.anchor.is_none() {
            if let Some(keyframe) = segment::first_entry(&open.raw) {
                self.anchors.insert(probe.clone(), (at, Arc::from(keyframe)));
            }
        }
        Ok(open)
    }

    fn flush(&mut self, now: UnixMillis) -> Result<(), ArchiveError> {
        let write = self.db.get()?.begin_write()?;
        let mut written = 0u64;
        {
            let mut segments = write.open_table(SEGMENTS)?;
            let mut parts = write.open_table(PARTS)?;
            for (probe, open) in &self.closing {
                let probe = probe.as_str();
                let blob = segment::compress_with(&open.raw, open.dictionary())?;
                written += blob.len() as u64;
                parts.retain_in((probe, open.start.0, 0)..=(probe, open.start.0, u32::MAX), |_, _| false)?;
                parts.insert((probe, open.start.0, 0), blob.as_slice())?;
                segments.insert((open.start.0, probe), (open.end.0, 1, open.anchor_start()))?;
            }
            for (probe, open) in &mut self.open {
                let probe = probe.as_str();
                if open.raw.len() > open.flushed {
                    // Only the first part (the keyframe) is worth the anchor's dictionary; the rest is compacted later.
                    let dictionary = if open.parts == 0 { open.dictionary() } else { None };
                    let blob = segment::compress_with(&open.raw[open.flushed..], dictionary)?;
                    written += blob.len() as u64;
                    parts.insert((probe, open.start.0, open.parts), blob.as_slice())?;
                    open.parts += 1;
                    open.flushed = open.raw.len();
                }
                open.end = now.max(open.end);
                segments.insert((open.start.0, probe), (open.end.0, open.parts, open.anchor_start()))?;
            }
            let mut events = write.open_table(EVENTS)?;
            for event in &self.events {
                let bytes = postcard::to_stdvec(event).map_err(SegmentError::from)?;
                written += bytes.len() as u64;
                events.insert((event.at.0, self.next_event), bytes.as_slice())?;
                self.next_event += 1;
            }
        }
        write.commit()?;
        if self.status.from.load(Ordering::Relaxed) == 0 {
            if let Some(first) =
                self.open.values().map(|o| o.start.0).chain(self.closing.iter().map(|(_, o)| o.start.0)).min()
            {
                self.status.from.store(first, Ordering::Relaxed);
            }
        }
        self.status.events.fetch_add(self.events.len() as u64, Ordering::Relaxed);
        self.status.written_bytes.fetch_add(written, Ordering::Relaxed);
        self.closing.clear();
        self.events.clear();
        Ok(())
    }

    fn fail(&mut self, now: UnixMillis, error: ArchiveError) {
        self.status.write_errors.fetch_add(1, Ordering::Relaxed);
        if self.failed_until.is_none() {
            tracing::error!(path = %self.path.display(), %error, "history write failed; history stops (the live view goes on) and is retried every {} s", RETRY_MS / 1000);
        }
        *self.status.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
        self.failed_until = Some(UnixMillis(now.0 + RETRY_MS));
        self.open.clear();
        self.anchors.clear();
        self.closing.clear();
        self.events.clear();
        // A full disk may be relieved by dropping old data.
        if let Err(error) = self.retain(now) {
            tracing::debug!(%error, "history: dropping old data after a failed write failed too");
        }
    }

    /// Drops data older than the age limit, then the oldest data while the store is over its size.
    fn retain(&mut self, now: UnixMillis) -> Result<(), ArchiveError> {
        let db = self.db.get()?;
        let max_age = u64::try_from(self.config.max_age.as_millis()).unwrap_or(u64::MAX);
        let cutoff = UnixMillis(now.0.saturating_sub(max_age));
        if tables::first_start(&db)?.is_some_and(|first| first < cutoff) {
            let dropped = tables::drop_before(&db, cutoff)?;
            tracing::debug!(dropped, "history: dropped segments past the age limit");
        }
        // Keep a tenth spare: the file grows before pages freed by a drop are reused.
        let budget = self.config.max_bytes / 10 * 9;
        let over = |db: &Database| -> Result<bool, ArchiveError> {
            // The file bounds the pages in use and costs nothing to ask; counting pages walks every table.
            let file = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(u64::MAX);
            Ok(file > budget && tables::used_bytes(db)? > budget)
        };
        if !over(&db)? {
            return Ok(());
        }
        let Some(first) = tables::first_start(&db)? else { return Ok(()) };
        // Older and older cutoffs until enough went (an anchor stays while later segments need it).
        let step = (now.0.saturating_sub(first.0) / 20).max(MAX_SEGMENT_SPAN_MS);
        let mut cutoff = first.0.saturating_add(step);
        while cutoff < now.0 {
            let dropped = tables::drop_before(&db, UnixMillis(cutoff))?;
            tracing::info!(before = cutoff, dropped, "history over its size budget; dropped the oldest");
            if !over(&db)? {
                break;
            }
            cutoff = cutoff.saturating_add(step);
        }
        Ok(())
    }

    /// Re-reads the range held and the file size into the shared status.
    pub fn refresh_extent(&self) {
        match self.db.get().and_then(|db| tables::extent(&db, &self.path, MAX_SEGMENT_SPAN_MS)) {
            Ok(extent) => {
                self.status.from.store(extent.from.map_or(0, |t| t.0), Ordering::Relaxed);
                self.status.to.store(extent.to.map_or(0, |t| t.0), Ordering::Relaxed);
                self.status.file_bytes.store(extent.bytes, Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(%error, "history: reading its extent failed"),
        }
    }
}

/// True when a delta changes more than figures: anything added or removed,
/// a container's state, a process's identity, a socket's state or owner,
/// a traced flow starting or stopping to fail. Figure-only deltas are coalesced ([`COALESCE_MS`]).
fn is_structural(report: &Report, delta: &Delta) -> bool {
    let removals = !delta.processes.removals.is_empty()
        || !delta.containers.removals.is_empty()
        || !delta.images.removals.is_empty()
        || !delta.sockets.removals.is_empty()
        || !delta.connections.removals.is_empty()
        || !delta.traced.removals.is_empty();
    let host_moved = delta.host.as_ref().is_some_and(|host| {
        host.id != report.host.id || host.hostname != report.host.hostname || host.interfaces != report.host.interfaces
    });
    removals
        || host_moved
        || delta.meta.is_some()
        || !delta.images.upserts.is_empty()
        || delta.processes.upserts.iter().any(|p| {
            report.processes.get(&p.id).is_none_or(|old| {
                old.name != p.name
                    || old.cmdline != p.cmdline
                    || old.user != p.user
                    || old.ppid != p.ppid
                    || old.container != p.container
            })
        })
        || delta.containers.upserts.iter().any(|c| {
            report.containers.get(&c.id).is_none_or(|old| {
                old.state != c.state
                    || old.health != c.health
                    || old.restart_count != c.restart_count
                    || old.networks != c.networks
                    || old.ports != c.ports
                    || old.name != c.name
                    || old.main_pid != c.main_pid
            })
        })
        || delta
            .sockets
            .upserts
            .iter()
            .any(|s| report.sockets.get(&s.id).is_none_or(|old| old.state != s.state || old.pid != s.pid))
        || delta.connections.upserts.iter().any(|c| report.connections.get(&c.id).is_none_or(|old| old != c))
        // A traced flow is an edge: new, or starting or ending to fail, it changes the map.
        || delta.traced.upserts.iter().any(|f| {
            report.traced.get(&f.id).is_none_or(|old| old.last_minute.has_failures() != f.last_minute.has_failures())
        })
}

fn last_event_number(db: &Database) -> Option<u64> {
    use redb::ReadableDatabase;
    let read = db.begin_read().ok()?;
    let events = read.open_table(EVENTS).ok()?;
    // Numbers only keep equal moments apart; the largest of the last few is enough.
    let last = events.iter().ok()?.rev().take(64).filter_map(|e| e.ok()).map(|(k, _)| k.value().1).max();
    last
}
