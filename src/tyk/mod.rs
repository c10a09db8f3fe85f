//! Everything that talks to a Tyk Dashboard: wire types, the client, and the simulator.
//! No other module may speak HTTP to a Dashboard.

pub mod wire;

pub use wire::{AccessDefinition, AllowedUrl, Partitions, Policy};
pub mod client;

pub use client::{ClientConfig, DashboardClient, TykError};
