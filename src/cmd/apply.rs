//! `portalctl apply`.

use crate::cli::{ApplyArgs, GlobalArgs};

/// Runs `portalctl apply`; returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: ApplyArgs) -> anyhow::Result<u8> {
    super::not_built("apply")
}
