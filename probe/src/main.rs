//! `periscope-probe`: collect this host and stream it to the app.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("periscope-probe is not built yet")
}
