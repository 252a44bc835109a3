//! The app's settings, as the binary or a test sets them.

use std::net::SocketAddr;
use std::time::Duration;

use crate::credentials::Credentials;
pub use crate::credentials::MIN_TOKEN_LEN;

#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The probes' shared token: probes must send `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
    /// The token for people and scripts (UI cookie or `Authorization: Bearer`): every route but
    /// `/healthz`, the login page and the probe channel needs it when set.
    pub ui_token: Option<String>,
    /// Per-probe credentials: a listed probe ID connects only with its own token (and host).
    pub credentials: Credentials,
    /// The address the app listens on: its IP is a Host the app serves, its port the one Origins must name.
    pub listen: Option<SocketAddr>,
    /// Host names served besides loopback names and IP literals (DNS rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Origins (scheme://host[:port]) allowed to open WebSockets and POST besides the app's own.
    pub allowed_origins: Vec<String>,
    /// Served over HTTPS: the session cookie is marked Secure.
    pub tls: bool,
    /// Refuse every control and pipe with 403.
    pub read_only: bool,
    /// Pipes (logs, terminals) one client address may hold open at once.
    pub max_pipes_per_client: usize,
    /// A pipe with no traffic either way for this long is closed.
    pub pipe_idle: Duration,
    /// How long a control may take on the probe before the caller is told it timed out.
    pub control_timeout: Duration,
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
    /// Connections (HTTP, WebSocket, probe) open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Connections one client address may hold open at once.
    pub max_connections_per_address: usize,
    /// A connection must send its request headers within this long, or it is closed (slowloris).
    pub header_read_timeout: Duration,
    /// View WebSockets open at once; more are refused with 503.
    pub max_view_clients: usize,
    /// Decoded (decompressed) bytes per second one probe connection may send; past its
    /// budget (a burst of `max_decoded_bytes`) the app stops reading it until the debt is paid.
    pub probe_decoded_bytes_per_sec: u64,
    /// A probe connection that sent this many bad frames within a minute is closed.
    pub max_bad_frames: u32,
    /// A probe connection that sent no snapshot within this long is closed.
    pub probe_register_timeout: Duration,
    /// Entities (processes, containers, images, sockets, connections) one probe may report;
    /// a snapshot or delta past it is refused, never rendered.
    pub max_entities_per_probe: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            token: None,
            ui_token: None,
            credentials: Credentials::default(),
            listen: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            tls: false,
            read_only: false,
            max_pipes_per_client: 8,
            pipe_idle: Duration::from_secs(600),
            control_timeout: Duration::from_secs(60),
            max_frame_bytes: 16 * 1024 * 1024,
            max_decoded_bytes: 64 * 1024 * 1024,
            probe_timeout: Duration::from_secs(3),
            ping_interval: Duration::from_millis(500),
            client_timeout: Duration::from_secs(30),
            coalesce: Duration::from_millis(20),
            max_connections: 1024,
            max_connections_per_address: 512,
            header_read_timeout: Duration::from_secs(10),
            max_view_clients: 400,
            probe_decoded_bytes_per_sec: 8 * 1024 * 1024,
            max_bad_frames: 10,
            probe_register_timeout: Duration::from_secs(30),
            max_entities_per_probe: 50_000,
        }
    }
}

/// The command-line flags of the input budgets (README "Budgets"), kept here
/// so `main.rs` only flattens them in and applies them.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitFlags {
    /// Connections (HTTP, WebSocket, probe) open at once; more are answered 503 and closed.
    /// Keep `ulimit -n` above it.
    #[arg(long = "max-connections", env = "PERISCOPE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Connections one client address may hold open at once.
    #[arg(long = "max-connections-per-address", env = "PERISCOPE_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 512)]
    pub max_connections_per_address: usize,

    /// Seconds a connection has to send its request headers (slowloris protection).
    #[arg(long = "header-read-timeout-secs", env = "PERISCOPE_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// View WebSockets open at once; more are refused with 503.
    #[arg(long = "max-view-clients", env = "PERISCOPE_MAX_VIEW_CLIENTS", default_value_t = 400)]
    pub max_view_clients: usize,

    /// Decoded bytes per second one probe connection may send (after a burst of one largest
    /// frame); past it the app stops reading that connection until the debt is paid.
    #[arg(long = "probe-bytes-per-sec", env = "PERISCOPE_PROBE_BYTES_PER_SEC", default_value_t = 8 * 1024 * 1024)]
    pub probe_bytes_per_sec: u64,

    /// Entities (processes, containers, images, sockets, connections) one probe may report;
    /// a snapshot or delta past it is refused and never rendered.
    #[arg(long = "max-entities-per-probe", env = "PERISCOPE_MAX_ENTITIES_PER_PROBE", default_value_t = 50_000)]
    pub max_entities_per_probe: usize,

    /// Seconds a probe connection has to send its first snapshot.
    #[arg(long = "probe-register-timeout-secs", env = "PERISCOPE_PROBE_REGISTER_TIMEOUT_SECS", default_value_t = 30)]
    pub probe_register_timeout_secs: u64,

    /// Bad frames within a minute after which a probe connection is closed.
    #[arg(long = "max-bad-frames", env = "PERISCOPE_MAX_BAD_FRAMES", default_value_t = 10)]
    pub max_bad_frames: u32,
}

impl LimitFlags {
    pub fn apply(&self, config: &mut AppConfig) {
        config.max_connections = self.max_connections.max(1);
        config.max_connections_per_address = self.max_connections_per_address.max(1);
        config.header_read_timeout = Duration::from_secs(self.header_read_timeout_secs.max(1));
        config.max_view_clients = self.max_view_clients;
        config.probe_decoded_bytes_per_sec = self.probe_bytes_per_sec.max(1024);
        config.max_entities_per_probe = self.max_entities_per_probe;
        config.probe_register_timeout = Duration::from_secs(self.probe_register_timeout_secs.max(1));
        config.max_bad_frames = self.max_bad_frames.max(1);
    }
}
