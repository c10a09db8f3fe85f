//! `portalctl plan`: load, read, diff, render. Writes nothing but the optional plan file.

use anyhow::Context;

use super::common::{load_manifests, open_engine, parse_targets, write_atomically};
use crate::cli::{GlobalArgs, PlanArgs, PlanOutput};
use crate::config::Settings;
use crate::reconcile::render;

/// Runs `portalctl plan`; returns the exit code.
pub async fn run(global: &GlobalArgs, args: PlanArgs) -> anyhow::Result<u8> {
    let targets = parse_targets(&args.target)?;
    let settings = Settings::load(global)?;
    let Some(loaded) = load_manifests(&args.manifests, args.output == PlanOutput::Json)? else {
        return Ok(1);
    };
    let engine = open_engine(&settings, &loaded.desired).await?;
    let (mut plan, _actual) = engine.plan(&loaded.desired, false).await?;
    plan.retain_targets(&targets);
    plan.warnings.extend(
        loaded
            .warnings
            .iter()
            .map(|w| format!("{}:{}: {}", w.file.display(), w.line, w.message)),
    );
    if let Some(out) = &args.out {
        write_atomically(out, render::json(&plan).as_bytes())
            .with_context(|| format!("cannot write the plan to {}", out.display()))?;
    }
    match args.output {
        PlanOutput::Text => print!("{}", render::text(&plan, super::stdout_color())),
        PlanOutput::Json => println!("{}", render::json(&plan)),
        PlanOutput::Markdown => print!("{}", render::markdown(&plan)),
    }
    if let (Some(out), PlanOutput::Text) = (&args.out, args.output) {
        println!(
            "\nSaved the plan to {}. Apply exactly this plan with: portalctl apply {}",
            out.display(),
            out.display()
        );
    }
    Ok(if !plan.errors.is_empty() {
        1
    } else if args.detailed_exitcode && !plan.is_empty() {
        2
    } else {
        0
    })
}
