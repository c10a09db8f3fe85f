//! `portalctl apply`: take the lock, plan (or load a saved plan and check it is not stale),
//! confirm when destructive, execute, report done / failed / blocked.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use super::common::load_manifests;
use crate::cli::{ApplyArgs, GlobalArgs, Output};
use crate::config::Settings;
use crate::manifest::kinds::Duration as ManifestDuration;
use crate::reconcile::apply::Report;
use crate::reconcile::plan::FORMAT_VERSION;
use crate::reconcile::{
    refuse_empty, release_lock, render, take_lock, ApplyLock, ChangeSet, PlanOptions,
    ReconcileError, Reconciler,
};
use crate::store::{default_holder, Store};

/// How long a lease lasts unless renewed; a killed apply's lock is free after this.
fn lease() -> Duration {
    std::env::var("PORTALCTL_LOCK_LEASE")
        .ok()
        .and_then(|s| ManifestDuration::parse(&s).ok())
        .map_or(Duration::from_secs(30), |d| d.as_std())
}

/// Prints an error as JSON on standard output when JSON was asked for, and returns it for the
/// command edge to print on standard error and turn into exit code 1.
fn fail(json_out: bool, e: impl std::fmt::Display) -> anyhow::Error {
    let msg = e.to_string();
    if json_out {
        println!("{}", json!({"errors": [{"message": msg}]}));
    }
    anyhow::anyhow!(msg)
}

/// Runs `portalctl apply`; returns the exit code.
pub async fn run(global: &GlobalArgs, args: ApplyArgs) -> anyhow::Result<u8> {
    let json_out = args.output == Output::Json;
    let wait = ManifestDuration::parse(&args.lock_timeout)
        .map_err(|e| anyhow::anyhow!("--lock-timeout: {e}"))?
        .as_std();
    let settings = Settings::load(global)?;

    // What to apply: a saved plan, or the manifests (default `.`).
    let saved: Option<ChangeSet> = match &args.planfile {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read plan file {}", path.display()))?;
            let plan: ChangeSet = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a plan written by `portalctl plan --out` (or it was edited)",
                    path.display()
                )
            })?;
            if plan.format_version != FORMAT_VERSION {
                anyhow::bail!("{} has plan format {}, this portalctl reads format {FORMAT_VERSION}; run plan again", path.display(), plan.format_version);
            }
            Some(plan)
        }
        None => None,
    };
    // Load the manifests on a blocking thread while the database opens and the lock is taken.
    let load = {
        let path = args.manifests.clone().unwrap_or_else(|| ".".into());
        let wanted = saved.is_none();
        tokio::task::spawn_blocking(move || {
            if wanted {
                load_manifests(&path, json_out).map(Some)
            } else {
                Ok(None)
            }
        })
    };
    let locked_store = async {
        let store = Store::connect(&settings.database).await?;
        let lock = match take_lock(&store, &default_holder(), lease(), wait).await {
            Ok(l) => l,
            Err(e @ ReconcileError::LockHeld(_)) => {
                return Err(fail(
                    json_out,
                    format_args!("{e}; another apply is running. Wait for it, or pass --lock-timeout to wait up to that long"),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        anyhow::Ok((store, lock))
    };
    let (loaded, locked_store) = tokio::join!(load, locked_store);
    let loaded = match loaded.context("the manifest loader stopped unexpectedly")? {
        Ok(Some(None)) => {
            // Invalid manifests: already reported; give the lock back if we got it.
            if let Ok((_, lock)) = locked_store {
                release_lock(lock).await;
            }
            return Ok(1);
        }
        Ok(Some(Some(l))) => Some(l),
        Ok(None) => None,
        Err(e) => return Err(e),
    };
    let (store, lock) = locked_store?;
    let result = locked(&args, &settings, store, saved, loaded, &lock, json_out).await;
    release_lock(lock).await;
    result
}

/// Plans (or checks the saved plan), confirms when destructive, applies: all with the lock held,
/// so that what is confirmed is what is applied.
async fn locked(
    args: &ApplyArgs,
    settings: &Settings,
    store: Store,
    saved: Option<ChangeSet>,
    loaded: Option<crate::manifest::Loaded>,
    lock: &ApplyLock,
    json_out: bool,
) -> anyhow::Result<u8> {
    let (plan, reconciler) = match (saved, loaded) {
        (Some(plan), _) => {
            let reconciler = Reconciler::new(store, &plan.instance, plan.providers.clone())?;
            match reconciler.ensure_fresh(&plan).await {
                Ok(()) => {}
                Err(e @ ReconcileError::Stale) => return Err(fail(json_out, e)),
                Err(e) => return Err(e.into()),
            }
            (plan, reconciler)
        }
        (None, Some(loaded)) => {
            let reconciler = Reconciler::new(
                store,
                &settings.instance,
                Reconciler::providers_of(&loaded.desired),
            )?;
            let opts = PlanOptions {
                revoke_retired: args.revoke_retired,
            };
            let plan = reconciler.plan(&loaded.desired, &opts).await?;
            if let Err(e) = refuse_empty(&loaded.desired, &plan, args.allow_empty) {
                return Err(fail(json_out, e));
            }
            (plan, reconciler)
        }
        (None, None) => anyhow::bail!("nothing to apply"),
    };

    if !plan.errors.is_empty() {
        if json_out {
            println!("{}", render::json(&plan));
        } else {
            print!("{}", render::text(&plan, super::stdout_color()));
            eprintln!("The plan has errors; nothing was changed.");
        }
        return Ok(1);
    }
    if plan.is_empty() {
        if json_out {
            println!(
                "{}",
                json!({"plan": plan, "result": {"done": 0, "failed": 0, "blocked": 0, "outcomes": []}})
            );
        } else {
            println!("No changes. The database and the Dashboards match the manifests.");
        }
        return Ok(0);
    }
    let ask = plan.is_destructive() && !args.yes && std::io::stdin().is_terminal();
    let plan = std::sync::Arc::new(plan);
    // Without a question to ask, the plan (tens of megabytes of text for a first apply at scale)
    // is rendered and printed while the Dashboard work runs, which mostly waits on the network.
    let printer = if json_out {
        None
    } else if ask {
        print!("{}", render::text(&plan, super::stdout_color()));
        if !confirm()? {
            println!("Apply cancelled; nothing was changed.");
            return Ok(1);
        }
        None
    } else {
        let plan = plan.clone();
        Some(tokio::task::spawn_blocking(move || {
            use std::io::Write as _;
            let text = render::text(&plan, super::stdout_color());
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }))
    };

    let report = reconciler.apply(&plan, lock).await;
    if let Some(printer) = printer {
        let _ = printer.await;
    }
    let report = report?;
    if json_out {
        println!("{}", report_json(&plan, &report));
    } else {
        print!("{}", super::common::report_text(&plan, &report));
    }
    Ok(if report.is_success() { 0 } else { 1 })
}

fn confirm() -> anyhow::Result<bool> {
    print!("\nThis plan deletes or retires objects. Type 'yes' to apply it: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// The change set and what became of it: `outcomes` per change (object and target), the counts
/// per object like the summary.
fn report_json(plan: &ChangeSet, report: &Report) -> String {
    let (done, failed, blocked) = super::common::object_counts(plan, report);
    let outcomes: Vec<_> = plan
        .changes
        .iter()
        .zip(&report.outcomes)
        .map(|(c, o)| json!({"action": c.action, "kind": c.kind, "name": c.name, "provider": c.provider, "target": c.target, "outcome": o}))
        .collect();
    serde_json::to_string_pretty(&json!({
        "formatVersion": plan.format_version,
        "fingerprint": plan.fingerprint,
        "summary": plan.summary,
        "changes": plan.changes,
        "warnings": plan.warnings,
        "errors": plan.errors,
        "result": {"done": done, "failed": failed, "blocked": blocked, "outcomes": outcomes},
    }))
    .unwrap_or_default()
}
