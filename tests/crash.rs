//! Crash safety and faults: an apply killed with SIGKILL at 20 points, and applies against a
//! Dashboard failing 30% of requests, always converge with no duplicate policy.

mod support;

use std::time::{Duration, Instant};

use portalctl::tyk::sim::{Faults, SimConfig};
use support::{many, Backend, World};

const PRODUCTS: usize = 120;
const PLANS: usize = 120;

fn slow_sim() -> SimConfig {
    SimConfig {
        latency: Duration::from_millis(2),
        ..SimConfig::default()
    }
}

/// Waits until the simulator has seen `writes` writes (or the child ended), then SIGKILLs it.
async fn kill_after(w: &World, child: &mut std::process::Child, writes: u64, extra: Duration) {
    let start = Instant::now();
    while w.sim.counts().writes() < writes && start.elapsed() < Duration::from_secs(60) {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(extra).await;
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

async fn converge(w: &World) {
    // The killed run's lease (1 s) must run out first: --lock-timeout waits for it.
    let out = w.cli(&["apply", "-f", "manifests", "--yes", "--lock-timeout", "30s"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    w.assert_no_duplicates();
    let plan = w.plan().await;
    assert!(
        plan.is_empty(),
        "not converged: {:#?}",
        plan.changes
            .iter()
            .map(|c| (c.action, c.kind, &c.name))
            .collect::<Vec<_>>()
    );
}

async fn sigkill_at_twenty_points_always_converges(backend: Backend) {
    // Twelve kills while creating ~490 objects (policies, then the database transaction).
    let total_creates = (PRODUCTS + PLANS) as u64;
    for k in 0..12u64 {
        let Some(w) = World::with_sim(backend, slow_sim()).await else {
            return;
        };
        w.write_owned(&many(PRODUCTS, PLANS, 10));
        let mut child = w.spawn_cli(&["apply", "-f", "manifests", "--yes"]);
        let (at, extra) = match k {
            // Points spread over the Dashboard creates, then just after the last one (during
            // the database transaction).
            0..=9 => (k * total_creates / 10, Duration::ZERO),
            _ => (total_creates, Duration::from_millis(5 * (k - 9))),
        };
        kill_after(&w, &mut child, at, extra).await;
        converge(&w).await;
        assert_eq!(w.sim.policies().len(), PRODUCTS + PLANS);
        assert_eq!(
            w.store().await.count("products").await.unwrap(),
            PRODUCTS as i64
        );
    }
    // Eight kills while updating half the plans and removing 60 products and 60 plans.
    for k in 0..8u64 {
        let Some(w) = World::with_sim(backend, slow_sim()).await else {
            return;
        };
        w.write_owned(&many(PRODUCTS, PLANS, 10));
        converge(&w).await;
        w.write_owned(&many(PRODUCTS - 60, PLANS - 60, 20));
        w.sim.reset_counts();
        let mut child = w.spawn_cli(&["apply", "-f", "manifests", "--yes"]);
        let writes = (PLANS - 60 + 120) as u64;
        kill_after(&w, &mut child, k * writes / 8, Duration::from_millis(k)).await;
        converge(&w).await;
        assert_eq!(w.sim.policies().len(), PRODUCTS + PLANS - 120);
        assert_eq!(
            w.store().await.count("plans").await.unwrap(),
            (PLANS - 60) as i64
        );
        assert!(w
            .sim
            .policies()
            .iter()
            .filter(|p| p.id.contains("-plan-"))
            .all(|p| p.rate == 20.0));
    }
}

async fn thirty_percent_faults_converge_without_duplicates(backend: Backend) {
    let faults = Faults {
        error_500: 0.1,
        error_429: 0.08,
        retry_after: Some(0),
        drop_before: 0.04,
        drop_after_write: 0.08,
        seed: Some(42),
        ..Faults::default()
    };
    let Some(w) = World::with_sim(
        backend,
        SimConfig {
            faults: faults.clone(),
            ..SimConfig::default()
        },
    )
    .await
    else {
        return;
    };
    w.write_owned(&many(60, 60, 10));
    let mut runs = 0;
    loop {
        runs += 1;
        let out = w.cli(&["apply", "-f", "manifests", "--yes"]);
        w.assert_no_duplicates();
        if out.status.code() == Some(0) {
            break;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
        assert!(
            stdout.contains("Apply failed:") || stderr.contains("cannot list"),
            "{stdout}{stderr}"
        );
        assert!(runs < 10, "no convergence after 10 runs:\n{stdout}{stderr}");
    }
    w.sim.set_faults(Faults::default());
    assert!(w.plan().await.is_empty());
    assert_eq!(w.sim.policies().len(), 120);

    // Every write failing: the run exits 1 and says what was done, what failed, what was blocked.
    w.write_owned(&many(62, 60, 11));
    w.sim.set_faults(Faults {
        error_500: 1.0,
        writes_only: true,
        ..Faults::default()
    });
    let out = w.cli(&["apply", "-f", "manifests", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Apply failed:") && stdout.contains("failed:  create Product product-60"),
        "{stdout}"
    );
    assert!(
        stdout.contains("blocked: create Product product-60 (database)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("blocked: update Catalog everything (database)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("500"),
        "the Dashboard's status is in the report: {stdout}"
    );
    w.sim.set_faults(Faults::default());
    converge(&w).await;
}

on_both_backends!(
    sigkill_at_twenty_points_always_converges,
    thirty_percent_faults_converge_without_duplicates
);
