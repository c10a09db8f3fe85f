//! Scale benchmark of plan and apply (issue: the reconciler), printing its numbers.
//!
//! 10,000 products, 10,000 plans, 1,000 catalogs, 1,000 organisations with 3 teams each, against
//! a simulator that also holds 5,000 foreign policies. For each backend (SQLite, and PostgreSQL
//! when reachable) it measures, with the release `portalctl` binary as a child process:
//! - first apply with 5 ms latency per Dashboard request and 4 in flight, against the
//!   concurrency bound 20,000 × 5 ms / 4;
//! - `plan` with no changes, against a baseline measured in the same run: parsing the same YAML
//!   with serde_yaml plus fetching the policy list through the client;
//! - the no-op apply's Dashboard requests (1 list call, 0 writes);
//! - peak resident memory of each run (`/usr/bin/time -f %M`).
//!
//! Run: `cargo bench --bench reconcile` (SCALE=0.1 for a quick look).

use std::path::Path;
use std::time::{Duration, Instant};

use portalctl::tyk::sim::{self, SimConfig};
use portalctl::tyk::{ClientConfig, DashboardClient, Policy};

const SECRET: &str = "bench-secret";

fn write_manifests(
    dir: &Path,
    url: &str,
    secret_file: &Path,
    products: usize,
    plans: usize,
    catalogs: usize,
    orgs: usize,
) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("provider.yaml"),
        format!("apiVersion: portalctl/v1\nkind: Provider\nmetadata: {{name: tyk}}\nspec:\n  type: tyk-pro\n  url: {url}\n  secret: {{fromFile: {}}}\n  policyTags: [bench]\n", secret_file.display()),
    )
    .unwrap();
    let chunk = 500;
    for (i, start) in (0..products).step_by(chunk).enumerate() {
        let mut s = String::new();
        for n in start..(start + chunk).min(products) {
            s.push_str(&format!("---\napiVersion: portalctl/v1\nkind: Product\nmetadata:\n  name: product-{n}\nspec:\n  provider: tyk\n  displayName: Product {n}\n  description: The product number {n}\n  tags: [bench, group-{}]\n  apis:\n    - apiId: api-{n}\n      name: API {n}\n      allowedUrls:\n        - url: /v1/things\n          methods: [GET, POST]\n", n % 50));
        }
        std::fs::write(dir.join(format!("products-{i:03}.yaml")), s).unwrap();
    }
    for (i, start) in (0..plans).step_by(chunk).enumerate() {
        let mut s = String::new();
        for n in start..(start + chunk).min(plans) {
            s.push_str(&format!("---\napiVersion: portalctl/v1\nkind: Plan\nmetadata:\n  name: plan-{n}\nspec:\n  provider: tyk\n  displayName: Plan {n}\n  rateLimit: {{requests: {}, per: 1s}}\n  quota: {{requests: 100000, per: 30d}}\n  keyExpiry: 90d\n  autoApprove: {}\n  credentialMetadata: {{tier: t{}}}\n", 10 + n % 100, n % 2 == 0, n % 5));
        }
        std::fs::write(dir.join(format!("plans-{i:03}.yaml")), s).unwrap();
    }
    let mut s = String::new();
    for n in 0..orgs {
        s.push_str(&format!("---\napiVersion: portalctl/v1\nkind: Organisation\nmetadata: {{name: org-{n}}}\nspec:\n  displayName: Organisation {n}\n  members: [owner@org-{n}.example, dev@org-{n}.example]\n"));
        for t in 0..3 {
            s.push_str(&format!("---\napiVersion: portalctl/v1\nkind: Team\nmetadata: {{name: team-{t}}}\nspec:\n  organisation: org-{n}\n  displayName: Team {t}\n  members: [member{t}@org-{n}.example]\n"));
        }
    }
    std::fs::write(dir.join("orgs.yaml"), s).unwrap();
    let mut s = String::new();
    for n in 0..catalogs {
        let ps: Vec<String> = (0..10)
            .map(|k| format!("product-{}", (n * 10 + k) % products.max(1)))
            .collect();
        let ls: Vec<String> = (0..10)
            .map(|k| format!("plan-{}", (n * 10 + k) % plans.max(1)))
            .collect();
        let (vis, aud) = if n % 2 == 0 {
            ("public".to_owned(), String::new())
        } else {
            (
                "private".to_owned(),
                format!(
                    "  audiences: [org-{0}/all-users, org-{0}/team-1]\n",
                    n % orgs.max(1)
                ),
            )
        };
        s.push_str(&format!("---\napiVersion: portalctl/v1\nkind: Catalog\nmetadata: {{name: catalog-{n}}}\nspec:\n  displayName: Catalog {n}\n  visibility: {vis}\n{aud}  products: [{}]\n  plans: [{}]\n", ps.join(", "), ls.join(", ")));
    }
    std::fs::write(dir.join("catalogs.yaml"), s).unwrap();
}

/// Runs the binary under /usr/bin/time; returns (seconds, peak RSS in MB, exit code).
fn run(dir: &Path, db: &str, args: &[&str]) -> (f64, f64, i32) {
    let rss_file = dir.join("rss.txt");
    let start = Instant::now();
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_portalctl"))
        .args(args)
        .env("PORTALCTL_DATABASE", db)
        .env(
            "RUST_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .current_dir(dir)
        .output()
        .expect("run portalctl under /usr/bin/time");
    let secs = start.elapsed().as_secs_f64();
    let kb: f64 = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last()?.trim().parse().ok())
        .unwrap_or(0.0);
    if std::env::var("BENCH_LOG").is_ok() {
        eprintln!(
            "--- portalctl {args:?}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if !out.status.success() {
        eprintln!(
            "portalctl {args:?} exited {:?}:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (secs, kb / 1024.0, out.status.code().unwrap_or(-1))
}

async fn postgres_url() -> Option<String> {
    use sqlx::Connection;
    let admin = std::env::var("PORTALCTL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
    let name = format!("portalctl_bench_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await
        .ok()?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .ok()?;
    Some(format!("{}/{name}", admin.rsplit_once('/')?.0))
}

async fn drop_database(url: &str) {
    use sqlx::Connection;
    let admin = std::env::var("PORTALCTL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let Some((_, name)) = url.rsplit_once('/') else {
        return;
    };
    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

fn main() {
    let scale: f64 = std::env::var("SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let n = |x: f64| ((x * scale) as usize).max(1);
    let (products, plans, catalogs, orgs, foreign) =
        (n(10_000.0), n(10_000.0), n(1_000.0), n(1_000.0), n(5_000.0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("portalctl reconcile benchmark: {products} products, {plans} plans, {catalogs} catalogs, {orgs} organisations x 3 teams, {foreign} foreign policies");
        let mut backends = vec![("sqlite", None)];
        match postgres_url().await {
            Some(url) => backends.push(("postgres", Some(url))),
            None => println!("PostgreSQL unreachable: measuring SQLite only"),
        }
        for (backend, pg) in backends {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            let db = pg.unwrap_or_else(|| format!("sqlite://{}", dir.join("portal.db").display()));
            let sim = sim::spawn(SimConfig { secret: SECRET.into(), ..SimConfig::default() }).await.unwrap();
            sim.insert_policies((0..foreign).map(|i| Policy { name: format!("Foreign policy {i}"), id: format!("foreign-{i}"), tags: vec!["someone-else".into()], ..Policy::default() }));
            let secret_file = dir.join("secret");
            std::fs::write(&secret_file, SECRET).unwrap();
            let manifests = dir.join("manifests");
            write_manifests(&manifests, &sim.url(), &secret_file, products, plans, catalogs, orgs);

            // First apply: 5 ms per Dashboard request, 4 in flight.
            sim.set_latency(Duration::from_millis(5));
            let (first, first_rss, code) = run(dir, &db, &["apply", "-f", "manifests", "--yes"]);
            assert_eq!(code, 0, "first apply failed");
            let bound = (products + plans) as f64 * 0.005 / 4.0;
            sim.set_latency(Duration::ZERO);
            assert_eq!(sim.policies().len(), products + plans + foreign);

            // Baseline, same run: serde_yaml parse of the same YAML + one policy listing.
            let base_start = Instant::now();
            let mut docs = 0usize;
            let mut files: Vec<_> = std::fs::read_dir(&manifests).unwrap().flatten().map(|e| e.path()).collect();
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f).unwrap();
                for d in serde_yaml::Deserializer::from_str(&text) {
                    let _v: serde_yaml::Value = serde::Deserialize::deserialize(d).unwrap();
                    docs += 1;
                }
            }
            let client = DashboardClient::new(ClientConfig::new("tyk", sim.url(), SECRET.to_owned().into())).unwrap();
            let listed = client.list_policies().await.unwrap().len();
            let baseline = base_start.elapsed().as_secs_f64();

            sim.reset_counts();
            let (noop_plan, plan_rss, code) = run(dir, &db, &["plan", "-f", "manifests", "--detailed-exitcode"]);
            assert_eq!(code, 0, "the plan after apply is not empty");
            sim.reset_counts();
            let (noop_apply, apply_rss, code) = run(dir, &db, &["apply", "-f", "manifests", "--yes"]);
            assert_eq!(code, 0);
            let counts = sim.counts();

            println!("\n[{backend}] {docs} YAML documents, {listed} policies listed");
            println!("  first apply:          {first:8.2} s   bound 20,000 x 5 ms / 4 = {bound:.2} s   ratio {:.2}   peak RSS {first_rss:.0} MB", first / bound);
            println!("  baseline parse+list:  {baseline:8.2} s");
            println!("  no-op plan:           {noop_plan:8.2} s   ratio to baseline {:.2}   peak RSS {plan_rss:.0} MB", noop_plan / baseline);
            println!("  no-op apply:          {noop_apply:8.2} s   peak RSS {apply_rss:.0} MB   list calls {}   writes {}", counts.get("GET /api/portal/policies"), counts.writes());
            sim.shutdown().await;
            if backend == "postgres" {
                drop_database(&db).await;
            }
        }
    });
}
