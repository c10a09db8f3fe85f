//! `portalctl sim`: the Dashboard simulator on its own, serving until Ctrl-C or SIGTERM.
//!
//! Only turns flags into a `SimConfig` and prints where it listens; the simulator itself lives in
//! `crate::tyk::sim`. The secret is never printed.

use anyhow::Context;

use crate::cli::{GlobalArgs, SimArgs};
use crate::tyk::sim::{self, Seed, SimConfig};

/// Runs `portalctl sim`; returns the exit code.
pub async fn run(_global: &GlobalArgs, args: SimArgs) -> anyhow::Result<u8> {
    let secret = match args.secret {
        Some(s) if !s.is_empty() => s,
        _ => anyhow::bail!(
            "the simulator needs a Dashboard secret: pass --secret or set PORTALCTL_SIM_SECRET"
        ),
    };
    let seed = match &args.seed {
        Some(path) => Some(
            Seed::from_file(path)
                .with_context(|| format!("cannot load the seed {}", path.display()))?,
        ),
        None => None,
    };
    let cfg = SimConfig {
        secret,
        seed,
        state_file: args.state.clone(),
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    sim::serve(cfg, listener, |url| {
        // Printed on stdout (and flushed) so scripts and benchmarks can read the port.
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "Dashboard simulator listening on {url}");
        let _ = out.flush();
    })
    .await
    .context("the simulator stopped with an error")?;
    Ok(0)
}
