//! Loading and validating a large manifest set: 20,000 documents (10,000 products with APIs,
//! 10,000 plans, plus catalogs, organisations and teams) in a temp dir.
//!
//! Prints documents per second for `manifest::load` and, as a baseline in the same run, for a
//! plain `serde_yaml::from_str::<serde_yaml::Value>` of the same files. Run with
//! `cargo bench --bench validate`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Deserialize;

const PRODUCTS: usize = 10_000;
const PLANS: usize = 10_000;
const PER_FILE: usize = 100;

fn generate(dir: &Path) -> usize {
    std::fs::write(dir.join("docs.md"), "# Docs\n\nSome text.\n").unwrap();
    std::fs::write(
        dir.join("openapi.yaml"),
        "openapi: 3.0.3\ninfo: {title: Bench, version: '1'}\npaths: {}\n",
    )
    .unwrap();
    let mut docs = 0;
    let mut file = String::new();
    let mut n_file = 0;
    let flush = |file: &mut String, n_file: &mut usize, force: bool| {
        if !file.is_empty() && (force || file.matches("\n---\n").count() + 1 >= PER_FILE) {
            std::fs::write(dir.join(format!("m{:05}.yaml", *n_file)), &*file).unwrap();
            *n_file += 1;
            file.clear();
        }
    };
    let push = |file: &mut String, doc: &str| {
        if !file.is_empty() {
            file.push_str("---\n");
        }
        file.push_str(doc);
    };
    push(
        &mut file,
        "apiVersion: portalctl/v1\nkind: Provider\nmetadata: {name: tyk}\nspec:\n  type: tyk-pro\n  url: http://localhost:3000\n  secret: {fromEnv: TYK_SECRET}\n",
    );
    docs += 1;
    for i in 0..PRODUCTS {
        let mut d = String::new();
        write!(
            d,
            "apiVersion: portalctl/v1\nkind: Product\nmetadata:\n  name: product-{i}\nspec:\n  provider: tyk\n  displayName: Product {i}\n  description: Product number {i}\n  content: docs.md\n  tags: [bench, group-{g}]\n  apis:\n    - apiId: api-{i}\n      versions: [Default]\n      allowedUrls:\n        - {{url: /things, methods: [GET, POST]}}\n      openapi: openapi.yaml\n",
            g = i % 10
        )
        .unwrap();
        push(&mut file, &d);
        docs += 1;
        flush(&mut file, &mut n_file, false);
    }
    for i in 0..PLANS {
        let d = format!(
            "apiVersion: portalctl/v1\nkind: Plan\nmetadata: {{name: plan-{i}}}\nspec:\n  provider: tyk\n  displayName: Plan {i}\n  rateLimit: {{requests: {r}, per: 1m}}\n  quota: unlimited\n  keyExpiry: 30d\n  autoApprove: true\n",
            r = i + 1
        );
        push(&mut file, &d);
        docs += 1;
        flush(&mut file, &mut n_file, false);
    }
    for i in 0..20 {
        let d = format!(
            "apiVersion: portalctl/v1\nkind: Organisation\nmetadata: {{name: org-{i}}}\nspec:\n  displayName: Org {i}\n  members: [a{i}@example.com, b{i}@example.com]\n---\napiVersion: portalctl/v1\nkind: Team\nmetadata: {{name: team}}\nspec:\n  organisation: org-{i}\n  displayName: Team\n  members: [c{i}@example.com]\n---\napiVersion: portalctl/v1\nkind: Catalog\nmetadata: {{name: catalog-{i}}}\nspec:\n  displayName: Catalog {i}\n  visibility: private\n  audiences: [org-{i}/team, org-{i}/all-users]\n  products: [product-{i}, product-{j}]\n  plans: [plan-{i}]\n",
            j = i + 100
        );
        push(&mut file, &d);
        docs += 3;
    }
    flush(&mut file, &mut n_file, true);
    docs
}

fn baseline(dir: &Path) -> usize {
    let mut n = 0;
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "yaml") && p.file_name().unwrap() != "openapi.yaml"
        })
        .collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap();
        for d in serde_yaml::Deserializer::from_str(&text) {
            std::hint::black_box(serde_yaml::Value::deserialize(d).unwrap());
            n += 1;
        }
    }
    n
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = generate(tmp.path());
    println!("manifest loading and validation: {docs} documents");
    // One warm-up run each (page cache, lazy schema compilation), then the best of three.
    let mut best_load = f64::MAX;
    let mut best_base = f64::MAX;
    for round in 0..4 {
        let t = Instant::now();
        let loaded = portalctl::manifest::load(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
        let load_s = t.elapsed().as_secs_f64();
        assert_eq!(loaded.documents, docs);
        let t = Instant::now();
        assert_eq!(baseline(tmp.path()), docs);
        let base_s = t.elapsed().as_secs_f64();
        if round > 0 {
            best_load = best_load.min(load_s);
            best_base = best_base.min(base_s);
        }
    }
    let rate = |s: f64| docs as f64 / s;
    println!(
        "  manifest::load           {:>8.1} ms  {:>10.0} documents/s  ({:.1} ms per 10,000 documents)",
        best_load * 1e3,
        rate(best_load),
        best_load * 1e3 * 10_000.0 / docs as f64
    );
    println!(
        "  serde_yaml::Value only   {:>8.1} ms  {:>10.0} documents/s",
        best_base * 1e3,
        rate(best_base)
    );
    println!("  ratio load / parse-only  {:>8.2}x", best_load / best_base);
}
