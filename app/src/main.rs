//! `periscope`: the app, and in standalone mode (the default) a built-in
//! probe for this host, publishing to the app over loopback.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
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

    /// Run the app alone, for remote probes, without the built-in probe (always so when built
    /// without the `probe` feature).
    #[arg(long, env = "PERISCOPE_NO_PROBE")]
    no_probe: bool,

    /// Extra origin allowed to open WebSockets (e.g. a UI dev server), repeatable.
    #[arg(long = "allow-origin")]
    allow_origins: Vec<String>,

    /// Refuse state-changing controls.
    #[arg(long)]
    read_only: bool,
}

/// The probe's own flags, read from its environment variables (PERISCOPE_NO_DOCKER, …).
#[cfg(feature = "probe")]
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
    let mut cli = Cli::parse();
    if !cfg!(feature = "probe") {
        cli.no_probe = true;
    }
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
    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%address, ui = periscope::api::ui::is_built(), "periscope app listening");
    let state = AppState::new(config);
    let server = periscope::serve(listener, state);

    if cli.no_probe {
        return server.await.context("serving");
    }
    run_with_probe(server, address, token).await
}

#[cfg(not(feature = "probe"))]
async fn run_with_probe(
    server: impl std::future::Future<Output = std::io::Result<()>>,
    _address: SocketAddr,
    _token: Option<String>,
) -> anyhow::Result<()> {
    server.await.context("serving")
}

/// Serves, with the built-in probe publishing to this app over loopback.
#[cfg(feature = "probe")]
async fn run_with_probe(
    server: impl std::future::Future<Output = std::io::Result<()>>,
    address: SocketAddr,
    token: Option<String>,
) -> anyhow::Result<()> {
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
