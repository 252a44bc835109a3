//! The history database: redb tables, opening, and dropping the oldest data.
//!
//! - `segments`: `(start, probe)` → `(end, parts, anchor)`: every stored
//!   segment, in time order, with the last moment its state is known to hold
//!   and the start of the segment whose keyframe it is compressed against
//!   (0 when it stands alone; see `segment`).
//! - `parts`: `(probe, start, part)` → compressed entries of that segment.
//! - `events`: `(at, n)` → one [`Event`], postcard-encoded.
//! - `meta`: format and wire versions, and the moment before which history was dropped.

use std::path::{Path, PathBuf};

use periscope_report::UnixMillis;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::archive::event::Event;
use crate::archive::{ArchiveError, ANCHOR_INTERVAL_MS, MAX_SEGMENT_SPAN_MS};

pub const SEGMENTS: TableDefinition<(u64, &str), (u64, u32, u64)> = TableDefinition::new("segments");
pub const PARTS: TableDefinition<(&str, u64, u32), &[u8]> = TableDefinition::new("parts");
pub const EVENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("events");
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Bumped when the layout above changes; a store of another format (or of
/// another wire version, whose reports postcard cannot read) is started afresh.
const FORMAT: u64 = 2;
const DROPPED_BEFORE: &str = "dropped_before";

pub fn file(dir: &Path) -> PathBuf {
    dir.join("history.redb")
}

/// Opens (or creates) the store in `dir`, starting afresh if it holds another format.
pub fn open(dir: &Path) -> Result<Database, ArchiveError> {
    let with_dir = |source| ArchiveError::Io { path: dir.to_owned(), source };
    std::fs::create_dir_all(dir).map_err(with_dir)?;
    // Say "not writable" plainly, before redb reports it as a failed lock or mmap.
    let probe = dir.join(".periscope-write-check");
    std::fs::write(&probe, b"").map_err(with_dir)?;
    let _ = std::fs::remove_file(&probe); // Harmless if it stays.
    let path = file(dir);
    let db = Database::create(&path).map_err(|e| ArchiveError::Open { path: path.clone(), source: e.into() })?;
    let wire = u64::from(periscope_report::WIRE_VERSION);
    let (format, stored_wire) = {
        let read = db.begin_read()?;
        match read.open_table(META) {
            Ok(meta) => (meta.get("format")?.map(|v| v.value()), meta.get("wire_version")?.map(|v| v.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => (None, None),
            Err(error) => return Err(error.into()),
        }
    };
    let write = db.begin_write()?;
    if format.is_some() && (format != Some(FORMAT) || stored_wire != Some(wire)) {
        tracing::warn!(path = %path.display(), ?format, ?stored_wire, "history of another format; starting afresh");
        write.delete_table(SEGMENTS)?;
        write.delete_table(PARTS)?;
        write.delete_table(EVENTS)?;
        write.delete_table(META)?;
    }
    {
        let mut meta = write.open_table(META)?;
        meta.insert("format", FORMAT)?;
        meta.insert("wire_version", wire)?;
        write.open_table(SEGMENTS)?;
        write.open_table(PARTS)?;
        write.open_table(EVENTS)?;
    }
    write.commit()?;
    Ok(db)
}

/// What the store holds: the first and last moments, and the bytes its pages take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extent {
    pub from: Option<UnixMillis>,
    pub to: Option<UnixMillis>,
    pub bytes: u64,
}

/// Reads the extent of the store at `path`; `lookback` is the longest a segment can span.
pub fn extent(db: &Database, path: &Path, lookback: u64) -> Result<Extent, ArchiveError> {
    let read = db.begin_read()?;
    let segments = read.open_table(SEGMENTS)?;
    let meta = read.open_table(META)?;
    let dropped_before = meta.get(DROPPED_BEFORE)?.map(|v| v.value()).unwrap_or(0);
    let first = segments.first()?.map(|(key, _)| key.value().0);
    let mut last_end = None::<u64>;
    for entry in segments.iter()?.rev() {
        let (key, value) = entry?;
        let (start, (end, _, _)) = (key.value().0, value.value());
        if last_end.is_some_and(|last| start + lookback < last) {
            break;
        }
        last_end = Some(last_end.map_or(end, |last| last.max(end)));
    }
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(Extent { from: first.map(|f| UnixMillis(f.max(dropped_before))), to: last_end.map(UnixMillis), bytes })
}

/// Bytes of pages in use (the file does not shrink; freed pages are reused).
pub fn used_bytes(db: &Database) -> Result<u64, ArchiveError> {
    let write = db.begin_write()?;
    let stats = write.stats()?;
    let used = stats.allocated_pages() * stats.page_size() as u64;
    write.abort()?;
    Ok(used)
}

/// Drops every segment that ended before `cutoff`, and events before it,
/// except the anchors that later segments are still compressed against.
/// Returns how many segments went.
pub fn drop_before(db: &Database, cutoff: UnixMillis) -> Result<usize, ArchiveError> {
    let write = db.begin_write()?;
    let dropped;
    {
        let mut segments = write.open_table(SEGMENTS)?;
        let mut parts = write.open_table(PARTS)?;
        let mut doomed: Vec<(u64, String)> = Vec::new();
        let mut needed: std::collections::HashSet<(u64, String)> = std::collections::HashSet::new();
        // Segments still kept reference anchors at most an anchor interval before them.
        let scan_to = cutoff.0.saturating_add(ANCHOR_INTERVAL_MS + MAX_SEGMENT_SPAN_MS);
        for entry in segments.range((0u64, "")..(scan_to, ""))? {
            let (key, value) = entry?;
            let ((start, probe), (end, _, anchor)) = (key.value(), value.value());
            if end < cutoff.0 {
                doomed.push((start, probe.to_owned()));
            } else if anchor != 0 {
                needed.insert((anchor, probe.to_owned()));
            }
        }
        doomed.retain(|segment| !needed.contains(segment));
        for (start, probe) in &doomed {
            segments.remove((*start, probe.as_str()))?;
            parts.retain_in((probe.as_str(), *start, 0)..=(probe.as_str(), *start, u32::MAX), |_, _| false)?;
        }
        dropped = doomed.len();
        let mut events = write.open_table(EVENTS)?;
        events.retain_in(..(cutoff.0, 0), |_, _| false)?;
        let mut meta = write.open_table(META)?;
        let before = meta.get(DROPPED_BEFORE)?.map(|v| v.value()).unwrap_or(0);
        meta.insert(DROPPED_BEFORE, before.max(cutoff.0))?;
    }
    write.commit()?;
    Ok(dropped)
}

/// The oldest moment stored, to pick a cutoff when the store is over its size.
pub fn first_start(db: &Database) -> Result<Option<UnixMillis>, ArchiveError> {
    let read = db.begin_read()?;
    let segments = read.open_table(SEGMENTS)?;
    let first = segments.first()?.map(|(key, _)| UnixMillis(key.value().0));
    Ok(first)
}

pub fn decode_event(bytes: &[u8]) -> Result<Event, ArchiveError> {
    postcard::from_bytes(bytes).map_err(|_| ArchiveError::Corrupt)
}
