//! Reconciliation: actual state, the pure diff, the plan value, rendering, and apply.
