//! `periscope`: the app, and in standalone mode (the default) a built-in
//! probe for this host, publishing to the app over loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use periscope::archive::{Archive, HistoryConfig};
use periscope::config::{AppConfig, MIN_TOKEN_LEN};
use periscope::credentials::Credentials;
use periscope::random::random_hex;
use periscope::state::AppState;

#[derive(Debug, Parser)]
#[command(name = "periscope", version, about = "Periscope: a real-time container topology monitor")]
struct Cli {
    /// Address to serve the UI, API and probe channel on. Beyond loopback, --token is required.
    #[arg(long, env = "PERISCOPE_LISTEN", default_value = "127.0.0.1:4040")]
    listen: SocketAddr,

    /// The token for people and scripts: when set, every route but /healthz and the login page
    /// needs it (the UI's login page sets a cookie; scripts send `Authorization: Bearer …`).
    /// At least 16 characters. Prefer --token-file or the environment over the command line.
    #[arg(long, env = "PERISCOPE_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// File holding the UI token.
    #[arg(long = "token-file", env = "PERISCOPE_TOKEN_FILE", conflicts_with = "token")]
    token_file: Option<PathBuf>,

    /// The token probes present (`Authorization: Bearer …`), distinct from the UI token.
    /// Generated for the built-in probe when unset; required for remote probes beyond loopback
    /// (or --probe-credentials).
    #[arg(long = "probe-token", env = "PERISCOPE_PROBE_TOKEN", hide_env_values = true)]
    probe_token: Option<String>,

    /// File holding the probe token.
    #[arg(long = "probe-token-file", env = "PERISCOPE_PROBE_TOKEN_FILE", conflicts_with = "probe_token")]
    probe_token_file: Option<PathBuf>,

    /// File of per-probe credentials, one `<probe id> <host id or *> <token>` a line: a listed
    /// probe ID connects only with its own token, reporting only its host.
    #[arg(long = "probe-credentials", env = "PERISCOPE_PROBE_CREDENTIALS")]
    probe_credentials: Option<PathBuf>,

    /// Run the app alone, for remote probes, without the built-in probe (always so when built
    /// without the `probe` feature).
    #[arg(long, env = "PERISCOPE_NO_PROBE")]
    no_probe: bool,

    /// A host name the app is reached by (besides loopback names and IP addresses), repeatable.
    /// Requests naming any other Host are refused (DNS rebinding protection).
    #[arg(long = "allow-host", env = "PERISCOPE_ALLOW_HOST", value_delimiter = ',')]
    allow_hosts: Vec<String>,

    /// Extra origin (scheme://host[:port]) allowed to open WebSockets and POST (e.g. a UI dev server), repeatable.
    #[arg(long = "allow-origin", env = "PERISCOPE_ALLOW_ORIGIN", value_delimiter = ',')]
    allow_origins: Vec<String>,

    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long = "tls-cert", env = "PERISCOPE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long = "tls-key", env = "PERISCOPE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Refuse every control and pipe (403); the UI shows no control buttons.
    #[arg(long = "read-only", env = "PERISCOPE_READ_ONLY")]
    read_only: bool,

    /// Pipes (logs, terminals) one client address may hold open at once.
    #[arg(long = "max-pipes-per-client", env = "PERISCOPE_MAX_PIPES_PER_CLIENT", default_value_t = 8)]
    max_pipes_per_client: usize,

    /// Seconds after which a pipe with no traffic either way is closed.
    #[arg(long = "pipe-idle-secs", env = "PERISCOPE_PIPE_IDLE_SECS", default_value_t = 600)]
    pipe_idle_secs: u64,

    /// Where history is kept [default: $XDG_DATA_HOME/periscope or ~/.local/share/periscope].
    #[arg(long, env = "PERISCOPE_DATA_DIR")]
    data_dir: Option<PathBuf>,

    /// Keep no history (no time travel, no events); nothing is written to disk.
    #[arg(long, env = "PERISCOPE_NO_HISTORY")]
    no_history: bool,

    /// Drop history older than this (e.g. 7d, 12h, 30m).
    #[arg(long, env = "PERISCOPE_HISTORY_MAX_AGE", default_value = "7d", value_parser = humantime::parse_duration)]
    history_max_age: Duration,

    /// Drop the oldest history when the store grows past this (e.g. 1GiB, 500MB).
    #[arg(long, env = "PERISCOPE_HISTORY_MAX_SIZE", default_value = "1GiB")]
    history_max_size: bytesize::ByteSize,

    #[command(flatten)]
    limits: periscope::config::LimitFlags,
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            // No SIGTERM handler: only Ctrl-C stops the app gracefully.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// The probe's own flags, read from its environment variables (PERISCOPE_NO_DOCKER, …).
#[cfg(feature = "probe")]
#[derive(Debug, Parser)]
struct ProbeEnv {
    #[command(flatten)]
    config: periscope_probe::Config,
}

/// A token from its flag or file, refused when empty or short.
fn token(what: &str, flag: &str, value: Option<&str>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
    let token = match (value, file) {
        (Some(value), _) => value.trim().to_owned(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("reading the {what} from {}", file.display()))?
            .trim()
            .to_owned(),
        (None, None) => return Ok(None),
    };
    if token.is_empty() {
        anyhow::bail!("the {what} is empty: set {flag} to a secret of at least {MIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 24`), or leave it unset");
    }
    if token.len() < MIN_TOKEN_LEN {
        anyhow::bail!(
            "the {what} is {} characters: use at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 24`)",
            token.len()
        );
    }
    Ok(Some(token))
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,periscope=info".into()),
        )
        .init();
    let mut cli = Cli::parse();
    if !cfg!(feature = "probe") {
        cli.no_probe = true;
    }
    let ui_token = token("UI token", "--token / PERISCOPE_TOKEN", cli.token.as_deref(), cli.token_file.as_deref())?;
    let probe_token = token(
        "probe token",
        "--probe-token / PERISCOPE_PROBE_TOKEN",
        cli.probe_token.as_deref(),
        cli.probe_token_file.as_deref(),
    )?;
    let credentials = match &cli.probe_credentials {
        Some(path) => Credentials::load(path)?,
        None => Credentials::default(),
    };
    if !cli.listen.ip().is_loopback() {
        if ui_token.is_none() {
            anyhow::bail!(
                "listening on {} (beyond loopback) needs a token, or anyone who reaches the port can read every \
                 host and act on its containers: set PERISCOPE_TOKEN (or --token-file) to a secret of at least \
                 {MIN_TOKEN_LEN} characters, e.g. `PERISCOPE_TOKEN=$(openssl rand -hex 24)`; browsers then log in \
                 at /login, scripts send `Authorization: Bearer <token>`",
                cli.listen
            );
        }
        if cli.no_probe && probe_token.is_none() && credentials.is_empty() {
            anyhow::bail!(
                "listening on {} with --no-probe needs credentials for the remote probes: set \
                 PERISCOPE_PROBE_TOKEN (or --probe-token-file), or --probe-credentials",
                cli.listen
            );
        }
        if cli.tls_cert.is_none() {
            tracing::warn!("serving beyond loopback without TLS: tokens travel in clear; see --tls-cert");
        }
    }
    if ui_token.is_some() && ui_token == probe_token {
        anyhow::bail!("the UI token and the probe token must differ: a probe's host should not hold the UI's key");
    }
    // The built-in probe needs a token even on loopback, so other local users cannot pose as it.
    let probe_token = match (probe_token, cli.no_probe) {
        (Some(token), _) => Some(token),
        (None, false) => Some(random_hex(24)),
        (None, true) => None,
    };
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some(periscope::tls::server_config(cert, key)?),
        _ => None,
    };
    let archive = if cli.no_history {
        tracing::info!("history off (--no-history)");
        None
    } else {
        let dir = cli.data_dir.clone().or_else(HistoryConfig::default_dir).context(
            "no data directory for history: set --data-dir (or PERISCOPE_DATA_DIR, XDG_DATA_HOME, HOME), or pass --no-history",
        )?;
        let history = HistoryConfig { dir, max_age: cli.history_max_age, max_bytes: cli.history_max_size.as_u64() };
        Some(Archive::open(history).context("opening history")?)
    };
    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let mut config = AppConfig {
        token: probe_token.clone(),
        ui_token,
        credentials,
        listen: Some(address),
        allowed_hosts: cli.allow_hosts.clone(),
        allowed_origins: cli.allow_origins.clone(),
        tls: tls.is_some(),
        read_only: cli.read_only,
        max_pipes_per_client: cli.max_pipes_per_client.max(1),
        pipe_idle: Duration::from_secs(cli.pipe_idle_secs.max(1)),
        ..AppConfig::default()
    };
    cli.limits.apply(&mut config);
    tracing::info!(%address, ui = periscope::api::ui::is_built(), tls = config.tls, read_only = config.read_only, history = archive.is_some(), "periscope app listening");
    let state = AppState::with_archive(config, archive.clone());
    let server = async {
        match tls {
            Some(tls) => periscope::serve_tls(periscope::tls::TlsListener::new(listener, tls)?, state).await,
            None => periscope::serve(listener, state).await,
        }
    };
    // On SIGTERM or Ctrl-C, history's last second is flushed before the process goes.
    let server = async move {
        tokio::select! {
            result = server => result,
            () = shutdown_signal() => {
                tracing::info!("shutting down");
                if let Some(archive) = archive {
                    tokio::task::spawn_blocking(move || archive.close()).await.ok();
                }
                Ok(())
            }
        }
    };

    if cli.no_probe {
        return server.await.context("serving");
    }
    run_with_probe(server, address, probe_token, cli.tls_cert.clone()).await
}

#[cfg(not(feature = "probe"))]
async fn run_with_probe(
    server: impl std::future::Future<Output = std::io::Result<()>>,
    _address: SocketAddr,
    _probe_token: Option<String>,
    _tls_cert: Option<PathBuf>,
) -> anyhow::Result<()> {
    server.await.context("serving")
}

/// Serves, with the built-in probe publishing to this app over loopback.
#[cfg(feature = "probe")]
async fn run_with_probe(
    server: impl std::future::Future<Output = std::io::Result<()>>,
    address: SocketAddr,
    probe_token: Option<String>,
    tls_cert: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut probe = ProbeEnv::try_parse_from(["periscope-probe"]).context("reading the probe's settings")?.config;
    let host = if address.ip().is_unspecified() { "127.0.0.1".to_owned() } else { address.ip().to_string() };
    let host = if address.is_ipv6() && !address.ip().is_unspecified() { format!("[{host}]") } else { host };
    let scheme = if tls_cert.is_some() { "wss" } else { "ws" };
    probe.app = format!("{scheme}://{host}:{}/api/probe/ws", address.port());
    probe.token = probe_token;
    probe.token_file = None;
    if let Some(cert) = &tls_cert {
        // The built-in probe trusts exactly the app's own certificate, whatever name it carries.
        probe.pinned_cert = Some(cert.clone());
    }
    tokio::select! {
        result = server => result.context("serving"),
        result = periscope_probe::run(probe) => {
            result.context("built-in probe stopped")?;
            anyhow::bail!("built-in probe stopped")
        }
    }
}
