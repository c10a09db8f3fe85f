//! `portalctl demo` as a real process in a temp dir holding a copy of `examples/`: it applies the
//! examples to a fresh SQLite database, the simulator it prints serves the four policies, a second
//! run converges again, `plan` in "another terminal" finds nothing to change, and the secret is
//! never printed. No timed assertions: reads wait with a generous deadline only so that a hung
//! demo fails the test instead of hanging it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portalctl");
/// Long enough for a debug build on a loaded 2-core machine; only hit when the demo hangs.
const DEADLINE: Duration = Duration::from_secs(180);

/// A running demo, stopped (SIGKILL) when dropped so a failing test leaves no process behind.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stdout line read so far.
    out: Vec<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    fn start(dir: &Path, db: &str) -> Demo {
        let mut child = portalctl(dir)
            .args(["demo", "--database", db])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Demo {
            child,
            lines,
            out: Vec::new(),
        }
    }

    /// Reads stdout until the ready line; panics with everything printed if the demo exits first.
    fn wait_ready(&mut self) {
        loop {
            match self.lines.recv_timeout(DEADLINE) {
                Ok(line) => {
                    let ready = line.starts_with("Demo ready");
                    self.out.push(line);
                    if ready {
                        return;
                    }
                }
                Err(e) => {
                    let _ = self.child.kill();
                    let mut err = String::new();
                    if let Some(mut s) = self.child.stderr.take() {
                        let _ = s.read_to_string(&mut err);
                    }
                    panic!(
                        "demo not ready ({e}); stdout:\n{}\nstderr:\n{err}",
                        self.out.join("\n")
                    );
                }
            }
        }
    }

    fn has_line(&self, wanted: &str) -> bool {
        self.out.iter().any(|l| l.trim() == wanted)
    }

    /// The simulator URL from "Dashboard simulator: URL".
    fn sim_url(&self) -> String {
        self.out
            .iter()
            .find_map(|l| l.strip_prefix("Dashboard simulator: "))
            .unwrap_or_else(|| panic!("no simulator URL in:\n{}", self.out.join("\n")))
            .trim()
            .to_owned()
    }

    /// SIGTERM, as a service manager would send; the demo must stop cleanly with exit code 0.
    fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(
            status.success(),
            "demo exited with {status}; stderr:\n{err}"
        );
        err
    }
}

/// The binary in `dir`, with no configuration leaking in from the environment.
fn portalctl(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("PORTALCTL")) {
            c.env_remove(k);
        }
    }
    c.env("NO_COLOR", "1");
    c
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

async fn policies(url: &str, secret: &str) -> Vec<Value> {
    let resp = reqwest::Client::new()
        .get(format!("{url}/api/portal/policies?p=-2"))
        .header("authorization", secret)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let body: Value = resp.json().await.unwrap();
    body["Data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn demo_applies_the_examples_to_the_simulator_it_prints_and_converges_again() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &dir.path().join("examples"),
    );
    let db = format!("sqlite://{}", dir.path().join("portal.db").display());

    // First run: everything is created, in the database and on the simulator.
    let mut demo = Demo::start(dir.path(), &db);
    demo.wait_ready();
    assert!(
        demo.has_line("Plan: 10 to create, 0 to update, 0 to tag, 0 to delete, 0 to retire."),
        "{}",
        demo.out.join("\n")
    );
    assert!(demo.has_line("Apply complete: 10 changes done."));
    assert!(demo.has_line("The portal website is not built yet; this demo shows the reconciler."));

    assert_eq!(
        std::fs::read_to_string(dir.path().join(".portalctl-demo/.gitignore")).unwrap(),
        "*\n",
        "the demo folder keeps itself (and the secret) out of git"
    );
    let secret_file = dir.path().join(".portalctl-demo/dashboard.secret");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    assert!(secret.len() >= 32, "a random secret of some length");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "secret file readable by its owner only"
        );
    }

    let url = demo.sim_url();
    let listed = policies(&url, &secret).await;
    let mut ids: Vec<&str> = listed.iter().filter_map(|p| p["id"].as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "portalctl-default-plan-enterprise",
            "portalctl-default-plan-free",
            "portalctl-default-product-accounts-api",
            "portalctl-default-product-payment-api",
        ]
    );
    for p in &listed {
        let tags: Vec<&str> = p["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(tags.contains(&"portalctl:default"), "{p}");
        assert!(tags.contains(&"b2b-portal"), "{p}");
    }

    // "In another terminal": plan the examples against the running simulator with the secret in
    // the environment variable the example Provider names. When the examples' port was taken,
    // the demo printed how to make a copy pointing at the simulator; do the same here.
    let manifests = if demo.out.iter().any(|l| l.contains("plan -f examples/b2b")) {
        dir.path().join("examples/b2b")
    } else {
        let copy = dir.path().join(".portalctl-demo/b2b");
        copy_dir(&dir.path().join("examples/b2b"), &copy);
        let provider = std::fs::read_to_string(copy.join("provider.yaml")).unwrap();
        let rewritten: String = provider
            .lines()
            .map(|l| {
                if l.starts_with("  url: ") {
                    format!("  url: {url}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(copy.join("provider.yaml"), rewritten).unwrap();
        copy
    };
    let plan = portalctl(dir.path())
        .args(["plan", "--detailed-exitcode", "--database", &db, "-f"])
        .arg(&manifests)
        .env("TYK_DASHBOARD_SECRET", &secret)
        .output()
        .unwrap();
    let plan_out = String::from_utf8_lossy(&plan.stdout);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "plan found changes:\n{plan_out}\n{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(plan_out.contains("No changes."), "{plan_out}");

    let first_stdout = demo.out.join("\n");
    let first_err = demo.stop();
    assert!(
        !first_stdout.contains(secret.trim()),
        "the secret leaked on stdout"
    );
    assert!(
        !first_err.contains(secret.trim()),
        "the secret leaked on stderr"
    );

    // Second run: a fresh simulator, the same database. Only the four policies are recreated,
    // plus the Provider's recorded url when the examples' port was taken and the simulator got
    // another free port this time.
    let mut demo = Demo::start(dir.path(), &db);
    demo.wait_ready();
    let (summary, done) = if demo.sim_url() == url {
        (
            "Plan: 4 to create, 0 to update, 0 to tag, 0 to delete, 0 to retire.",
            4,
        )
    } else {
        (
            "Plan: 4 to create, 1 to update, 0 to tag, 0 to delete, 0 to retire.",
            5,
        )
    };
    assert!(demo.has_line(summary), "{}", demo.out.join("\n"));
    assert!(demo.has_line(&format!("Apply complete: {done} changes done.")));
    let secret2 = std::fs::read_to_string(&secret_file).unwrap();
    assert_ne!(secret, secret2, "a new secret per run");
    assert_eq!(policies(&demo.sim_url(), &secret2).await.len(), 4);
    let stdout = demo.out.join("\n");
    let err = demo.stop();
    for s in [&secret, &secret2] {
        assert!(!stdout.contains(s.trim()), "the secret leaked on stdout");
        assert!(!err.contains(s.trim()), "the secret leaked on stderr");
    }
}

#[test]
fn demo_outside_the_repository_says_where_to_run_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = portalctl(dir.path())
        .args(["demo", "--database"])
        .arg(format!(
            "sqlite://{}",
            dir.path().join("portal.db").display()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("examples/b2b not found"), "{err}");
    assert!(err.contains("run it from the repository root"), "{err}");
    assert!(!dir.path().join("portal.db").exists(), "nothing created");
}
