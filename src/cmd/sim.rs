//! `portalctl sim`.

use crate::cli::{GlobalArgs, SimArgs};

/// Runs `portalctl sim`; returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: SimArgs) -> anyhow::Result<u8> {
    super::not_built("sim")
}
