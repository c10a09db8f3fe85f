//! `portalctl import`.

use crate::cli::{GlobalArgs, ImportArgs};

/// Runs `portalctl import`; returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: ImportArgs) -> anyhow::Result<u8> {
    super::not_built("import")
}
