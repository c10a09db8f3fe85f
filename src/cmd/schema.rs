//! `portalctl schema`.

use crate::cli::{GlobalArgs, SchemaArgs};

/// Runs `portalctl schema`; returns the exit code.
pub async fn run(_global: &GlobalArgs, _args: SchemaArgs) -> anyhow::Result<u8> {
    super::not_built("schema")
}
