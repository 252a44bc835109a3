//! Reading history: the merged model at a past moment, the changes between
//! two moments (to play a view forward), events, and metric samples over a
//! range. Every rebuild goes through `report::apply` and the app's `Model`,
//! so a past view is rendered by the same code, in the same shape, as a live one.

use std::collections::{BTreeMap, HashMap};

use periscope_report::{apply, ProbeId, Report, UnixMillis};
use redb::{ReadTransaction, ReadableDatabase, ReadableTable};

use crate::archive::event::Event;
use crate::archive::segment::{self, Entry};
use crate::archive::tables::{self, EVENTS, PARTS, SEGMENTS};
use crate::archive::{Archive, ArchiveError, MAX_SEGMENT_SPAN_MS};
use crate::history::History;
use crate::model::Model;

/// Past this range, metric samples come from keyframes only (one a minute per probe).
const DELTA_SAMPLES_UP_TO_MS: u64 = 3_600_000;

/// One stored change of one probe.
#[derive(Debug, Clone)]
pub struct Change {
    pub at: UnixMillis,
    pub probe: ProbeId,
    pub entry: Entry,
}

/// Which events to list.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub from: UnixMillis,
    pub to: UnixMillis,
    pub node: Option<String>,
    pub limit: usize,
}

/// A stored segment: its probe, start, the last moment it holds, and its anchor's start (0: none).
#[derive(Debug, Clone)]
struct SegmentRef {
    probe: String,
    start: u64,
    end: u64,
    anchor: u64,
}

/// Anchors' keyframe entries already read, by probe and start: segments of one probe share one.
#[derive(Default)]
struct Anchors(HashMap<(String, u64), Vec<u8>>);

impl Archive {
    /// The merged model as it was at `at`: every probe alive then, at its state then.
    pub fn model_at(&self, at: UnixMillis) -> Result<Model, ArchiveError> {
        let read = self.db()?.begin_read()?;
        // The latest segment of each probe that started by `at` and still held at `at`.
        let mut latest: BTreeMap<String, SegmentRef> = BTreeMap::new();
        for segment in segments_between(&read, at.0.saturating_sub(MAX_SEGMENT_SPAN_MS), at.0)? {
            if segment.end >= at.0 {
                latest.insert(segment.probe.clone(), segment);
            }
        }
        let mut model = Model::default();
        let mut anchors = Anchors::default();
        for segment in latest.values() {
            if let Some(report) = replay(&read, segment, at, &mut anchors)? {
                model.insert_snapshot(report);
            }
        }
        Ok(model)
    }

    /// Every change stored with `after < at <= until`, in time order (each probe's in its own order).
    pub fn changes_between(&self, after: UnixMillis, until: UnixMillis) -> Result<Vec<Change>, ArchiveError> {
        let read = self.db()?.begin_read()?;
        let mut changes = Vec::new();
        let mut anchors = Anchors::default();
        for segment in segments_between(&read, after.0.saturating_sub(MAX_SEGMENT_SPAN_MS), until.0)? {
            if segment.end <= after.0 {
                continue;
            }
            let raw = raw_segment(&read, &segment, &mut anchors)?;
            for entry in segment::entries(&raw) {
                let entry = entry?;
                if entry.at > until {
                    break;
                }
                if entry.at > after {
                    changes.push(Change {
                        at: entry.at,
                        probe: ProbeId::new(segment.probe.as_str()),
                        entry: entry.decode()?,
                    });
                }
            }
        }
        changes.sort_by_key(|change| change.at);
        Ok(changes)
    }

    /// Events in `[from, to]` in time order, at most `limit`.
    pub fn events(&self, query: &EventQuery) -> Result<Vec<Event>, ArchiveError> {
        let read = self.db()?.begin_read()?;
        let table = read.open_table(EVENTS)?;
        let mut events = Vec::new();
        for entry in table.range((query.from.0, 0)..=(query.to.0, u64::MAX))? {
            let (_, value) = entry?;
            let event = tables::decode_event(value.value())?;
            if query.node.as_deref().is_none_or(|node| event.concerns(node)) {
                events.push(event);
                if events.len() >= query.limit {
                    break;
                }
            }
        }
        Ok(events)
    }

    /// CPU and memory samples of `probes`' entities over `[from, to]`, as the live details keep them.
    pub fn samples(&self, probes: &[ProbeId], from: UnixMillis, to: UnixMillis) -> Result<History, ArchiveError> {
        let span = to.0.saturating_sub(from.0);
        let mut history = History::with_retention(span + MAX_SEGMENT_SPAN_MS);
        let read = self.db()?.begin_read()?;
        let wanted: Vec<&str> = probes.iter().map(ProbeId::as_str).collect();
        let keyframes_only = span > DELTA_SAMPLES_UP_TO_MS;
        let mut anchors = Anchors::default();
        for segment in segments_between(&read, from.0.saturating_sub(MAX_SEGMENT_SPAN_MS), to.0)? {
            if !wanted.contains(&segment.probe.as_str()) || segment.end < from.0 {
                continue;
            }
            let raw = raw_segment(&read, &segment, &mut anchors)?;
            let mut report: Option<Report> = None;
            for entry in segment::entries(&raw) {
                let entry = entry?;
                if entry.at > to || (keyframes_only && !entry.is_keyframe()) {
                    break;
                }
                step(&mut report, entry.decode()?);
                if let Some(report) = report.as_ref().filter(|_| entry.at >= from) {
                    history.sample(report, entry.at);
                }
            }
        }
        Ok(history)
    }
}

/// What a store holds, by kind: for benchmarks and sizing.
#[derive(Debug, Default)]
pub struct Composition {
    pub segments: u64,
    pub compressed_segment_bytes: u64,
    pub keyframes: u64,
    pub keyframe_raw_bytes: u64,
    /// Each keyframe compressed alone, as a part of its own.
    pub keyframe_alone_bytes: u64,
    pub deltas: u64,
    pub delta_raw_bytes: u64,
    pub events: u64,
    pub event_bytes: u64,
}

impl Archive {
    /// Reads every segment and event: slow, for benchmarks.
    pub fn composition(&self) -> Result<Composition, ArchiveError> {
        let read = self.db()?.begin_read()?;
        let mut c = Composition::default();
        let mut anchors = Anchors::default();
        for segment in segments_between(&read, 0, u64::MAX - 1)? {
            c.segments += 1;
            let table = read.open_table(PARTS)?;
            let probe = segment.probe.as_str();
            for entry in table.range((probe, segment.start, 0)..=(probe, segment.start, u32::MAX))? {
                c.compressed_segment_bytes += entry?.1.value().len() as u64;
            }
            let raw = raw_segment(&read, &segment, &mut anchors)?;
            let mut offset = 0;
            for entry in segment::entries(&raw) {
                let entry = entry?;
                let size = entry.size();
                if entry.is_keyframe() {
                    c.keyframes += 1;
                    c.keyframe_raw_bytes += size as u64;
                    c.keyframe_alone_bytes += segment::compress(&raw[offset..offset + size])?.len() as u64;
                } else {
                    c.deltas += 1;
                    c.delta_raw_bytes += size as u64;
                }
                offset += size;
            }
        }
        let table = read.open_table(EVENTS)?;
        for entry in table.iter()? {
            c.events += 1;
            c.event_bytes += entry?.1.value().len() as u64;
        }
        Ok(c)
    }
}

/// Applies one stored change to a model being played forward.
pub fn apply_change(model: &mut Model, change: Change) {
    match change.entry {
        Entry::Keyframe(report) => {
            // A keyframe the writer rolled equals the report already held; a probe's new snapshot does not.
            if model.report(&change.probe).is_none_or(|held| held.seq != report.seq || held.host.id != report.host.id) {
                model.insert_snapshot(report);
            }
        }
        Entry::Delta(delta) => {
            // A delta without its base (history dropped in between) waits for the next keyframe.
            let _ = model.apply_delta(delta);
        }
        Entry::Removed => {
            model.remove(&change.probe);
        }
    }
}

/// One step of replaying a segment; a delta that does not fit ends the chain (corrupt or missing data).
fn step(report: &mut Option<Report>, entry: Entry) {
    match entry {
        Entry::Keyframe(keyframe) => *report = Some(keyframe),
        Entry::Delta(delta) => {
            if let Some(state) = report.as_mut() {
                if apply(state, delta).is_err() {
                    *report = None;
                }
            }
        }
        Entry::Removed => *report = None,
    }
}

/// Segments that started in `[from, to]`, in start order.
fn segments_between(read: &ReadTransaction, from: u64, to: u64) -> Result<Vec<SegmentRef>, ArchiveError> {
    let table = read.open_table(SEGMENTS)?;
    let mut found = Vec::new();
    for entry in table.range((from, "")..(to.saturating_add(1), ""))? {
        let (key, value) = entry?;
        let ((start, probe), (end, _, anchor)) = (key.value(), value.value());
        found.push(SegmentRef { probe: probe.to_owned(), start, end, anchor });
    }
    Ok(found)
}

fn parts_of(read: &ReadTransaction, probe: &str, start: u64) -> Result<Vec<Vec<u8>>, ArchiveError> {
    let table = read.open_table(PARTS)?;
    let mut blobs = Vec::new();
    for entry in table.range((probe, start, 0)..=(probe, start, u32::MAX))? {
        let (_, value) = entry?;
        blobs.push(value.value().to_vec());
    }
    Ok(blobs)
}

/// A segment's raw stream, decompressed against its anchor's keyframe when it has one.
fn raw_segment(read: &ReadTransaction, segment: &SegmentRef, anchors: &mut Anchors) -> Result<Vec<u8>, ArchiveError> {
    let blobs = parts_of(read, &segment.probe, segment.start)?;
    if segment.anchor == 0 {
        return Ok(segment::decompress(blobs.iter().map(Vec::as_slice))?);
    }
    let key = (segment.probe.clone(), segment.anchor);
    if !anchors.0.contains_key(&key) {
        // Anchors stand alone (their own anchor is 0), so this never recurses further.
        let anchor_raw =
            segment::decompress(parts_of(read, &segment.probe, segment.anchor)?.iter().map(Vec::as_slice))?;
        let keyframe = segment::first_entry(&anchor_raw).ok_or(ArchiveError::Corrupt)?.to_vec();
        anchors.0.insert(key.clone(), keyframe);
    }
    let dictionary = anchors.0.get(&key).map(Vec::as_slice);
    Ok(segment::decompress_with(blobs.iter().map(Vec::as_slice), dictionary)?)
}

/// The probe's report at `at` from one segment, or `None` if it was removed by then.
fn replay(
    read: &ReadTransaction,
    segment: &SegmentRef,
    at: UnixMillis,
    anchors: &mut Anchors,
) -> Result<Option<Report>, ArchiveError> {
    let raw = raw_segment(read, segment, anchors)?;
    let mut report = None;
    for entry in segment::entries(&raw) {
        let entry = entry?;
        if entry.at > at {
            break;
        }
        step(&mut report, entry.decode()?);
    }
    Ok(report)
}
