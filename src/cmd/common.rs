//! Helpers shared by the commands: loading manifests with printed diagnostics, opening the
//! database and the Dashboard clients, writing files atomically.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::desired::Kind;
use crate::manifest::{self, Loaded};
use crate::reconcile::apply::{Outcome, Report};
use crate::reconcile::ChangeSet;

/// Loads and validates manifests. On errors, prints them (as JSON when `json`) and returns None.
pub fn load_manifests(path: &Path, json: bool) -> anyhow::Result<Option<Loaded>> {
    if !path.exists() {
        anyhow::bail!(
            "manifest path {} does not exist; pass a file or a directory with -f",
            path.display()
        );
    }
    let started = std::time::Instant::now();
    match manifest::load(path) {
        Ok(loaded) => {
            tracing::debug!(elapsed = ?started.elapsed(), rss_mib = crate::telemetry::rss_mib(), documents = loaded.documents, "loaded and validated the manifests");
            for w in &loaded.warnings {
                eprintln!(
                    "{}:{}:{}: warning: {}",
                    w.file.display(),
                    w.line,
                    w.column,
                    w.message
                );
            }
            Ok(Some(loaded))
        }
        Err(diags) => {
            if json {
                let errors: Vec<_> = diags
                    .0
                    .iter()
                    .map(|d| serde_json::json!({"file": d.file, "line": d.line, "column": d.column, "message": d.message, "hint": d.hint}))
                    .collect();
                println!("{}", serde_json::json!({"errors": errors, "warnings": []}));
            } else {
                eprintln!("{}", diags.to_string().trim_end());
                eprintln!(
                    "{} error{} in the manifests; nothing was read or changed.",
                    diags.0.len(),
                    if diags.0.len() == 1 { "" } else { "s" }
                );
            }
            Ok(None)
        }
    }
}

/// Parses `--target KIND/NAME` values.
pub fn parse_targets(raw: &[String]) -> anyhow::Result<Vec<(Kind, String)>> {
    raw.iter()
        .map(|t| {
            let (k, n) = t.split_once('/').with_context(|| format!("--target {t:?}: write KIND/NAME, e.g. plan/free or team/acme/admins"))?;
            let kind = Kind::parse(k).with_context(|| {
                format!("--target {t:?}: unknown kind {k:?}; use provider, product, plan, catalog, organisation or team")
            })?;
            Ok((kind, n.to_owned()))
        })
        .collect()
}

/// Writes a file through a temporary sibling and a rename, so readers never see half of it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// (done, failed, blocked) counted by object, like the plan's summary: an object is failed when
/// any of its changes failed, blocked when none failed but some was blocked, else done.
pub fn object_counts(plan: &ChangeSet, report: &Report) -> (usize, usize, usize) {
    let mut worst: BTreeMap<(Kind, &str), u8> = BTreeMap::new();
    for (c, o) in plan.changes.iter().zip(&report.outcomes) {
        let rank = match o {
            Outcome::Done => 0,
            Outcome::Blocked { .. } => 1,
            Outcome::Failed { .. } => 2,
        };
        let w = worst.entry((c.kind, c.name.as_str())).or_insert(0);
        *w = (*w).max(rank);
    }
    let count = |r: u8| worst.values().filter(|w| **w == r).count();
    (count(0), count(2), count(1))
}

/// The done / failed / blocked report of an apply, for people: counted by object, with one line
/// per failed or blocked change (object and target).
pub fn report_text(plan: &ChangeSet, report: &Report) -> String {
    let (done, failed, blocked) = object_counts(plan, report);
    if failed == 0 && blocked == 0 {
        return format!(
            "\nApply complete: {done} change{} done.\n",
            if done == 1 { "" } else { "s" }
        );
    }
    let mut out = format!("\nApply failed: {done} done, {failed} failed, {blocked} blocked.\n");
    for (c, o) in plan.changes.iter().zip(&report.outcomes) {
        let where_ = c
            .provider
            .as_deref()
            .map_or("database".to_owned(), |p| format!("dashboard {p}"));
        match o {
            Outcome::Failed { error, .. } => out.push_str(&format!(
                "  failed:  {} {} {} ({where_}): {error}\n",
                c.action.verb(),
                c.kind,
                c.name
            )),
            Outcome::Blocked { reason } => out.push_str(&format!(
                "  blocked: {} {} {} ({where_}): {reason}\n",
                c.action.verb(),
                c.kind,
                c.name
            )),
            Outcome::Done => {}
        }
    }
    out.push_str(
        "Run apply again once the cause is fixed: it continues from where this run stopped.\n",
    );
    out
}
