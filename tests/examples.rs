//! `apply -f examples/b2b` on an empty simulator: exactly the expected policies and rows, then a
//! second apply that writes nothing, and `plan --detailed-exitcode` 0 then 2 after an edit.

mod support;

use std::path::Path;

use support::{Backend, World};

/// Copies `examples/b2b` into the world, pointing its Provider at the simulator.
fn copy_example(w: &World) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/b2b");
    let dst = w.manifests();
    copy_dir(&src, &dst);
    let provider = dst.join("provider.yaml");
    let text = std::fs::read_to_string(&provider).unwrap();
    let text = text
        .replace(
            "url: http://localhost:3000",
            &format!("url: {}", w.sim.url()),
        )
        .replace(
            "fromEnv: TYK_DASHBOARD_SECRET",
            &format!("fromFile: {}", w.secret_file.display()),
        );
    std::fs::write(provider, text).unwrap();
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

async fn applying_the_b2b_example(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    copy_example(&w);
    let out = w.cli(&["apply", "-f", "manifests"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Apply complete"), "{text}");

    let mut policies = w.sim.policies();
    policies.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<&str> = policies.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "portalctl-default-plan-enterprise",
            "portalctl-default-plan-free",
            "portalctl-default-product-accounts-api",
            "portalctl-default-product-payment-api",
        ]
    );
    for p in &policies {
        assert_eq!(p.tags, ["b2b-portal", "portalctl:default"], "{}", p.id);
        assert!(p.active && p.state == "active");
    }
    let free = &policies[1];
    assert_eq!(
        (free.rate, free.per, free.quota_max, free.quota_renewal_rate),
        (10.0, 60.0, 1000, 2_592_000)
    );
    assert_eq!(free.key_expires_in, 90 * 86_400);
    assert!(free.partitions.rate_limit && free.partitions.quota && !free.partitions.acl);
    let enterprise = &policies[0];
    assert_eq!(
        (enterprise.rate, enterprise.per, enterprise.quota_max),
        (1000.0, 1.0, -1)
    );
    assert!(enterprise.partitions.rate_limit && !enterprise.partitions.quota);
    assert_eq!(enterprise.key_expires_in, 0);
    assert_eq!(enterprise.meta_data["tier"], "enterprise");
    let payments = &policies[3];
    assert!(payments.partitions.acl && !payments.partitions.rate_limit);
    assert_eq!((payments.rate, payments.quota_max), (-1.0, -1));
    let access = &payments.access_rights["payments"];
    assert_eq!(access.api_name, "Payments");
    assert_eq!(access.versions, ["Default"]);
    assert_eq!(access.allowed_urls.len(), 2);
    assert_eq!(access.allowed_urls[0].methods, ["GET", "POST"]);

    let store = w.store().await;
    for (table, n) in [
        ("providers", 1),
        ("products", 2),
        ("plans", 2),
        ("catalogs", 2),
        ("organisations", 1),
        ("teams", 2),
        ("policy_refs", 4),
    ] {
        assert_eq!(store.count(table).await.unwrap(), n, "{table}");
    }

    w.sim.reset_counts();
    let out = w.cli(&["apply", "-f", "manifests"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No changes"));
    let counts = w.sim.counts();
    assert_eq!(
        (counts.writes(), counts.get("GET /api/portal/policies")),
        (0, 1),
        "{counts:?}"
    );
    assert_eq!(
        w.cli(&["plan", "-f", "manifests", "--detailed-exitcode"])
            .status
            .code(),
        Some(0)
    );

    let plans = w.manifests().join("plans.yaml");
    let text = std::fs::read_to_string(&plans)
        .unwrap()
        .replace("requests: 10, per: 1m", "requests: 12, per: 1m");
    std::fs::write(plans, text).unwrap();
    let out = w.cli(&["plan", "-f", "manifests", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("rate: 10 -> 12"));
}

on_both_backends!(applying_the_b2b_example);
