//! `portalctl schema`: write the JSON Schemas of the manifest kinds into a folder.

use anyhow::Context;

use crate::cli::{GlobalArgs, SchemaArgs};
use crate::manifest::schema;

/// Runs `portalctl schema`; returns the exit code.
pub async fn run(_global: &GlobalArgs, args: SchemaArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (name, value) in schema::all() {
        let path = args.out.join(&name);
        std::fs::write(&path, schema::to_file_text(&value))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(0)
}
