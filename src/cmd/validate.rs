//! `portalctl validate`: load and check manifests, print the diagnostics or a one-line summary.
//!
//! No network and no database: everything it needs is in `manifest::load_with_warnings`.

use crate::cli::{GlobalArgs, Output, ValidateArgs};
use crate::manifest;

/// Runs `portalctl validate`; returns the exit code (1 on any error).
pub async fn run(_global: &GlobalArgs, args: ValidateArgs) -> anyhow::Result<u8> {
    let (result, warnings) = manifest::load_with_warnings(&args.manifests);
    match args.output {
        Output::Json => {
            let errors = match &result {
                Ok(_) => manifest::Diagnostics::default(),
                Err(e) => e.clone(),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&errors.to_json(&warnings))?
            );
        }
        Output::Text => {
            for w in &warnings {
                eprintln!("{w}");
            }
            match &result {
                Ok(loaded) => println!("{}", summary(loaded)),
                Err(errors) => {
                    eprintln!("{errors}");
                    let n = errors.len();
                    eprintln!(
                        "validation failed: {n} error{}",
                        if n == 1 { "" } else { "s" }
                    );
                }
            }
        }
    }
    Ok(if result.is_ok() { 0 } else { 1 })
}

/// `OK: 10 documents in 8 files — 1 Provider, 2 Products, …`.
pub fn summary(loaded: &manifest::Loaded) -> String {
    let counts: Vec<String> = loaded
        .desired
        .counts()
        .iter()
        .map(|(kind, n)| {
            let plural = if *n == 1 { "" } else { "s" };
            format!("{n} {kind}{plural}")
        })
        .collect();
    format!(
        "OK: {} document{} in {} file{} — {}",
        loaded.documents,
        if loaded.documents == 1 { "" } else { "s" },
        loaded.files,
        if loaded.files == 1 { "" } else { "s" },
        counts.join(", ")
    )
}
