//! Logging setup: `tracing` to standard error, as text or JSON, filtered by `RUST_LOG` or -v/-q.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. Safe to call once per process.
pub fn init(format: LogFormat, verbosity: i8) {
    let default = match verbosity {
        i8::MIN..=-1 => "error",
        0 => "warn,portalctl=info",
        1 => "info,portalctl=debug",
        _ => "debug,portalctl=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(crate::cmd::color_enabled()).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resident memory of this process in MiB (Linux; 0 elsewhere), for progress logs at -v.
pub fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096 / (1024 * 1024))
}
