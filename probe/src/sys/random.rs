//! Random bits for IDs and backoff jitter.

/// Random bits from the kernel (for IDs and jitter); never fails.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(8) = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::NONBLOCK) {
        return u64::from_ne_bytes(bytes);
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}
