//! The binary wire codec: a small header, then postcard, zstd-compressed.
//!
//! Frame layout: `b"PSCP"`, wire version (1 byte), compression (1 byte:
//! 0 none, 1 zstd, 2 zstd stream), body. Decoding treats every byte as
//! hostile: any truncation, corruption, unknown version or oversized input is
//! a typed error, and decompression stops at the configured limit, so a small
//! frame cannot expand into gigabytes.
//!
//! [`Codec`] frames stand alone. A probe's report channel instead uses a
//! [`StreamEncoder`] and [`StreamDecoder`] pair, one per connection: every
//! frame is a flushed block of one endless zstd stream, so a frame can refer
//! back to earlier ones (a process seen a second ago costs its command line
//! once, not twice), which is most of what a delta carries.

use std::cell::RefCell;
use std::io::Read;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Bumped on any incompatible change of the wire types (see report/README.md).
pub const WIRE_VERSION: u8 = 4;

const MAGIC: &[u8; 4] = b"PSCP";
const HEADER_LEN: usize = MAGIC.len() + 2;
const COMPRESSION_NONE: u8 = 0;
const COMPRESSION_ZSTD: u8 = 1;
const COMPRESSION_ZSTD_STREAM: u8 = 2;
/// A stream's history: 2^17 = 128 KiB of earlier frames (a snapshot and the
/// last minutes of deltas on a busy host), for about 300 KiB per connection on each side.
const STREAM_WINDOW_LOG: u32 = 17;
/// Tiny bodies (an empty delta) grow when compressed.
const COMPRESS_ABOVE: usize = 96;
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("serializing a wire message: {0}")]
    Serialize(#[from] postcard::Error),
    #[error("compressing a wire message: {0}")]
    Compress(#[source] std::io::Error),
    #[error("encoded message is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {0} bytes is shorter than the header")]
    Truncated(usize),
    #[error("frame does not start with the Periscope magic bytes")]
    BadMagic,
    #[error("wire version {found} is not supported (this side speaks {WIRE_VERSION})")]
    UnsupportedVersion { found: u8 },
    #[error("unknown compression {0}")]
    UnknownCompression(u8),
    #[error("frame is larger than the {limit}-byte limit")]
    TooLarge { limit: usize },
    #[error("decompressing frame: {0}")]
    Decompress(#[source] std::io::Error),
    #[error("malformed message: {0}")]
    Malformed(#[from] postcard::Error),
    #[error("a stream frame on a connection without a stream decoder")]
    UnexpectedStream,
}

thread_local! {
    /// One compression context per thread, reused: creating one allocates its
    /// level tables (about a megabyte) every time, and a probe encodes a frame a second.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

thread_local! {
    /// Likewise one decompression context per thread: the app decodes a frame per probe per second.
    static DECOMPRESSOR: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

/// Frames are encoded with windows of 2 MiB (level 3); a kept context would
/// otherwise keep whatever window a hostile frame declared, up to 128 MiB.
const MAX_WINDOW_LOG: u32 = 23;

fn decompression_context() -> std::io::Result<zstd::zstd_safe::DCtx<'static>> {
    let mut context = zstd::zstd_safe::DCtx::try_create()
        .ok_or_else(|| std::io::Error::other("cannot allocate a zstd decompression context"))?;
    context
        .set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(MAX_WINDOW_LOG))
        .map_err(|code| std::io::Error::other(zstd::zstd_safe::get_error_name(code)))?;
    Ok(context)
}

fn compress(body: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match slot.as_mut() {
            Some(compressor) => compressor,
            None => slot.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        compressor.compress(body)
    })
}

/// Encoder and decoder with a size limit, which applies both to the frame
/// and to its decompressed body.
#[derive(Debug, Clone, Copy)]
pub struct Codec {
    pub max_bytes: usize,
}

impl Default for Codec {
    fn default() -> Self {
        Codec { max_bytes: 64 * 1024 * 1024 }
    }
}

impl Codec {
    pub fn with_limit(max_bytes: usize) -> Self {
        Codec { max_bytes }
    }

    pub fn encode<T: Serialize>(&self, message: &T) -> Result<Vec<u8>, EncodeError> {
        let body = self.serialize(message)?;
        let mut frame = Vec::with_capacity(HEADER_LEN + body.len() / 2);
        frame.extend_from_slice(MAGIC);
        frame.push(WIRE_VERSION);
        if body.len() > COMPRESS_ABOVE {
            frame.push(COMPRESSION_ZSTD);
            frame.extend_from_slice(&compress(&body).map_err(EncodeError::Compress)?);
        } else {
            frame.push(COMPRESSION_NONE);
            frame.extend_from_slice(&body);
        }
        Ok(frame)
    }

    /// The message's uncompressed body, for a [`StreamEncoder`] to frame later.
    pub fn serialize<T: Serialize>(&self, message: &T) -> Result<Vec<u8>, EncodeError> {
        let body = postcard::to_stdvec(message)?;
        if body.len() > self.max_bytes {
            return Err(EncodeError::TooLarge { size: body.len(), limit: self.max_bytes });
        }
        Ok(body)
    }

    /// Decodes a frame that stands alone; a stream frame is an error here.
    pub fn decode<T: DeserializeOwned>(&self, frame: &[u8]) -> Result<T, DecodeError> {
        let (compression, body) = self.split(frame)?;
        match compression {
            COMPRESSION_NONE => Ok(postcard::from_bytes(body)?),
            COMPRESSION_ZSTD => {
                let decoded = self.decompress(body)?;
                Ok(postcard::from_bytes(&decoded)?)
            }
            COMPRESSION_ZSTD_STREAM => Err(DecodeError::UnexpectedStream),
            other => Err(DecodeError::UnknownCompression(other)),
        }
    }

    /// Checks the size and header; returns the compression byte and the body.
    fn split<'f>(&self, frame: &'f [u8]) -> Result<(u8, &'f [u8]), DecodeError> {
        if frame.len() > self.max_bytes {
            return Err(DecodeError::TooLarge { limit: self.max_bytes });
        }
        let (header, body) = frame.split_at_checked(HEADER_LEN).ok_or(DecodeError::Truncated(frame.len()))?;
        let (magic, rest) = header.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let (version, compression) = (rest[0], rest[1]);
        if version != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        Ok((compression, body))
    }

    fn decompress(&self, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut decoded = Vec::new();
        // One byte past the limit tells "exactly at the limit" from "over it".
        let limit = self.max_bytes as u64 + 1;
        DECOMPRESSOR
            .with(|cell| {
                let mut slot = cell.borrow_mut();
                let context = match slot.as_mut() {
                    Some(context) => context,
                    None => slot.insert(decompression_context()?),
                };
                let read =
                    zstd::stream::read::Decoder::with_context(body, context).take(limit).read_to_end(&mut decoded);
                read
            })
            .map_err(DecodeError::Decompress)?;
        if decoded.len() > self.max_bytes {
            return Err(DecodeError::TooLarge { limit: self.max_bytes });
        }
        Ok(decoded)
    }
}

fn zstd_error(code: usize) -> std::io::Error {
    std::io::Error::other(zstd::zstd_safe::get_error_name(code))
}

/// One connection's sending side: frames are flushed blocks of one zstd stream.
///
/// Frames must reach the peer's [`StreamDecoder`] in the order they were made,
/// all of them: so frame at send time, after any queue that may drop.
pub struct StreamEncoder {
    context: zstd::zstd_safe::CCtx<'static>,
}

impl std::fmt::Debug for StreamEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamEncoder")
    }
}

impl StreamEncoder {
    pub fn new() -> Result<StreamEncoder, EncodeError> {
        use zstd::zstd_safe::CParameter;
        let mut context = zstd::zstd_safe::CCtx::try_create()
            .ok_or_else(|| EncodeError::Compress(std::io::Error::other("cannot allocate a zstd context")))?;
        for parameter in [CParameter::CompressionLevel(ZSTD_LEVEL), CParameter::WindowLog(STREAM_WINDOW_LOG)] {
            context.set_parameter(parameter).map_err(|code| EncodeError::Compress(zstd_error(code)))?;
        }
        Ok(StreamEncoder { context })
    }

    /// Frames a body made by [`Codec::serialize`].
    pub fn frame(&mut self, body: &[u8]) -> Result<Vec<u8>, EncodeError> {
        let mut frame = Vec::with_capacity(HEADER_LEN + zstd::zstd_safe::compress_bound(body.len()));
        frame.extend_from_slice(MAGIC);
        frame.push(WIRE_VERSION);
        frame.push(COMPRESSION_ZSTD_STREAM);
        let mut input = zstd::zstd_safe::InBuffer::around(body);
        loop {
            if frame.capacity() - frame.len() < 64 {
                frame.reserve(frame.capacity());
            }
            let position = frame.len();
            let mut output = zstd::zstd_safe::OutBuffer::around_pos(&mut frame, position);
            let remaining = self
                .context
                .compress_stream2(&mut output, &mut input, zstd::zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_flush)
                .map_err(|code| EncodeError::Compress(zstd_error(code)))?;
            if remaining == 0 && input.pos() == body.len() {
                return Ok(frame);
            }
        }
    }

    pub fn encode<T: Serialize>(&mut self, codec: &Codec, message: &T) -> Result<Vec<u8>, EncodeError> {
        self.frame(&codec.serialize(message)?)
    }
}

/// One connection's receiving side: decodes stream frames in order (and
/// frames that stand alone). After an error the stream is lost: the
/// connection must be closed.
pub struct StreamDecoder {
    codec: Codec,
    context: zstd::zstd_safe::DCtx<'static>,
    broken: bool,
    /// Bytes produced by decompression (or taken as they were) so far, refused frames included:
    /// what decoding cost, for the app's per-connection budget.
    decoded_bytes: u64,
}

impl std::fmt::Debug for StreamDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDecoder").field("codec", &self.codec).field("broken", &self.broken).finish()
    }
}

impl StreamDecoder {
    pub fn new(codec: Codec) -> Result<StreamDecoder, DecodeError> {
        Ok(StreamDecoder {
            codec,
            context: decompression_context().map_err(DecodeError::Decompress)?,
            broken: false,
            decoded_bytes: 0,
        })
    }

    /// Bytes decoded so far (decompressed, or taken as they were), refused frames included.
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded_bytes
    }

    /// True once a stream frame failed: later frames cannot be decoded.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    pub fn decode<T: DeserializeOwned>(&mut self, frame: &[u8]) -> Result<T, DecodeError> {
        let (compression, body) = self.codec.split(frame)?;
        match compression {
            COMPRESSION_NONE => {
                self.decoded_bytes += body.len() as u64;
                return Ok(postcard::from_bytes(body)?);
            }
            COMPRESSION_ZSTD => {
                let decoded = self.codec.decompress(body);
                let produced = match &decoded {
                    Ok(decoded) => decoded.len(),
                    // Stopped at the limit: that much was produced.
                    Err(DecodeError::TooLarge { limit }) => *limit,
                    Err(_) => body.len(),
                };
                self.decoded_bytes += produced as u64;
                return Ok(postcard::from_bytes(&decoded?)?);
            }
            COMPRESSION_ZSTD_STREAM => {}
            other => return Err(DecodeError::UnknownCompression(other)),
        }
        if self.broken {
            return Err(DecodeError::Decompress(std::io::Error::other("the stream broke at an earlier frame")));
        }
        let decoded = self.inflate(body).inspect_err(|_| self.broken = true)?;
        Ok(postcard::from_bytes(&decoded)?)
    }

    fn inflate(&mut self, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut decoded = Vec::new();
        let result = self.inflate_into(body, &mut decoded);
        self.decoded_bytes += decoded.len() as u64;
        result.map(|()| decoded)
    }

    fn inflate_into(&mut self, body: &[u8], decoded: &mut Vec<u8>) -> Result<(), DecodeError> {
        let limit = self.codec.max_bytes;
        decoded.reserve((body.len() * 4).clamp(256, limit + 1));
        let mut input = zstd::zstd_safe::InBuffer::around(body);
        loop {
            if decoded.len() > limit {
                return Err(DecodeError::TooLarge { limit });
            }
            if decoded.capacity() == decoded.len() {
                let more = decoded.capacity().min(limit + 1 - decoded.len().min(limit)).max(64);
                decoded.reserve(more);
            }
            let (position, consumed) = (decoded.len(), input.pos());
            let mut output = zstd::zstd_safe::OutBuffer::around_pos(decoded, position);
            self.context
                .decompress_stream(&mut output, &mut input)
                .map_err(|code| DecodeError::Decompress(zstd_error(code)))?;
            let (produced, room) = (output.pos() - position, output.pos() < output.capacity());
            // All input taken and room left over: the flushed block is out.
            if input.pos() == body.len() && (room || produced == 0) {
                break;
            }
            if produced == 0 && input.pos() == consumed {
                return Err(DecodeError::Decompress(std::io::Error::other("the zstd stream made no progress")));
            }
        }
        if decoded.len() > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fixtures::arb_report;
    use crate::message::ProbeMessage;
    use crate::report::Report;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn decode_of_encode_is_identity(report in arb_report()) {
            let codec = Codec::default();
            let frame = codec.encode(&report).unwrap();
            prop_assert_eq!(codec.decode::<Report>(&frame).unwrap(), report);
        }

        #[test]
        fn a_stream_of_reports_round_trips(reports in prop::collection::vec(arb_report(), 1..6)) {
            let codec = Codec::default();
            let mut encoder = StreamEncoder::new().unwrap();
            let mut decoder = StreamDecoder::new(codec).unwrap();
            for report in reports {
                let frame = encoder.encode(&codec, &report).unwrap();
                prop_assert_eq!(decoder.decode::<Report>(&frame).unwrap(), report);
            }
        }

        #[test]
        fn truncated_frames_are_errors(report in arb_report(), cut in any::<prop::sample::Index>()) {
            let codec = Codec::default();
            let frame = codec.encode(&ProbeMessage::Snapshot(report)).unwrap();
            let cut = cut.index(frame.len());
            prop_assert!(codec.decode::<ProbeMessage>(&frame[..cut]).is_err());
        }

        #[test]
        fn bit_flips_never_panic(report in arb_report(), flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..8)) {
            let codec = Codec::default();
            let mut frame = codec.encode(&ProbeMessage::Snapshot(report)).unwrap();
            for (index, bit) in flips {
                let at = index.index(frame.len());
                frame[at] ^= 1 << bit;
            }
            // Any outcome but a panic is fine: a flip may land in a string and still decode.
            let _outcome = codec.decode::<ProbeMessage>(&frame);
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut frame = b"PSCP\x04\x00".to_vec();
            frame.extend_from_slice(&bytes);
            let _outcome = Codec::default().decode::<ProbeMessage>(&frame);
            let mut frame = b"PSCP\x04\x01".to_vec();
            frame.extend_from_slice(&bytes);
            let _outcome = Codec::default().decode::<ProbeMessage>(&frame);
        }
    }

    #[test]
    fn a_stream_decodes_in_order_and_later_frames_cost_less() {
        let codec = Codec::default();
        let mut encoder = StreamEncoder::new().unwrap();
        let mut decoder = StreamDecoder::new(codec).unwrap();
        // Bodies that do not compress on their own (a hash per line), as command lines of distinct processes.
        let line: Vec<String> = (0..40u64)
            .map(|i| format!("/usr/bin/worker --id {:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i << 7)))
            .collect();
        let first = encoder.encode(&codec, &line).unwrap();
        let second = encoder.encode(&codec, &line).unwrap();
        assert!(second.len() * 4 < first.len(), "a repeated body refers back: {} then {}", first.len(), second.len());
        assert_eq!(decoder.decode::<Vec<String>>(&first).unwrap(), line);
        assert_eq!(decoder.decode::<Vec<String>>(&second).unwrap(), line);
        // Frames that stand alone still decode on a stream connection.
        assert_eq!(decoder.decode::<u32>(&codec.encode(&7u32).unwrap()).unwrap(), 7);
        // And a stream frame is refused where no stream is kept.
        let third = encoder.encode(&codec, &line).unwrap();
        assert!(matches!(codec.decode::<Vec<String>>(&third), Err(DecodeError::UnexpectedStream)));
    }

    #[test]
    fn a_lost_stream_frame_breaks_the_stream_for_good() {
        let codec = Codec::default();
        let mut encoder = StreamEncoder::new().unwrap();
        let mut decoder = StreamDecoder::new(codec).unwrap();
        let body: Vec<u64> = (0..2_000).collect();
        let _lost = encoder.encode(&codec, &body).unwrap();
        let next = encoder.encode(&codec, &body).unwrap();
        assert!(decoder.decode::<Vec<u64>>(&next).is_err());
        assert!(decoder.is_broken());
        let again = encoder.encode(&codec, &body).unwrap();
        assert!(decoder.decode::<Vec<u64>>(&again).is_err());
    }

    #[test]
    fn a_stream_bomb_is_stopped_at_the_limit() {
        let mut encoder = StreamEncoder::new().unwrap();
        let frame = encoder.encode(&Codec::default(), &vec![0u8; 8 * 1024 * 1024]).unwrap();
        assert!(frame.len() < 4096, "bomb frame is {} bytes", frame.len());
        let mut decoder = StreamDecoder::new(Codec::with_limit(1024 * 1024)).unwrap();
        assert!(matches!(decoder.decode::<Vec<u8>>(&frame), Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn a_stream_decoder_counts_what_decoding_cost_refused_frames_included() {
        let mut encoder = StreamEncoder::new().unwrap();
        let mut decoder = StreamDecoder::new(Codec::with_limit(1024 * 1024)).unwrap();
        let small = encoder.encode(&Codec::default(), &vec![1u8; 1000]).unwrap();
        decoder.decode::<Vec<u8>>(&small).unwrap();
        let after_small = decoder.decoded_bytes();
        assert!((1000..1100).contains(&after_small), "{after_small}");
        let bomb = encoder.encode(&Codec::default(), &vec![0u8; 8 * 1024 * 1024]).unwrap();
        assert!(decoder.decode::<Vec<u8>>(&bomb).is_err());
        assert!(decoder.decoded_bytes() > after_small + 1024 * 1024, "the refused bomb is counted");
        let standalone = Codec::default().encode(&vec![0u8; 8 * 1024 * 1024]).unwrap();
        let before = decoder.decoded_bytes();
        assert!(decoder.decode::<Vec<u8>>(&standalone).is_err());
        assert!(decoder.decoded_bytes() >= before + 1024 * 1024);
    }

    #[test]
    fn decompression_bomb_is_stopped_at_the_limit() {
        // 16 MiB of zeros compress to a few hundred bytes.
        let bomb = vec![0u8; 16 * 1024 * 1024];
        let codec = Codec::default();
        let frame = codec.encode(&bomb).unwrap();
        assert!(frame.len() < 4096, "bomb frame is {} bytes", frame.len());
        let small = Codec::with_limit(1024 * 1024);
        assert!(matches!(small.decode::<Vec<u8>>(&frame), Err(DecodeError::TooLarge { .. })));
    }

    /// The decompression context is kept per thread: a frame declaring a huge
    /// window is refused (rather than making the context keep that window),
    /// and the context still decodes the next good frame.
    #[test]
    fn huge_windows_are_refused_and_the_context_survives() {
        let codec = Codec::default();
        let good = codec.encode(&vec![3u8; 10_000]).unwrap();
        assert_eq!(codec.decode::<Vec<u8>>(&good).unwrap(), vec![3u8; 10_000]);

        let body = postcard::to_stdvec(&vec![5u8; 10_000]).unwrap();
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.window_log(MAX_WINDOW_LOG + 4).unwrap();
        encoder.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut encoder, &body).unwrap();
        let mut hostile = MAGIC.to_vec();
        hostile.extend_from_slice(&[WIRE_VERSION, COMPRESSION_ZSTD]);
        hostile.extend_from_slice(&encoder.finish().unwrap());
        assert!(matches!(codec.decode::<Vec<u8>>(&hostile), Err(DecodeError::Decompress(_))));

        assert_eq!(codec.decode::<Vec<u8>>(&good).unwrap(), vec![3u8; 10_000]);
    }

    #[test]
    fn oversized_frames_are_rejected_before_decoding() {
        let frame = vec![0u8; 2048];
        assert!(matches!(Codec::with_limit(1024).decode::<Vec<u8>>(&frame), Err(DecodeError::TooLarge { .. })));
        let big = vec![7u8; 4096];
        assert!(matches!(Codec::with_limit(1024).encode(&big), Err(EncodeError::TooLarge { .. })));
    }

    #[test]
    fn header_errors_are_typed() {
        let codec = Codec::default();
        let frame = codec.encode(&1u32).unwrap();
        assert!(matches!(codec.decode::<u32>(&frame[..3]), Err(DecodeError::Truncated(3))));
        let mut bad = frame.clone();
        bad[0] = b'X';
        assert!(matches!(codec.decode::<u32>(&bad), Err(DecodeError::BadMagic)));
        let mut bad = frame.clone();
        bad[4] = WIRE_VERSION + 1;
        assert!(matches!(codec.decode::<u32>(&bad), Err(DecodeError::UnsupportedVersion { .. })));
        let mut bad = frame;
        bad[5] = 9;
        assert!(matches!(codec.decode::<u32>(&bad), Err(DecodeError::UnknownCompression(9))));
    }
}
