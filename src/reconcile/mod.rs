//! Reconciliation: actual state, the pure diff, the plan value, rendering, and apply.
//!
//! One code path serves `plan`, `apply` and (later) the continuous loop: load the manifests,
//! read the actual state, diff in pure code, then apply.

pub mod diff;
pub mod docs;
pub mod plan;
pub mod render;
pub mod apply;

pub use diff::{diff, Actual, DiffOptions};
pub use plan::{Action, Change, Plan, Target};
