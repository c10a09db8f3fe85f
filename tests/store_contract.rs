//! The store's contract on SQLite and PostgreSQL: named leases on the database's clock, fencing
//! of the apply transaction (also under a running apply), the state version, reconcile runs,
//! the Dashboard connections `serve` reads back, and a refused PostgreSQL connection.

mod support;

use std::time::Duration;

use portalctl::desired::Kind;
use portalctl::manifest::kinds::SecretRef;
use portalctl::reconcile::apply::{execute, Outcome};
use portalctl::reconcile::{PlanOptions, Target};
use portalctl::store::{
    DbWrite, LeaseState, LostReason, ReconcileRun, RunResult, StoreError, APPLY_LEASE,
    LEADER_LEASE, RUNS_KEPT,
};
use portalctl::tyk::client::resolve_secret;
use portalctl::tyk::sim::SimConfig;
use portalctl::tyk::{ClientConfig, DashboardClient};
use serde_json::json;
use support::{Backend, World, B2B};

const LONG: Duration = Duration::from_secs(60);

/// Polls `check` until it holds; fails (instead of hanging) after a generous deadline.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not happen within 30 s");
}

/// A provider row as `apply` writes it.
fn provider_write(url: &str) -> DbWrite {
    DbWrite::Upsert {
        kind: Kind::Provider,
        name: "tyk".into(),
        doc: json!({"type": "tyk-pro", "url": url, "secret": {"fromEnv": "TYK_SECRET"}}),
        logo: None,
    }
}

async fn a_lease_is_exclusive_and_names_its_holder(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (a, b) = (w.store().await, w.store().await);
    let first = a
        .acquire_lease(APPLY_LEASE, "alice@ci-1 (pid 11)", LONG, Duration::ZERO)
        .await
        .unwrap();
    assert!(first.is_held());
    assert_eq!(first.epoch(), 1);
    assert!(b
        .try_acquire_lease(APPLY_LEASE, "bob@ci-2 (pid 22)", LONG)
        .await
        .unwrap()
        .is_none());
    let err = b
        .acquire_lease(APPLY_LEASE, "bob@ci-2 (pid 22)", LONG, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseHeld { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "the apply lock is held by alice@ci-1 (pid 11) (since 0 s ago, lease ends in "
        ),
        "{msg}"
    );
    let holder = b.lease_holder(APPLY_LEASE).await.unwrap().unwrap();
    assert_eq!(
        (holder.holder.as_str(), holder.epoch, holder.expired),
        ("alice@ci-1 (pid 11)", 1, false)
    );
    assert!(holder.expires_in <= LONG);

    // Another name is another lease.
    let leader = b
        .try_acquire_lease(LEADER_LEASE, "bob@ci-2 (pid 22)", LONG)
        .await
        .unwrap()
        .expect("the leader lease is free");
    let err = a
        .acquire_lease(LEADER_LEASE, "x", LONG, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the leader lease is held by bob@ci-2 (pid 22)"),
        "{err}"
    );

    // A released lease is free at once, and the next acquisition has a greater epoch.
    first.release().await.unwrap();
    assert!(b.lease_holder(APPLY_LEASE).await.unwrap().is_none());
    let second = b
        .acquire_lease(APPLY_LEASE, "bob@ci-2 (pid 22)", LONG, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(second.epoch(), 2);
    // A waiting acquirer gets the lease when it is released.
    let waiter = tokio::spawn(async move {
        a.acquire_lease(APPLY_LEASE, "carol (pid 33)", LONG, Duration::from_secs(30))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    second.release().await.unwrap();
    let third = waiter.await.unwrap().unwrap();
    assert_eq!(third.epoch(), 3);
    // Dropping a lease releases it too.
    drop(third);
    eventually("the dropped lease's release", || async {
        b.lease_holder(APPLY_LEASE).await.unwrap().is_none()
    })
    .await;
    leader.release().await.unwrap();
}

async fn an_unrenewed_lease_expires_by_the_database_clock_and_another_takes_it(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (a, b) = (w.store().await, w.store().await);
    let dead = a
        .acquire_lease(
            APPLY_LEASE,
            "dead (pid 1)",
            Duration::from_millis(800),
            LONG,
        )
        .await
        .unwrap();
    let epoch = dead.epoch();
    // As if the process had been killed: no more renewals, no release.
    dead.abandon_for_tests();
    let holder = b.lease_holder(APPLY_LEASE).await.unwrap().unwrap();
    assert_eq!(holder.holder, "dead (pid 1)");
    eventually("the expiry of the unrenewed lease", || async {
        b.lease_holder(APPLY_LEASE).await.unwrap().unwrap().expired
    })
    .await;
    // Expired, but shown (its holder died) until someone takes it.
    let next = b
        .acquire_lease(APPLY_LEASE, "next (pid 2)", LONG, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(next.epoch(), epoch + 1);
    let holder = a.lease_holder(APPLY_LEASE).await.unwrap().unwrap();
    assert_eq!(
        (holder.holder.as_str(), holder.expired),
        ("next (pid 2)", false)
    );
    next.release().await.unwrap();
}

async fn a_renewed_lease_outlives_its_lifetime_and_learns_of_a_takeover(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (a, b) = (w.store().await, w.store().await);
    // Renewed every second: three lifetimes later it is still ours, at the same epoch.
    let lease = a
        .acquire_lease(LEADER_LEASE, "replica-a", Duration::from_secs(3), LONG)
        .await
        .unwrap();
    let mut state = lease.subscribe();
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(lease.is_held());
    let holder = b.lease_holder(LEADER_LEASE).await.unwrap().unwrap();
    assert_eq!((holder.epoch, holder.expired), (lease.epoch(), false));

    // Its lease ends (the database says so) and another replica takes over.
    b.expire_lease_for_tests(LEADER_LEASE).await.unwrap();
    let thief = b
        .acquire_lease(LEADER_LEASE, "replica-b", LONG, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(thief.epoch(), lease.epoch() + 1);
    let reason = tokio::time::timeout(Duration::from_secs(30), lease.lost())
        .await
        .expect("lost() completes");
    assert_eq!(
        reason,
        LostReason::TakenOver {
            holder: "replica-b".into()
        }
    );
    assert!(!lease.is_held());
    state.changed().await.unwrap();
    assert_eq!(*state.borrow(), LeaseState::Lost(reason));
    let err = lease.check().unwrap_err();
    assert_eq!(
        err.to_string(),
        "the leader lease was lost: replica-b took it over after our lease expired"
    );
    // Releasing a lost lease leaves the new holder alone.
    lease.release().await.unwrap();
    assert_eq!(
        b.lease_holder(LEADER_LEASE).await.unwrap().unwrap().holder,
        "replica-b"
    );
    thief.release().await.unwrap();
}

async fn a_write_fenced_by_a_lost_lease_rolls_back_and_writes_nothing(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let (a, b) = (w.store().await, w.store().await);
    let writes = [provider_write("http://dashboard.example")];

    // A holder paused long enough for its lease to expire and be taken over still believes it
    // holds the lease (its heartbeat has not run): the database refuses its transaction.
    let paused = a
        .acquire_lease(APPLY_LEASE, "paused (pid 1)", LONG, Duration::ZERO)
        .await
        .unwrap();
    b.expire_lease_for_tests(APPLY_LEASE).await.unwrap();
    let thief = b
        .acquire_lease(APPLY_LEASE, "thief (pid 2)", LONG, Duration::ZERO)
        .await
        .unwrap();
    assert!(paused.is_held(), "the paused holder has not noticed");
    let err = a.write(&writes, &paused).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::LeaseLost { name, reason: LostReason::TakenOver { holder } }
                if name == APPLY_LEASE && holder == "thief (pid 2)"
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the apply lock was lost: thief (pid 2) took it over after our lease expired"
    );
    assert_eq!(a.count("providers").await.unwrap(), 0);
    assert_eq!(a.state_version().await.unwrap(), 0);

    // The new holder writes.
    b.write(&writes, &thief).await.unwrap();
    assert_eq!(a.count("providers").await.unwrap(), 1);
    assert_eq!(a.state_version().await.unwrap(), 1);

    // An expired lease that nobody took is not ours either.
    b.expire_lease_for_tests(APPLY_LEASE).await.unwrap();
    let err = b
        .write(&[provider_write("http://other.example")], &thief)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::LeaseLost {
                reason: LostReason::Expired,
                ..
            }
        ),
        "{err}"
    );
    let conns = a.provider_connections().await.unwrap();
    assert_eq!(conns[0].1.url, "http://dashboard.example");
    assert_eq!(a.state_version().await.unwrap(), 1);
    // Nor is a released one.
    let again = b
        .acquire_lease(APPLY_LEASE, "again", LONG, Duration::ZERO)
        .await
        .unwrap();
    thief.release().await.unwrap(); // not ours any more: leaves `again` alone
    assert_eq!(
        a.lease_holder(APPLY_LEASE).await.unwrap().unwrap().holder,
        "again"
    );
    b.write(&[provider_write("http://third.example")], &again)
        .await
        .unwrap();
    assert_eq!(a.state_version().await.unwrap(), 2);
    again.release().await.unwrap();
}

async fn expiring_the_lease_under_a_running_apply_refuses_its_transaction(backend: Backend) {
    let Some(w) = World::with_sim(
        backend,
        SimConfig {
            latency: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    w.write(B2B);
    let (engine, desired) = w.reconciler().await;
    let plan = engine
        .plan(&desired, &PlanOptions::default())
        .await
        .unwrap();
    assert!(plan.changes.iter().any(|c| c.target == Target::Database));
    // A long lease: its heartbeat does not run during the test, so only the fence can notice.
    let lease = engine
        .store
        .acquire_lease(APPLY_LEASE, "slow apply (pid 1)", LONG, Duration::ZERO)
        .await
        .unwrap();
    let run = {
        let engine = engine.clone();
        let plan = plan.clone();
        tokio::spawn(async move {
            let report = execute(&plan, &engine.store, &engine.clients, &lease).await;
            (report, lease)
        })
    };
    // While its Dashboard phase runs, another run takes the lease over.
    eventually("the apply's first Dashboard write", || async {
        w.sim.counts().writes() > 0
    })
    .await;
    let other = w.store().await;
    other.expire_lease_for_tests(APPLY_LEASE).await.unwrap();
    let thief = other
        .acquire_lease(APPLY_LEASE, "other apply (pid 2)", LONG, Duration::ZERO)
        .await
        .unwrap();
    let (report, lease) = run.await.unwrap();
    let report = report.unwrap();

    let mut refused = 0;
    for (c, o) in plan.changes.iter().zip(&report.outcomes) {
        if c.target == Target::Database {
            match o {
                Outcome::Failed { error, retryable } => {
                    assert!(*retryable, "a lost lease is worth another run");
                    assert!(
                        error.contains("the apply lock was lost: other apply (pid 2) took it over"),
                        "{error}"
                    );
                    refused += 1;
                }
                other => panic!("{} {}: {other:?}", c.kind, c.name),
            }
        }
    }
    assert!(refused > 0);
    for table in ["providers", "products", "plans", "catalogs", "policy_refs"] {
        assert_eq!(other.count(table).await.unwrap(), 0, "{table}");
    }
    assert_eq!(other.state_version().await.unwrap(), 0);
    assert!(other.snapshot().await.unwrap().objects.is_empty());
    drop(lease);
    assert_eq!(
        other
            .lease_holder(APPLY_LEASE)
            .await
            .unwrap()
            .unwrap()
            .holder,
        "other apply (pid 2)"
    );
    thief.release().await.unwrap();
    // The next run converges: it finds the policies created before the refusal.
    let (_, report) = w.apply().await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    w.assert_no_duplicates();
    assert!(w.plan().await.is_empty());
}

async fn the_state_version_moves_with_every_apply_in_any_process(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    let watcher = w.store().await;
    assert_eq!(watcher.state_version().await.unwrap(), 0);
    let out = w.cli(&["apply", "-f", "manifests"]);
    assert_eq!(out.status.code(), Some(0));
    let after_first = watcher.state_version().await.unwrap();
    assert_eq!(after_first, 1);
    // A no-op apply writes nothing, so the version stays.
    assert_eq!(w.cli(&["apply", "-f", "manifests"]).status.code(), Some(0));
    assert_eq!(watcher.state_version().await.unwrap(), after_first);
    let plans = B2B[1]
        .1
        .replace("requests: 10, per: 1s", "requests: 20, per: 1s");
    w.write(&[("plans.yaml", &plans)]);
    assert_eq!(w.cli(&["apply", "-f", "manifests"]).status.code(), Some(0));
    assert_eq!(watcher.state_version().await.unwrap(), after_first + 1);
}

async fn reconcile_runs_are_recorded_and_the_last_one_read_back(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let store = w.store().await;
    assert_eq!(store.last_run().await.unwrap(), None);
    let run = |i: i64, result: RunResult| ReconcileRun {
        id: format!("run-{i:05}"),
        started_at_ms: 1_700_000_000_000 + i * 1000,
        finished_at_ms: 1_700_000_000_000 + i * 1000 + 250,
        result,
        changes: i,
        drift_repaired: i % 3,
        errors: if result == RunResult::Success {
            json!([])
        } else {
            json!([{"object": "Plan free", "message": "Dashboard tyk: 502"}])
        },
    };
    store.record_run(&run(1, RunResult::Success)).await.unwrap();
    store.record_run(&run(2, RunResult::Partial)).await.unwrap();
    assert_eq!(
        store.last_run().await.unwrap(),
        Some(run(2, RunResult::Partial))
    );
    let recent = store.recent_runs(10).await.unwrap();
    assert_eq!(
        recent,
        vec![run(2, RunResult::Partial), run(1, RunResult::Success)]
    );
    // Only the latest RUNS_KEPT are kept.
    for i in 3..=RUNS_KEPT + 5 {
        store.record_run(&run(i, RunResult::Invalid)).await.unwrap();
    }
    assert_eq!(store.count("reconcile_runs").await.unwrap(), RUNS_KEPT);
    assert_eq!(
        store.last_run().await.unwrap().unwrap().id,
        format!("run-{:05}", RUNS_KEPT + 5)
    );
    let oldest = store.recent_runs(RUNS_KEPT + 10).await.unwrap();
    assert_eq!(oldest.last().unwrap().id, "run-00006");
}

async fn serve_can_build_dashboard_clients_from_what_apply_stored(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    // The secret file named relative to the manifest, and the manifests named relative to the
    // working directory: the stored reference is still absolute.
    let provider = format!(
        "apiVersion: portalctl/v1\nkind: Provider\nmetadata:\n  name: tyk\nspec:\n  type: tyk-pro\n  url: {}\n  secret:\n    fromFile: ../dashboard.secret\n  orgId: org-7\n  timeout: 7s\n  maxInFlight: 3\n  policyTags: [team-apis]\n  gatewayUrl: https://gw.example\n",
        w.sim.url()
    );
    std::fs::write(w.manifests().join("00-provider.yaml"), provider).unwrap();
    let out = w.cli(&["apply", "-f", "manifests"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let store = w.store().await;
    let conns = store.provider_connections().await.unwrap();
    assert_eq!(conns.len(), 1);
    let (name, spec) = &conns[0];
    assert_eq!(name, "tyk");
    let SecretRef::FromFile(path) = &spec.secret else {
        panic!("{:?}", spec.secret)
    };
    assert!(path.is_absolute(), "{}", path.display());
    assert_eq!(
        path.canonicalize().unwrap(),
        w.secret_file.canonicalize().unwrap()
    );
    assert_eq!(spec.org_id.as_deref(), Some("org-7"));
    assert_eq!(spec.max_in_flight, Some(3));
    assert_eq!(
        spec.timeout.as_ref().unwrap().as_std(),
        Duration::from_secs(7)
    );
    assert_eq!(spec.policy_tags, vec!["team-apis".to_string()]);
    assert_eq!(spec.gateway_url.as_deref(), Some("https://gw.example"));

    // A client built from the row alone, in a process started elsewhere, reaches the Dashboard.
    let secret = resolve_secret(name, &spec.secret).unwrap();
    let mut cfg = ClientConfig::new(name.clone(), spec.url.clone(), secret);
    cfg.org_id = spec.org_id.clone();
    cfg.max_in_flight = spec.max_in_flight.unwrap() as usize;
    let client = DashboardClient::new(cfg).unwrap();
    assert_eq!(client.list_policies().await.unwrap().len(), 4);
    // The database holds the reference, never the value.
    let snapshot = store.snapshot().await.unwrap();
    let doc = &snapshot.objects[&(Kind::Provider, "tyk".to_string())].doc;
    assert!(!doc.contains(support::SECRET), "{doc}");
}

async fn an_older_provider_row_is_updated_with_its_connection_at_the_next_apply(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    assert_eq!(w.cli(&["apply", "-f", "manifests"]).status.code(), Some(0));
    // What an older portalctl stored: the Provider document without its secret reference.
    let store = w.store().await;
    let lease = store
        .lock("older portalctl", LONG, Duration::ZERO)
        .await
        .unwrap();
    store
        .write(
            &[DbWrite::Upsert {
                kind: Kind::Provider,
                name: "tyk".into(),
                doc: json!({"type": "tyk-pro", "url": w.sim.url(), "policyTags": ["team-apis"]}),
                logo: None,
            }],
            &lease,
        )
        .await
        .unwrap();
    lease.release().await.unwrap();
    let err = store.provider_connections().await.unwrap_err();
    assert!(matches!(err, StoreError::NoConnection { .. }), "{err}");
    assert!(
        err.to_string().contains("run `portalctl apply` once"),
        "{err}"
    );

    // The next plan shows the provider as an update of the reference (never a value).
    let out = w.cli(&["plan", "-f", "manifests"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("~ Provider tyk"), "{text}");
    assert!(text.contains("fromFile"), "{text}");
    assert!(!text.contains(support::SECRET), "{text}");
    assert_eq!(w.cli(&["apply", "-f", "manifests"]).status.code(), Some(0));
    assert_eq!(store.provider_connections().await.unwrap().len(), 1);
}

on_both_backends!(
    a_lease_is_exclusive_and_names_its_holder,
    an_unrenewed_lease_expires_by_the_database_clock_and_another_takes_it,
    a_renewed_lease_outlives_its_lifetime_and_learns_of_a_takeover,
    a_write_fenced_by_a_lost_lease_rolls_back_and_writes_nothing,
    expiring_the_lease_under_a_running_apply_refuses_its_transaction,
    the_state_version_moves_with_every_apply_in_any_process,
    reconcile_runs_are_recorded_and_the_last_one_read_back,
    serve_can_build_dashboard_clients_from_what_apply_stored,
    an_older_provider_row_is_updated_with_its_connection_at_the_next_apply,
);

/// A PostgreSQL server whose clock is an hour ahead of this machine's: lease times are the
/// database's, and holders still agree on expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_times_are_the_database_clock_not_the_machines() {
    use sqlx::Connection;
    let Some(w) = World::new(Backend::Postgres).await else {
        return;
    };
    // Shadow statement_timestamp() for every connection to this database (pg_catalog searched last).
    let mut admin = sqlx::PgConnection::connect(&w.db_url).await.unwrap();
    for sql in [
        "CREATE SCHEMA skew",
        "CREATE FUNCTION skew.statement_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT pg_catalog.statement_timestamp() + interval '1 hour' $$",
        &format!(
            "ALTER DATABASE {} SET search_path = public, skew, pg_catalog",
            w.db_url.rsplit('/').next().unwrap()
        ),
    ] {
        sqlx::query(sql).execute(&mut admin).await.unwrap();
    }
    admin.close().await.unwrap();

    let (a, b) = (w.store().await, w.store().await);
    let lease = a
        .acquire_lease(APPLY_LEASE, "a", Duration::from_secs(2), Duration::ZERO)
        .await
        .unwrap();
    let mut conn = sqlx::PgConnection::connect(&w.db_url).await.unwrap();
    let (acquired_at, expires_at): (i64, i64) =
        sqlx::query_as("SELECT acquired_at, expires_at FROM leases WHERE name = 'apply'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let machine_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        acquired_at - machine_ms > 50 * 60 * 1000,
        "acquired_at {acquired_at} is the machine's clock ({machine_ms}), not the database's"
    );
    assert_eq!(expires_at - acquired_at, 2000);
    // Held, by the database's clock, although its times are an hour from the machine's.
    let holder = b.lease_holder(APPLY_LEASE).await.unwrap().unwrap();
    assert!(!holder.expired && holder.expires_in <= Duration::from_secs(2));
    assert!(b
        .try_acquire_lease(APPLY_LEASE, "b", LONG)
        .await
        .unwrap()
        .is_none());
    // Left to expire (by the database's clock), then taken.
    lease.abandon_for_tests();
    eventually("the expiry by the database's clock", || async {
        b.lease_holder(APPLY_LEASE).await.unwrap().unwrap().expired
    })
    .await;
    let next = b
        .try_acquire_lease(APPLY_LEASE, "b", LONG)
        .await
        .unwrap()
        .expect("the expired lease is free");
    assert_eq!(next.epoch(), 2);
    next.release().await.unwrap();
}

/// Issue 9 item 9: a PostgreSQL server that refuses connections is reported at once, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_postgres_connection_is_reported_at_once_with_its_address() {
    let Some(w) = World::new(Backend::Sqlite).await else {
        return;
    };
    w.write(B2B);
    for command in ["plan", "apply"] {
        let mut child = w
            .command(&[
                command,
                "-f",
                "manifests",
                "--database",
                "postgres://postgres@127.0.0.1:1/x",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A generous deadline that fails instead of hanging (the pool used to retry for 30 s).
        let mut waited = Duration::ZERO;
        while child.try_wait().unwrap().is_none() {
            if waited > Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("portalctl {command} still runs after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += Duration::from_millis(50);
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(
                "cannot open database postgres://postgres@127.0.0.1:1/x: connection refused at 127.0.0.1:1"
            ),
            "{stderr}"
        );
        assert_eq!(stderr.matches("connection refused").count(), 1, "{stderr}");
        assert!(!stderr.contains("timed out"), "{stderr}");
    }
}

/// An in-memory SQLite database is migrated and lives as long as its store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_sqlite_database_is_migrated_and_kept() {
    let store = portalctl::store::Store::connect("sqlite::memory:")
        .await
        .unwrap();
    let lease = store.lock("test", LONG, Duration::ZERO).await.unwrap();
    store
        .write(&[provider_write("http://dashboard.example")], &lease)
        .await
        .unwrap();
    assert_eq!(store.state_version().await.unwrap(), 1);
    assert_eq!(store.provider_connections().await.unwrap().len(), 1);
    lease.release().await.unwrap();
}
