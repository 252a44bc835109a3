//! The wall clock, as the model stamps what it receives.

use std::time::{SystemTime, UNIX_EPOCH};

use periscope_report::UnixMillis;

/// Now, in milliseconds since the Unix epoch (saturating; 0 before the epoch).
pub fn now() -> UnixMillis {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    UnixMillis(u64::try_from(millis).unwrap_or(u64::MAX))
}
