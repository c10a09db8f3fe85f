//! The reconciler against the Dashboard simulator and a real database (SQLite and PostgreSQL):
//! creation, idempotence, field-level updates, ownership, retirement.

mod support;

use std::time::Duration;

use portalctl::reconcile::apply::Outcome;
use portalctl::reconcile::{release_lock, take_lock, Action, ReconcileError, RunOptions, Target};
use portalctl::tyk::sim::Faults;
use portalctl::tyk::Policy;
use serde_json::json;
use support::{Backend, World, B2B};

fn find<'a>(policies: &'a [Policy], id: &str) -> &'a Policy {
    policies
        .iter()
        .find(|p| p.id == id)
        .unwrap_or_else(|| panic!("no policy {id}"))
}

async fn first_apply_creates_then_second_is_a_no_op(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    // The Dashboard knows the payments API (whose manifest gives no name) but not accounts-api.
    w.sim.insert_api(
        json!({"api_id": "payments-api", "name": "Payments (Dashboard name)", "active": true}),
    );
    w.write(B2B);
    let (plan, report) = w.apply().await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(
        plan.warnings[0].contains("no API with id \"accounts-api\""),
        "{:?}",
        plan.warnings
    );
    let dash: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.target == Target::Dashboard)
        .collect();
    assert_eq!(dash.len(), 4);
    assert!(dash.iter().all(|c| c.action == Action::Create));

    let policies = w.sim.policies();
    assert_eq!(
        policies.len(),
        4,
        "exactly the four policies: {policies:#?}"
    );
    let tags = vec!["team-apis".to_string(), "portalctl:default".to_string()];

    let accounts = find(&policies, "portalctl-default-product-accounts");
    assert_eq!(accounts.name, "Accounts API");
    assert!(
        accounts.partitions.acl && !accounts.partitions.quota && !accounts.partitions.rate_limit
    );
    assert_eq!(
        (accounts.rate, accounts.per, accounts.quota_max),
        (-1.0, -1.0, -1)
    );
    let ar = &accounts.access_rights["accounts-api"];
    assert_eq!(ar.api_name, "Accounts");
    assert_eq!(ar.versions, vec!["Default".to_string()]);
    assert_eq!(ar.allowed_urls[0].url, "/accounts");
    assert_eq!(accounts.tags, tags);
    assert_eq!(accounts.state, "active");
    assert!(accounts.active);

    let payments = find(&policies, "portalctl-default-product-payments");
    assert_eq!(
        payments.access_rights["payments-api"].api_name, "Payments (Dashboard name)",
        "filled from the API list"
    );

    let free = find(&policies, "portalctl-default-plan-free");
    assert_eq!((free.rate, free.per), (10.0, 1.0));
    assert_eq!(
        (free.quota_max, free.quota_renewal_rate),
        (1000, 30 * 86400)
    );
    assert!(!free.partitions.acl && free.partitions.quota && free.partitions.rate_limit);
    assert!(free.access_rights.is_empty());
    assert_eq!(free.key_expires_in, 0);

    let ent = find(&policies, "portalctl-default-plan-enterprise");
    assert_eq!((ent.quota_max, ent.quota_renewal_rate), (-1, -1));
    assert!(!ent.partitions.quota && ent.partitions.rate_limit);
    assert_eq!(ent.key_expires_in, 365 * 86400);
    assert_eq!(ent.meta_data["tier"], json!("enterprise"));

    let store = w.store().await;
    for (table, n) in [
        ("providers", 1),
        ("products", 2),
        ("plans", 2),
        ("catalogs", 2),
        ("catalog_products", 3),
        ("catalog_plans", 2),
        ("catalog_audiences", 1),
        ("organisations", 1),
        ("teams", 1),
        ("policy_refs", 4),
    ] {
        assert_eq!(store.count(table).await.unwrap(), n, "rows in {table}");
    }
    assert_eq!(
        store.memberships("bob@b2b.example").await.unwrap(),
        vec![
            ("b2b-customer".to_string(), "admins".to_string()),
            ("b2b-customer".to_string(), "all-users".to_string())
        ]
    );

    w.sim.reset_counts();
    let plan = w.plan().await;
    assert!(plan.is_empty(), "second plan: {:#?}", plan.changes);
    let (_, report) = w.apply().await;
    assert!(report.outcomes.is_empty());
    let counts = w.sim.counts();
    assert_eq!(counts.writes(), 0, "{counts:?}");
    assert_eq!(
        counts.get("GET /api/portal/policies"),
        2,
        "one listing per plan: {counts:?}"
    );
}

async fn rate_limit_edit_changes_one_field_and_keeps_foreign_fields(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    assert!(w.apply().await.1.is_success());

    // Someone sets fields portalctl does not own, on the Dashboard.
    let mut free = find(&w.sim.policies(), "portalctl-default-plan-free").clone();
    free.extra.insert("graphql_enabled".into(), json!(true));
    free.max_query_depth = 7;
    free.meta_data.insert("owner".into(), json!("ops"));
    w.sim.insert_policy(free);

    let plans = B2B[1].1.replace(
        "rateLimit: {requests: 10, per: 1s}",
        "rateLimit: {requests: 20, per: 1s}",
    );
    w.write(&[("plans.yaml", &plans)]);
    let plan = w.plan().await;
    let dash: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.target == Target::Dashboard)
        .collect();
    assert_eq!(dash.len(), 1, "{:#?}", plan.changes);
    assert_eq!(dash[0].action, Action::Update);
    assert_eq!(dash[0].name, "free");
    let fields: Vec<_> = dash[0]
        .fields
        .iter()
        .map(|f| (f.path.as_str(), f.before.clone(), f.after.clone()))
        .collect();
    assert_eq!(fields, vec![("rate", Some(json!(10)), Some(json!(20)))]);
    // The database row of the plan changes too (its rateLimit), nothing else.
    let db: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.target == Target::Database)
        .collect();
    assert_eq!(db.len(), 1);
    assert_eq!(db[0].fields.len(), 1);
    assert_eq!(db[0].fields[0].path, "rateLimit");

    w.sim.reset_counts();
    let (_, report) = w.apply().await;
    assert!(report.is_success());
    let counts = w.sim.counts();
    assert_eq!(counts.get("PUT /api/portal/policies/{id}"), 1, "{counts:?}");
    assert_eq!(counts.writes(), 1, "{counts:?}");
    let free = find(&w.sim.policies(), "portalctl-default-plan-free").clone();
    assert_eq!(free.rate, 20.0);
    assert_eq!(free.max_query_depth, 7);
    assert_eq!(free.extra.get("graphql_enabled"), Some(&json!(true)));
    assert_eq!(
        free.meta_data.get("owner"),
        Some(&json!("ops")),
        "meta_data keys we did not write are kept"
    );
    assert!(w.plan().await.is_empty());
}

async fn foreign_policies_are_never_written_and_name_clashes_are_conflicts(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    // A policy someone else made, with the name our Free plan would create.
    let foreign = Policy {
        name: "Free".into(),
        id: "hand-made".into(),
        rate: 5.0,
        per: 1.0,
        ..Policy::default()
    };
    w.sim.insert_policy(foreign.clone());
    let other = Policy {
        name: "Unrelated".into(),
        id: "other".into(),
        ..Policy::default()
    };
    w.sim.insert_policy(other);
    w.write(B2B);
    let plan = w.plan().await;
    assert_eq!(plan.errors.len(), 1, "{:?}", plan.errors);
    let msg = &plan.errors[0].message;
    assert!(
        msg.contains("\"Free\"") && msg.contains("hand-made") && msg.contains("policy.name"),
        "{msg}"
    );
    // The CLI refuses to apply a plan with errors and writes nothing.
    w.sim.reset_counts();
    let out = w.cli(&["apply", "-f", "manifests", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(w.sim.counts().writes(), 0);
    // Adopting it is the way out: then the adopted policy is tagged and its limits owned.
    let plans = B2B[1].1.replace(
        "  autoApprove: true\n",
        "  autoApprove: true\n  policy: {id: hand-made}\n",
    );
    w.write(&[("plans.yaml", &plans)]);
    let plan = w.plan().await;
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let tag = plan
        .changes
        .iter()
        .find(|c| c.name == "free" && c.target == Target::Dashboard)
        .unwrap();
    assert_eq!(tag.action, Action::Tag);
    assert!(w.apply().await.1.is_success());
    let after: Vec<_> = w.sim.policies();
    let adopted = find(&after, "hand-made");
    assert_eq!(adopted.rate, 10.0);
    assert!(adopted.tags.contains(&"portalctl:default".to_string()));
    let untouched = find(&after, "other");
    assert!(untouched.tags.is_empty() && untouched.name == "Unrelated");
    assert_eq!(after.len(), 5, "3 created + adopted + unrelated");
    assert!(w.plan().await.is_empty());
}

async fn removal_retires_with_credentials_and_deletes_without(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    assert!(w.apply().await.1.is_success());
    let store = w.store().await;
    store
        .insert_credential(&portalctl::store::NewCredential {
            id: "cred-1".into(),
            app_id: "app-1".into(),
            provider: "tyk".into(),
            plan: "enterprise".into(),
            products: vec!["accounts".into()],
            key_hash: "hash-1".into(),
        })
        .await
        .unwrap();
    // Remove the Enterprise plan and the accounts product (both used by cred-1) and the Free plan.
    let plans = B2B[1]
        .1
        .split("---")
        .next()
        .unwrap()
        .replace("name: free", "name: free2")
        .replace("displayName: Free", "displayName: Free 2");
    let products = B2B[0].1.split("---").nth(1).unwrap().to_owned();
    let catalogs = B2B[2]
        .1
        .replace("plans: [free]", "plans: [free2]")
        .replace("products: [accounts, payments]", "products: [payments]")
        .replace("plans: [enterprise]", "plans: [free2]");
    w.write(&[
        ("plans.yaml", &plans),
        ("products.yaml", &products),
        ("catalogs.yaml", &catalogs),
    ]);
    let plan = w.plan().await;
    let find_change = |kind: &str, name: &str, target: Target| {
        plan.changes
            .iter()
            .find(|c| c.kind.as_str() == kind && c.name == name && c.target == target)
            .unwrap_or_else(|| panic!("{kind} {name} {target:?} in {:#?}", plan.changes))
    };
    assert_eq!(
        find_change("Plan", "enterprise", Target::Dashboard).action,
        Action::Retire
    );
    assert_eq!(
        find_change("Plan", "enterprise", Target::Database).action,
        Action::Retire
    );
    assert_eq!(
        find_change("Plan", "enterprise", Target::Dashboard)
            .impact
            .unwrap()
            .active_credentials,
        1
    );
    assert_eq!(
        find_change("Product", "accounts", Target::Dashboard).action,
        Action::Retire
    );
    assert_eq!(
        find_change("Plan", "free", Target::Dashboard).action,
        Action::Delete
    );
    assert_eq!(
        find_change("Plan", "free", Target::Database).action,
        Action::Delete
    );
    assert_eq!(
        find_change("Plan", "free2", Target::Dashboard).action,
        Action::Create
    );
    assert!(
        plan.summary.line()
            == "Plan: 1 to create, 2 to update, 0 to tag, 1 to delete, 2 to retire.",
        "{}",
        plan.summary.line()
    );

    assert!(w.apply().await.1.is_success());
    let policies = w.sim.policies();
    assert_eq!(
        find(&policies, "portalctl-default-plan-enterprise").state,
        "draft"
    );
    assert!(policies
        .iter()
        .all(|p| p.id != "portalctl-default-plan-free"));
    assert!(
        w.plan().await.is_empty(),
        "retired objects stay retired quietly"
    );

    // --revoke-retired revokes the key, then deletes.
    let plan = w.plan_with(true).await;
    let ent = plan
        .changes
        .iter()
        .find(|c| c.name == "enterprise" && c.target == Target::Dashboard)
        .unwrap();
    assert_eq!(ent.action, Action::Delete);
    assert_eq!(ent.impact.unwrap().revoked_credentials, 1);
    let (_, report) = w.apply_with(true).await;
    // The simulator has no key "hash-1": deleting a key that is already gone counts as revoked.
    assert!(
        report.outcomes.iter().all(|o| *o == Outcome::Done),
        "{:?}",
        report.outcomes
    );
    assert!(w
        .sim
        .policies()
        .iter()
        .all(|p| p.id != "portalctl-default-plan-enterprise"));
    assert_eq!(store.count("credentials").await.unwrap(), 1);
    assert!(
        store.snapshot().await.unwrap().credentials.is_empty(),
        "the credential is revoked"
    );
    assert!(w.plan().await.is_empty());
}

/// `Reconciler::run_once`, what the continuous loop will call: a typed outcome, and a typed error
/// that says whether retrying can help.
async fn run_once_returns_a_typed_outcome_and_retryable_errors(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.write(B2B);
    let (reconciler, desired) = w.reconciler().await;
    let lock = take_lock(
        &reconciler.store,
        "test",
        Duration::from_secs(30),
        Duration::ZERO,
    )
    .await
    .unwrap();
    let opts = RunOptions::default();

    // Every Dashboard write fails with a 500: incomplete, and worth retrying.
    w.sim.set_faults(Faults {
        error_500: 1.0,
        writes_only: true,
        ..Faults::default()
    });
    let err = reconciler
        .run_once(&desired, &opts, &lock)
        .await
        .expect_err("every write fails");
    assert!(err.is_retryable(), "{err}");
    let ReconcileError::Incomplete(outcome) = &err else {
        panic!("{err}");
    };
    let (_, failed, blocked) = outcome.report.counts();
    assert!(failed == 4 && blocked > 0, "{:?}", outcome.report.outcomes);
    assert!(err.to_string().contains("status 500"), "{err}");

    // The Dashboard recovers: the next run converges, and the one after has nothing to do.
    w.sim.set_faults(Faults::default());
    let outcome = reconciler.run_once(&desired, &opts, &lock).await.unwrap();
    assert!(!outcome.plan.is_empty() && outcome.report.is_success());
    let outcome = reconciler.run_once(&desired, &opts, &lock).await.unwrap();
    assert!(outcome.plan.is_empty() && outcome.report.outcomes.is_empty());

    // A plan error is not retryable, and nothing is written.
    w.sim.insert_policy(Policy {
        name: "Gold".into(),
        id: "someone-elses-gold".into(),
        ..Policy::default()
    });
    let gold = "---\napiVersion: portalctl/v1\nkind: Plan\nmetadata: {name: gold}\nspec: {provider: tyk, displayName: Gold, rateLimit: unlimited, quota: unlimited}\n";
    w.write(&[("gold.yaml", gold)]);
    let (_, desired) = w.reconciler().await;
    w.sim.reset_counts();
    let err = reconciler
        .run_once(&desired, &opts, &lock)
        .await
        .expect_err("name clash");
    assert!(
        matches!(err, ReconcileError::Plan { .. }) && !err.is_retryable(),
        "{err}"
    );
    assert_eq!(w.sim.counts().writes(), 0);
    release_lock(lock).await;
}

on_both_backends!(
    run_once_returns_a_typed_outcome_and_retryable_errors,
    first_apply_creates_then_second_is_a_no_op,
    rate_limit_edit_changes_one_field_and_keeps_foreign_fields,
    foreign_policies_are_never_written_and_name_clashes_are_conflicts,
    removal_retires_with_credentials_and_deletes_without,
);
