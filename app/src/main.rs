//! `periscope`: the app, and in standalone mode (the default) a built-in
//! probe for this host, publishing to the app over loopback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use periscope::archive::{Archive, HistoryConfig};
use periscope::config::AppConfig;
use periscope::state::{random_hex, AppState};

#[derive(Debug, Parser)]
#[command(name = "periscope", version, about = "Periscope: a real-time container topology monitor")]
struct Cli {
    /// Address to serve the UI, API and probe channel on.
    #[arg(long, env = "PERISCOPE_LISTEN", default_value = "127.0.0.1:4040")]
    listen: SocketAddr,

    /// Token probes must present (`Authorization: Bearer …`); required to listen beyond loopback.
    #[arg(long, env = "PERISCOPE_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Run the app alone, for remote probes, without the built-in probe.
    #[arg(long)]
    no_probe: bool,

    /// Extra origin allowed to open WebSockets (e.g. a UI dev server), repeatable.
    #[arg(long = "allow-origin")]
    allow_origins: Vec<String>,

    /// Refuse state-changing controls.
    #[arg(long)]
    read_only: bool,

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
#[derive(Debug, Parser)]
struct ProbeEnv {
    #[command(flatten)]
    config: periscope_probe::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,periscope=info".into()),
        )
        .init();
    let cli = Cli::parse();
    if !cli.listen.ip().is_loopback() && cli.token.is_none() {
        anyhow::bail!(
            "listening on {} (beyond loopback) needs a probe token: pass --token or set PERISCOPE_TOKEN",
            cli.listen
        );
    }
    // The built-in probe needs a token even on loopback, so other local users cannot pose as it.
    let token = match (&cli.token, cli.no_probe) {
        (Some(token), _) => Some(token.clone()),
        (None, false) => Some(random_hex(24)),
        (None, true) => None,
    };
    let config = AppConfig {
        token: token.clone(),
        allowed_origins: cli.allow_origins.clone(),
        read_only: cli.read_only,
        ..AppConfig::default()
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
    tracing::info!(%address, ui = periscope::api::ui::is_built(), "periscope app listening");
    let state = AppState::with_archive(config, archive.clone());
    let server = periscope::serve(listener, state);
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
    let mut probe = ProbeEnv::try_parse_from(["periscope-probe"]).context("reading the probe's settings")?.config;
    let host = if address.ip().is_unspecified() { "127.0.0.1".to_owned() } else { address.ip().to_string() };
    let host = if address.is_ipv6() && !address.ip().is_unspecified() { format!("[{host}]") } else { host };
    probe.app = format!("ws://{host}:{}/api/probe/ws", address.port());
    probe.token = token;
    tokio::select! {
        result = server => result.context("serving"),
        result = periscope_probe::run(probe) => {
            result.context("built-in probe stopped")?;
            anyhow::bail!("built-in probe stopped")
        }
    }
}
