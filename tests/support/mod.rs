//! Shared helpers of the integration tests: a simulator on 127.0.0.1:0, a fresh database per
//! test (SQLite file or PostgreSQL database), manifests in a temp dir, and the reconciler.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use portalctl::reconcile::apply::Report;
use portalctl::reconcile::{
    release_lock, take_lock, ChangeSet, PlanOptions, ReconcileError, Reconciler, RunOptions,
};
use portalctl::store::Store;
use portalctl::tyk::sim::{self, SimConfig, SimHandle};
use tempfile::TempDir;

/// A recognisable secret: tests assert it never shows up anywhere.
pub const SECRET: &str = "s3cr3t-DASHBOARD-c4n4ry-7f1d";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use (override with PORTALCTL_TEST_POSTGRES).
pub fn postgres_admin_url() -> String {
    std::env::var("PORTALCTL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Writes to the terminal even when the test harness captures output, so a skipped PostgreSQL
/// half is visible in a plain `cargo test`.
pub fn say(msg: &str) {
    if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = writeln!(tty, "{msg}");
    } else {
        eprintln!("{msg}");
    }
}

/// A fresh database URL for one test, or None (with a notice) when PostgreSQL is unreachable.
/// Under CI=true an unreachable PostgreSQL is a failure, not a skip.
pub async fn fresh_database(backend: Backend, dir: &Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(format!("sqlite://{}", dir.join("portal.db").display())),
        Backend::Postgres => {
            use sqlx::Connection;
            let admin = postgres_admin_url();
            let mut conn = match sqlx::PgConnection::connect(&admin).await {
                Ok(c) => c,
                Err(e) => {
                    if std::env::var("CI").is_ok_and(|v| v == "true") {
                        panic!("PostgreSQL is required under CI but {admin} is unreachable: {e}");
                    }
                    say(&format!(
                        "SKIPPED PostgreSQL test: {admin} is unreachable ({e}). Start PostgreSQL or set PORTALCTL_TEST_POSTGRES=postgres://USER@HOST:PORT/DB to run it."
                    ));
                    return None;
                }
            };
            let name = format!("portalctl_test_{:016x}", rand::random::<u64>());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let base = admin
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .unwrap_or(admin);
            Some(format!("{base}/{name}"))
        }
    }
}

/// One test's world: a simulator, a temp dir with a secret file, a database.
pub struct World {
    pub sim: SimHandle,
    pub dir: TempDir,
    pub db_url: String,
    pub secret_file: PathBuf,
}

impl Drop for World {
    /// Drops the test's PostgreSQL database so the server does not fill up with them.
    fn drop(&mut self) {
        let Some(name) = self
            .db_url
            .strip_prefix("postgres")
            .and_then(|u| u.rsplit_once('/'))
            .map(|(_, n)| n.to_owned())
        else {
            return;
        };
        if !name.starts_with("portalctl_test_") {
            return;
        }
        // Drop runs inside the test's runtime: use a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

impl World {
    pub async fn new(backend: Backend) -> Option<World> {
        Self::with_sim(backend, SimConfig::default()).await
    }

    pub async fn with_sim(backend: Backend, mut cfg: SimConfig) -> Option<World> {
        let dir = tempfile::tempdir().unwrap();
        let db_url = fresh_database(backend, dir.path()).await?;
        cfg.secret = SECRET.into();
        let sim = sim::spawn(cfg).await.expect("simulator starts");
        let secret_file = dir.path().join("dashboard.secret");
        std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
        Some(World {
            sim,
            dir,
            db_url,
            secret_file,
        })
    }

    /// The manifests folder of this world.
    pub fn manifests(&self) -> PathBuf {
        self.dir.path().join("manifests")
    }

    /// Writes the provider manifest pointing at the simulator plus the given files.
    pub fn write(&self, files: &[(&str, &str)]) {
        let m = self.manifests();
        std::fs::create_dir_all(&m).unwrap();
        let provider = format!(
            "apiVersion: portalctl/v1\nkind: Provider\nmetadata:\n  name: tyk\nspec:\n  type: tyk-pro\n  url: {}\n  secret:\n    fromFile: {}\n  policyTags: [team-apis]\n",
            self.sim.url(),
            self.secret_file.display()
        );
        std::fs::write(m.join("00-provider.yaml"), provider).unwrap();
        for (name, text) in files {
            let path = m.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.manifests().join(name)).unwrap();
    }

    pub async fn reconciler(&self) -> (Reconciler, portalctl::desired::Desired) {
        let loaded = portalctl::manifest::load(&self.manifests())
            .unwrap_or_else(|e| panic!("manifests load: {e}"));
        let reconciler = Reconciler::connect(&self.db_url, "default", &loaded.desired)
            .await
            .expect("reconciler");
        (reconciler, loaded.desired)
    }

    pub async fn plan(&self) -> ChangeSet {
        self.plan_with(false).await
    }

    pub async fn plan_with(&self, revoke_retired: bool) -> ChangeSet {
        let (reconciler, desired) = self.reconciler().await;
        reconciler
            .plan(&desired, &PlanOptions { revoke_retired })
            .await
            .expect("plan")
    }

    /// Plans and applies under the lock (`Reconciler::run_once`); returns the plan and the
    /// report, also when some change failed.
    pub async fn apply(&self) -> (ChangeSet, Report) {
        self.apply_with(false).await
    }

    pub async fn apply_with(&self, revoke_retired: bool) -> (ChangeSet, Report) {
        let (reconciler, desired) = self.reconciler().await;
        let lock = take_lock(
            &reconciler.store,
            "test",
            std::time::Duration::from_secs(30),
            std::time::Duration::from_secs(10),
        )
        .await
        .unwrap();
        let opts = RunOptions {
            plan: PlanOptions { revoke_retired },
            allow_empty: true,
        };
        let outcome = match reconciler.run_once(&desired, &opts, &lock).await {
            Ok(outcome) => outcome,
            Err(ReconcileError::Incomplete(outcome)) => *outcome,
            Err(e) => panic!("apply: {e}"),
        };
        release_lock(lock).await;
        (outcome.plan, outcome.report)
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.db_url).await.unwrap()
    }

    /// Runs the portalctl binary in the manifests' parent directory with this world's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("portalctl runs")
    }

    /// The portalctl command for this world (its database, its folder, no colours), to run or
    /// spawn.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_portalctl"));
        c.args(args)
            .env("PORTALCTL_DATABASE", &self.db_url)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .current_dir(self.dir.path());
        c
    }

    /// Waits (up to 10 s) until some run holds the apply lock.
    pub async fn wait_for_lock(&self) {
        let store = self.store().await;
        for _ in 0..400 {
            if store
                .lease_holder(portalctl::store::APPLY_LEASE)
                .await
                .unwrap()
                .is_some()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("no run took the apply lock within 10 s");
    }
}

/// A small portal: two products, two plans, two catalogs, an organisation with a team.
pub const B2B: &[(&str, &str)] = &[
    (
        "products.yaml",
        r#"apiVersion: portalctl/v1
kind: Product
metadata:
  name: accounts
spec:
  provider: tyk
  displayName: Accounts API
  description: Accounts for trusted partners
  apis:
    - apiId: accounts-api
      name: Accounts
      allowedUrls:
        - url: /accounts
          methods: [GET]
---
apiVersion: portalctl/v1
kind: Product
metadata:
  name: payments
spec:
  provider: tyk
  displayName: Payment API
  featured: true
  apis:
    - apiId: payments-api
"#,
    ),
    (
        "plans.yaml",
        r#"apiVersion: portalctl/v1
kind: Plan
metadata:
  name: free
spec:
  provider: tyk
  displayName: Free
  rateLimit: {requests: 10, per: 1s}
  quota: {requests: 1000, per: 30d}
  autoApprove: true
---
apiVersion: portalctl/v1
kind: Plan
metadata:
  name: enterprise
spec:
  provider: tyk
  displayName: Enterprise
  rateLimit: {requests: 1000, per: 1s}
  quota: unlimited
  keyExpiry: 365d
  credentialMetadata: {tier: enterprise}
"#,
    ),
    (
        "catalogs.yaml",
        r#"apiVersion: portalctl/v1
kind: Catalog
metadata:
  name: public
spec:
  displayName: Public catalog
  visibility: public
  products: [payments]
  plans: [free]
---
apiVersion: portalctl/v1
kind: Catalog
metadata:
  name: enterprise
spec:
  displayName: Enterprise catalog
  visibility: private
  audiences: [b2b-customer/all-users]
  products: [accounts, payments]
  plans: [enterprise]
"#,
    ),
    (
        "orgs.yaml",
        r#"apiVersion: portalctl/v1
kind: Organisation
metadata:
  name: b2b-customer
spec:
  displayName: B2B customer
  members: [alice@b2b.example]
---
apiVersion: portalctl/v1
kind: Team
metadata:
  name: admins
spec:
  organisation: b2b-customer
  displayName: Admins
  members: [bob@b2b.example]
"#,
    ),
];

/// Declares each listed async test function once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::support::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::support::Backend::Postgres).await })*
        }
    };
}

/// Manifests for `products` products and `plans` plans (one file each kind) and a catalog
/// offering them all.
pub fn many(products: usize, plans: usize, rate: u64) -> Vec<(String, String)> {
    let mut p = String::new();
    for i in 0..products {
        p.push_str(&format!(
            "---\napiVersion: portalctl/v1\nkind: Product\nmetadata: {{name: product-{i}}}\nspec:\n  provider: tyk\n  displayName: Product {i}\n  apis: [{{apiId: api-{i}}}]\n"
        ));
    }
    let mut q = String::new();
    for i in 0..plans {
        q.push_str(&format!(
            "---\napiVersion: portalctl/v1\nkind: Plan\nmetadata: {{name: plan-{i}}}\nspec:\n  provider: tyk\n  displayName: Plan {i}\n  rateLimit: {{requests: {rate}, per: 1s}}\n  quota: unlimited\n"
        ));
    }
    let names = |prefix: &str, n: usize| {
        (0..n)
            .map(|i| format!("{prefix}-{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let c = format!(
        "apiVersion: portalctl/v1\nkind: Catalog\nmetadata: {{name: everything}}\nspec:\n  displayName: Everything\n  visibility: public\n  products: [{}]\n  plans: [{}]\n",
        names("product", products),
        names("plan", plans)
    );
    vec![
        ("products.yaml".into(), p),
        ("plans.yaml".into(), q),
        ("catalog.yaml".into(), c),
    ]
}

impl World {
    pub fn write_owned(&self, files: &[(String, String)]) {
        let v: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        self.write(&v);
    }

    /// Asserts the simulator holds no two policies with one id or one name.
    pub fn assert_no_duplicates(&self) {
        let policies = self.sim.policies();
        let mut ids = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        for p in &policies {
            assert!(ids.insert(p.id.clone()), "duplicate policy id {}", p.id);
            assert!(
                names.insert(p.name.clone()),
                "duplicate policy name {}",
                p.name
            );
        }
    }

    /// Starts `portalctl apply` in the background.
    pub fn spawn_cli(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .env("PORTALCTL_LOCK_LEASE", "1s")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("portalctl starts")
    }
}
