//! Contract tests: the Dashboard client against the simulator, endpoint by endpoint, including
//! pagination, `Data: null`, unknown fields and every documented error body.

use std::time::Duration;

use portalctl::tyk::sim::{self, Quirks, Seed, SimConfig, SimHandle};
use portalctl::tyk::{
    AccessDefinition, ClientConfig, DashboardClient, KeyRequest, Partitions, Policy, RetryPolicy,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

const SECRET: &str = "contract-secret";

async fn sim_with(cfg: SimConfig) -> SimHandle {
    sim::spawn(SimConfig {
        secret: SECRET.into(),
        ..cfg
    })
    .await
    .unwrap()
}

async fn sim() -> SimHandle {
    sim_with(SimConfig::default()).await
}

fn client_with_secret(sim: &SimHandle, secret: &str) -> DashboardClient {
    let mut cfg = ClientConfig::new("tyk-test", sim.url(), SecretString::from(secret.to_owned()));
    cfg.retry = RetryPolicy {
        max_retries: 2,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
    };
    DashboardClient::new(cfg).unwrap()
}

fn client(sim: &SimHandle) -> DashboardClient {
    client_with_secret(sim, SECRET)
}

fn policy(name: &str) -> Policy {
    Policy {
        name: name.into(),
        active: true,
        tags: vec!["portalctl:default".into()],
        ..Policy::default()
    }
}

fn product_policy(name: &str, id: &str) -> Policy {
    let mut p = policy(name);
    p.id = id.into();
    p.partitions = Partitions {
        acl: true,
        ..Partitions::default()
    };
    p.access_rights.insert(
        "payments-v1".into(),
        AccessDefinition {
            api_id: "payments-v1".into(),
            api_name: "Payments API".into(),
            versions: vec!["Default".into()],
            ..AccessDefinition::default()
        },
    );
    p
}

/// A plain request, as a naive client would send it.
async fn raw(method: reqwest::Method, url: String, body: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, url)
        .header("authorization", SECRET);
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn error_body(message: &str) -> Value {
    json!({"Status": "Error", "Message": message, "Meta": null})
}

#[tokio::test]
async fn listing_sees_all_25_policies_where_a_naive_first_page_sees_10() {
    let sim = sim().await;
    for i in 0..25 {
        sim.insert_policy(policy(&format!("p{i:02}")));
    }
    let (status, naive) = raw(
        reqwest::Method::GET,
        format!("{}/api/portal/policies", sim.url()),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(naive["Data"].as_array().unwrap().len(), 10);
    assert_eq!(naive["Pages"], 3);
    let (_, page3) = raw(
        reqwest::Method::GET,
        format!("{}/api/portal/policies/?p=3", sim.url()),
        None,
    )
    .await;
    assert_eq!(page3["Data"].as_array().unwrap().len(), 5);

    sim.reset_counts();
    let all = client(&sim).list_policies().await.unwrap();
    assert_eq!(all.len(), 25);
    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names[0], "p00");
    assert_eq!(names[24], "p24");
    let counts = sim.counts();
    assert_eq!(
        counts.get("GET /api/portal/policies"),
        1,
        "exactly one list call"
    );
    assert_eq!(counts.writes(), 0);
}

#[tokio::test]
async fn an_empty_listing_is_data_null_and_reads_as_no_policies() {
    let sim = sim().await;
    let (_, body) = raw(
        reqwest::Method::GET,
        format!("{}/api/portal/policies?p=-2", sim.url()),
        None,
    )
    .await;
    assert_eq!(body["Data"], Value::Null);
    assert!(client(&sim).list_policies().await.unwrap().is_empty());
}

#[tokio::test]
async fn missing_pages_and_unknown_fields_are_tolerated_and_kept() {
    let mut seeded = serde_json::to_value(product_policy("seeded", "seeded-id")).unwrap();
    seeded["smoothing"] = json!({"enabled": true, "threshold": 500});
    seeded["access_rights"]["payments-v1"]["limit"] = Value::Null;
    seeded["tags"] = Value::Null;
    let sim = sim_with(SimConfig {
        quirks: Quirks {
            omit_pages: true,
            extra_fields: true,
            ..Quirks::default()
        },
        seed: Some(Seed {
            apis: vec![],
            policies: vec![seeded],
        }),
        ..SimConfig::default()
    })
    .await;
    let all = client(&sim).list_policies().await.unwrap();
    assert_eq!(all.len(), 1);
    let p = &all[0];
    assert!(p.tags.is_empty(), "null tags read as empty");
    assert_eq!(p.extra["smoothing"]["threshold"], 500);
    assert!(p.extra.contains_key("x_future_field"));
    assert_eq!(p.access_rights["payments-v1"].extra["limit"], Value::Null);
}

#[tokio::test]
async fn a_dashboard_that_pages_p_minus_2_is_walked_page_by_page() {
    let sim = sim_with(SimConfig {
        quirks: Quirks {
            page_even_when_p_negative: true,
            ..Quirks::default()
        },
        ..SimConfig::default()
    })
    .await;
    for i in 0..25 {
        sim.insert_policy(policy(&format!("p{i:02}")));
    }
    let all = client(&sim).list_policies().await.unwrap();
    assert_eq!(all.len(), 25);
    assert_eq!(sim.counts().get("GET /api/portal/policies"), 3);
}

#[tokio::test]
async fn policy_create_get_update_delete() {
    let sim = sim().await;
    let c = client(&sim);

    // Create: the new _id comes back in Message; id defaults to _id.
    let mid = c.create_policy(&policy("plain")).await.unwrap();
    assert_eq!(mid.len(), 24);
    assert!(mid.chars().all(|ch| ch.is_ascii_hexdigit()));
    let got = c.get_policy(&mid).await.unwrap().unwrap();
    assert_eq!(got.id, mid);
    assert_eq!(got.org_id, sim::DEFAULT_ORG_ID);
    assert!(got.extra.contains_key("last_updated"));

    // A custom id (with a slash, as base64 ids have) works in paths.
    let custom = c
        .create_policy(&product_policy("product", "cGF5/bWVudHM="))
        .await
        .unwrap();
    let by_id = c.get_policy("cGF5/bWVudHM=").await.unwrap().unwrap();
    assert_eq!(by_id.mid, custom);
    assert_eq!(by_id.access_rights["payments-v1"].versions, ["Default"]);

    // Update: PUT of the whole object, as read.
    let mut changed = by_id.clone();
    changed.state = "draft".into();
    c.update_policy(&by_id.id, &changed).await.unwrap();
    assert_eq!(c.get_policy(&custom).await.unwrap().unwrap().state, "draft");

    // Read-modify-write: no write when nothing differs, fields we do not touch survive.
    sim.reset_counts();
    assert!(!c.modify_policy(&custom, |_| {}).await.unwrap());
    assert_eq!(sim.counts().writes(), 0);
    assert!(c
        .modify_policy(&custom, |p| p.tags.push("extra".into()))
        .await
        .unwrap());
    assert_eq!(sim.counts().get("PUT /api/portal/policies/{id}"), 1);
    let after = c.get_policy(&custom).await.unwrap().unwrap();
    assert_eq!(after.state, "draft");
    assert_eq!(after.tags, ["portalctl:default", "extra"]);

    // Lookup helpers.
    let found = c.find_policy("", "plain").await.unwrap().unwrap();
    assert_eq!(found.mid, mid);
    assert!(c.find_policy("nope", "nope").await.unwrap().is_none());

    // Delete, then it is gone; deleting again is NotFound with the Dashboard's message.
    c.delete_policy(&mid).await.unwrap();
    assert!(c.get_policy(&mid).await.unwrap().is_none());
    let err = c.delete_policy(&mid).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.dashboard_message(),
        Some("Could not retrieve object for deletion")
    );
    assert_eq!(c.list_policies().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_duplicate_name_is_a_400_naming_provider_method_path_and_message() {
    let sim = sim().await;
    let c = client(&sim);
    c.create_policy(&policy("gold")).await.unwrap();
    let err = c.create_policy(&policy("gold")).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_ambiguous());
    let text = err.to_string();
    assert_eq!(
        text,
        "provider tyk-test: POST /api/portal/policies: status 400: \
         This policy name has already been used. Enter a unique policy name."
    );
    // create_policy_once does not paper over a clear refusal either.
    assert_eq!(
        c.create_policy_once(&policy("gold"))
            .await
            .unwrap_err()
            .status(),
        Some(400)
    );
    assert_eq!(sim.policies().len(), 1);
}

#[tokio::test]
async fn documented_error_bodies() {
    let sim = sim_with(SimConfig {
        denied_secret: Some("no-permissions".into()),
        ..SimConfig::default()
    })
    .await;
    let base = sim.url();

    // 401 with a wrong secret, through the client and raw.
    let err = client_with_secret(&sim, "wrong")
        .list_policies()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.dashboard_message(), Some("Not authorised"));
    let (status, body) = reqwest::Client::new()
        .get(format!("{base}/api/portal/policies"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 401);
    assert_eq!(
        body.json::<Value>().await.unwrap(),
        error_body("Not authorised")
    );

    // 403 for a user without permission.
    let err = client_with_secret(&sim, "no-permissions")
        .list_policies()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert_eq!(
        err.dashboard_message(),
        Some("access denied: You do not have permission to access  /api/portal/policies")
    );

    // 403 for a malformed body (yes, 403).
    let (status, body) = raw(
        reqwest::Method::POST,
        format!("{base}/api/portal/policies"),
        Some("{not json"),
    )
    .await;
    assert_eq!((status, body), (403, error_body("Request body malformed.")));

    // 404s for unknown ids: GET and PUT, then DELETE.
    let (status, body) = raw(
        reqwest::Method::GET,
        format!("{base}/api/portal/policies/000000000000000000000000"),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, error_body("Could not retrieve portal object."))
    );
    let c = client(&sim);
    let err = c.update_policy("unknown", &policy("x")).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.dashboard_message(),
        Some("Could not retrieve portal object.")
    );
    let (status, body) = raw(
        reqwest::Method::DELETE,
        format!("{base}/api/portal/policies/unknown"),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, error_body("Could not retrieve object for deletion"))
    );
    let (status, body) = raw(
        reqwest::Method::GET,
        format!("{base}/api/keys/unknown?hashed=1"),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, error_body("Could not retrieve key detail."))
    );

    // Success envelopes.
    let mid = c.create_policy(&policy("x")).await.unwrap();
    let (status, body) = raw(
        reqwest::Method::DELETE,
        format!("{base}/api/portal/policies/{mid}"),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"Status": "OK", "Message": "Data deleted", "Meta": null})
        )
    );
}

#[tokio::test]
async fn keys_are_issued_read_by_hash_and_revoked() {
    let sim = sim().await;
    let c = client(&sim);
    let mut plan = policy("free-plan");
    plan.id = "portalctl-default-plan-free".into();
    plan.tags.push("plan-tag".into());
    plan.meta_data.insert("tier".into(), json!("free"));
    plan.key_expires_in = 3600;
    c.create_policy(&plan).await.unwrap();

    let mut meta = serde_json::Map::new();
    meta.insert("DeveloperID".into(), json!("dev-1"));
    meta.insert("ApplicationID".into(), json!("app-1"));
    let req = KeyRequest {
        apply_policies: vec!["portalctl-default-plan-free".into()],
        meta_data: meta,
        alias: "app-1-req-1".into(),
        tags: vec!["portal-app-app-1".into(), "portal-org-acme".into()],
        ..KeyRequest::default()
    };
    let issued = c.create_key(&req).await.unwrap();
    assert!(!issued.key_id.expose_secret().is_empty());
    assert!(!format!("{issued:?}").contains(issued.key_id.expose_secret()));

    let info = c.get_key(&issued.key_hash).await.unwrap().unwrap();
    assert_eq!(info.key_hash, issued.key_hash);
    assert_eq!(info.alias, "app-1-req-1");
    assert_eq!(info.apply_policies, ["portalctl-default-plan-free"]);
    assert_eq!(info.meta_data["DeveloperID"], "dev-1");
    assert_eq!(info.meta_data["tier"], "free", "policy meta data merged");
    assert!(
        info.tags.contains(&"plan-tag".to_owned()),
        "policy tags merged"
    );
    assert!(info.tags.contains(&"portal-org-acme".to_owned()));
    assert_eq!(sim.key_hashes(), vec![issued.key_hash.clone()]);

    // The raw answer by hash does not show the key.
    let (_, body) = raw(
        reqwest::Method::GET,
        format!("{}/api/keys/{}?hashed=1", sim.url(), issued.key_hash),
        None,
    )
    .await;
    assert!(!body.to_string().contains(issued.key_id.expose_secret()));
    assert!(body["data"]["expires"].as_i64().unwrap() > 0);

    c.delete_key(&issued.key_hash).await.unwrap();
    assert!(c.get_key(&issued.key_hash).await.unwrap().is_none());
    c.delete_key(&issued.key_hash)
        .await
        .expect("deleting a key already gone is fine");
    let counts = sim.counts();
    assert_eq!(counts.get("POST /api/keys"), 1);
    assert_eq!(counts.get("DELETE /api/keys/{key}"), 2);
}

#[tokio::test]
async fn apis_are_listed_from_the_lowercase_envelope() {
    let sim = sim_with(SimConfig {
        seed: Some(Seed::example()),
        ..SimConfig::default()
    })
    .await;
    for i in 0..12 {
        sim.insert_api(
            json!({"api_id": format!("extra-{i}"), "name": format!("Extra {i}"),
            "active": false, "proxy": {"listen_path": format!("/extra-{i}/")}}),
        );
    }
    let (_, naive) = raw(
        reqwest::Method::GET,
        format!("{}/api/apis", sim.url()),
        None,
    )
    .await;
    assert_eq!(naive["apis"].as_array().unwrap().len(), 10);
    assert_eq!(naive["pages"], 2);

    sim.reset_counts();
    let apis = client(&sim).list_apis().await.unwrap();
    assert_eq!(apis.len(), 15);
    assert_eq!(apis[0].api_id, "payments-v1");
    assert_eq!(apis[0].name, "Payments API");
    assert!(apis[0].active);
    assert_eq!(apis[0].listen_path.as_deref(), Some("/payments/"));
    assert_eq!(sim.counts().get("GET /api/apis"), 1);
}

#[tokio::test]
async fn control_endpoints_work_without_the_secret_and_are_not_counted() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let base = sim.url();
    client(&sim).create_policy(&policy("a")).await.unwrap();

    let faults = json!({"error_500": 0.5, "seed": 3});
    let r = http
        .put(format!("{base}/_sim/faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let got: Value = http
        .get(format!("{base}/_sim/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["error_500"], 0.5);
    assert_eq!(got["seed"], 3);
    http.put(format!("{base}/_sim/faults"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();

    let policies: Value = http
        .get(format!("{base}/_sim/policies"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(policies.as_array().unwrap().len(), 1);

    let counts: Value = http
        .get(format!("{base}/_sim/counts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        counts,
        json!({"by_route": {"POST /api/portal/policies": 1}})
    );
    http.delete(format!("{base}/_sim/counts"))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.counts().total(), 0);
}

#[tokio::test]
async fn state_is_saved_on_shutdown_and_loaded_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let cfg = || SimConfig {
        state_file: Some(state.clone()),
        ..SimConfig::default()
    };
    let first = sim_with(cfg()).await;
    let mid = client(&first).create_policy(&policy("kept")).await.unwrap();
    first.shutdown().await;
    assert!(state.exists());

    let second = sim_with(cfg()).await;
    let got = client(&second).get_policy(&mid).await.unwrap().unwrap();
    assert_eq!(got.name, "kept");
    // The name index came back too.
    assert_eq!(
        client(&second)
            .create_policy(&policy("kept"))
            .await
            .unwrap_err()
            .status(),
        Some(400)
    );
    second.shutdown().await;
}

#[test]
fn from_provider_resolves_secrets_and_defaults() {
    use portalctl::desired::{Provider, Source};
    use portalctl::manifest::kinds::{Name, ProviderSpec, ProviderType, SecretRef};

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.txt");
    std::fs::write(&file, "file-secret-value\n").unwrap();
    let spec = ProviderSpec {
        provider_type: ProviderType::TykPro,
        url: "http://127.0.0.1:1".into(),
        secret: SecretRef::FromFile(file.clone()),
        org_id: Some("org1".into()),
        gateway_url: None,
        policy_tags: vec![],
        insecure_skip_verify: false,
        timeout: Some(portalctl::manifest::kinds::Duration::parse("5s").unwrap()),
        max_in_flight: Some(2),
    };
    let mut provider = Provider {
        name: Name::parse("tyk").unwrap(),
        spec,
        source: Source {
            file: "p.yaml".into(),
            line: 1,
        },
    };
    let cfg = ClientConfig::from_provider(&provider).unwrap();
    assert_eq!(cfg.secret.expose_secret(), "file-secret-value");
    assert_eq!(cfg.max_in_flight, 2);
    assert_eq!(cfg.timeout, Duration::from_secs(5));
    assert_eq!(cfg.org_id.as_deref(), Some("org1"));
    assert!(!format!("{cfg:?}").contains("file-secret-value"));

    provider.spec.secret = SecretRef::FromEnv("PORTALCTL_TEST_UNSET_VARIABLE_XYZ".into());
    provider.spec.timeout = None;
    provider.spec.max_in_flight = None;
    let err = ClientConfig::from_provider(&provider).unwrap_err();
    assert_eq!(
        err.to_string(),
        "provider tyk: cannot read the Dashboard secret: \
         environment variable PORTALCTL_TEST_UNSET_VARIABLE_XYZ is not set"
    );
    provider.spec.secret = SecretRef::FromFile(dir.path().join("missing.txt"));
    let err = ClientConfig::from_provider(&provider).unwrap_err();
    assert!(err.to_string().contains("missing.txt"));
}

#[test]
fn defaults_are_60s_and_4_in_flight() {
    let cfg = ClientConfig::new("p", "http://x", SecretString::from("s"));
    assert_eq!(cfg.timeout, Duration::from_secs(60));
    assert_eq!(cfg.max_in_flight, 4);
    assert_eq!(cfg.retry, RetryPolicy::default());
    assert_eq!(cfg.retry.max_retries, 5);
    let err = DashboardClient::new(ClientConfig::new("p", "ftp://x", SecretString::from("s")))
        .unwrap_err();
    assert!(err
        .to_string()
        .starts_with("provider p: invalid Dashboard url"));
}
