//! `portalctl validate`.

use crate::cli::{GlobalArgs, ValidateArgs};

/// Runs `portalctl validate`; returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: ValidateArgs) -> anyhow::Result<u8> {
    super::not_built("validate")
}
