//! `portalctl import`: write Product and Plan manifests adopting existing tagged policies.

use anyhow::Context;

use super::common::load_manifests;
use crate::cli::{GlobalArgs, ImportArgs};
use crate::config::Settings;
use crate::reconcile::import::import;
use crate::reconcile::Reconciler;
use crate::store::Store;

/// Runs `portalctl import`; returns the exit code.
pub async fn run(global: &GlobalArgs, args: ImportArgs) -> anyhow::Result<u8> {
    let settings = Settings::load(global)?;
    let Some(loaded) = load_manifests(&args.manifests, false)? else {
        return Ok(1);
    };
    let desired = &loaded.desired;
    if !desired
        .providers
        .keys()
        .any(|n| n.as_str() == args.provider)
    {
        let known: Vec<String> = desired.providers.keys().map(|n| n.to_string()).collect();
        anyhow::bail!(
            "no Provider named {:?} in {} (declared: {})",
            args.provider,
            args.manifests.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let store = Store::connect(&settings.database).await?;
    let mut providers = Reconciler::providers_of(desired);
    providers.retain(|n, _| *n == args.provider);
    let engine = Reconciler::new(store, &settings.instance, providers)?;
    let policies = engine.clients[&args.provider]
        .list_policies()
        .await
        .with_context(|| format!("cannot list the policies of provider {}", args.provider))?;
    // The schema line points from DIR/products/x.yaml at the repository's schemas/ when DIR sits
    // inside the repository; otherwise editors simply find no schema.
    let result = import(
        desired,
        &args.provider,
        &policies,
        &settings.instance,
        "../../schemas/",
    );
    for m in &result.manifests {
        let path = args.out.join(m.folder).join(format!("{}.yaml", m.name));
        if path.exists() {
            anyhow::bail!(
                "{} already exists; import writes only new files, so nothing was written",
                path.display()
            );
        }
    }
    for m in &result.manifests {
        let dir = args.out.join(m.folder);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(format!("{}.yaml", m.name));
        super::common::write_atomically(&path, m.yaml.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
        // The file's header carries the same note.
        for c in &m.changes {
            eprintln!(
                "note: {}: the manifest format cannot hold this policy exactly; the first apply changes {c}",
                path.display()
            );
        }
    }
    for s in &result.skipped {
        eprintln!("skipped {s}");
    }
    let exact = result.manifests.iter().all(|m| m.changes.is_empty());
    println!(
        "Imported {} polic{} from provider {} into {}. Review them, then `portalctl plan` shows only tag actions for them{}.",
        result.manifests.len(),
        if result.manifests.len() == 1 { "y" } else { "ies" },
        args.provider,
        args.out.display(),
        if exact { "" } else { ", and the changes noted above" }
    );
    Ok(0)
}
