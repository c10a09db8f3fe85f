//! `portalctl sim` as a real process: prints its URL, serves the seed, saves state on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use portalctl::tyk::{ClientConfig, DashboardClient, Policy};
use secrecy::SecretString;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_portalctl");

#[tokio::test]
async fn sim_serves_the_seed_and_saves_state_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    let state = dir.path().join("state.json");
    std::fs::write(
        &seed,
        json!({
            "apis": [{"api_definition": {"api_id": "httpbin", "name": "httpbin", "active": true,
                      "proxy": {"listen_path": "/httpbin/"}}}],
            "policies": [{"_id": "5fd202b669710900018bc19c", "id": "seeded", "name": "Seeded",
                          "org_id": "other-org", "access_rights": null}]
        })
        .to_string(),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["sim", "--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .arg("--state")
        .arg(&state)
        .env("PORTALCTL_SIM_SECRET", "cli-secret")
        .env_remove("PORTALCTL_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("Dashboard simulator listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    assert!(!line.contains("cli-secret"));

    let c = DashboardClient::new(ClientConfig::new(
        "cli",
        url,
        SecretString::from("cli-secret"),
    ))
    .unwrap();
    let listed = c.list_policies().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].org_id, "other-org", "seeded org kept");
    assert_eq!(c.list_apis().await.unwrap()[0].api_id, "httpbin");
    c.create_policy(&Policy {
        name: "created".into(),
        ..Policy::default()
    })
    .await
    .unwrap();

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let names: Vec<&str> = saved["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Seeded", "created"]);
}

#[test]
fn sim_without_a_secret_says_how_to_give_one() {
    let out = Command::new(BIN)
        .args(["sim", "--listen", "127.0.0.1:0"])
        .env_remove("PORTALCTL_SIM_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pass --secret or set PORTALCTL_SIM_SECRET"),
        "{stderr}"
    );
}
