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

/// What the Dashboard's Go decoder refuses, the simulator refuses: `403 Request body malformed.`
/// on policy creates and updates and on key creates, with nothing written.
#[tokio::test]
async fn bodies_are_decoded_as_go_decodes_them() {
    let sim = sim().await;
    let base = sim.url();
    let c = client(&sim);
    let mid = c.create_policy(&policy("target")).await.unwrap();
    let malformed = || (403, error_body("Request body malformed."));
    let refused_policy_bodies = [
        json!({"name": "a", "throttle_retry_limit": -1.0}),
        json!({"name": "a", "quota_max": 1e3}),
        json!({"name": "a", "key_expires_in": 2.592e6}),
        json!({"name": "a", "max_query_depth": "10"}),
        json!({"name": "a", "quota_renewal_rate": true}),
        json!({"name": "a", "rate": "fast"}),
        json!({"name": "a", "active": 1}),
        json!({"name": "a", "meta_data": ["x"]}),
        json!({"name": "a", "tags": ["ok", 2]}),
        json!({"name": "a", "tags": "portalctl:default"}),
        json!({"name": 7}),
        json!({"name": "a", "partitions": {"acl": "yes"}}),
        json!({"name": "a", "access_rights": {"x": {"versions": "Default"}}}),
        json!({"name": "a", "access_rights": {"x": {"allowed_urls": [{"url": "/u", "methods": "GET"}]}}}),
        json!({"name": "a", "access_rights": {"x": {"limit": "none"}}}),
        json!({"name": "a", "access_rights": {"x": {"limit": {"quota_max": -1.0}}}}),
        json!({"name": "a", "QUOTA_MAX": -1.0}),
    ];
    for body in &refused_policy_bodies {
        let text = body.to_string();
        let post = raw(
            reqwest::Method::POST,
            format!("{base}/api/portal/policies"),
            Some(&text),
        )
        .await;
        assert_eq!(post, malformed(), "POST {text}");
        let put = raw(
            reqwest::Method::PUT,
            format!("{base}/api/portal/policies/{mid}"),
            Some(&text),
        )
        .await;
        assert_eq!(put, malformed(), "PUT {text}");
    }
    assert_eq!(sim.policies_json().len(), 1, "nothing was written");
    assert_eq!(c.get_policy(&mid).await.unwrap().unwrap().name, "target");
    // The request log says which field and type, never the value.
    let log = sim.requests();
    let first = log
        .iter()
        .find(|r| r.method == "POST" && r.status == Some(403))
        .unwrap();
    assert_eq!(
        first.error.as_deref(),
        Some("json: cannot unmarshal number -1.0 into Go struct field user.Policy.throttle_retry_limit of type int")
    );

    for body in [
        json!({"expires": 1.718439136e9}),
        json!({"apply_policies": "p"}),
        json!({"apply_policies": [1]}),
        json!({"quota_max": 1.5}),
        json!({"rate": "1"}),
        json!({"meta_data": "x"}),
        json!({"tags": [true]}),
        json!({"alias": 1}),
        json!({"access_rights": {"x": {"versions": "Default"}}}),
    ] {
        let text = body.to_string();
        for url in [
            format!("{base}/api/keys"),
            format!("{base}/api/keys/custom-key-1234"),
        ] {
            assert_eq!(
                raw(reqwest::Method::POST, url.clone(), Some(&text)).await,
                malformed(),
                "POST {url} {text}"
            );
        }
    }
    assert!(sim.key_hashes().is_empty());
}

/// What Go's decoder accepts, the simulator accepts: unknown fields, `null` (read as the zero
/// value), field names in any case; a field left out reads back as Go's zero value.
#[tokio::test]
async fn go_accepts_unknown_fields_nulls_and_any_case() {
    let sim = sim().await;
    let base = sim.url();
    let body = json!({
        "NAME": "any case", "Rate": 2.5, "per": null, "quota_max": null, "active": null,
        "tags": null, "meta_data": null, "access_rights": {"x": {"api_id": "x", "limit": null,
        "versions": null}}, "x_future": {"nested": [1, 2.5]}
    });
    let (status, env) = raw(
        reqwest::Method::POST,
        format!("{base}/api/portal/policies"),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{env}");
    let mid = env["Message"].as_str().unwrap().to_owned();
    let (_, got) = raw(
        reqwest::Method::GET,
        format!("{base}/api/portal/policies/{mid}"),
        None,
    )
    .await;
    assert_eq!(got["name"], "any case");
    assert!(got.get("NAME").is_none(), "stored under its canonical name");
    assert_eq!(got["rate"], 2.5);
    assert_eq!(got["per"], 0);
    assert_eq!(got["quota_max"], 0);
    assert_eq!(got["active"], false);
    assert_eq!(got["tags"], Value::Null);
    assert_eq!(got["throttle_retry_limit"], 0, "left out: Go's zero value");
    assert_eq!(got["state"], "active");
    assert_eq!(got["x_future"], json!({"nested": [1, 2.5]}));
    // And the client reads such a policy.
    let p = client(&sim).get_policy(&mid).await.unwrap().unwrap();
    assert_eq!((p.rate, p.per, p.quota_max), (2.5, 0.0, 0));
    assert!(p.tags.is_empty() && !p.active);
}

/// A foreign integer travels through a read-modify-write as an integer.
#[tokio::test]
async fn a_read_modify_write_gives_back_foreign_integers_as_integers() {
    let sim = sim().await;
    let mut seeded = serde_json::to_value(policy("foreign ints")).unwrap();
    seeded["throttle_retry_limit"] = json!(10);
    seeded["max_query_depth"] = json!(4);
    seeded["smoothing"] =
        json!({"enabled": true, "threshold": 500, "trigger": 0.5, "step": 100, "delay": 30});
    seeded["access_rights"] = json!({"a": {"api_id": "a", "versions": ["Default"],
        "limit": {"quota_max": 100, "quota_renewal_rate": 3600, "rate": 10, "per": 1}}});
    let mid = sim.insert_policy_json(seeded);
    let c = client(&sim);
    assert!(c
        .modify_policy(&mid, |p| p.state = "draft".into())
        .await
        .unwrap());
    let put = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(put.status, Some(200), "{:?}", put.error);
    let body = put.body_json().unwrap();
    assert_eq!(body["throttle_retry_limit"], json!(10));
    assert!(body["throttle_retry_limit"].is_i64());
    assert!(body["smoothing"]["threshold"].is_i64());
    assert!(body["access_rights"]["a"]["limit"]["quota_max"].is_i64());
    assert!(
        !put.body.unwrap().contains(".0"),
        "no integer gained a fraction"
    );
}

#[tokio::test]
async fn the_request_log_records_every_dashboard_request_without_secrets() {
    let sim = sim_with(SimConfig {
        denied_secret: Some("no-permissions".into()),
        ..SimConfig::default()
    })
    .await;
    let c = client(&sim);
    let mid = c.create_policy(&policy("logged")).await.unwrap();
    c.list_policies().await.unwrap();
    let key = SecretString::from("my-very-secret-custom-key-0001");
    let issued = c
        .create_key_with_id(&key, &KeyRequest::default())
        .await
        .unwrap();
    c.get_key(&issued.key_hash).await.unwrap().unwrap();
    c.get_key_by_id(&key).await.unwrap().unwrap();
    client_with_secret(&sim, "no-permissions")
        .delete_policy(&mid)
        .await
        .unwrap_err();
    c.delete_policy(&mid).await.unwrap();

    let log = sim.requests();
    let summary: Vec<(String, String, Option<String>, Option<u16>)> = log
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.query.clone(), r.status))
        .collect();
    let s = |m: &str, p: &str, q: Option<&str>, st: u16| {
        (m.to_owned(), p.to_owned(), q.map(str::to_owned), Some(st))
    };
    assert_eq!(
        summary,
        [
            s("POST", "/api/portal/policies", None, 200),
            s("GET", "/api/portal/policies", Some("p=-2"), 200),
            s("POST", "/api/keys/{key}", None, 200),
            s(
                "GET",
                &format!("/api/keys/{}", issued.key_hash),
                Some("hashed=1"),
                200
            ),
            s("GET", "/api/keys/{key}", None, 200),
            s("DELETE", &format!("/api/portal/policies/{mid}"), None, 403),
            s("DELETE", &format!("/api/portal/policies/{mid}"), None, 200),
        ]
    );
    assert_eq!(log[0].body_json().unwrap()["name"], "logged");
    assert!(log[1].body.is_none());
    assert!(log
        .windows(2)
        .all(|w| w[0].seq < w[1].seq && w[0].start_us <= w[1].start_us));
    assert!(log.iter().all(|r| r.end_us >= r.start_us && r.unix_ms > 0));

    // Over HTTP too, and never the secret or the key.
    let http = reqwest::Client::new();
    let text = http
        .get(format!("{}/_sim/requests?since={}", sim.url(), log[4].seq))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let over_http: Vec<portalctl::tyk::sim::RequestRecord> = serde_json::from_str(&text).unwrap();
    assert_eq!(over_http, log[5..].to_vec());
    let all = serde_json::to_string(&sim.requests()).unwrap();
    for secret in [SECRET, "no-permissions", key.expose_secret()] {
        assert!(!all.contains(secret), "{secret} in the request log");
    }
    http.delete(format!("{}/_sim/requests", sim.url()))
        .send()
        .await
        .unwrap();
    assert!(sim.requests().is_empty());
    assert!(sim.counts().total() > 0, "counts are separate");
}

/// Go's decoder reads `null` as the zero value, so a Dashboard can hold such a policy: it lists.
#[tokio::test]
async fn an_explicit_null_in_a_listed_policy_reads_as_gos_zero_value() {
    let sim = sim().await;
    let mut odd = serde_json::to_value(policy("nulls")).unwrap();
    for field in [
        "rate",
        "per",
        "quota_max",
        "quota_renewal_rate",
        "throttle_interval",
        "throttle_retry_limit",
        "max_query_depth",
        "key_expires_in",
        "active",
        "is_inactive",
        "state",
        "org_id",
    ] {
        odd[field] = Value::Null;
    }
    odd["partitions"] = json!({"acl": null, "quota": true, "rate_limit": null});
    sim.insert_policy_json(odd);
    sim.insert_policy(policy("plain"));
    let listing = client(&sim).list_policies_detailed().await.unwrap();
    assert!(listing.unreadable.is_empty(), "{:?}", listing.unreadable);
    let p = &listing.policies[0];
    assert_eq!((p.rate, p.per, p.throttle_interval), (0.0, 0.0, 0.0));
    assert_eq!(
        (p.quota_max, p.quota_renewal_rate, p.throttle_retry_limit),
        (0, 0, 0)
    );
    assert_eq!((p.max_query_depth, p.key_expires_in), (0, 0));
    assert!(!p.active && !p.is_inactive && !p.partitions.acl && p.partitions.quota);
    assert_eq!(p.state, "");
    assert_eq!(listing.policies[1].name, "plain");
}

/// A foreign policy that cannot be read does not stop the listing: `list_policies_detailed`
/// reports it with what could be read, `list_policies` skips it.
#[tokio::test]
async fn an_unreadable_foreign_policy_is_reported_not_fatal() {
    let sim = sim().await;
    sim.insert_policy(policy("before"));
    let http = reqwest::Client::new();
    // Seeded through the control route, as a script would.
    let seeded: Value = http
        .post(format!("{}/_sim/policies", sim.url()))
        .json(
            &json!({"_id": "5fd202b669710900018bc19c", "id": "fast-one", "name": "Fast",
            "rate": "fast", "tags": ["team-a", 7], "access_rights": {}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seeded["_id"], "5fd202b669710900018bc19c");
    sim.insert_policy_json(json!({"name": "Odd meta", "meta_data": "not an object"}));
    sim.insert_policy_json(json!({"name": 42, "tags": "a-single-tag"}));
    sim.insert_policy(policy("after"));

    let c = client(&sim);
    let listing = c.list_policies_detailed().await.unwrap();
    let names: Vec<&str> = listing.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["before", "after"]);
    assert_eq!(listing.unreadable.len(), 3);
    let fast = &listing.unreadable[0];
    assert_eq!(fast.mid.as_deref(), Some("5fd202b669710900018bc19c"));
    assert_eq!(fast.id.as_deref(), Some("fast-one"));
    assert_eq!(fast.name.as_deref(), Some("Fast"));
    assert_eq!(fast.tags, ["team-a"]);
    assert_eq!(
        fast.error,
        "json: cannot unmarshal string into Go struct field user.Policy.rate of type float64"
    );
    assert!(!fast.may_be_portalctls());
    assert_eq!(
        fast.to_string(),
        "policy \"Fast\" (_id 5fd202b669710900018bc19c, id fast-one) cannot be read: \
         json: cannot unmarshal string into Go struct field user.Policy.rate of type float64"
    );
    assert!(listing.unreadable[1]
        .error
        .contains("user.Policy.meta_data"));
    let nameless = &listing.unreadable[2];
    assert_eq!(nameless.name, None);
    assert_eq!(nameless.tags, ["a-single-tag"]);
    assert!(nameless
        .to_string()
        .starts_with("policy without a readable name (_id "));

    // The plain listing skips them (none may be portalctl's).
    let all = c.list_policies().await.unwrap();
    assert_eq!(all.len(), 2);
}

/// An unreadable policy that carries a `portalctl:` tag could be ours: reconciling without it
/// could duplicate or delete, so `list_policies` names it and stops.
#[tokio::test]
async fn an_unreadable_policy_that_may_be_ours_stops_the_plain_listing() {
    for odd in [
        json!({"name": "Gold", "id": "gold", "tags": ["portalctl:default"], "quota_max": 1.5}),
        json!({"name": "Gold", "id": "gold", "tags": ["portalctl:other-instance"], "active": "yes"}),
        json!({"name": "Gold", "id": "portalctl-default-plan-gold", "tags": "mangled", "rate": []}),
    ] {
        let sim = sim().await;
        sim.insert_policy(policy("fine"));
        let mid = sim.insert_policy_json(odd.clone());
        let c = client(&sim);
        let err = c.list_policies().await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("provider tyk-test: policy \"Gold\" (_id "),
            "{text}"
        );
        assert!(text.contains(&mid), "{text}");
        assert!(text.contains("may be portalctl's"), "{text}");
        let listing = c.list_policies_detailed().await.unwrap();
        assert_eq!(listing.policies.len(), 1);
        assert!(listing.unreadable[0].may_be_portalctls(), "{odd}");
    }
}

#[tokio::test]
async fn unreadable_policies_are_collected_once_across_pages() {
    let sim = sim_with(SimConfig {
        quirks: Quirks {
            page_even_when_p_negative: true,
            ..Quirks::default()
        },
        ..SimConfig::default()
    })
    .await;
    for i in 0..25 {
        if i % 10 == 3 {
            sim.insert_policy_json(json!({"name": format!("odd{i}"), "rate": "x"}));
        } else {
            sim.insert_policy(policy(&format!("p{i:02}")));
        }
    }
    let listing = client(&sim).list_policies_detailed().await.unwrap();
    assert_eq!(listing.policies.len(), 22);
    let odd: Vec<_> = listing
        .unreadable
        .iter()
        .map(|u| u.name.clone().unwrap())
        .collect();
    assert_eq!(odd, ["odd3", "odd13", "odd23"]);
    assert_eq!(sim.counts().get("GET /api/portal/policies"), 3);
}

/// A listing whose envelope is not the documented one is still an error.
#[tokio::test]
async fn a_listing_that_is_not_the_envelope_is_an_error() {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/api/portal/policies",
        get(|| async { axum::Json(json!({"Data": {"not": "a list"}})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut cfg = ClientConfig::new("odd", format!("http://{addr}"), SecretString::from("x"));
    cfg.retry.max_retries = 0;
    let err = DashboardClient::new(cfg)
        .unwrap()
        .list_policies_detailed()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(200));
    assert!(
        err.to_string().starts_with(
            "provider odd: GET /api/portal/policies?p=-2: status 200: unexpected response: "
        ),
        "{err}"
    );
}

/// `POST /api/keys/{key}`: the caller chooses the key, the Dashboard computes its hash; the key
/// reads back by itself and by hash; a second POST with the same key replaces its session (the
/// Gateway's create handler does not check for an existing key).
#[tokio::test]
async fn custom_keys_are_created_with_the_chosen_value() {
    let sim = sim().await;
    let c = client(&sim);
    let mut plan = policy("plan");
    plan.id = "portalctl-default-plan-gold".into();
    plan.tags.push("plan-tag".into());
    plan.key_expires_in = 600;
    c.create_policy(&plan).await.unwrap();
    let key = SecretString::from("c2VjcmV0LWN1c3RvbS1rZXktMDAwMDAx");
    let mut meta = serde_json::Map::new();
    meta.insert("TeamIDs".into(), json!(["t1", "t2"]));
    let req = KeyRequest {
        apply_policies: vec!["portalctl-default-plan-gold".into()],
        meta_data: meta,
        alias: "app-1-req-7".into(),
        tags: vec!["portal-app-1".into()],
        ..KeyRequest::default()
    };
    let issued = c.create_key_with_id(&key, &req).await.unwrap();
    assert_eq!(issued.key_id.expose_secret(), key.expose_secret());
    assert_eq!(sim.key_hashes(), vec![issued.key_hash.clone()]);
    let by_key = c.get_key_by_id(&key).await.unwrap().unwrap();
    let by_hash = c.get_key(&issued.key_hash).await.unwrap().unwrap();
    assert_eq!(by_key, by_hash);
    assert_eq!(by_key.key_hash, issued.key_hash);
    assert_eq!(by_key.alias, "app-1-req-7");
    assert_eq!(by_key.meta_data["TeamIDs"], json!(["t1", "t2"]));
    assert!(by_key.tags.contains(&"plan-tag".to_owned()));
    assert!(by_key.expires > 0, "key_expires_in of the policy applied");
    assert!(!by_key.is_inactive);
    // The body went out with Go types: `expires` an integer, no fraction anywhere.
    let post = sim
        .requests()
        .into_iter()
        .find(|r| r.route == "/api/keys/{key}" && r.method == "POST")
        .unwrap();
    let body = post.body_json().unwrap();
    assert!(body["expires"].is_i64());
    assert!(portalctl::tyk::gojson::decode_session(post.body.unwrap().as_bytes()).is_ok());

    // Again with the same key (a portal recovering an interrupted issuance): the same key.
    let again = c.create_key_with_id(&key, &req).await.unwrap();
    assert_eq!(again.key_hash, issued.key_hash);
    assert_eq!(sim.key_hashes().len(), 1);
    assert!(c
        .get_key_by_id(&SecretString::from("unknown-key-0000"))
        .await
        .unwrap()
        .is_none());
    // A key that cannot be one path segment is refused before any request.
    let err = c
        .create_key_with_id(&SecretString::from("a/b"), &req)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("must not contain '/'"), "{err}");
    c.delete_key(&issued.key_hash).await.unwrap();
    assert!(c.get_key_by_id(&key).await.unwrap().is_none());
}
