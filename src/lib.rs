//! portalctl: a developer portal for the Tyk API gateway, run as code.
//!
//! The library reads like the pipeline it implements (see ARCHITECTURE.md):
//! manifests → desired state → actual state (database + Dashboards) → diff → plan → apply,
//! and beside it the portal, which reads the database.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod desired;
pub mod manifest;
pub mod reconcile;
pub mod store;
pub mod telemetry;
pub mod tyk;
