//! The `portalctl` binary end to end: exit codes, saved plans, the lock, empty manifest sets,
//! secrets in output, import.

mod support;

use std::time::Duration;

use portalctl::tyk::Policy;
use support::{Backend, World, B2B, SECRET};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn exit_codes_follow_the_spec(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    let out = w.cli(&["plan", "-f", "manifests", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("Plan: 9 to create, 0 to update, 0 to tag, 0 to delete, 0 to retire."),
        "{}",
        text(&out)
    );
    let out = w.cli(&["apply", "-f", "manifests"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Apply complete: 9 changes done."),
        "{}",
        text(&out)
    );

    w.sim.reset_counts();
    let out = w.cli(&["apply", "-f", "manifests"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes"),
        "{}",
        text(&out)
    );
    assert_eq!(w.sim.counts().writes(), 0);
    assert_eq!(
        w.sim.counts().get("GET /api/portal/policies"),
        1,
        "one list call per provider"
    );

    let out = w.cli(&["plan", "-f", "manifests", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plain = w.cli(&["plan", "-f", "manifests"]);
    assert_eq!(plain.status.code(), Some(0));
    let out = w.cli(&["plan", "-f", "manifests", "--target", "kind/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("unknown kind"), "{}", text(&out));

    let plans = B2B[1].1.replace(
        "quota: {requests: 1000, per: 30d}",
        "quota: {requests: 2000, per: 30d}",
    );
    w.write(&[("plans.yaml", &plans)]);
    let out = w.cli(&["plan", "-f", "manifests", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("quota_max: 1000 -> 2000"), "{t}");
    // --target keeps only the named objects' changes.
    let out = w.cli(&[
        "plan",
        "-f",
        "manifests",
        "--target",
        "plan/enterprise",
        "--detailed-exitcode",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "nothing changes for the Enterprise plan: {}",
        text(&out)
    );
    let out = w.cli(&[
        "plan",
        "-f",
        "manifests",
        "--target",
        "plan/free",
        "--detailed-exitcode",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // One edit of one object is one update, with its Dashboard and database effects under it.
    let t = text(&out);
    assert!(t.contains("Plan: 0 to create, 1 to update"), "{t}");
    assert!(
        t.contains("~ Plan free\n    ⚠ widens access: quota raised: 1000 per 30d -> 2000 per 30d (reaches 0 active credentials)\n    Dashboard tyk: ~ update policy \"Free\"\n      quota_max: 1000 -> 2000\n    Database: ~ update\n"),
        "{t}"
    );
    // JSON output is printed whatever the exit code, and parses.
    let out = w.cli(&[
        "plan",
        "-f",
        "manifests",
        "--detailed-exitcode",
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON plan");
    assert_eq!(v["formatVersion"], 1);
    assert_eq!(v["summary"]["update"], 1, "counted by object");
    // JSON keeps one change per target, and the widening on the Dashboard change.
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:#?}");
    assert_eq!(changes[0]["target"], "dashboard");
    assert_eq!(changes[0]["widens"][0]["what"]["type"], "quotaRaised");
    assert_eq!(changes[1]["target"], "database");

    // Invalid manifests: exit 1, nothing read or written.
    w.write(&[(
        "broken.yaml",
        "apiVersion: portalctl/v1\nkind: Plan\nmetadata: {name: Bad_Name}\nspec: {}\n",
    )]);
    w.sim.reset_counts();
    let out = w.cli(&["plan", "-f", "manifests", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(w.sim.counts().total(), 0);
}

async fn saved_plans_apply_exactly_and_refuse_when_stale(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    let out = w.cli(&["plan", "-f", "manifests", "--out", "plan.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let saved = std::fs::read_to_string(w.dir.path().join("plan.json")).unwrap();
    assert!(!saved.contains(SECRET));
    // Editing the manifests after planning does not change what the saved plan applies.
    w.remove("catalogs.yaml");
    let out = w.cli(&["apply", "plan.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(w.store().await.count("catalogs").await.unwrap(), 2);
    // A plan made, then the Dashboard changes behind its back: stale.
    let out = w.cli(&["plan", "-f", "manifests", "--out", "plan2.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut free = w
        .sim
        .policies()
        .into_iter()
        .find(|p| p.id == "portalctl-default-plan-free")
        .unwrap();
    free.rate = 99.0;
    w.sim.insert_policy(free);
    w.sim.reset_counts();
    let out = w.cli(&["apply", "plan2.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("stale plan"), "{}", text(&out));
    assert_eq!(w.sim.counts().writes(), 0);
    // A foreign policy appearing does not make a plan stale.
    let out = w.cli(&["plan", "-f", "manifests", "--out", "plan3.json"]);
    assert_eq!(out.status.code(), Some(0));
    w.sim.insert_policy(Policy {
        name: "Someone else's".into(),
        id: "foreign".into(),
        ..Policy::default()
    });
    let out = w.cli(&["apply", "plan3.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(w.plan().await.is_empty());
}

/// The Dashboard's policies as text, without what the Dashboard sets itself (`_id`, timestamps).
fn dashboard_state(w: &World) -> String {
    let mut policies: Vec<serde_json::Value> = w
        .sim
        .policies()
        .into_iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap();
            let obj = v.as_object_mut().unwrap();
            for own in ["_id", "last_updated", "date_created"] {
                obj.remove(own);
            }
            v
        })
        .collect();
    policies.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    serde_json::to_string_pretty(&policies).unwrap()
}

async fn a_saved_plan_applies_exactly_what_apply_f_does(backend: Backend) {
    // Two identical worlds: one applies a saved plan, the other applies the manifests.
    let mut worlds = Vec::new();
    for _ in 0..2 {
        let Some(w) = World::new(backend).await else {
            return;
        };
        // The Dashboard names the payments API (the manifest does not) and has no accounts-api.
        w.sim.insert_api(
            serde_json::json!({"api_id": "payments-api", "name": "Payments (Dashboard name)", "active": true}),
        );
        w.write(B2B);
        worlds.push(w);
    }
    let (saved, direct) = (&worlds[0], &worlds[1]);
    let out = saved.cli(&["plan", "-f", "manifests", "--out", "plan.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // `plan` checks the APIs as `apply -f` does: the warning shows, and the saved plan carries
    // the api_name apply will set.
    assert!(
        text(&out).contains("provider tyk has no API with id \"accounts-api\""),
        "{}",
        text(&out)
    );
    let file = std::fs::read_to_string(saved.dir.path().join("plan.json")).unwrap();
    assert!(file.contains("Payments (Dashboard name)"), "{file}");
    let out = saved.cli(&["apply", "plan.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = direct.cli(&["apply", "-f", "manifests"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (a, b) = (dashboard_state(saved), dashboard_state(direct));
    assert!(a.contains("Payments (Dashboard name)"), "{a}");
    assert_eq!(
        a, b,
        "the saved plan and apply -f leave the Dashboard the same"
    );
    assert!(saved.plan().await.is_empty() && direct.plan().await.is_empty());
}

async fn a_held_lock_stops_a_second_apply_until_released(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    let store = w.store().await;
    let guard = store
        .lock(
            "ci-runner-7 (pid 4242)",
            Duration::from_secs(30),
            Duration::ZERO,
        )
        .await
        .unwrap();
    w.sim.reset_counts();
    let out = w.cli(&["apply", "-f", "manifests"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("ci-runner-7 (pid 4242)"),
        "{}",
        text(&out)
    );
    assert_eq!(w.sim.counts().writes(), 0);
    // With --lock-timeout it waits for the holder to finish.
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        guard.release().await.unwrap();
    });
    let out = w.cli(&["apply", "-f", "manifests", "--lock-timeout", "20s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    release.await.unwrap();
}

async fn two_applies_at_once_one_proceeds_the_other_names_the_holder(backend: Backend) {
    let Some(w) = World::with_sim(
        backend,
        portalctl::tyk::sim::SimConfig {
            latency: Duration::from_millis(100),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    w.write(B2B);
    let first = w
        .command(&["apply", "-f", "manifests"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = first.id();
    w.wait_for_lock().await;
    let second = w.cli(&["apply", "-f", "manifests"]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert!(
        text(&second).contains(&format!("(pid {pid})")),
        "names the holder: {}",
        text(&second)
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert!(w.plan().await.is_empty());
}

async fn a_killed_apply_leaves_a_lock_that_expires(backend: Backend) {
    let Some(w) = World::with_sim(
        backend,
        portalctl::tyk::sim::SimConfig {
            latency: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    w.write(B2B);
    let mut child = w
        .command(&["apply", "-f", "manifests"])
        .env("PORTALCTL_LOCK_LEASE", "2s")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it holds the lock, then kill it.
    w.wait_for_lock().await;
    let store = w.store().await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        store
            .lease_holder(portalctl::store::APPLY_LEASE)
            .await
            .unwrap()
            .is_some(),
        "the dead run's lock is still there"
    );
    let out = w.cli(&["apply", "-f", "manifests", "--lock-timeout", "30s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(w.plan().await.is_empty());
}

async fn an_empty_manifest_set_is_refused(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    assert_eq!(w.cli(&["apply", "-f", "manifests"]).status.code(), Some(0));
    std::fs::create_dir_all(w.dir.path().join("empty")).unwrap();
    w.sim.reset_counts();
    let out = w.cli(&["apply", "-f", "empty"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--allow-empty"), "{}", text(&out));
    assert_eq!(w.sim.counts().writes(), 0);
}

async fn secrets_never_appear_in_output_or_logs(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    let mut all = String::new();
    for args in [
        &["plan", "-f", "manifests", "-vv"][..],
        &[
            "plan",
            "-f",
            "manifests",
            "--output",
            "json",
            "--log-format",
            "json",
            "-vv",
        ],
        &["plan", "-f", "manifests", "--output", "markdown"],
        &["apply", "-f", "manifests", "-vv"],
        &["apply", "-f", "manifests", "--output", "json", "-vv"],
    ] {
        let out = w.cli(args);
        all.push_str(&text(&out));
    }
    // A wrong secret: the Dashboard answers 401; the error must not echo either secret.
    std::fs::write(&w.secret_file, "wrong-secret-Zq9\n").unwrap();
    let out = w.cli(&["plan", "-f", "manifests", "-vv"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("401") || t.contains("Not authorised"), "{t}");
    assert!(!t.contains("wrong-secret-Zq9"), "{t}");
    all.push_str(&t);
    assert!(
        all.contains("portalctl-default-plan-free"),
        "the runs did produce output"
    );
    assert!(!all.contains(SECRET), "secret leaked:\n{all}");
}

async fn import_writes_manifests_that_plan_only_tags(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let mut gold = Policy {
        name: "Gold Plan".into(),
        id: "gold-1".into(),
        rate: 50.0,
        per: 1.0,
        quota_max: 10000,
        quota_renewal_rate: 86400,
        key_expires_in: 3600,
        active: true,
        ..Policy::default()
    };
    gold.partitions.rate_limit = true;
    gold.partitions.quota = true;
    gold.tags = vec!["team-apis".into()];
    gold.meta_data
        .insert("tier".into(), serde_json::json!("gold"));
    w.sim.insert_policy(gold);
    let mut orders: Policy = serde_json::from_value(serde_json::json!({
        "name": "Orders API", "id": "orders-1", "tags": ["team-apis", "other"], "active": true,
        "partitions": {"acl": true, "quota": false, "rate_limit": false, "complexity": false, "per_api": false},
        "access_rights": {"orders": {"api_id": "orders", "api_name": "Orders", "versions": ["Default"], "allowed_urls": [{"url": "/orders", "methods": ["GET"]}]}}
    }))
    .unwrap();
    orders
        .extra
        .insert("graphql_enabled".into(), serde_json::json!(false));
    w.sim.insert_policy(orders);
    w.sim.insert_policy(Policy {
        name: "Untagged".into(),
        id: "untagged".into(),
        ..Policy::default()
    });
    w.write(&[]);
    let out = w.cli(&[
        "import",
        "-f",
        "manifests",
        "--provider",
        "tyk",
        "--out",
        "manifests/imported",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let m = w.manifests().join("imported");
    let plan_yaml = std::fs::read_to_string(m.join("plans/gold-plan.yaml")).unwrap();
    assert!(
        plan_yaml.contains("id: gold-1") && plan_yaml.contains("per: 1d"),
        "{plan_yaml}"
    );
    assert!(m.join("products/orders-api.yaml").exists());
    assert!(!m.join("products/untagged.yaml").exists() && !m.join("plans/untagged.yaml").exists());
    let out = w.cli(&["validate", "-f", "manifests"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = w.plan().await;
    let dash: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.target == portalctl::reconcile::Target::Dashboard)
        .collect();
    assert_eq!(dash.len(), 2, "{:#?}", plan.changes);
    for c in dash {
        assert_eq!(c.action, portalctl::reconcile::Action::Tag);
        assert_eq!(c.fields.len(), 1, "only the tags change: {:?}", c.fields);
        assert_eq!(c.fields[0].path, "tags");
    }
    // Importing again finds nothing new once applied.
    assert!(w.apply().await.1.is_success());
    let out = w.cli(&[
        "import",
        "-f",
        "manifests",
        "--provider",
        "tyk",
        "--out",
        "manifests/imported2",
    ]);
    assert!(text(&out).contains("Imported 0 policies"), "{}", text(&out));
}

on_both_backends!(
    exit_codes_follow_the_spec,
    saved_plans_apply_exactly_and_refuse_when_stale,
    a_saved_plan_applies_exactly_what_apply_f_does,
    a_held_lock_stops_a_second_apply_until_released,
    two_applies_at_once_one_proceeds_the_other_names_the_holder,
    a_killed_apply_leaves_a_lock_that_expires,
    an_empty_manifest_set_is_refused,
    secrets_never_appear_in_output_or_logs,
    import_writes_manifests_that_plan_only_tags,
);
