//! CPU shares on the binary wire as whole tenths of a percent.
//!
//! A share is measured to a tenth of a point anyway, and postcard writes an
//! `f64` as 8 bytes that look random to the compressor, where a varint of
//! tenths takes one or two. Human-readable formats (the JSON of
//! `GET /api/report`) keep the plain number. Use as
//! `#[serde(with = "crate::tenths")]` on an `f64` field.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Shares beyond this (over 400,000 cores' worth) are clamped on the wire.
const MAX_TENTHS: f64 = u32::MAX as f64;

pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        return value.serialize(serializer);
    }
    let tenths = (value * 10.0).round();
    let tenths = if tenths.is_nan() { 0.0 } else { tenths.clamp(0.0, MAX_TENTHS) };
    (tenths as u32).serialize(serializer)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    if deserializer.is_human_readable() {
        return f64::deserialize(deserializer);
    }
    Ok(f64::from(u32::deserialize(deserializer)?) / 10.0)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Share(#[serde(with = "super")] f64);

    #[test]
    fn tenths_on_the_wire_plain_numbers_in_json() {
        let bytes = postcard::to_stdvec(&Share(12.34)).unwrap();
        assert_eq!(bytes.len(), 1, "123 tenths fit one varint byte");
        assert_eq!(postcard::from_bytes::<Share>(&bytes).unwrap(), Share(12.3));
        assert_eq!(postcard::from_bytes::<Share>(&postcard::to_stdvec(&Share(-3.0)).unwrap()).unwrap(), Share(0.0));
        assert_eq!(serde_json::to_string(&Share(12.34)).unwrap(), "12.34");
        assert_eq!(serde_json::from_str::<Share>("12.34").unwrap(), Share(12.34));
    }
}
