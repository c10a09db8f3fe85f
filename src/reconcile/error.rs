//! The one error type of the reconcile path, and whether retrying can help.
//!
//! `plan`, `apply`, `demo` and the continuous loop all get a [`ReconcileError`] from the
//! [`Reconciler`](super::Reconciler). The loop's `error_policy` backs off and retries when
//! [`ReconcileError::is_retryable`] says a later run can succeed on its own (a Dashboard or the
//! database unreachable, a 5xx, a timeout, another run holding the lock); it waits for a new
//! trigger (a manifest edit, the next resync) when only a person can fix the cause (invalid
//! manifests, plan errors, a stale saved plan, a wrong secret). It holds no secret: every message
//! comes from errors that already keep secrets out.

use super::plan::PlanIssue;
use super::RunOutcome;
use crate::manifest::Diagnostics;
use crate::store::StoreError;
use crate::tyk::TykError;

/// Everything that stops a plan or an apply, or leaves an apply incomplete.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The manifests are invalid (every diagnostic, with file and line).
    #[error("{0}")]
    Manifests(#[from] Diagnostics),
    /// A provider's client could not be built (its secret is not set, its URL is bad). The
    /// client's error names the provider already, and is not chained as a source so that it is
    /// not printed twice.
    #[error("{cause}")]
    Client {
        /// Provider name.
        provider: String,
        /// Why.
        cause: Box<TykError>,
    },
    /// A Dashboard's policies could not be listed.
    #[error("cannot list the policies: {cause}")]
    List {
        /// Provider name.
        provider: String,
        /// Why.
        cause: Box<TykError>,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another run holds the apply lock, past the time we were willing to wait.
    #[error(transparent)]
    LockHeld(StoreError),
    /// The plan has errors (conflicts, a missing adopted policy): nothing was changed.
    #[error("the plan has {} error{}: {}; nothing was changed", .errors.len(), if .errors.len() == 1 { "" } else { "s" }, first_message(.errors))]
    Plan {
        /// The plan's errors.
        errors: Vec<PlanIssue>,
    },
    /// A saved plan was computed from a state that has changed since.
    #[error("stale plan: the database or a Dashboard changed since this plan was made; run `portalctl plan --out` again")]
    Stale,
    /// The manifests declare nothing, and the plan would delete, retire or release what
    /// portalctl manages.
    #[error("the manifests declare nothing, so this apply would delete everything portalctl manages; pass --allow-empty if that is really what you want")]
    EmptyManifests,
    /// A change names a provider that has no client (a saved plan from other manifests?).
    #[error("the plan needs provider {0:?}, which the manifests do not declare")]
    UnknownProvider(String),
    /// The apply ran, and some changes failed or were blocked. The outcome says which.
    #[error("apply incomplete: {}", incomplete_summary(.0))]
    Incomplete(Box<RunOutcome>),
}

fn first_message(errors: &[PlanIssue]) -> &str {
    errors.first().map_or("", |e| e.message.as_str())
}

fn incomplete_summary(outcome: &RunOutcome) -> String {
    let (done, failed, blocked) = outcome.report.counts();
    let first = outcome.report.first_failure().unwrap_or("");
    format!("{done} done, {failed} failed, {blocked} blocked; first failure: {first}")
}

impl ReconcileError {
    /// True when running again later, unchanged, can succeed: the cause is outside the
    /// manifests and the plan (a Dashboard or the database unreachable or failing with a 5xx, a
    /// timeout, a rate limit, another run holding the lock). False when a person must act first.
    pub fn is_retryable(&self) -> bool {
        match self {
            ReconcileError::Manifests(_)
            | ReconcileError::Client { .. }
            | ReconcileError::Plan { .. }
            | ReconcileError::Stale
            | ReconcileError::EmptyManifests
            | ReconcileError::UnknownProvider(_) => false,
            // A listing that is not found points at a wrong URL, not at a policy that went away.
            ReconcileError::List { cause, .. } => tyk_retryable(cause) && !cause.is_not_found(),
            ReconcileError::Store(e) => store_retryable(e),
            ReconcileError::LockHeld(_) => true,
            ReconcileError::Incomplete(outcome) => outcome.report.is_retryable(),
        }
    }
}

/// Whether a Dashboard error can go away by itself: no answer (connection refused, reset,
/// timeout), a 5xx, a 429, or a create that kept failing ambiguously. A 4xx other than 404 and
/// 429 (a wrong secret, a body the Dashboard refuses, a name clash) will fail the same way again.
/// A 404 means the policy went away under us: the next run plans from the fresh state.
pub fn tyk_retryable(e: &TykError) -> bool {
    match e {
        TykError::Secret { .. }
        | TykError::Config { .. }
        | TykError::Decode { .. }
        | TykError::UnreadablePolicy { .. } => false,
        TykError::Transport { .. } | TykError::CreateGaveUp { .. } => true,
        TykError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 404,
    }
}

/// Whether a database error can go away by itself: the database unreachable or a query failing
/// (a dropped connection, a serialization failure), or lock contention. A bad URL, a failed
/// migration or a corrupt row stays broken until someone fixes it.
pub fn store_retryable(e: &StoreError) -> bool {
    match e {
        StoreError::UnsupportedUrl(_)
        | StoreError::Migrate { .. }
        | StoreError::Corrupt { .. }
        | StoreError::CorruptRow { .. }
        | StoreError::NoConnection { .. } => false,
        // A server that is down or refusing may be restarted; an authentication failure or a
        // missing database file may be fixed while a loop waits: both are worth another try.
        StoreError::Unreachable { .. }
        | StoreError::Connect { .. }
        | StoreError::Query { .. }
        | StoreError::LeaseHeld { .. }
        | StoreError::LeaseLost { .. } => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::apply::{Outcome, Report};
    use crate::reconcile::plan::ChangeSet;

    fn status(status: u16) -> TykError {
        TykError::Status {
            provider: "tyk".into(),
            method: "PUT".into(),
            path: "/api/portal/policies/x".into(),
            status,
            message: "m".into(),
            attempts: 1,
            ambiguous: false,
        }
    }

    fn list(cause: TykError) -> ReconcileError {
        ReconcileError::List {
            provider: "tyk".into(),
            cause: Box::new(cause),
        }
    }

    fn incomplete(outcomes: Vec<Outcome>) -> ReconcileError {
        ReconcileError::Incomplete(Box::new(RunOutcome {
            plan: ChangeSet::new("default", String::new(), vec![], vec![], vec![]),
            report: Report { outcomes },
            elapsed: std::time::Duration::ZERO,
        }))
    }

    #[test]
    fn unreachable_or_failing_dashboards_and_lock_contention_are_retryable() {
        let timeout = TykError::Transport {
            provider: "tyk".into(),
            method: "GET".into(),
            path: "/api/portal/policies".into(),
            detail: "timed out".into(),
            attempts: 3,
            ambiguous: false,
            timeout: true,
        };
        for e in [
            list(timeout),
            list(status(500)),
            list(status(503)),
            list(status(429)),
            ReconcileError::LockHeld(StoreError::LeaseHeld {
                name: crate::store::APPLY_LEASE.into(),
                holder: "ci".into(),
                since_secs: 1,
                expires_in_secs: 29,
            }),
            ReconcileError::Store(StoreError::LeaseLost {
                name: crate::store::APPLY_LEASE.into(),
                reason: crate::store::LostReason::Expired,
            }),
            incomplete(vec![
                Outcome::Done,
                Outcome::Failed {
                    error: "status 502".into(),
                    retryable: true,
                },
                Outcome::Blocked {
                    reason: "waits".into(),
                },
            ]),
            // Blocked only because the run lost its lock.
            incomplete(vec![Outcome::Blocked {
                reason: "the apply lock was lost".into(),
            }]),
        ] {
            assert!(e.is_retryable(), "{e}");
        }
    }

    #[test]
    fn what_a_person_must_fix_is_not_retryable() {
        for e in [
            ReconcileError::from(Diagnostics(vec![])),
            list(status(401)),
            list(status(403)),
            list(status(404)),
            ReconcileError::Client {
                provider: "tyk".into(),
                cause: Box::new(TykError::Secret {
                    provider: "tyk".into(),
                    detail: "TYK_SECRET is not set".into(),
                }),
            },
            ReconcileError::Plan {
                errors: vec![PlanIssue {
                    kind: None,
                    name: None,
                    message: "name clash".into(),
                }],
            },
            ReconcileError::Stale,
            ReconcileError::EmptyManifests,
            ReconcileError::UnknownProvider("tyk2".into()),
            ReconcileError::Store(StoreError::UnsupportedUrl("mysql://x".into())),
            incomplete(vec![Outcome::Failed {
                error: "status 403: Request body malformed.".into(),
                retryable: false,
            }]),
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
        assert_eq!(
            ReconcileError::Plan {
                errors: vec![PlanIssue {
                    kind: None,
                    name: None,
                    message: "name clash".into(),
                }],
            }
            .to_string(),
            "the plan has 1 error: name clash; nothing was changed"
        );
    }
}
