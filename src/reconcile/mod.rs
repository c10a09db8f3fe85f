//! Reconciliation: actual state, the pure diff, the change set, rendering, and apply.
//!
//! One code path serves `plan`, `apply`, `demo` and (next) the continuous loop and the portal:
//! [`Reconciler`] reads the actual state, [`diff`] compares it with the desired state in pure code,
//! the resulting [`ChangeSet`] is rendered or saved, and [`apply`] carries it out. Commands only
//! print and confirm.

pub mod apply;
pub mod diff;
pub mod docs;
pub mod error;
pub mod import;
pub mod plan;
mod reconciler;
pub mod render;
pub mod widen;

pub use diff::{diff, Actual, DiffOptions};
pub use error::ReconcileError;
pub use plan::{Action, Change, ChangeSet, Target};
pub use reconciler::{
    refuse_empty, release_lock, take_lock, ApplyLock, PlanOptions, Reconciler, RunOptions,
    RunOutcome,
};
