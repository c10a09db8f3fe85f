//! Reconciliation: actual state, the pure diff, the plan value, rendering, and apply.
//!
//! One code path serves `plan`, `apply` and (later) the continuous loop: load the manifests,
//! read the actual state, diff in pure code, then apply.

pub mod apply;
pub mod diff;
pub mod docs;
pub mod import;
pub mod plan;
pub mod render;

pub use diff::{diff, Actual, DiffOptions};
pub use plan::{Action, Change, Plan, Target};

use std::collections::BTreeMap;

use crate::desired::{Desired, Provider, Source};
use crate::manifest::kinds::{Name, ProviderSpec};
use crate::store::{Store, StoreError};
use crate::tyk::{ClientConfig, DashboardClient, TykError};

/// Errors of reading the actual state.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A client could not be built (e.g. its secret is not set). The client's error names the
    /// provider already, and is not chained as a source so that it is not printed twice.
    #[error("{cause}")]
    Client {
        /// Provider name.
        provider: String,
        /// Why.
        cause: Box<TykError>,
    },
    /// A Dashboard could not be listed.
    #[error("cannot list the policies: {cause}")]
    List {
        /// Provider name.
        provider: String,
        /// Why.
        cause: Box<TykError>,
    },
}

/// The database and one Dashboard client per provider: what plan and apply need.
#[derive(Debug, Clone)]
pub struct Engine {
    /// The portal database.
    pub store: Store,
    /// Clients by provider name.
    pub clients: BTreeMap<String, DashboardClient>,
    /// Ownership instance.
    pub instance: String,
    /// The providers' connection settings (secret references only).
    pub providers: BTreeMap<String, ProviderSpec>,
}

impl Engine {
    /// Builds a client for each provider over an open store.
    pub fn new(
        store: Store,
        instance: &str,
        providers: BTreeMap<String, ProviderSpec>,
    ) -> Result<Engine, EngineError> {
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
                .map_err(|source| EngineError::Client {
                    provider: name.clone(),
                    cause: Box::new(source),
                })?;
            clients.insert(name.clone(), client);
        }
        Ok(Engine {
            store,
            clients,
            instance: instance.to_owned(),
            providers,
        })
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
    pub async fn read_actual(&self) -> Result<Actual, EngineError> {
        let (db, dashboards) = tokio::join!(self.store.snapshot(), self.list_all());
        Ok(Actual {
            db: db?,
            dashboards: dashboards?,
        })
    }

    /// One policy listing per provider, providers in parallel.
    pub async fn list_all(&self) -> Result<BTreeMap<String, Vec<crate::tyk::Policy>>, EngineError> {
        let started = std::time::Instant::now();
        let listings = futures::future::join_all(
            self.clients
                .iter()
                .map(|(name, client)| async move { (name.clone(), client.list_policies().await) }),
        )
        .await;
        tracing::debug!(elapsed = ?started.elapsed(), rss_mib = crate::telemetry::rss_mib(), "listed the Dashboards' policies");
        let mut out = BTreeMap::new();
        for (provider, result) in listings {
            let policies = result.map_err(|source| EngineError::List {
                provider: provider.clone(),
                cause: Box::new(source),
            })?;
            out.insert(provider, policies);
        }
        Ok(out)
    }

    /// Diffs against a database snapshot read beforehand (e.g. while the manifests loaded) and
    /// fresh policy listings.
    pub async fn plan_with_snapshot(
        &self,
        desired: &Desired,
        revoke_retired: bool,
        db: crate::store::Snapshot,
    ) -> Result<(Plan, Actual), EngineError> {
        let actual = Actual {
            db,
            dashboards: self.list_all().await?,
        };
        Ok((self.diff(desired, &actual, revoke_retired), actual))
    }

    /// Checks the APIs of product policies about to be created or changed against each
    /// provider's API list, and fills `api_name` where the manifest gives no name (SPEC's
    /// contract: "use it to check that the APIs a product names exist, and to fill api_name").
    /// Only providers with such changes are asked, so a no-op plan still makes one call per
    /// provider.
    async fn check_apis(&self, plan: &mut Plan) {
        use plan::{Op, Target};
        let wanted: std::collections::BTreeSet<String> = plan
            .changes
            .iter()
            .filter(|c| c.kind == crate::desired::Kind::Product && c.target == Target::Dashboard)
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
                c.provider.as_deref() == Some(provider.as_str())
                    && c.kind == crate::desired::Kind::Product
            }) {
                for op in &mut c.ops {
                    let definitions: Vec<&mut serde_json::Value> = match op {
                        Op::CreatePolicy { policy, .. } => policy
                            .get_mut("access_rights")
                            .and_then(serde_json::Value::as_object_mut)
                            .map(|m| m.values_mut().collect())
                            .unwrap_or_default(),
                        Op::PatchPolicy { patch, .. } => patch
                            .set
                            .iter_mut()
                            .filter(|(k, _)| k.starts_with("access_rights."))
                            .map(|(_, v)| v)
                            .collect(),
                        _ => Vec::new(),
                    };
                    for def in definitions {
                        let Some(obj) = def.as_object_mut() else {
                            continue;
                        };
                        let id = obj
                            .get("api_id")
                            .and_then(serde_json::Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        match names.get(id.as_str()) {
                            Some(name) if !obj.contains_key("api_name") => {
                                obj.insert("api_name".into(), serde_json::Value::String((*name).to_owned()));
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

    fn diff(&self, desired: &Desired, actual: &Actual, revoke_retired: bool) -> Plan {
        let started = std::time::Instant::now();
        let mut plan = diff(
            desired,
            actual,
            &DiffOptions {
                instance: self.instance.clone(),
                revoke_retired,
            },
        );
        tracing::debug!(elapsed = ?started.elapsed(), rss_mib = crate::telemetry::rss_mib(), changes = plan.changes.len(), "computed the plan");
        plan.providers = self.providers.clone();
        plan
    }

    /// Reads the actual state and diffs the desired one against it.
    pub async fn plan(
        &self,
        desired: &Desired,
        revoke_retired: bool,
    ) -> Result<(Plan, Actual), EngineError> {
        let actual = self.read_actual().await?;
        let mut plan = self.diff(desired, &actual, revoke_retired);
        self.check_apis(&mut plan).await;
        Ok((plan, actual))
    }
}
