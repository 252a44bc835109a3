//! Periscope's probe: the only part that reads the host.
//!
//! A probe collects its host (see [`collect`]: host facts, processes, sockets in
//! every network namespace, conntrack flows, Docker containers and their cgroup
//! stats) into a [`periscope_report::Report`] each tick, and streams it to the
//! app over one WebSocket as a snapshot followed by deltas ([`publish`]).
//!
//! Interface used by the app's standalone mode (keep it stable): [`Config`]
//! (a `clap::Args` the app can flatten into its CLI, or build with
//! [`Config::default`] and set fields) and [`run`], which collects and
//! publishes until its future is dropped. [`collect_once`] gives one report
//! without an app.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let config = periscope_probe::Config { app: "ws://127.0.0.1:4040/api/probe/ws".into(), ..Default::default() };
//! periscope_probe::run(config).await
//! # }
//! ```

pub mod collect;
pub mod control;
pub mod link;
pub mod publish;
pub mod queue;
pub mod sys;

use std::path::PathBuf;
use std::time::Duration;

/// How the probe runs.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// The app's probe endpoint.
    #[arg(long, env = "PERISCOPE_APP", default_value = "ws://127.0.0.1:4040/api/probe/ws")]
    pub app: String,

    /// Token sent as `Authorization: Bearer <token>` when connecting to the app (the app's probe
    /// token, or this probe's own from the app's credentials file). Prefer --token-file or the
    /// environment: a command line is visible to every user of the host.
    #[arg(long, env = "PERISCOPE_PROBE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// File holding the token (surrounding whitespace ignored).
    #[arg(long = "token-file", env = "PERISCOPE_PROBE_TOKEN_FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,

    /// PEM file of the CA certificate(s) that sign the app's certificate, for `wss://` to an app with a
    /// private CA (default: the system's trusted roots).
    #[arg(long = "ca-file", env = "PERISCOPE_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// For the app's built-in probe over `wss://`: trust exactly the certificate in this PEM file
    /// (the app's own), whatever name it carries. Not a command-line flag.
    #[arg(skip)]
    pub pinned_cert: Option<PathBuf>,

    /// Refuse every control and pipe (stop, restart, logs, exec, …) whatever the app asks.
    #[arg(long = "no-controls", env = "PERISCOPE_NO_CONTROLS")]
    pub no_controls: bool,

    /// Allow a shell on this host itself (not in a container) through the app's terminal. Off by default.
    #[arg(long = "host-shell", env = "PERISCOPE_HOST_SHELL", conflicts_with = "no_controls")]
    pub host_shell: bool,

    /// Most bytes per second one pipe (logs, terminal) sends to the app.
    #[arg(long = "pipe-bytes-per-sec", env = "PERISCOPE_PIPE_BYTES_PER_SEC", default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub pipe_bytes_per_sec: u64,

    /// Milliseconds between two collections (Docker events are sent at once, whatever this is).
    #[arg(long = "tick-ms", env = "PERISCOPE_TICK_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..))]
    pub tick_ms: u64,

    /// Host ID to report instead of /etc/machine-id.
    #[arg(long, env = "PERISCOPE_HOST_ID")]
    pub host_id: Option<String>,

    /// Probe ID to register with (default: hostname plus a random suffix, new each run).
    #[arg(long, env = "PERISCOPE_PROBE_ID")]
    pub probe_id: Option<String>,

    /// Where the host's procfs is mounted (e.g. /host/proc in a container that mounts it there).
    #[arg(long = "proc-root", env = "PERISCOPE_PROC_ROOT", default_value = "/proc")]
    pub proc_root: PathBuf,

    /// The Docker engine's socket.
    #[arg(long, env = "PERISCOPE_DOCKER_SOCKET", default_value = "/var/run/docker.sock")]
    pub docker_socket: PathBuf,

    /// Do not talk to Docker at all.
    #[arg(long, env = "PERISCOPE_NO_DOCKER")]
    pub no_docker: bool,

    /// Do not follow conntrack.
    #[arg(long, env = "PERISCOPE_NO_CONNTRACK")]
    pub no_conntrack: bool,

    /// The eBPF connection tracer (every TCP connection with its process, and its failures):
    /// `auto` uses it where the kernel and privileges allow, `on` refuses to start without it,
    /// `off` never loads it. /proc, sock_diag and conntrack run either way.
    #[arg(long, env = "PERISCOPE_EBPF", value_enum, default_value_t = collect::ebpf::EbpfMode::Auto)]
    pub ebpf: collect::ebpf::EbpfMode,

    /// Read sockets from /proc/<pid>/net only, never netlink sock_diag.
    #[arg(long, env = "PERISCOPE_PROC_NET_ONLY")]
    pub proc_net_only: bool,

    /// Report only argv[0] of each process, hiding every argument. Without it, values of
    /// secret-looking flags and variables (`--token X`, `*_KEY=…`, URL passwords) are redacted.
    #[arg(long, env = "PERISCOPE_OMIT_CMD_ARGS")]
    pub omit_cmd_args: bool,

    /// Seconds a closed conntrack flow stays in the report, so the app sees short-lived connections.
    #[arg(long = "connection-linger-secs", env = "PERISCOPE_CONNECTION_LINGER_SECS", default_value_t = 30)]
    pub connection_linger_secs: u64,

    /// Seconds after which a metric (CPU, memory, bytes, RTT) is re-sent even when it moved less than its deadband.
    #[arg(long = "metrics-refresh-secs", env = "PERISCOPE_METRICS_REFRESH_SECS", default_value_t = 15)]
    pub metrics_refresh_secs: u64,

    /// Seconds after which a network namespace whose in-use counters did not move is checked anyway
    /// (a socket replaced by another keeps them equal): with sock_diag each known socket is looked up,
    /// which costs no table walk and refreshes its RTT and byte counts. Namespaces that cannot be
    /// checked that way (through /proc/<pid>/net, or over 128 sockets) are read every 30 s instead.
    #[arg(long = "socket-check-secs", env = "PERISCOPE_SOCKET_CHECK_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub socket_check_secs: u64,

    /// Frames kept for a slow app before the oldest is dropped (and counted).
    #[arg(long = "send-queue", env = "PERISCOPE_SEND_QUEUE", default_value_t = 32, value_parser = clap::value_parser!(u64).range(2..))]
    pub send_queue: u64,
}

impl Default for Config {
    /// The same values as the CLI's defaults, for callers without clap.
    fn default() -> Self {
        Config {
            app: "ws://127.0.0.1:4040/api/probe/ws".into(),
            token: None,
            token_file: None,
            ca_file: None,
            pinned_cert: None,
            no_controls: false,
            host_shell: false,
            pipe_bytes_per_sec: 4 * 1024 * 1024,
            tick_ms: 1000,
            host_id: None,
            probe_id: None,
            proc_root: PathBuf::from("/proc"),
            docker_socket: PathBuf::from("/var/run/docker.sock"),
            no_docker: false,
            no_conntrack: false,
            ebpf: collect::ebpf::EbpfMode::Auto,
            proc_net_only: false,
            omit_cmd_args: false,
            connection_linger_secs: 30,
            metrics_refresh_secs: 15,
            socket_check_secs: 5,
            send_queue: 32,
        }
    }
}

impl Config {
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms.max(50))
    }

    /// The token to present: `--token`, or the content of `--token-file`. An empty one is an error.
    pub fn resolved_token(&self) -> anyhow::Result<Option<String>> {
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.trim().to_owned()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|error| anyhow::anyhow!("reading the token file {}: {error}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if token.as_deref() == Some("") {
            anyhow::bail!(
                "the probe token is empty: set PERISCOPE_PROBE_TOKEN or --token-file to the app's probe token"
            );
        }
        Ok(token)
    }
}

/// Collects and publishes until the returned future is dropped. Errors only
/// when the probe cannot start at all (e.g. no /proc); the app being away or
/// Docker going away are outcomes it handles by itself.
pub async fn run(config: Config) -> anyhow::Result<()> {
    publish::run(config).await
}

/// Collects one full report (Docker and conntrack included when available)
/// without connecting to an app: what `--once --json` prints.
pub async fn collect_once(config: &Config) -> anyhow::Result<periscope_report::Report> {
    collect::collect_once(config).await
}
