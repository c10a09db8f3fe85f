//! `portalctl plan`: load, read, diff, render. Writes nothing but the optional plan file.

use anyhow::Context;

use super::common::{load_manifests, parse_targets, write_atomically};
use crate::cli::{GlobalArgs, PlanArgs, PlanOutput};
use crate::config::Settings;
use crate::reconcile::{render, PlanOptions, Reconciler};
use crate::store::Store;

/// Runs `portalctl plan`; returns the exit code.
pub async fn run(global: &GlobalArgs, args: PlanArgs) -> anyhow::Result<u8> {
    let targets = parse_targets(&args.target)?;
    let settings = Settings::load(global)?;
    // Load the manifests on a blocking thread while the database snapshot is read.
    let load = {
        let path = args.manifests.clone();
        let json = args.output == PlanOutput::Json;
        tokio::task::spawn_blocking(move || load_manifests(&path, json))
    };
    let snapshot = async {
        let store = Store::connect(&settings.database).await?;
        let snapshot = store.snapshot().await?;
        anyhow::Ok((store, snapshot))
    };
    let (loaded, db) = tokio::join!(load, snapshot);
    let Some(loaded) = loaded.context("the manifest loader stopped unexpectedly")?? else {
        return Ok(1);
    };
    let (store, snapshot) = db?;
    let reconciler = Reconciler::new(
        store,
        &settings.instance,
        Reconciler::providers_of(&loaded.desired),
    )?;
    let mut plan = reconciler
        .plan_with_snapshot(&loaded.desired, &PlanOptions::default(), snapshot)
        .await?;
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
    std::mem::forget(loaded);
    Ok(if !plan.errors.is_empty() {
        1
    } else if args.detailed_exitcode && !plan.is_empty() {
        2
    } else {
        0
    })
}
