//! The one reconcile path: read the actual state, diff, check the products' APIs, apply.
//!
//! [`Reconciler`] is what `plan`, `apply`, `demo`, the tests and (next) the continuous loop and
//! the portal call; `src/cmd/` only prints and asks for confirmation. [`Reconciler::plan`] is the
//! whole of planning (the saved plan of `plan --out` is exactly what `apply -f` would compute), and
//! [`Reconciler::run_once`] is one level-triggered run for callers that confirm nothing: lock held,
//! plan, refuse what must be refused, apply, report.
//!
//! This module owns the timing and memory logs of each stage, so that the diff itself stays pure.
//! It must not print: outcomes are values and errors are [`ReconcileError`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::apply::{self, Report};
use super::diff::{diff, fingerprint, Actual, DiffOptions};
use super::error::ReconcileError;
use super::plan::{Action, ChangeSet, Op, Target};
use crate::desired::{Desired, Kind, Provider, Source};
use crate::manifest::kinds::{Name, ProviderSpec};
use crate::store::{Snapshot, Store, StoreError};
use crate::tyk::{ClientConfig, DashboardClient};

/// The apply lock as the reconcile path holds it: the store's named lease `apply`, fenced in the
/// apply transaction. This alias, [`take_lock`] and [`release_lock`] are the only places that
/// name the store's lease API.
pub type ApplyLock = crate::store::Lease;

/// Takes the apply lock for `holder`, waiting up to `wait` for another run to finish; the lease
/// lasts `lease` and is renewed in the background until [`release_lock`]. It needs only the
/// store, so a command can take it while its manifests are still loading.
pub async fn take_lock(
    store: &Store,
    holder: &str,
    lease: Duration,
    wait: Duration,
) -> Result<ApplyLock, ReconcileError> {
    match store.lock(holder, lease, wait).await {
        Ok(lock) => Ok(lock),
        Err(e @ StoreError::LeaseHeld { .. }) => Err(ReconcileError::LockHeld(e)),
        Err(e) => Err(e.into()),
    }
}

/// Gives the apply lock back. A failure is only logged: the lease expires by itself.
pub async fn release_lock(lock: ApplyLock) {
    if let Err(e) = lock.release().await {
        tracing::warn!(error = %e, "cannot release the apply lock; it expires by itself");
    }
}

/// How to plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Revoke the credentials of retired objects and delete them (`--revoke-retired`).
    pub revoke_retired: bool,
}

/// How to run once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// How to plan.
    pub plan: PlanOptions,
    /// Apply a plan that deletes everything when the manifests declare nothing
    /// (`--allow-empty`).
    pub allow_empty: bool,
}

/// What one run did: the change set it computed and what became of each change.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The change set, as computed under the lock.
    pub plan: ChangeSet,
    /// One outcome per change (empty when there was nothing to do).
    pub report: Report,
    /// How long the run took, from reading the state to the last write.
    pub elapsed: Duration,
}

/// The database and one Dashboard client per provider: everything a reconcile needs besides the
/// desired state.
#[derive(Debug, Clone)]
pub struct Reconciler {
    /// The portal database.
    pub store: Store,
    /// Clients by provider name.
    pub clients: BTreeMap<String, DashboardClient>,
    /// Ownership instance (`portalctl:<instance>`).
    pub instance: String,
    /// The providers' connection settings (secret references only).
    pub providers: BTreeMap<String, ProviderSpec>,
}

impl Reconciler {
    /// Builds a client for each provider over an open store.
    pub fn new(
        store: Store,
        instance: &str,
        providers: BTreeMap<String, ProviderSpec>,
    ) -> Result<Reconciler, ReconcileError> {
        let mut clients = BTreeMap::new();
        for (name, spec) in &providers {
            let provider = Provider {
                name: Name::parse(name)
                    .unwrap_or_else(|_| Name::parse("provider").expect("valid literal name")),
                spec: spec.clone(),
                source: Source {
                    file: "<plan>".into(),
                    line: 1,
                },
            };
            let client = ClientConfig::from_provider(&provider)
                .and_then(DashboardClient::new)
                .map_err(|source| ReconcileError::Client {
                    provider: name.clone(),
                    cause: Box::new(source),
                })?;
            clients.insert(name.clone(), client);
        }
        Ok(Reconciler {
            store,
            clients,
            instance: instance.to_owned(),
            providers,
        })
    }

    /// Opens the database and builds the clients of the desired state's providers.
    pub async fn connect(
        database: &str,
        instance: &str,
        desired: &Desired,
    ) -> Result<Reconciler, ReconcileError> {
        let store = Store::connect(database).await?;
        Reconciler::new(store, instance, Reconciler::providers_of(desired))
    }

    /// The providers of a desired state, by name.
    pub fn providers_of(desired: &Desired) -> BTreeMap<String, ProviderSpec> {
        desired
            .providers
            .iter()
            .map(|(n, p)| (n.to_string(), p.spec.clone()))
            .collect()
    }

    /// One database snapshot and one policy listing per provider, all at once.
    pub async fn read_actual(&self) -> Result<Actual, ReconcileError> {
        let (db, dashboards) = tokio::join!(self.store.snapshot(), self.list_all());
        Ok(Actual {
            db: db?,
            dashboards: dashboards?,
        })
    }

    /// One policy listing per provider, providers in parallel.
    pub async fn list_all(
        &self,
    ) -> Result<BTreeMap<String, Vec<crate::tyk::Policy>>, ReconcileError> {
        let started = Instant::now();
        let listings = futures::future::join_all(
            self.clients
                .iter()
                .map(|(name, client)| async move { (name.clone(), client.list_policies().await) }),
        )
        .await;
        tracing::debug!(elapsed = ?started.elapsed(), rss_mib = crate::telemetry::rss_mib(), "listed the Dashboards' policies");
        let mut out = BTreeMap::new();
        for (provider, result) in listings {
            let policies = result.map_err(|source| ReconcileError::List {
                provider: provider.clone(),
                cause: Box::new(source),
            })?;
            out.insert(provider, policies);
        }
        Ok(out)
    }

    /// Reads the actual state and computes the change set: the diff, then the products' APIs
    /// checked against their Dashboards. This is the whole of planning; `plan`, `apply -f` and
    /// the loop all get their change set here (or from [`Reconciler::plan_with_snapshot`]).
    pub async fn plan(
        &self,
        desired: &Desired,
        opts: &PlanOptions,
    ) -> Result<ChangeSet, ReconcileError> {
        let actual = self.read_actual().await?;
        Ok(self.plan_against(desired, opts, actual).await)
    }

    /// [`Reconciler::plan`] with a database snapshot read beforehand (`plan` reads it while the
    /// manifests load); the Dashboards are listed now.
    pub async fn plan_with_snapshot(
        &self,
        desired: &Desired,
        opts: &PlanOptions,
        db: Snapshot,
    ) -> Result<ChangeSet, ReconcileError> {
        let actual = Actual {
            db,
            dashboards: self.list_all().await?,
        };
        Ok(self.plan_against(desired, opts, actual).await)
    }

    async fn plan_against(
        &self,
        desired: &Desired,
        opts: &PlanOptions,
        actual: Actual,
    ) -> ChangeSet {
        let started = Instant::now();
        let mut plan = diff(
            desired,
            &actual,
            &DiffOptions {
                instance: self.instance.clone(),
                revoke_retired: opts.revoke_retired,
            },
        );
        tracing::debug!(elapsed = ?started.elapsed(), rss_mib = crate::telemetry::rss_mib(), changes = plan.changes.len(), "computed the change set");
        // The process ends soon after planning: freeing tens of thousands of listed policies one
        // by one would only make it slower, so the actual state is dropped on another thread.
        std::thread::spawn(move || drop(actual));
        plan.providers = self.providers.clone();
        self.check_apis(&mut plan).await;
        plan
    }

    /// Refuses a saved change set computed from a state that has changed since.
    pub async fn ensure_fresh(&self, plan: &ChangeSet) -> Result<(), ReconcileError> {
        let actual = self.read_actual().await?;
        let now = fingerprint(&actual, &plan.instance, &plan.watch);
        std::thread::spawn(move || drop(actual));
        if now == plan.fingerprint {
            Ok(())
        } else {
            Err(ReconcileError::Stale)
        }
    }

    /// Carries out a change set under the lock, in SPEC §4 order. Refuses a change set with
    /// errors before writing anything; otherwise every change gets an outcome in the report.
    pub async fn apply(
        &self,
        plan: &ChangeSet,
        lock: &ApplyLock,
    ) -> Result<Report, ReconcileError> {
        if !plan.errors.is_empty() {
            return Err(ReconcileError::Plan {
                errors: plan.errors.clone(),
            });
        }
        let started = Instant::now();
        let report = apply::execute(plan, &self.store, &self.clients, lock).await?;
        tracing::debug!(elapsed = ?started.elapsed(), rss_mib = crate::telemetry::rss_mib(), "applied the change set");
        Ok(report)
    }

    /// One level-triggered run with the lock held: plan from the whole state, refuse a plan with
    /// errors or an empty manifest set that would delete everything, apply, and return what was
    /// done. An apply in which some change failed or was blocked is
    /// [`ReconcileError::Incomplete`], carrying the outcome.
    pub async fn run_once(
        &self,
        desired: &Desired,
        opts: &RunOptions,
        lock: &ApplyLock,
    ) -> Result<RunOutcome, ReconcileError> {
        let started = Instant::now();
        let plan = self.plan(desired, &opts.plan).await?;
        refuse_empty(desired, &plan, opts.allow_empty)?;
        let report = if plan.is_empty() {
            Report::default()
        } else {
            self.apply(&plan, lock).await?
        };
        let outcome = RunOutcome {
            plan,
            report,
            elapsed: started.elapsed(),
        };
        if outcome.report.is_success() {
            Ok(outcome)
        } else {
            Err(ReconcileError::Incomplete(Box::new(outcome)))
        }
    }

    /// Checks the APIs of product policies about to be created or changed against each
    /// provider's API list, and fills `api_name` where the manifest gives no name (SPEC's
    /// contract: "use it to check that the APIs a product names exist, and to fill api_name").
    /// Only providers with such changes are asked, so a no-op plan still makes one call per
    /// provider.
    async fn check_apis(&self, plan: &mut ChangeSet) {
        let wanted: BTreeSet<String> = plan
            .changes
            .iter()
            .filter(|c| c.kind == Kind::Product && c.target == Target::Dashboard)
            .filter(|c| matches!(c.action, Action::Create | Action::Update | Action::Tag))
            .filter_map(|c| c.provider.clone())
            .collect();
        for provider in wanted {
            let Some(client) = self.clients.get(&provider) else {
                continue;
            };
            let apis = match client.list_apis().await {
                Ok(apis) => apis,
                Err(e) => {
                    plan.warnings
                        .push(format!("cannot check the products' APIs: {e}"));
                    continue;
                }
            };
            let names: BTreeMap<&str, &str> = apis
                .iter()
                .map(|a| (a.api_id.as_str(), a.name.as_str()))
                .collect();
            let mut warnings = Vec::new();
            for c in plan.changes.iter_mut().filter(|c| {
                c.provider.as_deref() == Some(provider.as_str()) && c.kind == Kind::Product
            }) {
                for op in &mut c.ops {
                    for def in access_definitions(op) {
                        let Some(obj) = def.as_object_mut() else {
                            continue;
                        };
                        let id = obj
                            .get("api_id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        match names.get(id.as_str()) {
                            Some(name) if !obj.contains_key("api_name") => {
                                obj.insert("api_name".into(), Value::String((*name).to_owned()));
                            }
                            Some(_) => {}
                            None => warnings.push(format!(
                                "Product {}: provider {provider} has no API with id {id:?}; keys for this product will not reach it",
                                c.name
                            )),
                        }
                    }
                }
            }
            plan.warnings.extend(warnings);
        }
    }
}

/// The access definitions an operation writes (a created policy's, or a patch's).
fn access_definitions(op: &mut Op) -> Vec<&mut Value> {
    match op {
        Op::CreatePolicy { policy, .. } => policy
            .get_mut("access_rights")
            .and_then(Value::as_object_mut)
            .map(|m| m.values_mut().collect())
            .unwrap_or_default(),
        Op::PatchPolicy { patch, .. } => patch
            .set
            .iter_mut()
            .filter(|(k, _)| k.starts_with("access_rights."))
            .map(|(_, v)| v)
            .collect(),
        _ => Vec::new(),
    }
}

/// The empty-set guard (SPEC §3 "Safety"): manifests that declare nothing would delete, retire
/// or release everything portalctl manages, which is far more often a wrong `-f` than the
/// intent; `--allow-empty` says it is the intent.
pub fn refuse_empty(
    desired: &Desired,
    plan: &ChangeSet,
    allow_empty: bool,
) -> Result<(), ReconcileError> {
    if desired.is_empty() && plan.is_destructive() && !allow_empty {
        Err(ReconcileError::EmptyManifests)
    } else {
        Ok(())
    }
}
