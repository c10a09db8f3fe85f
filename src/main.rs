//! The `portalctl` binary: parse the command line, start telemetry, hand over to the library.

use clap::Parser;

/// mimalloc instead of the system allocator: at 20,000 objects glibc's arenas kept far more
/// resident memory than was live (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = portalctl::cli::Cli::parse();
    portalctl::telemetry::init(cli.global.log_format, cli.global.verbosity());
    portalctl::cmd::main(cli)
}
