//! Apply: carry out exactly the operations of a plan, in SPEC §4 order.
//!
//! 1. Dashboard creates, updates and tags (all providers at once; each client bounds its own
//!    requests in flight). 2. Key revocations asked for by `--revoke-retired`. 3. One database
//!    transaction. 4. Dashboard retirements, deletions and releases.
//!
//! Independent changes go on when one fails; changes that depend on a failed one are reported as
//! blocked. Every step is safe to repeat: a created policy is found again by its id before
//! anything is created (the client's `create_policy_once`), and the next run's diff starts from
//! whatever state a crash left.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;

use super::error::{store_retryable, tyk_retryable, ReconcileError};
use super::plan::{Action, Change, ChangeSet, Op, PolicyPatch, Target};
use super::ApplyLock;
use crate::desired::Kind;
use crate::store::{DbWrite, Origin, PolicyRefRow, Store};
use crate::tyk::{DashboardClient, Policy, TykError};

/// What became of one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// Carried out.
    Done,
    /// Tried and failed.
    Failed {
        /// Why.
        error: String,
        /// True when running again later can succeed by itself (a Dashboard 5xx or timeout, the
        /// database unreachable); false when a person must act (a refused body, a wrong secret).
        retryable: bool,
    },
    /// Not tried because something it depends on failed.
    Blocked {
        /// What it waited for.
        reason: String,
    },
}

/// The result of an apply: one outcome per change of the plan, in plan order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Outcomes, parallel to `plan.changes`.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// True when every change was carried out.
    pub fn is_success(&self) -> bool {
        self.outcomes.iter().all(|o| *o == Outcome::Done)
    }

    /// True when running again later can finish the job by itself: some failure is retryable,
    /// or nothing failed and changes were blocked only because the run lost its lock.
    pub fn is_retryable(&self) -> bool {
        let mut failed = false;
        let mut blocked = false;
        for o in &self.outcomes {
            match o {
                Outcome::Failed {
                    retryable: true, ..
                } => return true,
                Outcome::Failed { .. } => failed = true,
                Outcome::Blocked { .. } => blocked = true,
                Outcome::Done => {}
            }
        }
        blocked && !failed
    }

    /// The message of the first failed (or else blocked) change.
    pub fn first_failure(&self) -> Option<&str> {
        self.outcomes
            .iter()
            .find_map(|o| match o {
                Outcome::Failed { error, .. } => Some(error.as_str()),
                _ => None,
            })
            .or_else(|| {
                self.outcomes.iter().find_map(|o| match o {
                    Outcome::Blocked { reason } => Some(reason.as_str()),
                    _ => None,
                })
            })
    }

    /// (done, failed, blocked) counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for o in &self.outcomes {
            match o {
                Outcome::Done => c.0 += 1,
                Outcome::Failed { .. } => c.1 += 1,
                Outcome::Blocked { .. } => c.2 += 1,
            }
        }
        c
    }
}

/// Why one step failed, and whether trying again later can help.
#[derive(Debug)]
struct Failure {
    message: String,
    retryable: bool,
}

impl Failure {
    /// A failure that only a person can fix (a plan that cannot be carried out as written).
    fn permanent(message: String) -> Self {
        Failure {
            message,
            retryable: false,
        }
    }

    /// A failure the next run gets past by itself, because it plans from the fresh state.
    fn replan(message: String) -> Self {
        Failure {
            message,
            retryable: true,
        }
    }

    fn into_outcome(self) -> Outcome {
        Outcome::Failed {
            error: self.message,
            retryable: self.retryable,
        }
    }
}

impl From<TykError> for Failure {
    fn from(e: TykError) -> Self {
        Failure {
            retryable: tyk_retryable(&e),
            message: e.to_string(),
        }
    }
}

fn key(c: &Change) -> (Kind, String) {
    (c.kind, c.name.clone())
}

fn is_forward_dashboard(c: &Change) -> bool {
    c.target == Target::Dashboard
        && matches!(c.action, Action::Create | Action::Update | Action::Tag)
}

/// Executes the change set. The lock must be held by the caller for the whole call. Fails before
/// any write only when the change set cannot be carried out at all; otherwise every change gets
/// an outcome in the report.
pub async fn execute(
    plan: &ChangeSet,
    store: &Store,
    clients: &BTreeMap<String, DashboardClient>,
    lock: &ApplyLock,
) -> Result<Report, ReconcileError> {
    for c in &plan.changes {
        for op in &c.ops {
            let provider = match op {
                Op::CreatePolicy { provider, .. }
                | Op::PatchPolicy { provider, .. }
                | Op::DeletePolicy { provider, .. }
                | Op::RevokeKey { provider, .. } => provider,
                Op::Db(_) => continue,
            };
            if !clients.contains_key(provider) {
                return Err(ReconcileError::UnknownProvider(provider.clone()));
            }
        }
    }
    let n = plan.changes.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; n];
    let mut failed_objects: BTreeSet<(Kind, String)> = BTreeSet::new();
    let mut extra_writes: Vec<DbWrite> = Vec::new();

    // 1. Dashboard creates, updates and tags.
    let forward: Vec<usize> = (0..n)
        .filter(|&i| is_forward_dashboard(&plan.changes[i]))
        .collect();
    let started = Instant::now();
    let results = run_each(plan, forward, "Dashboard changes", |c| {
        run_forward(c, clients)
    })
    .await;
    for (i, r) in results {
        match r {
            Ok(w) => {
                outcomes[i] = Some(Outcome::Done);
                extra_writes.extend(w);
            }
            Err(e) => {
                failed_objects.insert(key(&plan.changes[i]));
                outcomes[i] = Some(e.into_outcome());
            }
        }
    }
    if let Err(e) = lock.check() {
        return Ok(finish(outcomes, &format!("{e}")));
    }

    // 2. Key revocations (`--revoke-retired`), before the database forgets the credentials.
    let mut revoke_failed: BTreeSet<usize> = BTreeSet::new();
    for (i, c) in plan.changes.iter().enumerate() {
        for op in &c.ops {
            if let Op::RevokeKey {
                provider,
                credential,
                key_hash,
            } = op
            {
                match clients[provider].delete_key(key_hash).await {
                    Ok(()) => extra_writes.push(DbWrite::RevokeCredential {
                        id: credential.clone(),
                    }),
                    Err(e) => {
                        revoke_failed.insert(i);
                        outcomes[i] = Some(Outcome::Failed {
                            retryable: tyk_retryable(&e),
                            error: format!("revoking credential {credential}: {e}"),
                        });
                        failed_objects.insert(key(c));
                    }
                }
            }
        }
    }

    tracing::debug!(elapsed = ?started.elapsed(), rss_mib = crate::telemetry::rss_mib(), "apply: Dashboard creates, updates and tags done");
    // 3. One database transaction.
    let blocked_by = |c: &Change| -> Option<String> {
        if failed_objects.contains(&key(c)) {
            return Some(format!("{} {} failed on the Dashboard", c.kind, c.name));
        }
        if c.kind == Kind::Catalog {
            for op in &c.ops {
                if let Op::Db(DbWrite::Upsert { doc, .. }) = op {
                    for (k, field) in [(Kind::Product, "products"), (Kind::Plan, "plans")] {
                        for item in doc
                            .get(field)
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            let name = item.as_str().unwrap_or_default().to_owned();
                            if failed_objects.contains(&(k, name.clone())) {
                                return Some(format!("{k} {name} failed"));
                            }
                        }
                    }
                }
            }
        }
        None
    };
    let mut db_members: Vec<usize> = Vec::new();
    let mut writes: Vec<DbWrite> = Vec::new();
    for (i, c) in plan.changes.iter().enumerate() {
        if outcomes[i].is_some() && !matches!(outcomes[i], Some(Outcome::Done)) {
            continue;
        }
        let db_ops: Vec<&DbWrite> = c
            .ops
            .iter()
            .filter_map(|o| if let Op::Db(w) = o { Some(w) } else { None })
            .collect();
        if db_ops.is_empty() {
            continue;
        }
        if c.target == Target::Database {
            if let Some(reason) = blocked_by(c) {
                outcomes[i] = Some(Outcome::Blocked { reason });
                continue;
            }
        }
        if revoke_failed.contains(&i) {
            continue;
        }
        writes.extend(db_ops.into_iter().cloned());
        db_members.push(i);
    }
    // Policy references of policies created in step 1 go in the same transaction.
    writes.extend(extra_writes);
    let db_started = Instant::now();
    let db_result = store.write(&writes, lock).await;
    tracing::debug!(elapsed = ?db_started.elapsed(), rss_mib = crate::telemetry::rss_mib(), writes = writes.len(), "apply: database transaction done");
    let db_failed = match &db_result {
        Ok(()) => {
            for i in &db_members {
                if outcomes[*i].is_none() {
                    outcomes[*i] = Some(Outcome::Done);
                }
            }
            false
        }
        Err(e) => {
            for i in &db_members {
                outcomes[*i] = Some(Outcome::Failed {
                    error: format!("database transaction: {e}"),
                    retryable: store_retryable(e),
                });
            }
            true
        }
    };
    if let Err(e) = lock.check() {
        return Ok(finish(outcomes, &format!("{e}")));
    }

    // 4. Dashboard retirements, deletions and releases.
    let backward: Vec<usize> = (0..n)
        .filter(|&i| {
            let c = &plan.changes[i];
            c.target == Target::Dashboard && !is_forward_dashboard(c) && outcomes[i].is_none()
        })
        .collect();
    let db_not_done: BTreeSet<(Kind, String)> = plan
        .changes
        .iter()
        .zip(&outcomes)
        .filter(|(c, o)| c.target == Target::Database && !matches!(o, Some(Outcome::Done)))
        .map(|(c, _)| key(c))
        .collect();
    let mut to_run = Vec::new();
    for i in backward {
        let c = &plan.changes[i];
        if db_failed {
            outcomes[i] = Some(Outcome::Blocked {
                reason: "the database transaction failed".into(),
            });
        } else if db_not_done.contains(&key(c)) {
            outcomes[i] = Some(Outcome::Blocked {
                reason: format!(
                    "the database change of {} {} did not happen",
                    c.kind, c.name
                ),
            });
        } else {
            to_run.push(i);
        }
    }
    let results = run_each(plan, to_run, "Dashboard removals", |c| {
        run_backward(c, clients)
    })
    .await;
    for (i, r) in results {
        outcomes[i] = Some(match r {
            Ok(()) => Outcome::Done,
            Err(failure) => failure.into_outcome(),
        });
    }
    Ok(finish(outcomes, "not reached"))
}

/// Runs one step for each of the given changes, many at once (each Dashboard client bounds its
/// own requests in flight), logging progress; results come back with their change's index.
async fn run_each<'a, T, F, Fut>(
    plan: &'a ChangeSet,
    indices: Vec<usize>,
    what: &'static str,
    step: F,
) -> Vec<(usize, T)>
where
    F: Fn(&'a Change) -> Fut,
    Fut: std::future::Future<Output = T> + 'a,
{
    let progress = Progress::new(what, indices.len());
    let progress = &progress;
    let step = &step;
    stream::iter(indices)
        .map(|i| async move {
            let r = step(&plan.changes[i]).await;
            progress.tick();
            (i, r)
        })
        .buffer_unordered(256)
        .collect()
        .await
}

fn finish(outcomes: Vec<Option<Outcome>>, reason: &str) -> Report {
    Report {
        outcomes: outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| Outcome::Blocked {
                    reason: reason.to_owned(),
                })
            })
            .collect(),
    }
}

/// One create, update or tag; returns the policy reference to record for a created policy.
async fn run_forward(
    c: &Change,
    clients: &BTreeMap<String, DashboardClient>,
) -> Result<Option<DbWrite>, Failure> {
    let mut write = None;
    for op in &c.ops {
        match op {
            Op::CreatePolicy { provider, policy } => {
                let client = &clients[provider];
                let body: Policy = serde_json::from_value(policy.clone())
                    .map_err(|e| Failure::permanent(format!("invalid policy body in plan: {e}")))?;
                let mid = client.create_policy_once(&body).await?;
                write = Some(DbWrite::PutPolicyRef {
                    kind: c.kind,
                    name: c.name.clone(),
                    policy: PolicyRefRow {
                        provider: provider.clone(),
                        policy_id: body.id.clone(),
                        policy_mid: mid,
                        origin: Origin::Created,
                        last_seen: Value::Object(
                            policy
                                .get("meta_data")
                                .and_then(Value::as_object)
                                .into_iter()
                                .flatten()
                                .map(|(k, v)| (format!("meta_data.{k}"), v.clone()))
                                .collect(),
                        ),
                    },
                });
            }
            Op::PatchPolicy {
                provider,
                mid,
                id,
                patch,
            } => patch_policy(&clients[provider], mid, id, patch).await?,
            _ => {}
        }
    }
    Ok(write)
}

/// One retirement, deletion or release.
async fn run_backward(
    c: &Change,
    clients: &BTreeMap<String, DashboardClient>,
) -> Result<(), Failure> {
    for op in &c.ops {
        match op {
            Op::PatchPolicy {
                provider,
                mid,
                id,
                patch,
            } => patch_policy(&clients[provider], mid, id, patch).await?,
            Op::DeletePolicy { provider, mid } => {
                match clients[provider].delete_policy(mid).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {} // already gone: the goal is reached
                    Err(e) => return Err(e.into()),
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Read, change only the owned fields, write back (SPEC §2 "Update").
async fn patch_policy(
    client: &DashboardClient,
    mid: &str,
    id: &str,
    patch: &PolicyPatch,
) -> Result<(), Failure> {
    let address = if mid.is_empty() { id } else { mid };
    let current = client.get_policy(address).await?.ok_or_else(|| {
        Failure::replan(format!(
            "policy {id:?} no longer exists on provider {}; run plan again",
            client.provider()
        ))
    })?;
    let mut v = serde_json::to_value(&current)
        .map_err(|e| Failure::permanent(format!("cannot read policy {id:?}: {e}")))?;
    patch.apply_to(&mut v);
    let updated: Policy = serde_json::from_value(v)
        .map_err(|e| Failure::permanent(format!("cannot rebuild policy {id:?}: {e}")))?;
    if updated == current {
        return Ok(()); // someone already made the change: no write on a no-op
    }
    Ok(client.update_policy(address, &updated).await?)
}

/// Logs progress of a long phase every few seconds.
struct Progress {
    what: &'static str,
    total: usize,
    done: AtomicUsize,
    started: Instant,
    last: std::sync::Mutex<Instant>,
}

impl Progress {
    fn new(what: &'static str, total: usize) -> Self {
        Progress {
            what,
            total,
            done: AtomicUsize::new(0),
            started: Instant::now(),
            last: std::sync::Mutex::new(Instant::now()),
        }
    }

    fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut last) = self.last.lock() {
            if last.elapsed() >= Duration::from_secs(2)
                || (done == self.total && self.started.elapsed() >= Duration::from_secs(2))
            {
                *last = Instant::now();
                tracing::info!(
                    "{}: {done}/{} done ({:.0?})",
                    self.what,
                    self.total,
                    self.started.elapsed()
                );
            }
        }
    }
}
