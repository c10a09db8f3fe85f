//! Listing 20,000 policies through the Dashboard client: time and client-side peak memory.
//!
//! The simulator runs as a child process (`portalctl sim`) so that the heap measured here is the
//! client's alone. Baseline in the same run: a plain reqwest GET of `?p=-2` reading the bytes.
//! Run with `cargo bench --bench list_policies`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use peak_alloc::PeakAlloc;
use portalctl::tyk::{ClientConfig, DashboardClient};
use secrecy::SecretString;
use serde_json::json;

#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

const POLICIES: usize = 20_000;
const RUNS: usize = 5;
const SECRET: &str = "bench-secret";

/// Half products (one API, as the Dashboard returns them), half plans (limits and meta data).
fn seed_policy(i: usize) -> serde_json::Value {
    let mid = format!("{:024x}", 0x5fd2_02b6_6971_0900_0000_0000u128 + i as u128);
    let mut p = json!({
        "_id": mid, "id": format!("portalctl-default-product-p{i}"), "name": format!("Policy {i}"),
        "org_id": "5fd08e0f69710900018bc195", "rate": -1, "per": -1, "quota_max": -1,
        "quota_renewal_rate": -1, "throttle_interval": -1, "throttle_retry_limit": -1,
        "max_query_depth": -1, "access_rights": {},
        "partitions": {"acl": true, "quota": false, "rate_limit": false, "complexity": false, "per_api": false},
        "tags": ["portalctl:default", "team-a"], "meta_data": {}, "key_expires_in": 0, "active": true,
        "is_inactive": false, "state": "active", "hmac_enabled": false, "last_updated": "1607598779",
        "date_created": "2020-12-10T11:12:54.263Z", "auth_type": "authToken", "graphql_enabled": false
    });
    if i % 2 == 0 {
        let api = format!("api-{}", i % 50);
        p["access_rights"] = json!({ api.clone(): {
            "api_id": api, "api_name": format!("API {}", i % 50), "versions": ["Default"],
            "allowed_urls": [{"url": "/users", "methods": ["GET", "POST"]}],
            "restricted_types": [], "allowance_scope": "", "limit": null
        }});
    } else {
        p["id"] = json!(format!("portalctl-default-plan-p{i}"));
        p["partitions"] = json!({"acl": false, "quota": true, "rate_limit": true,
            "complexity": false, "per_api": false});
        p["rate"] = json!(100);
        p["per"] = json!(60);
        p["quota_max"] = json!(10000);
        p["quota_renewal_rate"] = json!(2_592_000);
        p["meta_data"] = json!({"tier": "gold", "support": "email"});
    }
    p
}

fn mib(b: usize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let seed = dir.path().join("seed.json");
    {
        let policies: Vec<_> = (0..POLICIES).map(seed_policy).collect();
        std::fs::write(&seed, json!({"apis": [], "policies": policies}).to_string())
            .expect("write seed");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_portalctl"))
        .args(["sim", "--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .env("PORTALCTL_SIM_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start portalctl sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the simulator's URL");
    let url = line.trim().rsplit(' ').next().expect("a URL").to_owned();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let list_url = format!("{url}/api/portal/policies?p=-2");
        let mut cfg = ClientConfig::new("bench", url.clone(), SecretString::from(SECRET));
        cfg.timeout = Duration::from_secs(120);
        let client = DashboardClient::new(cfg).expect("client");

        // Warm both connections up once.
        let json_bytes = http
            .get(&list_url)
            .header("authorization", SECRET)
            .send()
            .await
            .expect("GET")
            .bytes()
            .await
            .expect("body")
            .len();
        assert_eq!(client.list_policies().await.expect("list").len(), POLICIES);

        let mut best_raw = Duration::MAX;
        let mut raw_peak = 0;
        for _ in 0..RUNS {
            let base = PEAK.current_usage();
            PEAK.reset_peak_usage();
            let t = Instant::now();
            let body = http
                .get(&list_url)
                .header("authorization", SECRET)
                .send()
                .await
                .expect("GET")
                .bytes()
                .await
                .expect("body");
            best_raw = best_raw.min(t.elapsed());
            raw_peak = raw_peak.max(PEAK.peak_usage().saturating_sub(base));
            assert_eq!(body.len(), json_bytes);
        }

        let mut best_client = Duration::MAX;
        let mut client_peak = 0;
        let mut retained = 0;
        for _ in 0..RUNS {
            let base = PEAK.current_usage();
            PEAK.reset_peak_usage();
            let t = Instant::now();
            let all = client.list_policies().await.expect("list");
            best_client = best_client.min(t.elapsed());
            client_peak = client_peak.max(PEAK.peak_usage().saturating_sub(base));
            retained = PEAK.current_usage().saturating_sub(base);
            assert_eq!(all.len(), POLICIES);
        }

        println!("list_policies: {POLICIES} policies, best of {RUNS}");
        println!(
            "  JSON listing:           {json_bytes} bytes ({:.1} MiB)",
            mib(json_bytes)
        );
        println!(
            "  plain reqwest bytes():  {:>8.1} ms, peak {:.1} MiB ({:.2}x JSON)",
            best_raw.as_secs_f64() * 1e3,
            mib(raw_peak),
            raw_peak as f64 / json_bytes as f64
        );
        println!(
            "  DashboardClient:        {:>8.1} ms, peak {:.1} MiB ({:.2}x JSON), result {:.1} MiB ({:.2}x JSON)",
            best_client.as_secs_f64() * 1e3,
            mib(client_peak),
            client_peak as f64 / json_bytes as f64,
            mib(retained),
            retained as f64 / json_bytes as f64
        );
        println!(
            "  client / plain time:    {:.2}x",
            best_client.as_secs_f64() / best_raw.as_secs_f64()
        );
    });
    let _ = child.kill();
    let _ = child.wait();
}
