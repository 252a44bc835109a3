//! Support for end-to-end tests that use real parts.
//!
//! [`docker`] builds the local busybox test image (no registry is reachable
//! here; the probe bench uses the same builder) and runs prefixed containers
//! that are removed when their guard drops, even when the test fails.
//! [`image`] builds the probe's own image from the musl binary. [`wait_until`] polls a condition with a
//! deadline, so no test sleeps for a fixed time.

pub mod bench;
pub mod docker;
pub mod image;

use std::time::{Duration, Instant};

/// Polls `probe` every 100 ms until it returns `Some`, or fails after `timeout`
/// with the last state it described.
pub fn wait_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => {
                anyhow::bail!("timed out after {timeout:?} waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
