//! The Dashboard secret (and an issued key) never appear in logs, errors or `Debug` output, even
//! at trace level and through failures: 401s, 500s, dropped connections and timeouts.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portalctl::tyk::sim::{self, Faults, SimConfig};
use portalctl::tyk::{ClientConfig, DashboardClient, KeyRequest, Policy, RetryPolicy, TykError};
use secrecy::{ExposeSecret, SecretString};

const SECRET: &str = "S3CRET-sentinel-7f3a9c";
const WRONG: &str = "WRONG-sentinel-41b2d8";
/// A key chosen by the caller: it travels in the URL path, so every log line and error about its
/// requests must hide it.
const CUSTOM_KEY: &str = "CUSTOMKEY-sentinel-93e1a7";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn client(url: &str, secret: &str, timeout: Duration) -> DashboardClient {
    let mut cfg = ClientConfig::new("secretive", url, SecretString::from(secret.to_owned()));
    cfg.timeout = timeout;
    cfg.retry = RetryPolicy {
        max_retries: 2,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
    };
    assert!(!format!("{cfg:?}").contains(secret));
    DashboardClient::new(cfg).unwrap()
}

#[tokio::test]
async fn the_secret_never_reaches_logs_errors_or_debug_output() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded, so the thread default sees every task.
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = sim::spawn(SimConfig {
        secret: SECRET.into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let good = client(&sim.url(), SECRET, Duration::from_secs(5));
    let wrong = client(&sim.url(), WRONG, Duration::from_secs(5));
    assert!(!format!("{good:?}").contains(SECRET));

    let mut errors: Vec<TykError> = Vec::new();
    // Success, including a key whose id is a secret too.
    let pid = good
        .create_policy(&Policy {
            name: "p".into(),
            ..Policy::default()
        })
        .await
        .unwrap();
    let key = good
        .create_key(&KeyRequest {
            apply_policies: vec![pid.clone()],
            alias: "a".into(),
            ..KeyRequest::default()
        })
        .await
        .unwrap();
    let key_id = key.key_id.expose_secret().to_owned();
    assert!(!format!("{key:?}").contains(&key_id));
    let custom = SecretString::from(CUSTOM_KEY);
    let chosen = good
        .create_key_with_id(&custom, &KeyRequest::default())
        .await
        .unwrap();
    assert!(!format!("{chosen:?}").contains(CUSTOM_KEY));
    good.get_key_by_id(&custom).await.unwrap().unwrap();

    // 401 with a wrong secret.
    errors.push(wrong.list_policies().await.unwrap_err());
    errors.push(wrong.create_policy(&Policy::default()).await.unwrap_err());
    // 500s until retries run out, and a POST answered 500.
    sim.set_faults(Faults {
        error_500: 1.0,
        ..Faults::default()
    });
    errors.push(good.list_policies().await.unwrap_err());
    errors.push(good.get_key(&key.key_hash).await.unwrap_err());
    errors.push(good.get_key_by_id(&custom).await.unwrap_err());
    errors.push(
        good.create_key_with_id(&custom, &KeyRequest::default())
            .await
            .unwrap_err(),
    );
    errors.push(
        good.create_policy(&Policy {
            name: "q".into(),
            ..Policy::default()
        })
        .await
        .unwrap_err(),
    );
    // Dropped connections.
    sim.set_faults(Faults {
        drop_before: 1.0,
        ..Faults::default()
    });
    errors.push(good.delete_policy(&pid).await.unwrap_err());
    errors.push(
        good.create_policy_once(&Policy {
            name: "r".into(),
            ..Policy::default()
        })
        .await
        .unwrap_err(),
    );
    errors.push(
        good.create_key_with_id(&custom, &KeyRequest::default())
            .await
            .unwrap_err(),
    );
    // Timeouts.
    sim.set_faults(Faults::default());
    sim.set_latency(Duration::from_millis(300));
    let slow = client(&sim.url(), SECRET, Duration::from_millis(30));
    errors.push(slow.list_policies().await.unwrap_err());
    errors.push(slow.create_key(&KeyRequest::default()).await.unwrap_err());
    errors.push(
        slow.create_key_with_id(&custom, &KeyRequest::default())
            .await
            .unwrap_err(),
    );
    sim.set_latency(Duration::ZERO);
    // The simulator's request log holds neither the secret nor a key.
    let log = serde_json::to_string(&sim.requests()).unwrap();
    for secret in [SECRET, WRONG, CUSTOM_KEY, key_id.as_str()] {
        assert!(!log.contains(secret), "{secret} in the request log");
    }
    assert!(log.contains("/api/keys/{key}"));
    // Nothing listening any more.
    let url = sim.url();
    sim.shutdown().await;
    errors.push(
        client(&url, SECRET, Duration::from_secs(1))
            .list_apis()
            .await
            .unwrap_err(),
    );

    assert_eq!(errors.len(), 14);
    for e in &errors {
        for shown in [e.to_string(), format!("{e:?}"), format!("{e:#?}")] {
            assert!(!shown.contains(SECRET), "secret in error: {shown}");
            assert!(!shown.contains(WRONG), "wrong secret in error: {shown}");
            assert!(!shown.contains(&key_id), "key in error: {shown}");
            assert!(!shown.contains(CUSTOM_KEY), "custom key in error: {shown}");
            assert!(shown.contains("secretive"), "provider named: {shown}");
        }
    }
    let captured = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        captured.contains("retrying dashboard request"),
        "the capture works: {captured}"
    );
    assert!(captured.contains("dashboard request"));
    assert!(!captured.contains(SECRET), "secret in logs");
    assert!(!captured.contains(WRONG), "wrong secret in logs");
    assert!(!captured.contains(&key_id), "issued key in logs");
    assert!(!captured.contains(CUSTOM_KEY), "custom key in logs");
    assert!(
        captured.contains("/api/keys/{key}"),
        "key requests were logged, with the key hidden: {captured}"
    );
}
