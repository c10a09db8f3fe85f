//! `portalctl serve`.

use crate::cli::{GlobalArgs, ServeArgs};

/// Runs `portalctl serve`; returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: ServeArgs) -> anyhow::Result<u8> {
    super::not_built("serve")
}
