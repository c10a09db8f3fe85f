//! Every body portalctl sends to a Dashboard decodes as the Dashboard's Go types decode it.
//!
//! The reconciler runs through its real code paths (create, product and plan update, tag of an
//! adopted policy, retire, release, delete) and the client issues keys, all against the strict
//! simulator; the simulator's request log gives back every body sent, and each one is checked
//! again with `gojson` (an integer field holds an integer, a tag is a string, …). And the other
//! way round: a Dashboard holding a policy with `null`s or with a value that does not decode does
//! not stop the reconciler unless the policy may be its own. On SQLite and PostgreSQL.

mod support;

use portalctl::reconcile::{Action, Target};
use portalctl::tyk::gojson;
use portalctl::tyk::sim::RequestRecord;
use portalctl::tyk::{ClientConfig, DashboardClient, KeyRequest};
use secrecy::SecretString;
use serde_json::{json, Value};
use support::{Backend, World, SECRET};

const PRODUCTS: &str = r#"apiVersion: portalctl/v1
kind: Product
metadata:
  name: accounts
spec:
  provider: tyk
  displayName: Accounts API
  apis:
    - apiId: accounts-api
      name: Accounts
      versions: [Default, v2]
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
  apis:
    - apiId: payments-api
"#;

const PLANS: &str = r#"apiVersion: portalctl/v1
kind: Plan
metadata:
  name: free
spec:
  provider: tyk
  displayName: Free
  rateLimit: {requests: 10, per: 1s}
  quota: {requests: 1000, per: 30d}
  keyExpiry: 90d
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
  credentialMetadata: {tier: enterprise}
---
apiVersion: portalctl/v1
kind: Plan
metadata:
  name: adopted
spec:
  provider: tyk
  displayName: Adopted
  rateLimit: {requests: 5, per: 1m}
  quota: {requests: 100, per: 1d}
  policy: {id: hand-made}
"#;

const CATALOG: &str = r#"apiVersion: portalctl/v1
kind: Catalog
metadata:
  name: public
spec:
  displayName: Public
  visibility: public
  products: [accounts, payments]
  plans: [free, enterprise, adopted]
"#;

/// A policy someone made by hand, with fields of every Go type portalctl does not own: it must
/// come back from a read-modify-write exactly as it was, integers as integers.
fn hand_made() -> Value {
    json!({
        "_id": "5fd202b669710900018bc19c", "id": "hand-made", "name": "Hand made",
        "org_id": "5fd08e0f69710900018bc195",
        "rate": 2.5, "per": 1, "quota_max": -1, "quota_renewal_rate": -1,
        "throttle_interval": 10, "throttle_retry_limit": 10, "max_query_depth": 4,
        "access_rights": {"legacy-api": {"api_id": "legacy-api", "api_name": "Legacy",
            "versions": ["Default"], "allowed_urls": [{"url": "/legacy/.*", "methods": ["GET", "POST"]}],
            "restricted_types": [], "allowance_scope": "",
            "limit": {"rate": 100, "per": 60, "quota_max": 5000, "quota_renewal_rate": 3600,
                      "throttle_retry_limit": 3, "max_query_depth": 2}}},
        "partitions": {"acl": false, "quota": true, "rate_limit": true, "complexity": false, "per_api": false},
        "tags": ["legacy"], "meta_data": {"owner": "ops", "weight": 3, "ratio": 0.25},
        "key_expires_in": 0, "active": true, "is_inactive": false, "state": "active",
        "hmac_enabled": false, "last_updated": "1607598779",
        "date_created": "2020-12-10T11:12:54.263Z", "auth_type": "authToken",
        "smoothing": {"enabled": true, "threshold": 500, "trigger": 0.5, "step": 100, "delay": 30}
    })
}

/// The writes since `seq` (requests with a body), after checking each against the Go types.
fn checked_writes(w: &World, seq: u64) -> Vec<RequestRecord> {
    let writes: Vec<RequestRecord> = w
        .sim
        .requests_since(seq)
        .into_iter()
        .filter(|r| r.body.is_some())
        .collect();
    for r in &writes {
        let body = r.body.as_deref().unwrap();
        assert_eq!(
            r.status,
            Some(200),
            "{} {} was refused ({:?}): {body}",
            r.method,
            r.path,
            r.error
        );
        let decoded = if r.route.starts_with("/api/keys") {
            gojson::decode_session(body.as_bytes())
        } else {
            gojson::decode_policy(body.as_bytes())
        };
        if let Err(e) = decoded {
            panic!("{} {}: {e}: {body}", r.method, r.path);
        }
    }
    writes
}

fn last_seq(w: &World) -> u64 {
    w.sim.requests().last().map_or(0, |r| r.seq)
}

fn routes(writes: &[RequestRecord]) -> Vec<String> {
    let mut r: Vec<String> = writes.iter().map(RequestRecord::route_key).collect();
    r.sort();
    r
}

/// The PUT body sent for the policy with this `id`.
fn put_for(writes: &[RequestRecord], id: &str) -> Value {
    writes
        .iter()
        .filter(|r| r.method == "PUT")
        .filter_map(RequestRecord::body_json)
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("no PUT for {id}"))
}

async fn every_body_decodes_as_the_dashboard_decodes_it(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.sim.insert_policy_json(hand_made());

    // Create: four policies (two products, two plans), and the tag of the adopted one.
    w.write(&[
        ("products.yaml", PRODUCTS),
        ("plans.yaml", PLANS),
        ("catalog.yaml", CATALOG),
    ]);
    let seq = last_seq(&w);
    let (plan, report) = w.apply().await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    let tag = plan
        .changes
        .iter()
        .find(|c| c.name == "adopted" && c.target == Target::Dashboard)
        .unwrap();
    assert_eq!(tag.action, Action::Tag);
    let writes = checked_writes(&w, seq);
    assert_eq!(
        routes(&writes),
        [
            "POST /api/portal/policies",
            "POST /api/portal/policies",
            "POST /api/portal/policies",
            "POST /api/portal/policies",
            "PUT /api/portal/policies/{id}",
        ]
    );
    let tagged = put_for(&writes, "hand-made");
    // What portalctl owns changed; every other field went back as it was read.
    assert_eq!(
        tagged["tags"],
        json!(["legacy", "team-apis", "portalctl:default"])
    );
    assert_eq!(tagged["rate"], json!(5));
    assert_eq!(tagged["per"], json!(60));
    let original = hand_made();
    for field in [
        "throttle_interval",
        "throttle_retry_limit",
        "max_query_depth",
        "access_rights",
        "smoothing",
        "last_updated",
        "date_created",
        "auth_type",
    ] {
        assert_eq!(tagged[field], original[field], "{field}");
    }
    assert!(tagged["throttle_retry_limit"].is_i64());
    assert!(tagged["access_rights"]["legacy-api"]["limit"]["quota_max"].is_i64());
    assert_eq!(tagged["meta_data"]["weight"], json!(3));
    assert!(tagged["meta_data"]["weight"].is_i64());
    for create in writes.iter().filter(|r| r.method == "POST") {
        let body = create.body_json().unwrap();
        assert!(body["throttle_retry_limit"].is_i64(), "{body}");
        assert!(body["quota_max"].is_i64() && body["key_expires_in"].is_i64());
    }

    // Product and plan updates: a path and a version, a rate limit.
    let products = PRODUCTS
        .replace("url: /accounts", "url: /accounts/v2")
        .replace("[Default, v2]", "[Default]");
    let plans = PLANS.replace(
        "rateLimit: {requests: 10, per: 1s}",
        "rateLimit: {requests: 20, per: 1s}",
    );
    w.write(&[("products.yaml", &products), ("plans.yaml", &plans)]);
    let seq = last_seq(&w);
    let (_, report) = w.apply().await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    let writes = checked_writes(&w, seq);
    assert_eq!(
        routes(&writes),
        [
            "PUT /api/portal/policies/{id}",
            "PUT /api/portal/policies/{id}"
        ]
    );
    let free = put_for(&writes, "portalctl-default-plan-free");
    assert_eq!(free["rate"], json!(20));
    assert!(
        free["rate"].is_i64(),
        "a whole float goes out as Go writes it"
    );
    let accounts = put_for(&writes, "portalctl-default-product-accounts");
    assert_eq!(
        accounts["access_rights"]["accounts-api"]["allowed_urls"],
        json!([{"url": "/accounts/v2", "methods": ["GET"]}])
    );

    // Keys, as the portal issues them, on the plan and product policies.
    let client = DashboardClient::new(ClientConfig::new(
        "tyk",
        w.sim.url(),
        SecretString::from(SECRET),
    ))
    .unwrap();
    let mut meta = serde_json::Map::new();
    meta.insert("DeveloperID".into(), json!("dev-1"));
    meta.insert("ApplicationID".into(), json!("app-1"));
    meta.insert("OrganisationID".into(), json!("org-1"));
    meta.insert("TeamIDs".into(), json!(["team-1"]));
    let req = KeyRequest {
        apply_policies: vec![
            "portalctl-default-product-accounts".into(),
            "portalctl-default-plan-enterprise".into(),
        ],
        meta_data: meta,
        alias: "app-1-req-1".into(),
        tags: vec!["portal-app-app-1".into(), "portal-org-org-1".into()],
        expires: 1_900_000_000,
        org_id: None,
    };
    let seq = last_seq(&w);
    client.create_key(&req).await.unwrap();
    client
        .create_key_with_id(&SecretString::from("chosen-key-0123456789abcdef"), &req)
        .await
        .unwrap();
    let writes = checked_writes(&w, seq);
    assert_eq!(routes(&writes), ["POST /api/keys", "POST /api/keys/{key}"]);
    for k in &writes {
        let body = k.body_json().unwrap();
        assert_eq!(body["expires"], json!(1_900_000_000));
        assert!(body["expires"].is_i64());
    }

    // Retire (enterprise has a credential), release (adopted), delete (free).
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
    let plans: String = plans
        .split("---")
        .next()
        .unwrap()
        .replace("name: free", "name: free2")
        .replace("displayName: Free", "displayName: Free 2");
    let catalog = CATALOG.replace("[free, enterprise, adopted]", "[free2]");
    w.write(&[("plans.yaml", &plans), ("catalog.yaml", &catalog)]);
    let seq = last_seq(&w);
    let (plan, report) = w.apply().await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    let action = |name: &str| {
        plan.changes
            .iter()
            .find(|c| c.name == name && c.target == Target::Dashboard)
            .unwrap()
            .action
    };
    assert_eq!(action("enterprise"), Action::Retire);
    assert_eq!(action("free"), Action::Delete);
    assert_eq!(action("free2"), Action::Create);
    let writes = checked_writes(&w, seq);
    assert_eq!(
        routes(&writes),
        [
            "POST /api/portal/policies",
            "PUT /api/portal/policies/{id}",
            "PUT /api/portal/policies/{id}",
        ]
    );
    assert_eq!(
        put_for(&writes, "portalctl-default-plan-enterprise")["state"],
        "draft"
    );
    let released = put_for(&writes, "hand-made");
    assert_eq!(released["tags"], json!(["legacy", "team-apis"]));
    assert_eq!(released["throttle_retry_limit"], json!(10));
    assert_eq!(released["smoothing"], hand_made()["smoothing"]);
    let deletes = w
        .sim
        .requests_since(seq)
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 1, "the free plan's policy");

    // Nothing was ever refused, from the first request to the last.
    let refused: Vec<_> = w
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.status.is_none_or(|s| s >= 400))
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
    assert!(w.plan().await.is_empty());
}

/// `apply -f examples/b2b` through the CLI: every body it sends is checked too.
async fn the_b2b_example_sends_only_bodies_go_decodes(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/b2b");
    copy_dir(&src, &w.manifests());
    let provider = w.manifests().join("provider.yaml");
    let text = std::fs::read_to_string(&provider)
        .unwrap()
        .replace(
            "url: http://localhost:3000",
            &format!("url: {}", w.sim.url()),
        )
        .replace(
            "fromEnv: TYK_DASHBOARD_SECRET",
            &format!("fromFile: {}", w.secret_file.display()),
        );
    std::fs::write(provider, text).unwrap();
    let out = w.cli(&["apply", "-f", "manifests"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let writes = checked_writes(&w, 0);
    assert_eq!(
        writes.len(),
        4,
        "four policies created: {:?}",
        routes(&writes)
    );
}

/// One odd foreign policy does not stop everything: `null`s read as zero values, a policy that
/// cannot be read is skipped; only one that may be portalctl's stops the plan, named.
async fn odd_foreign_policies_do_not_stop_the_reconciler(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.sim.insert_policy_json(json!({
        "name": "Nulls", "id": "nulls", "rate": null, "quota_max": null, "active": null,
        "tags": null, "partitions": null
    }));
    w.sim
        .insert_policy_json(json!({"name": "Fast", "id": "fast", "rate": "fast", "tags": ["x"]}));
    w.write(&[
        ("products.yaml", PRODUCTS),
        ("plans.yaml", PLANS.split("---").next().unwrap()),
        (
            "catalog.yaml",
            &CATALOG.replace("[free, enterprise, adopted]", "[free]"),
        ),
    ]);
    let (_, report) = w.apply().await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    assert_eq!(
        w.sim.policies_json().len(),
        2 + 3,
        "both odd ones untouched"
    );
    let untouched = w
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .all(|r| !r.path.ends_with("/nulls") && !r.path.ends_with("/fast"));
    assert!(untouched);
    assert!(w.plan().await.is_empty());

    // A policy that cannot be read and carries our tag could be ours: the plan stops, naming it.
    let mid = w.sim.insert_policy_json(json!({
        "name": "Maybe ours", "id": "maybe", "tags": ["portalctl:default"], "quota_max": 1.5
    }));
    let (reconciler, desired) = w.reconciler().await;
    let err = reconciler
        .plan(&desired, &portalctl::reconcile::PlanOptions::default())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("\"Maybe ours\"") && text.contains(&mid) && text.contains("quota_max"),
        "{text}"
    );
}

fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
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

on_both_backends!(
    every_body_decodes_as_the_dashboard_decodes_it,
    the_b2b_example_sends_only_bodies_go_decodes,
    odd_foreign_policies_do_not_stop_the_reconciler
);
