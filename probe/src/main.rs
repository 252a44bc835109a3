//! `periscope-probe`: collect this host and stream it to the app, or print
//! one report with `--once --json`.

use clap::Parser;
use periscope_probe::Config;
use tracing_subscriber::EnvFilter;

/// Periscope's probe: streams this host's containers, processes and connections to the app.
#[derive(Debug, Parser)]
#[command(name = "periscope-probe", version)]
struct Cli {
    #[command(flatten)]
    config: Config,

    /// Collect one report, print it and exit, without connecting to the app.
    #[arg(long)]
    once: bool,

    /// With --once: print the full report as JSON (otherwise a one-line summary).
    #[arg(long, requires = "once")]
    json: bool,

    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `periscope_probe=debug`.
    #[arg(long, env = "PERISCOPE_LOG", default_value = "info")]
    log: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cli.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    // One thread is plenty for the async side (the link and the event followers);
    // collection passes run on the blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().max_blocking_threads(4).build()?;
    runtime.block_on(async move {
        if cli.once {
            let report = periscope_probe::collect_once(&cli.config).await?;
            if cli.json {
                let mut stdout = std::io::stdout().lock();
                serde_json::to_writer_pretty(&mut stdout, &report)?;
                std::io::Write::write_all(&mut stdout, b"\n")?;
            } else {
                let summary = format!(
                    "host {} ({}): {} processes, {} containers, {} images, {} sockets, {} connections\n",
                    report.host.hostname,
                    report.host.id,
                    report.processes.len(),
                    report.containers.len(),
                    report.images.len(),
                    report.sockets.len(),
                    report.connections.len()
                );
                std::io::Write::write_all(&mut std::io::stdout().lock(), summary.as_bytes())?;
            }
            return Ok(());
        }
        tokio::select! {
            result = periscope_probe::run(cli.config) => result,
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted; stopping");
                Ok(())
            }
        }
    })
}
