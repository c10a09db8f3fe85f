//! One function per command: the edge where errors become messages and exit codes.
//!
//! Library modules return typed errors; here they get `anyhow` context and are printed once.

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::cli::{Cli, Command};

mod apply;
mod common;
mod demo;
mod import;
mod plan;
mod schema;
mod serve;
mod sim;
mod validate;

/// Runs the command and turns its outcome into the process exit code (see `--help`).
pub fn main(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        let global = cli.global;
        match cli.command {
            Command::Validate(args) => validate::run(&global, args).await,
            Command::Plan(args) => plan::run(&global, args).await,
            Command::Apply(args) => apply::run(&global, args).await,
            Command::Import(args) => import::run(&global, args).await,
            Command::Schema(args) => schema::run(&global, args).await,
            Command::Serve(args) => serve::run(&global, args).await,
            Command::Sim(args) => sim::run(&global, args).await,
            Command::Demo(args) => demo::run(&global, args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Colour only on a terminal, never with `NO_COLOR`.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Colour on standard output: only on a terminal, never with `NO_COLOR`.
pub fn stdout_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// The message of a command that is not built yet.
fn not_built(command: &str) -> anyhow::Result<u8> {
    anyhow::bail!("`portalctl {command}` is not built yet in this version")
}
