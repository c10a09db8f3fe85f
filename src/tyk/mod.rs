//! Everything that talks to a Tyk Dashboard: wire types, the client, and the simulator.
//! No other module may speak HTTP to a Dashboard, and Dashboard JSON never leaves this folder
//! except as the types of [`wire`].

pub mod client;
pub mod error;
pub mod gojson;
pub mod sim;
pub mod wire;

pub use client::{ClientConfig, DashboardClient, RetryPolicy};
pub use error::TykError;
pub use wire::{
    AccessDefinition, AllowedUrl, ApiSummary, IssuedKey, KeyInfo, KeyRequest, Partitions, Policy,
    PolicyListing, UnreadablePolicy,
};
