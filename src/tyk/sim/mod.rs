//! The Tyk Dashboard simulator: an in-memory Dashboard speaking `tyk-dashboard-contract.md`, with
//! fault injection and request accounting, for tests, benchmarks, `portalctl sim` and `demo`.
//!
//! It runs its own HTTP/1 accept loop (hyper) around an axum router so that a fault can close a
//! connection without any response, even after the write happened. It must stay a faithful
//! stand-in for the Dashboard: where the contract lists variants it picks one, and it never
//! accepts what a real Dashboard would refuse without saying so in these docs. Policy and key
//! bodies are decoded as the Dashboard's Go decoder decodes them ([`crate::tyk::gojson`]; where
//! the simulator differs from Go, on purpose, is listed there), and every Dashboard request lands
//! in a request log ([`RequestRecord`]). It must never log or record the secret a client sends,
//! nor a key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;
use tracing::{debug, info, warn};

mod log;
mod routes;
mod store;

pub use log::{RequestRecord, DEFAULT_LOG_LIMIT};

pub use store::DEFAULT_ORG_ID;

use crate::tyk::wire::Policy;
use store::{Doc, StateFile, Store};

/// Everything that can go wrong starting, seeding or saving the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listening socket could not be bound or read.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A seed or state file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A seed or state file is not the expected JSON.
    #[error("{} is not a valid simulator file: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// A seeded policy is not a JSON object (any object is stored as given, even one a Dashboard
    /// would refuse).
    #[error("seeded policy #{index} is invalid: {source}")]
    SeedPolicy {
        /// Its position in the seed, from 0.
        index: usize,
        /// Why.
        source: serde_json::Error,
    },
    /// The state file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// How the simulator starts. `Default` gives an empty Dashboard on the default org with secret
/// `sim-secret`, pages of 10, no latency and no faults. `Debug` hides the secrets.
#[derive(Clone)]
pub struct SimConfig {
    /// The `authorization` value clients must send.
    pub secret: String,
    /// A second secret, recognised as a Dashboard user without permissions: every Dashboard route
    /// answers it 403 `access denied: …`.
    pub denied_secret: Option<String>,
    /// The org id stamped on created policies.
    pub org_id: String,
    /// Page size of listings (the Dashboard's is 10).
    pub page_size: usize,
    /// Added to every Dashboard request.
    pub latency: Duration,
    /// Faults to inject from the start.
    pub faults: Faults,
    /// Deviations from the usual answers, to test client tolerance.
    pub quirks: Quirks,
    /// APIs and policies to start with (ignored when `state_file` exists).
    pub seed: Option<Seed>,
    /// Loaded at start when it exists; written by `shutdown`/`save`.
    pub state_file: Option<PathBuf>,
    /// How many requests the request log keeps (the ones answered longest ago go first); 0 keeps
    /// none.
    pub request_log_limit: usize,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("secret", &"[REDACTED]")
            .field("org_id", &self.org_id)
            .field("page_size", &self.page_size)
            .field("latency", &self.latency)
            .field("faults", &self.faults)
            .field("quirks", &self.quirks)
            .field("state_file", &self.state_file)
            .field("request_log_limit", &self.request_log_limit)
            .finish_non_exhaustive()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            secret: "sim-secret".into(),
            denied_secret: None,
            org_id: DEFAULT_ORG_ID.into(),
            page_size: 10,
            latency: Duration::ZERO,
            faults: Faults::default(),
            quirks: Quirks::default(),
            seed: None,
            state_file: None,
            request_log_limit: log::DEFAULT_LOG_LIMIT,
        }
    }
}

/// Injected faults. Fractions are probabilities per request, tried in field order, summed (at most
/// 1 in total). `PUT /_sim/faults` takes the same JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Fraction answered 500 without acting.
    pub error_500: f64,
    /// Fraction answered 429 without acting.
    pub error_429: f64,
    /// `Retry-After` seconds on those 429s; none when `None`.
    pub retry_after: Option<u64>,
    /// Fraction whose connection is closed without acting and without an answer.
    pub drop_before: f64,
    /// Fraction that act (the write happens), then close the connection without an answer;
    /// a request the Dashboard refuses (4xx) is answered normally.
    pub drop_after_write: f64,
    /// Extra delay on every faultable request.
    pub delay_ms: u64,
    /// Only POST, PUT and DELETE are faulted (and delayed).
    pub writes_only: bool,
    /// Seeds the fault RNG: the same sequence of requests meets the same faults.
    pub seed: Option<u64>,
}

/// Deviations from the usual answers that real Dashboards have shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quirks {
    /// Policy listings have no `Pages`.
    pub omit_pages: bool,
    /// `p < 0` is treated as page 1 (an old Dashboard): clients must walk the pages.
    pub page_even_when_p_negative: bool,
    /// Listings carry unknown top-level fields and every policy an unknown field.
    pub extra_fields: bool,
}

/// APIs and policies to start with. The file form is `{"apis": […], "policies": […]}`; an API is a
/// bare definition or `{"api_definition": …}`; a policy is stored exactly as given (no Dashboard
/// checks, so a seed can hold a policy no client could write) and keeps its `_id`, `id` and
/// `org_id` when given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Seed {
    /// API definitions.
    pub apis: Vec<Value>,
    /// Policy objects.
    pub policies: Vec<Value>,
}

impl Seed {
    /// Reads a seed file.
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read(path).map_err(|source| SimError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| SimError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// A small realistic Dashboard (three APIs, no policies) for `portalctl demo` and examples.
    pub fn example() -> Self {
        let api = |id: &str, name: &str, path: &str, target: &str| {
            serde_json::json!({"api_definition": {
                "api_id": id, "name": name, "org_id": DEFAULT_ORG_ID, "active": true,
                "use_keyless": false, "use_standard_auth": true, "use_oauth2": false,
                "enable_jwt": false, "use_basic_auth": false,
                "proxy": {"listen_path": path, "target_url": target}
            }})
        };
        Seed {
            apis: vec![
                api(
                    "payments-v1",
                    "Payments API",
                    "/payments/",
                    "http://payments.internal",
                ),
                api(
                    "accounts-v1",
                    "Accounts API",
                    "/accounts/",
                    "http://accounts.internal",
                ),
                api(
                    "weather-v1",
                    "Weather API",
                    "/weather/",
                    "http://weather.internal",
                ),
            ],
            policies: Vec::new(),
        }
    }
}

/// Request counts by route pattern, e.g. `"GET /api/portal/policies"`,
/// `"PUT /api/portal/policies/{id}"`, `"POST /api/keys"`. Every request to a Dashboard route is
/// counted, faulted or not; control endpoints are not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Count per `"METHOD /route"`.
    pub by_route: BTreeMap<String, u64>,
}

impl Counts {
    /// POST, PUT and DELETE requests (attempts, including those a fault refused).
    pub fn writes(&self) -> u64 {
        self.by_route
            .iter()
            .filter(|(r, _)| !r.starts_with("GET ") && !r.starts_with("HEAD "))
            .map(|(_, n)| n)
            .sum()
    }

    /// The count of one route, 0 when never called.
    pub fn get(&self, route: &str) -> u64 {
        self.by_route.get(route).copied().unwrap_or(0)
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.by_route.values().sum()
    }
}

/// What a request meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    Error500,
    Error429(Option<u64>),
    DropBefore,
    DropAfterWrite,
}

struct FaultState {
    faults: Faults,
    rng: StdRng,
}

impl FaultState {
    fn new(faults: Faults) -> Self {
        let rng = match faults.seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        FaultState { faults, rng }
    }
}

/// State shared by the router, the handle and the accept loop.
pub(crate) struct Shared {
    secret: String,
    denied_secret: Option<String>,
    page_size: usize,
    store: Mutex<Store>,
    faults: Mutex<FaultState>,
    latency: Mutex<Duration>,
    quirks: Mutex<Quirks>,
    counts: Mutex<BTreeMap<String, u64>>,
    log: Arc<log::RequestLog>,
    /// Dashboard requests being handled now, and the most ever seen at once.
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// Counts a request as in flight until dropped.
pub(crate) struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Locks a mutex, recovering from poisoning: a panicked handler must not take the simulator down.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn lock_store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub(crate) fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    pub(crate) fn log(&self) -> &Arc<log::RequestLog> {
        &self.log
    }

    pub(crate) fn count(&self, route: &str) {
        *lock(&self.counts).entry(route.to_owned()).or_insert(0) += 1;
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts {
            by_route: lock(&self.counts).clone(),
        }
    }

    pub(crate) fn reset_counts(&self) {
        lock(&self.counts).clear();
    }

    pub(crate) fn latency(&self) -> Duration {
        *lock(&self.latency)
    }

    pub(crate) fn set_latency(&self, d: Duration) {
        *lock(&self.latency) = d;
    }

    pub(crate) fn quirks(&self) -> Quirks {
        *lock(&self.quirks)
    }

    pub(crate) fn set_quirks(&self, q: Quirks) {
        *lock(&self.quirks) = q;
    }

    pub(crate) fn faults(&self) -> Faults {
        lock(&self.faults).faults.clone()
    }

    pub(crate) fn set_faults(&self, f: Faults) {
        *lock(&self.faults) = FaultState::new(f);
    }

    /// Rolls the dice for one request.
    pub(crate) fn decide_fault(&self, is_write: bool) -> (Fault, Duration) {
        let mut st = lock(&self.faults);
        let f = st.faults.clone();
        if f.writes_only && !is_write {
            return (Fault::None, Duration::ZERO);
        }
        let delay = Duration::from_millis(f.delay_ms);
        let total = f.error_500 + f.error_429 + f.drop_before + f.drop_after_write;
        if total <= 0.0 {
            return (Fault::None, delay);
        }
        let r: f64 = st.rng.gen();
        let mut edge = f.error_500;
        let fault = if r < edge {
            Fault::Error500
        } else if r < {
            edge += f.error_429;
            edge
        } {
            Fault::Error429(f.retry_after)
        } else if r < {
            edge += f.drop_before;
            edge
        } {
            Fault::DropBefore
        } else if r < edge + f.drop_after_write {
            Fault::DropAfterWrite
        } else {
            Fault::None
        };
        (fault, delay)
    }
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    state_file: Option<PathBuf>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Starts a simulator on `127.0.0.1:0`.
pub async fn spawn(cfg: SimConfig) -> Result<SimHandle, SimError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|source| SimError::Listen {
            addr: "127.0.0.1:0".into(),
            source,
        })?;
    spawn_on(cfg, listener).await
}

/// Starts a simulator on a bound listener.
pub async fn spawn_on(cfg: SimConfig, listener: TcpListener) -> Result<SimHandle, SimError> {
    let addr = listener.local_addr().map_err(|source| SimError::Listen {
        addr: "the given listener".into(),
        source,
    })?;
    let mut store = Store::new(cfg.org_id.clone());
    let from_state = match &cfg.state_file {
        Some(path) if path.exists() => {
            let bytes = std::fs::read(path).map_err(|source| SimError::Read {
                path: path.clone(),
                source,
            })?;
            let state: StateFile =
                serde_json::from_slice(&bytes).map_err(|source| SimError::Parse {
                    path: path.clone(),
                    source,
                })?;
            store.load_state(state);
            true
        }
        _ => false,
    };
    if !from_state {
        if let Some(seed) = cfg.seed {
            for a in seed.apis {
                store.add_api(a);
            }
            for (index, v) in seed.policies.into_iter().enumerate() {
                let p: Doc = serde_json::from_value(v)
                    .map_err(|source| SimError::SeedPolicy { index, source })?;
                store.insert_raw(p);
            }
        }
    }
    let shared = Arc::new(Shared {
        secret: cfg.secret,
        denied_secret: cfg.denied_secret,
        page_size: cfg.page_size.max(1),
        store: Mutex::new(store),
        faults: Mutex::new(FaultState::new(cfg.faults)),
        latency: Mutex::new(cfg.latency),
        quirks: Mutex::new(cfg.quirks),
        counts: Mutex::new(BTreeMap::new()),
        log: Arc::new(log::RequestLog::new(cfg.request_log_limit)),
        in_flight: AtomicUsize::new(0),
        peak_in_flight: AtomicUsize::new(0),
    });
    let (stop, stop_rx) = watch::channel(false);
    let app = routes::router(shared.clone());
    let task = tokio::spawn(accept_loop(listener, app, stop_rx));
    debug!(%addr, "dashboard simulator started");
    Ok(SimHandle {
        addr,
        shared,
        stop,
        task,
        state_file: cfg.state_file,
    })
}

/// Serves until Ctrl-C or SIGTERM, then saves the state file when one is configured.
/// For `portalctl sim`: `on_ready` gets the URL once the simulator listens.
pub async fn serve(
    cfg: SimConfig,
    listener: TcpListener,
    on_ready: impl FnOnce(&str),
) -> Result<(), SimError> {
    let handle = spawn_on(cfg, listener).await?;
    on_ready(&handle.url());
    shutdown_signal().await;
    info!("dashboard simulator stopping");
    handle.stop_and_save().await
}

/// A wire policy as a stored document.
fn policy_doc(p: &Policy) -> Doc {
    match serde_json::to_value(p) {
        Ok(Value::Object(m)) => m,
        // A Policy always serialises to an object.
        _ => Doc::new(),
    }
}

/// Resolves on Ctrl-C or SIGTERM (also used by `portalctl demo`).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The error the connection service returns to make hyper close the connection unanswered.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

async fn accept_loop(listener: TcpListener, app: axum::Router, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        warn!(error = %e, "simulator accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        let resp = match app.oneshot(req).await {
                            Ok(r) => r,
                            Err(never) => match never {},
                        };
                        if resp.extensions().get::<routes::DropConnection>().is_some() {
                            return Err(Dropped);
                        }
                        Ok(resp)
                    }
                });
                conns.spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await
                    {
                        debug!(error = %e, "simulator connection closed");
                    }
                });
            }
        }
        while conns.try_join_next().is_some() {}
    }
    conns.shutdown().await;
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Request counts so far.
    pub fn counts(&self) -> Counts {
        self.shared.counts()
    }

    /// Forgets the counts (and the in-flight peak).
    pub fn reset_counts(&self) {
        self.shared.reset_counts();
        self.shared.peak_in_flight.store(0, Ordering::SeqCst);
    }

    /// The most Dashboard requests ever handled at once (since the last `reset_counts`).
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak_in_flight.load(Ordering::SeqCst)
    }

    /// The request log, in order of arrival: every Dashboard request (not the control routes),
    /// with its body when it had one. Never holds a secret (see [`RequestRecord`]).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.records(0)
    }

    /// The requests that arrived after the one numbered `seq`.
    pub fn requests_since(&self, seq: u64) -> Vec<RequestRecord> {
        self.shared.log.records(seq)
    }

    /// Empties the request log (numbering goes on).
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Replaces the faults (and reseeds their RNG).
    pub fn set_faults(&self, f: Faults) {
        self.shared.set_faults(f);
    }

    /// Replaces the quirks.
    pub fn set_quirks(&self, q: Quirks) {
        self.shared.set_quirks(q);
    }

    /// A snapshot of every policy portalctl's wire type can read, in insertion order. Policies
    /// seeded in a form it cannot read (see [`SimHandle::insert_policy_json`]) are left out:
    /// [`SimHandle::policies_json`] has them all.
    pub fn policies(&self) -> Vec<Policy> {
        self.shared
            .lock_store()
            .policies()
            .filter_map(|d| serde_json::from_value(Value::Object(d.clone())).ok())
            .collect()
    }

    /// Every policy as the Dashboard would answer it, in insertion order.
    pub fn policies_json(&self) -> Vec<Value> {
        self.shared
            .lock_store()
            .policies()
            .map(|d| Value::Object(d.clone()))
            .collect()
    }

    /// Inserts a policy bypassing HTTP and the Dashboard's checks; returns its `_id`.
    pub fn insert_policy(&self, p: Policy) -> String {
        self.shared.lock_store().insert_raw(policy_doc(&p))
    }

    /// Inserts a policy object exactly as given, bypassing HTTP and the Dashboard's checks (also
    /// `POST /_sim/policies`): for policies no client could write, such as `"rate": "fast"` or
    /// `"quota_max": null`. Returns its `_id` (a given `_id` is kept, and replaces the policy
    /// that had it).
    ///
    /// # Panics
    /// When `policy` is not a JSON object: this is a test helper.
    pub fn insert_policy_json(&self, policy: Value) -> String {
        let Value::Object(doc) = policy else {
            panic!("insert_policy_json takes a JSON object, got {policy}");
        };
        self.shared.lock_store().insert_raw(doc)
    }

    /// Inserts many policies bypassing HTTP (benchmarks).
    pub fn insert_policies(&self, ps: impl IntoIterator<Item = Policy>) {
        let mut store = self.shared.lock_store();
        for p in ps {
            store.insert_raw(policy_doc(&p));
        }
    }

    /// Adds an API (a bare definition or `{"api_definition": …}`).
    pub fn insert_api(&self, api: Value) {
        self.shared.lock_store().add_api(api);
    }

    /// The hashes of every key.
    pub fn key_hashes(&self) -> Vec<String> {
        self.shared.lock_store().key_hashes()
    }

    /// Latency added to every Dashboard request from now on.
    pub fn set_latency(&self, d: Duration) {
        self.shared.set_latency(d);
    }

    /// Writes the state file, when one is configured.
    pub fn save(&self) -> Result<(), SimError> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let state = self.shared.lock_store().to_state();
        let bytes = serde_json::to_vec_pretty(&state).map_err(|e| SimError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        // Write then rename, so an interrupted save never leaves half a file.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|source| SimError::Write {
                path: path.clone(),
                source,
            })
    }

    async fn stop_and_save(mut self) -> Result<(), SimError> {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
        self.save()
    }

    /// Stops serving (open connections are closed) and saves the state file when configured;
    /// a failed save is logged.
    pub async fn shutdown(self) {
        if let Err(e) = self.stop_and_save().await {
            warn!(error = %e, "simulator state not saved");
        }
    }
}
