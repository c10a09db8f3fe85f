//! The client under injected faults: retries to success for idempotent calls, a clear error when
//! retries run out, and no duplicate policy when a POST fails ambiguously.

use std::collections::BTreeSet;
use std::time::Duration;

use portalctl::tyk::sim::{self, Faults, SimConfig, SimHandle};
use portalctl::tyk::{ClientConfig, DashboardClient, KeyRequest, Policy, RetryPolicy};
use secrecy::SecretString;

const SECRET: &str = "fault-secret";

async fn sim_with(faults: Faults) -> SimHandle {
    sim::spawn(SimConfig {
        secret: SECRET.into(),
        faults,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn client_cfg(sim: &SimHandle, max_retries: u32) -> ClientConfig {
    let mut cfg = ClientConfig::new("flaky", sim.url(), SecretString::from(SECRET));
    cfg.retry = RetryPolicy {
        max_retries,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(4),
    };
    cfg
}

fn client(sim: &SimHandle, max_retries: u32) -> DashboardClient {
    DashboardClient::new(client_cfg(sim, max_retries)).unwrap()
}

fn policy(name: &str) -> Policy {
    Policy {
        name: name.into(),
        active: true,
        tags: vec!["portalctl:default".into()],
        ..Policy::default()
    }
}

/// 30% of requests fail: 10% 500, 10% 429 (half with Retry-After: 0), 10% dropped unanswered.
fn thirty_percent(seed: u64) -> Faults {
    Faults {
        error_500: 0.10,
        error_429: 0.10,
        retry_after: Some(0),
        drop_before: 0.10,
        seed: Some(seed),
        ..Faults::default()
    }
}

#[tokio::test]
async fn idempotent_calls_retry_to_success_with_30_percent_faults() {
    let sim = sim_with(Faults::default()).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(sim.insert_policy(policy(&format!("p{i:02}"))));
    }
    sim.set_faults(thirty_percent(7));
    let c = client(&sim, 6);
    for _ in 0..10 {
        assert_eq!(c.list_policies().await.unwrap().len(), 25);
    }
    for id in &ids[..10] {
        let mut p = c.get_policy(id).await.unwrap().unwrap();
        p.state = "draft".into();
        c.update_policy(id, &p).await.unwrap();
    }
    for id in &ids[10..15] {
        c.delete_policy(id).await.unwrap();
    }
    assert_eq!(c.list_apis().await.unwrap().len(), 0);
    let counts = sim.counts();
    assert!(
        counts.total() > 10 + 10 + 10 + 5 + 1,
        "faults were met and retried: {counts:?}"
    );
    sim.set_faults(Faults::default());
    let left = sim.policies();
    assert_eq!(left.len(), 20);
    assert_eq!(left.iter().filter(|p| p.state == "draft").count(), 10);
}

#[tokio::test]
async fn exhausted_retries_give_a_clear_error() {
    let sim = sim_with(Faults {
        error_500: 1.0,
        ..Faults::default()
    })
    .await;
    let err = client(&sim, 3).list_policies().await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert!(!err.is_ambiguous());
    assert_eq!(
        err.to_string(),
        "provider flaky: GET /api/portal/policies?p=-2: status 500: \
         Failure processing data, please contact your administrator. (after 4 attempts)"
    );
    assert_eq!(sim.counts().get("GET /api/portal/policies"), 4);

    sim.set_faults(Faults {
        drop_before: 1.0,
        ..Faults::default()
    });
    let err = client(&sim, 2).get_policy("x").await.unwrap_err();
    assert_eq!(err.status(), None);
    let text = err.to_string();
    assert!(
        text.starts_with("provider flaky: GET /api/portal/policies/x: "),
        "{text}"
    );
    assert!(text.ends_with("(after 3 attempts)"), "{text}");
}

#[tokio::test]
async fn too_many_requests_is_retried_with_and_without_retry_after() {
    for retry_after in [None, Some(0)] {
        let sim = sim_with(Faults {
            error_429: 1.0,
            retry_after,
            ..Faults::default()
        })
        .await;
        let err = client(&sim, 2).list_policies().await.unwrap_err();
        assert_eq!(err.status(), Some(429));
        assert_eq!(sim.counts().get("GET /api/portal/policies"), 3);
        // A 429 proves the Dashboard did not act: even a POST is retried, and stays unambiguous.
        sim.reset_counts();
        let err = client(&sim, 2)
            .create_policy(&policy("x"))
            .await
            .unwrap_err();
        assert!(!err.is_ambiguous());
        assert_eq!(sim.counts().get("POST /api/portal/policies"), 3);
        sim.set_faults(Faults {
            error_429: 0.5,
            retry_after,
            seed: Some(1),
            ..Faults::default()
        });
        client(&sim, 8).create_policy(&policy("y")).await.unwrap();
        assert_eq!(sim.policies().len(), 1);
    }
}

#[tokio::test]
async fn a_post_dropped_after_the_write_is_ambiguous_and_never_repeated_blindly() {
    let sim = sim_with(Faults {
        drop_after_write: 1.0,
        writes_only: true,
        ..Faults::default()
    })
    .await;
    let c = client(&sim, 5);
    let err = c.create_policy(&policy("once")).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(sim.counts().get("POST /api/portal/policies"), 1);
    assert_eq!(sim.policies().len(), 1, "the write happened");

    // create_policy_once looks it up instead of creating a duplicate.
    sim.reset_counts();
    let mut p = policy("twice");
    p.id = "portalctl-default-plan-twice".into();
    let mid = c.create_policy_once(&p).await.unwrap();
    assert_eq!(sim.counts().get("POST /api/portal/policies"), 1);
    let all = sim.policies();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].mid, mid);
    assert_eq!(all[1].id, "portalctl-default-plan-twice");

    // Same for keys: one POST, an ambiguous error, no retry.
    sim.reset_counts();
    let err = c.create_key(&KeyRequest::default()).await.unwrap_err();
    assert!(err.is_ambiguous());
    assert_eq!(sim.counts().get("POST /api/keys"), 1);

    // A DELETE whose answer was lost is retried; the 404 that follows means done.
    sim.reset_counts();
    c.delete_policy(&mid).await.unwrap();
    assert_eq!(sim.counts().get("DELETE /api/portal/policies/{id}"), 2);
    assert_eq!(sim.policies().len(), 1);
}

#[tokio::test]
async fn a_post_dropped_before_the_write_is_created_again_after_the_lookup() {
    let sim = sim_with(Faults {
        drop_before: 1.0,
        writes_only: true,
        ..Faults::default()
    })
    .await;
    let c = client(&sim, 2);
    let err = c.create_policy_once(&policy("never")).await.unwrap_err();
    assert!(err.is_ambiguous());
    assert_eq!(sim.counts().get("POST /api/portal/policies"), 3, "bounded");
    assert!(sim.policies().is_empty());
    assert!(err.to_string().contains("failed 3 times"), "{err}");
}

#[tokio::test]
async fn creates_under_30_percent_faults_make_no_duplicates() {
    let sim = sim_with(Faults {
        error_500: 0.08,
        error_429: 0.07,
        retry_after: Some(0),
        drop_before: 0.07,
        drop_after_write: 0.08,
        seed: Some(11),
        ..Faults::default()
    })
    .await;
    let c = client(&sim, 8);
    let mut returned = Vec::new();
    for i in 0..30 {
        let mut p = policy(&format!("policy-{i:02}"));
        if i % 2 == 0 {
            p.id = format!("portalctl-default-product-{i:02}");
        }
        returned.push(c.create_policy_once(&p).await.unwrap());
    }
    sim.set_faults(Faults::default());
    let all = sim.policies();
    assert_eq!(all.len(), 30, "exactly one policy per create");
    let names: BTreeSet<&str> = all.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 30);
    let mids: Vec<&str> = all.iter().map(|p| p.mid.as_str()).collect();
    assert_eq!(returned, mids, "each call returned the _id of its policy");
    assert!(
        sim.counts().get("POST /api/portal/policies") > 30,
        "some creates met faults"
    );
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let sim = sim_with(Faults::default()).await;
    sim.set_latency(Duration::from_millis(400));
    let mut cfg = client_cfg(&sim, 1);
    cfg.timeout = Duration::from_millis(50);
    let c = DashboardClient::new(cfg).unwrap();
    let err = c.list_policies().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(sim.counts().get("GET /api/portal/policies"), 2);
    // A timed-out POST may have been acted on: ambiguous, sent once.
    let err = c.create_policy(&policy("slow")).await.unwrap_err();
    assert!(err.is_ambiguous() && err.is_timeout());
    assert_eq!(sim.counts().get("POST /api/portal/policies"), 1);
}

#[tokio::test]
async fn at_most_max_in_flight_requests_reach_the_dashboard_at_once() {
    let sim = sim_with(Faults::default()).await;
    let id = sim.insert_policy(policy("p"));
    sim.set_latency(Duration::from_millis(20));
    let mut cfg = client_cfg(&sim, 0);
    cfg.max_in_flight = 2;
    let c = DashboardClient::new(cfg).unwrap();
    let calls = (0..12).map(|_| {
        let c = c.clone();
        let id = id.clone();
        async move { c.get_policy(&id).await }
    });
    for r in futures::future::join_all(calls).await {
        assert!(r.unwrap().is_some());
    }
    assert_eq!(sim.counts().get("GET /api/portal/policies/{id}"), 12);
    assert!(sim.peak_in_flight() <= 2, "peak {}", sim.peak_in_flight());
}

#[tokio::test]
async fn seeded_faults_are_reproducible() {
    let run = || async {
        let sim = sim_with(Faults {
            error_500: 0.3,
            seed: Some(99),
            ..Faults::default()
        })
        .await;
        let c = client(&sim, 10);
        for _ in 0..10 {
            c.list_policies().await.unwrap();
        }
        sim.counts().total()
    };
    assert_eq!(run().await, run().await);
}

/// Issuance with a chosen key never loses or duplicates a key: a POST whose answer is lost is
/// followed by a lookup, which finds the key.
#[tokio::test]
async fn a_custom_key_whose_answer_was_lost_is_found_by_the_lookup() {
    let sim = sim_with(Faults {
        drop_after_write: 1.0,
        writes_only: true,
        ..Faults::default()
    })
    .await;
    let c = client(&sim, 5);
    let key = SecretString::from("lost-answer-key-000000000001");
    let issued = c
        .create_key_with_id(&key, &KeyRequest::default())
        .await
        .unwrap();
    let counts = sim.counts();
    assert_eq!(counts.get("POST /api/keys/{key}"), 1, "{counts:?}");
    assert_eq!(counts.get("GET /api/keys/{key}"), 1, "{counts:?}");
    assert_eq!(sim.key_hashes(), vec![issued.key_hash]);
}

#[tokio::test]
async fn a_custom_key_never_created_is_created_again_then_given_up() {
    let sim = sim_with(Faults {
        drop_before: 1.0,
        writes_only: true,
        ..Faults::default()
    })
    .await;
    let c = client(&sim, 2);
    let key = SecretString::from("never-created-key-0000000001");
    let err = c
        .create_key_with_id(&key, &KeyRequest::default())
        .await
        .unwrap_err();
    assert!(err.is_ambiguous());
    assert!(err.to_string().contains("failed 3 times"), "{err}");
    let counts = sim.counts();
    assert_eq!(counts.get("POST /api/keys/{key}"), 3, "bounded: {counts:?}");
    assert_eq!(
        counts.get("GET /api/keys/{key}"),
        3,
        "a lookup after each: {counts:?}"
    );
    assert!(sim.key_hashes().is_empty());
    // Once the Dashboard is healthy, the same call creates it.
    sim.set_faults(Faults::default());
    c.create_key_with_id(&key, &KeyRequest::default())
        .await
        .unwrap();
    assert_eq!(sim.key_hashes().len(), 1);
}

#[tokio::test]
async fn custom_keys_under_30_percent_faults_are_each_issued_exactly_once() {
    let sim = sim_with(Faults {
        error_500: 0.08,
        error_429: 0.07,
        retry_after: Some(0),
        drop_before: 0.07,
        drop_after_write: 0.08,
        seed: Some(5),
        ..Faults::default()
    })
    .await;
    let c = client(&sim, 8);
    let mut hashes = Vec::new();
    for i in 0..30 {
        let key = SecretString::from(format!("faulty-key-{i:04}-0000000000000"));
        let req = KeyRequest {
            alias: format!("app-{i}"),
            ..KeyRequest::default()
        };
        hashes.push(c.create_key_with_id(&key, &req).await.unwrap().key_hash);
    }
    sim.set_faults(Faults::default());
    let mut on_sim = sim.key_hashes();
    on_sim.sort();
    hashes.sort();
    assert_eq!(
        on_sim, hashes,
        "every key exactly once, with the hash returned"
    );
    assert!(
        sim.counts().get("POST /api/keys/{key}") > 30,
        "some creates met faults"
    );
}
