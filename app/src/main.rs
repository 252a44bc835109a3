//! `periscope`: the app (and, standalone, a built-in probe).

fn main() -> anyhow::Result<()> {
    anyhow::bail!("periscope (the app) is not built yet")
}
