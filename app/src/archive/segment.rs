//! One probe's history between two keyframes, as stored: a keyframe (the
//! probe's full report), the deltas after it, and maybe its removal.
//!
//! A segment is a stream of entries, each `kind (1 byte) | at (u64 LE) | len
//! (u32 LE) | postcard body`, so a reader skips entries past the moment it
//! wants without decoding them. The stream is stored zstd-compressed, in one
//! or more parts: the writer appends a part every flush and folds them into
//! one when the segment closes (consecutive deltas compress far better
//! together than one by one).

use periscope_report::{Delta, Report, UnixMillis};

const KIND_KEYFRAME: u8 = 0;
const KIND_DELTA: u8 = 1;
const KIND_REMOVED: u8 = 2;
const HEADER: usize = 1 + 8 + 4;
/// Level 9 is several times slower than 3 but the writer compresses a
/// segment's deltas once, off the live path, and they shrink by about a third more.
const ZSTD_LEVEL: i32 = 9;
/// No segment decompresses to more than this; anything larger is corrupt.
const MAX_SEGMENT_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// The probe's whole report: a snapshot it sent, or the writer's copy at a segment's start.
    Keyframe(Report),
    Delta(Delta),
    /// The probe disconnected or went silent; nothing of it is in the model after this.
    Removed,
}

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("encoding a history entry: {0}")]
    Encode(#[from] postcard::Error),
    #[error("compressing or decompressing a history segment: {0}")]
    Zstd(#[source] std::io::Error),
    #[error("history segment is truncated or corrupt")]
    Corrupt,
}

/// Appends one entry to a raw (uncompressed) segment stream.
pub fn append(raw: &mut Vec<u8>, at: UnixMillis, entry: &Entry) -> Result<(), SegmentError> {
    match entry {
        Entry::Keyframe(report) => append_keyframe(raw, at, report),
        Entry::Delta(delta) => append_delta(raw, at, delta),
        Entry::Removed => append_removed(raw, at),
    }
}

pub fn append_keyframe(raw: &mut Vec<u8>, at: UnixMillis, report: &Report) -> Result<(), SegmentError> {
    append_body(raw, at, KIND_KEYFRAME, postcard::to_stdvec(report)?)
}

pub fn append_delta(raw: &mut Vec<u8>, at: UnixMillis, delta: &Delta) -> Result<(), SegmentError> {
    append_body(raw, at, KIND_DELTA, postcard::to_stdvec(delta)?)
}

pub fn append_removed(raw: &mut Vec<u8>, at: UnixMillis) -> Result<(), SegmentError> {
    append_body(raw, at, KIND_REMOVED, Vec::new())
}

fn append_body(raw: &mut Vec<u8>, at: UnixMillis, kind: u8, body: Vec<u8>) -> Result<(), SegmentError> {
    let len = u32::try_from(body.len()).map_err(|_| SegmentError::Corrupt)?;
    raw.reserve(HEADER + body.len());
    raw.push(kind);
    raw.extend_from_slice(&at.0.to_le_bytes());
    raw.extend_from_slice(&len.to_le_bytes());
    raw.extend_from_slice(&body);
    Ok(())
}

pub fn compress(raw: &[u8]) -> Result<Vec<u8>, SegmentError> {
    zstd::bulk::compress(raw, ZSTD_LEVEL).map_err(SegmentError::Zstd)
}

/// Compresses against `dictionary` (raw content: an anchor's keyframe entry), or alone.
pub fn compress_with(raw: &[u8], dictionary: Option<&[u8]>) -> Result<Vec<u8>, SegmentError> {
    match dictionary {
        None => compress(raw),
        Some(dictionary) => zstd::bulk::Compressor::with_dictionary(ZSTD_LEVEL, dictionary)
            .and_then(|mut compressor| compressor.compress(raw))
            .map_err(SegmentError::Zstd),
    }
}

/// Decompresses the parts of one segment, in order, into its raw stream.
pub fn decompress<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, SegmentError> {
    decompress_with(parts, None)
}

/// As [`decompress`], the first part compressed against `dictionary` (the writer compresses
/// a segment's first part, and the whole segment once compacted, against its anchor).
pub fn decompress_with<'a>(
    parts: impl IntoIterator<Item = &'a [u8]>,
    dictionary: Option<&[u8]>,
) -> Result<Vec<u8>, SegmentError> {
    let mut raw = Vec::new();
    for (index, part) in parts.into_iter().enumerate() {
        let limit = (MAX_SEGMENT_BYTES - raw.len()) as u64 + 1;
        let copied = match dictionary.filter(|_| index == 0) {
            Some(dictionary) => {
                let mut decoder =
                    zstd::stream::read::Decoder::with_dictionary(part, dictionary).map_err(SegmentError::Zstd)?;
                std::io::copy(&mut std::io::Read::take(&mut decoder, limit), &mut raw)
            }
            None => {
                let mut decoder = zstd::stream::read::Decoder::new(part).map_err(SegmentError::Zstd)?;
                std::io::copy(&mut std::io::Read::take(&mut decoder, limit), &mut raw)
            }
        };
        copied.map_err(SegmentError::Zstd)?;
        if raw.len() > MAX_SEGMENT_BYTES {
            return Err(SegmentError::Corrupt);
        }
    }
    Ok(raw)
}

/// The first entry of a raw stream as stored (header and body): an anchor's keyframe, the dictionary of its dependents.
pub fn first_entry(raw: &[u8]) -> Option<&[u8]> {
    let entry = entries(raw).next()?.ok()?;
    raw.get(..entry.size())
}

/// An entry not yet decoded: its kind and time are read, the body only on demand.
#[derive(Debug, Clone, Copy)]
pub struct RawEntry<'a> {
    pub at: UnixMillis,
    kind: u8,
    body: &'a [u8],
}

impl RawEntry<'_> {
    /// Bytes of the entry in the raw stream, header included.
    pub fn size(&self) -> usize {
        HEADER + self.body.len()
    }

    pub fn is_keyframe(&self) -> bool {
        self.kind == KIND_KEYFRAME
    }

    pub fn decode(&self) -> Result<Entry, SegmentError> {
        match self.kind {
            KIND_KEYFRAME => Ok(Entry::Keyframe(postcard::from_bytes(self.body)?)),
            KIND_DELTA => Ok(Entry::Delta(postcard::from_bytes(self.body)?)),
            KIND_REMOVED => Ok(Entry::Removed),
            _ => Err(SegmentError::Corrupt),
        }
    }
}

/// The entries of a raw stream, in order; a truncated or unknown entry ends it with an error.
pub fn entries(raw: &[u8]) -> impl Iterator<Item = Result<RawEntry<'_>, SegmentError>> {
    let mut rest = raw;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let header = rest.get(..HEADER)?;
            let kind = header[0];
            let at = u64::from_le_bytes(header[1..9].try_into().ok()?);
            let len = u32::from_le_bytes(header[9..13].try_into().ok()?) as usize;
            let body = rest.get(HEADER..HEADER + len)?;
            Some((RawEntry { at: UnixMillis(at), kind, body }, HEADER + len))
        })();
        match parsed {
            Some((entry, used)) if entry.kind <= KIND_REMOVED => {
                rest = &rest[used..];
                Some(Ok(entry))
            }
            _ => {
                rest = &[];
                Some(Err(SegmentError::Corrupt))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use periscope_report::diff;
    use periscope_report::fixtures::ReportBuilder;

    use super::*;

    #[test]
    fn entries_round_trip_through_parts() {
        let first = ReportBuilder::new("a").seq(1).process(10, "sh", None).build();
        let second = ReportBuilder::new("a").seq(2).process(10, "sh", None).process(11, "sleep", None).build();
        let delta = diff(&first, &second);
        let mut raw = Vec::new();
        append(&mut raw, UnixMillis(100), &Entry::Keyframe(first.clone())).unwrap();
        let split = raw.len();
        append(&mut raw, UnixMillis(200), &Entry::Delta(delta.clone())).unwrap();
        append(&mut raw, UnixMillis(300), &Entry::Removed).unwrap();
        // Written as two parts (two flushes), read back as one stream.
        let parts = [compress(&raw[..split]).unwrap(), compress(&raw[split..]).unwrap()];
        let back = decompress(parts.iter().map(Vec::as_slice)).unwrap();
        let decoded: Vec<(u64, Entry)> =
            entries(&back).map(|e| e.unwrap()).map(|e| (e.at.0, e.decode().unwrap())).collect();
        assert_eq!(decoded, vec![(100, Entry::Keyframe(first)), (200, Entry::Delta(delta)), (300, Entry::Removed)]);
    }

    #[test]
    fn a_segment_compressed_against_its_anchor_reads_back_with_it_only() {
        let anchor_report = ReportBuilder::new("a").seq(1).process(10, "sh", None).process(11, "sleep", None).build();
        let mut anchor = Vec::new();
        append(&mut anchor, UnixMillis(1), &Entry::Keyframe(anchor_report.clone())).unwrap();
        let dictionary = first_entry(&anchor).unwrap();
        assert_eq!(dictionary.len(), anchor.len());
        let later = ReportBuilder::new("a").seq(9).process(10, "sh", None).process(12, "wget", None).build();
        let mut raw = Vec::new();
        append(&mut raw, UnixMillis(60_000), &Entry::Keyframe(later)).unwrap();
        let split = raw.len();
        append(&mut raw, UnixMillis(61_000), &Entry::Removed).unwrap();
        let first = compress_with(&raw[..split], Some(dictionary)).unwrap();
        assert!(first.len() < compress(&raw[..split]).unwrap().len(), "the anchor helps");
        let parts = [first, compress(&raw[split..]).unwrap()];
        let back = decompress_with(parts.iter().map(Vec::as_slice), Some(dictionary)).unwrap();
        assert_eq!(back, raw);
        assert!(decompress(parts.iter().map(Vec::as_slice)).is_err_or_differs(&raw));
    }

    trait ErrOrDiffers {
        fn is_err_or_differs(&self, expected: &[u8]) -> bool;
    }

    impl ErrOrDiffers for Result<Vec<u8>, SegmentError> {
        fn is_err_or_differs(&self, expected: &[u8]) -> bool {
            self.as_ref().map_or(true, |got| got != expected)
        }
    }

    #[test]
    fn truncation_and_garbage_are_errors_not_panics() {
        let mut raw = Vec::new();
        append(&mut raw, UnixMillis(1), &Entry::Keyframe(ReportBuilder::new("a").build())).unwrap();
        for cut in [1, HEADER - 1, HEADER + 1, raw.len() - 1] {
            assert!(entries(&raw[..cut]).any(|e| e.is_err()), "cut at {cut}");
        }
        let mut bad = raw.clone();
        bad[0] = 9;
        assert!(entries(&bad).next().unwrap().is_err());
        assert!(decompress([&b"not zstd"[..]]).is_err());
    }
}
