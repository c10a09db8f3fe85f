//! The `portalctl` binary: parse the command line, start telemetry, hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = portalctl::cli::Cli::parse();
    portalctl::telemetry::init(cli.global.log_format, cli.global.verbosity());
    portalctl::cmd::main(cli)
}
