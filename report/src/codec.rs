//! The binary wire codec: a small header, then postcard, zstd-compressed.
//!
//! Frame layout: `b"PSCP"`, wire version (1 byte), compression (1 byte:
//! 0 none, 1 zstd), body. Decoding treats every byte as hostile: any
//! truncation, corruption, unknown version or oversized input is a typed
//! error, and decompression stops at the configured limit, so a small frame
//! cannot expand into gigabytes.

use std::cell::RefCell;
use std::io::Read;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Bumped on any incompatible change of the wire types (see report/README.md).
pub const WIRE_VERSION: u8 = 2;

const MAGIC: &[u8; 4] = b"PSCP";
const HEADER_LEN: usize = MAGIC.len() + 2;
const COMPRESSION_NONE: u8 = 0;
const COMPRESSION_ZSTD: u8 = 1;
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
        let body = postcard::to_stdvec(message)?;
        if body.len() > self.max_bytes {
            return Err(EncodeError::TooLarge { size: body.len(), limit: self.max_bytes });
        }
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

    pub fn decode<T: DeserializeOwned>(&self, frame: &[u8]) -> Result<T, DecodeError> {
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
        match compression {
            COMPRESSION_NONE => Ok(postcard::from_bytes(body)?),
            COMPRESSION_ZSTD => {
                let decoded = self.decompress(body)?;
                Ok(postcard::from_bytes(&decoded)?)
            }
            other => Err(DecodeError::UnknownCompression(other)),
        }
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
            let mut frame = b"PSCP\x01\x00".to_vec();
            frame.extend_from_slice(&bytes);
            let _outcome = Codec::default().decode::<ProbeMessage>(&frame);
            let mut frame = b"PSCP\x01\x01".to_vec();
            frame.extend_from_slice(&bytes);
            let _outcome = Codec::default().decode::<ProbeMessage>(&frame);
        }
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
