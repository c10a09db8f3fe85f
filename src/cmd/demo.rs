//! `portalctl demo`.

use crate::cli::{DemoArgs, GlobalArgs};

/// Runs `portalctl demo`; returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: DemoArgs) -> anyhow::Result<u8> {
    super::not_built("demo")
}
