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
use crate::reconcile::apply::{execute, Report};
use crate::reconcile::diff::fingerprint;
use crate::reconcile::plan::FORMAT_VERSION;
use crate::reconcile::{render, Engine, Plan};
use crate::store::{default_holder, Store, StoreError};

/// How long a lease lasts unless renewed; a killed apply's lock is free after this.
fn lease() -> Duration {
    std::env::var("PORTALCTL_LOCK_LEASE")
        .ok()
        .and_then(|s| ManifestDuration::parse(&s).ok())
        .map_or(Duration::from_secs(30), |d| d.as_std())
}

/// Runs `portalctl apply`; returns the exit code.
pub async fn run(global: &GlobalArgs, args: ApplyArgs) -> anyhow::Result<u8> {
    let json_out = args.output == Output::Json;
    let wait = ManifestDuration::parse(&args.lock_timeout)
        .map_err(|e| anyhow::anyhow!("--lock-timeout: {e}"))?
        .as_std();
    let settings = Settings::load(global)?;

    // What to apply: a saved plan, or the manifests (default `.`).
    let saved: Option<Plan> = match &args.planfile {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read plan file {}", path.display()))?;
            let plan: Plan = serde_json::from_str(&text).with_context(|| {
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
    let take_lock = async {
        let store = Store::connect(&settings.database).await?;
        let lock = match store.lock(&default_holder(), lease(), wait).await {
            Ok(l) => l,
            Err(e @ StoreError::LeaseHeld { .. }) => {
                let msg = format!(
                    "{e}; another apply is running. Wait for it, or pass --lock-timeout to wait up to that long"
                );
                if json_out {
                    println!("{}", json!({"errors": [{"message": msg}]}));
                }
                anyhow::bail!(msg);
            }
            Err(e) => return Err(e.into()),
        };
        anyhow::Ok((store, lock))
    };
    let (loaded, locked_store) = tokio::join!(load, take_lock);
    let loaded = match loaded.context("the manifest loader stopped unexpectedly")? {
        Ok(Some(None)) => {
            // Invalid manifests: already reported; give the lock back if we got it.
            if let Ok((_, lock)) = locked_store {
                let _ = lock.release().await;
            }
            return Ok(1);
        }
        Ok(Some(Some(l))) => Some(l),
        Ok(None) => None,
        Err(e) => return Err(e),
    };
    let (store, lock) = locked_store?;
    let result = locked(&args, &settings, store, saved, loaded, &lock, json_out).await;
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release the apply lock; it expires by itself");
    }
    result
}

async fn locked(
    args: &ApplyArgs,
    settings: &Settings,
    store: Store,
    saved: Option<Plan>,
    loaded: Option<crate::manifest::Loaded>,
    lock: &crate::store::Lease,
    json_out: bool,
) -> anyhow::Result<u8> {
    let (plan, engine) = match (saved, loaded) {
        (Some(plan), _) => {
            let engine = Engine::new(store, &plan.instance, plan.providers.clone())?;
            let actual = engine.read_actual().await?;
            let now = fingerprint(&actual, &plan.instance, &plan.watch);
            if now != plan.fingerprint {
                let msg = "stale plan: the database or a Dashboard changed since this plan was made; run `portalctl plan --out` again";
                if json_out {
                    println!("{}", json!({"errors": [{"message": msg}]}));
                }
                anyhow::bail!(msg);
            }
            (plan, engine)
        }
        (None, Some(loaded)) => {
            let engine = Engine::new(
                store,
                &settings.instance,
                Engine::providers_of(&loaded.desired),
            )?;
            let (plan, _) = engine.plan(&loaded.desired, args.revoke_retired).await?;
            if loaded.desired.is_empty() && plan.is_destructive() && !args.allow_empty {
                let msg = "the manifests declare nothing, so this apply would delete everything portalctl manages; pass --allow-empty if that is really what you want";
                if json_out {
                    println!("{}", json!({"errors": [{"message": msg}]}));
                }
                anyhow::bail!(msg);
            }
            (plan, engine)
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

    let report = execute(&plan, &engine.store, &engine.clients, lock).await;
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

fn report_json(plan: &Plan, report: &Report) -> String {
    let (done, failed, blocked) = report.counts();
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
