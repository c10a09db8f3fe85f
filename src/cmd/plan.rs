//! `portalctl plan`.

use crate::cli::{GlobalArgs, PlanArgs};

/// Runs `portalctl plan`; returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: PlanArgs) -> anyhow::Result<u8> {
    super::not_built("plan")
}
