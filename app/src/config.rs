//! The app's settings, as the binary or a test sets them.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Probes must send `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
    /// Origins (scheme://host[:port]) allowed to open WebSockets besides the app's own.
    pub allowed_origins: Vec<String>,
    /// Refuse state-changing controls.
    pub read_only: bool,
    /// Largest WebSocket message accepted from a probe.
    pub max_frame_bytes: usize,
    /// Largest decoded (decompressed) probe message.
    pub max_decoded_bytes: usize,
    /// A probe silent this long (no frame, no answer to the app's pings) is dropped with its nodes.
    pub probe_timeout: Duration,
    /// How often the app pings each probe and view client.
    pub ping_interval: Duration,
    /// A view client that answers no ping for this long is closed.
    pub client_timeout: Duration,
    /// How long changes are gathered before clients are sent one diff.
    pub coalesce: Duration,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            token: None,
            allowed_origins: Vec::new(),
            read_only: false,
            max_frame_bytes: 16 * 1024 * 1024,
            max_decoded_bytes: 64 * 1024 * 1024,
            probe_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(1),
            client_timeout: Duration::from_secs(30),
            coalesce: Duration::from_millis(50),
        }
    }
}
