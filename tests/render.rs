//! Snapshot tests of plan rendering (text, markdown, JSON) for a plan that creates, updates,
//! tags, deletes and retires. Regenerate with `UPDATE_EXPECT=1 cargo test --test render`.

mod support;

use expect_test::expect_file;
use portalctl::reconcile::render;
use portalctl::store::NewCredential;
use portalctl::tyk::Policy;
use support::{Backend, World, B2B};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_renderings_match_snapshots() {
    let Some(w) = World::new(Backend::Sqlite).await else {
        return;
    };
    w.write(B2B);
    assert!(w.apply().await.1.is_success());
    w.store()
        .await
        .insert_credential(&NewCredential {
            id: "cred-1".into(),
            app_id: "app-1".into(),
            provider: "tyk".into(),
            plan: "enterprise".into(),
            products: vec!["payments".into()],
            key_hash: "hash-1".into(),
        })
        .await
        .unwrap();
    w.sim.insert_policy(Policy {
        name: "Legacy Gold".into(),
        id: "legacy-gold".into(),
        rate: 1.0,
        per: 1.0,
        ..Policy::default()
    });
    // Free gets a higher rate limit; Enterprise is removed (it has a credential: retired); a
    // Gold plan adopts an existing policy; the accounts product gets a description and content.
    let plans = B2B[1].1.split("---").next().unwrap().replace("requests: 10, per: 1s", "requests: 25, per: 1s").to_owned()
        + "---\napiVersion: portalctl/v1\nkind: Plan\nmetadata:\n  name: gold\nspec:\n  provider: tyk\n  displayName: Gold\n  rateLimit: {requests: 100, per: 1s}\n  quota: unlimited\n  policy: {id: legacy-gold}\n";
    let catalogs = B2B[2].1.replace("plans: [enterprise]", "plans: [gold]");
    let products = B2B[0].1.replace(
        "description: Accounts for trusted partners",
        "description: Accounts for our trusted partners",
    );
    w.write(&[
        ("plans.yaml", &plans),
        ("catalogs.yaml", &catalogs),
        ("products.yaml", &products),
    ]);
    let plan = w.plan().await;

    let mids: Vec<(String, String)> = w
        .sim
        .policies()
        .into_iter()
        .map(|p| (p.mid, p.id))
        .collect();
    let normalize = |s: String| {
        let mut s = s
            .replace(&w.sim.url(), "http://SIMULATOR")
            .replace(&w.dir.path().display().to_string(), "/TMP");
        s = s.replace(&plan.fingerprint, "<fingerprint>");
        for (mid, id) in &mids {
            s = s.replace(mid.as_str(), &format!("<_id of {id}>"));
        }
        s
    };
    expect_file!["snapshots/plan.txt"].assert_eq(&normalize(render::text(&plan, false)));
    expect_file!["snapshots/plan.md"].assert_eq(&normalize(render::markdown(&plan)));
    expect_file!["snapshots/plan.json"].assert_eq(&normalize(render::json(&plan)));
}
