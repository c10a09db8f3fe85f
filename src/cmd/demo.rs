//! `portalctl demo`: the newcomer's first command. Starts the Dashboard simulator on 127.0.0.1,
//! points the `examples/b2b` manifests at it, applies them to the configured database exactly as
//! `apply` would, prints what to try next, and keeps the simulator up until Ctrl-C or SIGTERM.
//!
//! It owns only this wiring: planning and applying are the reconciler's (`Reconciler::plan`,
//! `Reconciler::apply`), the simulator is `crate::tyk::sim`. It must never print the
//! Dashboard secret (it lives in a 0600 file under `.portalctl-demo/`), and never deletes or
//! retires anything: a database holding other objects is refused, not cleaned.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use rand::distributions::{Alphanumeric, DistString};
use tokio::net::TcpListener;

use super::common::load_manifests;
use crate::cli::{DemoArgs, GlobalArgs};
use crate::config::Settings;
use crate::manifest::kinds::{ProviderSpec, SecretRef};
use crate::reconcile::{release_lock, render, take_lock, PlanOptions, ReconcileError, Reconciler};
use crate::store::{default_holder, redact_url, Store};
use crate::tyk::sim::{self, Seed, SimConfig, SimHandle, DEFAULT_ORG_ID};

/// The manifests the demo applies, relative to the repository root.
const EXAMPLES: &str = "examples/b2b";
/// Where the demo keeps its files (the Dashboard secret), relative to the current directory.
const DEMO_DIR: &str = ".portalctl-demo";
/// The file holding the simulator's secret, inside [`DEMO_DIR`].
const SECRET_FILE: &str = "dashboard.secret";
/// The line printed once everything is up; scripts and tests wait for it.
pub const READY: &str = "Demo ready";

/// Runs `portalctl demo`; returns the exit code.
pub async fn run(global: &GlobalArgs, args: DemoArgs) -> anyhow::Result<u8> {
    let examples = Path::new(EXAMPLES);
    if !examples.is_dir() {
        anyhow::bail!(
            "{EXAMPLES} not found in {}: the demo applies the example manifests of the portalctl repository; run it from the repository root (cd portalctl && cargo run --release -- demo)",
            std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string())
        );
    }
    let Some(mut loaded) = load_manifests(examples, false)? else {
        return Ok(1);
    };
    let settings = Settings::load(global)?;

    // The secret is random per run and only ever written to a 0600 file, never printed.
    let demo_dir = std::env::current_dir()
        .context("cannot read the current directory")?
        .join(DEMO_DIR);
    std::fs::create_dir_all(&demo_dir)
        .with_context(|| format!("cannot create {}", demo_dir.display()))?;
    // The folder ignores itself, so the secret cannot be committed by accident.
    std::fs::write(demo_dir.join(".gitignore"), "*\n")
        .with_context(|| format!("cannot write {}", demo_dir.display()))?;
    let secret_file = demo_dir.join(SECRET_FILE);
    let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
    write_private(&secret_file, secret.as_bytes())
        .with_context(|| format!("cannot write {}", secret_file.display()))?;

    // The examples' Provider names a URL; take its port when free so that `portalctl plan -f
    // examples/b2b` in another terminal reaches the simulator without editing anything.
    let original: BTreeMap<String, ProviderSpec> = Reconciler::providers_of(&loaded.desired);
    let wanted_port = original.values().find_map(|p| local_port(&p.url));
    let listener = bind(wanted_port).await?;
    let sim = sim::spawn_on(
        SimConfig {
            secret,
            seed: Some(demo_seed(&loaded.desired)),
            ..SimConfig::default()
        },
        listener,
    )
    .await
    .context("cannot start the Dashboard simulator")?;
    let sim_url = sim.url();
    println!("Tyk Dashboard simulator listening on {sim_url}");

    let port = sim.addr().port();
    for provider in loaded.desired.providers.values_mut() {
        // A URL that already reaches the simulator is kept as written: the database records the
        // Provider's url, so `plan -f examples/b2b` afterwards finds nothing to change.
        if local_port(&provider.spec.url) != Some(port) {
            provider.spec.url = sim_url.clone();
        }
    }
    println!(
        "Applying {EXAMPLES} ({} documents) to {}.\n\
         (The simulator starts empty on every run while the database remembers earlier runs,\n\
         so a second run recreates the Dashboard policies and nothing else.)\n",
        loaded.documents,
        redact_url(&settings.database)
    );

    let code = apply(&settings, &loaded.desired, &secret_file).await?;
    if code != 0 {
        sim.shutdown().await;
        return Ok(code);
    }

    print!(
        "{}",
        next_steps(global, &args, &settings, &sim, &original, &secret_file)
    );
    // Flushed so that a script reading our standard output through a pipe sees it now.
    let _ = std::io::stdout().flush();
    crate::tyk::sim::shutdown_signal().await;
    println!("Stopping the simulator.");
    sim.shutdown().await;
    Ok(0)
}

/// Takes the apply lock, plans, prints the plan, executes it and prints the result: the same
/// library calls as `portalctl apply`, minus the confirmation (the demo refuses destructive plans).
async fn apply(
    settings: &Settings,
    desired: &crate::desired::Desired,
    secret_file: &Path,
) -> anyhow::Result<u8> {
    let store = Store::connect(&settings.database).await?;
    let lock = match take_lock(
        &store,
        &default_holder(),
        Duration::from_secs(30),
        Duration::ZERO,
    )
    .await
    {
        Ok(l) => l,
        Err(e @ ReconcileError::LockHeld(_)) => {
            anyhow::bail!("{e}; an apply is running on this database. Wait for it, or run the demo on its own database with --database sqlite://{DEMO_DIR}/portal.db")
        }
        Err(e) => return Err(e.into()),
    };
    let result = async {
        // The clients use the demo's secret file; the database keeps the examples' secret
        // reference (like their url), so `plan -f examples/b2b` afterwards finds nothing to change.
        let mut providers = Reconciler::providers_of(desired);
        for spec in providers.values_mut() {
            spec.secret = SecretRef::FromFile(secret_file.to_owned());
        }
        let reconciler = Reconciler::new(store, &settings.instance, providers)?;
        let plan = reconciler.plan(desired, &PlanOptions::default()).await?;
        let color = super::stdout_color();
        if !plan.errors.is_empty() {
            print!("{}", render::text(&plan, color));
            eprintln!("The plan has errors; nothing was changed.");
            return Ok(1);
        }
        if plan.is_destructive() {
            print!("{}", render::text(&plan, color));
            anyhow::bail!(
                "the database {} holds objects that {EXAMPLES} does not declare, and the demo never deletes or retires anything; run the demo on its own database: portalctl demo --database sqlite://{DEMO_DIR}/portal.db",
                redact_url(&settings.database)
            );
        }
        if plan.is_empty() {
            println!("No changes. The database and the Dashboard simulator match the manifests.");
            return Ok(0);
        }
        print!("{}", render::text(&plan, color));
        let report = reconciler.apply(&plan, &lock).await?;
        print!("{}", super::common::report_text(&plan, &report));
        Ok(if report.is_success() { 0 } else { 1 })
    }
    .await;
    release_lock(lock).await;
    result
}

/// What a user can do now, honestly: the portal website does not exist yet.
fn next_steps(
    global: &GlobalArgs,
    args: &DemoArgs,
    settings: &Settings,
    sim: &SimHandle,
    original: &BTreeMap<String, ProviderSpec>,
    secret_file: &Path,
) -> String {
    let url = sim.url();
    let secret_path = relative(secret_file);
    let mut out = String::new();
    out.push_str(&format!(
        "\nDashboard simulator: {url}\n\
         Its secret is in {secret_path} (the demo never prints it).\n\n\
         The portal website is not built yet; this demo shows the reconciler.\n\
         (--listen {} is where the portal will listen once it exists; unused for now.)\n\n\
         See the policies the apply created on the simulator:\n  \
         curl -H \"authorization: $(cat {secret_path})\" {url}/api/portal/policies?p=-2\n\n",
        args.listen
    ));
    let database = match &global.database {
        Some(_) => format!(" --database {}", redact_url(&settings.database)),
        None => String::new(),
    };
    let env: Vec<&str> = original
        .values()
        .filter_map(|p| match &p.secret {
            SecretRef::FromEnv(name) => Some(name.as_str()),
            SecretRef::FromFile(_) => None,
        })
        .collect();
    let export = match env.as_slice() {
        [] => String::new(),
        names => names
            .iter()
            .map(|n| format!("  export {n}=\"$(cat {secret_path})\"\n"))
            .collect(),
    };
    let me = self_command();
    let port = sim.addr().port();
    let matches = original.values().all(|p| local_port(&p.url) == Some(port));
    if matches {
        out.push_str(&format!(
            "In another terminal, plan the examples against it (expect \"No changes\"):\n\
             {export}  {me} plan -f {EXAMPLES}{database}\n\n"
        ));
    } else {
        let wanted = original
            .values()
            .map(|p| p.url.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "The examples' Provider points at {wanted}, which was not free, so the simulator is on {url}.\n\
             To plan against it in another terminal, use a copy whose Provider url is {url}:\n  \
             mkdir -p {DEMO_DIR}/b2b && cp -r {EXAMPLES}/. {DEMO_DIR}/b2b/ && sed -i 's#^  url: .*#  url: {url}#' {DEMO_DIR}/b2b/provider.yaml\n\
             {export}  {me} plan -f {DEMO_DIR}/b2b{database}\n\n"
        ));
    }
    out.push_str(&format!(
        "{READY}. Press Ctrl-C to stop the simulator (the database keeps its state).\n"
    ));
    out
}

/// How the user runs this binary again: through cargo when it was built in a `target/` folder.
fn self_command() -> String {
    let exe = std::env::current_exe().ok();
    let dir = |n: usize| {
        exe.as_deref()
            .and_then(|e| e.ancestors().nth(n))
            .and_then(|d| d.file_name())
            .and_then(|d| d.to_str())
            .map(str::to_owned)
    };
    match (dir(1).as_deref(), dir(2).as_deref()) {
        (Some("release"), Some("target")) => "cargo run --release --".into(),
        (Some("debug"), Some("target")) => "cargo run --".into(),
        _ => "portalctl".into(),
    }
}

/// The port of a provider URL when it names this machine, e.g. 3000 for `http://localhost:3000`.
fn local_port(url: &str) -> Option<u16> {
    let u = reqwest::Url::parse(url).ok()?;
    match u.host_str()? {
        "localhost" | "127.0.0.1" | "[::1]" => u.port_or_known_default(),
        _ => None,
    }
}

/// Binds 127.0.0.1 on the wanted port when free, else on any free port.
async fn bind(port: Option<u16>) -> anyhow::Result<TcpListener> {
    if let Some(port) = port {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return Ok(l),
            Err(e) => {
                tracing::info!(port, error = %e, "the examples' Dashboard port is taken; using another")
            }
        }
    }
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen on 127.0.0.1")
}

/// A Dashboard with one API per `apiId` the manifests name, so the policies point at real APIs.
fn demo_seed(desired: &crate::desired::Desired) -> Seed {
    let mut seen = std::collections::BTreeSet::new();
    let apis = desired
        .products
        .values()
        .flat_map(|p| &p.spec.apis)
        .filter(|a| seen.insert(a.api_id.clone()))
        .map(|a| {
            let id = &a.api_id;
            serde_json::json!({"api_definition": {
                "api_id": id, "name": a.name.clone().unwrap_or_else(|| id.clone()),
                "org_id": DEFAULT_ORG_ID, "active": true,
                "use_keyless": false, "use_standard_auth": true, "use_oauth2": false,
                "enable_jwt": false, "use_basic_auth": false,
                "proxy": {"listen_path": format!("/{id}/"), "target_url": format!("http://{id}.internal")}
            }})
        })
        .collect();
    Seed {
        apis,
        policies: Vec::new(),
    }
}

/// Writes a file only its owner can read (0600 on Unix), replacing any previous one.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        let mut f = opts.open(path)?;
        // `mode` only applies when the file is created; an older file may be more open.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()
    }
    #[cfg(not(unix))]
    {
        let mut f = opts.open(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    }
}

/// A path relative to the current directory when it is inside it, for shorter printed commands.
fn relative(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|d| path.strip_prefix(d).ok().map(PathBuf::from))
        .unwrap_or_else(|| path.to_owned())
        .display()
        .to_string()
}
